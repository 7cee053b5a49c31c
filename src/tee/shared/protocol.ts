// The one definition both worlds import: the trusted application's UUID, its command ids and
// parameter layouts, GlobalPlatform parameter types, result codes and origins.
//
// Numbers follow the GlobalPlatform TEE Client API / Internal Core API specifications (and OP-TEE's
// tee_client_api.h / tee_api_defines.h), so code written against this emulation reads like code for
// a real TEE and a hardware backend can replace the transport later.

/** UUID of the layerlock trusted application (random, fixed forever: it names the TA). */
export const TA_UUID = '6c61796c-6c6f-4b54-a000-7a6500000005';

/**
 * Protocol revision spoken over the transport; the TA announces it in its hello frame and the client
 * refuses a TA that speaks another. 3: TRAIN_STEP's p1.b carries a deferred UPDATE (an older TA would
 * ignore it and silently skip updates).
 */
export const PROTOCOL_VERSION = 3;

// ---------------------------------------------------------------------------------------------
// Parameter types (TEEC_* on the client side, TEE_PARAM_TYPE_* in the TA: the same numbers for
// values and temporary memory references). The registered-memory types (WHOLE, PARTIAL_*) exist on
// the client side only: as in libteec, the client translates them into the TA's MEMREF_INPUT /
// OUTPUT / INOUT (5, 6, 7) pointing into shared memory, so a TA never sees the difference.
export const TEEC_NONE = 0x0;
export const TEEC_VALUE_INPUT = 0x1;
export const TEEC_VALUE_OUTPUT = 0x2;
export const TEEC_VALUE_INOUT = 0x3;
export const TEEC_MEMREF_TEMP_INPUT = 0x5;
export const TEEC_MEMREF_TEMP_OUTPUT = 0x6;
export const TEEC_MEMREF_TEMP_INOUT = 0x7;
/** The whole of a registered/allocated shared-memory block; direction from the block's flags. */
export const TEEC_MEMREF_WHOLE = 0xc;
export const TEEC_MEMREF_PARTIAL_INPUT = 0xd;
export const TEEC_MEMREF_PARTIAL_OUTPUT = 0xe;
export const TEEC_MEMREF_PARTIAL_INOUT = 0xf;

/** TEEC_SharedMemory flags: which way the block's content may travel. */
export const TEEC_MEM_INPUT = 0x1;
export const TEEC_MEM_OUTPUT = 0x2;

export type ParamType =
  | typeof TEEC_NONE
  | typeof TEEC_VALUE_INPUT | typeof TEEC_VALUE_OUTPUT | typeof TEEC_VALUE_INOUT
  | typeof TEEC_MEMREF_TEMP_INPUT | typeof TEEC_MEMREF_TEMP_OUTPUT | typeof TEEC_MEMREF_TEMP_INOUT
  | typeof TEEC_MEMREF_WHOLE | typeof TEEC_MEMREF_PARTIAL_INPUT | typeof TEEC_MEMREF_PARTIAL_OUTPUT | typeof TEEC_MEMREF_PARTIAL_INOUT;

export const PARAM_TYPE_NAMES: Record<number, string> = {
  [TEEC_NONE]: 'NONE',
  [TEEC_VALUE_INPUT]: 'VALUE_INPUT',
  [TEEC_VALUE_OUTPUT]: 'VALUE_OUTPUT',
  [TEEC_VALUE_INOUT]: 'VALUE_INOUT',
  [TEEC_MEMREF_TEMP_INPUT]: 'MEMREF_TEMP_INPUT',
  [TEEC_MEMREF_TEMP_OUTPUT]: 'MEMREF_TEMP_OUTPUT',
  [TEEC_MEMREF_TEMP_INOUT]: 'MEMREF_TEMP_INOUT',
  [TEEC_MEMREF_WHOLE]: 'MEMREF_WHOLE',
  [TEEC_MEMREF_PARTIAL_INPUT]: 'MEMREF_PARTIAL_INPUT',
  [TEEC_MEMREF_PARTIAL_OUTPUT]: 'MEMREF_PARTIAL_OUTPUT',
  [TEEC_MEMREF_PARTIAL_INOUT]: 'MEMREF_PARTIAL_INOUT',
};

/** TEEC_PARAM_TYPES(t0, t1, t2, t3): four 4-bit fields. */
export function paramTypes(t0: ParamType = TEEC_NONE, t1: ParamType = TEEC_NONE, t2: ParamType = TEEC_NONE, t3: ParamType = TEEC_NONE): number {
  return (t0 | (t1 << 4) | (t2 << 8) | (t3 << 12)) >>> 0;
}

/** TEE_PARAM_TYPE_GET(types, i). */
export function paramTypeAt(types: number, i: number): number {
  return (types >>> (4 * i)) & 0xf;
}

export function isValueType(t: number): boolean {
  return t === TEEC_VALUE_INPUT || t === TEEC_VALUE_OUTPUT || t === TEEC_VALUE_INOUT;
}

/** A memory reference as the TA sees it (TEE_PARAM_TYPE_MEMREF_*). */
export function isMemrefType(t: number): boolean {
  return t === TEEC_MEMREF_TEMP_INPUT || t === TEEC_MEMREF_TEMP_OUTPUT || t === TEEC_MEMREF_TEMP_INOUT;
}

/** A client-side reference into a registered/allocated shared-memory block. */
export function isRegisteredMemrefType(t: number): boolean {
  return t === TEEC_MEMREF_WHOLE || t === TEEC_MEMREF_PARTIAL_INPUT || t === TEEC_MEMREF_PARTIAL_OUTPUT || t === TEEC_MEMREF_PARTIAL_INOUT;
}

/** Types whose content travels from the client to the TA. */
export function isInputType(t: number): boolean {
  return t === TEEC_VALUE_INPUT || t === TEEC_VALUE_INOUT || t === TEEC_MEMREF_TEMP_INPUT || t === TEEC_MEMREF_TEMP_INOUT;
}

/** Types whose content travels from the TA back to the client. */
export function isOutputType(t: number): boolean {
  return t === TEEC_VALUE_OUTPUT || t === TEEC_VALUE_INOUT || t === TEEC_MEMREF_TEMP_OUTPUT || t === TEEC_MEMREF_TEMP_INOUT;
}

export function describeParamTypes(types: number): string {
  return [0, 1, 2, 3].map((i) => PARAM_TYPE_NAMES[paramTypeAt(types, i)] ?? `0x${paramTypeAt(types, i).toString(16)}`).join(', ');
}

// ---------------------------------------------------------------------------------------------
// Result codes (TEEC_Result / TEE_Result).
export const TEE_SUCCESS = 0x00000000;
export const TEE_ERROR_GENERIC = 0xffff0000;
export const TEE_ERROR_ACCESS_DENIED = 0xffff0001;
export const TEE_ERROR_CANCEL = 0xffff0002;
export const TEE_ERROR_ACCESS_CONFLICT = 0xffff0003;
export const TEE_ERROR_EXCESS_DATA = 0xffff0004;
export const TEE_ERROR_BAD_FORMAT = 0xffff0005;
export const TEE_ERROR_BAD_PARAMETERS = 0xffff0006;
export const TEE_ERROR_BAD_STATE = 0xffff0007;
export const TEE_ERROR_ITEM_NOT_FOUND = 0xffff0008;
export const TEE_ERROR_NOT_IMPLEMENTED = 0xffff0009;
export const TEE_ERROR_NOT_SUPPORTED = 0xffff000a;
export const TEE_ERROR_NO_DATA = 0xffff000b;
export const TEE_ERROR_OUT_OF_MEMORY = 0xffff000c;
export const TEE_ERROR_BUSY = 0xffff000d;
export const TEE_ERROR_COMMUNICATION = 0xffff000e;
export const TEE_ERROR_SECURITY = 0xffff000f;
export const TEE_ERROR_SHORT_BUFFER = 0xffff0010;
export const TEE_ERROR_EXTERNAL_CANCEL = 0xffff0011;
export const TEE_ERROR_TARGET_DEAD = 0xffff3024;
export const TEE_ERROR_STORAGE_NO_SPACE = 0xffff3041;

export const RESULT_NAMES: Record<number, string> = {
  [TEE_SUCCESS]: 'TEE_SUCCESS',
  [TEE_ERROR_GENERIC]: 'TEE_ERROR_GENERIC',
  [TEE_ERROR_ACCESS_DENIED]: 'TEE_ERROR_ACCESS_DENIED',
  [TEE_ERROR_CANCEL]: 'TEE_ERROR_CANCEL',
  [TEE_ERROR_ACCESS_CONFLICT]: 'TEE_ERROR_ACCESS_CONFLICT',
  [TEE_ERROR_EXCESS_DATA]: 'TEE_ERROR_EXCESS_DATA',
  [TEE_ERROR_BAD_FORMAT]: 'TEE_ERROR_BAD_FORMAT',
  [TEE_ERROR_BAD_PARAMETERS]: 'TEE_ERROR_BAD_PARAMETERS',
  [TEE_ERROR_BAD_STATE]: 'TEE_ERROR_BAD_STATE',
  [TEE_ERROR_ITEM_NOT_FOUND]: 'TEE_ERROR_ITEM_NOT_FOUND',
  [TEE_ERROR_NOT_IMPLEMENTED]: 'TEE_ERROR_NOT_IMPLEMENTED',
  [TEE_ERROR_NOT_SUPPORTED]: 'TEE_ERROR_NOT_SUPPORTED',
  [TEE_ERROR_NO_DATA]: 'TEE_ERROR_NO_DATA',
  [TEE_ERROR_OUT_OF_MEMORY]: 'TEE_ERROR_OUT_OF_MEMORY',
  [TEE_ERROR_BUSY]: 'TEE_ERROR_BUSY',
  [TEE_ERROR_COMMUNICATION]: 'TEE_ERROR_COMMUNICATION',
  [TEE_ERROR_SECURITY]: 'TEE_ERROR_SECURITY',
  [TEE_ERROR_SHORT_BUFFER]: 'TEE_ERROR_SHORT_BUFFER',
  [TEE_ERROR_EXTERNAL_CANCEL]: 'TEE_ERROR_EXTERNAL_CANCEL',
  [TEE_ERROR_TARGET_DEAD]: 'TEE_ERROR_TARGET_DEAD',
  [TEE_ERROR_STORAGE_NO_SPACE]: 'TEE_ERROR_STORAGE_NO_SPACE',
};

export function resultName(code: number): string {
  return `${RESULT_NAMES[code >>> 0] ?? 'TEE_RESULT'} (0x${(code >>> 0).toString(16).toUpperCase().padStart(8, '0')})`;
}

// Origins of a result (TEEC_ORIGIN_*): who produced the error.
export const TEEC_ORIGIN_API = 1;
export const TEEC_ORIGIN_COMMS = 2;
export const TEEC_ORIGIN_TEE = 3;
export const TEEC_ORIGIN_TRUSTED_APP = 4;

export const ORIGIN_NAMES: Record<number, string> = {
  [TEEC_ORIGIN_API]: 'client API',
  [TEEC_ORIGIN_COMMS]: 'communication stack',
  [TEEC_ORIGIN_TEE]: 'TEE',
  [TEEC_ORIGIN_TRUSTED_APP]: 'trusted application',
};

// ---------------------------------------------------------------------------------------------
// Commands of the layerlock TA. Each lists its exact parameter types; the TA rejects any other
// combination with TEE_ERROR_BAD_PARAMETERS (as OP-TEE TAs compare param_types with the expected).
// Tensors travel as raw little-endian float32 in temporary memory references; labels as uint8.
//
// The session lifecycle: openSession(TA_UUID) → CONFIGURE (once) → [LOAD_PARAMS] →
// { FORWARD | TRAIN_STEP | BACKWARD | UPDATE | TAKE_LOSS | GET_STATS }* → closeSession.
// Training a last-k partition is one TRAIN_STEP per forward, the first of each batch carrying the
// previous batch's UPDATE (see CMD_TRAIN_STEP), and one explicit UPDATE at the end.

/**
 * Configure the protected partition: build layers [start, end] of the cfg inside secure memory.
 *   p0 MEMREF_INPUT   the .cfg text (UTF-8; the architecture is not secret)
 *   p1 VALUE_INPUT    a = start layer, b = end layer (inclusive, cfg indices)
 *   p2 VALUE_INPUT    a = images per forward (buffer size), b = seed (initialisation, dropout)
 *   p3 VALUE_INPUT    a = ConfigureFlags, b = output policy (OutputPolicyId) | k << 8 (for topk)
 * Fails with OUT_OF_MEMORY (message names the layer, buffer and what would fit) when the
 * partition does not fit the secure memory.
 */
export const CMD_CONFIGURE = 0x01;

/**
 * Replace the protected layers' parameters (Darknet .weights bytes of layers start..end only,
 * header included): the development path for plain .weights files. Deployed sessions refuse it;
 * packages are decrypted inside the TA instead (ta/deploy.ts).
 *   p0 MEMREF_INPUT   weights bytes
 */
export const CMD_LOAD_PARAMS = 0x02;

/**
 * Forward pass of the protected layers on n images.
 *   p0 MEMREF_INPUT   the activation entering layer start: n × inputs float32
 *   p1 VALUE_INPUT    a = n, b = ForwardFlags
 *   p2 MEMREF_INPUT   labels (n × uint8) when training with a loss layer inside, or for the
 *                     aggregate loss under policies that allow it; else NONE
 *   p3 MEMREF_OUTPUT  what the policy allows out (see OutputKind) ; NONE when nothing leaves
 */
export const CMD_FORWARD = 0x03;

/**
 * Backward pass after a training FORWARD of the same n images.
 *   p0 MEMREF_INPUT   negative gradient arriving at layer end's output (n × outputs(end) float32)
 *                     when layers above the partition run in the normal world; else NONE
 *   p1 VALUE_INPUT    a = n, b = 0
 *   p2 MEMREF_OUTPUT  negative gradient leaving layer start (n × inputs float32) when trainable
 *                     layers below the partition need it; else NONE
 */
export const CMD_BACKWARD = 0x04;

/**
 * [UPDATE then] FORWARD (training, labels inside) then BACKWARD in one round trip: for partitions
 * that end with the network (the common "last k layers" case). One activation in, one gradient out.
 *   p0 MEMREF_INPUT   activation entering layer start (n × inputs float32)
 *   p1 VALUE_INPUT    a = n, b = images of a deferred UPDATE to apply before this step (0 = none)
 *   p2 MEMREF_INPUT   labels (n × uint8) when a loss layer is inside; else NONE
 *   p3 MEMREF_OUTPUT  gradient leaving layer start (n × inputs float32) when needed; else NONE
 * A deferred update (b > 0) is exactly the UPDATE the normal world would have sent after the
 * previous batch: the same SGD step and update count, applied before the forward. It saves one
 * round trip per batch (each costs about a millisecond). It carries no update count; instead b must
 * equal the images the TA trained on (BACKWARD/TRAIN_STEP) since its last update, else BAD_STATE:
 * a lost or repeated update shows as the two worlds out of step. The step's inputs (types, n,
 * activation, labels) are checked before the update is applied, so a step refused for them leaves
 * the TA as it was.
 */
export const CMD_TRAIN_STEP = 0x05;

/**
 * One SGD update of the protected layers, in lockstep with the normal world's.
 *   p0 VALUE_INPUT    a = images accumulated since the last update, b = updates done so far
 *                     (the TA checks it equals its own count: the two worlds must not drift)
 * The normal world (tee/partitioned.ts) defers its updates into the next TRAIN_STEP (p1.b) when
 * there is one, and sends an explicit UPDATE only to flush a deferred update before any other
 * command (FORWARD, BACKWARD, exports, sealing, statistics, closing …), or when its layers above
 * the partition make it train with FORWARD/BACKWARD.
 */
export const CMD_UPDATE = 0x06;

/**
 * Summed cross-entropy of the images scored inside since the last call, then reset. Denied under
 * policy top1 (the loss never leaves the TEE).
 *   p0 MEMREF_OUTPUT  16 bytes: float64 sum, float64 image count
 */
export const CMD_TAKE_LOSS = 0x07;

/**
 * Secure-memory and session statistics (arena capacity, used, peak, per-layer bytes, commands).
 *   p0 MEMREF_OUTPUT  UTF-8 JSON (TaStats)
 */
export const CMD_GET_STATS = 0x08;

/**
 * Development export of the protected layers in plaintext (Darknet .weights bytes of layers
 * start..end). Allowed only under policy full or when CONFIGURE set FLAG_ALLOW_PLAINTEXT_EXPORT.
 * Deployed sessions refuse it and export with HPKE to the server instead (ta/deploy.ts).
 *   p0 MEMREF_OUTPUT  weights bytes
 */
export const CMD_EXPORT_PARAMS_PLAINTEXT = 0x09;

/**
 * The message of the session's last failed command (UTF-8, no terminator; empty after a success).
 * GlobalPlatform returns only a result code, so a client of a real TEE (libteec and OP-TEE) asks for
 * the words with this; the software TA's transport also carries them in its reply frames.
 *   p0 MEMREF_OUTPUT  the message (SHORT_BUFFER, with the size needed, when it does not fit)
 * Not counted in GET_STATS's commands, and its own failure (types, short buffer) keeps the message.
 */
export const CMD_LAST_MESSAGE = 0x0a;

// Deployment commands (sealed storage, device keys, trust anchor, encrypted install/export),
// handled by ta/deploy.ts; layouts in deploy-protocol.ts; the table is ta/commands.ts.
export const CMD_DEVICE_INIT = 0x20;
export const CMD_INSTALL_ENCRYPTED = 0x21;
export const CMD_SEAL_PROTECTED = 0x22;
export const CMD_UNSEAL_PROTECTED = 0x23;
export const CMD_EXPORT_ENCRYPTED = 0x24;
export const CMD_DEVICE_TRUST = 0x25;

/**
 * Diagnostics, only when the TA was started with diagnostics on (tests): probe the TA's sandbox.
 *   p0 MEMREF_INPUT   a path (UTF-8)
 *   p1 VALUE_INPUT    a = DiagProbe
 *   p2 VALUE_OUTPUT   a = bytes read or written
 * Returns ACCESS_DENIED when the sandbox refuses, ITEM_NOT_FOUND when the file does not exist.
 */
export const CMD_DIAG_PROBE = 0xf0;
export const DIAG_READ_FILE = 0;
export const DIAG_WRITE_FILE = 1;
export const DIAG_SPAWN = 2;
/** Diagnostics: p0 VALUE_INPUT a = 0: the handler throws (a TA panic); a = 1: the process exits at once. */
export const CMD_DIAG_PANIC = 0xf1;

export const COMMAND_NAMES: Record<number, string> = {
  [CMD_CONFIGURE]: 'CONFIGURE',
  [CMD_LOAD_PARAMS]: 'LOAD_PARAMS',
  [CMD_FORWARD]: 'FORWARD',
  [CMD_BACKWARD]: 'BACKWARD',
  [CMD_TRAIN_STEP]: 'TRAIN_STEP',
  [CMD_UPDATE]: 'UPDATE',
  [CMD_TAKE_LOSS]: 'TAKE_LOSS',
  [CMD_GET_STATS]: 'GET_STATS',
  [CMD_EXPORT_PARAMS_PLAINTEXT]: 'EXPORT_PARAMS_PLAINTEXT',
  [CMD_LAST_MESSAGE]: 'LAST_MESSAGE',
  [CMD_DEVICE_INIT]: 'DEVICE_INIT',
  [CMD_INSTALL_ENCRYPTED]: 'INSTALL_ENCRYPTED',
  [CMD_SEAL_PROTECTED]: 'SEAL_PROTECTED',
  [CMD_UNSEAL_PROTECTED]: 'UNSEAL_PROTECTED',
  [CMD_EXPORT_ENCRYPTED]: 'EXPORT_ENCRYPTED',
  [CMD_DEVICE_TRUST]: 'DEVICE_TRUST',
  [CMD_DIAG_PROBE]: 'DIAG_PROBE',
  [CMD_DIAG_PANIC]: 'DIAG_PANIC',
};

export function commandName(cmd: number): string {
  return COMMAND_NAMES[cmd] ?? `0x${cmd.toString(16)}`;
}

/** CONFIGURE p3.a bits. */
export const FLAG_TRAIN = 0x1;
/** Trainable layers below the partition exist: BACKWARD/TRAIN_STEP must return the input gradient. */
export const FLAG_INPUT_DELTA = 0x2;
/** Development only: allow CMD_EXPORT_PARAMS_PLAINTEXT under policies other than full. */
export const FLAG_ALLOW_PLAINTEXT_EXPORT = 0x4;

/** FORWARD p1.b bits. */
export const FORWARD_TRAIN = 0x1;

/**
 * What may leave the TEE when it holds the network's prediction layer:
 *   top1  the best class of each image (int32) — no score, no loss;
 *   topk  the k best classes of each image, ranked (int32 × k) — no scores; the summed loss
 *         over many images may be taken (TAKE_LOSS);
 *   full  the probability vector (float32 × classes) and the loss.
 */
export type OutputPolicy = 'top1' | 'topk' | 'full';
export const OUTPUT_POLICIES: readonly OutputPolicy[] = ['top1', 'topk', 'full'];
export const POLICY_IDS: Record<OutputPolicy, number> = { top1: 0, topk: 1, full: 2 };
export const DEFAULT_TOPK = 5;

export function policyFromId(id: number): OutputPolicy | undefined {
  return OUTPUT_POLICIES[id];
}

/** Blocks of the secure-memory arena that are not layer buffers. */
export type ArenaBlockName =
  | 'workspace' | 'input' | 'input_delta' | 'top_delta' | 'truth';

/** What CMD_GET_STATS returns (JSON). */
export interface TaStats {
  uuid: string;
  kernels: string;
  threads: number;
  arena: {
    capacity: number;
    used: number;
    /** Highest `used` since the session was configured. */
    peak: number;
    /** Bytes per layer (cfg index) and buffer, in allocation order; -1 = partition I/O. */
    blocks: { layer: number; buffer: string; bytes: number }[];
  };
  partition: {
    start: number;
    end: number;
    maxBatch: number;
    mode: 'train' | 'infer';
    policy: OutputPolicy;
    topk: number;
    holdsOutput: boolean;
    updates: number;
  } | null;
  commands: Record<string, number>;
  /** Milliseconds the TA spent inside each command's handler (the TEE side of the time per batch). */
  command_ms?: Record<string, number>;
}

/** How memory-reference contents travel: through mapped shared memory, or copied into pipe frames. */
export type TransportKind = 'shm' | 'pipe';

/** The hello frame the TA host sends once it is ready (JSON). */
export interface TaHello {
  protocol: number;
  /** 'shm' when the TA mapped the shared-memory pool it was handed, else 'pipe'. */
  transport: TransportKind;
  uuid: string;
  pid: number;
  kernels: string;
  threads: number;
  secureMem: number;
  /** Why the requested kernels could not be used (the TA fell back to the reference ones). */
  kernelsNote?: string;
}
