//! Policy and group operations: inline user and group policies, managed policies and their
//! versions, attachments, groups and memberships.

use super::action::Action;
use super::iam::{account, authorize, decode_marker, encode_marker, write_user, Out};
use super::mfa::page;
use super::params::{self, encode_doc, Params, Spec, DESCRIPTION, DOCUMENT, GROUP_NAME, POLICY_NAME};
use super::target::{self, group_arn};
use super::xml::Xml;
use super::{App, Caller};
use crate::domain::iso8601;
use crate::domain::policies::{self, Holder};
use crate::error::AwsError;

fn version_ok(s: &str) -> bool {
    s.strip_prefix('v').is_some_and(|n| {
        let digits = n.split('.').next().unwrap_or("");
        !digits.is_empty() && !digits.starts_with('0') && digits.chars().all(|c| c.is_ascii_digit())
    })
}
fn managed_path_ok(s: &str) -> bool {
    s.starts_with('/')
        && s.ends_with('/')
        && s.split('/').filter(|p| !p.is_empty()).all(|p| p.chars().all(|c| c.is_ascii_alphanumeric() || ".,+@=_-".contains(c)))
}

const VERSION_ID: Spec = Spec { min: 1, max: 128, pattern: Some((version_ok, r"v[1-9][0-9]*(\.[A-Za-z0-9-]*)?")), sensitive: false };
const MANAGED_PATH: Spec = Spec { min: 1, max: 512, pattern: Some((managed_path_ok, r"((/[A-Za-z0-9\.,\+@=_-]+)*)/")), sensitive: false };

// ---- inline user policies ----

pub async fn put_user_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    let user = p.req("UserName", &params::EXISTING_USER_NAME);
    let name = p.req("PolicyName", &POLICY_NAME);
    let doc = p.req("PolicyDocument", &DOCUMENT);
    p.finish()?;
    let u = target::user(app, c, Action::PutUserPolicy, &user).await?;
    policies::put_inline(&app.iam, Holder::User, &u.user_id, &u.name, &name, &doc).await?;
    Ok(None)
}

pub async fn get_user_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    let user = p.req("UserName", &params::EXISTING_USER_NAME);
    let name = p.req("PolicyName", &POLICY_NAME);
    p.finish()?;
    let u = target::user(app, c, Action::GetUserPolicy, &user).await?;
    let doc = policies::get_inline(&app.iam, Holder::User, &u.user_id, &name).await?;
    let mut x = Xml::new();
    x.text("UserName", &u.name).text("PolicyName", &name).text("PolicyDocument", &encode_doc(&doc));
    Ok(Some(x.buf))
}

pub async fn list_user_policies(app: &App, c: &Caller, p: &mut Params) -> Out {
    let user = p.req("UserName", &params::EXISTING_USER_NAME);
    let (marker, max) = p.paging();
    p.finish()?;
    let u = target::user(app, c, Action::ListUserPolicies, &user).await?;
    let names = policies::list_inline(&app.iam, Holder::User, &u.user_id).await?;
    names_page(names, marker, max)
}

fn names_page(names: Vec<String>, marker: Option<String>, max: i64) -> Out {
    let (names, next) = page(names, |n| n.clone(), decode_marker(marker.as_deref())?, max);
    let mut x = Xml::new();
    x.list("PolicyNames", &names, |x, n| super::xml::escape(n, &mut x.buf));
    x.paging(next.map(|n| encode_marker(&n)).as_deref());
    Ok(Some(x.buf))
}

pub async fn delete_user_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    let user = p.req("UserName", &params::EXISTING_USER_NAME);
    let name = p.req("PolicyName", &POLICY_NAME);
    p.finish()?;
    let u = target::user(app, c, Action::DeleteUserPolicy, &user).await?;
    policies::delete_inline(&app.iam, Holder::User, &u.user_id, &name).await?;
    Ok(None)
}

// ---- groups ----

fn write_group(x: &mut Xml, acct: &str, g: &policies::Group) {
    x.text("Path", &g.path)
        .text("GroupName", &g.name)
        .text("GroupId", &g.group_id)
        .text("Arn", &group_arn(acct, &g.path, &g.name))
        .text("CreateDate", &iso8601(g.created_at));
}

pub async fn create_group(app: &App, c: &Caller, p: &mut Params) -> Out {
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

pub async fn get_group(app: &App, c: &Caller, p: &mut Params) -> Out {
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

pub async fn list_groups(app: &App, c: &Caller, p: &mut Params) -> Out {
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

pub async fn update_group(app: &App, c: &Caller, p: &mut Params) -> Out {
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

pub async fn delete_group(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("GroupName", &GROUP_NAME);
    p.finish()?;
    let g = target::group(app, c, Action::DeleteGroup, &name).await?;
    policies::delete_group(&app.iam, account(c), &g.name).await?;
    Ok(None)
}

pub async fn add_user_to_group(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("GroupName", &GROUP_NAME);
    let user = p.req("UserName", &params::EXISTING_USER_NAME);
    p.finish()?;
    let g = target::group(app, c, Action::AddUserToGroup, &name).await?;
    let u = crate::domain::users::resolve(&app.iam, account(c), &user).await?;
    policies::add_member(&app.iam, account(c), &g.name, &u).await?;
    Ok(None)
}

pub async fn remove_user_from_group(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("GroupName", &GROUP_NAME);
    let user = p.req("UserName", &params::EXISTING_USER_NAME);
    p.finish()?;
    let g = target::group(app, c, Action::RemoveUserFromGroup, &name).await?;
    let u = crate::domain::users::resolve(&app.iam, account(c), &user).await?;
    policies::remove_member(&app.iam, account(c), &g.name, &u).await?;
    Ok(None)
}

pub async fn list_groups_for_user(app: &App, c: &Caller, p: &mut Params) -> Out {
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

pub async fn put_group_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("GroupName", &GROUP_NAME);
    let pname = p.req("PolicyName", &POLICY_NAME);
    let doc = p.req("PolicyDocument", &DOCUMENT);
    p.finish()?;
    let g = target::group(app, c, Action::PutGroupPolicy, &name).await?;
    policies::put_inline(&app.iam, Holder::Group, &g.group_id, &g.name, &pname, &doc).await?;
    Ok(None)
}

pub async fn get_group_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("GroupName", &GROUP_NAME);
    let pname = p.req("PolicyName", &POLICY_NAME);
    p.finish()?;
    let g = target::group(app, c, Action::GetGroupPolicy, &name).await?;
    let doc = policies::get_inline(&app.iam, Holder::Group, &g.group_id, &pname).await?;
    let mut x = Xml::new();
    x.text("GroupName", &g.name).text("PolicyName", &pname).text("PolicyDocument", &encode_doc(&doc));
    Ok(Some(x.buf))
}

pub async fn list_group_policies(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("GroupName", &GROUP_NAME);
    let (marker, max) = p.paging();
    p.finish()?;
    let g = target::group(app, c, Action::ListGroupPolicies, &name).await?;
    names_page(policies::list_inline(&app.iam, Holder::Group, &g.group_id).await?, marker, max)
}

pub async fn delete_group_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("GroupName", &GROUP_NAME);
    let pname = p.req("PolicyName", &POLICY_NAME);
    p.finish()?;
    let g = target::group(app, c, Action::DeleteGroupPolicy, &name).await?;
    policies::delete_inline(&app.iam, Holder::Group, &g.group_id, &pname).await?;
    Ok(None)
}

// ---- managed policies ----

fn write_policy(x: &mut Xml, m: &policies::Managed) {
    x.text("PolicyName", &m.name)
        .text("PolicyId", &m.policy_id)
        .text("Arn", &m.arn)
        .text("Path", &m.path)
        .text("DefaultVersionId", &m.default_version)
        .num("AttachmentCount", m.attachments)
        .num("PermissionsBoundaryUsageCount", 0)
        .boolean("IsAttachable", true)
        .opt("Description", m.description.as_deref())
        .text("CreateDate", &iso8601(m.created_at))
        .text("UpdateDate", &iso8601(m.updated_at));
}

pub async fn create_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("PolicyName", &POLICY_NAME);
    let path = p.opt("Path", &MANAGED_PATH).unwrap_or_else(|| "/".into());
    let doc = p.req("PolicyDocument", &DOCUMENT);
    let description = p.opt("Description", &DESCRIPTION);
    let tags = p.tags(false);
    p.finish()?;
    params::check_duplicate_tag_keys(&tags)?;
    let arn = format!("arn:aws:iam::{}:policy{path}{name}", account(c));
    target::new_entity(app, c, Action::CreatePolicy, &arn).await?;
    let m = policies::create_managed(&app.iam, account(c), &name, &path, &doc, description.as_deref(), &tags).await?;
    let mut x = Xml::new();
    x.open("Policy");
    write_policy(&mut x, &m);
    if !tags.is_empty() {
        x.tags("Tags", &tags);
    }
    x.close("Policy");
    Ok(Some(x.buf))
}

pub async fn tag_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    let arn = p.req("PolicyArn", &params::ARN);
    let tags = p.tags(true);
    p.finish()?;
    params::check_duplicate_tag_keys(&tags)?;
    target::policy(app, c, Action::TagPolicy, &arn).await?;
    policies::retag_policy(&app.iam, account(c), &arn, &tags, &[]).await?;
    Ok(None)
}

pub async fn untag_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    let arn = p.req("PolicyArn", &params::ARN);
    let keys = p.string_list("TagKeys", &params::TAG_KEY, 50, true);
    p.finish()?;
    target::policy(app, c, Action::UntagPolicy, &arn).await?;
    policies::retag_policy(&app.iam, account(c), &arn, &[], &keys).await?;
    Ok(None)
}

pub async fn list_policy_tags(app: &App, c: &Caller, p: &mut Params) -> Out {
    let arn = p.req("PolicyArn", &params::ARN);
    let (marker, max) = p.paging();
    p.finish()?;
    let m = target::policy(app, c, Action::ListPolicyTags, &arn).await?.ok_or_else(|| AwsError::no_such_entity(format!("Policy {arn} was not found.")))?;
    super::iam::tags_page(policies::policy_tags(&app.iam, &m.policy_id).await?, marker, max)
}

pub async fn get_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    let arn = p.req("PolicyArn", &params::ARN);
    p.finish()?;
    let m = target::policy(app, c, Action::GetPolicy, &arn).await?.ok_or_else(|| AwsError::no_such_entity(format!("Policy {arn} was not found.")))?;
    let tags = policies::policy_tags(&app.iam, &m.policy_id).await?;
    let mut x = Xml::new();
    x.open("Policy");
    write_policy(&mut x, &m);
    if !tags.is_empty() {
        x.tags("Tags", &tags);
    }
    x.close("Policy");
    Ok(Some(x.buf))
}

pub async fn list_policies(app: &App, c: &Caller, p: &mut Params) -> Out {
    let scope = p.enumeration("Scope", &["All", "AWS", "Local"], false).unwrap_or_else(|| "All".into());
    let only_attached = p.boolean("OnlyAttached").unwrap_or(false);
    let prefix = p.opt("PathPrefix", &params::PATH_PREFIX).unwrap_or_else(|| "/".into());
    let usage = p.enumeration("PolicyUsageFilter", &["PermissionsPolicy", "PermissionsBoundary"], false);
    let (marker, max) = p.paging();
    p.finish()?;
    target::account(app, c, Action::ListPolicies).await?;
    let mut list = policies::list_managed(&app.iam, account(c), &scope, only_attached, &prefix).await?;
    // No policy is a permissions boundary here (boundaries are refused until they are implemented).
    if usage.as_deref() == Some("PermissionsBoundary") {
        list.clear();
    }
    let (list, next) = page(list, |m| format!("{}\u{0}{}", m.name, m.arn), decode_marker(marker.as_deref())?, max);
    let mut x = Xml::new();
    x.list("Policies", &list, write_policy);
    x.paging(next.map(|n| encode_marker(&n)).as_deref());
    Ok(Some(x.buf))
}

pub async fn delete_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    let arn = p.req("PolicyArn", &params::ARN);
    p.finish()?;
    target::policy(app, c, Action::DeletePolicy, &arn).await?;
    policies::delete_managed(&app.iam, account(c), &arn).await?;
    Ok(None)
}

fn write_version(x: &mut Xml, v: &policies::PolicyVersion, with_doc: bool) {
    if with_doc {
        x.text("Document", &encode_doc(&v.document));
    }
    x.text("VersionId", &v.version_id).boolean("IsDefaultVersion", v.is_default).text("CreateDate", &iso8601(v.created_at));
}

pub async fn create_policy_version(app: &App, c: &Caller, p: &mut Params) -> Out {
    let arn = p.req("PolicyArn", &params::ARN);
    let doc = p.req("PolicyDocument", &DOCUMENT);
    let set_default = p.boolean("SetAsDefault").unwrap_or(false);
    p.finish()?;
    target::policy(app, c, Action::CreatePolicyVersion, &arn).await?;
    let v = policies::create_version(&app.iam, account(c), &arn, &doc, set_default).await?;
    let mut x = Xml::new();
    x.open("PolicyVersion");
    write_version(&mut x, &v, false);
    x.close("PolicyVersion");
    Ok(Some(x.buf))
}

pub async fn get_policy_version(app: &App, c: &Caller, p: &mut Params) -> Out {
    let arn = p.req("PolicyArn", &params::ARN);
    let vid = p.req("VersionId", &VERSION_ID);
    p.finish()?;
    target::policy(app, c, Action::GetPolicyVersion, &arn).await?;
    let (_, list) = policies::versions(&app.iam, account(c), &arn).await?;
    let v = list.iter().find(|v| v.version_id == vid).ok_or_else(|| AwsError::no_such_entity(format!("Policy {arn} version {vid} does not exist.")))?;
    let mut x = Xml::new();
    x.open("PolicyVersion");
    write_version(&mut x, v, true);
    x.close("PolicyVersion");
    Ok(Some(x.buf))
}

pub async fn list_policy_versions(app: &App, c: &Caller, p: &mut Params) -> Out {
    let arn = p.req("PolicyArn", &params::ARN);
    let (_marker, _max) = p.paging();
    p.finish()?;
    target::policy(app, c, Action::ListPolicyVersions, &arn).await?;
    let (_, list) = policies::versions(&app.iam, account(c), &arn).await?;
    let mut x = Xml::new();
    x.list("Versions", &list, |x, v| write_version(x, v, false));
    // At most five versions: one page holds them all.
    x.paging(None);
    Ok(Some(x.buf))
}

pub async fn delete_policy_version(app: &App, c: &Caller, p: &mut Params) -> Out {
    let arn = p.req("PolicyArn", &params::ARN);
    let vid = p.req("VersionId", &VERSION_ID);
    p.finish()?;
    target::policy(app, c, Action::DeletePolicyVersion, &arn).await?;
    policies::delete_version(&app.iam, account(c), &arn, &vid).await?;
    Ok(None)
}

pub async fn set_default_policy_version(app: &App, c: &Caller, p: &mut Params) -> Out {
    let arn = p.req("PolicyArn", &params::ARN);
    let vid = p.req("VersionId", &VERSION_ID);
    p.finish()?;
    target::policy(app, c, Action::SetDefaultPolicyVersion, &arn).await?;
    policies::set_default_version(&app.iam, account(c), &arn, &vid).await?;
    Ok(None)
}

/// Attach/Detach/ListAttached for users and groups share their shape.
pub async fn attachment(app: &App, c: &Caller, p: &mut Params, kind: &str, op: &str) -> Out {
    let name = match kind {
        "user" => p.req("UserName", &params::EXISTING_USER_NAME),
        _ => p.req("GroupName", &GROUP_NAME),
    };
    let arn = if op == "List" { None } else { Some(p.req("PolicyArn", &params::ARN)) };
    let (marker, max) = if op == "List" { p.paging() } else { (None, 100) };
    let prefix = if op == "List" { p.opt("PathPrefix", &params::PATH_PREFIX) } else { None }.unwrap_or_else(|| "/".into());
    p.finish()?;
    let action = match (op, kind) {
        ("List", "user") => Action::ListAttachedUserPolicies,
        ("List", _) => Action::ListAttachedGroupPolicies,
        ("Attach", "user") => Action::AttachUserPolicy,
        ("Attach", _) => Action::AttachGroupPolicy,
        (_, "user") => Action::DetachUserPolicy,
        _ => Action::DetachGroupPolicy,
    };
    let entity_id = match kind {
        "user" => target::user(app, c, action, &name).await?.user_id,
        _ => target::group(app, c, action, &name).await?.group_id,
    };
    match (op, arn) {
        ("Attach", Some(arn)) => {
            policies::attach(&app.iam, account(c), kind, &entity_id, &arn).await?;
            Ok(None)
        }
        ("Detach", Some(arn)) => {
            policies::detach(&app.iam, account(c), kind, &entity_id, &arn).await?;
            Ok(None)
        }
        _ => attached_page(policies::attached(&app.iam, kind, &entity_id).await?, &prefix, marker, max),
    }
}

/// A page of ListAttached{User,Group,Role}Policies: the policies whose path starts with `prefix`,
/// by name, `max` of them from the marker's.
pub fn attached_page(list: Vec<(String, String)>, prefix: &str, marker: Option<String>, max: i64) -> Out {
    let path_of = |arn: &str| -> String {
        let rest = arn.split_once(":policy").map_or("", |(_, r)| r);
        rest.rfind('/').map_or("/".into(), |i| rest[..=i].to_string())
    };
    let list: Vec<(String, String)> = list.into_iter().filter(|(_, a)| path_of(a).starts_with(prefix)).collect();
    let (list, next) = page(list, |(n, a)| format!("{n}\u{0}{a}"), decode_marker(marker.as_deref())?, max);
    let mut x = Xml::new();
    x.list("AttachedPolicies", &list, |x, (n, a)| {
        x.text("PolicyName", n).text("PolicyArn", a);
    });
    x.paging(next.map(|n| encode_marker(&n)).as_deref());
    Ok(Some(x.buf))
}

pub async fn list_entities_for_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    let arn = p.req("PolicyArn", &params::ARN);
    let filter = p.enumeration("EntityFilter", &["User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"], false);
    let (marker, max) = p.paging();
    let prefix = p.opt("PathPrefix", &params::PATH_PREFIX).unwrap_or_else(|| "/".into());
    p.finish()?;
    target::policy(app, c, Action::ListEntitiesForPolicy, &arn).await?;
    // EntityFilter: one kind of entity; the two policy kinds name no user, group or role.
    let kind = filter.as_deref().map(|f| match f {
        "User" => "user",
        "Role" => "role",
        "Group" => "group",
        _ => "",
    });
    let list: Vec<_> = policies::entities(&app.iam, account(c), &arn)
        .await?
        .into_iter()
        .filter(|(t, _, _, path)| kind.is_none_or(|k| k == t) && path.starts_with(prefix.as_str()))
        .collect();
    let (list, next) = page(list, |(t, n, _, _)| format!("{t}\u{0}{}", n.to_ascii_lowercase()), decode_marker(marker.as_deref())?, max);
    let of = |kind: &str| list.iter().filter(|(t, _, _, _)| t == kind).collect::<Vec<_>>();
    let mut x = Xml::new();
    x.list("PolicyGroups", &of("group"), |x, (_, n, id, _)| {
        x.text("GroupName", n).text("GroupId", id);
    });
    x.list("PolicyUsers", &of("user"), |x, (_, n, id, _)| {
        x.text("UserName", n).text("UserId", id);
    });
    x.list("PolicyRoles", &of("role"), |x, (_, n, id, _)| {
        x.text("RoleName", n).text("RoleId", id);
    });
    x.paging(next.map(|n| encode_marker(&n)).as_deref());
    Ok(Some(x.buf))
}
