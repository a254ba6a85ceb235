#!/usr/bin/env bash
# side-by-side.sh: Palanquin next to Unbound, dnsdist (packet cache) and dnsmasq,
# each a caching forwarder in front of the same upstream and driven by the same
# dnsperf query file: 2,000 names, half of them NXDOMAIN, all cache hits.
#
# Peers:  apt-get install -y unbound dnsdist dnsmasq-base dnsperf nsd
#         (benches/install-peers does exactly that; dig is bind9-dnsutils)
# Run as root from anywhere:   sudo benches/side-by-side.sh
# Environment:
#   SERVERS        which to run, in this order (default "unbound dnsdist dnsmasq palanquin")
#   PALANQUIN      binary (default target/release/palanquin, built if absent)
#   OUT            JSON results (default /tmp/side-by-side.json)
#   TRIALS=3 TRIAL_SECONDS=5   throughput rounds (all servers in turn, each round)
#   DNSPERF_OPTS="-c 32 -q 5000 -T 2"   dnsperf options of the throughput runs
#   LAT_QPS=20000 LAT_SECONDS=10        fixed-rate latency run
#
# Setup: the script re-runs itself in a private network namespace (unshare
# --net) whose only interface is loopback, so nothing can leave the machine.
#   upstream   NSD on 127.0.2.1:53, authoritative for bench.test. (h0..h99999 A),
#              RRL off, one server process, pinned to CPU 1 next to dnsperf
#   under test each on its own 127.0.2.x:5300, started with taskset -c 0 so it
#              has core 0 to itself, single-threaded where it allows it:
#              Unbound num-threads 1; dnsdist one listener (plus its helper
#              threads); dnsmasq (one thread); palanquin udp_workers = 1.
#              All forward only to 127.0.2.1:53; all are primed with one pass
#              of the query file before measuring.
# Measures, per server:
#   1. throughput: taskset -c 1 dnsperf -l TRIAL_SECONDS $DNSPERF_OPTS, TRIALS
#      rounds interleaved over the servers.  dnsperf saturates before the
#      servers on 2 cores, so the server's CPU time (utime+stime of all its
#      threads, /proc/PID/stat) over dnsperf's run time gives its share of
#      core 0, and QPS per server core = QPS / share (= answers per CPU-second).
#      The median trial (by QPS per core) is reported.
#   2. latency at LAT_QPS: taskset -c 1 dnsperf -Q LAT_QPS -l LAT_SECONDS -v.
#      -v prints each query's rcode and latency (microsecond resolution), from
#      which p50/p99 are computed; a timed-out query counts as infinitely slow.
#   3. VmRSS (/proc/PID/status) after 1 and 2, and again after one pass over
#      100,000 distinct names (h0..h99999) at 20k qps, i.e. a cache of ~100k
#      entries (caches are sized to hold them all: no evictions).
# Prints a table with palanquin's targets (QPS/core >= 1.2x Unbound's, p99 at
# 20k qps <= Unbound's, RSS with 100k entries <= 64 MiB) and writes $OUT.
# Exits 0 after reporting even when targets are missed; 1 if anything fails.
set -euo pipefail

die() { echo "side-by-side.sh: $*" >&2; exit 1; }
ALL="unbound dnsdist dnsmasq palanquin"
SERVERS=${SERVERS:-$ALL}
declare -A PKG=([unbound]=unbound [dnsdist]=dnsdist [dnsmasq]=dnsmasq-base)

if [[ -z ${SIDE_BY_SIDE_NETNS:-} ]]; then   # --- outside: checks, build, re-exec
  [[ $(id -u) -eq 0 ]] || die "must be run as root (network namespace, port 53)"
  (($(nproc) >= 2)) || die "needs 2 CPUs (server on CPU 0, dnsperf on CPU 1)"
  for s in $SERVERS; do [[ " $ALL " == *" $s "* ]] || die "unknown server '$s' in SERVERS (known: $ALL)"; done
  need() { command -v "$1" >/dev/null || die "$1 not found: apt-get install -y $2 (or benches/install-peers)"; }
  need nsd nsd; need dnsperf dnsperf; need dig bind9-dnsutils; need python3 python3
  need taskset util-linux; need unshare util-linux; need ip iproute2
  for s in $SERVERS; do [[ $s == palanquin ]] || need "$s" "${PKG[$s]}"; done
  [[ -z ${PALANQUIN:-} ]] || PALANQUIN=$(realpath -m -- "$PALANQUIN")
  export OUT=$(realpath -m -- "${OUT:-/tmp/side-by-side.json}")
  cd "$(dirname "$0")/.."
  export PALANQUIN=${PALANQUIN:-$PWD/target/release/palanquin}
  if [[ " $SERVERS " == *" palanquin "* && ! -x $PALANQUIN ]]; then
    [[ $PALANQUIN == $PWD/target/release/palanquin ]] || die "PALANQUIN=$PALANQUIN is not an executable"
    echo "building palanquin (release)" >&2
    cargo build --release --bin palanquin
  fi
  export SIDE_BY_SIDE_NETNS=1 SERVERS
  exec timeout -s TERM "${MAX_SECONDS:-1200}" unshare --net -- "$0" "$@"
fi

# --- inside the private network namespace --------------------------------------
TRIALS=${TRIALS:-3} TRIAL_SECONDS=${TRIAL_SECONDS:-5} LAT_QPS=${LAT_QPS:-20000} LAT_SECONDS=${LAT_SECONDS:-10}
read -ra PERF <<<"${DNSPERF_OPTS:--c 32 -q 5000 -T 2}"
UP=127.0.2.1
declare -A ADDR=([palanquin]=127.0.2.10:5300 [unbound]=127.0.2.11:5300 [dnsdist]=127.0.2.12:5300 [dnsmasq]=127.0.2.13:5300)
declare -A PID
ip link set lo up
for s in $SERVERS; do ip addr add "${ADDR[$s]%:*}/32" dev lo; done   # dnsmasq binds interface addresses
ip addr add "$UP/32" dev lo

tmp=$(mktemp -d /tmp/side-by-side.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- zone and query files (fixed seed) -----------------------------------------
python3 - "$tmp" <<'EOF'
import random, sys
d, r = sys.argv[1], random.Random(1)
with open(f"{d}/zone", "w") as f:
    f.write("$ORIGIN bench.test.\n$TTL 86400\n@ IN SOA ns1 hostmaster 1 3600 600 864000 86400\n"
            "@ IN NS ns1\nns1 IN A 127.0.2.1\n")
    f.writelines(f"h{i} IN A 192.0.{2 + i // 65536}.{i % 254 + 1}\n" for i in range(100000))
q = [f"h{i}.bench.test A" for i in r.sample(range(100000), 1000)] + [f"nx{i}.bench.test A" for i in range(1000)]
r.shuffle(q)
open(f"{d}/queries", "w").write("\n".join(q) + "\n")
open(f"{d}/fill", "w").write("".join(f"h{i}.bench.test A\n" for i in range(100000)))
EOF

# --- processes ----------------------------------------------------------------
launch() { # name cpu cmd... : own process group, pinned
  local name=$1 cpu=$2; shift 2
  setsid taskset -c "$cpu" "$@" >"$tmp/$name.log" 2>&1 &
  PID[$name]=$!; pids+=($!)
}
wait_ready() { # name addr
  local end=$((SECONDS + 10))
  while ((SECONDS < end)) && kill -0 "${PID[$1]}" 2>/dev/null; do
    [[ $(dig @"${2%:*}" -p "${2##*:}" +time=1 +tries=1 +short h1.bench.test A 2>/dev/null) == 192.0.2.2 ]] && return 0
    sleep 0.05
  done
  echo "----- $1 output ($tmp/$1.log) -----" >&2; tail -n 40 "$tmp/$1.log" >&2
  die "$1 did not answer h1.bench.test A on $2 within 10 s"
}

cat >"$tmp/nsd.conf" <<EOF
server:
    server-count: 1
    rrl-ratelimit: 0
    ip-address: $UP@53
    username: ""
    chroot: ""
    database: ""
    zonelistfile: "$tmp/zone.list"
    xfrdfile: "$tmp/xfrd.state"
    xfrdir: "$tmp"
    pidfile: "$tmp/nsd.pid"
    verbosity: 1
remote-control:
    control-enable: no
zone:
    name: "bench.test."
    zonefile: "$tmp/zone"
EOF
launch nsd 1 nsd -d -c "$tmp/nsd.conf"
wait_ready nsd "$UP:53"

start_unbound() {
  cat >"$tmp/unbound.conf" <<EOF
server:
    interface: ${1%:*}@${1##*:}
    num-threads: 1
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "$tmp"
    pidfile: ""
    use-syslog: no
    logfile: ""
    do-ip6: no
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    module-config: "iterator"
    local-zone: "test." nodefault
    msg-cache-size: 128m
    rrset-cache-size: 256m
    so-rcvbuf: 4m
    so-sndbuf: 4m
forward-zone:
    name: "."
    forward-addr: $UP@53
EOF
  launch unbound 0 unbound -d -c "$tmp/unbound.conf"
}
start_dnsdist() {
  cat >"$tmp/dnsdist.conf" <<EOF
setSecurityPollSuffix("")
setLocal("$1")
setACL({"127.0.0.0/8"})
newServer({address="$UP:53", name="nsd", checkName="h0.bench.test.", checkType="A"})
getPool(""):setCache(newPacketCache(200000, {maxTTL=86400, minTTL=0}))
EOF
  launch dnsdist 0 dnsdist --supervised --disable-syslog -C "$tmp/dnsdist.conf"
}
start_dnsmasq() {
  launch dnsmasq 0 dnsmasq -k -C /dev/null --no-resolv --no-hosts --server="$UP#53" \
    --listen-address="${1%:*}" --port="${1##*:}" --bind-interfaces --cache-size=200000 \
    --dns-forward-max=1000 --user=root --pid-file= --log-facility=-
}
start_palanquin() {
  cat >"$tmp/palanquin.toml" <<EOF
[server]
listen = ["$1"]
udp_workers = 1

[resolver]
upstreams = ["$UP:53"]
allow = ["127.0.0.0/8"]
cache_size = 200000
serve_stale = "0s"

[metrics]
listen = "${1%:*}:9153"
EOF
  launch palanquin 0 "$PALANQUIN" serve --config "$tmp/palanquin.toml"
}

dnsperf_run() { # out addr dnsperf-options...
  local out=$1 addr=$2; shift 2
  timeout 120 taskset -c 1 dnsperf -s "${addr%:*}" -p "${addr##*:}" "$@" >"$out" 2>&1 \
    || { tail -n 20 "$out" >&2; die "dnsperf $* against $addr failed"; }
}
field() { awk -v k="$1" 'index($0, k) == 1 { sub(/^[^:]*: */, ""); print $1; exit }' "$2"; }
cpu_ticks() { local s; s=$(<"/proc/$1/stat"); s=${s##*) }; set -- $s; echo $((${12} + ${13})); }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
alive() { kill -0 "${PID[$1]}" 2>/dev/null || { tail -n 40 "$tmp/$1.log" >&2; die "$1 exited"; }; }

for s in $SERVERS; do
  echo "starting $s on ${ADDR[$s]} (CPU 0)" >&2
  "start_$s" "${ADDR[$s]}"
  wait_ready "$s" "${ADDR[$s]}"
  dnsperf_run "$tmp/$s.prime" "${ADDR[$s]}" -d "$tmp/queries" -n 1 -l 60 -Q 5000
done

# --- 1. throughput, interleaved rounds -------------------------------------------
for ((t = 1; t <= TRIALS; t++)); do
  for s in $SERVERS; do
    echo "throughput $s, round $t/$TRIALS (${TRIAL_SECONDS} s)" >&2
    alive "$s"
    c0=$(cpu_ticks "${PID[$s]}") u0=$(cpu_ticks "${PID[nsd]}")
    dnsperf_run "$tmp/$s.tput" "${ADDR[$s]}" -d "$tmp/queries" -l "$TRIAL_SECONDS" "${PERF[@]}"
    c1=$(cpu_ticks "${PID[$s]}") u1=$(cpu_ticks "${PID[nsd]}")
    f="$tmp/$s.tput"
    echo "$(field '  Queries per second:' "$f") $(field '  Run time (s):' "$f") $(field '  Queries completed:' "$f")" \
      "$(field '  Queries lost:' "$f") $((c1 - c0)) $((u1 - u0))" >>"$tmp/$s.trials"
  done
done

# --- 2. latency at a fixed rate --------------------------------------------------
for s in $SERVERS; do
  echo "latency $s at $LAT_QPS qps (${LAT_SECONDS} s)" >&2
  alive "$s"
  dnsperf_run "$tmp/$s.lat" "${ADDR[$s]}" -d "$tmp/queries" -l "$LAT_SECONDS" -Q "$LAT_QPS" -c 32 -q 1000 -v
  rss_kb "${PID[$s]}" >"$tmp/$s.rss"
done

# --- 3. fill the cache with 100,000 names ------------------------------------------
for s in $SERVERS; do
  echo "filling $s with 100,000 names at 20k qps" >&2
  alive "$s"
  dnsperf_run "$tmp/$s.fill" "${ADDR[$s]}" -d "$tmp/fill" -n 1 -l 60 -Q 20000 -c 8 -q 200
  echo "$(rss_kb "${PID[$s]}") $(field '  Queries completed:' "$tmp/$s.fill") $(field '  Queries lost:' "$tmp/$s.fill")" >>"$tmp/$s.rss"
done

# --- report -----------------------------------------------------------------------
python3 - "$tmp" "$OUT" "$(getconf CLK_TCK)" "$LAT_QPS" "${PERF[*]}" $SERVERS <<'EOF'
import json, math, sys
tmp, out, hz, lat_qps, perf_opts, *servers = sys.argv[1:]
hz, MiB = int(hz), 1024

def pct(v, p):  # nearest rank
    x = v[max(0, math.ceil(p / 100 * len(v)) - 1)]
    return None if math.isinf(x) else round(x, 3)

res, warn = {}, []
for s in servers:
    trials = []
    for line in open(f"{tmp}/{s}.trials"):
        qps, run_s, done, lost, ticks, up = line.split()
        qps, run_s, cpu = float(qps), float(run_s), int(ticks) / hz
        share = cpu / run_s
        trials.append({"qps": round(qps), "run_s": run_s, "completed": int(done), "lost": int(lost),
                       "server_cpu_s": cpu, "core_share": round(share, 3),
                       "qps_per_core": round(qps / share) if share else None, "upstream_cpu_s": int(up) / hz})
        if int(lost):
            warn.append(f"{s}: {lost} queries lost in a throughput run")
        if int(up) / hz > 0.05 * run_s:
            warn.append(f"{s}: upstream used {int(up) / hz:.2f} s CPU in a throughput run: not all cache hits?")
    med = sorted(trials, key=lambda t: t["qps_per_core"] or 0)[len(trials) // 2]
    lat, timeouts, achieved = [], 0, None
    for line in open(f"{tmp}/{s}.lat"):
        f = line.split()
        if line.startswith("> ") and len(f) > 1:
            if f[1] == "T":
                timeouts += 1
            elif f[1] != "I":
                lat.append(float(f[-1]) * 1000)
        elif line.startswith("  Queries per second:"):
            achieved = round(float(f[3]))
    v = sorted(lat) + [math.inf] * timeouts
    rss = open(f"{tmp}/{s}.rss").read().split()
    if int(rss[2]) != 100000:
        warn.append(f"{s}: only {rss[2]} of 100000 fill queries answered")
    res[s] = {"qps": med["qps"], "core_share": med["core_share"], "qps_per_core": med["qps_per_core"],
              "trials": trials,
              "latency": {"target_qps": int(lat_qps), "achieved_qps": achieved, "answers": len(lat),
                          "timeouts": timeouts, "p50_ms": pct(v, 50), "p99_ms": pct(v, 99)},
              "rss_kb_after_workload": int(rss[0]), "rss_kb_100k_entries": int(rss[1]),
              "fill": {"completed": int(rss[2]), "lost": int(rss[3])}}

ub = res.get("unbound")
for r in res.values():
    r["qps_per_core_vs_unbound"] = round(r["qps_per_core"] / ub["qps_per_core"], 3) if ub else None
targets = {}
if "palanquin" in res:
    p = res["palanquin"]
    targets = {
        "qps_per_core_ge_1.2x_unbound": (p["qps_per_core_vs_unbound"] >= 1.2) if ub else None,
        "p99_le_unbound": (p["latency"]["p99_ms"] is not None and (ub["latency"]["p99_ms"] is None
                           or p["latency"]["p99_ms"] <= ub["latency"]["p99_ms"])) if ub else None,
        "rss_100k_le_64MiB": p["rss_kb_100k_entries"] <= 64 * MiB}
    p["targets"] = targets

def ms(x): return "timeouts" if x is None else f"{x:.3f}"
hdr = f"{'server':<10} {'QPS':>8} {'share':>6} {'QPS/core':>9} {'vs ub':>6} {'p50 ms':>7} {'p99 ms':>8} {'RSS MiB':>8} {'RSS 100k':>9}"
print(f"\nside-by-side: cache hits (50% NXDOMAIN), dnsperf {perf_opts}, median of {len(trials)} trials; latency at {lat_qps} qps")
print(hdr); print("-" * len(hdr))
for s, r in res.items():
    vs = "" if r["qps_per_core_vs_unbound"] is None else f"{r['qps_per_core_vs_unbound']:.2f}x"
    print(f"{s:<10} {r['qps']:>8} {r['core_share']:>6.2f} {r['qps_per_core']:>9} {vs:>6} {ms(r['latency']['p50_ms']):>7}"
          f" {ms(r['latency']['p99_ms']):>8} {r['rss_kb_after_workload'] / MiB:>8.1f} {r['rss_kb_100k_entries'] / MiB:>9.1f}")
    if s == "palanquin":
        word = {True: "met", False: "MISSED", None: "n/a (no unbound run)"}
        print(f"  targets: QPS/core >= 1.2x unbound: {word[targets['qps_per_core_ge_1.2x_unbound']]};"
              f" p99 <= unbound's: {word[targets['p99_le_unbound']]};"
              f" RSS with 100k entries <= 64 MiB: {word[targets['rss_100k_le_64MiB']]}")
for w in warn:
    print(f"warning: {w}")
json.dump({"workload": {"queries": 2000, "nxdomain_share": 0.5, "dnsperf_throughput_options": perf_opts,
                        "latency_qps": int(lat_qps), "fill_names": 100000},
           "servers": res, "warnings": warn}, open(out, "w"), indent=2)
print(f"JSON: {out}")
EOF
