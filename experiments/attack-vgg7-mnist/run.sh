#!/bin/sh
# The membership-inference and stealing sweep of experiments/attack-vgg7-mnist (from the repo root).
exec node dist/src/cli/main.js attack sweep --cfg cfg/vgg7-mnist.cfg \
  --weights experiments/train-mnist/vgg7-mnist.weights --data /work/shared/data/mnist --seed 1 \
  --tee-last 0,1,3,5,8,10,12 --tee-output top1 \
  --members 5000 --substitute-epochs 10 --perturbations 16 --bootstrap 1000 \
  --steal --queries 2000 --steal-epochs 20 \
  --exposure experiments/exposure-mnist-full --out experiments/attack-vgg7-mnist --json
