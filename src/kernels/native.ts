// The native backend: a Node-API addon (src/kernels/native/*.cc, built by node-gyp during `npm ci`)
// with packed register-blocked GEMM micro-kernels (AVX-512, AVX2/FMA or portable, chosen at run
// time from CPUID) and a persistent native thread pool. Typed arrays are handed to C++ without
// copying; the addon validates every argument and throws on bad ones.
//
//   LAYERLOCK_THREADS=n            threads (default: online CPUs); setThreads() changes it later
//   LAYERLOCK_ISA=avx2|generic     cap the kernel set (never enables one the CPU lacks)
//   LAYERLOCK_SPIN_US=n            how long idle pool threads spin before sleeping (default 300)
//   LAYERLOCK_NATIVE_ADDON=path    load the .node from elsewhere
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kernels } from './types.js';

/** What the compiled addon exports (see src/kernels/native/addon.cc). */
interface NativeAddon {
  gemm: Kernels['gemm'];
  convForward: Kernels['convForward'];
  convBackwardFilter: Kernels['convBackwardFilter'];
  convBackwardData: Kernels['convBackwardData'];
  maxpoolForward: Kernels['maxpoolForward'];
  maxpoolBackward: Kernels['maxpoolBackward'];
  biasActivate: NonNullable<Kernels['biasActivate']>;
  activationGradient: NonNullable<Kernels['activationGradient']>;
  biasGradient: NonNullable<Kernels['biasGradient']>;
  setThreads(threads: number): void;
  getThreads(): number;
  /** Idle pool threads stop spinning at once (absent in an older build). */
  parkThreads?(): void;
  info(): { isa: string; microKernels: string[] };
  // Shared memory for the TEE transport (src/kernels/native/shm.cc); absent in an older build.
  shmCreate?(bytes: number): { fd: number; buffer: ArrayBuffer };
  shmMap?(fd: number, bytes: number): ArrayBuffer;
  shmRelease?(buffer: ArrayBuffer): void;
  // Doorbells for the TEE's control channel (src/kernels/native/doorbell.cc); absent in an older build.
  doorbellRing?(buffer: ArrayBuffer, offset: number): number;
  doorbellWait?(buffer: ArrayBuffer, offset: number, seen: number, spinUs: number, timeoutMs: number): number;
  processExit?(pid: number): { code: number | null; signal: number | null } | null;
}

/** The addon's shared-memory functions (memfd mapped in both processes of the emulated TEE). */
export interface NativeSharedMemory {
  /** A new memfd of `bytes`, mapped here; pass `fd` to the other process, then close it. */
  create(bytes: number): { fd: number; buffer: ArrayBuffer };
  /** Maps an inherited memfd (and closes the descriptor). */
  map(fd: number, bytes: number): ArrayBuffer;
  /** Detaches the ArrayBuffer and unmaps it now. */
  release(buffer: ArrayBuffer): void;
  /** Doorbells and a look at a child's exit, or undefined when this build of the addon lacks them. */
  doorbell?: NativeDoorbell;
}

/** A counter word in shared memory that one process bumps and the other waits on (futex). */
export interface NativeDoorbell {
  /** Bumps the word at `offset` and wakes its waiters; returns the new value. */
  ring(buffer: ArrayBuffer, offset: number): number;
  /** Spins up to spinUs, then sleeps until the word differs from `seen` or timeoutMs pass; returns the word. */
  wait(buffer: ArrayBuffer, offset: number, seen: number, spinUs: number, timeoutMs: number): number;
  /** null while the child `pid` runs, else how it ended (without reaping it). */
  processExit(pid: number): { code: number | null; signal: number | null } | null;
}

/** Facts about the loaded addon, for benchmarks and diagnostics. */
export interface NativeInfo {
  /** Kernel set chosen at run time from CPUID: "avx512", "avx2" or "generic" (portable). */
  isa: string;
  /** Register-blocked micro-kernels available, e.g. ["avx512 8x48", ...] or ["avx2 6x16", "avx2 4x24"]. */
  microKernels: string[];
  /** Threads the kernels use (LAYERLOCK_THREADS, default: online CPUs; see setThreads). */
  threads: number;
  /** Absolute path of the .node file. */
  path: string;
}

const ADDON_RELATIVE = join('build', 'Release', 'layerlock_kernels.node');

/**
 * The package root: the nearest ancestor of this module holding binding.gyp and package.json.
 * Works from src/kernels (ts source) and dist/src/kernels (compiled), and from an installed copy.
 */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'binding.gyp')) && existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the layerlock package root (binding.gyp) above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

let addon: NativeAddon | undefined;
let addonPath = '';
let loadError: Error | undefined;

function load(): NativeAddon {
  if (addon) return addon;
  if (loadError) throw loadError;
  try {
    const path = process.env['LAYERLOCK_NATIVE_ADDON'] || join(packageRoot(), ADDON_RELATIVE);
    if (!existsSync(path)) {
      throw new Error(`${path} does not exist (the native build failed or was skipped; \`npm rebuild\` in the package directory shows the compiler output)`);
    }
    const require = createRequire(import.meta.url);
    addon = require(path) as NativeAddon;
    addonPath = path;
    return addon;
  } catch (e) {
    loadError = e instanceof Error ? e : new Error(String(e));
    throw loadError;
  }
}

/** Loads the addon (once) and returns it as a Kernels backend; throws if it cannot be loaded. */
export function loadNativeKernels(): Kernels {
  const a = load();
  const isa = a.info().isa;
  return {
    get name(): string {
      const n = a.getThreads();
      return `native-${isa} (${n} thread${n === 1 ? '' : 's'})`;
    },
    gemm: a.gemm,
    convForward: a.convForward,
    convBackwardFilter: a.convBackwardFilter,
    convBackwardData: a.convBackwardData,
    maxpoolForward: a.maxpoolForward,
    maxpoolBackward: a.maxpoolBackward,
    biasActivate: a.biasActivate,
    activationGradient: a.activationGradient,
    biasGradient: a.biasGradient,
  };
}

/** True if the native addon loads in this process. */
export function nativeAvailable(): boolean {
  try {
    load();
    return true;
  } catch {
    return false;
  }
}

/** Why the addon could not be loaded, or undefined if it loaded (or was never tried). */
export function nativeLoadError(): Error | undefined {
  return loadError;
}

/** Details of the loaded addon; throws if it cannot be loaded. */
export function nativeInfo(): NativeInfo {
  const a = load();
  const i = a.info();
  return { isa: i.isa, microKernels: i.microKernels, threads: a.getThreads(), path: addonPath };
}

/**
 * Sets how many threads the native kernels use (1..256), process-wide. Returns the count now in
 * effect, or 1 if the native addon is not available (the reference kernels are single-threaded).
 */
export function setThreads(threads: number): number {
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
    throw new RangeError(`threads must be an integer in [1, 256], got ${threads}`);
  }
  if (!nativeAvailable()) return 1;
  const a = load();
  a.setThreads(threads);
  return a.getThreads();
}

/** Threads the native kernels use, or 1 if the addon is not available. */
export function getThreads(): number {
  return nativeAvailable() ? load().getThreads() : 1;
}

/** The shared-memory functions of the addon, or null when it cannot be loaded or lacks them. */
export function nativeSharedMemory(): NativeSharedMemory | null {
  let a: NativeAddon;
  try {
    a = load();
  } catch {
    return null;
  }
  const { shmCreate, shmMap, shmRelease, doorbellRing, doorbellWait, processExit } = a;
  if (!shmCreate || !shmMap || !shmRelease) return null;
  const doorbell: NativeDoorbell | undefined = doorbellRing && doorbellWait && processExit
    ? { ring: (b, o) => doorbellRing(b, o), wait: (b, o, s, sp, t) => doorbellWait(b, o, s, sp, t), processExit: (pid) => processExit(pid) }
    : undefined;
  return { create: (n) => shmCreate(n), map: (fd, n) => shmMap(fd, n), release: (b) => shmRelease(b), ...(doorbell ? { doorbell } : {}) };
}

/**
 * Idle native worker threads stop spinning and sleep now: called at a world switch of the emulated
 * TEE (the normal world before it waits on the TA, the TA after it answers), where the next kernel
 * call is a whole command away and spinning would only take the cores the other process needs.
 * A no-op without the addon.
 */
export function parkThreads(): void {
  if (addon) addon.parkThreads?.();
}
