// The compute process of an attack-sweep partition job (forked by the queue worker's pool, see
// pool.ts): it loads this machine's data as the sweep selected it, checks it and the engine against
// the job's identity once more (the data could change between the worker's check and now), and
// runs the partition's attacks with the library's own attackPartition, the function a local sweep
// runs. It exits when its parent goes away.
import { selectData } from '../data/select.js';
import { datasetsSha256, engineIdentity, localMismatch } from '../exposure/identity.js';
import { setThreads } from '../kernels/index.js';
import { parseCfg } from '../nn/cfg.js';
import type { AttackDocument } from '../attack/run.js';
import { attackPartition } from '../attack/sweep.js';
import type { AttackJobPayload } from './payload.js';

/** A partition job as the queue worker hands it over: the validated payload and this machine's paths. */
export interface ToAttackCompute {
  type: 'attack';
  id: string;
  payload: AttackJobPayload;
  /** This worker's --data, its copies of the cfg and weights (fetched by hash), a folder for the TA. */
  dataLocation: string;
  cfgPath: string;
  cfgText: string;
  weightsPath: string;
  storageDir: string;
  threads: number | null;
}

export type FromAttackCompute =
  | { type: 'log'; id: string; line: string }
  | { type: 'done'; id: string; result: AttackDocument }
  | { type: 'failed'; id: string; message: string };

export async function computePartition(m: ToAttackCompute, log: (line: string) => void): Promise<AttackDocument> {
  const { identity: id, settings, partition } = m.payload;
  const config = parseCfg(m.cfgText, id.cfg);
  const data = await selectData(
    { data: m.dataLocation, trainLimit: id.train_limit ?? undefined, testLimit: id.test_limit ?? undefined, seed: id.split_seed, split: id.split, resize: id.resize },
    { inShape: { c: config.net.channels, h: config.net.height, w: config.net.width } },
  );
  const here = { train_count: data.train.count, test_count: data.test.count, data_sha256: datasetsSha256(data.train, data.test), ...(await engineIdentity()) };
  const diff = localMismatch(id, here);
  if (diff.length > 0) throw new Error(`this worker's data or engine differs from the sweep's: ${diff.map((d) => d.message.replace('this run has', 'this worker has')).join('; ')}`);
  return attackPartition(partition, settings, {
    cfg: m.cfgPath, weights: m.weightsPath, layers: config.layers.length,
    data: { train: data.train, test: data.test, S: data.S, T: data.T },
    storageDir: m.storageDir, log,
  });
}

function send(m: FromAttackCompute): void {
  if (!process.connected) process.exit(0);
  process.send!(m);
}

if (process.send && process.env['LAYERLOCK_ATTACK_COMPUTE'] === '1') {
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: ToAttackCompute) => {
    if (m.type !== 'attack') return;
    if (m.threads !== null) setThreads(m.threads);
    computePartition(m, (line) => send({ type: 'log', id: m.id, line })).then(
      (result) => send({ type: 'done', id: m.id, result }),
      (err: unknown) => send({ type: 'failed', id: m.id, message: err instanceof Error ? err.message : String(err) }),
    );
  });
}
