// The bad-input battery (issue 10): ~150 wrong inputs a user meets on an ordinary bad day, each run
// through the real CLI as a child process. Every case must end with a non-zero exit, exactly one
// line on stderr (the error; a case that fails mid-run may have printed its progress lines first),
// no stack trace, no control bytes echoed from the input, and any output that existed before
// byte-identical afterwards. The files are made here, in a temp folder, small enough that the whole
// battery runs in about a minute on two cores.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { parseCfg } from '../src/nn/cfg.js';
import { loadModel, saveModel } from '../src/nn/model.js';
import { CIFAR_RECORD, cifarRecords, idxImages, idxLabels } from './data-fixtures.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const BENCH = fileURLToPath(new URL('../bench/main.js', import.meta.url));
const env: NodeJS.ProcessEnv = { ...process.env, LAYERLOCK_THREADS: '1', CI: 'true' };
delete env['LAYERLOCK_DEBUG'];

let D = '';

// ---------------------------------------------------------------------------------------------
// Fixtures

const NET = `[net]
batch=10
height=28
width=28
channels=1
learning_rate=0.05
momentum=0.9
`;
const LAYERS = `
[convolutional]
filters=2
size=3
stride=2
pad=1
activation=relu

[connected]
output=10
activation=linear

[softmax]
`;
const GOOD = NET + LAYERS;

/** A cfg with `body` after the [net] section (a layer list must follow for most cases). */
const cfgWith = (body: string): string => NET + body;

/** Bad cfgs by name: each must be refused with its file name (and line, where there is one). */
const BAD_CFGS: Record<string, [text: string, expect: RegExp]> = {
  'empty.cfg': ['', /empty\.cfg: has no sections/],
  'comments.cfg': ['# only a comment\n\n', /has no sections/],
  'noheader.cfg': ['batch=1\n', /noheader\.cfg:1: key 'batch' appears before any section/],
  'malformed.cfg': ['[net\nbatch=1\n', /malformed\.cfg:1: malformed section header/],
  'firstconv.cfg': [LAYERS, /firstconv\.cfg:2: the first section must be \[net\]/],
  'nolayers.cfg': [NET, /nolayers\.cfg:1: \[net\] is not followed by any layer section/],
  'novalue.cfg': [cfgWith('[convolutional]\nfilters=\n' + LAYERS), /novalue\.cfg:9: \[convolutional\] key 'filters' has no value/],
  'noeq.cfg': [cfgWith('[convolutional]\nfilters 4\n'), /noeq\.cfg:9: expected 'key=value'/],
  'nokey.cfg': [cfgWith('[convolutional]\n=4\n'), /nokey\.cfg:9: '=4' has no key/],
  'section.cfg': [cfgWith('[route]\nlayers=-1\n'), /section\.cfg:8: section \[route\] is not supported/],
  'net2.cfg': [cfgWith('[net]\n[softmax]\n'), /net2\.cfg:8: \[net\] may only be the first section/],
  'filtersfloat.cfg': [cfgWith('[convolutional]\nfilters=2.5\n[softmax]\n'), /filtersfloat\.cfg:9: .*'filters=2\.5' is not an integer/],
  'filtersneg.cfg': [cfgWith('[convolutional]\nfilters=-4\n[softmax]\n'), /filtersneg\.cfg:9: .*must be at least 1/],
  'filtersbig.cfg': [cfgWith('[convolutional]\nfilters=99999999999\n[softmax]\n'), /filtersbig\.cfg:9: .*is out of range/],
  'filtershuge.cfg': [cfgWith('[convolutional]\nfilters=100000000\nsize=3\n[connected]\noutput=10\n[softmax]\n'), /filtershuge\.cfg:\d+: .*more than this machine's .* of memory/],
  'outputhuge.cfg': [cfgWith('[connected]\noutput=2000000000\n[softmax]\n'), /outputhuge\.cfg:8: .*more than this machine's .* of memory/],
  'batchhuge.cfg': [cfgWith('[convolutional]\nfilters=64\nsize=3\npad=1\n[softmax]\n').replace('batch=10', 'batch=100000000'), /batchhuge\.cfg:\d+: .*100000000 images per forward.*memory/],
  'sizezero.cfg': [cfgWith('[convolutional]\nsize=0\n[softmax]\n'), /sizezero\.cfg:9: .*'size=0' must be at least 1/],
  'stridezero.cfg': [cfgWith('[convolutional]\nstride=0\n[softmax]\n'), /stridezero\.cfg:9: .*'stride=0'/],
  'sizebig.cfg': [cfgWith('[convolutional]\nsize=40\n[softmax]\n'), /sizebig\.cfg:8: .*would produce an empty output/],
  'poolbig.cfg': [cfgWith('[maxpool]\nsize=64\nstride=64\npadding=0\n[softmax]\n'), /poolbig\.cfg:8: .*empty output/],
  'activation.cfg': [cfgWith('[convolutional]\nactivation=elu\n[softmax]\n'), /activation\.cfg:9: .*'activation=elu' is not supported/],
  'policy.cfg': [NET + 'policy=random\n' + LAYERS, /policy\.cfg:8: .*'policy=random' is not supported/],
  'steps.cfg': [NET + 'policy=steps\nsteps=10,20\nscales=.1\n' + LAYERS, /steps\.cfg:10: .*has 1 values but steps has 2/],
  'stepsmissing.cfg': [NET + 'policy=steps\nsteps=10\n' + LAYERS, /stepsmissing\.cfg:1: .*needs both 'steps=' and 'scales='/],
  'stepsempty.cfg': [NET + 'policy=steps\nsteps=10,,20\nscales=.1,.1,.1\n' + LAYERS, /stepsempty\.cfg:9: .*empty item/],
  'groups.cfg': [cfgWith('[convolutional]\ngroups=2\n[softmax]\n'), /groups\.cfg:9: .*'groups=2' is not supported \(grouped/],
  'adam.cfg': [NET + 'adam=1\n' + LAYERS, /adam\.cfg:8: .*'adam=1' is not supported/],
  'subdiv.cfg': [NET.replace('batch=10', 'batch=10\nsubdivisions=3') + LAYERS, /subdiv\.cfg:3: .*does not divide batch=10/],
  'noheight.cfg': [NET.replace('height=28\n', '') + LAYERS, /noheight\.cfg:1: \[net\] needs 'height='/],
  'heightzero.cfg': [NET.replace('height=28', 'height=0') + LAYERS, /heightzero\.cfg:3: .*'height=0' must be at least 1/],
  'momentum.cfg': [NET.replace('momentum=0.9', 'momentum=1') + LAYERS, /momentum\.cfg:7: .*'momentum=1' must be less than 1/],
  'lrneg.cfg': [NET.replace('learning_rate=0.05', 'learning_rate=-1') + LAYERS, /lrneg\.cfg:6: .*must be at least 0/],
  'lrword.cfg': [NET.replace('learning_rate=0.05', 'learning_rate=fast') + LAYERS, /lrword\.cfg:6: .*is not a number/],
  'lrinf.cfg': [NET.replace('learning_rate=0.05', 'learning_rate=1e999') + LAYERS, /lrinf\.cfg:6: .*is out of range/],
  'inputs.cfg': [NET + 'inputs=100\n' + LAYERS, /inputs\.cfg:8: .*differs from height\*width\*channels = 784/],
  'dropfirst.cfg': [cfgWith('[dropout]\n[softmax]\n'), /dropfirst\.cfg:8: \[dropout\] cannot be the first layer/],
  'dropone.cfg': [cfgWith('[connected]\noutput=10\n[dropout]\nprobability=1\n[softmax]\n'), /dropone\.cfg:11: .*'probability=1' must be less than 1/],
  'cost.cfg': [cfgWith('[connected]\noutput=10\n[softmax]\n[cost]\ntype=wgan\n'), /cost\.cfg:12: .*'type=wgan' is not supported/],
  'tree.cfg': [cfgWith('[connected]\noutput=10\n[softmax]\ntree=data/tree\n'), /tree\.cfg:11: .*'tree=data\/tree' is not supported/],
  'stridex.cfg': [cfgWith('[convolutional]\nstride=1\nstride_x=2\n[softmax]\n'), /stridex\.cfg:10: .*only square strides/],
  'escape.cfg': [cfgWith('[convolutional]\nfilters=\u001b[31mred\u0007\n[softmax]\n'), /escape\.cfg:9: .*is not an integer/],
  'nul.cfg': ['\u0000\u0001\u0002binary\u0000garbage\n', /nul\.cfg:1: expected 'key=value'/],
  'channels.cfg': [NET.replace('channels=1', 'channels=2') + LAYERS, /network expects 28×28×2/],
};

/** Writes name → bytes under D, making folders. */
async function put(name: string, data: string | Uint8Array): Promise<void> {
  const path = join(D, name);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, data);
}

/** An IDX set of 28×28 images: `train` and `test` labels, optionally with a file replaced. */
async function idxSet(dir: string, opts: { train?: number[]; test?: number[]; replace?: Record<string, Uint8Array>; gzip?: boolean } = {}): Promise<void> {
  const train = opts.train ?? [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const test = opts.test ?? [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const pixel = (n: number, i: number): number => (n * 31 + i * 7) & 0xff;
  const files: Record<string, Uint8Array> = {
    'train-images-idx3-ubyte': idxImages(train.length, 28, 28, pixel),
    'train-labels-idx1-ubyte': idxLabels(train),
    't10k-images-idx3-ubyte': idxImages(test.length, 28, 28, pixel),
    't10k-labels-idx1-ubyte': idxLabels(test),
    ...opts.replace,
  };
  for (const [name, bytes] of Object.entries(files)) {
    await put(join(dir, opts.gzip ? `${name}.gz` : name), opts.gzip ? gzipSync(bytes) : bytes);
  }
}

async function png(name: string, w: number, h: number, channels: 1 | 3 = 1): Promise<void> {
  const raw = Buffer.alloc(w * h * channels, 128);
  await mkdir(join(D, name, '..'), { recursive: true });
  await sharp(raw, { raw: { width: w, height: h, channels } }).png().toFile(join(D, name));
}

before(async () => {
  D = await mkdtemp(join(tmpdir(), 'layerlock-badinput-'));
  await put('good.cfg', GOOD);
  await put('good-copy/same.cfg', GOOD);
  await put('rgb.cfg', GOOD.replace('channels=1', 'channels=3').replace('height=28', 'height=32').replace('width=28', 'width=32'));
  await put('diverge.cfg', GOOD.replace('learning_rate=0.05', 'learning_rate=1e30'));
  for (const [name, [text]] of Object.entries(BAD_CFGS)) await put(join('cfg', name), text);
  await mkdir(join(D, 'cfgdir.cfg'), { recursive: true });

  // Weights: a good file and damaged copies of it.
  const net = await loadModel({ cfg: parseCfg(GOOD, 'good.cfg') });
  await saveModel(net, join(D, 'good.weights'));
  const good = await readFile(join(D, 'good.weights'));
  const withFloat = (at: number, v: number): Uint8Array => {
    const b = Buffer.from(good);
    b.writeFloatLE(v, at);
    return b;
  };
  await put('w/nan.weights', withFloat(20 + 4 * 3, NaN));
  await put('w/inf.weights', withFloat(good.length - 4, Infinity));
  await put('w/trunc.weights', good.subarray(0, good.length - 10));
  await put('w/extra.weights', Buffer.concat([good, Buffer.alloc(8)]));
  await put('w/short.weights', good.subarray(0, 9));
  await put('w/empty.weights', '');
  const neg = Buffer.from(good);
  neg.writeInt32LE(-1, 0);
  await put('w/negver.weights', neg);
  const seen = Buffer.from(good);
  seen.writeBigUInt64LE(0xffffffffffffffffn, 12);
  await put('w/seen.weights', seen);
  await put('w/text.weights', '[net]\nbatch=1\n');
  // Finite but so large that the outputs overflow: loading accepts it, using it must not give NaN results.
  const huge = Buffer.from(good);
  for (let off = 20; off < huge.length; off += 4) huge.writeFloatLE(3e38, off);
  await put('w/huge.weights', huge);
  await mkdir(join(D, 'w/dir.weights'), { recursive: true });
  const other = await loadModel({ cfg: parseCfg(GOOD.replace('filters=2', 'filters=3'), 'other.cfg') });
  await saveModel(other, join(D, 'w/other.weights'));

  // Data sets.
  await idxSet('idx-good');
  await idxSet('idx-good-gz', { gzip: true });
  const full = idxImages(20, 28, 28, () => 1);
  await idxSet('idx-trunc', { replace: { 'train-images-idx3-ubyte': full.subarray(0, full.length - 100) } });
  await idxSet('idx-trunc-gz', { gzip: true, replace: { 'train-images-idx3-ubyte': full.subarray(0, full.length - 100) } });
  await idxSet('idx-long', { replace: { 'train-images-idx3-ubyte': Buffer.concat([full, Buffer.alloc(784)]) } });
  await idxSet('idx-labels-trunc', { replace: { 'train-labels-idx1-ubyte': idxLabels(new Array<number>(20).fill(1)).subarray(0, 20) } });
  await idxSet('idx-count', { replace: { 'train-labels-idx1-ubyte': idxLabels(new Array<number>(19).fill(1)) } });
  await idxSet('idx-magic', { replace: { 'train-images-idx3-ubyte': idxImages(20, 28, 28, () => 1, 0x0804) } });
  await idxSet('idx-header', { replace: { 'train-images-idx3-ubyte': full.subarray(0, 10) } });
  await idxSet('idx-zero-size', { replace: { 'train-images-idx3-ubyte': idxImages(20, 0, 28, () => 1) } });
  await idxSet('idx-empty', { train: [], test: [] });
  await idxSet('idx-notest', { test: [] });
  await idxSet('idx-one', { train: [3] });
  await idxSet('idx-label-high', { train: [0, 1, 2, 3, 4, 5, 6, 7, 8, 12] });
  await put('idx-label-high/classes.txt', '0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n');
  await idxSet('idx-label-255', { train: [0, 255, 2, 3] });
  await idxSet('idx-gzbad', { replace: {} });
  await put('idx-gzbad/train-images-idx3-ubyte', Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(40, 7)]));
  const small = idxImages(20, 3, 4, () => 1);
  await idxSet('idx-small', { replace: { 'train-images-idx3-ubyte': small, 't10k-images-idx3-ubyte': idxImages(10, 3, 4, () => 1) } });
  await idxSet('idx-mixed', { replace: { 't10k-images-idx3-ubyte': idxImages(10, 27, 28, () => 1) } });
  await idxSet('idx-missing');
  await rm(join(D, 'idx-missing', 't10k-labels-idx1-ubyte'));

  const cifar = (dir: string, files: Record<string, Uint8Array>): Promise<void[]> =>
    Promise.all(Object.entries(files).map(([n, b]) => put(join(dir, n), b)));
  const batch = cifarRecords([0, 1, 2, 3], 0);
  const batches = Object.fromEntries(['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5', 'test_batch'].map((n) => [`${n}.bin`, batch]));
  await cifar('cifar-cut', { ...batches, 'data_batch_1.bin': batch.subarray(0, CIFAR_RECORD * 2 + 100) });
  await cifar('cifar-cut-gz', { ...batches, 'data_batch_1.bin': new Uint8Array(0) });
  await rm(join(D, 'cifar-cut-gz', 'data_batch_1.bin'));
  await put('cifar-cut-gz/data_batch_1.bin.gz', gzipSync(batch.subarray(0, CIFAR_RECORD * 3 + 5)));
  await cifar('cifar-label', { ...batches, 'test_batch.bin': cifarRecords([0, 10, 1], 0) });
  await cifar('cifar-missing', { ...batches });
  await rm(join(D, 'cifar-missing', 'data_batch_4.bin'));
  await cifar('cifar-meta', { ...batches, 'batches.meta.txt': new TextEncoder().encode('a\nb\n') });

  // Image folders and image files.
  await png('folder-empty-class/train/a/1.png', 28, 28);
  await mkdir(join(D, 'folder-empty-class/train/b'), { recursive: true });
  await png('folder-bad-image/train/a/1.png', 28, 28);
  await put('folder-bad-image/train/b/2.png', 'not a png');
  await png('folder-sizes/train/a/1.png', 28, 28);
  await png('folder-sizes/train/b/2.png', 20, 28);
  await png('folder-test-class/train/a/1.png', 28, 28);
  await png('folder-test-class/test/zzz/1.png', 28, 28);
  await mkdir(join(D, 'folder-no-images/train/a'), { recursive: true });
  await put('folder-no-images/train/a/readme.txt', 'no images here');
  await png('folder-notest/a/1.png', 28, 28);
  await png('folder-notest/b/1.png', 28, 28);
  await png('img/ok.png', 28, 28);
  await png('img/big.png', 40, 30);
  await put('img/fake.png', 'this is not an image');
  await put('img/empty.png', '');
  await put('img/\u001b[2Jevil.png', 'x');
  await mkdir(join(D, 'img/folder.png'), { recursive: true });
  await put('afile', 'just a file');
  await put('w/other.json', '{"configs": 3}');
  await mkdir(join(D, 'emptydir'), { recursive: true });
  await mkdir(join(D, 'existing-dir'), { recursive: true });

  // A server and a device without an installed model, for the deployment commands.
  for (const args of [['keygen', '--out', 'keys'], ['device', 'init', '--dir', 'dev']]) {
    const r = await run(MAIN, args);
    assert.equal(r.code, 0, r.stderr);
  }
});

after(async () => {
  if (D) await rm(D, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Cases

interface Case {
  name: string;
  /** Arguments after `layerlock`; '@OUT' is this case's existing output (a file, or a folder). */
  args: string[];
  /** The one error line must match this. */
  expect: RegExp;
  /** Run `node dist/bench/main.js` (npm run bench) instead of the CLI. */
  bench?: boolean;
  /** @OUT is a folder made by this function (default: a file holding 64 known bytes). */
  outDir?: (dir: string) => Promise<void>;
  /** The case fails mid-run: progress lines matching this may come before the error line. */
  progress?: RegExp;
}

const TRAIN = ['train', '--cfg', 'good.cfg', '--epochs', '1', '--out', '@OUT'];
const EVAL = ['eval', '--cfg', 'good.cfg', '--weights', 'good.weights', '--test-limit', '10'];
const PREDICT = ['predict', '--cfg', 'good.cfg', '--weights', 'good.weights'];
const EXPOSURE = ['exposure', '--cfg', 'good.cfg', '--epochs', '1', '--train-limit', '40', '--test-limit', '10', '--out', '@OUT'];
const BENCH_TEE = ['bench', 'tee', '--cfg', 'good.cfg', '--train-limit', '100', '--reps', '2', '--batches', '1', '--out', '@OUT'];
const PLAN = ['plan', '--cfg', 'good.cfg'];
const trainOn = (data: string, ...more: string[]): string[] => [...TRAIN, '--data', data, ...more];

const cases: Case[] = [];
const add = (name: string, args: string[], expect: RegExp, more: Partial<Case> = {}): void => void cases.push({ name, args, expect, ...more });

// cfg files: each through train (which must not touch --out) and a few through eval and plan.
for (const [name, [, expect]] of Object.entries(BAD_CFGS)) {
  add(`cfg ${name} (train)`, ['train', '--cfg', `cfg/${name}`, '--epochs', '1', '--out', '@OUT'], expect);
}
for (const name of ['stepsempty.cfg', 'groups.cfg', 'filtershuge.cfg', 'escape.cfg']) {
  add(`cfg ${name} (eval)`, ['eval', '--cfg', `cfg/${name}`, '--weights', 'good.weights'], BAD_CFGS[name]![1]);
}
for (const name of ['section.cfg', 'subdiv.cfg', 'sizebig.cfg']) add(`cfg ${name} (plan)`, ['plan', '--cfg', `cfg/${name}`], BAD_CFGS[name]![1]);
add('cfg missing', [...TRAIN.slice(0, 2), 'nope.cfg', ...TRAIN.slice(3)], /nope\.cfg: cannot read cfg: no such file/);
add('cfg is a folder', ['train', '--cfg', 'cfgdir.cfg', '--epochs', '1', '--out', '@OUT'], /cfgdir\.cfg: cannot read cfg: is a directory/);
add('cfg is a device that never ends', ['train', '--cfg', '/dev/zero', '--epochs', '1', '--out', '@OUT'], /\/dev\/zero: cannot read cfg: not a regular file/);
add('weights are a device', [...EVAL.slice(0, 4), '/dev/zero'], /--weights \/dev\/zero is not a regular file/);
add('image is a device', [...PREDICT, '/dev/zero'], /\/dev\/zero is not a regular file/);
add('cfg of another input shape than the data', ['train', '--cfg', 'rgb.cfg', '--epochs', '1', '--out', '@OUT', '--train-limit', '20'], /(28×28|resize)/);

// Weights files.
add('weights with a NaN (eval)', [...EVAL.slice(0, 4), 'w/nan.weights'], /nan\.weights: layer 0 \(convolutional\) weights\[1\] is NaN.*diverged or corrupt/);
add('weights with an Inf (eval)', [...EVAL.slice(0, 4), 'w/inf.weights'], /inf\.weights: .* is Infinity/);
add('weights with a NaN (train init)', [...TRAIN, '--weights', 'w/nan.weights'], /nan\.weights: .*NaN/);
add('weights with a NaN (predict)', [...PREDICT.slice(0, 4), 'w/nan.weights', 'img/ok.png'], /NaN/);
add('weights with a NaN (TEE eval)', [...EVAL.slice(0, 4), 'w/nan.weights', '--tee-last', '2'], /nan\.weights: .*NaN/);
add('weights truncated', [...EVAL.slice(0, 4), 'w/trunc.weights'], /trunc\.weights: truncated/);
add('weights with extra bytes', [...EVAL.slice(0, 4), 'w/extra.weights'], /extra\.weights has 8 bytes more/);
add('weights shorter than a header', [...EVAL.slice(0, 4), 'w/short.weights'], /short\.weights: not a Darknet weights file: 9 bytes/);
add('weights empty', [...EVAL.slice(0, 4), 'w/empty.weights'], /empty\.weights: not a Darknet weights file: 0 bytes/);
add('weights negative version', [...EVAL.slice(0, 4), 'w/negver.weights'], /negver\.weights: .*negative/);
add('weights absurd seen counter', [...EVAL.slice(0, 4), 'w/seen.weights'], /seen\.weights: bad header/);
add('weights are a cfg', [...EVAL.slice(0, 4), 'w/text.weights'], /text\.weights/);
add('weights for another cfg', [...EVAL.slice(0, 4), 'w/other.weights'], /other\.weights has \d+ bytes more than the cfg's layers need/);
add('weights missing', [...EVAL.slice(0, 4), 'w/none.weights'], /none\.weights: no such file/);
add('weights are a folder', [...EVAL.slice(0, 4), 'w/dir.weights'], /dir\.weights is a folder, not a file/);
add('train init weights missing', [...TRAIN, '--weights', 'w/none.weights'], /none\.weights: no such file/);
add('train init weights for another cfg', [...TRAIN, '--weights', 'w/other.weights'], /other\.weights/);

// Data.
add('data: truncated IDX inside the limit', trainOn('idx-trunc', '--train-limit', '2'), /train-images-idx3-ubyte: truncated \(header declares 20 images/);
add('data: truncated IDX.gz inside the limit', trainOn('idx-trunc-gz', '--train-limit', '2'), /train-images-idx3-ubyte\.gz: truncated/);
add('data: IDX longer than its header', trainOn('idx-long', '--train-limit', '2'), /longer than its header says/);
add('data: truncated labels', trainOn('idx-labels-trunc'), /train-labels-idx1-ubyte: truncated \(header declares 20 labels, found 12\)/);
add('data: images and labels disagree', trainOn('idx-count'), /20 images but .*train-labels-idx1-ubyte has 19 labels/);
add('data: wrong IDX magic', trainOn('idx-magic'), /not an IDX image file \(magic 0x00000804/);
add('data: IDX header cut', trainOn('idx-header'), /truncated \(IDX header cut short\)/);
add('data: IDX of 0-pixel images', trainOn('idx-zero-size'), /declares 0×28 images/);
add('data: no images at all', trainOn('idx-empty'), /S \(the part of the training set used for training\) is empty: .*idx-empty has no training images/);
add('data: one image leaves S empty', [...trainOn('idx-one'), '--split', '0.4'], /S .*is empty: the 1 training image is split into 0 in S and 1 in T/);
add('data: label beyond classes.txt', trainOn('idx-label-high'), /classes\.txt: lists 10 classes but the data has label 12/);
add('data: label 255 for a 10-class network', trainOn('idx-label-255'), /idx-label-255 has 256 classes \(labels up to 255\) but the network outputs 10 values/);
add('data: corrupt gzip', trainOn('idx-gzbad'), /train-images-idx3-ubyte: corrupt or truncated gzip data/);
add('data: images of another size', trainOn('idx-small'), /3×4.*--resize/);
add('data: test images of another size', trainOn('idx-mixed'), /t10k-images-idx3-ubyte: images are 27×28 but the training images are 28×28/);
add('data: IDX file missing', trainOn('idx-missing'), /idx-missing: missing t10k-labels-idx1-ubyte/);
add('data: CIFAR record cut', trainOn('cifar-cut'), /data_batch_1\.bin: length 6246 is not a multiple of the 3073-byte CIFAR-10 record/);
add('data: CIFAR.gz cut inside the limit', trainOn('cifar-cut-gz', '--train-limit', '2'), /data_batch_1\.bin\.gz: length 9224 is not a multiple/);
add('data: CIFAR label 10', ['eval', '--cfg', 'good.cfg', '--weights', 'good.weights', '--data', 'cifar-label', '--resize'], /test_batch\.bin: record 1 has label 10/);
add('data: CIFAR batch missing', trainOn('cifar-missing'), /missing data_batch_4\.bin/);
add('data: CIFAR meta with 2 names', trainOn('cifar-meta'), /batches\.meta\.txt: expected 10 class names, found 2/);
add('data: empty class folder', trainOn('folder-empty-class'), /train\/b: class "b" has no \.png/);
add('data: undecodable image in a folder', trainOn('folder-bad-image'), /2\.png: cannot decode image/);
add('data: images of two sizes in a folder', trainOn('folder-sizes'), /2\.png: image is 28×20 but .*1\.png is 28×28/);
add('data: test class without train folder', trainOn('folder-test-class'), /test\/zzz: class "zzz" has no folder/);
add('data: folder without images', trainOn('folder-no-images'), /no data set found/);
add('data: folder is empty', trainOn('emptydir'), /emptydir: no data set found/);
add('data: a file, not a folder', trainOn('afile'), /afile: no such directory/);
add('data: missing folder', trainOn('no-such-data'), /no-such-data: no such directory/);
add('data: eval of an empty test set', ['eval', '--cfg', 'good.cfg', '--weights', 'good.weights', '--data', 'folder-notest'], /the test set is empty/);
add('data: eval of empty T', [...EVAL, '--set', 'T', '--train-limit', '1'], /T \(the held-out part of the training set\) is empty/);
add('data: eval of empty S', [...EVAL, '--set', 'S', '--train-limit', '0'], /S .* is empty/);
add('data: train-limit 0', [...TRAIN, '--train-limit', '0'], /S .* is empty: embedded has no training images, or --train-limit is 0/);
add('data: split leaves S empty', [...TRAIN, '--train-limit', '1', '--split', '0.3'], /S .* is empty/);

// Images for predict.
add('image is a folder', [...PREDICT, 'img/folder.png'], /img\/folder\.png is a folder, not an image file/);
add('image is missing', [...PREDICT, 'img/none.png'], /img\/none\.png: no such image file/);
add('image is not an image', [...PREDICT, 'img/fake.png'], /fake\.png: cannot decode image/);
add('image is empty', [...PREDICT, 'img/empty.png'], /empty\.png: cannot decode image/);
add('image of another size', [...PREDICT, 'img/big.png'], /big\.png: image is 30×40×1 but the network expects 28×28×1 \(pass --resize/);
add('image name with escape codes', [...PREDICT, 'img/\u001b[2Jevil.png'], /\\x1b\[2Jevil\.png: cannot decode image/);
add('two images', [...PREDICT, 'img/ok.png', 'img/ok.png'], /one image at a time/);
add('image and --index', [...PREDICT, 'img/ok.png', '--index', '1'], /give either an image file or --index i/);
add('--index out of range', [...PREDICT, '--index', '10', '--test-limit', '10'], /--index 10 is out of range: the test set has 10 images/);
add('--index negative', [...PREDICT, '--index', '-1'], /--index must be an integer from 0 to/);
add('--top 0', [...PREDICT, 'img/ok.png', '--top', '0'], /--top must be an integer from 1/);

// Numeric flags.
for (const [flag, value, expect, ...more] of [
  ['--epochs', '0', /--epochs must be an integer from 1 to 10000 \(got "0"\)/],
  ['--epochs', '-5', /--epochs must be an integer from 1 to 10000 \(got "-5"\)/],
  ['--epochs', '1.5', /--epochs must be an integer/],
  ['--epochs', 'ten', /--epochs must be an integer/],
  ['--epochs', '99999999999999999999', /--epochs must be an integer from 1 to 10000/],
  ['--epochs', '10001', /--epochs must be an integer from 1 to 10000/],
  ['--epochs', '', /--epochs must be an integer/],
  ['--epochs', '1e3', /--epochs must be an integer/],
  ['--epochs', '0x10', /--epochs must be an integer/],
  ['--train-limit', '-1', /--train-limit must be an integer from 0/],
  ['--train-limit', 'all', /--train-limit must be an integer/],
  ['--train-limit', '3000000000', /--train-limit must be an integer from 0 to 2147483647/],
  ['--test-limit', '-10', /--test-limit must be an integer from 0/],
  ['--seed', '-1', /--seed must be an integer from 0 to 4294967295/],
  ['--seed', '4294967296', /--seed must be an integer from 0 to 4294967295/],
  ['--split', '0', /--split must be in \(0, 1\]/],
  ['--split', '1.5', /--split must be in \(0, 1\]/],
  ['--split', '-0.5', /--split must be in \(0, 1\] \(got -0\.5\)/],
  ['--split', 'half', /--split must be a number/],
  ['--split', 'NaN', /--split must be a number/],
  ['--split', 'Infinity', /--split must be a number/],
  ['--batch', '0', /--batch must be an integer from 1/],
  ['--subdivisions', '-2', /--subdivisions must be an integer from 1/],
  ['--secure-mem', '0', /--secure-mem must be at least one byte/, '--tee-last', '1'],
  ['--secure-mem', 'lots', /--secure-mem must be a size like 16MiB/, '--tee-last', '1'],
  ['--secure-mem', '99999999999999999999', /--secure-mem 99999999999999999999 is more than this machine's memory/, '--tee-last', '1'],
  ['--secure-mem', '5000GiB', /--secure-mem 5000GiB is more than this machine's memory/, '--tee-last', '1'],
  ['--tee-last', '9', /--tee-last 9: the network has only 3 layers/],
  ['--tee-last', '-1', /--tee-last must be an integer from 0/],
  ['--tee-layers', '2:1', /--tee-layers 2:1 is not within/],
  ['--tee-layers', 'a:b', /--tee-layers must be a:b/],
] as [string, string, RegExp, ...string[]][]) {
  add(`train ${flag} ${JSON.stringify(value)}`, [...TRAIN, flag, value, ...more], expect);
}
add('train --tee-output without a partition', [...TRAIN, '--tee-output', 'full'], /--tee-output needs --tee-layers a:b or --tee-last k/);
add('train --tee-output top0', [...TRAIN, '--tee-last', '1', '--tee-output', 'top0'], /k must be at least 1/);
add('train --tee-last and --tee-layers', [...TRAIN, '--tee-last', '1', '--tee-layers', '0:1'], /give --tee-layers or --tee-last, not both/);
add('train --subdivisions above --batch', [...TRAIN, '--batch', '2', '--subdivisions', '4'], /--subdivisions 4 exceeds the batch of 2/);
add('train without --epochs', TRAIN.filter((_, i) => i !== 3 && i !== 4), /missing --epochs/);
add('train without --out', TRAIN.slice(0, 5), /missing --out/);
add('train --epochs without a value', ['train', '--cfg', 'good.cfg', '--out', '@OUT', '--epochs'], /Option '--epochs <value>' argument missing/);
add('train unknown option', [...TRAIN, '--epoch', '2'], /Unknown option '--epoch'/);
add('train stray argument', [...TRAIN, 'extra'], /Unexpected argument 'extra'|positional/i);
add('train boolean with a value', [...TRAIN, '--json=yes'], /--json' does not take an argument/);
add('unknown command', ['trian', '--cfg', 'good.cfg'], /unknown command "trian"/);
add('unknown command with escapes', ['\u001b]0;owned\u0007'], /unknown command "\\x1b\]0;owned\\x07"/);
add('eval --set bad', [...EVAL, '--set', 'V'], /--set must be S, T or test/);
add('eval without --weights', EVAL.filter((_, i) => i !== 3 && i !== 4), /missing --weights/);
add('exposure --jobs 0', [...EXPOSURE, '--jobs', '0'], /--jobs must be an integer from 1 to 256/);
add('exposure --jobs huge', [...EXPOSURE, '--jobs', '100000'], /--jobs must be an integer from 1 to 256/);
add('exposure --seeds huge', [...EXPOSURE, '--seeds', '1,99999999999999999999'], /--seeds: 99999999999999999999 is above the largest seed/);
add('bench tee --reps huge', [...BENCH_TEE, '--reps', '1000000'], /--reps must be an integer from 2 to 1000/);
add('exposure --seeds repeated', [...EXPOSURE, '--seeds', '1,1'], /--seeds lists a seed twice/);
add('exposure --seeds negative', [...EXPOSURE, '--seeds', '-1'], /--seeds must be a comma-separated list/);
add('exposure --metric', [...EXPOSURE, '--metric', 'f1'], /--metric must be loss or acc/);
add('exposure --split 1', [...EXPOSURE, '--split', '1'], /--split must be in \(0, 1\): both S and T are needed/);
add('exposure --ft-epochs -1', [...EXPOSURE, '--ft-epochs', '-1'], /--ft-epochs must be an integer from 0/);
add('exposure --epochs huge', [...EXPOSURE.slice(0, 3), '--epochs', '1e9', ...EXPOSURE.slice(5)], /--epochs must be an integer/);
add('exposure --seed and --seeds', [...EXPOSURE, '--seed', '1', '--seeds', '2'], /give --seed or --seeds, not both/);
add('plan --mode', [...PLAN, '--mode', 'both'], /--mode must be train or infer/);
add('plan --threads 0', [...PLAN, '--threads', '0'], /--threads must be an integer from 1 to 1024/);
add('plan --top -3', [...PLAN, '--top', '-3'], /--top must be an integer from 1/);
add('plan --tee-slowdown 0.5', [...PLAN, '--tee-slowdown', '0.5'], /--tee-slowdown must be ≥ 1/);
add('plan --exposure missing', [...PLAN, '--exposure', 'nowhere'], /nowhere/);
add('plan --cost-from not JSON', [...PLAN, '--cost-from', 'afile'], /--cost-from afile: not a bench\.json of layerlock bench tee \(not JSON\)/);
add('plan --cost-from a folder without bench.json', [...PLAN, '--cost-from', 'emptydir'], /--cost-from emptydir\/bench\.json: .*no such file/);
add('plan --cost-from JSON of another shape', [...PLAN, '--cost-from', 'w/other.json'], /--cost-from w\/other\.json: not a bench\.json/);
add('plan --cost-from missing', [...PLAN, '--cost-from', 'nowhere.json'], /--cost-from nowhere\.json: no such file/);
add('bench tee --reps 1', [...BENCH_TEE, '--reps', '1'], /--reps must be an integer from 2/);
add('bench tee --batches 0', [...BENCH_TEE, '--batches', '0'], /--batches must be an integer from 1/);
add('bench tee --warmup -1', [...BENCH_TEE, '--warmup', '-1'], /--warmup must be an integer from 0/);
add('bench tee --k-max x', [...BENCH_TEE, '--k-max', 'x'], /--k-max must be an integer/);
add('bench tee --split 1', [...BENCH_TEE, '--split', '1'], /--split must be in \(0, 1\)/);
add('bench tee with too few images in T', [...BENCH_TEE, '--train-limit', '10'], /the run needs 20 images .* but T has 5/);
add('bench tee --weights for another cfg', [...BENCH_TEE, '--weights', 'w/other.weights'], /other\.weights has \d+ bytes more than the cfg's layers need/);
add('bench unknown benchmark', ['bench', 'gpu'], /unknown benchmark "gpu"/);
add('npm run bench --seconds -1', ['--seconds', '-1'], /--seconds must be a number more than 0/, { bench: true });
add('npm run bench --rounds 0', ['--rounds', '0'], /--rounds must be an integer from 1 to 1000/, { bench: true });
add('npm run bench --threads many', ['--threads', 'many'], /--threads must be an integer/, { bench: true });
add('npm run bench --shapes', ['--shapes', 'imagenet'], /unknown shape "imagenet"/, { bench: true });
add('npm run bench unknown option', ['--fast'], /Unknown option '--fast'/, { bench: true });
add('npm run bench --peer', ['--peer', 'tensorflow'], /unknown peer tensorflow/, { bench: true });

// Paths.
add('train --out is a folder', ['train', '--cfg', 'good.cfg', '--epochs', '1', '--out', 'existing-dir'], /--out existing-dir is a folder; give a file name/);
add('train --out in a missing folder', ['train', '--cfg', 'good.cfg', '--epochs', '1', '--out', 'no/such/dir/m.weights'], /the folder no\/such\/dir does not exist/);
add('train --out below a file', ['train', '--cfg', 'good.cfg', '--epochs', '1', '--out', 'afile/m.weights'], /afile\/m\.weights: a part of this path is a file, not a folder|afile is not a folder/);
add('train --out is the cfg', ['train', '--cfg', 'good.cfg', '--epochs', '1', '--out', './good.cfg'], /--out \.\/good\.cfg is the cfg file itself/);
add('train --out ends in /', ['train', '--cfg', 'good.cfg', '--epochs', '1', '--out', 'new-dir/'], /names a folder; give a file name/);
add('exposure --out is a file', [...EXPOSURE.slice(0, -1), 'afile'], /--out afile is a file; give a folder/);
add('exposure --out below a file', [...EXPOSURE.slice(0, -1), 'afile/run'], /a part of this path is a file/);
add('bench tee --out is a file', [...BENCH_TEE.slice(0, -1), 'afile'], /afile is a file, not a folder/);
add('keygen --out is a file', ['keygen', '--out', 'afile'], /afile is a file, not a folder/);
add('device init --dir is a file', ['device', 'init', '--dir', 'afile'], /afile is a file, not a folder/);
add('install on a folder that is no device', ['install', 'nope.pkg', '--device', 'emptydir', '--trust', 'nope.pub'], /emptydir is not an initialised device/);
add('predict --device of an empty folder', ['predict', '--device', 'emptydir', 'img/ok.png'], /emptydir/);
add('exposure plot of a folder without results', ['exposure', 'plot', 'emptydir'], /emptydir\/exposure\.json: not found/);
add('exposure --base missing', [...EXPOSURE.filter((a) => a !== '--epochs' && a !== '1'), '--ft-epochs', '1', '--base', 'w/none.weights'], /none\.weights: no such file/);

// Deployment.
const PACKAGE = ['package', '--cfg', 'good.cfg', '--weights', 'good.weights', '--device', 'dev/device.cert', '--signing-key', 'keys/server.key', '--tee-last', '1', '--out', '@OUT'];
const withArg = (base: string[], flag: string, value: string): string[] => base.map((a, i) => (base[i - 1] === flag ? value : a));
add('package NaN weights', withArg(PACKAGE, '--weights', 'w/nan.weights'), /nan\.weights: .*NaN/);
add('package weights for another cfg', withArg(PACKAGE, '--weights', 'w/other.weights'), /other\.weights has \d+ bytes more/);
add('package a bad cfg', withArg(PACKAGE, '--cfg', 'cfg/groups.cfg'), /groups\.cfg:9: /);
add('package --tee-last beyond the network', withArg(PACKAGE, '--tee-last', '9'), /--tee-last 9: the network has only 3 layers/);
add('package signed with the public key', withArg(PACKAGE, '--signing-key', 'keys/server.pub'), /server\.pub is a server PUBLIC key/);
add('package for a file that is no certificate', withArg(PACKAGE, '--device', 'afile'), /afile: not a layerlock device certificate/);
add('package --out is a folder', withArg(PACKAGE, '--out', 'existing-dir'), /--out existing-dir is a folder; give a file name/);
add('install a file that is no package', ['install', 'afile', '--device', 'dev', '--trust', 'keys/server.pub'], /afile: truncated: 11 bytes/);
add('install with a private key as trust', ['install', 'afile', '--device', 'dev', '--trust', 'keys/server.key'], /keys\/server\.key is a server PRIVATE key/);
add('predict on a device without a model', ['predict', '--device', 'dev', 'img/ok.png'], /no model is installed on dev/);
add('finetune on a device without a model', ['finetune', '--device', 'dev', '--epochs', '1'], /no model is installed on dev/);
add('finetune --epochs 0', ['finetune', '--device', 'dev', '--epochs', '0'], /--epochs must be an integer from 1 to 10000/);
add('export from a device without a model', ['export', '--device', 'dev', '--to', 'keys/server.pub', '--out', 'export.bin'], /no model is installed on dev: nothing to export/);
add('export --out is a folder', ['export', '--device', 'dev', '--to', 'keys/server.pub', '--out', 'existing-dir'], /--out existing-dir is a folder/);
add('import a file that is no export', ['import', 'afile', '--key', 'keys/server.key', '--device', 'dev/device.cert', '--out', '@OUT'], /afile: truncated: 11 bytes/);
add('import --out in a missing folder', ['import', 'afile', '--key', 'keys/server.key', '--device', 'dev/device.cert', '--out', 'no/dir/m.weights'], /the folder no\/dir does not exist/);
add('keygen over existing keys', ['keygen', '--out', 'keys'], /keys\/server\.key already exists: refusing to overwrite a server key/);
add('device init over a device', ['device', 'init', '--dir', 'dev'], /dev is already an initialised device/);
add('device with an unknown subcommand', ['device', 'reset', '--dir', 'dev'], /unknown device command "reset"/);

// Silent wrong results: a diverging run is an error naming when, and leaves --out alone.
add('train diverges (learning_rate=1e30)', ['train', '--cfg', 'diverge.cfg', '--epochs', '2', '--out', '@OUT', '--train-limit', '60', '--test-limit', '10'],
  /training diverged: the loss became NaN in epoch 1, batch \d+ of 3/, { progress: /^layerlock train: / });
add('train diverges inside the TEE', ['train', '--cfg', 'diverge.cfg', '--epochs', '2', '--out', '@OUT', '--train-limit', '60', '--test-limit', '10', '--tee-last', '1', '--tee-output', 'full'],
  /diverged/, { progress: /^layerlock(: layers|: note: | train: )/ });

add('eval of weights whose outputs overflow', [...EVAL.slice(0, 4), 'w/huge.weights', ...EVAL.slice(5)], /the model's loss over 10 images is NaN: its outputs are not finite/);
add('eval of overflowing weights on S', [...EVAL.slice(0, 4), 'w/huge.weights', '--set', 'S', '--train-limit', '20'], /the model's loss over 10 images is NaN/);
add('predict with weights whose outputs overflow', [...PREDICT.slice(0, 4), 'w/huge.weights', 'img/ok.png'], /the model's output is NaN: its weights diverged or overflow, so there is no prediction/);
add('predict --index with overflowing weights', [...PREDICT.slice(0, 4), 'w/huge.weights', '--index', '0', '--test-limit', '5'], /the model's output is NaN/);
add('train from overflowing weights', [...TRAIN, '--weights', 'w/huge.weights', '--train-limit', '20'], /training diverged: the loss became NaN in epoch 1, batch 1 of 1/, { progress: /^layerlock train: / });
add('train diverges with the loss hidden in the TEE (top1)', ['train', '--cfg', 'diverge.cfg', '--epochs', '2', '--out', '@OUT', '--train-limit', '60', '--test-limit', '10', '--tee-last', '2', '--tee-export-plaintext'],
  /training diverged: after epoch 1, layer 0 \(convolutional\) .* = NaN/, { progress: /^layerlock(: layers|: note: | train: )/ });
add('exposure diverges in the base training', ['exposure', '--cfg', 'diverge.cfg', '--epochs', '1', '--train-limit', '40', '--test-limit', '10', '--out', '@OUT', '--jobs', '1'],
  /job s1-base failed: training diverged: the loss became NaN in epoch 1/, { progress: /^layerlock exposure: / });

// Result folders of another run are refused, never overwritten.
const foreignExposure = async (dir: string): Promise<void> => {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'exposure.json'), JSON.stringify({ options: { cfg_sha256: 'f'.repeat(64), data_location: 'embedded' }, layers: [] }));
};
add('exposure into a folder with another run\'s exposure.json', EXPOSURE, /holds the exposure\.json of a different run \(its cfg_sha256/, { outDir: foreignExposure });
add('exposure into a folder with a garbage exposure.json', EXPOSURE, /exposure\.json is not an exposure result of layerlock; refusing to overwrite/, {
  outDir: async (dir) => {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'exposure.json'), 'not json at all');
  },
});
add('exposure into the folder of a run with other options', EXPOSURE, /refusing to mix them|different run/, {
  outDir: async (dir) => {
    await foreignExposure(dir);
    await writeFile(join(dir, 'options.json'), JSON.stringify({ identity: { cfg: 'x.cfg', cfg_sha256: '0'.repeat(64), data: 'embedded', data_location: 'embedded', train_limit: 40, test_limit: 10, train_count: 40, test_count: 10, split: 0.5, resize: false, epochs: 1, ft_epochs: 1, base: null, base_sha256: null } }));
  },
});
add('exposure of an empty T', [...EXPOSURE.slice(0, 5), '--train-limit', '1', ...EXPOSURE.slice(7)], /is empty: the 1 training images? (is|are) split into/, { outDir: foreignExposure });
add('exposure of an empty test set', [...EXPOSURE, '--test-limit', '0'], /the test set is empty/);
add('exposure --train-limit 0', [...EXPOSURE.slice(0, 5), '--train-limit', '0', ...EXPOSURE.slice(7)], /the training set is empty/);
add('bench tee into a folder of results without options.json', BENCH_TEE, /holds benchmark results without their options\.json; refusing to overwrite/, {
  outDir: async (dir) => {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'bench.json'), '{"configs":[]}\n');
  },
});
add('bench tee into a folder of another measurement', BENCH_TEE, /holds runs of a different measurement \(cfg_sha256/, {
  outDir: async (dir) => {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'options.json'), JSON.stringify({ identity: { cfg_sha256: '0'.repeat(64), data_location: 'embedded' } }));
    await writeFile(join(dir, 'runs.jsonl'), '');
  },
});
add('bench tee with an unreadable options.json', BENCH_TEE, /options\.json is not a benchmark's options file/, {
  outDir: async (dir) => {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'options.json'), '{{{');
  },
});

// ---------------------------------------------------------------------------------------------
// Running them

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(script: string, args: string[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { cwd: D, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Every file under path (or the file itself) with its SHA-256, to compare before and after. */
async function snapshot(path: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (p: string): Promise<void> => {
    const s = await stat(p).catch(() => null);
    if (s === null) return;
    if (s.isDirectory()) {
      for (const n of await readdir(p)) await walk(join(p, n));
    } else {
      out.set(p, createHash('sha256').update(await readFile(p)).digest('hex'));
    }
  };
  await walk(path);
  return out;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
const STACK = /^\s+at .+(\(|:\d+:\d+)|node:internal|^\w*Error: |\bat file:/m;

test(`bad-input battery: ${cases.length} cases`, { concurrency: 4, timeout: 600_000 }, async (t) => {
  assert.ok(cases.length > 100, `only ${cases.length} cases`);
  await Promise.all(cases.map((c, i) => t.test(c.name, async () => {
    const out = join(D, `out-${i}`);
    const folderOut = c.args[0] === 'exposure' || c.args[0] === 'bench';
    if (c.outDir) await c.outDir(out);
    else if (folderOut) {
      await mkdir(out);
      await writeFile(join(out, 'notes.txt'), `the user's own file ${i}\n`);
    }
    else await writeFile(out, createHash('sha256').update(`guard ${i}`).digest().subarray(0, 32));
    const before = await snapshot(out);
    const args = c.args.map((a) => (a === '@OUT' ? `out-${i}` : a));
    const r = await run(c.bench ? BENCH : MAIN, args);
    // A machine without the native kernels says so once per process; that note is about the machine, not the input.
    const lines = r.stderr.split('\n').filter((l) => l !== '' && !/^layerlock: native kernels unavailable/.test(l));
    const context = `args: ${JSON.stringify(args)}\nstderr:\n${r.stderr}`;
    assert.notEqual(r.code, 0, `exit code 0\n${context}`);
    assert.ok(!STACK.test(r.stderr), `stack trace\n${context}`);
    assert.ok(!CONTROL.test(r.stderr.replace(/\n/g, '')), `control bytes on stderr\n${context}`);
    const errorLine = lines.at(-1) ?? '';
    const progress = lines.slice(0, -1);
    if (c.progress) for (const l of progress) assert.match(l, c.progress, `unexpected line before the error\n${context}`);
    else assert.equal(lines.length, 1, `expected exactly one line on stderr\n${context}`);
    assert.match(errorLine, c.bench ? /^bench: / : /^layerlock: /, context);
    assert.match(errorLine, c.expect, context);
    const afterwards = await snapshot(out);
    if (c.progress) {
      // A run that failed mid-way may have left its own resumable state next to them; what was there is intact.
      for (const [path, hash] of before) assert.equal(afterwards.get(path), hash, `${path} changed\n${context}`);
    } else {
      assert.deepEqual(afterwards, before, `the existing output changed\n${context}`);
    }
    assert.ok(!(await stat(`${out}.part`).then(() => true, () => false)) || c.progress !== undefined, `a partial file was left\n${context}`);
  })));
});

// ---------------------------------------------------------------------------------------------
// What must still work: the other side of the same rules.

test('a misspelt cfg key is printed as a warning naming file, line and the key it probably means', async () => {
  await put('typo.cfg', GOOD.replace('activation=relu', 'activaton=relu').replace('stride=2', 'stride=2\nstide=4'));
  const r = await run(MAIN, ['eval', '--cfg', 'typo.cfg', '--weights', 'good.weights', '--test-limit', '10']);
  assert.equal(r.code, 0, r.stderr);
  const warnings = r.stderr.split('\n').filter((l) => l.includes('warning'));
  assert.equal(warnings.length, 2, r.stderr);
  assert.match(warnings[0]!, /^layerlock: typo\.cfg:13: warning: \[convolutional\] unknown key 'stide'.*did you mean 'stride'\?/);
  assert.match(warnings[1]!, /^layerlock: typo\.cfg:15: warning: \[convolutional\] unknown key 'activaton'.*did you mean 'activation'\?/);
});

test('pad=2 is read as Darknet reads it (padding size/2), with a warning, and the run succeeds', async () => {
  await put('pad2.cfg', GOOD.replace('pad=1', 'pad=2'));
  const r = await run(MAIN, ['eval', '--cfg', 'pad2.cfg', '--weights', 'good.weights', '--test-limit', '10', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /pad2\.cfg:13: warning: .*'pad=2' is read as pad=1/);
  assert.equal((JSON.parse(r.stdout) as { n: number }).n, 10);
});

test('train replaces an existing --out only when it succeeds, and leaves no partial file', async () => {
  await writeFile(join(D, 'replace.weights'), 'old model');
  const r = await run(MAIN, ['train', '--cfg', 'good.cfg', '--epochs', '1', '--out', 'replace.weights', '--train-limit', '40', '--test-limit', '10', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await readFile(join(D, 'replace.weights'))).length, (await readFile(join(D, 'good.weights'))).length);
  await assert.rejects(stat(join(D, 'replace.weights.part')));
  const doc = JSON.parse(r.stdout) as { S: { loss: number }; test: { n: number } };
  assert.ok(Number.isFinite(doc.S.loss));
  assert.equal(doc.test.n, 10);
});

test('a set a command only reports on may be empty: train says "no images", never NaN', async () => {
  const r = await run(MAIN, ['train', '--cfg', 'good.cfg', '--epochs', '1', '--out', 'notest.weights', '--data', 'folder-notest', '--resize']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /test +\(no images: not evaluated\)/);
  assert.doesNotMatch(r.stdout, /NaN/);
});

test('exposure: the same cfg by another path continues the run; a job file with loss: null is recomputed', async () => {
  const args = (cfg: string): string[] => ['exposure', '--cfg', cfg, '--epochs', '1', '--train-limit', '40', '--test-limit', '10', '--out', 'exp-run', '--jobs', '1', '--json'];
  const first = await run(MAIN, args('good.cfg'));
  assert.equal(first.code, 0, first.stderr);
  const again = await run(MAIN, args('good-copy/same.cfg'));
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stderr, /ran \d+ jobs/, 'nothing is recomputed');
  const layers = (out: string): unknown => (JSON.parse(out) as { layers: unknown }).layers;
  assert.deepEqual(layers(again.stdout), layers(first.stdout));
  // An older version wrote jobs of an empty set as loss: null: such a file is redone, not a crash.
  const job = join(D, 'exp-run', 'jobs', 's1-l0-mr.json');
  const doc = JSON.parse(await readFile(job, 'utf8')) as { scores: { S: { loss: number | null } } };
  doc.scores.S.loss = null;
  await writeFile(job, JSON.stringify(doc));
  const third = await run(MAIN, args('good.cfg'));
  assert.equal(third.code, 0, third.stderr);
  assert.match(third.stderr, /5 jobs, 4 already done, 1 to run/);
  const redone = JSON.parse(await readFile(job, 'utf8')) as { scores: { S: { loss: number } } };
  assert.ok(Number.isFinite(redone.scores.S.loss));
});

test('bench tee: the same cfg and data by another path resume the measurement', async () => {
  const args = (cfg: string): string[] => ['bench', 'tee', '--cfg', cfg, '--train-limit', '100', '--reps', '2', '--batches', '1', '--warmup', '0', '--k-max', '1', '--out', 'bench-run'];
  const first = await run(MAIN, args('good.cfg'));
  assert.equal(first.code, 0, first.stderr);
  const m = /(\d+) runs, 0 done earlier/.exec(first.stderr);
  assert.ok(m, first.stderr);
  const again = await run(MAIN, args('good-copy/same.cfg'));
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, new RegExp(`${m[1]} runs, ${m[1]} done earlier`));
});

test('npm run bench -- --help prints its usage and exits 0, like every command', async () => {
  const r = await run(BENCH, ['--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^usage: npm run bench -- /);
  assert.match(r.stdout, /--seconds S/);
  assert.equal(r.stderr, '');
});
