//! Authorization: one place for every IAM action. The root user may do everything in its account;
//! anyone else needs an identity-policy Allow and no explicit Deny, evaluated by the `policy` crate
//! with the request's context keys (including `aws:MultiFactorAuthPresent` and `…Age`).

use super::{App, Caller};
use crate::domain::{iso8601, policies};
use crate::error::{AwsError, Result};
use policy::{Context, Decision};

/// The request context keys AWS defines for a caller (spec 6.3 for the MFA keys).
pub fn context(app: &App, c: &Caller) -> Context {
    let mut ctx = Context::new();
    let now = app.iam.clock.now_ms();
    let p = &c.principal;
    ctx.set("aws:PrincipalArn", p.arn());
    ctx.set("aws:PrincipalAccount", p.account_id.clone());
    ctx.set("aws:userid", p.user_id().to_string());
    match (&p.user, &p.role) {
        (_, Some(_)) => {
            ctx.set("aws:PrincipalType", "AssumedRole");
        }
        (Some(u), None) => {
            ctx.set("aws:username", u.name.clone());
            ctx.set("aws:PrincipalType", "User");
        }
        (None, None) => {
            ctx.set("aws:PrincipalType", "Account");
        }
    }
    if let Some(s) = &c.session {
        ctx.set("aws:TokenIssueTime", iso8601(s.issued_ms));
        set_mfa_keys(&mut ctx, s.mfa.as_ref(), true, now);
    }
    if let Some(ip) = &c.source_ip {
        ctx.set("aws:SourceIp", ip.clone());
    }
    ctx.set("aws:CurrentTime", iso8601(now));
    ctx.set("aws:EpochTime", (now / 1000).to_string());
    ctx.set("aws:SecureTransport", if app.tls { "true" } else { "false" });
    ctx.set("aws:RequestedRegion", c.region.clone());
    ctx
}

/// `aws:MultiFactorAuthPresent` / `…Age` (spec 6.3): true with the age when MFA was used; false in a
/// session without MFA; absent for long-term keys.
pub fn set_mfa_keys(ctx: &mut Context, mfa: Option<&(i64, String)>, in_session: bool, now_ms: i64) {
    match mfa {
        Some((at, _)) => {
            ctx.set("aws:MultiFactorAuthPresent", "true");
            ctx.set("aws:MultiFactorAuthAge", ((now_ms - at).max(0) / 1000).to_string());
        }
        None if in_session => {
            ctx.set("aws:MultiFactorAuthPresent", "false");
        }
        None => {}
    }
}

/// Decides `service:action` on `resource` for the caller; AccessDenied in AWS's two forms.
pub async fn authorize(app: &App, c: &Caller, action: &str, resource: &str) -> Result<()> {
    if c.principal.is_root() {
        return Ok(());
    }
    let full = if action.contains(':') { action.to_string() } else { format!("iam:{action}") };
    // Handlers name another user as `user/NAME`; the real ARN carries the user's path.
    let resolved;
    let resource = match resource.strip_prefix(&format!("arn:aws:iam::{}:user/", c.principal.account_id)) {
        Some(name) if !name.is_empty() && !name.contains('/') && c.principal.user.as_ref().is_none_or(|u| !u.name.eq_ignore_ascii_case(name)) => {
            match crate::domain::users::find(&app.iam.store.read, &c.principal.account_id, name).await? {
                Some(u) if u.path != "/" => {
                    resolved = crate::domain::user_arn(&c.principal.account_id, &u.path, &u.name);
                    resolved.as_str()
                }
                _ => resource,
            }
        }
        _ => resource,
    };
    let list = match (&c.principal.role, &c.principal.user) {
        (Some(r), _) => policies::effective_role(&app.iam, &r.role_id).await?,
        (None, Some(u)) => policies::effective(&app.iam, &u.user_id).await?,
        (None, None) => return Ok(()),
    };
    let mut ctx = context(app, c);
    for (k, v) in &list.principal_tags {
        ctx.set(&format!("aws:PrincipalTag/{k}"), v.clone());
    }
    let refs: Vec<&policy::Policy> = list.policies.iter().map(|p| p.as_ref()).collect();
    let (decision, _) = policy::evaluate(&refs, &policy::Request { action: &full, resource, context: &ctx, principal_arn: None, principal_account: None });
    match decision {
        Decision::Allow => Ok(()),
        Decision::ExplicitDeny => Err(AwsError::access_denied(format!(
            "User: {} is not authorized to perform: {full} on resource: {resource} with an explicit deny in an identity-based policy",
            c.principal.arn()
        ))),
        Decision::ImplicitDeny => Err(AwsError::access_denied(format!(
            "User: {} is not authorized to perform: {full} on resource: {resource} because no identity-based policy allows the {full} action",
            c.principal.arn()
        ))),
    }
}

