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
//! IPv4 only in the I/O for now (the codec has IPv6).

pub mod fsm;
pub mod instance;
pub mod net;
pub mod packet;
