/* Properties of layerlock's smoke-test TA (read by OP-TEE's TA dev kit). */
#ifndef USER_TA_HEADER_DEFINES_H
#define USER_TA_HEADER_DEFINES_H

#include <layerlock_hello_ta.h>

#define TA_UUID LAYERLOCK_HELLO_TA_UUID
/*
 * Single instance, one session at a time, and not kept alive: OP-TEE unloads it when the check
 * closes its session, giving its memory back. The layerlock TA that runs after it (12.25 MiB heap)
 * needs nearly all of the 13 MiB the board has for TAs, and does not load beside a resident one.
 */
#define TA_FLAGS TA_FLAG_SINGLE_INSTANCE
#define TA_STACK_SIZE (4 * 1024)
#define TA_DATA_SIZE LAYERLOCK_TA_HEAP_SIZE
#define TA_VERSION "0.1"
#define TA_DESCRIPTION "layerlock OP-TEE smoke test (value and float32 dot-product round trip)"

#endif
