//! Roles, sts:AssumeRole (with MFA), and the policy simulator.

use super::action::Action;
use super::authz;
use super::iam::{account, decode_marker, encode_marker, Out};
use super::mfa::page;
use super::mfa::{check_request_mfa, NOT_YOURS};
use super::params::{self, encode_doc, Params, Spec, ARN, DESCRIPTION, DOCUMENT, POLICY_NAME, ROLE_NAME, SESSION_NAME};
use super::xml::Xml;
use super::{target, App, Caller};
use crate::domain::policies::{self, Holder};
use crate::domain::{iso8601, roles, sessions, Owner};
use crate::error::AwsError;
use policy::{Decision, DocKind};

fn write_role(x: &mut Xml, acct: &str, r: &roles::Role, tags: &[(String, String)]) {
    x.text("Path", &r.path)
        .text("RoleName", &r.name)
        .text("RoleId", &r.role_id)
        .text("Arn", &roles::arn(acct, r))
        .text("CreateDate", &iso8601(r.created_at))
        .text("AssumeRolePolicyDocument", &encode_doc(&r.trust_policy))
        .opt("Description", r.description.as_deref())
        .num("MaxSessionDuration", r.max_session_duration);
    if !tags.is_empty() {
        x.tags("Tags", tags);
    }
}

pub async fn create_role(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("RoleName", &ROLE_NAME);
    let path = p.opt("Path", &params::PATH).unwrap_or_else(|| "/".into());
    let trust = p.req("AssumeRolePolicyDocument", &DOCUMENT);
    let description = p.opt("Description", &DESCRIPTION);
    let max = p.int("MaxSessionDuration", 3600, 43_200).unwrap_or(3600);
    let tags = p.tags(false);
    p.opt("PermissionsBoundary", &ARN);
    p.finish()?;
    params::check_duplicate_tag_keys(&tags)?;
    target::new_entity(app, c, Action::CreateRole, &format!("arn:aws:iam::{}:role{path}{name}", account(c))).await?;
    // A role that looks bounded but is not would be worse than a refusal.
    if p.raw("PermissionsBoundary").is_some() {
        return Err(AwsError::invalid_input("Permissions boundaries are not supported by this server yet."));
    }
    let r = roles::create(&app.iam, account(c), &name, &path, &trust, description.as_deref(), max, &tags).await?;
    let mut x = Xml::new();
    x.open("Role");
    write_role(&mut x, account(c), &r, &tags);
    x.close("Role");
    Ok(Some(x.buf))
}

pub async fn get_role(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("RoleName", &ROLE_NAME);
    p.finish()?;
    let r = target::role(app, c, Action::GetRole, &name).await?;
    let tags = roles::tags(&app.iam, &r.role_id).await?;
    let mut x = Xml::new();
    x.open("Role");
    write_role(&mut x, account(c), &r, &tags);
    // GetRole alone carries RoleLastUsed (empty until the role is first assumed); ListRoles never
    // does, as AWS documents.
    x.open("RoleLastUsed");
    if let Some((at, region)) = &r.last_used {
        x.text("LastUsedDate", &iso8601(*at)).text("Region", region);
    }
    x.close("RoleLastUsed");
    x.close("Role");
    Ok(Some(x.buf))
}

pub async fn list_roles(app: &App, c: &Caller, p: &mut Params) -> Out {
    let prefix = p.opt("PathPrefix", &params::PATH_PREFIX).unwrap_or_else(|| "/".into());
    let (marker, max) = p.paging();
    p.finish()?;
    target::listing(app, c, Action::ListRoles, "role").await?;
    let list = roles::list(&app.iam, account(c), &prefix).await?;
    let (list, next) = page(list, |r| r.name.to_ascii_lowercase(), decode_marker(marker.as_deref())?, max);
    let mut x = Xml::new();
    x.list("Roles", &list, |x, r| write_role(x, account(c), r, &[]));
    x.paging(next.map(|n| encode_marker(&n)).as_deref());
    Ok(Some(x.buf))
}

pub async fn update_role(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("RoleName", &ROLE_NAME);
    let description = p.opt("Description", &DESCRIPTION);
    let max = p.int("MaxSessionDuration", 3600, 43_200);
    p.finish()?;
    let r = target::role(app, c, Action::UpdateRole, &name).await?;
    roles::update(&app.iam, account(c), &r.name, description.as_deref(), max).await?;
    Ok(Some(String::new()))
}

pub async fn update_assume_role_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("RoleName", &ROLE_NAME);
    let doc = p.req("PolicyDocument", &DOCUMENT);
    p.finish()?;
    let r = target::role(app, c, Action::UpdateAssumeRolePolicy, &name).await?;
    roles::update_trust(&app.iam, account(c), &r.name, &doc).await?;
    Ok(None)
}

pub async fn delete_role(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("RoleName", &ROLE_NAME);
    p.finish()?;
    let r = target::role(app, c, Action::DeleteRole, &name).await?;
    roles::delete(&app.iam, account(c), &r.name).await?;
    Ok(None)
}

pub async fn tag_role(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("RoleName", &ROLE_NAME);
    let tags = p.tags(true);
    p.finish()?;
    params::check_duplicate_tag_keys(&tags)?;
    let r = target::role(app, c, Action::TagRole, &name).await?;
    roles::tag(&app.iam, account(c), &r.name, &tags).await?;
    Ok(None)
}

pub async fn untag_role(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("RoleName", &ROLE_NAME);
    let keys = p.string_list("TagKeys", &params::TAG_KEY, 50, true);
    p.finish()?;
    let r = target::role(app, c, Action::UntagRole, &name).await?;
    roles::untag(&app.iam, account(c), &r.name, &keys).await?;
    Ok(None)
}

pub async fn list_role_tags(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("RoleName", &ROLE_NAME);
    let (marker, max) = p.paging();
    p.finish()?;
    let r = target::role(app, c, Action::ListRoleTags, &name).await?;
    super::iam::tags_page(roles::tags(&app.iam, &r.role_id).await?, marker, max)
}

pub async fn role_policy(app: &App, c: &Caller, p: &mut Params, op: &str) -> Out {
    let name = p.req("RoleName", &ROLE_NAME);
    let pname = if op == "List" { None } else { Some(p.req("PolicyName", &POLICY_NAME)) };
    let doc = if op == "Put" { Some(p.req("PolicyDocument", &DOCUMENT)) } else { None };
    let paging = if op == "List" { Some(p.paging()) } else { None };
    p.finish()?;
    let action = match op {
        "Put" => Action::PutRolePolicy,
        "Get" => Action::GetRolePolicy,
        "Delete" => Action::DeleteRolePolicy,
        _ => Action::ListRolePolicies,
    };
    let r = target::role(app, c, action, &name).await?;
    match (op, pname, doc) {
        ("Put", Some(pn), Some(d)) => {
            policies::put_inline(&app.iam, Holder::Role, &r.role_id, &r.name, &pn, &d).await?;
            Ok(None)
        }
        ("Get", Some(pn), _) => {
            let d = policies::get_inline(&app.iam, Holder::Role, &r.role_id, &pn).await?;
            let mut x = Xml::new();
            x.text("RoleName", &r.name).text("PolicyName", &pn).text("PolicyDocument", &encode_doc(&d));
            Ok(Some(x.buf))
        }
        ("Delete", Some(pn), _) => {
            policies::delete_inline(&app.iam, Holder::Role, &r.role_id, &pn).await?;
            Ok(None)
        }
        _ => {
            let (marker, max) = paging.unwrap_or((None, 100));
            let names = policies::list_inline(&app.iam, Holder::Role, &r.role_id).await?;
            let (names, next) = page(names, |n| n.clone(), decode_marker(marker.as_deref())?, max);
            let mut x = Xml::new();
            x.list("PolicyNames", &names, |x, n| super::xml::escape(n, &mut x.buf));
            x.paging(next.map(|n| encode_marker(&n)).as_deref());
            Ok(Some(x.buf))
        }
    }
}

pub async fn role_attachment(app: &App, c: &Caller, p: &mut Params, op: &str) -> Out {
    let name = p.req("RoleName", &ROLE_NAME);
    let arn = if op == "List" { None } else { Some(p.req("PolicyArn", &ARN)) };
    let (marker, max) = if op == "List" { p.paging() } else { (None, 100) };
    let prefix = if op == "List" { p.opt("PathPrefix", &params::PATH_PREFIX) } else { None }.unwrap_or_else(|| "/".into());
    p.finish()?;
    let action = match op {
        "Attach" => Action::AttachRolePolicy,
        "Detach" => Action::DetachRolePolicy,
        _ => Action::ListAttachedRolePolicies,
    };
    let r = target::role(app, c, action, &name).await?;
    match (op, arn) {
        ("Attach", Some(a)) => {
            policies::attach(&app.iam, account(c), "role", &r.role_id, &a).await?;
            Ok(None)
        }
        ("Detach", Some(a)) => {
            policies::detach(&app.iam, account(c), "role", &r.role_id, &a).await?;
            Ok(None)
        }
        _ => super::policies::attached_page(policies::attached(&app.iam, "role", &r.role_id).await?, &prefix, marker, max),
    }
}

/// sts:AssumeRole. The trust policy must allow the caller (with the MFA state of this request); when
/// it trusts the whole account rather than the caller's own ARN, the caller also needs an identity
/// policy that allows sts:AssumeRole on the role, as in AWS.
pub async fn assume_role(app: &App, c: &Caller, p: &mut Params) -> Out {
    let role_arn = p.req("RoleArn", &ARN);
    let session_name = p.req("RoleSessionName", &SESSION_NAME);
    let duration = p.int("DurationSeconds", 900, 43_200);
    let serial = p.opt("SerialNumber", &params::SERIAL);
    let code = p.opt("TokenCode", &params::AUTH_CODE);
    p.opt("ExternalId", &Spec { min: 2, max: 1224, pattern: None, sensitive: false });
    p.opt("Policy", &Spec { min: 1, max: 2048, pattern: None, sensitive: false });
    p.finish()?;
    if p.raw("Policy").is_some() || p.raw("PolicyArns.member.1.arn").is_some() {
        return Err(AwsError::invalid_input("Session policies are not supported by this server yet."));
    }
    let denied = || AwsError::access_denied(format!("User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}", c.principal.arn()));
    if c.principal.is_root() {
        return Err(AwsError::access_denied("Roles may not be assumed by root accounts."));
    }
    let role = roles::by_arn(&app.iam, account(c), &role_arn).await?.ok_or_else(denied)?;
    // MFA: a code in this request, or the MFA of the caller's own session, carried through. A role
    // session has no devices of its own.
    if c.principal.role.is_some() && (serial.is_some() || code.is_some()) {
        return Err(AwsError::access_denied(NOT_YOURS));
    }
    // The principal whose device may carry MFA into the session: the calling user (a role session
    // has none; root cannot assume roles).
    let owner = Owner::of(&c.principal);
    // Everything is decided before the code is checked, as if the code will be accepted: the check
    // commits the call's record, so nothing may refuse the call after it. (With the code accepted,
    // MFA is present and 0 seconds old, exactly what is assumed here; with it refused, the call fails.)
    let now = app.iam.clock.now_ms();
    let mfa = match (&serial, &code) {
        (Some(s), Some(_)) => Some((now, s.clone())),
        (None, None) => c.session.as_ref().and_then(|s| s.mfa.clone()),
        _ => return Err(AwsError::access_denied(NOT_YOURS)),
    };
    let mut ctx = authz::context(app, c);
    authz::set_mfa_keys(&mut ctx, mfa.as_ref(), c.session.is_some(), now);
    // The stored trust policy was validated when it was set; it is read, not validated again.
    let trust = policy::parse_stored(&role.trust_policy).map_err(|e| {
        // Logged in full; the caller gets the generic internal error, never the document's detail.
        tracing::error!(error = %e, role_id = role.role_id, "a stored trust policy does not parse");
        AwsError::internal("We encountered an internal error. Please try again.")
    })?;
    let caller_arn = c.principal.arn();
    let canonical = roles::arn(account(c), &role);
    let req = policy::Request {
        action: "sts:AssumeRole",
        resource: &canonical,
        context: &ctx,
        principal_arn: Some(&caller_arn),
        principal_account: Some(account(c)),
    };
    let (decision, matched) = policy::evaluate(&[&trust], &req);
    if decision != Decision::Allow {
        return Err(denied());
    }
    // Naming the caller in the trust policy replaces the need for an identity-policy Allow, never
    // the effect of a Deny: the identity policies are evaluated either way.
    let named_directly = matched.iter().any(|m| trust.statements[m.statement].principal.as_ref().is_some_and(|p| p.aws.contains(&caller_arn)));
    match authz::decide(app, c, Action::AssumeRole, &canonical).await? {
        Decision::Allow => {}
        Decision::ImplicitDeny if named_directly => {}
        d => return Err(authz::denied(c, Action::AssumeRole, &canonical, d)),
    }
    let max = if c.principal.role.is_some() { 3600 } else { role.max_session_duration };
    let duration = duration.unwrap_or(3600);
    if duration > max {
        return Err(AwsError::validation(format!(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role{}.",
            if c.principal.role.is_some() { " (role chaining limits sessions to one hour)" } else { "" }
        )));
    }
    let owner_column = owner.as_ref().map_or("", |o| o.column());
    let issued = sessions::issue(&app.iam, account(c), owner_column, duration, mfa, Some((role.role_id.clone(), session_name.clone())));
    let assumed_id = format!("{}:{session_name}", role.role_id);
    let assumed_arn = format!("arn:aws:sts::{}:assumed-role/{}/{session_name}", account(c), role.name);
    crate::audit::respond(super::mfa::credentials_record(&issued, Some((assumed_id, assumed_arn))));
    if let Some(owner) = &owner {
        check_request_mfa(app, c, owner, serial, code).await?;
    }
    roles::record_use(&app.iam, &role.role_id, &c.region);
    let mut x = Xml::new();
    x.open("Credentials")
        .text("AccessKeyId", &issued.session.access_key_id)
        .text("SecretAccessKey", &issued.session.secret)
        .text("SessionToken", &issued.token)
        .text("Expiration", &iso8601(issued.session.expires_ms))
        .close("Credentials")
        .open("AssumedRoleUser")
        .text("AssumedRoleId", &format!("{}:{session_name}", role.role_id))
        .text("Arn", &format!("arn:aws:sts::{}:assumed-role/{}/{session_name}", account(c), role.name))
        .close("AssumedRoleUser");
    Ok(Some(x.buf))
}

// ---- the simulator ----

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

pub async fn simulate_custom_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    let inputs = policy_inputs(p);
    let actions = p.string_list("ActionNames", &Spec { min: 3, max: 128, pattern: None, sensitive: false }, 1000, true);
    let resources = p.string_list("ResourceArns", &params::ANY_ARN, 1000, false);
    let entries = context_entries(p);
    let paging = p.paging();
    p.finish()?;
    target::account(app, c, Action::SimulateCustomPolicy).await?;
    Ok(Some(simulate_off_workers(inputs, actions, resources, policy::Context::new(), entries, paging).await?))
}

pub async fn simulate_principal_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
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
        "user" => crate::domain::users::tags(&app.iam, &found.id).await?,
        "role" => roles::tags(&app.iam, &found.id).await?,
        _ => vec![],
    };
    for (k, v) in tags {
        ctx.set(&format!("aws:PrincipalTag/{k}"), v);
    }
    let mut found = policies::sources(&app.iam, found.kind, &found.id).await?;
    ctx.set("aws:PrincipalAccount", acct.to_string());
    found.append(&mut inputs);
    Ok(Some(simulate_off_workers(found, actions, resources, ctx, entries, paging).await?))
}
