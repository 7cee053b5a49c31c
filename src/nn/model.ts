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

export async function loadModel(opts: ModelOptions): Promise<Network> {
  const config = typeof opts.cfg === 'string' ? await loadCfg(opts.cfg) : opts.cfg;
  const cfg = opts.batch ? { ...config, net: { ...config.net, batch: opts.batch, subdivisions: 1 } } : config;
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
