// The attacker's rebuilt model: the normal-world layers exactly as the victim's (the attacker holds
// them), the protected layers re-initialised as at the start of training and trained on public data
// with the normal-world layers frozen — Mr of the exposure protocol (src/exposure/protocol.ts),
// generalised from one layer to the whole protected range. Then the loss attack runs on it.
import { makeDataset, type Dataset } from '../data/types.js';
import { getKernels } from '../kernels/index.js';
import { isTrainable, Network } from '../nn/network.js';
import { train } from '../nn/train.js';
import { calibrateThreshold } from './metrics.js';
import type { Oracle } from './oracle.js';
import { subsample, type Pool } from './pools.js';
import { localAnswers } from './query.js';
import { thresholdScore } from './threshold.js';
import type { AttackContext, AttackScores } from './types.js';

/** A network with every layer the attacker holds copied from the victim; protected layers at their seeded initialisation. */
export function attackerNetwork(oracle: Oracle, seed: number): Network {
  const net = new Network(oracle.config, { kernels: getKernels(), seed });
  oracle.copyVisibleInto(net);
  return net;
}

/** cfg indices of the protected layers that have parameters. */
export function hiddenTrainable(oracle: Oracle): number[] {
  const h = oracle.hidden;
  if (!h) return [];
  const out: number[] = [];
  for (let i = h[0]; i <= h[1]; i++) {
    const t = oracle.config.layers[i]!.type;
    if (t === 'convolutional' || t === 'connected') out.push(i);
  }
  return out;
}

/**
 * Trains the protected layers of an attacker network on `data` (its labels), normal-world layers
 * frozen, the optimiser starting fresh as the exposure protocol's fine-tuning does. Nothing to do
 * when no protected layer has parameters.
 */
export async function rebuildProtected(oracle: Oracle, data: Pool, opts: { epochs: number; seed: number; log?: (m: string) => void }): Promise<Network> {
  const net = attackerNetwork(oracle, opts.seed);
  const hidden = hiddenTrainable(oracle);
  if (hidden.length === 0 || opts.epochs === 0) return net;
  net.trainOnly(hidden);
  net.updates = 0;
  for (const l of net.layers) if (isTrainable(l)) for (const p of l.params()) p.updates?.fill(0);
  const r = await train(net, data.ds, data.indices, { epochs: opts.epochs, seed: opts.seed });
  opts.log?.(`rebuilt layers ${hidden.join(', ')} on ${data.indices.length} images × ${opts.epochs} epochs in ${r.seconds.toFixed(1)} s (last epoch loss ${r.loss.toFixed(4)})`);
  return net;
}

/** A pool as a data set of its own with other labels (e.g. the victim's answers, for stealing). */
export function relabelled(pool: Pool, labels: ArrayLike<number>): Dataset {
  const ds = pool.ds;
  const size = ds.channels * ds.height * ds.width;
  const images = new Uint8Array(pool.indices.length * size);
  pool.indices.forEach((idx, i) => images.set(ds.images.subarray(idx * size, (idx + 1) * size), i * size));
  return makeDataset(images, Uint8Array.from(labels), { height: ds.height, width: ds.width, channels: ds.channels }, ds.classNames);
}

/** The substitute the attacker trains on T (or the first `limit` images of a seeded shuffle of it). */
export async function trainSubstitute(ctx: Pick<AttackContext, 'oracle' | 'pools' | 'seed' | 'log' | 'substituteOptions'>): Promise<Network> {
  const { epochs, limit } = ctx.substituteOptions;
  const data = limit !== null ? subsample(ctx.pools.publicData, limit, ctx.seed, 'substitute') : ctx.pools.publicData;
  return rebuildProtected(ctx.oracle, data, { epochs, seed: ctx.seed, log: ctx.log });
}

export async function substituteAttack(ctx: AttackContext): Promise<AttackScores> {
  const net = await ctx.substitute();
  const score = async (p: Pool): Promise<Float64Array> => thresholdScore('loss', await localAnswers(net, p));
  const rebuilt = hiddenTrainable(ctx.oracle);
  return {
    name: 'substitute',
    sees: ctx.oracle.hidden ? ['normal-world-weights', 'public-data', 'known-members', 'substitute'] : ['all-weights', 'known-members'],
    members: await score(ctx.pools.members),
    nonmembers: await score(ctx.pools.nonmembers),
    threshold: calibrateThreshold(await score(ctx.pools.knownMembers), await score(ctx.pools.knownNonmembers)),
    detail: { rebuilt_layers: rebuilt, epochs: ctx.substituteOptions.epochs, public_images: ctx.substituteOptions.limit ?? ctx.pools.publicData.indices.length },
  };
}
