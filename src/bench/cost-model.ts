// A simple model of the time a TEE partition adds to fine-tuning (or inference), for the planner:
//
//   overhead per batch = round trips × c_rt + boundary bytes × c_byte + (s − 1) × Σ_{l in range} t_l
//   baseline per batch = Σ_{all l} t_l
//   predicted overhead = overhead / baseline
//
// Round trips and bytes per batch are exact (src/bench/boundary.ts: one TRAIN_STEP or a FORWARD +
// BACKWARD per forward pass, one UPDATE per batch). t_l, the normal world's time for layer l, is
// estimated from its arithmetic: convolutions and connected layers by FLOPs (forward 2·MACs;
// backward the weight gradient and, unless nothing below needs it, the input gradient: 2·MACs each)
// at a rate of r FLOP/s; parameter-free layers by the values they touch (c_elem seconds per value,
// forward and backward). s is how much slower the same layer runs inside the TEE: 1 in this emulation
// (same kernels and threads on both sides), larger on a device whose secure world is single-threaded.
//
// The constants (c_rt, c_byte, r, c_elem) are fitted to a cost benchmark's bench.json by least
// squares (fitCostParams): the per-batch overhead of each k against k = 0 (CPU time paired by
// repetition when measured, else wall time), regressed on that configuration's round trips and
// bytes, and r from the baseline's time per batch. DEFAULT_COST comes from
// experiments/tee-cost-mnist on the development machine; `layerlock plan --cost-from DIR` refits.
import type { NetworkConfig } from '../nn/config.js';
import { shapeSize } from '../nn/layer.js';
import { layerShapes } from '../nn/network.js';
import { trainingTraffic } from './boundary.js';
import type { Mode } from './memory.js';

export interface CostParams {
  /** Seconds per round trip (request and reply) between the worlds. */
  roundTripSeconds: number;
  /** Seconds per byte on the wire (framing, pipe copies), either direction. */
  byteSeconds: number;
  /** Normal-world arithmetic rate of convolutions and connected layers, FLOP/s. */
  flopsPerSecond: number;
  /** Seconds per value a parameter-free layer touches (forward and backward each). */
  elementSeconds: number;
  /** How many times slower a layer runs inside the TEE than outside (1: same speed). */
  teeSlowdown: number;
  /** Where the constants come from. */
  source: string;
}

export const DEFAULT_COST: CostParams = {
  // fitCostParams on experiments/tee-cost-mnist/bench.json: VGG-7 MNIST, batch 128, 30 × 40 batches,
  // shared-memory transport with mailbox doorbells and one round trip per batch (the update rides on
  // the next TRAIN_STEP), native AVX-512 kernels on 2 threads on both sides, the 2026-12-01 06:36 run
  // with the exposure experiment paused. The round trip is large (2 ms of CPU across both processes)
  // because it stands for everything a world switch costs here: waking the other process and its
  // parked kernel threads, and the copies around the arithmetic; see that folder's README.
  roundTripSeconds: 1.99e-3,
  byteSeconds: 0.33e-9,
  flopsPerSecond: 85e9,
  elementSeconds: 1e-9,
  teeSlowdown: 1,
  source: 'fitted to experiments/tee-cost-mnist (CPU time paired by repetition, the development machine)',
};

/** FLOPs (or touched values, for parameter-free layers) of layer i for `batch` images. */
export function layerWork(config: NetworkConfig, i: number, batch: number, mode: Mode): { flops: number; values: number } {
  const shapes = layerShapes(config);
  const lc = config.layers[i]!;
  const inS = shapes[i]!;
  const outS = shapes[i + 1]!;
  const hasBelow = config.layers.slice(0, i).some((l) => l.type === 'convolutional' || l.type === 'connected');
  let macs = 0;
  if (lc.type === 'convolutional') macs = lc.filters * inS.c * lc.size * lc.size * outS.h * outS.w;
  else if (lc.type === 'connected') macs = lc.output * shapeSize(inS);
  if (macs > 0) {
    const passes = mode === 'infer' ? 1 : hasBelow ? 3 : 2;
    return { flops: 2 * macs * passes * batch, values: 0 };
  }
  const values = (shapeSize(inS) + shapeSize(outS)) * batch * (mode === 'infer' ? 1 : 2);
  return { flops: 0, values };
}

export function layerSeconds(config: NetworkConfig, i: number, batch: number, mode: Mode, p: CostParams): number {
  const w = layerWork(config, i, batch, mode);
  return w.flops / p.flopsPerSecond + w.values * p.elementSeconds;
}

export interface CostPrediction {
  baselineSeconds: number;
  overheadSeconds: number;
  overheadPct: number;
  roundTrips: number;
  wireBytes: number;
  /** The layers' own time inside the range (what teeSlowdown scales). */
  rangeSeconds: number;
}

/** Boundary traffic of one inference batch: FORWARD with the activation in and the output out. */
function inferenceTraffic(config: NetworkConfig, start: number, end: number, batch: number): { roundTrips: number; wireBytes: number } {
  const shapes = layerShapes(config);
  const L = config.layers.length;
  const inBytes = 4 * batch * shapeSize(shapes[start]!);
  // Out: layer end's activation when layers above run outside, else top-1 labels (int32 per image).
  const outBytes = end < L - 1 ? 4 * batch * shapeSize(shapes[end + 1]!) : 4 * batch;
  // FORWARD frames (wire.ts): request 5 + 16 + (4 + in) + 8 + 4, reply 5 + 24 + 5 + out.
  return { roundTrips: 1, wireBytes: 5 + 16 + 4 + inBytes + 8 + 4 + 5 + 24 + 5 + outBytes };
}

/** Predicted time overhead of running [start, end] in the TEE, per batch of the cfg. */
export function predictOverhead(config: NetworkConfig, start: number, end: number, mode: Mode, p: CostParams): CostPrediction {
  const batch = config.net.batch;
  const perForward = Math.max(1, Math.floor(batch / config.net.subdivisions));
  const L = config.layers.length;
  let baseline = 0;
  let inRange = 0;
  for (let i = 0; i < L; i++) {
    const t = layerSeconds(config, i, batch, mode, p);
    baseline += t;
    if (i >= start && i <= end) inRange += t;
  }
  let roundTrips: number;
  let wireBytes: number;
  if (mode === 'train') {
    const t = trainingTraffic(config, start, end, batch, perForward);
    roundTrips = t.roundTrips;
    wireBytes = t.wireToTee + t.wireFromTee;
  } else {
    ({ roundTrips, wireBytes } = inferenceTraffic(config, start, end, batch));
  }
  const overhead = roundTrips * p.roundTripSeconds + wireBytes * p.byteSeconds + (p.teeSlowdown - 1) * inRange;
  return { baselineSeconds: baseline, overheadSeconds: overhead, overheadPct: (100 * overhead) / baseline, roundTrips, wireBytes, rangeSeconds: inRange };
}

/** What fitCostParams reads from a bench.json. */
export interface BenchForFit {
  options: { batches: number; batch?: number };
  configs: {
    k: number;
    time: { mean: number };
    boundary: { per_batch: number; round_trips_per_batch: number };
    cpu_s?: { mean: number } | null;
    overhead_time_paired_pct?: number;
    overhead_cpu_paired_pct?: number | null;
  }[];
}

/**
 * Per-batch baseline seconds and per-configuration overhead seconds of a benchmark: from CPU time
 * paired by repetition when the runs measured it (robust to other jobs on a shared machine), else
 * from wall time paired by repetition, else from the wall-time means.
 */
export function benchOverheads(bench: BenchForFit): { measure: string; baseline: number; rows: { k: number; roundTrips: number; bytes: number; overhead: number }[] } {
  const batches = bench.options.batches;
  const b0 = bench.configs.find((c) => c.k === 0);
  if (!b0) throw new Error('no k = 0 baseline to fit against');
  const cpu = bench.configs.every((c) => c.cpu_s && (c.k === 0 || typeof c.overhead_cpu_paired_pct === 'number'));
  const paired = bench.configs.every((c) => c.k === 0 || typeof c.overhead_time_paired_pct === 'number');
  const baseline = (cpu ? b0.cpu_s!.mean : b0.time.mean) / batches;
  const rows = bench.configs.filter((c) => c.k > 0).map((c) => ({
    k: c.k,
    roundTrips: c.boundary.round_trips_per_batch,
    bytes: c.boundary.per_batch,
    overhead: cpu ? (c.overhead_cpu_paired_pct! / 100) * baseline
      : paired ? (c.overhead_time_paired_pct! / 100) * baseline
        : c.time.mean / batches - baseline,
  }));
  return { measure: cpu ? 'CPU time, paired by repetition' : paired ? 'wall time, paired by repetition' : 'wall time', baseline, rows };
}

/**
 * Fits c_rt and c_byte (non-negative least squares on the per-batch overheads of k ≥ 1 against k = 0)
 * and r (so that the FLOP/element estimate of the baseline equals its measured time per batch).
 */
export function fitCostParams(config: NetworkConfig, bench: BenchForFit, source: string, base: CostParams = DEFAULT_COST): CostParams {
  const measured = benchOverheads(bench);
  const t0 = measured.baseline;
  const rows = measured.rows.map((r) => ({ x1: r.roundTrips, x2: r.bytes, y: r.overhead }));
  const fit1 = (xs: number[], ys: number[]): number => {
    const sxx = xs.reduce((a, x) => a + x * x, 0);
    return sxx > 0 ? Math.max(0, xs.reduce((a, x, i) => a + x * ys[i]!, 0) / sxx) : 0;
  };
  let rt = 0;
  let by = 0;
  if (rows.length >= 2) {
    const s11 = rows.reduce((a, r) => a + r.x1 * r.x1, 0);
    const s22 = rows.reduce((a, r) => a + r.x2 * r.x2, 0);
    const s12 = rows.reduce((a, r) => a + r.x1 * r.x2, 0);
    const s1y = rows.reduce((a, r) => a + r.x1 * r.y, 0);
    const s2y = rows.reduce((a, r) => a + r.x2 * r.y, 0);
    const det = s11 * s22 - s12 * s12;
    if (Math.abs(det) > 1e-12 * s11 * s22) {
      rt = (s1y * s22 - s2y * s12) / det;
      by = (s11 * s2y - s12 * s1y) / det;
    }
    if (!(rt >= 0 && by >= 0)) {
      // Constrained: keep the better one-variable fit.
      const ys = rows.map((r) => r.y);
      const a = fit1(rows.map((r) => r.x1), ys);
      const b = fit1(rows.map((r) => r.x2), ys);
      const sse = (f: (r: (typeof rows)[number]) => number): number => rows.reduce((s, r) => s + (r.y - f(r)) ** 2, 0);
      if (sse((r) => a * r.x1) <= sse((r) => b * r.x2)) {
        rt = a;
        by = 0;
      } else {
        rt = 0;
        by = b;
      }
    }
  } else if (rows.length === 1) {
    rt = fit1([rows[0]!.x1], [rows[0]!.y]);
  }
  const batch = bench.options.batch ?? config.net.batch;
  let flops = 0;
  let values = 0;
  for (let i = 0; i < config.layers.length; i++) {
    const w = layerWork(config, i, batch, 'train');
    flops += w.flops;
    values += w.values;
  }
  const computeSeconds = Math.max(t0 - values * base.elementSeconds, t0 * 0.5);
  return {
    roundTripSeconds: rt,
    byteSeconds: by,
    flopsPerSecond: flops / computeSeconds,
    elementSeconds: base.elementSeconds,
    teeSlowdown: base.teeSlowdown,
    source: `${source} (${measured.measure})`,
  };
}
