// Kernel backend selection. Layers call getKernels() and never care which backend answers.
//
//   LAYERLOCK_KERNELS=reference   always use the plain-TypeScript kernels
//   LAYERLOCK_KERNELS=native      require the native addon (throw if it cannot load)
//   unset (or anything else)      native if it loads, else the reference with one note on stderr
//   LAYERLOCK_THREADS=n           threads for the native kernels (default: online CPUs)
//   (more knobs of the native backend in native.ts)
import { loadNativeKernels } from './native.js';
import { referenceKernels } from './reference.js';
import type { Kernels } from './types.js';

let active: Kernels | undefined;
let warned = false;

function chooseDefault(): Kernels {
  const want = process.env['LAYERLOCK_KERNELS'];
  if (want === 'reference') return referenceKernels;
  if (want === 'native') return loadNativeKernels();
  try {
    return loadNativeKernels();
  } catch (e) {
    if (!warned) {
      warned = true;
      const why = (e instanceof Error ? e.message : String(e)).split('\n')[0];
      process.stderr.write(`layerlock: native kernels unavailable (${why}); using the slower reference kernels\n`);
    }
    return referenceKernels;
  }
}

/** The kernel backend for this process: native unless unavailable or LAYERLOCK_KERNELS=reference. */
export function getKernels(): Kernels {
  if (!active) active = chooseDefault();
  return active;
}

/** Overrides the backend (tests, benchmarks); `undefined` restores the default choice. */
export function setKernels(kernels: Kernels | undefined): void {
  active = kernels;
}

export type { ConvGeometry, KernelActivation, Kernels, PoolGeometry } from './types.js';
export {
  activationGradientReference,
  biasActivateReference,
  biasGradientReference,
  col2im,
  gemmReference,
  im2col,
  referenceKernels,
} from './reference.js';
export {
  getThreads,
  loadNativeKernels,
  nativeAvailable,
  nativeInfo,
  nativeLoadError,
  setThreads,
} from './native.js';
export type { NativeInfo } from './native.js';
