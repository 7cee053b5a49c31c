// Parameter layouts of the deployment commands (ids 0x20–0x25 in ./protocol.ts), shared by the
// normal world (src/deploy) and the TA's handlers (./deploy.ts).
//
// CMD_DEVICE_INIT (0x20)
//   p0 VALUE_INPUT    a = DEVICE_CREATE | DEVICE_CERT | DEVICE_STATUS
//   p1 MEMREF_OUTPUT  CREATE/CERT: the device certificate (UTF-8 JSON, DeviceCert); STATUS: DeviceStatus JSON
//   CREATE makes the emulated HUK (once), the X25519 (HPKE) and Ed25519 (identity) key pairs inside the
//   TA, seals the private keys and answers the self-signed certificate; ACCESS_CONFLICT if the device
//   already has keys.
//
// CMD_INSTALL_ENCRYPTED (0x21)
//   p0 MEMREF_INPUT   header ‖ manifest of a package (the signed region)
//   p1 MEMREF_INPUT   its Ed25519 signature (64 bytes)
//   p2 MEMREF_INPUT   its protected section (HPKE-encrypted layers)
//   p3 VALUE_OUTPUT   a = the new model version (sealed, not yet committed)
//   The TA verifies the signature, that the signer is the device's trust anchor (provisioned with
//   CMD_DEVICE_TRUST; no anchor, no install), the target device, that the package version is newer
//   than the installed one, the layout against the cfg and every hash; decrypts inside; seals the
//   protected layers as model-<version>. Model versions come from the emulated RPMB's counter: each
//   number is issued once, never again, whether it is later committed or discarded. A package whose
//   manifest has trust_next hands the anchor to that key when its version is committed.
//
// CMD_DEVICE_TRUST (0x25)
//   p0 MEMREF_INPUT   the server's Ed25519 public key (32 bytes, raw)
//   Provisioning: seals the key as the device's trust anchor. Again with the same key: nothing
//   changes. With another key: ACCESS_CONFLICT — replacing the anchor takes a package signed by it.
//
// CMD_SEAL_PROTECTED (0x22)
//   p0 VALUE_INPUT    a = SEAL_NEW, SEAL_COMMIT or SEAL_DISCARD; b = version (COMMIT, DISCARD)
//   SEAL_NEW:     p1 MEMREF_INPUT SHA-256 of the normal world's new clear-layer .weights (32 bytes)
//                 p2 VALUE_OUTPUT a = the new model version. Needs a partition loaded by UNSEAL.
//   SEAL_COMMIT:  no other parameters. Makes `version` the device's current one: the anti-rollback
//                 counter moves to it (never down), older and orphaned sealed versions are deleted.
//   SEAL_DISCARD: no other parameters. Deletes an uncommitted version (a failed install or save).
//
// CMD_UNSEAL_PROTECTED (0x23)
//   p0 VALUE_INPUT    a = model version
//   p1 MEMREF_INPUT   SHA-256 of the normal world's clear-layer .weights (32 bytes)
//   p2 MEMREF_OUTPUT  ModelInfo JSON
//   Loads the sealed protected layers into the configured partition's secure memory. Refused when
//   the version is older than the committed one (rollback), the clear layers are not those sealed
//   with it, the configured cfg/range differ from the package's, the output policy is weaker than
//   the package's, or the development plaintext export was enabled. Afterwards the session refuses
//   LOAD_PARAMS and EXPORT_PARAMS_PLAINTEXT. A version newer than the committed one is committed.
//
// CMD_EXPORT_ENCRYPTED (0x24)
//   p0 VALUE_INPUT    a = model version
//   p1 MEMREF_INPUT   the server's X25519 public key (32 bytes): must be the one named by the package
//   p2 MEMREF_INPUT   the clear-layer .weights of that version (checked against the sealed hash)
//   p3 MEMREF_OUTPUT  a complete export container (see container.ts), signed by the device
export const DEVICE_CREATE = 0;
export const DEVICE_CERT = 1;
export const DEVICE_STATUS = 2;

export const SEAL_NEW = 0;
export const SEAL_COMMIT = 1;
export const SEAL_DISCARD = 2;

/** Room the normal world gives DEVICE_INIT's output (the TA asks for it before creating keys). */
export const DEVICE_OUTPUT_BYTES = 16 * 1024;

export interface DeviceStatus {
  device_id: string;
  /** The committed model version (0: nothing installed). */
  model_version: number;
  package_version: number;
  package_id: string | null;
  /** The server key the device trusts (its anchor, provisioned with device trust; null before). */
  server_key_id: string | null;
  /** The highest model version ever issued (committed or discarded; never issued again). */
  issued_version?: number;
  /** Sealed model versions present in the storage. */
  sealed_versions: number[];
}

export interface ModelInfo {
  version: number;
  parent: number | null;
  package_id: string;
  package_version: number;
  device_id: string;
  range: [number, number];
  policy: 'top1' | 'topk' | 'full';
  topk: number;
  server_key_id: string;
}
