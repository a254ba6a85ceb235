//! VRRP for Palanquin: the packet codec and the protocol state machine of
//! a virtual router, pure (no socket, no clock). The daemon's VRRP I/O
//! (raw sockets, the addresses, gratuitous ARP) drives them.
//!
//! ```text
//!  bytes from the wire ─packet::decode─▶ Advert ─▶ fsm::Machine::handle(Event, now)
//!                                                      │ Vec<Action>: advertise (packet::encode),
//!  Machine::deadline() ─▶ Event::Timer at that time ──┘ add/remove/announce the addresses
//! ```
//!
//! Work in progress for the VRRP issue: the configuration still refuses
//! `[[vrrp]]` by name, as nothing runs these yet.

pub mod fsm;
pub mod packet;
