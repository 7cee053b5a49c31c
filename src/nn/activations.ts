// The activations Darknet offers that layerlock implements. Gradients are computed from the
// activated output (as Darknet does), so no pre-activation copy is kept.
import type { Activation } from './config.js';

export function activate(a: Activation, x: Float32Array, count: number): void {
  switch (a) {
    case 'linear':
      return;
    case 'relu':
      for (let i = 0; i < count; i++) if (!(x[i]! > 0)) x[i] = 0;
      return;
    case 'leaky':
      for (let i = 0; i < count; i++) if (!(x[i]! > 0)) x[i] = 0.1 * x[i]!;
      return;
    case 'logistic':
      for (let i = 0; i < count; i++) x[i] = 1 / (1 + Math.exp(-x[i]!));
      return;
  }
}

/** delta *= f'(output), elementwise. */
export function gradient(a: Activation, output: Float32Array, delta: Float32Array, count: number): void {
  switch (a) {
    case 'linear':
      return;
    case 'relu':
      for (let i = 0; i < count; i++) if (!(output[i]! > 0)) delta[i] = 0;
      return;
    case 'leaky':
      for (let i = 0; i < count; i++) if (!(output[i]! > 0)) delta[i] = 0.1 * delta[i]!;
      return;
    case 'logistic':
      for (let i = 0; i < count; i++) {
        const y = output[i]!;
        delta[i] = delta[i]! * y * (1 - y);
      }
      return;
  }
}
