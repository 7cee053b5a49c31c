// Darknet .weights files, byte-compatible with pjreddie/darknet (load_weights_upto/save_weights_upto),
// so models move between layerlock, Darknet and DarkneTZ unchanged.
//
// Layout (all little-endian):
//   int32 major, int32 minor, int32 revision,
//   seen: uint64 when (major*10 + minor) >= 2 and major < 1000 and minor < 1000, else uint32;
//   then, per trainable layer in network order, float32 arrays:
//     convolutional: biases[n], [scales[n], rolling_mean[n], rolling_variance[n]] if batch_normalize,
//                    weights[n*c*size*size]
//     connected:     biases[out], weights[out*in],
//                    [scales[out], rolling_mean[out], rolling_variance[out]] if batch_normalize
//   (note the different position of the batch-norm block), nothing for other layer types.
// Files with major > 1000 or minor > 1000 (very old Darknet) store connected weights transposed
// (in × out); Darknet transposes them on load and we do the same, and transpose back when encoding
// with such a header, so decode → encode reproduces any valid file byte for byte.
//
// There is no checksum or shape record in the format, so the only consistency check possible is the
// exact total size; it is done before anything is copied, so a bad file never half-overwrites a model.
import { readFile, stat } from 'node:fs/promises';
import { atomicWrite } from '../util/fsutil.js';

export interface WeightsLayer {
  readonly type: 'convolutional' | 'connected';
  readonly batchNormalize: boolean;
  readonly biases: Float32Array;
  readonly weights: Float32Array;
  readonly scales: Float32Array | null;
  readonly rollingMean: Float32Array | null;
  readonly rollingVariance: Float32Array | null;
  /** Network layer index, only to name the layer in messages; defaults to the position in the list. */
  readonly index?: number;
}

export interface WeightsHeader {
  major: number;
  minor: number;
  revision: number;
  /** Images seen during training (Darknet's `*net->seen`). */
  seen: number;
}

export class WeightsError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WeightsError';
  }
}

/** The header Darknet writes today (save_weights_upto). */
export const DARKNET_WEIGHTS_VERSION = { major: 0, minor: 2, revision: 0 } as const;

/** Darknet's rule for the width of the `seen` counter. */
export function seenIsUint64(h: Pick<WeightsHeader, 'major' | 'minor'>): boolean {
  return h.major * 10 + h.minor >= 2 && h.major < 1000 && h.minor < 1000;
}

/** Darknet's rule for files whose connected weights are stored transposed. */
export function connectedTransposed(h: Pick<WeightsHeader, 'major' | 'minor'>): boolean {
  return h.major > 1000 || h.minor > 1000;
}

export function headerByteSize(h: Pick<WeightsHeader, 'major' | 'minor'>): number {
  return 12 + (seenIsUint64(h) ? 8 : 4);
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function layerName(l: WeightsLayer, pos: number): string {
  return `layer ${l.index ?? pos} (${l.type})`;
}

/** Floats this layer occupies in a .weights file. Throws if the layer's arrays are inconsistent. */
function layerFloatCount(l: WeightsLayer, pos: number): number {
  const n = l.biases.length;
  const name = layerName(l, pos);
  if (n === 0) throw new WeightsError(`${name} has no outputs`);
  if (l.weights.length === 0 || l.weights.length % n !== 0) {
    throw new WeightsError(`${name}: ${l.weights.length} weights is not a positive multiple of ${n} outputs`);
  }
  if (!l.batchNormalize) return n + l.weights.length;
  for (const [what, a] of [['scales', l.scales], ['rollingMean', l.rollingMean], ['rollingVariance', l.rollingVariance]] as const) {
    if (a === null || a.length !== n) {
      throw new WeightsError(`${name} has batch_normalize but ${what} is ${a === null ? 'missing' : `of length ${a.length}, not ${n}`}`);
    }
  }
  return 4 * n + l.weights.length;
}

function checkHeader(h: WeightsHeader, what: string): void {
  for (const k of ['major', 'minor', 'revision'] as const) {
    if (!Number.isInteger(h[k]) || h[k] < 0 || h[k] > 0x7fffffff) {
      throw new WeightsError(`${what}: header ${k}=${h[k]} is not a non-negative 32-bit integer`);
    }
  }
  const max = seenIsUint64(h) ? Number.MAX_SAFE_INTEGER : 0xffffffff;
  if (!Number.isInteger(h.seen) || h.seen < 0 || h.seen > max) {
    throw new WeightsError(`${what}: header seen=${h.seen} does not fit the ${seenIsUint64(h) ? '64' : '32'}-bit counter`);
  }
}

export function weightsByteSize(layers: readonly WeightsLayer[], header: WeightsHeader): number {
  let floats = 0;
  layers.forEach((l, i) => (floats += layerFloatCount(l, i)));
  return headerByteSize(header) + 4 * floats;
}

// Raw byte copies (not element-wise float reads/writes) so every bit pattern, NaN payloads included,
// survives decode → encode unchanged.
function copyIn(src: Uint8Array, off: number, dst: Float32Array): void {
  const d = new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength);
  d.set(src.subarray(off, off + dst.byteLength));
  if (!LITTLE_ENDIAN_HOST) swap32(d);
}

function copyOut(src: Float32Array, dst: Uint8Array, off: number): void {
  const s = new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  dst.set(s, off);
  if (!LITTLE_ENDIAN_HOST) swap32(dst.subarray(off, off + src.byteLength));
}

function swap32(b: Uint8Array): void {
  for (let i = 0; i + 3 < b.length; i += 4) {
    const t0 = b[i]!;
    const t1 = b[i + 1]!;
    b[i] = b[i + 3]!;
    b[i + 1] = b[i + 2]!;
    b[i + 2] = t1;
    b[i + 3] = t0;
  }
}

/** rows × cols → cols × rows, on the raw 32-bit patterns. */
function transposeBits(src: Float32Array, rows: number, cols: number, dst: Float32Array): void {
  const s = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const d = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) d[c * rows + r] = s[r * cols + c]!;
}

/** The arrays of one layer in file order. */
function fileOrder(l: WeightsLayer): Float32Array[] {
  const bn = l.batchNormalize ? [l.scales!, l.rollingMean!, l.rollingVariance!] : [];
  return l.type === 'convolutional' ? [l.biases, ...bn, l.weights] : [l.biases, l.weights, ...bn];
}

export function encodeWeights(layers: readonly WeightsLayer[], header: WeightsHeader): Uint8Array {
  checkHeader(header, 'encodeWeights');
  const total = weightsByteSize(layers, header);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setInt32(0, header.major, true);
  dv.setInt32(4, header.minor, true);
  dv.setInt32(8, header.revision, true);
  if (seenIsUint64(header)) dv.setBigUint64(12, BigInt(header.seen), true);
  else dv.setUint32(12, header.seen, true);
  let off = headerByteSize(header);
  const transpose = connectedTransposed(header);
  for (const l of layers) {
    for (const a of fileOrder(l)) {
      let src = a;
      if (transpose && l.type === 'connected' && a === l.weights) {
        const outputs = l.biases.length;
        src = new Float32Array(a.length);
        transposeBits(a, outputs, a.length / outputs, src);
      }
      copyOut(src, out, off);
      off += a.byteLength;
    }
  }
  return out;
}

const ARRAY_NAMES = { biases: 'biases', weights: 'weights', scales: 'scales', rollingMean: 'rolling_mean', rollingVariance: 'rolling_variance' } as const;

/** The arrays of one layer in file order, with their names for messages. */
function namedFileOrder(l: WeightsLayer): [string, number][] {
  const n = l.biases.length;
  const bn: [string, number][] = l.batchNormalize ? [[ARRAY_NAMES.scales, n], [ARRAY_NAMES.rollingMean, n], [ARRAY_NAMES.rollingVariance, n]] : [];
  const w: [string, number] = [ARRAY_NAMES.weights, l.weights.length];
  return l.type === 'convolutional' ? [[ARRAY_NAMES.biases, n], ...bn, w] : [[ARRAY_NAMES.biases, n], w, ...bn];
}

/** A float32 bit pattern whose exponent is all ones is ±Inf or NaN. */
function nonFiniteAt(bytes: Uint8Array, off: number): boolean {
  return (bytes[off + 3]! & 0x7f) === 0x7f && (bytes[off + 2]! & 0x80) === 0x80;
}

/** Where the first non-finite value of an encoded parameter block is, or null. */
function firstNonFinite(bytes: Uint8Array, start: number, layers: readonly WeightsLayer[]): string | null {
  let off = start;
  for (const [pos, l] of layers.entries()) {
    for (const [name, count] of namedFileOrder(l)) {
      for (let i = 0; i < count; i++, off += 4) {
        if (nonFiniteAt(bytes, off)) {
          const v = new DataView(bytes.buffer, bytes.byteOffset + off, 4).getFloat32(0, true);
          return `${layerName(l, pos)} ${name}[${i}] is ${v} (byte ${off})`;
        }
      }
    }
  }
  return null;
}

/** The first parameter of these layers that is not finite, described, or null. */
export function firstNonFiniteParameter(layers: readonly WeightsLayer[]): string | null {
  for (const [pos, l] of layers.entries()) {
    const arrays: [string, Float32Array | null][] = [
      [ARRAY_NAMES.biases, l.biases], [ARRAY_NAMES.weights, l.weights], [ARRAY_NAMES.scales, l.scales],
      [ARRAY_NAMES.rollingMean, l.rollingMean], [ARRAY_NAMES.rollingVariance, l.rollingVariance],
    ];
    for (const [name, a] of arrays) {
      if (a === null) continue;
      for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return `${layerName(l, pos)} ${name}[${i}] is ${a[i]}`;
    }
  }
  return null;
}

export interface DecodeOptions {
  /**
   * Refuse a file holding NaN or ±Inf (a diverged or corrupt model). Off for the byte-level codec
   * (every bit pattern round-trips); on wherever a model is loaded to be used.
   */
  requireFinite?: boolean;
}

/** Validates completely (header, exact total size, finite values if asked) before copying anything into the layers. */
export function decodeWeights(bytes: Uint8Array, layers: readonly WeightsLayer[], source: string, options: DecodeOptions = {}): WeightsHeader {
  const sizes = layers.map((l, i) => 4 * layerFloatCount(l, i));
  if (bytes.length < 16) {
    throw new WeightsError(`${source}: not a Darknet weights file: ${bytes.length} bytes, shorter than the smallest header (16 bytes)`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = dv.getInt32(0, true);
  const minor = dv.getInt32(4, true);
  const revision = dv.getInt32(8, true);
  if (major < 0 || minor < 0 || revision < 0) {
    throw new WeightsError(`${source}: not a Darknet weights file: header version ${major}.${minor}.${revision} is negative`);
  }
  const hsize = headerByteSize({ major, minor });
  if (bytes.length < hsize) {
    throw new WeightsError(`${source}: truncated header: ${bytes.length} bytes, version ${major}.${minor} needs ${hsize}`);
  }
  let seen: number;
  if (hsize === 20) {
    const big = dv.getBigUint64(12, true);
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new WeightsError(`${source}: bad header: seen=${big} is implausibly large (not a Darknet weights file?)`);
    }
    seen = Number(big);
  } else {
    seen = dv.getUint32(12, true);
  }
  const need = sizes.reduce((a, b) => a + b, hsize);
  if (bytes.length < need) {
    let end = hsize;
    const i = sizes.findIndex((s) => (end += s) > bytes.length);
    throw new WeightsError(
      `${source}: truncated: ${layerName(layers[i]!, i)} needs ${end - bytes.length} more bytes of weights, ` +
        `file ends at byte ${bytes.length} (the cfg's layers need ${need} bytes; the file is cut short or was saved for a different cfg)`,
    );
  }
  if (bytes.length > need) {
    throw new WeightsError(
      `${source} has ${bytes.length - need} bytes more than the cfg's layers need: weights do not match the cfg ` +
        `(file ${bytes.length} bytes, cfg needs ${need})`,
    );
  }

  if (options.requireFinite) {
    const bad = firstNonFinite(bytes, hsize, layers);
    if (bad !== null) throw new WeightsError(`${source}: ${bad}: the file holds a diverged or corrupt model (weights must be finite numbers)`);
  }

  // Everything is known to fit: only now touch the layers.
  const transpose = connectedTransposed({ major, minor });
  let off = hsize;
  for (const l of layers) {
    for (const a of fileOrder(l)) {
      if (transpose && l.type === 'connected' && a === l.weights) {
        const outputs = l.biases.length;
        const tmp = new Float32Array(a.length);
        copyIn(bytes, off, tmp);
        transposeBits(tmp, a.length / outputs, outputs, a);
      } else {
        copyIn(bytes, off, a);
      }
      off += a.byteLength;
    }
  }
  return { major, minor, revision, seen };
}

function ioReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return (err as Error).message;
}

export async function loadWeightsFile(path: string, layers: readonly WeightsLayer[]): Promise<WeightsHeader> {
  let bytes: Uint8Array;
  try {
    // A device or FIFO would be read forever (or block on a terminal): only regular files hold weights.
    const st = await stat(path);
    if (!st.isFile() && !st.isDirectory()) throw new WeightsError(`${path}: cannot read weights: not a regular file`);
    bytes = await readFile(path);
  } catch (err) {
    if (err instanceof WeightsError) throw err;
    throw new WeightsError(`${path}: cannot read weights: ${ioReason(err)}`, { cause: err });
  }
  return decodeWeights(bytes, layers, path, { requireFinite: true });
}

/** Atomic: write to a temp file in the same folder, fsync, rename over the target. A kill never leaves a broken file. */
export async function saveWeightsFile(path: string, layers: readonly WeightsLayer[], header: WeightsHeader): Promise<void> {
  // Encode first: a bad layer or header must not even create a temp file. NaN or ±Inf weights are
  // a diverged run: writing them would replace a good model with a useless one.
  const bad = firstNonFiniteParameter(layers);
  if (bad !== null) throw new WeightsError(`${path}: not written: ${bad} (training diverged; the file is left as it was)`);
  const data = encodeWeights(layers, header);
  try {
    await atomicWrite(path, data);
  } catch (err) {
    throw new WeightsError(`${path}: cannot save weights: ${ioReason(err)}`, { cause: err });
  }
}
