// One partition's attacks end to end: pools, the victim's answers (once), the substitute (once,
// when an attack needs it), each attack's scores → metrics, model stealing, and DIR/attack.json
// with a ROC chart on log–log axes.
import { join } from 'node:path';
import type { Network } from '../nn/network.js';
import { renderSvg, svgToPng } from '../report/charts.js';
import { rocChartSpec } from '../report/attack-chart.js';
import { atomicWrite, ensureDir } from '../util/fsutil.js';
import { labelOnlyAttack } from './label-only.js';
import { applyThreshold, attackMetrics, thinRoc, type AttackMetrics } from './metrics.js';
import type { Oracle } from './oracle.js';
import { selectPools, type AttackData, type AttackPools } from './pools.js';
import { askPool, type PoolAnswers } from './query.js';
import { stealModel, type StealResult } from './steal.js';
import { substituteAttack, trainSubstitute } from './substitute.js';
import { thresholdAttack } from './threshold.js';
import { ATTACK_NAMES, ATTACK_NEEDS, AttackRefused, missingNeed, releaseText, type AttackContext, type AttackName, type AttackScores, type Seen, type SubstituteOptions } from './types.js';
import { whiteboxAttack } from './whitebox.js';

export interface AttackRunOptions {
  oracle: Oracle;
  data: AttackData;
  /** Evaluation members (and as many non-members); the attacker's labelled pool has as many again. */
  members: number;
  /** Default: every attack; those the partition refuses are listed under `refused`. */
  attacks?: readonly AttackName[];
  /** A refused attack is an error (the user asked for it by name). */
  strict?: boolean;
  seed?: number;
  substitute?: Partial<SubstituteOptions>;
  /** Label-only perturbations per example (default 16). */
  perturbations?: number;
  /** Bootstrap replicates of the intervals (default 1000). */
  bootstrap?: number;
  steal?: { queries: number; epochs?: number } | null;
  /** Explicit pools (tests: e.g. "members" the model never saw). */
  pools?: AttackPools;
  log?: (message: string) => void;
}

export interface AttackRecord extends AttackMetrics {
  name: AttackName;
  sees: Seen[];
  /** The threshold the attacker calibrated on its own pool, applied to the evaluation pool. */
  calibrated: { threshold: number; tpr: number; fpr: number; advantage: number; accuracy: number };
  /** How the intervals were computed. */
  ci_method: string;
  seconds: number;
  detail?: Record<string, unknown>;
  /** ROC points [fpr, tpr] (thinned), for charts. */
  roc: [number, number][];
}

export interface AttackDocument {
  /** sees: what this partition releases to the normal world. */
  partition: { tee_layers: [number, number] | null; output: string; sees: string[] };
  /** What each attack needs at least (ATTACK_NEEDS). */
  needs?: Record<string, readonly string[]>;
  members: number;
  nonmembers: number;
  attacks: AttackRecord[];
  refused: { name: AttackName; reason: string }[];
  stealing: StealResult | null;
  /** Top-1 accuracy of the victim on the evaluation members and non-members (the generalisation gap). */
  victim: { members_acc: number; nonmembers_acc: number };
  options: { seed: number; substitute_epochs: number; substitute_limit: number | null; perturbations: number; bootstrap: number; known_members: number };
  seconds: number;
}

function acc(a: PoolAnswers): number {
  let c = 0;
  for (let i = 0; i < a.labels.length; i++) if (a.labels[i] === a.truth[i]) c++;
  return c / a.labels.length;
}

const RUNNERS: Record<AttackName, (ctx: AttackContext) => Promise<AttackScores>> = {
  loss: (ctx) => thresholdAttack(ctx, 'loss'),
  confidence: (ctx) => thresholdAttack(ctx, 'confidence'),
  'label-only': labelOnlyAttack,
  whitebox: whiteboxAttack,
  substitute: substituteAttack,
};

/** Runs the attacks against one partition (the oracle) and measures them. */
export async function attack(opts: AttackRunOptions): Promise<AttackDocument> {
  const t0 = performance.now();
  const seed = opts.seed ?? 1;
  const log = opts.log ?? (() => {});
  const pools = opts.pools ?? selectPools(opts.data, opts.members, seed);
  const oracle = opts.oracle;
  const subOpts: SubstituteOptions = { epochs: opts.substitute?.epochs ?? 5, limit: opts.substitute?.limit ?? null };
  let answers: Awaited<ReturnType<AttackContext['answers']>> | null = null;
  let substitute: Promise<Network> | null = null;
  const ctx: AttackContext = {
    oracle,
    pools,
    seed,
    log,
    substituteOptions: subOpts,
    perturbations: opts.perturbations ?? 16,
    bootstrap: opts.bootstrap ?? 1000,
    answers: async () => {
      answers ??= {
        members: await askPool(oracle, pools.members),
        nonmembers: await askPool(oracle, pools.nonmembers),
        knownMembers: await askPool(oracle, pools.knownMembers),
        knownNonmembers: await askPool(oracle, pools.knownNonmembers),
      };
      return answers;
    },
    substitute: () => (substitute ??= trainSubstitute(ctx)),
  };
  const bootstrap = opts.bootstrap ?? 1000;
  const records: AttackRecord[] = [];
  const refused: { name: AttackName; reason: string }[] = [];
  for (const name of opts.attacks ?? ATTACK_NAMES) {
    const ta = performance.now();
    let s: AttackScores;
    try {
      const missing = missingNeed(name, oracle.visible);
      if (missing !== null && name !== 'loss' && name !== 'confidence') throw new AttackRefused(name, `attack ${name} needs ${missing}, but ${releaseText(oracle)}`);
      s = await RUNNERS[name](ctx);
    } catch (e) {
      if (e instanceof AttackRefused && !opts.strict) {
        log(`attack ${name}: refused — ${e.message}`);
        refused.push({ name, reason: e.message });
        continue;
      }
      throw e;
    }
    const m = attackMetrics(s.members, s.nonmembers, { bootstrap, seed });
    const { roc, ...metrics } = m;
    if (s.ci) {
      metrics.auc_ci95 = s.ci.auc;
      metrics.tpr_at_fpr_ci95 = { '0.001': s.ci.tpr001, '0.01': s.ci.tpr01 };
    }
    const rec: AttackRecord = {
      name,
      sees: s.sees,
      ...metrics,
      calibrated: applyThreshold(s.members, s.nonmembers, s.threshold),
      ci_method: s.ci ? `${s.ci.method}, ${s.ci.replicates} replicates` : `percentile bootstrap over the evaluation pool, ${bootstrap} replicates`,
      seconds: (performance.now() - ta) / 1000,
      ...(s.detail ? { detail: s.detail } : {}),
      roc: thinRoc(roc, 200).map((p) => [p.fpr, p.tpr]),
    };
    records.push(rec);
    log(`attack ${name}: AUC ${rec.auc.toFixed(3)} [${rec.auc_ci95[0].toFixed(3)}, ${rec.auc_ci95[1].toFixed(3)}], TPR@1%FPR ${rec.tpr_at_fpr['0.01'].toFixed(4)}, advantage ${rec.advantage.toFixed(3)} (${rec.seconds.toFixed(1)} s)`);
  }
  const a = await ctx.answers();
  let stealing: StealResult | null = null;
  if (opts.steal) {
    stealing = await stealModel(oracle, pools, { queries: opts.steal.queries, epochs: opts.steal.epochs ?? subOpts.epochs, seed, log });
    log(`stealing with ${stealing.queries} queries: surrogate ${(100 * stealing.surrogate_acc).toFixed(2)} % (agreement ${(100 * stealing.agreement).toFixed(2)} %), black box ${(100 * stealing.blackbox_acc).toFixed(2)} %, victim ${(100 * stealing.victim_acc).toFixed(2)} %`);
  }
  return {
    partition: { tee_layers: oracle.hidden ? [oracle.hidden[0], oracle.hidden[1]] : null, output: oracle.output, sees: [...oracle.visible] },
    needs: Object.fromEntries((opts.attacks ?? ATTACK_NAMES).map((n) => [n, ATTACK_NEEDS[n]])),
    members: pools.members.indices.length,
    nonmembers: pools.nonmembers.indices.length,
    attacks: records,
    refused,
    stealing,
    victim: { members_acc: acc(a.members), nonmembers_acc: acc(a.nonmembers) },
    options: { seed, substitute_epochs: subOpts.epochs, substitute_limit: subOpts.limit, perturbations: ctx.perturbations, bootstrap, known_members: pools.knownMembers.indices.length },
    seconds: (performance.now() - t0) / 1000,
  };
}

export function partitionTitle(doc: Pick<AttackDocument, 'partition'>): string {
  const p = doc.partition;
  return p.tee_layers ? `layers ${p.tee_layers[0]}:${p.tee_layers[1]} in the TEE, output ${p.output}` : 'nothing protected (white-box, full output)';
}

/** DIR/roc.svg, DIR/roc.png and DIR/attack.json (written last, atomically: its presence means done). */
export async function writeAttack(dir: string, doc: AttackDocument, opts: { charts?: boolean; title?: string } = {}): Promise<void> {
  await ensureDir(dir, 0o755);
  if ((opts.charts ?? true) && doc.attacks.length > 0) {
    const spec = rocChartSpec(
      doc.attacks.map((r) => ({ name: r.name, auc: r.auc, points: r.roc.map(([fpr, tpr]) => ({ fpr, tpr })) })),
      opts.title ?? `Membership inference: ${partitionTitle(doc)}`,
      1 / Math.max(doc.nonmembers, doc.members),
    );
    const svg = await renderSvg(spec);
    await atomicWrite(join(dir, 'roc.svg'), svg);
    await atomicWrite(join(dir, 'roc.png'), await svgToPng(svg));
  }
  await atomicWrite(join(dir, 'attack.json'), JSON.stringify(doc, null, 2) + '\n');
}
