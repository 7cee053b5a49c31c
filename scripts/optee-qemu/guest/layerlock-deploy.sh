#!/bin/busybox sh
# Milestone 4's deployment evidence in the guest (issue 17): the whole device lifecycle with the layerlock
# TA in OP-TEE — keys made inside the TA, the trust anchor, a package installed (verified, decrypted and
# sealed in OP-TEE's secure storage), predictions from the installed model, tampered packages refused by
# the TA itself (a hostile normal world that skips its own checks), an export re-encrypted to the server
# and recovered there, fine-tuning on the device with a sealed new version.
# Runs after layerlock-node.sh, whose LeNet (/tmp/ree.weights, trained all in the REE) it packages.
# Prints LAYERLOCK_DEPLOY PASS|FAIL (build.sh and the test grep it).
ME=layerlock-deploy
. /usr/share/layerlock/common.sh
export LAYERLOCK_KERNELS=reference
jget() { node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); let v = j; for (const k of process.argv[2].split(".")) v = v?.[k]; console.log(v);' "$1" "$2"; }
fail=0
K=3
W=/tmp/ree.weights
if [ ! -f "$W" ]; then run train-lenet train --cfg cfg/lenet-mnist.cfg --seed 1 --train-limit 16 --test-limit 8 --batch 4 --epochs 1 --out "$W" || fail=1; fi

run keygen keygen --out /tmp/server --json || fail=1
run dev-init device init --dir /tmp/dev --tee optee --trust /tmp/server/server.pub --json || fail=1
say "device $(jget /tmp/dev-init.out device_id), trusting server key $(jget /tmp/dev-init.out trusted_server_key_id); certificate: $(jget /tmp/dev/device.cert certificate.attestation)"
run dev-init-again device init --dir /tmp/dev2 --tee optee && { say "a second identity on the same board was accepted"; fail=1; }
grep -q 'TEE_ERROR_ACCESS_CONFLICT' /tmp/dev-init-again.err && say "the TA refused a second device identity on this board (ACCESS_CONFLICT)" || fail=1
run package package --cfg cfg/lenet-mnist.cfg --weights "$W" --tee-last $K --device /tmp/dev/device.cert --signing-key /tmp/server/server.key --package-version 5 --out /tmp/lenet.llpkg --json || fail=1
run install install /tmp/lenet.llpkg --device /tmp/dev --trust /tmp/server/server.pub --tee optee --json || fail=1
run status device status --dir /tmp/dev --tee optee --json || fail=1
[ "$(jget /tmp/status.out model_version)" = 1 ] && [ "$(jget /tmp/status.out package_version)" = 5 ] && say "the TA reports model version 1 of package version 5" || { say "unexpected device status"; fail=1; }

# Predictions of the installed model (protected layers unsealed inside OP-TEE) against the same
# weights all in the normal world: the same class for each image.
for i in 0 1 2 3; do
	run pred-ree-$i predict --cfg cfg/lenet-mnist.cfg --weights "$W" --index $i --top 1 || fail=1
	run pred-dev-$i predict --device /tmp/dev --index $i --tee optee || fail=1
	a=$(grep -o 'class [0-9]*' /tmp/pred-ree-$i.out | head -n 1); b=$(grep -o 'class [0-9]*' /tmp/pred-dev-$i.out | head -n 1)
	say "image $i: ree [$a] installed in OP-TEE [$b]"
	[ -n "$a" ] && [ "$a" = "$b" ] || fail=1
done

# A hostile normal world: tampered copies of a newer, valid package (version 6) and the installed one
# again, straight to the TA with INSTALL_ENCRYPTED, none of the normal world's checks on the way.
run package-6 package --cfg cfg/lenet-mnist.cfg --weights "$W" --tee-last $K --device /tmp/dev/device.cert --signing-key /tmp/server/server.key --package-version 6 --out /tmp/lenet6.llpkg --json || fail=1
t=$(up)
node /usr/share/layerlock/hostile-install.mjs /tmp/lenet6.llpkg /tmp/lenet.llpkg /tmp/server/server.pub > /tmp/hostile.out 2>&1
sed 's/^/  /' /tmp/hostile.out
say "hostile installs: $(since "$t") s (emulated)"
grep -q '^HOSTILE_INSTALL PASS' /tmp/hostile.out || fail=1
run status-after device status --dir /tmp/dev --tee optee --json || fail=1
[ "$(jget /tmp/status-after.out model_version)" = 1 ] && say "after the refused packages the device is still at model version 1" || fail=1

# Export to the server (re-encrypted and signed inside the TA), recovered on the server side.
run export export --device /tmp/dev --to /tmp/server/server.pub --out /tmp/lenet.export --tee optee --json || fail=1
run import import /tmp/lenet.export --key /tmp/server/server.key --device /tmp/dev/device.cert --out /tmp/imported.weights --json || fail=1
cmp /tmp/imported.weights "$W" && say "the export, decrypted on the server, is the packaged model byte for byte" || { say "the recovered weights differ from the packaged ones"; fail=1; }

# Fine-tuning on the device: the TA seals a new version and commits it.
run finetune finetune --device /tmp/dev --tee optee --epochs 1 --train-limit 16 --test-limit 8 --batch 4 --json || fail=1
run status-tuned device status --dir /tmp/dev --tee optee --json || fail=1
[ "$(jget /tmp/status-tuned.out model_version)" = 2 ] && say "after fine-tuning the device is at model version 2 (sealed and committed in OP-TEE)" || fail=1
run pred-tuned predict --device /tmp/dev --index 0 --tee optee || fail=1

if [ $fail = 0 ]; then echo "LAYERLOCK_DEPLOY PASS (device keys, trust anchor, install, predictions, tampered packages refused by the TA, export recovered, fine-tuned version sealed: all with the TA in OP-TEE)"; else echo "LAYERLOCK_DEPLOY FAIL"; fi
