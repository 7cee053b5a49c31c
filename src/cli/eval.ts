// layerlock eval: mean cross-entropy and accuracy of a trained model on S, T or the test set. With
// the partition options the protected layers run inside the software TEE (src/tee).
import { evaluateWith } from '../nn/train.js';
import { checkInputFile, requireSets } from './checks.js';
import {
  DATA_HELP, DATA_OPTIONS, emit, flag, formatHelp, openModel, parse, parseSet, pct, requireStr, selectData, setOf, str, TEE_HELP, TEE_OPTIONS,
  teeFailure, type CommandHelp,
} from './common.js';

export const help: CommandHelp = {
  usage: '--cfg F --weights W [--set S|T|test] [partition options] [data options]',
  summary: 'Evaluate a model (inference mode, dropout off): mean cross-entropy and top-1 accuracy.',
  options: [
    ['--cfg F', 'network definition (Darknet .cfg)'],
    ['--weights W', 'trained Darknet .weights'],
    ['--set S|T|test', 'which images (default test); S/T come from the seeded split'],
    ...TEE_HELP.filter(([f]) => f !== '--tee-export-plaintext'),
    ...DATA_HELP,
  ],
};

export async function run(argv: string[]): Promise<void> {
  const p = parse(argv, { ...DATA_OPTIONS, ...TEE_OPTIONS, cfg: { type: 'string' }, weights: { type: 'string' }, set: { type: 'string' } });
  if (flag(p, 'help')) return void process.stdout.write(formatHelp('eval', help));
  const set = parseSet(str(p, 'set'), 'test');
  const weights = requireStr(p, 'weights');
  await checkInputFile(weights, '--weights');
  const model = await openModel(p, { cfg: requireStr(p, 'cfg'), weights, mode: 'infer' });
  try {
    const data = await selectData(p, model);
    requireSets(data, [set], model);
    const { ds, indices } = setOf(data, set);
    const r = await evaluateWith(model.stepper, ds, indices);
    const tee = await model.teeReport();
    // evaluateWith refuses a non-finite loss, so NaN here only ever means the TEE hides it.
    const loss = r.lossHidden ? 'hidden (TEE output policy)' : r.loss.toFixed(4);
    emit(p, { set, loss: r.loss, acc: r.acc, n: r.n, ...(tee ? { tee } : {}) }, () => `${set}: loss ${loss}  acc ${pct(r.acc)}  (${r.n} images)`);
  } catch (e) {
    throw teeFailure(e, null);
  } finally {
    await model.close();
  }
}
