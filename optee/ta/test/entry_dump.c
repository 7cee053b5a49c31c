/*
 * Host driver for test/optee-ta-session.test.ts: OP-TEE's entry points of entry.c, built against
 * the test stand-in of OP-TEE's headers (test/optee-stub/), called as OP-TEE calls them: create,
 * open a session, invoke GET_STATS and FORWARD before CONFIGURE, close, destroy. Prints each
 * result code and GET_STATS's JSON.
 */
#include <stdio.h>
#include <string.h>
#include <tee_internal_api.h>
#include <layerlock_protocol.h>

int main(void)
{
	static char json[4096];
	TEE_Param p[4];
	void *sess = NULL;

	memset(p, 0, sizeof(p));
	printf("create %x\n", TA_CreateEntryPoint());
	printf("open %x\n", TA_OpenSessionEntryPoint(0, p, &sess));
	p[0].memref.buffer = json;
	p[0].memref.size = sizeof(json) - 1;
	printf("stats %x\n", TA_InvokeCommandEntryPoint(sess, LAYERLOCK_CMD_GET_STATS,
		TEE_PARAM_TYPES(TEE_PARAM_TYPE_MEMREF_OUTPUT, 0, 0, 0), p));
	json[p[0].memref.size] = '\0';
	printf("%s\n", json);
	printf("forward %x\n", TA_InvokeCommandEntryPoint(sess, LAYERLOCK_CMD_FORWARD,
		TEE_PARAM_TYPES(TEE_PARAM_TYPE_MEMREF_INPUT, TEE_PARAM_TYPE_VALUE_INPUT, 0, 0), p));
	TA_CloseSessionEntryPoint(sess);
	TA_DestroyEntryPoint();
	return 0;
}
