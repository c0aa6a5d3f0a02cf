//! What both password changes share (the one a sign-in requires, and the one on the Security
//! credentials page): the input checks, the change itself and the words of its refusals.

use super::{Ctx, Req};
use crate::app::App;
use crate::domain::console::{self as cs};
use crate::domain::users;
use crate::error::{AwsError, ErrorCode};

pub(super) async fn set_password(app: &App, ctx: &Ctx, old: &str, new: &str) -> Result<(), AwsError> {
    match ctx.user() {
        Some(u) => {
            users::change_password(&app.iam, ctx.account(), u, old, new, Some(&ctx.s.token_hash), &ctx.caller.source_ip.clone().unwrap_or_default()).await
        }
        None => cs::change_root_password(&app.iam, ctx.account(), old, new, Some(&ctx.s.token_hash), &ctx.caller.source_ip.clone().unwrap_or_default()).await,
    }
}

pub(super) fn password_input_error(r: &Req) -> Option<&'static str> {
    let (old, new, retype) = (r.form("old"), r.form("new"), r.form("retype"));
    if old.is_empty() || new.is_empty() || old.chars().count() > 128 || new.chars().count() > 128 {
        Some("Enter your old password and a new password (at most 128 characters).")
    } else if new != retype {
        Some("The new passwords do not match.")
    } else {
        None
    }
}

pub(super) fn password_error(e: &AwsError) -> String {
    match e.code {
        ErrorCode::PasswordPolicyViolation => format!("The new password does not meet the account's password policy: {}.", e.message.trim_end_matches('.')),
        ErrorCode::AccessDenied if super::refused(e) => "You are not allowed to change your password (iam:ChangePassword). Ask your administrator.".into(),
        ErrorCode::AccessDenied => "The old password is incorrect.".into(),
        _ if e.status >= 500 => "The password could not be changed. Try again.".into(),
        _ => e.message.clone(),
    }
}
