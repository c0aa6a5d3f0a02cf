//! AWS's wire conventions that every layer writes: IAM's timestamps, CloudTrail's STS times and
//! lowerCamelCase member names. A leaf: it imports nothing from the crate. (The plan called it
//! `wire.rs`; the workspace already has a `wire` crate, the form decoder, so the name is taken.)

/// ISO 8601 UTC with seconds, as IAM writes timestamps.
pub fn iso8601(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default()
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
