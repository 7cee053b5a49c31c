#!/bin/busybox sh
# Milestone 4 in the guest (issue 17): the paper's Figure 4 with the last k layers in OP-TEE —
# `layerlock bench tee --tee optee` on VGG-7 (MNIST), k = 0, 1, … until the TA's arena is full.
# Both worlds compute with the same arithmetic, as DarkneTZ's Darknet does on both sides: the normal
# world's reference kernels, which the TA's C layers equal bit for bit. Time is QEMU's emulated time.
# The result folder goes out over the console as a base64 tar.gz between
# LAYERLOCK_BENCH_BEGIN/END lines; build.sh bench unpacks it. Settings come from the kernel command
# line (LAYERLOCK_BENCH_*), as build.sh bench passes them.
ME=layerlock-bench
. /usr/share/layerlock/common.sh
export LAYERLOCK_KERNELS="${LAYERLOCK_BENCH_KERNELS:-reference}"
CFG="${LAYERLOCK_BENCH_CFG:-cfg/vgg7-mnist.cfg}"
set -- bench tee --tee optee --cfg "$CFG" --data embedded --seed "${LAYERLOCK_BENCH_SEED:-1}" \
	--batch "${LAYERLOCK_BENCH_BATCH:-32}" --reps "${LAYERLOCK_BENCH_REPS:-3}" \
	--batches "${LAYERLOCK_BENCH_BATCHES:-3}" --warmup "${LAYERLOCK_BENCH_WARMUP:-1}" --out /tmp/bench
[ -n "${LAYERLOCK_BENCH_KMAX:-}" ] && set -- "$@" --k-max "$LAYERLOCK_BENCH_KMAX"
say "node dist/src/cli/main.js $* (LAYERLOCK_KERNELS=$LAYERLOCK_KERNELS)"
t0=$(up)
$CLI "$@" > /tmp/bench.out 2> /tmp/bench.err
st=$?
sed 's/^/  bench: /' /tmp/bench.err /tmp/bench.out
say "bench tee: status $st, $(since "$t0") s (emulated)"
cp /tmp/bench.err /tmp/bench/console.txt 2>/dev/null
cat /tmp/bench.out >> /tmp/bench/console.txt 2>/dev/null
echo "LAYERLOCK_BENCH_BEGIN"
tar -C /tmp/bench -czf - . | base64
echo "LAYERLOCK_BENCH_END"
if [ "$st" = 0 ]; then echo "LAYERLOCK_BENCH PASS"; else echo "LAYERLOCK_BENCH FAIL"; fi
