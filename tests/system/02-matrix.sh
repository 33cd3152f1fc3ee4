#!/bin/bash
# 02-matrix: `p2pctl --json matrix` is square over the endpoints, its diagonal
# is bus-addr/0, and every cell equals the `path` verdict for that pair.
. "$(dirname "$0")/lib.sh"

for name in qemu acsredir; do
	start_daemon "$(fixture "$name")"
	ctl --json matrix >"$T/matrix.json" || fail "$name: p2pctl matrix failed"
	ctl matrix >"$T/matrix.txt" || fail "$name: p2pctl matrix (text) failed"
	python3 - "$T/matrix.json" "$BIN/p2pctl" "$SOCK" <<'PY' || fail "$name: matrix check"
import json, subprocess, sys
m = json.load(open(sys.argv[1]))
devs, rows = m["devices"], m["matrix"]
assert len(devs) >= 2, "matrix has fewer than 2 devices"
assert len(rows) == len(devs) and all(len(r) == len(devs) for r in rows), "matrix not square"
for i, p in enumerate(devs):
    assert rows[i][i] == {"verdict": "bus-addr", "distance": 0}, f"diagonal {p}: {rows[i][i]}"
    for j, c in enumerate(devs):
        out = subprocess.run([sys.argv[2], "--socket", sys.argv[3], "--json", "path", p, c],
                             check=True, capture_output=True, text=True).stdout
        v = json.loads(out)
        cell = rows[i][j]
        assert (cell["verdict"], cell["distance"]) == (v["verdict"], v["distance"]), \
            f"{p} -> {c}: matrix {cell}, path {v['verdict']} {v['distance']}"
print(f"{len(devs)}x{len(devs)} matrix agrees with path")
PY
	grep -q "$(python3 -c "import json;print(json.load(open('$T/matrix.json'))['devices'][0])")" \
		"$T/matrix.txt" || fail "$name: text matrix does not name the devices"
	stop_daemon || fail "daemon did not exit cleanly"
done
