//! VRRP for Palanquin: the packet codec and the protocol state machine of
//! a virtual router, pure (no socket, no clock), and the Linux I/O that
//! drives them (`net.rs`: raw socket, netlink, gratuitous ARP;
//! `instance.rs`: one router's task).
//!
//! ```text
//!  bytes from the wire ─packet::decode─▶ Advert ─▶ fsm::Machine::handle(Event, now)
//!                                                      │ Vec<Action>: advertise (packet::encode),
//!  Machine::deadline() ─▶ Event::Timer at that time ──┘ add/remove/announce the addresses
//!  instance::run: the socket, the timer and the owner's controls in, the actions carried out
//! ```
//!
//! Work in progress for the VRRP issue: the configuration still refuses
//! `[[vrrp]]` by name, as nothing runs these yet.

pub mod fsm;
pub mod instance;
pub mod net;
pub mod packet;
