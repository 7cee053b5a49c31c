// Test helper: what the TA's own layer constructors take from a dry (measuring) arena for a
// partition — the measurement the one footprint function (src/tee/shared/footprint.ts) is held to.
import type { Kernels } from '../src/kernels/types.js';
import type { NetworkConfig } from '../src/nn/config.js';
import { Arena, type ArenaBlock } from '../src/tee/ta/arena.js';
import { buildInto, type PartitionSpec } from '../src/tee/ta/partition.js';

export function measureArena(config: NetworkConfig, spec: PartitionSpec, threads: number, kernels: Kernels): { total: number; blocks: readonly ArenaBlock[] } {
  const dry = new Arena(0, true);
  buildInto(config, spec, kernels, threads, dry);
  return { total: dry.usedBytes, blocks: dry.blocks };
}
