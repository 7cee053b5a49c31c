// Darknet's learning-rate schedule, evaluated at a batch number (updates done so far).
import type { NetOptions } from './config.js';

export function learningRateAt(net: NetOptions, batchNum: number): number {
  const lr = net.learningRate;
  if (batchNum < net.burnIn) return lr * Math.pow(batchNum / net.burnIn, net.power);
  switch (net.policy) {
    case 'constant':
      return lr;
    case 'step':
      return lr * Math.pow(net.scale, Math.floor(batchNum / net.step));
    case 'steps': {
      let rate = lr;
      for (let i = 0; i < net.steps.length; i++) {
        if (net.steps[i]! > batchNum) return rate;
        rate *= net.scales[i]!;
      }
      return rate;
    }
    case 'exp':
      return lr * Math.pow(net.gamma, batchNum);
    case 'poly':
      if (net.maxBatches <= 0) return lr;
      return lr * Math.pow(Math.max(0, 1 - batchNum / net.maxBatches), net.power);
    case 'sig':
      return lr * (1 / (1 + Math.exp(net.gamma * (batchNum - net.step))));
  }
}
