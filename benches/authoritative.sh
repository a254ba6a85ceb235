#!/usr/bin/env bash
# authoritative.sh: Palanquin's authoritative zones next to NSD, Knot and
# PowerDNS, and the floor, on the same zone and query file.
# Peers: benches/install-peers (nsd, knot, pdns-server + pdns-backend-bind, dnsperf).
# Run as root from anywhere:   benches/authoritative.sh     (~4 minutes)
#   SERVERS="reflector palanquin nsd knot pdns" (default, in this order)
#   PALANQUIN (default target/release/palanquin, built if absent)
#   BASELINE=path/to/another/palanquin adds server "baseline" (an A/B in the same rounds)
#   OUT (default /tmp/authoritative.json)   TRIALS=7 TRIAL_SECONDS=2
#   DNSPERF_OPTS="-c 32 -q 180 -T 2"        BIG_RECORDS=1000000 (0: skip the load test)
#   BIG_CPUS=0,1 (the cores the load test allows; 0 pins each server to one)
# The script re-runs itself in a private network namespace (only `lo`).
# Zone bench.test.: h0..h99999 A; queries: 1,000 of those names and 1,000
# names that do not exist (NXDOMAIN), shuffled, fixed seed; all UDP.
# Each server on its own 127.0.3.x:5300, taskset -c 0, one worker where it
# can be (NSD server-count 1; Knot udp-workers 1; PowerDNS one receiver and one
# distributor thread, its packet cache on as shipped; palanquin udp_workers 1),
# dnsperf on CPU 1. The floor ("reflector", benches/reflector.c) answers every
# query with the query itself, QR set, parsing nothing: what the kernel's
# recvfrom/sendto path allows per core here.
# Measures, per server, in rounds that visit each server in turn:
#   throughput: dnsperf -l TRIAL_SECONDS; the server's CPU time (every process
#   of its session, every thread) over dnsperf's run time is its share of
#   core 0, and QPS per core = QPS / share. Reported: the median round, the
#   range, the ratio to the floor and to the best peer (NSD, Knot, PowerDNS).
# Then (LOAD_ROUNDS=3 rounds, median reported) a zone of BIG_RECORDS records (A, AAAA, TXT, MX over BIG_RECORDS/2 names)
# is loaded by palanquin, NSD and Knot in turn, each alone on BIG_CPUS (both
# cores: palanquin compiles answers on every core, NSD loads on one, Knot
# on several): the time from start to the first answer of its SOA, and memory once it answers: VmRSS of the largest
# process and PSS summed over its processes (NSD forks: shared pages count once).
# Targets printed: palanquin >= 0.90 of the floor and ahead of NSD; its load
# time and memory on the big zone no worse than NSD's. Exits 0 after
# reporting even when targets are missed; 1 if anything fails.
set -euo pipefail

die() { echo "authoritative.sh: $*" >&2; exit 1; }
ALL="reflector palanquin nsd knot pdns"
SERVERS=${SERVERS:-$ALL${BASELINE:+ baseline}}

if [[ -z ${AUTHORITATIVE_NETNS:-} ]]; then   # --- outside: checks, build, re-exec
  [[ $(id -u) -eq 0 ]] || die "must be run as root (network namespace)"
  (($(nproc) >= 2)) || die "needs 2 CPUs (servers on CPU 0, dnsperf on CPU 1)"
  need() { command -v "$1" >/dev/null || die "$1 not found: apt-get install -y $2 (benches/install-peers has the peers)"; }
  need dnsperf dnsperf; need dig bind9-dnsutils; need python3 python3; need taskset util-linux
  need unshare util-linux; need ip iproute2; need nsd nsd
  for s in $SERVERS; do case $s in
    knot) need knotd knot ;; pdns) need pdns_server "pdns-server pdns-backend-bind" ;; nsd | palanquin) ;;
    reflector) need cc gcc ;;
    baseline) [[ -x $(realpath -m -- "${BASELINE:-/nonexistent}") ]] || die "server 'baseline' needs BASELINE=path/to/palanquin" ;;
    *) die "unknown server '$s' in SERVERS (known: $ALL baseline)" ;; esac; done
  # shellcheck source=benches/isolate.sh
  source "$(dirname "$0")/isolate.sh"
  reexec_isolated AUTHORITATIVE_NETNS /tmp/authoritative.json "$@"
fi
# --- inside the private network namespace --------------------------------------
TRIALS=${TRIALS:-7} TRIAL_SECONDS=${TRIAL_SECONDS:-2} BIG_RECORDS=${BIG_RECORDS:-1000000}
BIG_CPUS=${BIG_CPUS:-0,1}   # the load test runs alone: each server may use both cores
read -ra PERF <<<"${DNSPERF_OPTS:--c 32 -q 180 -T 2}"
declare -A PID WANT=([reflector]=any) ADDR=([reflector]=127.0.3.9:5300 [palanquin]=127.0.3.10:5300
  [nsd]=127.0.3.11:5300 [knot]=127.0.3.12:5300 [pdns]=127.0.3.13:5300 [baseline]=127.0.3.14:5300)
BIG_AT=127.0.3.20
ip link set lo up
for a in "${ADDR[@]%:*}" $BIG_AT; do ip addr add "$a/32" dev lo; done

tmp=$(mktemp -d /tmp/authoritative.XXXXXX) pids=()
# shellcheck source=benches/lib.sh
source benches/lib.sh
trap cleanup EXIT; trap 'exit 130' INT TERM

python3 - "$tmp" "$BIG_RECORDS" <<'PY'   # zone and query files, fixed seed
import random, sys
d, big, r = sys.argv[1], int(sys.argv[2]), random.Random(1)
head = "$ORIGIN {o}\n$TTL 86400\n@ IN SOA ns1 hostmaster 1 3600 600 864000 86400\n@ IN NS ns1\nns1 IN A 127.0.3.1\n"
with open(f"{d}/zone", "w") as f:
    f.write(head.format(o="bench.test."))
    f.writelines(f"h{i} IN A 192.0.{2 + i // 65536}.{i % 254 + 1}\n" for i in range(100000))
q = [f"h{i}.bench.test A" for i in r.sample(range(100000), 1000)] + [f"nx{i}.bench.test A" for i in range(1000)]
r.shuffle(q); open(f"{d}/queries", "w").write("\n".join(q) + "\n")
with open(f"{d}/big", "w") as f:   # two records per name: A + AAAA, or TXT + MX
    f.write(head.format(o="big.test."))
    for i in range(big // 2):
        if i % 2 == 0:
            f.write(f"n{i} IN A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}\nn{i} IN AAAA 2001:db8::{i >> 16:x}:{i & 0xffff:x}\n")
        else:
            f.write(f"n{i} IN TXT \"record {i}\"\nn{i} IN MX 10 n{i - 1}\n")
PY

nsd_conf() { # file addr origin zonefile
  cat >"$1" <<CONF
server:
    server-count: 1
    rrl-ratelimit: 0
    ip-address: $2
    username: ""
    chroot: ""
    database: ""
    zonelistfile: "$1.zone.list"
    xfrdfile: "$1.xfrd.state"
    xfrdir: "$tmp"
    pidfile: "$1.pid"
remote-control:
    control-enable: no
zone:
    name: "$3"
    zonefile: "$4"
CONF
}
knot_conf() { # file addr origin zonefile
  mkdir -p "$1.d"
  cat >"$1" <<CONF
server:
    listen: $2
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
    rundir: "$1.d"
database:
    storage: "$1.d"
log:
  - target: stderr
    any: info
template:
  - id: default
    storage: "$1.d"
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: $3
    file: "$4"
CONF
}
palanquin_conf() { # file addr origin zonefile
  printf '[server]\nlisten = ["%s"]\nudp_workers = 1\n\n[[zone]]\norigin = "%s"\nfile = "%s"\n' "$2" "$3" "$4" >"$1"
}
start_reflector() { launch reflector 0 "$REFLECTOR" "${1%:*}" "${1##*:}"; }
start_nsd() { nsd_conf "$tmp/nsd.conf" "${1%:*}@${1##*:}" bench.test. "$tmp/zone"; launch nsd 0 nsd -d -c "$tmp/nsd.conf"; }
start_knot() { knot_conf "$tmp/knot.conf" "${1%:*}@${1##*:}" bench.test. "$tmp/zone"; launch knot 0 knotd -c "$tmp/knot.conf"; }
start_pdns() { # no security polling: it would query the system's resolver
  mkdir -p "$tmp/pdns"
  printf 'zone "bench.test" { type master; file "%s"; };\n' "$tmp/zone" >"$tmp/pdns/named.conf"
  : >"$tmp/pdns/pdns.conf"
  launch pdns 0 pdns_server --config-dir="$tmp/pdns" --daemon=no --guardian=no --disable-syslog \
    --local-address="${1%:*}" --local-port="${1##*:}" --launch=bind --bind-config="$tmp/pdns/named.conf" \
    --socket-dir="$tmp/pdns" --receiver-threads=1 --distributor-threads=1 --security-poll-suffix= \
    --setuid= --setgid=
}
start_palanquin() { palanquin_conf "$tmp/palanquin.toml" "$1" bench.test. "$tmp/zone"; launch palanquin 0 "$PALANQUIN" serve --config "$tmp/palanquin.toml"; }
start_baseline() { palanquin_conf "$tmp/baseline.toml" "$1" bench.test. "$tmp/zone"; launch baseline 0 "$BASELINE" serve --config "$tmp/baseline.toml"; }

for s in $SERVERS; do
  echo "starting $s on ${ADDR[$s]} (CPU 0)" >&2
  "start_$s" "${ADDR[$s]}"
  READY_SECONDS=60 wait_ready "$s" "${ADDR[$s]}" "${WANT[$s]:-}"
  dnsperf_run "$s" "$tmp/$s.warm" -d "$tmp/queries" -n 1 -l 60 -Q 5000
done

for ((t = 1; t <= TRIALS; t++)); do for s in $SERVERS; do
    echo "throughput round $t/$TRIALS: $s (${TRIAL_SECONDS} s)" >&2
    c0=$(cpu_ticks "${PID[$s]}" session) k0=$(cpu0_ticks)
    dnsperf_run "$s" "$tmp/out" -d "$tmp/queries" -l "$TRIAL_SECONDS" "${PERF[@]}"
    c1=$(cpu_ticks "${PID[$s]}" session) k1=$(cpu0_ticks)
    echo "$(field 'Queries per second' "$tmp/out") $(field 'Run time (s)' "$tmp/out")" \
      "$(field 'Queries lost' "$tmp/out") $((c1 - c0)) $((k1 - k0 - c1 + c0))" >>"$tmp/$s.tput"
    awk '/Response codes/ { sub(/^.*Response codes: */, ""); print; exit }' "$tmp/out" >"$tmp/$s.rcodes"
done; done

: >"$tmp/big.load"
LOAD_ROUNDS=${LOAD_ROUNDS:-3}
if ((BIG_RECORDS > 0)); then for ((round = 1; round <= LOAD_ROUNDS; round++)); do for s in palanquin nsd knot; do
  [[ " $SERVERS " == *" $s "* ]] || continue
  echo "loading $BIG_RECORDS records into $s (round $round/$LOAD_ROUNDS)" >&2
  case $s in
    palanquin) palanquin_conf "$tmp/big-p.toml" "$BIG_AT:5300" big.test. "$tmp/big"; cmd=("$PALANQUIN" serve --config "$tmp/big-p.toml") ;;
    nsd) nsd_conf "$tmp/big-n.conf" "$BIG_AT@5300" big.test. "$tmp/big"; cmd=(nsd -d -c "$tmp/big-n.conf") ;;
    knot) knot_conf "$tmp/big-k.conf" "$BIG_AT@5300" big.test. "$tmp/big"; cmd=(knotd -c "$tmp/big-k.conf") ;;
  esac
  t0=$(date +%s.%N)
  launch "big-$s" "$BIG_CPUS" "${cmd[@]}"
  until dig @$BIG_AT -p 5300 +time=1 +tries=1 +short big.test SOA 2>/dev/null | grep -q hostmaster; do
    kill -0 "${PID[big-$s]}" 2>/dev/null || { tail -n 20 "$tmp/big-$s.log" >&2; die "$s exited loading the big zone"; }
    sleep 0.05
  done
  t1=$(date +%s.%N)
  [[ $(dig @$BIG_AT -p 5300 +short n2.big.test AAAA) == 2001:db8::2 ]] || die "$s does not serve the big zone's records"
  sleep 1   # forked helpers settle
  largest=0; for p in $(pgrep -s "${PID[big-$s]}"); do r=$(rss_kb "$p"); ((r > largest)) && largest=$r; done
  echo "$s $(python3 -c "print(round($t1 - $t0, 2))") $largest $(pss_kb "${PID[big-$s]}")" >>"$tmp/big.load"
  kill -TERM -- "-${PID[big-$s]}" 2>/dev/null || true
  for _ in {1..50}; do pgrep -s "${PID[big-$s]}" >/dev/null || break; sleep 0.1; done
  kill -KILL -- "-${PID[big-$s]}" 2>/dev/null || true
done; done; fi

python3 - "$tmp" "$OUT" "$(getconf CLK_TCK)" "${PERF[*]}" "$BIG_RECORDS" $SERVERS <<'PY'
import json, sys
tmp, out, hz, perf_opts, big, *servers = sys.argv[1:]
hz, big = int(hz), int(big)
mid = lambda xs, key=None: sorted(xs, key=key)[len(xs) // 2]
res, warn = {}, []
for s in servers:
    trials = []
    for line in open(f"{tmp}/{s}.tput"):
        qps, run_s, lost, ticks, other = map(float, line.split()[:5])
        share = ticks / hz / run_s
        trials.append({"qps": round(qps), "core_share": round(share, 3), "qps_per_core": round(qps / max(share, 1e-9)),
                       "run_s": run_s, "lost": int(lost), "others_cpu0_s": max(0, other) / hz})
        if lost: warn.append(f"{s}: {lost:.0f} queries lost in a throughput round")
    busy = [t["others_cpu0_s"] / t["run_s"] for t in trials if t["others_cpu0_s"] > 0.05 * t["run_s"]]
    if busy: warn.append(f"{s}: other processes used core 0 in {len(busy)} of {len(trials)} rounds (up to {max(busy):.0%})")
    med = mid(trials, key=lambda t: t["qps_per_core"])
    res[s] = {"qps": med["qps"], "core_share": med["core_share"], "qps_per_core": med["qps_per_core"],
              "response_codes": open(f"{tmp}/{s}.rcodes").read().strip(), "throughput_rounds": trials}
floor = res.get("reflector")
peers = [res[p] for p in ("nsd", "knot", "pdns") if p in res]
best = max(peers, key=lambda r: r["qps_per_core"]) if peers else None
for r in res.values():
    r["vs_floor"] = round(r["qps_per_core"] / floor["qps_per_core"], 3) if floor else None
    r["vs_best_peer"] = round(r["qps_per_core"] / best["qps_per_core"], 3) if best else None
rounds = {}
for line in open(f"{tmp}/big.load"):
    s, secs, rss, pss = line.split()
    rounds.setdefault(s, []).append({"load_s": float(secs), "rss_kb": int(rss), "pss_kb": int(pss)})
load = {}
for s, rs in rounds.items():   # the median round by load time; every round kept
    m = mid(rs, key=lambda r: r["load_s"])
    load[s] = {"records": big, **m, "load_s_rounds": [r["load_s"] for r in rs], "pss_kb_max": max(r["pss_kb"] for r in rs)}
print(f"\nauthoritative, bench.test. (100k names), 50% NXDOMAIN; dnsperf {perf_opts}; median of {len(trials)} rounds")
hdr = f"{'server':<10} {'QPS':>7} {'share':>5} {'QPS/core':>8} {'(range)':>15} {'floor':>6} {'vs best':>7}  response codes"
print(hdr); print("-" * len(hdr))
for s, r in res.items():
    pc = [t["qps_per_core"] for t in r["throughput_rounds"]]
    fl = "" if r["vs_floor"] is None else f"{r['vs_floor']:.2f}"
    vb = "" if r["vs_best_peer"] is None else f"{r['vs_best_peer']:.2f}x"
    rng = f"({min(pc)}-{max(pc)})"
    print(f"{s:<10} {r['qps']:>7} {r['core_share']:>5.2f} {r['qps_per_core']:>8} {rng:>15} {fl:>6} {vb:>7}  {r['response_codes']}")
if load:
    print(f"\nzone of {big} records: start to first answer (median round, and every round), memory once answering")
    print(f"{'server':<10} {'load s':>7} {'rounds':>20} {'RSS MiB':>8} {'PSS MiB':>8}")
    for s, l in load.items():
        rs = " ".join(f"{x:.2f}" for x in l["load_s_rounds"])
        print(f"{s:<10} {l['load_s']:>7.2f} {rs:>20} {l['rss_kb'] / 1024:>8.1f} {l['pss_kb'] / 1024:>8.1f}")
targets = {}
if "palanquin" in res:
    p = res["palanquin"]
    if floor: targets["qps_per_core_ge_0.90_floor"] = p["vs_floor"] >= 0.90
    if "nsd" in res: targets["ahead_of_nsd"] = p["qps_per_core"] > res["nsd"]["qps_per_core"]
if "palanquin" in load and "nsd" in load:
    targets["load_time_le_nsd"] = load["palanquin"]["load_s"] <= load["nsd"]["load_s"]
    targets["memory_le_nsd"] = load["palanquin"]["pss_kb"] <= load["nsd"]["pss_kb"]
word = {True: "met", False: "MISSED"}
if targets: print("targets: " + "; ".join(f"{k}: {word[v]}" for k, v in targets.items()))
for w in warn: print(f"warning: {w}")
json.dump({"workload": {"names": 100000, "queries": 2000, "nxdomain_share": 0.5, "dnsperf_options": perf_opts},
           "servers": res, "big_zone": load, "targets": targets, "warnings": warn}, open(out, "w"), indent=2)
print(f"JSON: {out}")
PY
