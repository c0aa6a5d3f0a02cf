//! CloudTrail's LookupEvents over its JSON 1.1 protocol: the caller's account's records, newest
//! first, filtered by one attribute and a time range, 50 at most per page.

use crate::api::{App, Caller};
use crate::error::{AwsError, ErrorCode};
use base64::Engine;
use serde_json::{json, Value};
use sha2::Digest;

fn err(code: ErrorCode, message: impl Into<String>) -> AwsError {
    AwsError::new(code, message)
}

pub async fn dispatch(app: &App, c: &Caller, action: &str, body: &[u8]) -> Result<String, AwsError> {
    let input: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|_| err(ErrorCode::SerializationException, "The request body is not valid JSON."))?
    };
    if !input.is_object() {
        return Err(err(ErrorCode::SerializationException, "The request body must be a JSON object."));
    }
    crate::audit::with(|e| e.params_json = Some(lower_camel_keys(&input)));
    match action {
        "LookupEvents" => lookup_events(app, c, &input).await,
        _ => Err(err(ErrorCode::UnknownOperationException, format!("Unknown operation {action}"))),
    }
}

/// requestParameters for a JSON call: the input with lowerCamelCase keys.
fn lower_camel_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (crate::api::params::lower_camel(k), lower_camel_keys(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(lower_camel_keys).collect()),
        other => other.clone(),
    }
}

pub const ATTRIBUTE_KEYS: [&str; 8] = ["EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName", "EventSource", "AccessKeyId"];

/// A timestamp as botocore sends it (epoch seconds, possibly fractional) or an ISO 8601 string; ms.
fn timestamp(v: &Value, name: &str) -> Result<Option<i64>, AwsError> {
    let bad = || err(ErrorCode::InvalidTimeRangeException, format!("{name} is not a valid timestamp."));
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite() && *f >= 0.0 && *f < 1e11).map(|f| Some((f * 1000.0).floor() as i64)).ok_or_else(bad),
        Value::String(s) => match s.parse::<f64>() {
            Ok(f) if f.is_finite() && (0.0..1e11).contains(&f) => Ok(Some((f * 1000.0).floor() as i64)),
            _ => chrono::DateTime::parse_from_rfc3339(s).map(|t| Some(t.timestamp_millis())).map_err(|_| bad()),
        },
        _ => Err(bad()),
    }
}

struct Query {
    key: Option<String>,
    value: String,
    start_ms: i64,
    end_ms: i64,
    max: usize,
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

fn matches(q: &Query, s: &Summary) -> bool {
    if s.time_ms < q.start_ms - q.start_ms.rem_euclid(1000) || s.time_ms > q.end_ms {
        return false;
    }
    let v = q.value.as_str();
    match q.key.as_deref() {
        None => true,
        Some("EventId") => s.event_id == v,
        Some("EventName") => s.event_name == v,
        Some("ReadOnly") => (if s.read_only { "true" } else { "false" }) == v,
        Some("Username") => s.username.as_deref() == Some(v),
        Some("ResourceType") => s.resources.iter().any(|r| r.0 == v),
        Some("ResourceName") => s.resources.iter().any(|r| r.1 == v),
        Some("EventSource") => s.source == v,
        Some("AccessKeyId") => s.access_key_id == v,
        Some(_) => false,
    }
}

async fn lookup_events(app: &App, c: &Caller, input: &Value) -> Result<String, AwsError> {
    crate::api::target::account(app, c, crate::api::action::Action::LookupEvents).await?;
    let attrs = match &input["LookupAttributes"] {
        Value::Null => Vec::new(),
        Value::Array(a) => a.clone(),
        _ => return Err(err(ErrorCode::InvalidLookupAttributesException, "LookupAttributes must be a list.")),
    };
    if attrs.len() > 1 {
        return Err(err(ErrorCode::InvalidLookupAttributesException, "You can only specify one lookup attribute."));
    }
    let (key, value) = match attrs.first() {
        None => (None, String::new()),
        Some(a) => {
            let k = a["AttributeKey"].as_str().unwrap_or("");
            if !ATTRIBUTE_KEYS.contains(&k) {
                return Err(err(
                    ErrorCode::InvalidLookupAttributesException,
                    format!("{k:?} is not a valid attribute key; use one of {}.", ATTRIBUTE_KEYS.join(", ")),
                ));
            }
            let v = a["AttributeValue"].as_str().unwrap_or("");
            if v.is_empty() || v.chars().count() > 2000 {
                return Err(err(ErrorCode::InvalidLookupAttributesException, "AttributeValue must be 1 to 2000 characters long."));
            }
            (Some(k.to_string()), v.to_string())
        }
    };
    let now = app.iam.clock.now_ms();
    let start = timestamp(&input["StartTime"], "StartTime")?;
    let end = timestamp(&input["EndTime"], "EndTime")?;
    if let (Some(s), Some(e)) = (start, end) {
        if s > e {
            return Err(err(ErrorCode::InvalidTimeRangeException, "Start time must be before end time."));
        }
    }
    if let Some(s) = start {
        if s > now {
            return Err(err(ErrorCode::InvalidTimeRangeException, "Start time must not be in the future."));
        }
    }
    let max = match &input["MaxResults"] {
        Value::Null => 50,
        v => match v.as_i64() {
            Some(n) if (1..=50).contains(&n) => n as usize,
            _ => return Err(err(ErrorCode::InvalidMaxResultsException, "MaxResults must be between 1 and 50.")),
        },
    };
    match &input["EventCategory"] {
        Value::Null => {}
        Value::String(s) if s == "insight" => {
            // iamd makes no Insights events.
            return Ok(json!({"Events": []}).to_string());
        }
        _ => return Err(err(ErrorCode::InvalidEventCategoryException, "EventCategory must be insight.")),
    }
    let q = Query { key, value, start_ms: start.unwrap_or(0), end_ms: end.unwrap_or(now), max };
    // The token is bound to the query that made it.
    let fingerprint = {
        let canon = json!([input["LookupAttributes"], input["StartTime"], input["EndTime"], c.principal.account_id]).to_string();
        hex::encode(&sha2::Sha256::digest(canon.as_bytes())[..8])
    };
    let (mut seq, mut skip) = match input["NextToken"].as_str() {
        None => (i64::MAX, 0usize),
        Some(t) => decode_token(t, &fingerprint).ok_or_else(|| err(ErrorCode::InvalidNextTokenException, "The NextToken is not valid for this query."))?,
    };
    // Records still waiting for their group commit are written first, so this lookup sees them.
    app.iam.audit.flush().await;
    let store = &app.iam.store;
    let mut events = Vec::new();
    let mut next = None;
    'rows: loop {
        let rows: Vec<(i64, String, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT seq, body, body_z FROM audit_log WHERE account_id = $1 AND last_ms >= $2 AND first_ms <= $3 AND seq <= $4 ORDER BY seq DESC LIMIT 64",
        )
        .bind(&c.principal.account_id)
        .bind(q.start_ms - 1000)
        .bind(q.end_ms + 1000)
        .bind(seq)
        .fetch_all(&store.read)
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
                if !matches(&q, &s) {
                    continue;
                }
                if events.len() == q.max {
                    next = Some(encode_token(*row_seq, i, &fingerprint));
                    break 'rows;
                }
                events.push(json!({
                    "EventId": s.event_id,
                    "EventName": s.event_name,
                    "ReadOnly": if s.read_only { "true" } else { "false" },
                    "AccessKeyId": s.access_key_id,
                    "EventTime": s.time_ms as f64 / 1000.0,
                    "EventSource": s.source,
                    "Username": s.username,
                    "Resources": s.resources.iter().map(|(t, n)| json!({"ResourceType": t, "ResourceName": n})).collect::<Vec<_>>(),
                    "CloudTrailEvent": line,
                }));
            }
        }
        seq = rows.last().map(|r| r.0 - 1).unwrap_or(0);
        skip = 0;
        if seq < 0 {
            break;
        }
    }
    let mut out = json!({"Events": events});
    if let Some(t) = next {
        out["NextToken"] = Value::String(t);
    }
    Ok(out.to_string())
}

fn encode_token(seq: i64, idx: usize, fp: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("1:{seq}:{idx}:{fp}"))
}

fn decode_token(t: &str, fp: &str) -> Option<(i64, usize)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let mut it = s.split(':');
    if it.next()? != "1" {
        return None;
    }
    let seq = it.next()?.parse().ok()?;
    let idx = it.next()?.parse().ok()?;
    (it.next()? == fp && it.next().is_none()).then_some((seq, idx))
}
