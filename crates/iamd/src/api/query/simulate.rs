//! The policy simulator: SimulateCustomPolicy and SimulatePrincipalPolicy, off the async workers.

use super::support::{account, decode_marker, encode_marker, Out};
use crate::api::params::{self, Params, Spec, ARN, DOCUMENT};
use crate::api::xml::Xml;
use crate::app::App;
use crate::auth::action::Action;
use crate::auth::target;
use crate::auth::Caller;
use crate::domain::policies::Holder;
use crate::domain::{policies, roles};
use crate::error::{AwsError, Result};
use policy::{Decision, DocKind};

struct Entry {
    key: String,
    values: Vec<String>,
}

fn context_entries(p: &mut Params) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut i = 1;
    while let Some(key) = p.raw(&format!("ContextEntries.member.{i}.ContextKeyName")).map(|s| s.to_string()) {
        let values =
            p.string_list(&format!("ContextEntries.member.{i}.ContextKeyValues"), &Spec { min: 0, max: 4096, pattern: None, sensitive: false }, 1000, false);
        out.push(Entry { key, values });
        i += 1;
    }
    out
}

/// Runs the engine for one page of the action × resource pairs (action-major, as AWS lists them), as
/// enforcement would, and writes EvaluationResults with AWS's Marker/IsTruncated paging: a request
/// costs at most MaxItems (≤ 1000) evaluations, however many pairs it names.
fn simulate(
    sources: &[(String, String, String)],
    actions: &[String],
    resources: &[String],
    mut ctx: policy::Context,
    entries: &[Entry],
    paging: (Option<String>, i64),
) -> Result<String, AwsError> {
    for e in entries {
        ctx.set_many(&e.key, e.values.clone());
    }
    let parsed: Vec<policy::Policy> =
        sources.iter().map(|(_, _, d)| policy::parse(d, DocKind::Identity)).collect::<Result<_, _>>().map_err(|e| AwsError::malformed_policy_document(e.0))?;
    let refs: Vec<&policy::Policy> = parsed.iter().collect();
    let resources: Vec<String> = if resources.is_empty() { vec!["*".into()] } else { resources.to_vec() };
    let total = actions.len() * resources.len();
    let start = match decode_marker(paging.0.as_deref())? {
        None => 0,
        Some(m) => m.parse::<usize>().ok().filter(|&i| i < total).ok_or_else(|| AwsError::invalid_input("Invalid Marker."))?,
    };
    let end = (start + paging.1 as usize).min(total);
    let mut x = Xml::new();
    let mut results = Vec::with_capacity(end - start);
    for i in start..end {
        let (a, r) = (&actions[i / resources.len()], &resources[i % resources.len()]);
        let (d, matched) = policy::evaluate(&refs, &policy::Request { action: a, resource: r, context: &ctx, principal_arn: None, principal_account: None });
        results.push((a.clone(), r.clone(), d, matched));
    }
    x.list("EvaluationResults", &results, |x, (a, r, d, matched)| {
        x.text("EvalActionName", a).text("EvalResourceName", r).text(
            "EvalDecision",
            match d {
                Decision::Allow => "allowed",
                Decision::ExplicitDeny => "explicitDeny",
                Decision::ImplicitDeny => "implicitDeny",
            },
        );
        let relevant: Vec<&policy::Matched> = matched.iter().filter(|m| (*d == Decision::ExplicitDeny) == (m.effect == policy::Effect::Deny)).collect();
        x.list("MatchedStatements", &relevant, |x, m| {
            let (id, kind, _) = &sources[m.policy];
            x.text("SourcePolicyId", id).text("SourcePolicyType", kind);
        });
        x.list("MissingContextValues", &Vec::<String>::new(), |_, _| {});
    });
    x.paging((end < total).then(|| encode_marker(&end.to_string())).as_deref());
    Ok(x.buf)
}

fn policy_inputs(p: &mut Params) -> Vec<(String, String, String)> {
    p.string_list("PolicyInputList", &DOCUMENT, 1000, false)
        .into_iter()
        .enumerate()
        .map(|(i, d)| (format!("PolicyInputList.{}", i + 1), "IAM Policy".to_string(), d))
        .collect()
}

/// Simulations run on the blocking pool, at most one per core at a time (the rest wait their turn
/// without holding an async worker): a page of 1,000 evaluations over up to 1,000 parsed policies is
/// real CPU work, and the async workers must stay free to answer everyone else.
static SIMULATIONS: std::sync::LazyLock<tokio::sync::Semaphore> =
    std::sync::LazyLock::new(|| tokio::sync::Semaphore::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)));

async fn simulate_off_workers(
    sources: Vec<(String, String, String)>,
    actions: Vec<String>,
    resources: Vec<String>,
    ctx: policy::Context,
    entries: Vec<Entry>,
    paging: (Option<String>, i64),
) -> Result<String, AwsError> {
    let _turn = SIMULATIONS.acquire().await.map_err(|e| AwsError::from(anyhow::anyhow!("simulation gate: {e}")))?;
    tokio::task::spawn_blocking(move || simulate(&sources, &actions, &resources, ctx, &entries, paging))
        .await
        .map_err(|e| AwsError::from(anyhow::anyhow!("simulation task: {e}")))?
}

pub(super) async fn simulate_custom_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    let inputs = policy_inputs(p);
    let actions = p.string_list("ActionNames", &Spec { min: 3, max: 128, pattern: None, sensitive: false }, 1000, true);
    let resources = p.string_list("ResourceArns", &params::ANY_ARN, 1000, false);
    let entries = context_entries(p);
    let paging = p.paging();
    p.finish()?;
    target::account(app, c, Action::SimulateCustomPolicy).await?;
    Ok(Some(simulate_off_workers(inputs, actions, resources, policy::Context::new(), entries, paging).await?))
}

pub(super) async fn simulate_principal_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    let source = p.req("PolicySourceArn", &ARN);
    let mut inputs = policy_inputs(p);
    let actions = p.string_list("ActionNames", &Spec { min: 3, max: 128, pattern: None, sensitive: false }, 1000, true);
    let resources = p.string_list("ResourceArns", &params::ANY_ARN, 1000, false);
    let entries = context_entries(p);
    let paging = p.paging();
    p.finish()?;
    let acct = account(c);
    let found = target::principal_arn(app, c, Action::SimulatePrincipalPolicy, &source).await?;
    let mut ctx = policy::Context::new();
    if let Some(u) = &found.user {
        ctx.set("aws:username", u.name.clone()).set("aws:userid", u.user_id.clone()).set("aws:PrincipalType", "User");
    }
    ctx.set("aws:PrincipalArn", found.arn.clone());
    // The principal's tags, as enforcement sees them (aws:PrincipalTag/…), so the simulator's answers
    // match what a call would get. (Explicit ContextEntries still override them.)
    let tags = match found.kind {
        Holder::User => crate::domain::users::tags(&app.iam, &found.id).await?,
        Holder::Role => roles::tags(&app.iam, &found.id).await?,
        Holder::Group => vec![],
    };
    for (k, v) in tags {
        ctx.set(&format!("aws:PrincipalTag/{k}"), v);
    }
    let mut found = policies::sources(&app.iam, found.kind, &found.id).await?;
    ctx.set("aws:PrincipalAccount", acct.to_string());
    found.append(&mut inputs);
    Ok(Some(simulate_off_workers(found, actions, resources, ctx, entries, paging).await?))
}
