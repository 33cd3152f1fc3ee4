#!/bin/sh
# run.sh - runs the libFuzzer targets built in build/fuzz/ (make fuzz, make fuzz-smoke), each from
# its seed corpus in fuzz/corpus/<target>/; findings land in build/fuzz/artifacts/<run>/.
#   fuzz/run.sh [--seconds N] [TARGET...]    fuzz each target N seconds (default 60)
#   fuzz/run.sh --smoke [TARGET...]          every seed once, then 10 s of fuzzing each
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/fuzz
seconds=60
smoke=0
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) seconds=$2; shift 2 ;;
	--smoke) smoke=1; seconds=10; shift ;;
	-*) echo "usage: $0 [--seconds N | --smoke] [TARGET...]" >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || set -- fuzz_config fuzz_reply fuzz_request

# fuzz_request serves real fixtures: the richest healthy one (nested switches,
# SR-IOV, two domains, the AMD CPU rule), the damaged one (every kind of bad
# sysfs data, so replies carry warnings and half-known devices) and an empty
# tree (no devices: empty lists and matrices). Each is built once and rebuilt
# when its description changes.
REQUEST_FIXTURES="dualsocket damaged empty"
fixture_root() {
	topo=$top/tests/fixtures/$1.topo
	root=$out/roots/$1
	if [ "$1" = empty ]; then
		mkdir -p "$root/sys/bus/pci/devices"
	elif [ ! -d "$root" ] || [ "$topo" -nt "$root" ]; then
		rm -rf "$root"
		python3 "$top/tests/fixtures/mkfixture.py" "$topo" "$root" >/dev/null
	fi
	echo "$root"
}

# Longest inputs: past the daemon's 64 KiB request limit (to reach the
# refusal), past a reply the seeds hold, past 4096 config bytes.
max_len() {
	case "$1" in
	fuzz_request) echo 66000 ;;
	fuzz_reply) echo 131072 ;;
	fuzz_config) echo 4200 ;;
	*) echo 4096 ;;
	esac
}

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
runs=""
for t in "$@"; do
	if [ "$t" = fuzz_request ]; then
		for f in $REQUEST_FIXTURES; do runs="$runs $t@$f"; done
	else
		runs="$runs $t"
	fi
done

failed=""
for run in $runs; do
	t=${run%@*}
	name=$(echo "$run" | tr @ -)
	if [ "$t" != "$run" ]; then
		P2PB_FUZZ_ROOT=$(fixture_root "${run#*@}")
		export P2PB_FUZZ_ROOT
	fi
	bin=$out/$t
	seeds=$top/fuzz/corpus/$t
	[ -x "$bin" ] || { echo "run.sh: $bin not built (make fuzz-build)" >&2; exit 1; }
	mkdir -p "$out/artifacts/$name" "$out/corpus/$name"
	opts="-max_len=$(max_len "$t") -timeout=20 -artifact_prefix=$out/artifacts/$name/"
	if [ "$smoke" = 1 ]; then
		echo "== $name: $(ls "$seeds" | wc -l) seeds"
		# File arguments run each input once and stop at the first crash.
		# shellcheck disable=SC2086
		if ! "$bin" $opts "$seeds"/* >"$out/$name.seeds.log" 2>&1; then
			tail -40 "$out/$name.seeds.log" >&2
			failed="$failed $name"
			continue
		fi
		work=$(mktemp -d "$out/corpus/$name.smoke.XXXXXX")
	else
		work=$out/corpus/$name
	fi
	echo "== $name: fuzzing ${seconds}s (log $out/$name.log)"
	# shellcheck disable=SC2086
	if "$bin" $opts -max_total_time="$seconds" -print_final_stats=1 "$work" "$seeds" \
		>"$out/$name.log" 2>&1; then
		grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' \
			"$out/$name.log" | tr -s ' \n' ' '
		echo
	else
		tail -60 "$out/$name.log" >&2
		failed="$failed $name"
	fi
	[ "$smoke" = 0 ] || rm -rf "$work"
done
if [ -n "$failed" ]; then
	echo "run.sh: FAILED:$failed (inputs in $out/artifacts/<run>/)" >&2
	exit 1
fi
echo "run.sh: no findings"
