// Finite-difference gradient checking shared by the layer tests.
import type { Layer, PassContext } from '../src/nn/layer.js';
import { referenceKernels } from '../src/kernels/reference.js';
import { Rng } from '../src/nn/rng.js';

export function ctx(train: boolean, truth: Float32Array | null = null): PassContext {
  return { train, truth, kernels: referenceKernels, seed: 7, iteration: 3 };
}

export function randomArray(n: number, rng: Rng, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * (2 * rng.uniform() - 1);
  return a;
}

export interface GradCheckResult {
  worst: number;
  where: string;
}

/**
 * Compares the layer's backward (negative gradients, Darknet convention) with central differences of
 * loss(x, θ) for every input value and every learned parameter. `loss` runs the layer's forward
 * on (input, n) and returns a scalar; `seed` sets layer.delta for the backward.
 */
export function gradCheck(
  layer: Layer, input: Float32Array, n: number,
  loss: () => number, seedDelta: () => void,
  eps = 1e-2,
): GradCheckResult {
  const inputDelta = new Float32Array(input.length);
  for (const p of layer.params()) p.updates?.fill(0);
  loss();
  seedDelta();
  layer.backward(input, inputDelta, n, ctx(true));
  let worst = 0;
  let where = '';
  const compare = (analyticNeg: number, numeric: number, label: string): void => {
    const analytic = -analyticNeg;
    const err = Math.abs(analytic - numeric) / Math.max(1e-2, Math.abs(analytic) + Math.abs(numeric));
    if (err > worst) { worst = err; where = `${label}: analytic ${analytic} numeric ${numeric}`; }
  };
  const numeric = (arr: Float32Array, i: number): number => {
    const orig = arr[i]!;
    arr[i] = orig + eps;
    const fp = loss();
    arr[i] = orig - eps;
    const fm = loss();
    arr[i] = orig;
    return (fp - fm) / (2 * eps);
  };
  for (let i = 0; i < input.length; i++) compare(inputDelta[i]!, numeric(input, i), `input[${i}]`);
  for (const p of layer.params()) {
    if (!p.updates) continue;
    const grads = Float32Array.from(p.updates);
    for (let i = 0; i < p.data.length; i++) compare(grads[i]!, numeric(p.data, i), `${p.name}[${i}]`);
  }
  return { worst, where };
}

/** Loss sum(r ⊙ output) and its delta seed -r (the negative gradient): checks any layer against a random linear read-out. */
export function linearReadout(layer: Layer, input: Float32Array, n: number, rng: Rng, train = true): { loss: () => number; seed: () => void } {
  const count = n * layer.outShape.c * layer.outShape.h * layer.outShape.w;
  const r = randomArray(count, rng);
  return {
    loss: () => {
      layer.forward(input, n, ctx(train));
      let s = 0;
      for (let i = 0; i < count; i++) s += r[i]! * layer.output[i]!;
      return s;
    },
    seed: () => {
      for (let i = 0; i < count; i++) layer.delta[i] = -r[i]!;
    },
  };
}
