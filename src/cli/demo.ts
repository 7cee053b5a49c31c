// layerlock demo: the README's "main job" on a fresh machine — train the paper's VGG-7 on the
// embedded MNIST slice, then evaluate it, with nothing to download or configure.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as trainCommand from './train.js';
import { DATA_HELP, flag, formatHelp, parse, str, type CommandHelp } from './common.js';

/** The shipped cfg folder: dist/src/cli/ → package root → cfg/. */
export function shippedCfg(name: string): string {
  for (const rel of ['../../../cfg/', '../../cfg/']) {
    const path = fileURLToPath(new URL(rel + name, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error(`shipped cfg ${name} not found next to the package`);
}

export const help: CommandHelp = {
  usage: '[--epochs N] [--out W] [--json]',
  summary: 'Train the paper\'s VGG-7 on the embedded MNIST slice (S = 3000 images) and evaluate it on S, T and the test slice.',
  options: [
    ['--epochs N', 'passes over S (default 10)'],
    ['--out W', 'where to write the weights (default runs/demo/vgg7-mnist.weights)'],
    ...DATA_HELP,
  ],
};

export async function run(argv: string[]): Promise<void> {
  const p = parse(argv, { epochs: { type: 'string' }, out: { type: 'string' } }, false);
  if (flag(p, 'help')) return void process.stdout.write(formatHelp('demo', help));
  const out = str(p, 'out') ?? 'runs/demo/vgg7-mnist.weights';
  await mkdir(dirname(out), { recursive: true });
  await trainCommand.run([
    '--cfg', shippedCfg('vgg7-mnist.cfg'), '--epochs', str(p, 'epochs') ?? '10', '--out', out, '--data', 'embedded',
    ...(flag(p, 'json') ? ['--json'] : []),
  ]);
}
