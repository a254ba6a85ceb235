//! glibc-compatible parsing of `/etc/resolv.conf`, `LOCALDOMAIN` and `RES_OPTIONS`.
//!
//! Follows glibc's `resolv/res_init.c`. A keyword counts only when it starts the line
//! and is followed by a space or tab. `#` or `;` in column one starts a comment. Tokens
//! are separated by spaces and tabs. Of `search` and `domain`, the last line wins.
//! `LOCALDOMAIN` replaces the search list, and `RES_OPTIONS` is applied after the
//! file. glibc drops bad input without a word; we drop it too and record a [`Warning`].
//!
//! What each setting means for a hedging stub resolver:
//! * `nameserver`: the upstreams, in file order, on port 53. glibc uses only the first three
//!   (`MAXNS`); we keep all of them. `fe80::1%2` and `fe80::1%eth0` set the IPv6 scope. An
//!   empty list means `127.0.0.1:53` ([`ResolvConf::effective_nameservers`]).
//! * `search`/`domain`: suffixes for relative names. `search .` (the root) is dropped.
//! * `ndots:N` (1, max 15): names with at least N dots are tried as-is first.
//! * `timeout:N` (5 s, max 30 s): the wait per attempt, i.e. the budget before hedging to the
//!   next server. glibc waits at least 1 s, so `timeout:0` means 1 s.
//! * `attempts:N` (2, max 5): passes over the server list. glibc sends nothing for 0; we use 1.
//! * `rotate`: spread the load over servers. `use-vc`: TCP only. `edns0`: recorded only, since
//!   palanquin sends an OPT record whatever the file says ([`ResolverConfig::edns_payload`],
//!   1232 bytes by default); glibc's `edns0` turns on what is already on.
//! * `single-request`: never send A and AAAA in parallel from one socket. `single-request-reopen`
//!   implies it (as in glibc's `send_dg`) and adds a fresh socket for the second query.
//! * `no-aaaa`: no AAAA queries. `trust-ad`: set the AD bit and keep it in answers (glibc
//!   clears it otherwise). `no-tld-query`/`no_tld_query`: never query a single label as-is.
//! * `-flag` clears a flag, as in recent glibc. `debug`, `no-check-names` and `no-reload` are
//!   accepted and do nothing. Obsolete options (`inet6`, `ip6-dotint`, ...), `strict-error`
//!   (not implemented) and `sortlist` (meaningless for a stub) produce warnings.
//!
//! [`ResolvConf::parse_with`] is pure: the one fact it needs from the host, the index of an
//! interface named in a scope (`fe80::1%eth0`), comes from the function it is given.
//! [`ResolvConf::parse`] passes one that reads `/sys/class/net/NAME/ifindex`, and
//! [`ResolvConf::load`] reads the file as well. Not done: when there is no search list, glibc
//! uses the hostname's domain; that is left to the caller.
//!
//! [`ResolverConfig::edns_payload`]: crate::ResolverConfig::edns_payload

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::Path;
use std::time::Duration;

const BLANK: [char; 2] = [' ', '\t'];
const PORT: u16 = 53;
const MAX_NDOTS: u64 = 15; // RES_MAXNDOTS
const MAX_TIMEOUT: u64 = 30; // RES_MAXRETRANS
const MAX_ATTEMPTS: u64 = 5; // RES_MAXRETRY

const NOT_IP: &str = "not an IP address (legacy forms such as `1.2.3` are refused)";
const BAD_SCOPE: &str = "unknown IPv6 scope (interface name or number)";
const BAD_DOMAIN: &str = "not a valid domain name";
const MISSING: &str = "keyword without a value, ignored";
const TRAILING: &str = "extra text after the value ignored, as glibc does";
const INDENTED: &str = "indented line ignored, as glibc does (keywords must start the line)";
const UNKNOWN_KEYWORD: &str = "unknown keyword, line ignored";
const SORTLIST: &str = "has no meaning for palanquin";
const UNKNOWN_OPTION: &str = "unknown option, ignored";
const BAD_NUMBER: &str = "malformed number, option ignored";
const CAPPED: &str = "value above glibc's maximum, capped";
const ZERO_ATTEMPTS: &str = "attempts:0 would make glibc send no query at all; using 1";
const OBSOLETE: &str = "obsolete option, ignored";
const UNSUPPORTED: &str = "glibc option not implemented by palanquin, ignored";

/// Resolver settings read from resolv.conf and the environment, with glibc's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvConf {
    /// Every valid `nameserver` line in file order, all on port 53 (more than three allowed).
    pub nameservers: Vec<SocketAddr>,
    /// Search domains, in order, without the trailing dot. Each is a non-empty domain name.
    pub search: Vec<String>,
    /// Minimum dots for a name to be tried as-is first (default 1, max 15).
    pub ndots: u8,
    /// Per-attempt timeout (default 5 s, between 1 s and 30 s).
    pub timeout: Duration,
    /// Number of passes over the server list (default 2, between 1 and 5).
    pub attempts: u8,
    /// `rotate`: spread queries over the servers round-robin.
    pub rotate: bool,
    /// `edns0`: the file asks for an EDNS0 OPT record in queries. Informational: the
    /// stub sends one anyway ([`ResolverConfig::edns_payload`](crate::ResolverConfig::edns_payload)).
    pub edns0: bool,
    /// `single-request`: do not send A and AAAA in parallel on one socket.
    pub single_request: bool,
    /// `single-request-reopen`: like `single-request`, with a new socket for the second query.
    pub single_request_reopen: bool,
    /// `use-vc`: use TCP only.
    pub use_vc: bool,
    /// `no-aaaa`: suppress AAAA queries.
    pub no_aaaa: bool,
    /// `trust-ad`: set the AD bit in queries and keep it in responses.
    pub trust_ad: bool,
    /// `no-tld-query`: never query a single-label name as-is.
    pub no_tld_query: bool,
    /// Problems found while parsing. Each one was skipped or adjusted.
    pub warnings: Vec<Warning>,
}

/// A line or token that was skipped or adjusted while parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line number, or 0 for `LOCALDOMAIN` / `RES_OPTIONS` input.
    pub line: usize,
    /// The offending line or token.
    pub text: String,
    /// Why it was skipped or adjusted.
    pub reason: &'static str,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => f.write_str("environment: `")?,
            n => write!(f, "line {n}: `")?,
        }
        for c in self.text.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        write!(f, "`: {}", self.reason)
    }
}

impl Default for ResolvConf {
    /// glibc's defaults (`RES_TIMEOUT`, `RES_DFLRETRY`, ndots 1), with no nameservers.
    fn default() -> Self {
        ResolvConf {
            nameservers: Vec::new(),
            search: Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(5),
            attempts: 2,
            rotate: false,
            edns0: false,
            single_request: false,
            single_request_reopen: false,
            use_vc: false,
            no_aaaa: false,
            trust_ad: false,
            no_tld_query: false,
            warnings: Vec::new(),
        }
    }
}

impl ResolvConf {
    /// Parses resolv.conf text. Never fails and never panics; bad lines become [`Warning`]s.
    /// An interface named in an IPv6 scope (`fe80::1%eth0`) is looked up in sysfs; see
    /// [`ResolvConf::parse_with`] for the pure form.
    pub fn parse(text: &str) -> ResolvConf {
        ResolvConf::parse_with(text, sysfs_ifindex)
    }

    /// Parses resolv.conf text without touching the host: `ifindex` gives the index of
    /// the interface named in an IPv6 scope (`fe80::1%eth0`), or `None` when there is no
    /// such interface (the line is then skipped with a warning). Numeric scopes and names
    /// that could not be interfaces never reach it.
    pub fn parse_with(text: &str, ifindex: impl Fn(&str) -> Option<u32>) -> ResolvConf {
        let mut rc = ResolvConf::default();
        for (idx, raw) in text.split('\n').enumerate() {
            rc.parse_line(idx + 1, raw.strip_suffix('\r').unwrap_or(raw), &ifindex);
        }
        rc
    }

    /// Reads a file (invalid UTF-8 is replaced) and parses it. I/O errors are returned.
    pub fn load(path: &Path) -> std::io::Result<ResolvConf> {
        let bytes = std::fs::read(path)?;
        Ok(ResolvConf::parse(&String::from_utf8_lossy(&bytes)))
    }

    /// Applies glibc's environment overrides: `LOCALDOMAIN` replaces the search list,
    /// `RES_OPTIONS` is applied after the file's options. Pass the variables' values.
    pub fn apply_env(&mut self, localdomain: Option<&str>, res_options: Option<&str>) {
        if let Some(value) = localdomain {
            // glibc stops at the first newline and splits on blanks.
            let first = value.split('\n').next().unwrap_or_default();
            self.set_search(0, first.split(BLANK).filter(|t| !t.is_empty()));
        }
        if let Some(value) = res_options {
            for token in value.split(BLANK).filter(|t| !t.is_empty()) {
                self.apply_option(0, token);
            }
        }
    }

    /// The nameservers to use: the configured list, or `127.0.0.1:53` when it is empty.
    pub fn effective_nameservers(&self) -> Vec<SocketAddr> {
        if self.nameservers.is_empty() {
            vec![SocketAddr::from(([127, 0, 0, 1], PORT))]
        } else {
            self.nameservers.clone()
        }
    }

    fn warn(&mut self, line: usize, text: &str, reason: &'static str) {
        let text = text.to_owned();
        self.warnings.push(Warning { line, text, reason });
    }

    fn parse_line(&mut self, n: usize, line: &str, ifindex: &dyn Fn(&str) -> Option<u32>) {
        let body = line.trim_start_matches(BLANK);
        if body.is_empty() || body.starts_with(['#', ';']) {
            return;
        }
        if body.len() != line.len() {
            return self.warn(n, line, INDENTED);
        }
        let (keyword, rest) = line.split_once(BLANK).unwrap_or((line, ""));
        let mut tokens = rest.split(BLANK).filter(|t| !t.is_empty());
        match keyword {
            "nameserver" | "domain" | "search" | "options" => {}
            "sortlist" => return self.warn(n, line, SORTLIST),
            _ => return self.warn(n, line, UNKNOWN_KEYWORD),
        }
        let Some(first) = tokens.next() else {
            return self.warn(n, line, MISSING);
        };
        match keyword {
            "nameserver" => match parse_nameserver(first, ifindex) {
                Ok(addr) => self.nameservers.push(addr),
                Err(reason) => return self.warn(n, line, reason),
            },
            "domain" => self.set_search(n, std::iter::once(first)),
            "search" => return self.set_search(n, std::iter::once(first).chain(tokens)),
            _ => {
                for token in std::iter::once(first).chain(tokens) {
                    self.apply_option(n, token);
                }
                return;
            }
        }
        // nameserver and domain take one value; glibc ignores the rest of the line.
        if tokens.next().is_some_and(|t| !t.starts_with(['#', ';'])) {
            self.warn(n, line, TRAILING);
        }
    }

    fn set_search<'a>(&mut self, n: usize, tokens: impl Iterator<Item = &'a str>) {
        let mut search = Vec::new();
        for token in tokens {
            let name = token.strip_suffix('.').unwrap_or(token);
            if name.is_empty() {
                continue; // the root domain: searching it is the as-is query
            }
            let label_ok = |l: &str| {
                (1..=63).contains(&l.len())
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            };
            if name.len() <= 253 && name.split('.').all(label_ok) {
                search.push(name.to_owned());
            } else {
                self.warn(n, token, BAD_DOMAIN);
            }
        }
        self.search = search;
    }

    fn apply_option(&mut self, n: usize, token: &str) {
        if let Some(reason) = self.option_warning(token) {
            self.warn(n, token, reason);
        }
    }

    /// Applies one option token; returns a warning reason if it was not taken as written.
    fn option_warning(&mut self, token: &str) -> Option<&'static str> {
        if let Some((name, value)) = token.split_once(':') {
            let max = match name {
                "ndots" => MAX_NDOTS,
                "timeout" => MAX_TIMEOUT,
                "attempts" => MAX_ATTEMPTS,
                _ => return Some(UNKNOWN_OPTION),
            };
            let Some(v) = parse_number(value) else {
                return Some(BAD_NUMBER);
            };
            let capped = v.min(max);
            let small = u8::try_from(capped).unwrap_or(u8::MAX);
            // glibc's send loop waits at least 1 s, and sends nothing at all for attempts:0.
            match name {
                "ndots" => self.ndots = small,
                "timeout" => self.timeout = Duration::from_secs(capped.max(1)),
                _ => self.attempts = small.max(1),
            }
            return match v {
                v if v > max => Some(CAPPED),
                0 if name == "attempts" => Some(ZERO_ATTEMPTS),
                _ => None,
            };
        }
        let (set, name) = match token.strip_prefix('-') {
            Some(name) => (false, name),
            None => (true, token),
        };
        let flag = match name {
            "rotate" => &mut self.rotate,
            "edns0" => &mut self.edns0,
            "single-request" => &mut self.single_request,
            "single-request-reopen" => &mut self.single_request_reopen,
            "use-vc" => &mut self.use_vc,
            "no-aaaa" => &mut self.no_aaaa,
            "trust-ad" => &mut self.trust_ad,
            "no-tld-query" | "no_tld_query" => &mut self.no_tld_query,
            "debug" | "no-check-names" | "no-reload" => return None,
            "inet6" | "ip6-bytestring" | "ip6-dotint" | "no-ip6-dotint" => return Some(OBSOLETE),
            "strict-error" => return Some(UNSUPPORTED),
            _ => return Some(UNKNOWN_OPTION),
        };
        *flag = set;
        None
    }
}

/// Decimal digits only, saturating (glibc's `strtol` is laxer; we warn instead).
fn parse_number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |acc, b| {
        acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

fn parse_nameserver(token: &str, ifindex: &dyn Fn(&str) -> Option<u32>) -> Result<SocketAddr, &'static str> {
    let Some((addr, scope)) = token.split_once('%') else {
        let ip: IpAddr = token.parse().map_err(|_| NOT_IP)?;
        return Ok(SocketAddr::new(ip, PORT));
    };
    let ip: Ipv6Addr = addr.parse().map_err(|_| NOT_IP)?;
    let scope_id = parse_scope(scope, ifindex).ok_or(BAD_SCOPE)?;
    Ok(SocketAddr::V6(SocketAddrV6::new(ip, PORT, 0, scope_id)))
}

/// A numeric scope, or an interface name looked up through `ifindex`. Names that could not
/// be interfaces (including ones that would escape `/sys/class/net`) are refused first.
fn parse_scope(scope: &str, ifindex: &dyn Fn(&str) -> Option<u32>) -> Option<u32> {
    if !scope.is_empty() && scope.bytes().all(|b| b.is_ascii_digit()) {
        return scope.parse().ok();
    }
    let bad_char = |c: char| c == '/' || c == ':' || c.is_whitespace() || c.is_control();
    if scope.is_empty() || scope.len() > 15 || scope == "." || scope == ".." || scope.contains(bad_char) {
        return None;
    }
    ifindex(scope).filter(|&index| index != 0)
}

/// The index of interface `name`, from `/sys/class/net/NAME/ifindex` (the I/O that
/// [`ResolvConf::parse`] adds to [`ResolvConf::parse_with`]).
fn sysfs_ifindex(name: &str) -> Option<u32> {
    let path = Path::new("/sys/class/net").join(name).join("ifindex");
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }
    fn knobs(rc: &ResolvConf) -> (u8, u8, u64) {
        (rc.ndots, rc.attempts, rc.timeout.as_secs())
    }
    fn warned(rc: &ResolvConf) -> Vec<(usize, &'static str)> {
        rc.warnings.iter().map(|w| (w.line, w.reason)).collect()
    }

    #[test]
    fn typical_file_comments_and_crlf() {
        let text = "# Generated by NetworkManager\n; old style\n\n  \t\n\t# indented comment\n\
            search corp.example.com example.com.\nnameserver 192.0.2.1 # router\n\
            nameserver 2001:db8::53\noptions edns0 trust-ad\n";
        for text in [text.to_owned(), text.replace('\n', "\r\n")] {
            let rc = ResolvConf::parse(&text);
            assert_eq!(rc.nameservers, [sa("192.0.2.1:53"), sa("[2001:db8::53]:53")]);
            assert_eq!(rc.search, ["corp.example.com", "example.com"]);
            assert!(rc.edns0 && rc.trust_ad && !rc.rotate && rc.warnings.is_empty());
            assert_eq!(knobs(&rc), (1, 2, 5));
        }
    }

    #[test]
    fn many_nameservers_ipv6_and_scopes() {
        let rc = ResolvConf::parse(
            "nameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver ::1\nnameserver fe80::1%2\n\
             nameserver 10.0.0.5",
        );
        let v6 = SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().expect("v6"), 53, 0, 2));
        let v4: Vec<_> = ["10.0.0.1:53", "10.0.0.2:53", "[::1]:53"].map(sa).into();
        assert_eq!(rc.nameservers, [v4, vec![v6, sa("10.0.0.5:53")]].concat());
        if let Ok(text) = std::fs::read_to_string("/sys/class/net/lo/ifindex") {
            let index: u32 = text.trim().parse().expect("ifindex");
            let rc = ResolvConf::parse("nameserver fe80::1%lo");
            assert!(matches!(rc.nameservers[..], [SocketAddr::V6(a)] if a.scope_id() == index));
        }
    }

    #[test]
    fn parse_with_asks_only_the_function_it_is_given() {
        let asked = std::cell::RefCell::new(Vec::new());
        let lookup = |name: &str| {
            asked.borrow_mut().push(name.to_owned());
            (name == "eth7").then_some(7)
        };
        let rc = ResolvConf::parse_with(
            "nameserver fe80::1%eth7\nnameserver fe80::2%lo\nnameserver fe80::3%3\n\
             nameserver fe80::4%../x\n",
            lookup,
        );
        let scoped =
            |ip: &str, scope| SocketAddr::V6(SocketAddrV6::new(ip.parse().expect("v6"), 53, 0, scope));
        assert_eq!(rc.nameservers, [scoped("fe80::1", 7), scoped("fe80::3", 3)]);
        assert_eq!(
            warned(&rc),
            [(2, BAD_SCOPE), (4, BAD_SCOPE)],
            "no `lo` in this invented host"
        );
        assert_eq!(
            *asked.borrow(),
            ["eth7", "lo"],
            "numbers and impossible names are not looked up"
        );
        let rc = ResolvConf::parse_with("nameserver fe80::1%eth0\n", |_| Some(0));
        assert!(rc.nameservers.is_empty(), "index 0 is no interface");
    }

    #[test]
    fn search_and_domain_last_wins() {
        let rc = ResolvConf::parse("domain a.example\nsearch b.example c.example\n");
        assert_eq!(rc.search, ["b.example", "c.example"]);
        let rc = ResolvConf::parse("search b.example c.example\ndomain a.example\n");
        assert_eq!(rc.search, ["a.example"]);
        let rc = ResolvConf::parse("search a.example\nsearch .\n");
        assert!(rc.search.is_empty() && rc.warnings.is_empty());
        // A `search` line without a value is ignored by glibc: it does not clear the list.
        let rc = ResolvConf::parse("search a.example\nsearch   \n");
        assert_eq!((rc.search.len(), warned(&rc)), (1, vec![(2, MISSING)]));
    }

    #[test]
    fn every_option_and_caps() {
        let rc = ResolvConf::parse(
            "options ndots:3 timeout:7 attempts:4 rotate edns0 single-request\n\
             options\tsingle-request-reopen use-vc no-aaaa trust-ad no_tld_query\n\
             options debug no-check-names no-reload\n",
        );
        assert_eq!(knobs(&rc), (3, 4, 7));
        assert!(rc.rotate && rc.edns0 && rc.single_request && rc.single_request_reopen);
        assert!(rc.use_vc && rc.no_aaaa && rc.trust_ad && rc.no_tld_query);
        assert!(rc.warnings.is_empty(), "{:?}", rc.warnings);
        let rc = ResolvConf::parse("options rotate no-tld-query\noptions -rotate");
        assert!(!rc.rotate && rc.no_tld_query);
        let rc = ResolvConf::parse("options ndots:99 timeout:31 attempts:6");
        assert_eq!((knobs(&rc), warned(&rc)), ((15, 5, 30), vec![(1, CAPPED); 3]));
        let rc = ResolvConf::parse("options ndots:0 timeout:0 attempts:0");
        assert_eq!((knobs(&rc), warned(&rc)), ((0, 1, 1), vec![(1, ZERO_ATTEMPTS)]));
        let rc = ResolvConf::parse("options ndots:99999999999999999999999 timeout:-1 attempts:");
        assert_eq!(knobs(&rc), (15, 2, 5));
    }

    #[test]
    fn malformed_lines_warn_with_line_numbers() {
        let cases = [
            ("nameserver 1.2.3", NOT_IP),
            ("nameserver 010.0.0.1", NOT_IP),
            ("nameserver 10.0.0.6%2", NOT_IP),
            ("nameserver fe80::1%nosuchif0", BAD_SCOPE),
            ("nameserver fe80::1%../../etc", BAD_SCOPE),
            ("nameserver 1.1.1.2 junk", TRAILING),
            ("domain a.example extra", TRAILING),
            ("nameserver", MISSING),
            ("domain", MISSING),
            ("frobnicate yes", UNKNOWN_KEYWORD),
            ("Nameserver 8.8.8.8", UNKNOWN_KEYWORD),
            ("sortlist 10.0.0.0/255.0.0.0", SORTLIST),
            (" nameserver 9.9.9.9", INDENTED),
            ("search ok.example bad..example", BAD_DOMAIN),
            ("options ndots:x", BAD_NUMBER),
            ("options timeout:-1", BAD_NUMBER),
            ("options bogus", UNKNOWN_OPTION),
            ("options inet6", OBSOLETE),
            ("options strict-error", UNSUPPORTED),
        ];
        let text: String = cases.iter().map(|(line, _)| format!("{line}\n")).collect();
        let rc = ResolvConf::parse(&text);
        let want: Vec<_> = cases.iter().enumerate().map(|(i, c)| (i + 1, c.1)).collect();
        assert_eq!(warned(&rc), want);
        assert_eq!(rc.nameservers, [sa("1.1.1.2:53")]);
        assert_eq!(rc.search, ["ok.example"]);
        assert_eq!(rc.warnings[13].text, "bad..example");
        let shown = format!("line 1: `nameserver 1.2.3`: {NOT_IP}");
        assert_eq!(rc.warnings[0].to_string(), shown);
        let w = &ResolvConf::parse("bad\r\x1b\r\n").warnings[0];
        assert_eq!(
            w.to_string(),
            format!("line 1: `bad\\r\\u{{1b}}`: {UNKNOWN_KEYWORD}")
        );
    }

    #[test]
    fn environment_overrides() {
        let mut rc = ResolvConf::parse("search file.example\noptions ndots:2 rotate\n");
        let localdomain = "env.example\tother.example bad!name\nignored.example";
        rc.apply_env(Some(localdomain), Some("ndots:4 -rotate x"));
        assert_eq!(rc.search, ["env.example", "other.example"]);
        assert_eq!((rc.ndots, rc.rotate), (4, false));
        assert_eq!(warned(&rc), [(0, BAD_DOMAIN), (0, UNKNOWN_OPTION)]);
        assert_eq!(
            rc.warnings[1].to_string(),
            format!("environment: `x`: {UNKNOWN_OPTION}")
        );
        rc.apply_env(Some(""), None);
        assert!(rc.search.is_empty());
    }

    #[test]
    fn empty_file_and_load() {
        let rc = ResolvConf::parse("");
        assert_eq!(rc, ResolvConf::default());
        assert_eq!(rc.effective_nameservers(), [sa("127.0.0.1:53")]);
        let path = std::env::temp_dir().join(format!("palanquin-rc-{}", std::process::id()));
        std::fs::write(&path, b"nameserver 192.0.2.9\n\xff\xfe junk\n").expect("write");
        let rc = ResolvConf::load(&path);
        let _ = std::fs::remove_file(&path);
        let rc = rc.expect("load");
        assert_eq!(rc.effective_nameservers(), [sa("192.0.2.9:53")]);
        assert_eq!(warned(&rc), [(2, UNKNOWN_KEYWORD)]);
        assert!(ResolvConf::load(Path::new("/nonexistent/resolv.conf")).is_err());
    }

    #[test]
    fn byte_soup_never_panics() {
        let words: Vec<&str> = "nameserver |search |domain |options |sortlist |ndots:|timeout:|\
            attempts:|fe80::1%|1.2.3.4|-rotate|\r\n|\n|\t|#|%|lo|."
            .split('|')
            .collect();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2000 {
            let mut bytes = Vec::new();
            for _ in 0..next() % 64 {
                let r = next();
                match r % 3 {
                    0 => bytes.extend_from_slice(words[(r >> 8) as usize % words.len()].as_bytes()),
                    1 => bytes.push(b'0' + (r >> 8) as u8 % 10),
                    _ => bytes.push((r >> 8) as u8),
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            let mut rc = ResolvConf::parse(&text);
            rc.apply_env(Some(&text), Some(&text));
            assert!(rc.ndots <= 15 && (1..=5).contains(&rc.attempts));
            assert!((1..=30).contains(&rc.timeout.as_secs()) && rc.timeout.subsec_nanos() == 0);
            assert!(rc.nameservers.iter().all(|a| a.port() == 53));
            assert!(rc.search.iter().all(|d| !d.is_empty() && !d.ends_with('.')));
            assert!(rc.warnings.iter().all(|w| !w.to_string().is_empty()));
        }
    }
}
