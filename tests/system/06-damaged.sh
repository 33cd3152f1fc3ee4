#!/bin/bash
# 06-damaged: bad sysfs data never stops the scan or the daemon. Every damaged
# device is kept and a warning names what was wrong and where.
. "$(dirname "$0")/lib.sh"

n=0
for topo in "$P2PB_TOP"/tests/fixtures/damaged*.topo; do
	name=$(basename "$topo" .topo)
	root=$(fixture "$name")
	start_daemon "$root"
	ctl --json topology >"$T/topo.json" || fail "$name: topology failed"
	ctl topology >/dev/null || fail "$name: text topology failed"
	ctl matrix >/dev/null || fail "$name: matrix failed"
	# Every valid directory entry is a device in the daemon's view.
	python3 - "$root" "$T/topo.json" <<'PY' || fail "$name: devices or warnings missing"
import json, os, re, sys
root, topo = sys.argv[1], json.load(open(sys.argv[2]))
entries = [e for e in os.listdir(os.path.join(root, "sys/bus/pci/devices"))
           if re.fullmatch(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]", e)]
have = {d["bdf"] for d in topo["devices"]}
missing = sorted(set(entries) - have)
assert not missing, f"devices dropped: {missing}"
warnings = topo["warnings"]
assert warnings, "no warnings for a damaged tree"
for w in warnings:
    print("warning:", w.get("device"), w["message"])
print(f"{len(have)} devices kept, {len(warnings)} warnings")
PY
	# Each fault the fixture declares ("# expect-warning: BDF TEXT") is reported.
	while read -r _ _ bdf text; do
		python3 - "$T/topo.json" "$bdf" "$text" <<'PY' || fail "$name: no warning '$text' for $bdf"
import json, sys
topo, bdf, text = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3].lower()
assert any((w.get("device") == bdf or bdf == "-") and text in w["message"].lower()
           for w in topo["warnings"]), f"{bdf}: {text}"
PY
		n=$((n + 1))
	done < <(grep -E '^# expect-warning: ' "$topo")
	# A device whose ACS could not be read makes verdicts through it cautious.
	if [ "$name" = damaged ]; then
		expect_eq "acs_unknown of 05:00.0 -> 00:02.0" \
			"$(ctl --json path 0000:05:00.0 0000:00:02.0 | json 'j["acs_unknown"]')" \
			"['0000:05:00.0']"
		ctl --json path 0000:05:00.0 0000:00:02.0 | json 'j["reason"]' >"$T/reason"
		grep -q "caution: the ACS control of 0000:05:00.0 could not be read" "$T/reason" ||
			fail "no caution for a path through a device without config: $(cat "$T/reason")"
		ctl --json path 0000:03:00.0 0000:04:00.0 | json 'j["reason"]' >"$T/reason"
		grep -q caution "$T/reason" && fail "caution on a healthy path: $(cat "$T/reason")"
		expect_eq "acs_unknown of a healthy path" \
			"$(ctl --json path 0000:03:00.0 0000:04:00.0 | json 'j["acs_unknown"]')" "[]"
		ctl topology | grep -- '- 0000:05:00.0 ' | grep -q acs-unknown ||
			fail "p2pctl topology does not flag 0000:05:00.0 acs-unknown"
	fi
	stop_daemon || fail "$name: daemon did not exit cleanly"
done
[ $n -gt 0 ] || fail "no '# expect-warning:' lines in tests/fixtures/damaged*.topo"
echo "$n declared faults reported"
