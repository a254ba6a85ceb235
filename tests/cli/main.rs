//! Process tests of the `palanquin` binary (spawned through
//! `CARGO_BIN_EXE_palanquin`) against fake upstreams on loopback.

mod query;
