//! Sizes ("512MiB", "2G", bytes) and durations ("90s", "10m", seconds).

use std::time::Duration;

pub const SIZE_SUFFIXES: &str =
    "B, K/KiB, M/MiB, G/GiB, T/TiB (powers of 1024), KB, MB, GB, TB (powers of 1000)";
pub const DURATION_SUFFIXES: &str = "ms, s, m, h";

/// Parse a size. Bare K/M/G/T are binary, as in docker and tmpfs.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let multiplier: u64 = match suffix.trim() {
        "" | "B" | "b" => 1,
        "K" | "k" | "KiB" => 1 << 10,
        "M" | "m" | "MiB" => 1 << 20,
        "G" | "g" | "GiB" => 1 << 30,
        "T" | "t" | "TiB" => 1 << 40,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        other => return Err(format!("unknown size suffix \"{other}\"")),
    };
    scale(number, multiplier).ok_or_else(|| format!("\"{text}\" is not a size"))
}

/// Parse a duration; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let millis: u64 = match suffix.trim() {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => return Err(format!("unknown duration suffix \"{other}\"")),
    };
    scale(number, millis).map(Duration::from_millis).ok_or_else(|| format!("\"{text}\" is not a duration"))
}

/// `number * multiplier` for a decimal number like "1.5", without floats
/// (so large byte counts stay exact); `None` on overflow or bad digits.
fn scale(number: &str, multiplier: u64) -> Option<u64> {
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || frac.contains('.') || frac.len() > 9 {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let mut value = whole.checked_mul(multiplier)?;
    if !frac.is_empty() {
        let digits: u64 = frac.parse().ok()?;
        let denominator = 10u64.pow(u32::try_from(frac.len()).ok()?);
        let part = u128::from(digits) * u128::from(multiplier) / u128::from(denominator);
        value = value.checked_add(u64::try_from(part).ok()?)?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("5 parsecs").unwrap_err().contains("parsecs"));
        assert!(parse_size("99999999999T").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("1.2.3M").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("3 days").is_err());
    }
}
