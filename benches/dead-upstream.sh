#!/usr/bin/env bash
# dead-upstream.sh: glibc vs palanquin's stub when the first nameserver is a
# black hole (receives queries, never answers, over UDP and TCP).
#
# Setup, all on loopback port 53 (glibc cannot use another port):
#   127.0.1.1:53            black hole (python3, UDP + TCP)
#   127.0.1.2:53, .3:53     one NSD serving bench.test. (www A/AAAA)
#   private resolv.conf files: healthy (.2 .3), dead-first (.1 .2 .3),
#   dead-first-of-two (.1 .2, for glibc, which uses at most 3 servers anyway)
# Measures:
#   1. palanquin query --repeat N --json: latency p50/p90/p99/max, failures,
#      upstream queries per lookup; healthy vs dead-first
#   2. cold single lookup (fresh process, dead-first), end to end incl. start
#   3. glibc: getent ahosts in a mount namespace with resolv.conf bind-mounted
# and prints them next to the targets; the results also go to $OUT as JSON.
#
# Run as root from anywhere:   benches/dead-upstream.sh
# Environment: PALANQUIN (default target/release/palanquin, built if absent),
#   OUT (default /tmp/dead-upstream.json), REPEAT (1000), COLD_RUNS (20),
#   GLIBC_RUNS (3).  Exits 0 after reporting even when targets are missed
#   (see "met" in the table and JSON); exits 1 if the setup or palanquin fails.
set -euo pipefail

die() { echo "dead-upstream.sh: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "must be run as root (binds port 53 and bind-mounts /etc/resolv.conf in a private mount namespace)"
for tool in nsd dig getent unshare mount python3 setsid; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install nsd bind9-dnsutils)"
done

# Paths given by the caller are relative to the caller's directory.
[[ -z ${PALANQUIN:-} ]] || PALANQUIN=$(realpath -m -- "$PALANQUIN")
OUT=$(realpath -m -- "${OUT:-/tmp/dead-upstream.json}")
cd "$(dirname "$0")/.."
PALANQUIN=${PALANQUIN:-target/release/palanquin}
REPEAT=${REPEAT:-1000} COLD_RUNS=${COLD_RUNS:-20} GLIBC_RUNS=${GLIBC_RUNS:-3}
DEAD=127.0.1.1 NS1=127.0.1.2 NS2=127.0.1.3 NAME=www.bench.test

if [[ ! -x $PALANQUIN ]]; then
  [[ $PALANQUIN == target/release/palanquin ]] || die "PALANQUIN=$PALANQUIN is not an executable"
  echo "building palanquin (release)" >&2
  cargo build --release --bin palanquin
fi

tmp=$(mktemp -d /tmp/dead-upstream.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

grep -qi 'bench\.test' /etc/hosts && die "/etc/hosts mentions bench.test; it must not answer"
pgrep -x nscd >/dev/null && die "nscd is running; it would cache glibc lookups"

# --- black hole on $DEAD:53 ---------------------------------------------------
cat >"$tmp/blackhole.py" <<'EOF'
import selectors, socket, sys
addr, ready = (sys.argv[1], 53), sys.argv[2]
sel = selectors.DefaultSelector()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(addr)
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(addr); t.listen(128)
sel.register(u, selectors.EVENT_READ); sel.register(t, selectors.EVENT_READ)
open(ready, "w").close()
while True:
    for key, _ in sel.select():
        s = key.fileobj
        if s is t:
            c, _ = t.accept(); sel.register(c, selectors.EVENT_READ)  # never answer
        elif s is u:
            u.recvfrom(65535)                                            # drop
        elif not s.recv(65535):
            sel.unregister(s); s.close()                                 # peer gave up
EOF
setsid python3 "$tmp/blackhole.py" "$DEAD" "$tmp/blackhole.ready" 2>"$tmp/blackhole.err" &
pids+=($!)

# --- NSD on $NS1:53 and $NS2:53 -----------------------------------------------
mkdir "$tmp/nsd" "$tmp/nsd/xfr"
cat >"$tmp/nsd/zone" <<'EOF'
$ORIGIN bench.test.
$TTL 300
@    IN SOA ns1 hostmaster 1 3600 600 86400 300
@    IN NS  ns1
ns1  IN A   127.0.1.2
www  IN A   192.0.2.80
www  IN AAAA 2001:db8::80
EOF
cat >"$tmp/nsd/nsd.conf" <<EOF
server:
    server-count: 1
    # RRL would drop or truncate 1000 lookups/s from one source address.
    rrl-ratelimit: 0
    ip-address: $NS1@53
    ip-address: $NS2@53
    username: ""
    chroot: ""
    database: ""
    zonelistfile: "$tmp/nsd/zone.list"
    xfrdfile: "$tmp/nsd/xfrd.state"
    xfrdir: "$tmp/nsd/xfr"
    pidfile: "$tmp/nsd/nsd.pid"
    logfile: "$tmp/nsd/nsd.log"
    verbosity: 1
remote-control:
    control-enable: no
zone:
    name: "bench.test."
    zonefile: "$tmp/nsd/zone"
EOF
setsid nsd -d -c "$tmp/nsd/nsd.conf" >"$tmp/nsd/stderr" 2>&1 &
nsd_pid=$!
pids+=("$nsd_pid")

# --- wait for both (10 s) -----------------------------------------------------
ready=0
for _ in $(seq 200); do
  kill -0 "$nsd_pid" 2>/dev/null || break
  if [[ -e $tmp/blackhole.ready ]] && grep -q 'nsd started' "$tmp/nsd/nsd.log" 2>/dev/null \
     && [[ $(dig @"$NS1" +norec +time=1 +tries=1 +short "$NAME" A) == 192.0.2.80 ]] \
     && [[ $(dig @"$NS2" +norec +time=1 +tries=1 +short "$NAME" A) == 192.0.2.80 ]]; then
    ready=1; break
  fi
  sleep 0.05
done
if ((!ready)) || ! kill -0 "$nsd_pid" 2>/dev/null; then
  cat "$tmp/blackhole.err" "$tmp/nsd/nsd.log" "$tmp/nsd/stderr" >&2 2>/dev/null || true
  die "black hole or NSD did not come up (is something else on 127.0.1.x:53?)"
fi

printf 'nameserver %s\n' "$NS1" "$NS2" >"$tmp/healthy.conf"
printf 'nameserver %s\n' "$DEAD" "$NS1" "$NS2" >"$tmp/dead-first.conf"
printf 'nameserver %s\n' "$DEAD" "$NS1" >"$tmp/dead-first-of-two.conf"

# --- glibc: getent ahosts with resolv.conf bind-mounted in a private namespace -
glibc_times() { # conf runs -> JSON list of per-lookup seconds (null = failed)
  unshare -m --propagation private bash -c '
    # Never let glibc fall back to the real resolv.conf (no off-loopback traffic).
    mount --bind "$1" /etc/resolv.conf && cmp -s "$1" /etc/resolv.conf \
      || { echo "dead-upstream.sh: cannot bind-mount $1 on /etc/resolv.conf" >&2; exit 1; }
    exec python3 - "$2" "$3" <<"EOF"
import json, subprocess, sys, time
out = []
for _ in range(int(sys.argv[1])):
    t = time.perf_counter()
    r = subprocess.run(["getent", "ahosts", sys.argv[2]], capture_output=True, text=True)
    dt = time.perf_counter() - t
    out.append(round(dt, 3) if r.returncode == 0 and "192.0.2.80" in r.stdout else None)
print(json.dumps(out))
EOF' _ "$1" "$2" "$NAME"
}
echo "glibc: healthy.conf, 1 lookup" >&2
glibc_times "$tmp/healthy.conf" 1 >"$tmp/glibc-healthy.json"
echo "glibc: dead-first-of-two.conf, $GLIBC_RUNS lookups (~5 s each)" >&2
glibc_times "$tmp/dead-first-of-two.conf" "$GLIBC_RUNS" >"$tmp/glibc-dead.json"

# --- palanquin --------------------------------------------------------------------
palanquin_repeat() { # name conf
  echo "palanquin: $1, $REPEAT lookups" >&2
  local rc=0
  "$PALANQUIN" query --resolv-conf "$2" --repeat "$REPEAT" --json "$NAME" \
    >"$tmp/$1.out" 2>"$tmp/$1.err" || rc=$?
  if ((rc)); then
    tail -n 20 "$tmp/$1.err" >&2
    die "palanquin query failed on $1 with exit status $rc (stderr tail above)"
  fi
  tail -n 1 "$tmp/$1.out" >"$tmp/$1.json"
  python3 -c 'import json, sys; json.load(open(sys.argv[1]))["latency_ms"]' "$tmp/$1.json" 2>/dev/null \
    || die "palanquin's last line on $1 is not the JSON summary: $(head -c 500 "$tmp/$1.json")"
}
palanquin_repeat healthy "$tmp/healthy.conf"
palanquin_repeat dead-first "$tmp/dead-first.conf"

echo "palanquin: cold single lookup x$COLD_RUNS (dead-first)" >&2
python3 - "$PALANQUIN" "$tmp/dead-first.conf" "$NAME" "$COLD_RUNS" >"$tmp/cold.json" <<'EOF'
import json, statistics, subprocess, sys, time
exe, conf, name, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ms = []
for _ in range(runs):
    t = time.perf_counter()
    r = subprocess.run([exe, "query", "--resolv-conf", conf, name], capture_output=True, text=True)
    ms.append((time.perf_counter() - t) * 1000)
    if r.returncode != 0:
        sys.exit(f"palanquin cold query failed ({r.returncode}):\n{r.stderr[-2000:]}")
print(json.dumps({"runs": runs, "median_ms": round(statistics.median(ms), 2), "max_ms": round(max(ms), 2)}))
EOF

# --- report --------------------------------------------------------------------
python3 - "$tmp" "$OUT" <<'EOF'
import json, sys
tmp, out = sys.argv[1], sys.argv[2]
def load(name):
    path = f"{tmp}/{name}.json"
    try:
        return json.load(open(path))
    except (OSError, ValueError) as e:
        sys.exit(f"dead-upstream.sh: bad JSON in {path} ({e}); palanquin's last line must be the JSON summary:\n"
                 + open(path).read()[:2000])
def summary(name):
    d = load(name)
    try:
        lat, ups = d["latency_ms"], d["upstreams"]
        sent = sum(u["sent"] for u in ups.values())
        return {"queries": d["queries"], "failures": d["failures"],
                **{k: lat[k] for k in ("p50", "p90", "p99", "max")},
                "upstream_queries_per_lookup": round(sent / d["queries"], 3) if d["queries"] else None,
                "upstreams": ups}
    except (KeyError, TypeError) as e:
        sys.exit(f"dead-upstream.sh: palanquin JSON for {name} lacks {e}: {json.dumps(d)[:2000]}")
healthy, dead, cold = summary("healthy"), summary("dead-first"), load("cold")
gh, gd = load("glibc-healthy"), load("glibc-dead")
targets = {
    "dead_first_failures": (dead["failures"], "== 0", dead["failures"] == 0),
    "dead_first_p99_ms": (dead["p99"], "<= 5", dead["p99"] <= 5),
    "dead_first_p50_vs_healthy": (round(dead["p50"] / healthy["p50"], 3) if healthy["p50"] else None,
                                  "<= 1.2", healthy["p50"] > 0 and dead["p50"] <= 1.2 * healthy["p50"]),
    "cold_single_lookup_ms": (cold["max_ms"], "<= 50 (max)", cold["max_ms"] <= 50),
    "dead_first_upstream_queries_per_lookup": (dead["upstream_queries_per_lookup"], "<= 1.1",
                                               (dead["upstream_queries_per_lookup"] or 99) <= 1.1),
}
fmt = lambda v: "-" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))
gfmt = lambda ts: ", ".join("FAILED" if t is None else f"{t:.3f}" for t in ts)
print(f"\n{'scenario':<34}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>9}{'fail':>6}{'uq/lkp':>8}   (ms)")
for label, s in (("palanquin, healthy (.2 .3)", healthy), ("palanquin, dead first (.1 .2 .3)", dead)):
    print(f"{label:<34}" + "".join(f"{fmt(s[k]):>{w}}" for k, w in
          (("p50", 8), ("p90", 8), ("p99", 8), ("max", 9), ("failures", 6), ("upstream_queries_per_lookup", 8))))
print(f"{'  target, dead first':<34}{'<=1.2x':>8}{'':>8}{'<=5':>8}{'':>9}{'0':>6}{'<=1.1':>8}")
print(f"\ncold single lookup, dead first, fresh process x{cold['runs']}: "
      f"median {cold['median_ms']:.1f} ms, max {cold['max_ms']:.1f} ms   (target <= 50 ms)")
print("glibc getent ahosts, healthy (.2 .3):            " + gfmt(gh) + " s per lookup")
print("glibc getent ahosts, dead first (.1 .2):         " + gfmt(gd) + " s per lookup")
print("\ntarget                                    value     target       met")
for k, (v, t, ok) in targets.items():
    print(f"{k:<42}{fmt(v):<10}{t:<13}{'yes' if ok else 'NO'}")
result = {"palanquin": {"healthy": healthy, "dead_first": dead, "cold_dead_first": cold},
          "glibc": {"healthy_s": gh, "dead_first_of_two_s": gd},
          "targets": {k: {"value": v, "target": t, "met": ok} for k, (v, t, ok) in targets.items()}}
with open(out, "w") as f:
    json.dump(result, f, indent=2)
print(f"\nJSON written to {out}")
EOF
