//! The console's pages and the actions behind their forms.

use super::html::{self, csrf_field, error_box, esc, field, hidden, notice_box, when, Nav};
use super::{
    act, can, clear_cookie, event, finish_record, is_known_browser, json_params, known_cookie, pre_cookie, refused, same_token, session_cookie, write_now, Ctx,
    Out, Req, PRE_COOKIE, R, STEP_TTL_MS,
};
use crate::api::params;
use crate::app::App;
use crate::audit;
use crate::auth::action::Action;
use crate::auth::target;
use crate::domain::console::{self as cs, Stage};
use crate::domain::mfa::{self, Device, Kind};
use crate::domain::{keys, passwords, trail, user_arn, users, Owner, UserRef};
use crate::error::{AwsError, ErrorCode};
use base64::Engine;
use serde_json::json;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential, SecurityKey, SecurityKeyAuthentication, SecurityKeyRegistration, Uuid};

const GENERIC_FAILURE: &str = "Your authentication information is incorrect. Please try again.";
const BAD_CODE: &str = "The MFA code is not valid. Wait for the next code and try again.";

fn frame(ctx: &Ctx, title: &str, body: &str, scripts: bool) -> Out {
    let who = ctx.who();
    let nav = Nav { who: &who, csrf: &ctx.s.csrf, full: ctx.s.stage == Stage::Full };
    Out::page(html::page(title, Some(&nav), body, scripts))
}

pub fn type_label(k: Kind) -> &'static str {
    match k {
        Kind::Virtual => "Authenticator app",
        Kind::Hardware => "Hardware TOTP token",
        Kind::U2f => "Passkey or security key",
    }
}

fn device_name(d: &Device) -> String {
    d.name.clone().unwrap_or_else(|| d.serial.rsplit('/').next().unwrap_or(&d.serial).to_string())
}

// ---- sign-in ----

pub fn signin_page(app: &App, root: bool, error: Option<&str>, account: &str, name: &str) -> Out {
    let token = cs::random_token();
    let body = if root {
        format!(
            r#"<div class="card narrow"><h1>Root user sign in</h1>{err}<form method="post" action="/console/signin" autocomplete="on">{csrf}{kind}{email}{pw}<button type="submit">Sign in</button></form>
<p class="muted"><a href="/console">Sign in as IAM user</a></p></div>"#,
            err = error_box(error),
            csrf = csrf_field(&token),
            kind = hidden("kind", "root"),
            email = field("Email address", "email", "email", name, r#"required maxlength="256" autocomplete="username""#),
            pw = field("Password", "password", "password", "", r#"required maxlength="128" autocomplete="current-password""#),
        )
    } else {
        format!(
            r#"<div class="card narrow"><h1>Sign in as IAM user</h1>{err}<form method="post" action="/console/signin" autocomplete="on">{csrf}{kind}{acct}{user}{pw}<button type="submit">Sign in</button></form>
<p class="muted"><a href="/console/root">Sign in as root user</a></p></div>"#,
            err = error_box(error),
            csrf = csrf_field(&token),
            kind = hidden("kind", "user"),
            acct = field("Account ID or alias", "account", "text", account, r#"required maxlength="63" autocomplete="organization""#),
            user = field("User name", "username", "text", name, r#"required maxlength="64" autocomplete="username""#),
            pw = field("Password", "password", "password", "", r#"required maxlength="128" autocomplete="current-password""#),
        )
    };
    let title = if root { "Root user sign in" } else { "Sign in" };
    Out::page(html::page(title, None, &body, false)).cookie(pre_cookie(app, &token))
}

static DUMMY_HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

/// A hash to check a password against when the sign-in names nobody, so both cases take as long.
async fn dummy_hash() -> Result<String, AwsError> {
    DUMMY_HASH.get_or_try_init(|| passwords::hash(cs::random_token())).await.cloned()
}

/// The password step.
pub async fn signin(app: &App, r: &Req) -> R {
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

fn signin_identity(ev: &mut audit::Event, account: &str, user: Option<&UserRef>) {
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

// ---- the second factor ----

pub async fn mfa_choose_page(app: &App, ctx: &Ctx, error: Option<&str>) -> R {
    let devices = mfa::list_for_owner(&app.iam, ctx.account(), &ctx.owner()).await?;
    let mut items = String::new();
    for (i, d) in devices.iter().enumerate() {
        let id = format!("dev-{i}");
        items.push_str(&format!(
            r#"<label class="choice" for="{id}"><input type="radio" id="{id}" name="serial" value="{v}"{checked}> {t}: {n}</label>"#,
            v = esc(&d.serial),
            checked = if i == 0 { " checked" } else { "" },
            t = type_label(d.kind),
            n = esc(&device_name(d)),
        ));
    }
    let body = format!(
        r#"<div class="card narrow"><h1>Additional verification required</h1>{err}<p>Choose the MFA device to sign in with. Any one of your devices will do.</p><form method="post" action="/console/mfa">{csrf}<fieldset><legend>MFA device</legend>{items}</fieldset><button type="submit">Next</button></form></div>"#,
        err = error_box(error),
        csrf = csrf_field(&ctx.s.csrf),
    );
    Ok(frame(ctx, "Additional verification required", &body, false))
}

pub async fn mfa_choose(app: &App, r: &Req, ctx: &Ctx) -> R {
    let serial = r.form("serial");
    let devices = mfa::list_for_owner(&app.iam, ctx.account(), &ctx.owner()).await?;
    if !devices.iter().any(|d| d.serial == serial) {
        return mfa_choose_page(app, ctx, Some("Choose one of your MFA devices.")).await;
    }
    cs::set_serial(&app.iam, &ctx.s.token_hash, true, Some(serial)).await?;
    Ok(Out::redirect("/console/mfa/verify"))
}

async fn chosen_device(app: &App, ctx: &Ctx) -> Result<Option<Device>, AwsError> {
    let Some(serial) = ctx.s.chosen_serial.as_deref() else { return Ok(None) };
    Ok(mfa::get(&app.iam, ctx.account(), serial).await?.filter(|d| d.owner.as_deref() == Some(ctx.owner().column())))
}

pub async fn mfa_verify_page(app: &App, ctx: &Ctx, error: Option<&str>) -> R {
    let Some(d) = chosen_device(app, ctx).await? else { return Ok(Out::redirect("/console/mfa")) };
    let other = r#"<p class="muted"><a href="/console/mfa">Choose another MFA device</a></p>"#;
    if d.kind == Kind::U2f {
        let keys = mfa::u2f_keys(&app.iam, ctx.account(), &ctx.owner()).await?;
        let Some(sk) = keys.iter().find(|(k, _)| k.device_id == d.device_id).and_then(|(_, c)| serde_json::from_slice::<SecurityKey>(c).ok()) else {
            return Err(AwsError::internal("security key credential does not open"));
        };
        let (rcr, state) = app.console.webauthn.start_securitykey_authentication(&[sk]).map_err(|e| AwsError::internal(format!("webauthn: {e:?}")))?;
        let state = serde_json::to_vec(&state).map_err(|e| AwsError::internal(e.to_string()))?;
        cs::put_ceremony(&app.iam, &ctx.s.token_hash, "auth", &state).await?;
        let options = serde_json::to_string(&rcr).map_err(|e| AwsError::internal(e.to_string()))?;
        let body = format!(
            r#"<div class="card narrow"><h1>Additional verification required</h1>{err}<p>Use your security key <strong>{n}</strong>: select the button, then touch the key.</p>
<script type="application/json" id="webauthn-options" data-mode="get">{opts}</script>
<form method="post" action="/console/mfa/verify" id="webauthn-form">{csrf}<input type="hidden" name="credential" value=""><button type="button" id="webauthn-start">Use security key</button></form><p id="webauthn-status" class="muted" role="status"></p>{other}</div>"#,
            err = error_box(error),
            n = esc(&device_name(&d)),
            opts = json_in_html(&options),
            csrf = csrf_field(&ctx.s.csrf),
        );
        return Ok(frame(ctx, "Additional verification required", &body, true));
    }
    let body = format!(
        r#"<div class="card narrow"><h1>Additional verification required</h1>{err}<p>Enter the code shown by your {t} <strong>{n}</strong>.</p><form method="post" action="/console/mfa/verify">{csrf}{code}<button type="submit">Submit</button></form>{other}</div>"#,
        err = error_box(error),
        t = type_label(d.kind).to_lowercase(),
        n = esc(&device_name(&d)),
        csrf = csrf_field(&ctx.s.csrf),
        code = field("MFA code", "code", "text", "", r#"required inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6,8}" maxlength="8""#),
    );
    Ok(frame(ctx, "Additional verification required", &body, false))
}

/// JSON inside a `<script type="application/json">` block: `<` is escaped so the text cannot end the block.
fn json_in_html(s: &str) -> String {
    s.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

pub async fn mfa_verify(app: &App, r: &Req, ctx: &Ctx) -> R {
    let Some(d) = chosen_device(app, ctx).await? else { return Ok(Out::redirect("/console/mfa")) };
    let user = ctx.user().cloned();
    let mut ev = event(app, r, None, "signin.amazonaws.com", "ConsoleLogin");
    ev.event_type = "AwsConsoleSignIn";
    signin_identity(&mut ev, ctx.account(), user.as_ref());
    ev.additional = Some(json!({"LoginTo": format!("{}/console", r.origin), "MobileVersion": "No", "MFAIdentifier": d.serial, "MFAUsed": "Yes"}));
    let (account, owner) = (ctx.account().to_string(), ctx.owner());
    let (res, cur) = if d.kind == Kind::U2f {
        let cred = r.form("credential");
        let state = cs::take_ceremony(&app.iam, &ctx.s.token_hash, "auth").await?;
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

// ---- passwords ----

fn password_fields() -> String {
    format!(
        "{}{}{}",
        field("Old password", "old", "password", "", r#"required maxlength="128" autocomplete="current-password""#),
        field("New password", "new", "password", "", r#"required maxlength="128" autocomplete="new-password""#),
        field("Retype new password", "retype", "password", "", r#"required maxlength="128" autocomplete="new-password""#)
    )
}

pub fn forced_password_page(ctx: &Ctx, error: Option<&str>) -> Out {
    let body = format!(
        r#"<div class="card narrow"><h1>Change your password</h1>{err}<p>Your password must be changed before you continue.</p><form method="post" action="/console/password">{csrf}{fields}<button type="submit">Change password</button></form></div>"#,
        err = error_box(error),
        csrf = csrf_field(&ctx.s.csrf),
        fields = password_fields(),
    );
    frame(ctx, "Change your password", &body, false)
}

async fn set_password(app: &App, ctx: &Ctx, old: &str, new: &str) -> Result<(), AwsError> {
    match ctx.user() {
        Some(u) => {
            users::change_password(&app.iam, ctx.account(), u, old, new, Some(&ctx.s.token_hash), &ctx.caller.source_ip.clone().unwrap_or_default()).await
        }
        None => cs::change_root_password(&app.iam, ctx.account(), old, new, Some(&ctx.s.token_hash), &ctx.caller.source_ip.clone().unwrap_or_default()).await,
    }
}

fn password_input_error(r: &Req) -> Option<&'static str> {
    let (old, new, retype) = (r.form("old"), r.form("new"), r.form("retype"));
    if old.is_empty() || new.is_empty() || old.chars().count() > 128 || new.chars().count() > 128 {
        Some("Enter your old password and a new password (at most 128 characters).")
    } else if new != retype {
        Some("The new passwords do not match.")
    } else {
        None
    }
}

pub async fn forced_password(app: &App, r: &Req, ctx: &Ctx) -> R {
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

fn password_error(e: &AwsError) -> String {
    match e.code {
        ErrorCode::PasswordPolicyViolation => format!("The new password does not meet the account's password policy: {}.", e.message.trim_end_matches('.')),
        ErrorCode::AccessDenied if super::refused(e) => "You are not allowed to change your password (iam:ChangePassword). Ask your administrator.".into(),
        ErrorCode::AccessDenied => "The old password is incorrect.".into(),
        _ if e.status >= 500 => "The password could not be changed. Try again.".into(),
        _ => e.message.clone(),
    }
}

/// Whether the principal may change its own password: root always; a user exactly as the API's
/// ChangePassword decides (an Allow, or AllowUsersToChangePassword in place of one; a Deny wins).
async fn may_change_password(app: &App, ctx: &Ctx) -> Result<bool, AwsError> {
    match ctx.user() {
        None => Ok(true),
        Some(u) => match crate::auth::authz::may_change_password(app, &ctx.caller, u).await {
            Ok(()) => Ok(true),
            Err(e) if refused(&e) => Ok(false),
            Err(e) => Err(e),
        },
    }
}

pub async fn change_password(app: &App, r: &Req, ctx: &Ctx) -> R {
    if let Some(m) = password_input_error(r) {
        return security(app, r, ctx, Some(Err(m.to_string()))).await;
    }
    let res = match ctx.user() {
        Some(u) => {
            act(app, r, ctx, Action::ChangePassword, json!({}), async {
                crate::auth::authz::may_change_password(app, &ctx.caller, u).await?;
                set_password(app, ctx, r.form("old"), r.form("new")).await
            })
            .await
        }
        None => act(app, r, ctx, Action::ChangePassword, json!({}), set_password(app, ctx, r.form("old"), r.form("new"))).await,
    };
    match res {
        Ok(()) => Ok(Out::redirect("/console/security?notice=password")),
        Err(e) if e.status >= 500 => Err(e),
        Err(e) => security(app, r, ctx, Some(Err(password_error(&e)))).await,
    }
}

// ---- home ----

pub fn home(ctx: &Ctx) -> Out {
    let mfa = match &ctx.s.mfa {
        Some((_, serial)) => format!("with MFA device <span class=\"id\">{}</span>", esc(serial)),
        None => "without MFA".into(),
    };
    let body = format!(
        r#"<div class="card"><h1>Welcome</h1><p>You are signed in as <strong>{arn}</strong> {mfa}.</p><p>Your session ends {until}.</p>
<ul><li><a href="/console/security">Security credentials</a>: your MFA devices, password and access keys</li><li><a href="/console/users">Users</a>: the account's IAM users and their MFA devices</li><li><a href="/console/events">Event history</a>: sign-ins and API calls</li></ul></div>"#,
        arn = esc(&ctx.principal.arn()),
        until = when(Some(ctx.s.expires_at)),
    );
    frame(ctx, "Home", &body, false)
}

// ---- security credentials ----

fn self_arn(ctx: &Ctx) -> String {
    ctx.principal.arn()
}

fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "assigned" => "The MFA device was assigned.",
        "removed" => "The MFA device was removed.",
        "password" => "Your password was changed.",
        "key-updated" => "The access key was updated.",
        "key-deleted" => "The access key was deleted.",
        _ => return None,
    })
}

fn devices_table(ctx: &Ctx, devices: &[Device], remove_action: &str, can_remove: bool) -> String {
    if devices.is_empty() {
        return "<p>No MFA devices are assigned.</p>".into();
    }
    let mut rows = String::new();
    for d in devices {
        let remove = if can_remove {
            format!(
                r#"<form method="post" action="{remove_action}">{}{}<button type="submit" class="secondary">Remove</button></form>"#,
                csrf_field(&ctx.s.csrf),
                hidden("serial", &d.serial)
            )
        } else {
            String::new()
        };
        rows.push_str(&format!(
            r#"<tr><td>{n}</td><td>{t}</td><td class="id">{s}</td><td class="opt">{a}</td><td class="opt">{u}</td><td>{remove}</td></tr>"#,
            n = esc(&device_name(d)),
            t = type_label(d.kind),
            s = esc(&d.serial),
            a = when(d.enabled_at),
            u = when(d.last_used_at),
        ));
    }
    format!(
        r#"<table><thead><tr><th>Device name</th><th>Type</th><th>Identifier</th><th class="opt">Assigned</th><th class="opt">Last used</th><th></th></tr></thead><tbody>{rows}</tbody></table>"#
    )
}

/// The Security credentials page. `message`: Ok(notice) or Err(error) to show at the top.
pub async fn security(app: &App, r: &Req, ctx: &Ctx, message: Option<Result<String, String>>) -> R {
    let me = self_arn(ctx);
    let (notice, error) = match &message {
        Some(Ok(n)) => (Some(n.clone()), None),
        Some(Err(e)) => (None, Some(e.clone())),
        None => (notice_text(r.query("notice")).map(str::to_string), None),
    };
    let mut body = format!(
        r#"<h1>Security credentials</h1>{}{}<div class="card"><p>Signed in as <strong>{}</strong></p></div>"#,
        notice_box(notice.as_deref()),
        error_box(error.as_deref()),
        esc(&me)
    );

    // MFA
    body.push_str(r#"<div class="card"><h2>Multi-factor authentication (MFA)</h2><p class="muted">Use up to 8 MFA devices of any type; any one of them signs you in.</p>"#);
    let can_list = can(app, ctx, Action::ListMFADevices, &me).await?;
    let devices = if can_list { mfa::list_for_owner(&app.iam, ctx.account(), &ctx.owner()).await? } else { vec![] };
    if can_list {
        let can_remove = can(app, ctx, Action::DeactivateMFADevice, &me).await?;
        body.push_str(&devices_table(ctx, &devices, "/console/security/mfa/remove", can_remove));
        if !can_remove && !devices.is_empty() {
            body.push_str(r#"<p class="muted">Removing a device needs a session signed in with MFA (or permission for iam:DeactivateMFADevice).</p>"#);
        }
    } else {
        body.push_str(r#"<p class="muted">You do not have permission to list your MFA devices (iam:ListMFADevices).</p>"#);
    }
    let can_assign = can(app, ctx, Action::EnableMFADevice, &me).await?;
    if devices.len() as i64 >= mfa::MAX_DEVICES {
        body.push_str(r#"<p class="notice">You have 8 MFA devices, the most a user can have. Remove a device before you assign another.</p><button type="button" disabled>Assign MFA device</button>"#);
    } else if can_assign {
        body.push_str(r#"<p><a class="button" href="/console/security/mfa/new">Assign MFA device</a></p>"#);
    } else {
        body.push_str(r#"<p class="muted">You do not have permission to assign MFA devices (iam:EnableMFADevice).</p>"#);
    }
    body.push_str("</div>");

    // Password
    let can_pw = may_change_password(app, ctx).await?;
    body.push_str(r#"<div class="card"><h2>Console password</h2>"#);
    if can_pw {
        body.push_str(&format!(
            r#"<form method="post" action="/console/security/password">{}{}<button type="submit">Change password</button></form>"#,
            csrf_field(&ctx.s.csrf),
            password_fields()
        ));
    } else {
        body.push_str(r#"<p class="muted">You do not have permission to change your password (iam:ChangePassword).</p>"#);
    }
    body.push_str(&format!(
        r#"<h3>Console sessions</h3><p class="muted">Changing your password or removing the device you signed in with ends your other sessions. You can also end them all now, this one included.</p><form method="post" action="/console/signout/everywhere">{}<button type="submit" class="secondary">Sign out everywhere</button></form>"#,
        csrf_field(&ctx.s.csrf)
    ));
    body.push_str("</div>");

    // Access keys
    body.push_str(r#"<div class="card"><h2>Access keys</h2>"#);
    if can(app, ctx, Action::ListAccessKeys, &me).await? {
        let list = keys::list(&app.iam, ctx.account(), &ctx.owner()).await?;
        let may_update = can(app, ctx, Action::UpdateAccessKey, &me).await?;
        let may_delete = can(app, ctx, Action::DeleteAccessKey, &me).await?;
        if list.is_empty() {
            body.push_str("<p>No access keys.</p>");
        } else {
            let mut rows = String::new();
            for k in &list {
                let mut buttons = String::new();
                let op_form = |op: &str, label: &str, class: &str| {
                    format!(
                        r#"<form method="post" action="/console/security/keys">{}{}{}<button type="submit" class="{class}">{label}</button></form>"#,
                        csrf_field(&ctx.s.csrf),
                        hidden("op", op),
                        hidden("key", &k.access_key_id)
                    )
                };
                if may_update {
                    buttons.push_str(&if k.status == "Active" {
                        op_form("deactivate", "Deactivate", "secondary")
                    } else {
                        op_form("activate", "Activate", "secondary")
                    });
                }
                if may_delete && k.status != "Active" {
                    buttons.push_str(&op_form("delete", "Delete", "danger"));
                }
                rows.push_str(&format!(
                    r#"<tr><td class="id">{}</td><td>{}</td><td class="opt">{}</td><td>{buttons}</td></tr>"#,
                    esc(&k.access_key_id),
                    esc(&k.status),
                    when(Some(k.created_at))
                ));
            }
            body.push_str(&format!(r#"<table><thead><tr><th>Access key ID</th><th>Status</th><th class="opt">Created</th><th></th></tr></thead><tbody>{rows}</tbody></table><p class="muted">Deactivate a key before you delete it.</p>"#));
        }
        if list.len() < 2 && can(app, ctx, Action::CreateAccessKey, &me).await? {
            body.push_str(&format!(
                r#"<form method="post" action="/console/security/keys">{}{}<button type="submit">Create access key</button></form>"#,
                csrf_field(&ctx.s.csrf),
                hidden("op", "create")
            ));
        }
    } else {
        body.push_str(r#"<p class="muted">You do not have permission to list your access keys (iam:ListAccessKeys).</p>"#);
    }
    body.push_str("</div>");
    Ok(frame(ctx, "Security credentials", &body, false))
}

// ---- assigning a device ----

pub async fn assign_page(app: &App, ctx: &Ctx, error: Option<&str>, name: &str) -> R {
    let n = mfa::list_for_owner(&app.iam, ctx.account(), &ctx.owner()).await?.len() as i64;
    if n >= mfa::MAX_DEVICES {
        let body = r#"<div class="card narrow"><h1>Assign MFA device</h1><div class="error" role="alert">You already have 8 MFA devices, the most a user can have. Remove a device before you assign another.</div><p><a href="/console/security">Back to Security credentials</a></p></div>"#;
        return Ok(frame(ctx, "Assign MFA device", body, false).status(409));
    }
    let body = format!(
        r#"<div class="card narrow"><h1>Assign MFA device</h1>{err}<form method="post" action="/console/security/mfa/new">{csrf}{name}
<p class="muted">Letters, digits and + = , . @ _ - (at most 64 characters).</p>
<fieldset><legend>MFA device type</legend>
<label class="choice" for="t-app"><input type="radio" id="t-app" name="type" value="app" checked> Authenticator app</label>
<label class="choice" for="t-key"><input type="radio" id="t-key" name="type" value="key"> Passkey or security key</label>
<label class="choice" for="t-hw"><input type="radio" id="t-hw" name="type" value="hardware"> Hardware TOTP token</label>
</fieldset><button type="submit">Next</button> <a class="button secondary" href="/console/security">Cancel</a></form></div>"#,
        err = error_box(error),
        csrf = csrf_field(&ctx.s.csrf),
        name = field("Device name", "name", "text", name, r#"required maxlength="64""#),
    );
    Ok(frame(ctx, "Assign MFA device", &body, false))
}

fn valid_device_name(name: &str) -> bool {
    name.chars().count() <= 64 && params::MFA_NAME.accepts(name)
}

pub async fn assign(app: &App, r: &Req, ctx: &Ctx) -> R {
    let name = r.form("name").trim().to_string();
    if !valid_device_name(&name) {
        return assign_page(app, ctx, Some("Enter a device name of 1 to 64 characters: letters, digits and + = , . @ _ -"), &name).await;
    }
    let me = self_arn(ctx);
    match r.form("type") {
        "app" => {
            let serial = mfa::virtual_serial(ctx.account(), "/", &name);
            let created = act(app, r, ctx, Action::CreateVirtualMFADevice, json_params(&[("virtualMFADeviceName", &name), ("path", "/")]), async {
                target::new_entity(app, &ctx.caller, Action::CreateVirtualMFADevice, &serial).await?;
                mfa::create_virtual(&app.iam, ctx.account(), &name, "/", &[]).await
            })
            .await;
            match created {
                Ok(d) => {
                    let e = Enrolment { device_id: d.device_id.clone(), serial: d.serial.clone(), expires_ms: app.iam.clock.now_ms() + STEP_TTL_MS };
                    cs::set_serial(&app.iam, &ctx.s.token_hash, false, Some(&e.encode())).await?;
                    Ok(app_page(ctx, &name, &d.serial, &d.seed_base32, None))
                }
                Err(e) if e.code == ErrorCode::EntityAlreadyExists => {
                    let msg = format!("The device name \u{201c}{name}\u{201d} is already in use in this account. Choose another name.");
                    assign_page(app, ctx, Some(&msg), &name).await
                }
                Err(e) if e.code == ErrorCode::AccessDenied => {
                    assign_page(app, ctx, Some("You do not have permission to create an authenticator app device (iam:CreateVirtualMFADevice)."), &name).await
                }
                Err(e) => Err(e),
            }
        }
        "hardware" => Ok(hardware_page(ctx, &name, "", None)),
        "key" => {
            if !can(app, ctx, Action::EnableMFADevice, &me).await? {
                return assign_page(app, ctx, Some("You do not have permission to assign MFA devices (iam:EnableMFADevice)."), &name).await;
            }
            key_page(app, ctx, &name, None).await
        }
        _ => assign_page(app, ctx, Some("Choose an MFA device type."), &name).await,
    }
}

fn codes_fields() -> String {
    format!(
        "{}{}",
        field("MFA code 1", "code1", "text", "", r#"required inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6,8}" maxlength="8""#),
        field("MFA code 2", "code2", "text", "", r#"required inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6,8}" maxlength="8""#)
    )
}

fn app_page(ctx: &Ctx, name: &str, serial: &str, seed: &str, error: Option<&str>) -> Out {
    let uri = otp::otpauth_uri("iamd", &format!("{name}@{}", ctx.account()), seed, &otp::Params::default());
    let qr = crate::qr::png(&uri).map(|p| base64::engine::general_purpose::STANDARD.encode(p)).unwrap_or_default();
    let body = format!(
        r#"<div class="card narrow"><h1>Set up your authenticator app</h1>{err}<p>Device <strong>{n}</strong>, identifier <span class="id">{s}</span>.</p>
<ol><li>Install an authenticator app on your phone or computer.</li><li>Scan this QR code with it, or enter the secret key by hand.</li><li>Enter two consecutive codes from the app.</li></ol>
<img class="qr" alt="QR code for the authenticator app" src="data:image/png;base64,{qr}">
<details><summary>Show secret key</summary><p class="secret" id="secret-key">{seed}</p></details>
<form method="post" action="/console/security/mfa/app">{csrf}{name_field}{codes}<button type="submit">Add MFA</button> <a class="button secondary" href="/console/security">Cancel</a></form></div>"#,
        err = error_box(error),
        n = esc(name),
        s = esc(serial),
        seed = esc(seed),
        csrf = csrf_field(&ctx.s.csrf),
        name_field = hidden("name", name),
        codes = codes_fields(),
    );
    frame(ctx, "Set up your authenticator app", &body, false)
}

fn hardware_page(ctx: &Ctx, name: &str, serial: &str, error: Option<&str>) -> Out {
    let body = format!(
        r#"<div class="card narrow"><h1>Set up your hardware TOTP token</h1>{err}<p>Device <strong>{n}</strong>. Enter the serial number printed on the token, then two consecutive codes it shows.</p>
<form method="post" action="/console/security/mfa/hardware">{csrf}{name_field}{serial}{codes}<button type="submit">Add MFA</button> <a class="button secondary" href="/console/security">Cancel</a></form></div>"#,
        err = error_box(error),
        n = esc(name),
        csrf = csrf_field(&ctx.s.csrf),
        name_field = hidden("name", name),
        serial = field("Serial number", "serial", "text", serial, r#"required maxlength="256""#),
        codes = codes_fields(),
    );
    frame(ctx, "Set up your hardware TOTP token", &body, false)
}

/// A stable WebAuthn user handle for a principal (not its name, which can change).
fn user_handle(account: &str, owner: &str) -> Uuid {
    use sha2::Digest;
    let h = sha2::Sha256::digest(format!("iamd/{account}/{owner}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    Uuid::from_bytes(b)
}

async fn key_page(app: &App, ctx: &Ctx, name: &str, error: Option<&str>) -> R {
    let existing: Vec<_> = mfa::u2f_keys(&app.iam, ctx.account(), &ctx.owner())
        .await?
        .iter()
        .filter_map(|(_, c)| serde_json::from_slice::<SecurityKey>(c).ok())
        .map(|k| k.cred_id().clone())
        .collect();
    let user_name = ctx.user().map(|u| u.name.clone()).unwrap_or_else(|| "root".into());
    let display = format!("{user_name} ({})", ctx.account());
    let (ccr, state) = app
        .console
        .webauthn
        .start_securitykey_registration(user_handle(ctx.account(), ctx.owner().column()), &user_name, &display, Some(existing), None, None)
        .map_err(|e| AwsError::internal(format!("webauthn: {e:?}")))?;
    let state = serde_json::to_vec(&json!({"name": name, "state": state})).map_err(|e| AwsError::internal(e.to_string()))?;
    cs::put_ceremony(&app.iam, &ctx.s.token_hash, "register", &state).await?;
    let options = serde_json::to_string(&ccr).map_err(|e| AwsError::internal(e.to_string()))?;
    let body = format!(
        r#"<div class="card narrow"><h1>Set up your passkey or security key</h1>{err}<p>Device <strong>{n}</strong>. Select the button, then touch your security key (or confirm the passkey) when your browser asks.</p>
<script type="application/json" id="webauthn-options" data-mode="create">{opts}</script>
<form method="post" action="/console/security/mfa/key" id="webauthn-form">{csrf}<input type="hidden" name="credential" value=""><button type="button" id="webauthn-start">Use security key</button> <a class="button secondary" href="/console/security">Cancel</a></form><p id="webauthn-status" class="muted" role="status"></p></div>"#,
        err = error_box(error),
        n = esc(name),
        opts = json_in_html(&options),
        csrf = csrf_field(&ctx.s.csrf),
    );
    Ok(frame(ctx, "Set up your passkey or security key", &body, true))
}

fn enable_error(e: &AwsError) -> String {
    match e.code {
        ErrorCode::InvalidAuthenticationCode => {
            "The MFA codes were not accepted. Enter two consecutive codes, the second one after the first has changed.".into()
        }
        ErrorCode::LimitExceeded => "You already have 8 MFA devices, the most a user can have. Remove a device before you assign another.".into(),
        ErrorCode::NoSuchEntity => {
            "There is no available hardware token with that serial number in this account. Check the serial number printed on the token.".into()
        }
        ErrorCode::EntityAlreadyExists => "That device is already assigned.".into(),
        ErrorCode::AccessDenied => "You do not have permission to assign MFA devices (iam:EnableMFADevice).".into(),
        _ => e.message.clone(),
    }
}

fn codes_ok(r: &Req) -> bool {
    [r.form("code1"), r.form("code2")].iter().all(|c| params::AUTH_CODE.accepts(c) && c.chars().all(|x| x.is_ascii_digit()))
}

/// EnableMFADevice on the signed-in principal. `device_id`: the one device an enrolment created
/// (an authenticator app); None for a hardware token named by its serial.
async fn enable(app: &App, r: &Req, ctx: &Ctx, serial: &str, device_id: Option<&str>) -> Result<(), AwsError> {
    let user_name = ctx.user_name();
    act(app, r, ctx, Action::EnableMFADevice, json_params(&[("userName", &user_name), ("serialNumber", serial)]), async {
        let owner = target::owner(app, &ctx.caller, Action::EnableMFADevice, None).await?;
        mfa::enable(&app.iam, ctx.account(), &owner, &crate::domain::throttle_key(&ctx.principal), serial, device_id, r.form("code1"), r.form("code2")).await
    })
    .await
}

/// An authenticator-app enrolment in progress, kept in the session: bound to the device it created
/// (by id, so a device created later under the same name is never it), to this session's principal
/// (the session is), and to a deadline. Cleared when the device is assigned.
struct Enrolment {
    device_id: String,
    serial: String,
    expires_ms: i64,
}

impl Enrolment {
    fn encode(&self) -> String {
        format!("{} {} {}", self.device_id, self.expires_ms, self.serial)
    }
    fn current(ctx: &Ctx, now_ms: i64) -> Option<Enrolment> {
        let mut it = ctx.s.pending_serial.as_deref()?.splitn(3, ' ');
        let (device_id, expires, serial) = (it.next()?, it.next()?, it.next()?);
        let expires_ms: i64 = expires.parse().ok()?;
        (now_ms < expires_ms).then(|| Enrolment { device_id: device_id.to_string(), serial: serial.to_string(), expires_ms })
    }
}

pub async fn add_app(app: &App, r: &Req, ctx: &Ctx) -> R {
    let Some(enrolment) = Enrolment::current(ctx, app.iam.clock.now_ms()) else {
        cs::set_serial(&app.iam, &ctx.s.token_hash, false, None).await?;
        return assign_page(app, ctx, Some("This device setup expired. Start again."), "").await;
    };
    let serial = enrolment.serial.clone();
    let name = r.form("name").to_string();
    let again = |msg: String| {
        let (serial, name, device_id) = (serial.clone(), name.clone(), enrolment.device_id.clone());
        async move {
            // Only the seed of the very device this enrolment created, while it is unassigned.
            match mfa::unassigned_seed(&app.iam, ctx.account(), &device_id).await? {
                Some(seed) => Ok::<Out, AwsError>(app_page(ctx, &name, &serial, &seed, Some(&msg))),
                None => {
                    cs::set_serial(&app.iam, &ctx.s.token_hash, false, None).await?;
                    Ok(Out::redirect("/console/security"))
                }
            }
        }
    };
    if !codes_ok(r) {
        return again("Enter two codes of 6 digits from the app.".into()).await;
    }
    match enable(app, r, ctx, &serial, Some(&enrolment.device_id)).await {
        Ok(()) => {
            cs::set_serial(&app.iam, &ctx.s.token_hash, false, None).await?;
            Ok(Out::redirect("/console/security?notice=assigned"))
        }
        Err(e) if e.status < 500 => again(enable_error(&e)).await,
        Err(e) => Err(e),
    }
}

pub async fn add_hardware(app: &App, r: &Req, ctx: &Ctx) -> R {
    let name = r.form("name").trim().to_string();
    let serial = r.form("serial").trim().to_string();
    if !valid_device_name(&name) {
        return assign_page(app, ctx, Some("Enter a device name of 1 to 64 characters: letters, digits and + = , . @ _ -"), &name).await;
    }
    if !params::SERIAL.accepts(&serial) {
        return Ok(hardware_page(ctx, &name, &serial, Some("Enter the token's serial number (9 to 256 letters, digits and + = / : , . @ _ -).")));
    }
    if !codes_ok(r) {
        return Ok(hardware_page(ctx, &name, &serial, Some("Enter two codes of 6 digits from the token.")));
    }
    if mfa::get(&app.iam, ctx.account(), &serial).await?.is_some_and(|d| d.kind != Kind::Hardware) {
        return Ok(hardware_page(ctx, &name, &serial, Some("That serial number is not a hardware TOTP token.")));
    }
    match enable(app, r, ctx, &serial, None).await {
        Ok(()) => {
            mfa::set_name(&app.iam, ctx.account(), &ctx.owner(), &serial, &name).await?;
            Ok(Out::redirect("/console/security?notice=assigned"))
        }
        Err(e) if e.status < 500 => Ok(hardware_page(ctx, &name, &serial, Some(&enable_error(&e)))),
        Err(e) => Err(e),
    }
}

pub async fn add_key(app: &App, r: &Req, ctx: &Ctx) -> R {
    let Some(state) = cs::take_ceremony(&app.iam, &ctx.s.token_hash, "register").await? else {
        return assign_page(app, ctx, Some("This security key registration expired. Start again."), "").await;
    };
    #[derive(serde::Deserialize)]
    struct Pending {
        name: String,
        state: SecurityKeyRegistration,
    }
    let pending: Pending = serde_json::from_slice(&state).map_err(|e| AwsError::internal(format!("ceremony state: {e}")))?;
    let Ok(reg) = serde_json::from_str::<RegisterPublicKeyCredential>(r.form("credential")) else {
        return key_page(app, ctx, &pending.name, Some("Your browser did not return a security key. Try again.")).await;
    };
    let sk = match app.console.webauthn.finish_securitykey_registration(&reg, &pending.state) {
        Ok(sk) => sk,
        Err(e) => {
            tracing::info!(request_id = r.request_id, error = ?e, "security key registration refused");
            return key_page(app, ctx, &pending.name, Some("The security key's answer could not be verified. Try again.")).await;
        }
    };
    let cred_id = serde_json::to_value(sk.cred_id()).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let key = mfa::NewKey {
        credential_id: cred_id,
        credential: serde_json::to_vec(&sk).map_err(|e| AwsError::internal(e.to_string()))?,
        counter: 0,
        certifications: serde_json::Map::new(),
    };
    let user_name = ctx.user_name();
    let label = ctx.user().map(|u| u.name.clone());
    let res = act(app, r, ctx, Action::EnableMFADevice, json_params(&[("userName", &user_name), ("deviceName", &pending.name)]), async {
        let owner = target::owner(app, &ctx.caller, Action::EnableMFADevice, None).await?;
        let d = mfa::add_u2f(&app.iam, ctx.account(), &owner, label.as_deref(), &pending.name, &key).await?;
        audit::with(|e| e.params_json = Some(json_params(&[("userName", &user_name), ("serialNumber", &d.serial)])));
        Ok(d)
    })
    .await;
    match res {
        Ok(_) => Ok(Out::redirect("/console/security?notice=assigned")),
        Err(e) if e.code == ErrorCode::EntityAlreadyExists && e.message.contains("same path and name") => {
            let msg = format!("You already have a security key named \u{201c}{}\u{201d}. Choose another name.", pending.name);
            assign_page(app, ctx, Some(&msg), &pending.name).await
        }
        Err(e) if e.status < 500 => assign_page(app, ctx, Some(&enable_error(&e)), &pending.name).await,
        Err(e) => Err(e),
    }
}

// ---- removing a device ----

/// "Remove" on the Security credentials page (`for_user` None) or on a user's page: a confirmation,
/// then DeactivateMFADevice (and DeleteVirtualMFADevice for an authenticator app, as AWS's console does).
pub async fn remove_device(app: &App, r: &Req, ctx: &Ctx, for_user: Option<&str>) -> R {
    let serial = r.form("serial").to_string();
    // Resolve and authorize before anything about the device is shown: a caller who may not remove
    // this user's devices learns nothing of them (nor whether the user exists).
    let name = for_user.map(|n| percent_encoding::percent_decode_str(n).decode_utf8_lossy().to_string());
    let owner = match target::owner(app, &ctx.caller, Action::DeactivateMFADevice, name.as_deref()).await {
        Ok(o) => o,
        Err(e) if refused(&e) => {
            let msg =
                "You do not have permission to remove this device (iam:DeactivateMFADevice). Policies often allow it only in a session signed in with MFA."
                    .to_string();
            return match for_user {
                None => security(app, r, ctx, Some(Err(msg))).await,
                Some(_) => Err(e),
            };
        }
        Err(e) => return Err(e),
    };
    let (user_name, back) = match (&owner, for_user) {
        (Owner::User(u), Some(_)) => (u.name.clone(), format!("/console/users/{}", u.name)),
        _ => (ctx.user_name(), "/console/security".to_string()),
    };
    let Some(d) = mfa::get(&app.iam, ctx.account(), &serial).await?.filter(|d| d.owner.as_deref() == Some(owner.column())) else {
        return Ok(Out::redirect(&back));
    };
    let action = match for_user {
        None => "/console/security/mfa/remove".to_string(),
        Some(_) => format!("/console/users/{}/mfa/remove", user_name),
    };
    if r.form("confirm") != "yes" {
        let body = format!(
            r#"<div class="card narrow"><h1>Remove MFA device?</h1><p>The {t} <strong>{n}</strong> (<span class="id">{s}</span>) will no longer sign in{who}. The other devices keep working.</p>
<form method="post" action="{action}">{csrf}{serial}{confirm}<button type="submit" class="danger">Remove</button> <a class="button secondary" href="{back}">Cancel</a></form></div>"#,
            t = type_label(d.kind).to_lowercase(),
            n = esc(&device_name(&d)),
            s = esc(&d.serial),
            who = if for_user.is_some() { format!(" for {}", esc(&user_name)) } else { String::new() },
            action = esc(&action),
            csrf = csrf_field(&ctx.s.csrf),
            serial = hidden("serial", &d.serial),
            confirm = hidden("confirm", "yes"),
            back = esc(&back),
        );
        return Ok(frame(ctx, "Remove MFA device", &body, false));
    }
    let res = act(app, r, ctx, Action::DeactivateMFADevice, json_params(&[("userName", &user_name), ("serialNumber", &serial)]), async {
        let owner = target::owner(app, &ctx.caller, Action::DeactivateMFADevice, name.as_deref()).await?;
        mfa::deactivate(&app.iam, ctx.account(), &owner, &serial).await
    })
    .await;
    match res {
        Ok(dev) => {
            tracing::info!(account = ctx.account(), serial = %dev.serial, owner = %owner.arn(ctx.account()), "MFA device removed in the console");
            if dev.kind == Kind::Virtual {
                // As AWS's console does; without permission the device stays, unassigned.
                let _ = act(app, r, ctx, Action::DeleteVirtualMFADevice, json_params(&[("serialNumber", &serial)]), async {
                    let d = target::device(app, &ctx.caller, Action::DeleteVirtualMFADevice, &serial).await?.ok_or_else(|| mfa::no_such_virtual(&serial))?;
                    mfa::delete_virtual(&app.iam, ctx.account(), &d.serial).await
                })
                .await;
            }
            Ok(Out::redirect(&format!("{back}?notice=removed")))
        }
        Err(e) if e.code == ErrorCode::AccessDenied => {
            let msg =
                "You do not have permission to remove this device (iam:DeactivateMFADevice). Policies often allow it only in a session signed in with MFA."
                    .to_string();
            match for_user {
                None => security(app, r, ctx, Some(Err(msg))).await,
                Some(n) => user_page(app, ctx, n, Some(Err(msg))).await,
            }
        }
        Err(e) => Err(e),
    }
}

// ---- access keys ----

pub async fn access_keys(app: &App, r: &Req, ctx: &Ctx) -> R {
    let user_name = ctx.user().map(|u| u.name.clone());
    let key = r.form("key").to_string();
    let mut p = vec![];
    if let Some(n) = &user_name {
        p.push(("userName", n.as_str()));
    }
    let res: Result<Option<(String, String)>, AwsError> = match r.form("op") {
        "create" => {
            act(app, r, ctx, Action::CreateAccessKey, json_params(&p), async {
                let owner = target::owner(app, &ctx.caller, Action::CreateAccessKey, None).await?;
                let (id, secret, _) = keys::create(&app.iam, ctx.account(), &owner).await?;
                audit::respond(json!({"accessKey": {"accessKeyId": id, "status": "Active", "userName": user_name}}));
                Ok(Some((id, secret)))
            })
            .await
        }
        op @ ("activate" | "deactivate") => {
            let status = if op == "activate" { "Active" } else { "Inactive" };
            p.push(("accessKeyId", &key));
            p.push(("status", status));
            act(app, r, ctx, Action::UpdateAccessKey, json_params(&p), async {
                let owner = target::owner(app, &ctx.caller, Action::UpdateAccessKey, None).await?;
                keys::update_status(&app.iam, ctx.account(), &owner, &key, status).await.map(|_| None)
            })
            .await
        }
        "delete" => {
            p.push(("accessKeyId", &key));
            act(app, r, ctx, Action::DeleteAccessKey, json_params(&p), async {
                let owner = target::owner(app, &ctx.caller, Action::DeleteAccessKey, None).await?;
                keys::delete(&app.iam, ctx.account(), &owner, &key).await.map(|_| None)
            })
            .await
        }
        _ => return Err(AwsError::bad_request("op")),
    };
    match res {
        Ok(Some((id, secret))) => {
            let body = format!(
                r#"<div class="card narrow"><h1>Access key created</h1><p class="notice">This is the only time the secret access key is shown. Copy it now and store it safely.</p>
<label for="akid">Access key ID</label><p class="secret" id="akid">{}</p><label for="secret">Secret access key</label><p class="secret" id="secret">{}</p><p><a class="button" href="/console/security">Done</a></p></div>"#,
                esc(&id),
                esc(&secret)
            );
            Ok(frame(ctx, "Access key created", &body, false))
        }
        Ok(None) => Ok(Out::redirect(if r.form("op") == "delete" { "/console/security?notice=key-deleted" } else { "/console/security?notice=key-updated" })),
        Err(e) if e.status < 500 => security(app, r, ctx, Some(Err(e.message.clone()))).await,
        Err(e) => Err(e),
    }
}

// ---- administration ----

fn kinds_summary(devices: &[Device]) -> String {
    if devices.is_empty() {
        return "None".into();
    }
    let mut kinds: Vec<&str> = devices.iter().map(|d| type_label(d.kind)).collect();
    kinds.sort();
    kinds.dedup();
    format!("{} ({})", devices.len(), kinds.join(", "))
}

pub async fn users(app: &App, ctx: &Ctx) -> R {
    if !can(app, ctx, Action::ListUsers, &format!("arn:aws:iam::{}:user/", ctx.account())).await? {
        let body = r#"<div class="card"><h1>Users</h1><p>You do not have permission to list the account's users (iam:ListUsers).</p></div>"#;
        return Ok(frame(ctx, "Users", body, false));
    }
    let (list, _) = users::list(&app.iam, ctx.account(), "/", None, 1000).await?;
    let mut rows = String::new();
    for u in &list {
        // Each user's MFA status is what ListMFADevices on that user would show.
        let summary = if can(app, ctx, Action::ListMFADevices, &user_arn(ctx.account(), &u.path, &u.name)).await? {
            kinds_summary(&mfa::list_for_owner(&app.iam, ctx.account(), &Owner::User(u.as_ref())).await?)
        } else {
            "\u{2014}".to_string()
        };
        rows.push_str(&format!(
            r#"<tr><td><a href="/console/users/{n}">{n}</a></td><td>{m}</td><td class="opt">{c}</td><td class="opt">{p}</td></tr>"#,
            n = esc(&u.name),
            m = esc(&summary),
            c = when(Some(u.created_at)),
            p = when(u.password_last_used),
        ));
    }
    let body = format!(
        r#"<div class="card"><h1>Users</h1><table><thead><tr><th>User name</th><th>MFA devices</th><th class="opt">Created</th><th class="opt">Console last sign-in</th></tr></thead><tbody>{rows}</tbody></table></div>"#
    );
    Ok(frame(ctx, "Users", &body, false))
}

pub async fn user_page(app: &App, ctx: &Ctx, name: &str, message: Option<Result<String, String>>) -> R {
    let name = percent_encoding::percent_decode_str(name).decode_utf8_lossy().to_string();
    if !params::EXISTING_USER_NAME.accepts(&name) {
        return Err(AwsError::no_such_entity("no user"));
    }
    // GetUser on the user, as the API would: refused (403) the same whether or not the user exists.
    let u = target::user(app, &ctx.caller, Action::GetUser, &name).await?;
    let arn = user_arn(ctx.account(), &u.path, &u.name);
    let (notice, error) = match message {
        Some(Ok(n)) => (Some(n), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    let mut body = format!(
        r#"<h1>User {}</h1>{}{}<div class="card"><p class="id">{}</p>"#,
        esc(&u.name),
        notice_box(notice.as_deref()),
        error_box(error.as_deref()),
        esc(&arn)
    );
    body.push_str("<h2>MFA devices</h2>");
    if can(app, ctx, Action::ListMFADevices, &arn).await? {
        let devices = mfa::list_for_owner(&app.iam, ctx.account(), &Owner::User(u.as_ref())).await?;
        let can_remove = can(app, ctx, Action::DeactivateMFADevice, &arn).await?;
        body.push_str(&devices_table(ctx, &devices, &format!("/console/users/{}/mfa/remove", esc(&u.name)), can_remove));
    } else {
        body.push_str(r#"<p class="muted">You do not have permission to list this user's MFA devices (iam:ListMFADevices).</p>"#);
    }
    body.push_str(r#"</div><p><a href="/console/users">All users</a></p>"#);
    Ok(frame(ctx, &format!("User {}", u.name), &body, false))
}

// ---- event history ----

/// The kind of second factor a ConsoleLogin record names.
fn mfa_kind_of(rec: &serde_json::Value) -> &'static str {
    let extra = &rec["additionalEventData"];
    let id = extra["MFAIdentifier"].as_str().unwrap_or("");
    if extra["MFAUsed"].as_str() != Some("Yes") || id.is_empty() {
        "No MFA"
    } else if id.contains(":u2f/") {
        "Passkey or security key"
    } else if id.contains(":mfa/") {
        "Authenticator app"
    } else {
        "Hardware TOTP token"
    }
}

const CHART_KINDS: [&str; 4] = ["Authenticator app", "Passkey or security key", "Hardware TOTP token", "No MFA"];
const CHART_COLORS: [&str; 4] = ["#0073bb", "#1d8102", "#ec7211", "#879596"];

fn parse_day(s: &str, end: bool) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    let t = if end { d.and_hms_opt(23, 59, 59)? } else { d.and_hms_opt(0, 0, 0)? };
    Some(t.and_utc().timestamp_millis())
}

/// A page of an account's events, through the domain (the events page has checked
/// `cloudtrail:LookupEvents` first). The console's page tokens are the API's: bound to the
/// query that made them.
async fn lookup(app: &App, mut q: trail::LookupQuery, token: Option<&str>) -> Result<(trail::Page, Option<String>), AwsError> {
    let fingerprint = q.fingerprint();
    if let Some(t) = token {
        q.after = Some(trail::decode_token(t, &fingerprint).ok_or_else(|| AwsError::invalid_next_token("The NextToken is not valid for this query."))?);
    }
    let page = trail::lookup(&app.iam, &q).await?;
    let next = page.next.map(|c| trail::encode_token(c, &fingerprint));
    Ok((page, next))
}

pub async fn events(app: &App, r: &Req, ctx: &Ctx) -> R {
    if !can(app, ctx, Action::LookupEvents, "*").await? {
        let body = r#"<div class="card"><h1>Event history</h1><p>You do not have permission to look up events (cloudtrail:LookupEvents).</p></div>"#;
        return Ok(frame(ctx, "Event history", body, false));
    }
    let now = app.iam.clock.now_ms();
    let (user, name) = (r.query("user").trim(), r.query("event").trim());
    let start = parse_day(r.query("start"), false).unwrap_or(now - 13 * 86_400_000 - now.rem_euclid(86_400_000));
    let end = parse_day(r.query("end"), true).unwrap_or(now).max(start);
    // CloudTrail looks up one attribute at a time: the user name, else the event name (the other is
    // then filtered here).
    let attribute = if !user.is_empty() {
        Some((trail::Attribute::Username, user.to_string()))
    } else if !name.is_empty() {
        Some((trail::Attribute::EventName, name.to_string()))
    } else {
        None
    };
    let q = trail::LookupQuery { account: ctx.account().to_string(), attribute, start_ms: Some(start), end_ms: Some(end), max: 50, after: None };
    let next = r.query("next");
    let (page, next_token) = match lookup(app, q, (!next.is_empty()).then_some(next)).await {
        Ok(p) => p,
        Err(e) if e.status < 500 => {
            let body = format!(r#"<div class="card"><h1>Event history</h1>{}</div>"#, error_box(Some(&e.message)));
            return Ok(frame(ctx, "Event history", &body, false));
        }
        Err(e) => return Err(e),
    };
    let mut rows = String::new();
    for e in &page.events {
        let rec: serde_json::Value = serde_json::from_str(&e.record).unwrap_or_default();
        let ev_name = rec["eventName"].as_str().unwrap_or("");
        if !user.is_empty() && !name.is_empty() && ev_name != name {
            continue;
        }
        let who =
            rec["userIdentity"]["userName"].as_str().map(str::to_string).unwrap_or_else(|| rec["userIdentity"]["type"].as_str().unwrap_or("").to_string());
        let device = rec["additionalEventData"]["MFAIdentifier"].as_str().or(rec["requestParameters"]["serialNumber"].as_str()).unwrap_or("");
        let outcome = rec["errorMessage"].as_str().or(rec["errorCode"].as_str()).unwrap_or("Success");
        rows.push_str(&format!(
            r#"<tr><td>{t}</td><td>{n}</td><td>{w}</td><td class="opt">{ip}</td><td class="id">{d}</td><td>{o}</td></tr>"#,
            t = esc(rec["eventTime"].as_str().unwrap_or("")),
            n = esc(ev_name),
            w = esc(&who),
            ip = esc(rec["sourceIPAddress"].as_str().unwrap_or("")),
            d = esc(device),
            o = esc(outcome),
        ));
    }
    let more = match next_token.as_deref() {
        Some(t) => {
            let q = wire::encode([("user", user), ("event", name), ("start", r.query("start")), ("end", r.query("end")), ("next", t)]);
            format!(r#"<p><a href="/console/events?{}">Older events</a></p>"#, esc(&q))
        }
        None => String::new(),
    };
    let chart = sign_in_chart(app, ctx, start, end, user).await?;
    let day = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default();
    let body = format!(
        r#"<h1>Event history</h1><div class="card"><form method="get" action="/console/events" class="filters">{u}{e}{s}{en}<div><button type="submit">Filter</button></div></form></div>
<div class="card"><h2>Sign-ins per day by MFA type</h2>{chart}</div>
<div class="card"><h2>Events</h2><table><thead><tr><th>Time</th><th>Event name</th><th>User name</th><th class="opt">Source IP</th><th>MFA device</th><th>Outcome</th></tr></thead><tbody>{rows}</tbody></table>{more}</div>"#,
        u = field("User name", "user", "text", user, r#"maxlength="128""#),
        e = field("Event name", "event", "text", name, r#"maxlength="128""#),
        s = field("From", "start", "date", &day(start), ""),
        en = field("To", "end", "date", &day(end), ""),
    );
    Ok(frame(ctx, "Event history", &body, false))
}

/// A stacked bar per day: successful console sign-ins, by the type of MFA device used.
async fn sign_in_chart(app: &App, ctx: &Ctx, start: i64, end: i64, user: &str) -> Result<String, AwsError> {
    let day0 = start.div_euclid(86_400_000);
    let days = (end.div_euclid(86_400_000) - day0 + 1).clamp(1, 62) as usize;
    let mut counts = vec![[0u32; 4]; days];
    // Successful sign-ins only; at most 20 pages of 50.
    let mut after = None;
    for _ in 0..20 {
        let q = trail::LookupQuery {
            account: ctx.account().to_string(),
            attribute: Some((trail::Attribute::EventName, "ConsoleLogin".into())),
            start_ms: Some(start),
            end_ms: Some(end),
            max: 50,
            after,
        };
        let page = trail::lookup(&app.iam, &q).await?;
        for e in &page.events {
            let rec: serde_json::Value = serde_json::from_str(&e.record).unwrap_or_default();
            if rec["responseElements"]["ConsoleLogin"].as_str() != Some("Success") {
                continue;
            }
            if !user.is_empty() && rec["userIdentity"]["userName"].as_str() != Some(user) {
                continue;
            }
            let t = chrono::DateTime::parse_from_rfc3339(rec["eventTime"].as_str().unwrap_or("")).map(|t| t.timestamp_millis()).unwrap_or(0);
            let d = t.div_euclid(86_400_000) - day0;
            if d >= 0 && (d as usize) < days {
                let k = CHART_KINDS.iter().position(|k| *k == mfa_kind_of(&rec)).unwrap_or(3);
                counts[d as usize][k] += 1;
            }
        }
        after = page.next;
        if after.is_none() {
            break;
        }
    }
    let max = counts.iter().map(|c| c.iter().sum::<u32>()).max().unwrap_or(0).max(1);
    let (w, h, pad) = (640.0f64, 200.0f64, 24.0f64);
    let bar = (w - pad) / days as f64;
    let mut svg = format!(r#"<svg class="chart" viewBox="0 0 {w} {}" role="img" aria-label="Console sign-ins per day by MFA type">"#, h + 30.0);
    for (i, c) in counts.iter().enumerate() {
        let mut y = h;
        let x = pad + i as f64 * bar;
        for (k, n) in c.iter().enumerate() {
            if *n == 0 {
                continue;
            }
            let bh = (*n as f64 / max as f64) * (h - 10.0);
            y -= bh;
            svg.push_str(&format!(
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {} {}</title></rect>"#,
                x + 1.0,
                y,
                (bar - 2.0).max(1.0),
                bh,
                CHART_COLORS[k],
                day_label(day0 + i as i64),
                n,
                CHART_KINDS[k]
            ));
        }
        if days <= 16 || i % (days / 8).max(1) == 0 {
            svg.push_str(&format!(r##"<text x="{:.1}" y="{}" font-size="10" fill="#545b64">{}</text>"##, x + 1.0, h + 14.0, &day_label(day0 + i as i64)[5..]));
        }
    }
    svg.push_str(&format!(
        r##"<text x="0" y="12" font-size="10" fill="#545b64">{max}</text><line x1="{pad}" y1="{h}" x2="{w}" y2="{h}" stroke="#879596"/></svg>"##
    ));
    let total: u32 = counts.iter().map(|c| c.iter().sum::<u32>()).sum();
    let mut legend = String::from(r#"<p class="legend">"#);
    for (k, name) in CHART_KINDS.iter().enumerate() {
        let n: u32 = counts.iter().map(|c| c[k]).sum();
        legend.push_str(&format!(r#"<span><span class="swatch sw{k}"></span>{name}: {n}</span>"#));
    }
    legend.push_str(&format!("</p><p class=\"muted\">{total} successful console sign-ins in this period.</p>"));
    Ok(svg + &legend)
}

fn day_label(day: i64) -> String {
    chrono::DateTime::from_timestamp_millis(day * 86_400_000).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()
}
