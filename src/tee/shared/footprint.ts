// The secure-memory footprint of a partition: THE one function that says how many bytes of the TEE's
// arena a partition [start, end] needs, layer by layer and buffer kind by buffer kind, from the cfg's
// shapes alone (no layer is built). Both worlds use it: the TA for its out-of-memory suggestions
// (what batch and range would fit), the cost benchmark's memory model and `plan`. A test checks it
// against the measuring arena (the TA's real layer constructors run against a dry arena).
//
// the arena peak the trusted application reports (bench.json: model_bytes vs tee_peak_bytes).
//
// Per layer, at B images per forward (batch / subdivisions), 4-byte floats:
//   params      conv F·C·k² + F (+ 3F with batch norm: scales, rolling mean, rolling variance);
//               connected I·O + O (+ 3O)
//   gradients   one accumulator per learned tensor (weights, biases, BN scales)
//   momentum    0 — Darknet's SGD keeps the momentum in that same accumulator (after a step the
//               buffer is multiplied by the momentum and keeps accumulating), so there is no second
//               buffer; the column is kept so the model reads like the paper's list
//   outputs     B · output size            deltas   B · output size (training only)
//   other       max-pool argmax (int32, B·out), dropout keep-mask (1 byte, B·out, training only),
//               batch norm's batch mean/variance (2·channels) and normalised values (B·out), training only
// Partition-wide:
//   workspace   im2col scratch for the largest convolution inside: C·k²·H'·W' floats per kernel thread
//   input       the activation entering `start`, kept only when training and the first layer reads it
//               again in backward (convolutional, connected); otherwise it stays in shared memory
//   input_delta the gradient leaving `start` (training, trainable layers below)
//   top_delta   the gradient arriving at `end` (training, layers above run in the normal world)
//   truth       one-hot targets (training with a loss inside, or the range holds the prediction)
// Inference holds no gradients, deltas, masks or batch-norm batch statistics. Every block is rounded
// up to the arena's 16-byte alignment (ARENA_ALIGN), as the arena does.
import type { LayerConfig, LayerType, NetworkConfig } from '../../nn/config.js';
import { shapeSize, type Shape } from '../../nn/layer.js';
import { layerShapes } from '../../nn/network.js';
import { rangeRoles } from './roles.js';

/** Every arena block starts on a 16-byte boundary (room for SIMD loads; typed arrays need 4). */
export const ARENA_ALIGN = 16;

export type Mode = 'train' | 'infer';

/** The paper's short names: C, MP, FC, D, SM, O (cost), AP (average pool). */
export const SHORT_NAMES: Record<LayerType, string> = {
  convolutional: 'C', connected: 'FC', maxpool: 'MP', local_avgpool: 'LAP', avgpool: 'AP', dropout: 'D', softmax: 'SM', cost: 'O',
};

export function layerLabel(config: NetworkConfig, index: number): string {
  return `${SHORT_NAMES[config.layers[index]!.type]}${index}`;
}

export interface LayerMemory {
  index: number;
  type: LayerType;
  label: string;
  params: number;
  gradients: number;
  momentum: number;
  outputs: number;
  deltas: number;
  other: number;
  total: number;
}

export interface TeeMemory {
  start: number;
  end: number;
  batch: number;
  mode: Mode;
  threads: number;
  layers: LayerMemory[];
  workspace: { layer: number; bytes: number } | null;
  io: { input: number; input_delta: number; top_delta: number; truth: number };
  /** Sum of everything above: the secure memory the partition needs. */
  total: number;
}

export interface MemoryOptions {
  start: number;
  end: number;
  /** Images per forward pass (the cfg's batch / subdivisions). */
  batch: number;
  mode: Mode;
  /** Kernel threads inside the TA (the workspace is per thread). */
  threads: number;
  /** Whether the gradient leaving `start` is sent back (default: training and trainable layers below). */
  inputDelta?: boolean;
}

export const align = (bytes: number): number => Math.ceil(bytes / ARENA_ALIGN) * ARENA_ALIGN;
export const f32 = (n: number): number => align(4 * n);

function isTrainableType(t: LayerType): boolean {
  return t === 'convolutional' || t === 'connected';
}

/**
 * Whether the activation entering the partition must be copied into secure memory: only when
 * training and the first layer reads its input again in backward (convolutional and connected
 * layers, for their weight gradients). Otherwise the TA reads it where the request put it — in
 * shared memory, as OP-TEE's memory references — so a parameter-free first layer (max-pool,
 * dropout, softmax, cost) costs only its own buffers.
 */
export function keepsInput(config: NetworkConfig, start: number, mode: Mode): boolean {
  return mode === 'train' && isTrainableType(config.layers[start]!.type);
}

/**
 * The im2col workspace the partition's convolutions need: C·k·k·outH·outW floats per thread for
 * the largest of them (both kernel backends reuse one scratch buffer per thread across layers, at
 * most one image's im2col matrix), reserved as ONE block as Darknet sizes its shared workspace;
 * null without convolutions. Bytes before alignment.
 */
export function workspaceNeed(config: NetworkConfig, start: number, end: number, threads: number): { layer: number; bytes: number } | null {
  const shapes = layerShapes(config);
  let best: { layer: number; bytes: number } | null = null;
  for (let i = start; i <= end; i++) {
    const bytes = 4 * convColumnFloats(config, shapes, i) * Math.max(1, threads);
    if (bytes > 0 && (!best || bytes > best.bytes)) best = { layer: i, bytes };
  }
  return best;
}

/** One layer's buffers at B images per forward. */
export function layerMemory(config: NetworkConfig, index: number, inShape: Shape, outShape: Shape, batch: number, mode: Mode): LayerMemory {
  const lc: LayerConfig = config.layers[index]!;
  const train = mode === 'train';
  const out = batch * shapeSize(outShape);
  let params = 0;
  let gradients = 0;
  let other = 0;
  const outputs = f32(out);
  const deltas = train ? f32(out) : 0;
  switch (lc.type) {
    case 'convolutional':
    case 'connected': {
      const channels = lc.type === 'convolutional' ? lc.filters : lc.output;
      const weights = lc.type === 'convolutional' ? lc.filters * inShape.c * lc.size * lc.size : lc.output * shapeSize(inShape);
      params = f32(weights) + f32(channels);
      gradients = train ? f32(weights) + f32(channels) : 0;
      if (lc.batchNormalize) {
        params += 3 * f32(channels);
        if (train) {
          gradients += f32(channels);
          other += 2 * f32(channels) + f32(out);
        }
      }
      break;
    }
    case 'maxpool':
      other = f32(out); // argmax indices, int32
      break;
    case 'dropout':
      other = train ? align(out) : 0; // keep mask, one byte per value
      break;
    case 'avgpool':
    case 'local_avgpool':
    case 'softmax':
    case 'cost':
      break;
  }
  const total = params + gradients + outputs + deltas + other;
  return { index, type: lc.type, label: layerLabel(config, index), params, gradients, momentum: 0, outputs, deltas, other, total };
}

/** im2col floats of one image for convolution `index` (C·k²·H'·W'), 0 for other layers. */
export function convColumnFloats(config: NetworkConfig, shapes: readonly Shape[], index: number): number {
  const lc = config.layers[index]!;
  if (lc.type !== 'convolutional') return 0;
  const o = shapes[index + 1]!;
  return shapes[index]!.c * lc.size * lc.size * o.h * o.w;
}

/** The secure memory a partition needs, by layer and buffer kind (see the file comment). */
export function secureFootprint(config: NetworkConfig, opts: MemoryOptions): TeeMemory {
  const { start, end, batch, mode } = opts;
  const roles = rangeRoles(config, start, end);
  const shapes = layerShapes(config);
  const train = mode === 'train';
  const threads = Math.max(1, opts.threads);
  const layers: LayerMemory[] = [];
  for (let i = start; i <= end; i++) layers.push(layerMemory(config, i, shapes[i]!, shapes[i + 1]!, batch, mode));
  const ws = workspaceNeed(config, start, end, threads);
  const workspace: TeeMemory['workspace'] = ws ? { layer: ws.layer, bytes: align(ws.bytes) } : null;
  const inputs = shapeSize(shapes[start]!);
  const inputDelta = opts.inputDelta ?? (train && roles.trainableBelow);
  const io = {
    input: keepsInput(config, start, mode) ? f32(batch * inputs) : 0,
    input_delta: train && inputDelta ? f32(batch * inputs) : 0,
    top_delta: train && roles.suffixOutside ? f32(batch * shapeSize(shapes[end + 1]!)) : 0,
    truth: (train && roles.lossInside) || roles.holdsOutput ? f32(batch * shapeSize(shapes[end + 1]!)) : 0,
  };
  const total = layers.reduce((a, l) => a + l.total, 0) + (workspace?.bytes ?? 0) + io.input + io.input_delta + io.top_delta + io.truth;
  return { start, end, batch, mode, threads, layers, workspace, io, total };
}

