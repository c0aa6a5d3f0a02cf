//! MFA operations (IAM) and GetSessionToken (STS).

use super::action::Action;
use super::iam::{account, decode_marker, encode_marker, write_user, Out};
use super::params::{self, Params};
use super::xml::Xml;
use super::{target, App, Caller};
use crate::domain::mfa::{self, Kind};
use crate::domain::{is_root_column, iso8601, report, sessions, Owner};
use crate::error::AwsError;
use base64::Engine;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub async fn create_virtual_mfa_device(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("VirtualMFADeviceName", &params::MFA_NAME);
    // The model's length, then IAM's own rule for a device path (no empty segment, so `/a//b/` is
    // refused too), in IAM's words.
    let path = p.opt("Path", &params::Spec { pattern: None, ..params::PATH }).unwrap_or_else(|| "/".into());
    let tags = p.tags(false);
    p.finish()?;
    if !params::PATH.accepts(&path) || path.len() > 1 && path[1..path.len() - 1].split('/').any(str::is_empty) {
        return Err(AwsError::validation(
            "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.",
        ));
    }
    params::check_duplicate_tag_keys(&tags)?;
    let serial = mfa::virtual_serial(account(c), &path, &name);
    target::new_entity(app, c, Action::CreateVirtualMFADevice, &serial).await?;
    let d = mfa::create_virtual(&app.iam, account(c), &name, &path, &tags).await?;
    let mut x = Xml::new();
    x.open("VirtualMFADevice").text("SerialNumber", &d.serial).text("Base32StringSeed", &b64(d.seed_base32.as_bytes())).text("QRCodePNG", &b64(&d.qr_png));
    if !tags.is_empty() {
        x.tags("Tags", &tags);
    }
    x.close("VirtualMFADevice");
    Ok(Some(x.buf))
}

pub async fn enable_mfa_device(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("UserName", &params::EXISTING_USER_NAME);
    let serial = p.req("SerialNumber", &params::SERIAL);
    let c1 = p.req("AuthenticationCode1", &params::AUTH_CODE);
    let c2 = p.req("AuthenticationCode2", &params::AUTH_CODE);
    p.finish()?;
    let owner = Owner::User(target::user(app, c, Action::EnableMFADevice, &name).await?.as_ref());
    mfa::enable(&app.iam, account(c), &owner, &crate::domain::throttle_key(&c.principal), &serial, None, &c1, &c2).await?;
    Ok(None)
}

pub async fn resync_mfa_device(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("UserName", &params::EXISTING_USER_NAME);
    let serial = p.req("SerialNumber", &params::SERIAL);
    let c1 = p.req("AuthenticationCode1", &params::AUTH_CODE);
    let c2 = p.req("AuthenticationCode2", &params::AUTH_CODE);
    p.finish()?;
    let owner = Owner::User(target::user(app, c, Action::ResyncMFADevice, &name).await?.as_ref());
    mfa::resync(&app.iam, account(c), &owner, &crate::domain::throttle_key(&c.principal), &serial, &c1, &c2).await?;
    Ok(None)
}

pub async fn deactivate_mfa_device(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::EXISTING_USER_NAME);
    let serial = p.req("SerialNumber", &params::SERIAL);
    p.finish()?;
    let owner = target::owner(app, c, Action::DeactivateMFADevice, name.as_deref()).await?;
    let dev = mfa::deactivate(&app.iam, account(c), &owner, &serial).await?;
    tracing::info!(account = account(c), serial = %dev.serial, owner = %owner.arn(account(c)), "MFA device deactivated");
    Ok(None)
}

pub async fn delete_virtual_mfa_device(app: &App, c: &Caller, p: &mut Params) -> Out {
    let serial = p.req("SerialNumber", &params::SERIAL);
    p.finish()?;
    let d = target::device(app, c, Action::DeleteVirtualMFADevice, &serial).await?.ok_or_else(|| mfa::no_such_virtual(&serial))?;
    mfa::delete_virtual(&app.iam, account(c), &d.serial).await?;
    Ok(None)
}

/// Pages over a sorted list by an opaque marker holding the next item's key.
pub fn page<T>(items: Vec<T>, key: impl Fn(&T) -> String, marker: Option<String>, max: i64) -> (Vec<T>, Option<String>) {
    let start = marker.unwrap_or_default();
    let mut rest: Vec<T> = items.into_iter().filter(|i| key(i) >= start).collect();
    let next = if rest.len() as i64 > max { Some(key(&rest[max as usize])) } else { None };
    rest.truncate(max as usize);
    (rest, next)
}

pub async fn list_mfa_devices(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::EXISTING_USER_NAME);
    let (marker, max) = p.paging();
    p.finish()?;
    let owner = target::owner(app, c, Action::ListMFADevices, name.as_deref()).await?;
    let list = mfa::list_for_owner(&app.iam, account(c), &owner).await?;
    let start = decode_marker(marker.as_deref())?;
    let (list, next) = page(list, |d| format!("{:020}/{}", d.enabled_at.unwrap_or(0), d.serial), start, max);
    let user_name = owner.user().map(|u| u.name.clone()).unwrap_or_else(|| "root".into());
    let mut x = Xml::new();
    x.list("MFADevices", &list, |x, d| {
        x.text("UserName", &user_name).text("SerialNumber", &d.serial).text("EnableDate", &iso8601(d.enabled_at.unwrap_or(d.created_at)));
    });
    x.paging(next.map(|n| encode_marker(&n)).as_deref());
    Ok(Some(x.buf))
}

pub async fn list_virtual_mfa_devices(app: &App, c: &Caller, p: &mut Params) -> Out {
    let status = p.enumeration("AssignmentStatus", &["Assigned", "Unassigned", "Any"], false).unwrap_or_else(|| "Any".into());
    let (marker, max) = p.paging();
    p.finish()?;
    target::account(app, c, Action::ListVirtualMFADevices).await?;
    let list = mfa::list_virtual(&app.iam, account(c), &status).await?;
    let start = decode_marker(marker.as_deref())?;
    let (list, next) = page(list, |(d, _)| d.serial.clone(), start, max);
    let root_created: Option<i64> = if list.iter().any(|(d, _)| d.owner.as_deref().is_some_and(is_root_column)) {
        Some(sqlx::query_scalar("SELECT created_at FROM accounts WHERE account_id = $1").bind(account(c)).fetch_one(&app.iam.store.read).await?)
    } else {
        None
    };
    let mut x = Xml::new();
    x.list("VirtualMFADevices", &list, |x, (d, u)| {
        x.text("SerialNumber", &d.serial);
        match (d.owner.as_deref(), u) {
            (Some(o), _) if is_root_column(o) => {
                x.open("User")
                    .text("UserId", account(c))
                    .text("Arn", &format!("arn:aws:iam::{}:root", account(c)))
                    .text("CreateDate", &iso8601(root_created.unwrap_or(0)))
                    .close("User");
            }
            (Some(_), Some(u)) => {
                x.open("User");
                write_user(x, u, account(c), false);
                x.close("User");
            }
            _ => {}
        }
        if let Some(t) = d.enabled_at {
            x.text("EnableDate", &iso8601(t));
        }
    });
    x.paging(next.map(|n| encode_marker(&n)).as_deref());
    Ok(Some(x.buf))
}

pub async fn get_mfa_device(app: &App, c: &Caller, p: &mut Params) -> Out {
    let serial = p.req("SerialNumber", &params::SERIAL);
    let name = p.opt("UserName", &params::USER_NAME);
    p.finish()?;
    let owner = target::owner(app, c, Action::GetMFADevice, name.as_deref()).await?;
    // "For this API, we only accept FIDO security key ARNs."
    let d = mfa::get(&app.iam, account(c), &serial)
        .await?
        .filter(|d| d.kind == Kind::U2f && d.owner.as_deref() == Some(owner.column()))
        .ok_or_else(|| mfa::no_such_device(&serial))?;
    let certs = mfa::certifications(&app.iam, &d.device_id).await?;
    let mut x = Xml::new();
    x.opt("UserName", owner.user().map(|u| u.name.as_str())).text("SerialNumber", &d.serial);
    if let Some(t) = d.enabled_at {
        x.text("EnableDate", &iso8601(t));
    }
    if !certs.is_empty() {
        x.open("Certifications");
        for (k, v) in &certs {
            x.open("entry").text("key", k).text("value", v).close("entry");
        }
        x.close("Certifications");
    }
    Ok(Some(x.buf))
}

pub async fn tag_mfa_device(app: &App, c: &Caller, p: &mut Params) -> Out {
    let serial = p.req("SerialNumber", &params::SERIAL);
    let tags = p.tags(true);
    p.finish()?;
    params::check_duplicate_tag_keys(&tags)?;
    let d = target::device(app, c, Action::TagMFADevice, &serial).await?.ok_or_else(|| mfa::no_such_virtual(&serial))?;
    mfa::tag(&app.iam, account(c), &d.serial, &tags).await?;
    Ok(None)
}

pub async fn untag_mfa_device(app: &App, c: &Caller, p: &mut Params) -> Out {
    let serial = p.req("SerialNumber", &params::SERIAL);
    let keys = p.string_list("TagKeys", &params::TAG_KEY, 50, true);
    p.finish()?;
    let d = target::device(app, c, Action::UntagMFADevice, &serial).await?.ok_or_else(|| mfa::no_such_virtual(&serial))?;
    mfa::untag(&app.iam, account(c), &d.serial, &keys).await?;
    Ok(None)
}

pub async fn list_mfa_device_tags(app: &App, c: &Caller, p: &mut Params) -> Out {
    let serial = p.req("SerialNumber", &params::SERIAL);
    let (marker, max) = p.paging();
    p.finish()?;
    let d = target::device(app, c, Action::ListMFADeviceTags, &serial).await?.ok_or_else(|| mfa::no_such_virtual(&serial))?;
    super::iam::tags_page(mfa::tags(&app.iam, account(c), &d.serial).await?, marker, max)
}

pub async fn generate_credential_report(app: &App, c: &Caller, p: &mut Params) -> Out {
    p.finish()?;
    target::account(app, c, Action::GenerateCredentialReport).await?;
    let (state, description) = report::generate(&app.iam, account(c)).await?;
    let mut x = Xml::new();
    x.text("State", state).text("Description", description);
    Ok(Some(x.buf))
}

pub async fn get_credential_report(app: &App, c: &Caller, p: &mut Params) -> Out {
    p.finish()?;
    target::account(app, c, Action::GetCredentialReport).await?;
    let (content, at) = report::get(&app.iam, account(c)).await?;
    let mut x = Xml::new();
    x.text("Content", &b64(&content)).text("ReportFormat", "text/csv").text("GeneratedTime", &iso8601(at));
    Ok(Some(x.buf))
}

pub use crate::domain::mfa::NOT_YOURS;

/// responseElements of GetSessionToken / AssumeRole: the credentials without the secret.
pub fn credentials_record(issued: &sessions::Issued, assumed: Option<(String, String)>) -> serde_json::Value {
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

/// The MFA of an STS request (GetSessionToken, AssumeRole): none when it names neither a device nor a
/// code; (time, serial) when `owner`'s device accepts the code; AWS's AccessDenied texts otherwise.
pub async fn check_request_mfa(app: &App, c: &Caller, owner: &Owner, serial: Option<String>, code: Option<String>) -> Result<Option<(i64, String)>, AwsError> {
    match (serial, code) {
        (None, None) => Ok(None),
        (Some(serial), Some(code)) => match mfa::check_code(&app.iam, account(c), owner, &serial, &code).await? {
            Ok(dev) => Ok(Some((app.iam.clock.now_ms(), dev.serial))),
            Err(r) => Err(r.error()),
        },
        _ => Err(AwsError::access_denied(NOT_YOURS)),
    }
}

/// sts:GetSessionToken. Not policy-checked ("you cannot use policies to control authentication
/// operations"); needs long-term credentials; with SerialNumber + TokenCode of any one of the
/// caller's TOTP devices the session carries MFA.
pub async fn get_session_token(app: &App, c: &Caller, p: &mut Params) -> Out {
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
    x.open("Credentials")
        .text("AccessKeyId", &issued.session.access_key_id)
        .text("SecretAccessKey", &issued.session.secret)
        .text("SessionToken", &issued.token)
        .text("Expiration", &iso8601(issued.session.expires_ms))
        .close("Credentials");
    Ok(Some(x.buf))
}
