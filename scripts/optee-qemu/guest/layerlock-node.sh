#!/bin/busybox sh
# Milestone 3/4 in the guest (issue 17): layerlock itself on the emulated board — the arm64 Node 20,
# dist/ and the runtime node_modules under /opt/layerlock (build.sh step guest-node) — first its
# --help, then a tiny partitioned training and inference with the last k layers in OP-TEE (`--tee
# optee`: libteec, the layerlock TA) against the same runs all in the normal world, in this guest.
# The normal world uses the reference kernels (LAYERLOCK_KERNELS=reference), which the TA's C layers
# equal bit for bit, so weights, losses and predictions must be identical, not merely close.
# Prints LAYERLOCK_NODE_HELP PASS|FAIL and LAYERLOCK_TRANSPORT PASS|FAIL (build.sh and the test grep them).
ME=layerlock-node
. /usr/share/layerlock/common.sh
K="${LAYERLOCK_GUEST_TEE_LAST:-3}"
DATA="--cfg cfg/lenet-mnist.cfg --seed 1 --train-limit 16 --test-limit 8 --batch 4"

say "node $(node --version) on $(uname -m); addons: $(ls build/Release)"
t0=$(up)
if $CLI --help > /tmp/help.txt 2>&1; then
	head -n 12 /tmp/help.txt | sed 's/^/  help: /'
	say "node dist/src/cli/main.js --help: $(wc -l < /tmp/help.txt) lines in $(since "$t0") s (emulated)"
	echo "LAYERLOCK_NODE_HELP PASS"
else
	sed 's/^/  help: /' /tmp/help.txt; echo "LAYERLOCK_NODE_HELP FAIL"
fi
kern=$(node -e "import('/opt/layerlock/dist/src/kernels/index.js').then((k) => console.log(k.getKernels().name))" 2>&1)
say "the normal world's default kernels in the guest: $kern"

export LAYERLOCK_KERNELS=reference
fail=0
run train-ree train $DATA --epochs 1 --out /tmp/ree.weights --json || fail=1
run train-optee train $DATA --epochs 1 --tee-last "$K" --tee optee --tee-output full --out /tmp/optee.weights --json || fail=1
say "weights after training: ree $(sha256sum /tmp/ree.weights | cut -c1-16), optee $(sha256sum /tmp/optee.weights | cut -c1-16)"
cmp /tmp/ree.weights /tmp/optee.weights && say "trained weights identical (all layers, the protected ones exported under policy full)" || fail=1
# the losses the training printed (the epoch's loss and the S/T/test evaluation), REE against OP-TEE
cmpjson() { node -e '
const [a, b] = process.argv.slice(1).map((f) => JSON.parse(require("fs").readFileSync(f, "utf8")));
const pick = (j) => JSON.stringify({ loss: j.loss, acc: j.acc, n: j.n, S: j.S, T: j.T, test: j.test });
console.log("  ree   " + pick(a)); console.log("  optee " + pick(b));
process.exit(pick(a) === pick(b) ? 0 : 1);' "$1" "$2"; }
cmpjson /tmp/train-ree.out /tmp/train-optee.out && say "training losses and accuracies identical" || { say "training results differ"; fail=1; }
# inference with the trained weights: the REE's, loaded into the TA (LOAD_PARAMS), policy top1
run eval-ree eval --cfg cfg/lenet-mnist.cfg --weights /tmp/ree.weights --test-limit 8 --json || fail=1
run eval-optee eval --cfg cfg/lenet-mnist.cfg --weights /tmp/ree.weights --test-limit 8 --tee-last "$K" --tee optee --tee-output full --json || fail=1
cmpjson /tmp/eval-ree.out /tmp/eval-optee.out && say "eval (test loss, accuracy) identical" || { say "eval differs"; fail=1; }
# VGG-7 (MNIST) with its last 8 layers in OP-TEE (6:13: two convolutions, max-pools, FC-64, FC-10,
# softmax, cost): the same comparison, training and evaluation
V="--cfg cfg/vgg7-mnist.cfg --seed 1 --train-limit 16 --test-limit 8 --batch 4"
run vgg-train-ree train $V --epochs 1 --out /tmp/vgg-ree.weights --json || fail=1
run vgg-train-optee train $V --epochs 1 --tee-last 8 --tee optee --tee-output full --out /tmp/vgg-optee.weights --json || fail=1
say "VGG-7 weights after training: ree $(sha256sum /tmp/vgg-ree.weights | cut -c1-16), optee $(sha256sum /tmp/vgg-optee.weights | cut -c1-16)"
cmp /tmp/vgg-ree.weights /tmp/vgg-optee.weights && say "VGG-7 trained weights identical (last 8 layers in OP-TEE)" || fail=1
cmpjson /tmp/vgg-train-ree.out /tmp/vgg-train-optee.out && say "VGG-7 training losses and accuracies identical" || { say "VGG-7 training results differ"; fail=1; }
run vgg-eval-ree eval --cfg cfg/vgg7-mnist.cfg --weights /tmp/vgg-ree.weights --test-limit 8 --json || fail=1
run vgg-eval-optee eval --cfg cfg/vgg7-mnist.cfg --weights /tmp/vgg-ree.weights --test-limit 8 --tee-last 8 --tee optee --tee-output full --json || fail=1
cmpjson /tmp/vgg-eval-ree.out /tmp/vgg-eval-optee.out && say "VGG-7 eval (test loss, accuracy) identical" || { say "VGG-7 eval differs"; fail=1; }
for i in 0 1 2 3; do
	run predict-ree-$i predict --cfg cfg/lenet-mnist.cfg --weights /tmp/ree.weights --index $i --top 1 || fail=1
	run predict-optee-$i predict --cfg cfg/lenet-mnist.cfg --weights /tmp/ree.weights --index $i --top 1 --tee-last "$K" --tee optee || fail=1
	# under top1 the TA releases only the class, so the class is what is compared
	a=$(grep -o 'class [0-9]*' /tmp/predict-ree-$i.out | head -n 1); b=$(grep -o 'class [0-9]*' /tmp/predict-optee-$i.out | head -n 1)
	say "image $i: ree [$a] optee [$b]"
	[ -n "$a" ] && [ "$a" = "$b" ] || fail=1
done
# A network that does not fit the TA's memory: VGG-7 whole at 256 images per forward. OP-TEE's TA must
# refuse it with OUT_OF_MEMORY naming the layer and buffer, in the software TA's words (the software
# TEE, given the same 12 MiB, runs in this guest too), and the run must fail without writing --out.
run oom-optee train $V --batch 256 --epochs 1 --tee-layers 0: --tee optee --out /tmp/oom-optee.weights && fail=1
run oom-software train $V --batch 256 --epochs 1 --tee-layers 0: --secure-mem "${LAYERLOCK_OPTEE_SECURE_MEM:-12582912}" --out /tmp/oom-sw.weights && fail=1
msg=$(grep -o 'TEE_ERROR_OUT_OF_MEMORY.*' /tmp/oom-optee.err | head -n 1)
case "$msg" in
	*"secure memory exhausted at layer 0 (convolutional) buffer 'output'"*) say "OP-TEE refused the network that does not fit, naming layer 0's output buffer" ;;
	*) say "OP-TEE's refusal does not name the layer: [$msg]"; fail=1 ;;
esac
[ "$msg" = "$(grep -o 'TEE_ERROR_OUT_OF_MEMORY.*' /tmp/oom-software.err | head -n 1)" ] && say "the refusal is the software TA's, word for word" || { say "the refusal differs from the software TA's"; fail=1; }
[ ! -e /tmp/oom-optee.weights ] || { say "a failed run wrote --out"; fail=1; }
if [ $fail = 0 ]; then echo "LAYERLOCK_TRANSPORT PASS (LeNet's last $K and VGG-7's last 8 layers in OP-TEE: weights, losses, eval and predictions equal the all-REE run; a network too big for the TA refused with OUT_OF_MEMORY naming the layer)"; else echo "LAYERLOCK_TRANSPORT FAIL"; fi
