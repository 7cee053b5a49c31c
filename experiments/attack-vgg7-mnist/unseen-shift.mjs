// How far apart two sets the model never saw are by their loss alone (from the repo root, after npm ci):
// node experiments/attack-vgg7-mnist/unseen-shift.mjs  →  AUC of 5 000 S members / 5 000 T images / the test set.
import { loadModel, loadData, splitST, auc, WholeModelOracle } from '../../dist/src/index.js';
import { askPool, lossOf } from '../../dist/src/attack/query.js';

const net = await loadModel({ cfg: 'cfg/vgg7-mnist.cfg', weights: 'experiments/train-mnist/vgg7-mnist.weights', seed: 1 });
const oracle = new WholeModelOracle(net);
const d = await loadData('/work/shared/data/mnist');
const { S, T } = splitST(d.train.count, 1);
const score = async (ds, indices) => lossOf(await askPool(oracle, { ds, indices })).map((x) => -x);
const m = await score(d.train, S.slice(0, 5000));
const t = await score(d.train, T.slice(0, 5000));
const v = await score(d.test, Uint32Array.from({ length: d.test.count }, (_, i) => i));
console.log(`loss AUC, S members vs T non-members:    ${auc(m, t).toFixed(4)}`);
console.log(`loss AUC, S members vs test non-members: ${auc(m, v).toFixed(4)}`);
console.log(`loss AUC, T vs test (both unseen):       ${auc(t, v).toFixed(4)}`);
