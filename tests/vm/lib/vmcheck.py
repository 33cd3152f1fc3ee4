#!/usr/bin/env python3
"""vmcheck.py - the VM tests' comparisons: the daemon's answers against what the machine itself
says (sysfs, lspci, setpci) and against the kernel's own P2P verdicts (p2pmem-probe).

  vmcheck.py topology [--root DIR] OUTDIR   the daemon's `p2pctl --json topology`, `devices` and
                                            `status` against what sysfs, lspci -vvv/-PP, setpci
                                            and cpuinfo under DIR (default /) say; all saved
                                            in OUTDIR
  vmcheck.py verdicts KERNEL.txt OUT.json   `p2pctl --json path` for every probed pair against
                                            the probe's outcome; saves the paths
  vmcheck.py answers PAIRS.txt OUTDIR       save the daemon's topology, matrix and the paths
                                            of the pairs (lines "PROVIDER CLIENT ...")
  vmcheck.py same DIR_A DIR_B               saved answers must be equal, file by file

Every disagreement is printed with both sides; the exit status is 1 when there was any.
Standard library only: it runs inside the guest too, on the host's python3. One run does a whole
step, because under an emulated CPU every python3 start costs seconds.
"""
import json
import os
import re
import subprocess
import sys

SPEEDS = {"2.5GT/s": 1, "5GT/s": 2, "8GT/s": 3, "16GT/s": 4, "32GT/s": 5, "64GT/s": 6}
PORT_TYPES = [  # lspci's words for the PCIe Device/Port Type, and the daemon's names
    ("Root Complex Integrated Endpoint", "rc-integrated"),
    ("Root Complex Event Collector", "rc-event-collector"),
    ("Legacy Endpoint", "legacy-endpoint"),
    ("Endpoint", "endpoint"),
    ("Root Port", "root-port"),
    ("Upstream Port", "switch-upstream"),
    ("Downstream Port", "switch-downstream"),
    ("PCI-Express to PCI/PCI-X Bridge", "pcie-to-pci-bridge"),
    ("PCI/PCI-X to PCI-Express Bridge", "pci-to-pcie-bridge"),
]
ACS_WORDS = [("SrcValid", "SV"), ("TransBlk", "TB"), ("ReqRedir", "RR"), ("CmpltRedir", "CR"),
             ("UpstreamFwd", "UF"), ("EgressCtrl", "EC"), ("DirectTrans", "DT")]
BDF_RE = re.compile(r"^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")


# --- what the machine says ---------------------------------------------------------------------

def lspci_cmd(root, *args):
    cmd = ["lspci", *args]
    if root != "/":
        cmd += ["-A", "linux-sysfs", "-O", "sysfs.path=%s/sys/bus/pci" % root]
    return cmd


def read_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def link_name(path):
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return None


def sysfs_device(root, bdf):
    """The fields sysfs itself gives for one function."""
    d = os.path.join(root, "sys/bus/pci/devices", bdf)
    real = os.path.realpath(d)
    parent = os.path.basename(os.path.dirname(real))
    group = link_name(os.path.join(d, "iommu_group"))
    numa = read_text(os.path.join(d, "numa_node"))
    with open(os.path.join(d, "config"), "rb") as f:
        header = f.read(64)
    p2pmem = None
    if os.path.isdir(os.path.join(d, "p2pmem")):
        p2pmem = {k: read_text(os.path.join(d, "p2pmem", k))
                  for k in ("size", "available", "published")}
        p2pmem = {"size": int(p2pmem["size"]), "available": int(p2pmem["available"]),
                  "published": p2pmem["published"] == "1"}
    return {
        "vendor": read_text(os.path.join(d, "vendor"))[2:],
        "device": read_text(os.path.join(d, "device"))[2:],
        "subsys_vendor": read_text(os.path.join(d, "subsystem_vendor"))[2:],
        "subsys_device": read_text(os.path.join(d, "subsystem_device"))[2:],
        "class": read_text(os.path.join(d, "class"))[2:],
        "revision": read_text(os.path.join(d, "revision"))[2:],
        "header_type": header[0x0e] & 0x7f,
        "multifunction": bool(header[0x0e] & 0x80),
        "parent": parent if BDF_RE.match(parent) else None,
        "iommu_group": int(group) if group is not None else None,
        "numa_node": None if numa in (None, "-1") else int(numa),
        "driver": link_name(os.path.join(d, "driver")),
        "p2pmem": p2pmem,
        "is_virtfn": os.path.islink(os.path.join(d, "physfn")),
    }


def parse_lspci_vvv(text):
    """Per function (BDF with domain): port type, link, ACS, bus numbers, DSN, driver."""
    devs, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"^([0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) ", line)
        if m:
            cur = devs.setdefault(m.group(1), {"port_type": "conventional-pci", "link": None,
                                               "acs": None, "dsn": None, "driver": None,
                                               "secondary_bus": None, "subordinate_bus": None})
            continue
        if cur is None:
            continue
        s = line.strip()
        m = re.match(r"Capabilities: \[[0-9a-f]+\] Express \(v\d\) (.*?)(?: \(Slot.\))?, ", s)
        if m:
            cur["port_type"] = next((n for w, n in PORT_TYPES if m.group(1) == w), m.group(1))
        m = re.match(r"LnkCap:\s+Port #\d+, Speed ([^,]+), Width x(\d+)", s)
        if m:
            cur["link"] = {"cap_speed_code": SPEEDS.get(m.group(1)), "cap_width": int(m.group(2))}
        m = re.match(r"LnkSta:\s+Speed ([^ ,]+)[^,]*, Width x(\d+)", s)
        if m and cur["link"] is not None:
            cur["link"].update(speed_code=SPEEDS.get(m.group(1)), width=int(m.group(2)))
        m = re.match(r"Capabilities: \[([0-9a-f]+) v\d+\] Access Control Services", s)
        if m:
            cur["acs"] = {"pos": int(m.group(1), 16)}
        for reg in ("Cap", "Ctl"):
            m = re.match(r"ACS%s:\s+(.*)" % reg, s)
            if m and cur["acs"] is not None:
                cur["acs"]["cap_bits" if reg == "Cap" else "ctrl_bits"] = [
                    short for word, short in ACS_WORDS if word + "+" in m.group(1).split()]
        m = re.match(r"Bus: primary=[0-9a-f]+, secondary=([0-9a-f]+), subordinate=([0-9a-f]+)", s)
        if m:
            cur["secondary_bus"], cur["subordinate_bus"] = int(m.group(1), 16), int(m.group(2), 16)
        m = re.match(r"Capabilities: \[[0-9a-f]+ v\d+\] Device Serial Number (\S+)", s)
        if m:
            cur["dsn"] = m.group(1)
        m = re.match(r"Kernel driver in use: (\S+)", s)
        if m:
            cur["driver"] = m.group(1)
    return devs


def parse_lspci_pp(text):
    """Parents from `lspci -D -PP`: each line names the path of bridges down to the function."""
    parents = {}
    for line in text.splitlines():
        path = line.split()[0].split("/")
        dom = path[0].split(":")[0]
        full = [path[0]] + ["%s:%s" % (dom, p) for p in path[1:]]
        parents[full[-1]] = full[-2] if len(full) > 1 else None
    return parents


def setpci_acs(root, bdf):
    cmd = ["setpci"]  # options before the selector: setpci reads its arguments in order
    if root != "/":
        cmd += ["-A", "linux-sysfs", "-O", "sysfs.path=%s/sys/bus/pci" % root]
    cmd += ["-s", bdf, "ECAP_ACS+4.w", "ECAP_ACS+6.w"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
    return int(out[0], 16), int(out[1], 16)


def collect_truth(root):
    run = lambda *a: subprocess.run(lspci_cmd(root, *a), capture_output=True, text=True,
                                    check=True).stdout
    # -n: decoding needs no names, and reading pci.ids costs seconds in the guest
    lspci = parse_lspci_vvv(run("-D", "-n", "-vvv"))
    parents_pp = parse_lspci_pp(run("-D", "-PP", "-n"))
    truth = {}
    for bdf in sorted(os.listdir(os.path.join(root, "sys/bus/pci/devices"))):
        t = sysfs_device(root, bdf)
        t["lspci"] = lspci.get(bdf)
        t["lspci_parent"] = parents_pp.get(bdf, "missing from lspci -PP")
        if t["lspci"] and t["lspci"]["acs"] is not None:
            t["lspci"]["acs"]["cap"], t["lspci"]["acs"]["ctrl"] = setpci_acs(root, bdf)
        truth[bdf] = t
    return truth


def cpuinfo(root):
    """vendor_id and cpu family of the first processor, as the kernel's AMD rule sees them."""
    want = {"known": True, "vendor": None, "family": None}
    with open(os.path.join(root, "proc/cpuinfo")) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k.strip() == "vendor_id" and want["vendor"] is None:
                want["vendor"] = v.strip()
            elif k.strip() == "cpu family" and want["family"] is None:
                want["family"] = int(v)
    return want


def save(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)


# --- comparisons ----------------------------------------------------------------------------

class Report:
    def __init__(self):
        self.bad = 0

    def check(self, what, daemon, machine, source):
        if daemon != machine:
            self.bad += 1
            print("MISMATCH %s: daemon says %r, %s says %r" % (what, daemon, source, machine))


def code(v):
    return v if v in range(1, 7) else None


def compare_device(r, bdf, t, d):
    for k in ("vendor", "device", "subsys_vendor", "subsys_device", "class", "revision",
              "header_type", "multifunction", "parent", "iommu_group", "numa_node", "driver",
              "p2pmem", "is_virtfn"):
        r.check("%s %s" % (bdf, k), d[k], t[k], "sysfs")
    r.check("%s parent" % bdf, d["parent"], t["lspci_parent"], "lspci -PP")
    l = t["lspci"]
    if l is None:
        r.check("%s presence" % bdf, "listed", "absent", "lspci -vvv")
        return
    for k in ("port_type", "dsn", "driver", "secondary_bus", "subordinate_bus"):
        r.check("%s %s" % (bdf, k), d[k], l[k], "lspci -vvv")
    # lspci omits the link registers where they do not apply (RC-integrated endpoints)
    if l["link"] is not None:
        dl = d["link"] or {}
        got = {"cap_speed_code": code(dl.get("cap_speed_code")), "cap_width": dl.get("cap_width"),
               "speed_code": code(dl.get("speed_code")), "width": dl.get("width")}
        r.check("%s link" % bdf, got, l["link"], "lspci -vvv")
    acs = d["acs"]
    if l["acs"] is None or acs is None:
        r.check("%s acs" % bdf, acs, l["acs"], "lspci -vvv")
    else:
        r.check("%s acs position" % bdf, acs["pos"], l["acs"]["pos"], "lspci -vvv")
        r.check("%s acs cap bits" % bdf, acs["cap_bits"], l["acs"]["cap_bits"], "lspci -vvv")
        r.check("%s acs ctrl bits" % bdf, acs["ctrl_bits"], l["acs"]["ctrl_bits"], "lspci -vvv")
        r.check("%s acs cap register" % bdf, acs["cap"], l["acs"]["cap"], "setpci ECAP_ACS+4.w")
        r.check("%s acs ctrl register" % bdf, acs["ctrl"], l["acs"]["ctrl"],
                "setpci ECAP_ACS+6.w")


def compare_switches(r, truth, topo):
    """Each switch-upstream port with the downstream ports below it is one switch."""
    want = {}
    for bdf, t in truth.items():
        if t["lspci"] and t["lspci"]["port_type"] == "switch-upstream":
            want[bdf] = sorted(b for b, c in truth.items() if c["parent"] == bdf and c["lspci"]
                               and c["lspci"]["port_type"] == "switch-downstream")
    got = {s["upstream"]: sorted(s["downstream"]) for s in topo.get("switches", [])}
    r.check("switches", got, want, "sysfs + lspci")


def compare_devices(r, truth, topo, what):
    devs = {d["bdf"]: d for d in topo["devices"]}
    r.check("%s: device list" % what, sorted(devs), sorted(truth), "sysfs")
    for bdf in sorted(set(devs) & set(truth)):
        compare_device(r, bdf, truth[bdf], devs[bdf])
    for w in topo.get("warnings", []):
        r.check("%s: scan warning" % what, w, None, "a healthy machine")


def p2pctl_json(*args):
    res = subprocess.run([os.path.join(os.environ["P2PB_BUILD"], "p2pctl"), "--json", *args],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit("p2pctl --json %s failed (exit %d): %s"
                         % (" ".join(args), res.returncode, res.stderr.strip()))
    return json.loads(res.stdout)


def cmd_topology(args):
    root = "/"
    if args[:1] == ["--root"]:
        root, args = os.path.abspath(args[1]), args[2:]
    out = args[0]
    truth = collect_truth(root)
    topo, devs, status = (p2pctl_json(c) for c in ("topology", "devices", "status"))
    for name, obj in (("truth", truth), ("topology", topo), ("devices", devs), ("status", status)):
        save(os.path.join(out, name + ".json"), obj)
    r = Report()
    compare_devices(r, truth, topo, "topology")
    compare_switches(r, truth, topo)
    compare_devices(r, truth, devs, "devices")
    r.check("cpu", status["cpu"], cpuinfo(root), "/proc/cpuinfo")
    print("%d devices compared field by field (topology and devices), switches, cpu %s family "
          "%s: %d mismatches" % (len(truth), status["cpu"]["vendor"], status["cpu"]["family"],
                                 r.bad))
    return 1 if r.bad else 0


def p2pctl_path(p, c):
    return p2pctl_json("path", p, c)


def read_pairs(path):
    with open(path) as f:
        return [l.split() for l in f if l.strip() and not l.startswith("#")]


def cmd_verdicts(args):
    """The kernel is the judge: refused (EREMOTEIO) <=> not-supported; a transfer whose bytes
    arrived <=> bus-addr or thru-host-bridge."""
    paths, bad, pairs = {}, 0, read_pairs(args[0])
    for p, c, result, verify in pairs:
        d = p2pctl_path(p, c)
        paths["%s %s" % (p, c)] = d
        if result == "EREMOTEIO":
            agree = d["verdict"] == "not-supported"
        else:
            agree = result == "ok" and verify == "match" and d["verdict"] in (
                "bus-addr", "thru-host-bridge")
        mark = "agree   " if agree else "DISAGREE"
        print("%s %s -> %s: kernel %s (bytes %s), daemon %s distance %s" %
              (mark, p, c, result, verify, d["verdict"], d["distance"]))
        if not agree:
            bad += 1
            print("    daemon's reason: %s" % d["reason"])
    save(args[1], paths)
    print("%d pairs: %d disagreements between the daemon and the kernel" % (len(pairs), bad))
    return 1 if bad else 0


def cmd_answers(args):
    out = args[1]
    paths = {"%s %s" % (p[0], p[1]): p2pctl_path(p[0], p[1]) for p in read_pairs(args[0])}
    save(os.path.join(out, "paths.json"), paths)
    save(os.path.join(out, "topology.json"), p2pctl_json("topology"))
    save(os.path.join(out, "matrix.json"), p2pctl_json("matrix"))
    print("saved the daemon's topology, matrix and %d paths in %s" % (len(paths), out))
    return 0


def diff_json(a, b, where, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            diff_json(a.get(k, "<absent>"), b.get(k, "<absent>"), "%s.%s" % (where, k), out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            diff_json(x, y, "%s[%d]" % (where, i), out)
    elif a != b:
        out.append("%s: %r != %r" % (where, a, b))


def cmd_same(args):
    diffs, names = [], sorted(n for n in os.listdir(args[0]) if n.endswith(".json"))
    if not names:
        diffs.append("%s: no saved answers" % args[0])
    for name in names:
        with open(os.path.join(args[0], name)) as f:
            a = json.load(f)
        try:
            with open(os.path.join(args[1], name)) as f:
                b = json.load(f)
        except OSError as e:
            diffs.append("%s: %s" % (name, e))
            continue
        diff_json(a, b, name, diffs)
    for d in diffs:
        print("DIFFERENT %s" % d)
    print("%s vs %s (%s): %d differences" % (args[0], args[1], " ".join(names), len(diffs)))
    return 1 if diffs else 0


COMMANDS = {"topology": (cmd_topology, 1), "verdicts": (cmd_verdicts, 2),
            "answers": (cmd_answers, 2), "same": (cmd_same, 2)}


def main(argv):
    if not argv or argv[0] not in COMMANDS or len(argv) - 1 < COMMANDS[argv[0]][1]:
        sys.stderr.write(__doc__)
        return 2
    return COMMANDS[argv[0]][0](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
