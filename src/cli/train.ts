// layerlock train: SGD on S (the seeded private half of the training set), checkpointing the
// weights atomically after every epoch, then loss/accuracy on S, T and the test set. With the
// partition options some layers train inside the software TEE (src/tee).
import { rename } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DivergedError, evaluateWith, train, type EvalResult } from '../nn/train.js';
import { WeightsError } from '../nn/weights.js';
import { checkInputFile, checkOutputFile, exists, requireSets } from './checks.js';
import {
  DATA_HELP, DATA_OPTIONS, emit, flag, formatHelp, int, log, openModel, parse, pct, requireStr, seedOf, selectData, str, TEE_HELP,
  TEE_OPTIONS, teeFailure, UsageError, type CommandHelp,
} from './common.js';
import { progressBar } from './progress.js';

export const help: CommandHelp = {
  usage: '--cfg F [--weights INIT] --epochs N --out W [partition options] [data options]',
  summary: 'Train a Darknet-cfg network on S and write Darknet .weights (checkpointed every epoch).',
  options: [
    ['--cfg F', 'network definition (Darknet .cfg)'],
    ['--weights INIT', 'start from these weights instead of the seeded initialisation'],
    ['--epochs N', 'passes over S'],
    ['--out W', 'where to write the trained .weights'],
    ...TEE_HELP,
    ...DATA_HELP,
  ],
};

/** A loss the TEE's output policy hides prints as "hidden" (a non-finite one is an error long before). */
function lossText(x: number, hidden: boolean | undefined): string {
  return hidden ? 'hidden (TEE output policy)' : x.toFixed(4);
}

/** One line of the result table; a set without images is said to be so, never shown as NaN. */
function setLine(name: string, r: EvalResult | null): string {
  if (r === null) return `  ${name.padEnd(5)} (no images: not evaluated)`;
  return `  ${name.padEnd(5)} loss ${lossText(r.loss, r.lossHidden)}  acc ${pct(r.acc)}  (${r.n} images)`;
}

export async function run(argv: string[]): Promise<void> {
  const p = parse(argv, {
    ...DATA_OPTIONS,
    ...TEE_OPTIONS,
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
  await checkOutputFile(out, '--out');
  if (resolve(out) === resolve(cfg)) throw new UsageError(`--out ${out} is the cfg file itself; give another file for the weights`);
  const init = str(p, 'weights');
  if (init !== undefined) await checkInputFile(init, '--weights');
  // An existing --out is replaced only by a run that succeeded: until then the epochs are
  // checkpointed next to it, and moved over it at the end.
  const target = (await exists(out)) ? `${out}.part` : out;
  const model = await openModel(p, { cfg, weights: init, mode: 'train' });
  let saved: string | null = null;
  try {
    const tc = model.teeChoice;
    if (model.tee && tc.policy !== 'full' && !tc.exportPlaintext) {
      throw new UsageError(
        `--out needs the whole model, but under --tee-output ${tc.policy} the protected layers never leave the TEE in plaintext; ` +
        'pass --tee-export-plaintext (development only: they are written in the clear) or --tee-output full (to keep them protected, deploy with layerlock package / install and fine-tune with layerlock finetune --device)');
    }
    const data = await selectData(p, model);
    requireSets(data, ['S'], model);
    log(`layerlock train: ${data.S.length} images in S (${data.source.location}), ${epochs} epochs, batch ${model.batch}, kernels ${model.kernels}`);
    const batches = Math.ceil(data.S.length / model.batch);
    const bar = progressBar(epochs * batches, 'epoch {epoch}/{epochs} {bar} {percentage}% | loss {loss} | {ips} img/s | ETA {eta_formatted}', {
      epoch: 1, epochs, loss: '-', ips: '-',
    });
    const result = await train(model.stepper, data.train, data.S, {
      epochs,
      seed,
      onBatch: (b) => bar.update(b.epoch * batches + b.batch, {
        epoch: b.epoch + 1, epochs, loss: Number.isFinite(b.loss) ? b.loss.toFixed(4) : '-', ips: Math.round(b.imagesPerSecond),
      }),
      onEpoch: async (e) => {
        try {
          await model.save(target);
        } catch (err) {
          // Weights inside the TEE are only seen when they are saved: a refusal there is divergence too.
          if (err instanceof WeightsError && err.message.includes(': not written: ')) {
            throw new DivergedError(`training diverged: after epoch ${e.epoch + 1}, ${err.message.split(': not written: ')[1]!.replace(/ \(training diverged.*$/, '')}`);
          }
          throw err;
        }
        saved = target === out
          ? `The weights saved after epoch ${e.epoch + 1} in ${out} are intact.`
          : `${out} is unchanged; the weights saved after epoch ${e.epoch + 1} are in ${target}.`;
        if (!process.stderr.isTTY) log(`epoch ${e.epoch + 1}/${epochs}: loss ${lossText(e.loss, e.lossHidden)}, ${Math.round(e.imagesPerSecond)} img/s`);
      },
    }).finally(() => bar.stop());
    const S = await evaluateWith(model.stepper, data.train, data.S);
    const T = data.T.length > 0 ? await evaluateWith(model.stepper, data.train, data.T) : null;
    const test = data.test.count > 0 ? await evaluateWith(model.stepper, data.test) : null;
    if (target !== out) await rename(target, out);
    const tee = await model.teeReport();
    const json = {
      epochs,
      seconds: result.seconds,
      train_img_s: result.imagesPerSecond,
      loss: result.loss,
      S: { loss: S.loss, acc: S.acc, n: S.n },
      T: T ? { loss: T.loss, acc: T.acc, n: T.n } : { loss: null, acc: null, n: 0 },
      test: test ? { loss: test.loss, acc: test.acc, n: test.n } : { loss: null, acc: null, n: 0 },
      weights: out,
      kernels: model.kernels,
      ...(tee ? { tee } : {}),
    };
    emit(p, json, () => [
      `trained ${epochs} epochs in ${result.seconds.toFixed(1)} s (${Math.round(result.imagesPerSecond)} img/s), weights → ${out}`,
      setLine('S', S),
      setLine('T', T),
      setLine('test', test),
      ...(tee ? [`  TEE   layers ${(tee['layers'] as number[]).join(':')}, policy ${String(tee['policy'])}, secure memory peak ${String(tee['arena_peak_bytes'])} of ${String(tee['secure_mem'])} bytes`] : []),
    ].join('\n'));
  } catch (e) {
    throw teeFailure(e, saved);
  } finally {
    await model.close();
  }
}
