// The protected partition inside the TA: layers [start, end] of the network, built by the same
// layer code as the normal world (a range Network with global layer indices, so initial weights and
// dropout masks are those of the whole network) with every buffer in the secure-memory arena.
//
// It enforces what crosses the boundary: in, the activation entering layer start, the gradient
// arriving at layer end (only when layers above run in the normal world) and labels; out, the
// gradient leaving layer start (only when trainable layers below need it), layer end's activation
// (only when the normal world runs the layers above), and — when the partition holds the
// network's prediction — only what the output policy allows.
import type { Kernels } from '../../kernels/types.js';
import { oneHot } from '../../data/batches.js';
import type { NetworkConfig } from '../../nn/config.js';
import { shapeSize } from '../../nn/layer.js';
import { isTrainable, Network } from '../../nn/network.js';
import { argmaxAt, rankClasses, scoreProbs } from '../../nn/train.js';
import { DARKNET_WEIGHTS_VERSION, decodeWeights, encodeWeights, WeightsError } from '../../nn/weights.js';
import {
  TEE_ERROR_ACCESS_DENIED, TEE_ERROR_BAD_PARAMETERS, TEE_ERROR_BAD_STATE, TEE_ERROR_OUT_OF_MEMORY,
  type OutputPolicy,
} from '../shared/protocol.js';
import { forwardOutputBytes, PartitionError, rangeRoles as sharedRangeRoles, type RangeRoles } from '../shared/roles.js';
import { keepsInput, secureFootprint, workspaceNeed } from '../shared/footprint.js';
import { Arena, arenaAllocator, ArenaOverflow, fmtBytes } from './arena.js';

/** The shared range rules, failing with BAD_PARAMETERS. */
export function rangeRoles(config: NetworkConfig, start: number, end: number): RangeRoles {
  try {
    return sharedRangeRoles(config, start, end);
  } catch (e) {
    if (e instanceof PartitionError) throw new TaError(TEE_ERROR_BAD_PARAMETERS, e.message);
    throw e;
  }
}

/** A failure the TA reports to the client with a GP result code and a message. */
export class TaError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
    this.name = 'TaError';
  }
}

export interface PartitionSpec {
  start: number;
  end: number;
  /** Images per forward: the size of every batch buffer. */
  maxBatch: number;
  seed: number;
  mode: 'train' | 'infer';
  /** Trainable layers below the partition need the gradient leaving layer start. */
  inputDelta: boolean;
  policy: OutputPolicy;
  topk: number;
  /** Development: CMD_EXPORT_PARAMS_PLAINTEXT allowed under any policy. */
  allowExport: boolean;
}

export interface BuiltPartition {
  net: Network;
  /** The activation entering layer start, kept in secure memory (null when no backward reads it). */
  input: Float32Array | null;
  inputDelta: Float32Array | null;
  topDelta: Float32Array | null;
  truth: Float32Array | null;
}

/**
 * Builds the partition into an arena: the layers' buffers in layer order, then the convolution
 * workspace, then the I/O staging (activation in, gradient out, gradient from above, targets).
 * Throws ArenaOverflow at the first block that does not fit. With a dry arena it measures instead
 * (the tests hold the footprint function to that measurement).
 */
export function buildInto(config: NetworkConfig, spec: PartitionSpec, kernels: Kernels, threads: number, arena: Arena): BuiltPartition {
  const roles = rangeRoles(config, spec.start, spec.end);
  const net = new Network(config, {
    kernels, seed: spec.seed, maxBatch: spec.maxBatch, alloc: arenaAllocator(arena, spec.mode), range: [spec.start, spec.end],
  });
  const ws = workspaceNeed(config, spec.start, spec.end, threads);
  if (ws) arena.reserve(ws.layer, 'workspace', ws.bytes);
  const train = spec.mode === 'train';
  const input = keepsInput(config, spec.start, spec.mode) ? arena.f32(spec.start, 'input', spec.maxBatch * net.inputs) : null;
  const inputDelta = train && spec.inputDelta ? arena.f32(spec.start, 'input_delta', spec.maxBatch * net.inputs) : null;
  const top = net.layers[net.layers.length - 1]!;
  const topDelta = train && roles.suffixOutside ? arena.f32(spec.end, 'top_delta', spec.maxBatch * shapeSize(top.outShape)) : null;
  const classes = net.outputs;
  const truth = (train && roles.lossInside) || roles.holdsOutput ? arena.f32(spec.end, 'truth', spec.maxBatch * classes) : null;
  net.setInputDeltaNeeded(train && spec.inputDelta);
  return { net, input, inputDelta, topDelta, truth };
}

/** What would fit instead: the largest batch for this range, and the shortest start for this end at this batch. */
export function fitSuggestions(config: NetworkConfig, spec: PartitionSpec, threads: number, capacity: number): { maxBatch: number | null; start: number | null; needed: number } {
  const bytes = (s: PartitionSpec): number =>
    secureFootprint(config, { start: s.start, end: s.end, batch: s.maxBatch, mode: s.mode, threads, inputDelta: s.mode === 'train' && s.inputDelta }).total;
  const needed = bytes(spec);
  let maxBatch: number | null = null;
  if (bytes({ ...spec, maxBatch: 1 }) <= capacity) {
    let lo = 1;
    let hi = spec.maxBatch;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (bytes({ ...spec, maxBatch: mid }) <= capacity) lo = mid;
      else hi = mid - 1;
    }
    maxBatch = lo;
  }
  let start: number | null = null;
  for (let s = spec.start + 1; s <= spec.end; s++) {
    try {
      const below = config.layers.slice(0, s).some((l) => l.type === 'convolutional' || l.type === 'connected');
      if (bytes({ ...spec, start: s, inputDelta: below }) <= capacity) {
        start = s;
        break;
      }
    } catch {
      // a range the rules reject (e.g. it would separate the prediction from its cost layer)
    }
  }
  return { maxBatch, start, needed };
}

/** The TEE_ERROR_OUT_OF_MEMORY message: which block failed, and what would fit. */
export function overflowMessage(config: NetworkConfig, spec: PartitionSpec, threads: number, e: ArenaOverflow): string {
  const layer = config.layers[e.layer];
  const fit = fitSuggestions(config, spec, threads, e.capacity);
  const what = `layers ${spec.start}:${spec.end}, ${spec.maxBatch} image${spec.maxBatch === 1 ? '' : 's'} per forward, ${spec.mode === 'train' ? 'training' : 'inference'}`;
  const tips: string[] = [];
  if (fit.maxBatch !== null) tips.push(`the largest batch that fits is ${fit.maxBatch} images per forward (--batch ${fit.maxBatch}; or keep the batch and raise --subdivisions until batch/subdivisions ≤ ${fit.maxBatch})`);
  else tips.push('not even one image per forward fits this range');
  if (fit.start !== null) tips.push(`at ${spec.maxBatch} images per forward the longest range ending at layer ${spec.end} that fits is ${fit.start}:${spec.end} (--tee-layers ${fit.start}:${spec.end})`);
  else if (spec.start < spec.end) tips.push(`no shorter range ending at layer ${spec.end} fits at ${spec.maxBatch} images per forward`);
  return `secure memory exhausted at layer ${e.layer} (${layer?.type ?? 'partition I/O'}) buffer '${e.buffer}': needs ${fmtBytes(e.needed)}, ` +
    `${fmtBytes(e.available)} of ${fmtBytes(e.capacity)} free; this partition (${what}) needs ${fmtBytes(fit.needed)} in all. ` +
    `${tips.map((t) => t[0]!.toUpperCase() + t.slice(1)).join('. ')}.`;
}

const EMPTY = new Float32Array(0);

/** A configured partition: the TA's whole state for one session. */
export class ProtectedPartition {
  readonly net: Network;
  readonly roles: RangeRoles;
  readonly classes: number;
  /** Values of layer end's output per image (what crosses when layers above run outside). */
  readonly topValues: number;
  private readonly built: BuiltPartition;
  /** The request's activation when it is not kept in secure memory (emulated shared memory). */
  private shared: Float32Array | null = null;
  private lastForward: { n: number; train: boolean } | null = null;
  /**
   * Images trained on (backward) since the last update: a deferred update (TRAIN_STEP p1.b) must
   * name exactly these, which is how the TEE notices an update the normal world lost or repeated.
   */
  private trainedSinceUpdate = 0;
  private ceSum = 0;
  private ceCount = 0;

  constructor(readonly config: NetworkConfig, readonly spec: PartitionSpec, kernels: Kernels, threads: number, readonly arena: Arena) {
    this.roles = rangeRoles(config, spec.start, spec.end);
    arena.reset();
    try {
      this.built = buildInto(config, spec, kernels, threads, arena);
    } catch (e) {
      arena.reset();
      if (e instanceof ArenaOverflow) throw new TaError(TEE_ERROR_OUT_OF_MEMORY, overflowMessage(config, spec, threads, e));
      throw e;
    }
    this.net = this.built.net;
    this.classes = this.net.outputs;
    this.topValues = shapeSize(this.net.layers[this.net.layers.length - 1]!.outShape);
  }

  get inputs(): number {
    return this.net.inputs;
  }

  /** Bytes of FORWARD's output for n images (0: nothing leaves). */
  forwardOutputBytes(n: number): number {
    return forwardOutputBytes(this.roles, this.spec.policy, this.spec.topk, this.classes, this.topValues, n);
  }

  private checkN(n: number): void {
    if (!(Number.isInteger(n) && n >= 1 && n <= this.spec.maxBatch)) {
      throw new TaError(TEE_ERROR_BAD_PARAMETERS, `batch of ${n} images is not within 1..${this.spec.maxBatch} (the partition's buffers)`);
    }
  }

  /** Copies the activation (checked by checkForward) where the first layer reads it. */
  private stageInput(bytes: Uint8Array, n: number): void {
    const want = n * this.inputs * 4;
    if (!this.built.input && !this.shared) this.shared = new Float32Array(this.spec.maxBatch * this.inputs);
    const x = this.built.input ?? this.shared!;
    new Uint8Array(x.buffer, x.byteOffset, want).set(bytes);
  }

  /** Where the staged activation is: secure memory, or the emulated shared memory. */
  private get staged(): Float32Array {
    return this.built.input ?? this.shared!;
  }

  /** One-hot targets of labels checked by checkForward. */
  private stageLabels(labels: Uint8Array, n: number): Float32Array {
    const truth = this.built.truth!;
    oneHot(labels, n, this.classes, truth);
    return truth;
  }

  /**
   * Everything forward would refuse, before anything changes: TRAIN_STEP checks its request with it
   * before applying a deferred update, so a refused step leaves the partition as it was.
   */
  private checkForward(activation: Uint8Array, n: number, train: boolean, labels: Uint8Array | null): void {
    this.checkN(n);
    if (train && this.spec.mode !== 'train') throw new TaError(TEE_ERROR_BAD_STATE, 'this partition was configured for inference only');
    if (train && this.roles.lossInside && !labels) throw new TaError(TEE_ERROR_BAD_PARAMETERS, 'training with the loss inside the TEE needs the labels');
    if (labels && train && !this.roles.lossInside) throw new TaError(TEE_ERROR_BAD_PARAMETERS, 'no loss layer inside the TEE: training takes no labels');
    if (labels && !train && !this.roles.holdsOutput) throw new TaError(TEE_ERROR_BAD_PARAMETERS, 'the prediction is not made inside the TEE: inference takes no labels');
    if (labels && !train && this.spec.policy === 'top1') throw new TaError(TEE_ERROR_ACCESS_DENIED, 'policy top1: no loss leaves the TEE, so inference takes no labels');
    const want = n * this.inputs * 4;
    if (activation.length !== want) throw new TaError(TEE_ERROR_BAD_PARAMETERS, `activation of ${activation.length} bytes for ${n} images; layer ${this.spec.start} takes ${want}`);
    if (labels) {
      if (labels.length !== n) throw new TaError(TEE_ERROR_BAD_PARAMETERS, `${labels.length} labels for ${n} images`);
      for (let i = 0; i < n; i++) {
        if (labels[i]! >= this.classes) throw new TaError(TEE_ERROR_BAD_PARAMETERS, `label ${labels[i]} of image ${i} is not a class (0..${this.classes - 1})`);
      }
    }
  }

  /**
   * Forward on n images. Returns the bytes the caller may see (see forwardOutputBytes), or null.
   * Labels: required when training with a loss inside; optional for inference, where they only
   * feed the aggregate loss (policies topk and full).
   */
  forward(activation: Uint8Array, n: number, train: boolean, labels: Uint8Array | null): Uint8Array | null {
    this.checkForward(activation, n, train, labels);
    this.stageInput(activation, n);
    // Training: one-hot targets for the loss layers. Inference: validated, used only for the aggregate loss.
    const staged = labels ? this.stageLabels(labels, n) : null;
    const truth = train ? staged : null;
    const out = this.net.forward(this.staged, n, train, truth);
    if (labels && this.roles.holdsOutput) {
      this.ceSum += scoreProbs(out, labels, n, this.classes).ce;
      this.ceCount += n;
    }
    this.lastForward = { n, train };
    return this.forwardOutput(n);
  }

  private forwardOutput(n: number): Uint8Array | null {
    const bytes = this.forwardOutputBytes(n);
    if (bytes === 0) return null;
    if (this.roles.holdsOutput) {
      const probs = this.net.outputLayer.output;
      const C = this.classes;
      switch (this.spec.policy) {
        case 'top1': {
          const out = new Int32Array(n);
          for (let i = 0; i < n; i++) out[i] = argmaxAt(probs, i * C, C);
          return new Uint8Array(out.buffer);
        }
        case 'topk': {
          const k = Math.min(this.spec.topk, C);
          const out = new Int32Array(n * k);
          for (let i = 0; i < n; i++) {
            const ranked = rankClasses(probs.subarray(i * C, (i + 1) * C));
            for (let j = 0; j < k; j++) out[i * k + j] = ranked[j]!.class;
          }
          return new Uint8Array(out.buffer);
        }
        case 'full':
          return new Uint8Array(probs.buffer, probs.byteOffset, n * C * 4);
      }
    }
    const top = this.net.layers[this.net.layers.length - 1]!.output;
    return new Uint8Array(top.buffer, top.byteOffset, n * this.topValues * 4);
  }

  /**
   * Backward after a training forward of the same n; returns the gradient leaving layer start, if
   * needed. Outputs here are views of secure memory, valid until the next command: the transport
   * copies them into shared memory (or the reply frame) at once, so no per-batch garbage is made.
   */
  backward(topDelta: Uint8Array | null, n: number): Uint8Array | null {
    if (this.spec.mode !== 'train') throw new TaError(TEE_ERROR_BAD_STATE, 'this partition was configured for inference only');
    if (!this.lastForward || !this.lastForward.train || this.lastForward.n !== n) {
      throw new TaError(TEE_ERROR_BAD_STATE, `backward of ${n} images must follow a training forward of the same images`);
    }
    this.lastForward = null;
    let td: Float32Array | null = null;
    if (this.roles.suffixOutside) {
      const want = n * this.topValues * 4;
      if (!topDelta || topDelta.length !== want) {
        throw new TaError(TEE_ERROR_BAD_PARAMETERS, `the gradient arriving at layer ${this.spec.end} must be ${want} bytes for ${n} images (got ${topDelta?.length ?? 'none'})`);
      }
      td = this.built.topDelta!;
      new Uint8Array(td.buffer, td.byteOffset, want).set(topDelta);
    } else if (topDelta) {
      throw new TaError(TEE_ERROR_BAD_PARAMETERS, `layer ${this.spec.end} is the network's last: no gradient arrives from above`);
    }
    const id = this.built.inputDelta;
    if (id) id.fill(0, 0, n * this.inputs);
    // A first layer that does not read its input in backward gets an empty one (see keepsInput).
    this.net.backward(this.built.input ?? EMPTY, n, id, td);
    this.trainedSinceUpdate += n;
    return id ? new Uint8Array(id.buffer, id.byteOffset, n * this.inputs * 4) : null;
  }

  update(images: number, expectedUpdates: number): number {
    if (this.spec.mode !== 'train') throw new TaError(TEE_ERROR_BAD_STATE, 'this partition was configured for inference only');
    if (!(Number.isInteger(images) && images >= 1)) throw new TaError(TEE_ERROR_BAD_PARAMETERS, `an update needs at least one image (got ${images})`);
    if (expectedUpdates !== this.net.updates) {
      throw new TaError(TEE_ERROR_BAD_STATE, `the worlds are out of step: the normal world is at update ${expectedUpdates}, the TEE at ${this.net.updates}`);
    }
    this.net.update(images);
    this.trainedSinceUpdate = 0;
    return this.net.updates;
  }

  /**
   * TRAIN_STEP: [the deferred update of `deferredImages` (0: none)], then a training forward and
   * backward of n images; returns the gradient leaving layer start, if needed. The inputs are
   * checked before the update, so a step refused for them changes nothing.
   */
  trainStep(activation: Uint8Array, n: number, labels: Uint8Array | null, deferredImages: number): Uint8Array | null {
    this.checkForward(activation, n, true, labels);
    if (deferredImages > 0) {
      // No update count travels with it (UPDATE's drift check): the images trained since the last
      // update stand in for it, as the normal world defers only an update of exactly those.
      if (deferredImages !== this.trainedSinceUpdate) {
        throw new TaError(TEE_ERROR_BAD_STATE,
          `the worlds are out of step: the normal world defers an update of ${deferredImages} images, the TEE trained on ${this.trainedSinceUpdate} since update ${this.net.updates}`);
      }
      this.update(deferredImages, this.net.updates);
    }
    this.forward(activation, n, true, labels);
    return this.backward(null, n);
  }

  takeLoss(): { sum: number; count: number } {
    if (this.spec.policy === 'top1') throw new TaError(TEE_ERROR_ACCESS_DENIED, 'policy top1: the loss never leaves the TEE');
    const r = { sum: this.ceSum, count: this.ceCount };
    this.ceSum = 0;
    this.ceCount = 0;
    return r;
  }

  exportPlaintext(): Uint8Array {
    if (this.spec.policy !== 'full' && !this.spec.allowExport) {
      throw new TaError(TEE_ERROR_ACCESS_DENIED,
        `policy ${this.spec.policy}: the protected layers do not leave the TEE in plaintext (configure with the development export flag, or policy full)`);
    }
    return encodeWeights(this.net.weightsLayers(), { ...DARKNET_WEIGHTS_VERSION, seen: 0 });
  }

  loadParams(bytes: Uint8Array): void {
    try {
      decodeWeights(bytes, this.net.weightsLayers(), `parameters for layers ${this.spec.start}:${this.spec.end}`);
    } catch (e) {
      if (e instanceof WeightsError) throw new TaError(TEE_ERROR_BAD_PARAMETERS, e.message);
      throw e;
    }
  }

  get updates(): number {
    return this.net.updates;
  }

  get hasTrainable(): boolean {
    return this.net.layers.some(isTrainable);
  }
}
