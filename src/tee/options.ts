// The partition rules every command, the benchmark, the attacks and the pipeline share, said once:
// sizes of secure memory, "the last k layers", a layer range a:b, the output policy, and which
// kernels and how many threads the TA runs. Bad values throw RangeError with a message that names
// the option; the CLI turns them into usage errors.
import { totalmem } from 'node:os';
import { getKernels, getThreads } from '../kernels/index.js';
import { DEFAULT_SECURE_MEM } from './client.js';
import { DEFAULT_TOPK, OUTPUT_POLICIES, type OutputPolicy } from './shared/protocol.js';

/** Parses 16MiB, 512KiB, 1.5GiB, 16M (binary), 16MB (decimal) or a plain byte count. */
export function parseByteSize(text: string, what = '--secure-mem'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*$/i.exec(text);
  if (!m) throw new RangeError(`${what} must be a size like 16MiB, 512KiB or a byte count (got "${text}")`);
  const unit = (m[2] ?? 'b').toLowerCase();
  const decimal = unit.length === 2 && unit.endsWith('b') && unit !== 'ib';
  const power = { b: 0, k: 1, m: 2, g: 3 }[unit[0] as 'b' | 'k' | 'm' | 'g'];
  const bytes = Math.floor(Number(m[1]) * (decimal ? 1000 : 1024) ** power);
  if (!(bytes >= 1)) throw new RangeError(`${what} must be at least one byte (got "${text}")`);
  // The TA allocates it up front: more than the machine has fails later, with V8's words, not ours.
  const limit = totalmem();
  if (!(bytes <= limit)) throw new RangeError(`${what} ${text} is more than this machine's memory (${(limit / 2 ** 30).toFixed(1)} GiB)`);
  return bytes;
}

/** The secure memory: the given size, or the default (16 MiB, the paper's). */
export function secureMemory(text: string | undefined): number {
  return text !== undefined ? parseByteSize(text) : DEFAULT_SECURE_MEM;
}

/** "The last k layers", counting every layer (cost, softmax, …) as the paper does; null for k = 0. */
export function lastLayers(k: number, layerCount: number): [number, number] | null {
  if (!(Number.isInteger(k) && k >= 0)) throw new RangeError(`--tee-last must be an integer ≥ 0 (got ${k})`);
  if (k > layerCount) throw new RangeError(`--tee-last ${k}: the network has only ${layerCount} layers`);
  return k === 0 ? null : [layerCount - k, layerCount - 1];
}

/** "a:b" (inclusive, 0-based; "a:" = to the last layer). */
export function parseLayerRange(text: string, layerCount: number): [number, number] {
  const m = /^(\d+):(\d*)$/.exec(text.trim());
  if (!m) throw new RangeError(`--tee-layers must be a:b with 0 ≤ a ≤ b < ${layerCount} (got "${text}")`);
  const a = Number(m[1]);
  const b = m[2] === '' ? layerCount - 1 : Number(m[2]);
  if (!(a <= b && b < layerCount)) throw new RangeError(`--tee-layers ${text} is not within the network's layers 0:${layerCount - 1}`);
  return [a, b];
}

/** The TEE range from --tee-layers or --tee-last (not both); null when nothing runs in the TEE. */
export function teeRange(o: { layers?: string | undefined; last?: number | undefined }, layerCount: number): [number, number] | null {
  if (o.layers !== undefined && o.last !== undefined) throw new RangeError('give --tee-layers or --tee-last, not both');
  if (o.layers !== undefined) return parseLayerRange(o.layers, layerCount);
  if (o.last !== undefined) return lastLayers(o.last, layerCount);
  return null;
}

/** --tee-output: top1, topk (k = 5), top<k>, or full. */
export function parseTeeOutput(text: string | undefined): { policy: OutputPolicy; topk: number } {
  if (text === undefined) return { policy: 'top1', topk: DEFAULT_TOPK };
  const m = /^top(\d+)$/.exec(text);
  if (m) {
    const k = Number(m[1]);
    if (k < 1) throw new RangeError(`--tee-output ${text}: k must be at least 1`);
    return k === 1 ? { policy: 'top1', topk: 1 } : { policy: 'topk', topk: k };
  }
  if ((OUTPUT_POLICIES as readonly string[]).includes(text)) return { policy: text as OutputPolicy, topk: DEFAULT_TOPK };
  throw new RangeError(`--tee-output must be top1, topk, top<k> or full (got "${text}")`);
}

/**
 * The kernels the TA should run: the reference ones when the normal world runs them (so both worlds
 * compute the same numbers), else the TA's own best choice.
 */
export function taKernelChoice(): 'reference' | 'auto' {
  return getKernels().name === 'reference' ? 'reference' : 'auto';
}

/** Kernel threads of this machine's backend (the reference kernels are single-threaded). */
export function kernelThreads(): number {
  return getKernels().name === 'reference' ? 1 : getThreads();
}
