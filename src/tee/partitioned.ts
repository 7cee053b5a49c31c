// The normal world's half of a partitioned network: layers before the TEE range (prefix) and after
// it (suffix) run here as range Networks with the same seed, layers [start, end] run in the TA. It
// is a Stepper, so the one training/evaluation loop of nn/train.ts drives it, and with a fixed seed
// it computes the same numbers as the whole network in one process (same layer code, same initial
// weights and dropout masks, same order of float operations).
//
// Per training forward+backward, what crosses: the activation entering layer start; labels when a
// loss layer is inside; back, the gradient leaving layer start (only when trainable layers below
// need it). With a suffix in the normal world, also layer end's activation out and the gradient
// arriving at it in. Under policy top1 the prediction leaves only as class indices, and the loss
// not at all.
//
// One round trip per training forward: update() updates the normal world's layers at once but, when
// the TA trains with TRAIN_STEP, only records the TA's update; the next TRAIN_STEP carries it (p1.b)
// and the TA applies it before its forward. Every other command first flushes a recorded update
// with an explicit UPDATE, so nothing (inference, exports, sealing, statistics) ever sees the
// protected layers one update behind: all commands go through invoke(), and only trainStep()
// carries the update instead.
import { readFile } from 'node:fs/promises';
import { oneHot } from '../data/batches.js';
import { getKernels } from '../kernels/index.js';
import type { Kernels } from '../kernels/types.js';
import { parseCfg } from '../nn/cfg.js';
import type { NetworkConfig } from '../nn/config.js';
import { shapeSize, type Shape } from '../nn/layer.js';
import { DEFAULT_SEED } from '../nn/model.js';
import { isTrainable, Network } from '../nn/network.js';
import { firstNonFiniteParameter, rankClasses, scoreProbs, type BatchScore, type HiddenLoss, type Prediction, type Stepper } from '../nn/train.js';
import { DARKNET_WEIGHTS_VERSION, decodeWeights, encodeWeights, saveWeightsFile, weightsByteSize, type WeightsLayer } from '../nn/weights.js';
import {
  TeecError, type ContextOptions, type TeeContextApi, type TeeSessionApi, type TeecOperation, type TeecParameter, type TeecSharedMemory,
} from './client.js';
import { openTeeContext } from './optee.js';
import {
  CMD_BACKWARD, CMD_CONFIGURE, CMD_EXPORT_PARAMS_PLAINTEXT, CMD_FORWARD, CMD_GET_STATS, CMD_LOAD_PARAMS, CMD_TAKE_LOSS, CMD_TRAIN_STEP,
  CMD_UPDATE, DEFAULT_TOPK, FLAG_ALLOW_PLAINTEXT_EXPORT, FLAG_INPUT_DELTA, FLAG_TRAIN, FORWARD_TRAIN, paramTypes, POLICY_IDS, TA_UUID,
  TEE_ERROR_SHORT_BUFFER, TEE_ERROR_TARGET_DEAD, TEEC_MEM_INPUT, TEEC_MEM_OUTPUT, TEEC_MEMREF_PARTIAL_INPUT as PIN, TEEC_MEMREF_PARTIAL_OUTPUT as POUT,
  TEEC_MEMREF_TEMP_INPUT as MIN, TEEC_MEMREF_TEMP_OUTPUT as MOUT, TEEC_NONE as NONE, TEEC_VALUE_INPUT as VIN,
  type OutputPolicy, type TaStats,
} from './shared/protocol.js';
import { forwardOutputBytes, rangeRoles, type RangeRoles } from './shared/roles.js';

export interface PartitionedOptions {
  /** Path of the .cfg file, or its text (the TA builds its layers from the same text). */
  cfg: string | { text: string; file: string };
  /** A Darknet .weights file for the whole network (development path; deployment packages come later). */
  weights?: string;
  seed?: number;
  /** Override the cfg's batch (subdivisions become 1 unless given too). */
  batch?: number;
  subdivisions?: number;
  /** The TEE range [start, end], inclusive cfg layer indices. */
  range: readonly [number, number];
  /** 'infer' holds no gradients or momentum in the TEE (smaller), and refuses training. */
  mode: 'train' | 'infer';
  /** Output policy (default top1). It sanitises what leaves only when the range holds the prediction layer. */
  policy?: OutputPolicy;
  /** Classes listed under policy topk (default 5). */
  topk?: number;
  /** Development only: let the TA export the protected layers in plaintext (for --out) under any policy. */
  allowPlaintextExport?: boolean;
  /** Kernels of the normal world (default getKernels()). */
  kernels?: Kernels;
  /** An existing TA context to open the session in (not finalized by close()). */
  context?: TeeContextApi;
  /** Options of the TA context created otherwise (secure memory, storage, TA kernels, transcript). */
  contextOptions?: ContextOptions;
}

function applyBatch(config: NetworkConfig, batch?: number, subdivisions?: number): NetworkConfig {
  if (batch === undefined && subdivisions === undefined) return config;
  return { ...config, net: { ...config.net, batch: batch ?? config.net.batch, subdivisions: subdivisions ?? (batch !== undefined ? 1 : config.net.subdivisions) } };
}

function lastOutput(net: Network): Float32Array {
  return net.layers[net.layers.length - 1]!.output;
}

/** A memref parameter over the first `bytes` bytes of a shared-memory block. */
function sharedRef(parent: TeecSharedMemory, bytes: number): TeecParameter {
  return { memref: { parent, offset: 0, size: bytes } };
}

export class PartitionedNetwork implements Stepper {
  readonly config: NetworkConfig;
  readonly roles: RangeRoles;
  readonly policy: OutputPolicy;
  readonly topk: number;
  /** Layers 0..start-1 in the normal world, or null. */
  readonly pre: Network | null;
  /** Layers end+1..L-1 in the normal world, or null. */
  readonly post: Network | null;
  readonly kernels: Kernels;
  readonly inShape: Shape;
  readonly outputs: number;
  readonly batch: number;
  readonly maxBatch: number;
  readonly mode: 'train' | 'infer';
  /** Images trained on (the .weights header's `seen`). */
  seen = 0;
  /** SGD updates done (the TA's may still be pending); the TA checks it is at the same count on every UPDATE. */
  updates = 0;
  /**
   * The TA's half of the last update(), not sent yet: the next TRAIN_STEP carries it, or an explicit
   * UPDATE flushes it before any other command. null: the TA is up to date.
   */
  private pendingUpdate: { images: number; updates: number } | null = null;
  /** Images trained on since the last update: the TA takes a deferred update only of exactly these. */
  private trainedSinceUpdate = 0;
  private readonly inputsAtStart: number;
  private readonly topValues: number;
  private readonly truth: Float32Array;
  // What crosses the boundary lives in shared memory (TEEC_AllocateSharedMemory): the normal world
  // writes the activation and labels there and reads the TA's outputs in place — no copies beyond
  // the one into the activation block. On the pipe transport these are ordinary buffers.
  private readonly actShm: TeecSharedMemory;
  private readonly labelShm: TeecSharedMemory;
  private readonly gradInShm: TeecSharedMemory | null;
  private readonly topOutShm: TeecSharedMemory | null;
  private readonly topDeltaShm: TeecSharedMemory | null;
  private readonly outShm: TeecSharedMemory;
  private readonly gradIn: Float32Array | null;
  private readonly topOut: Float32Array | null;
  private readonly topDelta: Float32Array | null;
  private readonly outBuf: Uint8Array;
  private readonly inputDelta: boolean;
  private staging: Network | null = null;

  private constructor(
    config: NetworkConfig,
    readonly cfgText: string,
    opts: PartitionedOptions,
    readonly context: TeeContextApi,
    // Private so that no command reaches the TA without invoke()'s flush of a pending update.
    private readonly session: TeeSessionApi,
    private readonly ownsContext: boolean,
  ) {
    this.config = config;
    const [start, end] = opts.range;
    this.roles = rangeRoles(config, start, end);
    this.policy = opts.policy ?? 'top1';
    this.topk = opts.topk ?? DEFAULT_TOPK;
    this.mode = opts.mode;
    this.kernels = opts.kernels ?? getKernels();
    const seed = opts.seed ?? DEFAULT_SEED;
    this.maxBatch = Math.max(1, Math.floor(config.net.batch / config.net.subdivisions));
    this.batch = config.net.batch;
    const L = config.layers.length;
    const common = { kernels: this.kernels, seed, maxBatch: this.maxBatch };
    this.pre = start > 0 ? new Network(config, { ...common, range: [0, start - 1] }) : null;
    this.post = end < L - 1 ? new Network(config, { ...common, range: [end + 1, L - 1] }) : null;
    // A whole network only to learn shapes would be wasteful: a one-image range network of the TEE part does.
    const shapeProbe = new Network(config, { ...common, maxBatch: 1, range: [start, end] });
    this.inShape = this.pre ? this.pre.inShape : shapeProbe.inShape;
    this.inputsAtStart = shapeProbe.inputs;
    this.topValues = shapeSize(shapeProbe.layers[shapeProbe.layers.length - 1]!.outShape);
    this.outputs = this.post ? this.post.outputs : this.roles.holdsOutput ? shapeProbe.outputs : this.pre!.outputs;
    // It also serves as the staging area for weights passing to/from the TA; it keeps no parameters.
    this.staging = shapeProbe;
    this.wipeStaging();
    this.inputDelta = opts.mode === 'train' && this.roles.trainableBelow;
    if (this.post && opts.mode === 'train') this.post.setInputDeltaNeeded(this.roles.trainableBelow || this.roles.trainableInside);
    this.truth = new Float32Array(this.maxBatch * this.outputs);
    const shm = (bytes: number, flags: number): TeecSharedMemory => context.allocateSharedMemory(bytes, flags);
    this.actShm = shm(this.maxBatch * this.inputsAtStart * 4, TEEC_MEM_INPUT);
    this.labelShm = shm(this.maxBatch, TEEC_MEM_INPUT);
    this.gradInShm = this.inputDelta ? shm(this.maxBatch * this.inputsAtStart * 4, TEEC_MEM_OUTPUT) : null;
    this.topOutShm = this.post ? shm(this.maxBatch * this.topValues * 4, TEEC_MEM_OUTPUT) : null;
    this.topDeltaShm = this.post && opts.mode === 'train' ? shm(this.maxBatch * this.topValues * 4, TEEC_MEM_INPUT) : null;
    this.outShm = shm(Math.max(4, forwardOutputBytes(this.roles, this.policy, this.topk, this.outputs, this.topValues, this.maxBatch)), TEEC_MEM_OUTPUT);
    this.gradIn = this.gradInShm?.f32() ?? null;
    this.topOut = this.topOutShm?.f32() ?? null;
    this.topDelta = this.topDeltaShm?.f32() ?? null;
    this.outBuf = this.outShm.buffer;
  }

  private releaseShared(): void {
    for (const m of [this.actShm, this.labelShm, this.gradInShm, this.topOutShm, this.topDeltaShm, this.outShm]) if (m) this.context.releaseSharedMemory(m);
  }

  /** Starts (or reuses) the TA, configures the partition inside it and loads the protected weights. */
  static async open(opts: PartitionedOptions): Promise<PartitionedNetwork> {
    const { text, file } = typeof opts.cfg === 'string' ? { text: await readFile(opts.cfg, 'utf8'), file: opts.cfg } : opts.cfg;
    const config = applyBatch(parseCfg(text, file), opts.batch, opts.subdivisions);
    rangeRoles(config, opts.range[0], opts.range[1]);
    const context = opts.context ?? await openTeeContext(opts.contextOptions);
    const owns = !opts.context;
    let session: TeeSessionApi | null = null;
    let pn: PartitionedNetwork | null = null;
    try {
      session = await context.openSession(TA_UUID);
      pn = new PartitionedNetwork(config, text, opts, context, session, owns);
      await pn.configure(opts);
      if (opts.weights) await pn.loadWeights(opts.weights);
      return pn;
    } catch (e) {
      pn?.releaseShared();
      if (session) await session.closeSession();
      if (owns) await context.finalizeContext();
      throw e;
    }
  }

  get range(): readonly [number, number] {
    return [this.roles.start, this.roles.end];
  }

  private async configure(opts: PartitionedOptions): Promise<void> {
    const flags = (this.mode === 'train' ? FLAG_TRAIN : 0) | (this.inputDelta ? FLAG_INPUT_DELTA : 0) | (opts.allowPlaintextExport ? FLAG_ALLOW_PLAINTEXT_EXPORT : 0);
    const cfg = Buffer.from(this.cfgText, 'utf8');
    await this.invoke(CMD_CONFIGURE, {
      paramTypes: paramTypes(MIN, VIN, VIN, VIN),
      params: [
        { tmpref: { buffer: cfg, size: cfg.length } },
        { value: { a: this.roles.start, b: this.roles.end } },
        { value: { a: this.maxBatch, b: (opts.seed ?? DEFAULT_SEED) >>> 0 } },
        { value: { a: flags, b: POLICY_IDS[this.policy] | (Math.min(this.topk, 0xffffff) << 8) } },
      ],
    });
  }

  private stagingNet(): Network {
    if (!this.staging) throw new Error('internal: no staging network');
    return this.staging;
  }

  /** The layer lists in .weights order: prefix, TEE part (staging copy), suffix. */
  private allWeightsLayers(): WeightsLayer[] {
    return [...(this.pre?.weightsLayers() ?? []), ...this.stagingNet().weightsLayers(), ...(this.post?.weightsLayers() ?? [])];
  }

  private wipeStaging(): void {
    for (const l of this.stagingNet().layers) for (const p of l.params()) p.data.fill(0);
  }

  /** The first non-finite parameter of the normal-world layers (the TEE checks nothing it holds here). */
  nonFiniteParameter(): string | null {
    for (const n of [this.pre, this.post]) {
      const bad = n ? firstNonFiniteParameter(n) : null;
      if (bad !== null) return bad;
    }
    return null;
  }

  /** Reads a whole-network .weights file: normal-world layers kept here, the TEE part sent to the TA. */
  async loadWeights(path: string): Promise<void> {
    const bytes = await readFile(path);
    try {
      const header = decodeWeights(bytes, this.allWeightsLayers(), path, { requireFinite: true });
      this.seen = header.seen;
      const protectedLayers = this.stagingNet().weightsLayers();
      if (protectedLayers.length > 0) {
        const blob = encodeWeights(protectedLayers, { ...DARKNET_WEIGHTS_VERSION, seen: 0 });
        try {
          await this.invoke(CMD_LOAD_PARAMS, { paramTypes: paramTypes(MIN), params: [{ tmpref: { buffer: blob, size: blob.length } }] });
        } finally {
          blob.fill(0);
        }
      }
    } finally {
      bytes.fill(0);
      this.wipeStaging();
    }
  }

  /**
   * The protected layers in plaintext (development export; the TA refuses unless the policy is
   * full or the partition was opened with allowPlaintextExport).
   */
  async exportProtected(): Promise<WeightsLayer[]> {
    const layers = this.stagingNet().weightsLayers();
    const header = { ...DARKNET_WEIGHTS_VERSION, seen: 0 };
    const buf = new Uint8Array(weightsByteSize(layers, header));
    const op: TeecOperation = { paramTypes: paramTypes(MOUT), params: [{ tmpref: { buffer: buf, size: buf.length } }] };
    await this.invoke(CMD_EXPORT_PARAMS_PLAINTEXT, op);
    decodeWeights(buf.subarray(0, op.params![0]!.tmpref!.size), layers, 'the TA');
    buf.fill(0);
    return layers;
  }

  /** Writes the whole network as a Darknet .weights file, atomically (needs exportProtected's permission). */
  async save(path: string): Promise<void> {
    await this.exportProtected();
    try {
      await saveWeightsFile(path, this.allWeightsLayers(), { ...DARKNET_WEIGHTS_VERSION, seen: this.seen });
    } finally {
      this.wipeStaging();
    }
  }

  async stats(): Promise<TaStats> {
    let size = 64 * 1024;
    for (;;) {
      const buf = new Uint8Array(size);
      const op: TeecOperation = { paramTypes: paramTypes(MOUT), params: [{ tmpref: { buffer: buf, size } }] };
      try {
        await this.invoke(CMD_GET_STATS, op);
      } catch (e) {
        if (e instanceof TeecError && e.code === TEE_ERROR_SHORT_BUFFER) {
          size = op.params![0]!.tmpref!.size;
          continue;
        }
        throw e;
      }
      return JSON.parse(Buffer.from(buf.subarray(0, op.params![0]!.tmpref!.size)).toString('utf8')) as TaStats;
    }
  }

  /**
   * Closes the session (the TA wipes the secure memory) and, if this object started the TA, ends it.
   * A pending update is flushed first, so that a TA refusing it (the worlds out of step) is reported
   * rather than lost with the session; a dead TA has no state left to update, and is not an error.
   */
  async close(): Promise<void> {
    let unflushed: unknown = null;
    try {
      await this.flushUpdate();
    } catch (e) {
      unflushed = e;
    }
    await this.session.closeSession();
    this.releaseShared();
    if (this.ownsContext) await this.context.finalizeContext();
    if (unflushed !== null && !(unflushed instanceof TeecError && unflushed.code === TEE_ERROR_TARGET_DEAD)) throw unflushed;
  }

  // --- Commands --------------------------------------------------------------------------------

  /**
   * Sends the pending update of the protected layers now (explicit UPDATE); nothing when the TA is up
   * to date. invoke() calls it before every command; callers that time training call it at the end
   * of the timed part, as the last batch's TA update is otherwise only sent by the next command.
   */
  async flushUpdate(): Promise<void> {
    const u = this.pendingUpdate;
    if (!u) return;
    await this.session.invokeCommand(CMD_UPDATE, { paramTypes: paramTypes(VIN), params: [{ value: { a: u.images, b: u.updates } }] });
    // Only once the TA took it: a refused UPDATE changed nothing, and the next command tries again.
    this.pendingUpdate = null;
  }

  /** Every command but TRAIN_STEP: the TA first catches up with the normal world's updates. */
  private async invoke(command: number, op: TeecOperation): Promise<TeecOperation> {
    await this.flushUpdate();
    return this.session.invokeCommand(command, op);
  }

  /**
   * A command of the session for other modules (deployment's unseal/seal, the attack oracle's
   * forward): sent after flushing a pending update, so it sees the protected layers the normal
   * world has trained. The same shape as TeecSession.invokeCommand.
   */
  invokeCommand(command: number, op: TeecOperation = { paramTypes: 0 }): Promise<TeecOperation> {
    return this.invoke(command, op);
  }

  /** TRAIN_STEP, the one command that carries the pending update (p1.b) instead of flushing it. */
  private async trainStep(act: Float32Array, n: number, labels: Uint8Array | null): Promise<void> {
    const u = this.pendingUpdate;
    await this.session.invokeCommand(CMD_TRAIN_STEP, {
      paramTypes: paramTypes(PIN, VIN, labels ? PIN : NONE, this.gradInShm ? POUT : NONE),
      params: [
        this.actParam(act, n),
        { value: { a: n, b: u ? u.images : 0 } },
        labels ? this.labelsParam(labels, n) : {},
        this.gradInShm ? sharedRef(this.gradInShm, n * this.inputsAtStart * 4) : {},
      ],
    });
    // The TA checks a step's inputs before applying the update: if it refused the step, the update
    // is still pending.
    this.pendingUpdate = null;
  }

  // --- Stepper ---------------------------------------------------------------------------------

  private labelsParam(labels: Uint8Array, n: number): TeecParameter {
    this.labelShm.buffer.set(labels.subarray(0, n));
    return sharedRef(this.labelShm, n);
  }

  /** The activation entering the TEE, copied into its shared-memory block. */
  private actParam(act: Float32Array, n: number): TeecParameter {
    const count = n * this.inputsAtStart;
    this.actShm.f32(count).set(act.subarray(0, count));
    return sharedRef(this.actShm, count * 4);
  }

  private activation(input: Float32Array, n: number, train: boolean, truth: Float32Array | null): Float32Array {
    if (!this.pre) return input;
    this.pre.forward(input, n, train, truth);
    return lastOutput(this.pre);
  }

  private async teeForward(act: Float32Array, n: number, train: boolean, labels: Uint8Array | null): Promise<number> {
    const outBytes = forwardOutputBytes(this.roles, this.policy, this.topk, this.outputs, this.topValues, n);
    const target = this.post ? this.topOutShm! : this.outShm;
    const op: TeecOperation = {
      paramTypes: paramTypes(PIN, VIN, labels ? PIN : NONE, outBytes > 0 ? POUT : NONE),
      params: [
        this.actParam(act, n),
        { value: { a: n, b: train ? FORWARD_TRAIN : 0 } },
        labels ? this.labelsParam(labels, n) : {},
        outBytes > 0 ? sharedRef(target, outBytes) : {},
      ],
    };
    await this.invoke(CMD_FORWARD, op);
    return outBytes;
  }

  async trainBatch(input: Float32Array, labels: Uint8Array, n: number): Promise<number | null> {
    if (this.mode !== 'train') throw new Error('this partitioned network was opened for inference');
    oneHot(labels, n, this.outputs, this.truth);
    const act = this.activation(input, n, true, this.truth);
    const teeLabels = this.roles.lossInside ? labels : null;
    let ce: number | null = null;
    if (this.post) {
      await this.teeForward(act, n, true, teeLabels);
      const probs = this.post.forward(this.topOut!, n, true, this.truth);
      if (this.postHoldsPrediction) ce = scoreProbs(probs, labels, n, this.outputs).ce;
      this.topDelta!.fill(0, 0, n * this.topValues);
      this.post.backward(this.topOut!, n, this.topDelta!);
      await this.invoke(CMD_BACKWARD, {
        paramTypes: paramTypes(PIN, VIN, this.gradInShm ? POUT : NONE),
        params: [
          sharedRef(this.topDeltaShm!, n * this.topValues * 4), { value: { a: n, b: 0 } },
          this.gradInShm ? sharedRef(this.gradInShm, n * this.inputsAtStart * 4) : {},
        ],
      });
    } else {
      await this.trainStep(act, n, teeLabels);
    }
    this.trainedSinceUpdate += n;
    if (this.pre && this.preHoldsPrediction) ce = scoreProbs(this.pre.outputLayer.output, labels, n, this.outputs).ce;
    if (this.pre && this.gradIn) this.pre.backward(input, n, null, this.gradIn);
    return ce;
  }

  private get predictionIndex(): number {
    for (let i = this.config.layers.length - 1; i > 0; i--) if (this.config.layers[i]!.type !== 'cost') return i;
    return 0;
  }

  private get preHoldsPrediction(): boolean {
    return this.pre !== null && this.predictionIndex < this.roles.start;
  }

  private get postHoldsPrediction(): boolean {
    return this.post !== null && this.predictionIndex > this.roles.end;
  }

  async update(images: number): Promise<void> {
    this.pre?.update(images);
    this.post?.update(images);
    // Deferred into the next TRAIN_STEP when there will be one (no layers above the partition) and
    // the TA will take it (an update of exactly the images trained since the last; p1.b = 0 would
    // mean none). Otherwise sent now, as before: invoke() flushes an earlier pending one first.
    if (!this.post && images > 0 && images === this.trainedSinceUpdate) {
      await this.flushUpdate();
      this.pendingUpdate = { images, updates: this.updates };
    } else {
      await this.invoke(CMD_UPDATE, { paramTypes: paramTypes(VIN), params: [{ value: { a: images, b: this.updates } }] });
    }
    this.trainedSinceUpdate = 0;
    this.updates++;
    this.seen += images;
  }

  /** Inference: the prediction's score as far as the policy lets it out. */
  async scoreBatch(input: Float32Array, labels: Uint8Array, n: number): Promise<BatchScore> {
    const act = this.activation(input, n, false, null);
    if (this.preHoldsPrediction) return scoreProbs(this.pre!.outputLayer.output, labels, n, this.outputs);
    if (this.post) {
      await this.teeForward(act, n, false, null);
      return scoreProbs(this.post.forward(this.topOut!, n, false), labels, n, this.outputs);
    }
    // The TEE holds the prediction.
    await this.teeForward(act, n, false, this.policy === 'topk' ? labels : null);
    const C = this.outputs;
    switch (this.policy) {
      case 'full':
        return scoreProbs(new Float32Array(this.outBuf.buffer, this.outBuf.byteOffset, n * C), labels, n, C);
      case 'top1':
      case 'topk': {
        const k = this.policy === 'top1' ? 1 : Math.min(this.topk, C);
        const best = new Int32Array(this.outBuf.buffer, this.outBuf.byteOffset, n * k);
        let correct = 0;
        for (let i = 0; i < n; i++) if (best[i * k] === labels[i]) correct++;
        return { ce: null, correct };
      }
    }
  }

  async takeHiddenLoss(): Promise<HiddenLoss | null> {
    if (this.policy === 'top1' || !this.roles.holdsOutput) return null;
    const buf = new Uint8Array(16);
    await this.invoke(CMD_TAKE_LOSS, { paramTypes: paramTypes(MOUT), params: [{ tmpref: { buffer: buf, size: 16 } }] });
    const dv = new DataView(buf.buffer);
    return { sum: dv.getFloat64(0, true), count: dv.getFloat64(8, true) };
  }

  async predictImage(image: Float32Array, k: number): Promise<Prediction> {
    const inputs = shapeSize(this.inShape);
    if (image.length !== inputs) throw new Error(`image has ${image.length} values, the network expects ${inputs}`);
    const act = this.activation(image, 1, false, null);
    let probs: Float32Array | null = null;
    if (this.preHoldsPrediction) probs = this.pre!.outputLayer.output;
    else if (this.post) {
      await this.teeForward(act, 1, false, null);
      probs = this.post.forward(this.topOut!, 1, false);
    } else {
      await this.teeForward(act, 1, false, null);
      if (this.policy === 'full') probs = new Float32Array(this.outBuf.buffer, this.outBuf.byteOffset, this.outputs);
      else {
        const m = this.policy === 'top1' ? 1 : Math.min(this.topk, this.outputs);
        const classes = Array.from(new Int32Array(this.outBuf.buffer, this.outBuf.byteOffset, m));
        return { top: classes.slice(0, Math.min(k, m)).map((c) => ({ class: c })), probs: [] };
      }
    }
    const all = Array.from(probs.subarray(0, this.outputs));
    return { top: rankClasses(all).slice(0, Math.min(k, all.length)), probs: all };
  }

  /** Trainable layers on the normal world's side (prefix and suffix). */
  get normalWorldTrainable(): number {
    return [...(this.pre?.layers ?? []), ...(this.post?.layers ?? [])].filter(isTrainable).length;
  }
}

/** PartitionedNetwork.open as a function. */
export function openPartitioned(opts: PartitionedOptions): Promise<PartitionedNetwork> {
  return PartitionedNetwork.open(opts);
}
