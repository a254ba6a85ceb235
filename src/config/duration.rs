//! Durations as operators write them: `"500ms"`, `"2s"`, `"1.8s"`, `"5m"`,
//! `"1h"`, `"1d"`, and `"0"`.

use std::time::Duration;

/// Parses a duration; the error says what is accepted.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| {
        format!("{text:?} is not a duration (like \"500ms\", \"2s\", \"5m\", \"1h\", \"1d\")")
    })?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86_400.0,
        "" => return Err(format!("{text:?} needs a unit: ms, s, m, h or d")),
        other => return Err(format!("{text:?}: unknown unit {other:?} (use ms, s, m, h or d)")),
    };
    if !seconds.is_finite() || seconds > 10.0 * 365.0 * 86_400.0 {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("1.8s"), Ok(Duration::from_millis(1800)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn errors_say_what_is_accepted() {
        assert!(parse("5").expect_err("no unit").contains("needs a unit"));
        assert!(parse("5 parsecs").is_err());
        assert!(parse("fast").expect_err("word").contains("not a duration"));
        assert!(parse("1e999s").is_err());
        assert!(parse("").is_err());
    }
}
