#!/usr/bin/env bash
# Sourced by the side-by-side harnesses. reexec_isolated MARKER DEFAULT_OUT ARGS...
# builds palanquin if it is wanted and missing, and the reflector (the floor)
# if it is wanted, then re-runs the calling
# script inside a private network namespace (only `lo`), with MARKER=1 set so
# that the second run knows it is inside: whatever a server under test is
# configured to do, it cannot reach any address but loopback.
reexec_isolated() {
  local marker=$1 default_out=$2 self
  shift 2
  [[ -z ${PALANQUIN:-} ]] || PALANQUIN=$(realpath -m -- "$PALANQUIN")
  [[ -z ${BASELINE:-} ]] || BASELINE=$(realpath -m -- "$BASELINE")
  OUT=$(realpath -m -- "${OUT:-$default_out}")
  self=$(realpath -- "$0")
  cd "$(dirname "$self")/.."
  PALANQUIN=${PALANQUIN:-$PWD/target/release/palanquin}
  if [[ " $SERVERS " == *" palanquin "* && ! -x $PALANQUIN ]]; then
    [[ $PALANQUIN == "$PWD/target/release/palanquin" ]] || die "PALANQUIN=$PALANQUIN is not an executable"
    echo "building palanquin (release)" >&2
    cargo build --release --bin palanquin
  fi
  REFLECTOR=$PWD/target/reflector
  if [[ " $SERVERS " == *" reflector "* ]]; then   # the floor: rebuilt every run, it is tiny
    mkdir -p target && cc -O2 -o "$REFLECTOR" benches/reflector.c || die "cannot build benches/reflector.c"
  fi
  export "$marker"=1 SERVERS OUT PALANQUIN BASELINE REFLECTOR
  exec timeout -s TERM "${MAX_SECONDS:-900}" unshare --net -- "$self" "$@"
}
