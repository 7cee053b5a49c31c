// What the attacker holds (DESIGN.md §9): the normal world of the device. An Oracle is the attack
// code's only handle on the victim: per-example answers to queries, as far as the output policy
// releases them, and the parameters of the layers that run in the normal world. Against a
// partition it talks to the TA through the TEE client (FORWARD commands over the wire), so it
// physically receives nothing else; k = 0 (nothing protected, full output) is the white-box
// baseline, where the attacker holds the whole network.
import { shapeSize, type Shape } from '../nn/layer.js';
import type { NetworkConfig } from '../nn/config.js';
import type { Network } from '../nn/network.js';
import type { PartitionedNetwork } from '../tee/partitioned.js';
import { CMD_FORWARD, paramTypes, TEEC_MEMREF_TEMP_INPUT, TEEC_MEMREF_TEMP_OUTPUT, TEEC_NONE, TEEC_VALUE_INPUT, type OutputPolicy } from '../tee/shared/protocol.js';
import { forwardOutputBytes, predictionLayer } from '../tee/shared/roles.js';
import { logitLayer } from './logits.js';

/**
 * What an attacker can see. labels: the top-1 class of a query; ranks: the top-k classes;
 * scores: the whole probability vector (hence the loss and the confidence); normal-world-weights:
 * the parameters of the layers outside the TEE; all-weights: every parameter (nothing protected);
 * tee-input: the activation entering the TEE (the attacker computes it with the normal-world layers).
 */
export type Visible = 'labels' | 'ranks' | 'scores' | 'normal-world-weights' | 'all-weights' | 'tee-input';

export type OracleAnswer =
  /** n × classes probabilities; the logits too when the attacker computes the prediction itself. */
  | { kind: 'scores'; probs: Float32Array; logits?: Float32Array }
  /** n × k best classes, best first (k = 1 under policy top1). */
  | { kind: 'ranks'; classes: Int32Array; k: number };

export interface Oracle {
  readonly config: NetworkConfig;
  /** The protected layer range, or null when nothing is protected. */
  readonly hidden: readonly [number, number] | null;
  /** What leaves the device's prediction: 'full' when the scores are visible. */
  readonly output: OutputPolicy;
  readonly classes: number;
  readonly inShape: Shape;
  /** Most images per query. */
  readonly maxBatch: number;
  readonly visible: ReadonlySet<Visible>;
  /** Inference (dropout off) on n ≤ maxBatch images (CHW floats). */
  query(input: Float32Array, n: number): Promise<OracleAnswer>;
  /** Copies the parameters of every layer the attacker holds into `net` (same cfg); the rest stay as they are. */
  copyVisibleInto(net: Network): void;
  /** Queries answered so far (images). */
  readonly queries: number;
}

/** The top-1 class of each of n answers. */
export function topLabels(a: OracleAnswer, n: number, classes: number): Int32Array {
  const out = new Int32Array(n);
  if (a.kind === 'ranks') {
    for (let i = 0; i < n; i++) out[i] = a.classes[i * a.k]!;
    return out;
  }
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (a.probs[i * classes + c]! > a.probs[i * classes + best]!) best = c;
    out[i] = best;
  }
  return out;
}

function copyLayers(from: readonly { index: number; params(): readonly { data: Float32Array }[] }[], net: Network): void {
  for (const l of from) {
    const t = net.layer(l.index);
    if (!t) continue;
    const src = l.params();
    const dst = t.params();
    for (let i = 0; i < src.length; i++) dst[i]!.data.set(src[i]!.data);
  }
}

/** Nothing protected: the attacker holds the whole model and sees its full output (white-box). */
export class WholeModelOracle implements Oracle {
  readonly hidden = null;
  readonly output: OutputPolicy = 'full';
  readonly visible: ReadonlySet<Visible> = new Set<Visible>(['labels', 'ranks', 'scores', 'normal-world-weights', 'all-weights']);
  queries = 0;

  constructor(private readonly net: Network) {}

  get config(): NetworkConfig {
    return this.net.config;
  }

  get classes(): number {
    return this.net.outputs;
  }

  get inShape(): Shape {
    return this.net.inShape;
  }

  get maxBatch(): number {
    return this.net.maxBatch;
  }

  async query(input: Float32Array, n: number): Promise<OracleAnswer> {
    this.queries += n;
    const out = this.net.forward(input, n, false);
    const li = logitLayer(this.net.config);
    const logits = li !== null ? this.net.layer(li)!.output.slice(0, n * this.classes) : undefined;
    return { kind: 'scores', probs: out.slice(0, n * this.classes), ...(logits ? { logits } : {}) };
  }

  copyVisibleInto(net: Network): void {
    copyLayers(this.net.layers, net);
  }
}

/**
 * A partitioned deployment: the normal-world layers run here, the protected range in the TA, and
 * the answer is what the TA's FORWARD returns under its output policy (or what the normal-world
 * layers above it compute from the activation it releases).
 */
export class TeeOracle implements Oracle {
  readonly hidden: readonly [number, number];
  readonly output: OutputPolicy;
  readonly visible: ReadonlySet<Visible>;
  queries = 0;
  private readonly out: Uint8Array;
  private readonly topValues: number;
  /** The prediction layer runs in the normal world (below or above the range). */
  private readonly predictionOutside: 'pre' | 'post' | null;

  constructor(private readonly pn: PartitionedNetwork) {
    this.hidden = [pn.roles.start, pn.roles.end];
    const o = predictionLayer(pn.config);
    this.predictionOutside = o < pn.roles.start ? 'pre' : o > pn.roles.end ? 'post' : null;
    this.topValues = pn.post ? pn.post.inputs : pn.outputs;
    this.output = this.predictionOutside ? 'full' : pn.policy;
    const v = new Set<Visible>(['labels', 'normal-world-weights']);
    if (pn.pre) v.add('tee-input');
    if (this.output !== 'top1') v.add('ranks');
    if (this.output === 'full') v.add('scores');
    this.visible = v;
    this.out = new Uint8Array(Math.max(4, forwardOutputBytes(pn.roles, pn.policy, pn.topk, pn.outputs, this.topValues, pn.maxBatch)));
  }

  get config(): NetworkConfig {
    return this.pn.config;
  }

  get classes(): number {
    return this.pn.outputs;
  }

  get inShape(): Shape {
    return this.pn.inShape;
  }

  get maxBatch(): number {
    return this.pn.maxBatch;
  }

  async query(input: Float32Array, n: number): Promise<OracleAnswer> {
    if (n > this.maxBatch) throw new RangeError(`a query of ${n} images exceeds the partition's ${this.maxBatch}`);
    this.queries += n;
    const pn = this.pn;
    const C = this.classes;
    let act = input;
    if (pn.pre) {
      pn.pre.forward(input, n, false);
      if (this.predictionOutside === 'pre') return { kind: 'scores', probs: pn.pre.outputLayer.output.slice(0, n * C), ...this.logitsOf(pn.pre, n) };
      act = pn.pre.layers[pn.pre.layers.length - 1]!.output;
    }
    const bytes = forwardOutputBytes(pn.roles, pn.policy, pn.topk, C, this.topValues, n);
    const inputs = pn.pre ? shapeSize(pn.pre.layers[pn.pre.layers.length - 1]!.outShape) : shapeSize(pn.inShape);
    const op = {
      paramTypes: paramTypes(TEEC_MEMREF_TEMP_INPUT, TEEC_VALUE_INPUT, TEEC_NONE, bytes > 0 ? TEEC_MEMREF_TEMP_OUTPUT : TEEC_NONE),
      params: [
        { tmpref: { buffer: act, size: n * inputs * 4 } },
        { value: { a: n, b: 0 } },
        {},
        bytes > 0 ? { tmpref: { buffer: this.out, size: bytes } } : {},
      ],
    };
    await pn.invokeCommand(CMD_FORWARD, op);
    if (pn.post) {
      const top = new Float32Array(this.out.buffer.slice(0, n * this.topValues * 4));
      const probs = pn.post.forward(top, n, false).slice(0, n * C);
      return { kind: 'scores', probs, ...this.logitsOf(pn.post, n) };
    }
    switch (pn.policy) {
      case 'full':
        return { kind: 'scores', probs: new Float32Array(this.out.buffer.slice(0, n * C * 4)) };
      case 'top1':
        return { kind: 'ranks', classes: new Int32Array(this.out.buffer.slice(0, n * 4)), k: 1 };
      case 'topk': {
        const k = Math.min(pn.topk, C);
        return { kind: 'ranks', classes: new Int32Array(this.out.buffer.slice(0, n * k * 4)), k };
      }
    }
  }

  /** The softmax's input, when a normal-world network computed it. */
  private logitsOf(net: Network, n: number): { logits?: Float32Array } {
    const li = logitLayer(this.pn.config);
    const l = li !== null ? net.layer(li) : undefined;
    return l ? { logits: l.output.slice(0, n * this.classes) } : {};
  }

  copyVisibleInto(net: Network): void {
    copyLayers(this.pn.pre?.layers ?? [], net);
    copyLayers(this.pn.post?.layers ?? [], net);
  }
}
