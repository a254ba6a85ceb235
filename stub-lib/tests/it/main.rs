//! Integration tests of `palanquin-stub` with real sockets on loopback: one
//! fake upstream per behaviour (fake.rs) and a real NSD (nsd.rs, interop.rs).

mod behaviours;
mod fake;
mod interop;
mod nsd;
mod recovery;
