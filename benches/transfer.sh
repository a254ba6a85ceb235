#!/usr/bin/env bash
# transfer.sh: zone transfers of a large zone, Palanquin next to NSD and Knot.
# Peers: benches/install-peers (nsd, knot). Run as root:  benches/transfer.sh  (~5 minutes)
#   RECORDS=1000000 (A, AAAA, TXT, MX over RECORDS/2 names, as authoritative.sh's big zone)
#   ROUNDS=3 (median reported)   PALANQUIN (default target/release/palanquin)
#   OUT (default /tmp/transfer.json)
# The script re-runs itself in a private network namespace (only `lo`).
# Measures:
#   axfr_out: a primary (palanquin, NSD, Knot, each serving the same file)
#     sends the whole zone to a client that only reads the frames
#     (python, counting messages and records): seconds and bytes, and the
#     primary's CPU time over the transfer;
#   axfr_in: a secondary (palanquin, NSD, Knot) started empty pulls the
#     zone from the palanquin primary: seconds from start to serving its
#     last name, and its memory (PSS over its processes) 1 s and 20 s after
#     (palanquin writes its saved copy in that time);
#   change: with all three secondaries in step, one record changes on the
#     palanquin primary (new serial, SIGHUP): seconds from the signal to each
#     secondary serving the new serial (the primary's reload, the NOTIFY,
#     the IXFR and the secondary's apply), and whether IXFR carried it.
# Exits 0 after reporting; 1 if anything fails.
set -euo pipefail

die() { echo "transfer.sh: $*" >&2; exit 1; }
SERVERS="palanquin nsd knot"

if [[ -z ${TRANSFER_NETNS:-} ]]; then   # --- outside: checks, build, re-exec
  [[ $(id -u) -eq 0 ]] || die "must be run as root (network namespace)"
  need() { command -v "$1" >/dev/null || die "$1 not found: apt-get install -y $2 (benches/install-peers has the peers)"; }
  need dig bind9-dnsutils; need python3 python3; need unshare util-linux; need ip iproute2
  need nsd nsd; need knotd knot
  # shellcheck source=benches/isolate.sh
  source "$(dirname "$0")/isolate.sh"
  reexec_isolated TRANSFER_NETNS /tmp/transfer.json "$@"
fi
# --- inside the private network namespace --------------------------------------
RECORDS=${RECORDS:-1000000} ROUNDS=${ROUNDS:-3}
declare -A PID ADDR=([palanquin]=127.0.4.1 [nsd]=127.0.4.2 [knot]=127.0.4.3)
declare -A SEC=([palanquin]=127.0.4.11 [nsd]=127.0.4.12 [knot]=127.0.4.13)
CLIENT=127.0.4.9
ip link set lo up
for a in "${ADDR[@]}" "${SEC[@]}" $CLIENT; do ip addr add "$a/32" dev lo; done
tmp=$(mktemp -d /tmp/transfer.XXXXXX) pids=()
# shellcheck source=benches/lib.sh
source benches/lib.sh
trap cleanup EXIT; trap 'exit 130' INT TERM

python3 - "$tmp/zone" "$RECORDS" <<'PY'
import sys
path, big = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    f.write("$ORIGIN big.test.\n$TTL 86400\n@ IN SOA ns1 hostmaster 1 3600 600 864000 86400\n@ IN NS ns1\nns1 IN A 127.0.4.1\n")
    for i in range(big // 2):
        if i % 2 == 0:
            f.write(f"n{i} IN A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}\nn{i} IN AAAA 2001:db8::{i >> 16:x}:{i & 0xffff:x}\n")
        else:
            f.write(f"n{i} IN TXT \"record {i}\"\nn{i} IN MX 10 n{i - 1}\n")
PY
LAST="n$((RECORDS / 2 - 2)).big.test"   # an A/AAAA name near the end

nsd_conf() { # file addr [primary]: a primary of $tmp/zone, or a secondary of `primary`
  local zone="    zonefile: \"$tmp/zone\"\n" d="$1.d"
  mkdir -p "$d"
  [[ -n ${3:-} ]] && zone="    zonefile: \"$d/zone\"\n    request-xfr: $3@5300 NOKEY\n    allow-notify: $3 NOKEY\n    outgoing-interface: $2\n"
  printf 'server:\n    server-count: 1\n    ip-address: %s@5300\n    username: ""\n    chroot: ""\n    database: ""\n    zonelistfile: "%s/zl"\n    xfrdfile: "%s/xs"\n    xfrdir: "%s"\n    pidfile: "%s/pid"\n    verbosity: 1\nremote-control:\n    control-enable: no\nzone:\n    name: "big.test."\n    provide-xfr: 127.0.4.0/24 NOKEY\n%b' \
    "$2" "$d" "$d" "$d" "$d" "$zone" >"$1"
}
knot_conf() { # file addr [primary]
  local d="$1.d" zone remote=""
  mkdir -p "$d"
  if [[ -n ${3:-} ]]; then
    remote="remote:\n  - id: primary\n    address: $3@5300\n    via: $2\n"
    zone="  - domain: big.test\n    file: \"$d/zone\"\n    master: primary\n    acl: [notify]\n"
  else
    zone="  - domain: big.test\n    file: \"$tmp/zone\"\n    acl: [xfr]\n"
  fi
  printf 'server:\n    listen: %s@5300\n    rundir: "%s"\ndatabase:\n    storage: "%s"\nlog:\n  - target: stderr\n    any: info\n%bacl:\n  - id: xfr\n    address: 127.0.4.0/24\n    action: transfer\n  - id: notify\n    address: 127.0.4.0/24\n    action: notify\ntemplate:\n  - id: default\n    storage: "%s"\n    zonefile-sync: -1\n    journal-content: none\nzone:\n%b' \
    "$2" "$d" "$d" "$remote" "$d" "$zone" >"$1"
}
palanquin_conf() { # file addr [primary]
  if [[ -n ${3:-} ]]; then
    printf '[server]\nlisten = ["%s:5300"]\n\n[[zone]]\norigin = "big.test."\nfile = "%s.saved"\nprimaries = ["%s:5300"]\n' "$2" "$1" "$3" >"$1"
  else
    printf '[server]\nlisten = ["%s:5300"]\n\n[[zone]]\norigin = "big.test."\nfile = "%s"\nallow_transfer = ["127.0.4.0/24"]\nnotify = ["%s:5300", "%s:5300", "%s:5300"]\n' \
      "$2" "$tmp/zone" "${SEC[palanquin]}" "${SEC[nsd]}" "${SEC[knot]}" >"$1"
  fi
}
start() { # name role(primary|secondary) server addr [primary]
  local f="$tmp/$1.conf"
  case $3 in
    palanquin) palanquin_conf "$f" "$4" "${5:-}"; launch "$1" 0,1 "$PALANQUIN" serve --config "$f" ;;
    nsd) nsd_conf "$f" "$4" "${5:-}"; launch "$1" 0,1 nsd -d -c "$f" ;;
    knot) knot_conf "$f" "$4" "${5:-}"; launch "$1" 0,1 knotd -c "$f" ;;
  esac
}
serial_of() { dig @"$1" -p 5300 +time=1 +tries=1 +short big.test SOA 2>/dev/null | awk '{ print $3 }'; }
wait_serving() { # name addr serial: until it serves `serial` and the zone's last name
  local end=$((SECONDS + 120))
  until [[ $(serial_of "$2") == "$3" && -n $(dig @"$2" -p 5300 +time=1 +tries=1 +short "$LAST" A 2>/dev/null) ]]; do
    ((SECONDS < end)) || { tail -n 20 "$tmp/$1.log" >&2; die "$1 never served serial $3"; }
    kill -0 "${PID[$1]}" 2>/dev/null || { tail -n 20 "$tmp/$1.log" >&2; die "$1 exited"; }
    sleep 0.02
  done
}
stop() { kill -TERM -- "-${PID[$1]}" 2>/dev/null || true; for _ in {1..50}; do pgrep -s "${PID[$1]}" >/dev/null || break; sleep 0.1; done; kill -KILL -- "-${PID[$1]}" 2>/dev/null || true; }
now() { date +%s.%N; }

: >"$tmp/results"
# --- AXFR out: each primary in turn, alone ---------------------------------------
for s in $SERVERS; do
  start "p-$s" primary "$s" "${ADDR[$s]}"; wait_serving "p-$s" "${ADDR[$s]}" 1
  for ((r = 1; r <= ROUNDS; r++)); do
    c0=$(cpu_ticks "${PID[p-$s]}" session)
    python3 - "${ADDR[$s]}" $CLIENT $((RECORDS + 4)) >"$tmp/axfr" <<'PY'
import socket, struct, sys, time
server, client, want = sys.argv[1], sys.argv[2], int(sys.argv[3])   # the zone's records and the closing SOA
q = struct.pack(">HHHHHH", 0x4242, 0, 1, 0, 0, 0) + b"\x03big\x04test\x00" + struct.pack(">HH", 252, 1)
s = socket.create_connection((server, 5300), source_address=(client, 0)); t0 = time.time()
s.sendall(struct.pack(">H", len(q)) + q)
f = s.makefile("rb"); msgs = recs = total = 0
while recs < want:
    n = struct.unpack(">H", f.read(2))[0]; m = f.read(n); total += n + 2; msgs += 1
    if len(m) < 12 or m[3] & 15: sys.exit(f"bad message or rcode {m[3] & 15 if len(m) > 3 else '?'}")
    recs += struct.unpack(">H", m[6:8])[0]
print(f"{time.time() - t0:.3f} {total} {msgs} {recs}")
PY
    c1=$(cpu_ticks "${PID[p-$s]}" session)
    echo "axfr_out $s $(<"$tmp/axfr") $((c1 - c0))" >>"$tmp/results"
  done
  stop "p-$s"
done
# --- AXFR in: each secondary in turn pulls from the palanquin primary ----------
start primary primary palanquin "${ADDR[palanquin]}"; wait_serving primary "${ADDR[palanquin]}" 1
for ((r = 1; r <= ROUNDS; r++)); do for s in $SERVERS; do
  rm -rf "$tmp/s-$s.conf"* ; t0=$(now)
  start "s-$s" secondary "$s" "${SEC[$s]}" "${ADDR[palanquin]}"; wait_serving "s-$s" "${SEC[$s]}" 1
  t1=$(now); sleep 1; pss1=$(pss_kb "${PID[s-$s]}"); sleep 19
  echo "axfr_in $s $(python3 -c "print(round($t1 - $t0, 2))") $pss1 $(pss_kb "${PID[s-$s]}")" >>"$tmp/results"
  ((r == ROUNDS)) || stop "s-$s"
done; done
# --- one change: all three secondaries in step, the primary reloads ------------
serial=1
for ((r = 1; r <= ROUNDS; r++)); do
  serial=$((serial + 1))
  sed -i "s/hostmaster [0-9]* /hostmaster $serial /; s/^n0 IN A .*/n0 IN A 10.99.99.$r/" "$tmp/zone"
  t0=$(now); kill -HUP "${PID[primary]}"
  declare -A done_at=(); end=$((SECONDS + 120))
  while ((${#done_at[@]} < 3)); do
    for s in $SERVERS; do
      [[ -n ${done_at[$s]:-} ]] && continue
      [[ $(serial_of "${SEC[$s]}") == "$serial" ]] && done_at[$s]=$(now)
    done
    ((SECONDS < end)) || die "the change did not reach every secondary: ${!done_at[*]}"
    sleep 0.01
  done
  for s in $SERVERS; do
    [[ $(dig @"${SEC[$s]}" -p 5300 +short n0.big.test A) == "10.99.99.$r" ]] || die "$s serves serial $serial without the change"
    echo "change $s $(python3 -c "print(round(${done_at[$s]} - $t0, 3))")" >>"$tmp/results"
  done
done
ixfr=$(grep -c 'what="differences"' "$tmp/primary.log" || true)
reload=$(grep -c 'configuration reloaded' "$tmp/primary.log" || true)

python3 - "$tmp/results" "$OUT" "$RECORDS" "$ixfr" "$(getconf CLK_TCK)" <<'PY'
import json, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
out, records, ixfr, tck = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
med = lambda xs: statistics.median(xs)
res = {"records": records, "axfr_out": {}, "axfr_in": {}, "change": {}, "ixfr_answers": ixfr}
for s in ("palanquin", "nsd", "knot"):
    a = [r for r in rows if r[0] == "axfr_out" and r[1] == s]
    res["axfr_out"][s] = {"seconds": med([float(r[2]) for r in a]), "bytes": int(a[0][3]), "messages": int(a[0][4]),
                          "records": int(a[0][5]), "cpu_seconds": med([int(r[6]) / tck for r in a])}
    b = [r for r in rows if r[0] == "axfr_in" and r[1] == s]
    res["axfr_in"][s] = {"seconds": med([float(r[2]) for r in b]), "pss_mib": round(med([int(r[3]) for r in b]) / 1024),
                         "pss_mib_20s": round(med([int(r[4]) for r in b]) / 1024)}
    c = [r for r in rows if r[0] == "change" and r[1] == s]
    res["change"][s] = {"seconds": med([float(r[2]) for r in c]), "range": [min(float(r[2]) for r in c), max(float(r[2]) for r in c)]}
json.dump(res, open(out, "w"), indent=2)
print(f"zone of {records:,} records, median of the rounds")
print(f"{'AXFR out (primary)':<22}{'seconds':>9}{'CPU s':>8}{'MB':>8}{'msgs':>7}")
for s, v in res["axfr_out"].items():
    print(f"  {s:<20}{v['seconds']:>9.2f}{v['cpu_seconds']:>8.2f}{v['bytes'] / 1e6:>8.1f}{v['messages']:>7}")
print(f"{'AXFR in (secondary)':<22}{'seconds':>9}{'PSS MiB':>9}{'at 20 s':>9}   (from the palanquin primary; memory 1 s and 20 s after serving)")
for s, v in res["axfr_in"].items():
    print(f"  {s:<20}{v['seconds']:>9.2f}{v['pss_mib']:>9}{v['pss_mib_20s']:>9}")
print(f"{'one change':<22}{'seconds':>9}   (SIGHUP on the palanquin primary to the new serial served)")
for s, v in res["change"].items():
    print(f"  {s:<20}{v['seconds']:>9.2f}   range {v['range'][0]:.2f}-{v['range'][1]:.2f}")
print(f"IXFR answers with differences sent by the primary: {ixfr}")
PY
