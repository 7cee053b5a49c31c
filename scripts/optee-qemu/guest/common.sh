# Sourced by the guest's layerlock scripts (layerlock-node.sh, layerlock-deploy.sh, layerlock-bench.sh)
# after they set ME, their log prefix: the working folder, the environment, and the helpers they share.
cd /opt/layerlock || exit 1
export HOME=/tmp PATH=/usr/bin:/bin:/usr/sbin:/sbin
CLI="node dist/src/cli/main.js"
say() { echo "$ME: $*"; }
up() { cut -d' ' -f1 /proc/uptime; }
since() { echo "$(up) $1" | awk '{ printf "%.1f", $1 - $2 }'; } # emulated seconds since uptime $1
run() { # name args...: runs the CLI, logs its output and the emulated seconds
	local name="$1"; shift
	local t=$(up)
	$CLI "$@" > /tmp/$name.out 2> /tmp/$name.err
	local st=$?
	sed "s/^/  $name: /" /tmp/$name.err /tmp/$name.out
	say "$name: status $st, $(since "$t") s (emulated)"
	return $st
}
