#!/bin/sh
# The membership-inference and stealing sweep of experiments/attack-vgg7-mnist (from the repo root).
exec node dist/src/cli/main.js attack sweep --cfg cfg/vgg7-mnist.cfg \
  --weights experiments/train-mnist/vgg7-mnist.weights --data /work/shared/data/mnist --seed 1 \
  --tee-last 0,1,3,5,8 --tee-output top1 \
  --members 2500 --substitute-epochs 5 --substitute-limit 15000 --perturbations 8 --bootstrap 1000 \
  --steal --queries 1000 --steal-epochs 20 \
  --exposure experiments/exposure-mnist-full --out experiments/attack-vgg7-mnist --json
