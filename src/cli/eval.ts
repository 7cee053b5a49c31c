// layerlock eval: mean cross-entropy and accuracy of a trained model on S, T or the test set.
import { loadModel } from '../nn/model.js';
import { evaluate } from '../nn/train.js';
import {
  DATA_HELP, DATA_OPTIONS, emit, flag, formatHelp, parse, parseSet, pct, requireStr, seedOf, selectData, setOf, str,
  type CommandHelp,
} from './common.js';

export const help: CommandHelp = {
  usage: '--cfg F --weights W [--set S|T|test] [data options]',
  summary: 'Evaluate a model (inference mode, dropout off): mean cross-entropy and top-1 accuracy.',
  options: [
    ['--cfg F', 'network definition (Darknet .cfg)'],
    ['--weights W', 'trained Darknet .weights'],
    ['--set S|T|test', 'which images (default test); S/T come from the seeded split'],
    ...DATA_HELP,
  ],
};

export async function run(argv: string[]): Promise<void> {
  const p = parse(argv, { ...DATA_OPTIONS, cfg: { type: 'string' }, weights: { type: 'string' }, set: { type: 'string' } });
  if (flag(p, 'help')) return void process.stdout.write(formatHelp('eval', help));
  const set = parseSet(str(p, 'set'), 'test');
  const net = await loadModel({ cfg: requireStr(p, 'cfg'), weights: requireStr(p, 'weights'), seed: seedOf(p) });
  const data = await selectData(p, net);
  const { ds, indices } = setOf(data, set);
  const r = evaluate(net, ds, indices);
  emit(p, { set, loss: r.loss, acc: r.acc, n: r.n }, () => `${set}: loss ${r.loss.toFixed(4)}  acc ${pct(r.acc)}  (${r.n} images)`);
}
