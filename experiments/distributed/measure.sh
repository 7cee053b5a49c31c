#!/usr/bin/env bash
# Throughput of the distributed exposure runner on one machine: the Mr/Mp jobs of VGG-7 on the
# embedded MNIST slice with 1 and 2 local queue workers (and the local pool with 1 and 2 processes
# for comparison), then the queue's overhead per job from 60 near-empty jobs. Needs redis-server.
# Usage: bash experiments/distributed/measure.sh > experiments/distributed/results.txt
set -euo pipefail
cd "$(dirname "$0")/../.."
L="node dist/src/cli/main.js"
OUT=${OUT:-$(mktemp -d /tmp/layerlock-distributed.XXXX)}
PORT=${PORT:-16420}
PW=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$OUT" --requirepass "$PW" --save '' --appendonly yes --daemonize no > "$OUT/redis.log" 2>&1 &
RPID=$!
WPIDS=()
cleanup() { for p in "${WPIDS[@]}"; do kill "$p" 2>/dev/null || true; done; kill "$RPID" 2>/dev/null || true; }
trap cleanup EXIT
sleep 1
URL="redis://:$PW@127.0.0.1:$PORT"
export LAYERLOCK_THREADS=1 CI=1
now() { date +%s.%N; }

echo "# $(date -u +%FT%TZ), $(nproc) cores, $(node -v), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
# One base model M for every run (--base), so each timing below is the 16 Mr/Mp jobs only.
$L train --cfg cfg/vgg7-mnist.cfg --train-limit 2000 --test-limit 500 --epochs 2 --out "$OUT/m.weights" > /dev/null
VGG="--cfg cfg/vgg7-mnist.cfg --train-limit 2000 --test-limit 500 --base $OUT/m.weights --ft-epochs 2 --seed 1"

workers() { # workers N DB: N queue workers of one job each on database DB
  for _ in $(seq "$1"); do $L worker --queue "$URL/$2" --jobs 1 --stall-timeout 30 > /dev/null 2>> "$OUT/workers.log" & WPIDS+=($!); done
  sleep 3
}
stop_workers() { for p in "${WPIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait "${WPIDS[@]}" 2>/dev/null || true; WPIDS=(); }
timed() { # timed NAME JOBS command...: wall seconds of a run of JOBS jobs
  local name=$1 jobs=$2; shift 2
  local t0 t1; t0=$(now); "$@" > "$OUT/$name.json" 2> "$OUT/$name.log"; t1=$(now)
  local cpu; cpu=$(node -e "const d=require('$OUT/$name.json'); console.log(d.layers.reduce((a,l)=>a+l.seconds,0).toFixed(1))")
  awk -v n="$name" -v a="$t0" -v b="$t1" -v j="$jobs" -v c="$cpu" 'BEGIN { printf "%-26s %3d jobs  wall %7.2f s  %6.3f jobs/s  (job compute %s s)\n", n, j, b-a, j/(b-a), c }'
}

echo "## VGG-7, 16 Mr/Mp jobs (2000 images, E_ft = 2)"
timed local-pool-1 16 $L exposure $VGG --out "$OUT/l1" --jobs 1 --json
timed local-pool-2 16 $L exposure $VGG --out "$OUT/l2" --jobs 2 --json
workers 1 1; timed queue-1-worker 16 $L exposure $VGG --out "$OUT/q1" --queue "$URL/1" --json; stop_workers
workers 2 2; timed queue-2-workers 16 $L exposure $VGG --out "$OUT/q2" --queue "$URL/2" --json; stop_workers
node -e '
  const strip = (d) => Array.isArray(d) ? d.map(strip) : d && typeof d === "object"
    ? Object.fromEntries(Object.entries(d).filter(([k]) => !["seconds", "wall_seconds", "img_s", "git_revision"].includes(k)).map(([k, v]) => [k, strip(v)])) : d;
  const [a, b, c] = process.argv.slice(1).map((f) => JSON.stringify(strip(require(f))));
  if (a !== b || a !== c) { console.log("queue results == local results: NO"); process.exit(1); }
  console.log("queue results (1 and 2 workers) == local results, timings aside: yes");' "$OUT/local-pool-1.json" "$OUT/queue-1-worker.json" "$OUT/queue-2-workers.json"

echo "## overhead: 60 near-empty jobs (tiny cfg, 10 seeds, E_ft = 1 on 50 images)"
TINY="--cfg $OUT/tiny.cfg --train-limit 100 --test-limit 50 --epochs 1 --ft-epochs 1 --seeds 1,2,3,4,5,6,7,8,9,10"
cat > "$OUT/tiny.cfg" <<'CFG'
[net]
batch=25
height=28
width=28
channels=1
learning_rate=0.05
momentum=0.9

[convolutional]
filters=4
size=3
stride=1
pad=1
activation=relu

[maxpool]
size=2
stride=2

[convolutional]
filters=6
size=3
stride=1
pad=1
activation=relu

[maxpool]
size=2
stride=2

[connected]
output=10
activation=linear

[softmax]
CFG
$L exposure $TINY --out "$OUT/tl" --jobs 1 > /dev/null 2>&1   # bases trained once, copied below
for d in tq; do mkdir -p "$OUT/$d" && cp -r "$OUT/tl/base" "$OUT/tl/options.json" "$OUT/$d/" && mkdir -p "$OUT/$d/jobs" && cp "$OUT"/tl/jobs/*-base.json "$OUT/$d/jobs/"; done
rm -f "$OUT"/tl/jobs/s*-l*.json
timed tiny-local-pool-1 60 $L exposure $TINY --out "$OUT/tl" --jobs 1 --json
workers 1 3; timed tiny-queue-1-worker 60 $L exposure $TINY --out "$OUT/tq" --queue "$URL/3" --json; stop_workers
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
