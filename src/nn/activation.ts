// Layer activations. Darknet's four (linear, relu, leaky with slope 0.1, logistic) run in the kernels'
// fused epilogues, so Darknet cfgs keep exactly the arithmetic they always had. The activations that
// imported models bring and Darknet's kernels do not have (tanh, leaky with another slope, e.g.
// PyTorch's default 0.01) run as plain loops after a linear epilogue: correct everywhere, and cheap
// next to the convolution they follow.
import type { KernelActivation, Kernels } from '../kernels/types.js';
import type { Activation } from './config.js';

/** Darknet's leaky slope, the one the kernels implement. */
export const DARKNET_LEAKY_SLOPE = 0.1;

/** The kernel activation that computes (act, slope) exactly, or null when a plain loop must. */
export function kernelActivation(act: Activation, slope: number | undefined): KernelActivation | null {
  if (act === 'tanh') return null;
  if (act === 'leaky' && slope !== undefined && slope !== DARKNET_LEAKY_SLOPE) return null;
  return act;
}

/** x = act(x + biases[c]) over n × channels × spatial values. */
export function biasActivate(
  kernels: Kernels, x: Float32Array, biases: Float32Array, n: number, channels: number, spatial: number,
  act: Activation, slope: number | undefined,
): void {
  const k = kernelActivation(act, slope);
  if (k !== null) {
    kernels.biasActivate(x, biases, n, channels, spatial, k);
    return;
  }
  kernels.biasActivate(x, biases, n, channels, spatial, 'linear');
  const count = n * channels * spatial;
  if (act === 'tanh') {
    for (let i = 0; i < count; i++) x[i] = Math.tanh(x[i]!);
  } else {
    const s = slope!;
    for (let i = 0; i < count; i++) if (!(x[i]! > 0)) x[i] = s * x[i]!;
  }
}

/** delta *= act'(output), the derivative taken from the activated output (as Darknet does). */
export function activationGradient(
  kernels: Kernels, act: Activation, slope: number | undefined, output: Float32Array, delta: Float32Array, count: number,
): void {
  const k = kernelActivation(act, slope);
  if (k !== null) {
    kernels.activationGradient(k, output, delta, count);
    return;
  }
  if (act === 'tanh') {
    for (let i = 0; i < count; i++) {
      const y = output[i]!;
      delta[i] = delta[i]! * (1 - y * y);
    }
  } else {
    // For a positive slope the output's sign is the input's, so the output tells which branch was taken.
    const s = slope!;
    for (let i = 0; i < count; i++) if (!(output[i]! > 0)) delta[i] = s * delta[i]!;
  }
}
