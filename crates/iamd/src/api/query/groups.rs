//! Groups and their members.

use super::shapes::{write_group, write_user};
use super::support::{account, decode_marker, encode_marker, page, Out};
use crate::api::params::{self, Params, GROUP_NAME};
use crate::api::xml::Xml;
use crate::app::App;
use crate::auth::action::Action;
use crate::auth::authz::authorize;
use crate::auth::target::{self, group_arn};
use crate::auth::Caller;
use crate::domain::policies;

pub(super) async fn create_group(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("GroupName", &GROUP_NAME);
    let path = p.opt("Path", &params::PATH).unwrap_or_else(|| "/".into());
    p.finish()?;
    target::new_entity(app, c, Action::CreateGroup, &group_arn(account(c), &path, &name)).await?;
    let g = policies::create_group(&app.iam, account(c), &name, &path).await?;
    let mut x = Xml::new();
    x.open("Group");
    write_group(&mut x, account(c), &g);
    x.close("Group");
    Ok(Some(x.buf))
}

pub(super) async fn get_group(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("GroupName", &GROUP_NAME);
    let (marker, max) = p.paging();
    p.finish()?;
    let g = target::group(app, c, Action::GetGroup, &name).await?;
    let members = policies::group_members(&app.iam, &g.group_id).await?;
    let (members, next) = page(members, |u| u.name.to_ascii_lowercase(), decode_marker(marker.as_deref())?, max);
    let mut x = Xml::new();
    x.open("Group");
    write_group(&mut x, account(c), &g);
    x.close("Group");
    x.list("Users", &members, |x, u| write_user(x, u, account(c), false));
    x.paging(next.map(|n| encode_marker(&n)).as_deref());
    Ok(Some(x.buf))
}

pub(super) async fn list_groups(app: &App, c: &Caller, p: &mut Params) -> Out {
    let prefix = p.opt("PathPrefix", &params::PATH_PREFIX).unwrap_or_else(|| "/".into());
    let (marker, max) = p.paging();
    p.finish()?;
    target::listing(app, c, Action::ListGroups, "group").await?;
    let list = policies::list_groups(&app.iam, account(c), &prefix).await?;
    let (list, next) = page(list, |g| g.name.to_ascii_lowercase(), decode_marker(marker.as_deref())?, max);
    let mut x = Xml::new();
    x.list("Groups", &list, |x, g| write_group(x, account(c), g));
    x.paging(next.map(|n| encode_marker(&n)).as_deref());
    Ok(Some(x.buf))
}

pub(super) async fn update_group(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("GroupName", &GROUP_NAME);
    let new_name = p.opt("NewGroupName", &GROUP_NAME);
    let new_path = p.opt("NewPath", &params::PATH);
    p.finish()?;
    // As UpdateUser: permission on the group as it is and as it will be.
    let g = target::group(app, c, Action::UpdateGroup, &name).await?;
    let to = group_arn(account(c), new_path.as_deref().unwrap_or(&g.path), new_name.as_deref().unwrap_or(&g.name));
    authorize(app, c, Action::UpdateGroup, &to).await?;
    policies::update_group(&app.iam, account(c), &g.name, new_name.as_deref(), new_path.as_deref()).await?;
    Ok(None)
}

pub(super) async fn delete_group(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("GroupName", &GROUP_NAME);
    p.finish()?;
    let g = target::group(app, c, Action::DeleteGroup, &name).await?;
    policies::delete_group(&app.iam, account(c), &g.name).await?;
    Ok(None)
}

pub(super) async fn add_user_to_group(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("GroupName", &GROUP_NAME);
    let user = p.req("UserName", &params::EXISTING_USER_NAME);
    p.finish()?;
    let g = target::group(app, c, Action::AddUserToGroup, &name).await?;
    let u = crate::domain::users::resolve(&app.iam, account(c), &user).await?;
    policies::add_member(&app.iam, account(c), &g.name, &u).await?;
    Ok(None)
}

pub(super) async fn remove_user_from_group(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("GroupName", &GROUP_NAME);
    let user = p.req("UserName", &params::EXISTING_USER_NAME);
    p.finish()?;
    let g = target::group(app, c, Action::RemoveUserFromGroup, &name).await?;
    let u = crate::domain::users::resolve(&app.iam, account(c), &user).await?;
    policies::remove_member(&app.iam, account(c), &g.name, &u).await?;
    Ok(None)
}

pub(super) async fn list_groups_for_user(app: &App, c: &Caller, p: &mut Params) -> Out {
    let user = p.req("UserName", &params::EXISTING_USER_NAME);
    let (marker, max) = p.paging();
    p.finish()?;
    let u = target::user(app, c, Action::ListGroupsForUser, &user).await?;
    let list = policies::groups_for_user(&app.iam, &u.user_id).await?;
    let (list, next) = page(list, |g| g.name.to_ascii_lowercase(), decode_marker(marker.as_deref())?, max);
    let mut x = Xml::new();
    x.list("Groups", &list, |x, g| write_group(x, account(c), g));
    x.paging(next.map(|n| encode_marker(&n)).as_deref());
    Ok(Some(x.buf))
}
