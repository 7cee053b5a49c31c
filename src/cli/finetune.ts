// layerlock finetune (device side): SGD on the installed model with the device's data; the
// protected layers train inside the TEE, then the TA re-seals them and the normal world saves its
// layers, atomically (a crash mid-save leaves the previous version current and usable).
import { evaluateWith, train } from '../nn/train.js';
import { requireSets } from './checks.js';
import { DEVICE_MODEL_OPTIONS, openDeviceModel } from './device.js';
import { DATA_HELP, DATA_OPTIONS, emit, flag, formatHelp, int, log, parse, pct, requireStr, seedOf, selectData, teeFailure, UsageError, type CommandHelp } from './common.js';
import { progressBar } from './progress.js';

export const help: CommandHelp = {
  usage: '--device DEV --epochs N [--tee-output P] [--batch N] [data options]',
  summary: 'Fine-tune the model installed on a device (protected layers inside the TEE), then re-seal and save it atomically.',
  options: [
    ['--device DEV', 'the device folder with an installed model'],
    ['--epochs N', 'passes over S (the seeded private part of the training set)'],
    ['--tee-output P', 'a stricter output policy than the package\'s (never a weaker one)'],
    ['--secure-mem SIZE', 'the TEE\'s secure memory (default 16MiB)'],
    ['--batch N', 'override the cfg\'s batch'],
    ['--subdivisions N', 'override the cfg\'s subdivisions'],
    ...DATA_HELP,
  ],
};

export async function run(argv: string[]): Promise<void> {
  const p = parse(argv, { ...DATA_OPTIONS, ...DEVICE_MODEL_OPTIONS, epochs: { type: 'string' } });
  if (flag(p, 'help')) return void process.stdout.write(formatHelp('finetune', help));
  const dev = requireStr(p, 'device');
  const epochs = int(p, 'epochs', 1);
  if (epochs === undefined) throw new UsageError('missing --epochs');
  const model = await openDeviceModel(p, dev, 'train');
  try {
    const data = await selectData(p, model);
    requireSets(data, ['S'], model);
    log(`layerlock finetune: ${data.S.length} images in S (${data.source.location}), ${epochs} epochs, batch ${model.batch}, kernels ${model.kernels}`);
    const batches = Math.ceil(data.S.length / model.batch);
    const bar = progressBar(epochs * batches, 'epoch {epoch}/{epochs} {bar} {percentage}% | {ips} img/s | ETA {eta_formatted}', { epoch: 1, epochs, ips: '-' });
    const result = await train(model.stepper, data.train, data.S, {
      epochs,
      seed: seedOf(p),
      onBatch: (b) => bar.update(b.epoch * batches + b.batch, { epoch: b.epoch + 1, epochs, ips: Math.round(b.imagesPerSecond) }),
    });
    bar.stop();
    const saved = await model.installed.save();
    const test = data.test.count > 0 ? await evaluateWith(model.stepper, data.test) : { loss: NaN, acc: NaN, n: 0, lossHidden: false };
    const tee = await model.teeReport();
    const json = {
      epochs, seconds: result.seconds, train_img_s: result.imagesPerSecond, loss: Number.isFinite(result.loss) ? result.loss : null,
      test: { loss: Number.isFinite(test.loss) ? test.loss : null, acc: test.n > 0 ? test.acc : null, n: test.n },
      model_version: saved.version, previous_version: model.installed.info.version, tee: { ...tee, model_version: saved.version },
    };
    emit(p, json, () => [
      `fine-tuned ${epochs} epochs in ${result.seconds.toFixed(1)} s (${Math.round(result.imagesPerSecond)} img/s); saved as model version ${saved.version} (was ${model.installed.info.version})`,
      test.n === 0 ? '  test  (no images: not evaluated)' : `  test  loss ${test.lossHidden ? 'hidden (TEE output policy)' : test.loss.toFixed(4)}  acc ${pct(test.acc)}  (${test.n} images)`,
    ].join('\n'));
  } catch (e) {
    throw teeFailure(e, 'The previous model version is intact.');
  } finally {
    await model.close();
  }
}
