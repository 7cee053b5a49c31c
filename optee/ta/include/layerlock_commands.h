/*
 * The command layer of layerlock's OP-TEE TA (issue 17, milestone 2): the TrustedApp of
 * src/tee/ta/ta.ts and its command table (src/tee/ta/commands.ts) in C. One explicit table maps
 * each command id of src/tee/shared/protocol.ts (via the generated layerlock_protocol.h) to its
 * handler; each handler checks the exact GlobalPlatform parameter types the protocol lists and
 * answers with the software TA's result codes and messages.
 *
 * In the table: the protected-range commands CONFIGURE, LOAD_PARAMS, FORWARD, BACKWARD,
 * TRAIN_STEP, UPDATE, TAKE_LOSS, GET_STATS, EXPORT_PARAMS_PLAINTEXT, and DIAG_PROBE/DIAG_PANIC
 * (which answer NOT_SUPPORTED "diagnostics are off", as the software TA does without
 * diagnostics), and the deployment commands (DEVICE_INIT, DEVICE_TRUST, INSTALL_ENCRYPTED,
 * SEAL_PROTECTED, UNSEAL_PROTECTED, EXPORT_ENCRYPTED: deploy.c, include/layerlock_deploy.h).
 *
 * The same file builds in OP-TEE (entry.c's TA entry points call it) and natively on the host,
 * where optee/ta/test/session_dump.c drives it with the same requests as the software TA.
 * GP has no channel for an error message: the dispatcher keeps the last one (ll_ta_message),
 * which entry.c writes to the TA's log; the software TA sends it in its reply frame.
 */
#ifndef LAYERLOCK_COMMANDS_H
#define LAYERLOCK_COMMANDS_H

#include <stddef.h>
#include <stdint.h>
#include <layerlock_arena.h>
#include <layerlock_cfg.h>
#include <layerlock_deploy.h>
#include <layerlock_partition.h>
#include <layerlock_tee.h>

#define LL_MSG_MAX 2048
#define LL_MAX_BLOCKS 512
#define LL_STATS_MAX 32768
#define LL_MAX_COMMAND_IDS 32

/* What GET_STATS reports as the TA's kernels: the engine's reference kernels, restated in C. */
#define LL_TA_KERNELS "reference (C)"

struct ll_ta {
	struct ll_arena arena;
	struct ll_arena_block blocks[LL_MAX_BLOCKS];
	int session_open;
	uint32_t session_id, next_session;
	int configured;
	struct ll_net_cfg cfg;
	struct ll_partition part;
	/* commands answered, by id, in the order first seen (GET_STATS's "commands") */
	uint32_t count_ids[LL_MAX_COMMAND_IDS];
	uint32_t counts[LL_MAX_COMMAND_IDS];
	size_t ncounts;
	char msg[LL_MSG_MAX];
	char stats[LL_STATS_MAX];
	/* the deployment commands' state (deploy.c) */
	struct ll_deploy dep;
};

/* The TA with its secure memory (`capacity` bytes at `memory`, zeroed) for the arena. */
void ll_ta_init(struct ll_ta *ta, uint8_t *memory, uint64_t capacity);

/* TA_OpenSessionEntryPoint: one session at a time (TEE_ERROR_BUSY otherwise). */
TEE_Result ll_ta_open_session(struct ll_ta *ta, uint32_t *session);

/* TA_CloseSessionEntryPoint: forgets the partition and zeroes the secure memory. */
void ll_ta_close_session(struct ll_ta *ta, uint32_t session);

/* TA_InvokeCommandEntryPoint: dispatches through the command table. */
TEE_Result ll_ta_invoke(struct ll_ta *ta, uint32_t session, uint32_t cmd, uint32_t param_types,
			TEE_Param params[4]);

/* The message of the last invoke's failure ("" after a success). */
const char *ll_ta_message(const struct ll_ta *ta);

/*
 * For the handlers in commands.c and deploy.c (through layerlock_handler.h's EXPECT): expectTypes
 * of ta.ts (BAD_PARAMETERS with "X takes (…), got (…)" unless types is one of accepted[0..n)),
 * and writeOut's size rule (SHORT_BUFFER "output needs N bytes", the size needed in
 * p->memref.size; else p->memref.size = bytes).
 */
TEE_Result ll_expect_types(uint32_t cmd, uint32_t types, const uint32_t *accepted, size_t n,
			   struct ll_sb *msg);
TEE_Result ll_out_room(TEE_Param *p, size_t bytes, int aligned, struct ll_sb *msg);
/* writeOut: ll_out_room's rule, then the n bytes copied to p's buffer */
TEE_Result ll_write_out(TEE_Param *p, const void *bytes, size_t n, struct ll_sb *msg);

/* The protocol's name of a command id ("FORWARD", or "0x42"). */
void ll_command_name(uint32_t cmd, char *buf, size_t size);

#endif
