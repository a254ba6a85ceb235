#!/usr/bin/env bash
# failover.sh: how long a client loses the virtual IP when the Master fails,
# for each kind of failure. Run as root:   benches/failover.sh   (about 8 minutes)
#   PALANQUIN (default target/release/palanquin, built if absent)   ROUNDS=3
#   OUT (default /tmp/failover.json)   SERVERS="palanquin keepalived keepalived-loop" (default)
#   FAMILY=6: the same over IPv6 (VIP fd53:0:0:30::53/64; VRRPv3 adverts from the
#   link-local addresses, neighbour advertisements instead of gratuitous ARP)
# Topology, in network namespaces of its own (nothing leaves them): a bridge,
# two palanquin peers p1 (priority 200) and p2 (100) with 100 ms adverts and a
# 100 ms self-check (fall 2, timeout 50 ms) of a forwarded name, each with its
# own upstream (a tiny responder on its loopback), and a client that asks
# the VIP for whoami.vip.test TXT every 10 ms (each node's zone names it).
# Failure kinds, each ROUNDS times (p1 Master again before each):
#   silent   SIGSTOP of p1: no adverts, no answers (a hung host)
#   kill     SIGKILL of p1 (its VIP stays on its interface: what keepalived does too)
#   stop     SIGTERM of p1: it resigns with priority 0 first
#   upstream SIGSTOP of p1's upstream: p1 still answers from its zone and cache,
#            its self-check fails, it gives the VIP to p2
# The same for keepalived 2.2.7 (v3, advert_int 0.1) with NSD on each node and
# a vrrp_script that digs the local NSD every second (fall 2): the seeds' setup
# with its check inside keepalived. Its kinds: silent (SIGSTOP of keepalived
# and NSD), kill (SIGKILL of keepalived), stop (SIGTERM of keepalived), and
# dns (SIGSTOP of NSD alone: the DNS hangs, keepalived carries on).
# keepalived-loop is the seeds' setup as it is: keepalived with no check of its
# own, and beside it a shell loop that digs the local NSD every 5 s and stops
# keepalived (SIGTERM: it resigns) when the dig fails. Its kind: dns alone (the
# others are keepalived's), the hang at a random point of the loop's cycle, with
# a window of 8 s after it instead of 5.5.
# Then (FLAP_SECONDS=60, 0 skips it) palanquin with 20 ms adverts while dnsperf
# from the client saturates the VIP (and the machine): the state changes of
# either peer in that time are counted; the target is none.
# Reported per kind: the outage (the longest gap between two answers around
# the failure) and when p2 first answered, after the failure. Targets: silent
# <= 350 ms; upstream (VIP moved) <= 500 ms; stop <= 150 ms.
set -euo pipefail
die() { echo "failover.sh: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "must be run as root (network namespaces)"
cd "$(dirname "$0")/.."
PALANQUIN=${PALANQUIN:-$PWD/target/release/palanquin}
[[ -x $PALANQUIN ]] || cargo build --release --bin palanquin
FAMILY=${FAMILY:-4}
case $FAMILY in
  4) VIP=10.53.30.53 PLEN=24 NET=10.53.30. ;;
  6) VIP=fd53:0:0:30::53 PLEN=64 NET=fd53:0:0:30:: ;;
  *) echo "failover.sh: FAMILY is 4 or 6" >&2; exit 1 ;;
esac
node_addr() { echo "$NET$1/$PLEN"; }
# The VIP as a listen address: [v6]:53 or v4:53.
if [[ $FAMILY == 6 ]]; then VIP_LISTEN="[$VIP]:53"; else VIP_LISTEN="$VIP:53"; fi
ROUNDS=${ROUNDS:-3} OUT=${OUT:-/tmp/failover.json} SERVERS=${SERVERS:-palanquin keepalived keepalived-loop} FLAP_SECONDS=${FLAP_SECONDS:-60}
for s in $SERVERS; do case $s in palanquin) ;; keepalived | keepalived-loop) command -v keepalived >/dev/null && command -v nsd >/dev/null \
  || die "keepalived and nsd are needed: benches/install-peers or scripts/test installs them" ;; *) die "unknown server $s" ;; esac; done
tag=pqf$$ tmp=$(mktemp -d /tmp/failover.XXXXXX)
ns() { echo "$tag$1"; }
cleanup() {
  set +e
  exec 2>/dev/null   # bash reports the jobs killed here; nothing to say
  for f in "$tmp"/*.pid "$tmp"/*.pgid; do   # each server leads its process group
    [[ -f $f ]] || continue; p=$(cat "$f")
    kill -CONT -- "-$p"; kill -KILL -- "-$p"; kill -CONT "$p"; kill -KILL "$p"
  done
  for n in p1 p2 c lan; do ip netns del "$(ns $n)" 2>/dev/null || true; done
  if [[ -n ${KEEP:-} ]]; then echo "logs kept in $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
ip netns add "$(ns lan)"; ip -n "$(ns lan)" link add br0 type bridge; ip -n "$(ns lan)" link set br0 up
i=0
for n in p1 p2 c; do
  i=$((i + 1)); ip netns add "$(ns $n)"; ip -n "$(ns $n)" link set lo up
  ip -n "$(ns lan)" link add "v$i" type veth peer name eth0 netns "$(ns $n)"
  ip -n "$(ns lan)" link set "v$i" master br0; ip -n "$(ns lan)" link set "v$i" up
  # No duplicate address detection: the link-local address VRRPv3 sends
  # from over IPv6 is usable at once.
  ip netns exec "$(ns $n)" sysctl -qw net.ipv6.conf.eth0.accept_dad=0
  ip -n "$(ns $n)" addr add "$(node_addr $i)" dev eth0 nodad 2>/dev/null || ip -n "$(ns $n)" addr add "$(node_addr $i)" dev eth0
  ip -n "$(ns $n)" link set eth0 up
done
cat >"$tmp/upstream.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 5301))
while True:
    q, a = s.recvfrom(512)
    end = 12
    while q[end]: end += q[end] + 1
    end += 5
    r = bytearray(q[:end]); r[2] |= 0x80; r[3] = 0x80; r[6:8] = b"\0\1"; r[8:12] = b"\0\0\0\0"
    r += b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x01"
    s.sendto(bytes(r), a)
PY
cat >"$tmp/client.py" <<'PY'
import socket, sys, time, json, struct, random
vip, seconds, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET6 if ":" in vip else socket.AF_INET, socket.SOCK_DGRAM); s.setblocking(False)
name = b"".join(bytes([len(l)]) + l for l in b"whoami.vip.test".split(b".")) + b"\0"
answers, end, nxt = [], time.time() + seconds, time.time()
while time.time() < end:
    now = time.time()
    if now >= nxt:
        qid = random.randrange(65536)
        try: s.sendto(struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + name + b"\0\x10\0\x01", (vip, 53))
        except OSError: pass
        nxt = now + 0.01
    try:
        r = s.recv(512)
        if len(r) > 12 and r[3] & 0x0f == 0 and r[7] > 0:
            who = "p1" if b"\x02p1" in r else ("p2" if b"\x02p2" in r else "?")
            answers.append((time.time(), who))
    except BlockingIOError: time.sleep(0.001)
json.dump(answers, open(out, "w"))
PY
for n in p1 p2; do
  prio=$([[ $n == p1 ]] && echo 200 || echo 100)
  printf '$TTL 60\n@ IN SOA ns hm 1 3600 600 86400 60\n  IN NS ns\nns A 10.53.30.53\nwhoami TXT "%s"\n' "$n" >"$tmp/$n.zone"
  cat >"$tmp/$n.toml" <<CONF
[server]
listen = ["$VIP_LISTEN", "127.0.0.1:53"]
[resolver]
upstreams = ["127.0.0.1:5301"]
allow = ["0.0.0.0/0"]
timeout = "50ms"
attempts = 1
[[zone]]
origin = "vip.test."
file = "$tmp/$n.zone"
[[vrrp]]
interface = "eth0"
vrid = 53
priority = $prio
advert_interval = "100ms"
virtual_ips = ["$VIP/$PLEN"]
[vrrp.self_check]
name = "probe.example."
interval = "100ms"
timeout = "50ms"
fall = 2
rise = 1
CONF
  ip netns exec "$(ns $n)" python3 "$tmp/upstream.py" & echo $! >"$tmp/$n-up.pid"
  mkdir -p "$tmp/$n-nsd"
  cat >"$tmp/$n-nsd.conf" <<CONF
server:
    ip-address: $VIP
    ip-address: 127.0.0.1
    ip-freebind: yes
    server-count: 1
    username: ""
    chroot: ""
    database: ""
    zonelistfile: "$tmp/$n-nsd/zone.list"
    xfrdfile: "$tmp/$n-nsd/xfrd.state"
    xfrdir: "$tmp/$n-nsd"
    pidfile: "$tmp/$n-nsd/nsd.pid"
remote-control:
    control-enable: no
zone:
    name: "vip.test"
    zonefile: "$tmp/$n.zone"
CONF
  cat >"$tmp/$n-ka.conf" <<CONF
global_defs {
  router_id $n
  enable_script_security
  script_user root
  vrrp_version 3
}
vrrp_script chk_dns {
  script "/usr/bin/dig @127.0.0.1 +time=1 +tries=1 +short whoami.vip.test TXT"
  interval 1
  fall 2
  rise 1
}
vrrp_instance vi {
  state BACKUP
  interface eth0
  virtual_router_id 53
  priority $prio
  advert_int 0.1
  virtual_ipaddress {
    $VIP/$PLEN
  }
  track_script {
    chk_dns
  }
}
CONF
  # The seeds' keepalived: the same, without the vrrp_script.
  sed '/^vrrp_script chk_dns {/,/^}/d; /track_script {/,/}/d' "$tmp/$n-ka.conf" >"$tmp/$n-kal.conf"
done
cat >"$tmp/loop.sh" <<'LOOP'
# The seeds' check: every 5 s, dig the local DNS; when that fails, stop
# keepalived (whose pid is in $1) and end.
while sleep 5; do
  dig @127.0.0.1 +time=1 +tries=1 +short whoami.vip.test TXT >/dev/null 2>&1 || { kill -TERM "$(cat "$1")"; exit 0; }
done
LOOP
start() { # node: the server under test on it (each in a process group of its own)
  case $server in
    palanquin) ip netns exec "$(ns $1)" setsid "$PALANQUIN" serve --config "$tmp/$1.toml" >>"$tmp/$1.log" 2>&1 & echo $! >"$tmp/$1.pid" ;;
    # (a killed keepalived's child may linger as a zombie here: its pid files would stop the restart)
    keepalived) rm -f "$tmp/$1-ka.main.pid" "$tmp/$1-ka.vrrp.pid"; ip netns exec "$(ns $1)" setsid keepalived --dont-fork --log-console --no-syslog --vrrp -f "$tmp/$1-ka.conf" \
        -p "$tmp/$1-ka.main.pid" -r "$tmp/$1-ka.vrrp.pid" >>"$tmp/$1-ka.log" 2>&1 & echo $! >"$tmp/$1.pid" ;;
    keepalived-loop) rm -f "$tmp/$1-ka.main.pid" "$tmp/$1-ka.vrrp.pid"; ip netns exec "$(ns $1)" setsid keepalived --dont-fork --log-console --no-syslog --vrrp -f "$tmp/$1-kal.conf" \
        -p "$tmp/$1-ka.main.pid" -r "$tmp/$1-ka.vrrp.pid" >>"$tmp/$1-ka.log" 2>&1 & echo $! >"$tmp/$1.pid"
      ip netns exec "$(ns $1)" setsid bash "$tmp/loop.sh" "$tmp/$1.pid" & echo $! >"$tmp/$1-loop.pgid" ;;
  esac
}
start_nsd() { ip netns exec "$(ns $1)" setsid nsd -d -c "$tmp/$1-nsd.conf" >>"$tmp/$1-nsd.log" 2>&1 & echo $! >"$tmp/$1-nsd.pgid"; }
group() { kill "-$1" -- "-$(cat "$2")" 2>/dev/null || true; }
# The server on p1 as a signal target: palanquin's process group; keepalived's
# parent and its VRRP child (which leads a session of its own).
server_signal() { # signal
  if [[ $server == keepalived* ]]; then
    # The VRRP child first: killed after its parent, it would be told (its
    # parent-death signal) and resign cleanly, which is not a crash.
    for f in "$tmp/p1-ka.vrrp.pid" "$tmp/p1-ka.main.pid" "$tmp/p1.pid"; do
      if [[ -s $f ]]; then kill "-$1" "$(cat "$f")" 2>/dev/null || true; fi
    done
  else
    group "$1" "$tmp/p1.pid"
  fi
}
who() { ip netns exec "$(ns c)" dig "@$VIP" +short +time=1 +tries=1 whoami.vip.test TXT 2>/dev/null | tr -d '"'; }
master_is() { local end=$((SECONDS + 15)); until [[ $(who) == "$1" ]]; do ((SECONDS < end)) || { tail -n 15 "$tmp/p1-ka.log" "$tmp/p1.log" 2>/dev/null >&2; die "$1 did not become Master"; }; sleep 0.1; done; }
: >"$tmp/results"
for server in $SERVERS; do
  case $server in
    keepalived) kinds="silent kill stop dns"; start_nsd p1; start_nsd p2 ;;
    keepalived-loop) kinds="dns"; start_nsd p1; start_nsd p2 ;;
    *) kinds="silent kill stop upstream" ;;
  esac
  window=$([[ $server == keepalived-loop ]] && echo 8 || echo 5.5)
  start p1; start p2; master_is p1
  for kind in $kinds; do for ((r = 1; r <= ROUNDS; r++)); do
    echo "failover: $server, $kind, round $r/$ROUNDS" >&2
    sleep 1
    extra=$([[ $server == keepalived-loop ]] && echo 5 || echo 0)
    ip netns exec "$(ns c)" python3 "$tmp/client.py" "$VIP" "$(awk "BEGIN { print $window + 1.5 + $extra }")" "$tmp/answers.json" & client=$!
    sleep 1.5
    # The seeds' loop digs every 5 s from its start: the hang lands at a
    # random point of its cycle, not always at the same one.
    if [[ $server == keepalived-loop ]]; then sleep "$(awk 'BEGIN { srand(); print rand() * 5 }')"; fi
    t0=$(date +%s.%N)
    case $kind in
      silent) server_signal STOP; if [[ $server == keepalived ]]; then group STOP "$tmp/p1-nsd.pgid"; fi ;;
      kill) server_signal KILL ;;
      stop) kill -TERM "$(cat "$tmp/p1.pid")" ;;
      upstream) kill -STOP "$(cat "$tmp/p1-up.pid")" ;;
      dns) group STOP "$tmp/p1-nsd.pgid" ;;
    esac
    wait "$client"
    echo "$server $kind $t0 $window $(cat "$tmp/answers.json")" >>"$tmp/results"
    # Back to p1 as Master.
    case $kind in
      silent) server_signal KILL; if [[ $server == keepalived ]]; then group CONT "$tmp/p1-nsd.pgid"; fi; sleep 0.3; start p1 ;;
      kill) sleep 0.3; start p1 ;;
      stop) sleep 0.5; start p1 ;;
      upstream) kill -CONT "$(cat "$tmp/p1-up.pid")" ;;
      dns) group CONT "$tmp/p1-nsd.pgid"
        # The seeds' loop stopped keepalived (or will not now): start both again.
        if [[ $server == keepalived-loop ]]; then
          group KILL "$tmp/p1-loop.pgid"; server_signal KILL; sleep 0.3; start p1
        fi ;;
    esac
    master_is p1
  done; done
  if [[ $server == palanquin ]] && ((FLAP_SECONDS > 0)) && command -v dnsperf >/dev/null; then
    echo "failover: palanquin, 20 ms adverts under dnsperf for $FLAP_SECONDS s" >&2
    server_signal KILL; group KILL "$tmp/p2.pid"; sleep 0.5
    for n in p1 p2; do sed -i 's/advert_interval = "100ms"/advert_interval = "20ms"/' "$tmp/$n.toml"; done
    start p1; start p2; master_is p1; sleep 1
    changes() { cat "$tmp/p1.log" "$tmp/p2.log" | grep -c "$1" || true; }
    before=$(changes 'VRRP state change\|VRRP: fault') fails_before=$(changes 'self-check fails')
    printf 'whoami.vip.test TXT\n' >"$tmp/queries"
    ip netns exec "$(ns c)" dnsperf -s "$VIP" -d "$tmp/queries" -l "$FLAP_SECONDS" -c 32 -q 500 >"$tmp/dnsperf.out" 2>&1 || true
    after=$(changes 'VRRP state change\|VRRP: fault') fails_after=$(changes 'self-check fails')
    qps=$(awk '/Queries per second/ { print $4 }' "$tmp/dnsperf.out")
    echo "$((after - before)) ${qps:-0} $((fails_after - fails_before))" >"$tmp/flap"
  fi
  server_signal KILL; group KILL "$tmp/p2.pid"
  if [[ $server == keepalived* ]]; then
    for f in "$tmp"/p2-ka.*.pid; do kill -KILL "$(cat "$f")" 2>/dev/null || true; done
    group KILL "$tmp/p1-nsd.pgid"; group KILL "$tmp/p2-nsd.pgid"
    for f in "$tmp"/p?-loop.pgid; do if [[ -f $f ]]; then group KILL "$f"; fi; done
  fi
  sleep 0.5
  for n in p1 p2; do ip -n "$(ns $n)" addr del "$VIP/$PLEN" dev eth0 2>/dev/null || true; done
done
FAMILY=$FAMILY python3 - "$tmp/results" "$OUT" <<'PY'
import json, os, sys
rows = {}
for line in open(sys.argv[1]):
    server, kind, t0, window, data = line.split(" ", 4)
    kind = f"{server} {kind}"
    t0, window, answers = float(t0), float(window), json.loads(data)
    before = [t for t, w in answers if t < t0]
    after = [t for t, w in answers if t >= t0]
    # The window's end counts as an answer: an outage that never ended is
    # the whole rest of the window, not the last normal gap.
    times = [t for t, _ in answers] + [t0 + window]
    gaps = [b - a for a, b in zip(times, times[1:]) if b > t0 - 0.05]
    outage = max(gaps) if gaps else None
    p2 = next((t - t0 for t, w in answers if t >= t0 and w == "p2"), None)
    rows.setdefault(kind, []).append({"outage_ms": round(outage * 1000) if outage else None,
                                      "p2_after_ms": round(p2 * 1000) if p2 is not None else None})
print(f"\nfailover over IPv{os.environ.get('FAMILY', '4')}: 100 ms adverts, 100 ms self-check (fall 2); a query every 10 ms; per round")
print(f"{'server, kind':<26} {'outage ms (rounds)':<28} {'p2 answers after ms (rounds)':<30}")
for k, rs in rows.items():
    o = " ".join(str(r["outage_ms"]) for r in rs); p = " ".join(str(r["p2_after_ms"]) for r in rs)
    print(f"{k:<26} {o:<28} {p:<30}")
import os
flap = None
if os.path.exists(sys.argv[1].replace("results", "flap")):
    f = open(sys.argv[1].replace("results", "flap")).read().split()
    flap = {"state_changes": int(f[0]), "dnsperf_qps": float(f[1]), "self_checks_failing": int(f[2])}
    print(f"\n20 ms adverts under dnsperf ({flap['dnsperf_qps']:.0f} QPS at the VIP): {flap['state_changes']} state changes "
          f"(target 0); self-checks turned failing: {flap['self_checks_failing']}")
json.dump({"family": os.environ.get("FAMILY", "4"), "failover": rows, "flapping": flap}, open(sys.argv[2], "w"), indent=1)
print(f"written {sys.argv[2]}")
PY
