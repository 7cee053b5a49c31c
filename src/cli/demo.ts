// layerlock demo: the README's main command on a fresh machine — the whole job (`layerlock run`) on the
// embedded MNIST slice with its defaults, nothing to download or configure: train an overfit VGG-7,
// measure which layers leak, plan the TEE partition, cost it, deploy it to an emulated device,
// fine-tune and predict there, and write the report.
import * as runCommand from './run.js';
import { formatHelp, parse, flag, type CommandHelp } from './common.js';

export { shippedCfg } from '../nn/shipped.js';

export const help: CommandHelp = {
  usage: '[--out DIR] [any `layerlock run` option]',
  summary: 'The whole job on the embedded MNIST slice (layerlock run with its defaults, into runs/demo): ends with the report.',
  options: [
    ['--out DIR', 'run folder (default runs/demo); re-running continues or, when finished, only rewrites the report'],
    ['…', 'every option of `layerlock run --help`'],
  ],
};

export async function run(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    const p = parse(['--help'], {});
    if (flag(p, 'help')) return void process.stdout.write(formatHelp('demo', help));
  }
  await runCommand.run(argv.includes('--out') || argv.some((a) => a.startsWith('--out=')) ? argv : ['--out', 'runs/demo', ...argv]);
}
