/*
 * The deployment commands of layerlock's OP-TEE TA (issue 17): src/tee/ta/deploy.ts in C, with
 * its parameter layouts (src/tee/shared/deploy-protocol.ts), result codes and messages.
 *   DEVICE_INIT        device keys (Ed25519 identity, X25519 for HPKE) made inside the TA, kept in
 *                      secure storage; the self-signed certificate; the device's status
 *   DEVICE_TRUST       the trust anchor (the one server key whose packages install)
 *   INSTALL_ENCRYPTED  a package verified (signature, anchor, device, version, layout, hashes),
 *                      its protected layers decrypted inside (HPKE) and stored as model-<v>
 *   SEAL_PROTECTED     a fine-tuned model stored as a new version; commit; discard
 *   UNSEAL_PROTECTED   a stored version loaded into the configured partition's secure memory
 *   EXPORT_ENCRYPTED   a stored version re-encrypted to its server, signed by the device
 * The objects and their meaning are the software TA's (device-keys, rpmb, model-<v>), kept in
 * OP-TEE's secure storage through llstore.h; crypto goes through llcrypto.h.
 *
 * Memory: the TA's heap is its arena plus 256 KiB. What a command needs only while it runs (the
 * signed region, decrypted layers, the stored model, an export being built) comes from the
 * arena's free tail (ll_arena_free_tail) and is wiped before the command returns; what it cannot
 * find there is refused with TEE_ERROR_OUT_OF_MEMORY. The state kept here (the parsed manifest,
 * a cfg, the deployed model's record) is part of struct ll_ta.
 */
#ifndef LAYERLOCK_DEPLOY_H
#define LAYERLOCK_DEPLOY_H

#include <stddef.h>
#include <stdint.h>
#include <layerlock_cfg.h>
#include <layerlock_partition.h>
#include <layerlock_strbuf.h>
#include <layerlock_tee.h>

/* The longest cfg text a deployed model may have (it is kept with the session's model). */
#define LL_DEPLOY_CFG_MAX (32 * 1024)
/* Uncommitted model versions kept at once (the software TA has no bound). */
#define LL_DEPLOY_MAX_PENDING 64
/* Objects the TA lists at most (device-keys, rpmb, model-<v> …) */
#define LL_DEPLOY_MAX_OBJECTS (LL_DEPLOY_MAX_PENDING + 8)
/* The TA's small objects (device-keys, rpmb) */
#define LL_DEPLOY_IO_MAX 4096

struct ll_layer_entry {
	uint32_t index;
	enum ll_layer_type type;
	uint64_t offset, bytes, plain_bytes;
	char sha256[65], plain_sha256[65];
};

struct ll_server_key {
	char key_id[33];
	char ed25519[45]; /* base64, as in the manifest */
	char x25519[45];
};

/* A package's manifest, as parseManifest returns it (strings NUL-terminated). */
struct ll_manifest {
	char id[37], package_id[37], created[64];
	uint64_t version;
	char device_id[33], ta_uuid[37];
	struct ll_server_key server;
	char cfg_sha256[65];
	const char *cfg_text; /* unescaped, in scratch memory */
	size_t cfg_len;
	uint32_t start, end, topk;
	int policy;
	uint64_t major, minor, revision, seen;
	uint64_t clear_bytes, prot_bytes;
	char clear_sha256[65], prot_sha256[65];
	size_t nclear, nprot;
	struct ll_layer_entry clear[LL_MAX_LAYERS], prot[LL_MAX_LAYERS];
	int has_trust_next;
	char next_key_id[33], next_ed25519[45];
};

/* ModelMeta of deploy.ts: what is stored with a model version besides its layers. */
struct ll_model_meta {
	uint64_t version, parent; /* parent 0: none (null) */
	char package_id[37];
	uint64_t package_version;
	char device_id[33];
	uint32_t start, end, topk;
	int policy;
	char cfg_sha256[65];
	const char *cfg_text;
	size_t cfg_len;
	char clear_sha256[65];
	struct ll_server_key server;
	int has_trust_next;
	char next_key_id[33], next_ed25519[45];
	uint64_t major, minor, revision;
	char created[64];
};

/* RpmbState of deploy.ts: the anti-rollback state. */
struct ll_rpmb {
	uint64_t counter, package_version, issued;
	char package_id[37];    /* "" for null */
	char server_key_id[33]; /* "" for null */
	char server_ed25519[45];
	size_t npending;
	uint64_t pending[LL_DEPLOY_MAX_PENDING];
};

struct ll_deploy {
	struct ll_manifest m;
	struct ll_net_cfg cfg; /* the package's or a stored model's cfg */
	struct ll_shape shapes[LL_MAX_LAYERS + 1];
	struct ll_rpmb rpmb;
	int deployed; /* this session unsealed a model (refusedWhenDeployed) */
	struct ll_model_meta meta; /* the session's model; its cfg text in cfg_text */
	char cfg_text[LL_DEPLOY_CFG_MAX];
	uint8_t io[LL_DEPLOY_IO_MAX];     /* device-keys */
	char rpmb_io[LL_DEPLOY_IO_MAX];   /* rpmb */
	char names[LL_DEPLOY_MAX_OBJECTS][32];
	uint64_t versions[LL_DEPLOY_MAX_OBJECTS];
	size_t nversions;
};

struct ll_ta;

TEE_Result ll_device_init_cmd(struct ll_ta *ta, uint32_t types, TEE_Param p[4], struct ll_sb *msg);
TEE_Result ll_device_trust_cmd(struct ll_ta *ta, uint32_t types, TEE_Param p[4], struct ll_sb *msg);
TEE_Result ll_install_encrypted_cmd(struct ll_ta *ta, uint32_t types, TEE_Param p[4], struct ll_sb *msg);
TEE_Result ll_seal_protected_cmd(struct ll_ta *ta, uint32_t types, TEE_Param p[4], struct ll_sb *msg);
TEE_Result ll_unseal_protected_cmd(struct ll_ta *ta, uint32_t types, TEE_Param p[4], struct ll_sb *msg);
TEE_Result ll_export_encrypted_cmd(struct ll_ta *ta, uint32_t types, TEE_Param p[4], struct ll_sb *msg);

/* refusedWhenDeployed: ACCESS_DENIED for LOAD_PARAMS and EXPORT_PARAMS_PLAINTEXT in a session holding a model. */
TEE_Result ll_refused_when_deployed(const struct ll_ta *ta, uint32_t cmd, struct ll_sb *msg);

#endif
