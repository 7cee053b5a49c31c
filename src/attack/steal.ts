// Model stealing, scored as TEESlice (Zhang et al., S&P 2024) scores a partition: with the
// normal-world layers and Q top-1 queries on public data, the attacker trains a surrogate of the
// protected part (the victim's answers as labels); its test accuracy and its agreement with the
// victim are set next to the victim's accuracy and a black-box baseline — the same architecture
// trained from scratch on the same Q answers, without the normal-world layers.
import { getKernels } from '../kernels/index.js';
import { Network } from '../nn/network.js';
import { train } from '../nn/train.js';
import type { Oracle } from './oracle.js';
import { subsample, type AttackPools } from './pools.js';
import { askPool, localAnswers } from './query.js';
import { hiddenTrainable, rebuildProtected, relabelled } from './substitute.js';

export interface StealOptions {
  queries: number;
  epochs: number;
  seed: number;
  log?: (m: string) => void;
}

export interface StealResult {
  queries: number;
  surrogate_acc: number;
  agreement: number;
  victim_acc: number;
  blackbox_acc: number;
  blackbox_agreement: number;
  epochs: number;
  /** Layers the surrogate had to learn (the protected trainable ones). */
  rebuilt_layers: number[];
}

function accuracy(labels: Int32Array, truth: Uint8Array): number {
  let c = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === truth[i]) c++;
  return c / labels.length;
}

function agreement(a: Int32Array, b: Int32Array): number {
  let c = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) c++;
  return c / a.length;
}

export async function stealModel(oracle: Oracle, pools: AttackPools, opts: StealOptions): Promise<StealResult> {
  if (!(Number.isInteger(opts.queries) && opts.queries >= 1)) throw new RangeError(`--queries must be a positive integer (got ${opts.queries})`);
  const q = subsample(pools.publicData, opts.queries, opts.seed, 'steal');
  const answered = await askPool(oracle, q);
  const ds = relabelled(q, answered.labels);
  const labelledQueries = { ds, indices: Uint32Array.from({ length: ds.count }, (_, i) => i) };
  const surrogate = await rebuildProtected(oracle, labelledQueries, { epochs: opts.epochs, seed: opts.seed ^ 0x5eed, log: opts.log });
  // The black box: every layer from its initialisation, trained on the same answers.
  const blackbox = new Network(oracle.config, { kernels: getKernels(), seed: opts.seed ^ 0xb1ac });
  const r = await train(blackbox, ds, labelledQueries.indices, { epochs: opts.epochs, seed: opts.seed });
  opts.log?.(`black-box baseline trained on ${ds.count} answers × ${opts.epochs} epochs in ${r.seconds.toFixed(1)} s`);
  const victim = await askPool(oracle, pools.test);
  const sur = await localAnswers(surrogate, pools.test);
  const bb = await localAnswers(blackbox, pools.test);
  return {
    queries: q.indices.length,
    surrogate_acc: accuracy(sur.labels, victim.truth),
    agreement: agreement(sur.labels, victim.labels),
    victim_acc: accuracy(victim.labels, victim.truth),
    blackbox_acc: accuracy(bb.labels, victim.truth),
    blackbox_agreement: agreement(bb.labels, victim.labels),
    epochs: opts.epochs,
    rebuilt_layers: hiddenTrainable(oracle),
  };
}
