#!/usr/bin/env bash
# How much secure memory one TA gets on the emulated board: rebuilds the smoke-test TA with each heap
# size (TA_DATA_SIZE) given, boots, and prints whether the TA loaded and its largest single allocation.
# usage: scripts/optee-qemu/heap-sweep.sh [MiB ...]   (default: 1 4 8 12 13 16); restores the default heap.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${LAYERLOCK_OPTEE_CACHE:-$HOME/.cache/layerlock-optee}"
[ $# -gt 0 ] || set -- 1 4 8 12 13 16
for mib in "$@"; do
	bytes=$(python3 -c "print(int(float('$mib') * 1048576))")
	log="$CACHE/out/logs/heap-$mib.log"
	# the smoke-test TA alone (LAYERLOCK_OPTEE_SESSION=0): the layerlock TA's replay is not what is measured
	LAYERLOCK_OPTEE_SESSION=0 LAYERLOCK_OPTEE_TA_HEAP=$bytes LAYERLOCK_OPTEE_LOG="$log" "$HERE/build.sh" run > /dev/null 2>&1
	open=$(grep -o 'TEEC_OpenSession .*' "$log" | head -n1 | sed 's/  */ /g')
	probe=$(grep -o 'largest TEE_Malloc [0-9]* bytes' "$log" | head -n1)
	echo "heap ${mib} MiB (${bytes} bytes): ${open:-no result}; ${probe:-no probe}"
done
"$HERE/build.sh" images > /dev/null
