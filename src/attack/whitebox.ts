// The whitebox attack (Nasr et al. 2019, the attack Mo et al. cite): an attack model over
// per-example features from every layer the attacker can compute — each layer's activation norm,
// the norm of the loss gradient of each trainable layer, the gradient at the TEE's input, and the
// output's loss, confidence and entropy — trained on the attacker's labelled pool and evaluated
// on the disjoint evaluation pool. With nothing protected the features come from the victim itself
// (Nasr's white-box setting); with a partition the protected part is replaced by the attacker's
// substitute (src/attack/substitute.ts), and the victim contributes only what it releases.
import { oneHot } from '../data/batches.js';
import { shapeSize } from '../nn/layer.js';
import { LOG_FLOOR } from '../nn/layers/softmax.js';
import { isTrainable, type Network } from '../nn/network.js';
import { fitLogistic, logisticScore } from './logreg.js';
import { logitConfidence, logitLayer, logitLoss, softmax64 } from './logits.js';
import { auc, calibrateThreshold, percentileCi, rocCurve, tprAtFpr } from './metrics.js';
import { Rng } from '../nn/rng.js';
import { forChunks, type Pool } from './pools.js';
import { confidenceOf, correctOf, entropyOf, lossOf, type PoolAnswers } from './query.js';
import { attackerNetwork } from './substitute.js';
import type { AttackContext, AttackScores, Seen } from './types.js';

function norm(a: Float32Array, count: number): number {
  let s = 0;
  for (let i = 0; i < count; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}

/**
 * Features of every example of the pool from a model the attacker holds: per layer log(1 + ‖activation‖),
 * the model's loss, true-class confidence and entropy, per trainable layer log(1 + ‖∂loss/∂W‖), and
 * (with teeStart > 0) log(1 + ‖gradient entering layer teeStart‖).
 */
export async function modelFeatures(net: Network, pool: Pool, teeStart: number | null): Promise<Float64Array[]> {
  const trainable = net.layers.filter(isTrainable);
  net.trainOnly(trainable.map((l) => l.index));
  const C = net.outputs;
  const truth = new Float32Array(C);
  const rows: Float64Array[] = [];
  const size = shapeSize(net.inShape);
  const li = logitLayer(net.config);
  // The deltas the softmax and the sse cost layer set in forward: truth − p.
  const lossDeltas = net.layers.filter((l) => l.type === 'softmax' || (l.type === 'cost' && l.config.type === 'cost' && l.config.costType === 'sse')).map((l) => l.delta);
  await forChunks(pool, 64, (input, labels, n) => {
    for (let i = 0; i < n; i++) {
      const x = input.subarray(i * size, (i + 1) * size);
      for (const l of trainable) for (const p of l.params()) p.updates?.fill(0);
      oneHot([labels[i]!], 1, C, truth);
      const probs = net.forward(x, 1, false, truth);
      const f: number[] = [];
      for (const l of net.layers) f.push(Math.log1p(norm(l.output, shapeSize(l.outShape))));
      const y = labels[i]!;
      let h = 0;
      for (let c = 0; c < C; c++) if (probs[c]! > 0) h -= probs[c]! * Math.log(probs[c]!);
      if (li !== null) {
        // From the logits in float64: float32 probabilities of confident examples round to 1 and
        // would zero both the loss and every gradient (see logits.ts).
        const z = net.layer(li)!.output;
        const p64 = softmax64(z, 0, C);
        f.push(logitLoss(z, 0, C, y), logitConfidence(z, 0, C, y), h);
        for (const d of lossDeltas) for (let c = 0; c < C; c++) d[c] = (c === y ? 1 : 0) - p64[c]!;
      } else {
        const py = probs[y]!;
        f.push(-Math.log(Math.max(py, LOG_FLOOR)), py, h);
      }
      net.backward(x, 1);
      for (const l of trainable) {
        const w = l.params().find((p) => p.name === 'weights')!;
        f.push(Math.log1p(norm(w.updates!, w.updates!.length)));
      }
      if (teeStart !== null && teeStart > 0) {
        const below = net.layer(teeStart - 1)!;
        f.push(Math.log1p(norm(below.delta, shapeSize(below.outShape))));
      }
      rows.push(Float64Array.from(f));
    }
  });
  for (const l of trainable) for (const p of l.params()) p.updates?.fill(0);
  return rows;
}

/** Features from the victim's own answers: correctness always; loss, confidence and entropy when the scores are visible. */
export function answerFeatures(a: PoolAnswers): Float64Array[] {
  const correct = correctOf(a);
  if (!a.probs) return Array.from(correct, (c) => Float64Array.of(c));
  const loss = lossOf(a);
  const conf = confidenceOf(a);
  const ent = entropyOf(a);
  return Array.from(correct, (c, i) => Float64Array.of(c, loss[i]!, conf[i]!, ent[i]!));
}

function join(a: readonly Float64Array[], b: readonly Float64Array[]): Float64Array[] {
  return a.map((x, i) => {
    const r = new Float64Array(x.length + b[i]!.length);
    r.set(x);
    r.set(b[i]!, x.length);
    return r;
  });
}

/**
 * Bootstrap over both samples of a trained attack: per replicate the attack model is refitted on a
 * resample of the attacker's pool (warm-started from the full fit) and scored on a resample of the
 * evaluation pool, so the interval includes how much the attack model itself depends on its data.
 */
export function trainedAttackCi(known: { m: Float64Array[]; n: Float64Array[] }, evalRows: { m: Float64Array[]; n: Float64Array[] }, start: Float64Array, replicates: number, seed: number): NonNullable<AttackScores['ci']> {
  const rng = new Rng(seed, 'whitebox-bootstrap');
  const pick = (rows: Float64Array[]): Float64Array[] => Array.from(rows, () => rows[rng.int(rows.length)]!);
  const a = new Float64Array(replicates);
  const t3 = new Float64Array(replicates);
  const t2 = new Float64Array(replicates);
  for (let b = 0; b < replicates; b++) {
    const km = pick(known.m);
    const kn = pick(known.n);
    const model = fitLogistic([...km, ...kn], [...km.map(() => 1), ...kn.map(() => 0)], { start, iterations: 12 });
    const sm = Float64Array.from(pick(evalRows.m), (r) => logisticScore(model, r));
    const sn = Float64Array.from(pick(evalRows.n), (r) => logisticScore(model, r));
    a[b] = auc(sm, sn);
    const roc = rocCurve(sm, sn);
    t3[b] = tprAtFpr(roc, 0.001);
    t2[b] = tprAtFpr(roc, 0.01);
  }
  return {
    auc: percentileCi(a), tpr001: percentileCi(t3), tpr01: percentileCi(t2), replicates,
    method: 'percentile bootstrap over the evaluation pool and the attack model\'s training pool (refitted per replicate)',
  };
}

export async function whiteboxAttack(ctx: AttackContext): Promise<AttackScores> {
  const o = ctx.oracle;
  const probe = o.hidden ? await ctx.substitute() : attackerNetwork(o, ctx.seed);
  const teeStart = o.hidden ? o.hidden[0] : null;
  const a = await ctx.answers();
  const feats = async (pool: Pool, ans: PoolAnswers): Promise<Float64Array[]> => join(answerFeatures(ans), await modelFeatures(probe, pool, teeStart));
  const km = await feats(ctx.pools.knownMembers, a.knownMembers);
  const kn = await feats(ctx.pools.knownNonmembers, a.knownNonmembers);
  const model = fitLogistic([...km, ...kn], [...km.map(() => 1), ...kn.map(() => 0)]);
  const score = (rows: Float64Array[]): Float64Array => Float64Array.from(rows, (r) => logisticScore(model, r));
  const em = await feats(ctx.pools.members, a.members);
  const en = await feats(ctx.pools.nonmembers, a.nonmembers);
  const members = score(em);
  const nonmembers = score(en);
  // Refitting is the costly part: at most 200 replicates.
  const ci = trainedAttackCi({ m: km, n: kn }, { m: em, n: en }, model.w, Math.min(ctx.bootstrap, 200), ctx.seed);
  const sees: Seen[] = [o.visible.has('scores') ? 'scores' : 'labels'];
  if (o.hidden) {
    sees.push('normal-world-weights');
    if (teeStart !== null && teeStart > 0) sees.push('tee-input');
    sees.push('public-data', 'substitute');
  } else sees.push('all-weights');
  sees.push('known-members');
  return {
    name: 'whitebox',
    sees,
    members,
    nonmembers,
    threshold: calibrateThreshold(score(km), score(kn)),
    ci,
    detail: { features: km[0]!.length, attack_model: 'logistic regression (L2, Newton)', train_rows: km.length + kn.length, iterations: model.iterations },
  };
}
