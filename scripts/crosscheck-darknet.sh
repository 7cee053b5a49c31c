#!/usr/bin/env bash
# Checks layerlock's Darknet compatibility against real Darknet (Debian: apt-get install darknet):
#   1. weights written by layerlock load in Darknet and Darknet predicts the same probabilities;
#   2. weights written by Darknet (`darknet partial`) are byte-identical to layerlock's after the header;
# for the shipped VGG-7 and for a batch-normalised, leaky variant of it.
# Usage: scripts/crosscheck-darknet.sh [workdir]   (run from the repo root after npm ci)
set -euo pipefail
command -v darknet >/dev/null || { echo "darknet not found: apt-get install darknet" >&2; exit 1; }
W=${1:-$(mktemp -d)}
mkdir -p "$W"
LL="node dist/src/cli/main.js"
seq 0 9 > "$W/names.list"
printf "classes=10\nnames=%s/names.list\ntop=3\n" "$W" > "$W/mnist.data"
# Five embedded test digits as PNG files.
node -e "
import('./dist/src/data/index.js').then(async (m) => {
  const d = await m.loadData('embedded', { testLimit: 5 });
  const sharp = (await import('sharp')).default;
  for (let i = 0; i < 5; i++) {
    await sharp(Buffer.from(d.test.images.subarray(i * 784, (i + 1) * 784)), { raw: { width: 28, height: 28, channels: 1 } })
      .png().toFile('$W/img' + i + '.png');
  }
});"
sed -e 's/activation=relu/activation=leaky\nbatch_normalize=1/' cfg/vgg7-mnist.cfg > "$W/vgg7-bn-leaky.cfg"
status=0
for cfg in cfg/vgg7-mnist.cfg "$W/vgg7-bn-leaky.cfg"; do
  name=$(basename "$cfg" .cfg)
  # One epoch only, so the probabilities are spread out and a mismatch would show.
  $LL train --cfg "$cfg" --epochs 1 --train-limit 2000 --out "$W/$name.weights" > /dev/null 2>&1
  for i in 0 1 2 3 4; do
    dk=$(echo "$W/img$i.png" | darknet classifier predict "$W/mnist.data" "$cfg" "$W/$name.weights" 2>/dev/null | sed 's/Enter Image Path: //' | grep '%' | head -3 | sed 's/^ *//' | tr -s ' ' | paste -sd ' ')
    ll=$($LL predict --cfg "$cfg" --weights "$W/$name.weights" "$W/img$i.png" --top 3 --json | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const j=JSON.parse(s);console.log(j.top.map(t=>(t.p*100).toFixed(2)+'%: '+t.class).join(' '))})")
    if [ "$dk" = "$ll" ]; then echo "$name img$i: same top-3  $ll"; else echo "$name img$i: DIFFERENT darknet [$dk] layerlock [$ll]"; status=1; fi
  done
  n=$(grep -c '^\[' "$cfg"); n=$((n - 1))
  darknet partial "$cfg" "$W/$name.weights" "$W/$name.darknet.weights" "$n" > /dev/null 2>&1
  if cmp -s -i 20 "$W/$name.weights" "$W/$name.darknet.weights"; then
    echo "$name: Darknet's re-save is byte-identical after the 20-byte header (Darknet's partial resets 'seen')"
  else
    echo "$name: Darknet's re-save DIFFERS"; status=1
  fi
  $LL eval --cfg "$cfg" --weights "$W/$name.darknet.weights" --test-limit 200 > /dev/null && echo "$name: layerlock loads the Darknet-written file"
done
exit $status
