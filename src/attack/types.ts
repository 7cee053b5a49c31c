// The vocabulary shared by the attacks: names, what each saw, refusals, and the scores an attack
// hands to the metrics (higher = "member").
import type { Network } from '../nn/network.js';
import type { Oracle, Visible } from './oracle.js';
import type { AttackPools } from './pools.js';
import type { PoolAnswers } from './query.js';

export const ATTACK_NAMES = ['loss', 'confidence', 'label-only', 'whitebox', 'substitute'] as const;
export type AttackName = (typeof ATTACK_NAMES)[number];

/**
 * What each attack needs to see of the victim at least (it uses more when the partition releases
 * more: e.g. whitebox adds the scores when they are visible). An attack whose needs the partition
 * hides is refused.
 */
export const ATTACK_NEEDS: Record<AttackName, readonly Visible[]> = {
  loss: ['scores'],
  confidence: ['scores'],
  'label-only': ['labels'],
  whitebox: ['labels', 'normal-world-weights'],
  substitute: ['normal-world-weights'],
};

/** The first thing an attack needs that the oracle does not release, or null. */
export function missingNeed(name: AttackName, visible: ReadonlySet<Visible>): Visible | null {
  return ATTACK_NEEDS[name].find((v) => !visible.has(v)) ?? null;
}

/** What an attack used: the victim's visible outputs/parameters, and the attacker's own resources. */
export type Seen = Visible | 'public-data' | 'known-members' | 'substitute';

/** The partition hides what the attack needs. */
export class AttackRefused extends Error {
  constructor(readonly attack: AttackName, message: string) {
    super(message);
    this.name = 'AttackRefused';
  }
}

export interface AttackScores {
  name: AttackName;
  sees: Seen[];
  /** Scores of the evaluation members / non-members (higher = more likely a member). */
  members: Float64Array;
  nonmembers: Float64Array;
  /** The threshold the attacker chose on its own labelled pool. */
  threshold: number;
  /**
   * Intervals that also account for the attack's own training sample (a trained attack model is
   * refitted on a resample of the attacker's pool in every bootstrap replicate); replaces the
   * evaluation-only bootstrap when present.
   */
  ci?: { auc: [number, number]; tpr001: [number, number]; tpr01: [number, number]; replicates: number; method: string };
  /** Anything else worth reporting (e.g. the attack model's features). */
  detail?: Record<string, unknown>;
}

export interface SubstituteOptions {
  /** Epochs of training the rebuilt layers on T. */
  epochs: number;
  /** Use only this many images of T (null: all of it). */
  limit: number | null;
}

/** Shared state of one partition's attacks: the victim's answers and the substitute are computed once. */
export interface AttackContext {
  oracle: Oracle;
  pools: AttackPools;
  seed: number;
  log: (message: string) => void;
  /** The victim's answers on the evaluation and the attacker's pools. */
  answers(): Promise<{ members: PoolAnswers; nonmembers: PoolAnswers; knownMembers: PoolAnswers; knownNonmembers: PoolAnswers }>;
  /** The attacker's rebuilt model: normal-world layers as the victim's, the protected ones trained on T. */
  substitute(): Promise<Network>;
  substituteOptions: SubstituteOptions;
  perturbations: number;
  /** Bootstrap replicates of the intervals. */
  bootstrap: number;
}

/** Human wording of what a partition releases, for refusals. */
export function releaseText(o: Oracle): string {
  if (!o.hidden) return 'nothing is protected';
  return `layers ${o.hidden[0]}:${o.hidden[1]} are in the TEE and it releases only the ${o.output === 'top1' ? 'top-1 label' : o.output === 'topk' ? 'top-k classes' : 'scores'} (--tee-output ${o.output})`;
}
