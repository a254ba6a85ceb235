//! TSIG keys (RFC 8945) and the server's side of a signed request, through
//! NLnet Labs' `domain::tsig`: it signs and checks a request, a single
//! answer and a stream of answers (every AXFR message chained to the MAC
//! before it, §5.3.1), and checks the signed time against the fudge. The
//! HMAC is ring's; nothing here computes one.

use std::str::FromStr;

use domain::base::message::Message;
use domain::base::message_builder::MessageBuilder;
use domain::rdata::tsig::Time48;
use domain::tsig::{Algorithm, Key, KeyName, ServerSequence};

/// A shared secret with its name and algorithm.
#[derive(Clone)]
pub struct TsigKey {
    pub(crate) key: Key,
    name: String,
    /// Kept to tell a changed secret on reload (never shown).
    secret: Vec<u8>,
}

impl std::fmt::Debug for TsigKey {
    // Never the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TsigKey({} {})", self.name, self.key.algorithm())
    }
}

impl PartialEq for TsigKey {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.key.algorithm() == other.key.algorithm()
            && self.secret == other.secret
    }
}

/// The algorithms accepted in the configuration.
pub const ALGORITHMS: &[&str] = &["hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha1"];

impl TsigKey {
    /// A key named `name` (a domain name) for `algorithm` (one of
    /// [`ALGORITHMS`]) with the secret `secret` (the raw bytes, already
    /// decoded from base64).
    pub fn new(name: &str, algorithm: &str, secret: &[u8]) -> Result<TsigKey, String> {
        let alg = Algorithm::from_str(algorithm).map_err(|_| {
            format!(
                "unknown algorithm {algorithm:?} (one of: {})",
                ALGORITHMS.join(", ")
            )
        })?;
        let mut text = name.trim().to_ascii_lowercase();
        if !text.ends_with('.') {
            text.push('.');
        }
        let key_name = KeyName::from_str(&text).map_err(|e| format!("bad key name {name:?}: {e}"))?;
        if secret.is_empty() {
            return Err("the secret is empty".into());
        }
        let key = Key::new(alg, secret, key_name, None, None).map_err(|e| format!("bad key: {e}"))?;
        Ok(TsigKey {
            key,
            name: text,
            secret: secret.to_vec(),
        })
    }

    /// The key's name, with the trailing dot.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Decodes a secret written in base64 (as `tsig-keygen`, `keymgr` and
/// `ldns-keygen` print it).
pub fn decode_secret(text: &str) -> Result<Vec<u8>, String> {
    let text: String = text.split_whitespace().collect();
    domain::utils::base64::decode::<Vec<u8>>(&text).map_err(|e| format!("the secret is not base64: {e}"))
}

/// The clock TSIG signs with: seconds since the Unix epoch.
pub(crate) fn time(now: u64) -> Time48 {
    Time48::from_u64(now)
}

/// What a request's signature says.
pub enum Signed {
    /// Not signed.
    Unsigned,
    /// Signed with `key` and valid: answers are signed in sequence.
    Valid(Box<ServerSequence<Key>>),
    /// Signed, but with an unknown key, a bad MAC or a time outside the
    /// fudge: this (NOTAUTH, RFC 8945 §5.2) is the reply.
    Invalid {
        /// The reply to send.
        reply: Vec<u8>,
        /// Why, for the log.
        reason: String,
    },
}

/// Checks the TSIG of request `raw` against `key` (the zone's key; with
/// none, any signature is an unknown key) at time `now` (Unix seconds).
/// On success the returned message has the TSIG record taken out.
pub fn check_request(raw: &[u8], key: Option<&TsigKey>, now: u64) -> (Signed, Option<Message<Vec<u8>>>) {
    let Ok(mut msg) = Message::from_octets(raw.to_vec()) else {
        return (Signed::Unsigned, None);
    };
    // With no key configured, a store that knows no key: any TSIG is BADKEY.
    let outcome = match key {
        Some(k) => ServerSequence::request(&k.key, &mut msg, time(now)),
        None => ServerSequence::request(&NoKeys, &mut msg, time(now)),
    };
    match outcome {
        Ok(None) => (Signed::Unsigned, Some(msg)),
        Ok(Some(seq)) => (Signed::Valid(Box::new(seq)), Some(msg)),
        Err(e) => {
            let reason = format!("TSIG check failed: {}", e.error());
            // Answered from the message as received (TSIG still in it).
            let reply = Message::from_octets(raw.to_vec())
                .ok()
                .and_then(|orig| e.build_message(&orig, MessageBuilder::new_vec()).ok())
                .map(|b| b.finish())
                .unwrap_or_else(|| palanquin_wire::error_response(raw, None, palanquin_wire::rcode::NOTAUTH));
            (Signed::Invalid { reply, reason }, None)
        }
    }
}

/// `reply` (a whole answer, built unsigned) signed by `signer`: the
/// answer to a signed query on the ordinary path (an SOA query of a
/// secondary, say). `None` when it cannot be read back or the TSIG does
/// not fit.
pub fn sign_reply(reply: &[u8], signer: &mut ServerSequence<Key>, now: u64) -> Option<Vec<u8>> {
    use domain::base::name::ParsedName;
    use domain::rdata::AllRecordData;
    type Rr<'a> = domain::base::Record<ParsedName<&'a [u8]>, AllRecordData<&'a [u8], ParsedName<&'a [u8]>>>;
    let msg = Message::from_octets(reply).ok()?;
    let mut b = MessageBuilder::new_vec();
    *b.header_mut() = msg.header();
    let mut q = b.question();
    for item in msg.question() {
        q.push(item.ok()?).ok()?;
    }
    let mut answer = q.answer();
    for rr in msg.answer().ok()? {
        answer
            .push(rr.ok()?.to_record::<AllRecordData<_, _>>().ok()??)
            .ok()?;
    }
    let mut authority = answer.authority();
    for rr in msg.authority().ok()? {
        authority
            .push(rr.ok()?.to_record::<AllRecordData<_, _>>().ok()??)
            .ok()?;
    }
    let mut additional = authority.additional();
    for rr in msg.additional().ok()? {
        let rr: Rr<'_> = rr.ok()?.to_record().ok()??;
        additional.push(rr).ok()?;
    }
    signer.answer(&mut additional, time(now)).ok()?;
    Some(additional.finish())
}

/// A key store with no keys.
struct NoKeys;

impl domain::tsig::KeyStore for NoKeys {
    type Key = Key;

    fn get_key<N: domain::base::ToName>(&self, _name: &N, _algorithm: Algorithm) -> Option<Self::Key> {
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_and_the_secret_is_never_shown() {
        let secret = decode_secret("c2VjcmV0LXNlY3JldC1zZWNyZXQ=").unwrap();
        let key = TsigKey::new("xfr-key", "hmac-sha256", &secret).unwrap();
        assert_eq!(key.name(), "xfr-key.");
        assert!(!format!("{key:?}").contains("c2Vj"));
        assert!(TsigKey::new("k.", "hmac-md4", &secret)
            .unwrap_err()
            .contains("unknown algorithm"));
        assert!(decode_secret("not base64 !!").is_err());
        assert!(TsigKey::new("k.", "hmac-sha256", &[]).is_err());
        // A new secret under the same name is another key (a reload must see it).
        let rotated = TsigKey::new("xfr-key", "hmac-sha256", b"another secret").unwrap();
        assert!(key != rotated);
        assert!(key == TsigKey::new("xfr-key.", "hmac-sha256", &secret).unwrap());
    }
}
