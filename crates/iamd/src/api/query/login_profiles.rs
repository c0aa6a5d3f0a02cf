//! Console passwords: login profiles, ChangePassword and the account's password policy.

use super::shapes::write_login_profile;
use super::support::{account, Out};
use crate::api::params::{self, Params};
use crate::api::xml::Xml;
use crate::app::App;
use crate::auth::action::Action;
use crate::auth::authz;
use crate::auth::target;
use crate::auth::Caller;
use crate::domain::passwords::PasswordPolicy;
use crate::domain::{accounts, users};
use crate::error::AwsError;

pub(super) async fn create_login_profile(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::USER_NAME);
    let password = p.opt("Password", &params::PASSWORD);
    let reset = p.boolean("PasswordResetRequired").unwrap_or(false);
    p.finish()?;
    let user = target::calling_user(app, c, Action::CreateLoginProfile, name.as_deref()).await?;
    let password = password.ok_or_else(|| AwsError::invalid_input("A password is required to create a login profile."))?;
    let lp = users::create_login_profile(&app.iam, account(c), &user, &password, reset).await?;
    Ok(Some(write_login_profile(&lp)))
}

pub(super) async fn get_login_profile(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::USER_NAME);
    p.finish()?;
    let user = target::calling_user(app, c, Action::GetLoginProfile, name.as_deref()).await?;
    Ok(Some(write_login_profile(&users::get_login_profile(&app.iam, &user).await?)))
}

pub(super) async fn update_login_profile(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("UserName", &params::USER_NAME);
    let password = p.opt("Password", &params::PASSWORD);
    let reset = p.boolean("PasswordResetRequired");
    p.finish()?;
    let user = target::user(app, c, Action::UpdateLoginProfile, &name).await?.as_ref();
    users::update_login_profile(&app.iam, account(c), &user, password.as_deref(), reset).await?;
    Ok(None)
}

pub(super) async fn delete_login_profile(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::USER_NAME);
    p.finish()?;
    let user = target::calling_user(app, c, Action::DeleteLoginProfile, name.as_deref()).await?;
    users::delete_login_profile(&app.iam, account(c), &user).await?;
    Ok(None)
}

pub(super) async fn change_password(app: &App, c: &Caller, p: &mut Params) -> Out {
    let old = p.req("OldPassword", &params::PASSWORD);
    let new = p.req("NewPassword", &params::PASSWORD);
    p.finish()?;
    let Some(user) = c.principal.user.clone() else {
        return Err(AwsError::invalid_user_type("The request was rejected because the type of user for the transaction was incorrect."));
    };
    authz::may_change_password(app, c, &user).await?;
    users::change_password(&app.iam, account(c), &user, &old, &new, None, c.source_ip.as_deref().unwrap_or("")).await?;
    Ok(None)
}

pub(super) async fn update_password_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    let d = PasswordPolicy::default();
    let policy = PasswordPolicy {
        minimum_password_length: p.int("MinimumPasswordLength", 6, 128).unwrap_or(d.minimum_password_length),
        require_symbols: p.boolean("RequireSymbols").unwrap_or(false),
        require_numbers: p.boolean("RequireNumbers").unwrap_or(false),
        require_uppercase_characters: p.boolean("RequireUppercaseCharacters").unwrap_or(false),
        require_lowercase_characters: p.boolean("RequireLowercaseCharacters").unwrap_or(false),
        allow_users_to_change_password: p.boolean("AllowUsersToChangePassword").unwrap_or(false),
        max_password_age: p.int("MaxPasswordAge", 1, 1095),
        password_reuse_prevention: p.int("PasswordReusePrevention", 1, 24),
        hard_expiry: p.boolean("HardExpiry"),
    };
    p.finish()?;
    target::account(app, c, Action::UpdateAccountPasswordPolicy).await?;
    accounts::put_password_policy(&app.iam, account(c), Some(&policy)).await?;
    Ok(None)
}

pub(super) async fn get_password_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    p.finish()?;
    target::account(app, c, Action::GetAccountPasswordPolicy).await?;
    let pol = accounts::get_password_policy(&app.iam, account(c)).await?.ok_or_else(|| accounts::no_password_policy(account(c)))?;
    let mut x = Xml::new();
    x.open("PasswordPolicy")
        .num("MinimumPasswordLength", pol.minimum_password_length)
        .boolean("RequireSymbols", pol.require_symbols)
        .boolean("RequireNumbers", pol.require_numbers)
        .boolean("RequireUppercaseCharacters", pol.require_uppercase_characters)
        .boolean("RequireLowercaseCharacters", pol.require_lowercase_characters)
        .boolean("AllowUsersToChangePassword", pol.allow_users_to_change_password)
        .boolean("ExpirePasswords", pol.max_password_age.is_some());
    if let Some(a) = pol.max_password_age {
        x.num("MaxPasswordAge", a);
    }
    if let Some(r) = pol.password_reuse_prevention {
        x.num("PasswordReusePrevention", r);
    }
    if let Some(h) = pol.hard_expiry {
        x.boolean("HardExpiry", h);
    }
    x.close("PasswordPolicy");
    Ok(Some(x.buf))
}

pub(super) async fn delete_password_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    p.finish()?;
    target::account(app, c, Action::DeleteAccountPasswordPolicy).await?;
    if !accounts::put_password_policy(&app.iam, account(c), None).await? {
        return Err(accounts::no_password_policy_to_delete());
    }
    Ok(None)
}
