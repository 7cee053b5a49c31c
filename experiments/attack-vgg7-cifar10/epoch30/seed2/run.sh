#!/bin/sh
# A second draw of the attacker's side (pools, substitute, bootstrap) for the CIFAR-10 ranking k = 0 vs 6:13.
exec node dist/src/cli/main.js attack sweep --cfg cfg/vgg7-cifar10.cfg \
  --weights experiments/attack-vgg7-cifar10/epoch30/vgg7-cifar10.weights --data ../shared/data/cifar10 --seed 1 --attack-seed 2 \
  --tee-last 0,8 --tee-output top1 --attacks loss,whitebox,substitute \
  --members 2500 --substitute-epochs 5 --substitute-limit 15000 --bootstrap 1000 \
  --out experiments/attack-vgg7-cifar10/epoch30/seed2 --json
