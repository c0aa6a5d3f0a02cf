//! Administration: the account's users and a user's page with its MFA devices.

use super::devices::Removal;
use super::views::{self, device_row, frame, page, type_label, when};
use super::{can, Ctx, Req, R};
use crate::api::params;
use crate::app::App;
use crate::auth::action::Action;
use crate::auth::target;
use crate::domain::mfa::{self, Kind};
use crate::domain::{user_arn, users, Owner};
use crate::error::AwsError;

/// "2 (Authenticator app, Passkey or security key)" from the counts of each kind.
fn kinds_summary((apps, hardware, keys): (i64, i64, i64)) -> String {
    let n = apps + hardware + keys;
    if n == 0 {
        return "None".into();
    }
    let mut kinds: Vec<&str> =
        [(apps, Kind::Virtual), (hardware, Kind::Hardware), (keys, Kind::U2f)].iter().filter(|(c, _)| *c > 0).map(|(_, k)| type_label(*k)).collect();
    kinds.sort();
    format!("{n} ({})", kinds.join(", "))
}

/// Users per page.
const PAGE: i64 = 50;
/// Database pages read to fill one page when rows are hidden from the caller.
const MAX_READS: usize = 10;

/// The MFA filter's choices: (query value, label, filter).
const FILTERS: [(&str, &str, users::MfaFilter); 6] = [
    ("any", "Any", users::MfaFilter::Any),
    ("none", "No MFA device", users::MfaFilter::NoDevice),
    ("one", "Exactly one device", users::MfaFilter::OneDevice),
    ("app", "An authenticator app", users::MfaFilter::Kind(Kind::Virtual)),
    ("hardware", "A hardware TOTP token", users::MfaFilter::Kind(Kind::Hardware)),
    ("key", "A passkey or security key", users::MfaFilter::Kind(Kind::U2f)),
];

/// The Users page: paginated by name, searchable by name prefix, filterable by MFA devices; one
/// query per page of users (their device counts come with them).
pub(super) async fn users(app: &App, r: &Req, ctx: &Ctx) -> R {
    if !can(app, ctx, Action::ListUsers, &format!("arn:aws:iam::{}:user/", ctx.account())).await? {
        let text = "You do not have permission to list the account's users (iam:ListUsers).";
        return Ok(page(&views::Message { frame: frame(ctx, "Users", false), text, error: None }));
    }
    let q = r.query("q").trim();
    let mfa_key = match r.query("mfa") {
        "" => "any",
        k => k,
    };
    let filter = FILTERS.iter().find(|(k, _, _)| *k == mfa_key).map(|(_, _, f)| *f);
    let after = r.query("after");
    // A prefix of a user name, or the name a page starts after: IAM's user-name rule, or empty.
    let valid = |s: &str| s.is_empty() || params::USER_NAME.accepts(s);
    let mut view = views::Users {
        frame: frame(ctx, "Users", false),
        q: q.to_string(),
        filters: FILTERS.iter().map(|(k, label, _)| (*k, *label, *k == mfa_key)).collect(),
        error: None,
        users: vec![],
        next: None,
    };
    let Some(filter) = filter.filter(|_| valid(q) && valid(after)) else {
        view.error = Some("Search by the start of a user name (letters, digits and + = , . @ _ -) and one of the MFA choices.");
        return Ok(page(&view).status(400));
    };
    // Each user's MFA status is what ListMFADevices on that user would show. Under a filter by
    // devices, a user whose devices the caller may not list is left out (it would say what they are).
    let mut cursor = after.to_ascii_lowercase();
    for _ in 0..MAX_READS {
        let (list, next) = users::page_with_devices(&app.iam, ctx.account(), q, filter, &cursor, PAGE - view.users.len() as i64).await?;
        for w in list {
            let u = &w.user;
            let visible = can(app, ctx, Action::ListMFADevices, &user_arn(ctx.account(), &u.path, &u.name)).await?;
            if !visible && filter != users::MfaFilter::Any {
                continue;
            }
            let mfa = if visible { kinds_summary(w.devices) } else { "\u{2014}".to_string() };
            view.users.push(views::UserRow { name: u.name.clone(), mfa, created: when(Some(u.created_at)), last_sign_in: when(u.password_last_used) });
        }
        match next {
            Some(n) if (view.users.len() as i64) < PAGE => cursor = n,
            Some(n) => {
                view.next = Some(wire::encode([("q", q), ("mfa", mfa_key), ("after", n.as_str())]));
                break;
            }
            None => break,
        }
    }
    Ok(page(&view))
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
    let cli_logins = crate::domain::logins::active(&app.iam, ctx.account(), &u.user_id).await?.len();
    let can_end_sessions = can(app, ctx, Action::UpdateLoginProfile, &arn).await?;
    Ok(page(&views::User {
        cli_logins,
        can_end_sessions,
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

/// "End sessions" on a user's page: every console session and `aws login` of that user ends (their
/// credentials stop at once). It needs the authority to reset the user's password
/// (iam:UpdateLoginProfile), which would end them too.
pub(super) async fn end_user_sessions(app: &App, r: &Req, ctx: &Ctx, name: &str) -> R {
    let name = percent_encoding::percent_decode_str(name).decode_utf8_lossy().to_string();
    if !params::EXISTING_USER_NAME.accepts(&name) {
        return Err(AwsError::no_such_entity("no user"));
    }
    let res = super::record::act_as(app, r, ctx, "signin.amazonaws.com", "RevokeUserSessions", false, serde_json::json!({"userName": name}), async {
        let u = target::user(app, &ctx.caller, Action::UpdateLoginProfile, &name).await?;
        let mut tx = app.iam.begin().await?;
        crate::domain::console::credentials_changed(&mut tx, ctx.account(), &u.user_id, None, None).await?;
        tx.commit().await?;
        Ok(())
    })
    .await;
    match res {
        Ok(()) => user_page(app, ctx, &name, Some(Ok(format!("Every console session and CLI login of {name} has ended.")))).await,
        Err(e) if e.status < 500 => user_page(app, ctx, &name, Some(Err(e.message.clone()))).await,
        Err(e) => Err(e),
    }
}
