#!/usr/bin/env bash
# pools.sh: what health-checked pools cost. Two parts.
# Peers: benches/install-peers (pdns-server + pdns-backend-bind, dnsperf).
# Run as root from anywhere:   benches/pools.sh     (~3 minutes)
#   SERVERS="reflector palanquin pdns" (default)   TRIALS=9 TRIAL_SECONDS=2
#   PALANQUIN (default target/release/palanquin, built if absent)
#   MEMBERS=10000 CHECK_SECONDS=10 CHECK_ROUNDS=3 (part 2; MEMBERS=0 skips it)
#   OUT (default /tmp/pools.json)   DNSPERF_OPTS="-c 32 -q 180 -T 2"
# The script re-runs itself in a private network namespace (only `lo`).
#
# 1. Answers. Zone pools.test.: h0..h99999, 4 A each (static, a plain round
#    robin, the same answer size) and p0..p99, each a
#    pool of 4 members (127.0.5.1-4, checked over TCP every second; a
#    listener in the namespace accepts on port 8080). Two query files of
#    1,000 names each, shuffled, fixed seed: static names, and pool names.
#    Palanquin (udp_workers 1) and PowerDNS (LUA records: ifportup(8080,
#    {the 4 members}), the same zone in its bind backend, one receiver and
#    one distributor thread, packet cache as shipped) on CPU 0, dnsperf on
#    CPU 1; the floor ("reflector", benches/reflector.c) as in
#    authoritative.sh. Rounds visit every (server, query file) in turn;
#    QPS per core = QPS / the server's share of core 0. Reported: the median
#    round, each as a ratio to the floor, and pool names / static names of
#    the same server as the median of the rounds' own ratios (the two run
#    back to back in each round; the VM's speed drifts between rounds). Target: palanquin's pool names within 10% of its
#    static names (ratio >= 0.90).
#    Palanquin answers all live members (max 8, so 4); PowerDNS's ifportup
#    answers one, picked at random, and its packet cache keeps an answer
#    for the record's TTL (set to 1 s here, as its docs advise for LUA).
# 2. Checks. Palanquin alone on CPU 0 with one pool of MEMBERS members
#    (127.1.x.y), a tcp check every 1 s (timeout 500 ms); the listener on
#    CPU 1 counts connections per 100 ms slot of each second. After every
#    member is up (and 3 s more), palanquin's CPU time over CHECK_SECONDS
#    is its share of one core; the spread is the connections per slot
#    (an even spread: 10% per slot), over the first round's window. Target:
#    at most 10% of one core. CHECK_ROUNDS=3 rounds of CHECK_SECONDS=10 s,
#    each the floor (palanquin paused with SIGSTOP) and then palanquin.
#    The floor: benches/connector.c making the same connections a second,
#    closed the same way, on its own: on loopback the kernel's
#    work for both ends of each connection is charged to the connecting
#    process, so this is what the checks cost before any checker's own work.
# Exits 0 after reporting even when targets are missed; 1 if anything fails.
set -euo pipefail

die() { echo "pools.sh: $*" >&2; exit 1; }
ALL="reflector palanquin pdns"
SERVERS=${SERVERS:-$ALL}

if [[ -z ${POOLS_NETNS:-} ]]; then   # --- outside: checks, build, re-exec
  [[ $(id -u) -eq 0 ]] || die "must be run as root (network namespace)"
  (($(nproc) >= 2)) || die "needs 2 CPUs (servers on CPU 0, dnsperf on CPU 1)"
  need() { command -v "$1" >/dev/null || die "$1 not found: apt-get install -y $2 (benches/install-peers has the peers)"; }
  need dnsperf dnsperf; need dig bind9-dnsutils; need python3 python3; need taskset util-linux
  need unshare util-linux; need ip iproute2; need cc gcc
  for s in $SERVERS; do case $s in
    pdns) need pdns_server "pdns-server pdns-backend-bind" ;; palanquin) ;;
    reflector) ;;
    *) die "unknown server '$s' in SERVERS (known: $ALL)" ;; esac; done
  # shellcheck source=benches/isolate.sh
  source "$(dirname "$0")/isolate.sh"
  reexec_isolated POOLS_NETNS /tmp/pools.json "$@"
fi
# --- inside the private network namespace --------------------------------------
TRIALS=${TRIALS:-9} TRIAL_SECONDS=${TRIAL_SECONDS:-2} MEMBERS=${MEMBERS:-10000} CHECK_SECONDS=${CHECK_SECONDS:-10}
CHECK_ROUNDS=${CHECK_ROUNDS:-3}
read -ra PERF <<<"${DNSPERF_OPTS:--c 32 -q 180 -T 2}"
declare -A PID WANT=([reflector]=any [palanquin]=any [pdns]=any) ADDR=([reflector]=127.0.5.9:5300 [palanquin]=127.0.5.10:5300
  [pdns]=127.0.5.13:5300 [checks]=127.0.5.20:5300)
ip link set lo up   # 127.0.0.0/8 is local: every 127.x.y.z is an address of lo
sysctl -qw net.core.somaxconn=65535   # this namespace's: the listener's backlog

tmp=$(mktemp -d /tmp/pools.XXXXXX) pids=()
# shellcheck source=benches/lib.sh
source benches/lib.sh
trap cleanup EXIT; trap 'exit 130' INT TERM

python3 - "$tmp" "$MEMBERS" <<'PY'   # zones, configs' pool tables, query files (fixed seed)
import random, sys
d, members, r = sys.argv[1], int(sys.argv[2]), random.Random(1)
head = "$ORIGIN pools.test.\n$TTL 86400\n@ IN SOA ns1 hostmaster 1 3600 600 864000 86400\n@ IN NS ns1\nns1 IN A 127.0.5.1\n"
# Each static name is a plain DNS round robin of 4 addresses: what a pool of 4 replaces,
# and the same answer size as a pool's.
static = [f"h{i} IN A 192.0.{2 + i // 65536}.{i % 254 + 1}\n" + "".join(f"h{i} IN A 198.51.{k}.{i % 254 + 1}\n" for k in range(3)) for i in range(100000)]
four = ["127.0.5.1", "127.0.5.2", "127.0.5.3", "127.0.5.4"]
with open(f"{d}/zone", "w") as f:
    f.write(head); f.writelines(static)
with open(f"{d}/pdns.zone", "w") as f:   # the same names; the pools as LUA records
    f.write(head); f.writelines(static)
    lua = ", ".join(f"'{m}'" for m in four)
    f.writelines(f"p{i} 1 IN LUA A \"ifportup(8080, {{{lua}}})\"\n" for i in range(100))
with open(f"{d}/pools.toml", "w") as f:
    for i in range(100):
        f.write(f'[[zone.pool]]\nname = "p{i}"\nttl = 1\nmembers = {four!r}\n'.replace("'", '"'))
        f.write('check = { kind = "tcp", port = 8080, interval = "1s", timeout = "500ms" }\n')
with open(f"{d}/many.toml", "w") as f:
    addrs = [f"127.1.{i // 250}.{i % 250 + 1}" for i in range(members)]
    f.write('[[zone.pool]]\nname = "many"\nmembers = [' + ", ".join(f'"{a}"' for a in addrs) + "]\n")
    f.write('check = { kind = "tcp", port = 8080, interval = "1s", timeout = "500ms", rise = 1, fall = 2 }\n')
names = r.sample(range(100000), 1000)
open(f"{d}/q.static", "w").write("".join(f"h{i}.pools.test A\n" for i in names))
pools = [f"p{i % 100}.pools.test A\n" for i in range(1000)]
r.shuffle(pools); open(f"{d}/q.pool", "w").write("".join(pools))
PY

# The members: one listener on every address (port 8080) that accepts and
# closes, counting connections per 100 ms slot of the second.
cat >"$tmp/listener.py" <<'PY'
import socket, sys, time, json, signal
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(65535)
import os
slots, total, out, state, n = [0] * 10, 0, sys.argv[1], 0, 0   # state: 0 waiting, 1 counting, 2 done
while True:
    c, _ = s.accept(); c.close(); n += 1
    if state == 1: slots[int(time.time() * 10) % 10] += 1; total += 1
    if n % 256 == 0:
        if state == 0 and os.path.exists(out + ".go"): state = 1
        elif state == 1 and os.path.exists(out + ".stop"):
            json.dump({"slots": slots, "total": total}, open(out, "w")); state = 2
PY
launch listener 1 python3 "$tmp/listener.py" "$tmp/slots.json"
CONNECTOR=$tmp/connector
cc -O2 -o "$CONNECTOR" benches/connector.c || die "cannot build benches/connector.c"

palanquin_conf() { # file addr pools-file
  printf '[server]\nlisten = ["%s"]\nudp_workers = 1\n[metrics]\nlisten = "%s:9153"\n\n[[zone]]\norigin = "pools.test."\nfile = "%s"\n' \
    "$2" "${2%:*}" "$tmp/zone" >"$1"
  cat "$3" >>"$1"
}
start_reflector() { launch reflector 0 "$REFLECTOR" "${1%:*}" "${1##*:}"; }
start_palanquin() { palanquin_conf "$tmp/palanquin.toml" "$1" "$tmp/pools.toml"; launch palanquin 0 "$PALANQUIN" serve --config "$tmp/palanquin.toml"; }
start_pdns() { # no security polling: it would query the system's resolver
  mkdir -p "$tmp/pdns"
  printf 'zone "pools.test" { type master; file "%s"; };\n' "$tmp/pdns.zone" >"$tmp/pdns/named.conf"
  : >"$tmp/pdns/pdns.conf"
  launch pdns 0 pdns_server --config-dir="$tmp/pdns" --daemon=no --guardian=no --disable-syslog \
    --local-address="${1%:*}" --local-port="${1##*:}" --launch=bind --bind-config="$tmp/pdns/named.conf" \
    --socket-dir="$tmp/pdns" --receiver-threads=1 --distributor-threads=1 --security-poll-suffix= \
    --setuid= --setgid= --enable-lua-records=yes
}
wait_pool() { # addr: p0.pools.test answers 127.0.5.x
  local end=$((SECONDS + 30))
  until dig @"${1%:*}" -p "${1##*:}" +time=1 +tries=1 +short p0.pools.test A 2>/dev/null | grep -q '^127\.0\.5\.'; do
    ((SECONDS < end)) || die "no pool answer from $1"; sleep 0.1
  done
}

for s in $SERVERS; do
  echo "starting $s on ${ADDR[$s]} (CPU 0)" >&2
  "start_$s" "${ADDR[$s]}"
  READY_SECONDS=60 wait_ready "$s" "${ADDR[$s]}" "${WANT[$s]:-}"
  [[ $s == reflector ]] || wait_pool "${ADDR[$s]}"
  for q in static pool; do dnsperf_run "$s" "$tmp/$s.warm" -d "$tmp/q.$q" -n 1 -l 60 -Q 5000; done
done

for ((t = 1; t <= TRIALS; t++)); do for s in $SERVERS; do for q in static pool; do
  [[ $s == reflector && $q == pool ]] && continue
  echo "throughput round $t/$TRIALS: $s, $q names (${TRIAL_SECONDS} s)" >&2
  c0=$(cpu_ticks "${PID[$s]}" session)
  dnsperf_run "$s" "$tmp/out" -d "$tmp/q.$q" -l "$TRIAL_SECONDS" "${PERF[@]}"
  c1=$(cpu_ticks "${PID[$s]}" session)
  echo "$(field 'Queries per second' "$tmp/out") $(field 'Run time (s)' "$tmp/out") $(field 'Queries lost' "$tmp/out") $((c1 - c0))" >>"$tmp/$s.$q.tput"
  awk '/Response codes/ { sub(/^.*Response codes: */, ""); print; exit }' "$tmp/out" >"$tmp/$s.$q.rcodes"
done; done; done
for s in palanquin pdns; do [[ -n ${PID[$s]:-} ]] && kill -TERM "${PID[$s]}" 2>/dev/null || true; done

: >"$tmp/checks"
if ((MEMBERS > 0)) && [[ " $SERVERS " == *" palanquin "* ]]; then
  echo "checks: $MEMBERS members every second (palanquin on CPU 0)" >&2
  palanquin_conf "$tmp/checks.toml" "${ADDR[checks]}" "$tmp/many.toml"
  launch checks 0 "$PALANQUIN" serve --config "$tmp/checks.toml"
  end=$((SECONDS + 60))
  up() { python3 -c "import urllib.request as u; print(sum(1 for l in u.urlopen('http://$1:9153/metrics').read().decode().splitlines() if l.startswith('palanquin_pool_member_up{') and l.endswith(' 1')))" 2>/dev/null || echo 0; }
  until (($(up "${ADDR[checks]%:*}") >= MEMBERS)); do
    alive checks; ((SECONDS < end)) || die "not every member came up within 60 s"; sleep 0.5
  done
  grep -m1 'first round of pool checks' "$tmp/checks.log" >"$tmp/first-round" || true
  sleep 3
  : >"$tmp/checks"
  for ((r = 1; r <= CHECK_ROUNDS; r++)); do
    # The floor, palanquin paused: benches/connector.c, the same connections.
    echo "checks round $r/$CHECK_ROUNDS: floor (connector), then palanquin (${CHECK_SECONDS} s each)" >&2
    kill -STOP "${PID[checks]}"
    launch connector 0 "$CONNECTOR" "$MEMBERS" 8080 $((CHECK_SECONDS + 2))
    sleep 1; f0=$(cpu_ticks "${PID[connector]}") ft0=$(date +%s.%N)
    sleep "$CHECK_SECONDS"
    f1=$(cpu_ticks "${PID[connector]}") ft1=$(date +%s.%N)
    wait "${PID[connector]}" || die "connector failed"
    read -r _ failed <"$tmp/connector.log"; ((failed == 0)) || die "connector: $failed connections failed"
    kill -CONT "${PID[checks]}"; sleep 3   # the checks due while paused run, then settle
    ((r == 1)) && { : >"$tmp/slots.json.go"; sleep 0.5; }
    c0=$(cpu_ticks "${PID[checks]}") t0=$(date +%s.%N)
    sleep "$CHECK_SECONDS"
    c1=$(cpu_ticks "${PID[checks]}") t1=$(date +%s.%N)
    ((r == 1)) && : >"$tmp/slots.json.stop"
    alive checks
    echo "$((f1 - f0)) $ft0 $ft1 $((c1 - c0)) $t0 $t1" >>"$tmp/checks"
  done
  for _ in {1..50}; do [[ -s $tmp/slots.json ]] && break; sleep 0.1; done
  grep -c 'pool member down' "$tmp/checks.log" >"$tmp/downs" || true
fi

python3 - "$tmp" "$OUT" "$(getconf CLK_TCK)" "${PERF[*]}" "$MEMBERS" $SERVERS <<'PY'
import json, sys, os
tmp, out, hz, perf_opts, members, *servers = sys.argv[1:]
hz, members = int(hz), int(members)
mid = lambda xs, key=None: sorted(xs, key=key)[len(xs) // 2]
res = {}
for s in servers:
    for q in ("static", "pool"):
        path = f"{tmp}/{s}.{q}.tput"
        if not os.path.exists(path): continue
        trials = []
        for line in open(path):
            qps, run_s, lost, ticks = map(float, line.split()[:4])
            share = ticks / hz / run_s
            trials.append({"qps": round(qps), "core_share": round(share, 3), "qps_per_core": round(qps / max(share, 1e-9)), "lost": int(lost)})
        m = mid(trials, key=lambda t: t["qps_per_core"])
        res[f"{s} {q}"] = {**m, "rounds": [t["qps_per_core"] for t in trials],
                           "response_codes": open(f"{tmp}/{s}.{q}.rcodes").read().strip()}
floor = res.get("reflector static")
print(f"\npools.test.: 100k static names of 4 A each, 100 pools of 4 members; dnsperf {perf_opts}; median of {len(trials)} rounds")
hdr = f"{'server, names':<18} {'QPS':>7} {'share':>5} {'QPS/core':>8} {'(range)':>15} {'floor':>6}  response codes"
print(hdr); print("-" * len(hdr))
for k, r in res.items():
    r["vs_floor"] = round(r["qps_per_core"] / floor["qps_per_core"], 3) if floor else None
    fl = "" if r["vs_floor"] is None else f"{r['vs_floor']:.2f}"
    print(f"{k:<18} {r['qps']:>7} {r['core_share']:>5.2f} {r['qps_per_core']:>8} {'(%d-%d)' % (min(r['rounds']), max(r['rounds'])):>15} {fl:>6}  {r['response_codes']}")
ratios = {}
for s in ("palanquin", "pdns"):
    if f"{s} static" in res and f"{s} pool" in res:
        # Each round measures static then pool names back to back: the
        # median of the rounds' own ratios is steadier than a ratio of medians.
        paired = [p / q for q, p in zip(res[f"{s} static"]["rounds"], res[f"{s} pool"]["rounds"])]
        ratios[s] = round(mid(paired), 3)
        print(f"{s}: pool names / static names = {ratios[s]:.3f} (median of the rounds' ratios; "
              f"range {min(paired):.2f}-{max(paired):.2f})")
if "palanquin pool" in res and "pdns pool" in res:
    print(f"palanquin pool names / pdns LUA pool names = {res['palanquin pool']['qps_per_core'] / res['pdns pool']['qps_per_core']:.2f}x")
checks = None
rounds = [list(map(float, l.split())) for l in open(f"{tmp}/checks") if l.strip()] if os.path.exists(f"{tmp}/checks") else []
if rounds:
    floor_shares = [ft / hz / (f1 - f0) for ft, f0, f1, _, _, _ in rounds]
    shares = [ct / hz / (t1 - t0) for _, _, _, ct, t0, t1 in rounds]
    paired = [p / f for f, p in zip(floor_shares, shares)]
    slots = json.load(open(f"{tmp}/slots.json"))
    total = sum(slots["slots"])
    spread = [round(c / total, 4) for c in slots["slots"]] if total else []
    first = open(f"{tmp}/first-round").read().strip()
    checks = {"members": members, "rounds": len(rounds), "seconds_each": round(rounds[0][5] - rounds[0][4], 1),
              "core_share": round(mid(shares), 4), "core_share_rounds": [round(x, 4) for x in shares],
              "floor_core_share": round(mid(floor_shares), 4), "floor_rounds": [round(x, 4) for x in floor_shares],
              "vs_floor": round(mid(paired), 2), "checks_per_second": round(total / (rounds[0][5] - rounds[0][4])),
              "slot_shares": spread, "down_lines": int(open(f"{tmp}/downs").read() or 0),
              "first_round": first[first.find("first round"):] if first else None}
    print(f"\nchecks: {members} members, tcp every 1 s: {checks['core_share']:.1%} of one core (median of {len(rounds)} rounds: "
          + " ".join(f"{x:.1%}" for x in shares) + f"), {checks['checks_per_second']} checks/s at the listener")
    print(f"floor (connector.c, the same connections and nothing else): {checks['floor_core_share']:.1%} ("
          + " ".join(f"{x:.1%}" for x in floor_shares) + f"); palanquin = {checks['vs_floor']}x the floor (median of the rounds' ratios)")
    if spread: print("spread over each second (share per 100 ms slot): " + " ".join(f"{x:.3f}" for x in spread))
    if checks["first_round"]: print(checks["first_round"])
targets = {}
if "palanquin" in ratios: targets["pool_names_within_10pct_of_static"] = ratios["palanquin"] >= 0.90
if checks: targets["checks_le_10pct_of_a_core"] = checks["core_share"] <= 0.10
word = {True: "met", False: "MISSED"}
if targets: print("targets: " + "; ".join(f"{k}: {word[v]}" for k, v in targets.items()))
json.dump({"answers": res, "pool_over_static": ratios, "checks": checks, "targets": targets, "dnsperf": perf_opts},
          open(out, "w"), indent=1)
print(f"written {out}")
PY
