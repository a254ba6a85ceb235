# Sourced by the side-by-side harnesses inside their network namespace:
# launching pinned servers, waiting for them, running dnsperf, reading
# dnsperf's report and a process's CPU time and memory. Expects $tmp, the
# PID and ADDR associative arrays, the pids array and die().

launch() { # name cpu cmd... : own process group, pinned, output to $tmp/name.log
  local name=$1 cpu=$2; shift 2
  setsid taskset -c "$cpu" "$@" >"$tmp/$name.log" 2>&1 &
  PID[$name]=$!; pids+=($!)
}
wait_ready() { # name addr [expected]: h1.bench.test A answered (with `expected`,
  # default 192.0.2.2; "any": any reply at all) within 10 s, or die with the log
  local end=$((SECONDS + ${READY_SECONDS:-10})) want=${3:-192.0.2.2}
  while ((SECONDS < end)) && kill -0 "${PID[$1]}" 2>/dev/null; do   # bash reaps it when it exits
    if [[ $want == any ]]; then
      dig @"${2%:*}" -p "${2##*:}" +time=1 +tries=1 h1.bench.test A >/dev/null 2>&1 && return 0
    else
      [[ $(dig @"${2%:*}" -p "${2##*:}" +time=1 +tries=1 +short h1.bench.test A 2>/dev/null) == "$want" ]] && return 0
    fi
    sleep 0.05
  done
  echo "----- $1 output -----" >&2; tail -n 40 "$tmp/$1.log" >&2
  kill -0 "${PID[$1]}" 2>/dev/null || die "$1 exited before answering on $2"
  die "$1 did not answer h1.bench.test A on $2 within ${READY_SECONDS:-10} s"
}
alive() { kill -0 "${PID[$1]}" 2>/dev/null || { tail -n 40 "$tmp/$1.log" >&2; die "$1 exited"; }; }
dnsperf_run() { # server out dnsperf-options...; the server must still be up after it
  local s=$1 out=$2 a=${ADDR[$1]}; shift 2
  timeout 120 taskset -c 1 dnsperf -s "${a%:*}" -p "${a##*:}" "$@" >"$out" 2>&1 \
    || { tail -n 20 "$out" >&2; die "dnsperf $* against $s failed"; }
  alive "$s"
}
field() { awk -v k="  $1:" 'index($0, k) == 1 { sub(/^[^:]*: */, ""); print $1; exit }' "$2"; }
cpu0_ticks() { awk '$1 == "cpu0" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }   # not idle/iowait/steal
# CPU ticks (utime+stime) of a process and all its threads; with a second
# argument, of every process in its session (NSD and PowerDNS fork helpers).
cpu_ticks() {
  local s p total=0
  for p in $( [[ -n ${2:-} ]] && pgrep -s "$1" || echo "$1"); do
    s=$(<"/proc/$p/stat") || continue; s=${s##*) }; set -- $s; total=$((total + ${12} + ${13}))
  done
  echo "$total"
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
pss_kb() { # proportional set size summed over the process's session: memory
  # shared between forked processes counted once
  local p total=0 v
  for p in $(pgrep -s "$1"); do
    v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null) || continue
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
cleanup() { # TERM each server (NSD reaps its children), KILL what is left after 5 s
  local p sids; sids=$(IFS=,; echo "${pids[*]}")   # each is a session leader (setsid)
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in {1..50}; do [[ -n $sids ]] && pgrep -s "$sids" >/dev/null || break; sleep 0.1; done
  for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
