// Opening the victim as the attacker meets it: either the whole model (nothing protected, full
// output: the white-box baseline) or a partition whose protected layers are handed to the TA and
// wiped from this process before any attack code runs (PartitionedNetwork.loadWeights), so the
// attack only ever holds an Oracle.
import { readFile } from 'node:fs/promises';
import { getKernels } from '../kernels/index.js';
import { openInstalled } from '../deploy/device.js';
import { loadModel } from '../nn/model.js';
import type { TeecContext } from '../tee/client.js';
import { PartitionedNetwork } from '../tee/partitioned.js';
import { taKernelChoice } from '../tee/options.js';
import type { OutputPolicy } from '../tee/shared/protocol.js';
import { TeeOracle, WholeModelOracle, type Oracle } from './oracle.js';

export interface VictimSpec {
  cfg: string;
  weights: string;
  seed: number;
  /** The protected range, or null (nothing protected). */
  range: readonly [number, number] | null;
  policy: OutputPolicy;
  topk?: number;
  secureMem?: number;
  storageDir?: string;
  /** Images per query (default the cfg's batch/subdivisions). */
  batch?: number;
  /** An existing TA context (tests record its transcript); not finalized by close(). */
  context?: TeecContext;
}

export interface Victim {
  oracle: Oracle;
  /** The TA's process id, when there is a partition. */
  taPid: number | null;
  close(): Promise<void>;
}

export async function openVictim(spec: VictimSpec): Promise<Victim> {
  if (!spec.range) {
    const net = await loadModel({ cfg: spec.cfg, weights: spec.weights, seed: spec.seed, ...(spec.batch ? { batch: spec.batch } : {}) });
    return { oracle: new WholeModelOracle(net), taPid: null, close: async () => {} };
  }
  const kernels = getKernels();
  const text = await readFile(spec.cfg, 'utf8');
  const pn = await PartitionedNetwork.open({
    cfg: { text, file: spec.cfg },
    weights: spec.weights,
    seed: spec.seed,
    ...(spec.batch ? { batch: spec.batch } : {}),
    range: spec.range,
    mode: 'infer',
    policy: spec.policy,
    ...(spec.topk !== undefined ? { topk: spec.topk } : {}),
    kernels,
    ...(spec.context ? { context: spec.context } : {}),
    contextOptions: { secureMem: spec.secureMem, storageDir: spec.storageDir, kernels: taKernelChoice() },
  });
  return { oracle: new TeeOracle(pn), taPid: pn.context.hello.pid, close: () => pn.close() };
}

/**
 * The victim as deployed: a model installed on a device folder (layerlock install). The protected
 * layers are unsealed only inside the TA, so this process — and the attack — never holds them in
 * any form; the normal world has its own layers and the TEE's sanitised answers.
 */
export async function openDeviceVictim(dev: string, opts: { seed?: number; batch?: number; policy?: OutputPolicy; topk?: number } = {}): Promise<Victim> {
  const kernels = getKernels();
  const m = await openInstalled(dev, {
    mode: 'infer',
    tee: { kernels: kernels.name === 'reference' ? 'reference' : 'auto' },
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.batch !== undefined ? { batch: opts.batch } : {}),
    ...(opts.policy !== undefined ? { policy: opts.policy } : {}),
    ...(opts.topk !== undefined ? { topk: opts.topk } : {}),
  });
  return { oracle: new TeeOracle(m.net), taPid: m.net.context.hello.pid, close: () => m.close() };
}
