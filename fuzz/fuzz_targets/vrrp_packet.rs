//! Fuzzes the VRRP advertisement decoder with arbitrary bytes, as a raw
//! socket would hand them over (IPv4: with the IP header; IPv6: the
//! message alone). Nothing may panic, and whatever decodes re-encodes to a
//! message that decodes to the same advert.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use palanquin_vrrp::packet::{self, Checksum};

fuzz_target!(|data: &[u8]| {
    let v4 = (IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), IpAddr::V4(packet::GROUP_V4));
    let v6 = (IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)), IpAddr::V6(packet::GROUP_V6));
    let mut tried = vec![(data, v4), (data, v6)];
    if let Some(p) = packet::ipv4_packet(data) {
        tried.push((p.payload, (IpAddr::V4(p.src), IpAddr::V4(p.dst))));
    }
    for (msg, (src, dst)) in tried {
        if let Ok(advert) = packet::decode(msg, src, dst) {
            for form in [Checksum::PseudoHeader, Checksum::Plain] {
                let again = packet::encode(&advert, src, dst, form);
                assert_eq!(packet::decode(&again, src, dst).as_ref(), Ok(&advert));
            }
        }
    }
});
