//! The Security credentials page and its forms: assigning an MFA device of any type, the
//! principal's access keys.

use super::devices::Removal;
use super::passwords::{password_error, password_input_error, set_password};
use super::record::act;
use super::views::{self, device_row, frame, json_in_html, page, when};
use super::{can, json_params, may_change_password, Ctx, Out, Req, R, STEP_TTL_MS};
use crate::api::params;
use crate::app::App;
use crate::audit;
use crate::auth::action::Action;
use crate::auth::target;
use crate::domain::console::{self as cs};
use crate::domain::keys;
use crate::domain::mfa::{self, Kind};
use crate::error::{AwsError, ErrorCode};
use base64::Engine;
use serde_json::json;
use webauthn_rs::prelude::{RegisterPublicKeyCredential, SecurityKey, SecurityKeyRegistration, Uuid};

pub(super) fn self_arn(ctx: &Ctx) -> String {
    ctx.principal.arn()
}

pub(super) fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "assigned" => "The MFA device was assigned.",
        "removed" => "The MFA device was removed.",
        "password" => "Your password was changed.",
        "key-updated" => "The access key was updated.",
        "key-deleted" => "The access key was deleted.",
        "cli-login-revoked" => "The CLI login was revoked: its credentials stopped and it cannot refresh.",
        _ => return None,
    })
}

/// The Security credentials page. `message`: Ok(notice) or Err(error) to show at the top.
pub(super) async fn security(app: &App, r: &Req, ctx: &Ctx, message: Option<Result<String, String>>) -> R {
    let me = self_arn(ctx);
    let (notice, error) = match message {
        Some(Ok(n)) => (Some(n), None),
        Some(Err(e)) => (None, Some(e)),
        None => (notice_text(r.query("notice")).map(str::to_string), None),
    };
    let can_list = can(app, ctx, Action::ListMFADevices, &me).await?;
    let devices = if can_list { mfa::list_for_owner(&app.iam, ctx.account(), &ctx.owner()).await? } else { vec![] };
    let can_remove = can_list && can(app, ctx, Action::DeactivateMFADevice, &me).await?;
    let can_assign = can(app, ctx, Action::EnableMFADevice, &me).await?;
    let can_change_password = may_change_password(app, ctx).await?;
    let (mut keys, mut may_update, mut may_delete, mut can_create_key) = (None, false, false, false);
    if can(app, ctx, Action::ListAccessKeys, &me).await? {
        let list = keys::list(&app.iam, ctx.account(), &ctx.owner()).await?;
        may_update = can(app, ctx, Action::UpdateAccessKey, &me).await?;
        may_delete = can(app, ctx, Action::DeleteAccessKey, &me).await?;
        can_create_key = list.len() < 2 && can(app, ctx, Action::CreateAccessKey, &me).await?;
        keys = Some(
            list.iter()
                .map(|k| views::KeyRow {
                    id: k.access_key_id.clone(),
                    status: k.status.clone(),
                    active: k.status == "Active",
                    created: when(Some(k.created_at)),
                })
                .collect(),
        );
    }
    // The principal's own `aws login`s, like its console sessions: no permission needed to see or end them.
    let cli_logins = crate::domain::logins::active(&app.iam, ctx.account(), &ctx.s.owner)
        .await?
        .into_iter()
        .map(|(id, device, signed_in, refreshed, ip)| views::CliLoginRow {
            id,
            device: device.unwrap_or_else(|| "No MFA".into()),
            signed_in: when(Some(signed_in)),
            refreshed: when(Some(refreshed)),
            ip,
        })
        .collect();
    Ok(page(&views::Security {
        frame: frame(ctx, "Security credentials", false),
        cli_logins,
        notice,
        error,
        csrf: &ctx.s.csrf,
        me,
        at_max: devices.len() as i64 >= mfa::MAX_DEVICES,
        devices: can_list.then(|| devices.iter().map(device_row).collect()),
        can_remove,
        can_assign,
        can_change_password,
        keys,
        may_update,
        may_delete,
        can_create_key,
    }))
}

pub(super) async fn assign_page(app: &App, ctx: &Ctx, error: Option<&str>, name: &str) -> R {
    let n = mfa::list_for_owner(&app.iam, ctx.account(), &ctx.owner()).await?.len() as i64;
    let at_max = n >= mfa::MAX_DEVICES;
    let out = page(&views::Assign { frame: frame(ctx, "Assign MFA device", false), at_max, error, csrf: &ctx.s.csrf, name });
    Ok(if at_max { out.status(409) } else { out })
}

pub(super) fn valid_device_name(name: &str) -> bool {
    name.chars().count() <= 64 && params::MFA_NAME.accepts(name)
}

pub(super) async fn assign(app: &App, r: &Req, ctx: &Ctx) -> R {
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

pub(super) fn app_page(ctx: &Ctx, name: &str, serial: &str, seed: &str, error: Option<&str>) -> Out {
    let uri = otp::otpauth_uri("iamd", &format!("{name}@{}", ctx.account()), seed, &otp::Params::default());
    let qr = crate::qr::png(&uri).map(|p| base64::engine::general_purpose::STANDARD.encode(p)).unwrap_or_default();
    page(&views::AppSetup { frame: frame(ctx, "Set up your authenticator app", false), error, csrf: &ctx.s.csrf, name, serial, seed, qr })
}

pub(super) fn hardware_page(ctx: &Ctx, name: &str, serial: &str, error: Option<&str>) -> Out {
    page(&views::HardwareSetup { frame: frame(ctx, "Set up your hardware TOTP token", false), error, csrf: &ctx.s.csrf, name, serial })
}

/// A stable WebAuthn user handle for a principal (not its name, which can change).
pub(super) fn user_handle(account: &str, owner: &str) -> Uuid {
    use sha2::Digest;
    let h = sha2::Sha256::digest(format!("iamd/{account}/{owner}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    Uuid::from_bytes(b)
}

pub(super) async fn key_page(app: &App, ctx: &Ctx, name: &str, error: Option<&str>) -> R {
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
    cs::put_ceremony(&app.iam, &ctx.s.token_hash, cs::Ceremony::Register, &state).await?;
    let options = serde_json::to_string(&ccr).map_err(|e| AwsError::internal(e.to_string()))?;
    Ok(page(&views::KeySetup {
        frame: frame(ctx, "Set up your passkey or security key", true),
        error,
        csrf: &ctx.s.csrf,
        name,
        options: json_in_html(&options),
    }))
}

pub(super) fn enable_error(e: &AwsError) -> String {
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

pub(super) fn codes_ok(r: &Req) -> bool {
    [r.form("code1"), r.form("code2")].iter().all(|c| params::AUTH_CODE.accepts(c) && c.chars().all(|x| x.is_ascii_digit()))
}

/// EnableMFADevice on the signed-in principal. `device_id`: the one device an enrolment created
/// (an authenticator app); None for a hardware token named by its serial.
pub(super) async fn enable(app: &App, r: &Req, ctx: &Ctx, serial: &str, device_id: Option<&str>) -> Result<(), AwsError> {
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
pub(super) struct Enrolment {
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

pub(super) async fn add_app(app: &App, r: &Req, ctx: &Ctx) -> R {
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

pub(super) async fn add_hardware(app: &App, r: &Req, ctx: &Ctx) -> R {
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

pub(super) async fn add_key(app: &App, r: &Req, ctx: &Ctx) -> R {
    let Some(state) = cs::take_ceremony(&app.iam, &ctx.s.token_hash, cs::Ceremony::Register).await? else {
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

pub(super) async fn access_keys(app: &App, r: &Req, ctx: &Ctx) -> R {
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
        Ok(Some((id, secret))) => Ok(page(&views::KeyCreated { frame: frame(ctx, "Access key created", false), id: &id, secret: &secret })),
        Ok(None) => Ok(Out::redirect(if r.form("op") == "delete" { "/console/security?notice=key-deleted" } else { "/console/security?notice=key-updated" })),
        Err(e) if e.status < 500 => security(app, r, ctx, Some(Err(e.message.clone()))).await,
        Err(e) => Err(e),
    }
}

/// "Remove" on the Security credentials page: the principal's own device.
pub(super) async fn remove_own_device(app: &App, r: &Req, ctx: &Ctx) -> R {
    match super::devices::remove_device(app, r, ctx, None).await? {
        Removal::Page(out) => Ok(out),
        Removal::Refused(msg) => security(app, r, ctx, Some(Err(msg))).await,
    }
}

pub(super) async fn change_password(app: &App, r: &Req, ctx: &Ctx) -> R {
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

/// "Revoke" of one of the principal's own CLI logins: its refresh is refused and the credentials it
/// issued stop at once.
pub(super) async fn revoke_cli_login(app: &App, r: &Req, ctx: &Ctx) -> R {
    let id = r.form("login").to_string();
    let res = super::record::act_as(app, r, ctx, "signin.amazonaws.com", "RevokeOAuth2Login", false, json!({"loginId": id}), async {
        if crate::domain::logins::revoke(&app.iam, ctx.account(), &ctx.s.owner, &id).await? {
            Ok(())
        } else {
            Err(AwsError::no_such_entity("That CLI login is not one of yours, or it has ended already."))
        }
    })
    .await;
    match res {
        Ok(()) => Ok(Out::redirect("/console/security?notice=cli-login-revoked")),
        Err(e) if e.status < 500 => security(app, r, ctx, Some(Err(e.message.clone()))).await,
        Err(e) => Err(e),
    }
}
