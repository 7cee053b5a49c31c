// The small model the attack tests attack: an MLP trained on the embedded MNIST slice until it
// overfits (so that membership inference has something to find), shared by attack.test.ts and the
// queued sweep's test.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AttackData } from '../src/attack/pools.js';
import { loadData } from '../src/data/load.js';
import { splitST } from '../src/data/split.js';
import { getKernels } from '../src/kernels/index.js';
import { parseCfg } from '../src/nn/cfg.js';
import { saveModel } from '../src/nn/model.js';
import { Network } from '../src/nn/network.js';
import { train } from '../src/nn/train.js';

// A small MLP: FC64 (0), FC32 (1), FC10 (2), softmax (3), cost (4). Overfits 300 images quickly.
export const ATTACK_CFG = `[net]
batch=32
subdivisions=1
height=28
width=28
channels=1
learning_rate=0.05
momentum=0.9
decay=0
policy=constant
max_batches=100000

[connected]
output=64
activation=relu

[connected]
output=32
activation=relu

[connected]
output=10
activation=linear

[softmax]

[cost]
type=sse
`;
/** Seed of the S/T split and of the training; --seed of the CLI runs. */
export const ATTACK_SEED = 3;

/** Trains the MLP on S of the first 400 training images (--train-limit 400 --test-limit 400 --seed 3) into dir. */
export async function trainAttackMlp(dir: string): Promise<{ cfgPath: string; weights: string; data: AttackData }> {
  const cfgPath = join(dir, 'mlp.cfg');
  const weights = join(dir, 'mlp.weights');
  await writeFile(cfgPath, ATTACK_CFG);
  const src = await loadData('embedded', { trainLimit: 400, testLimit: 400 });
  const { S, T } = splitST(src.train.count, ATTACK_SEED);
  const net = new Network(parseCfg(ATTACK_CFG, cfgPath), { kernels: getKernels(), seed: ATTACK_SEED });
  await train(net, src.train, S, { epochs: 60, seed: ATTACK_SEED });
  await saveModel(net, weights);
  return { cfgPath, weights, data: { train: src.train, test: src.test, S, T } };
}
