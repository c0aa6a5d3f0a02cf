//! Administration: the account's users and a user's page with its MFA devices.

use super::devices::Removal;
use super::views::{self, device_row, frame, page, type_label, when};
use super::{can, Ctx, Req, R};
use crate::api::params;
use crate::app::App;
use crate::auth::action::Action;
use crate::auth::target;
use crate::domain::mfa::{self, Device};
use crate::domain::{user_arn, users, Owner};
use crate::error::AwsError;

pub(super) fn kinds_summary(devices: &[Device]) -> String {
    if devices.is_empty() {
        return "None".into();
    }
    let mut kinds: Vec<&str> = devices.iter().map(|d| type_label(d.kind)).collect();
    kinds.sort();
    kinds.dedup();
    format!("{} ({})", devices.len(), kinds.join(", "))
}

pub(super) async fn users(app: &App, ctx: &Ctx) -> R {
    if !can(app, ctx, Action::ListUsers, &format!("arn:aws:iam::{}:user/", ctx.account())).await? {
        let text = "You do not have permission to list the account's users (iam:ListUsers).";
        return Ok(page(&views::Message { frame: frame(ctx, "Users", false), text, error: None }));
    }
    let (list, _) = users::list(&app.iam, ctx.account(), "/", None, 1000).await?;
    let mut rows = Vec::with_capacity(list.len());
    for u in &list {
        // Each user's MFA status is what ListMFADevices on that user would show.
        let mfa = if can(app, ctx, Action::ListMFADevices, &user_arn(ctx.account(), &u.path, &u.name)).await? {
            kinds_summary(&mfa::list_for_owner(&app.iam, ctx.account(), &Owner::User(u.as_ref())).await?)
        } else {
            "\u{2014}".to_string()
        };
        rows.push(views::UserRow { name: u.name.clone(), mfa, created: when(Some(u.created_at)), last_sign_in: when(u.password_last_used) });
    }
    Ok(page(&views::Users { frame: frame(ctx, "Users", false), users: rows }))
}

pub(super) async fn user_page(app: &App, ctx: &Ctx, name: &str, message: Option<Result<String, String>>) -> R {
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
    let devices = if can(app, ctx, Action::ListMFADevices, &arn).await? {
        Some(mfa::list_for_owner(&app.iam, ctx.account(), &Owner::User(u.as_ref())).await?.iter().map(device_row).collect())
    } else {
        None
    };
    let can_remove = devices.is_some() && can(app, ctx, Action::DeactivateMFADevice, &arn).await?;
    Ok(page(&views::User {
        frame: frame(ctx, &format!("User {}", u.name), false),
        csrf: &ctx.s.csrf,
        name: &u.name,
        remove_action: format!("/console/users/{}/mfa/remove", u.name),
        arn,
        notice,
        error,
        devices,
        can_remove,
    }))
}

/// "Remove" on a user's page: one of that user's devices.
pub(super) async fn remove_user_device(app: &App, r: &Req, ctx: &Ctx, name: &str) -> R {
    match super::devices::remove_device(app, r, ctx, Some(name)).await? {
        Removal::Page(out) => Ok(out),
        Removal::Refused(msg) => user_page(app, ctx, name, Some(Err(msg))).await,
    }
}
