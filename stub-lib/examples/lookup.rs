//! The README's example: the addresses of a name, then its MX records, with
//! the upstream that answered and how long it took, through the system's
//! resolv.conf. `cargo run -p palanquin-stub --example lookup -- example.com`
#![allow(clippy::print_stdout)] // an example prints what it found

use palanquin_stub::dns::{Name, RecordType};
use palanquin_stub::{Resolver, ResolverConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let host = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "www.example.com".to_owned());
    let name = Name::from_utf8(&host)?;

    let resolver = Resolver::new(ResolverConfig::system()?)?;
    let ips = resolver.lookup_ip(&host).await?; // A and AAAA in parallel
    let answer = resolver.query(&name, RecordType::MX).await?; // + answer.upstream, .latency

    println!("{host}: {:?}", ips.addrs);
    for mx in &answer.message.answers {
        println!("{mx}");
    }
    println!("MX answered by {} in {:?}", answer.upstream, answer.latency);
    Ok(())
}
