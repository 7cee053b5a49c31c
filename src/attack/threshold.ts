// Threshold attacks on the victim's own output (Yeom et al. 2018): a member tends to have a lower
// loss and a higher true-class confidence. Both need the scores, so a partition whose TEE holds the
// softmax under policy top1/topk refuses them. The threshold is the one that separates the
// attacker's known members from its known non-members best — never the evaluation pool's.
import { calibrateThreshold } from './metrics.js';
import { confidenceOf, lossOf, negate, type PoolAnswers } from './query.js';
import { AttackRefused, missingNeed, releaseText, type AttackContext, type AttackScores, type Seen } from './types.js';

/** Score per example: −loss (loss attack) or the true-class probability (confidence attack). */
export function thresholdScore(kind: 'loss' | 'confidence', a: PoolAnswers): Float64Array {
  return kind === 'loss' ? negate(lossOf(a)) : confidenceOf(a);
}

export async function thresholdAttack(ctx: AttackContext, kind: 'loss' | 'confidence'): Promise<AttackScores> {
  const o = ctx.oracle;
  if (missingNeed(kind, o.visible) !== null) {
    throw new AttackRefused(kind, `attack ${kind} needs the confidence scores, but ${releaseText(o)}; attacks that work with labels only: label-only, whitebox, substitute`);
  }
  const a = await ctx.answers();
  const sees: Seen[] = ['scores', 'known-members'];
  return {
    name: kind,
    sees,
    members: thresholdScore(kind, a.members),
    nonmembers: thresholdScore(kind, a.nonmembers),
    threshold: calibrateThreshold(thresholdScore(kind, a.knownMembers), thresholdScore(kind, a.knownNonmembers)),
  };
}
