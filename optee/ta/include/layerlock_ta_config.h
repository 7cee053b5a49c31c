/*
 * Build-time sizes of layerlock's OP-TEE TA (issue 17, milestone 2), overridable on the make
 * command line (CPPFLAGS=-DLAYERLOCK_SECURE_MEM=...), which reaches both the TA's files and the
 * dev kit's user_ta_header.c that reads TA_DATA_SIZE.
 *
 * LAYERLOCK_SECURE_MEM is the arena: the secure-memory budget every protected-layer buffer comes
 * from (the software TA's --secure-mem). The paper's Raspberry Pi had 16 MiB; on QEMU's virt
 * board one TA's heap can be at most ~12.9 MiB (docs/optee.md, the heap sweep), so the default
 * is 12 MiB. The heap (TA_DATA_SIZE) holds the arena plus the TA's own state (struct ll_ta:
 * the parsed cfg, the partition's layer table, the block table, the message and statistics
 * buffers, and the deployment commands' state (layerlock_deploy.h: a parsed manifest, a second
 * cfg, the deployed model's record with its cfg text): 151 KiB on x86-64), hence the 256 KiB on top.
 */
#ifndef LAYERLOCK_TA_CONFIG_H
#define LAYERLOCK_TA_CONFIG_H

#ifndef LAYERLOCK_SECURE_MEM
#define LAYERLOCK_SECURE_MEM (12 * 1024 * 1024)
#endif

#define LAYERLOCK_TA_HEAP (LAYERLOCK_SECURE_MEM + 256 * 1024)

#endif
