//! AWS's wire conventions that every layer writes: IAM's timestamps, CloudTrail's STS times and
//! lowerCamelCase member names. A leaf: it imports nothing from the crate. (The plan called it
//! `wire.rs`; the workspace already has a `wire` crate, the form decoder, so the name is taken.)

/// ISO 8601 UTC with seconds, as IAM writes timestamps.
pub fn iso8601(ms: i64) -> String {
    use chrono::{Datelike, Timelike};
    // Written field by field: chrono's `format` parses its pattern on every call, and every record
    // of the trail carries a time.
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else { return String::new() };
    let y = t.year();
    if !(0..=9999).contains(&y) {
        return t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    }
    let mut b = *b"0000-00-00T00:00:00Z";
    let mut put = |at: usize, v: u32, digits: usize| {
        let mut v = v;
        for i in (0..digits).rev() {
            b[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, y as u32, 4);
    put(5, t.month(), 2);
    put(8, t.day(), 2);
    put(11, t.hour(), 2);
    put(14, t.minute(), 2);
    put(17, t.second(), 2);
    String::from_utf8_lossy(&b).into_owned()
}

/// CloudTrail's time format inside STS responseElements: `Jul 18, 2023, 4:07:39 PM`.
pub fn sts_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%b %-d, %Y, %-I:%M:%S %p").to_string()).unwrap_or_default()
}

/// `UserName` → `userName`: AWS's member names in messages, CloudTrail's parameter names.
pub fn lower_camel(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso8601_matches_the_chrono_pattern_it_replaces() {
        let mut ms: i64 = -62_135_596_800_000; // 0001-01-01
        while ms < 253_402_300_799_000 {
            let want = chrono::DateTime::from_timestamp_millis(ms).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string();
            assert_eq!(super::iso8601(ms), want, "{ms}");
            ms += 7_777_777_777_777 / 1000 + 999;
        }
        assert_eq!(super::iso8601(1_764_000_000_123), "2025-11-24T16:00:00Z");
    }
}
