// layerlock predict: class probabilities for one image file, or for one image of a data set. With
// the partition options the protected layers run inside the software TEE, and what comes out is
// what its output policy allows (top1: the class only; topk: ranked classes; full: probabilities).
// With --device DEV it uses the model installed on that device (layerlock install): the package
// decides the network and the partition, and the TA unseals the protected layers inside.
import { readImageFile } from '../data/image.js';
import { BatchLoader } from '../data/batches.js';
import {
  DATA_HELP, DATA_OPTIONS, emit, flag, formatHelp, int, openModel, parse, parseSet, requireStr, selectData, setOf, str, TEE_HELP, TEE_OPTIONS,
  teeFailure, UsageError, type CommandHelp,
} from './common.js';
import { openDeviceModel } from './device.js';
import { checkInputFile } from './checks.js';
import { DivergedError } from '../nn/train.js';

/** The image argument: a readable file, and said plainly when it is a folder or missing. */
async function checkImageFile(file: string): Promise<void> {
  const { stat } = await import('node:fs/promises');
  const s = await stat(file).catch(() => null);
  if (s === null) throw new UsageError(`${file}: no such image file`);
  if (s.isDirectory()) throw new UsageError(`${file} is a folder, not an image file (predict takes one image; use --data DIR --index i for a data set)`);
  if (!s.isFile()) throw new UsageError(`${file} is not a regular file`);
}

export const help: CommandHelp = {
  usage: '(--cfg F --weights W | --device DEV) (<image file> | --index i [--set S|T|test]) [--top K] [partition options] [data options]',
  summary: 'Predict the class of one image. Files are read as grey or RGB per the network, scaled to [0,1], CHW.',
  options: [
    ['--cfg F', 'network definition (Darknet .cfg)'],
    ['--weights W', 'trained Darknet .weights'],
    ['--device DEV', 'instead of --cfg/--weights: the model installed on this device folder (protected layers unsealed in the TEE)'],
    ['--index i', 'predict image i of the chosen set instead of a file'],
    ['--set S|T|test', 'set for --index (default test)'],
    ['--top K', 'how many classes to list (default 5)'],
    ...TEE_HELP.filter(([f]) => f !== '--tee-export-plaintext' && f !== '--batch' && f !== '--subdivisions'),
    ...DATA_HELP,
  ],
};

export async function run(argv: string[]): Promise<void> {
  const p = parse(argv, {
    ...DATA_OPTIONS, ...TEE_OPTIONS, cfg: { type: 'string' }, weights: { type: 'string' }, index: { type: 'string' }, set: { type: 'string' }, top: { type: 'string' },
    device: { type: 'string' },
  }, true);
  if (flag(p, 'help')) return void process.stdout.write(formatHelp('predict', help));
  const index = int(p, 'index');
  const file = p.positionals[0];
  if (p.positionals.length > 1) throw new UsageError(`one image at a time (got ${p.positionals.length})`);
  if ((index === undefined) === (file === undefined)) throw new UsageError('give either an image file or --index i');
  const device = str(p, 'device');
  if (file !== undefined) await checkImageFile(file);
  const top = int(p, 'top', 1);
  const weights = str(p, 'weights');
  if (device === undefined && weights !== undefined) await checkInputFile(weights, '--weights');
  const model = device !== undefined
    ? await openDeviceModel(p, device, 'infer', 1)
    : await openModel(p, { cfg: requireStr(p, 'cfg'), weights: requireStr(p, 'weights'), mode: 'infer', batch: 1 });
  try {
    const shape = { height: model.inShape.h, width: model.inShape.w, channels: model.inShape.c };
    let image: Float32Array;
    let label: number | undefined;
    let classNames: readonly string[] = [];
    if (file !== undefined) {
      image = await readImageFile(file, shape, flag(p, 'resize'));
    } else {
      const data = await selectData(p, model);
      const set = parseSet(str(p, 'set'), 'test');
      const { ds, indices } = setOf(data, set);
      const loader = new BatchLoader(ds, indices);
      if (index! >= loader.size) throw new UsageError(`--index ${index} is out of range: the ${set} set has ${loader.size} images`);
      image = new Float32Array(shape.height * shape.width * shape.channels);
      const labels = new Uint8Array(1);
      loader.fill(index!, 1, image, labels);
      label = labels[0];
      classNames = ds.classNames;
    }
    const r = await model.stepper.predictImage(image, top ?? 5);
    const bad = r.probs.find((x) => !Number.isFinite(x));
    if (bad !== undefined) throw new DivergedError(`the model's output is ${bad}: its weights diverged or overflow, so there is no prediction`);
    const tee = await model.teeReport();
    const name = (c: number): string => (classNames[c] !== undefined ? ` (${classNames[c]})` : '');
    emit(p, { top: r.top, probs: r.probs, ...(label !== undefined ? { label } : {}), ...(tee ? { tee } : {}) }, () => [
      ...(label !== undefined ? [`true label: ${label}${name(label)}`] : []),
      ...r.top.map((t, i) => `${i + 1}. class ${t.class}${name(t.class)}${t.p !== undefined ? `  p=${t.p.toFixed(4)}` : ''}`),
      ...(tee && r.probs.length === 0 ? [`(scores stay inside the TEE under --tee-output ${String(tee['policy'])})`] : []),
    ].join('\n'));
  } catch (e) {
    throw teeFailure(e, null);
  } finally {
    await model.close();
  }
}
