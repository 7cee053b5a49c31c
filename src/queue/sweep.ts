// `layerlock attack sweep … --queue URL`, the coordinator: the partitions without a stored result
// go to `layerlock worker`s as one BullMQ flow (children = one job per partition, each running all
// of that partition's attacks and its stealing, which share the victim and its answers; parent =
// a summary). The cfg and the attacked weights are published content-addressed (blobs.ts); each
// worker checks its own data and engine against the sweep's identity. Every result is validated
// and stored once (attack/sweep.ts storeAttackOnce), and attackSweep then writes sweep.json from
// the stored files exactly as after a local sweep. Job ids derive from the sweep's identity and
// settings, so a restarted coordinator follows its flow instead of enqueueing it again.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { DataSelection } from '../data/select.js';
import { splitST } from '../data/split.js';
import { codeIdentity, datasetsSha256, engineIdentity } from '../exposure/identity.js';
import {
  partitionLabel, partitionName, partitionRange, storeAttackOnce, type PartitionChoice, type PartitionSettings, type SweepOptions,
} from '../attack/sweep.js';
import { publishBlob, sha256 } from './blobs.js';
import { enqueueFlowOnce, followFlow, withQueue } from './flow.js';
import {
  ATTACK_JOB, attackJobId, PAYLOAD_VERSION, SWEEP_JOB, sweepAggregateJobId, sweepKey, validateAttackPayload, validateAttackResult,
  type AttackJobPayload, type SweepAggregatePayload, type SweepIdentity,
} from './payload.js';
import type { QueueTarget } from './url.js';

export interface SweepQueueOptions {
  target: QueueTarget;
  log: (line: string) => void;
  /** How the sweep's data was selected: each worker selects the same from its own copy. */
  selection: DataSelection;
  sweep: SweepOptions;
  settings: PartitionSettings;
  /** The partitions without a stored result. */
  pending: readonly PartitionChoice[];
  /** Tries per job before it fails for good. */
  attempts?: number;
}

const same = (a: Uint32Array, b: Uint32Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** The identity of the sweep on this machine: what each worker must reproduce. */
async function sweepIdentity(o: SweepQueueOptions, cfgText: string, weights: Buffer): Promise<SweepIdentity> {
  const { sweep, selection: sel } = o;
  const { train, test, S, T } = sweep.data;
  // Workers rebuild S and T from the selection; data the caller split otherwise would mix.
  const split = splitST(train.count, sel.seed, sel.split);
  if (!same(split.S, S) || !same(split.T, T)) throw new Error('the sweep\'s S/T split is not the one its data selection (seed, split) makes; a queued sweep needs the library\'s own selection');
  return {
    ...codeIdentity(),
    ...(await engineIdentity()),
    cfg: basename(sweep.cfg),
    cfg_sha256: sha256(cfgText),
    data: sel.data === 'embedded' ? 'embedded' : basename(sel.data.replace(/[\\/]+$/, '')),
    data_sha256: datasetsSha256(train, test),
    train_limit: sel.trainLimit ?? null,
    test_limit: sel.testLimit ?? null,
    train_count: train.count,
    test_count: test.count,
    split: sel.split,
    resize: sel.resize,
    weights: basename(sweep.weights),
    weights_sha256: sha256(weights),
    split_seed: sel.seed,
  };
}

export async function sweepOnQueue(o: SweepQueueOptions): Promise<{ sweep: string; enqueued: number }> {
  const label = 'layerlock attack';
  const cfgText = await readFile(o.sweep.cfg, 'utf8');
  const weights = await readFile(o.sweep.weights);
  const identity = await sweepIdentity(o, cfgText, weights);
  const key = sweepKey(identity, o.settings);
  const L = o.sweep.config.layers.length;
  const byId = new Map(o.pending.map((p) => {
    const payload: AttackJobPayload = { v: PAYLOAD_VERSION, sweep: key, partition: p, identity, settings: o.settings };
    // What a worker would refuse is refused here, before anything is enqueued.
    validateAttackPayload(payload);
    return [attackJobId(key, p), { p, payload }] as const;
  }));
  return withQueue(o.target, label, o.log, async (c) => {
    if ((await publishBlob(c.redis, cfgText)) !== identity.cfg_sha256 || (await publishBlob(c.redis, weights)) !== identity.weights_sha256) {
      throw new Error('internal: a published file does not hash to the sweep\'s identity');
    }
    // The parent names every partition of the command, so a restart that has stored some of them
    // meanwhile finds the same flow.
    const parentId = sweepAggregateJobId(key, o.sweep.partitions);
    const enqueued = await enqueueFlowOnce(c, {
      target: o.target, label, log: o.log,
      parent: { id: parentId, name: SWEEP_JOB, data: { v: PAYLOAD_VERSION, sweep: key } satisfies SweepAggregatePayload },
      children: [...byId].map(([id, j]) => ({ id, name: ATTACK_JOB, data: j.payload })),
      ...(o.attempts !== undefined ? { attempts: o.attempts } : {}),
    });
    const workers = await c.queue.getWorkersCount().catch(() => 0);
    const done = o.sweep.partitions.length - o.pending.length;
    o.log(`${label}: ${o.sweep.partitions.length} partitions, ${done} already done, ${o.pending.length} on the queue ${o.target.display}, sweep ${key}: ` +
      `${enqueued > 0 ? `enqueued ${enqueued - 1} partition job${enqueued === 2 ? '' : 's'} and their aggregation` : 'enqueued earlier, following it'} (${workers} worker${workers === 1 ? '' : 's'} connected now)`);
    await followFlow(c, {
      target: o.target, label, log: o.log, parentId, childIds: [...byId.keys()],
      stalledNote: 'another worker computes it again (with the same numbers)',
      onActive: (id) => o.log(`${label}: partition ${partitionLabel(byId.get(id)!.p)}: started on a worker`),
      onCompleted: async (id, value) => {
        const { p } = byId.get(id)!;
        const doc = validateAttackResult(value, { range: partitionRange(p, L), settings: o.settings });
        const stored = await storeAttackOnce(o.sweep.out, p, doc);
        if (stored === 'conflict') o.log(`${label}: partition ${partitionName(p)} was delivered again with other numbers; keeping the first (the engine is not deterministic here?)`);
        o.log(`${label}: partition ${partitionLabel(p)}: ${stored === 'stored' ? 'done' : 'already stored'}`);
      },
    });
    return { sweep: key, enqueued };
  });
}
