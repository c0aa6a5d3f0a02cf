//! Authorization: one place for every IAM action. The root user may do everything in its account;
//! anyone else needs an identity-policy Allow and no explicit Deny, evaluated by the `policy` crate
//! with the request's context keys (including `aws:MultiFactorAuthPresent` and `…Age`).

use super::action::Action;
use super::Caller;
use crate::app::App;
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
    ctx.set("aws:SecureTransport", if c.secure || app.tls { "true" } else { "false" });
    ctx.set("aws:RequestedRegion", c.region.clone());
    ctx
}

/// `aws:MultiFactorAuthPresent` / `…Age` (spec 6.3): true with the age when MFA was used; false in a
/// session without MFA; absent for long-term keys. With MFA, iamd's own `iamd:MultiFactorAuthType`
/// says which kind of device (`fido2`, `totp`, `hardware-totp`), so a policy can require a
/// phishing-resistant factor; AWS lacks the key, so such a policy's condition is simply absent there.
pub fn set_mfa_keys(ctx: &mut Context, mfa: Option<&(i64, String)>, in_session: bool, now_ms: i64) {
    match mfa {
        Some((at, serial)) => {
            ctx.set("aws:MultiFactorAuthPresent", "true");
            ctx.set("aws:MultiFactorAuthAge", ((now_ms - at).max(0) / 1000).to_string());
            ctx.set("iamd:MultiFactorAuthType", crate::domain::mfa::Kind::of_serial(serial).condition_value());
        }
        None if in_session => {
            ctx.set("aws:MultiFactorAuthPresent", "false");
        }
        None => {}
    }
}

/// The identity-policy decision for `action` on `resource` (root: always Allow in its own account).
/// Callers that may override an implicit deny (a trust policy naming the caller, the account's
/// AllowUsersToChangePassword) use this; an explicit Deny is never overridden.
pub async fn decide(app: &App, c: &Caller, action: Action, resource: &str) -> Result<Decision> {
    decide_named(app, c, &action.policy_name(), resource).await
}

/// [`decide`] for an action iamd checks but does not serve as an API call (the Sign-In service's
/// `signin:AuthorizeOAuth2Access` and `signin:CreateOAuth2Token`): `full` is its policy name.
pub async fn decide_named(app: &App, c: &Caller, full: &str, resource: &str) -> Result<Decision> {
    let list = match (&c.principal.role, &c.principal.user) {
        (Some(r), _) => policies::effective_role(&app.iam, &r.role_id).await?,
        (None, Some(u)) => policies::effective(&app.iam, &u.user_id).await?,
        (None, None) => return Ok(Decision::Allow),
    };
    let mut ctx = context(app, c);
    for (k, v) in &list.principal_tags {
        ctx.set(&format!("aws:PrincipalTag/{k}"), v.clone());
    }
    let refs: Vec<&policy::Policy> = list.policies.iter().map(|p| p.as_ref()).collect();
    let (decision, _) = policy::evaluate(&refs, &policy::Request { action: full, resource, context: &ctx, principal_arn: None, principal_account: None });
    Ok(decision)
}

/// AccessDenied in AWS's two forms for a refused decision.
pub fn denied(c: &Caller, action: Action, resource: &str, decision: Decision) -> AwsError {
    let full = action.policy_name();
    match decision {
        Decision::ExplicitDeny => AwsError::access_denied(format!(
            "User: {} is not authorized to perform: {full} on resource: {resource} with an explicit deny in an identity-based policy",
            c.principal.arn()
        )),
        _ => AwsError::access_denied(format!(
            "User: {} is not authorized to perform: {full} on resource: {resource} because no identity-based policy allows the {full} action",
            c.principal.arn()
        )),
    }
}

/// Decides `action` on `resource` for the caller; AccessDenied in AWS's two forms. `resource` must
/// be the canonical ARN the resolver (`api::target`) produced, never the caller's spelling.
pub async fn authorize(app: &App, c: &Caller, action: Action, resource: &str) -> Result<()> {
    match decide(app, c, action, resource).await? {
        Decision::Allow => Ok(()),
        d => Err(denied(c, action, resource, d)),
    }
}

/// ChangePassword on the caller's own user: an identity-policy Allow, or the account's
/// AllowUsersToChangePassword in place of one. An explicit Deny refuses either way. (The API's
/// ChangePassword and the console's password page both ask this.)
pub async fn may_change_password(app: &App, c: &Caller, user: &crate::domain::UserRef) -> Result<()> {
    let account = c.principal.account_id.as_str();
    let arn = crate::domain::user_arn(account, &user.path, &user.name);
    match decide(app, c, Action::ChangePassword, &arn).await? {
        Decision::Allow => Ok(()),
        Decision::ImplicitDeny if crate::domain::accounts::get_password_policy(&app.iam, account).await?.is_some_and(|p| p.allow_users_to_change_password) => {
            Ok(())
        }
        d => Err(denied(c, Action::ChangePassword, &arn, d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mfa_keys_name_the_kind_of_device_only_in_mfa_sessions() {
        let now = 1_700_000_100_000;
        for (serial, kind) in
            [("arn:aws:iam::123456789012:u2f/user/bob/key-ABC", "fido2"), ("arn:aws:iam::123456789012:mfa/phone", "totp"), ("GAHT12345678", "hardware-totp")]
        {
            let mut ctx = Context::default();
            set_mfa_keys(&mut ctx, Some(&(now - 42_000, serial.to_string())), true, now);
            assert_eq!(ctx.one("iamd:MultiFactorAuthType"), Some(kind));
            assert_eq!(ctx.one("aws:MultiFactorAuthPresent"), Some("true"));
            assert_eq!(ctx.one("aws:MultiFactorAuthAge"), Some("42"));
        }
        let mut ctx = Context::default();
        set_mfa_keys(&mut ctx, None, true, now);
        assert_eq!((ctx.one("aws:MultiFactorAuthPresent"), ctx.one("iamd:MultiFactorAuthType")), (Some("false"), None));
        let mut ctx = Context::default();
        set_mfa_keys(&mut ctx, None, false, now);
        assert_eq!((ctx.one("aws:MultiFactorAuthPresent"), ctx.one("iamd:MultiFactorAuthType")), (None, None));
    }
}
