//! Access keys: create, list, activate or deactivate, delete, and when each was last used.

use super::support::{account, Out};
use crate::api::params::{self, Params};
use crate::api::xml::Xml;
use crate::app::App;
use crate::auth::action::Action;
use crate::auth::authz::authorize;
use crate::auth::target;
use crate::auth::Caller;
use crate::domain::{iso8601, keys};
use crate::error::AwsError;

pub(super) async fn create_access_key(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::EXISTING_USER_NAME);
    p.finish()?;
    let owner = target::owner(app, c, Action::CreateAccessKey, name.as_deref()).await?;
    let (id, secret, created) = keys::create(&app.iam, account(c), &owner).await?;
    let mut x = Xml::new();
    x.open("AccessKey")
        .opt("UserName", owner.user().map(|u| u.name.as_str()))
        .text("AccessKeyId", &id)
        .text("Status", "Active")
        .text("SecretAccessKey", &secret)
        .text("CreateDate", &iso8601(created))
        .close("AccessKey");
    Ok(Some(x.buf))
}

pub(super) async fn list_access_keys(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::EXISTING_USER_NAME);
    let (_marker, _max) = p.paging();
    p.finish()?;
    let owner = target::owner(app, c, Action::ListAccessKeys, name.as_deref()).await?;
    let list = keys::list(&app.iam, account(c), &owner).await?;
    let mut x = Xml::new();
    x.list("AccessKeyMetadata", &list, |x, k| {
        x.opt("UserName", owner.user().map(|u| u.name.as_str()))
            .text("AccessKeyId", &k.access_key_id)
            .text("Status", &k.status)
            .text("CreateDate", &iso8601(k.created_at));
    });
    // At most two keys per principal: one page always holds them all.
    x.paging(None);
    Ok(Some(x.buf))
}

pub(super) async fn update_access_key(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::EXISTING_USER_NAME);
    let key = p.req("AccessKeyId", &params::ACCESS_KEY_ID);
    let status = p.enumeration("Status", &["Active", "Inactive", "Expired"], true);
    p.finish()?;
    let owner = target::owner(app, c, Action::UpdateAccessKey, name.as_deref()).await?;
    keys::update_status(&app.iam, account(c), &owner, &key, &status.unwrap_or_default()).await?;
    Ok(None)
}

pub(super) async fn delete_access_key(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::EXISTING_USER_NAME);
    let key = p.req("AccessKeyId", &params::ACCESS_KEY_ID);
    p.finish()?;
    let owner = target::owner(app, c, Action::DeleteAccessKey, name.as_deref()).await?;
    keys::delete(&app.iam, account(c), &owner, &key).await?;
    Ok(None)
}

pub(super) async fn get_access_key_last_used(app: &App, c: &Caller, p: &mut Params) -> Out {
    let key = p.req("AccessKeyId", &params::ACCESS_KEY_ID);
    p.finish()?;
    // Authorized on the key's owner. A key that does not exist, is another account's, or is root's
    // (to anyone but root) gets the same AccessDenied, as AWS answers for an unknown key.
    let unknown =
        || AwsError::access_denied(format!("User: {} is not authorized to perform: iam:GetAccessKeyLastUsed on resource: access key {key}", c.principal.arn()));
    let lu = keys::last_used(&app.iam, account(c), &key).await?.filter(|lu| c.principal.is_root() || !lu.owner.is_root()).ok_or_else(unknown)?;
    authorize(app, c, Action::GetAccessKeyLastUsed, &lu.owner.arn(account(c))).await?;
    let mut x = Xml::new();
    x.opt("UserName", lu.owner.user().map(|u| u.name.as_str())).open("AccessKeyLastUsed");
    match lu.last_used_at {
        Some(t) => x
            .text("LastUsedDate", &iso8601(t))
            .text("ServiceName", lu.service.as_deref().unwrap_or("N/A"))
            .text("Region", lu.region.as_deref().unwrap_or("N/A")),
        None => x.text("ServiceName", "N/A").text("Region", "N/A"),
    };
    x.close("AccessKeyLastUsed");
    Ok(Some(x.buf))
}
