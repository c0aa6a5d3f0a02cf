//! Parsing and validating policy documents, with IAM's checks in IAM's order and IAM's words.
//!
//! IAM refuses a document at the first of these stages that fails, each with one message:
//! 1. syntax ("Syntax errors in policy."): JSON shape, known fields, types, a known Effect in any
//!    case, no operator it does not know unless its block is empty;
//! 2. for managed policies, the version ("Policy document must be version 2012-10-17 or greater.");
//! 3. "legacy parsing" ("The policy failed legacy parsing"): an Effect in exact case, date condition
//!    values that are dates or epoch seconds, resources whose ARN has its service and, when it has
//!    an empty field, all six fields;
//! 4. unique statement ids; 5. every statement has actions; 6. the first resource that is not a
//!    valid ARN (partition, vendor, region and IAM path rules), in its own message; 7. every action
//!    has one vendor prefix; 8. for identity policies, every statement has resources and no
//!    principal; for trust policies, principals, no resources and only STS's assume-role actions.
//!
//! The stages and messages follow IAM's answers to a table of documents (moto's policy tests,
//! captured from AWS). [`parse`] applies them all, for documents being stored; [`parse_stored`]
//! reads a document stored earlier (under any earlier rules) with only the syntax stage, so a
//! stricter validator never silently drops a stored Deny.

use crate::{ConditionClause, Effect, Names, Operator, Policy, Principals, Statement, Version};
use serde_json::{Map, Value};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Identity policies (inline) name resources and no principal; managed policies are identity
/// policies that must be version 2012-10-17; trust policies name principals and no resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocKind {
    Identity,
    Managed,
    Trust,
}

fn err(msg: impl Into<String>) -> Error {
    Error(msg.into())
}

const SYNTAX: &str = "Syntax errors in policy.";
const LEGACY: &str = "The policy failed legacy parsing";
const STATEMENT_FIELDS: &[&str] = &["Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal", "NotPrincipal", "Condition"];
const PARTITIONS: &[&str] = &["aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"];
const IAM_PATHS: &[&str] = &[
    "user/",
    "federated-user/",
    "role/",
    "group/",
    "instance-profile/",
    "mfa/",
    "server-certificate/",
    "policy/",
    "sms-mfa/",
    "saml-provider/",
    "oidc-provider/",
    "report/",
    "access-report/",
];

/// Parses a document being stored: every stage of IAM's validation.
pub fn parse(doc: &str, kind: DocKind) -> Result<Policy, Error> {
    let (top, statements) = syntax(doc)?;
    if kind == DocKind::Managed && top.get("Version").and_then(Value::as_str) != Some("2012-10-17") {
        return Err(err("Policy document must be version 2012-10-17 or greater."));
    }
    for st in &statements {
        legacy_statement(st)?;
    }
    let resource_error = resources(&statements)?;
    let mut sids = std::collections::HashSet::new();
    for st in &statements {
        if let Some(sid) = st.get("Sid").and_then(Value::as_str).filter(|s| !s.is_empty()) {
            if !sids.insert(sid) {
                return Err(err("Statement IDs (SID) in a single policy must be unique."));
            }
        }
    }
    if statements.iter().any(|st| !present(st, "Action") && !present(st, "NotAction")) {
        return Err(err("Policy statement must contain actions."));
    }
    if let Some(e) = resource_error {
        return Err(err(e));
    }
    for st in &statements {
        for key in ["Action", "NotAction"] {
            for a in list(st.get(key)) {
                action_prefix(a)?;
            }
        }
    }
    for st in &statements {
        match kind {
            DocKind::Identity | DocKind::Managed => {
                if st.contains_key("Principal") || st.contains_key("NotPrincipal") {
                    return Err(err("Policy document should not specify a principal."));
                }
                if !present(st, "Resource") && !present(st, "NotResource") {
                    return Err(err("Policy statement must contain resources."));
                }
            }
            DocKind::Trust => {
                if st.contains_key("Resource") || st.contains_key("NotResource") {
                    return Err(err("Has prohibited field Resource."));
                }
                // A trust policy grants assuming the role and what comes with it, nothing else.
                // A wildcard can only ever match those actions here, so `sts:*` and `*` are taken.
                if list(st.get("Action")).any(|a| !trust_action(a)) {
                    return Err(err("AssumeRole policy may only specify STS AssumeRole actions."));
                }
                let p = st.get("Principal").or_else(|| st.get("NotPrincipal")).ok_or_else(|| err("Missing required field Principal."))?;
                check_principals(p)?;
            }
        }
    }
    Ok(build(&top, &statements))
}

/// Reads a document that was validated when it was stored, perhaps under earlier rules: the syntax
/// stage only, so a document stays in force however the later stages change.
pub fn parse_stored(doc: &str) -> Result<Policy, Error> {
    let (top, statements) = syntax(doc)?;
    Ok(build(&top, &statements))
}

// ---- stage 1: syntax ----

/// `ForAnyValue:` / `ForAllValues:` and `IfExists` stripped, as IAM does to recognise an operator.
fn strip_operator(name: &str) -> &str {
    let n = name.strip_prefix("ForAnyValue:").or_else(|| name.strip_prefix("ForAllValues:")).unwrap_or(name);
    n.strip_suffix("IfExists").unwrap_or(n)
}

fn string_or_strings(v: &Value) -> bool {
    match v {
        Value::String(_) => true,
        Value::Array(items) => items.iter().all(|i| i.is_string() || i.is_null()),
        _ => false,
    }
}

fn scalar(v: &Value) -> bool {
    v.is_string() || v.is_boolean() || v.is_number()
}

/// A document's top level and its statements, as JSON objects.
type Parts = (Map<String, Value>, Vec<Map<String, Value>>);

fn syntax(doc: &str) -> Result<Parts, Error> {
    let v: Value = serde_json::from_str(doc).map_err(|_| err(SYNTAX))?;
    let Value::Object(top) = v else { return Err(err(SYNTAX)) };
    let ok = top.keys().all(|k| ["Version", "Id", "Statement"].contains(&k.as_str()))
        && top.get("Version").is_none_or(|v| v.as_str().is_some_and(|s| s == "2012-10-17" || s == "2008-10-17"))
        && top.get("Id").is_none_or(Value::is_string);
    if !ok {
        return Err(err(SYNTAX));
    }
    let statements: Vec<Map<String, Value>> = match top.get("Statement") {
        Some(Value::Object(m)) => vec![m.clone()],
        Some(Value::Array(list)) if !list.is_empty() => list.iter().map(|s| s.as_object().cloned().ok_or_else(|| err(SYNTAX))).collect::<Result<_, _>>()?,
        _ => return Err(err(SYNTAX)),
    };
    for st in &statements {
        statement_syntax(st)?;
    }
    Ok((top, statements))
}

fn statement_syntax(st: &Map<String, Value>) -> Result<(), Error> {
    let fields_ok = st.keys().all(|k| STATEMENT_FIELDS.contains(&k.as_str()))
        && !(st.contains_key("Action") && st.contains_key("NotAction"))
        && !(st.contains_key("Resource") && st.contains_key("NotResource"))
        && !(st.contains_key("Principal") && st.contains_key("NotPrincipal"));
    let effect_ok = st.get("Effect").and_then(Value::as_str).is_some_and(|e| e.eq_ignore_ascii_case("Allow") || e.eq_ignore_ascii_case("Deny"));
    let names_ok = ["Action", "NotAction", "Resource", "NotResource"].iter().all(|k| st.get(*k).is_none_or(string_or_strings));
    let sid_ok = st.get("Sid").is_none_or(Value::is_string);
    let principal_ok = ["Principal", "NotPrincipal"].iter().all(|k| {
        st.get(*k).is_none_or(|p| match p {
            Value::String(s) => s == "*",
            Value::Object(m) => m.values().all(|v| string_or_strings(v) && !v.as_array().is_some_and(|a| a.iter().any(Value::is_null))),
            _ => false,
        })
    });
    let condition_ok = st.get("Condition").is_none_or(|c| {
        c.as_object().is_some_and(|ops| {
            ops.iter().all(|(name, block)| {
                block.as_object().is_some_and(|keys| {
                    let values_ok = keys.values().all(|v| scalar(v) || v.as_array().is_some_and(|a| a.iter().all(scalar)));
                    // An operator IAM does not know is taken only with an empty block.
                    values_ok && (keys.is_empty() || Operator::parse(name).is_some())
                })
            })
        })
    });
    if fields_ok && effect_ok && names_ok && sid_ok && principal_ok && condition_ok {
        Ok(())
    } else {
        Err(err(SYNTAX))
    }
}

// ---- stage 3: legacy parsing ----

fn legacy_statement(st: &Map<String, Value>) -> Result<(), Error> {
    if !matches!(st.get("Effect").and_then(Value::as_str), Some("Allow" | "Deny")) {
        return Err(err(LEGACY));
    }
    let Some(Value::Object(ops)) = st.get("Condition") else { return Ok(()) };
    for (name, block) in ops {
        if !strip_operator(name).starts_with("Date") {
            continue;
        }
        for v in block.as_object().into_iter().flat_map(|m| m.values()) {
            let values: Vec<&Value> = match v {
                Value::Array(a) => a.iter().collect(),
                one => vec![one],
            };
            for x in values {
                let text = match x {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                if !legacy_date(&text) {
                    return Err(err(LEGACY));
                }
            }
        }
    }
    Ok(())
}

/// A date condition value IAM's legacy parser takes: an ISO 8601 date-time (each field in range;
/// a zone offset of two-digit hours and minutes; at most nine digits of fraction) or epoch seconds.
fn legacy_date(v: &str) -> bool {
    let v = v.to_ascii_lowercase();
    let int_in = |s: &str, lo: i64, hi: i64| s.parse::<i64>().is_ok_and(|n| (lo..=hi).contains(&n));
    if !v.contains('t') && !v.contains('-') {
        return int_in(&v, 0, i64::MAX);
    }
    let (date, time) = v.split_once('t').unwrap_or((&v, ""));
    let (negative, date) = match date.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, date),
    };
    let parts: Vec<&str> = date.split('-').collect();
    let year = if negative { format!("-{}", parts[0]) } else { parts[0].to_string() };
    if parts.len() > 3 || !int_in(&year, -292_275_054, 292_278_993) {
        return false;
    }
    if parts.get(1).is_some_and(|m| !int_in(m, 1, 12)) || parts.get(2).is_some_and(|d| !int_in(d, 1, 31)) {
        return false;
    }
    let t: Vec<&str> = time.split(':').collect();
    if !t[0].is_empty() && !int_in(t[0], 0, 23) {
        return false;
    }
    if t.get(1).is_some_and(|m| !int_in(m, 0, 59)) {
        return false;
    }
    if t.len() <= 2 {
        return true;
    }
    let rest = t[2..].join(":");
    let seconds = if let Some((s, after)) = rest.split_once('z') {
        if !after.is_empty() {
            return false;
        }
        s.to_string()
    } else if let Some(i) = rest.find(['+', '-']) {
        let (s, zone) = (&rest[..i], &rest[i + 1..]);
        let (h, m) = match zone.split_once(':') {
            Some((h, m)) => (h, Some(m)),
            None => (zone, None),
        };
        if h.len() != 2 || !int_in(h, 0, 23) || m.is_some_and(|m| m.len() != 2 || !int_in(m, 0, 59)) {
            return false;
        }
        s.to_string()
    } else {
        rest
    };
    let (whole, fraction) = match seconds.split_once('.') {
        Some((w, f)) => (w.to_string(), Some(f.to_string())),
        None => (seconds, None),
    };
    int_in(&whole, 0, 59) && fraction.is_none_or(|f| int_in(&f, 0, 999_999_999))
}

/// Stage 3's resource half and stage 6's check, statement by statement (Resource, then
/// NotResource): the first resource that is not a valid ARN gives the message kept for stage 6;
/// until one is found, each statement's resources must also pass legacy parsing.
fn resources(statements: &[Map<String, Value>]) -> Result<Option<String>, Error> {
    let mut first: Option<String> = None;
    for key in ["Resource", "NotResource"] {
        for st in statements {
            let Some(v) = st.get(key) else { continue };
            let mut rs: Vec<&str> = list(Some(v)).collect();
            rs.sort_unstable();
            if first.is_none() {
                first = rs.iter().find_map(|r| resource_format(r));
            }
            if first.is_none() && rs.iter().any(|r| *r != "*" && !legacy_resource(r)) {
                return Err(err(LEGACY));
            }
        }
    }
    Ok(first)
}

fn legacy_resource(r: &str) -> bool {
    (r.matches(':').count() >= 5 || !r.contains("::")) && r.split(':').nth(2).is_none_or(|s| !s.is_empty())
}

/// What is wrong with a resource, in IAM's words, if anything.
fn resource_format(r: &str) -> Option<String> {
    if r == "*" {
        return None;
    }
    let Some((_, rest)) = r.split_once(':') else {
        return Some(format!("Resource {r} must be in ARN format or \"*\"."));
    };
    let (partition, after) = rest.split_once(':').map_or((rest, None), |(p, a)| (p, Some(a)));
    if partition != "*" && !PARTITIONS.contains(&partition) {
        let parts: Vec<&str> = after.unwrap_or("").split(':').collect();
        let field = |i: usize| -> String {
            match parts.get(i) {
                Some(s) if !s.is_empty() || parts.len() > 1 => s.to_string(),
                _ => "*".into(),
            }
        };
        let tail = if parts.len() > 3 { parts[3..].join(":") } else { "*".into() };
        return Some(format!("Partition \"{partition}\" is not valid for resource \"arn:{partition}:{}:{}:{}:{tail}\".", field(0), field(1), field(2)));
    }
    let Some(after) = after else {
        return Some("Resource vendor must be fully qualified and cannot contain regexes.".into());
    };
    let (service, rest) = after.split_once(':').unwrap_or((after, ""));
    let (region, rest) = rest.split_once(':').unwrap_or((rest, ""));
    let resource = rest.split_once(':').map_or("", |(_, id)| id);
    if !region.is_empty() {
        match service {
            "iam" => return Some(format!("IAM resource {r} cannot contain region information.")),
            "s3" if !resource.starts_with("accesspoint/") => return Some(format!("Resource {r} can not contain region information.")),
            _ => {}
        }
    }
    // (`root` and a wildcard are IAM resources too: `arn:aws:iam::123456789012:root`, `…:*`.)
    if service == "iam" && !IAM_PATHS.iter().any(|p| resource.starts_with(p)) && resource != "root" && !resource.starts_with('*') {
        return Some(format!("IAM resource path must either be \"*\" or start with {}.", IAM_PATHS.join(", ")));
    }
    None
}

// ---- stages 7 and 8 ----

fn action_prefix(a: &str) -> Result<(), Error> {
    let parts: Vec<&str> = a.split(':').collect();
    if parts.len() == 1 && a != "*" {
        return Err(err("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."));
    }
    if parts.len() > 2 {
        return Err(err("Actions/Condition can contain only one colon."));
    }
    let vendor = parts[0];
    if vendor != "*" && !vendor.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
        return Err(err(format!("Vendor {vendor} is not valid")));
    }
    Ok(())
}

/// The actions a trust policy may name (AWS: `sts:AssumeRole*`, `sts:TagSession`,
/// `sts:SetSourceIdentity`, `sts:SetContext`), in any case; or a wildcard over STS.
fn trust_action(a: &str) -> bool {
    const ALLOWED: [&str; 6] = ["assumerole", "assumerolewithsaml", "assumerolewithwebidentity", "tagsession", "setsourceidentity", "setcontext"];
    if a == "*" {
        return true;
    }
    let Some((svc, op)) = a.split_once(':') else { return false };
    svc.eq_ignore_ascii_case("sts") && (op.contains(['*', '?']) || ALLOWED.iter().any(|x| op.eq_ignore_ascii_case(x)))
}

fn check_principals(v: &Value) -> Result<(), Error> {
    let Value::Object(m) = v else { return Ok(()) };
    for (k, v) in m {
        match k.as_str() {
            "AWS" => {
                for a in list(Some(v)) {
                    let ok = a == "*"
                        || (a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
                        || a.starts_with("arn:aws:iam::")
                        || a.starts_with("arn:aws:sts::");
                    if !ok {
                        return Err(err(format!("Invalid principal in policy: \"AWS\":\"{a}\"")));
                    }
                }
            }
            "Service" | "Federated" | "CanonicalUser" => {}
            other => return Err(err(format!("Invalid principal in policy: unknown principal type \"{other}\""))),
        }
    }
    Ok(())
}

// ---- building the evaluable form ----

/// The strings of a string-or-list field (nulls left out).
fn list(v: Option<&Value>) -> impl Iterator<Item = &str> {
    let items: Vec<&str> = match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    items.into_iter()
}

/// A field that is there and, if a list, not empty.
fn present(st: &Map<String, Value>, key: &str) -> bool {
    match st.get(key) {
        None => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    }
}

fn names(st: &Map<String, Value>, pos: &str, neg: &str) -> Option<Names> {
    match (st.get(pos), st.get(neg)) {
        (Some(v), _) => Some(Names { not: false, values: list(Some(v)).map(String::from).collect() }),
        (None, Some(v)) => Some(Names { not: true, values: list(Some(v)).map(String::from).collect() }),
        (None, None) => None,
    }
}

fn principals(v: &Value, not: bool) -> Principals {
    let mut p = Principals { not, any: false, aws: vec![], service: vec![], federated: vec![] };
    match v {
        Value::String(s) if s == "*" => p.any = true,
        Value::Object(m) => {
            for (k, v) in m {
                let l: Vec<String> = list(Some(v)).map(String::from).collect();
                match k.as_str() {
                    "AWS" => {
                        p.any |= l.iter().any(|s| s == "*");
                        p.aws.extend(l)
                    }
                    "Service" => p.service.extend(l),
                    "Federated" => p.federated.extend(l),
                    _ => {}
                }
            }
        }
        _ => {}
    }
    p
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn build(top: &Map<String, Value>, statements: &[Map<String, Value>]) -> Policy {
    let version = if top.get("Version").and_then(Value::as_str) == Some("2012-10-17") { Version::V2012 } else { Version::V2008 };
    let id = top.get("Id").and_then(Value::as_str).map(String::from);
    let statements = statements
        .iter()
        .map(|st| {
            let effect = if st.get("Effect").and_then(Value::as_str).is_some_and(|e| e.eq_ignore_ascii_case("Allow")) { Effect::Allow } else { Effect::Deny };
            let mut conditions = Vec::new();
            if let Some(Value::Object(ops)) = st.get("Condition") {
                for (name, block) in ops {
                    // An unknown operator is only ever here with an empty block: nothing to evaluate.
                    let (Some(operator), Some(keys)) = (Operator::parse(name), block.as_object()) else { continue };
                    for (key, values) in keys {
                        let values = match values {
                            Value::Array(a) => a.iter().filter_map(scalar_text).collect(),
                            one => scalar_text(one).into_iter().collect(),
                        };
                        conditions.push(ConditionClause { operator, key: key.clone(), values });
                    }
                }
            }
            Statement {
                sid: st.get("Sid").and_then(Value::as_str).map(String::from),
                effect,
                action: names(st, "Action", "NotAction").unwrap_or(Names { not: false, values: vec![] }),
                resource: names(st, "Resource", "NotResource"),
                principal: st.get("Principal").map(|p| principals(p, false)).or_else(|| st.get("NotPrincipal").map(|p| principals(p, true))),
                conditions,
            }
        })
        .collect();
    Policy { version, id, statements }
}
