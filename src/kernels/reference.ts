// The plain-TypeScript backend: kept simple and obviously right. It is the oracle the fast
// backend is tested against, and the fallback when the native addon cannot load.
import type { ConvGeometry, KernelActivation, Kernels, PoolGeometry } from './types.js';

export function gemmReference(
  transA: boolean, transB: boolean,
  M: number, N: number, K: number,
  alpha: number,
  A: Float32Array, aOffset: number, lda: number,
  B: Float32Array, bOffset: number, ldb: number,
  beta: number,
  C: Float32Array, cOffset: number, ldc: number,
): void {
  for (let i = 0; i < M; i++) {
    const cRow = cOffset + i * ldc;
    if (beta === 0) for (let j = 0; j < N; j++) C[cRow + j] = 0;
    else if (beta !== 1) for (let j = 0; j < N; j++) C[cRow + j] = beta * C[cRow + j]!;
    for (let k = 0; k < K; k++) {
      const a = alpha * (transA ? A[aOffset + k * lda + i]! : A[aOffset + i * lda + k]!);
      if (a === 0) continue;
      if (transB) {
        for (let j = 0; j < N; j++) C[cRow + j] = C[cRow + j]! + a * B[bOffset + j * ldb + k]!;
      } else {
        const bRow = bOffset + k * ldb;
        for (let j = 0; j < N; j++) C[cRow + j] = C[cRow + j]! + a * B[bRow + j]!;
      }
    }
  }
}

/** Unfolds one image into a (C·size·size) × (outH·outW) matrix; padding reads as zero. */
export function im2col(g: ConvGeometry, input: Float32Array, inOffset: number, col: Float32Array): void {
  const { channels, height, width, size, stride, padding, outHeight, outWidth } = g;
  const outSpatial = outHeight * outWidth;
  for (let c = 0; c < channels; c++) {
    for (let ky = 0; ky < size; ky++) {
      for (let kx = 0; kx < size; kx++) {
        const row = (c * size + ky) * size + kx;
        for (let oy = 0; oy < outHeight; oy++) {
          const y = oy * stride + ky - padding;
          for (let ox = 0; ox < outWidth; ox++) {
            const x = ox * stride + kx - padding;
            col[row * outSpatial + oy * outWidth + ox] =
              y >= 0 && y < height && x >= 0 && x < width ? input[inOffset + (c * height + y) * width + x]! : 0;
          }
        }
      }
    }
  }
}

/** Adjoint of im2col: scatters-and-adds the columns back into an image. */
export function col2im(g: ConvGeometry, col: Float32Array, out: Float32Array, outOffset: number): void {
  const { channels, height, width, size, stride, padding, outHeight, outWidth } = g;
  const outSpatial = outHeight * outWidth;
  for (let c = 0; c < channels; c++) {
    for (let ky = 0; ky < size; ky++) {
      for (let kx = 0; kx < size; kx++) {
        const row = (c * size + ky) * size + kx;
        for (let oy = 0; oy < outHeight; oy++) {
          const y = oy * stride + ky - padding;
          if (y < 0 || y >= height) continue;
          for (let ox = 0; ox < outWidth; ox++) {
            const x = ox * stride + kx - padding;
            if (x < 0 || x >= width) continue;
            const o = outOffset + (c * height + y) * width + x;
            out[o] = out[o]! + col[row * outSpatial + oy * outWidth + ox]!;
          }
        }
      }
    }
  }
}

function colBuffer(g: ConvGeometry): Float32Array {
  return new Float32Array(g.channels * g.size * g.size * g.outHeight * g.outWidth);
}

/** x = act(x + biases[c]), element-wise over n × channels × spatial. */
export function biasActivateReference(
  x: Float32Array, biases: Float32Array, n: number, channels: number, spatial: number, activation: KernelActivation,
): void {
  for (let b = 0; b < n; b++) {
    for (let c = 0; c < channels; c++) {
      const base = (b * channels + c) * spatial;
      const v = biases[c]!;
      for (let s = 0; s < spatial; s++) x[base + s] = x[base + s]! + v;
    }
  }
  const count = n * channels * spatial;
  switch (activation) {
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

/** delta *= act'(output), element-wise, from the activated output. */
export function activationGradientReference(
  activation: KernelActivation, output: Float32Array, delta: Float32Array, count: number,
): void {
  switch (activation) {
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

/** biasUpdates[c] += sum of delta over images and positions (per-image sums in double). */
export function biasGradientReference(
  biasUpdates: Float32Array, delta: Float32Array, n: number, channels: number, spatial: number,
): void {
  for (let b = 0; b < n; b++) {
    for (let c = 0; c < channels; c++) {
      const base = (b * channels + c) * spatial;
      let sum = 0;
      for (let s = 0; s < spatial; s++) sum += delta[base + s]!;
      biasUpdates[c] = biasUpdates[c]! + sum;
    }
  }
}

export const referenceKernels: Kernels = {
  name: 'reference',
  gemm: gemmReference,

  convForward(g, batch, input, weights, output) {
    const K = g.channels * g.size * g.size;
    const N = g.outHeight * g.outWidth;
    const col = colBuffer(g);
    for (let b = 0; b < batch; b++) {
      im2col(g, input, b * g.channels * g.height * g.width, col);
      gemmReference(false, false, g.filters, N, K, 1, weights, 0, K, col, 0, N, 0, output, b * g.filters * N, N);
    }
  },

  convBackwardFilter(g, batch, input, delta, weightGrad) {
    const K = g.channels * g.size * g.size;
    const N = g.outHeight * g.outWidth;
    const col = colBuffer(g);
    for (let b = 0; b < batch; b++) {
      im2col(g, input, b * g.channels * g.height * g.width, col);
      gemmReference(false, true, g.filters, K, N, 1, delta, b * g.filters * N, N, col, 0, N, 1, weightGrad, 0, K);
    }
  },

  convBackwardData(g, batch, delta, weights, inputDelta) {
    const K = g.channels * g.size * g.size;
    const N = g.outHeight * g.outWidth;
    const col = colBuffer(g);
    for (let b = 0; b < batch; b++) {
      gemmReference(true, false, K, N, g.filters, 1, weights, 0, K, delta, b * g.filters * N, N, 0, col, 0, N);
      col2im(g, col, inputDelta, b * g.channels * g.height * g.width);
    }
  },

  maxpoolForward(g: PoolGeometry, batch, input, output, argmax) {
    const { channels, height, width, size, stride, padding, outHeight, outWidth } = g;
    const offset = -Math.trunc(padding / 2);
    for (let bc = 0; bc < batch * channels; bc++) {
      const inBase = bc * height * width;
      for (let oy = 0; oy < outHeight; oy++) {
        for (let ox = 0; ox < outWidth; ox++) {
          let best = -Infinity;
          let bestIndex = -1;
          for (let ky = 0; ky < size; ky++) {
            const y = offset + oy * stride + ky;
            if (y < 0 || y >= height) continue;
            for (let kx = 0; kx < size; kx++) {
              const x = offset + ox * stride + kx;
              if (x < 0 || x >= width) continue;
              const idx = inBase + y * width + x;
              const v = input[idx]!;
              if (v > best) { best = v; bestIndex = idx; }
            }
          }
          const o = (bc * outHeight + oy) * outWidth + ox;
          output[o] = bestIndex >= 0 ? best : 0;
          argmax[o] = bestIndex;
        }
      }
    }
  },

  maxpoolBackward(count, delta, argmax, inputDelta) {
    for (let i = 0; i < count; i++) {
      const j = argmax[i]!;
      if (j >= 0) inputDelta[j] = inputDelta[j]! + delta[i]!;
    }
  },

  biasActivate: biasActivateReference,
  activationGradient: activationGradientReference,
  biasGradient: biasGradientReference,
};
