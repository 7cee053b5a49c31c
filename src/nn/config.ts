// The parsed form of a Darknet .cfg: what the cfg parser produces and the network builder consumes.
// Keeping it plain data lets the TEE build just a slice of the network from the same sections.

export type Activation = 'linear' | 'relu' | 'leaky' | 'logistic' | 'tanh';
export type LrPolicy = 'constant' | 'steps' | 'step' | 'poly' | 'exp' | 'sig';
export type CostType = 'sse' | 'L1' | 'smooth' | 'masked';

/** Where a section came from, so later errors (shape mismatches, etc.) can name the line. */
export interface SourceRef {
  file: string;
  line: number;
}

export interface NetOptions {
  batch: number;
  subdivisions: number;
  height: number;
  width: number;
  channels: number;
  learningRate: number;
  momentum: number;
  decay: number;
  maxBatches: number;
  policy: LrPolicy;
  /** steps policy: iteration numbers and the factor applied at each. */
  steps: number[];
  scales: number[];
  /** step policy: every `step` iterations multiply by `scale`. */
  step: number;
  scale: number;
  /** exp and sig policies. */
  gamma: number;
  /** poly policy exponent, also used by burn-in. */
  power: number;
  burnIn: number;
  source: SourceRef;
}

export interface ConvolutionalConfig {
  type: 'convolutional';
  filters: number;
  size: number;
  stride: number;
  /** Explicit padding in pixels (Darknet: `pad=1` means size/2, `padding=N` overrides). */
  padding: number;
  activation: Activation;
  /** Negative slope of `leaky` (layerlock's `leaky_slope=` key; default Darknet's 0.1). */
  slope?: number;
  batchNormalize: boolean;
  source: SourceRef;
}

export interface ConnectedConfig {
  type: 'connected';
  output: number;
  activation: Activation;
  /** Negative slope of `leaky` (layerlock's `leaky_slope=` key; default Darknet's 0.1). */
  slope?: number;
  batchNormalize: boolean;
  source: SourceRef;
}

export interface MaxpoolConfig {
  type: 'maxpool';
  size: number;
  stride: number;
  /** Total padding (Darknet default size-1); the window starts at -padding/2. */
  padding: number;
  /**
   * PyTorch/ONNX ceil_mode (layerlock's `ceil_mode=1` key): padding/2 on each side and the output
   * size rounded up, the last window starting inside the input or its left padding. Absent or
   * false: Darknet's rounding, out = (in + padding - size) / stride + 1 rounded down.
   */
  ceilMode?: boolean;
  source: SourceRef;
}

/** AlexeyAB Darknet's [local_avgpool]: the max-pool's geometry, averaging instead of taking the max. */
export interface LocalAvgpoolConfig {
  type: 'local_avgpool';
  size: number;
  stride: number;
  padding: number;
  ceilMode?: boolean;
  /**
   * Divide by the window clipped to the padded input (PyTorch's and ONNX's count_include_pad=1)
   * instead of by the number of input values in the window (Darknet's, and count_include_pad=0).
   */
  countIncludePad?: boolean;
  source: SourceRef;
}

export interface AvgpoolConfig {
  type: 'avgpool';
  source: SourceRef;
}

export interface DropoutConfig {
  type: 'dropout';
  probability: number;
  source: SourceRef;
}

export interface SoftmaxConfig {
  type: 'softmax';
  source: SourceRef;
}

export interface CostConfig {
  type: 'cost';
  costType: CostType;
  scale: number;
  source: SourceRef;
}

export type LayerConfig =
  | ConvolutionalConfig
  | ConnectedConfig
  | MaxpoolConfig
  | LocalAvgpoolConfig
  | AvgpoolConfig
  | DropoutConfig
  | SoftmaxConfig
  | CostConfig;

export type LayerType = LayerConfig['type'];

export interface NetworkConfig {
  net: NetOptions;
  layers: LayerConfig[];
  /** Non-fatal notes (unused keys), each naming file and line, as Darknet prints them. */
  warnings: string[];
}
