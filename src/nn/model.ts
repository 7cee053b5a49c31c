// The one-call way to get a ready network: cfg (+ optional .weights) → Network. The CLI and library
// users both come through here, so defaults (seed, kernels, batch) are decided in one place.
import { getKernels } from '../kernels/index.js';
import type { Kernels } from '../kernels/types.js';
import { loadCfg } from './cfg.js';
import type { NetworkConfig } from './config.js';
import { Network } from './network.js';
import { DARKNET_WEIGHTS_VERSION, loadWeightsFile, saveWeightsFile } from './weights.js';

export const DEFAULT_SEED = 1;

export interface ModelOptions {
  /** A parsed config, or the path of a .cfg file. */
  cfg: NetworkConfig | string;
  /** Path of a .weights file; without it the network starts from its seeded initialisation. */
  weights?: string;
  seed?: number;
  kernels?: Kernels;
  /** Override the cfg's batch (e.g. 1 for latency, or a smaller batch to fit memory). */
  batch?: number;
}

/**
 * The cfg with its batch and/or subdivisions overridden (--batch, --subdivisions, a benchmark's or a
 * predictor's batch). A batch given alone means one forward per batch (subdivisions 1), as when the
 * TEE's out-of-memory message suggests a smaller batch.
 */
export function withBatch(config: NetworkConfig, o: { batch?: number | undefined; subdivisions?: number | undefined }): NetworkConfig {
  if (o.batch === undefined && o.subdivisions === undefined) return config;
  const b = o.batch ?? config.net.batch;
  const s = o.subdivisions ?? (o.batch !== undefined ? 1 : config.net.subdivisions);
  if (!(Number.isInteger(b) && b >= 1)) throw new RangeError(`--batch must be an integer ≥ 1 (got ${b})`);
  if (!(Number.isInteger(s) && s >= 1)) throw new RangeError(`--subdivisions must be an integer ≥ 1 (got ${s})`);
  if (s > b) throw new RangeError(`--subdivisions ${s} exceeds the batch of ${b}`);
  return { ...config, net: { ...config.net, batch: b, subdivisions: s } };
}

export async function loadModel(opts: ModelOptions): Promise<Network> {
  const config = typeof opts.cfg === 'string' ? await loadCfg(opts.cfg) : opts.cfg;
  const cfg = opts.batch ? withBatch(config, { batch: opts.batch }) : config;
  const net = new Network(cfg, { kernels: opts.kernels ?? getKernels(), seed: opts.seed ?? DEFAULT_SEED });
  if (opts.weights) {
    const header = await loadWeightsFile(opts.weights, net.weightsLayers());
    net.seen = header.seen;
  }
  return net;
}

/** Writes the network's parameters as a Darknet .weights file, atomically. */
export async function saveModel(net: Network, path: string): Promise<void> {
  await saveWeightsFile(path, net.weightsLayers(), { ...DARKNET_WEIGHTS_VERSION, seen: net.seen });
}
