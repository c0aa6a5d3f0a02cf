//! MFA devices: virtual devices, enabling, resyncing, deactivating, listing and tags.

use super::shapes::write_user;
use super::support::{account, b64, decode_marker, encode_marker, page, tags_page, Out};
use crate::api::params::{self, Params};
use crate::api::xml::Xml;
use crate::app::App;
use crate::auth::action::Action;
use crate::auth::target;
use crate::auth::Caller;
use crate::domain::mfa::Kind;
use crate::domain::{is_root_column, iso8601, mfa, Owner};
use crate::error::AwsError;

pub(super) async fn create_virtual_mfa_device(app: &App, c: &Caller, p: &mut Params) -> Out {
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

pub(super) async fn enable_mfa_device(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("UserName", &params::EXISTING_USER_NAME);
    let serial = p.req("SerialNumber", &params::SERIAL);
    let c1 = p.req("AuthenticationCode1", &params::AUTH_CODE);
    let c2 = p.req("AuthenticationCode2", &params::AUTH_CODE);
    p.finish()?;
    let owner = Owner::User(target::user(app, c, Action::EnableMFADevice, &name).await?.as_ref());
    mfa::enable(&app.iam, account(c), &owner, &crate::domain::throttle_key(&c.principal), &serial, None, &c1, &c2).await?;
    Ok(None)
}

pub(super) async fn resync_mfa_device(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("UserName", &params::EXISTING_USER_NAME);
    let serial = p.req("SerialNumber", &params::SERIAL);
    let c1 = p.req("AuthenticationCode1", &params::AUTH_CODE);
    let c2 = p.req("AuthenticationCode2", &params::AUTH_CODE);
    p.finish()?;
    let owner = Owner::User(target::user(app, c, Action::ResyncMFADevice, &name).await?.as_ref());
    mfa::resync(&app.iam, account(c), &owner, &crate::domain::throttle_key(&c.principal), &serial, &c1, &c2).await?;
    Ok(None)
}

pub(super) async fn deactivate_mfa_device(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::EXISTING_USER_NAME);
    let serial = p.req("SerialNumber", &params::SERIAL);
    p.finish()?;
    let owner = target::owner(app, c, Action::DeactivateMFADevice, name.as_deref()).await?;
    let dev = mfa::deactivate(&app.iam, account(c), &owner, &serial).await?;
    tracing::info!(account = account(c), serial = %dev.serial, owner = %owner.arn(account(c)), "MFA device deactivated");
    Ok(None)
}

pub(super) async fn delete_virtual_mfa_device(app: &App, c: &Caller, p: &mut Params) -> Out {
    let serial = p.req("SerialNumber", &params::SERIAL);
    p.finish()?;
    let d = target::device(app, c, Action::DeleteVirtualMFADevice, &serial).await?.ok_or_else(|| mfa::no_such_virtual(&serial))?;
    mfa::delete_virtual(&app.iam, account(c), &d.serial).await?;
    Ok(None)
}

pub(super) async fn list_mfa_devices(app: &App, c: &Caller, p: &mut Params) -> Out {
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

pub(super) async fn list_virtual_mfa_devices(app: &App, c: &Caller, p: &mut Params) -> Out {
    let status = p.enumeration("AssignmentStatus", &["Assigned", "Unassigned", "Any"], false).unwrap_or_else(|| "Any".into());
    let (marker, max) = p.paging();
    p.finish()?;
    target::account(app, c, Action::ListVirtualMFADevices).await?;
    let list = mfa::list_virtual(&app.iam, account(c), &status).await?;
    let start = decode_marker(marker.as_deref())?;
    let (list, next) = page(list, |(d, _)| d.serial.clone(), start, max);
    let root_created: Option<i64> = if list.iter().any(|(d, _)| d.owner.as_deref().is_some_and(is_root_column)) {
        Some(crate::domain::accounts::created_at(&app.iam, account(c)).await?)
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

pub(super) async fn get_mfa_device(app: &App, c: &Caller, p: &mut Params) -> Out {
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

pub(super) async fn tag_mfa_device(app: &App, c: &Caller, p: &mut Params) -> Out {
    let serial = p.req("SerialNumber", &params::SERIAL);
    let tags = p.tags(true);
    p.finish()?;
    params::check_duplicate_tag_keys(&tags)?;
    let d = target::device(app, c, Action::TagMFADevice, &serial).await?.ok_or_else(|| mfa::no_such_virtual(&serial))?;
    mfa::tag(&app.iam, account(c), &d.serial, &tags).await?;
    Ok(None)
}

pub(super) async fn untag_mfa_device(app: &App, c: &Caller, p: &mut Params) -> Out {
    let serial = p.req("SerialNumber", &params::SERIAL);
    let keys = p.string_list("TagKeys", &params::TAG_KEY, 50, true);
    p.finish()?;
    let d = target::device(app, c, Action::UntagMFADevice, &serial).await?.ok_or_else(|| mfa::no_such_virtual(&serial))?;
    mfa::untag(&app.iam, account(c), &d.serial, &keys).await?;
    Ok(None)
}

pub(super) async fn list_mfa_device_tags(app: &App, c: &Caller, p: &mut Params) -> Out {
    let serial = p.req("SerialNumber", &params::SERIAL);
    let (marker, max) = p.paging();
    p.finish()?;
    let d = target::device(app, c, Action::ListMFADeviceTags, &serial).await?.ok_or_else(|| mfa::no_such_virtual(&serial))?;
    tags_page(mfa::tags(&app.iam, account(c), &d.serial).await?, marker, max)
}
