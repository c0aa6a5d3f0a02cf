//! Managed policies, their versions, tags and attachments to users, groups and roles.

use super::shapes::{policy_element, write_policy, write_version};
use super::support::{account, attached_page, decode_marker, encode_marker, holder_param, page, tags_page, Out};
use crate::api::params::{self, Params, Spec, DESCRIPTION, DOCUMENT, POLICY_NAME};
use crate::api::xml::Xml;
use crate::app::App;
use crate::auth::action::Action;
use crate::auth::target;
use crate::auth::Caller;
use crate::domain::policies;
use crate::domain::policies::Holder;
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

pub(super) async fn create_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
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
    Ok(Some(policy_element(&m, &tags)))
}

pub(super) async fn get_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    let arn = p.req("PolicyArn", &params::ARN);
    p.finish()?;
    let m = target::policy(app, c, Action::GetPolicy, &arn).await?.ok_or_else(|| AwsError::no_such_entity(format!("Policy {arn} was not found.")))?;
    let tags = policies::policy_tags(&app.iam, &m.policy_id).await?;
    Ok(Some(policy_element(&m, &tags)))
}

pub(super) async fn list_policies(app: &App, c: &Caller, p: &mut Params) -> Out {
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

pub(super) async fn delete_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    let arn = p.req("PolicyArn", &params::ARN);
    p.finish()?;
    target::policy(app, c, Action::DeletePolicy, &arn).await?;
    policies::delete_managed(&app.iam, account(c), &arn).await?;
    Ok(None)
}

pub(super) async fn tag_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    let arn = p.req("PolicyArn", &params::ARN);
    let tags = p.tags(true);
    p.finish()?;
    params::check_duplicate_tag_keys(&tags)?;
    target::policy(app, c, Action::TagPolicy, &arn).await?;
    policies::retag_policy(&app.iam, account(c), &arn, &tags, &[]).await?;
    Ok(None)
}

pub(super) async fn untag_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    let arn = p.req("PolicyArn", &params::ARN);
    let keys = p.string_list("TagKeys", &params::TAG_KEY, 50, true);
    p.finish()?;
    target::policy(app, c, Action::UntagPolicy, &arn).await?;
    policies::retag_policy(&app.iam, account(c), &arn, &[], &keys).await?;
    Ok(None)
}

pub(super) async fn list_policy_tags(app: &App, c: &Caller, p: &mut Params) -> Out {
    let arn = p.req("PolicyArn", &params::ARN);
    let (marker, max) = p.paging();
    p.finish()?;
    let m = target::policy(app, c, Action::ListPolicyTags, &arn).await?.ok_or_else(|| AwsError::no_such_entity(format!("Policy {arn} was not found.")))?;
    tags_page(policies::policy_tags(&app.iam, &m.policy_id).await?, marker, max)
}

pub(super) async fn create_policy_version(app: &App, c: &Caller, p: &mut Params) -> Out {
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

pub(super) async fn get_policy_version(app: &App, c: &Caller, p: &mut Params) -> Out {
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

pub(super) async fn list_policy_versions(app: &App, c: &Caller, p: &mut Params) -> Out {
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

pub(super) async fn delete_policy_version(app: &App, c: &Caller, p: &mut Params) -> Out {
    let arn = p.req("PolicyArn", &params::ARN);
    let vid = p.req("VersionId", &VERSION_ID);
    p.finish()?;
    target::policy(app, c, Action::DeletePolicyVersion, &arn).await?;
    policies::delete_version(&app.iam, account(c), &arn, &vid).await?;
    Ok(None)
}

pub(super) async fn set_default_policy_version(app: &App, c: &Caller, p: &mut Params) -> Out {
    let arn = p.req("PolicyArn", &params::ARN);
    let vid = p.req("VersionId", &VERSION_ID);
    p.finish()?;
    target::policy(app, c, Action::SetDefaultPolicyVersion, &arn).await?;
    policies::set_default_version(&app.iam, account(c), &arn, &vid).await?;
    Ok(None)
}

/// What an attachment operation does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum AttachOp {
    Attach,
    Detach,
    List,
}

impl AttachOp {
    fn action(self, holder: Holder) -> Action {
        use {AttachOp::*, Holder::*};
        match (holder, self) {
            (User, Attach) => Action::AttachUserPolicy,
            (User, Detach) => Action::DetachUserPolicy,
            (User, List) => Action::ListAttachedUserPolicies,
            (Group, Attach) => Action::AttachGroupPolicy,
            (Group, Detach) => Action::DetachGroupPolicy,
            (Group, List) => Action::ListAttachedGroupPolicies,
            (Role, Attach) => Action::AttachRolePolicy,
            (Role, Detach) => Action::DetachRolePolicy,
            (Role, List) => Action::ListAttachedRolePolicies,
        }
    }
}

/// Attach/Detach/ListAttached for users, groups and roles share their shape.
pub(super) async fn attachment(app: &App, c: &Caller, p: &mut Params, holder: Holder, op: AttachOp) -> Out {
    let (key, spec) = holder_param(holder);
    let name = p.req(key, spec);
    let arn = (op != AttachOp::List).then(|| p.req("PolicyArn", &params::ARN));
    let (marker, max) = if op == AttachOp::List { p.paging() } else { (None, 100) };
    let prefix = if op == AttachOp::List { p.opt("PathPrefix", &params::PATH_PREFIX) } else { None }.unwrap_or_else(|| "/".into());
    p.finish()?;
    let h = target::holder(app, c, op.action(holder), holder, &name).await?;
    match (op, arn) {
        (AttachOp::Attach, Some(arn)) => {
            policies::attach(&app.iam, account(c), holder, &h.id, &arn).await?;
            Ok(None)
        }
        (AttachOp::Detach, Some(arn)) => {
            policies::detach(&app.iam, account(c), holder, &h.id, &arn).await?;
            Ok(None)
        }
        _ => attached_page(policies::attached(&app.iam, holder, &h.id).await?, &prefix, marker, max),
    }
}

pub(super) async fn list_entities_for_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
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
