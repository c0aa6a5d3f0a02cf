//! Condition operators, context keys and policy variables.

use crate::matching::{glob, resource_matches};
use crate::{ConditionClause, Version};
use std::collections::HashMap;
use std::net::IpAddr;

/// The request's context keys (names compared case-insensitively), each with one or more values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    map: HashMap<String, Vec<String>>,
}

impl Context {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.map.insert(key.to_ascii_lowercase(), vec![value.into()]);
        self
    }
    pub fn set_many(&mut self, key: &str, values: Vec<String>) -> &mut Self {
        self.map.insert(key.to_ascii_lowercase(), values);
        self
    }
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.map.get(&key.to_ascii_lowercase()).map(|v| v.as_slice()).filter(|v| !v.is_empty())
    }
    pub fn one(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|v| v.first()).map(|s| s.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

const KINDS: &[(&str, Kind)] = &[
    ("StringEquals", Kind::StringEquals),
    ("StringNotEquals", Kind::StringNotEquals),
    ("StringEqualsIgnoreCase", Kind::StringEqualsIgnoreCase),
    ("StringNotEqualsIgnoreCase", Kind::StringNotEqualsIgnoreCase),
    ("StringLike", Kind::StringLike),
    ("StringNotLike", Kind::StringNotLike),
    ("NumericEquals", Kind::NumericEquals),
    ("NumericNotEquals", Kind::NumericNotEquals),
    ("NumericLessThan", Kind::NumericLessThan),
    ("NumericLessThanEquals", Kind::NumericLessThanEquals),
    ("NumericGreaterThan", Kind::NumericGreaterThan),
    ("NumericGreaterThanEquals", Kind::NumericGreaterThanEquals),
    ("DateEquals", Kind::DateEquals),
    ("DateNotEquals", Kind::DateNotEquals),
    ("DateLessThan", Kind::DateLessThan),
    ("DateLessThanEquals", Kind::DateLessThanEquals),
    ("DateGreaterThan", Kind::DateGreaterThan),
    ("DateGreaterThanEquals", Kind::DateGreaterThanEquals),
    ("Bool", Kind::Bool),
    ("BinaryEquals", Kind::BinaryEquals),
    ("IpAddress", Kind::IpAddress),
    ("NotIpAddress", Kind::NotIpAddress),
    ("ArnEquals", Kind::ArnEquals),
    ("ArnLike", Kind::ArnLike),
    ("ArnNotEquals", Kind::ArnNotEquals),
    ("ArnNotLike", Kind::ArnNotLike),
    ("Null", Kind::Null),
];

impl Kind {
    fn negated(self) -> bool {
        matches!(
            self,
            Kind::StringNotEquals
                | Kind::StringNotEqualsIgnoreCase
                | Kind::StringNotLike
                | Kind::NumericNotEquals
                | Kind::DateNotEquals
                | Kind::NotIpAddress
                | Kind::ArnNotEquals
                | Kind::ArnNotLike
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOp {
    Single,
    ForAnyValue,
    ForAllValues,
}

/// A condition operator: its kind, the `IfExists` suffix and the `ForAnyValue:`/`ForAllValues:` prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operator {
    pub kind: Kind,
    pub if_exists: bool,
    pub set: SetOp,
}

impl Operator {
    /// Parses an operator name such as `BoolIfExists` or `ForAllValues:StringLike` (case-insensitive).
    pub fn parse(name: &str) -> Option<Operator> {
        let (set, rest) = if let Some(r) = strip_prefix_ci(name, "ForAnyValue:") {
            (SetOp::ForAnyValue, r)
        } else if let Some(r) = strip_prefix_ci(name, "ForAllValues:") {
            (SetOp::ForAllValues, r)
        } else {
            (SetOp::Single, name)
        };
        let (base, if_exists) = match rest.len().checked_sub(8).filter(|&i| rest.is_char_boundary(i)).map(|i| rest.split_at(i)) {
            Some((b, suffix)) if suffix.eq_ignore_ascii_case("IfExists") => (b, true),
            _ => (rest, false),
        };
        let kind = KINDS.iter().find(|(n, _)| n.eq_ignore_ascii_case(base)).map(|(_, k)| *k)?;
        if kind == Kind::Null && (if_exists || set != SetOp::Single) {
            return None;
        }
        Some(Operator { kind, if_exists, set })
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len() && s.is_char_boundary(prefix.len()) && s[..prefix.len()].eq_ignore_ascii_case(prefix) {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

/// Replaces policy variables: `${aws:username}`, `${key, 'default'}`, and the escapes `${*}`, `${?}`,
/// `${$}`. `None` when a variable has no value and no default (the element then matches nothing).
/// Version 2008-10-17 leaves the text as it is.
pub fn substitute<'a>(text: &'a str, version: Version, ctx: &Context) -> Option<std::borrow::Cow<'a, str>> {
    if version == Version::V2008 || !text.contains("${") {
        return Some(std::borrow::Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Some(std::borrow::Cow::Owned(out));
        };
        let inner = after[..end].trim();
        match inner {
            "*" => out.push('*'),
            "?" => out.push('?'),
            "$" => out.push('$'),
            _ => {
                let (key, default) = match inner.split_once(',') {
                    Some((k, d)) => (k.trim(), Some(d.trim().trim_matches('\'').to_string())),
                    None => (inner, None),
                };
                match ctx.one(key).map(|s| s.to_string()).or(default) {
                    Some(v) => out.push_str(&v),
                    None => return None,
                }
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(std::borrow::Cow::Owned(out))
}

fn number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// ISO 8601 (date, or date and time with an offset) or epoch seconds, as milliseconds.
pub fn date(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Some(n * 1000);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%SZ") {
        return Some(t.and_utc().timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
    }
    None
}

fn cidr_contains(cidr: &str, ip: &str) -> bool {
    let Ok(ip) = ip.trim().parse::<IpAddr>() else { return false };
    let (net, bits) = match cidr.trim().split_once('/') {
        Some((n, b)) => (n, b.parse::<u32>().ok()),
        None => (cidr.trim(), None),
    };
    let Ok(net) = net.parse::<IpAddr>() else { return false };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            (u32::from(n) & mask) == (u32::from(i) & mask)
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            (u128::from(n) & mask) == (u128::from(i) & mask)
        }
        _ => false,
    }
}

/// Whether one context value satisfies one policy value under the operator's positive form.
fn base(kind: Kind, ctx: &str, pol: &str) -> bool {
    use Kind::*;
    match kind {
        StringEquals | StringNotEquals => ctx == pol,
        StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => ctx.to_lowercase() == pol.to_lowercase(),
        StringLike | StringNotLike => glob(pol, ctx, false),
        NumericEquals | NumericNotEquals | NumericLessThan | NumericLessThanEquals | NumericGreaterThan | NumericGreaterThanEquals => {
            match (number(ctx), number(pol)) {
                (Some(c), Some(p)) => match kind {
                    NumericEquals | NumericNotEquals => c == p,
                    NumericLessThan => c < p,
                    NumericLessThanEquals => c <= p,
                    NumericGreaterThan => c > p,
                    _ => c >= p,
                },
                _ => false,
            }
        }
        DateEquals | DateNotEquals | DateLessThan | DateLessThanEquals | DateGreaterThan | DateGreaterThanEquals => match (date(ctx), date(pol)) {
            (Some(c), Some(p)) => match kind {
                DateEquals | DateNotEquals => c == p,
                DateLessThan => c < p,
                DateLessThanEquals => c <= p,
                DateGreaterThan => c > p,
                _ => c >= p,
            },
            _ => false,
        },
        Bool => ctx.eq_ignore_ascii_case(pol),
        BinaryEquals => {
            use base64::Engine;
            let e = base64::engine::general_purpose::STANDARD;
            matches!((e.decode(ctx), e.decode(pol)), (Ok(a), Ok(b)) if a == b)
        }
        IpAddress | NotIpAddress => cidr_contains(pol, ctx),
        ArnEquals | ArnLike | ArnNotEquals | ArnNotLike => resource_matches(pol, ctx),
        Null => false,
    }
}

/// Evaluates one condition clause (one operator, one key, its values) against the context.
pub fn evaluate(c: &ConditionClause, version: Version, ctx: &Context) -> bool {
    let op = c.operator;
    let present = ctx.get(&c.key);
    if op.kind == Kind::Null {
        return c.values.iter().any(|v| v.eq_ignore_ascii_case("true") == present.is_none());
    }
    let negated = op.kind.negated();
    let values: Vec<std::borrow::Cow<'_, str>> = c.values.iter().filter_map(|v| substitute(v, version, ctx)).collect();
    if values.is_empty() && !c.values.is_empty() {
        // Every value named a variable with no value.
        return negated;
    }
    let Some(ctx_values) = present else {
        return match op.set {
            SetOp::ForAllValues => true,
            SetOp::ForAnyValue => false,
            SetOp::Single => op.if_exists || negated,
        };
    };
    // For one context value: positive operators match when any policy value does; negated ones when none does.
    let one = |v: &str| {
        let any = values.iter().any(|p| base(op.kind, v, p));
        if negated {
            !any
        } else {
            any
        }
    };
    match op.set {
        SetOp::ForAllValues => ctx_values.iter().all(|v| one(v)),
        SetOp::ForAnyValue => ctx_values.iter().any(|v| one(v)),
        SetOp::Single => {
            if negated {
                ctx_values.iter().all(|v| one(v))
            } else {
                ctx_values.iter().any(|v| one(v))
            }
        }
    }
}
