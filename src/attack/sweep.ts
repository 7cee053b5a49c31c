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
import { attack, writeAttack, type AttackDocument, type AttackRunOptions } from './run.js';
import { openVictim, type VictimSpec } from './victim.js';

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
  const records: SweepRecord[] = [];
  for (const p of opts.partitions) {
    const name = partitionName(p);
    const dir = join(opts.out, 'partitions', name);
    const range = partitionRange(p, L);
    let doc: AttackDocument;
    try {
      doc = JSON.parse(await readFile(join(dir, 'attack.json'), 'utf8')) as AttackDocument;
      opts.onResume?.(name);
    } catch {
      opts.log?.(`partition ${partitionLabel(p)}: ${range ? `layers ${range[0]}:${range[1]} in the TEE` : 'nothing protected'}`);
      const spec: VictimSpec = {
        cfg: opts.cfg, weights: opts.weights, seed: opts.victimSeed ?? opts.seed ?? 1, range, policy: opts.policy,
        ...(opts.topk !== undefined ? { topk: opts.topk } : {}),
        ...(opts.secureMem !== undefined ? { secureMem: opts.secureMem } : {}),
        ...(opts.storageDir !== undefined ? { storageDir: opts.storageDir } : {}),
      };
      const victim = await openVictim(spec);
      try {
        doc = await attack({ ...opts, oracle: victim.oracle });
      } finally {
        await victim.close();
      }
      await writeAttack(dir, doc, { title: `Membership inference, ${partitionLabel(p)}: ${range ? `layers ${range[0]}:${range[1]} in the TEE, output ${doc.partition.output}` : 'nothing protected'}` });
    }
    records.push({
      ...doc,
      name,
      label: partitionLabel(p),
      exposure_protected: protectedExposure(opts.exposure, range),
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
