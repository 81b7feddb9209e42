#!/bin/sh
# Differential check of detect's matcher against the installed Suricata on random rules
# and payloads. Usage: detect/examples/suricata_diff/run.sh [SEED...]  (from the repo root)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build -q --release -p detect --example suricata_diff
bin="${CARGO_TARGET_DIR:-target}/release/examples/suricata_diff"
status=0
for seed in "${@:-1}"; do
    python3 "$here/gen.py" "$seed" "$work"
    rm -rf "$work/out" && mkdir "$work/out"
    if ! suricata -r "$work/p.pcap" -S "$work/r.rules" -l "$work/out" -k none --runmode single \
        --set packet-alert-max=255 >"$work/suricata.log" 2>&1; then
        # e.g. Hyperscan refusing a rule whose propagated offset exceeds its depth
        echo "seed $seed: suricata failed, skipped: $(grep '^E' "$work/suricata.log" | head -2 | tr '\n' ' ')"
        continue
    fi
    "$bin" "$work/r.spec" "$work/p.hex" >"$work/ours.txt"
    python3 - "$work" "$seed" <<'PY' || status=1
import re, sys
work, seed = sys.argv[1], sys.argv[2]
bad = {int(m.group(1)) for l in open(f"{work}/suricata.log") if (m := re.search(r'sid:(\d+);\)" from file', l))}
theirs = set()
for l in open(f"{work}/out/fast.log"):
    m = re.match(r"\d\d/\d\d/\d{4}-\d\d:(\d\d):(\d\d)", l)
    sid = int(re.search(r"\[1:(\d+):", l).group(1))
    theirs.add(((int(m.group(1)) * 60 + int(m.group(2)) - (13 * 60 + 20)) % 3600, sid))
ours = {tuple(map(int, l.split())) for l in open(f"{work}/ours.txt")}
ours = {x for x in ours if x[1] not in bad}
theirs = {x for x in theirs if x[1] not in bad}
rules = {int(re.search(r"sid:(\d+);", l).group(1)): l.strip() for l in open(f"{work}/r.rules")}
pays = open(f"{work}/p.hex").read().split()
print(f"seed {seed}: {len(bad)} rules rejected by suricata, {len(theirs)} suricata matches, {len(ours)} ours")
for x in sorted(theirs - ours)[:8]: print("  missed", x, pays[x[0]], rules[x[1]])
for x in sorted(ours - theirs)[:8]: print("  extra ", x, pays[x[0]], rules[x[1]])
sys.exit(0 if ours == theirs else 1)
PY
done
exit $status
