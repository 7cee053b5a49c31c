// The cost benchmark's memory model. The TEE side is the secure-memory footprint function shared
// with the TA and `plan` (src/tee/shared/footprint.ts: one function, checked against the measuring
// arena); this file adds the normal world's own buffers (reeBuffersModel) and the k ↔ range helper.
import type { NetworkConfig } from '../nn/config.js';
import { shapeSize } from '../nn/layer.js';
import { layerShapes } from '../nn/network.js';
import { f32, layerMemory, secureFootprint } from '../tee/shared/footprint.js';
import { rangeRoles } from '../tee/shared/roles.js';

export {
  convColumnFloats, layerLabel, layerMemory, SHORT_NAMES, secureFootprint,
  type LayerMemory, type MemoryOptions, type Mode, type TeeMemory,
} from '../tee/shared/footprint.js';

/** The TEE memory model of the benchmark and the planner: the shared footprint function itself. */
export const teeMemoryModel = secureFootprint;

/** The last k layers as a range, or null for k = 0. */
export function lastK(config: NetworkConfig, k: number): [number, number] | null {
  const L = config.layers.length;
  if (!(Number.isInteger(k) && k >= 0 && k <= L)) throw new RangeError(`k = ${k} is not within 0..${L}`);
  return k === 0 ? null : [L - k, L - 1];
}

export interface ReeBuffers {
  /** Layers running in the normal world (all of them for k = 0). */
  layers: number;
  /** The one-image staging copy of the protected layers the normal world keeps to pass weights through. */
  staging: number;
  /** Exchange buffers: targets, the gradient coming back, the top activation and its gradient. */
  exchange: number;
  total: number;
}

/**
 * The normal world's own buffers for training with `range` in the TEE (null: none), by the same
 * per-layer formulas: its layers at B images per forward, the partitioned network's one-image
 * staging copy of the protected layers and its exchange buffers (src/tee/partitioned.ts). The
 * process's resident memory adds the runtime, the data and — in this emulation — the transport's
 * transient frame copies, which grow with the boundary bytes.
 */
export function reeBuffersModel(config: NetworkConfig, range: readonly [number, number] | null, batch: number): ReeBuffers {
  const shapes = layerShapes(config);
  const L = config.layers.length;
  const outside = (i: number): boolean => !range || i < range[0] || i > range[1];
  let layers = 0;
  for (let i = 0; i < L; i++) if (outside(i)) layers += layerMemory(config, i, shapes[i]!, shapes[i + 1]!, batch, 'train').total;
  let classesAt = L;
  for (let i = L - 1; i > 0; i--) if (config.layers[i]!.type !== 'cost') { classesAt = i + 1; break; }
  const classes = shapeSize(shapes[classesAt]!);
  let staging = 0;
  let exchange = f32(batch * classes);
  if (range) {
    for (let i = range[0]; i <= range[1]; i++) staging += layerMemory(config, i, shapes[i]!, shapes[i + 1]!, 1, 'train').total;
    const roles = rangeRoles(config, range[0], range[1]);
    const top = shapeSize(shapes[range[1] + 1]!);
    if (roles.trainableBelow) exchange += f32(batch * shapeSize(shapes[range[0]]!));
    if (roles.suffixOutside) exchange += 2 * f32(batch * top);
  }
  return { layers, staging, exchange, total: layers + staging + exchange };
}
