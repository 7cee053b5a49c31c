// layerlock train: SGD on S (the seeded private half of the training set), checkpointing the
// weights atomically after every epoch, then loss/accuracy on S, T and the test set.
import { loadModel, saveModel } from '../nn/model.js';
import { evaluate, train } from '../nn/train.js';
import {
  DATA_HELP, DATA_OPTIONS, emit, flag, formatHelp, int, log, parse, pct, requireStr, seedOf, selectData, str, UsageError,
  type CommandHelp,
} from './common.js';
import { progressBar } from './progress.js';

export const help: CommandHelp = {
  usage: '--cfg F [--weights INIT] --epochs N --out W [data options]',
  summary: 'Train a Darknet-cfg network on S and write Darknet .weights (checkpointed every epoch).',
  options: [
    ['--cfg F', 'network definition (Darknet .cfg)'],
    ['--weights INIT', 'start from these weights instead of the seeded initialisation'],
    ['--epochs N', 'passes over S'],
    ['--out W', 'where to write the trained .weights'],
    ...DATA_HELP,
  ],
};

export async function run(argv: string[]): Promise<void> {
  const p = parse(argv, {
    ...DATA_OPTIONS,
    cfg: { type: 'string' },
    weights: { type: 'string' },
    epochs: { type: 'string' },
    out: { type: 'string' },
  });
  if (flag(p, 'help')) return void process.stdout.write(formatHelp('train', help));
  const cfg = requireStr(p, 'cfg');
  const out = requireStr(p, 'out');
  const epochs = int(p, 'epochs', 1);
  if (epochs === undefined) throw new UsageError('missing --epochs');
  const seed = seedOf(p);
  const net = await loadModel({ cfg, weights: str(p, 'weights'), seed });
  const data = await selectData(p, net);
  log(`layerlock train: ${data.S.length} images in S (${data.source.location}), ${epochs} epochs, batch ${net.net.batch}, kernels ${net.kernels.name}`);
  const batches = Math.ceil(data.S.length / net.net.batch);
  const bar = progressBar(epochs * batches, 'epoch {epoch}/{epochs} {bar} {percentage}% | loss {loss} | {ips} img/s | ETA {eta_formatted}', {
    epoch: 1, epochs, loss: '-', ips: '-',
  });
  const result = await train(net, data.train, data.S, {
    epochs,
    seed,
    onBatch: (b) => bar.update(b.epoch * batches + b.batch, {
      epoch: b.epoch + 1, epochs, loss: b.loss.toFixed(4), ips: Math.round(b.imagesPerSecond),
    }),
    onEpoch: async (e) => {
      await saveModel(net, out);
      if (!process.stderr.isTTY) log(`epoch ${e.epoch + 1}/${epochs}: loss ${e.loss.toFixed(4)}, ${Math.round(e.imagesPerSecond)} img/s`);
    },
  });
  bar.stop();
  const S = evaluate(net, data.train, data.S);
  const T = evaluate(net, data.train, data.T);
  const test = evaluate(net, data.test);
  const json = {
    epochs,
    seconds: result.seconds,
    train_img_s: result.imagesPerSecond,
    loss: result.loss,
    S: { loss: S.loss, acc: S.acc, n: S.n },
    T: { loss: T.loss, acc: T.acc, n: T.n },
    test: { loss: test.loss, acc: test.acc, n: test.n },
    weights: out,
    kernels: net.kernels.name,
  };
  emit(p, json, () => [
    `trained ${epochs} epochs in ${result.seconds.toFixed(1)} s (${Math.round(result.imagesPerSecond)} img/s), weights → ${out}`,
    `  S     loss ${S.loss.toFixed(4)}  acc ${pct(S.acc)}  (${S.n} images)`,
    `  T     loss ${T.loss.toFixed(4)}  acc ${pct(T.acc)}  (${T.n} images)`,
    `  test  loss ${test.loss.toFixed(4)}  acc ${pct(test.acc)}  (${test.n} images)`,
  ].join('\n'));
}
