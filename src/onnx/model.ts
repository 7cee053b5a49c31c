// Imported ONNX models as layerlock networks and as Darknet files: the glue between the importer
// (pure: bytes → config + parameters) and the rest of layerlock (Network, .cfg/.weights on disk).
import { readFile } from 'node:fs/promises';
import { getKernels } from '../kernels/index.js';
import type { Kernels } from '../kernels/types.js';
import { formatCfg } from '../nn/cfg-write.js';
import type { NetworkConfig } from '../nn/config.js';
import { DEFAULT_SEED } from '../nn/model.js';
import { Network } from '../nn/network.js';
import { DARKNET_WEIGHTS_VERSION, encodeWeights } from '../nn/weights.js';
import { atomicWrite } from '../util/fsutil.js';
import { importOnnx, OnnxImportError, type ImportedModel, type ImportOptions } from './import.js';

/** Bumped whenever the importer would convert some model differently (it keys the CLI's cache). */
export const ONNX_IMPORT_VERSION = 2;

export async function loadOnnxFile(path: string, opts: ImportOptions = {}): Promise<ImportedModel> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new OnnxImportError(path, null, null, `cannot read the model: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  return importOnnx(bytes, path, opts);
}

/** A Network holding the imported parameters (seed only matters for dropout and re-initialisation). */
export function importedNetwork(m: ImportedModel, opts: { kernels?: Kernels; seed?: number; config?: NetworkConfig } = {}): Network {
  const net = new Network(opts.config ?? m.config, { kernels: opts.kernels ?? getKernels(), seed: opts.seed ?? DEFAULT_SEED });
  const dst = net.weightsLayers();
  if (dst.length !== m.weights.length) throw new Error(`internal: ${dst.length} trainable layers built for ${m.weights.length} imported`);
  dst.forEach((d, i) => {
    d.weights.set(m.weights[i]!.weights);
    d.biases.set(m.weights[i]!.biases);
  });
  return net;
}

/** The Darknet files of an imported model: .cfg text (with where it came from) and .weights bytes. */
export function importedFiles(m: ImportedModel, source: string): { cfg: string; weights: Uint8Array } {
  const comments = [
    `imported by layerlock from ${source} (ONNX opset ${m.opset}${m.producer ? `, made by ${m.producer}` : ''})`,
    'the [net] training settings are layerlock\'s defaults: ONNX files do not carry them',
    ...m.notes,
  ];
  return { cfg: formatCfg(m.config, comments), weights: encodeWeights(m.weights, { ...DARKNET_WEIGHTS_VERSION, seen: 0 }) };
}

export async function writeImportedFiles(m: ImportedModel, source: string, cfgPath: string, weightsPath: string): Promise<void> {
  const f = importedFiles(m, source);
  await atomicWrite(cfgPath, f.cfg);
  await atomicWrite(weightsPath, f.weights);
}
