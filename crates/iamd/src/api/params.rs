//! Decoding Query-protocol parameters and checking them against the AWS model's constraints at the
//! edge. Every violation is collected and reported at once, in AWS's ValidationError text:
//! `1 validation error detected: Value 'x' at 'userName' failed to satisfy constraint: Member must …`.

use crate::error::AwsError;
use std::collections::HashMap;

/// A pattern's check: whether a value matches it.
pub type Check = fn(&str) -> bool;

/// A model constraint on a string member.
#[derive(Clone, Copy)]
pub struct Spec {
    pub min: usize,
    pub max: usize,
    pub pattern: Option<(Check, &'static str)>,
    /// Never echo the value (passwords).
    pub sensitive: bool,
}

impl Spec {
    /// Whether a value meets the constraint (length in characters, then the pattern).
    pub fn accepts(&self, v: &str) -> bool {
        let n = v.chars().count();
        n >= self.min && n <= self.max && self.pattern.is_none_or(|(check, _)| check(v))
    }
}

const fn spec(min: usize, max: usize, check: fn(&str) -> bool, pattern: &'static str) -> Spec {
    Spec { min, max, pattern: Some((check, pattern)), sensitive: false }
}

fn word_plus(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
}
fn path_ok(s: &str) -> bool {
    s == "/" || (s.len() >= 2 && s.starts_with('/') && s.ends_with('/') && s[1..s.len() - 1].chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c)))
}
fn path_prefix_ok(s: &str) -> bool {
    s.starts_with('/') && s[1..].chars().all(|c| ('\u{21}'..='\u{7f}').contains(&c))
}
fn latin1(s: &str) -> bool {
    s.chars().all(|c| ('\u{20}'..='\u{ff}').contains(&c))
}
fn password_chars(s: &str) -> bool {
    s.chars().all(|c| c == '\t' || c == '\n' || c == '\r' || ('\u{20}'..='\u{ff}').contains(&c))
}
fn word(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
/// `[\p{L}\p{Z}\p{N}_.:/=+\-@]`: letters, digits, separators (a space, not a tab or another control
/// character: one `\x0b` in a tag would make the account's XML unreadable to every SDK).
fn tag_chars(s: &str) -> bool {
    s.chars().all(|c| !c.is_control() && (c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)))
}
/// AWS's roleDescriptionType: tab, line feed, carriage return, printable ASCII and Latin-1.
fn description_chars(s: &str) -> bool {
    s.chars().all(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{a1}'..='\u{ff}'))
}
fn alias_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let inner = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    b.len() >= 3 && inner(b[0]) && inner(b[b.len() - 1]) && b.iter().all(|&c| inner(c) || c == b'-') && !s.contains("--")
}

fn serial_chars(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_alphanumeric() || "_+=/:,.@-".contains(c))
}
fn digits(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_digit())
}

pub const SERIAL: Spec = spec(9, 256, serial_chars, r"[\w+=/:,.@-]+");
pub const MFA_NAME: Spec = spec(1, 226, word_plus, r"[\w+=,.@-]+");
/// AWS's model fixes codes at 6 digits; iamd also takes 8 for hardware tokens that show 8 (the device
/// decides which length it accepts). Codes are never echoed in errors or logs, even malformed ones.
pub const AUTH_CODE: Spec = Spec { sensitive: true, ..spec(6, 8, digits, r"[\d]+") };
pub const USER_NAME: Spec = spec(1, 64, word_plus, r"[\w+=,.@-]+");
pub const POLICY_NAME: Spec = spec(1, 128, word_plus, r"[\w+=,.@-]+");
pub const GROUP_NAME: Spec = spec(1, 128, word_plus, r"[\w+=,.@-]+");
pub const ROLE_NAME: Spec = spec(1, 64, word_plus, r"[\w+=,.@-]+");
pub const SESSION_NAME: Spec = spec(2, 64, word_plus, r"[\w+=,.@-]*");
fn any(_: &str) -> bool {
    true
}
fn ascii_printable(s: &str) -> bool {
    s.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c))
}
fn doc_chars(s: &str) -> bool {
    password_chars(s)
}
pub const DOCUMENT: Spec = spec(1, 131_072, doc_chars, r"[\u0009\u000A\u000D\u0020-\u00FF]+");
/// An ARN that names an IAM entity (PolicyArn, RoleArn, PolicySourceArn): IAM names and paths are
/// ASCII, so anything else is refused here rather than folded into some other name later.
pub const ARN: Spec = spec(20, 2048, ascii_printable, r"[\u0021-\u007E]+");
/// An ARN the simulator only matches against (ResourceArns): any text AWS's arnType allows.
pub const ANY_ARN: Spec = spec(1, 2048, any, "");
pub const DESCRIPTION: Spec = spec(0, 1000, description_chars, r"[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*");

/// Policy documents are URL-encoded JSON in IAM's responses (botocore decodes them).
pub fn encode_doc(doc: &str) -> String {
    percent_encoding::utf8_percent_encode(doc, percent_encoding::NON_ALPHANUMERIC).to_string()
}
pub const EXISTING_USER_NAME: Spec = spec(1, 128, word_plus, r"[\w+=,.@-]+");
pub const PATH: Spec = spec(1, 512, path_ok, r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)");
pub const PATH_PREFIX: Spec = spec(1, 512, path_prefix_ok, r"\u002F[\u0021-\u007F]*");
pub const MARKER: Spec = spec(1, 320, latin1, r"[\u0020-\u00FF]+");
pub const PASSWORD: Spec = Spec { sensitive: true, ..spec(1, 128, password_chars, r"[\u0009\u000A\u000D\u0020-\u00FF]+") };
pub const ACCESS_KEY_ID: Spec = spec(16, 128, word, r"[\w]+");
pub const TAG_KEY: Spec = spec(1, 128, tag_chars, r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+");
pub const TAG_VALUE: Spec = spec(0, 256, tag_chars, r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*");
pub const ACCOUNT_ALIAS: Spec = spec(3, 63, alias_ok, r"^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$");

/// How much of a refused value an error message echoes.
pub const ECHO_CHARS: usize = 256;

/// The decoded parameters of one request, and the violations found so far.
pub struct Params {
    map: HashMap<String, String>,
    errors: Vec<String>,
}

pub use crate::conventions::lower_camel;

impl Params {
    /// Decodes an `application/x-www-form-urlencoded` body or query string.
    pub fn parse(raw: &[u8]) -> Params {
        let mut map = HashMap::new();
        // The first of duplicates wins, as everywhere (wire::first).
        for (k, v) in wire::pairs(raw) {
            map.entry(k).or_insert(v);
        }
        Params { map, errors: Vec::new() }
    }

    /// A Query request's parameters. A GET carries them in the URL. A POST carries them in its form
    /// body, in its URL (botocore presigns IAM and STS URLs for POST, sent with an empty body), or in
    /// both: AWS's Query protocol takes parameters "from the GET URI or from the POST body". Either
    /// way every byte is covered by the signature (the canonical request holds the query string and
    /// the body's hash). A name given in both places would mean two things; AWS documents no
    /// precedence, so iamd refuses it rather than pick one. The signing parameters (`X-Amz-*`) are
    /// not request parameters and are left out of that check.
    pub fn from_request(post: bool, query: &str, body: &[u8]) -> Result<Params, AwsError> {
        if !post {
            return Ok(Params::parse(query.as_bytes()));
        }
        let mut p = Params::parse(body);
        let from_body: std::collections::HashSet<String> = p.map.keys().cloned().collect();
        for (k, v) in wire::pairs(query.as_bytes()) {
            if from_body.contains(&k) && !crate::audit::is_signing_param(&k) {
                let shown: String = k.chars().take(64).collect();
                return Err(AwsError::invalid_parameter_combination(format!("The parameter {shown} appears both in the URL and in the body; send it once.")));
            }
            p.map.entry(k).or_insert(v);
        }
        Ok(p)
    }

    /// The parameters that may enter the audit record (no codes, passwords or signatures), sorted.
    pub fn record_pairs(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self.map.iter().filter(|(k, _)| !crate::audit::is_secret_param(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_unstable();
        v
    }

    pub fn raw(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(|s| s.as_str())
    }

    fn check(&mut self, name: &str, member: &str, v: &str, s: &Spec) {
        // Echoed in AWS's words, but never whole when it is long: a refused 200 KB document would
        // otherwise come back in the error and land in the trail.
        let shown = if s.sensitive {
            String::new()
        } else {
            let head: String = v.chars().take(ECHO_CHARS).collect();
            let more = if head.len() < v.len() { "..." } else { "" };
            format!(" '{}{more}'", head.replace('\'', "\\'"))
        };
        let len = v.chars().count();
        let head = format!("Value{shown} at '{member}' failed to satisfy constraint: Member must");
        if len < s.min {
            self.errors.push(format!("{head} have length greater than or equal to {}", s.min));
        } else if len > s.max {
            self.errors.push(format!("{head} have length less than or equal to {}", s.max));
        } else if let Some((ok, pattern)) = s.pattern {
            if !v.is_empty() && !ok(v) {
                self.errors.push(format!("{head} satisfy regular expression pattern: {pattern}"));
            }
        }
        let _ = name;
    }

    /// An optional string member.
    pub fn opt(&mut self, name: &str, s: &Spec) -> Option<String> {
        let v = self.map.get(name)?.clone();
        self.check(name, &lower_camel(name), &v, s);
        Some(v)
    }

    /// A required string member.
    pub fn req(&mut self, name: &str, s: &Spec) -> String {
        match self.opt(name, s) {
            Some(v) => v,
            None => {
                self.errors.push(format!("Value null at '{}' failed to satisfy constraint: Member must not be null", lower_camel(name)));
                String::new()
            }
        }
    }

    pub fn int(&mut self, name: &str, min: i64, max: i64) -> Option<i64> {
        let raw = self.map.get(name)?.clone();
        let member = lower_camel(name);
        match raw.trim().parse::<i64>() {
            Ok(n) if n < min => {
                self.errors.push(format!("Value '{n}' at '{member}' failed to satisfy constraint: Member must have value greater than or equal to {min}"));
                None
            }
            Ok(n) if n > max => {
                self.errors.push(format!("Value '{n}' at '{member}' failed to satisfy constraint: Member must have value less than or equal to {max}"));
                None
            }
            Ok(n) => Some(n),
            Err(_) => {
                self.errors.push(format!("Value '{raw}' at '{member}' failed to satisfy constraint: Member must be a number"));
                None
            }
        }
    }

    pub fn boolean(&mut self, name: &str) -> Option<bool> {
        let raw = self.map.get(name)?.clone();
        match raw.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                self.errors.push(format!("Value '{raw}' at '{}' failed to satisfy constraint: Member must be a boolean", lower_camel(name)));
                None
            }
        }
    }

    pub fn enumeration(&mut self, name: &str, values: &[&str], required: bool) -> Option<String> {
        let member = lower_camel(name);
        match self.map.get(name).cloned() {
            None if required => {
                self.errors.push(format!("Value null at '{member}' failed to satisfy constraint: Member must not be null"));
                None
            }
            None => None,
            Some(v) if values.contains(&v.as_str()) => Some(v),
            Some(v) => {
                self.errors
                    .push(format!("Value '{v}' at '{member}' failed to satisfy constraint: Member must satisfy enum value set: [{}]", values.join(", ")));
                None
            }
        }
    }

    /// Pagination: (Marker, MaxItems defaulting to 100).
    pub fn paging(&mut self) -> (Option<String>, i64) {
        let marker = self.opt("Marker", &MARKER);
        let max = self.int("MaxItems", 1, 1000).unwrap_or(100);
        (marker, max)
    }

    /// A list of strings: `Name.member.N`, 1-based; `Name=` (empty) is the empty list.
    pub fn string_list(&mut self, name: &str, s: &Spec, max_items: usize, required: bool) -> Vec<String> {
        let mut out = Vec::new();
        let mut i = 1;
        while let Some(v) = self.map.get(&format!("{name}.member.{i}")).cloned() {
            out.push(v);
            i += 1;
        }
        let member = lower_camel(name);
        if out.is_empty() && required && !self.map.contains_key(name) {
            self.errors.push(format!("Value null at '{member}' failed to satisfy constraint: Member must not be null"));
        }
        if out.len() > max_items {
            self.errors.push(format!("Value at '{member}' failed to satisfy constraint: Member must have length less than or equal to {max_items}"));
        }
        for (j, v) in out.clone().iter().enumerate() {
            self.check(name, &format!("{member}.{}.member", j + 1), v, s);
        }
        out
    }

    /// Tags: `Tags.member.N.Key` / `.Value`; at most 50, keys unique case-insensitively.
    pub fn tags(&mut self, required: bool) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut i = 1;
        loop {
            let k = self.map.get(&format!("Tags.member.{i}.Key")).cloned();
            let v = self.map.get(&format!("Tags.member.{i}.Value")).cloned();
            if k.is_none() && v.is_none() {
                break;
            }
            match k {
                Some(k) => {
                    self.check("Key", &format!("tags.{i}.member.key"), &k, &TAG_KEY);
                    let v = v.unwrap_or_default();
                    self.check("Value", &format!("tags.{i}.member.value"), &v, &TAG_VALUE);
                    out.push((k, v));
                }
                None => self.errors.push(format!("Value null at 'tags.{i}.member.key' failed to satisfy constraint: Member must not be null")),
            }
            i += 1;
        }
        if out.is_empty() && required && !self.map.contains_key("Tags") {
            self.errors.push("Value null at 'tags' failed to satisfy constraint: Member must not be null".into());
        }
        if out.len() > 50 {
            self.errors.push("Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50".into());
        }
        out
    }

    /// Ends decoding: the collected violations as one ValidationError, or nothing.
    pub fn finish(&mut self) -> Result<(), AwsError> {
        if self.errors.is_empty() {
            return Ok(());
        }
        let n = self.errors.len();
        let errors = std::mem::take(&mut self.errors);
        Err(AwsError::validation(format!("{n} validation error{} detected: {}", if n == 1 { "" } else { "s" }, errors.join("; "))))
    }
}

/// Duplicate tag keys (case-insensitively) in one request are InvalidInput, as in AWS.
pub fn check_duplicate_tag_keys(tags: &[(String, String)]) -> Result<(), AwsError> {
    let mut seen = std::collections::HashSet::new();
    for (k, _) in tags {
        if k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
            return Err(AwsError::invalid_input("Tag keys beginning with 'aws:' are reserved for AWS use."));
        }
        if !seen.insert(k.to_lowercase()) {
            return Err(AwsError::invalid_input("Duplicate tag keys found. Please note that Tag keys are case insensitive."));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_malformed_values_get_aws_validation_text() {
        let mut p = Params::parse(b"UserName=bad%20name&Path=nopath");
        p.req("UserName", &USER_NAME);
        p.opt("Path", &PATH);
        let e = p.finish().unwrap_err();
        assert_eq!(e.code, crate::error::ErrorCode::ValidationError);
        assert_eq!(e.status, 400);
        assert_eq!(
            e.message,
            r"2 validation errors detected: Value 'bad name' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+; Value 'nopath' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)"
        );
    }

    #[test]
    fn missing_required_is_must_not_be_null_and_long_is_length() {
        let long = "a".repeat(65);
        let mut p = Params::parse(format!("NewUserName={long}").as_bytes());
        p.req("UserName", &USER_NAME);
        p.opt("NewUserName", &USER_NAME);
        assert_eq!(
            p.finish().unwrap_err().message,
            format!("2 validation errors detected: Value null at 'userName' failed to satisfy constraint: Member must not be null; Value '{long}' at 'newUserName' failed to satisfy constraint: Member must have length less than or equal to 64")
        );
    }

    #[test]
    fn passwords_are_never_echoed() {
        let mut p = Params::parse("Password=sec\u{1}ret".as_bytes());
        p.req("Password", &PASSWORD);
        let m = p.finish().unwrap_err().message;
        assert!(!m.contains("sec"), "{m}");
        assert!(m.contains("at 'password'"));
    }

    #[test]
    fn lists_tags_and_empty_lists() {
        let mut p = Params::parse(b"Tags.member.1.Key=a&Tags.member.1.Value=1&Tags.member.2.Key=b&Tags.member.2.Value=&TagKeys=");
        assert_eq!(p.tags(true), vec![("a".into(), "1".into()), ("b".into(), "".into())]);
        assert!(p.string_list("TagKeys", &TAG_KEY, 50, true).is_empty());
        p.finish().unwrap();
        assert!(check_duplicate_tag_keys(&[("A".into(), "".into()), ("a".into(), "".into())]).is_err());
    }

    #[test]
    fn alias_pattern_matches_aws_regex() {
        for ok in ["abc", "my-company", "a1b"] {
            assert!(alias_ok(ok), "{ok}");
        }
        for bad in ["ab", "-abc", "abc-", "a--b", "ABC", "a_b"] {
            assert!(!alias_ok(bad), "{bad}");
        }
    }
}
