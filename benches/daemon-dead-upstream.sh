#!/usr/bin/env bash
# daemon-dead-upstream.sh: a caching forwarder with two upstreams, the FIRST one
# black-holed (reads UDP and TCP, never answers): how long do its first uncached
# query after start and the uncached queries after it take?  Palanquin next to
# Unbound, dnsdist and dnsmasq.  Peers: benches/install-peers.
# Run as root from anywhere:   benches/daemon-dead-upstream.sh   (~40 s)
#   SERVERS="palanquin unbound dnsdist dnsmasq" (default; dnsmasq-strict, i.e.
#   --strict-order, is opt-in: without client retries each of its queries times out)
#   RUNS=5 QUERIES=51 QUERY_TIMEOUT=10 (s) MAX_TIMEOUTS=3 (per run, then the rest of
#   the run is skipped) OUT=/tmp/daemon-dead-upstream.json MAX_SECONDS=900
#   PALANQUIN (default target/release/palanquin, built if absent)
# Re-runs itself in a private network namespace (unshare --net) with only loopback:
# nothing can leave the machine.  Black hole (python3, logs what it gets) on
# 127.0.3.1:53, NSD on 127.0.3.2:53 serving bench.test. (h0..h999 A, RRL off); each
# server on its own 127.0.3.x:5300, upstreams 127.0.3.1:53 then 127.0.3.2:53, else its
# defaults (dnsdist: default policy, health checks of h0.bench.test).
# Per run (RUNS fresh starts of each server, interleaved): start the client, then
# the server; poll it with CH TXT version.bind, answered by each server itself
# (Unbound, dnsmasq: built in; palanquin: REFUSED for class CH; dnsdist: a rule),
# so readiness sends nothing upstream and warms no cache; at once ask h1 (the first
# uncached query), then h2..hQUERIES one after another (UDP, fresh socket each,
# timed send to reply with perf_counter); stop the server.
# Reports: launch->ready, query 1 (median/max over runs), the slowest of queries 2..N
# (median/max over runs), how many took > 20 / > 50 ms, failures, messages the black
# hole got; palanquin's targets: query 1 <= 50 ms and queries 2..N < 20 ms in every
# run, no failures.  JSON to $OUT.  Exits 0 after reporting even when targets are
# missed; 1 if the setup fails.
set -euo pipefail

die() { echo "daemon-dead-upstream.sh: $*" >&2; exit 1; }
ALL="palanquin unbound dnsdist dnsmasq dnsmasq-strict"
SERVERS=${SERVERS:-palanquin unbound dnsdist dnsmasq}

if [[ -z ${DAEMON_DEAD_NETNS:-} ]]; then   # --- outside: checks, build, re-exec
  [[ $(id -u) -eq 0 ]] || die "must be run as root (network namespace, port 53)"
  need() { command -v "$1" >/dev/null || die "$1 not found: apt-get install -y $2 (benches/install-peers has the peers)"; }
  need nsd nsd; need dig bind9-dnsutils; need python3 python3; need taskset util-linux
  need unshare util-linux; need ip iproute2
  for s in $SERVERS; do case $s in
    unbound | dnsdist) need "$s" "$s" ;; dnsmasq | dnsmasq-strict) need dnsmasq dnsmasq-base ;; palanquin) ;;
    *) die "unknown server '$s' in SERVERS (known: $ALL)" ;; esac; done
  # shellcheck source=benches/isolate.sh
  source "$(dirname "$0")/isolate.sh"
  reexec_isolated DAEMON_DEAD_NETNS /tmp/daemon-dead-upstream.json "$@"
fi
# --- inside the private network namespace --------------------------------------
RUNS=${RUNS:-5} QUERIES=${QUERIES:-51} QUERY_TIMEOUT=${QUERY_TIMEOUT:-10} MAX_TIMEOUTS=${MAX_TIMEOUTS:-3}
DEAD=127.0.3.1 LIVE=127.0.3.2
declare -A PID ADDR=([palanquin]=127.0.3.10:5300 [unbound]=127.0.3.11:5300 [dnsdist]=127.0.3.12:5300
  [dnsmasq]=127.0.3.13:5300 [dnsmasq-strict]=127.0.3.14:5300)
ip link set lo up
for a in $DEAD $LIVE "${ADDR[@]%:*}"; do ip addr add "$a/32" dev lo; done   # dnsmasq binds interface addresses

tmp=$(mktemp -d /tmp/daemon-dead-upstream.XXXXXX) pids=()
forget() { local q keep=(); for q in "${pids[@]}"; do [[ $q == "$1" ]] || keep+=("$q"); done; pids=("${keep[@]}"); }
stop() { # pid: TERM it, KILL its session after 5 s (each is a session leader), reap
  kill -TERM "$1" 2>/dev/null || true
  for _ in {1..50}; do pgrep -s "$1" >/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; forget "$1"
}
cleanup() { local p; for p in "${pids[@]}"; do stop "$p"; done; rm -rf "$tmp"; }
trap cleanup EXIT; trap 'exit 130' INT TERM
launch() { # name cpu cmd... : own session, pinned, output appended to $tmp/name.log
  local name=$1 cpu=$2; shift 2
  setsid taskset -c "$cpu" "$@" >>"$tmp/$name.log" 2>&1 &
  PID[$name]=$!; pids+=($!)
}

{ printf '$ORIGIN bench.test.\n$TTL 86400\n@ IN SOA ns1 hostmaster 1 3600 600 864000 86400\n@ IN NS ns1\n'
  echo "ns1 IN A $LIVE"; for i in {0..999}; do echo "h$i IN A 192.0.2.$((i % 254 + 1))"; done; } >"$tmp/zone"
cat >"$tmp/blackhole.py" <<'EOF'
import selectors, socket, sys
addr, log, sel = (sys.argv[1], 53), open(sys.argv[2], "a", buffering=1), selectors.DefaultSelector()
def qname(m, i=12, out=()):
    while i < len(m) and m[i] and len(out) < 64: out += (m[i + 1:i + 1 + m[i]].decode(errors="replace"),); i += 1 + m[i]
    return ".".join(out) + "."
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(addr)
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(addr); t.listen(128)
sel.register(u, selectors.EVENT_READ); sel.register(t, selectors.EVENT_READ); open(sys.argv[3], "w").close()
while True:
    for key, _ in sel.select():
        if (s := key.fileobj) is t:
            c, _ = t.accept(); sel.register(c, selectors.EVENT_READ); log.write("tcp connection\n")
        elif s is u: log.write(f"udp {qname(u.recvfrom(65535)[0])}\n")   # never answered
        elif not s.recv(65535): sel.unregister(s); s.close()
EOF
launch blackhole 1 python3 "$tmp/blackhole.py" $DEAD "$tmp/blackhole.log" "$tmp/blackhole.ready"
cat >"$tmp/nsd.conf" <<EOF
server: server-count: 1 rrl-ratelimit: 0 ip-address: $LIVE@53 username: "" chroot: "" database: ""
    pidfile: "$tmp/nsd.pid" zonelistfile: "$tmp/zone.list" xfrdfile: "$tmp/xfrd.state" xfrdir: "$tmp"
remote-control: control-enable: no
zone: name: "bench.test." zonefile: "$tmp/zone"
EOF
launch nsd 1 nsd -d -c "$tmp/nsd.conf"
for ((i = 0; ; i++)); do
  [[ -e $tmp/blackhole.ready && $(dig @$LIVE +norec +time=1 +tries=1 +short h0.bench.test A 2>/dev/null) == 192.0.2.1 ]] && break
  ((i < 200)) && kill -0 "${PID[nsd]}" 2>/dev/null && kill -0 "${PID[blackhole]}" 2>/dev/null \
    || { tail -n 20 "$tmp/nsd.log" "$tmp/blackhole.log" >&2; die "NSD or the black hole did not come up"; }
  sleep 0.05
done

start_unbound() { # side-by-side.sh's settings, two forward-addrs
  cat >"$tmp/unbound.conf" <<EOF
server: interface: ${1%:*}@${1##*:} access-control: 127.0.0.0/8 allow do-not-query-localhost: no
    num-threads: 1 do-daemonize: no username: "" chroot: "" pidfile: "" use-syslog: no logfile: ""
    module-config: "iterator" local-zone: "test." nodefault msg-cache-size: 128m rrset-cache-size: 256m
forward-zone: name: "." forward-addr: $DEAD@53 forward-addr: $LIVE@53
EOF
  launch unbound 0 unbound -d -c "$tmp/unbound.conf"
}
start_dnsdist() {  # no security polling: it would query the system's resolver
  cat >"$tmp/dnsdist.conf" <<EOF
setSecurityPollSuffix("")
setLocal("$1") setACL({"127.0.0.0/8"})
addAction(QClassRule(DNSClass.CHAOS), RCodeAction(DNSRCode.REFUSED))
newServer({address="$DEAD:53", name="dead", checkName="h0.bench.test.", checkType="A"})
newServer({address="$LIVE:53", name="nsd", checkName="h0.bench.test.", checkType="A"})
getPool(""):setCache(newPacketCache(200000, {maxTTL=86400, minTTL=0}))
EOF
  launch dnsdist 0 dnsdist --supervised --disable-syslog -C "$tmp/dnsdist.conf"
}
dnsmasq_on() { # name addr [options]
  local n=$1 a=$2; shift 2
  launch "$n" 0 dnsmasq -k -C /dev/null --no-resolv --no-hosts --server="$DEAD#53" --server="$LIVE#53" \
    --listen-address="${a%:*}" --port="${a##*:}" --bind-interfaces --cache-size=200000 \
    --dns-forward-max=1000 --user=root --pid-file= --log-facility=- "$@"
}
start_dnsmasq() { dnsmasq_on dnsmasq "$1"; }
start_dnsmasq-strict() { dnsmasq_on dnsmasq-strict "$1" --strict-order; }
start_palanquin() {
  printf '[server]\nlisten = ["%s"]\nudp_workers = 1\n\n[resolver]\nupstreams = ["%s:53", "%s:53"]\n%s\n' "$1" $DEAD $LIVE \
    'allow = ["127.0.0.0/8"]
cache_size = 200000
serve_stale = "0s"' >"$tmp/palanquin.toml"
  launch palanquin 0 "$PALANQUIN" serve --config "$tmp/palanquin.toml"
}

cat >"$tmp/measure.py" <<'EOF'
# dir addr blackhole_log queries timeout max_timeouts server run: touch dir/up, wait for dir/pid
# (written right after the server's launch), probe, measure, append a JSON line to dir/results
import json, os, random, socket, struct, sys, time
d, addr, bhlog, n, tmo, max_to, server, run = sys.argv[1:]
host, port, n, tmo, max_to = addr.rsplit(":", 1)[0], int(addr.rsplit(":", 1)[1]), int(n), float(tmo), int(max_to)
dead = lambda: sum(1 for _ in open(bhlog))
def ask(name, timeout, qtype=1, qclass=1):  # -> (ms or None, rcode or "timeout"/"refused", answers)
    qid = random.getrandbits(16)
    msg = struct.pack(">6H", qid, 0x0100, 1, 0, 0, 0) + b"".join(
        bytes([len(l)]) + l.encode() for l in name.split(".") if l) + b"\0" + struct.pack(">HH", qtype, qclass)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((host, port)); t = time.perf_counter(); s.send(msg)
        while (left := t + timeout - time.perf_counter()) > 0:
            s.settimeout(left)
            try: r = s.recv(65535)
            except socket.timeout: break
            except ConnectionRefusedError: return None, "refused", 0   # not bound yet
            if len(r) >= 12 and r[:2] == msg[:2] and r[2] & 0x80:
                return round((time.perf_counter() - t) * 1000, 3), r[3] & 15, struct.unpack(">H", r[6:8])[0]
    return None, "timeout", 0
dead0 = dead(); open(f"{d}/up", "w").close()
while not os.path.exists(f"{d}/pid"): time.sleep(0.0005)
t0 = time.perf_counter()
while True:  # readiness: CH TXT version.bind, answered by the server itself (any rcode)
    ms, rc, _ = ask("version.bind", 0.5, 16, 3)
    ready_ms = (time.perf_counter() - t0) * 1000
    if ms is not None: break
    if ready_ms > 20000: sys.exit(f"{server} not answering CH TXT version.bind after 20 s")
    if rc == "refused": time.sleep(0.005)
dead_ready, res = dead(), []
for i in range(1, n + 1):
    if sum(r[1] == "timeout" for r in res) >= max_to: res.append((None, "skipped", 0)); continue
    res.append(ask(f"h{i}.bench.test", tmo))
with open(f"{d}/results", "a") as f:
    print(json.dumps({"server": server, "run": int(run), "ready_ms": round(ready_ms, 1),
                      "dead_msgs_startup": dead_ready - dead0, "dead_msgs_queries": dead() - dead_ready,
                      "ms": [r[0] for r in res], "rcode": [r[1] for r in res], "answers": [r[2] for r in res]}), file=f)
EOF

for ((r = 1; r <= RUNS; r++)); do for s in $SERVERS; do
  echo "run $r/$RUNS: $s" >&2; rm -f "$tmp/up" "$tmp/pid"
  launch measure 1 python3 "$tmp/measure.py" "$tmp" "${ADDR[$s]}" "$tmp/blackhole.log" "$QUERIES" \
    "$QUERY_TIMEOUT" "$MAX_TIMEOUTS" "$s" "$r"
  until [[ -e $tmp/up ]]; do
    kill -0 "${PID[measure]}" 2>/dev/null || die "client: $(tail -n 5 "$tmp/measure.log")"; sleep 0.01; done
  "start_$s" "${ADDR[$s]}"; echo "${PID[$s]}" >"$tmp/pid"   # the client's clock starts
  rc=0; wait "${PID[measure]}" || rc=$?; forget "${PID[measure]}"
  ((rc == 0)) || { tail -n 30 "$tmp/$s.log" "$tmp/measure.log" >&2; die "$s: measurement failed"; }
  kill -0 "${PID[$s]}" 2>/dev/null || { tail -n 30 "$tmp/$s.log" >&2; die "$s exited during the run"; }
  stop "${PID[$s]}"
done; done

python3 - "$tmp/results" "$OUT" "$QUERIES" "$QUERY_TIMEOUT" $SERVERS <<'EOF'
import json, sys
path, out, n, tmo, *servers = sys.argv[1:]
runs, inf = [json.loads(l) for l in open(path)], float("inf")
med = lambda xs: sorted(xs)[(len(xs) - 1) // 2]                  # (lower) median
v = lambda x: inf if x is None else x                            # None: timed out (or skipped)
f = lambda x: "timeout" if x in (inf, None) else f"{x:.1f}"
res = {}
for s in servers:
    rs = [r for r in runs if r["server"] == s]
    first, later = [v(r["ms"][0]) for r in rs], [max(map(v, r["ms"][1:]), default=0) for r in rs]
    done = [x for r in rs for x, c in zip(r["ms"][1:], r["rcode"][1:]) if c != "skipped"]
    codes = [(c, a) for r in rs for c, a in zip(r["rcode"], r["answers"])]
    fails = {"timeout": sum(c == "timeout" for c, _ in codes), "skipped": sum(c == "skipped" for c, _ in codes),
             "servfail": sum(c == 2 for c, _ in codes), "other_rcode": sum(c not in (0, 2) and c in range(16) for c, _ in codes),
             "noerror_no_answer": sum(c == 0 and a == 0 for c, a in codes)}
    res[s] = {"runs": len(rs), "ready_ms_median": med([r["ready_ms"] for r in rs]),
              "first_ms_median": med(first), "first_ms_max": max(first), "first_ms_per_run": [r["ms"][0] for r in rs],
              "later_max_ms_median": med(later), "later_max_ms_max": max(later),
              "later_over_20ms": sum(v(x) > 20 for x in done), "later_over_50ms": sum(v(x) > 50 for x in done),
              "failures": fails, "dead_msgs_startup_median": med([r["dead_msgs_startup"] for r in rs]),
              "dead_msgs_queries_median": med([r["dead_msgs_queries"] for r in rs]), "per_run": rs}
    res[s] = {k: (None if x == inf else x) for k, x in res[s].items()}
print(f"\nfirst of two upstreams black-holed; {len(runs) // len(servers)} fresh starts each; query 1 = h1 right after"
      f" ready, then queries 2..{n}; ms; timeout {tmo} s\n")
hdr = (f"{'server':<15}{'ready':>7}{'q1 med':>9}{'q1 max':>9}{'q2+ max':>9}{'(max)':>9}{'>20ms':>7}{'>50ms':>7}"
       f"{'fail':>6}  {'dead msgs'}")
print(hdr); print("-" * len(hdr))
for s, r in res.items():
    fl = sum(r["failures"].values())
    print(f"{s:<15}{r['ready_ms_median']:>7.0f}{f(r['first_ms_median']):>9}{f(r['first_ms_max']):>9}"
          f"{f(r['later_max_ms_median']):>9}{f(r['later_max_ms_max']):>9}{r['later_over_20ms']:>7}{r['later_over_50ms']:>7}"
          f"{fl:>6}  {r['dead_msgs_startup_median']}+{r['dead_msgs_queries_median']}")
    print(f"  q1 per run: {', '.join(map(f, r['first_ms_per_run']))}" + "".join(
          f"; {k} {c}" for k, c in r["failures"].items() if c))
print(f"ready: launch -> first local answer (median); q2+ max: slowest of queries 2..{n}, median and max over runs;\n"
      f">20ms, >50ms: of queries 2..{n} in all runs; dead msgs: got by the black hole before ready + during the queries (medians)")
if "palanquin" in res:
    p, w = res["palanquin"], lambda b: "met" if b else "MISSED"
    p["targets"] = t = {"first_query_le_50ms_every_run": p["first_ms_max"] is not None and p["first_ms_max"] <= 50,
                        "later_queries_lt_20ms_every_run": p["later_max_ms_max"] is not None and p["later_max_ms_max"] < 20,
                        "no_failures": sum(p["failures"].values()) == 0}
    print(f"palanquin targets: first uncached query <= 50 ms (max {f(p['first_ms_max'])}): "
          f"{w(t['first_query_le_50ms_every_run'])}; queries 2..{n} all < 20 ms (max {f(p['later_max_ms_max'])}): "
          f"{w(t['later_queries_lt_20ms_every_run'])}; no failures: {w(t['no_failures'])}")
json.dump({"setup": {"dead_upstream": "127.0.3.1:53 (listed first)", "live_upstream": "127.0.3.2:53 (NSD)",
                     "queries_per_run": int(n), "query_timeout_s": float(tmo)}, "servers": res}, open(out, "w"), indent=1)
print(f"JSON: {out}")
EOF
