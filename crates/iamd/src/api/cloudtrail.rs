//! CloudTrail's LookupEvents over its JSON 1.1 protocol: the request's JSON is checked in
//! CloudTrail's words, the lookup is authorized and handed to the domain (`domain::trail::lookup`),
//! and the page is answered in CloudTrail's shape with a NextToken bound to the query.

use super::{App, Caller};
use crate::domain::trail::{self, Attribute, LookupQuery};
use crate::error::{AwsError, ErrorCode};
use serde_json::{json, Value};

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
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (crate::conventions::lower_camel(k), lower_camel_keys(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(lower_camel_keys).collect()),
        other => other.clone(),
    }
}

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

async fn lookup_events(app: &App, c: &Caller, input: &Value) -> Result<String, AwsError> {
    super::target::account(app, c, super::action::Action::LookupEvents).await?;
    let attrs = match &input["LookupAttributes"] {
        Value::Null => Vec::new(),
        Value::Array(a) => a.clone(),
        _ => return Err(err(ErrorCode::InvalidLookupAttributesException, "LookupAttributes must be a list.")),
    };
    if attrs.len() > 1 {
        return Err(err(ErrorCode::InvalidLookupAttributesException, "You can only specify one lookup attribute."));
    }
    let attribute = match attrs.first() {
        None => None,
        Some(a) => {
            let k = a["AttributeKey"].as_str().unwrap_or("");
            let Some(key) = Attribute::parse(k) else {
                let names: Vec<&str> = Attribute::ALL.iter().map(|a| a.name()).collect();
                return Err(err(ErrorCode::InvalidLookupAttributesException, format!("{k:?} is not a valid attribute key; use one of {}.", names.join(", "))));
            };
            let v = a["AttributeValue"].as_str().unwrap_or("");
            if v.is_empty() || v.chars().count() > 2000 {
                return Err(err(ErrorCode::InvalidLookupAttributesException, "AttributeValue must be 1 to 2000 characters long."));
            }
            Some((key, v.to_string()))
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
    let mut q = LookupQuery { account: c.principal.account_id.clone(), attribute, start_ms: start, end_ms: end, max, after: None };
    let fingerprint = q.fingerprint();
    if let Some(t) = input["NextToken"].as_str() {
        q.after =
            Some(trail::decode_token(t, &fingerprint).ok_or_else(|| err(ErrorCode::InvalidNextTokenException, "The NextToken is not valid for this query."))?);
    }
    let page = trail::lookup(&app.iam, &q).await?;
    let events: Vec<Value> = page
        .events
        .iter()
        .map(|f| {
            let s = &f.summary;
            json!({
                "EventId": s.event_id,
                "EventName": s.event_name,
                "ReadOnly": if s.read_only { "true" } else { "false" },
                "AccessKeyId": s.access_key_id,
                "EventTime": s.time_ms as f64 / 1000.0,
                "EventSource": s.source,
                "Username": s.username,
                "Resources": s.resources.iter().map(|(t, n)| json!({"ResourceType": t, "ResourceName": n})).collect::<Vec<_>>(),
                "CloudTrailEvent": f.record,
            })
        })
        .collect();
    let mut out = json!({"Events": events});
    if let Some(c) = page.next {
        out["NextToken"] = Value::String(trail::encode_token(c, &fingerprint));
    }
    Ok(out.to_string())
}
