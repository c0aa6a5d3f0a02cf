//! Signing in: the password step (IAM user or root), then the choice of any one MFA device and its
//! code or tap.

use super::passwords::{password_error, password_input_error, set_password};
use super::record::{event, finish_record, write_now};
use super::views::{self, device_name, device_row, frame, json_in_html, page, type_label, Frame};
use super::{clear_cookie, is_known_browser, known_cookie, pre_cookie, same_token, session_cookie, Ctx, Out, Req, PRE_COOKIE, R, STEP_TTL_MS};
use crate::api::params;
use crate::app::App;
use crate::audit;
use crate::auth::action::Action;
use crate::domain::console::{self as cs, Stage};
use crate::domain::mfa::{self, Device, Kind};
use crate::domain::{passwords, user_arn, users, Owner, UserRef};
use crate::error::AwsError;
use serde_json::json;
use webauthn_rs::prelude::{PublicKeyCredential, SecurityKey, SecurityKeyAuthentication};

pub(super) const GENERIC_FAILURE: &str = "Your authentication information is incorrect. Please try again.";

pub(super) const BAD_CODE: &str = "The MFA code is not valid. Wait for the next code and try again.";

pub(super) fn signin_page(app: &App, root: bool, error: Option<&str>, account: &str, name: &str) -> Out {
    let token = cs::random_token();
    let title = if root { "Root user sign in" } else { "Sign in" };
    page(&views::Signin { frame: Frame::signed_out(title), root, error, token: &token, account, name }).cookie(pre_cookie(app, &token))
}

pub(super) static DUMMY_HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

/// A hash to check a password against when the sign-in names nobody, so both cases take as long.
pub(super) async fn dummy_hash() -> Result<String, AwsError> {
    DUMMY_HASH.get_or_try_init(|| passwords::hash(cs::random_token())).await.cloned()
}

/// The password step.
pub(super) async fn signin(app: &App, r: &Req) -> R {
    let root = r.form("kind") == "root";
    let (account_in, name_in) = if root { ("", r.form("email").trim()) } else { (r.form("account").trim(), r.form("username").trim()) };
    if !same_token(r.form("csrf"), r.cookie(&super::cookie_name(PRE_COOKIE))) {
        return Ok(signin_page(app, root, Some("This sign-in page expired. Please try again."), account_in, name_in));
    }
    let password = r.form("password");
    let shaped =
        if root { !name_in.is_empty() && name_in.len() <= 256 } else { !account_in.is_empty() && account_in.len() <= 63 && params::USER_NAME.accepts(name_in) };
    if !shaped || password.is_empty() || password.chars().count() > 128 {
        return Ok(signin_page(app, root, Some(GENERIC_FAILURE), account_in, name_in));
    }
    let mut ev = event(app, r, None, "signin.amazonaws.com", "ConsoleLogin");
    ev.event_type = "AwsConsoleSignIn";
    ev.additional = Some(json!({"LoginTo": format!("{}/console", r.origin), "MobileVersion": "No", "MFAUsed": "No"}));
    let cand = if root { cs::find_root(&app.iam, name_in).await? } else { cs::find_user(&app.iam, account_in, name_in).await? };
    // The guessing budget belongs to the principal the input resolves to (its account id and its
    // alias share one); input that names nobody has budgets of its own spelling.
    let key = match &cand {
        Some(c) => cs::principal_key(&c.account_id, c.user.as_ref().map(|u| u.user_id.as_str())),
        None if root => format!("unknown-root:{}", name_in.to_ascii_lowercase()),
        None => format!("unknown:{}/{}", account_in.to_ascii_lowercase(), name_in.to_ascii_lowercase()),
    };
    let known = cand.is_some() && is_known_browser(app, r, &key);
    let scopes = if known { cs::scopes_for_known_browser(&key, &r.ip) } else { cs::scopes(&key, &r.ip) };
    // The record of a failure names the account and, when it exists, the user; never the password.
    let known_name: Option<String> = cand.as_ref().map(|c| c.user.as_ref().map(|u| u.name.clone()).unwrap_or_default());
    let failure_identity = |ev: &mut audit::Event, account: String| {
        ev.identity.kind = if root { "Root" } else { "IAMUser" };
        ev.identity.account_id = account.clone();
        ev.account = account.clone();
        if root {
            if !account.is_empty() {
                ev.identity.arn = format!("arn:aws:iam::{account}:root");
                ev.identity.principal_id = account;
            }
        } else {
            ev.identity.user_name = Some(known_name.clone().unwrap_or_else(|| "HIDDEN_DUE_TO_SECURITY_REASONS".into()));
        }
    };
    let account_for_record = match &cand {
        Some(c) => c.account_id.clone(),
        None if root => String::new(),
        None => cs::account_of(&app.iam, account_in).await?.unwrap_or_default(),
    };
    if let Err(wait) = cs::count_attempt(&app.iam, &scopes).await? {
        failure_identity(&mut ev, account_for_record);
        ev.error = Some(("Throttled".into(), "Failed authentication".into()));
        write_now(app, ev).await;
        let msg = format!("Too many failed sign-in attempts. Wait {wait} seconds, then try again.");
        return Ok(signin_page(app, root, Some(&msg), account_in, name_in).status(429));
    }
    let ok = match &cand {
        Some(c) => passwords::verify(password.to_string(), c.password_hash.clone()).await?,
        None => {
            let _ = passwords::verify(password.to_string(), dummy_hash().await?).await?;
            false
        }
    };
    let Some(cand) = cand.filter(|_| ok) else {
        cs::attempt_failed(&app.iam, &scopes).await?;
        failure_identity(&mut ev, account_for_record);
        ev.error = Some(("Failed".into(), "Failed authentication".into()));
        write_now(app, ev).await;
        tracing::info!(request_id = r.request_id, source_ip = r.ip, "console sign-in refused");
        return Ok(signin_page(app, root, Some(GENERIC_FAILURE), account_in, name_in).status(401));
    };
    cs::clear_attempts(&app.iam, &cs::scopes(&key, &r.ip)).await?;
    cs::password_used(&app.iam, &cand).await?;
    let owner = match &cand.user {
        Some(u) => Owner::User(u.clone()),
        None => Owner::Root,
    };
    let account = cand.account_id.clone();
    signin_identity(&mut ev, &account, cand.user.as_ref());
    let devices = mfa::list_for_owner(&app.iam, &account, &owner).await?;
    let pre = clear_cookie(app, PRE_COOKIE);
    let known = known_cookie(app, &key);
    if !devices.is_empty() {
        // CheckMfa: the password was right and the principal has devices; one of them must follow.
        let mut check = event(app, r, None, "signin.amazonaws.com", "CheckMfa");
        check.event_type = "AwsConsoleSignIn";
        check.identity = ev.identity.clone();
        check.account = account.clone();
        let mut kinds: Vec<Kind> = devices.iter().map(|d| d.kind).collect();
        kinds.dedup();
        let mfa_type = if kinds.len() == 1 { kinds[0].label() } else { "Multiple MFA Devices" };
        check.additional = Some(json!({"MfaType": mfa_type}));
        app.iam.audit.push(check, false);
        let (token, _) = cs::create(&app.iam, &account, owner.column(), Stage::Mfa, None, STEP_TTL_MS, &r.ip).await?;
        return Ok(Out::redirect("/console/mfa").cookie(session_cookie(app, &token, STEP_TTL_MS / 1000)).cookie(pre).cookie(known));
    }
    // No device: the password alone signs in (the record commits with the session).
    let stage = if cand.reset_required { Stage::Password } else { Stage::Full };
    let ttl = if stage == Stage::Full { app.console.session_ttl_ms } else { STEP_TTL_MS };
    let ip = r.ip.clone();
    let (token, _) = finish_record(app, audit::scope(ev, cs::create(&app.iam, &account, owner.column(), stage, None, ttl, &ip)).await).await?;
    let to = if stage == Stage::Full { "/console" } else { "/console/password" };
    Ok(Out::redirect(to).cookie(session_cookie(app, &token, ttl / 1000)).cookie(pre).cookie(known))
}

pub(super) fn signin_identity(ev: &mut audit::Event, account: &str, user: Option<&UserRef>) {
    ev.account = account.to_string();
    ev.identity.account_id = account.to_string();
    match user {
        Some(u) => {
            ev.identity.kind = "IAMUser";
            ev.identity.principal_id = u.user_id.clone();
            ev.identity.arn = user_arn(account, &u.path, &u.name);
            ev.identity.user_name = Some(u.name.clone());
        }
        None => {
            ev.identity.kind = "Root";
            ev.identity.principal_id = account.to_string();
            ev.identity.arn = format!("arn:aws:iam::{account}:root");
        }
    }
}

pub(super) async fn mfa_choose_page(app: &App, ctx: &Ctx, error: Option<&str>) -> R {
    let devices = mfa::list_for_owner(&app.iam, ctx.account(), &ctx.owner()).await?;
    let devices = devices.iter().map(device_row).collect();
    Ok(page(&views::MfaChoose { frame: frame(ctx, "Additional verification required", false), error, csrf: &ctx.s.csrf, devices }))
}

pub(super) async fn mfa_choose(app: &App, r: &Req, ctx: &Ctx) -> R {
    let serial = r.form("serial");
    let devices = mfa::list_for_owner(&app.iam, ctx.account(), &ctx.owner()).await?;
    if !devices.iter().any(|d| d.serial == serial) {
        return mfa_choose_page(app, ctx, Some("Choose one of your MFA devices.")).await;
    }
    cs::set_serial(&app.iam, &ctx.s.token_hash, true, Some(serial)).await?;
    Ok(Out::redirect("/console/mfa/verify"))
}

pub(super) async fn chosen_device(app: &App, ctx: &Ctx) -> Result<Option<Device>, AwsError> {
    let Some(serial) = ctx.s.chosen_serial.as_deref() else { return Ok(None) };
    Ok(mfa::get(&app.iam, ctx.account(), serial).await?.filter(|d| d.owner.as_deref() == Some(ctx.owner().column())))
}

pub(super) async fn mfa_verify_page(app: &App, ctx: &Ctx, error: Option<&str>) -> R {
    let Some(d) = chosen_device(app, ctx).await? else { return Ok(Out::redirect("/console/mfa")) };
    let mut view = views::MfaVerify {
        frame: frame(ctx, "Additional verification required", false),
        error,
        csrf: &ctx.s.csrf,
        kind: type_label(d.kind).to_lowercase(),
        name: device_name(&d),
        key_options: None,
    };
    if d.kind == Kind::U2f {
        let keys = mfa::u2f_keys(&app.iam, ctx.account(), &ctx.owner()).await?;
        let Some(sk) = keys.iter().find(|(k, _)| k.device_id == d.device_id).and_then(|(_, c)| serde_json::from_slice::<SecurityKey>(c).ok()) else {
            return Err(AwsError::internal("security key credential does not open"));
        };
        let (rcr, state) = app.console.webauthn.start_securitykey_authentication(&[sk]).map_err(|e| AwsError::internal(format!("webauthn: {e:?}")))?;
        let state = serde_json::to_vec(&state).map_err(|e| AwsError::internal(e.to_string()))?;
        cs::put_ceremony(&app.iam, &ctx.s.token_hash, cs::Ceremony::Authenticate, &state).await?;
        let options = serde_json::to_string(&rcr).map_err(|e| AwsError::internal(e.to_string()))?;
        view.key_options = Some(json_in_html(&options));
        view.frame.scripts = true;
    }
    Ok(page(&view))
}

pub(super) async fn mfa_verify(app: &App, r: &Req, ctx: &Ctx) -> R {
    let Some(d) = chosen_device(app, ctx).await? else { return Ok(Out::redirect("/console/mfa")) };
    let user = ctx.user().cloned();
    let mut ev = event(app, r, None, "signin.amazonaws.com", "ConsoleLogin");
    ev.event_type = "AwsConsoleSignIn";
    signin_identity(&mut ev, ctx.account(), user.as_ref());
    ev.additional = Some(json!({"LoginTo": format!("{}/console", r.origin), "MobileVersion": "No", "MFAIdentifier": d.serial, "MFAUsed": "Yes"}));
    let (account, owner) = (ctx.account().to_string(), ctx.owner());
    let (res, cur) = if d.kind == Kind::U2f {
        let cred = r.form("credential");
        let state = cs::take_ceremony(&app.iam, &ctx.s.token_hash, cs::Ceremony::Authenticate).await?;
        let (Some(state), Ok(pkc)) = (state, serde_json::from_str::<PublicKeyCredential>(cred)) else {
            return mfa_verify_page(app, ctx, Some("The security key did not answer this sign-in. Try again.")).await;
        };
        let Ok(state) = serde_json::from_slice::<SecurityKeyAuthentication>(&state) else {
            return Err(AwsError::internal("ceremony state does not parse"));
        };
        let webauthn = &app.console.webauthn;
        let device_id = d.device_id.clone();
        let verify = move |keys: &[(Device, Vec<u8>)]| -> Option<mfa::Asserted> {
            let res = webauthn.finish_securitykey_authentication(&pkc, &state).ok()?;
            let (dev, cred) = keys.iter().find(|(k, _)| k.device_id == device_id)?;
            let mut sk: SecurityKey = serde_json::from_slice(cred).ok()?;
            sk.update_credential(&res)?;
            Some(mfa::Asserted { device_id: dev.device_id.clone(), counter: res.counter() as i64, credential: serde_json::to_vec(&sk).ok()? })
        };
        audit::scope(ev, mfa::check_u2f(&app.iam, &account, &owner, verify)).await
    } else {
        let code = r.form("code").trim().to_string();
        if !params::AUTH_CODE.accepts(&code) || !code.chars().all(|c| c.is_ascii_digit()) {
            return mfa_verify_page(app, ctx, Some(BAD_CODE)).await;
        }
        audit::scope(ev, mfa::check_code(&app.iam, &account, &owner, &d.serial, &code)).await
    };
    // A refusal is the record's error; the record is written here when the check committed none
    // (a refusal while the principal waits).
    let refused = matches!(res, Ok(Err(_)));
    let outcome = match finish_record(app, (res.and_then(|r| r.map_err(mfa::Refusal::error)), cur)).await {
        Ok(dev) => Ok(dev),
        Err(_) if refused => Err(()),
        Err(e) => return Err(e),
    };
    match outcome {
        Ok(dev) => {
            let reset = match &user {
                Some(u) => users::get_login_profile(&app.iam, u).await.map(|p| p.reset_required).unwrap_or(false),
                None => false,
            };
            let stage = if reset { Stage::Password } else { Stage::Full };
            let ttl = if reset { STEP_TTL_MS } else { app.console.session_ttl_ms };
            let mfa = Some((app.iam.clock.now_ms(), dev.serial.clone()));
            match cs::promote(&app.iam, &ctx.s, stage, mfa, ttl).await? {
                Some((token, _)) => Ok(Out::redirect(if reset { "/console/password" } else { "/console" }).cookie(session_cookie(app, &token, ttl / 1000))),
                None => Ok(Out::redirect("/console")),
            }
        }
        Err(_) => {
            let msg = if d.kind == Kind::U2f { "The security key was not accepted. Try again, or choose another MFA device." } else { BAD_CODE };
            Ok(mfa_verify_page(app, ctx, Some(msg)).await?.status(401))
        }
    }
}

pub(super) fn forced_password_page(ctx: &Ctx, error: Option<&str>) -> Out {
    page(&views::ForcedPassword { frame: frame(ctx, "Change your password", false), error, csrf: &ctx.s.csrf })
}

pub(super) async fn forced_password(app: &App, r: &Req, ctx: &Ctx) -> R {
    if let Some(m) = password_input_error(r) {
        return Ok(forced_password_page(ctx, Some(m)));
    }
    let mut ev = event(app, r, Some(ctx), "signin.amazonaws.com", "PasswordUpdated");
    ev.event_type = "AwsConsoleSignIn";
    // The required change is a sign-in step: it stands in for an Allow of iam:ChangePassword, never
    // against an explicit Deny of it.
    let work = async {
        if let Some(u) = ctx.user() {
            let arn = user_arn(ctx.account(), &u.path, &u.name);
            if crate::auth::authz::decide(app, &ctx.caller, Action::ChangePassword, &arn).await? == policy::Decision::ExplicitDeny {
                return Err(crate::auth::authz::denied(&ctx.caller, Action::ChangePassword, &arn, policy::Decision::ExplicitDeny));
            }
        }
        set_password(app, ctx, r.form("old"), r.form("new")).await
    };
    let res = finish_record(app, audit::scope(ev, work).await).await;
    if let Err(e) = res {
        return Ok(forced_password_page(ctx, Some(&password_error(&e))));
    }
    match cs::promote(&app.iam, &ctx.s, Stage::Full, None, app.console.session_ttl_ms).await? {
        Some((token, _)) => Ok(Out::redirect("/console").cookie(session_cookie(app, &token, app.console.session_ttl_ms / 1000))),
        None => Ok(Out::redirect("/console")),
    }
}
