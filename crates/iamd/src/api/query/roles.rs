//! Roles: create, read, list, update, delete, their trust policies and tags.

use super::shapes::write_role;
use super::support::{account, decode_marker, encode_marker, page, tags_page, Out};
use crate::api::params::{self, Params, ARN, DESCRIPTION, DOCUMENT, ROLE_NAME};
use crate::api::xml::Xml;
use crate::app::App;
use crate::auth::action::Action;
use crate::auth::target;
use crate::auth::Caller;
use crate::domain::{iso8601, roles};
use crate::error::AwsError;

pub(super) async fn create_role(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("RoleName", &ROLE_NAME);
    let path = p.opt("Path", &params::PATH).unwrap_or_else(|| "/".into());
    let trust = p.req("AssumeRolePolicyDocument", &DOCUMENT);
    let description = p.opt("Description", &DESCRIPTION);
    let max = p.int("MaxSessionDuration", 3600, 43_200).unwrap_or(3600);
    let tags = p.tags(false);
    p.opt("PermissionsBoundary", &ARN);
    p.finish()?;
    params::check_duplicate_tag_keys(&tags)?;
    target::new_entity(app, c, Action::CreateRole, &format!("arn:aws:iam::{}:role{path}{name}", account(c))).await?;
    // A role that looks bounded but is not would be worse than a refusal.
    if p.raw("PermissionsBoundary").is_some() {
        return Err(AwsError::invalid_input("Permissions boundaries are not supported by this server yet."));
    }
    let r = roles::create(&app.iam, account(c), &name, &path, &trust, description.as_deref(), max, &tags).await?;
    let mut x = Xml::new();
    x.open("Role");
    write_role(&mut x, account(c), &r, &tags);
    x.close("Role");
    Ok(Some(x.buf))
}

pub(super) async fn get_role(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("RoleName", &ROLE_NAME);
    p.finish()?;
    let r = target::role(app, c, Action::GetRole, &name).await?;
    let tags = roles::tags(&app.iam, &r.role_id).await?;
    let mut x = Xml::new();
    x.open("Role");
    write_role(&mut x, account(c), &r, &tags);
    // GetRole alone carries RoleLastUsed (empty until the role is first assumed); ListRoles never
    // does, as AWS documents.
    x.open("RoleLastUsed");
    if let Some((at, region)) = &r.last_used {
        x.text("LastUsedDate", &iso8601(*at)).text("Region", region);
    }
    x.close("RoleLastUsed");
    x.close("Role");
    Ok(Some(x.buf))
}

pub(super) async fn list_roles(app: &App, c: &Caller, p: &mut Params) -> Out {
    let prefix = p.opt("PathPrefix", &params::PATH_PREFIX).unwrap_or_else(|| "/".into());
    let (marker, max) = p.paging();
    p.finish()?;
    target::listing(app, c, Action::ListRoles, "role").await?;
    let list = roles::list(&app.iam, account(c), &prefix).await?;
    let (list, next) = page(list, |r| r.name.to_ascii_lowercase(), decode_marker(marker.as_deref())?, max);
    let mut x = Xml::new();
    x.list("Roles", &list, |x, r| write_role(x, account(c), r, &[]));
    x.paging(next.map(|n| encode_marker(&n)).as_deref());
    Ok(Some(x.buf))
}

pub(super) async fn update_role(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("RoleName", &ROLE_NAME);
    let description = p.opt("Description", &DESCRIPTION);
    let max = p.int("MaxSessionDuration", 3600, 43_200);
    p.finish()?;
    let r = target::role(app, c, Action::UpdateRole, &name).await?;
    roles::update(&app.iam, account(c), &r.name, description.as_deref(), max).await?;
    Ok(Some(String::new()))
}

pub(super) async fn update_assume_role_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("RoleName", &ROLE_NAME);
    let doc = p.req("PolicyDocument", &DOCUMENT);
    p.finish()?;
    let r = target::role(app, c, Action::UpdateAssumeRolePolicy, &name).await?;
    roles::update_trust(&app.iam, account(c), &r.name, &doc).await?;
    Ok(None)
}

pub(super) async fn delete_role(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("RoleName", &ROLE_NAME);
    p.finish()?;
    let r = target::role(app, c, Action::DeleteRole, &name).await?;
    roles::delete(&app.iam, account(c), &r.name).await?;
    Ok(None)
}

pub(super) async fn tag_role(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("RoleName", &ROLE_NAME);
    let tags = p.tags(true);
    p.finish()?;
    params::check_duplicate_tag_keys(&tags)?;
    let r = target::role(app, c, Action::TagRole, &name).await?;
    roles::tag(&app.iam, account(c), &r.name, &tags).await?;
    Ok(None)
}

pub(super) async fn untag_role(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("RoleName", &ROLE_NAME);
    let keys = p.string_list("TagKeys", &params::TAG_KEY, 50, true);
    p.finish()?;
    let r = target::role(app, c, Action::UntagRole, &name).await?;
    roles::untag(&app.iam, account(c), &r.name, &keys).await?;
    Ok(None)
}

pub(super) async fn list_role_tags(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("RoleName", &ROLE_NAME);
    let (marker, max) = p.paging();
    p.finish()?;
    let r = target::role(app, c, Action::ListRoleTags, &name).await?;
    tags_page(roles::tags(&app.iam, &r.role_id).await?, marker, max)
}
