#!/bin/sh
# The membership-inference and stealing sweep of experiments/attack-vgg7-cifar10 (from the repo root).
exec node dist/src/cli/main.js attack sweep --cfg cfg/vgg7-cifar10.cfg \
  --weights experiments/attack-vgg7-cifar10/vgg7-cifar10.weights --data ../shared/data/cifar10 --seed 1 \
  --tee-last 0,3,5,8 --tee-output top1 \
  --members 2500 --substitute-epochs 5 --substitute-limit 15000 --perturbations 8 --bootstrap 1000 \
  --steal --queries 1000 --steal-epochs 20 \
  --out experiments/attack-vgg7-cifar10 --json
