// One run of the TEE cost benchmark, in a process of its own (the normal world, REE): fine-tune the
// network for N batches with the last k layers in the software TEE (k = 0: no TEE at all) and
// report the wall time of that work, this process's peak resident memory, the TA's secure-memory
// peak and the bytes that crossed the boundary.
//
// Why a process per run: the normal world's memory peak is the kernel's high-water mark of resident
// memory (VmHWM in /proc/self/status), which can only grow over a process's life — a fresh process
// gives each run its own peak. RSS rather than the V8 heap: layer buffers are typed arrays whose
// memory lives outside the V8 heap (ArrayBuffer backing stores), so the heap statistics would miss
// exactly the buffers that move into the TEE; and the kernel's mark is exact, no sampling can miss
// the peak. Not getrusage's ru_maxrss: Linux carries it over fork and exec, so a child started by a
// parent holding a whole data set reports the parent's size (VmHWM belongs to the new address space).
//
//   node dist/src/bench/tee-run.js SPEC.json      → one JSON line (RunResult) on stdout
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { makeDataset, type Dataset } from '../data/types.js';
import { getKernels } from '../kernels/index.js';
import { parseCfg } from '../nn/cfg.js';
import type { NetworkConfig } from '../nn/config.js';
import { loadModel } from '../nn/model.js';
import { networkStepper, train, type Stepper } from '../nn/train.js';
import { PartitionedNetwork } from '../tee/partitioned.js';
import type { TeeKind } from '../tee/client.js';
import type { TransportKind } from '../tee/shared/protocol.js';
import { kernelThreads, taKernelChoice } from '../tee/options.js';

export interface RunSpec {
  cfgFile: string;
  /** Path of the whole network's .weights (pre-trained), or null to fine-tune from the seeded initialisation. */
  weights: string | null;
  seed: number;
  batch: number;
  subdivisions: number;
  /** Last k layers in the TEE; 0 = everything in this process. */
  k: number;
  secureMem: number;
  storageDir: string;
  /** The images to fine-tune on (writeSlice). */
  slice: string;
  /** Batches timed, after `warmup` untimed ones. */
  batches: number;
  warmup: number;
  /** The TEE transport (default: auto). */
  transport?: TransportKind | 'auto';
  /** The TEE (default: the software TEE). */
  tee?: TeeKind;
}

export interface RunResult {
  k: number;
  range: [number, number] | null;
  /** Wall time of the timed fine-tuning batches (forward, backward, update; boundary crossings included). */
  seconds: number;
  /** Starting the TA, configuring the partition, loading the weights (not in `seconds`). */
  setup_seconds: number;
  images: number;
  /** Peak RSS (VmHWM) of this normal-world process, bytes (ru_maxrss where there is no /proc). */
  ree_peak_bytes: number;
  /** The TA's secure-memory arena peak (GET_STATS), bytes; 0 without a TEE. */
  tee_peak_bytes: number;
  /** The arena's blocks (layer, buffer, bytes) after the run. */
  tee_blocks: { layer: number; buffer: string; bytes: number }[];
  /** The TA process's own peak RSS (/proc VmHWM): the emulation's Node runtime, not secure memory. */
  ta_process_peak_bytes: number | null;
  /**
   * CPU time of the timed batches, summed over all threads: this process (the normal world) and the
   * TA's process. Less sensitive than wall time to other jobs on a shared machine (waiting for a core
   * is not counted); null where /proc/<pid>/task/<tid>/schedstat is missing. Under OP-TEE the TA's
   * time is the calling thread's (tee_cpu_s is null there).
   */
  cpu_s: number | null;
  ree_cpu_s: number | null;
  tee_cpu_s: number | null;
  /** Frame bytes both ways during the timed batches, as the client's counter saw them. */
  /** Bytes that crossed (control frames + shared-memory memref contents), and the control frames alone. */
  boundary: { to_tee: number; from_tee: number; frames: number; control_to_tee?: number; control_from_tee?: number };
  /** The transport the run used. */
  transport?: TransportKind;
  /**
   * Where the timed batches' wall time went (ms, whole run): the normal world waiting on the TEE
   * (request sent → reply in), and inside that the TA's command handlers; the rest of the wait is
   * the transport and the scheduling of the other process.
   */
  profile?: { wait_ms: number; ta_handler_ms: number; ta_ms_by_command: Record<string, number> };
  kernels: string;
  ta_kernels: string | null;
  threads: number;
  ta_threads: number | null;
}

// --- the data slice: the same images for every run, written once by the parent ---------------------

/** Writes the images [indices] of ds as one file: u32 header length, JSON header, labels, pixels. */
export async function writeSlice(path: string, ds: Dataset, indices: ArrayLike<number>): Promise<void> {
  const size = ds.channels * ds.height * ds.width;
  const n = indices.length;
  const labels = new Uint8Array(n);
  const images = new Uint8Array(n * size);
  for (let i = 0; i < n; i++) {
    const j = indices[i]!;
    labels[i] = ds.labels[j]!;
    images.set(ds.images.subarray(j * size, (j + 1) * size), i * size);
  }
  const header = Buffer.from(JSON.stringify({ count: n, channels: ds.channels, height: ds.height, width: ds.width, classNames: ds.classNames }), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length, 0);
  await writeFile(path, Buffer.concat([len, header, labels, images]));
}

export async function readSlice(path: string): Promise<Dataset> {
  const buf = await readFile(path);
  const hl = buf.readUInt32LE(0);
  const h = JSON.parse(buf.subarray(4, 4 + hl).toString('utf8')) as { count: number; channels: number; height: number; width: number; classNames: string[] };
  const labels = new Uint8Array(buf.subarray(4 + hl, 4 + hl + h.count));
  const images = new Uint8Array(buf.subarray(4 + hl + h.count));
  return makeDataset(images, labels, { channels: h.channels, height: h.height, width: h.width }, h.classNames);
}

// --- one run ------------------------------------------------------------------------------------

function withBatch(config: NetworkConfig, batch: number, subdivisions: number): NetworkConfig {
  return { ...config, net: { ...config.net, batch, subdivisions } };
}

/** Peak RSS (VmHWM) of another process from /proc, or null where there is no /proc. */
export async function processPeakRss(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Nanoseconds on a CPU of all threads of a process (the first field of /proc/<pid>/task/<tid>/schedstat, summed over the threads), or null. */
export async function processCpuNs(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null;
  try {
    let total = 0;
    for (const tid of await readdir(`/proc/${pid}/task`)) {
      try {
        total += Number((await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8')).split(' ')[0]);
      } catch {
        // a thread that ended meanwhile
      }
    }
    return total;
  } catch {
    return null;
  }
}

export async function runOnce(spec: RunSpec): Promise<RunResult> {
  const text = await readFile(spec.cfgFile, 'utf8');
  const config = withBatch(parseCfg(text, spec.cfgFile), spec.batch, spec.subdivisions);
  const L = config.layers.length;
  const range: [number, number] | null = spec.k === 0 ? null : [L - spec.k, L - 1];
  const ds = await readSlice(spec.slice);
  const need = (spec.warmup + spec.batches) * spec.batch;
  if (ds.count < need) throw new Error(`the data slice has ${ds.count} images, the run needs ${need}`);
  const kernels = getKernels();
  const t0 = performance.now();
  let stepper: Stepper;
  let tee: PartitionedNetwork | null = null;
  if (!range) {
    const net = await loadModel({ cfg: config, weights: spec.weights ?? undefined, seed: spec.seed, kernels });
    stepper = networkStepper(net);
  } else {
    tee = await PartitionedNetwork.open({
      cfg: { text, file: spec.cfgFile }, weights: spec.weights ?? undefined, seed: spec.seed, batch: spec.batch, subdivisions: spec.subdivisions,
      range, mode: 'train', policy: 'top1', kernels,
      contextOptions: {
        secureMem: spec.secureMem, storageDir: spec.storageDir, kernels: taKernelChoice(),
        ...(spec.transport ? { transport: spec.transport } : {}),
        ...(spec.tee ? { tee: spec.tee } : {}),
      },
    });
    stepper = tee;
  }
  try {
    const setup = (performance.now() - t0) / 1000;
    const idx = (from: number, count: number): Uint32Array => Uint32Array.from({ length: count }, (_, i) => from + i);
    if (spec.warmup > 0) await train(stepper, ds, idx(0, spec.warmup * spec.batch), { epochs: 1, seed: spec.seed });
    const handlers0 = tee ? (await tee.stats()).command_ms ?? {} : {};
    const traffic0 = tee ? { ...tee.context.traffic } : null;
    const taPid = tee?.context.pid;
    const [reeCpu0, taCpu0] = [await processCpuNs(process.pid), taPid !== undefined ? await processCpuNs(taPid) : 0];
    const t1 = performance.now();
    await train(stepper, ds, idx(spec.warmup * spec.batch, spec.batches * spec.batch), { epochs: 1, seed: spec.seed });
    // The TA's update of the last batch waits for the next command (partitioned.ts): send it inside
    // the timed part, so it holds as many updates as batches (and the warm-up's is flushed by stats()).
    await tee?.flushUpdate();
    const seconds = (performance.now() - t1) / 1000;
    const [reeCpu1, taCpu1] = [await processCpuNs(process.pid), taPid !== undefined ? await processCpuNs(taPid) : 0];
    const reeCpu = reeCpu0 !== null && reeCpu1 !== null ? (reeCpu1 - reeCpu0) / 1e9 : null;
    // An OP-TEE TA is no process: its time runs on the calling thread (in the secure world, through the
    // driver's SMC), so this process's CPU time already holds it and the TA has no figure of its own.
    const inCaller = tee?.context.tee === 'optee';
    const teeCpu = inCaller ? null : taCpu0 !== null && taCpu1 !== null ? (taCpu1 - taCpu0) / 1e9 : null;
    let boundary: RunResult['boundary'] = { to_tee: 0, from_tee: 0, frames: 0 };
    let teePeak = 0;
    let profile: RunResult['profile'];
    let blocks: RunResult['tee_blocks'] = [];
    let taPeak: number | null = null;
    if (tee && traffic0) {
      const t = tee.context.traffic;
      const control = { to: t.bytesToTa - traffic0.bytesToTa, from: t.bytesFromTa - traffic0.bytesFromTa };
      boundary = {
        to_tee: control.to + t.sharedToTa - traffic0.sharedToTa,
        from_tee: control.from + t.sharedFromTa - traffic0.sharedFromTa,
        frames: t.framesToTa + t.framesFromTa - traffic0.framesToTa - traffic0.framesFromTa,
        control_to_tee: control.to,
        control_from_tee: control.from,
      };
      const st = await tee.stats();
      const byCommand: Record<string, number> = {};
      for (const [name, ms] of Object.entries(st.command_ms ?? {})) {
        // GET_STATS itself (the call above) is not part of the timed batches.
        if (name !== 'GET_STATS') byCommand[name] = ms - (handlers0[name] ?? 0);
      }
      profile = { wait_ms: t.waitMs - traffic0.waitMs, ta_handler_ms: Object.values(byCommand).reduce((a, b) => a + b, 0), ta_ms_by_command: byCommand };
      teePeak = st.arena.peak;
      blocks = st.arena.blocks;
      taPeak = await processPeakRss(tee.context.pid);
    }
    return {
      k: spec.k, range, seconds, setup_seconds: setup, images: spec.batches * spec.batch,
      ree_peak_bytes: (await processPeakRss(process.pid)) ?? process.resourceUsage().maxRSS * 1024,
      tee_peak_bytes: teePeak, tee_blocks: blocks, ta_process_peak_bytes: taPeak,
      cpu_s: reeCpu !== null && (teeCpu !== null || inCaller) ? reeCpu + (teeCpu ?? 0) : null, ree_cpu_s: reeCpu, tee_cpu_s: teeCpu,
      boundary,
      ...(tee ? { transport: tee.context.transport } : {}),
      ...(profile ? { profile } : {}),
      kernels: kernels.name, ta_kernels: tee ? tee.context.hello.kernels : null,
      threads: kernelThreads(), ta_threads: tee ? tee.context.hello.threads : null,
    };
  } finally {
    await tee?.close();
  }
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) throw new Error('usage: tee-run.js SPEC.json');
  const spec = JSON.parse(await readFile(file, 'utf8')) as RunSpec;
  const result = await runOnce(spec);
  process.stdout.write(JSON.stringify(result) + '\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => {
    process.stderr.write(`tee-run: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
