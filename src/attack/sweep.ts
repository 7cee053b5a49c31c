// The same attacks for several partitions in one resumable run: one folder per partition
// (DIR/partitions/<name>/attack.json, written atomically last, so a killed sweep redoes at most the
// partition it was in), then DIR/sweep.json with one record per partition and the figure "attack
// AUC (and TPR at 1 % FPR) vs layers in the TEE", with the exposure inside the TEE when given.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NetworkConfig } from '../nn/config.js';
import { renderSvg, svgToPng } from '../report/charts.js';
import { sweepChartSpec, type SweepPoint } from '../report/attack-chart.js';
import type { OutputPolicy } from '../tee/shared/protocol.js';
import { atomicWrite, ensureDir } from '../util/fsutil.js';
import type { ExposureInput } from '../bench/plan.js';
import { lastLayers } from '../tee/options.js';
import type { DataSelection } from '../data/select.js';
import type { QueueTarget } from '../queue/url.js';
import type { AttackData } from './pools.js';
import { attack, writeAttack, type AttackDocument, type AttackRunOptions } from './run.js';
import { ATTACK_NAMES, type AttackName } from './types.js';
import { openVictim } from './victim.js';

/** One partition of a sweep: the last k layers, or an explicit range. */
export type PartitionChoice = { kind: 'last'; k: number } | { kind: 'range'; start: number; end: number };

export function partitionName(p: PartitionChoice): string {
  return p.kind === 'last' ? `k${p.k}` : `l${p.start}-${p.end}`;
}

export function partitionLabel(p: PartitionChoice): string {
  return p.kind === 'last' ? `k=${p.k}` : `${p.start}:${p.end}`;
}

export function partitionRange(p: PartitionChoice, layers: number): [number, number] | null {
  return p.kind === 'range' ? [p.start, p.end] : lastLayers(p.k, layers);
}

export interface SweepOptions extends Omit<AttackRunOptions, 'oracle'> {
  cfg: string;
  config: NetworkConfig;
  weights: string;
  partitions: readonly PartitionChoice[];
  policy: OutputPolicy;
  topk?: number;
  secureMem?: number;
  storageDir?: string;
  out: string;
  /** Seed the victim is opened with (default: seed). */
  victimSeed?: number;
  exposure?: ExposureInput | null;
  /** Called when a partition is skipped because its result exists. */
  onResume?: (name: string) => void;
  /**
   * Compute the partitions on `layerlock worker`s through this queue instead of here (queue/sweep.ts).
   * `selection` is how the data was selected, so every worker can load the same from its own copy.
   */
  queue?: { target: QueueTarget; log: (line: string) => void; selection: DataSelection };
}

/**
 * Everything one partition's attacks depend on besides the model, the data and the partition: the
 * fields a queued partition job carries (queue/payload.ts validates them). Local and queued sweeps
 * both go through it, so they run the attacks with the same settings by construction.
 */
export interface PartitionSettings {
  attacks: AttackName[];
  members: number;
  /** The attacker's seed (pools, substitute, bootstrap). */
  seed: number;
  /** The seed the victim is opened with. */
  victim_seed: number;
  substitute_epochs: number;
  substitute_limit: number | null;
  perturbations: number;
  bootstrap: number;
  steal: { queries: number; epochs: number | null } | null;
  output: OutputPolicy;
  topk: number | null;
  secure_mem: number | null;
}

export function partitionSettings(opts: SweepOptions): PartitionSettings {
  const seed = opts.seed ?? 1;
  return {
    attacks: [...(opts.attacks ?? ATTACK_NAMES)],
    members: opts.members,
    seed,
    victim_seed: opts.victimSeed ?? seed,
    // The defaults are attack()'s (run.ts), made explicit so that a job names every setting.
    substitute_epochs: opts.substitute?.epochs ?? 5,
    substitute_limit: opts.substitute?.limit ?? null,
    perturbations: opts.perturbations ?? 16,
    bootstrap: opts.bootstrap ?? 1000,
    steal: opts.steal ? { queries: opts.steal.queries, epochs: opts.steal.epochs ?? null } : null,
    output: opts.policy,
    topk: opts.topk ?? null,
    secure_mem: opts.secureMem ?? null,
  };
}

/** The model and data of a partition's attacks, as they are where it runs (paths are local). */
export interface PartitionInputs {
  cfg: string;
  weights: string;
  /** Layers of the network (partitionRange). */
  layers: number;
  data: AttackData;
  storageDir?: string;
  log?: (message: string) => void;
}

/** One partition's attacks: the victim opened with the partition, attacked, closed. */
export async function attackPartition(p: PartitionChoice, s: PartitionSettings, inputs: PartitionInputs): Promise<AttackDocument> {
  const range = partitionRange(p, inputs.layers);
  inputs.log?.(`partition ${partitionLabel(p)}: ${range ? `layers ${range[0]}:${range[1]} in the TEE` : 'nothing protected'}`);
  const victim = await openVictim({
    cfg: inputs.cfg, weights: inputs.weights, seed: s.victim_seed, range, policy: s.output,
    ...(s.topk !== null ? { topk: s.topk } : {}),
    ...(s.secure_mem !== null ? { secureMem: s.secure_mem } : {}),
    ...(inputs.storageDir !== undefined ? { storageDir: inputs.storageDir } : {}),
  });
  try {
    return await attack({
      oracle: victim.oracle, data: inputs.data, members: s.members, attacks: s.attacks, seed: s.seed,
      substitute: { epochs: s.substitute_epochs, limit: s.substitute_limit },
      perturbations: s.perturbations, bootstrap: s.bootstrap,
      steal: s.steal ? { queries: s.steal.queries, ...(s.steal.epochs !== null ? { epochs: s.steal.epochs } : {}) } : null,
      ...(inputs.log ? { log: inputs.log } : {}),
    });
  } finally {
    await victim.close();
  }
}

export function partitionDir(out: string, p: PartitionChoice): string {
  return join(out, 'partitions', partitionName(p));
}

async function readAttack(dir: string): Promise<AttackDocument | null> {
  try {
    return JSON.parse(await readFile(join(dir, 'attack.json'), 'utf8')) as AttackDocument;
  } catch {
    return null;
  }
}

/**
 * Writes a partition's result unless one is already stored: a result delivered twice (a queue
 * job completed again, a restarted coordinator) is compared, not written again. Equal means equal
 * apart from the timings.
 */
export async function storeAttackOnce(out: string, p: PartitionChoice, doc: AttackDocument): Promise<'stored' | 'duplicate' | 'conflict'> {
  const dir = partitionDir(out, p);
  const kept = await readAttack(dir);
  if (kept === null) {
    // The victim's protected range is the partition's (doc.partition.tee_layers), known without the cfg.
    const tl = doc.partition.tee_layers;
    await writeAttack(dir, doc, { title: `Membership inference, ${partitionLabel(p)}: ${tl ? `layers ${tl[0]}:${tl[1]} in the TEE, output ${doc.partition.output}` : 'nothing protected'}` });
    return 'stored';
  }
  return JSON.stringify(withoutTimings(kept)) === JSON.stringify(withoutTimings(JSON.parse(JSON.stringify(doc)) as unknown)) ? 'duplicate' : 'conflict';
}

/** A document without its wall-clock fields, which differ between two computations of the same numbers. */
export function withoutTimings(doc: unknown): unknown {
  if (Array.isArray(doc)) return doc.map(withoutTimings);
  if (doc && typeof doc === 'object') return Object.fromEntries(Object.entries(doc).filter(([k]) => k !== 'seconds').map(([k, v]) => [k, withoutTimings(v)]));
  return doc;
}

export interface SweepRecord extends Omit<AttackDocument, 'attacks'> {
  name: string;
  label: string;
  /** Exposure of the trainable layers inside the TEE (with exposure results). */
  exposure_protected: number | null;
  attacks: Omit<AttackDocument['attacks'][number], 'roc'>[];
}

export interface SweepDocument {
  cfg: string;
  weights: string;
  output: OutputPolicy;
  partitions: SweepRecord[];
}

function protectedExposure(ex: ExposureInput | null | undefined, range: [number, number] | null): number | null {
  if (!ex) return null;
  if (!range) return 0;
  return ex.layers.filter((l) => l.index >= range[0] && l.index <= range[1]).reduce((a, l) => a + Math.max(0, l.exposure ?? 0), 0);
}

export async function attackSweep(opts: SweepOptions): Promise<SweepDocument> {
  await ensureDir(opts.out, 0o755);
  const L = opts.config.layers.length;
  const settings = partitionSettings(opts);
  const pending: PartitionChoice[] = [];
  for (const p of opts.partitions) {
    if ((await readAttack(partitionDir(opts.out, p))) !== null) opts.onResume?.(partitionName(p));
    else if (!pending.some((q) => partitionName(q) === partitionName(p))) pending.push(p);
  }
  if (pending.length > 0 && opts.queue) {
    // Loaded only here, so a local sweep never loads the Redis client.
    const { sweepOnQueue } = await import('../queue/sweep.js');
    await sweepOnQueue({ ...opts.queue, sweep: opts, settings, pending });
  } else {
    for (const p of pending) {
      const doc = await attackPartition(p, settings, {
        cfg: opts.cfg, weights: opts.weights, layers: L, data: opts.data,
        ...(opts.storageDir !== undefined ? { storageDir: opts.storageDir } : {}),
        ...(opts.log ? { log: opts.log } : {}),
      });
      await storeAttackOnce(opts.out, p, doc);
    }
  }
  // Every record comes from its stored file, however it was computed: a resumed, a local and a
  // queued sweep write the same sweep.json.
  const records: SweepRecord[] = [];
  for (const p of opts.partitions) {
    const doc = await readAttack(partitionDir(opts.out, p));
    if (doc === null) throw new Error(`internal: partition ${partitionName(p)} has no stored result`);
    records.push({
      ...doc,
      name: partitionName(p),
      label: partitionLabel(p),
      exposure_protected: protectedExposure(opts.exposure, partitionRange(p, L)),
      attacks: doc.attacks.map(({ roc: _roc, ...r }) => r),
    });
  }
  const sweep: SweepDocument = { cfg: opts.cfg, weights: opts.weights, output: opts.policy, partitions: records };
  await writeSweepOutputs(opts.out, sweep, opts.exposure ?? null);
  return sweep;
}

/** DIR/sweep.json and the figure DIR/sweep.svg, DIR/sweep.png. */
export async function writeSweepOutputs(dir: string, sweep: SweepDocument, exposure: ExposureInput | null): Promise<void> {
  const points: SweepPoint[] = sweep.partitions.flatMap((r) => r.attacks.map((a) => ({
    partition: r.label, attack: a.name, auc: a.auc, lo: a.auc_ci95[0], hi: a.auc_ci95[1], tpr1: a.tpr_at_fpr['0.01'],
  })));
  if (points.length > 0) {
    const ex = exposure ? sweep.partitions.map((r) => ({ partition: r.label, exposure: r.exposure_protected ?? 0 })) : null;
    const svg = await renderSvg(sweepChartSpec(points, ex, `Membership inference vs layers in the TEE (${sweep.cfg}, output ${sweep.output})`));
    await atomicWrite(join(dir, 'sweep.svg'), svg);
    await atomicWrite(join(dir, 'sweep.png'), await svgToPng(svg));
  }
  await atomicWrite(join(dir, 'sweep.json'), JSON.stringify(sweep, null, 2) + '\n');
}
