// What a partitioned model tells about itself (the `tee` object of --json output, and the pipeline's
// record): the partition, its output policy, the secure memory's use and the boundary traffic.
import type { PartitionedNetwork } from './partitioned.js';

export interface PartitionReport {
  layers: [number, number];
  policy: string;
  topk?: number;
  holds_prediction: boolean;
  secure_mem: number;
  arena_used_bytes: number;
  arena_peak_bytes: number;
  boundary_bytes: { to_tee: number; from_tee: number; frames: number };
  ta_kernels: string;
}

export async function partitionReport(net: PartitionedNetwork): Promise<PartitionReport> {
  const st = await net.stats();
  const t = net.context.traffic;
  return {
    layers: [net.range[0], net.range[1]],
    policy: net.policy,
    ...(net.policy === 'topk' ? { topk: net.topk } : {}),
    holds_prediction: net.roles.holdsOutput,
    secure_mem: st.arena.capacity,
    arena_used_bytes: st.arena.used,
    arena_peak_bytes: st.arena.peak,
    // OP-TEE has no pipe: everything crosses in the registered shared memory (and /dev/tee0's ioctls),
    // so its boundary is the memref bytes; the software TEE keeps counting its control channel.
    boundary_bytes: net.context.tee === 'optee'
      ? { to_tee: t.sharedToTa, from_tee: t.sharedFromTa, frames: t.framesToTa + t.framesFromTa }
      : { to_tee: t.bytesToTa, from_tee: t.bytesFromTa, frames: t.framesToTa + t.framesFromTa },
    ta_kernels: st.kernels,
  };
}
