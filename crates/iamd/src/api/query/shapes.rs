//! The XML shapes of IAM's entities (User, LoginProfile, Group, Policy, PolicyVersion, Role), written by every handler that returns one.

use crate::api::params::encode_doc;
use crate::api::xml::Xml;
use crate::auth::target::group_arn;
use crate::domain::{iso8601, policies, roles, sessions, user_arn, users};

pub(super) fn write_user(x: &mut Xml, u: &users::User, account: &str, with_tags: bool) {
    x.text("Path", &u.path)
        .text("UserName", &u.name)
        .text("UserId", &u.user_id)
        .text("Arn", &user_arn(account, &u.path, &u.name))
        .text("CreateDate", &iso8601(u.created_at))
        .opt("PasswordLastUsed", u.password_last_used.map(iso8601).as_deref());
    if with_tags && !u.tags.is_empty() {
        x.tags("Tags", &u.tags);
    }
}

pub(super) fn write_login_profile(lp: &users::LoginProfile) -> String {
    let mut x = Xml::new();
    x.open("LoginProfile")
        .text("UserName", &lp.user_name)
        .text("CreateDate", &iso8601(lp.created_at))
        .boolean("PasswordResetRequired", lp.reset_required)
        .close("LoginProfile");
    x.buf
}

pub(super) fn write_group(x: &mut Xml, acct: &str, g: &policies::Group) {
    x.text("Path", &g.path)
        .text("GroupName", &g.name)
        .text("GroupId", &g.group_id)
        .text("Arn", &group_arn(acct, &g.path, &g.name))
        .text("CreateDate", &iso8601(g.created_at));
}

pub(super) fn write_policy(x: &mut Xml, m: &policies::Managed) {
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

/// A `<Policy>` element with the policy's tags (CreatePolicy, GetPolicy).
pub(super) fn policy_element(m: &policies::Managed, tags: &[(String, String)]) -> String {
    let mut x = Xml::new();
    x.open("Policy");
    write_policy(&mut x, m);
    if !tags.is_empty() {
        x.tags("Tags", tags);
    }
    x.close("Policy");
    x.buf
}

/// A `<Credentials>` element of temporary credentials (GetSessionToken, AssumeRole).
pub(super) fn write_credentials(x: &mut Xml, issued: &sessions::Issued) {
    x.open("Credentials")
        .text("AccessKeyId", &issued.session.access_key_id)
        .text("SecretAccessKey", &issued.session.secret)
        .text("SessionToken", &issued.token)
        .text("Expiration", &iso8601(issued.session.expires_ms))
        .close("Credentials");
}

pub(super) fn write_version(x: &mut Xml, v: &policies::PolicyVersion, with_doc: bool) {
    if with_doc {
        x.text("Document", &encode_doc(&v.document));
    }
    x.text("VersionId", &v.version_id).boolean("IsDefaultVersion", v.is_default).text("CreateDate", &iso8601(v.created_at));
}

pub(super) fn write_role(x: &mut Xml, acct: &str, r: &roles::Role, tags: &[(String, String)]) {
    x.text("Path", &r.path)
        .text("RoleName", &r.name)
        .text("RoleId", &r.role_id)
        .text("Arn", &roles::arn(acct, r))
        .text("CreateDate", &iso8601(r.created_at))
        .text("AssumeRolePolicyDocument", &encode_doc(&r.trust_policy))
        .opt("Description", r.description.as_deref())
        .num("MaxSessionDuration", r.max_session_duration);
    if !tags.is_empty() {
        x.tags("Tags", tags);
    }
}
