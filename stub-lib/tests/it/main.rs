//! Integration tests of `palanquin-stub` with real sockets on loopback: one
//! fake upstream per behaviour and a real NSD, both from palanquin-testkit.

mod behaviours;
mod interop;
mod recovery;
