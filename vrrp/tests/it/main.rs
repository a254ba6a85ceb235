//! palanquin-vrrp against a real keepalived: its adverts, captured by the
//! test itself in network namespaces it builds, decode to what keepalived
//! was configured to send, and our encoding of the same advert gives the
//! same bytes.

mod keepalived;
mod routers;
