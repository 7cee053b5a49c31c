/* The layerlock TA's command layer: see include/layerlock_commands.h (src/tee/ta/ta.ts in C). */
#include <string.h>
#include <layerlock_commands.h>
#include <layerlock_handler.h>
#include <layerlock_protocol.h>
#include <layerlock_strbuf.h>

/* The software TA's bound on images per forward (ta.ts, configureCommand). */
#define MAX_IMAGES_PER_FORWARD (1u << 20)

typedef TEE_Result (*ll_handler)(struct ll_ta *ta, uint32_t types, TEE_Param p[4], struct ll_sb *msg);

/* COMMAND_NAMES of protocol.ts */
static const struct {
	uint32_t id;
	const char *name;
} NAMES[] = {
	{ LAYERLOCK_CMD_CONFIGURE, "CONFIGURE" },
	{ LAYERLOCK_CMD_LOAD_PARAMS, "LOAD_PARAMS" },
	{ LAYERLOCK_CMD_FORWARD, "FORWARD" },
	{ LAYERLOCK_CMD_BACKWARD, "BACKWARD" },
	{ LAYERLOCK_CMD_TRAIN_STEP, "TRAIN_STEP" },
	{ LAYERLOCK_CMD_UPDATE, "UPDATE" },
	{ LAYERLOCK_CMD_TAKE_LOSS, "TAKE_LOSS" },
	{ LAYERLOCK_CMD_GET_STATS, "GET_STATS" },
	{ LAYERLOCK_CMD_EXPORT_PARAMS_PLAINTEXT, "EXPORT_PARAMS_PLAINTEXT" },
	{ LAYERLOCK_CMD_LAST_MESSAGE, "LAST_MESSAGE" },
	{ LAYERLOCK_CMD_DEVICE_INIT, "DEVICE_INIT" },
	{ LAYERLOCK_CMD_INSTALL_ENCRYPTED, "INSTALL_ENCRYPTED" },
	{ LAYERLOCK_CMD_SEAL_PROTECTED, "SEAL_PROTECTED" },
	{ LAYERLOCK_CMD_UNSEAL_PROTECTED, "UNSEAL_PROTECTED" },
	{ LAYERLOCK_CMD_EXPORT_ENCRYPTED, "EXPORT_ENCRYPTED" },
	{ LAYERLOCK_CMD_DEVICE_TRUST, "DEVICE_TRUST" },
	{ LAYERLOCK_CMD_DIAG_PROBE, "DIAG_PROBE" },
	{ LAYERLOCK_CMD_DIAG_PANIC, "DIAG_PANIC" },
};

static const char HEX[] = "0123456789abcdef";

void ll_command_name(uint32_t cmd, char *buf, size_t size)
{
	struct ll_sb s;
	char tmp[12];
	size_t i, n = 0;

	ll_sb_init(&s, buf, size);
	for (i = 0; i < sizeof(NAMES) / sizeof(NAMES[0]); i++)
		if (NAMES[i].id == cmd) {
			ll_sb_str(&s, NAMES[i].name);
			return;
		}
	/* `0x${cmd.toString(16)}` */
	do {
		tmp[n++] = HEX[cmd & 15];
		cmd >>= 4;
	} while (cmd);
	ll_sb_str(&s, "0x");
	while (n)
		ll_sb_strn(&s, &tmp[--n], 1);
}

static void sb_command(struct ll_sb *s, uint32_t cmd)
{
	char name[32];

	ll_command_name(cmd, name, sizeof(name));
	ll_sb_str(s, name);
}

/* describeParamTypes of protocol.ts (PARAM_TYPE_NAMES, or 0x… for other nibbles) */
static void sb_types(struct ll_sb *s, uint32_t types)
{
	static const char *const names[16] = {
		"NONE", "VALUE_INPUT", "VALUE_OUTPUT", "VALUE_INOUT", NULL, "MEMREF_TEMP_INPUT",
		"MEMREF_TEMP_OUTPUT", "MEMREF_TEMP_INOUT", NULL, NULL, NULL, NULL, "MEMREF_WHOLE",
		"MEMREF_PARTIAL_INPUT", "MEMREF_PARTIAL_OUTPUT", "MEMREF_PARTIAL_INOUT"
	};
	int i;

	for (i = 0; i < 4; i++) {
		uint32_t t = TEE_PARAM_TYPE_GET(types, i);

		if (i)
			ll_sb_str(s, ", ");
		if (names[t]) {
			ll_sb_str(s, names[t]);
		} else {
			char h[4] = { '0', 'x', HEX[t], '\0' };

			ll_sb_str(s, h);
		}
	}
}

/* expectTypes: BAD_PARAMETERS unless the types are one of the accepted combinations. */
TEE_Result ll_expect_types(uint32_t cmd, uint32_t types, const uint32_t *accepted, size_t n,
			   struct ll_sb *msg)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (types == accepted[i])
			return TEE_SUCCESS;
	sb_command(msg, cmd);
	ll_sb_str(msg, " takes (");
	for (i = 0; i < n; i++) {
		if (i)
			ll_sb_str(msg, ") or (");
		sb_types(msg, accepted[i]);
	}
	ll_sb_str(msg, "), got (");
	sb_types(msg, types);
	ll_sb_str(msg, ")");
	return TEE_ERROR_BAD_PARAMETERS;
}

static int has_memref(uint32_t types, int i)
{
	uint32_t t = TEE_PARAM_TYPE_GET(types, i);

	return t == MEMREF_IN || t == MEMREF_OUT || t == TEE_PARAM_TYPE_MEMREF_INOUT;
}

/* writeOut's size rule: a too small output buffer gets SHORT_BUFFER and the size needed. */
TEE_Result ll_out_room(TEE_Param *p, size_t bytes, int aligned, struct ll_sb *msg)
{
	if (bytes > p->memref.size) {
		p->memref.size = bytes;
		ll_sb_str(msg, "output needs ");
		ll_sb_u64(msg, bytes);
		ll_sb_str(msg, " bytes");
		return TEE_ERROR_SHORT_BUFFER;
	}
	if (aligned && bytes && (uintptr_t)p->memref.buffer % 4) {
		ll_sb_str(msg, "the output's memory reference is not 4-byte aligned");
		return TEE_ERROR_BAD_PARAMETERS;
	}
	p->memref.size = bytes;
	return TEE_SUCCESS;
}

/* writeOut: the size rule, then the bytes */
TEE_Result ll_write_out(TEE_Param *p, const void *bytes, size_t n, struct ll_sb *msg)
{
	TEE_Result r = ll_out_room(p, n, 0, msg);

	if (r == TEE_SUCCESS && n)
		memcpy(p->memref.buffer, bytes, n);
	return r;
}

/* ---------------------------------------------------------------------------------------- */
/* The commands (parameter layouts documented in src/tee/shared/protocol.ts) */

static TEE_Result configure_cmd(struct ll_ta *ta, uint32_t types, TEE_Param p[4], struct ll_sb *msg)
{
	struct ll_spec spec;
	uint32_t flags, policy;
	TEE_Result res;

	EXPECT(LAYERLOCK_CMD_CONFIGURE, TYPES(MEMREF_IN, VALUE_IN, VALUE_IN, VALUE_IN));
	if (ta->configured) {
		ll_sb_str(msg, "the session is already configured (open a new session for another partition)");
		return TEE_ERROR_BAD_STATE;
	}
	if (ll_cfg_parse(p[0].memref.buffer, p[0].memref.size, &ta->cfg, msg->buf, msg->cap)) {
		msg->len = strlen(msg->buf);
		return TEE_ERROR_BAD_PARAMETERS;
	}
	flags = p[3].value.a;
	policy = p[3].value.b & 0xff;
	if (policy > LAYERLOCK_POLICY_FULL) {
		ll_sb_str(msg, "unknown output policy id ");
		ll_sb_u64(msg, policy);
		return TEE_ERROR_BAD_PARAMETERS;
	}
	memset(&spec, 0, sizeof(spec));
	spec.policy = (int)policy;
	spec.topk = p[3].value.b >> 8 ? p[3].value.b >> 8 : 1;
	spec.max_batch = p[2].value.a;
	if (!(spec.max_batch >= 1 && spec.max_batch <= MAX_IMAGES_PER_FORWARD)) {
		ll_sb_str(msg, "images per forward ");
		ll_sb_u64(msg, spec.max_batch);
		ll_sb_str(msg, " is not within 1..");
		ll_sb_u64(msg, MAX_IMAGES_PER_FORWARD);
		return TEE_ERROR_BAD_PARAMETERS;
	}
	spec.start = p[1].value.a;
	spec.end = p[1].value.b;
	spec.seed = p[2].value.b;
	spec.train = (flags & LAYERLOCK_FLAG_TRAIN) != 0;
	spec.input_delta = (flags & LAYERLOCK_FLAG_INPUT_DELTA) != 0;
	spec.allow_export = (flags & LAYERLOCK_FLAG_ALLOW_PLAINTEXT_EXPORT) != 0;
	res = ll_partition_build(&ta->part, &ta->cfg, &spec, &ta->arena, msg);
	if (res == TEE_SUCCESS)
		ta->configured = 1;
	return res;
}

static TEE_Result load_params_cmd(struct ll_ta *ta, uint32_t types, TEE_Param p[4], struct ll_sb *msg)
{
	/* refusedWhenDeployed wraps the handler in commands.ts: before its parameter checks */
	if (ll_refused_when_deployed(ta, LAYERLOCK_CMD_LOAD_PARAMS, msg))
		return TEE_ERROR_ACCESS_DENIED;
	EXPECT(LAYERLOCK_CMD_LOAD_PARAMS, TYPES(MEMREF_IN, NONE, NONE, NONE));
	CONFIGURED();
	return ll_partition_load(&ta->part, p[0].memref.buffer, p[0].memref.size, msg);
}

static TEE_Result forward_cmd(struct ll_ta *ta, uint32_t types, TEE_Param p[4], struct ll_sb *msg)
{
	struct ll_partition *part = &ta->part;
	uint32_t n, clamp;
	int train, wants_out, has_labels;
	size_t bytes;
	TEE_Result res;

	EXPECT(LAYERLOCK_CMD_FORWARD,
	       TYPES(MEMREF_IN, VALUE_IN, NONE, MEMREF_OUT), TYPES(MEMREF_IN, VALUE_IN, MEMREF_IN, MEMREF_OUT),
	       TYPES(MEMREF_IN, VALUE_IN, NONE, NONE), TYPES(MEMREF_IN, VALUE_IN, MEMREF_IN, NONE));
	CONFIGURED();
	n = p[1].value.a;
	train = (p[1].value.b & LAYERLOCK_FORWARD_TRAIN) != 0;
	has_labels = has_memref(types, 2);
	clamp = n < part->spec.max_batch ? n : part->spec.max_batch;
	wants_out = ll_partition_forward_output_bytes(part, clamp ? clamp : 1) > 0;
	if (wants_out != has_memref(types, 3)) {
		ll_sb_str(msg, wants_out ? "FORWARD needs an output buffer (p3) for this partition" :
					   "nothing leaves this partition on FORWARD: p3 must be NONE");
		return TEE_ERROR_BAD_PARAMETERS;
	}
	res = ll_partition_forward(part, p[0].memref.buffer, p[0].memref.size, n, train, has_labels,
				   has_labels ? p[2].memref.buffer : NULL, has_labels ? p[2].memref.size : 0, msg);
	if (res != TEE_SUCCESS)
		return res;
	bytes = ll_partition_forward_output_bytes(part, n);
	if (!bytes)
		return TEE_SUCCESS;
	res = ll_out_room(&p[3], bytes, 1, msg);
	if (res == TEE_SUCCESS)
		ll_partition_forward_output(part, n, p[3].memref.buffer);
	return res;
}

/* checkGradientOut of ta.ts: the gradient leaves exactly when trainable layers below need it */
static TEE_Result check_gradient_out(const struct ll_partition *part, int has_out, struct ll_sb *msg)
{
	int needed = part->spec.train && part->spec.input_delta;

	if (needed == has_out)
		return TEE_SUCCESS;
	ll_sb_str(msg, needed ? "trainable layers below the partition need the gradient: give an output buffer for it" :
				"no trainable layer below the partition: the gradient does not leave (no output buffer)");
	return TEE_ERROR_BAD_PARAMETERS;
}

static TEE_Result write_gradient(struct ll_partition *part, const float *g, uint32_t n, TEE_Param *out,
				 struct ll_sb *msg)
{
	size_t bytes = (size_t)n * part->inputs * 4;
	TEE_Result res;

	if (!g)
		return TEE_SUCCESS;
	res = ll_out_room(out, bytes, 0, msg);
	if (res == TEE_SUCCESS)
		memcpy(out->memref.buffer, g, bytes);
	return res;
}

static TEE_Result backward_cmd(struct ll_ta *ta, uint32_t types, TEE_Param p[4], struct ll_sb *msg)
{
	const float *g = NULL;
	int has_top = has_memref(types, 0);
	TEE_Result res;

	EXPECT(LAYERLOCK_CMD_BACKWARD,
	       TYPES(MEMREF_IN, VALUE_IN, MEMREF_OUT, NONE), TYPES(MEMREF_IN, VALUE_IN, NONE, NONE),
	       TYPES(NONE, VALUE_IN, MEMREF_OUT, NONE), TYPES(NONE, VALUE_IN, NONE, NONE));
	CONFIGURED();
	res = check_gradient_out(&ta->part, has_memref(types, 2), msg);
	if (res != TEE_SUCCESS)
		return res;
	res = ll_partition_backward(&ta->part, has_top ? p[0].memref.buffer : NULL,
				    has_top ? p[0].memref.size : 0, has_top, p[1].value.a, &g, msg);
	if (res != TEE_SUCCESS)
		return res;
	return write_gradient(&ta->part, g, p[1].value.a, &p[2], msg);
}

static TEE_Result train_step_cmd(struct ll_ta *ta, uint32_t types, TEE_Param p[4], struct ll_sb *msg)
{
	struct ll_partition *part = &ta->part;
	const float *g = NULL;
	int has_labels = has_memref(types, 2);
	uint32_t n;
	TEE_Result res;

	EXPECT(LAYERLOCK_CMD_TRAIN_STEP,
	       TYPES(MEMREF_IN, VALUE_IN, MEMREF_IN, MEMREF_OUT), TYPES(MEMREF_IN, VALUE_IN, MEMREF_IN, NONE),
	       TYPES(MEMREF_IN, VALUE_IN, NONE, MEMREF_OUT), TYPES(MEMREF_IN, VALUE_IN, NONE, NONE));
	CONFIGURED();
	if (part->roles.suffix_outside) {
		ll_sb_str(msg, "layers above the partition run in the normal world: use FORWARD and BACKWARD");
		return TEE_ERROR_BAD_STATE;
	}
	res = check_gradient_out(part, has_memref(types, 3), msg);
	if (res != TEE_SUCCESS)
		return res;
	n = p[1].value.a;
	/* p1.b: the images of a deferred UPDATE, applied before the forward (protocol.ts) */
	res = ll_partition_train_step(part, p[0].memref.buffer, p[0].memref.size, n, has_labels,
				      has_labels ? p[2].memref.buffer : NULL, has_labels ? p[2].memref.size : 0,
				      p[1].value.b, &g, msg);
	if (res != TEE_SUCCESS)
		return res;
	return write_gradient(part, g, n, &p[3], msg);
}

static TEE_Result update_cmd(struct ll_ta *ta, uint32_t types, TEE_Param p[4], struct ll_sb *msg)
{
	EXPECT(LAYERLOCK_CMD_UPDATE, TYPES(VALUE_IN, NONE, NONE, NONE));
	CONFIGURED();
	return ll_partition_update(&ta->part, p[0].value.a, p[0].value.b, msg);
}

static TEE_Result take_loss_cmd(struct ll_ta *ta, uint32_t types, TEE_Param p[4], struct ll_sb *msg)
{
	double r[2] = { 0, 0 };
	TEE_Result res;

	EXPECT(LAYERLOCK_CMD_TAKE_LOSS, TYPES(MEMREF_OUT, NONE, NONE, NONE));
	CONFIGURED();
	res = ll_partition_take_loss(&ta->part, &r[0], &r[1], msg);
	if (res != TEE_SUCCESS)
		return res;
	return ll_write_out(&p[0], r, sizeof(r), msg); /* float64 sum, count: little-endian hosts */
}

/* TrustedApp.stats of ta.ts as JSON (without command_ms: the C TA keeps no clock) */
static TEE_Result get_stats_cmd(struct ll_ta *ta, uint32_t types, TEE_Param p[4], struct ll_sb *msg)
{
	struct ll_sb s;
	const struct ll_arena *a = &ta->arena;
	size_t i;

	EXPECT(LAYERLOCK_CMD_GET_STATS, TYPES(MEMREF_OUT, NONE, NONE, NONE));
	ll_sb_init(&s, ta->stats, sizeof(ta->stats));
	ll_sb_str(&s, "{\"uuid\":\"6c61796c-6c6f-4b54-a000-7a6500000005\",\"kernels\":");
	ll_sb_json_str(&s, LL_TA_KERNELS);
	ll_sb_str(&s, ",\"threads\":1,\"arena\":{\"capacity\":");
	ll_sb_u64(&s, a->capacity);
	ll_sb_str(&s, ",\"used\":");
	ll_sb_u64(&s, a->used);
	ll_sb_str(&s, ",\"peak\":");
	ll_sb_u64(&s, a->peak);
	ll_sb_str(&s, ",\"blocks\":[");
	for (i = 0; i < a->nblocks; i++) {
		ll_sb_str(&s, i ? ",{\"layer\":" : "{\"layer\":");
		ll_sb_i64(&s, a->blocks[i].layer);
		ll_sb_str(&s, ",\"buffer\":");
		ll_sb_json_str(&s, a->blocks[i].buffer);
		ll_sb_str(&s, ",\"bytes\":");
		ll_sb_u64(&s, a->blocks[i].bytes);
		ll_sb_str(&s, "}");
	}
	ll_sb_str(&s, "]},\"partition\":");
	if (ta->configured) {
		const struct ll_partition *pt = &ta->part;

		ll_sb_str(&s, "{\"start\":");
		ll_sb_u64(&s, pt->spec.start);
		ll_sb_str(&s, ",\"end\":");
		ll_sb_u64(&s, pt->spec.end);
		ll_sb_str(&s, ",\"maxBatch\":");
		ll_sb_u64(&s, pt->spec.max_batch);
		ll_sb_str(&s, pt->spec.train ? ",\"mode\":\"train\",\"policy\":\"" : ",\"mode\":\"infer\",\"policy\":\"");
		ll_sb_str(&s, ll_policy_name(pt->spec.policy));
		ll_sb_str(&s, "\",\"topk\":");
		ll_sb_u64(&s, pt->spec.topk);
		ll_sb_str(&s, pt->roles.holds_output ? ",\"holdsOutput\":true,\"updates\":" : ",\"holdsOutput\":false,\"updates\":");
		ll_sb_u64(&s, pt->updates);
		ll_sb_str(&s, "}");
	} else {
		ll_sb_str(&s, "null");
	}
	ll_sb_str(&s, ",\"commands\":{");
	for (i = 0; i < ta->ncounts; i++) {
		char name[32];

		ll_command_name(ta->count_ids[i], name, sizeof(name));
		if (i)
			ll_sb_str(&s, ",");
		ll_sb_json_str(&s, name);
		ll_sb_str(&s, ":");
		ll_sb_u64(&s, ta->counts[i]);
	}
	ll_sb_str(&s, "}}");
	if (s.overflow) {
		ll_sb_str(msg, "statistics larger than the TA's buffer");
		return TEE_ERROR_GENERIC;
	}
	return ll_write_out(&p[0], ta->stats, s.len, msg);
}

static TEE_Result export_cmd(struct ll_ta *ta, uint32_t types, TEE_Param p[4], struct ll_sb *msg)
{
	TEE_Result res;

	if (ll_refused_when_deployed(ta, LAYERLOCK_CMD_EXPORT_PARAMS_PLAINTEXT, msg))
		return TEE_ERROR_ACCESS_DENIED;
	EXPECT(LAYERLOCK_CMD_EXPORT_PARAMS_PLAINTEXT, TYPES(MEMREF_OUT, NONE, NONE, NONE));
	CONFIGURED();
	res = ll_partition_check_export(&ta->part, msg);
	if (res != TEE_SUCCESS)
		return res;
	res = ll_out_room(&p[0], ll_partition_weights_bytes(&ta->part), 0, msg);
	if (res == TEE_SUCCESS)
		ll_partition_export(&ta->part, p[0].memref.buffer);
	return res;
}

/* The software TA answers these only when started with diagnostics on; the C TA never is. */
static TEE_Result diag_cmd(struct ll_ta *ta, uint32_t types, TEE_Param p[4], struct ll_sb *msg)
{
	(void)ta;
	(void)types;
	(void)p;
	ll_sb_str(msg, "diagnostics are off");
	return TEE_ERROR_NOT_SUPPORTED;
}

/* The command table: what this TA answers, in one list (src/tee/ta/commands.ts). */
static const struct {
	uint32_t id;
	ll_handler handler;
} COMMANDS[] = {
	/* the protected partition */
	{ LAYERLOCK_CMD_CONFIGURE, configure_cmd },
	{ LAYERLOCK_CMD_LOAD_PARAMS, load_params_cmd },
	{ LAYERLOCK_CMD_FORWARD, forward_cmd },
	{ LAYERLOCK_CMD_BACKWARD, backward_cmd },
	{ LAYERLOCK_CMD_TRAIN_STEP, train_step_cmd },
	{ LAYERLOCK_CMD_UPDATE, update_cmd },
	{ LAYERLOCK_CMD_TAKE_LOSS, take_loss_cmd },
	{ LAYERLOCK_CMD_GET_STATS, get_stats_cmd },
	{ LAYERLOCK_CMD_EXPORT_PARAMS_PLAINTEXT, export_cmd },
	/* deployment: device keys, trust anchor, stored models, encrypted install/export (deploy.c) */
	{ LAYERLOCK_CMD_DEVICE_INIT, ll_device_init_cmd },
	{ LAYERLOCK_CMD_DEVICE_TRUST, ll_device_trust_cmd },
	{ LAYERLOCK_CMD_INSTALL_ENCRYPTED, ll_install_encrypted_cmd },
	{ LAYERLOCK_CMD_SEAL_PROTECTED, ll_seal_protected_cmd },
	{ LAYERLOCK_CMD_UNSEAL_PROTECTED, ll_unseal_protected_cmd },
	{ LAYERLOCK_CMD_EXPORT_ENCRYPTED, ll_export_encrypted_cmd },
	/* diagnostics */
	{ LAYERLOCK_CMD_DIAG_PROBE, diag_cmd },
	{ LAYERLOCK_CMD_DIAG_PANIC, diag_cmd },
};

/* ---------------------------------------------------------------------------------------- */

void ll_ta_init(struct ll_ta *ta, uint8_t *memory, uint64_t capacity)
{
	memset(ta, 0, sizeof(*ta));
	ll_arena_init(&ta->arena, memory, capacity, ta->blocks, LL_MAX_BLOCKS);
	ta->next_session = 1;
}

TEE_Result ll_ta_open_session(struct ll_ta *ta, uint32_t *session)
{
	struct ll_sb msg;

	ll_sb_init(&msg, ta->msg, sizeof(ta->msg));
	if (ta->session_open) {
		ll_sb_str(&msg, "the TA already has an open session");
		return TEE_ERROR_BUSY;
	}
	ta->session_open = 1;
	ta->session_id = ta->next_session++;
	ta->configured = 0;
	ta->dep.deployed = 0;
	*session = ta->session_id;
	return TEE_SUCCESS;
}

void ll_ta_close_session(struct ll_ta *ta, uint32_t session)
{
	if (!ta->session_open || ta->session_id != session)
		return;
	ta->session_open = 0;
	ta->configured = 0;
	ta->dep.deployed = 0;
	ll_arena_reset(&ta->arena);
	/* the partition's pointers and state go too: nothing of it outlives the session */
	memset(&ta->part, 0, sizeof(ta->part));
}

static void count_command(struct ll_ta *ta, uint32_t cmd)
{
	size_t i;

	for (i = 0; i < ta->ncounts; i++)
		if (ta->count_ids[i] == cmd) {
			ta->counts[i]++;
			return;
		}
	if (ta->ncounts < LL_MAX_COMMAND_IDS) {
		ta->count_ids[ta->ncounts] = cmd;
		ta->counts[ta->ncounts++] = 1;
	}
}

/*
 * LAST_MESSAGE (protocol.ts): the words of the last failure, which GlobalPlatform cannot return
 * with its result code. Answered before anything could replace them and not counted, as in ta.ts;
 * its own refusals go to a scratch buffer so the stored message survives them.
 */
static TEE_Result last_message(struct ll_ta *ta, uint32_t types, TEE_Param p[4])
{
	static const uint32_t accepted[] = { TYPES(MEMREF_OUT, NONE, NONE, NONE) };
	char scratch[256];
	struct ll_sb msg;
	size_t n = strlen(ta->msg);
	TEE_Result r;

	ll_sb_init(&msg, scratch, sizeof(scratch));
	r = ll_expect_types(LAYERLOCK_CMD_LAST_MESSAGE, types, accepted, 1, &msg);
	if (r == TEE_SUCCESS)
		r = ll_write_out(&p[0], ta->msg, n, &msg);
	return r;
}

TEE_Result ll_ta_invoke(struct ll_ta *ta, uint32_t session, uint32_t cmd, uint32_t param_types,
			TEE_Param params[4])
{
	struct ll_sb msg;
	size_t i;

	if (cmd == LAYERLOCK_CMD_LAST_MESSAGE && ta->session_open && ta->session_id == session)
		return last_message(ta, param_types, params);
	ll_sb_init(&msg, ta->msg, sizeof(ta->msg));
	if (!ta->session_open || ta->session_id != session) {
		ll_sb_str(&msg, "no open session ");
		ll_sb_u64(&msg, session);
		return TEE_ERROR_BAD_STATE;
	}
	for (i = 0; i < sizeof(COMMANDS) / sizeof(COMMANDS[0]); i++)
		if (COMMANDS[i].id == cmd) {
			count_command(ta, cmd);
			return COMMANDS[i].handler(ta, param_types, params, &msg);
		}
	ll_sb_str(&msg, "command ");
	sb_command(&msg, cmd);
	ll_sb_str(&msg, " is not supported by this TA");
	return TEE_ERROR_NOT_SUPPORTED;
}

const char *ll_ta_message(const struct ll_ta *ta)
{
	return ta->msg;
}
