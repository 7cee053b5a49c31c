// Opening a model for the loops, the one way every command and the library use: a whole network in
// this process, or a normal-world/TEE pair (starting the TA) when a layer range goes into the TEE.
import { readFile } from 'node:fs/promises';
import { getKernels } from '../kernels/index.js';
import { loadCfg } from '../nn/cfg.js';
import type { Shape } from '../nn/layer.js';
import { loadModel, saveModel, withBatch } from '../nn/model.js';
import type { Network } from '../nn/network.js';
import { networkStepper, type Stepper } from '../nn/train.js';
import { DEFAULT_SECURE_MEM, type TeeKind } from './client.js';
import { taKernelChoice } from './options.js';
import { PartitionedNetwork } from './partitioned.js';
import { DEFAULT_TOPK, type OutputPolicy } from './shared/protocol.js';
import { partitionReport, type PartitionReport } from './report.js';
import { rangeRoles } from './shared/roles.js';

export interface OpenModelOptions {
  /** Path of the .cfg. */
  cfg: string;
  /** Path of .weights; without it the seeded initialisation. */
  weights?: string | undefined;
  seed: number;
  /** Training keeps gradients and momentum (in the TEE too); inference does not. */
  mode: 'train' | 'infer';
  /** Overrides of the cfg's batch and subdivisions (withBatch's rule). */
  batch?: number | undefined;
  subdivisions?: number | undefined;
  /** Images per forward forced, whatever the cfg says (predict: 1). */
  forwardBatch?: number | undefined;
  /** cfg layers [start, end] in the TEE, or null: everything in this process. */
  range: [number, number] | null;
  secureMem?: number | undefined;
  policy?: OutputPolicy | undefined;
  topk?: number | undefined;
  /** The TA's secure-storage folder (default ~/.layerlock/tee). */
  storageDir?: string | undefined;
  /** DEVELOPMENT ONLY: the TA may hand the protected layers out in plaintext (save writes the whole model). */
  exportPlaintext?: boolean | undefined;
  /** Which TEE runs the range: the software TEE (default) or OP-TEE through libteec (`--tee optee`). */
  tee?: TeeKind | undefined;
  /** Notes for the user (which TA started, kernel differences, a policy that governs nothing). */
  log?: ((message: string) => void) | undefined;
  /** The user set the output policy explicitly (a note when the range does not hold the prediction). */
  policyGiven?: boolean | undefined;
}

/** A model ready for the loops: a whole network here, or one partitioned with the TEE. */
export interface OpenedModel {
  stepper: Stepper;
  inShape: Shape;
  /** Images per SGD update. */
  batch: number;
  /** The normal world's kernel backend. */
  kernels: string;
  /** The whole network, when nothing runs in the TEE. */
  net: Network | null;
  tee: PartitionedNetwork | null;
  range: [number, number] | null;
  save(path: string): Promise<void>;
  /** The partition, its policy, the secure memory's use and the boundary traffic; null without a TEE. */
  teeReport(): Promise<PartitionReport | null>;
  close(): Promise<void>;
}

export async function openModel(o: OpenModelOptions): Promise<OpenedModel> {
  let config = withBatch(await loadCfg(o.cfg), { batch: o.batch, subdivisions: o.subdivisions });
  if (o.forwardBatch !== undefined) config = withBatch(config, { batch: o.forwardBatch, subdivisions: 1 });
  const log = o.log ?? (() => {});
  if (!o.range) {
    const net = await loadModel({ cfg: config, weights: o.weights, seed: o.seed });
    return {
      stepper: networkStepper(net), inShape: net.inShape, batch: net.net.batch, kernels: net.kernels.name, net, tee: null, range: null,
      save: (path) => saveModel(net, path),
      teeReport: async () => null,
      close: async () => {},
    };
  }
  const range = o.range;
  const roles = rangeRoles(config, range[0], range[1]);
  const policy = o.policy ?? 'top1';
  const topk = o.topk ?? DEFAULT_TOPK;
  const secureMem = o.secureMem ?? DEFAULT_SECURE_MEM;
  if (o.policyGiven && !roles.holdsOutput) {
    log(`layerlock: note: the prediction layer is outside the TEE range ${range[0]}:${range[1]}, so --tee-output only governs the loss and the plaintext export`);
  }
  const kernels = getKernels();
  const tee = await PartitionedNetwork.open({
    cfg: { text: await readFile(o.cfg, 'utf8'), file: o.cfg },
    weights: o.weights,
    seed: o.seed,
    batch: config.net.batch,
    subdivisions: config.net.subdivisions,
    range,
    mode: o.mode,
    policy,
    topk,
    allowPlaintextExport: o.exportPlaintext ?? false,
    kernels,
    contextOptions: { secureMem, storageDir: o.storageDir, kernels: taKernelChoice(), ...(o.tee !== undefined ? { tee: o.tee } : {}) },
  });
  const hello = tee.context.hello;
  if (tee.context.tee === 'optee') {
    // OP-TEE's TA is no process here; its C layers compute what the reference kernels compute.
    log(`layerlock: layers ${range[0]}:${range[1]} in OP-TEE (TA ${hello.uuid} through libteec, C layers; secure memory: the TA's ${hello.secureMem}-byte arena, output policy ${policy}${policy === 'topk' ? ` k=${topk}` : ''})`);
    if (kernels.name !== 'reference') log(`layerlock: note: the TA's C layers compute what the reference kernels do, the normal world runs ${kernels.name}; LAYERLOCK_KERNELS=reference makes an all-normal-world run comparable bit for bit`);
  } else if (hello.kernels !== kernels.name) {
    log(`layerlock: note: the TA runs the ${hello.kernels} kernels, the normal world ${kernels.name}; results may differ in the last bits from an all-normal-world run`);
  }
  if (tee.context.tee !== 'optee') log(`layerlock: layers ${range[0]}:${range[1]} in the TEE (TA pid ${hello.pid}, ${hello.kernels}, secure memory ${secureMem} bytes, output policy ${policy}${policy === 'topk' ? ` k=${topk}` : ''})`);
  return {
    stepper: tee, inShape: tee.inShape, batch: tee.batch, kernels: kernels.name, net: null, tee, range,
    save: (path) => tee.save(path),
    teeReport: () => partitionReport(tee),
    close: () => tee.close(),
  };
}
