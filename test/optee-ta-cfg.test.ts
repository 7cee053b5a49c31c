// The OP-TEE TA's cfg reader (optee/ta/cfg.c, issue 17 milestone 2) against src/nn/cfg.ts: the C TA
// builds its protected range from the cfg text CONFIGURE hands it, so every cfg must mean the same
// network in both TAs — every field of [net] and of every layer, Darknet's defaults, aliases,
// whitespace and comment rules, repeated keys — and a cfg the engine refuses must be refused with
// the same message. One documented difference: numbers outside the exact decimal reader's range
// (more than 15 significant digits, or a power of ten beyond 1e±22) are refused by the C TA.
// Built with the host's cc; skipped with a note without one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { CfgError, parseCfg } from '../src/nn/cfg.js';
import type { NetworkConfig } from '../src/nn/config.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TA = join(ROOT, 'optee', 'ta');
const dir = mkdtempSync(join(tmpdir(), 'layerlock-ta-cfg-'));
const exe = join(dir, 'cfg_dump');
const cc = spawnSync('cc', ['-std=c99', '-O2', '-Wall', '-Wextra', '-Werror', `-I${join(TA, 'include')}`,
  join(TA, 'cfg.c'), join(TA, 'strbuf.c'), join(TA, 'arena.c'), join(TA, 'test', 'cfg_dump.c'), '-o', exe], { encoding: 'utf8' });
const skip = cc.error ? `no C compiler (cc): ${cc.error.message}` : false;
if (skip) process.stderr.write(`\n*** optee-ta-cfg.test: SKIPPED — ${skip} ***\n\n`);
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const FILE = 'cfg from the normal world'; // what the software TA names the cfg it is handed
const COST_NAMES = { sse: 'sse', masked: 'masked', L1: 'L1', smooth: 'smooth' } as const;

/** What cfg_dump prints, from the engine's parse (numbers stay numbers, compared by value). */
function describe(c: NetworkConfig): (string | number)[][] {
  const n = c.net;
  const lines: (string | number)[][] = [['NET', n.batch, n.subdivisions, n.height, n.width, n.channels, n.learningRate, n.momentum, n.decay,
    n.maxBatches, n.burnIn, n.power, n.policy, n.step, n.scale, n.gamma, n.steps.length, ...n.steps, ...n.scales]];
  for (const l of c.layers) {
    const line = l.source.line;
    switch (l.type) {
      case 'convolutional':
        lines.push(['C', line, l.filters, l.size, l.stride, l.padding, l.activation, l.slope ?? '-', l.batchNormalize ? 1 : 0]);
        break;
      case 'connected':
        lines.push(['F', line, l.output, l.activation, l.slope ?? '-', l.batchNormalize ? 1 : 0]);
        break;
      case 'maxpool':
        lines.push(['M', line, l.size, l.stride, l.padding, l.ceilMode ? 1 : 0]);
        break;
      case 'local_avgpool':
        lines.push(['A', line, l.size, l.stride, l.padding, l.ceilMode ? 1 : 0, l.countIncludePad ? 1 : 0]);
        break;
      case 'avgpool':
        lines.push(['G', line]);
        break;
      case 'dropout':
        lines.push(['D', line, l.probability]);
        break;
      case 'softmax':
        lines.push(['S', line]);
        break;
      case 'cost':
        lines.push(['O', line, COST_NAMES[l.costType], l.scale]);
        break;
    }
  }
  return lines;
}

function compare(text: string, what: string): 'ok' | 'refused' {
  const r = spawnSync(exe, [], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout.replace(/\n$/, '');
  let ts: NetworkConfig;
  try {
    ts = parseCfg(text, FILE);
  } catch (e) {
    if (!(e instanceof CfgError)) throw e;
    assert.equal(out, `ERR ${e.message}`, `${what}: the same refusal`);
    return 'refused';
  }
  assert.ok(!out.startsWith('ERR '), `${what}: the C reader refused what the engine reads: ${out}`);
  const c = out.split('\n').map((l) => l.split(' '));
  const t = describe(ts);
  assert.equal(c.length, t.length, `${what}: lines`);
  t.forEach((line, i) => {
    assert.equal(c[i]!.length, line.length, `${what}: line ${i}: ${c[i]!.join(' ')} vs ${line.join(' ')}`);
    line.forEach((v, j) => {
      const cv = c[i]![j]!;
      if (typeof v === 'number') assert.ok(Object.is(Number(cv), v), `${what}: line ${i} field ${j}: C ${cv}, engine ${v}`);
      else assert.equal(cv, v, `${what}: line ${i} field ${j}`);
    });
  });
  return 'ok';
}

const VGG7 = readFileSync(join(ROOT, 'cfg', 'vgg7-mnist.cfg'), 'utf8');

/** VGG-7 with the first line `key=...` (not a comment mentioning it) replaced by `lines`. */
function vgg(key: string, lines: string): string {
  const re = new RegExp(`^${key}=.*$`, 'm');
  assert.ok(re.test(VGG7), key);
  return VGG7.replace(re, lines);
}

const GOOD: [string, string][] = [
  ['vgg7-mnist', VGG7],
  ['vgg7-cifar10', readFileSync(join(ROOT, 'cfg', 'vgg7-cifar10.cfg'), 'utf8')],
  ['lenet-mnist', readFileSync(join(ROOT, 'cfg', 'lenet-mnist.cfg'), 'utf8')],
  ['CRLF, tabs, spaces inside values, BOM', '\ufeff' + VGG7.replace(/\n/g, '\r\n').replace(/filters=16/g, 'filt ers =\t16')],
  ['CR line ends, ; comments, no final newline', VGG7.replace(/\n/g, '\r').replace(/#/g, ';').trimEnd()],
  ['aliases and defaults', '[network]\nheight=8\nwidth=8\nchannels=3\n[conv]\n[max]\n[conn]\noutput=4\nactivation=linear\n[soft]\n[cost]\n'],
  ['every layer type and option', [
    '[net]', 'batch=12', 'subdivisions=3', 'height=9', 'width=9', 'channels=2', 'inputs=162', 'learning_rate=1e-3', 'momentum=.5', 'decay=5.', 'burn_in=100',
    'power=2', 'policy=steps', 'steps=10,20,+30', 'scales=0.1,.5,1e1', 'max_batches=7',
    '[convolutional]', 'filters=3', 'size=5', 'pad=2', 'padding=9', 'activation=leaky', 'leaky_slope=0.01', 'batch_normalize=1', 'groups=1', 'dilation=1.0',
    '[convolutional]', 'size=1', 'pad=1', 'stride=2', 'stride_x=2', 'activation=tanh',
    '[local_avgpool]', 'size=2', 'stride=1', 'padding=2', 'ceil_mode=1', 'count_include_pad=1',
    '[maxpool]', 'stride=2', 'maxpool_depth=0', 'out_channels=3',
    '[avgpool]',
    '[connected]', 'output=10', 'activation=nonsense', 'learning_rate=1', 'dontload=0',
    '[dropout]', 'probability=0.25', 'dropblock=0', 'dropblock_size_abs=7',
    '[softmax]', 'temperature=1', 'groups=1',
    '[cost]', 'type=smooth', 'scale=0.5', 'noobj=1', 'thresh=2', 'ratio=0',
    '[cost]', 'type=unheard_of',
  ].join('\n')],
  ...['step\nstep=3\nscale=0.5\ngamma=2', 'poly\npower=0.5\nsteps=1', 'exp\ngamma=0.999', 'sigmoid\ngamma=0.5\nstep=50', 'sig']
    .map((p): [string, string] => [`policy=${p.split('\n')[0]}`, vgg('policy', `policy=${p}`)]),
  ['repeated keys: the first wins', vgg('filters', 'filters=16\nfilters=99').replace('learning_rate=0.01', 'learning_rate=0.01\nlearning_rate=9')],
  ['unknown and ignored keys', VGG7.replace('[maxpool]', '[maxpool]\nfoo=bar\nsizee=3').replace(/^decay=0\.0005$/m, 'decay=0.0005\njitter=.2\nrandom=1')],
  ['pad=1 with padding=, size=1', vgg('pad', 'pad=1\npadding=3').replace('size=3', 'size=1')],
  ['numbers the exact reader takes', vgg('learning_rate', 'learning_rate=0.000000000000001234567')
    .replace('momentum=0.9', 'momentum=0.999999999999999').replace(/^decay=0\.0005$/m, 'decay=1e22')],
];

const BAD: [string, string][] = [
  ['empty', ''],
  ['only comments', '# nothing\n\n'],
  ['no layers', '[net]\nheight=1\nwidth=1\nchannels=1\n'],
  ['first section not net', VGG7.replace('[net]', '[convolutional]')],
  ['net again', VGG7 + '\n[net]\n'],
  ['unknown section', VGG7.replace('[maxpool]', '[route]')],
  ['dropout first', '[net]\nheight=1\nwidth=1\nchannels=1\n[dropout]\n'],
  ['malformed header', VGG7.replace('[maxpool]', '[max=pool]')],
  ['no =', vgg('stride', 'stride 1')],
  ['no key', vgg('stride', '=1')],
  ['no value', vgg('stride', 'stride=')],
  ['key before any section', 'batch=1\n' + VGG7],
  ['not an integer', vgg('filters', 'filters=1.5')],
  ['out of range', vgg('filters', 'filters=99999999999')],
  ['below min', vgg('filters', 'filters=0')],
  ['missing height', vgg('height', '')],
  ['subdivisions', vgg('subdivisions', 'subdivisions=3')],
  ['inputs', vgg('channels', 'channels=1\ninputs=9')],
  ['momentum', vgg('momentum', 'momentum=1')],
  ['not a number', vgg('decay', 'decay=0.0.5')],
  ['random policy', vgg('policy', 'policy=random')],
  ['steps without scales', vgg('policy', 'policy=steps\nsteps=1,2')],
  ['steps and scales differ', vgg('policy', 'policy=steps\nsteps=1,2\nscales=1')],
  ['empty list item', vgg('policy', 'policy=steps\nsteps=1,,2\nscales=1,2,3')],
  ['activation elu', vgg('activation', 'activation=elu')],
  ['leaky_slope without leaky', vgg('activation', 'activation=relu\nleaky_slope=0.2')],
  ['leaky_slope 0', vgg('activation', 'activation=leaky\nleaky_slope=0')],
  ['stride_y', vgg('stride', 'stride=1\nstride_y=2')],
  ['dilation', vgg('size', 'size=3\ndilation=2')],
  ['share_index', vgg('size', 'size=3\nshare_index=1')],
  ['ceil_mode odd padding', VGG7.replace(/^stride=2$/m, 'stride=2\npadding=1\nceil_mode=1')],
  ['dropout probability 1', vgg('probability', 'probability=1')],
  ['softmax tree', VGG7.replace('[softmax]', '[softmax]\ntree=x')],
  ['cost seg', vgg('type', 'type=seg')],
  ['cost scale 0', vgg('type', 'type=sse\nscale=0')],
  ['adam', vgg('decay', 'decay=0.0005\nadam=1')],
  ['per-layer learning rate', vgg('size', 'size=3\nlearning_rate=0.5')],
];

test('the C cfg reader compiles', { skip }, () => {
  assert.equal(cc.status, 0, cc.stderr);
});

test('C cfg reader = src/nn/cfg.ts on the shipped cfgs and on every option, alias and lexing rule', { skip }, () => {
  for (const [what, text] of GOOD) assert.equal(compare(text, what), 'ok', what);
});

test('C cfg reader refuses what src/nn/cfg.ts refuses, with the same message', { skip }, () => {
  for (const [what, text] of BAD) assert.equal(compare(text, what), 'refused', what);
});

test('C cfg reader = src/nn/cfg.ts on random numbers in the keys it reads as decimals', { skip }, () => {
  const decimal = fc.tuple(fc.integer({ min: 0, max: 999_999 }), fc.integer({ min: 0, max: 9 }), fc.integer({ min: -12, max: 12 }), fc.boolean())
    .map(([m, d, e, exp]) => (exp ? `${m}e${e}` : `${m % 100_000}.${'0'.repeat(d % 7)}${m % 1000}`)); // ≤ 15 significant digits
  fc.assert(fc.property(decimal, decimal, (lr, decay) => {
    compare(vgg('learning_rate', `learning_rate=${lr}`).replace(/^decay=0\.0005$/m, `decay=${decay}`), `${lr} ${decay}`);
  }), { numRuns: 300 });
});

test('numbers the exact reader cannot promise to read as V8 does are refused by the C TA, not misread', { skip }, () => {
  const text = vgg('learning_rate', 'learning_rate=0.1234567890123456789');
  assert.equal(parseCfg(text, FILE).net.learningRate, 0.1234567890123456789);
  const r = spawnSync(exe, [], { input: text, encoding: 'utf8' });
  assert.match(r.stdout, /^ERR cfg from the normal world:\d+: \[net\] key 'learning_rate=0\.1234567890123456789' is a number the C TA's exact decimal reader does not take/);
});
