import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  WeightsError,
  decodeWeights,
  encodeWeights,
  loadWeightsFile,
  saveWeightsFile,
  weightsByteSize,
  type WeightsHeader,
  type WeightsLayer,
} from '../src/nn/weights.js';

/** Writes the documented layout field by field, independently of the code under test. */
class ByteWriter {
  private readonly bytes: number[] = [];
  int32(v: number): this {
    const b = new DataView(new ArrayBuffer(4));
    b.setInt32(0, v, true);
    for (let i = 0; i < 4; i++) this.bytes.push(b.getUint8(i));
    return this;
  }
  uint32(v: number): this {
    for (let i = 0; i < 4; i++) this.bytes.push((v >>> (8 * i)) & 0xff);
    return this;
  }
  uint64(v: number): this {
    return this.uint32(v % 2 ** 32).uint32(Math.floor(v / 2 ** 32));
  }
  floats(vs: readonly number[]): this {
    const b = new DataView(new ArrayBuffer(4));
    for (const v of vs) {
      b.setFloat32(0, v, true);
      for (let i = 0; i < 4; i++) this.bytes.push(b.getUint8(i));
    }
    return this;
  }
  done(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

function conv(filters: number, c: number, size: number, bn: boolean, fill = 0): WeightsLayer {
  return {
    type: 'convolutional',
    batchNormalize: bn,
    biases: new Float32Array(filters).fill(fill),
    weights: new Float32Array(filters * c * size * size).fill(fill),
    scales: bn ? new Float32Array(filters).fill(fill) : null,
    rollingMean: bn ? new Float32Array(filters).fill(fill) : null,
    rollingVariance: bn ? new Float32Array(filters).fill(fill) : null,
  };
}

function connected(outputs: number, inputs: number, bn: boolean, fill = 0): WeightsLayer {
  return {
    type: 'connected',
    batchNormalize: bn,
    biases: new Float32Array(outputs).fill(fill),
    weights: new Float32Array(outputs * inputs).fill(fill),
    scales: bn ? new Float32Array(outputs).fill(fill) : null,
    rollingMean: bn ? new Float32Array(outputs).fill(fill) : null,
    rollingVariance: bn ? new Float32Array(outputs).fill(fill) : null,
  };
}

function snapshot(layers: readonly WeightsLayer[]): number[][] {
  return layers.flatMap((l) => [l.biases, l.weights, l.scales, l.rollingMean, l.rollingVariance].map((a) => (a ? [...a] : [])));
}

const DARKNET: Omit<WeightsHeader, 'seen'> = { major: 0, minor: 2, revision: 0 };

// A conv with batch norm (2 filters, 1 input channel, 2x2 kernel) and a connected layer without it
// (3 outputs, 2 inputs), every value distinct so any mix-up of order shows.
const SEEN = 5_000_000_123; // above 2^32, so a 32-bit read would be visibly wrong
const HAND_BUILT = new ByteWriter()
  .int32(0).int32(2).int32(0).uint64(SEEN)
  // conv: biases, scales, rolling mean, rolling variance, then weights
  .floats([1, 2]).floats([3, 4]).floats([5, 6]).floats([7, 8]).floats(range(9, 8))
  // connected: biases then weights (no batch norm)
  .floats([17, 18, 19]).floats(range(20, 6))
  .done();

const handLayers = (fill = 0) => [conv(2, 1, 2, true, fill), connected(3, 2, false, fill)];

function throwsWeights(fn: () => unknown, ...fragments: string[]): WeightsError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof WeightsError, `expected a WeightsError, got ${String(caught)}`);
  for (const f of fragments) assert.ok(caught.message.includes(f), `'${caught.message}' should mention '${f}'`);
  return caught;
}

test('a hand-built Darknet 0.2.0 file decodes into the expected arrays', () => {
  assert.equal(HAND_BUILT.length, 20 + 4 * (2 * 4 + 8 + 3 + 6));
  const layers = handLayers();
  const h = decodeWeights(HAND_BUILT, layers, 'hand.weights');
  assert.deepEqual(h, { ...DARKNET, seen: SEEN });
  const [c, f] = layers as [WeightsLayer, WeightsLayer];
  assert.deepEqual([...c.biases], [1, 2]);
  assert.deepEqual([...c.scales!], [3, 4]);
  assert.deepEqual([...c.rollingMean!], [5, 6]);
  assert.deepEqual([...c.rollingVariance!], [7, 8]);
  assert.deepEqual([...c.weights], range(9, 8));
  assert.deepEqual([...f.biases], [17, 18, 19]);
  assert.deepEqual([...f.weights], range(20, 6));
  assert.equal(weightsByteSize(layers, h), HAND_BUILT.length);
});

test('encoding the decoded layers reproduces the hand-built file byte for byte', () => {
  const layers = handLayers();
  const h = decodeWeights(HAND_BUILT, layers, 'hand.weights');
  assert.deepEqual(encodeWeights(layers, h), HAND_BUILT);
});

test('connected layers put batch norm AFTER the weights, convolutional BEFORE', () => {
  const bytes = new ByteWriter()
    .int32(0).int32(2).int32(0).uint64(7)
    .floats([1, 2]).floats([3, 4, 5, 6]).floats([7, 8]).floats([9, 10]).floats([11, 12])
    .done();
  const l = connected(2, 2, true);
  decodeWeights(bytes, [l], 'fc.weights');
  assert.deepEqual(snapshot([l]), [[1, 2], [3, 4, 5, 6], [7, 8], [9, 10], [11, 12]]);
  assert.deepEqual(encodeWeights([l], { ...DARKNET, seen: 7 }), bytes);
});

test('old header (minor 1): seen is a uint32', () => {
  const bytes = new ByteWriter().int32(0).int32(1).int32(0).uint32(4242).floats([1, 2]).floats([3, 4, 5, 6]).done();
  const l = connected(2, 2, false);
  const h = decodeWeights(bytes, [l], 'old.weights');
  assert.deepEqual(h, { major: 0, minor: 1, revision: 0, seen: 4242 });
  assert.deepEqual([...l.weights], [3, 4, 5, 6]);
  assert.deepEqual(encodeWeights([l], h), bytes);
  // The rule is (major*10 + minor) >= 2 with both below 1000: 1.0 has a 64-bit counter, 0.0 a 32-bit one.
  assert.equal(weightsByteSize([], { major: 1, minor: 0, revision: 0, seen: 0 }), 20);
  assert.equal(weightsByteSize([], { major: 0, minor: 0, revision: 0, seen: 0 }), 16);
  assert.equal(weightsByteSize([], { major: 1000, minor: 0, revision: 0, seen: 0 }), 16);
});

test('very old header (minor > 1000): connected weights are stored transposed', () => {
  // 2 outputs, 3 inputs; the file holds in x out: w[in][out].
  const bytes = new ByteWriter()
    .int32(0).int32(1001).int32(0).uint32(1)
    .floats([1, 2])
    .floats([10, 20, 11, 21, 12, 22])
    .done();
  const l = connected(2, 3, false);
  const h = decodeWeights(bytes, [l], 't.weights');
  assert.deepEqual([...l.weights], [10, 11, 12, 20, 21, 22]); // out x in, as the network uses them
  assert.deepEqual(encodeWeights([l], h), bytes);
});

test('a truncated file is rejected and leaves the layers unchanged', () => {
  const layers = handLayers(-1);
  const before = snapshot(layers);
  const cut = HAND_BUILT.subarray(0, HAND_BUILT.length - 4);
  const e = throwsWeights(
    () => decodeWeights(cut, layers, 'cut.weights'),
    'cut.weights: truncated: layer 1 (connected) needs 4 more bytes of weights, file ends at byte ' + cut.length,
  );
  assert.ok(!e.message.includes('\n'));
  assert.deepEqual(snapshot(layers), before);
  // Cut inside the first layer: the message names layer 0 and the bytes it misses.
  throwsWeights(() => decodeWeights(HAND_BUILT.subarray(0, 40), layers, 'c.weights'), 'layer 0 (convolutional) needs 44 more bytes', 'ends at byte 40');
  // Network layer indices are used when the network supplies them.
  const indexed = [{ ...conv(2, 1, 2, true), index: 0 }, { ...connected(3, 2, false), index: 9 }];
  throwsWeights(() => decodeWeights(cut, indexed, 'cut.weights'), 'layer 9 (connected)');
  assert.deepEqual(snapshot(layers), before);
});

test('a file with extra bytes is rejected and leaves the layers unchanged', () => {
  const layers = handLayers(-1);
  const before = snapshot(layers);
  const long = new Uint8Array(HAND_BUILT.length + 8);
  long.set(HAND_BUILT);
  throwsWeights(() => decodeWeights(long, layers, 'long.weights'), "long.weights has 8 bytes more than the cfg's layers need: weights do not match the cfg");
  assert.deepEqual(snapshot(layers), before);
});

test('a file saved for a different cfg is rejected and leaves the layers unchanged', () => {
  const others = [
    [conv(3, 1, 2, true, -1), connected(3, 3, false, -1)], // more filters
    [conv(2, 1, 2, false, -1), connected(3, 2, false, -1)], // no batch norm
    [conv(2, 1, 3, true, -1), connected(3, 2, false, -1)], // bigger kernel
    [conv(2, 1, 2, true, -1)], // a layer fewer
  ];
  for (const layers of others) {
    const before = snapshot(layers);
    throwsWeights(() => decodeWeights(HAND_BUILT, layers, 'other.weights'), 'other.weights', 'cfg');
    assert.deepEqual(snapshot(layers), before);
  }
});

test('bad headers are rejected', () => {
  const layers = handLayers(-1);
  throwsWeights(() => decodeWeights(new Uint8Array(10), layers, 'h.weights'), 'h.weights: not a Darknet weights file: 10 bytes');
  throwsWeights(() => decodeWeights(new ByteWriter().int32(0).int32(2).int32(0).uint32(0).done(), [], 'h.weights'), 'truncated header', 'needs 20');
  throwsWeights(() => decodeWeights(new ByteWriter().int32(-1).int32(2).int32(0).uint64(0).done(), [], 'h.weights'), 'negative');
  throwsWeights(() => decodeWeights(new ByteWriter().int32(0).int32(2).int32(0).uint32(0).uint32(0x00400000).done(), [], 'h.weights'), 'seen');
  throwsWeights(() => encodeWeights([], { major: 0, minor: 1, revision: 0, seen: 2 ** 32 }), 'seen');
  throwsWeights(() => encodeWeights([], { major: -1, minor: 2, revision: 0, seen: 0 }), 'major');
  assert.deepEqual(snapshot(layers), snapshot(handLayers(-1)));
});

test('inconsistent layers are reported, not silently mis-sized', () => {
  const bad: WeightsLayer = { ...conv(2, 1, 2, true), scales: null };
  throwsWeights(() => weightsByteSize([bad], { ...DARKNET, seen: 0 }), 'scales is missing');
  throwsWeights(() => encodeWeights([{ ...connected(3, 2, false), weights: new Float32Array(5) }], { ...DARKNET, seen: 0 }), 'not a positive multiple');
});

// Raw 32-bit patterns, so NaNs with payloads, infinities, -0 and denormals are all covered.
const floatBits = (n: number) =>
  fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: n, maxLength: n }).map((a) => new Float32Array(Uint32Array.from(a).buffer));

const layerArb: fc.Arbitrary<WeightsLayer> = fc
  .record({ type: fc.constantFrom('convolutional' as const, 'connected' as const), bn: fc.boolean(), n: fc.integer({ min: 1, max: 5 }), k: fc.integer({ min: 1, max: 6 }) })
  .chain(({ type, bn, n, k }) =>
    fc.record({
      type: fc.constant(type),
      batchNormalize: fc.constant(bn),
      biases: floatBits(n),
      weights: floatBits(n * k),
      scales: bn ? floatBits(n) : fc.constant(null),
      rollingMean: bn ? floatBits(n) : fc.constant(null),
      rollingVariance: bn ? floatBits(n) : fc.constant(null),
    }),
  );

const headerArb: fc.Arbitrary<WeightsHeader> = fc
  .record({ major: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2000 })), minor: fc.oneof(fc.constantFrom(0, 1, 2), fc.integer({ min: 0, max: 2000 })), revision: fc.integer({ min: 0, max: 100 }) })
  .chain((v) => {
    const wide = v.major * 10 + v.minor >= 2 && v.major < 1000 && v.minor < 1000;
    return fc.record({ major: fc.constant(v.major), minor: fc.constant(v.minor), revision: fc.constant(v.revision), seen: fc.integer({ min: 0, max: wide ? Number.MAX_SAFE_INTEGER : 0xffffffff }) });
  });

function emptyLike(l: WeightsLayer): WeightsLayer {
  const z = (a: Float32Array | null) => (a ? new Float32Array(a.length) : null);
  return { type: l.type, batchNormalize: l.batchNormalize, biases: z(l.biases)!, weights: z(l.weights)!, scales: z(l.scales), rollingMean: z(l.rollingMean), rollingVariance: z(l.rollingVariance) };
}

const bits = (a: Float32Array | null) => (a ? [...new Uint32Array(a.buffer, a.byteOffset, a.length)] : null);

test('property: encode → decode restores every bit and re-encodes to identical bytes', () => {
  fc.assert(
    fc.property(fc.array(layerArb, { maxLength: 4 }), headerArb, (layers, header) => {
      const bytes = encodeWeights(layers, header);
      assert.equal(bytes.length, weightsByteSize(layers, header));
      const fresh = layers.map(emptyLike);
      assert.deepEqual(decodeWeights(bytes, fresh, 'p.weights'), header);
      fresh.forEach((f, i) => {
        const l = layers[i]!;
        for (const k of ['biases', 'weights', 'scales', 'rollingMean', 'rollingVariance'] as const) assert.deepEqual(bits(f[k]), bits(l[k]));
      });
      assert.deepEqual(encodeWeights(fresh, header), bytes);
    }),
    { numRuns: 300 },
  );
});

test('decode works on an unaligned view into a larger buffer', () => {
  const big = new Uint8Array(HAND_BUILT.length + 3);
  big.set(HAND_BUILT, 3);
  const layers = handLayers();
  decodeWeights(big.subarray(3), layers, 'u.weights');
  assert.deepEqual([...layers[1]!.weights], range(20, 6));
});

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'layerlock-weights-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('saveWeightsFile / loadWeightsFile round trip, overwrite, no temp files left', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'model.weights');
    const layers = handLayers();
    decodeWeights(HAND_BUILT, layers, 'hand');
    await saveWeightsFile(path, layers, { ...DARKNET, seen: SEEN });
    assert.deepEqual(new Uint8Array(await readFile(path)), HAND_BUILT);
    const back = handLayers(-1);
    assert.deepEqual(await loadWeightsFile(path, back), { ...DARKNET, seen: SEEN });
    assert.deepEqual(snapshot(back), snapshot(layers));
    // Overwrite with different content.
    await saveWeightsFile(path, handLayers(3), { ...DARKNET, seen: 1 });
    const again = handLayers();
    assert.deepEqual(await loadWeightsFile(path, again), { ...DARKNET, seen: 1 });
    assert.ok(again[0]!.weights.every((v) => v === 3));
    assert.deepEqual(await readdir(dir), ['model.weights']);
  });
});

test('a failed save reports the target, removes its temp file and leaves the target alone', async () => {
  await withTempDir(async (dir) => {
    const target = join(dir, 'is-a-dir.weights');
    await mkdir(target);
    await writeFile(join(target, 'keep'), 'x');
    await assert.rejects(saveWeightsFile(target, handLayers(), { ...DARKNET, seen: 0 }), (e: unknown) => {
      assert.ok(e instanceof WeightsError);
      assert.ok(e.message.startsWith(`${target}: cannot save weights`), e.message);
      return true;
    });
    assert.deepEqual(await readdir(dir), ['is-a-dir.weights']);
    assert.deepEqual(await readdir(target), ['keep']);
    await assert.rejects(saveWeightsFile(join(dir, 'missing', 'm.weights'), handLayers(), { ...DARKNET, seen: 0 }), WeightsError);
  });
});

test('loadWeightsFile: missing file is a clear WeightsError', async () => {
  await assert.rejects(loadWeightsFile('/nonexistent/x.weights', handLayers()), (e: unknown) => {
    assert.ok(e instanceof WeightsError);
    assert.equal(e.message, '/nonexistent/x.weights: cannot read weights: no such file or directory');
    return true;
  });
});

test('saveWeightsFile is atomic: readers and a SIGKILL only ever see the old or the new file', async () => {
  await withTempDir(async (dir) => {
    const target = join(dir, 'model.weights');
    const n = 1 << 18; // 1 MiB of floats: large enough that a non-atomic write is caught half-done
    const layerOf = (v: number): WeightsLayer[] => [{ ...connected(1, n, false), biases: new Float32Array([v]), weights: new Float32Array(n).fill(v) }];
    const versions = [encodeWeights(layerOf(1), { ...DARKNET, seen: 1 }), encodeWeights(layerOf(2), { ...DARKNET, seen: 2 })].map((b) => Buffer.from(b));
    await saveWeightsFile(target, layerOf(1), { ...DARKNET, seen: 1 });

    const moduleUrl = new URL('../src/nn/weights.js', import.meta.url).href;
    const script = join(dir, 'writer.mjs');
    await writeFile(
      script,
      `import { saveWeightsFile } from ${JSON.stringify(moduleUrl)};
const n = ${n};
const layerOf = (v) => [{ type: 'connected', batchNormalize: false, biases: new Float32Array([v]), weights: new Float32Array(n).fill(v), scales: null, rollingMean: null, rollingVariance: null }];
const a = layerOf(1), b = layerOf(2);
for (let i = 0; ; i++) {
  await saveWeightsFile(${JSON.stringify(target)}, i % 2 ? a : b, { major: 0, minor: 2, revision: 0, seen: i % 2 ? 1 : 2 });
  if (i === 0) process.stdout.write('running\\n');
}
`,
    );
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.once('data', () => resolve());
        child.once('exit', (code) => reject(new Error(`writer exited early with ${code}`)));
      });
      const seen = [0, 0];
      const until = Date.now() + 1500;
      while (Date.now() < until) {
        const got = await readFile(target);
        const which = versions.findIndex((v) => v.equals(got));
        assert.ok(which >= 0, `a reader saw a file that is neither version (${got.length} bytes)`);
        seen[which]!++;
      }
      assert.ok(seen[0]! + seen[1]! > 0);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    const final = await readFile(target);
    assert.ok(versions.some((v) => v.equals(final)), 'after SIGKILL the target is the old or the new file');
    // A kill can leave the writer's temp file (never the target) behind; it is recognisably named.
    for (const f of await readdir(dir)) {
      assert.ok(['model.weights', 'writer.mjs'].includes(f) || /^\.model\.weights\.\d+\.[0-9a-f]+\.tmp$/.test(f), f);
    }
  });
});
