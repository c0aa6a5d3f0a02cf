//! Parsing and validating policy documents. Every refusal says what is wrong and where
//! (`Statement[1].Condition`), in the words IAM uses for MalformedPolicyDocument where it has them.

use crate::{ConditionClause, Effect, Names, Operator, Policy, Principals, Statement, Version};
use serde_json::{Map, Value};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Identity policies (users, groups, roles, managed) must name resources and no principal; trust
/// policies must name principals and no resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocKind {
    Identity,
    Trust,
}

fn err(msg: impl Into<String>) -> Error {
    Error(msg.into())
}

/// A string or a list of strings (numbers and booleans are taken as their text, as IAM does in
/// condition values).
fn strings(v: &Value, at: &str, allow_scalars: bool) -> Result<Vec<String>, Error> {
    let one = |x: &Value| -> Result<String, Error> {
        match x {
            Value::String(s) => Ok(s.clone()),
            Value::Bool(b) if allow_scalars => Ok(b.to_string()),
            Value::Number(n) if allow_scalars => Ok(n.to_string()),
            _ => Err(err(format!("Syntax errors in policy: {at} must be a string or a list of strings."))),
        }
    };
    match v {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(err(format!("Syntax errors in policy: {at} must not be an empty list.")));
            }
            items.iter().map(one).collect()
        }
        x => Ok(vec![one(x)?]),
    }
}

fn names(st: &Map<String, Value>, pos: &str, neg: &str, at: &str) -> Result<Option<Names>, Error> {
    match (st.get(pos), st.get(neg)) {
        (Some(_), Some(_)) => Err(err(format!("Syntax errors in policy: {at} has both {pos} and {neg}."))),
        (Some(v), None) => Ok(Some(Names { not: false, values: strings(v, &format!("{at}.{pos}"), false)? })),
        (None, Some(v)) => Ok(Some(Names { not: true, values: strings(v, &format!("{at}.{neg}"), false)? })),
        (None, None) => Ok(None),
    }
}

fn principals(v: &Value, not: bool, at: &str) -> Result<Principals, Error> {
    let mut p = Principals { not, any: false, aws: vec![], service: vec![], federated: vec![] };
    match v {
        Value::String(s) if s == "*" => p.any = true,
        Value::Object(m) => {
            for (k, v) in m {
                let list = strings(v, &format!("{at}.{k}"), false)?;
                match k.as_str() {
                    "AWS" => {
                        if list.iter().any(|s| s == "*") {
                            p.any = true;
                        }
                        for a in &list {
                            let ok = a == "*" || (a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())) || a.starts_with("arn:aws:iam::") || a.starts_with("arn:aws:sts::");
                            if !ok {
                                return Err(err(format!("Invalid principal in policy: \"AWS\":\"{a}\" at {at}")));
                            }
                        }
                        p.aws.extend(list)
                    }
                    "Service" => p.service.extend(list),
                    "Federated" => p.federated.extend(list),
                    "CanonicalUser" => {}
                    other => return Err(err(format!("Invalid principal in policy: unknown principal type \"{other}\" at {at}"))),
                }
            }
        }
        _ => return Err(err(format!("Invalid principal in policy at {at}: use \"*\" or an object such as {{\"AWS\": \"arn:aws:iam::123456789012:root\"}}"))),
    }
    Ok(p)
}

/// The actions a trust policy may name (AWS: `sts:AssumeRole*`, `sts:TagSession`,
/// `sts:SetSourceIdentity`, `sts:SetContext`), in any case; or a wildcard over STS.
fn trust_action(a: &str) -> bool {
    const ALLOWED: [&str; 6] = ["assumerole", "assumerolewithsaml", "assumerolewithwebidentity", "tagsession", "setsourceidentity", "setcontext"];
    if a == "*" {
        return true;
    }
    let Some((svc, op)) = a.split_once(':') else { return false };
    if !svc.eq_ignore_ascii_case("sts") {
        return false;
    }
    op.contains(['*', '?']) || ALLOWED.iter().any(|x| op.eq_ignore_ascii_case(x))
}

const STATEMENT_FIELDS: &[&str] = &["Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal", "NotPrincipal", "Condition"];

fn statement(v: &Value, i: usize, kind: DocKind) -> Result<Statement, Error> {
    let at = format!("Statement[{i}]");
    let st = v.as_object().ok_or_else(|| err(format!("Syntax errors in policy: {at} must be an object.")))?;
    if let Some(k) = st.keys().find(|k| !STATEMENT_FIELDS.contains(&k.as_str())) {
        return Err(err(format!("Syntax errors in policy: unknown field {k} in {at}.")));
    }
    let sid = match st.get("Sid") {
        None => None,
        Some(Value::String(s)) if s.chars().all(|c| c.is_ascii_alphanumeric()) => Some(s.clone()),
        Some(Value::String(s)) if kind == DocKind::Trust || s.is_empty() => Some(s.clone()),
        Some(_) => return Err(err(format!("Statement IDs (SID) must be alpha-numeric: {at}.Sid."))),
    };
    let effect = match st.get("Effect") {
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(e) => return Err(err(format!("Invalid effect: {} at {at}.Effect (Allow or Deny).", e.as_str().map(|s| s.to_string()).unwrap_or_else(|| e.to_string())))),
        None => return Err(err(format!("Missing required field Effect in {at}."))),
    };
    let action = names(st, "Action", "NotAction", &at)?.ok_or_else(|| err(format!("Policy statement must contain actions: {at} has neither Action nor NotAction.")))?;
    for a in &action.values {
        if a != "*" && !a.split_once(':').is_some_and(|(svc, op)| !svc.is_empty() && !op.is_empty() && svc.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '*' || c == '?')) {
            return Err(err(format!("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.: '{a}' at {at}.")));
        }
    }
    let resource = names(st, "Resource", "NotResource", &at)?;
    let principal = match (st.get("Principal"), st.get("NotPrincipal")) {
        (Some(_), Some(_)) => return Err(err(format!("Syntax errors in policy: {at} has both Principal and NotPrincipal."))),
        (Some(v), None) => Some(principals(v, false, &format!("{at}.Principal"))?),
        (None, Some(v)) => Some(principals(v, true, &format!("{at}.NotPrincipal"))?),
        (None, None) => None,
    };
    match kind {
        DocKind::Identity => {
            if principal.is_some() {
                return Err(err(format!("Policy document should not specify a principal: {at}.")));
            }
            if resource.is_none() {
                return Err(err(format!("Policy statement must contain resources: {at} has neither Resource nor NotResource.")));
            }
        }
        DocKind::Trust => {
            // A trust policy grants assuming the role and what comes with it, nothing else. A
            // wildcard can only ever match those actions here, so `sts:*` and `*` are taken.
            if !action.not && action.values.iter().any(|a| !trust_action(a)) {
                return Err(err("AssumeRole policy may only specify STS AssumeRole actions."));
            }
            if principal.is_none() {
                return Err(err(format!("Missing required field Principal in {at}.")));
            }
            if resource.is_some() {
                return Err(err(format!("Has prohibited field Resource in {at}: trust policies name principals, not resources.")));
            }
        }
    }
    if let Some(r) = &resource {
        for pat in &r.values {
            if pat != "*" && !pat.starts_with("arn:") {
                return Err(err(format!("Resource {pat} must be in ARN format or \"*\": {at}.")));
            }
        }
    }
    let mut conditions = Vec::new();
    if let Some(c) = st.get("Condition") {
        let c = c.as_object().ok_or_else(|| err(format!("Syntax errors in policy: {at}.Condition must be an object.")))?;
        for (op_name, block) in c {
            let operator = Operator::parse(op_name).ok_or_else(|| err(format!("Invalid Condition type : {op_name} at {at}.Condition.")))?;
            let block = block.as_object().ok_or_else(|| err(format!("Syntax errors in policy: {at}.Condition.{op_name} must be an object of keys.")))?;
            for (key, values) in block {
                if !key.contains(':') {
                    return Err(err(format!("Condition key {key} must be prefaced by a vendor (such as aws:) at {at}.Condition.{op_name}.")));
                }
                let values = strings(values, &format!("{at}.Condition.{op_name}.{key}"), true)?;
                conditions.push(ConditionClause { operator, key: key.clone(), values });
            }
        }
    }
    Ok(Statement { sid, effect, action, resource, principal, conditions })
}

/// Parses and validates a policy document.
pub fn parse(doc: &str, kind: DocKind) -> Result<Policy, Error> {
    let v: Value = serde_json::from_str(doc).map_err(|e| err(format!("Syntax errors in policy: not valid JSON at line {} column {}.", e.line(), e.column())))?;
    let top = v.as_object().ok_or_else(|| err("Syntax errors in policy: the document must be a JSON object."))?;
    if let Some(k) = top.keys().find(|k| !["Version", "Id", "Statement"].contains(&k.as_str())) {
        return Err(err(format!("Syntax errors in policy: unknown top-level field {k}.")));
    }
    let version = match top.get("Version") {
        None => Version::V2008,
        Some(Value::String(s)) if s == "2012-10-17" => Version::V2012,
        Some(Value::String(s)) if s == "2008-10-17" => Version::V2008,
        Some(other) => return Err(err(format!("The policy must contain a valid version string: {other} (2012-10-17 or 2008-10-17)."))),
    };
    let id = match top.get("Id") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(err("Syntax errors in policy: Id must be a string.")),
    };
    let statements = match top.get("Statement") {
        None => return Err(err("Missing required field Statement.")),
        Some(Value::Array(list)) => list.iter().enumerate().map(|(i, s)| statement(s, i, kind)).collect::<Result<Vec<_>, _>>()?,
        Some(s @ Value::Object(_)) => vec![statement(s, 0, kind)?],
        Some(_) => return Err(err("Syntax errors in policy: Statement must be an object or a list of objects.")),
    };
    if statements.is_empty() {
        return Err(err("Syntax errors in policy: Statement must not be empty."));
    }
    let mut sids = std::collections::HashSet::new();
    for s in &statements {
        if let Some(sid) = s.sid.as_deref().filter(|s| !s.is_empty()) {
            if !sids.insert(sid) {
                return Err(err(format!("Statement IDs (SID) in a single policy must be unique: {sid}.")));
            }
        }
    }
    Ok(Policy { version, id, statements })
}
