/* Properties of layerlock's TA (read by OP-TEE's TA dev kit): see include/layerlock_ta_config.h. */
#ifndef USER_TA_HEADER_DEFINES_H
#define USER_TA_HEADER_DEFINES_H

#include <layerlock_protocol.h>
#include <layerlock_ta_config.h>

/* the UUID of src/tee/shared/protocol.ts (TA_UUID), through the generated header */
#define TA_UUID LAYERLOCK_TA_UUID
/*
 * One instance, one session at a time, kept alive between sessions: the software TA is one
 * process serving one session at a time, and its command counts survive a session's close.
 */
#define TA_FLAGS (TA_FLAG_SINGLE_INSTANCE | TA_FLAG_INSTANCE_KEEP_ALIVE)
#define TA_STACK_SIZE (16 * 1024)
#define TA_DATA_SIZE LAYERLOCK_TA_HEAP
#define TA_VERSION "0.2"
#define TA_DESCRIPTION "layerlock: the protected DNN layers (partitioned training and inference)"

#endif
