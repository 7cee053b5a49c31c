// The parsed form of a Darknet .cfg: what the cfg parser produces and the network builder consumes.
// Keeping it plain data lets the TEE build just a slice of the network from the same sections.

export type Activation = 'linear' | 'relu' | 'leaky' | 'logistic';
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
  batchNormalize: boolean;
  source: SourceRef;
}

export interface ConnectedConfig {
  type: 'connected';
  output: number;
  activation: Activation;
  batchNormalize: boolean;
  source: SourceRef;
}

export interface MaxpoolConfig {
  type: 'maxpool';
  size: number;
  stride: number;
  /** Total padding (Darknet default size-1); the window starts at -padding/2. */
  padding: number;
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
