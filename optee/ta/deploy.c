/*
 * The deployment commands of layerlock's OP-TEE TA: src/tee/ta/deploy.ts in C (see
 * include/layerlock_deploy.h). Each step below names the deploy.ts / container.ts function it
 * restates; result codes and messages are theirs, word for word, unless a comment says otherwise.
 */
#include <string.h>
#include <layerlock_bytes.h>
#include <layerlock_commands.h>
#include <layerlock_deploy.h>
#include <layerlock_handler.h>
#include <layerlock_json.h>
#include <layerlock_protocol.h>
#include <llcrypto.h>
#include <llhpke.h>
#include <llstore.h>

/* src/tee/shared/deploy-protocol.ts */
#define DEVICE_CREATE 0
#define DEVICE_CERT 1
#define DEVICE_STATUS 2
#define SEAL_NEW 0
#define SEAL_COMMIT 1
#define SEAL_DISCARD 2
/* SEAL_PROTECTED's two layouts: SEAL_NEW's, and SEAL_COMMIT/SEAL_DISCARD's */
#define SEAL_NEW_TYPES TYPES(VALUE_IN, MEMREF_IN, VALUE_OUT, NONE)
#define SEAL_VERSION_TYPES TYPES(VALUE_IN, NONE, NONE, NONE)
#define DEVICE_OUTPUT_BYTES (16 * 1024)

/* src/tee/shared/container.ts */
#define HEADER_BYTES 32
#define SIGNATURE_BYTES 64
#define KIND_PACKAGE 1
#define KIND_EXPORT 2
#define HPKE_INFO "layerlock/v1 protected layers"
#define TAMPERED "the file was corrupted or tampered with"
/* TA_UUID of protocol.ts (layerlock_protocol.h has it as numbers) */
#define TA_UUID_STR "6c61796c-6c6f-4b54-a000-7a6500000005"
/*
 * The certificate's labels. deploy.ts's ATTESTATION_LABEL names the software TEE; this TA runs in
 * OP-TEE, and nothing attests it either (QEMU has no hardware root of trust), so it says so in its
 * own words; the normal world accepts any label starting with EMULATED (verifyDeviceCert).
 */
#define ATTESTATION "EMULATED (OP-TEE TA, no attestation): self-signed by the device identity key generated inside the TA; no hardware root of trust vouches for it"
#define SEALING "OP-TEE secure storage (TEE_STORAGE_PRIVATE): objects encrypted and authenticated by OP-TEE under its TA storage key, derived from the hardware-unique key (a fixed test key on QEMU, fused on a real device)"

#define KEYS_MAGIC "LLKEYS01"
#define MODEL_MAGIC "LLMODEL1"

static const char HEX[] = "0123456789abcdef";
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ---------------------------------------------------------------------------------------- */
/* Small helpers */

static void to_hex(const uint8_t *b, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = HEX[b[i] >> 4];
		out[2 * i + 1] = HEX[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static void b64_sb(struct ll_sb *s, const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)b[i] << 16 | (i + 1 < n ? (uint32_t)b[i + 1] << 8 : 0) | (i + 2 < n ? b[i + 2] : 0);
		char q[4] = { B64[v >> 18], B64[(v >> 12) & 63], i + 1 < n ? B64[(v >> 6) & 63] : '=', i + 2 < n ? B64[v & 63] : '=' };

		ll_sb_strn(s, q, 4);
	}
}

/* base64 of a 32-byte key: 44 characters */
static void b64_32(const uint8_t *b, char out[45])
{
	struct ll_sb s;

	ll_sb_init(&s, out, 45);
	b64_sb(&s, b, 32);
}

static int b64val(char c)
{
	const char *p = c ? strchr(B64, c) : NULL;

	return p ? (int)(p - B64) : -1;
}

/*
 * A 32-byte key in canonical base64 (44 characters, one '='). The software TA takes whatever
 * Buffer.from(s, 'base64') makes 32 bytes of; the TS side writes only the canonical form, and
 * the anchor is compared as a string anyway, so the C TA refuses the other spellings.
 */
static int unb64_32(const char *s, uint8_t out[32])
{
	size_t i, o = 0;

	if (strlen(s) != 44 || s[43] != '=')
		return -1;
	for (i = 0; i < 44; i += 4) {
		int a = b64val(s[i]), b = b64val(s[i + 1]), c = b64val(s[i + 2]), d = i == 40 ? 0 : b64val(s[i + 3]);
		uint32_t v;

		if (a < 0 || b < 0 || c < 0 || d < 0)
			return -1;
		v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		out[o++] = (uint8_t)(v >> 16);
		out[o++] = (uint8_t)(v >> 8);
		if (i < 40)
			out[o++] = (uint8_t)v;
		else if (v & 0xff)
			return -1; /* bits set past the 32 bytes: not canonical */
	}
	return 0;
}

static uint32_t rd16(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8;
}

static uint64_t rd64(const uint8_t *b)
{
	return (uint64_t)ll_get_le32(b) | (uint64_t)ll_get_le32(b + 4) << 32;
}

static int sha_hex(const void *p, size_t n, char out[65])
{
	uint8_t d[32];
	struct ll_bytes b;

	b.p = p;
	b.n = n;
	if (ll_sha256(&b, 1, d))
		return -1;
	to_hex(d, 32, out);
	return 0;
}

/* keyId of container.ts: hex of the first 16 bytes of SHA-256("layerlock key id\0" ‖ key) */
static int key_id(const uint8_t raw[32], char out[33])
{
	static const char prefix[] = "layerlock key id";
	struct ll_bytes b[2];
	uint8_t d[32];

	b[0].p = prefix;
	b[0].n = sizeof(prefix); /* with its NUL */
	b[1].p = raw;
	b[1].n = 32;
	if (ll_sha256(b, 2, d))
		return -1;
	to_hex(d, 16, out);
	return 0;
}

/* new Date().toISOString(): 2025-01-31T12:34:56.789Z */
static void iso_now(char out[25])
{
	uint64_t secs;
	uint32_t ms;
	int64_t z, era, doe, yoe, y, doy, mp, d, m;
	uint32_t sod;
	struct ll_sb s;

	ll_time_now(&secs, &ms);
	/* days_from_civil inverted (H. Hinnant's civil_from_days) */
	z = (int64_t)(secs / 86400) + 719468;
	sod = (uint32_t)(secs % 86400);
	era = z / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	{
		int64_t f[6] = { y, m, d, sod / 3600, sod / 60 % 60, sod % 60 };
		const char *sep[6] = { "-", "-", "T", ":", ":", "." };
		int w[6] = { 4, 2, 2, 2, 2, 2 }, i, k;

		ll_sb_init(&s, out, 25);
		for (i = 0; i < 6; i++) {
			char t[4];

			for (k = w[i] - 1; k >= 0; k--) {
				t[k] = (char)('0' + f[i] % 10);
				f[i] /= 10;
			}
			ll_sb_strn(&s, t, (size_t)w[i]);
			ll_sb_str(&s, sep[i]);
		}
		{
			char t[4] = { (char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10), 'Z' };

			ll_sb_strn(&s, t, 4);
		}
	}
}

/* randomUUID(): version 4 */
static int uuid4(char out[37])
{
	uint8_t r[16];
	size_t i, o = 0;

	if (ll_random(r, sizeof(r)))
		return -1;
	r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);
	r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = HEX[r[i] >> 4];
		out[o++] = HEX[r[i] & 15];
	}
	out[o] = '\0';
	return 0;
}

/* lower case only: ids and hashes are compared as strings */
static int hex_digit(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static int is_hex(const char *s, size_t n)
{
	size_t i;

	if (strlen(s) != n)
		return 0;
	for (i = 0; i < n; i++)
		if (!hex_digit(s[i]))
			return 0;
	return 1;
}

static int is_uuid(const char *s)
{
	size_t i;

	if (strlen(s) != 36)
		return 0;
	for (i = 0; i < 36; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !hex_digit(s[i]))
			return 0;
	}
	return 1;
}

static int policy_id(const char *s)
{
	return !strcmp(s, "top1") ? LAYERLOCK_POLICY_TOP1 : !strcmp(s, "topk") ? LAYERLOCK_POLICY_TOPK :
	       !strcmp(s, "full") ? LAYERLOCK_POLICY_FULL : -1;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* encodeWeights([], {major, minor, revision, seen}) */
static size_t write_weights_header(uint8_t *o, uint64_t major, uint64_t minor, uint64_t revision, uint64_t seen)
{
	size_t hb = ll_weights_header_bytes(major, minor);

	ll_put_le32(o, (uint32_t)major);
	ll_put_le32(o + 4, (uint32_t)minor);
	ll_put_le32(o + 8, (uint32_t)revision);
	ll_put_le32(o + 12, (uint32_t)seen);
	if (hb == 20)
		ll_put_le32(o + 16, (uint32_t)(seen >> 32));
	return hb;
}

/* The TS side keeps an unset id as null; here it is the empty string. */
static void str_or_null(struct ll_sb *s, const char *str)
{
	if (str[0])
		ll_json_write_str(s, str);
	else
		ll_sb_str(s, "null");
}

/* the items of a JSON array of numbers (the caller writes the brackets) */
static void u64_items(struct ll_sb *s, const uint64_t *a, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (i)
			ll_sb_str(s, ",");
		ll_sb_u64(s, a[i]);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Scratch: the arena's free tail, for what a command needs only while it runs */

struct scratch {
	uint8_t *base;
	size_t cap, used, high;
};

static void scratch_init(struct scratch *s, const struct ll_ta *ta)
{
	uint64_t bytes = 0;

	s->base = ll_arena_free_tail(&ta->arena, &bytes);
	s->cap = (size_t)bytes;
	s->used = 0;
	s->high = 0;
}

static uint8_t *scratch_take(struct scratch *s, size_t n)
{
	size_t at = (s->used + 15) & ~(size_t)15;
	uint8_t *p;

	if (!s->base || at > s->cap || n > s->cap - at)
		return NULL;
	p = s->base + at;
	s->used = at + n;
	if (s->used > s->high)
		s->high = s->used;
	return p;
}

static size_t scratch_free(const struct scratch *s)
{
	size_t at = (s->used + 15) & ~(size_t)15;

	return s->base && at < s->cap ? s->cap - at : 0;
}

/* nothing decrypted or read outlives the command */
static void scratch_wipe(struct scratch *s)
{
	if (s->base && s->high)
		ll_wipe(s->base, s->high);
	s->used = 0;
	s->high = 0;
}

/* The C TA's own refusal: the arena's free memory cannot hold what a command needs while it runs. */
static TEE_Result no_room(const struct scratch *s, const char *what, size_t need, struct ll_sb *msg)
{
	ll_sb_str(msg, "secure memory exhausted: ");
	ll_sb_str(msg, what);
	ll_sb_str(msg, " needs ");
	ll_sb_bytes(msg, need);
	ll_sb_str(msg, ", only ");
	ll_sb_bytes(msg, scratch_free(s));
	ll_sb_str(msg, " of the arena are free");
	return TEE_ERROR_OUT_OF_MEMORY;
}

/*
 * A failure of the storage itself. OP-TEE authenticates its objects and reports a tampered or
 * corrupt one with its own code (TEE_ERROR_CORRUPT_OBJECT, …); the software TA's SealError is a
 * TEE_ERROR_SECURITY, and so is this.
 */
static TEE_Result storage_failed(TEE_Result r, const char *name, struct ll_sb *msg)
{
	char h[9];
	int i;

	for (i = 0; i < 8; i++)
		h[i] = HEX[(r >> (28 - 4 * i)) & 15];
	h[8] = '\0';
	ll_sb_str(msg, "sealed object ");
	ll_sb_str(msg, name);
	ll_sb_str(msg, " cannot be read or written: the secure storage answers 0x");
	ll_sb_str(msg, h);
	ll_sb_str(msg, " (tampered with, or the storage failed)");
	return TEE_ERROR_SECURITY;
}

/* ---------------------------------------------------------------------------------------- */
/* device-keys: MAGIC ‖ Ed25519 private ‖ public ‖ X25519 private ‖ public ‖ the certificate JSON */

struct keys {
	uint8_t ed_priv[32], ed_pub[32], x_priv[32], x_pub[32];
	char device_id[33];
	const char *cert; /* in dep.io */
	size_t cert_len;
};

static void keys_wipe(struct keys *k)
{
	ll_wipe(k->ed_priv, sizeof(k->ed_priv));
	ll_wipe(k->x_priv, sizeof(k->x_priv));
}

/* loadKeys */
static TEE_Result load_keys(struct ll_deploy *d, struct keys *k, struct ll_sb *msg)
{
	size_t len = 0;
	TEE_Result r = ll_store_get("device-keys", d->io, sizeof(d->io), &len);

	if (r == TEE_ERROR_ITEM_NOT_FOUND) {
		ll_sb_str(msg, "this device has no keys yet (run layerlock device init)");
		return TEE_ERROR_ITEM_NOT_FOUND;
	}
	if (r != TEE_SUCCESS)
		return storage_failed(r, "device-keys", msg);
	if (len < 8 + 128 || memcmp(d->io, KEYS_MAGIC, 8)) {
		ll_wipe(d->io, sizeof(d->io));
		ll_sb_str(msg, "sealed object device-keys is not the device's keys");
		return TEE_ERROR_SECURITY;
	}
	memcpy(k->ed_priv, d->io + 8, 32);
	memcpy(k->ed_pub, d->io + 40, 32);
	memcpy(k->x_priv, d->io + 72, 32);
	memcpy(k->x_pub, d->io + 104, 32);
	/* the private halves stay only in k: the buffer keeps the certificate */
	ll_wipe(d->io, 136);
	k->cert = (const char *)d->io + 136;
	k->cert_len = len - 136;
	if (key_id(k->ed_pub, k->device_id)) {
		keys_wipe(k);
		ll_sb_str(msg, "the device's identity key cannot be read");
		return TEE_ERROR_GENERIC;
	}
	return TEE_SUCCESS;
}

/* load_keys where only the device id or certificate is wanted: the private halves do not outlive the call */
static TEE_Result load_public(struct ll_deploy *d, struct keys *k, struct ll_sb *msg)
{
	TEE_Result r = load_keys(d, k, msg);

	if (r == TEE_SUCCESS)
		keys_wipe(k);
	return r;
}

/* ---------------------------------------------------------------------------------------- */
/* model-<v> objects and the versions present (sealedVersions) */

static void model_name(uint64_t v, char out[LL_STORE_NAME_MAX])
{
	struct ll_sb s;

	ll_sb_init(&s, out, LL_STORE_NAME_MAX);
	ll_sb_str(&s, "model-");
	ll_sb_u64(&s, v);
}

static TEE_Result sealed_versions(struct ll_deploy *d, struct ll_sb *msg)
{
	size_t n = 0, i, j;
	TEE_Result r = ll_store_list(d->names, LL_DEPLOY_MAX_OBJECTS, &n);

	d->nversions = 0;
	if (r != TEE_SUCCESS)
		return storage_failed(r, "(list)", msg);
	if (n > LL_DEPLOY_MAX_OBJECTS) {
		ll_sb_str(msg, "the secure storage holds more objects than the C TA lists (");
		ll_sb_u64(msg, LL_DEPLOY_MAX_OBJECTS);
		ll_sb_str(msg, ")");
		return TEE_ERROR_GENERIC;
	}
	for (i = 0; i < n; i++) {
		const char *p = d->names[i];
		uint64_t v = 0;

		/* /^model-(\d+)$/ */
		if (strncmp(p, "model-", 6) || !p[6])
			continue;
		for (p += 6; *p >= '0' && *p <= '9'; p++)
			v = v * 10 + (uint64_t)(*p - '0');
		if (*p)
			continue;
		/* insertion: ascending */
		for (j = d->nversions; j > 0 && d->versions[j - 1] > v; j--)
			d->versions[j] = d->versions[j - 1];
		d->versions[j] = v;
		d->nversions++;
	}
	return TEE_SUCCESS;
}

/* the highest of floor and the versions sealed_versions found */
static uint64_t max_stored(const struct ll_deploy *d, uint64_t floor)
{
	size_t i;

	for (i = 0; i < d->nversions; i++)
		floor = max_u64(floor, d->versions[i]);
	return floor;
}

/* ---------------------------------------------------------------------------------------- */
/* rpmb: the anti-rollback state, as JSON (RpmbState) */

/* the installed package and the anchor's key id: RpmbState and DeviceStatus list them alike */
static void installed_fields(struct ll_sb *s, const struct ll_rpmb *r)
{
	ll_sb_str(s, "\"package_version\":");
	ll_sb_u64(s, r->package_version);
	ll_sb_str(s, ",\"package_id\":");
	str_or_null(s, r->package_id);
	ll_sb_str(s, ",\"server_key_id\":");
	str_or_null(s, r->server_key_id);
}

static TEE_Result save_rpmb(struct ll_deploy *d, const struct ll_rpmb *r, struct ll_sb *msg)
{
	struct ll_sb s;
	TEE_Result res;

	ll_sb_init(&s, d->rpmb_io, sizeof(d->rpmb_io));
	ll_sb_str(&s, "{\"counter\":");
	ll_sb_u64(&s, r->counter);
	ll_sb_str(&s, ",");
	installed_fields(&s, r);
	ll_sb_str(&s, ",\"server_ed25519\":");
	str_or_null(&s, r->server_ed25519);
	ll_sb_str(&s, ",\"issued\":");
	ll_sb_u64(&s, r->issued);
	ll_sb_str(&s, ",\"pending\":[");
	u64_items(&s, r->pending, r->npending);
	ll_sb_str(&s, "]}");
	if (s.overflow) {
		ll_sb_str(msg, "the anti-rollback state does not fit its buffer");
		return TEE_ERROR_GENERIC;
	}
	res = ll_store_put("rpmb", s.buf, s.len);
	return res == TEE_SUCCESS ? res : storage_failed(res, "rpmb", msg);
}

static int opt_str(struct ll_jv o, const char *key, char *out, size_t cap)
{
	struct ll_jv v;

	out[0] = '\0';
	if (!ll_json_get(o, key, &v) || ll_json_kind(v) == 'z')
		return 0;
	return ll_json_str_copy(v, out, cap);
}

/* loadRpmb */
static TEE_Result load_rpmb(struct ll_deploy *d, struct ll_rpmb *r, struct ll_sb *msg)
{
	struct ll_jv root, v;
	size_t len = 0, i;
	int bad;
	TEE_Result res = ll_store_get("rpmb", d->rpmb_io, sizeof(d->rpmb_io), &len);

	memset(r, 0, sizeof(*r));
	if (res == TEE_ERROR_ITEM_NOT_FOUND) {
		/* written before the keys (create_device): a device with keys and no state had it deleted */
		if (ll_store_exists("device-keys")) {
			ll_sb_str(msg, "the anti-rollback state (rpmb.sealed) is missing from the secure storage: deleted? refusing to run without it");
			return TEE_ERROR_SECURITY;
		}
		return TEE_SUCCESS;
	}
	if (res != TEE_SUCCESS)
		return storage_failed(res, "rpmb", msg);
	bad = ll_json_parse(d->rpmb_io, len, &root) || ll_json_kind(root) != 'o' ||
	      !ll_json_get(root, "counter", &v) || ll_json_uint(v, &r->counter) ||
	      !ll_json_get(root, "package_version", &v) || ll_json_uint(v, &r->package_version) ||
	      opt_str(root, "package_id", r->package_id, sizeof(r->package_id)) ||
	      opt_str(root, "server_key_id", r->server_key_id, sizeof(r->server_key_id)) ||
	      opt_str(root, "server_ed25519", r->server_ed25519, sizeof(r->server_ed25519));
	if (!bad) {
		struct ll_jv pv, iv, e;
		int has_p = ll_json_get(root, "pending", &pv), has_i = ll_json_get(root, "issued", &iv);
		size_t pos = 0;

		/* state written before versions were tracked: everything stored above the counter is pending */
		if (!has_p || !has_i) {
			res = sealed_versions(d, msg);
			if (res != TEE_SUCCESS)
				return res;
		}
		if (has_i)
			bad = ll_json_uint(iv, &r->issued);
		else
			r->issued = max_stored(d, r->counter);
		if (has_p) {
			while (!bad && ll_json_next(pv, &pos, NULL, &e))
				bad = r->npending >= LL_DEPLOY_MAX_PENDING || ll_json_uint(e, &r->pending[r->npending++]);
		} else {
			for (i = 0; i < d->nversions; i++)
				if (d->versions[i] > r->counter && r->npending < LL_DEPLOY_MAX_PENDING)
					r->pending[r->npending++] = d->versions[i];
		}
	}
	if (bad) {
		ll_sb_str(msg, "sealed object rpmb is damaged (its state does not parse)");
		return TEE_ERROR_SECURITY;
	}
	return TEE_SUCCESS;
}

static int pending_has(const struct ll_rpmb *r, uint64_t v)
{
	size_t i;

	for (i = 0; i < r->npending; i++)
		if (r->pending[i] == v)
			return 1;
	return 0;
}

/*
 * issueVersion: above every version ever issued, recorded in the RPMB state before the model is
 * stored, so no number is handed out twice — not after a discard, not after a crash.
 */
static TEE_Result issue_version(struct ll_deploy *d, uint64_t *out, struct ll_sb *msg)
{
	struct ll_rpmb *r = &d->rpmb;
	uint64_t v;
	TEE_Result res = load_rpmb(d, r, msg);

	if (res == TEE_SUCCESS)
		res = sealed_versions(d, msg);
	if (res != TEE_SUCCESS)
		return res;
	v = max_stored(d, max_u64(r->issued, r->counter)) + 1;
	/* the C TA's own bound (a fixed table): the software TA keeps any number pending */
	if (r->npending >= LL_DEPLOY_MAX_PENDING) {
		ll_sb_str(msg, "too many uncommitted model versions (");
		ll_sb_u64(msg, LL_DEPLOY_MAX_PENDING);
		ll_sb_str(msg, "): commit or discard some first");
		return TEE_ERROR_BAD_STATE;
	}
	r->issued = v;
	r->pending[r->npending++] = v;
	res = save_rpmb(d, r, msg);
	*out = v;
	return res;
}

/* ---------------------------------------------------------------------------------------- */
/* model-<v>: MAGIC ‖ u32 meta length ‖ meta (ModelMeta as JSON) ‖ the protected layers (.weights) */

static void server_json(struct ll_sb *s, const struct ll_server_key *k)
{
	ll_sb_str(s, "{\"key_id\":");
	ll_json_write_str(s, k->key_id);
	ll_sb_str(s, ",\"ed25519\":");
	ll_json_write_str(s, k->ed25519);
	ll_sb_str(s, ",\"x25519\":");
	ll_json_write_str(s, k->x25519);
	ll_sb_str(s, "}");
}

/* ModelMeta and ModelInfo (info() of deploy.ts copies them) open with the same five fields */
static void meta_head_json(struct ll_sb *s, const struct ll_model_meta *m)
{
	ll_sb_str(s, "{\"version\":");
	ll_sb_u64(s, m->version);
	ll_sb_str(s, ",\"parent\":");
	if (m->parent)
		ll_sb_u64(s, m->parent);
	else
		ll_sb_str(s, "null");
	ll_sb_str(s, ",\"package_id\":");
	ll_json_write_str(s, m->package_id);
	ll_sb_str(s, ",\"package_version\":");
	ll_sb_u64(s, m->package_version);
	ll_sb_str(s, ",\"device_id\":");
	ll_json_write_str(s, m->device_id);
}

/* the partition's fields, in ModelMeta's and the manifest's order (the caller writes what encloses them) */
static void partition_fields(struct ll_sb *s, uint32_t start, uint32_t end, int policy, uint32_t topk)
{
	ll_sb_str(s, "\"start\":");
	ll_sb_u64(s, start);
	ll_sb_str(s, ",\"end\":");
	ll_sb_u64(s, end);
	ll_sb_str(s, ",\"policy\":");
	ll_json_write_str(s, ll_policy_name(policy));
	ll_sb_str(s, ",\"topk\":");
	ll_sb_u64(s, topk);
}

/* the .weights version, in ModelMeta's and the manifest's order (the manifest adds seen) */
static void weights_fields(struct ll_sb *s, uint64_t major, uint64_t minor, uint64_t revision)
{
	ll_sb_str(s, "\"major\":");
	ll_sb_u64(s, major);
	ll_sb_str(s, ",\"minor\":");
	ll_sb_u64(s, minor);
	ll_sb_str(s, ",\"revision\":");
	ll_sb_u64(s, revision);
}

static void meta_json(struct ll_sb *s, const struct ll_model_meta *m)
{
	meta_head_json(s, m);
	ll_sb_str(s, ",");
	partition_fields(s, m->start, m->end, m->policy, m->topk);
	ll_sb_str(s, ",\"cfg_sha256\":");
	ll_json_write_str(s, m->cfg_sha256);
	ll_sb_str(s, ",\"cfg_text\":");
	ll_json_write_strn(s, m->cfg_text, m->cfg_len);
	ll_sb_str(s, ",\"clear_sha256\":");
	ll_json_write_str(s, m->clear_sha256);
	ll_sb_str(s, ",\"server\":");
	server_json(s, &m->server);
	if (m->has_trust_next) {
		ll_sb_str(s, ",\"trust_next\":{\"key_id\":");
		ll_json_write_str(s, m->next_key_id);
		ll_sb_str(s, ",\"ed25519\":");
		ll_json_write_str(s, m->next_ed25519);
		ll_sb_str(s, "}");
	}
	ll_sb_str(s, ",\"weights\":{");
	weights_fields(s, m->major, m->minor, m->revision);
	ll_sb_str(s, "},\"created\":");
	ll_json_write_str(s, m->created);
	ll_sb_str(s, "}");
}

/* Room put_model needs in front of the layers for the object's head and meta (cfg text escaped at worst ×6) */
static size_t meta_room(size_t cfg_len)
{
	return ((12 + 6 * cfg_len + 4096) + 15) & ~(size_t)15;
}

/*
 * Stores model-<v> in one put (atomic). `buf` has `room` bytes (meta_room) in front of the wlen
 * bytes of layers at buf + room: the head and meta are written there and the layers moved up to
 * follow them, so the object is built where the layers already are (no second copy of them).
 */
static TEE_Result put_model(const struct ll_model_meta *meta, uint8_t *buf, size_t room, size_t wlen,
			    struct ll_sb *msg)
{
	char name[LL_STORE_NAME_MAX];
	struct ll_sb s;
	size_t mlen;
	TEE_Result r;

	ll_sb_init(&s, (char *)buf + 12, room - 12);
	meta_json(&s, meta);
	if (s.overflow) {
		ll_sb_str(msg, "the model's record does not fit its buffer");
		return TEE_ERROR_GENERIC;
	}
	mlen = s.len;
	memcpy(buf, MODEL_MAGIC, 8);
	ll_put_le32(buf + 8, (uint32_t)mlen);
	memmove(buf + 12 + mlen, buf + room, wlen);
	model_name(meta->version, name);
	r = ll_store_put(name, buf, 12 + mlen + wlen);
	return r == TEE_SUCCESS ? r : storage_failed(r, name, msg);
}

static int meta_str(struct ll_jv o, const char *key, char *out, size_t cap)
{
	struct ll_jv v;

	return !ll_json_get(o, key, &v) || ll_json_str_copy(v, out, cap) ? -1 : 0;
}

static int meta_uint(struct ll_jv o, const char *key, uint64_t *out)
{
	struct ll_jv v;

	return !ll_json_get(o, key, &v) || ll_json_uint(v, out) ? -1 : 0;
}

/* A JSON string (a cfg text) unescaped into scratch and NUL-terminated; NULL when scratch has no room. */
static const char *scratch_unescape(struct scratch *sc, struct ll_jv v, size_t *len)
{
	size_t n = ll_json_unescape(v, NULL, 0);
	char *out = (char *)scratch_take(sc, n + 1);

	if (!out)
		return NULL;
	ll_json_unescape(v, out, n);
	out[n] = '\0';
	*len = n;
	return out;
}

/* A stored meta record (written by put_model; OP-TEE authenticates it). cfg_text goes to scratch. */
static int parse_meta(struct scratch *sc, const char *text, size_t n, struct ll_model_meta *m)
{
	struct ll_jv root, v, srv, w, t;
	uint64_t start = 0, end = 0, topk = 0;
	char policy[8];

	memset(m, 0, sizeof(*m));
	if (ll_json_parse(text, n, &root) || ll_json_kind(root) != 'o')
		return -1;
	if (meta_uint(root, "version", &m->version) || !ll_json_get(root, "parent", &v) ||
	    (ll_json_kind(v) != 'z' && ll_json_uint(v, &m->parent)) ||
	    meta_str(root, "package_id", m->package_id, sizeof(m->package_id)) ||
	    meta_uint(root, "package_version", &m->package_version) ||
	    meta_str(root, "device_id", m->device_id, sizeof(m->device_id)) ||
	    meta_uint(root, "start", &start) || meta_uint(root, "end", &end) ||
	    meta_str(root, "policy", policy, sizeof(policy)) || meta_uint(root, "topk", &topk) ||
	    meta_str(root, "cfg_sha256", m->cfg_sha256, sizeof(m->cfg_sha256)) ||
	    meta_str(root, "clear_sha256", m->clear_sha256, sizeof(m->clear_sha256)) ||
	    meta_str(root, "created", m->created, sizeof(m->created)) ||
	    !ll_json_get(root, "server", &srv) || meta_str(srv, "key_id", m->server.key_id, sizeof(m->server.key_id)) ||
	    meta_str(srv, "ed25519", m->server.ed25519, sizeof(m->server.ed25519)) ||
	    meta_str(srv, "x25519", m->server.x25519, sizeof(m->server.x25519)) ||
	    !ll_json_get(root, "weights", &w) || meta_uint(w, "major", &m->major) ||
	    meta_uint(w, "minor", &m->minor) || meta_uint(w, "revision", &m->revision) ||
	    !ll_json_get(root, "cfg_text", &v) || ll_json_kind(v) != 's')
		return -1;
	if (start > UINT32_MAX || end > UINT32_MAX || topk > UINT32_MAX || (m->policy = policy_id(policy)) < 0)
		return -1;
	m->start = (uint32_t)start;
	m->end = (uint32_t)end;
	m->topk = (uint32_t)topk;
	if (ll_json_get(root, "trust_next", &t)) {
		m->has_trust_next = 1;
		if (meta_str(t, "key_id", m->next_key_id, sizeof(m->next_key_id)) ||
		    meta_str(t, "ed25519", m->next_ed25519, sizeof(m->next_ed25519)))
			return -1;
	}
	m->cfg_text = scratch_unescape(sc, v, &m->cfg_len);
	return m->cfg_text ? 0 : -2;
}

/*
 * Reads model-<v> into scratch: its meta (parsed into *m) and its layers (*weights, *wlen).
 * ITEM_NOT_FOUND is returned without a message (the caller words it).
 */
static TEE_Result read_model(struct scratch *sc, uint64_t v, struct ll_model_meta *m, uint8_t **weights,
			     size_t *wlen, struct ll_sb *msg)
{
	char name[LL_STORE_NAME_MAX];
	size_t len = 0, room = scratch_free(sc), mlen;
	uint8_t *obj = scratch_take(sc, room);
	TEE_Result r;
	int pr;

	model_name(v, name);
	r = ll_store_get(name, obj, obj ? room : 0, &len);
	if (r == TEE_ERROR_ITEM_NOT_FOUND)
		return r;
	if (r == TEE_ERROR_SHORT_BUFFER) {
		sc->used = 0;
		return no_room(sc, "reading the stored model", len, msg);
	}
	if (r != TEE_SUCCESS)
		return storage_failed(r, name, msg);
	sc->used = (size_t)(obj - sc->base) + len;
	mlen = len >= 12 ? ll_get_le32(obj + 8) : 0;
	if (len < 12 || memcmp(obj, MODEL_MAGIC, 8) || mlen > len - 12) {
		ll_sb_str(msg, "sealed object ");
		ll_sb_str(msg, name);
		ll_sb_str(msg, " is not a stored model");
		return TEE_ERROR_SECURITY;
	}
	pr = parse_meta(sc, (const char *)obj + 12, mlen, m);
	if (pr == -2)
		return no_room(sc, "reading the stored model's cfg", mlen, msg);
	if (pr) {
		ll_sb_str(msg, "sealed object ");
		ll_sb_str(msg, name);
		ll_sb_str(msg, " is damaged (its record does not parse)");
		return TEE_ERROR_SECURITY;
	}
	*weights = obj + 12 + mlen;
	*wlen = len - 12 - mlen;
	return TEE_SUCCESS;
}

static TEE_Result remove_model(uint64_t v, struct ll_sb *msg)
{
	char name[LL_STORE_NAME_MAX];
	TEE_Result r;

	model_name(v, name);
	r = ll_store_remove(name);
	return r == TEE_SUCCESS ? r : storage_failed(r, name, msg);
}

/* openModel: model-<v> with the anti-rollback checks, and that it was stored for this device identity */
static TEE_Result open_model(struct ll_deploy *d, struct scratch *sc, uint64_t v, struct ll_model_meta *m,
			     uint8_t **weights, size_t *wlen, struct ll_sb *msg)
{
	struct ll_rpmb *r = &d->rpmb;
	struct keys k;
	char name[LL_STORE_NAME_MAX];
	TEE_Result res;

	if (v < 1) {
		ll_sb_str(msg, "model version ");
		ll_sb_u64(msg, v);
		ll_sb_str(msg, " is not a version");
		return TEE_ERROR_BAD_PARAMETERS;
	}
	res = load_rpmb(d, r, msg);
	if (res == TEE_SUCCESS)
		res = load_public(d, &k, msg);
	if (res != TEE_SUCCESS)
		return res;
	res = read_model(sc, v, m, weights, wlen, msg);
	if (res == TEE_ERROR_ITEM_NOT_FOUND) {
		ll_sb_str(msg, "no sealed model version ");
		ll_sb_u64(msg, v);
		ll_sb_str(msg, " on this device (the device is at version ");
		ll_sb_u64(msg, r->counter);
		ll_sb_str(msg, ")");
	}
	if (res != TEE_SUCCESS)
		return res;
	model_name(v, name);
	if (m->version != v) {
		ll_sb_str(msg, "sealed object ");
		ll_sb_str(msg, name);
		ll_sb_str(msg, " holds model version ");
		ll_sb_u64(msg, m->version);
		ll_sb_str(msg, ": replayed or swapped file refused");
		return TEE_ERROR_SECURITY;
	}
	if (strcmp(m->device_id, k.device_id)) {
		ll_sb_str(msg, "sealed model version ");
		ll_sb_u64(msg, v);
		ll_sb_str(msg, " belongs to an earlier identity of this device (");
		ll_sb_str(msg, m->device_id);
		ll_sb_str(msg, "), not to ");
		ll_sb_str(msg, k.device_id);
		return TEE_ERROR_SECURITY;
	}
	if (v < r->counter) {
		ll_sb_str(msg, "sealed model version ");
		ll_sb_u64(msg, v);
		ll_sb_str(msg, " is older than the device's current version ");
		ll_sb_u64(msg, r->counter);
		ll_sb_str(msg, ": rollback refused");
		return TEE_ERROR_SECURITY;
	}
	if (v != r->counter && !pending_has(r, v)) {
		ll_sb_str(msg, "model version ");
		ll_sb_u64(msg, v);
		ll_sb_str(msg, " was discarded (or superseded) on this device: a saved copy of it is refused");
		return TEE_ERROR_SECURITY;
	}
	return TEE_SUCCESS;
}

/* commit: version v becomes current (the counter moves to it, never down); other stored versions go */
static TEE_Result commit(struct ll_deploy *d, struct scratch *sc, uint64_t v, struct ll_sb *msg)
{
	struct ll_model_meta m;
	struct ll_rpmb r;
	uint8_t *w = NULL;
	size_t wlen = 0, i, mark = sc->used;
	int from_anchor;
	TEE_Result res = load_rpmb(d, &r, msg);

	if (res == TEE_SUCCESS)
		res = open_model(d, sc, v, &m, &w, &wlen, msg);
	if (res != TEE_SUCCESS)
		return res;
	/* only the meta is needed: the layers are wiped at once */
	ll_wipe(w, wlen);
	/*
	 * The model's package was signed by the anchor — or, after that package rotated the anchor,
	 * the anchor is the key it handed over (fine-tuned versions of that model keep its meta).
	 */
	from_anchor = r.server_ed25519[0] && (!strcmp(r.server_ed25519, m.server.ed25519) ||
					      (m.has_trust_next && !strcmp(r.server_ed25519, m.next_ed25519)));
	if (!from_anchor) {
		ll_sb_str(msg, "model version ");
		ll_sb_u64(msg, v);
		ll_sb_str(msg, " comes from server key ");
		ll_sb_str(msg, m.server.key_id);
		ll_sb_str(msg, ", but this device trusts ");
		ll_sb_str(msg, r.server_key_id[0] ? r.server_key_id : "no server key yet");
		return TEE_ERROR_SECURITY;
	}
	if (m.package_version < r.package_version) {
		ll_sb_str(msg, "model version ");
		ll_sb_u64(msg, v);
		ll_sb_str(msg, " is of package version ");
		ll_sb_u64(msg, m.package_version);
		ll_sb_str(msg, ", older than the installed ");
		ll_sb_u64(msg, r.package_version);
		ll_sb_str(msg, ": rollback refused");
		return TEE_ERROR_SECURITY;
	}
	r.counter = v;
	r.package_version = m.package_version;
	memcpy(r.package_id, m.package_id, sizeof(r.package_id));
	if (m.has_trust_next) {
		memcpy(r.server_key_id, m.next_key_id, sizeof(r.server_key_id));
		memcpy(r.server_ed25519, m.next_ed25519, sizeof(r.server_ed25519));
	}
	r.issued = max_u64(r.issued, v);
	r.npending = 0;
	sc->used = mark;
	res = save_rpmb(d, &r, msg);
	if (res == TEE_SUCCESS)
		res = sealed_versions(d, msg);
	for (i = 0; res == TEE_SUCCESS && i < d->nversions; i++)
		if (d->versions[i] != v)
			res = remove_model(d->versions[i], msg);
	return res;
}

/* ---------------------------------------------------------------------------------------- */
/* DEVICE_INIT */

/* signedMessage(purpose, bytes) = "layerlock/<purpose>/v1\0" ‖ bytes, built in front of bytes */
static size_t signed_prefix(const char *purpose, char *out)
{
	struct ll_sb s;

	ll_sb_init(&s, out, 40);
	ll_sb_str(&s, "layerlock/");
	ll_sb_str(&s, purpose);
	ll_sb_str(&s, "/v1");
	return s.len + 1; /* with the NUL */
}

/* createDevice: keys made here, kept in secure storage; the self-signed certificate into cert */
static TEE_Result create_device(struct ll_deploy *d, struct ll_sb *cert, struct ll_sb *msg)
{
	struct keys k;
	struct ll_rpmb earlier;
	uint8_t sig[64], *obj = d->io;
	char id_b64[45], kem_b64[45], created[25], pre[40];
	size_t body_at, body_len, plen;
	struct ll_sb body;
	TEE_Result res;

	if (ll_store_exists("device-keys")) {
		res = load_public(d, &k, msg);
		if (res != TEE_SUCCESS)
			return res;
		ll_sb_str(msg, "this device already has its keys (device ");
		ll_sb_str(msg, k.device_id);
		ll_sb_str(msg, "); re-initialising would orphan its installed models");
		return TEE_ERROR_ACCESS_CONFLICT;
	}
	/*
	 * A new identity never resets the anti-rollback state of an earlier one (a real RPMB counter
	 * cannot be reset either): only a storage with nothing installed may be (re-)initialised.
	 */
	res = load_rpmb(d, &earlier, msg);
	if (res == TEE_SUCCESS)
		res = sealed_versions(d, msg);
	if (res != TEE_SUCCESS)
		return res;
	if (earlier.counter || earlier.server_ed25519[0] || d->nversions) {
		ll_sb_str(msg, "the secure storage holds the state and models of an earlier device identity: initialise a new device in an empty folder");
		return TEE_ERROR_ACCESS_CONFLICT;
	}
	if (ll_ed25519_keygen(k.ed_priv, k.ed_pub) || ll_x25519_keygen(k.x_priv, k.x_pub) || key_id(k.ed_pub, k.device_id)) {
		keys_wipe(&k);
		ll_sb_str(msg, "the device keys could not be generated");
		return TEE_ERROR_GENERIC;
	}
	b64_32(k.ed_pub, id_b64);
	b64_32(k.x_pub, kem_b64);
	iso_now(created);
	/* the body, after room for the signed-message prefix (canonicalJson: JSON.stringify's form) */
	plen = signed_prefix("device-cert", pre);
	body_at = 136 + 64;
	ll_sb_init(&body, (char *)obj + body_at, sizeof(d->io) - body_at);
	ll_sb_str(&body, "{\"format\":\"layerlock-device-cert/1\",\"attestation\":");
	ll_json_write_str(&body, ATTESTATION);
	ll_sb_str(&body, ",\"device_id\":");
	ll_json_write_str(&body, k.device_id);
	ll_sb_str(&body, ",\"ta_uuid\":\"" TA_UUID_STR "\",\"identity\":{\"alg\":\"Ed25519\",\"public_key\":");
	ll_json_write_str(&body, id_b64);
	ll_sb_str(&body, "},\"hpke\":{\"kem\":\"DHKEM(X25519, HKDF-SHA256)\",\"kdf\":\"HKDF-SHA256\",\"aead\":\"AES-256-GCM\",\"public_key\":");
	ll_json_write_str(&body, kem_b64);
	ll_sb_str(&body, "},\"sealing\":");
	ll_json_write_str(&body, SEALING);
	ll_sb_str(&body, ",\"created\":");
	ll_json_write_str(&body, created);
	ll_sb_str(&body, "}");
	body_len = body.len;
	memcpy(obj + body_at - plen, pre, plen);
	if (body.overflow || ll_ed25519_sign(k.ed_priv, k.ed_pub, obj + body_at - plen, plen + body_len, sig)) {
		keys_wipe(&k);
		ll_sb_str(msg, "the device certificate could not be signed");
		return TEE_ERROR_GENERIC;
	}
	/* DeviceCert: {"certificate":body,"signature":base64} */
	ll_sb_str(cert, "{\"certificate\":");
	ll_sb_strn(cert, (const char *)obj + body_at, body_len);
	ll_sb_str(cert, ",\"signature\":\"");
	b64_sb(cert, sig, sizeof(sig));
	ll_sb_str(cert, "\"}");
	if (cert->overflow || 136 + cert->len > sizeof(d->io)) {
		keys_wipe(&k);
		ll_sb_str(msg, "the device certificate does not fit its buffer");
		return TEE_ERROR_GENERIC;
	}
	memcpy(obj, KEYS_MAGIC, 8);
	memcpy(obj + 8, k.ed_priv, 32);
	memcpy(obj + 40, k.ed_pub, 32);
	memcpy(obj + 72, k.x_priv, 32);
	memcpy(obj + 104, k.x_pub, 32);
	memcpy(obj + 136, cert->buf, cert->len);
	keys_wipe(&k);
	/* the state first: a crash after it but before the keys leaves a device that can simply be initialised again */
	memset(&earlier, 0, sizeof(earlier));
	res = save_rpmb(d, &earlier, msg);
	if (res == TEE_SUCCESS) {
		res = ll_store_put("device-keys", obj, 136 + cert->len);
		if (res != TEE_SUCCESS)
			res = storage_failed(res, "device-keys", msg);
	}
	ll_wipe(obj, 136);
	return res;
}

TEE_Result ll_device_init_cmd(struct ll_ta *ta, uint32_t types, TEE_Param p[4], struct ll_sb *msg)
{
	struct ll_deploy *d = &ta->dep;
	struct scratch sc;
	struct ll_sb out;
	struct keys k;
	uint32_t op;
	char *buf;
	TEE_Result res;

	EXPECT(LAYERLOCK_CMD_DEVICE_INIT, TYPES(VALUE_IN, MEMREF_OUT, NONE, NONE));
	op = p[0].value.a;
	if (p[1].memref.size < DEVICE_OUTPUT_BYTES) {
		/* asked before anything is created, so the retry with a larger buffer creates the keys once */
		p[1].memref.size = DEVICE_OUTPUT_BYTES;
		ll_sb_str(msg, "DEVICE_INIT needs an output buffer of ");
		ll_sb_u64(msg, DEVICE_OUTPUT_BYTES);
		ll_sb_str(msg, " bytes");
		return TEE_ERROR_SHORT_BUFFER;
	}
	scratch_init(&sc, ta);
	buf = (char *)scratch_take(&sc, DEVICE_OUTPUT_BYTES);
	if (!buf)
		return no_room(&sc, "DEVICE_INIT", DEVICE_OUTPUT_BYTES, msg);
	ll_sb_init(&out, buf, DEVICE_OUTPUT_BYTES);
	if (op == DEVICE_CREATE) {
		res = create_device(d, &out, msg);
	} else if (op == DEVICE_CERT) {
		res = load_public(d, &k, msg);
		if (res == TEE_SUCCESS)
			ll_sb_strn(&out, k.cert, k.cert_len);
	} else if (op == DEVICE_STATUS) {
		res = load_public(d, &k, msg);
		if (res == TEE_SUCCESS)
			res = load_rpmb(d, &d->rpmb, msg);
		if (res == TEE_SUCCESS)
			res = sealed_versions(d, msg);
		if (res == TEE_SUCCESS) {
			const struct ll_rpmb *r = &d->rpmb;

			/* DeviceStatus, in the software TA's key order */
			ll_sb_str(&out, "{\"device_id\":");
			ll_json_write_str(&out, k.device_id);
			ll_sb_str(&out, ",\"model_version\":");
			ll_sb_u64(&out, r->counter);
			ll_sb_str(&out, ",");
			installed_fields(&out, r);
			ll_sb_str(&out, ",\"sealed_versions\":[");
			u64_items(&out, d->versions, d->nversions);
			ll_sb_str(&out, "],\"issued_version\":");
			ll_sb_u64(&out, r->issued);
			ll_sb_str(&out, "}");
		}
	} else {
		ll_sb_str(msg, "unknown DEVICE_INIT operation ");
		ll_sb_u64(msg, op);
		res = TEE_ERROR_BAD_PARAMETERS;
	}
	if (res == TEE_SUCCESS)
		res = ll_write_out(&p[1], out.buf, out.len, msg);
	scratch_wipe(&sc);
	return res;
}

/* ---------------------------------------------------------------------------------------- */
/* DEVICE_TRUST: the trust anchor, provisioned (never taken from the first package that comes along) */

TEE_Result ll_device_trust_cmd(struct ll_ta *ta, uint32_t types, TEE_Param p[4], struct ll_sb *msg)
{
	struct ll_deploy *d = &ta->dep;
	struct ll_rpmb *r = &d->rpmb;
	struct keys k;
	uint8_t key[32];
	char b64[45];
	TEE_Result res;

	EXPECT(LAYERLOCK_CMD_DEVICE_TRUST, TYPES(MEMREF_IN, NONE, NONE, NONE));
	if (p[0].memref.size != 32) {
		ll_sb_str(msg, "DEVICE_TRUST takes a raw Ed25519 public key (32 bytes), got ");
		ll_sb_u64(msg, p[0].memref.size);
		return TEE_ERROR_BAD_PARAMETERS;
	}
	memcpy(key, p[0].memref.buffer, 32);
	res = load_public(d, &k, msg); /* a provisioned device only: the anchor is kept with its keys */
	if (res == TEE_SUCCESS)
		res = load_rpmb(d, r, msg);
	if (res != TEE_SUCCESS)
		return res;
	b64_32(key, b64);
	if (!strcmp(r->server_ed25519, b64))
		return TEE_SUCCESS;
	if (r->server_ed25519[0]) {
		ll_sb_str(msg, "this device already trusts server key ");
		ll_sb_str(msg, r->server_key_id);
		ll_sb_str(msg, "; replacing the anchor takes a package signed by that key (layerlock package --rotate-trust NEW.pub)");
		return TEE_ERROR_ACCESS_CONFLICT;
	}
	if (key_id(key, r->server_key_id)) {
		ll_sb_str(msg, "the key id cannot be computed");
		return TEE_ERROR_GENERIC;
	}
	memcpy(r->server_ed25519, b64, sizeof(b64));
	return save_rpmb(d, r, msg);
}

/* ---------------------------------------------------------------------------------------- */
/* The manifest (parseManifest of container.ts): strict, with its messages */

struct mp {
	const char *what;
	struct ll_sb *msg;
	int failed;
};

static void mp_init(struct mp *c, const char *what, struct ll_sb *msg)
{
	c->what = what;
	c->msg = msg;
	c->failed = 0;
}

/* fail(): "<what>: invalid manifest: <…>" — the first failure only */
static struct ll_sb *mfail(struct mp *c)
{
	if (c->failed)
		return NULL;
	c->failed = 1;
	ll_sb_str(c->msg, c->what);
	ll_sb_str(c->msg, ": invalid manifest: ");
	return c->msg;
}

static void mfail_path(struct mp *c, const char *path, const char *idx_path, int64_t idx, const char *rest)
{
	struct ll_sb *m = mfail(c);

	if (!m)
		return;
	ll_sb_str(m, path);
	if (idx >= 0) {
		ll_sb_str(m, "[");
		ll_sb_i64(m, idx);
		ll_sb_str(m, "]");
		ll_sb_str(m, idx_path);
	}
	ll_sb_str(m, rest);
}

/* String(v) of JavaScript for what a field held: strings as they are, undefined for absent */
static void js_string(struct ll_sb *m, int present, struct ll_jv v)
{
	char k = present ? ll_json_kind(v) : 0;

	if (!k) {
		ll_sb_str(m, "undefined");
	} else if (k == 's') {
		char buf[256];
		size_t n = ll_json_unescape(v, buf, sizeof(buf));

		ll_sb_strn(m, buf, n < sizeof(buf) ? n : sizeof(buf));
	} else if (k == 'o') {
		ll_sb_str(m, "[object Object]");
	} else {
		ll_sb_strn(m, v.p, v.n); /* numbers, true, false, null: their JSON text (arrays: close enough) */
	}
}

static void mobj(struct mp *c, struct ll_jv o, const char *key, const char *path, struct ll_jv *v)
{
	memset(v, 0, sizeof(*v));
	if (c->failed)
		return;
	if (!ll_json_get(o, key, v) || ll_json_kind(*v) != 'o') {
		mfail_path(c, path, "", -1, " is not an object");
		memset(v, 0, sizeof(*v));
	}
}

/* int(v, what, path, min) */
static uint64_t mint(struct mp *c, struct ll_jv o, const char *key, const char *path, const char *sub, int64_t idx,
		     uint64_t min)
{
	struct ll_jv v;
	uint64_t x = 0;

	if (c->failed)
		return 0;
	if (!ll_json_get(o, key, &v) || ll_json_uint(v, &x) || x < min) {
		mfail_path(c, path, sub, idx, " is not an integer \xe2\x89\xa5 ");
		ll_sb_u64(c->msg, min);
		return 0;
	}
	return x;
}

enum { S_ANY, S_HEX64, S_HEX32, S_UUID };

/* str(v, what, path, re): into out (cap bytes); a string longer than cap is not well-formed either */
static void mstr(struct mp *c, struct ll_jv o, const char *key, const char *path, const char *sub, int64_t idx,
		 int re, char *out, size_t cap)
{
	struct ll_jv v;
	int ok;

	out[0] = '\0';
	if (c->failed)
		return;
	ok = ll_json_get(o, key, &v) && ll_json_kind(v) == 's';
	if (ok && re != S_ANY) {
		ok = !ll_json_str_copy(v, out, cap) &&
		     (re == S_HEX64 ? is_hex(out, 64) : re == S_HEX32 ? is_hex(out, 32) : is_uuid(out));
	} else if (ok) {
		size_t n = ll_json_unescape(v, out, cap - 1);

		out[n < cap - 1 ? n : cap - 1] = '\0';
	}
	if (!ok) {
		out[0] = '\0';
		mfail_path(c, path, sub, idx, re != S_ANY ? " is not well-formed" : " is not a string");
	}
}

/* keyId(key) is id: a manifest names each key both ways, and the two must agree */
static int names_key(const char *b64, const char *id)
{
	uint8_t raw[32];
	char got[33];

	return !unb64_32(b64, raw) && !key_id(raw, got) && !strcmp(got, id);
}

/* b64key */
static void mkey(struct mp *c, struct ll_jv o, const char *key, const char *path, char out[45])
{
	uint8_t raw[32];
	struct ll_jv v;

	out[0] = '\0';
	if (c->failed)
		return;
	if (!ll_json_get(o, key, &v) || ll_json_kind(v) != 's') {
		mfail_path(c, path, "", -1, " is not a string");
		return;
	}
	if (ll_json_str_copy(v, out, 45) || unb64_32(out, raw)) {
		out[0] = '\0';
		mfail_path(c, path, "", -1, " is not a 32-byte key");
	}
}

/* layerEntries */
static size_t mlayers(struct mp *c, struct ll_jv o, const char *key, const char *path, uint64_t section, int prot,
		      struct ll_layer_entry *out)
{
	struct ll_jv arr, e;
	size_t pos = 0, n = 0;
	uint64_t at = 0;
	int have_at = prot;

	if (c->failed)
		return 0;
	if (!ll_json_get(o, key, &arr) || ll_json_kind(arr) != 'a') {
		mfail_path(c, path, "", -1, " is not a list");
		return 0;
	}
	while (!c->failed && ll_json_next(arr, &pos, NULL, &e)) {
		struct ll_layer_entry *l = &out[n];
		char type[16];
		int64_t i = (int64_t)n;

		if (n >= LL_MAX_LAYERS) {
			/* more layers than any cfg the TA reads: checkLayout would refuse it anyway */
			mfail_path(c, path, "", -1, " lists more layers than a cfg can have");
			return n;
		}
		if (ll_json_kind(e) != 'o') {
			mfail_path(c, path, "", i, " is not an object");
			return n;
		}
		mstr(c, e, "type", path, ".type", i, S_ANY, type, sizeof(type));
		if (c->failed)
			return n;
		if (strcmp(type, "convolutional") && strcmp(type, "connected")) {
			struct ll_jv tv;

			mfail_path(c, path, ".type", i, " is ");
			ll_json_get(e, "type", &tv);
			js_string(c->msg, 1, tv);
			return n;
		}
		l->type = type[1] == 'o' && type[2] == 'n' && type[3] == 'v' ? LL_LAYER_CONVOLUTIONAL : LL_LAYER_CONNECTED;
		l->index = (uint32_t)mint(c, e, "index", path, ".index", i, 0);
		l->offset = mint(c, e, "offset", path, ".offset", i, 0);
		l->bytes = mint(c, e, "bytes", path, ".bytes", i, 1);
		mstr(c, e, "sha256", path, ".sha256", i, S_HEX64, l->sha256, sizeof(l->sha256));
		if (c->failed)
			return n;
		if (l->offset + l->bytes > section) {
			mfail_path(c, path, "", i, " lies outside its section");
			return n;
		}
		/* contiguous and in order (the clear section starts with its .weights header) */
		if (have_at && l->offset != at) {
			mfail_path(c, path, "", i, " does not follow the previous layer");
			return n;
		}
		have_at = 1;
		at = l->offset + l->bytes;
		if (prot) {
			l->plain_bytes = mint(c, e, "plain_bytes", path, ".plain_bytes", i, 1);
			mstr(c, e, "plain_sha256", path, ".plain_sha256", i, S_HEX64, l->plain_sha256, sizeof(l->plain_sha256));
			if (!c->failed && l->bytes != LL_HPKE_OVERHEAD + l->plain_bytes)
				mfail_path(c, path, "", i, " ciphertext size does not match its plaintext size");
		}
		n++;
	}
	return n;
}

static void mcheck_eq(struct mp *c, struct ll_jv o, const char *key, const char *want)
{
	struct ll_jv v;
	int present = ll_json_get(o, key, &v);
	struct ll_sb *m;

	if (c->failed || (present && ll_json_str_eq(v, want)))
		return;
	m = mfail(c);
	ll_sb_str(m, "hpke.");
	ll_sb_str(m, key);
	ll_sb_str(m, " is ");
	js_string(m, present, v);
	ll_sb_str(m, ", expected ");
	ll_sb_str(m, want);
}

/*
 * parseManifest(bytes, payloadBytes, 'package', what). The cfg text is unescaped into scratch.
 * 0, or -1 with the message (ContainerError: TEE_ERROR_SECURITY), or -2: no room for the cfg.
 */
static int parse_manifest(struct scratch *sc, const char *text, size_t n, uint64_t payload, const char *what,
			  struct ll_manifest *m, struct ll_sb *msg)
{
	struct mp c;
	struct ll_jv root, v, device, server, cfg, part, weights, hpke, clear, prot, software;
	char policy[8];
	struct ll_sb *fm;
	uint64_t clear_off, prot_off;
	int present;

	mp_init(&c, what, msg);
	memset(m, 0, sizeof(*m));
	if (ll_json_parse(text, n, &root)) {
		ll_sb_str(mfail(&c), "not JSON");
		return -1;
	}
	if (ll_json_kind(root) != 'o') {
		ll_sb_str(mfail(&c), "manifest is not an object");
		return -1;
	}
	present = ll_json_get(root, "format", &v);
	if (!present || !ll_json_str_eq(v, "layerlock-container/1")) {
		fm = mfail(&c);
		ll_sb_str(fm, "format ");
		js_string(fm, present, v);
		return -1;
	}
	present = ll_json_get(root, "kind", &v);
	if (!present || !ll_json_str_eq(v, "package")) {
		fm = mfail(&c);
		ll_sb_str(fm, "kind ");
		js_string(fm, present, v);
		ll_sb_str(fm, " in a package container");
		return -1;
	}
	mobj(&c, root, "device", "device", &device);
	mobj(&c, root, "server", "server", &server);
	mobj(&c, root, "cfg", "cfg", &cfg);
	mobj(&c, root, "partition", "partition", &part);
	mobj(&c, root, "weights", "weights", &weights);
	mobj(&c, root, "hpke", "hpke", &hpke);
	mobj(&c, root, "clear", "clear", &clear);
	mobj(&c, root, "protected", "protected", &prot);
	mobj(&c, root, "software", "software", &software);
	mstr(&c, part, "policy", "partition.policy", "", -1, S_ANY, policy, sizeof(policy));
	if (c.failed)
		return -1;
	m->policy = policy_id(policy);
	if (m->policy < 0) {
		fm = mfail(&c);
		ll_sb_str(fm, "partition.policy ");
		ll_json_get(part, "policy", &v);
		js_string(fm, 1, v);
		return -1;
	}
	if (!ll_json_get(cfg, "text", &v) || ll_json_kind(v) != 's') {
		ll_sb_str(mfail(&c), "cfg.text is not a string");
		return -1;
	}
	m->cfg_text = scratch_unescape(sc, v, &m->cfg_len);
	if (!m->cfg_text)
		return -2;
	mstr(&c, cfg, "sha256", "cfg.sha256", "", -1, S_HEX64, m->cfg_sha256, sizeof(m->cfg_sha256));
	if (c.failed)
		return -1;
	{
		char h[65];

		if (sha_hex(m->cfg_text, m->cfg_len, h) || strcmp(h, m->cfg_sha256)) {
			ll_sb_str(mfail(&c), "cfg.sha256 does not match cfg.text");
			return -1;
		}
	}
	mcheck_eq(&c, hpke, "mode", "base");
	mcheck_eq(&c, hpke, "kem", "DHKEM(X25519, HKDF-SHA256)");
	mcheck_eq(&c, hpke, "kdf", "HKDF-SHA256");
	mcheck_eq(&c, hpke, "aead", "AES-256-GCM");
	if (!c.failed && (!ll_json_get(hpke, "info", &v) || !ll_json_str_eq(v, HPKE_INFO)))
		ll_sb_str(mfail(&c), "hpke.info");
	m->clear_bytes = mint(&c, clear, "bytes", "clear.bytes", "", -1, 0);
	m->prot_bytes = mint(&c, prot, "bytes", "protected.bytes", "", -1, 0);
	clear_off = mint(&c, clear, "offset", "clear.offset", "", -1, 0);
	if (!c.failed && clear_off != 0) {
		ll_sb_str(mfail(&c), "the sections do not tile the payload");
		return -1;
	}
	prot_off = mint(&c, prot, "offset", "protected.offset", "", -1, 0);
	if (!c.failed && (prot_off != m->clear_bytes || m->clear_bytes + m->prot_bytes != payload)) {
		ll_sb_str(mfail(&c), "the sections do not tile the payload");
		return -1;
	}
	mstr(&c, root, "id", "id", "", -1, S_UUID, m->id, sizeof(m->id));
	mstr(&c, root, "package_id", "package_id", "", -1, S_UUID, m->package_id, sizeof(m->package_id));
	m->version = mint(&c, root, "version", "version", "", -1, 1);
	mstr(&c, root, "created", "created", "", -1, S_ANY, m->created, sizeof(m->created));
	mstr(&c, device, "id", "device.id", "", -1, S_HEX32, m->device_id, sizeof(m->device_id));
	mstr(&c, device, "ta_uuid", "device.ta_uuid", "", -1, S_UUID, m->ta_uuid, sizeof(m->ta_uuid));
	mstr(&c, server, "key_id", "server.key_id", "", -1, S_HEX32, m->server.key_id, sizeof(m->server.key_id));
	mkey(&c, server, "ed25519", "server.ed25519", m->server.ed25519);
	mkey(&c, server, "x25519", "server.x25519", m->server.x25519);
	m->start = (uint32_t)mint(&c, part, "start", "partition.start", "", -1, 0);
	m->end = (uint32_t)mint(&c, part, "end", "partition.end", "", -1, 0);
	m->topk = (uint32_t)mint(&c, part, "topk", "partition.topk", "", -1, 1);
	m->major = mint(&c, weights, "major", "weights.major", "", -1, 0);
	m->minor = mint(&c, weights, "minor", "weights.minor", "", -1, 0);
	m->revision = mint(&c, weights, "revision", "weights.revision", "", -1, 0);
	m->seen = mint(&c, weights, "seen", "weights.seen", "", -1, 0);
	mstr(&c, clear, "sha256", "clear.sha256", "", -1, S_HEX64, m->clear_sha256, sizeof(m->clear_sha256));
	m->nclear = mlayers(&c, clear, "layers", "clear.layers", m->clear_bytes, 0, m->clear);
	mstr(&c, prot, "sha256", "protected.sha256", "", -1, S_HEX64, m->prot_sha256, sizeof(m->prot_sha256));
	m->nprot = mlayers(&c, prot, "layers", "protected.layers", m->prot_bytes, 1, m->prot);
	{
		char sw[8];

		mstr(&c, software, "layerlock", "software.layerlock", "", -1, S_ANY, sw, sizeof(sw));
	}
	if (!c.failed && ll_json_get(root, "model_version", &v))
		(void)mint(&c, root, "model_version", "model_version", "", -1, 1);
	if (!c.failed && ll_json_get(root, "trust_next", &v)) {
		struct ll_jv t;

		mobj(&c, root, "trust_next", "trust_next", &t);
		mstr(&c, t, "key_id", "trust_next.key_id", "", -1, S_HEX32, m->next_key_id, sizeof(m->next_key_id));
		mkey(&c, t, "ed25519", "trust_next.ed25519", m->next_ed25519);
		if (!c.failed && !names_key(m->next_ed25519, m->next_key_id))
			ll_sb_str(mfail(&c), "trust_next.key_id does not name trust_next.ed25519");
		m->has_trust_next = 1;
	}
	if (!c.failed && !names_key(m->server.ed25519, m->server.key_id))
		ll_sb_str(mfail(&c), "server.key_id does not name server.ed25519");
	if (!c.failed && m->start > m->end)
		ll_sb_str(mfail(&c), "partition start is after its end");
	if (!c.failed && m->nprot && m->prot[m->nprot - 1].offset + m->prot[m->nprot - 1].bytes != m->prot_bytes)
		ll_sb_str(mfail(&c), "the protected layers do not fill their section");
	return c.failed ? -1 : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* INSTALL_ENCRYPTED */

/* The cfg reader names its input "cfg from the normal world"; deploy.ts parses a package's as "the package cfg". */
static TEE_Result parse_cfg_as(const char *text, size_t len, struct ll_net_cfg *cfg, const char *name,
			       const char *lead, struct ll_sb *msg)
{
	static const char from[] = "cfg from the normal world";
	char err[512];

	if (!ll_cfg_parse(text, len, cfg, err, sizeof(err)))
		return TEE_SUCCESS;
	ll_sb_str(msg, lead);
	if (!strncmp(err, from, sizeof(from) - 1)) {
		ll_sb_str(msg, name);
		ll_sb_str(msg, err + sizeof(from) - 1);
	} else {
		ll_sb_str(msg, err);
	}
	return TEE_ERROR_BAD_FORMAT;
}

/* A cfg whose layers' shapes do not work out is refused in the same words as one that does not parse. */
static TEE_Result cfg_shapes(struct ll_deploy *d, const char *lead, struct ll_sb *msg)
{
	struct ll_sb tmp;
	char err[512];

	ll_sb_init(&tmp, err, sizeof(err));
	if (!ll_cfg_shapes(&d->cfg, d->shapes, &tmp))
		return TEE_SUCCESS;
	ll_sb_str(msg, lead);
	ll_sb_str(msg, err);
	return TEE_ERROR_BAD_FORMAT;
}

static int trainable(enum ll_layer_type t)
{
	return t == LL_LAYER_CONVOLUTIONAL || t == LL_LAYER_CONNECTED;
}

/* weightsLayerBytes of container.ts for layer i (0 for a layer without parameters) */
static uint64_t layer_file_bytes(const struct ll_net_cfg *cfg, const struct ll_shape *shapes, size_t i)
{
	const struct ll_layer_cfg *l = &cfg->layers[i];
	struct ll_shape in = shapes[i];
	uint64_t n;

	if (l->type == LL_LAYER_CONVOLUTIONAL) {
		n = (uint64_t)l->filters;
		return 4 * (n + n * (uint64_t)in.c * (uint64_t)l->size * (uint64_t)l->size + (l->batch_normalize ? 3 * n : 0));
	}
	if (l->type == LL_LAYER_CONNECTED) {
		n = (uint64_t)l->output;
		return 4 * (n + n * (uint64_t)in.c * (uint64_t)in.h * (uint64_t)in.w + (l->batch_normalize ? 3 * n : 0));
	}
	return 0;
}

/* checkLayout's same(): one section's entries against the cfg's trainable layers on that side */
static int same_layers(const struct ll_net_cfg *cfg, const struct ll_shape *shapes, const struct ll_layer_entry *got,
		       size_t ngot, int inside, uint32_t start, uint32_t end, const char *section, int prot,
		       struct mp *c)
{
	size_t want = 0, i, k = 0;

	for (i = 0; i < cfg->nlayers; i++)
		if (trainable(cfg->layers[i].type) && ((i >= start && i <= end) == inside))
			want++;
	if (ngot != want) {
		struct ll_sb *m = mfail(c);

		ll_sb_str(m, section);
		ll_sb_str(m, " lists ");
		ll_sb_u64(m, ngot);
		ll_sb_str(m, " layers, the cfg has ");
		ll_sb_u64(m, want);
		ll_sb_str(m, " there");
		return -1;
	}
	for (i = 0; i < cfg->nlayers; i++) {
		const struct ll_layer_entry *e;
		uint64_t bytes;

		if (!trainable(cfg->layers[i].type) || ((i >= start && i <= end) != inside))
			continue;
		e = &got[k];
		bytes = layer_file_bytes(cfg, shapes, i);
		if (e->index != i || e->type != cfg->layers[i].type || (prot ? e->plain_bytes : e->bytes) != bytes) {
			struct ll_sb *m = mfail(c);

			ll_sb_str(m, section);
			ll_sb_str(m, " layer ");
			ll_sb_u64(m, k);
			ll_sb_str(m, " (cfg layer ");
			ll_sb_u64(m, e->index);
			ll_sb_str(m, ") does not match the cfg's layer ");
			ll_sb_u64(m, i);
			ll_sb_str(m, " (");
			ll_sb_str(m, ll_layer_type_name(cfg->layers[i].type));
			ll_sb_str(m, ", ");
			ll_sb_u64(m, bytes);
			ll_sb_str(m, " bytes)");
			return -1;
		}
		k++;
	}
	return 0;
}

/* checkLayout */
static int check_layout(const struct ll_manifest *m, const struct ll_net_cfg *cfg, const struct ll_shape *shapes,
			size_t header_bytes, struct mp *c)
{
	uint64_t clear_end;

	if (m->end >= cfg->nlayers) {
		struct ll_sb *s = mfail(c);

		ll_sb_str(s, "partition ");
		ll_sb_u64(s, m->start);
		ll_sb_str(s, ":");
		ll_sb_u64(s, m->end);
		ll_sb_str(s, " is outside the cfg's layers 0:");
		ll_sb_u64(s, cfg->nlayers - 1);
		return -1;
	}
	if (same_layers(cfg, shapes, m->clear, m->nclear, 0, m->start, m->end, "clear section", 0, c) ||
	    same_layers(cfg, shapes, m->prot, m->nprot, 1, m->start, m->end, "protected section", 1, c))
		return -1;
	if (m->nclear && m->clear[0].offset != header_bytes) {
		ll_sb_str(mfail(c), "the clear layers do not start after the .weights header");
		return -1;
	}
	clear_end = m->nclear ? m->clear[m->nclear - 1].offset + m->clear[m->nclear - 1].bytes : header_bytes;
	if (clear_end != m->clear_bytes) {
		ll_sb_str(mfail(c), "the clear section is not a .weights header followed by the clear layers");
		return -1;
	}
	return 0;
}

/* checkProtectedHashes */
static TEE_Result check_protected_hashes(const struct ll_manifest *m, const uint8_t *prot, size_t n, const char *what,
					 struct ll_sb *msg)
{
	char h[65];
	size_t i;

	if (n != m->prot_bytes) {
		ll_sb_str(msg, what);
		ll_sb_str(msg, ": protected section of ");
		ll_sb_u64(msg, n);
		ll_sb_str(msg, " bytes, the manifest says ");
		ll_sb_u64(msg, m->prot_bytes);
		return TEE_ERROR_SECURITY;
	}
	for (i = 0; i < m->nprot; i++) {
		const struct ll_layer_entry *l = &m->prot[i];

		if (sha_hex(prot + l->offset, (size_t)l->bytes, h) || strcmp(h, l->sha256)) {
			ll_sb_str(msg, what);
			ll_sb_str(msg, ": encrypted layer ");
			ll_sb_u64(msg, l->index);
			ll_sb_str(msg, " (");
			ll_sb_str(msg, ll_layer_type_name(l->type));
			ll_sb_str(msg, "): SHA-256 mismatch \xe2\x80\x94 " TAMPERED);
			return TEE_ERROR_SECURITY;
		}
	}
	if (sha_hex(prot, n, h) || strcmp(h, m->prot_sha256)) {
		ll_sb_str(msg, what);
		ll_sb_str(msg, ": protected section: SHA-256 mismatch \xe2\x80\x94 " TAMPERED);
		return TEE_ERROR_SECURITY;
	}
	return TEE_SUCCESS;
}

/* layerAad of container.ts: JSON.stringify of the binding (its strings need no escaping) */
static void layer_aad(struct ll_sb *s, const char *kind, const char *package_id, uint64_t version, uint64_t model_version,
		      const char *device_id, const char *cfg_sha256, uint32_t start, uint32_t end, uint32_t index)
{
	ll_sb_str(s, "{\"aad\":\"layerlock/v1\",\"kind\":");
	ll_json_write_str(s, kind);
	ll_sb_str(s, ",\"package_id\":");
	ll_json_write_str(s, package_id);
	ll_sb_str(s, ",\"version\":");
	ll_sb_u64(s, version);
	ll_sb_str(s, ",\"model_version\":");
	ll_sb_u64(s, model_version);
	ll_sb_str(s, ",\"device\":");
	ll_json_write_str(s, device_id);
	ll_sb_str(s, ",\"cfg\":");
	ll_json_write_str(s, cfg_sha256);
	ll_sb_str(s, ",\"range\":[");
	ll_sb_u64(s, start);
	ll_sb_str(s, ",");
	ll_sb_u64(s, end);
	ll_sb_str(s, "],\"layer\":");
	ll_sb_u64(s, index);
	ll_sb_str(s, "}");
}

/* declaredKey: the signer key a manifest declares, read before verification (only to know which key to verify with) */
static int declared_key(const char *text, size_t n, uint8_t raw[32])
{
	struct ll_jv root, server, v;
	char b64[45];

	return ll_json_parse(text, n, &root) || !ll_json_get(root, "server", &server) ||
	       !ll_json_get(server, "ed25519", &v) || ll_json_str_copy(v, b64, sizeof(b64)) || unb64_32(b64, raw) ? -1 : 0;
}

static TEE_Result install(struct ll_ta *ta, struct scratch *sc, const struct keys *k, TEE_Param p[4], struct ll_sb *msg)
{
	static const char what[] = "package";
	struct ll_deploy *d = &ta->dep;
	struct ll_manifest *m = &d->m;
	struct ll_rpmb *r = &d->rpmb;
	struct ll_model_meta meta;
	struct ll_roles roles;
	struct mp c;
	char pre[40], h[65];
	size_t plen, n = p[0].memref.size, hb, wlen, room, i, off;
	uint8_t *copy, *signed_region, *buf, declared[32];
	uint64_t payload, v;
	int pm;
	TEE_Result res = load_rpmb(d, r, msg);

	if (res != TEE_SUCCESS)
		return res;
	/* the signed region is copied into secure memory once: the normal world cannot change it while it is checked */
	plen = signed_prefix("package", pre);
	copy = scratch_take(sc, plen + n + 1);
	if (!copy)
		return no_room(sc, "the package's signed region", plen + n, msg);
	memcpy(copy, pre, plen);
	if (n)
		memcpy(copy + plen, p[0].memref.buffer, n);
	signed_region = copy + plen;
	/* 1. splitSignedRegion */
	if (n < HEADER_BYTES) {
		ll_sb_str(msg, what);
		ll_sb_str(msg, ": truncated: ");
		ll_sb_u64(msg, n);
		ll_sb_str(msg, " bytes, shorter than the 32-byte header");
		return TEE_ERROR_SECURITY;
	}
	payload = rd64(signed_region + 16);
	if (payload > 9007199254740991ULL || HEADER_BYTES + (uint64_t)ll_get_le32(signed_region + 12) != n) {
		ll_sb_str(msg, what);
		ll_sb_str(msg, ": the header does not match the signed region (");
		ll_sb_u64(msg, n);
		ll_sb_str(msg, " bytes)");
		return TEE_ERROR_SECURITY;
	}
	if (memcmp(signed_region, "LLOCKPKG", 8)) {
		ll_sb_str(msg, what);
		ll_sb_str(msg, ": not a layerlock package (bad magic)");
		return TEE_ERROR_SECURITY;
	}
	if (rd16(signed_region + 8) != 1) {
		ll_sb_str(msg, what);
		ll_sb_str(msg, ": container format ");
		ll_sb_u64(msg, rd16(signed_region + 8));
		ll_sb_str(msg, " is not supported");
		return TEE_ERROR_SECURITY;
	}
	if (rd16(signed_region + 10) != KIND_PACKAGE) {
		ll_sb_str(msg, what);
		ll_sb_str(msg, ": not a layerlock package");
		return TEE_ERROR_SECURITY;
	}
	if (ll_get_le32(signed_region + 24) != SIGNATURE_BYTES || ll_get_le32(signed_region + 28) != 0) {
		ll_sb_str(msg, what);
		ll_sb_str(msg, ": corrupted header");
		return TEE_ERROR_SECURITY;
	}
	/* 1. the signature first, with the key the manifest declares; then that key must be the pinned one */
	if (declared_key((const char *)signed_region + HEADER_BYTES, n - HEADER_BYTES, declared) ||
	    p[1].memref.size != SIGNATURE_BYTES ||
	    ll_ed25519_verify(declared, copy, plen + n, p[1].memref.buffer)) {
		ll_sb_str(msg, what);
		ll_sb_str(msg, ": the signature does not verify \xe2\x80\x94 the package was tampered with or not signed by the server it names");
		return TEE_ERROR_SECURITY;
	}
	pm = parse_manifest(sc, (const char *)signed_region + HEADER_BYTES, n - HEADER_BYTES, payload, what, m, msg);
	if (pm == -2)
		return no_room(sc, "the package's cfg", n, msg);
	if (pm)
		return TEE_ERROR_SECURITY;
	if (!r->server_ed25519[0]) {
		ll_sb_str(msg, what);
		ll_sb_str(msg, ": this device trusts no server yet \xe2\x80\x94 provision its trust anchor first (layerlock device trust --dir DEV --trust server.pub)");
		return TEE_ERROR_SECURITY;
	}
	if (strcmp(r->server_ed25519, m->server.ed25519)) {
		ll_sb_str(msg, what);
		ll_sb_str(msg, " is signed by server key ");
		ll_sb_str(msg, m->server.key_id);
		ll_sb_str(msg, ", but this device trusts server key ");
		ll_sb_str(msg, r->server_key_id);
		ll_sb_str(msg, " only (its provisioned trust anchor)");
		return TEE_ERROR_SECURITY;
	}
	/* 2. meant for this device and TA, and newer than what is installed */
	if (strcmp(m->device_id, k->device_id)) {
		ll_sb_str(msg, what);
		ll_sb_str(msg, " is for device ");
		ll_sb_str(msg, m->device_id);
		ll_sb_str(msg, ", this is device ");
		ll_sb_str(msg, k->device_id);
		return TEE_ERROR_SECURITY;
	}
	if (strcmp(m->ta_uuid, TA_UUID_STR)) {
		ll_sb_str(msg, what);
		ll_sb_str(msg, " is for TA ");
		ll_sb_str(msg, m->ta_uuid);
		ll_sb_str(msg, ", this is TA " TA_UUID_STR);
		return TEE_ERROR_SECURITY;
	}
	if (m->version <= r->package_version) {
		ll_sb_str(msg, what);
		ll_sb_str(msg, " version ");
		ll_sb_u64(msg, m->version);
		ll_sb_str(msg, " is not newer than the installed package version ");
		ll_sb_u64(msg, r->package_version);
		ll_sb_str(msg, ": rollback refused");
		return TEE_ERROR_SECURITY;
	}
	/* 3. layout against the cfg, then every hash of what we were given */
	res = parse_cfg_as(m->cfg_text, m->cfg_len, &d->cfg, "the package cfg", "package: its cfg does not parse: ", msg);
	if (res != TEE_SUCCESS)
		return res;
	if (ll_range_roles(&d->cfg, m->start, m->end, &roles, msg))
		return TEE_ERROR_BAD_PARAMETERS;
	res = cfg_shapes(d, "package: its cfg does not parse: ", msg);
	if (res != TEE_SUCCESS)
		return res;
	hb = ll_weights_header_bytes(m->major, m->minor);
	mp_init(&c, what, msg);
	if (check_layout(m, &d->cfg, d->shapes, hb, &c))
		return TEE_ERROR_SECURITY;
	res = check_protected_hashes(m, p[2].memref.buffer, p[2].memref.size, what, msg);
	if (res != TEE_SUCCESS)
		return res;
	/* 4. decrypt inside, check each plaintext, store; the layers land after room for the object's head */
	if (m->cfg_len > LL_DEPLOY_CFG_MAX) {
		ll_sb_str(msg, what);
		ll_sb_str(msg, ": its cfg has ");
		ll_sb_u64(msg, m->cfg_len);
		ll_sb_str(msg, " bytes, more than the C TA keeps with a model (");
		ll_sb_u64(msg, LL_DEPLOY_CFG_MAX);
		ll_sb_str(msg, ")");
		return TEE_ERROR_OUT_OF_MEMORY;
	}
	wlen = hb;
	for (i = 0; i < m->nprot; i++)
		wlen += (size_t)m->prot[i].plain_bytes;
	room = meta_room(m->cfg_len);
	buf = scratch_take(sc, room + wlen);
	if (!buf)
		return no_room(sc, "installing the package's protected layers", room + wlen, msg);
	write_weights_header(buf + room, m->major, m->minor, m->revision, 0);
	off = room + hb;
	for (i = 0; i < m->nprot; i++) {
		const struct ll_layer_entry *l = &m->prot[i];
		char aad[512];
		struct ll_sb a;

		ll_sb_init(&a, aad, sizeof(aad));
		layer_aad(&a, "package", m->package_id, m->version, 0, m->device_id, m->cfg_sha256, m->start, m->end, l->index);
		if (ll_hpke_open(k->x_priv, k->x_pub, HPKE_INFO, sizeof(HPKE_INFO) - 1, aad, a.len,
				 (const uint8_t *)p[2].memref.buffer + l->offset, (size_t)l->bytes, buf + off)) {
			ll_sb_str(msg, what);
			ll_sb_str(msg, ": encrypted layer ");
			ll_sb_u64(msg, l->index);
			ll_sb_str(msg, " does not decrypt with this device's key (not encrypted to it, or altered)");
			return TEE_ERROR_SECURITY;
		}
		if (sha_hex(buf + off, (size_t)l->plain_bytes, h) || strcmp(h, l->plain_sha256)) {
			ll_sb_str(msg, what);
			ll_sb_str(msg, ": layer ");
			ll_sb_u64(msg, l->index);
			ll_sb_str(msg, " decrypts to data whose SHA-256 is not the manifest's");
			return TEE_ERROR_SECURITY;
		}
		off += (size_t)l->plain_bytes;
	}
	res = issue_version(d, &v, msg);
	if (res != TEE_SUCCESS)
		return res;
	memset(&meta, 0, sizeof(meta));
	meta.version = v;
	memcpy(meta.package_id, m->package_id, sizeof(meta.package_id));
	meta.package_version = m->version;
	memcpy(meta.device_id, k->device_id, sizeof(meta.device_id));
	meta.start = m->start;
	meta.end = m->end;
	meta.policy = m->policy;
	meta.topk = m->topk;
	memcpy(meta.cfg_sha256, m->cfg_sha256, sizeof(meta.cfg_sha256));
	meta.cfg_text = m->cfg_text;
	meta.cfg_len = m->cfg_len;
	memcpy(meta.clear_sha256, m->clear_sha256, sizeof(meta.clear_sha256));
	meta.server = m->server;
	meta.has_trust_next = m->has_trust_next;
	memcpy(meta.next_key_id, m->next_key_id, sizeof(meta.next_key_id));
	memcpy(meta.next_ed25519, m->next_ed25519, sizeof(meta.next_ed25519));
	meta.major = m->major;
	meta.minor = m->minor;
	meta.revision = m->revision;
	iso_now(meta.created);
	res = put_model(&meta, buf, room, wlen, msg);
	if (res == TEE_SUCCESS) {
		p[3].value.a = (uint32_t)v;
		p[3].value.b = 0;
	}
	return res;
}

TEE_Result ll_install_encrypted_cmd(struct ll_ta *ta, uint32_t types, TEE_Param p[4], struct ll_sb *msg)
{
	struct scratch sc;
	struct keys k;
	TEE_Result res;

	EXPECT(LAYERLOCK_CMD_INSTALL_ENCRYPTED, TYPES(MEMREF_IN, MEMREF_IN, MEMREF_IN, VALUE_OUT));
	res = load_keys(&ta->dep, &k, msg);
	if (res != TEE_SUCCESS)
		return res;
	scratch_init(&sc, ta);
	res = install(ta, &sc, &k, p, msg);
	keys_wipe(&k);
	scratch_wipe(&sc);
	return res;
}

/* ---------------------------------------------------------------------------------------- */
/* UNSEAL_PROTECTED / SEAL_PROTECTED */

static int same_double(double a, double b)
{
	return !memcmp(&a, &b, sizeof(a));
}

/* architecture() of deploy.ts: the input shape and every layer's settings (cfg line numbers aside) */
static int same_architecture(const struct ll_net_cfg *a, const struct ll_net_cfg *b)
{
	size_t i;

	if (a->height != b->height || a->width != b->width || a->channels != b->channels || a->nlayers != b->nlayers)
		return 0;
	for (i = 0; i < a->nlayers; i++) {
		const struct ll_layer_cfg *x = &a->layers[i], *y = &b->layers[i];

		if (x->type != y->type || x->filters != y->filters || x->output != y->output || x->activation != y->activation ||
		    x->has_slope != y->has_slope || !same_double(x->slope, y->slope) || x->batch_normalize != y->batch_normalize ||
		    x->size != y->size || x->stride != y->stride || x->padding != y->padding || x->ceil_mode != y->ceil_mode ||
		    x->count_include_pad != y->count_include_pad || !same_double(x->probability, y->probability) ||
		    x->cost_type != y->cost_type || !same_double(x->scale, y->scale))
			return 0;
	}
	return 1;
}

static void sb_policy(struct ll_sb *s, int policy, uint32_t topk)
{
	if (policy == LAYERLOCK_POLICY_TOPK) {
		ll_sb_str(s, "top");
		ll_sb_u64(s, topk);
	} else {
		ll_sb_str(s, ll_policy_name(policy));
	}
}

/* ModelInfo */
static void info_json(struct ll_sb *s, const struct ll_model_meta *m)
{
	meta_head_json(s, m);
	ll_sb_str(s, ",\"range\":[");
	ll_sb_u64(s, m->start);
	ll_sb_str(s, ",");
	ll_sb_u64(s, m->end);
	ll_sb_str(s, "],\"policy\":");
	ll_json_write_str(s, ll_policy_name(m->policy));
	ll_sb_str(s, ",\"topk\":");
	ll_sb_u64(s, m->topk);
	ll_sb_str(s, ",\"server_key_id\":");
	ll_json_write_str(s, m->server.key_id);
	ll_sb_str(s, "}");
}

static TEE_Result unseal(struct ll_ta *ta, struct scratch *sc, TEE_Param p[4], struct ll_sb *msg)
{
	struct ll_deploy *d = &ta->dep;
	const struct ll_spec *sp = &ta->part.spec;
	struct ll_model_meta m;
	uint8_t *w = NULL;
	size_t wlen = 0;
	uint64_t v = p[0].value.a;
	char h[65], info[1024];
	struct ll_sb s;
	TEE_Result res = open_model(d, sc, v, &m, &w, &wlen, msg);

	if (res != TEE_SUCCESS)
		return res;
	if (p[1].memref.size == 32)
		to_hex(p[1].memref.buffer, 32, h);
	if (p[1].memref.size != 32 || strcmp(h, m.clear_sha256)) {
		ll_sb_str(msg, "the normal world's layers are not the ones sealed with model version ");
		ll_sb_u64(msg, v);
		ll_sb_str(msg, " (SHA-256 ");
		ll_sb_strn(msg, m.clear_sha256, 16);
		ll_sb_str(msg, "\xe2\x80\xa6)");
		return TEE_ERROR_SECURITY;
	}
	if (sp->start != m.start || sp->end != m.end) {
		ll_sb_str(msg, "model version ");
		ll_sb_u64(msg, v);
		ll_sb_str(msg, " protects layers ");
		ll_sb_u64(msg, m.start);
		ll_sb_str(msg, ":");
		ll_sb_u64(msg, m.end);
		ll_sb_str(msg, "; the session configured ");
		ll_sb_u64(msg, sp->start);
		ll_sb_str(msg, ":");
		ll_sb_u64(msg, sp->end);
		return TEE_ERROR_ACCESS_DENIED;
	}
	{
		struct ll_sb ignore;
		char err[8];

		ll_sb_init(&ignore, err, sizeof(err));
		if (parse_cfg_as(m.cfg_text, m.cfg_len, &d->cfg, "the sealed cfg", "", &ignore) != TEE_SUCCESS ||
		    !same_architecture(&ta->cfg, &d->cfg)) {
			ll_sb_str(msg, "the session's cfg is not the network sealed with model version ");
			ll_sb_u64(msg, v);
			return TEE_ERROR_ACCESS_DENIED;
		}
	}
	/* POLICY_RANK: top1 < topk < full, the ids' order */
	if (sp->policy > m.policy || (sp->policy == LAYERLOCK_POLICY_TOPK && m.policy == LAYERLOCK_POLICY_TOPK && sp->topk > m.topk)) {
		ll_sb_str(msg, "the package allows output ");
		sb_policy(msg, m.policy, m.topk);
		ll_sb_str(msg, " from the TEE; the session asked for ");
		sb_policy(msg, sp->policy, sp->topk);
		return TEE_ERROR_ACCESS_DENIED;
	}
	if (sp->allow_export) {
		ll_sb_str(msg, "a deployed model is never exported in plaintext: configure without the development export flag");
		return TEE_ERROR_ACCESS_DENIED;
	}
	if (m.cfg_len > LL_DEPLOY_CFG_MAX) {
		ll_sb_str(msg, "the sealed cfg is longer than the C TA keeps with a model");
		return TEE_ERROR_OUT_OF_MEMORY;
	}
	res = ll_partition_load(&ta->part, w, wlen, msg);
	if (res != TEE_SUCCESS)
		return res;
	memcpy(d->cfg_text, m.cfg_text, m.cfg_len);
	d->meta = m;
	d->meta.cfg_text = d->cfg_text;
	d->deployed = 1;
	/* a version newer than the committed one (a save whose commit was interrupted) becomes current */
	res = load_rpmb(d, &d->rpmb, msg);
	if (res == TEE_SUCCESS && v > d->rpmb.counter)
		res = commit(d, sc, v, msg);
	if (res != TEE_SUCCESS)
		return res;
	ll_sb_init(&s, info, sizeof(info));
	info_json(&s, &d->meta);
	return ll_write_out(&p[2], s.buf, s.len, msg);
}

TEE_Result ll_unseal_protected_cmd(struct ll_ta *ta, uint32_t types, TEE_Param p[4], struct ll_sb *msg)
{
	struct scratch sc;
	TEE_Result res;

	EXPECT(LAYERLOCK_CMD_UNSEAL_PROTECTED, TYPES(VALUE_IN, MEMREF_IN, MEMREF_OUT, NONE));
	CONFIGURED();
	if (ta->dep.deployed) {
		ll_sb_str(msg, "this session already holds an unsealed model");
		return TEE_ERROR_BAD_STATE;
	}
	scratch_init(&sc, ta);
	res = unseal(ta, &sc, p, msg);
	scratch_wipe(&sc);
	return res;
}

/* SEAL_NEW: the session's (fine-tuned) protected layers stored as a new version of its model */
static TEE_Result seal_new(struct ll_ta *ta, struct scratch *sc, TEE_Param p[4], struct ll_sb *msg)
{
	struct ll_deploy *d = &ta->dep;
	struct ll_model_meta meta = d->meta;
	size_t body = ll_partition_weights_bytes(&ta->part) - 20;
	size_t hb = ll_weights_header_bytes(meta.major, meta.minor), room = meta_room(meta.cfg_len);
	uint8_t *buf = scratch_take(sc, room + hb + body);
	uint64_t v;
	TEE_Result res;

	if (!buf)
		return no_room(sc, "storing the model", room + hb + body, msg);
	/* the arrays as EXPORT_PARAMS_PLAINTEXT writes them (after its 20-byte header), under the model's own header */
	ll_partition_export(&ta->part, buf + room + hb - 20);
	write_weights_header(buf + room, meta.major, meta.minor, meta.revision, 0);
	res = issue_version(d, &v, msg);
	if (res != TEE_SUCCESS)
		return res;
	meta.parent = meta.version;
	meta.version = v;
	to_hex(p[1].memref.buffer, 32, meta.clear_sha256);
	iso_now(meta.created);
	res = put_model(&meta, buf, room, hb + body, msg);
	if (res != TEE_SUCCESS)
		return res;
	d->meta = meta;
	p[2].value.a = (uint32_t)v;
	p[2].value.b = 0;
	return TEE_SUCCESS;
}

TEE_Result ll_seal_protected_cmd(struct ll_ta *ta, uint32_t types, TEE_Param p[4], struct ll_sb *msg)
{
	struct ll_deploy *d = &ta->dep;
	struct scratch sc;
	uint32_t op;
	uint64_t v;
	size_t i, k;
	TEE_Result res;

	EXPECT(LAYERLOCK_CMD_SEAL_PROTECTED, SEAL_NEW_TYPES, SEAL_VERSION_TYPES);
	op = p[0].value.a;
	scratch_init(&sc, ta);
	if (op == SEAL_NEW) {
		if (types != SEAL_NEW_TYPES) {
			ll_sb_str(msg, "SEAL_NEW takes (VALUE_INPUT, MEMREF_TEMP_INPUT, VALUE_OUTPUT)");
			return TEE_ERROR_BAD_PARAMETERS;
		}
		if (!d->deployed) {
			ll_sb_str(msg, "nothing to seal: this session did not unseal a model (UNSEAL_PROTECTED first)");
			return TEE_ERROR_BAD_STATE;
		}
		if (p[1].memref.size != 32) {
			ll_sb_str(msg, "SEAL_NEW takes the SHA-256 (32 bytes) of the clear layers");
			return TEE_ERROR_BAD_PARAMETERS;
		}
		res = seal_new(ta, &sc, p, msg);
		scratch_wipe(&sc);
		return res;
	}
	if (types != SEAL_VERSION_TYPES) {
		ll_sb_str(msg, "SEAL_COMMIT and SEAL_DISCARD take (VALUE_INPUT) only");
		return TEE_ERROR_BAD_PARAMETERS;
	}
	v = p[0].value.b;
	if (op == SEAL_COMMIT) {
		res = commit(d, &sc, v, msg);
		scratch_wipe(&sc);
		return res;
	}
	if (op != SEAL_DISCARD) {
		ll_sb_str(msg, "unknown SEAL_PROTECTED operation ");
		ll_sb_u64(msg, op);
		return TEE_ERROR_BAD_PARAMETERS;
	}
	res = load_rpmb(d, &d->rpmb, msg);
	if (res != TEE_SUCCESS)
		return res;
	if (v <= d->rpmb.counter) {
		ll_sb_str(msg, "model version ");
		ll_sb_u64(msg, v);
		ll_sb_str(msg, " is committed (the device is at ");
		ll_sb_u64(msg, d->rpmb.counter);
		ll_sb_str(msg, "): only an uncommitted version can be discarded");
		return TEE_ERROR_BAD_STATE;
	}
	/* off the pending list first: from now on no copy of it opens, and its number is never reissued */
	for (i = k = 0; i < d->rpmb.npending; i++)
		if (d->rpmb.pending[i] != v)
			d->rpmb.pending[k++] = d->rpmb.pending[i];
	d->rpmb.npending = k;
	res = save_rpmb(d, &d->rpmb, msg);
	if (res == TEE_SUCCESS)
		res = remove_model(v, msg);
	return res;
}

/* ---------------------------------------------------------------------------------------- */
/* EXPORT_ENCRYPTED */

static void entry_json(struct ll_sb *s, const struct ll_layer_entry *e, int prot)
{
	ll_sb_str(s, "{\"index\":");
	ll_sb_u64(s, e->index);
	ll_sb_str(s, ",\"type\":");
	ll_json_write_str(s, ll_layer_type_name(e->type));
	ll_sb_str(s, ",\"offset\":");
	ll_sb_u64(s, e->offset);
	ll_sb_str(s, ",\"bytes\":");
	ll_sb_u64(s, e->bytes);
	ll_sb_str(s, ",\"sha256\":");
	ll_json_write_str(s, e->sha256);
	if (prot) {
		ll_sb_str(s, ",\"plain_bytes\":");
		ll_sb_u64(s, e->plain_bytes);
		ll_sb_str(s, ",\"plain_sha256\":");
		ll_json_write_str(s, e->plain_sha256);
	}
	ll_sb_str(s, "}");
}

static TEE_Result export_model(struct ll_ta *ta, struct scratch *sc, const struct keys *k, const struct ll_model_meta *mm,
			       const uint8_t *w, size_t wlen, TEE_Param p[4], struct ll_sb *msg)
{
	struct ll_deploy *d = &ta->dep;
	struct ll_manifest *m = &d->m; /* its layer tables, reused */
	const uint8_t *clear = p[2].memref.buffer;
	size_t clen = p[2].memref.size, hb, co, wo, po = 0, i, plen, prot_total = 0, total, mlen;
	uint64_t v = mm->version, seen;
	char id[37], created[25], pre[40];
	uint8_t *prot, *sig_msg, sig[64], raw_kem[32];
	struct ll_sb s;
	TEE_Result res;

	res = parse_cfg_as(mm->cfg_text, mm->cfg_len, &d->cfg, "the sealed cfg", "the sealed cfg does not parse: ", msg);
	if (res == TEE_SUCCESS)
		res = cfg_shapes(d, "the sealed cfg does not parse: ", msg);
	if (res != TEE_SUCCESS)
		return res;
	hb = ll_weights_header_bytes(mm->major, mm->minor);
	if (clen < hb) {
		ll_sb_str(msg, "the clear layers: truncated header: ");
		ll_sb_u64(msg, clen);
		ll_sb_str(msg, " bytes, shorter than the model's .weights header");
		return TEE_ERROR_BAD_FORMAT;
	}
	seen = hb == 20 ? rd64(clear + 12) : ll_get_le32(clear + 12);
	m->nclear = m->nprot = 0;
	for (i = 0; i < d->cfg.nlayers; i++)
		if (trainable(d->cfg.layers[i].type) && i >= mm->start && i <= mm->end)
			prot_total += (size_t)layer_file_bytes(&d->cfg, d->shapes, i) + LL_HPKE_OVERHEAD;
	prot = scratch_take(sc, prot_total + 1);
	if (!prot)
		return no_room(sc, "the export's encrypted layers", prot_total, msg);
	/* the export's own ids first: each layer's aad names the package, version and model version */
	if (uuid4(id))
		return TEE_ERROR_GENERIC;
	iso_now(created);
	if (unb64_32(mm->server.x25519, raw_kem))
		return TEE_ERROR_GENERIC;
	co = hb;
	wo = hb;
	for (i = 0; i < d->cfg.nlayers; i++) {
		uint64_t bytes;

		if (!trainable(d->cfg.layers[i].type))
			continue;
		bytes = layer_file_bytes(&d->cfg, d->shapes, i);
		if (i >= mm->start && i <= mm->end) {
			struct ll_layer_entry *e = &m->prot[m->nprot++];
			char aad[512];
			struct ll_sb a;

			if (wo + bytes > wlen)
				break;
			ll_sb_init(&a, aad, sizeof(aad));
			layer_aad(&a, "export", mm->package_id, mm->package_version, v, k->device_id, mm->cfg_sha256, mm->start, mm->end,
				  (uint32_t)i);
			if (ll_hpke_seal(raw_kem, HPKE_INFO, sizeof(HPKE_INFO) - 1, aad, a.len, w + wo, (size_t)bytes, prot + po))
				return TEE_ERROR_GENERIC;
			e->index = (uint32_t)i;
			e->type = d->cfg.layers[i].type;
			e->offset = po;
			e->bytes = bytes + LL_HPKE_OVERHEAD;
			e->plain_bytes = bytes;
			sha_hex(prot + po, (size_t)e->bytes, e->sha256);
			sha_hex(w + wo, (size_t)bytes, e->plain_sha256);
			po += (size_t)e->bytes;
			wo += (size_t)bytes;
		} else {
			struct ll_layer_entry *e = &m->clear[m->nclear++];

			if (co + bytes > clen)
				break;
			e->index = (uint32_t)i;
			e->type = d->cfg.layers[i].type;
			e->offset = co;
			e->bytes = bytes;
			sha_hex(clear + co, (size_t)bytes, e->sha256);
			co += (size_t)bytes;
		}
	}
	if (i < d->cfg.nlayers || co != clen || wo != wlen) {
		ll_sb_str(msg, "model version ");
		ll_sb_u64(msg, v);
		ll_sb_str(msg, ": stored layers do not match its cfg");
		return TEE_ERROR_BAD_STATE;
	}
	/* the manifest (Manifest of kind export, the software TA's key order), after the prefix and header */
	plen = signed_prefix("export", pre);
	sig_msg = scratch_take(sc, 0);
	if (!sig_msg || scratch_free(sc) < plen + HEADER_BYTES + 1024)
		return no_room(sc, "the export's manifest", plen + HEADER_BYTES + 1024, msg);
	ll_sb_init(&s, (char *)sig_msg + plen + HEADER_BYTES, scratch_free(sc) - plen - HEADER_BYTES);
	ll_sb_str(&s, "{\"format\":\"layerlock-container/1\",\"kind\":\"export\",\"id\":");
	ll_json_write_str(&s, id);
	ll_sb_str(&s, ",\"package_id\":");
	ll_json_write_str(&s, mm->package_id);
	ll_sb_str(&s, ",\"version\":");
	ll_sb_u64(&s, mm->package_version);
	ll_sb_str(&s, ",\"model_version\":");
	ll_sb_u64(&s, v);
	ll_sb_str(&s, ",\"created\":");
	ll_json_write_str(&s, created);
	ll_sb_str(&s, ",\"device\":{\"id\":");
	ll_json_write_str(&s, k->device_id);
	ll_sb_str(&s, ",\"ta_uuid\":\"" TA_UUID_STR "\"},\"server\":");
	server_json(&s, &mm->server);
	ll_sb_str(&s, ",\"cfg\":{\"sha256\":");
	ll_json_write_str(&s, mm->cfg_sha256);
	ll_sb_str(&s, ",\"text\":");
	ll_json_write_strn(&s, mm->cfg_text, mm->cfg_len);
	ll_sb_str(&s, "},\"partition\":{");
	partition_fields(&s, mm->start, mm->end, mm->policy, mm->topk);
	ll_sb_str(&s, "},\"weights\":{");
	weights_fields(&s, mm->major, mm->minor, mm->revision);
	ll_sb_str(&s, ",\"seen\":");
	ll_sb_u64(&s, seen);
	ll_sb_str(&s, "},\"hpke\":{\"mode\":\"base\",\"kem\":\"DHKEM(X25519, HKDF-SHA256)\",\"kdf\":\"HKDF-SHA256\",\"aead\":\"AES-256-GCM\",\"info\":\"" HPKE_INFO "\"},\"clear\":{\"offset\":0,\"bytes\":");
	ll_sb_u64(&s, clen);
	ll_sb_str(&s, ",\"sha256\":");
	ll_json_write_str(&s, mm->clear_sha256);
	ll_sb_str(&s, ",\"layers\":[");
	for (i = 0; i < m->nclear; i++) {
		if (i)
			ll_sb_str(&s, ",");
		entry_json(&s, &m->clear[i], 0);
	}
	ll_sb_str(&s, "]},\"protected\":{\"offset\":");
	ll_sb_u64(&s, clen);
	ll_sb_str(&s, ",\"bytes\":");
	ll_sb_u64(&s, po);
	ll_sb_str(&s, ",\"sha256\":");
	{
		char h[65];

		sha_hex(prot, po, h);
		ll_json_write_str(&s, h);
	}
	ll_sb_str(&s, ",\"layers\":[");
	for (i = 0; i < m->nprot; i++) {
		if (i)
			ll_sb_str(&s, ",");
		entry_json(&s, &m->prot[i], 1);
	}
	ll_sb_str(&s, "]},\"software\":{\"layerlock\":\"ta\"}}");
	if (s.overflow)
		return no_room(sc, "the export's manifest", plen + HEADER_BYTES + s.need, msg);
	mlen = s.len;
	/* encodeHeader: LLOCKPKG, format 1, kind export, manifest, payload, signature lengths */
	{
		uint8_t *hd = sig_msg + plen;

		memcpy(sig_msg, pre, plen);
		memcpy(hd, "LLOCKPKG", 8);
		hd[8] = 1;
		hd[9] = 0;
		hd[10] = KIND_EXPORT;
		hd[11] = 0;
		ll_put_le32(hd + 12, (uint32_t)mlen);
		ll_put_le32(hd + 16, (uint32_t)(clen + po));
		ll_put_le32(hd + 20, (uint32_t)((uint64_t)(clen + po) >> 32));
		ll_put_le32(hd + 24, SIGNATURE_BYTES);
		ll_put_le32(hd + 28, 0);
	}
	if (ll_ed25519_sign(k->ed_priv, k->ed_pub, sig_msg, plen + HEADER_BYTES + mlen, sig)) {
		ll_sb_str(msg, "the export could not be signed");
		return TEE_ERROR_GENERIC;
	}
	total = HEADER_BYTES + mlen + clen + po + SIGNATURE_BYTES;
	res = ll_out_room(&p[3], total, 0, msg);
	if (res != TEE_SUCCESS)
		return res;
	{
		uint8_t *o = p[3].memref.buffer;

		memcpy(o, sig_msg + plen, HEADER_BYTES + mlen);
		o += HEADER_BYTES + mlen;
		memmove(o, clear, clen);
		o += clen;
		memcpy(o, prot, po);
		memcpy(o + po, sig, sizeof(sig));
	}
	return TEE_SUCCESS;
}

TEE_Result ll_export_encrypted_cmd(struct ll_ta *ta, uint32_t types, TEE_Param p[4], struct ll_sb *msg)
{
	struct ll_deploy *d = &ta->dep;
	struct ll_model_meta m;
	struct scratch sc;
	struct keys k;
	uint8_t *w = NULL;
	size_t wlen = 0;
	char kem[45], h[65];
	TEE_Result res;

	EXPECT(LAYERLOCK_CMD_EXPORT_ENCRYPTED, TYPES(VALUE_IN, MEMREF_IN, MEMREF_IN, MEMREF_OUT));
	scratch_init(&sc, ta);
	res = open_model(d, &sc, p[0].value.a, &m, &w, &wlen, msg);
	if (res == TEE_SUCCESS)
		res = load_keys(d, &k, msg);
	if (res != TEE_SUCCESS) {
		scratch_wipe(&sc);
		return res;
	}
	kem[0] = '\0';
	if (p[1].memref.size == 32)
		b64_32(p[1].memref.buffer, kem);
	if (strcmp(kem, m.server.x25519)) {
		ll_sb_str(msg, "exports go only to the server whose package this model came from (server key ");
		ll_sb_str(msg, m.server.key_id);
		ll_sb_str(msg, ")");
		res = TEE_ERROR_ACCESS_DENIED;
	} else if (sha_hex(p[2].memref.buffer, p[2].memref.size, h) || strcmp(h, m.clear_sha256)) {
		ll_sb_str(msg, "the clear layers given are not the ones of model version ");
		ll_sb_u64(msg, m.version);
		res = TEE_ERROR_SECURITY;
	} else {
		res = export_model(ta, &sc, &k, &m, w, wlen, p, msg);
	}
	keys_wipe(&k);
	scratch_wipe(&sc);
	return res;
}

/* ---------------------------------------------------------------------------------------- */
/* refusedWhenDeployed: a session holding a deployed model takes no plaintext in or out */

TEE_Result ll_refused_when_deployed(const struct ll_ta *ta, uint32_t cmd, struct ll_sb *msg)
{
	if (!ta->dep.deployed)
		return TEE_SUCCESS;
	ll_sb_str(msg, cmd == LAYERLOCK_CMD_LOAD_PARAMS ?
		  "this session holds a deployed model: its protected layers come only from sealed storage" :
		  "this session holds a deployed model: its protected layers never leave the TEE in plaintext (export encrypts them to the server)");
	return TEE_ERROR_ACCESS_DENIED;
}
