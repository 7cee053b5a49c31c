#!/bin/sh
# Copies the finished state of the paper-figure2 runs (a run folder per data set, see README.md) into
# this folder for committing: the identity, every finished job, the base models and the base-training
# checkpoints (so a later session resumes instead of recomputing). Logs are not copied (they hold
# machine paths). Usage: sync.sh RUNS_DIR   (the folder holding the mnist/, fashion-mnist/, cifar10/ run folders)
set -eu
src=${1:?usage: sync.sh RUNS_DIR}
here=$(cd "$(dirname "$0")" && pwd)
for ds in mnist fashion-mnist cifar10; do
  [ -d "$src/$ds" ] || continue
  mkdir -p "$here/$ds/jobs" "$here/$ds/base"
  [ -f "$src/$ds/options.json" ] && cp "$src/$ds/options.json" "$here/$ds/"
  for f in "$src/$ds"/jobs/*.json "$src/$ds"/base/*.weights "$src/$ds"/base/*.ckpt; do
    [ -f "$f" ] || continue
    case "$(basename "$f")" in .*) continue;; esac
    cp "$f" "$here/$ds/$(basename "$(dirname "$f")")/"
  done
  # A checkpoint whose base job has finished is gone from the run folder: drop it here too.
  for c in "$here/$ds"/base/*.ckpt; do
    [ -f "$c" ] || continue
    [ -f "$src/$ds/base/$(basename "$c")" ] || rm -f "$c"
  done
  for f in exposure.json exposure.csv exposure.svg exposure.png; do
    [ -f "$src/$ds/$f" ] && cp "$src/$ds/$f" "$here/$ds/"
  done
done
exit 0
