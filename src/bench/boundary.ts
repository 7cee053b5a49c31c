// What crosses the boundary per training batch for a partition [start, end], in payload and in exact
// bytes on the wire (the framing of src/tee/shared/wire.ts), so the cost benchmark can check the counter of
// the client (ctx.traffic) against it and the planner can price a range before it runs.
//
// Per forward/backward of n images (one subdivision):
//   range ends with the network   one TRAIN_STEP: the activation entering `start` in, the labels in
//                                 when a loss layer is inside, the gradient leaving `start` out when
//                                 trainable layers below need it — nothing else, whatever the layers
//                                 inside (parameter-free ones included) are
//   layers above run outside      FORWARD (activation in, labels if a loss is inside, layer end's
//                                 activation out) and BACKWARD (the gradient arriving at `end` in, the
//                                 gradient leaving `start` out)
// Per batch (SGD step), the TA's update: with the range ending the network, carried by the next
// batch's first TRAIN_STEP (its p1.b, already in the frame: no byte more), and one explicit UPDATE
// flushes the last batch's before whatever follows the training (endOfRun); with layers above
// outside, one UPDATE (two 32-bit values in, nothing out) per batch (tee/partitioned.ts).
import type { NetworkConfig } from '../nn/config.js';
import { shapeSize } from '../nn/layer.js';
import { layerShapes } from '../nn/network.js';
import type { TransportKind } from '../tee/shared/protocol.js';
import { rangeRoles } from '../tee/shared/roles.js';

// Frame sizes (wire.ts): u32 length + u8 kind; request header 4 × u32; reply header 5 × u32 and a
// u32 message length (empty on success). Slots: value in 8; memref in 1 + 4 + bytes (pipe) or
// 1 + 4 + 4 (shm: offset and size, the bytes are in shared memory); memref out 1 + 4 (pipe) or
// 1 + 4 + 4 (shm) in the request, 4 + 1 (+ bytes on the pipe) in the reply.
const FRAME = 5;
const REQ_HEADER = 16;
const REPLY_HEADER = 20 + 4;
const VALUE = 8;
const MEMREF_OUT_REPLY = 5;

export interface StepTraffic {
  transport: TransportKind;
  /** Round trips (request + reply) per batch. */
  roundTrips: number;
  /** Tensor and label bytes per batch (no framing). */
  payloadToTee: number;
  payloadFromTee: number;
  /** Exact control-frame bytes per batch, as the client's traffic counter counts them (bytesToTa/FromTa). */
  wireToTee: number;
  wireFromTee: number;
  /** Bytes passed through shared memory per batch (sharedToTa/FromTa): the payload on shm, 0 on the pipe. */
  sharedToTee: number;
  sharedFromTee: number;
  /** The pieces, per batch: what the bytes are. */
  parts: { activation_in: number; labels_in: number; gradient_out: number; top_activation_out: number; top_gradient_in: number };
  /**
   * Once per run of batches: the explicit UPDATE that flushes the last batch's deferred update (when
   * updates ride on TRAIN_STEPs; else nothing). Control frames only.
   */
  endOfRun: { roundTrips: number; wireToTee: number; wireFromTee: number };
}

/**
 * Boundary traffic of one training batch (`batch` images, forwarded `perForward` at a time) of a
 * partition; the network's layers outside the range run in the normal world.
 */
export function trainingTraffic(config: NetworkConfig, start: number, end: number, batch: number, perForward: number, transport: TransportKind = 'pipe'): StepTraffic {
  const shm = transport === 'shm';
  const MEMREF_IN = shm ? 9 : 5;
  const MEMREF_OUT_REQ = shm ? 9 : 5;
  // Bytes of a memref's content inside the frame: none on shm.
  const inFrame = (b: number): number => (shm ? 0 : b);
  const roles = rangeRoles(config, start, end);
  const shapes = layerShapes(config);
  const inputs = shapeSize(shapes[start]!);
  const tops = shapeSize(shapes[end + 1]!);
  const gradOut = roles.trainableBelow;
  const parts = { activation_in: 0, labels_in: 0, gradient_out: 0, top_activation_out: 0, top_gradient_in: 0 };
  let roundTrips = 0;
  let wireTo = 0;
  let wireFrom = 0;
  for (let done = 0; done < batch; done += perForward) {
    const n = Math.min(perForward, batch - done);
    const act = 4 * n * inputs;
    const labels = roles.lossInside ? n : 0;
    const grad = gradOut ? 4 * n * inputs : 0;
    parts.activation_in += act;
    parts.labels_in += labels;
    parts.gradient_out += grad;
    if (!roles.suffixOutside) {
      // TRAIN_STEP(MEMREF_IN act, VALUE_IN, [MEMREF_IN labels], [MEMREF_OUT grad])
      roundTrips += 1;
      wireTo += FRAME + REQ_HEADER + MEMREF_IN + inFrame(act) + VALUE + (roles.lossInside ? MEMREF_IN + inFrame(labels) : 0) + (gradOut ? MEMREF_OUT_REQ : 0);
      wireFrom += FRAME + REPLY_HEADER + (gradOut ? MEMREF_OUT_REPLY + inFrame(grad) : 0);
    } else {
      const top = 4 * n * tops;
      parts.top_activation_out += top;
      parts.top_gradient_in += top;
      // FORWARD(MEMREF_IN act, VALUE_IN, [MEMREF_IN labels], MEMREF_OUT top) then
      // BACKWARD(MEMREF_IN top delta, VALUE_IN, [MEMREF_OUT grad])
      roundTrips += 2;
      wireTo += FRAME + REQ_HEADER + MEMREF_IN + inFrame(act) + VALUE + (roles.lossInside ? MEMREF_IN + inFrame(labels) : 0) + MEMREF_OUT_REQ;
      wireFrom += FRAME + REPLY_HEADER + MEMREF_OUT_REPLY + inFrame(top);
      wireTo += FRAME + REQ_HEADER + MEMREF_IN + inFrame(top) + VALUE + (gradOut ? MEMREF_OUT_REQ : 0);
      wireFrom += FRAME + REPLY_HEADER + (gradOut ? MEMREF_OUT_REPLY + inFrame(grad) : 0);
    }
  }
  // UPDATE(VALUE_IN): per batch, or deferred into the next TRAIN_STEP and flushed once at the end.
  const update = { roundTrips: 1, wireToTee: FRAME + REQ_HEADER + VALUE, wireFromTee: FRAME + REPLY_HEADER };
  if (roles.suffixOutside) {
    roundTrips += update.roundTrips;
    wireTo += update.wireToTee;
    wireFrom += update.wireFromTee;
  }
  const payloadToTee = parts.activation_in + parts.labels_in + parts.top_gradient_in;
  const payloadFromTee = parts.gradient_out + parts.top_activation_out;
  return {
    transport,
    roundTrips,
    payloadToTee,
    payloadFromTee,
    wireToTee: wireTo,
    wireFromTee: wireFrom,
    sharedToTee: shm ? payloadToTee : 0,
    sharedFromTee: shm ? payloadFromTee : 0,
    parts,
    endOfRun: roles.suffixOutside ? { roundTrips: 0, wireToTee: 0, wireFromTee: 0 } : update,
  };
}
