//! STS: GetCallerIdentity, GetAccessKeyInfo, GetSessionToken (with any TOTP device) and AssumeRole.

use super::shapes::write_credentials;
use super::support::{account, Out};
use crate::api::params::{self, Params, Spec, ARN, SESSION_NAME};
use crate::api::xml::Xml;
use crate::app::App;
use crate::auth::action::Action;
use crate::auth::authz;
use crate::auth::target;
use crate::auth::Caller;
use crate::domain::mfa::NOT_YOURS;
use crate::domain::{keys, mfa, roles, sessions, Owner};
use crate::error::{AwsError, Result};
use policy::Decision;

pub(super) fn get_caller_identity(c: &Caller, p: &mut Params) -> Out {
    p.finish()?;
    let mut x = Xml::new();
    x.text("UserId", &c.principal.user_id()).text("Account", account(c)).text("Arn", &c.principal.arn());
    Ok(Some(x.buf))
}

/// sts:GetAccessKeyInfo: the account a key belongs to. AWS decodes it from the key id; iamd's ids
/// carry no account, so it answers for what it can resolve: a long-term key it holds (of any
/// account, as AWS answers across accounts) and the caller's own key. Any other id (a stranger's
/// session key, a key that never existed) is refused rather than answered with a guess.
pub(super) async fn get_access_key_info(app: &App, c: &Caller, p: &mut Params) -> Out {
    let id = p.req("AccessKeyId", &params::ACCESS_KEY_ID);
    p.finish()?;
    target::account(app, c, Action::GetAccessKeyInfo).await?;
    // AWS: GetSessionToken's credentials call no STS operation but AssumeRole and GetCallerIdentity.
    if c.session.is_some() && c.principal.role.is_none() {
        return Err(AwsError::access_denied("Cannot call GetAccessKeyInfo with session credentials from GetSessionToken."));
    }
    let owner = if id == c.principal.access_key_id {
        Some(account(c).to_string())
    } else if id.starts_with("AKIA") {
        keys::lookup(&app.iam, &id).await?.map(|e| e.account_id.clone())
    } else {
        None
    };
    let Some(owner) = owner else {
        // (The id is at most 128 characters: ACCESS_KEY_ID checked it.)
        return Err(AwsError::validation(format!("The access key {id} is not one this server issued, or it is a session key of another caller.")));
    };
    let mut x = Xml::new();
    x.text("Account", &owner);
    Ok(Some(x.buf))
}

/// sts:GetSessionToken. Not policy-checked ("you cannot use policies to control authentication
/// operations"); needs long-term credentials; with SerialNumber + TokenCode of any one of the
/// caller's TOTP devices the session carries MFA.
pub(super) async fn get_session_token(app: &App, c: &Caller, p: &mut Params) -> Out {
    let duration = p.int("DurationSeconds", 900, 129_600).unwrap_or(43_200);
    let serial = p.opt("SerialNumber", &params::SERIAL);
    let code = p.opt("TokenCode", &params::AUTH_CODE);
    p.finish()?;
    if c.session.is_some() {
        return Err(AwsError::access_denied("Cannot call GetSessionToken with session credentials"));
    }
    // Only long-term credentials reach here: the owner is root or an IAM user, never a role.
    let owner = Owner::of(&c.principal).ok_or_else(|| AwsError::access_denied("Cannot call GetSessionToken with session credentials"))?;
    // Root sessions last at most an hour; longer requests silently become one hour, as in AWS.
    let duration = if c.principal.is_root() { duration.min(3600) } else { duration };
    // The credentials are made first so that the record committed with the MFA check can name them.
    let checked = serial.as_ref().map(|s| (app.iam.clock.now_ms(), s.clone()));
    // (The check finds the device by exactly this serial, so the session names it as given.)
    let issued = sessions::issue(&app.iam, account(c), owner.column(), duration, checked, None);
    crate::audit::respond(credentials_record(&issued, None));
    check_request_mfa(app, c, &owner, serial, code).await?;
    let mut x = Xml::new();
    write_credentials(&mut x, &issued);
    Ok(Some(x.buf))
}

/// The MFA of an STS request (GetSessionToken, AssumeRole): none when it names neither a device nor a
/// code; (time, serial) when `owner`'s device accepts the code; AWS's AccessDenied texts otherwise.
pub(super) async fn check_request_mfa(
    app: &App,
    c: &Caller,
    owner: &Owner,
    serial: Option<String>,
    code: Option<String>,
) -> Result<Option<(i64, String)>, AwsError> {
    match (serial, code) {
        (None, None) => Ok(None),
        (Some(serial), Some(code)) => match mfa::check_code(&app.iam, account(c), owner, &serial, &code).await? {
            Ok(dev) => Ok(Some((app.iam.clock.now_ms(), dev.serial))),
            Err(r) => Err(r.error()),
        },
        _ => Err(AwsError::access_denied(NOT_YOURS)),
    }
}

/// responseElements of GetSessionToken / AssumeRole: the credentials without the secret.
pub(super) fn credentials_record(issued: &sessions::Issued, assumed: Option<(String, String)>) -> serde_json::Value {
    let mut v = serde_json::json!({"credentials": {
        "accessKeyId": issued.session.access_key_id,
        "sessionToken": issued.token,
        "expiration": crate::audit::sts_time(issued.session.expires_ms),
    }});
    if let Some((id, arn)) = assumed {
        v["assumedRoleUser"] = serde_json::json!({"assumedRoleId": id, "arn": arn});
    }
    v
}

/// sts:AssumeRole. The trust policy must allow the caller (with the MFA state of this request); when
/// it trusts the whole account rather than the caller's own ARN, the caller also needs an identity
/// policy that allows sts:AssumeRole on the role, as in AWS.
pub(super) async fn assume_role(app: &App, c: &Caller, p: &mut Params) -> Out {
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
    crate::audit::respond(credentials_record(&issued, Some((assumed_id, assumed_arn))));
    if let Some(owner) = &owner {
        check_request_mfa(app, c, owner, serial, code).await?;
    }
    roles::record_use(&app.iam, &role.role_id, &c.region);
    let mut x = Xml::new();
    write_credentials(&mut x, &issued);
    x.open("AssumedRoleUser")
        .text("AssumedRoleId", &format!("{}:{session_name}", role.role_id))
        .text("Arn", &format!("arn:aws:sts::{}:assumed-role/{}/{session_name}", account(c), role.name))
        .close("AssumedRoleUser");
    Ok(Some(x.buf))
}
