// The hot loops behind one small interface (TensorFlow.js style: ops separate from backends).
// Layers only call these; a backend may be plain TypeScript or native, and tests hold them equal.
// All arrays are row-major float32; offsets let callers address one image inside a batch buffer
// without making subarray views in the inner loop.

/** Geometry of a 2-D convolution on one image (NCHW, one sample). */
export interface ConvGeometry {
  channels: number;
  height: number;
  width: number;
  filters: number;
  size: number;
  stride: number;
  padding: number;
  outHeight: number;
  outWidth: number;
}

/** Geometry of a max-pool on one image. Window top-left is at (-padding/2 rounded toward zero). */
export interface PoolGeometry {
  channels: number;
  height: number;
  width: number;
  size: number;
  stride: number;
  padding: number;
  outHeight: number;
  outWidth: number;
}

/** Activation functions the element-wise kernels implement (Darknet's names). */
export type KernelActivation = 'linear' | 'relu' | 'leaky' | 'logistic';

export interface Kernels {
  /** Human-readable backend name, e.g. "reference" or "native-avx2 (2 threads)". */
  readonly name: string;

  /**
   * C = alpha * op(A) * op(B) + beta * C, op(X) = X or X^T.
   * op(A) is M×K, op(B) is K×N, C is M×N; lda/ldb/ldc are row strides of the stored matrices.
   */
  gemm(
    transA: boolean, transB: boolean,
    M: number, N: number, K: number,
    alpha: number,
    A: Float32Array, aOffset: number, lda: number,
    B: Float32Array, bOffset: number, ldb: number,
    beta: number,
    C: Float32Array, cOffset: number, ldc: number,
  ): void;

  /**
   * Batched convolution forward, no bias: out[b,f,oy,ox] = sum W[f,c,ky,kx] * in[b,c,y,x].
   * input is batch×C×H×W, weights filters×C×size×size, output batch×filters×outH×outW (overwritten).
   */
  convForward(g: ConvGeometry, batch: number, input: Float32Array, weights: Float32Array, output: Float32Array): void;

  /** Weight gradient, accumulated: weightGrad += sum_b delta_b · im2col(input_b)^T. */
  convBackwardFilter(g: ConvGeometry, batch: number, input: Float32Array, delta: Float32Array, weightGrad: Float32Array): void;

  /** Input gradient, accumulated: inputDelta += col2im(W^T · delta_b) for every image b. */
  convBackwardData(g: ConvGeometry, batch: number, delta: Float32Array, weights: Float32Array, inputDelta: Float32Array): void;

  /**
   * Max-pool forward over batch×C images. Writes output and, per output element, the flat index
   * (within the whole input buffer) of the winning input, or -1 if the window saw only padding.
   */
  maxpoolForward(g: PoolGeometry, batch: number, input: Float32Array, output: Float32Array, argmax: Int32Array): void;

  /** inputDelta[argmax[i]] += delta[i] for every output element i with argmax[i] >= 0. */
  maxpoolBackward(count: number, delta: Float32Array, argmax: Int32Array, inputDelta: Float32Array): void;

  // ---- Element-wise passes (the layers' epilogues; fused natively, plain loops in the reference). ----
  // Layout: x[(b * channels + c) * spatial + s] for b < n; a connected layer is spatial = 1.
  // The arithmetic is that of the plain loops in reference.ts (float32 storage, relu maps NaN to 0,
  // leaky is 0.1 * x, logistic 1 / (1 + exp(-x)) in double precision).

  /** Forward epilogue: x = act(x + biases[c]) for every element. */
  biasActivate(
    x: Float32Array, biases: Float32Array, n: number, channels: number, spatial: number, activation: KernelActivation,
  ): void;

  /** delta[i] *= act'(output[i]) for i < count, the derivative taken from the activated output. */
  activationGradient(activation: KernelActivation, output: Float32Array, delta: Float32Array, count: number): void;

  /**
   * biasUpdates[c] += sum of delta over b < n and s < spatial: summed per image in double precision
   * and added to biasUpdates[c] image by image, in order (a backend may reorder the additions
   * inside one image's double-precision sum).
   */
  biasGradient(biasUpdates: Float32Array, delta: Float32Array, n: number, channels: number, spatial: number): void;
}
