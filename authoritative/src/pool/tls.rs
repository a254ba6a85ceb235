//! The TLS side of an `https` check, through rustls (on ring): the
//! certificate verified against the system's roots, or against a CA file,
//! or, when the configuration says so, not at all (the handshake's
//! signatures are still checked: only the certificate chain is taken on
//! trust).

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// How an `https` check trusts the member's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust<'a> {
    /// The system's roots (rustls-native-certs).
    System,
    /// The certificates in this PEM file.
    CaFile(&'a Path),
    /// The certificates in this PEM text (a CA file already read).
    CaPem(&'a [u8]),
    /// Any certificate.
    Nothing,
}

/// rustls' client configuration, for the daemon to hold one per pool.
pub use rustls::ClientConfig;

/// A client configuration for `trust`.
pub fn client(trust: Trust<'_>) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let config = match trust {
        Trust::Nothing => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth(),
        Trust::System | Trust::CaFile(_) | Trust::CaPem(_) => {
            let mut roots = RootCertStore::empty();
            let certs: Vec<CertificateDer<'static>> = match trust {
                Trust::CaFile(path) => CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("{}: {e}", path.display()))?,
                Trust::CaPem(pem) => CertificateDer::pem_slice_iter(pem)
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("not PEM certificates: {e}"))?,
                _ => rustls_native_certs::load_native_certs().certs,
            };
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(match trust {
                    Trust::CaFile(path) => format!("{} holds no certificate", path.display()),
                    Trust::CaPem(_) => "no certificate in the file".into(),
                    _ => "the system has no trusted root certificates".into(),
                });
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(Arc::new(config))
}

/// The name a member's certificate is checked for: the Host header's
/// name, or the member's address.
pub fn server_name(host: Option<&str>, addr: std::net::IpAddr) -> ServerName<'static> {
    // The Host value without its port: `name:port`, `[v6]:port`.
    let bare = |h: &str| -> String {
        match h.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(rest).to_owned(),
            None => match h.rsplit_once(':') {
                Some((name, _)) if !name.contains(':') => name.to_owned(),
                _ => h.to_owned(),
            },
        }
    };
    host.and_then(|h| ServerName::try_from(bare(h)).ok())
        .unwrap_or_else(|| ServerName::IpAddress(addr.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_checked_is_the_host_without_its_port() {
        let addr: std::net::IpAddr = [192, 0, 2, 1].into();
        let name = |h: Option<&str>| format!("{:?}", server_name(h, addr));
        assert_eq!(
            name(Some("www.example.test:8443")),
            name(Some("www.example.test"))
        );
        let v6: std::net::IpAddr = "2001:db8::1".parse().expect("address");
        assert_eq!(
            server_name(Some("[2001:db8::1]:443"), addr),
            ServerName::IpAddress(v6.into())
        );
        assert_eq!(server_name(None, addr), ServerName::IpAddress(addr.into()));
        assert_eq!(
            server_name(Some("not a name"), addr),
            ServerName::IpAddress(addr.into())
        );
    }
}

/// Takes any certificate; the handshake's signatures are still verified.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
