//! The IAM and STS operations: each decodes and checks its parameters, is authorized, calls one domain
//! function and writes its `<OpResult>` body (`None` for operations without output).

use super::params::{self, Params};
use super::xml::Xml;
use super::{mfa, policies, roles, App, Caller, Service};
use crate::domain::passwords::PasswordPolicy;
use crate::domain::{accounts, iso8601, keys, user_arn, users, UserRef};
use crate::error::{AwsError, Result};

pub type Out = Result<Option<String>>;

pub use super::authz::authorize;

pub fn account(c: &Caller) -> &str {
    &c.principal.account_id
}

/// The resource ARN for actions on a user named in the request, or the caller when none is named.
pub fn user_resource(c: &Caller, name: Option<&str>) -> String {
    match (name, &c.principal.user) {
        (Some(n), Some(u)) if n.eq_ignore_ascii_case(&u.name) => user_arn(account(c), &u.path, &u.name),
        (Some(n), _) => user_arn(account(c), "/", n),
        (None, _) => c.principal.arn(),
    }
}

/// The principal a `UserName`-optional operation acts on: the named user, or the caller (None = root).
async fn target(app: &App, c: &Caller, name: Option<&str>) -> Result<Option<UserRef>> {
    match name {
        Some(n) => Ok(Some(users::resolve(&app.iam, account(c), n).await?)),
        None => Ok(c.principal.user.clone()),
    }
}

pub fn write_user(x: &mut Xml, u: &users::User, account: &str, with_tags: bool) {
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

pub async fn dispatch(app: &App, c: &Caller, action: &str, p: &mut Params) -> Out {
    match (c.service, action) {
        (Service::Sts, "GetCallerIdentity") => get_caller_identity(c, p),
        (Service::Sts, "GetSessionToken") => mfa::get_session_token(app, c, p).await,
        (Service::Sts, "AssumeRole") => roles::assume_role(app, c, p).await,
        (Service::Iam, "CreateRole") => roles::create_role(app, c, p).await,
        (Service::Iam, "GetRole") => roles::get_role(app, c, p).await,
        (Service::Iam, "ListRoles") => roles::list_roles(app, c, p).await,
        (Service::Iam, "UpdateRole") => roles::update_role(app, c, p).await,
        (Service::Iam, "UpdateAssumeRolePolicy") => roles::update_assume_role_policy(app, c, p).await,
        (Service::Iam, "DeleteRole") => roles::delete_role(app, c, p).await,
        (Service::Iam, "TagRole") => roles::tag_role(app, c, p).await,
        (Service::Iam, "UntagRole") => roles::untag_role(app, c, p).await,
        (Service::Iam, "ListRoleTags") => roles::list_role_tags(app, c, p).await,
        (Service::Iam, "PutRolePolicy") => roles::role_policy(app, c, p, "Put").await,
        (Service::Iam, "GetRolePolicy") => roles::role_policy(app, c, p, "Get").await,
        (Service::Iam, "DeleteRolePolicy") => roles::role_policy(app, c, p, "Delete").await,
        (Service::Iam, "ListRolePolicies") => roles::role_policy(app, c, p, "List").await,
        (Service::Iam, "AttachRolePolicy") => roles::role_attachment(app, c, p, "Attach").await,
        (Service::Iam, "DetachRolePolicy") => roles::role_attachment(app, c, p, "Detach").await,
        (Service::Iam, "ListAttachedRolePolicies") => roles::role_attachment(app, c, p, "List").await,
        (Service::Iam, "SimulatePrincipalPolicy") => roles::simulate_principal_policy(app, c, p).await,
        (Service::Iam, "SimulateCustomPolicy") => roles::simulate_custom_policy(app, c, p).await,
        (Service::Iam, "PutUserPolicy") => policies::put_user_policy(app, c, p).await,
        (Service::Iam, "GetUserPolicy") => policies::get_user_policy(app, c, p).await,
        (Service::Iam, "ListUserPolicies") => policies::list_user_policies(app, c, p).await,
        (Service::Iam, "DeleteUserPolicy") => policies::delete_user_policy(app, c, p).await,
        (Service::Iam, "CreateGroup") => policies::create_group(app, c, p).await,
        (Service::Iam, "GetGroup") => policies::get_group(app, c, p).await,
        (Service::Iam, "ListGroups") => policies::list_groups(app, c, p).await,
        (Service::Iam, "UpdateGroup") => policies::update_group(app, c, p).await,
        (Service::Iam, "DeleteGroup") => policies::delete_group(app, c, p).await,
        (Service::Iam, "AddUserToGroup") => policies::add_user_to_group(app, c, p).await,
        (Service::Iam, "RemoveUserFromGroup") => policies::remove_user_from_group(app, c, p).await,
        (Service::Iam, "ListGroupsForUser") => policies::list_groups_for_user(app, c, p).await,
        (Service::Iam, "PutGroupPolicy") => policies::put_group_policy(app, c, p).await,
        (Service::Iam, "GetGroupPolicy") => policies::get_group_policy(app, c, p).await,
        (Service::Iam, "ListGroupPolicies") => policies::list_group_policies(app, c, p).await,
        (Service::Iam, "DeleteGroupPolicy") => policies::delete_group_policy(app, c, p).await,
        (Service::Iam, "CreatePolicy") => policies::create_policy(app, c, p).await,
        (Service::Iam, "GetPolicy") => policies::get_policy(app, c, p).await,
        (Service::Iam, "ListPolicies") => policies::list_policies(app, c, p).await,
        (Service::Iam, "DeletePolicy") => policies::delete_policy(app, c, p).await,
        (Service::Iam, "CreatePolicyVersion") => policies::create_policy_version(app, c, p).await,
        (Service::Iam, "GetPolicyVersion") => policies::get_policy_version(app, c, p).await,
        (Service::Iam, "ListPolicyVersions") => policies::list_policy_versions(app, c, p).await,
        (Service::Iam, "DeletePolicyVersion") => policies::delete_policy_version(app, c, p).await,
        (Service::Iam, "SetDefaultPolicyVersion") => policies::set_default_policy_version(app, c, p).await,
        (Service::Iam, "AttachUserPolicy") => policies::attachment(app, c, p, "user", "Attach").await,
        (Service::Iam, "DetachUserPolicy") => policies::attachment(app, c, p, "user", "Detach").await,
        (Service::Iam, "ListAttachedUserPolicies") => policies::attachment(app, c, p, "user", "List").await,
        (Service::Iam, "AttachGroupPolicy") => policies::attachment(app, c, p, "group", "Attach").await,
        (Service::Iam, "DetachGroupPolicy") => policies::attachment(app, c, p, "group", "Detach").await,
        (Service::Iam, "ListAttachedGroupPolicies") => policies::attachment(app, c, p, "group", "List").await,
        (Service::Iam, "ListEntitiesForPolicy") => policies::list_entities_for_policy(app, c, p).await,
        (Service::Iam, "CreateVirtualMFADevice") => mfa::create_virtual_mfa_device(app, c, p).await,
        (Service::Iam, "EnableMFADevice") => mfa::enable_mfa_device(app, c, p).await,
        (Service::Iam, "ResyncMFADevice") => mfa::resync_mfa_device(app, c, p).await,
        (Service::Iam, "DeactivateMFADevice") => mfa::deactivate_mfa_device(app, c, p).await,
        (Service::Iam, "DeleteVirtualMFADevice") => mfa::delete_virtual_mfa_device(app, c, p).await,
        (Service::Iam, "ListMFADevices") => mfa::list_mfa_devices(app, c, p).await,
        (Service::Iam, "ListVirtualMFADevices") => mfa::list_virtual_mfa_devices(app, c, p).await,
        (Service::Iam, "GetMFADevice") => mfa::get_mfa_device(app, c, p).await,
        (Service::Iam, "TagMFADevice") => mfa::tag_mfa_device(app, c, p).await,
        (Service::Iam, "UntagMFADevice") => mfa::untag_mfa_device(app, c, p).await,
        (Service::Iam, "ListMFADeviceTags") => mfa::list_mfa_device_tags(app, c, p).await,
        (Service::Iam, "GenerateCredentialReport") => mfa::generate_credential_report(app, c, p).await,
        (Service::Iam, "GetCredentialReport") => mfa::get_credential_report(app, c, p).await,
        (Service::Iam, "CreateUser") => create_user(app, c, p).await,
        (Service::Iam, "GetUser") => get_user(app, c, p).await,
        (Service::Iam, "ListUsers") => list_users(app, c, p).await,
        (Service::Iam, "UpdateUser") => update_user(app, c, p).await,
        (Service::Iam, "DeleteUser") => delete_user(app, c, p).await,
        (Service::Iam, "TagUser") => tag_user(app, c, p).await,
        (Service::Iam, "UntagUser") => untag_user(app, c, p).await,
        (Service::Iam, "ListUserTags") => list_user_tags(app, c, p).await,
        (Service::Iam, "CreateLoginProfile") => create_login_profile(app, c, p).await,
        (Service::Iam, "GetLoginProfile") => get_login_profile(app, c, p).await,
        (Service::Iam, "UpdateLoginProfile") => update_login_profile(app, c, p).await,
        (Service::Iam, "DeleteLoginProfile") => delete_login_profile(app, c, p).await,
        (Service::Iam, "ChangePassword") => change_password(app, c, p).await,
        (Service::Iam, "UpdateAccountPasswordPolicy") => update_password_policy(app, c, p).await,
        (Service::Iam, "GetAccountPasswordPolicy") => get_password_policy(app, c, p).await,
        (Service::Iam, "DeleteAccountPasswordPolicy") => delete_password_policy(app, c, p).await,
        (Service::Iam, "CreateAccessKey") => create_access_key(app, c, p).await,
        (Service::Iam, "ListAccessKeys") => list_access_keys(app, c, p).await,
        (Service::Iam, "UpdateAccessKey") => update_access_key(app, c, p).await,
        (Service::Iam, "DeleteAccessKey") => delete_access_key(app, c, p).await,
        (Service::Iam, "GetAccessKeyLastUsed") => get_access_key_last_used(app, c, p).await,
        (Service::Iam, "CreateAccountAlias") => create_account_alias(app, c, p).await,
        (Service::Iam, "ListAccountAliases") => list_account_aliases(app, c, p).await,
        (Service::Iam, "DeleteAccountAlias") => delete_account_alias(app, c, p).await,
        (Service::Iam, "GetAccountSummary") => get_account_summary(app, c, p).await,
        (s, _) => Err(AwsError::invalid_action(format!("Could not find operation {action} for version {}", s.version()))),
    }
}

fn get_caller_identity(c: &Caller, p: &mut Params) -> Out {
    p.finish()?;
    let mut x = Xml::new();
    x.text("UserId", &c.principal.user_id()).text("Account", account(c)).text("Arn", &c.principal.arn());
    Ok(Some(x.buf))
}

async fn create_user(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("UserName", &params::USER_NAME);
    let path = p.opt("Path", &params::PATH).unwrap_or_else(|| "/".into());
    let tags = p.tags(false);
    p.opt("PermissionsBoundary", &params::Spec { min: 20, max: 2048, pattern: None, sensitive: false });
    p.finish()?;
    params::check_duplicate_tag_keys(&tags)?;
    authorize(app, c, "CreateUser", &user_arn(account(c), &path, &name)).await?;
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

async fn get_user(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::EXISTING_USER_NAME);
    p.finish()?;
    authorize(app, c, "GetUser", &user_resource(c, name.as_deref())).await?;
    let mut x = Xml::new();
    x.open("User");
    match (name, &c.principal.user) {
        (None, None) => {
            let created: i64 = sqlx::query_scalar("SELECT created_at FROM accounts WHERE account_id = $1")
                .bind(account(c))
                .fetch_one(&app.iam.store.read)
                .await?;
            x.text("UserId", account(c)).text("Arn", &c.principal.arn()).text("CreateDate", &iso8601(created));
        }
        (name, me) => {
            let n = name.or_else(|| me.as_ref().map(|u| u.name.clone())).unwrap_or_default();
            let u = users::get(&app.iam, account(c), &n).await?;
            write_user(&mut x, &u, account(c), true);
        }
    }
    x.close("User");
    Ok(Some(x.buf))
}

async fn list_users(app: &App, c: &Caller, p: &mut Params) -> Out {
    let prefix = p.opt("PathPrefix", &params::PATH_PREFIX).unwrap_or_else(|| "/".into());
    let (marker, max) = p.paging();
    p.finish()?;
    authorize(app, c, "ListUsers", &format!("arn:aws:iam::{}:user/", account(c))).await?;
    let start = decode_marker(marker.as_deref())?;
    let (list, next) = users::list(&app.iam, account(c), &prefix, start.as_deref(), max).await?;
    let mut x = Xml::new();
    x.list("Users", &list, |x, u| write_user(x, u, account(c), false));
    x.paging(next.map(|n| encode_marker(&n)).as_deref());
    Ok(Some(x.buf))
}

/// Markers are opaque to clients: base64 of where the next page starts.
pub fn encode_marker(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s.as_bytes())
}

pub fn decode_marker(m: Option<&str>) -> Result<Option<String>> {
    use base64::Engine;
    match m {
        None => Ok(None),
        Some(m) => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(m)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(Some)
            .ok_or_else(|| AwsError::invalid_input("Invalid Marker.")),
    }
}

async fn update_user(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("UserName", &params::EXISTING_USER_NAME);
    let new_name = p.opt("NewUserName", &params::USER_NAME);
    let new_path = p.opt("NewPath", &params::PATH);
    p.finish()?;
    authorize(app, c, "UpdateUser", &user_resource(c, Some(&name))).await?;
    users::update(&app.iam, account(c), &name, new_name.as_deref(), new_path.as_deref()).await?;
    Ok(None)
}

async fn delete_user(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("UserName", &params::EXISTING_USER_NAME);
    p.finish()?;
    authorize(app, c, "DeleteUser", &user_resource(c, Some(&name))).await?;
    users::delete(&app.iam, account(c), &name).await?;
    Ok(None)
}

async fn tag_user(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("UserName", &params::EXISTING_USER_NAME);
    let tags = p.tags(true);
    p.finish()?;
    params::check_duplicate_tag_keys(&tags)?;
    authorize(app, c, "TagUser", &user_resource(c, Some(&name))).await?;
    users::tag(&app.iam, account(c), &name, &tags).await?;
    Ok(None)
}

async fn untag_user(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("UserName", &params::EXISTING_USER_NAME);
    let keys = p.string_list("TagKeys", &params::TAG_KEY, 50, true);
    p.finish()?;
    authorize(app, c, "UntagUser", &user_resource(c, Some(&name))).await?;
    users::untag(&app.iam, account(c), &name, &keys).await?;
    Ok(None)
}

async fn list_user_tags(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("UserName", &params::EXISTING_USER_NAME);
    let (marker, max) = p.paging();
    p.finish()?;
    authorize(app, c, "ListUserTags", &user_resource(c, Some(&name))).await?;
    let u = users::get(&app.iam, account(c), &name).await?;
    let (tags, next) = mfa::page(u.tags, |(k, _)| k.to_lowercase(), decode_marker(marker.as_deref())?, max);
    let mut x = Xml::new();
    x.tags("Tags", &tags).paging(next.map(|n| encode_marker(&n)).as_deref());
    Ok(Some(x.buf))
}

fn write_login_profile(lp: &users::LoginProfile) -> String {
    let mut x = Xml::new();
    x.open("LoginProfile")
        .text("UserName", &lp.user_name)
        .text("CreateDate", &iso8601(lp.created_at))
        .boolean("PasswordResetRequired", lp.reset_required)
        .close("LoginProfile");
    x.buf
}

/// Login-profile operations need an IAM user: the named one, or the calling user (root has none).
async fn login_user(app: &App, c: &Caller, name: Option<&str>) -> Result<UserRef> {
    target(app, c, name).await?.ok_or_else(|| AwsError::validation("1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null"))
}

async fn create_login_profile(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::USER_NAME);
    let password = p.opt("Password", &params::PASSWORD);
    let reset = p.boolean("PasswordResetRequired").unwrap_or(false);
    p.finish()?;
    authorize(app, c, "CreateLoginProfile", &user_resource(c, name.as_deref())).await?;
    let user = login_user(app, c, name.as_deref()).await?;
    let password = password.ok_or_else(|| AwsError::invalid_input("A password is required to create a login profile."))?;
    let lp = users::create_login_profile(&app.iam, account(c), &user, &password, reset).await?;
    Ok(Some(write_login_profile(&lp)))
}

async fn get_login_profile(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::USER_NAME);
    p.finish()?;
    authorize(app, c, "GetLoginProfile", &user_resource(c, name.as_deref())).await?;
    let user = login_user(app, c, name.as_deref()).await?;
    Ok(Some(write_login_profile(&users::get_login_profile(&app.iam, &user).await?)))
}

async fn update_login_profile(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("UserName", &params::USER_NAME);
    let password = p.opt("Password", &params::PASSWORD);
    let reset = p.boolean("PasswordResetRequired");
    p.finish()?;
    authorize(app, c, "UpdateLoginProfile", &user_resource(c, Some(&name))).await?;
    let user = users::resolve(&app.iam, account(c), &name).await?;
    users::update_login_profile(&app.iam, account(c), &user, password.as_deref(), reset).await?;
    Ok(None)
}

async fn delete_login_profile(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::USER_NAME);
    p.finish()?;
    authorize(app, c, "DeleteLoginProfile", &user_resource(c, name.as_deref())).await?;
    let user = login_user(app, c, name.as_deref()).await?;
    users::delete_login_profile(&app.iam, &user).await?;
    Ok(None)
}

async fn change_password(app: &App, c: &Caller, p: &mut Params) -> Out {
    let old = p.req("OldPassword", &params::PASSWORD);
    let new = p.req("NewPassword", &params::PASSWORD);
    p.finish()?;
    let Some(user) = c.principal.user.clone() else {
        return Err(AwsError::invalid_user_type("The request was rejected because the type of user for the transaction was incorrect."));
    };
    // Without the policy engine, an IAM user may change their own password exactly when the
    // account's password policy allows users to (AllowUsersToChangePassword).
    let allowed = accounts::get_password_policy(&app.iam, account(c)).await?.is_some_and(|p| p.allow_users_to_change_password);
    if !allowed {
        authorize(app, c, "ChangePassword", &c.principal.arn()).await?;
    }
    users::change_password(&app.iam, account(c), &user, &old, &new).await?;
    Ok(None)
}

async fn update_password_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
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
    authorize(app, c, "UpdateAccountPasswordPolicy", "*").await?;
    accounts::put_password_policy(&app.iam, account(c), Some(&policy)).await?;
    Ok(None)
}

async fn get_password_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    p.finish()?;
    authorize(app, c, "GetAccountPasswordPolicy", "*").await?;
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

async fn delete_password_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    p.finish()?;
    authorize(app, c, "DeleteAccountPasswordPolicy", "*").await?;
    if !accounts::put_password_policy(&app.iam, account(c), None).await? {
        return Err(accounts::no_password_policy(account(c)));
    }
    Ok(None)
}

async fn create_access_key(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::EXISTING_USER_NAME);
    p.finish()?;
    authorize(app, c, "CreateAccessKey", &user_resource(c, name.as_deref())).await?;
    let user = target(app, c, name.as_deref()).await?;
    let (id, secret, created) = keys::create(&app.iam, account(c), user.as_ref()).await?;
    let mut x = Xml::new();
    x.open("AccessKey")
        .opt("UserName", user.as_ref().map(|u| u.name.as_str()))
        .text("AccessKeyId", &id)
        .text("Status", "Active")
        .text("SecretAccessKey", &secret)
        .text("CreateDate", &iso8601(created))
        .close("AccessKey");
    Ok(Some(x.buf))
}

async fn list_access_keys(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::EXISTING_USER_NAME);
    let (_marker, _max) = p.paging();
    p.finish()?;
    authorize(app, c, "ListAccessKeys", &user_resource(c, name.as_deref())).await?;
    let user = target(app, c, name.as_deref()).await?;
    let list = keys::list(&app.iam, account(c), user.as_ref()).await?;
    let mut x = Xml::new();
    x.list("AccessKeyMetadata", &list, |x, k| {
        x.opt("UserName", user.as_ref().map(|u| u.name.as_str()))
            .text("AccessKeyId", &k.access_key_id)
            .text("Status", &k.status)
            .text("CreateDate", &iso8601(k.created_at));
    });
    // At most two keys per principal: one page always holds them all.
    x.paging(None);
    Ok(Some(x.buf))
}

async fn update_access_key(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::EXISTING_USER_NAME);
    let key = p.req("AccessKeyId", &params::ACCESS_KEY_ID);
    let status = p.enumeration("Status", &["Active", "Inactive", "Expired"], true);
    p.finish()?;
    authorize(app, c, "UpdateAccessKey", &user_resource(c, name.as_deref())).await?;
    let user = target(app, c, name.as_deref()).await?;
    keys::update_status(&app.iam, account(c), user.as_ref(), &key, &status.unwrap_or_default()).await?;
    Ok(None)
}

async fn delete_access_key(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::EXISTING_USER_NAME);
    let key = p.req("AccessKeyId", &params::ACCESS_KEY_ID);
    p.finish()?;
    authorize(app, c, "DeleteAccessKey", &user_resource(c, name.as_deref())).await?;
    let user = target(app, c, name.as_deref()).await?;
    keys::delete(&app.iam, account(c), user.as_ref(), &key).await?;
    Ok(None)
}

async fn get_access_key_last_used(app: &App, c: &Caller, p: &mut Params) -> Out {
    let key = p.req("AccessKeyId", &params::ACCESS_KEY_ID);
    p.finish()?;
    authorize(app, c, "GetAccessKeyLastUsed", &user_resource(c, None)).await?;
    let lu = keys::last_used(&app.iam, account(c), &key).await?.ok_or_else(|| {
        AwsError::access_denied(format!("User: {} is not authorized to perform: iam:GetAccessKeyLastUsed on resource: access key {key}", c.principal.arn()))
    })?;
    let mut x = Xml::new();
    x.opt("UserName", lu.user_name.as_deref()).open("AccessKeyLastUsed");
    match lu.last_used_at {
        Some(t) => x.text("LastUsedDate", &iso8601(t)).text("ServiceName", lu.service.as_deref().unwrap_or("N/A")).text("Region", lu.region.as_deref().unwrap_or("N/A")),
        None => x.text("ServiceName", "N/A").text("Region", "N/A"),
    };
    x.close("AccessKeyLastUsed");
    Ok(Some(x.buf))
}

async fn create_account_alias(app: &App, c: &Caller, p: &mut Params) -> Out {
    let alias = p.req("AccountAlias", &params::ACCOUNT_ALIAS);
    p.finish()?;
    authorize(app, c, "CreateAccountAlias", "*").await?;
    if alias.len() == 12 && alias.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AwsError::invalid_input("An account alias cannot be a 12-digit number."));
    }
    accounts::create_alias(&app.iam, account(c), &alias).await?;
    Ok(None)
}

async fn list_account_aliases(app: &App, c: &Caller, p: &mut Params) -> Out {
    let _ = p.paging();
    p.finish()?;
    authorize(app, c, "ListAccountAliases", "*").await?;
    let alias = accounts::get_alias(&app.iam, account(c)).await?;
    let list: Vec<String> = alias.into_iter().collect();
    let mut x = Xml::new();
    x.list("AccountAliases", &list, |x, a| {
        super::xml::escape(a, &mut x.buf);
    });
    x.paging(None);
    Ok(Some(x.buf))
}

async fn delete_account_alias(app: &App, c: &Caller, p: &mut Params) -> Out {
    let alias = p.req("AccountAlias", &params::ACCOUNT_ALIAS);
    p.finish()?;
    authorize(app, c, "DeleteAccountAlias", "*").await?;
    accounts::delete_alias(&app.iam, account(c), &alias).await?;
    Ok(None)
}

async fn get_account_summary(app: &App, c: &Caller, p: &mut Params) -> Out {
    p.finish()?;
    authorize(app, c, "GetAccountSummary", "*").await?;
    let map = accounts::summary(&app.iam, account(c)).await?;
    let mut x = Xml::new();
    x.open("SummaryMap");
    for (k, v) in map {
        x.open("entry").text("key", k).num("value", v).close("entry");
    }
    x.close("SummaryMap");
    Ok(Some(x.buf))
}
