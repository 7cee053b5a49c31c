import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { CfgError, loadCfg, parseCfg } from '../src/nn/cfg.js';
import type {
  ConnectedConfig,
  ConvolutionalConfig,
  LayerConfig,
  MaxpoolConfig,
  NetworkConfig,
} from '../src/nn/config.js';

const CFG_DIR = fileURLToPath(new URL('../../cfg/', import.meta.url));

/** Compact description of a layer list, so expectations read like the paper's notation. */
function describe(layers: readonly LayerConfig[]): string[] {
  return layers.map((l) => {
    switch (l.type) {
      case 'convolutional':
        return `conv ${l.filters} ${l.size}x${l.size}/${l.stride} p${l.padding} ${l.activation}${l.batchNormalize ? ' bn' : ''}`;
      case 'connected':
        return `fc ${l.output} ${l.activation}${l.batchNormalize ? ' bn' : ''}`;
      case 'maxpool':
        return `max ${l.size}/${l.stride} p${l.padding}`;
      case 'avgpool':
        return 'avg';
      case 'dropout':
        return `dropout ${l.probability}`;
      case 'softmax':
        return 'softmax';
      case 'cost':
        return `cost ${l.costType} ${l.scale}`;
    }
  });
}

const NET = '[net]\nheight=28\nwidth=28\nchannels=1\n';

/** Parses a cfg made of a minimal [net] plus `body`; line numbers of `body` start at 5. */
function withNet(body: string): NetworkConfig {
  return parseCfg(NET + body, 't.cfg');
}

function throwsCfg(fn: () => unknown, line: number, ...fragments: string[]): CfgError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof CfgError, `expected a CfgError, got ${String(caught)}`);
  assert.equal(caught.line, line, caught.message);
  const prefix = line > 0 ? `${caught.file}:${line}: ` : `${caught.file}: `;
  assert.ok(caught.message.startsWith(prefix), caught.message);
  for (const f of fragments) assert.ok(caught.message.includes(f), `'${caught.message}' should mention '${f}'`);
  assert.ok(!caught.message.includes('\n'), 'one-line message');
  return caught;
}

const VGG7 = [
  'conv 16 3x3/1 p1 relu',
  'conv 16 3x3/1 p1 relu',
  'max 2/2 p1',
  'conv 32 3x3/1 p1 relu',
  'conv 32 3x3/1 p1 relu',
  'max 2/2 p1',
  'conv 32 3x3/1 p1 relu',
  'conv 32 3x3/1 p1 relu',
  'max 2/2 p1',
  'fc 64 relu',
  'dropout 0.5',
  'fc 10 linear',
  'softmax',
  'cost sse 1',
];

test('shipped cfg/vgg7-mnist.cfg is the paper VGG-7 for 28x28x1', async () => {
  const c = await loadCfg(`${CFG_DIR}vgg7-mnist.cfg`);
  assert.deepEqual(c.warnings, []);
  assert.deepEqual(describe(c.layers), VGG7);
  const n = c.net;
  assert.deepEqual(
    [n.batch, n.subdivisions, n.height, n.width, n.channels, n.learningRate, n.momentum, n.decay, n.policy, n.maxBatches],
    [128, 1, 28, 28, 1, 0.01, 0.9, 0.0005, 'constant', Math.ceil((20 * 30000) / 128)],
  );
});

test('shipped cfg/vgg7-cifar10.cfg is the paper VGG-7 for 32x32x3', async () => {
  const c = await loadCfg(`${CFG_DIR}vgg7-cifar10.cfg`);
  assert.deepEqual(c.warnings, []);
  assert.deepEqual(describe(c.layers), VGG7);
  const n = c.net;
  assert.deepEqual(
    [n.batch, n.height, n.width, n.channels, n.learningRate, n.maxBatches],
    [128, 32, 32, 3, 0.01, Math.ceil((60 * 25000) / 128)],
  );
});

test('shipped cfg/lenet-mnist.cfg is the LeNet-style network', async () => {
  const c = await loadCfg(`${CFG_DIR}lenet-mnist.cfg`);
  assert.deepEqual(c.warnings, []);
  assert.deepEqual(describe(c.layers), [
    'conv 6 5x5/1 p2 relu',
    'max 2/2 p1',
    'conv 6 5x5/1 p2 relu',
    'max 2/2 p1',
    'fc 120 relu',
    'dropout 0.5',
    'fc 84 relu',
    'dropout 0.5',
    'fc 10 linear',
    'softmax',
    'cost sse 1',
  ]);
  assert.deepEqual([c.net.batch, c.net.height, c.net.channels, c.net.learningRate], [128, 28, 1, 0.01]);
});

// Written for this test in the shape of Darknet's cifar_small.cfg: batch-normalised leaky convs with
// 1x1 bottlenecks (pad=1 on a 1x1 kernel means no padding), augmentation keys in [net], poly policy,
// loose spacing around '='.
const CIFAR_SMALL_LIKE = `[net]
batch=10
subdivisions=1
height=28
width=28
channels=3
max_crop=32
min_crop=32

hue=.1
saturation=.75
exposure=.75

learning_rate=0.1
policy=poly
power=4
max_batches = 5000
momentum=0.9
decay=0.0005

[convolutional]
batch_normalize=1
filters=16
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
batch_normalize=1
filters=8
size=1
stride=1
pad=1
activation=leaky

[convolutional]
filters=10
size=1
stride=1
pad=1
activation=leaky

[avgpool]

[softmax]
groups=1

[cost]
type=sse
`;

test("a cfg shaped like Darknet's cifar_small.cfg parses with warnings only", () => {
  const c = parseCfg(CIFAR_SMALL_LIKE, 'cifar_small.cfg');
  assert.deepEqual(describe(c.layers), [
    'conv 16 3x3/1 p1 leaky bn',
    'max 2/2 p1',
    'conv 8 1x1/1 p0 leaky bn',
    'conv 10 1x1/1 p0 leaky',
    'avg',
    'softmax',
    'cost sse 1',
  ]);
  assert.equal(c.net.policy, 'poly');
  assert.equal(c.net.power, 4);
  assert.equal(c.net.maxBatches, 5000);
  assert.equal(c.net.learningRate, 0.1);
  assert.deepEqual(c.warnings, [
    "cifar_small.cfg:7: warning: [net] key 'max_crop' is not used by layerlock (ignored: data augmentation is not done by layerlock)",
    "cifar_small.cfg:8: warning: [net] key 'min_crop' is not used by layerlock (ignored: data augmentation is not done by layerlock)",
    "cifar_small.cfg:10: warning: [net] key 'hue' is not used by layerlock (ignored: data augmentation is not done by layerlock)",
    "cifar_small.cfg:11: warning: [net] key 'saturation' is not used by layerlock (ignored: data augmentation is not done by layerlock)",
    "cifar_small.cfg:12: warning: [net] key 'exposure' is not used by layerlock (ignored: data augmentation is not done by layerlock)",
  ]);
});

// Written for this test in the shape of DarkneTZ's MNIST LeNet example (tz_datasets/cfg/mnist_lenet.cfg).
const DARKNETZ_LENET_LIKE = `[net]
batch=50
subdivisions=1
height=28
width=28
channels=3
momentum=0.9
decay=0.00005
max_crop=28

learning_rate=0.01
policy=poly
power=4
max_batches=500

angle=1
hue=1
saturation=1
exposure=1
aspect=1

[convolutional]
filters=6
size=5
stride=1
pad=1
activation=relu

[maxpool]
size=2
stride=2

[convolutional]
filters=16
size=5
stride=1
pad=1
activation=relu

[maxpool]
size=2
stride=2

[connected]
output= 120
activation=relu

[dropout]
probability=.5

[connected]
output= 10
activation=linear

[softmax]
groups=1

[cost]
type=sse
`;

test("a cfg shaped like DarkneTZ's MNIST LeNet example parses with warnings only", () => {
  const c = parseCfg(DARKNETZ_LENET_LIKE, 'mnist_lenet.cfg');
  assert.deepEqual(describe(c.layers), [
    'conv 6 5x5/1 p2 relu',
    'max 2/2 p1',
    'conv 16 5x5/1 p2 relu',
    'max 2/2 p1',
    'fc 120 relu',
    'dropout 0.5',
    'fc 10 linear',
    'softmax',
    'cost sse 1',
  ]);
  assert.equal(c.net.decay, 0.00005);
  assert.equal(c.net.batch, 50);
  assert.deepEqual(
    c.warnings.map((w) => w.split(': warning: ')[0]),
    ['mnist_lenet.cfg:9', 'mnist_lenet.cfg:16', 'mnist_lenet.cfg:17', 'mnist_lenet.cfg:18', 'mnist_lenet.cfg:19', 'mnist_lenet.cfg:20'],
  );
  assert.ok(c.warnings[1]!.includes("[net] key 'angle' is not used by layerlock (ignored"), c.warnings[1]);
});

test('layer configs carry the line of their section header', () => {
  const c = withNet('\n[conv]\nfilters=2\n\n[max]\n');
  assert.deepEqual(c.net.source, { file: 't.cfg', line: 1 });
  assert.deepEqual(c.layers.map((l) => l.source), [
    { file: 't.cfg', line: 6 },
    { file: 't.cfg', line: 9 },
  ]);
});

test('Darknet defaults: [net] and an empty conv/connected section', () => {
  const c = withNet('[convolutional]\n[connected]\n');
  const n = c.net;
  assert.deepEqual(
    [n.batch, n.subdivisions, n.learningRate, n.momentum, n.decay, n.maxBatches, n.policy, n.power, n.burnIn, n.step, n.scale, n.gamma],
    [1, 1, 0.001, 0.9, 0.0001, 0, 'constant', 4, 0, 1, 1, 1],
  );
  assert.deepEqual(n.steps, []);
  assert.deepEqual(describe(c.layers), ['conv 1 1x1/1 p0 logistic', 'fc 1 logistic']);
  assert.deepEqual(c.warnings, []);
});

test('section aliases are accepted as in Darknet', () => {
  const c = parseCfg(
    '[network]\nheight=8\nwidth=8\nchannels=1\n[conv]\n[max]\n[avg]\n[conn]\n[dropout]\n[soft]\n[cost]\n',
    'a.cfg',
  );
  assert.deepEqual(c.layers.map((l) => l.type), [
    'convolutional',
    'maxpool',
    'avgpool',
    'connected',
    'dropout',
    'softmax',
    'cost',
  ]);
});

test('whitespace anywhere in a line is stripped; # and ; comments; CRLF line ends', () => {
  const text = '# a comment\r\n; another\r\n [ net ] \r\nhei ght = 2 8\r\nwidth\t=\t28\r\nchannels=1\r\n\r\n[convolutional]\r\nfilters = 1 6\r\n';
  const c = parseCfg(text, 'ws.cfg');
  assert.equal(c.net.height, 28);
  assert.equal((c.layers[0] as ConvolutionalConfig).filters, 16);
  assert.deepEqual(c.layers[0]!.source, { file: 'ws.cfg', line: 8 });
});

test('property: inserting spaces and tabs anywhere in a shipped cfg does not change its meaning', async () => {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(`${CFG_DIR}vgg7-mnist.cfg`, 'utf8');
  const expected = parseCfg(text, 'x.cfg');
  const lines = text.split('\n');
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(), fc.nat(), fc.constantFrom(' ', '\t', '  ')), { maxLength: 40 }), (inserts) => {
      const ls = [...lines];
      for (const [li, ci, ws] of inserts) {
        const i = li % ls.length;
        const line = ls[i]!;
        // Inside a comment the characters are irrelevant anyway; keep '#' first so it stays a comment.
        const at = line.startsWith('#') ? line.length : ci % (line.length + 1);
        ls[i] = line.slice(0, at) + ws + line.slice(at);
      }
      assert.deepEqual(parseCfg(ls.join('\n'), 'x.cfg'), expected);
    }),
    { numRuns: 100 },
  );
});

test('malformed lines give a CfgError naming file and line', () => {
  throwsCfg(() => withNet('[convolutional]\nfilters 16\n'), 6, "'filters16'", 'key=value');
  throwsCfg(() => withNet('[convolutional\n'), 5, 'malformed section header');
  throwsCfg(() => withNet('[convolutional]\n=3\n'), 6, 'no key');
  const e = throwsCfg(() => withNet('[convolutional]\nsize=\n'), 6, "'size'", 'no value');
  assert.equal(e.key, 'size');
});

test('a key before any section is an error', () => {
  const e = throwsCfg(() => parseCfg('# header\nbatch=1\n[net]\n', 'k.cfg'), 2, "key 'batch'", 'before any section');
  assert.equal(e.file, 'k.cfg');
  assert.equal(e.key, 'batch');
});

test('the first section must be [net] or [network]; [net] only once; at least one layer', () => {
  throwsCfg(() => parseCfg('\n[convolutional]\nfilters=1\n', 'f.cfg'), 2, 'first section', '[convolutional]');
  throwsCfg(() => withNet('[conv]\n[net]\n'), 6, '[net] may only be the first section');
  throwsCfg(() => parseCfg(NET, 'f.cfg'), 1, 'not followed by any layer');
  throwsCfg(() => parseCfg('# nothing\n', 'f.cfg'), 0, 'no sections');
});

test('unknown or unsupported sections are errors naming the section and line', () => {
  for (const name of ['route', 'yolo', 'lstm', 'shortcut', 'batchnorm', 'Convolutional', 'constructor']) {
    throwsCfg(() => withNet(`[convolutional]\n\n[${name}]\n`), 7, `[${name}]`, 'not supported');
  }
});

test('a duplicate key in one section keeps its first value (as Darknet) with a warning naming both lines', () => {
  const c = withNet('[convolutional]\nsize=3\nfilters=2\nsize=5\n');
  assert.equal((c.layers[0] as ConvolutionalConfig).size, 3);
  assert.equal(c.warnings.length, 1);
  assert.ok(c.warnings[0]!.includes(":8: warning: [convolutional] key 'size' is set again (first on line 6)"), c.warnings[0]);
  // The same key in different sections is of course fine.
  assert.equal(withNet('[conv]\nsize=3\n[conv]\nsize=3\n').layers.length, 2);
});

test('bad numbers are errors naming line and key', () => {
  const e = throwsCfg(() => withNet('[convolutional]\nsize=abc\n'), 6, "'size=abc'", 'not an integer');
  assert.equal(e.key, 'size');
  throwsCfg(() => withNet('[convolutional]\nfilters=3.5\n'), 6, "'filters=3.5'", 'not an integer');
  throwsCfg(() => withNet('[dropout]\nprobability=half\n').layers, 5, 'cannot be the first layer');
  throwsCfg(() => withNet('[conv]\n[dropout]\nprobability=half\n'), 7, "'probability=half'", 'not a number');
  throwsCfg(() => parseCfg('[net]\nheight=28\nwidth=28\nchannels=1\nlearning_rate=0x10\n[conv]\n', 'n.cfg'), 5, "'learning_rate=0x10'");
  throwsCfg(() => parseCfg('[net]\nheight=28\nwidth=28\nchannels=1\ndecay=1e999\n[conv]\n', 'n.cfg'), 5, 'out of range');
  throwsCfg(() => parseCfg('[net]\nheight=28\nwidth=28\nchannels=1\nlearning_rate=nan\n[conv]\n', 'n.cfg'), 5, 'not a number');
  // Darknet's float spellings are accepted.
  const c = withNet('[conv]\n[dropout]\nprobability=.25\n[cost]\nscale=2.\n');
  assert.deepEqual(describe(c.layers).slice(1), ['dropout 0.25', 'cost sse 2']);
});

test('range checks name line and key', () => {
  throwsCfg(() => withNet('[convolutional]\nsize=0\n'), 6, "'size=0'", 'at least 1');
  throwsCfg(() => withNet('[convolutional]\nfilters=-4\n'), 6, "'filters=-4'", 'at least 1');
  throwsCfg(() => withNet('[convolutional]\nstride=0\n'), 6, "'stride=0'");
  throwsCfg(() => withNet('[convolutional]\npadding=-1\n'), 6, "'padding=-1'");
  throwsCfg(() => withNet('[convolutional]\npad=x\n'), 6, "'pad=x'", 'not an integer');
  throwsCfg(() => withNet('[connected]\noutput=0\n'), 6, "'output=0'");
  throwsCfg(() => withNet('[conv]\n[dropout]\nprobability=1\n'), 7, "'probability=1'", 'less than 1');
  throwsCfg(() => withNet('[conv]\n[dropout]\nprobability=-0.1\n'), 7, "'probability=-0.1'");
  throwsCfg(() => withNet('[maxpool]\nsize=0\n'), 6, "'size=0'");
  throwsCfg(() => withNet('[cost]\nscale=0\n'), 6, "'scale=0'", 'greater than 0');
  throwsCfg(() => parseCfg('[net]\nheight=28\nwidth=28\nchannels=1\nmomentum=1\n[conv]\n', 'm.cfg'), 5, "'momentum=1'");
  throwsCfg(() => parseCfg('[net]\nheight=0\nwidth=28\nchannels=1\n[conv]\n', 'm.cfg'), 2, "'height=0'");
  throwsCfg(() => withNet('[convolutional]\nfilters=99999999999\n'), 6, 'out of range');
});

test('[net]: required input shape, batch divisible by subdivisions', () => {
  const e = throwsCfg(() => parseCfg('[net]\nheight=28\nwidth=28\n[conv]\n', 'r.cfg'), 1, "'channels='");
  assert.equal(e.key, 'channels');
  throwsCfg(
    () => parseCfg('[net]\nbatch=128\nsubdivisions=3\nheight=28\nwidth=28\nchannels=1\n[conv]\n', 'r.cfg'),
    3,
    "'subdivisions=3'",
    'does not divide batch=128',
  );
  const c = parseCfg('[net]\nbatch=128\nsubdivisions=4\ninputs=784\nheight=28\nwidth=28\nchannels=1\n[conv]\n', 'r.cfg');
  assert.equal(c.net.subdivisions, 4);
  assert.deepEqual(c.warnings, []);
  throwsCfg(() => parseCfg('[net]\ninputs=100\nheight=28\nwidth=28\nchannels=1\n[conv]\n', 'r.cfg'), 2, "'inputs=100'");
});

test('[net]: learning-rate policies', () => {
  const net = (lines: string) => parseCfg(`[net]\nheight=2\nwidth=2\nchannels=1\n${lines}[conv]\n`, 'p.cfg');
  const s = net('policy=steps\nsteps=-1,100,2000\nscales=.1,10,.1\nburn_in=100\npower=2\n').net;
  assert.deepEqual([s.policy, s.steps, s.scales, s.burnIn, s.power], ['steps', [-1, 100, 2000], [0.1, 10, 0.1], 100, 2]);
  const st = net('policy=step\nstep=1000\nscale=0.5\n').net;
  assert.deepEqual([st.policy, st.step, st.scale], ['step', 1000, 0.5]);
  const sig = net('policy=sigmoid\nstep=50\ngamma=0.2\n').net;
  assert.deepEqual([sig.policy, sig.step, sig.gamma], ['sig', 50, 0.2]);
  assert.equal(net('policy=exp\ngamma=0.99\n').net.gamma, 0.99);
  assert.equal(net('policy=poly\n').net.policy, 'poly');
  throwsCfg(() => net('policy=random\n'), 5, "'policy=random'", 'not supported');
  // A name Darknet does not know it reads as constant (with a message): so do we, with a warning.
  const sigTypo = net('policy=sig\n');
  assert.equal(sigTypo.net.policy, 'constant');
  assert.ok(sigTypo.warnings[0]!.includes("'policy=sig' is not a policy Darknet knows; read as constant") && sigTypo.warnings[0]!.includes("'sigmoid'"), sigTypo.warnings[0]);
  throwsCfg(() => net('policy=steps\nsteps=100,200\nscales=.1\n'), 7, "'scales=.1'", 'has 1 values but steps has 2');
  throwsCfg(() => net('policy=steps\nsteps=100\n'), 1, 'scales');
  throwsCfg(() => net('policy=steps\nsteps=100,,200\nscales=1,1,1\n'), 6, 'empty item');
  throwsCfg(() => net('policy=steps\nsteps=100,2e3\nscales=1,1\n'), 6, "'steps=2e3'", 'not an integer');
  throwsCfg(() => net('policy=step\nstep=0\n'), 6, "'step=0'");
  // Keys of another policy are unused, as in Darknet: a warning, not an error.
  const c = net('policy=poly\nsteps=100\nscales=.1\n');
  assert.deepEqual(c.net.steps, []);
  assert.deepEqual(c.warnings, [
    "p.cfg:6: warning: [net] key 'steps' is not used by policy=poly (ignored)",
    "p.cfg:7: warning: [net] key 'scales' is not used by policy=poly (ignored)",
  ]);
});

test('[net] keys that would change training are rejected unless neutral', () => {
  const net = (lines: string) => parseCfg(`[net]\nheight=2\nwidth=2\nchannels=1\n${lines}[conv]\n`, 'n.cfg');
  throwsCfg(() => net('adam=1\n'), 5, "'adam=1'", 'Adam');
  throwsCfg(() => net('time_steps=2\n'), 5, "'time_steps=2'");
  throwsCfg(() => net('notruth=1\n'), 5, "'notruth=1'");
  throwsCfg(() => net('clip=5\n'), 5, "'clip=5'");
  throwsCfg(() => net('loss_scale=128\n'), 5, "'loss_scale=128'");
  throwsCfg(() => net('label_smooth_eps=0.1\n'), 5, "'label_smooth_eps=0.1'");
  const ok = net('adam=0\ntime_steps=1\nnotruth=0\nclip=0\nlabel_smooth_eps=0.0\n');
  assert.deepEqual(ok.warnings, []);
  // Adam's parameters are unused when adam is off: Darknet does not even read them.
  const w = net('B1=0.9\n');
  assert.equal(w.warnings.length, 1);
  assert.ok(w.warnings[0]!.startsWith("n.cfg:5: warning: [net] key 'B1' is not used by layerlock"));
});

test('harmless and unknown keys give warnings with line numbers', () => {
  const c = parseCfg(
    '[net]\nheight=2\nwidth=2\nchannels=1\nangle=7\nrandom=1\nmosaic=1\nfoo=bar\n[conv]\nbar=1\n[conv]\n',
    'w.cfg',
  );
  assert.deepEqual(c.warnings, [
    "w.cfg:5: warning: [net] key 'angle' is not used by layerlock (ignored: data augmentation is not done by layerlock)",
    "w.cfg:6: warning: [net] key 'random' is not used by layerlock (ignored: multi-scale detector training is not done by layerlock)",
    "w.cfg:7: warning: [net] key 'mosaic' is not used by layerlock (ignored: data augmentation is not done by layerlock)",
    "w.cfg:8: warning: [net] unknown key 'foo' (ignored, as Darknet ignores unused keys)",
    "w.cfg:10: warning: [conv] unknown key 'bar' (ignored, as Darknet ignores unused keys)",
  ]);
});

test('[convolutional]: unsupported keys are errors, neutral values are accepted', () => {
  const e = throwsCfg(
    () => parseCfg(`${NET}\n[convolutional]\nfilters=32\ngroups=2\n`, 'cfg/x.cfg'),
    8,
    "cfg/x.cfg:8: [convolutional] key 'groups=2' is not supported (grouped convolution would change the result)",
  );
  assert.equal(e.key, 'groups');
  throwsCfg(() => withNet('[convolutional]\ndilation=2\n'), 6, "'dilation=2'", 'dilated');
  throwsCfg(() => withNet('[convolutional]\nxnor=1\n'), 6, "'xnor=1'", 'XNOR');
  throwsCfg(() => withNet('[convolutional]\nbinary=1\n'), 6, "'binary=1'");
  throwsCfg(() => withNet('[convolutional]\nflipped=1\n'), 6, "'flipped=1'");
  throwsCfg(() => withNet('[convolutional]\nantialiasing=1\n'), 6, "'antialiasing=1'");
  throwsCfg(() => withNet('[convolutional]\nshare_index=3\n'), 6, "'share_index=3'");
  throwsCfg(() => withNet('[convolutional]\nstride=2\nstride_x=1\n'), 7, "'stride_x=1'", 'square');
  throwsCfg(() => withNet('[convolutional]\nactivation=elu\n'), 6, "'activation=elu'", 'relu');
  throwsCfg(() => withNet('[convolutional]\nlearning_rate=0.1\n'), 6, "'learning_rate=0.1'", 'per-layer');
  throwsCfg(() => withNet('[convolutional]\nstopbackward=1\n'), 6, "'stopbackward=1'");
  throwsCfg(() => withNet('[convolutional]\ndontload=1\n'), 6, "'dontload=1'");
  const ok = withNet('[convolutional]\ngroups=1\ndilation=1\nxnor=0\nbinary=0\nflipped=0\nstride=2\nstride_x=2\nstride_y=2\nlearning_rate=1\n');
  assert.deepEqual(ok.warnings, []);
  assert.equal((ok.layers[0] as ConvolutionalConfig).stride, 2);
});

test('[convolutional]: pad / padding semantics are Darknet\'s', () => {
  const conv = (body: string) => withNet(`[convolutional]\n${body}`);
  const padding = (body: string) => (conv(body).layers[0] as ConvolutionalConfig).padding;
  assert.equal(padding('size=3\n'), 0);
  assert.equal(padding('size=3\npad=0\n'), 0);
  assert.equal(padding('size=3\npad=1\n'), 1);
  assert.equal(padding('size=5\npad=1\n'), 2);
  assert.equal(padding('size=1\npad=1\n'), 0); // size/2 with integer division
  assert.equal(padding('size=4\npad=1\n'), 2);
  assert.equal(padding('size=3\npadding=3\n'), 3);
  assert.equal(padding('size=3\npad=0\npadding=2\n'), 2);
  // pad=1 wins over an explicit padding, as in Darknet; we say so.
  const c = conv('size=3\npad=1\npadding=3\n');
  assert.equal((c.layers[0] as ConvolutionalConfig).padding, 1);
  assert.deepEqual(c.warnings, [
    "t.cfg:8: warning: [convolutional] key 'padding=3' is overridden by pad=1 (padding = size/2 = 1, as in Darknet)",
  ]);
  assert.deepEqual(conv('size=3\npad=1\npadding=1\n').warnings, []);
});

test('[maxpool]: Darknet defaults chain size <- stride, padding <- size-1', () => {
  const mp = (body: string) => withNet(`[maxpool]\n${body}`).layers[0] as MaxpoolConfig;
  const f = (m: MaxpoolConfig) => [m.size, m.stride, m.padding];
  assert.deepEqual(f(mp('')), [1, 1, 0]);
  assert.deepEqual(f(mp('stride=2\n')), [2, 2, 1]);
  assert.deepEqual(f(mp('size=2\nstride=2\n')), [2, 2, 1]);
  assert.deepEqual(f(mp('size=3\nstride=2\n')), [3, 2, 2]);
  assert.deepEqual(f(mp('size=3\n')), [3, 1, 2]);
  assert.deepEqual(f(mp('size=2\nstride=2\npadding=0\n')), [2, 2, 0]);
  throwsCfg(() => mp('stride=2\nstride_y=1\n'), 7, "'stride_y=1'");
  throwsCfg(() => mp('maxpool_depth=1\n'), 6, "'maxpool_depth=1'");
});

test('[connected]: output, activation, batch_normalize', () => {
  const c = withNet('[connected]\noutput=64\nactivation=leaky\nbatch_normalize=1\n').layers[0] as ConnectedConfig;
  assert.deepEqual([c.output, c.activation, c.batchNormalize], [64, 'leaky', true]);
  throwsCfg(() => withNet('[connected]\nactivation=tanh\n'), 6, "'activation=tanh'");
});

test('[dropout], [softmax], [cost] restrictions', () => {
  throwsCfg(() => withNet('[conv]\n[dropout]\ndropblock=1\n'), 7, "'dropblock=1'", 'DropBlock');
  throwsCfg(() => withNet('[conv]\n[softmax]\ngroups=2\n'), 7, "'groups=2'");
  throwsCfg(() => withNet('[conv]\n[softmax]\ntemperature=2\n'), 7, "'temperature=2'");
  throwsCfg(() => withNet('[conv]\n[softmax]\ntree=data/9k.tree\n'), 7, "'tree=data/9k.tree'", 'tree');
  throwsCfg(() => withNet('[conv]\n[softmax]\nspatial=1\n'), 7, "'spatial=1'");
  throwsCfg(() => withNet('[conv]\n[cost]\ntype=seg\n'), 7, "'type=seg'", 'sse, L1, smooth, masked');
  throwsCfg(() => withNet('[conv]\n[cost]\ntype=wgan\n'), 7, "'type=wgan'");
  throwsCfg(() => withNet('[conv]\n[cost]\nratio=0.5\n'), 7, "'ratio=0.5'");
  const c = withNet('[conv]\n[softmax]\ngroups=1\ntemperature=1\nspatial=0\n[cost]\ntype=L1\nscale=0.5\nthresh=0.1\n');
  assert.deepEqual(describe(c.layers).slice(1), ['softmax', 'cost L1 0.5']);
  assert.deepEqual(c.warnings, [
    "t.cfg:13: warning: [cost] key 'thresh' is not used by layerlock (ignored: only Darknet's GPU path uses it)",
  ]);
  for (const t of ['sse', 'L1', 'smooth', 'masked']) {
    const cost = withNet(`[conv]\n[cost]\ntype=${t}\n`).layers[1]!;
    assert.equal(cost.type === 'cost' && cost.costType, t);
  }
});

test('loadCfg: a missing file is a clear one-line error', async () => {
  await assert.rejects(loadCfg('/nonexistent/dir/model.cfg'), (e: unknown) => {
    assert.ok(e instanceof CfgError);
    assert.equal(e.message, '/nonexistent/dir/model.cfg: cannot read cfg: no such file');
    return true;
  });
  await assert.rejects(loadCfg(CFG_DIR), /is a directory/);
});

test('switches read like Darknet: any non-zero value is on (pad=2 pads size/2), with a warning', () => {
  const c = withNet('[convolutional]\nsize=5\npad=2\nbatch_normalize=-1\n');
  const conv = c.layers[0] as ConvolutionalConfig;
  assert.equal(conv.padding, 2);
  assert.equal(conv.batchNormalize, true);
  assert.equal(c.warnings.length, 2);
  assert.ok(c.warnings[0]!.includes("'pad=2' is read as pad=1"), c.warnings[0]);
  assert.ok(c.warnings[1]!.includes("'batch_normalize=-1' is read as batch_normalize=1"), c.warnings[1]);
});

test('a misspelt key is a warning that names the key it probably means', () => {
  const c = withNet('[convolutional]\nactivaton=relu\nstide=4\n');
  assert.equal(c.warnings.length, 2);
  assert.ok(c.warnings[0]!.includes("unknown key 'activaton'") && c.warnings[0]!.includes("did you mean 'activation'?"), c.warnings[0]);
  assert.ok(c.warnings[1]!.includes("did you mean 'stride'?"), c.warnings[1]);
  const far = withNet('[convolutional]\nzzzzzz=1\n');
  assert.ok(!far.warnings[0]!.includes('did you mean'), far.warnings[0]);
});

test('names Darknet does not know are read as Darknet reads them (relu, sse), and a repeated key keeps its first value, each with a warning', () => {
  const c = withNet('[convolutional]\nfilters=2\nfilters=3\nactivation=mish\n[cost]\ntype=hinge\n');
  const conv = c.layers[0] as ConvolutionalConfig;
  assert.equal(conv.filters, 2);
  assert.equal(conv.activation, 'relu');
  assert.equal((c.layers[1] as { costType: string }).costType, 'sse');
  assert.equal(c.warnings.length, 3, c.warnings.join('\n'));
  assert.ok(c.warnings.some((w) => w.includes(":7: warning: [convolutional] key 'filters' is set again (first on line 6); ignored, as Darknet uses the first value '2'")), c.warnings.join('\n'));
  assert.ok(c.warnings.some((w) => w.includes("'activation=mish' is not an activation Darknet knows; read as relu")), c.warnings.join('\n'));
  assert.ok(c.warnings.some((w) => w.includes("'type=hinge' is not a cost type Darknet knows; read as sse")), c.warnings.join('\n'));
});
