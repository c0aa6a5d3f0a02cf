//! Removing an MFA device, from the Security credentials page or from a user's page: a confirmation,
//! then DeactivateMFADevice. The page that shows a refusal is the caller's to render.

use super::record::act;
use super::views::{self, device_name, frame, page, type_label};
use super::{json_params, refused, Ctx, Out, Req};
use crate::app::App;
use crate::auth::action::Action;
use crate::auth::target;
use crate::domain::mfa::{self, Kind};
use crate::domain::Owner;
use crate::error::{AwsError, ErrorCode};

/// "Remove" on the Security credentials page (`for_user` None) or on a user's page: a confirmation,
/// then DeactivateMFADevice (and DeleteVirtualMFADevice for an authenticator app, as AWS's console does).
/// How a removal ended: a page to show, or a refusal for the caller's page to show.
pub(super) enum Removal {
    Page(Out),
    Refused(String),
}

const REFUSED: &str =
    "You do not have permission to remove this device (iam:DeactivateMFADevice). Policies often allow it only in a session signed in with MFA.";

pub(super) async fn remove_device(app: &App, r: &Req, ctx: &Ctx, for_user: Option<&str>) -> Result<Removal, AwsError> {
    let serial = r.form("serial").to_string();
    // Resolve and authorize before anything about the device is shown: a caller who may not remove
    // this user's devices learns nothing of them (nor whether the user exists).
    let name = for_user.map(|n| percent_encoding::percent_decode_str(n).decode_utf8_lossy().to_string());
    let owner = match target::owner(app, &ctx.caller, Action::DeactivateMFADevice, name.as_deref()).await {
        Ok(o) => o,
        Err(e) if refused(&e) => {
            return match for_user {
                None => Ok(Removal::Refused(REFUSED.into())),
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
        return Ok(Removal::Page(Out::redirect(&back)));
    };
    let action = match for_user {
        None => "/console/security/mfa/remove".to_string(),
        Some(_) => format!("/console/users/{}/mfa/remove", user_name),
    };
    if r.form("confirm") != "yes" {
        return Ok(Removal::Page(page(&views::Remove {
            frame: frame(ctx, "Remove MFA device", false),
            csrf: &ctx.s.csrf,
            kind: type_label(d.kind).to_lowercase(),
            name: device_name(&d),
            serial: &d.serial,
            for_user: for_user.is_some().then_some(user_name.as_str()),
            action: &action,
            back: &back,
        })));
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
            Ok(Removal::Page(Out::redirect(&format!("{back}?notice=removed"))))
        }
        Err(e) if e.code == ErrorCode::AccessDenied => Ok(Removal::Refused(REFUSED.into())),
        Err(e) => Err(e),
    }
}
