#!/usr/bin/env bash
# side-by-side.sh: Palanquin next to Unbound, dnsdist (packet cache) and dnsmasq,
# each a caching forwarder in front of the same upstream, driven by the same
# dnsperf query file: 2,000 names, half of them NXDOMAIN, all cache hits.
# Peers: apt-get install -y unbound dnsdist dnsmasq-base dnsperf nsd
#   (benches/install-peers does exactly that; dig is in bind9-dnsutils)
# Run as root from anywhere:   benches/side-by-side.sh     (~3 minutes)
#   SERVERS="reflector unbound dnsdist dnsmasq palanquin" (default, in this order);
#     reflector is the floor: benches/reflector.c, built here with cc, answers
#     each query with itself (QR set), parsing nothing: recvfrom + sendto only.
#     Every server is reported as a ratio to its QPS per core ("vs floor").
#   PALANQUIN (default target/release/palanquin, built if absent)
#   BASELINE=path/to/another/palanquin adds server "baseline" (that binary, the
#     same configuration) to SERVERS: an A/B of two builds within the same rounds.
#   OUT (default /tmp/side-by-side.json)    TRIALS=7 TRIAL_SECONDS=2
#   DNSPERF_OPTS="-c 32 -q 180 -T 2"        LAT_TRIALS=5 LAT_SECONDS=3 LAT_QPS=20000
# The script re-runs itself in a private network namespace (unshare --net)
# whose only interface is loopback: nothing can leave the machine.
# Upstream: NSD on 127.0.2.1:53, bench.test. with h0..h99999 A, RRL off, one
#   server process, pinned to CPU 1 with dnsperf: core 0 is the tested server's.
# Under test: each on its own 127.0.2.x:5300, taskset -c 0, single-threaded where
#   it can be (Unbound num-threads 1; dnsdist one listener plus helper threads;
#   dnsmasq; palanquin udp_workers = 1), forwarding only to 127.0.2.1:53, with
#   the OS's default socket buffers and caches that hold 100k entries.  All run
#   throughout, primed with one pass of the query file; every round visits
#   each server in turn, so drift in the machine's speed hits all alike.
# Measures, per server:
#   1. throughput: taskset -c 1 dnsperf -l TRIAL_SECONDS $DNSPERF_OPTS.  dnsperf
#      saturates first on 2 cores, so the server's CPU time (utime+stime, all
#      threads, /proc/PID/stat) over dnsperf's run time is its share of core 0,
#      and QPS per server core = QPS / share.  Reported: the median round, and
#      the range over rounds.  (-q 180: more overflows a 208 KiB receive buffer.)
#   2. latency: taskset -c 1 dnsperf -Q LAT_QPS -l LAT_SECONDS -c 8 -q 1000 -v,
#      whose -v prints each answer's latency (1 us resolution): p50/p99 by
#      nearest rank, a timed-out query counting as infinitely slow.  Reported:
#      the median over rounds of each (pooled ones are in $OUT too).  On a 2-vCPU
#      VM, p99 is set by multi-ms scheduling hiccups that hit NSD alike.
#   3. VmRSS (/proc/PID/status) after 1 and 2, and after one pass over 100,000
#      distinct names (h0..h99999) at 10k qps (~100k cache entries).
# Prints a table and palanquin's targets (QPS/core >= 1.2x Unbound's, p99 at
# 20k qps <= Unbound's, RSS with 100k entries <= 64 MiB), and writes $OUT.
# Warns of other processes' CPU time on core 0 during a round.  Exits 0 after
# reporting even when targets are missed; 1 if anything fails.
set -euo pipefail

die() { echo "side-by-side.sh: $*" >&2; exit 1; }
ALL="reflector unbound dnsdist dnsmasq palanquin"
SERVERS=${SERVERS:-$ALL${BASELINE:+ baseline}}

if [[ -z ${SIDE_BY_SIDE_NETNS:-} ]]; then   # --- outside: checks, build, re-exec
  [[ $(id -u) -eq 0 ]] || die "must be run as root (network namespace, port 53)"
  (($(nproc) >= 2)) || die "needs 2 CPUs (servers on CPU 0, dnsperf on CPU 1)"
  need() { command -v "$1" >/dev/null || die "$1 not found: apt-get install -y $2 (benches/install-peers has the peers)"; }
  need nsd nsd; need dnsperf dnsperf; need dig bind9-dnsutils; need python3 python3
  need taskset util-linux; need unshare util-linux; need ip iproute2
  for s in $SERVERS; do case $s in
    unbound | dnsdist) need "$s" "$s" ;; dnsmasq) need dnsmasq dnsmasq-base ;; palanquin) ;;
    reflector) need cc gcc ;;
    baseline) [[ -x $(realpath -m -- "${BASELINE:-/nonexistent}") ]] || die "server 'baseline' needs BASELINE=path/to/palanquin" ;;
    *) die "unknown server '$s' in SERVERS (known: $ALL baseline)" ;; esac; done
  # shellcheck source=benches/isolate.sh
  source "$(dirname "$0")/isolate.sh"
  reexec_isolated SIDE_BY_SIDE_NETNS /tmp/side-by-side.json "$@"
fi
# --- inside the private network namespace --------------------------------------
TRIALS=${TRIALS:-7} TRIAL_SECONDS=${TRIAL_SECONDS:-2}
LAT_TRIALS=${LAT_TRIALS:-5} LAT_SECONDS=${LAT_SECONDS:-3} LAT_QPS=${LAT_QPS:-20000}
read -ra PERF <<<"${DNSPERF_OPTS:--c 32 -q 180 -T 2}"
UP=127.0.2.1
declare -A PID ADDR=([palanquin]=127.0.2.10:5300 [unbound]=127.0.2.11:5300 [dnsdist]=127.0.2.12:5300 [dnsmasq]=127.0.2.13:5300 [baseline]=127.0.2.14:5300 [reflector]=127.0.2.15:5300)
declare -A WANT=([reflector]=any)   # what wait_ready expects of h1.bench.test A
ip link set lo up
for a in $UP "${ADDR[@]%:*}"; do ip addr add "$a/32" dev lo; done   # dnsmasq binds interface addresses

tmp=$(mktemp -d /tmp/side-by-side.XXXXXX) pids=()
# shellcheck source=benches/lib.sh
source benches/lib.sh
trap cleanup EXIT; trap 'exit 130' INT TERM

python3 - "$tmp" <<'EOF'   # zone and query files, fixed seed
import random, sys
d, r = sys.argv[1], random.Random(1)
with open(f"{d}/zone", "w") as f:
    f.write("$ORIGIN bench.test.\n$TTL 86400\n@ IN SOA ns1 hostmaster 1 3600 600 864000 86400\n"
            "@ IN NS ns1\nns1 IN A 127.0.2.1\n")
    f.writelines(f"h{i} IN A 192.0.{2 + i // 65536}.{i % 254 + 1}\n" for i in range(100000))
q = [f"h{i}.bench.test A" for i in r.sample(range(100000), 1000)] + [f"nx{i}.bench.test A" for i in range(1000)]
r.shuffle(q); open(f"{d}/queries", "w").write("\n".join(q) + "\n")
open(f"{d}/fill", "w").write("".join(f"h{i}.bench.test A\n" for i in range(100000)))
EOF


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
    pidfile: ""
    use-syslog: no
    logfile: ""
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    module-config: "iterator"
    local-zone: "test." nodefault
    msg-cache-size: 128m
    rrset-cache-size: 256m
forward-zone:
    name: "."
    forward-addr: $UP@53
EOF
  launch unbound 0 unbound -d -c "$tmp/unbound.conf"
}
start_dnsdist() {  # no security polling: it would query the system's resolver
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
start_reflector() { launch reflector 0 "$REFLECTOR" "${1%:*}" "${1##*:}"; }
start_palanquin() { palanquin_as palanquin "$PALANQUIN" "$1"; }
start_baseline() { palanquin_as baseline "$BASELINE" "$1"; }
palanquin_as() { # name binary addr
  local name=$1 bin=$2; shift 2
  cat >"$tmp/$name.toml" <<EOF
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
  launch "$name" 0 "$bin" serve --config "$tmp/$name.toml"
}

for s in $SERVERS; do
  echo "starting $s on ${ADDR[$s]} (CPU 0), priming its cache" >&2
  "start_$s" "${ADDR[$s]}"
  wait_ready "$s" "${ADDR[$s]}" "${WANT[$s]:-}"
  dnsperf_run "$s" "$tmp/$s.prime" -d "$tmp/queries" -n 1 -l 60 -Q 5000
done

for ((t = 1; t <= TRIALS; t++)); do for s in $SERVERS; do   # 1. throughput
    echo "throughput round $t/$TRIALS: $s (${TRIAL_SECONDS} s)" >&2
    c0=$(cpu_ticks "${PID[$s]}") u0=$(cpu_ticks "${PID[nsd]}") k0=$(cpu0_ticks)
    dnsperf_run "$s" "$tmp/out" -d "$tmp/queries" -l "$TRIAL_SECONDS" "${PERF[@]}"
    c1=$(cpu_ticks "${PID[$s]}") u1=$(cpu_ticks "${PID[nsd]}") k1=$(cpu0_ticks)
    echo "$(field 'Queries per second' "$tmp/out") $(field 'Run time (s)' "$tmp/out")" \
      "$(field 'Queries lost' "$tmp/out") $((c1 - c0)) $((u1 - u0)) $((k1 - k0 - c1 + c0))" >>"$tmp/$s.tput"
done; done
for ((t = 1; t <= LAT_TRIALS; t++)); do for s in $SERVERS; do   # 2. latency at a fixed rate
    echo "latency round $t/$LAT_TRIALS: $s at $LAT_QPS qps (${LAT_SECONDS} s)" >&2
    dnsperf_run "$s" "$tmp/$s.lat$t" -d "$tmp/queries" -l "$LAT_SECONDS" -Q "$LAT_QPS" -c 8 -q 1000 -v
done; done
for s in $SERVERS; do   # 3. memory, before and after 100,000 names
  echo "filling $s with 100,000 names at 10k qps" >&2
  rss0=$(rss_kb "${PID[$s]}")
  dnsperf_run "$s" "$tmp/out" -d "$tmp/fill" -n 1 -l 60 -Q 10000 -c 8 -q 100
  echo "$rss0 $(rss_kb "${PID[$s]}") $(field 'Queries completed' "$tmp/out")" >"$tmp/$s.rss"
done

python3 - "$tmp" "$OUT" "$(getconf CLK_TCK)" "$LAT_QPS" "$LAT_TRIALS" "${PERF[*]}" $SERVERS <<'EOF'
import json, math, sys
tmp, out, hz, lat_qps, lat_trials, perf_opts, *servers = sys.argv[1:]
hz, MiB = int(hz), 1024
mid = lambda xs, key=None: sorted(xs, key=key)[len(xs) // 2]   # (upper) median
slow = lambda x: math.inf if x is None else x                   # None = a timeout
ms = lambda x: "timeout" if x is None else f"{x:.3f}"
def pct(v, p):  # nearest rank, None if it falls on a timeout
    x = v[max(0, math.ceil(p / 100 * len(v)) - 1)] if v else math.inf
    return None if math.isinf(x) else round(x, 3)
def latencies(path):
    lat, timeouts = [], 0
    for line in open(path):
        f = line.split()
        if line.startswith("> ") and len(f) > 1:
            if f[1] == "T": timeouts += 1
            elif f[1] != "I": lat.append(float(f[-1]) * 1000)
    return sorted(lat) + [math.inf] * timeouts, timeouts
res, warn = {}, []
for s in servers:
    trials = []
    for line in open(f"{tmp}/{s}.tput"):
        qps, run_s, lost, ticks, up, other = map(float, line.split())
        cpu, up, other = ticks / hz, up / hz, max(0, other) / hz
        share = cpu / run_s
        trials.append({"qps": round(qps), "core_share": round(share, 3), "qps_per_core": round(qps / max(share, 1e-9)),
                       "server_cpu_s": cpu, "run_s": run_s, "lost": int(lost), "upstream_cpu_s": up,
                       "others_cpu0_s": other})
        if lost: warn.append(f"{s}: {lost:.0f} queries lost in a throughput round")
        if up > 0.05 * run_s: warn.append(f"{s}: upstream busy for {up:.2f} s in a throughput round: misses?")
    busy = [t["others_cpu0_s"] / t["run_s"] for t in trials if t["others_cpu0_s"] > 0.05 * t["run_s"]]
    if busy: warn.append(f"{s}: other processes used core 0 in {len(busy)} of {len(trials)} rounds (up to {max(busy):.0%})")
    med = mid(trials, key=lambda t: t["qps_per_core"])
    rounds, pooled, tos = [], [], 0
    for t in range(1, int(lat_trials) + 1):
        v, n = latencies(f"{tmp}/{s}.lat{t}")
        rounds.append({"p50_ms": pct(v, 50), "p99_ms": pct(v, 99), "answers": len(v) - n, "timeouts": n})
        pooled += v; tos += n
    rss0, rss1, filled = map(int, open(f"{tmp}/{s}.rss").read().split())
    if filled != 100000: warn.append(f"{s}: only {filled} of 100000 fill queries answered")
    res[s] = {"qps": med["qps"], "core_share": med["core_share"], "qps_per_core": med["qps_per_core"],
              "throughput_rounds": trials,
              "latency": {"qps": int(lat_qps), "p50_ms": mid([r["p50_ms"] for r in rounds], slow),
                          "p99_ms": mid([r["p99_ms"] for r in rounds], slow), "pooled_p50_ms": pct(sorted(pooled), 50),
                          "pooled_p99_ms": pct(sorted(pooled), 99), "timeouts": tos, "rounds": rounds},
              "rss_kb_after_workload": rss0, "rss_kb_100k_entries": rss1, "fill_answered": filled}
ub, floor = res.get("unbound"), res.get("reflector")
for r in res.values():
    r["qps_per_core_vs_unbound"] = round(r["qps_per_core"] / ub["qps_per_core"], 3) if ub else None
    r["qps_per_core_vs_floor"] = round(r["qps_per_core"] / floor["qps_per_core"], 3) if floor else None
if "palanquin" in res:
    p = res["palanquin"]
    p["targets"] = {"qps_per_core_ge_1.2x_unbound": p["qps_per_core_vs_unbound"] >= 1.2 if ub else None,
                    "p99_le_unbound": (p["latency"]["p99_ms"] is not None
                                       and slow(p["latency"]["p99_ms"]) <= slow(ub["latency"]["p99_ms"])) if ub else None,
                    "rss_100k_le_64MiB": p["rss_kb_100k_entries"] <= 64 * MiB}
hdr = f"{'server':<10} {'QPS':>7} {'share':>5} {'QPS/core':>8} {'(range)':>15} {'vs ub':>6} {'floor':>6} {'p50 ms':>7} {'p99 ms':>7} {'RSS MiB':>7} {'RSS 100k':>8}"
print(f"\ncache hits, 50% NXDOMAIN; dnsperf {perf_opts}; median of {len(trials)} rounds;"
      f" latency at {lat_qps} qps, median of {lat_trials} rounds")
print(hdr); print("-" * len(hdr)); word = {True: "met", False: "MISSED", None: "n/a (no unbound run)"}
for s, r in res.items():
    vs = "" if r["qps_per_core_vs_unbound"] is None else f"{r['qps_per_core_vs_unbound']:.2f}x"
    fl = "" if r["qps_per_core_vs_floor"] is None else f"{r['qps_per_core_vs_floor']:.2f}"
    pc = [t["qps_per_core"] for t in r["throughput_rounds"]]; rng = f"({min(pc)}-{max(pc)})"
    print(f"{s:<10} {r['qps']:>7} {r['core_share']:>5.2f} {r['qps_per_core']:>8} {rng:>15} {vs:>6} {fl:>6} {ms(r['latency']['p50_ms']):>7}"
          f" {ms(r['latency']['p99_ms']):>7} {r['rss_kb_after_workload'] / MiB:>7.1f} {r['rss_kb_100k_entries'] / MiB:>8.1f}")
    if s == "palanquin":
        t = [word[x] for x in r["targets"].values()]
        print(f"  targets: QPS/core >= 1.2x unbound's: {t[0]}; p99 <= unbound's: {t[1]}; RSS with 100k entries <= 64 MiB: {t[2]}")
for w in warn: print(f"warning: {w}")
json.dump({"workload": {"queries": 2000, "nxdomain_share": 0.5, "dnsperf_throughput_options": perf_opts,
                        "latency_qps": int(lat_qps), "fill_names": 100000}, "servers": res, "warnings": warn},
          open(out, "w"), indent=2)
print(f"JSON: {out}")
EOF
