//! Resolve, then authorize: the one place where an action's target becomes the ARN the policy
//! engine sees. Every API handler and console action goes through one of these functions.
//!
//! - A target that exists is authorized on its **canonical ARN**, built from the stored name and
//!   path, never from the caller's spelling: a Deny on `group/Admins` holds for `admins`, and an Allow
//!   on `user/svc-*` does not reach the stored user `SVC-x` however the caller spells it.
//! - A target that does not exist is authorized on the ARN as the caller gave it, and only then
//!   answers NoSuchEntity: a caller without permission learns nothing.
//! - An omitted `UserName` means the calling IAM user, or root with root's own credentials. A role
//!   session must name a user (AWS's ValidationError). Nothing here ever turns "absent" into root for
//!   anyone but root.
//! - Root's keys and devices are root's alone: to anyone else they do not exist.

use super::action::Action;
use super::authz::authorize;
use super::Caller;
use crate::app::App;
use crate::domain::{is_root_column, mfa, policies, roles, user_arn, users, Owner, UserRef};
use crate::error::{AwsError, Result};

fn acct(c: &Caller) -> &str {
    &c.principal.account_id
}

/// AWS's answer when a call that may omit UserName comes from credentials that are not a user's.
pub fn non_user() -> AwsError {
    AwsError::validation("Must specify userName when calling with non-User credentials")
}

fn user_name_required() -> AwsError {
    AwsError::validation("1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null")
}

/// Account-wide actions: resource `*`.
pub async fn account(app: &App, c: &Caller, a: Action) -> Result<()> {
    authorize(app, c, a, "*").await
}

/// Listings: the collection's ARN prefix (`user`, `group`, `role`).
pub async fn listing(app: &App, c: &Caller, a: Action, collection: &str) -> Result<()> {
    authorize(app, c, a, &format!("arn:aws:iam::{}:{collection}/", acct(c))).await
}

/// A create: the ARN the new entity will have (path and name as requested; the name's case is the
/// one that will be stored).
pub async fn new_entity(app: &App, c: &Caller, a: Action, arn: &str) -> Result<()> {
    authorize(app, c, a, arn).await
}

/// A user the request names.
pub async fn user(app: &App, c: &Caller, a: Action, name: &str) -> Result<users::User> {
    match users::find(&app.iam.store.read, acct(c), name).await? {
        Some(u) => {
            authorize(app, c, a, &user_arn(acct(c), &u.path, &u.name)).await?;
            Ok(u)
        }
        None => {
            authorize(app, c, a, &user_arn(acct(c), "/", name)).await?;
            Err(users::no_such_user(name))
        }
    }
}

/// `UserName` optional, root included: the named user, else the caller's own credentials' owner.
pub async fn owner(app: &App, c: &Caller, a: Action, name: Option<&str>) -> Result<Owner> {
    match name {
        Some(n) => Ok(Owner::User(user(app, c, a, n).await?.as_ref())),
        None => {
            let o = Owner::of(&c.principal).ok_or_else(non_user)?;
            authorize(app, c, a, &o.arn(acct(c))).await?;
            Ok(o)
        }
    }
}

/// `UserName` optional, IAM users only (login profiles: root has none).
pub async fn calling_user(app: &App, c: &Caller, a: Action, name: Option<&str>) -> Result<UserRef> {
    match (name, Owner::of(&c.principal)) {
        (Some(n), _) => Ok(user(app, c, a, n).await?.as_ref()),
        (None, Some(Owner::User(u))) => {
            authorize(app, c, a, &user_arn(acct(c), &u.path, &u.name)).await?;
            Ok(u)
        }
        (None, Some(Owner::Root)) => Err(user_name_required()),
        (None, None) => Err(non_user()),
    }
}

pub fn group_arn(account: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:group{path}{name}")
}

pub async fn group(app: &App, c: &Caller, a: Action, name: &str) -> Result<policies::Group> {
    match policies::find_group(&app.iam.store.read, acct(c), name).await? {
        Some(g) => {
            authorize(app, c, a, &group_arn(acct(c), &g.path, &g.name)).await?;
            Ok(g)
        }
        None => {
            authorize(app, c, a, &group_arn(acct(c), "/", name)).await?;
            Err(policies::no_such_group(name))
        }
    }
}

pub async fn role(app: &App, c: &Caller, a: Action, name: &str) -> Result<roles::Role> {
    match roles::find(&app.iam.store.read, acct(c), name).await? {
        Some(r) => {
            authorize(app, c, a, &roles::arn(acct(c), &r)).await?;
            Ok(r)
        }
        None => {
            authorize(app, c, a, &format!("arn:aws:iam::{}:role/{name}", acct(c))).await?;
            Err(roles::no_such_role(name))
        }
    }
}

/// A user, group or role that holds policies, as stored: its id and its name.
pub struct Holding {
    pub id: String,
    pub name: String,
}

/// The user, group or role named `name`, resolved and authorized as `user`, `group` or `role` are.
pub async fn holder(app: &App, c: &Caller, a: Action, holder: policies::Holder, name: &str) -> Result<Holding> {
    Ok(match holder {
        policies::Holder::User => user(app, c, a, name).await.map(|u| Holding { id: u.user_id, name: u.name })?,
        policies::Holder::Group => group(app, c, a, name).await.map(|g| Holding { id: g.group_id, name: g.name })?,
        policies::Holder::Role => role(app, c, a, name).await.map(|r| Holding { id: r.role_id, name: r.name })?,
    })
}

/// A managed policy by ARN (the account's own or AWS's). None: authorized as given, not found.
pub async fn policy(app: &App, c: &Caller, a: Action, arn: &str) -> Result<Option<policies::Managed>> {
    let m = policies::get_managed(&app.iam.store.read, acct(c), arn).await?;
    authorize(app, c, a, m.as_ref().map_or(arn, |m| m.arn.as_str())).await?;
    Ok(m)
}

/// An MFA device by serial number. Root's devices exist only for root.
pub async fn device(app: &App, c: &Caller, a: Action, serial: &str) -> Result<Option<mfa::Device>> {
    let d = mfa::get(&app.iam, acct(c), serial).await?.filter(|d| c.principal.is_root() || !d.owner.as_deref().is_some_and(is_root_column));
    let given = if serial.starts_with("arn:") { serial.to_string() } else { format!("arn:aws:iam::{}:mfa/{serial}", acct(c)) };
    authorize(app, c, a, d.as_ref().map_or(given.as_str(), |d| d.serial.as_str())).await?;
    Ok(d)
}

/// What an ARN parameter names, resolved to the stored entity: its kind, canonical ARN and id.
pub struct Principal {
    pub kind: policies::Holder,
    pub arn: String,
    pub id: String,
    pub user: Option<users::User>,
}

/// SimulatePrincipalPolicy's PolicySourceArn: a user, group or role of the caller's account whose
/// canonical ARN (path included) is the one given, up to ASCII case. Anything else is authorized as
/// given and then does not exist.
pub async fn principal_arn(app: &App, c: &Caller, a: Action, arn: &str) -> Result<Principal> {
    let prefix = format!("arn:aws:iam::{}:", acct(c));
    let rest = arn.strip_prefix(&prefix).unwrap_or("");
    let name = rest.rsplit('/').next().unwrap_or("");
    let found = if name.is_empty() {
        None
    } else if rest.starts_with("user/") {
        users::find(&app.iam.store.read, acct(c), name).await?.map(|u| Principal {
            kind: policies::Holder::User,
            arn: user_arn(acct(c), &u.path, &u.name),
            id: u.user_id.clone(),
            user: Some(u),
        })
    } else if rest.starts_with("group/") {
        policies::find_group(&app.iam.store.read, acct(c), name).await?.map(|g| Principal {
            kind: policies::Holder::Group,
            arn: group_arn(acct(c), &g.path, &g.name),
            id: g.group_id,
            user: None,
        })
    } else if rest.starts_with("role/") {
        roles::find(&app.iam.store.read, acct(c), name).await?.map(|r| Principal {
            kind: policies::Holder::Role,
            arn: roles::arn(acct(c), &r),
            id: r.role_id,
            user: None,
        })
    } else {
        None
    };
    match found.filter(|p| p.arn.eq_ignore_ascii_case(arn)) {
        Some(p) => {
            authorize(app, c, a, &p.arn).await?;
            Ok(p)
        }
        None => {
            authorize(app, c, a, arn).await?;
            Err(AwsError::no_such_entity(format!("Entity {arn} does not exist.")))
        }
    }
}
