//! Fuzzes the resolv.conf parser. It must never panic, and every result must stay
//! inside glibc's limits, whatever the input file or environment says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palanquin_stub::resolv_conf::ResolvConf;
use std::time::Duration;

fn check(rc: &ResolvConf) {
    assert!(rc.ndots <= 15, "ndots {}", rc.ndots);
    assert!((1..=5).contains(&rc.attempts), "attempts {}", rc.attempts);
    let range = Duration::from_secs(1)..=Duration::from_secs(30);
    assert!(range.contains(&rc.timeout), "timeout {:?}", rc.timeout);
    assert!(rc.nameservers.iter().all(|a| a.port() == 53));
    assert!(!rc.effective_nameservers().is_empty());
    for d in &rc.search {
        assert!(!d.is_empty() && d.len() <= 253 && !d.ends_with('.'), "search {d:?}");
    }
    for w in &rc.warnings {
        assert!(!w.reason.is_empty());
        let _ = w.to_string();
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut rc = ResolvConf::parse(&text);
    check(&rc);
    let lines = text.split('\n').count();
    assert!(rc.warnings.iter().all(|w| (1..=lines).contains(&w.line)));
    // The same bytes as LOCALDOMAIN and RES_OPTIONS.
    let before = rc.warnings.len();
    rc.apply_env(Some(&text), Some(&text));
    check(&rc);
    assert!(rc.warnings[before..].iter().all(|w| w.line == 0));
});
