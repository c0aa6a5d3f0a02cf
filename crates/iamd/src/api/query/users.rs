//! IAM users: create, read, list, rename or move, delete, and their tags.

use super::shapes::write_user;
use super::support::{account, decode_marker, encode_marker, tags_page, Out};
use crate::api::params::{self, Params};
use crate::api::xml::Xml;
use crate::app::App;
use crate::auth::action::Action;
use crate::auth::authz::authorize;
use crate::auth::target;
use crate::auth::Caller;
use crate::domain::{accounts, iso8601, user_arn, users, Owner};
use crate::error::AwsError;

pub(super) async fn create_user(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("UserName", &params::USER_NAME);
    let path = p.opt("Path", &params::PATH).unwrap_or_else(|| "/".into());
    let tags = p.tags(false);
    p.opt("PermissionsBoundary", &params::Spec { min: 20, max: 2048, pattern: None, sensitive: false });
    p.finish()?;
    params::check_duplicate_tag_keys(&tags)?;
    target::new_entity(app, c, Action::CreateUser, &user_arn(account(c), &path, &name)).await?;
    if p.raw("PermissionsBoundary").is_some() {
        return Err(AwsError::invalid_input("Permissions boundaries are not supported by this server yet."));
    }
    let u = users::create(&app.iam, account(c), &name, &path, &tags).await?;
    let mut x = Xml::new();
    x.open("User");
    write_user(&mut x, &u, account(c), true);
    x.close("User");
    Ok(Some(x.buf))
}

pub(super) async fn get_user(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::EXISTING_USER_NAME);
    p.finish()?;
    let owner = target::owner(app, c, Action::GetUser, name.as_deref()).await?;
    let mut x = Xml::new();
    x.open("User");
    match owner {
        Owner::Root => {
            let created: i64 = accounts::created_at(&app.iam, account(c)).await?;
            x.text("UserId", account(c)).text("Arn", &Owner::Root.arn(account(c))).text("CreateDate", &iso8601(created));
        }
        Owner::User(u) => {
            let u = users::get(&app.iam, account(c), &u.name).await?;
            write_user(&mut x, &u, account(c), true);
        }
    }
    x.close("User");
    Ok(Some(x.buf))
}

pub(super) async fn list_users(app: &App, c: &Caller, p: &mut Params) -> Out {
    let prefix = p.opt("PathPrefix", &params::PATH_PREFIX).unwrap_or_else(|| "/".into());
    let (marker, max) = p.paging();
    p.finish()?;
    target::listing(app, c, Action::ListUsers, "user").await?;
    let start = decode_marker(marker.as_deref())?;
    let (list, next) = users::list(&app.iam, account(c), &prefix, start.as_deref(), max).await?;
    let mut x = Xml::new();
    x.list("Users", &list, |x, u| write_user(x, u, account(c), false));
    x.paging(next.map(|n| encode_marker(&n)).as_deref());
    Ok(Some(x.buf))
}

pub(super) async fn update_user(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("UserName", &params::EXISTING_USER_NAME);
    let new_name = p.opt("NewUserName", &params::USER_NAME);
    let new_path = p.opt("NewPath", &params::PATH);
    p.finish()?;
    // Renaming or moving needs permission on the user as it is and as it will be (AWS: "on both the
    // source object and the target object").
    let u = target::user(app, c, Action::UpdateUser, &name).await?;
    let to = user_arn(account(c), new_path.as_deref().unwrap_or(&u.path), new_name.as_deref().unwrap_or(&u.name));
    authorize(app, c, Action::UpdateUser, &to).await?;
    users::update(&app.iam, account(c), &u.name, new_name.as_deref(), new_path.as_deref()).await?;
    Ok(None)
}

pub(super) async fn delete_user(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("UserName", &params::EXISTING_USER_NAME);
    p.finish()?;
    let u = target::user(app, c, Action::DeleteUser, &name).await?;
    users::delete(&app.iam, account(c), &u.name).await?;
    Ok(None)
}

pub(super) async fn tag_user(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("UserName", &params::EXISTING_USER_NAME);
    let tags = p.tags(true);
    p.finish()?;
    params::check_duplicate_tag_keys(&tags)?;
    let u = target::user(app, c, Action::TagUser, &name).await?;
    users::tag(&app.iam, account(c), &u.name, &tags).await?;
    Ok(None)
}

pub(super) async fn untag_user(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("UserName", &params::EXISTING_USER_NAME);
    let keys = p.string_list("TagKeys", &params::TAG_KEY, 50, true);
    p.finish()?;
    let u = target::user(app, c, Action::UntagUser, &name).await?;
    users::untag(&app.iam, account(c), &u.name, &keys).await?;
    Ok(None)
}

pub(super) async fn list_user_tags(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("UserName", &params::EXISTING_USER_NAME);
    let (marker, max) = p.paging();
    p.finish()?;
    let u = target::user(app, c, Action::ListUserTags, &name).await?;
    let u = users::get(&app.iam, account(c), &u.name).await?;
    tags_page(u.tags, marker, max)
}
