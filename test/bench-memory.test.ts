// The one secure-memory footprint function against the secure-memory arena (the measuring arena —
// the TA's layer constructors against a dry arena — for every range of the shipped networks, the
// real TA's reported peak for a few), and the boundary model against the
// client's traffic counter: parameter-free layers in the TEE cost only their own buffers, and a
// training batch crosses as one activation in and one gradient out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trainingTraffic } from '../src/bench/boundary.js';
import { teeMemoryModel } from '../src/bench/memory.js';
import { loadData } from '../src/data/load.js';
import type { Dataset } from '../src/data/types.js';
import { getKernels } from '../src/kernels/index.js';
import { parseCfg } from '../src/nn/cfg.js';
import type { NetworkConfig } from '../src/nn/config.js';
import { train } from '../src/nn/train.js';
import { initializeContext, type TeecContext } from '../src/tee/client.js';
import { PartitionedNetwork } from '../src/tee/partitioned.js';
import { rangeRoles, type RangeRoles } from '../src/tee/shared/roles.js';
import { measureArena } from './measure-arena.js';

const CFG_DIR = fileURLToPath(new URL('../../cfg/', import.meta.url));
const kernels = getKernels();
const native = kernels.name !== 'reference';
let dir = '';
let ctx: TeecContext;
let vggText = '';
let data: Dataset;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'layerlock-bench-mem-'));
  vggText = await readFile(join(CFG_DIR, 'vgg7-mnist.cfg'), 'utf8');
  ctx = await initializeContext({ storageDir: join(dir, 'store'), kernels: native ? 'auto' : 'reference' });
  data = (await loadData('embedded', { trainLimit: 256, testLimit: 1 })).train;
});

test.after(async () => {
  await ctx?.finalizeContext();
  await rm(dir, { recursive: true, force: true });
});

function withBatch(text: string, batch: number): { text: string; config: NetworkConfig } {
  const t = text.replace(/^batch=\d+$/m, `batch=${batch}`);
  return { text: t, config: parseCfg(t, 'vgg7-mnist.cfg') };
}

test('the footprint function equals the measuring arena for every range of the shipped networks (train and infer, several batches and threads)', async () => {
  let checked = 0;
  for (const name of ['vgg7-mnist.cfg', 'vgg7-cifar10.cfg', 'lenet-mnist.cfg']) {
    const config = parseCfg(await readFile(join(CFG_DIR, name), 'utf8'), name);
    const L = config.layers.length;
    for (let start = 0; start < L; start++) {
      for (let end = start; end < L; end++) {
        let roles: RangeRoles;
        try {
          roles = rangeRoles(config, start, end);
        } catch {
          continue;
        }
        for (const mode of ['train', 'infer'] as const) {
          for (const [batch, threads] of [[1, 1], [37, 2], [128, 4]] as const) {
            const spec = { start, end, maxBatch: batch, seed: 1, mode, inputDelta: mode === 'train' && roles.trainableBelow, policy: 'top1' as const, topk: 5, allowExport: false };
            const measured = measureArena(config, spec, threads, kernels).total;
            const model = teeMemoryModel(config, { start, end, batch, mode, threads });
            assert.equal(model.total, measured, `${name} ${start}:${end} ${mode} batch ${batch} threads ${threads}`);
            checked++;
          }
        }
      }
    }
  }
  assert.ok(checked > 1000, `${checked} configurations`);
});

test('memory model predicts the real TA\'s arena peak (GET_STATS) within 5 % — here exactly — before and after training', async () => {
  const batch = 32;
  const { text, config } = withBatch(vggText, batch);
  const L = config.layers.length;
  const threads = ctx.hello.threads;
  const cases: { range: [number, number]; mode: 'train' | 'infer' }[] = [
    { range: [L - 1, L - 1], mode: 'train' },
    { range: [L - 5, L - 1], mode: 'train' },
    { range: [L - 9, L - 1], mode: 'train' },
    { range: [3, 8], mode: 'infer' },
    { range: [6, 9], mode: 'train' },
  ];
  for (const { range, mode } of cases) {
    const pn = await PartitionedNetwork.open({ cfg: { text, file: 'vgg7-mnist.cfg' }, range, mode, seed: 3, kernels, context: ctx });
    try {
      if (mode === 'train') await train(pn, data, Uint32Array.from({ length: batch }, (_, i) => i), { epochs: 1, seed: 3 });
      const st = await pn.stats();
      const model = teeMemoryModel(config, { start: range[0], end: range[1], batch, mode, threads });
      const err = Math.abs(model.total - st.arena.peak) / st.arena.peak;
      assert.ok(err <= 0.05, `${range.join(':')} ${mode}: model ${model.total} vs arena peak ${st.arena.peak}`);
      assert.equal(model.total, st.arena.peak, `${range.join(':')} ${mode}`);
    } finally {
      await pn.close();
    }
  }
});

for (const transport of ['shm', 'pipe'] as const) test(`parameter-free layers first in the TEE cost only their own buffers; a batch crosses as one activation in, one gradient out (traffic counter, ${transport} transport)`, async (t) => {
  if (transport === 'shm' && ctx.transport !== 'shm') return t.skip('no shared-memory support (native addon)');
  const own = transport === 'pipe' ? await initializeContext({ storageDir: join(dir, 'store'), kernels: native ? 'auto' : 'reference', transport: 'pipe' }) : null;
  try {
    await trafficCase(own ?? ctx);
  } finally {
    await own?.finalizeContext();
  }
});

async function trafficCase(ctx: TeecContext): Promise<void> {
  const batch = 32;
  const { text, config } = withBatch(vggText, batch);
  const L = config.layers.length;
  const steps = 3;
  // Values per image entering the first protected layer (VGG-7 MNIST: 28→14→7→4 spatially).
  const INPUTS_AT_START: Record<number, number> = { 4: 64, 5: 512, 6: 32 * 7 * 7, 9: 32 * 14 * 14 };
  // k = 4: dropout first; k = 6: max-pool first; k = 5: a connected layer first (reads its input in backward).
  for (const k of [4, 6, 5, 9]) {
    const range: [number, number] = [L - k, L - 1];
    const first = config.layers[range[0]]!.type;
    const pn = await PartitionedNetwork.open({ cfg: { text, file: 'vgg7-mnist.cfg' }, range, mode: 'train', seed: 5, kernels, context: ctx });
    try {
      const st0 = await pn.stats();
      const blocks = st0.arena.blocks;
      const io = ['input', 'input_delta', 'top_delta', 'truth', 'workspace'];
      const layersInside = new Set(blocks.filter((b) => !io.includes(b.buffer)).map((b) => b.layer));
      assert.deepEqual([...layersInside].sort((a, b) => a - b), Array.from({ length: k }, (_, i) => range[0] + i), `k=${k}: blocks only of the protected layers`);
      const hasInput = blocks.some((b) => b.buffer === 'input');
      if (first === 'dropout' || first === 'maxpool') {
        assert.equal(hasInput, false, `k=${k} (${first} first): the incoming activation is not copied into secure memory`);
        // Its own buffers only: the model's line for the first layer is exactly its output, delta and mask/indices.
        const own = blocks.filter((b) => b.layer === range[0] && !io.includes(b.buffer)).map((b) => b.buffer).sort();
        assert.deepEqual(own, first === 'dropout' ? ['delta', 'dropout_mask', 'output'] : ['argmax', 'delta', 'output'].sort());
      } else {
        assert.equal(hasInput, true, `k=${k} (${first} first) keeps the activation its backward reads`);
      }
      const before = { ...ctx.traffic };
      await train(pn, data, Uint32Array.from({ length: steps * batch }, (_, i) => i), { epochs: 1, seed: 5 });
      const t = ctx.traffic;
      const expected = trainingTraffic(config, range[0], range[1], batch, batch, ctx.transport);
      assert.equal(t.bytesToTa - before.bytesToTa, steps * expected.wireToTee, `k=${k} ${ctx.transport}: control bytes to the TEE`);
      assert.equal(t.bytesFromTa - before.bytesFromTa, steps * expected.wireFromTee, `k=${k} ${ctx.transport}: control bytes from the TEE`);
      assert.equal(t.sharedToTa - before.sharedToTa, steps * expected.sharedToTee, `k=${k} ${ctx.transport}: shared-memory bytes to the TEE`);
      assert.equal(t.sharedFromTa - before.sharedFromTa, steps * expected.sharedFromTee, `k=${k} ${ctx.transport}: shared-memory bytes from the TEE`);
      if (ctx.transport === 'shm') {
        // Only commands and small values on the control channel: the tensors are in shared memory.
        assert.ok(expected.wireToTee + expected.wireFromTee < 300, `k=${k}: ${expected.wireToTee + expected.wireFromTee} control bytes per batch`);
        assert.equal(expected.sharedToTee + expected.sharedFromTee, expected.payloadToTee + expected.payloadFromTee);
      }
      assert.equal(t.framesToTa - before.framesToTa, steps * expected.roundTrips, `k=${k}: requests per batch`);
      assert.equal(expected.roundTrips, 1, 'one TRAIN_STEP per batch, carrying the previous batch\'s update');
      // The last batch's update waits for the next command: flushed, it is the run's one UPDATE.
      await pn.flushUpdate();
      assert.deepEqual(expected.endOfRun, { roundTrips: 1, wireToTee: 29, wireFromTee: 29 });
      assert.equal(t.framesToTa - before.framesToTa, steps * expected.roundTrips + expected.endOfRun.roundTrips, `k=${k}: and the flush`);
      assert.equal(t.bytesToTa - before.bytesToTa, steps * expected.wireToTee + expected.endOfRun.wireToTee, `k=${k}: the flush's bytes to the TEE`);
      assert.equal(t.bytesFromTa - before.bytesFromTa, steps * expected.wireFromTee + expected.endOfRun.wireFromTee, `k=${k}: the flush's bytes from the TEE`);
      const inputs = INPUTS_AT_START[k]!;
      assert.equal(expected.parts.activation_in, 4 * batch * inputs, 'one activation in');
      assert.equal(expected.parts.gradient_out, 4 * batch * inputs, 'one gradient out');
      assert.equal(expected.parts.top_activation_out + expected.parts.top_gradient_in, 0);
      // Everything else per batch is framing and labels: under 300 bytes.
      assert.ok(expected.wireToTee + expected.wireFromTee + expected.sharedToTee + expected.sharedFromTee - expected.payloadToTee - expected.payloadFromTee < 300);
    } finally {
      await pn.close();
    }
  }
}
