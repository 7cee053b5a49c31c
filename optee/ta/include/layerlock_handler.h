/*
 * For the command handlers only (commands.c, deploy.c): the short names their parameter-type
 * tables are written in, and the two checks every handler starts with. Both macros expect the
 * handler's own `types`, `msg` (and for CONFIGURED, `ta`) in scope, and return from it on failure.
 * Not for other files: NONE and TYPES are too short a name to leak further.
 */
#ifndef LAYERLOCK_HANDLER_H
#define LAYERLOCK_HANDLER_H

#include <layerlock_commands.h>

#define MEMREF_IN TEE_PARAM_TYPE_MEMREF_INPUT
#define MEMREF_OUT TEE_PARAM_TYPE_MEMREF_OUTPUT
#define VALUE_IN TEE_PARAM_TYPE_VALUE_INPUT
#define VALUE_OUT TEE_PARAM_TYPE_VALUE_OUTPUT
#define NONE TEE_PARAM_TYPE_NONE
#define TYPES TEE_PARAM_TYPES

/* expectTypes of ta.ts: the accepted combinations, as a static table the message can list */
#define EXPECT(cmd, ...) do { \
		static const uint32_t accepted_[] = { __VA_ARGS__ }; \
		TEE_Result r_ = ll_expect_types(cmd, types, accepted_, sizeof(accepted_) / sizeof(accepted_[0]), msg); \
		if (r_ != TEE_SUCCESS) \
			return r_; \
	} while (0)

/* configured() of ta.ts (deploy.ts repeats it for UNSEAL_PROTECTED) */
#define CONFIGURED() do { \
		if (!ta->configured) { \
			ll_sb_str(msg, "the session has no partition yet (CONFIGURE first)"); \
			return TEE_ERROR_BAD_STATE; \
		} \
	} while (0)

#endif
