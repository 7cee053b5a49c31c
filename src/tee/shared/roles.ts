// What a partition [start, end] is in its network — shared by both worlds, so the normal world and
// the TA agree on what must cross the boundary and how big each crossing is.
import type { NetworkConfig } from '../../nn/config.js';
import type { OutputPolicy } from './protocol.js';

/** A partition the rules reject (range outside the network, prediction separated from its cost). */
export class PartitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PartitionError';
  }
}

/** Index of the layer whose output is the network's prediction (Darknet skips trailing cost layers). */
export function predictionLayer(config: NetworkConfig): number {
  for (let i = config.layers.length - 1; i > 0; i--) if (config.layers[i]!.type !== 'cost') return i;
  return 0;
}

/** Where a range sits in the network: what it holds and what must cross around it. */
export interface RangeRoles {
  start: number;
  end: number;
  /** The range holds the prediction layer: its output is what the output policy sanitises. */
  holdsOutput: boolean;
  /** Layers above the range run in the normal world (they take layer end's activation). */
  suffixOutside: boolean;
  /** A loss layer (softmax, cost) is inside: training needs the labels inside. */
  lossInside: boolean;
  /** Trainable layers inside the range. */
  trainableInside: boolean;
  /** Trainable layers below the range (in the normal world): they need the gradient leaving it. */
  trainableBelow: boolean;
}

const trainable = (t: string): boolean => t === 'convolutional' || t === 'connected';

/** Validates [start, end] against the cfg. */
export function rangeRoles(config: NetworkConfig, start: number, end: number): RangeRoles {
  const L = config.layers.length;
  if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end < L)) {
    throw new PartitionError(`layer range ${start}:${end} is not within the network's layers 0:${L - 1}`);
  }
  const o = predictionLayer(config);
  const holdsOutput = start <= o && o <= end;
  if (holdsOutput && end < L - 1) {
    throw new PartitionError(
      `layers ${start}:${end} hold the prediction layer ${o} (${config.layers[o]!.type}) but not the cost layer(s) after it, ` +
      `whose loss would need the full output outside the TEE; use ${start}:${L - 1}`);
  }
  const inside = config.layers.slice(start, end + 1);
  return {
    start,
    end,
    holdsOutput,
    suffixOutside: end < L - 1,
    lossInside: inside.some((l) => l.type === 'softmax' || l.type === 'cost'),
    trainableInside: inside.some((l) => trainable(l.type)),
    trainableBelow: config.layers.slice(0, start).some((l) => trainable(l.type)),
  };
}

/**
 * Bytes FORWARD returns for n images: under the policy when the range holds the prediction;
 * layer end's activation when the normal world runs the layers above; else nothing.
 */
export function forwardOutputBytes(roles: RangeRoles, policy: OutputPolicy, topk: number, classes: number, topValues: number, n: number): number {
  if (roles.holdsOutput) {
    switch (policy) {
      case 'top1':
        return n * 4;
      case 'topk':
        return n * Math.min(topk, classes) * 4;
      case 'full':
        return n * classes * 4;
    }
  }
  return roles.suffixOutside ? n * topValues * 4 : 0;
}
