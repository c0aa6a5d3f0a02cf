//! IAM policy documents: parsing with validation that says what is wrong and where, and evaluation
//! of a request (action, resource, context keys) against a set of policies.
//!
//! One engine decides for the API, the console and the simulator. The rules (AWS's
//! "policy evaluation logic"): an explicit Deny in any policy wins; otherwise any Allow allows;
//! otherwise the request is implicitly denied. Missing condition keys: positive operators do not
//! match, negated operators match, `…IfExists` operators match, `Null: true` matches.

mod condition;
mod matching;
mod parse;

pub use condition::{Context, Operator};
pub use matching::{glob, resource_matches};
pub use parse::{parse, parse_stored, DocKind, Error};

/// Which version of the policy language a document uses. `2008-10-17` treats `${…}` literally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V2008,
    V2012,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// A list element that may be negated: `Action` or `NotAction`, `Resource` or `NotResource`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    pub not: bool,
    pub values: Vec<String>,
}

/// `Principal` / `NotPrincipal` of a trust policy: `*`, or lists by kind (AWS, Service, Federated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principals {
    pub not: bool,
    pub any: bool,
    pub aws: Vec<String>,
    pub service: Vec<String>,
    pub federated: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionClause {
    pub operator: Operator,
    pub key: String,
    pub values: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub action: Names,
    pub resource: Option<Names>,
    pub principal: Option<Principals>,
    pub conditions: Vec<ConditionClause>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub version: Version,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
}

/// What a request asks: `service:Action` on a resource ARN, with its context keys.
pub struct Request<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub context: &'a Context,
    /// For trust policies: the calling principal's ARN and account.
    pub principal_arn: Option<&'a str>,
    pub principal_account: Option<&'a str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

/// A statement that matched, named by the policy's index in the evaluated list and the statement's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matched {
    pub policy: usize,
    pub statement: usize,
    pub effect: Effect,
}

impl Policy {
    /// Whether statement `s` applies to the request (action, resource or principal, conditions).
    fn statement_matches(&self, s: &Statement, req: &Request<'_>) -> bool {
        let action_hit = s.action.values.iter().any(|a| matching::action_matches(a, req.action));
        if action_hit == s.action.not {
            return false;
        }
        if let Some(r) = &s.resource {
            let hit = r.values.iter().any(|pat| match condition::substitute(pat, self.version, req.context) {
                Some(pat) => resource_matches(&pat, req.resource),
                None => false,
            });
            if hit == r.not {
                return false;
            }
        }
        if let Some(p) = &s.principal {
            let hit = p.any
                || req.principal_arn.is_some_and(|arn| {
                    p.aws.iter().any(|pat| {
                        pat == "*"
                            || pat == arn
                            || req.principal_account.is_some_and(|acct| pat == acct || *pat == format!("arn:aws:iam::{acct}:root"))
                            || (pat.contains('*') && resource_matches(pat, arn))
                    })
                });
            if hit == p.not {
                return false;
            }
        }
        s.conditions.iter().all(|c| condition::evaluate(c, self.version, req.context))
    }
}

/// Evaluates a request against policies (identity-based, or a trust policy): explicit deny, then
/// allow, then implicit deny; with the statements that matched.
pub fn evaluate(policies: &[&Policy], req: &Request<'_>) -> (Decision, Vec<Matched>) {
    let mut matched = Vec::new();
    for (pi, p) in policies.iter().enumerate() {
        for (si, s) in p.statements.iter().enumerate() {
            if p.statement_matches(s, req) {
                matched.push(Matched { policy: pi, statement: si, effect: s.effect });
            }
        }
    }
    let decision = if matched.iter().any(|m| m.effect == Effect::Deny) {
        Decision::ExplicitDeny
    } else if matched.iter().any(|m| m.effect == Effect::Allow) {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    };
    (decision, matched)
}

/// A policy document's size as IAM counts it for quotas: characters, whitespace not counted.
pub fn quota_size(doc: &str) -> usize {
    doc.chars().filter(|c| !c.is_whitespace()).count()
}

#[cfg(test)]
mod tests;
