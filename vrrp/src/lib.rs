//! VRRP for Palanquin: the packet codec and the protocol state machine of
//! a virtual router, pure (no socket, no clock), and the Linux I/O that
//! drives them (`net.rs`: raw IPv4 and IPv6 sockets, netlink, gratuitous ARP and
//! unsolicited neighbour advertisements;
//! `instance.rs`: one router's task).
//!
//! ```text
//!  bytes from the wire ─packet::decode─▶ Advert ─▶ fsm::Machine::handle(Event, now)
//!                                                      │ Vec<Action>: advertise (packet::encode),
//!  Machine::deadline() ─▶ Event::Timer at that time ──┘ add/remove/announce the addresses
//!  instance::run: the socket, the timer and the owner's controls in, the actions carried out
//! ```

pub mod fsm;
pub mod instance;
pub mod net;
pub mod packet;
