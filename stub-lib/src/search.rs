//! Which fully qualified names a user's name stands for (glibc's search-list
//! and `ndots` rules). Pure.

use crate::dns::Name;
use crate::error::NameError;

/// The candidates to try, in order, for `name`:
/// - a trailing dot: the name alone;
/// - at least `ndots` dots: as-is first, then each search domain;
/// - fewer: each search domain first, then as-is (not at all for a single
///   label when `no_tld_query` is set).
pub fn candidates(
    name: &str,
    search: &[Name],
    ndots: u8,
    no_tld_query: bool,
) -> Result<Vec<Name>, NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.ends_with('.') {
        return Ok(vec![Name::from_utf8(name).map_err(NameError::Invalid)?]);
    }
    let relative = Name::from_utf8(name).map_err(NameError::Invalid)?;
    let absolute = Name::from_utf8(format!("{name}.")).map_err(NameError::Invalid)?;
    let dots = name.matches('.').count();
    let mut out = Vec::with_capacity(search.len() + 1);
    let as_is_allowed = !(no_tld_query && dots == 0);
    if dots >= usize::from(ndots) && as_is_allowed {
        out.push(absolute.clone());
    }
    for domain in search {
        // A too-long combination is skipped, as glibc skips it.
        if let Ok(full) = relative.clone().append_domain(domain) {
            if !out.contains(&full) {
                out.push(full);
            }
        }
    }
    if dots < usize::from(ndots) && as_is_allowed && !out.contains(&absolute) {
        out.push(absolute);
    }
    if out.is_empty() {
        return Err(NameError::NoCandidate);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).expect("name")
    }

    fn strs(v: Vec<Name>) -> Vec<String> {
        v.into_iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn absolute_names_skip_the_search_list() {
        let got = candidates("www.example.", &[n("corp.test.")], 1, false).expect("ok");
        assert_eq!(strs(got), vec!["www.example."]);
    }

    #[test]
    fn few_dots_try_search_domains_first() {
        let search = [n("corp.test."), n("test.")];
        let got = candidates("www", &search, 1, false).expect("ok");
        assert_eq!(strs(got), vec!["www.corp.test.", "www.test.", "www."]);
    }

    #[test]
    fn enough_dots_try_as_is_first() {
        let search = [n("corp.test.")];
        let got = candidates("www.example", &search, 1, false).expect("ok");
        assert_eq!(strs(got), vec!["www.example.", "www.example.corp.test."]);
        let got = candidates("www.example", &search, 2, false).expect("ok");
        assert_eq!(strs(got), vec!["www.example.corp.test.", "www.example."]);
    }

    #[test]
    fn no_tld_query_never_asks_a_bare_label() {
        let got = candidates("intranet", &[n("corp.test.")], 1, true).expect("ok");
        assert_eq!(strs(got), vec!["intranet.corp.test."]);
        assert!(candidates("intranet", &[], 1, true).is_err());
    }

    #[test]
    fn bad_names_are_errors_not_panics() {
        assert!(candidates("", &[], 1, false).is_err());
        assert!(candidates(&"a".repeat(64), &[], 1, false).is_err());
        assert!(candidates("a..b", &[], 1, false).is_err());
    }
}
