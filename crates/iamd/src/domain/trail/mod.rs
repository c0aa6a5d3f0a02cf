//! The audit trail as the domain reads it: lookups over an account's records (the API's
//! LookupEvents and the console's Event history both call [`lookup`]) and the digest chain
//! ([`digest`]: make, verify, export, prune). Records are written by `crate::audit`; this module
//! only reads them, and the digests sign them.

pub mod digest;

use super::Iam;
use crate::error::Result;
use base64::Engine;
use serde_json::Value;
use sha2::Digest;

/// LookupEvents' eight lookup attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attribute {
    EventId,
    EventName,
    ReadOnly,
    Username,
    ResourceType,
    ResourceName,
    EventSource,
    AccessKeyId,
}

impl Attribute {
    pub const ALL: [Attribute; 8] = [
        Attribute::EventId,
        Attribute::EventName,
        Attribute::ReadOnly,
        Attribute::Username,
        Attribute::ResourceType,
        Attribute::ResourceName,
        Attribute::EventSource,
        Attribute::AccessKeyId,
    ];

    /// The attribute's name in CloudTrail's API (`AttributeKey`).
    pub fn name(self) -> &'static str {
        match self {
            Attribute::EventId => "EventId",
            Attribute::EventName => "EventName",
            Attribute::ReadOnly => "ReadOnly",
            Attribute::Username => "Username",
            Attribute::ResourceType => "ResourceType",
            Attribute::ResourceName => "ResourceName",
            Attribute::EventSource => "EventSource",
            Attribute::AccessKeyId => "AccessKeyId",
        }
    }

    pub fn parse(name: &str) -> Option<Attribute> {
        Attribute::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// Where a page ends: the record row and the position of the next event in it (newest first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub seq: i64,
    pub idx: usize,
}

/// One lookup: an account's events with one attribute's value, in a time range, newest first.
pub struct LookupQuery {
    pub account: String,
    pub attribute: Option<(Attribute, String)>,
    /// Milliseconds; `None` is the start of the trail / now.
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub max: usize,
    pub after: Option<Cursor>,
}

impl LookupQuery {
    /// What a page token is bound to: the same query (not the page it has reached), so a token
    /// cannot be replayed against another account, attribute or range.
    pub fn fingerprint(&self) -> String {
        let (k, v) = self.attribute.as_ref().map_or(("", ""), |(a, v)| (a.name(), v.as_str()));
        let canon = format!("{}\u{0}{k}\u{0}{v}\u{0}{:?}\u{0}{:?}", self.account, self.start_ms, self.end_ms);
        hex::encode(&sha2::Sha256::digest(canon.as_bytes())[..8])
    }
}

/// The fields of a record a lookup sees.
pub struct Summary {
    pub event_id: String,
    pub event_name: String,
    pub read_only: bool,
    pub access_key_id: String,
    pub time_ms: i64,
    pub source: String,
    pub username: Option<String>,
    pub resources: Vec<(&'static str, String)>,
}

/// One event found: its summary and the record itself (CloudTrail's JSON, as stored).
pub struct Found {
    pub summary: Summary,
    pub record: String,
}

pub struct Page {
    pub events: Vec<Found>,
    pub next: Option<Cursor>,
}

pub fn summarize(rec: &Value) -> Summary {
    let id = &rec["userIdentity"];
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let username = match id["type"].as_str() {
        Some("Root") => Some("root".to_string()),
        Some("AssumedRole") => id["arn"].as_str().and_then(|a| a.rsplit('/').next()).map(str::to_string),
        _ => id["userName"].as_str().map(str::to_string),
    };
    let mut resources = Vec::new();
    if let Some(p) = rec["requestParameters"].as_object() {
        for (k, t) in [
            ("userName", "AWS::IAM::User"),
            ("roleName", "AWS::IAM::Role"),
            ("roleArn", "AWS::IAM::Role"),
            ("groupName", "AWS::IAM::Group"),
            ("policyArn", "AWS::IAM::Policy"),
            ("serialNumber", "AWS::IAM::MFADevice"),
            ("accessKeyId", "AWS::IAM::AccessKey"),
        ] {
            if let Some(v) = p.get(k).and_then(|v| v.as_str()) {
                resources.push((t, v.to_string()));
            }
        }
    }
    let time_ms = rec["eventTime"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.timestamp_millis()).unwrap_or(0);
    Summary {
        event_id: s(&rec["eventID"]),
        event_name: s(&rec["eventName"]),
        read_only: rec["readOnly"].as_bool().unwrap_or(false),
        access_key_id: s(&id["accessKeyId"]),
        time_ms,
        source: s(&rec["eventSource"]),
        username,
        resources,
    }
}

fn matches(attribute: Option<&(Attribute, String)>, start_ms: i64, end_ms: i64, s: &Summary) -> bool {
    if s.time_ms < start_ms - start_ms.rem_euclid(1000) || s.time_ms > end_ms {
        return false;
    }
    let Some((a, v)) = attribute else { return true };
    let v = v.as_str();
    match a {
        Attribute::EventId => s.event_id == v,
        Attribute::EventName => s.event_name == v,
        Attribute::ReadOnly => (if s.read_only { "true" } else { "false" }) == v,
        Attribute::Username => s.username.as_deref() == Some(v),
        Attribute::ResourceType => s.resources.iter().any(|r| r.0 == v),
        Attribute::ResourceName => s.resources.iter().any(|r| r.1 == v),
        Attribute::EventSource => s.source == v,
        Attribute::AccessKeyId => s.access_key_id == v,
    }
}

/// A page of `q.account`'s events, newest first. The caller has authorized the lookup.
pub async fn lookup(iam: &Iam, q: &LookupQuery) -> Result<Page> {
    let start_ms = q.start_ms.unwrap_or(0);
    let end_ms = q.end_ms.unwrap_or_else(|| iam.clock.now_ms());
    let (mut seq, mut skip) = q.after.map_or((i64::MAX, 0), |c| (c.seq, c.idx));
    // Records still waiting for their group commit are written first, so this lookup sees them.
    iam.audit.flush().await;
    let mut events = Vec::new();
    let mut next = None;
    'rows: loop {
        let rows: Vec<(i64, String, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT seq, body, body_z FROM audit_log WHERE account_id = $1 AND last_ms >= $2 AND first_ms <= $3 AND seq <= $4 ORDER BY seq DESC LIMIT 64",
        )
        .bind(&q.account)
        .bind(start_ms - 1000)
        .bind(end_ms + 1000)
        .bind(seq)
        .fetch_all(&iam.store.read)
        .await?;
        let rows: Vec<(i64, String)> = rows.into_iter().map(|(s, b, z)| (s, crate::audit::row_body(b, z))).collect();
        if rows.is_empty() {
            break;
        }
        for (row_seq, body) in &rows {
            let lines: Vec<&str> = body.split('\n').rev().collect();
            let from = if *row_seq == seq { skip } else { 0 };
            for (i, line) in lines.iter().enumerate().skip(from) {
                let Ok(rec) = serde_json::from_str::<Value>(line) else { continue };
                let s = summarize(&rec);
                if !matches(q.attribute.as_ref(), start_ms, end_ms, &s) {
                    continue;
                }
                if events.len() == q.max {
                    next = Some(Cursor { seq: *row_seq, idx: i });
                    break 'rows;
                }
                events.push(Found { summary: s, record: line.to_string() });
            }
        }
        seq = rows.last().map(|r| r.0 - 1).unwrap_or(0);
        skip = 0;
        if seq < 0 {
            break;
        }
    }
    Ok(Page { events, next })
}

/// A page token: the cursor, bound to the query's fingerprint.
pub fn encode_token(c: Cursor, fingerprint: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("1:{}:{}:{fingerprint}", c.seq, c.idx))
}

/// The cursor of a token made for a query with this fingerprint; `None` for anything else.
pub fn decode_token(t: &str, fingerprint: &str) -> Option<Cursor> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let mut it = s.split(':');
    if it.next()? != "1" {
        return None;
    }
    let seq = it.next()?.parse().ok()?;
    let idx = it.next()?.parse().ok()?;
    (it.next()? == fingerprint && it.next().is_none()).then_some(Cursor { seq, idx })
}
