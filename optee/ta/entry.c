/*
 * OP-TEE's entry points of layerlock's TA (issue 17, milestone 2). Built only by OP-TEE's TA dev
 * kit (sub.mk, Makefile); everything they do is in commands.c, which the host tests drive directly
 * (test/optee-ta-session.test.ts), so this file stays a thin adapter:
 *  - TA_CreateEntryPoint takes the TA's state and its secure memory (the arena, LAYERLOCK_SECURE_MEM
 *    bytes) from the TA heap once, as the software TA allocates its arena once at start;
 *  - sessions: one at a time (the TA is single-instance, not multi-session: OP-TEE itself answers
 *    TEE_ERROR_BUSY to a second client), no parameters;
 *  - TA_InvokeCommandEntryPoint calls the dispatcher; GlobalPlatform has no way to return an error
 *    message, so it goes to the TA's log (the secure console) — milestone 3's transport will need a
 *    way to fetch it (docs/optee.md).
 */
#include <string.h>
#include <tee_internal_api.h>
#include <tee_internal_api_extensions.h>
#include <layerlock_commands.h>
#include <layerlock_protocol.h>
#include <layerlock_ta_config.h>

static struct ll_ta *ta;
static uint8_t *secure_mem;

TEE_Result TA_CreateEntryPoint(void)
{
	ta = TEE_Malloc(sizeof(*ta), TEE_MALLOC_FILL_ZERO);
	secure_mem = TEE_Malloc(LAYERLOCK_SECURE_MEM, TEE_MALLOC_FILL_ZERO);
	if (!ta || !secure_mem) {
		EMSG("layerlock: cannot take %u bytes of secure memory for the arena",
		     (unsigned int)LAYERLOCK_SECURE_MEM);
		TEE_Free(ta);
		TEE_Free(secure_mem);
		ta = NULL;
		secure_mem = NULL;
		return TEE_ERROR_OUT_OF_MEMORY;
	}
	ll_ta_init(ta, secure_mem, LAYERLOCK_SECURE_MEM);
	return TEE_SUCCESS;
}

void TA_DestroyEntryPoint(void)
{
	/* no secret outlives the TA: the arena is zeroed at every session's close, the state here */
	if (ta)
		memset(ta, 0, sizeof(*ta));
	TEE_Free(ta);
	TEE_Free(secure_mem);
	ta = NULL;
	secure_mem = NULL;
}

TEE_Result TA_OpenSessionEntryPoint(uint32_t param_types, TEE_Param params[4] __unused,
				    void **sess_ctx)
{
	uint32_t session = 0;
	TEE_Result res;

	if (param_types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE,
					   TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE))
		return TEE_ERROR_BAD_PARAMETERS;
	res = ll_ta_open_session(ta, &session);
	if (res != TEE_SUCCESS) {
		EMSG("layerlock: %s", ll_ta_message(ta));
		return res;
	}
	*sess_ctx = (void *)(uintptr_t)session;
	return TEE_SUCCESS;
}

void TA_CloseSessionEntryPoint(void *sess_ctx)
{
	ll_ta_close_session(ta, (uint32_t)(uintptr_t)sess_ctx);
}

TEE_Result TA_InvokeCommandEntryPoint(void *sess_ctx, uint32_t cmd_id, uint32_t param_types,
				      TEE_Param params[4])
{
	TEE_Result res = ll_ta_invoke(ta, (uint32_t)(uintptr_t)sess_ctx, cmd_id, param_types, params);

	/* a refused LAST_MESSAGE keeps the stored message: logging it again would mislead */
	if (res != TEE_SUCCESS && cmd_id != LAYERLOCK_CMD_LAST_MESSAGE) {
		char name[32];

		ll_command_name(cmd_id, name, sizeof(name));
		EMSG("layerlock: %s: 0x%08x: %s", name, (unsigned int)res, ll_ta_message(ta));
	}
	return res;
}
