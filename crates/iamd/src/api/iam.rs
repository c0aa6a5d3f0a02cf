//! The IAM and STS operations: each decodes and checks its parameters, is authorized, calls one domain
//! function and writes its `<OpResult>` body (`None` for operations without output).

use super::action::Action;
use super::params::{self, Params};
use super::xml::Xml;
use super::{mfa, policies, roles, target, App, Caller};
use crate::domain::passwords::PasswordPolicy;
use crate::domain::{accounts, iso8601, keys, user_arn, users, Owner};
use crate::error::{AwsError, Result};

pub type Out = Result<Option<String>>;

pub use super::authz::authorize;

pub fn account(c: &Caller) -> &str {
    &c.principal.account_id
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

pub async fn dispatch(app: &App, c: &Caller, action: Action, p: &mut Params) -> Out {
    match action {
        Action::GetCallerIdentity => get_caller_identity(c, p),
        Action::GetSessionToken => mfa::get_session_token(app, c, p).await,
        Action::AssumeRole => roles::assume_role(app, c, p).await,
        Action::GetAccessKeyInfo => get_access_key_info(app, c, p).await,
        Action::CreateRole => roles::create_role(app, c, p).await,
        Action::GetRole => roles::get_role(app, c, p).await,
        Action::ListRoles => roles::list_roles(app, c, p).await,
        Action::UpdateRole => roles::update_role(app, c, p).await,
        Action::UpdateAssumeRolePolicy => roles::update_assume_role_policy(app, c, p).await,
        Action::DeleteRole => roles::delete_role(app, c, p).await,
        Action::TagRole => roles::tag_role(app, c, p).await,
        Action::UntagRole => roles::untag_role(app, c, p).await,
        Action::ListRoleTags => roles::list_role_tags(app, c, p).await,
        Action::PutRolePolicy => roles::role_policy(app, c, p, "Put").await,
        Action::GetRolePolicy => roles::role_policy(app, c, p, "Get").await,
        Action::DeleteRolePolicy => roles::role_policy(app, c, p, "Delete").await,
        Action::ListRolePolicies => roles::role_policy(app, c, p, "List").await,
        Action::AttachRolePolicy => roles::role_attachment(app, c, p, "Attach").await,
        Action::DetachRolePolicy => roles::role_attachment(app, c, p, "Detach").await,
        Action::ListAttachedRolePolicies => roles::role_attachment(app, c, p, "List").await,
        Action::SimulatePrincipalPolicy => roles::simulate_principal_policy(app, c, p).await,
        Action::SimulateCustomPolicy => roles::simulate_custom_policy(app, c, p).await,
        Action::PutUserPolicy => policies::put_user_policy(app, c, p).await,
        Action::GetUserPolicy => policies::get_user_policy(app, c, p).await,
        Action::ListUserPolicies => policies::list_user_policies(app, c, p).await,
        Action::DeleteUserPolicy => policies::delete_user_policy(app, c, p).await,
        Action::CreateGroup => policies::create_group(app, c, p).await,
        Action::GetGroup => policies::get_group(app, c, p).await,
        Action::ListGroups => policies::list_groups(app, c, p).await,
        Action::UpdateGroup => policies::update_group(app, c, p).await,
        Action::DeleteGroup => policies::delete_group(app, c, p).await,
        Action::AddUserToGroup => policies::add_user_to_group(app, c, p).await,
        Action::RemoveUserFromGroup => policies::remove_user_from_group(app, c, p).await,
        Action::ListGroupsForUser => policies::list_groups_for_user(app, c, p).await,
        Action::PutGroupPolicy => policies::put_group_policy(app, c, p).await,
        Action::GetGroupPolicy => policies::get_group_policy(app, c, p).await,
        Action::ListGroupPolicies => policies::list_group_policies(app, c, p).await,
        Action::DeleteGroupPolicy => policies::delete_group_policy(app, c, p).await,
        Action::CreatePolicy => policies::create_policy(app, c, p).await,
        Action::GetPolicy => policies::get_policy(app, c, p).await,
        Action::TagPolicy => policies::tag_policy(app, c, p).await,
        Action::UntagPolicy => policies::untag_policy(app, c, p).await,
        Action::ListPolicyTags => policies::list_policy_tags(app, c, p).await,
        Action::ListPolicies => policies::list_policies(app, c, p).await,
        Action::DeletePolicy => policies::delete_policy(app, c, p).await,
        Action::CreatePolicyVersion => policies::create_policy_version(app, c, p).await,
        Action::GetPolicyVersion => policies::get_policy_version(app, c, p).await,
        Action::ListPolicyVersions => policies::list_policy_versions(app, c, p).await,
        Action::DeletePolicyVersion => policies::delete_policy_version(app, c, p).await,
        Action::SetDefaultPolicyVersion => policies::set_default_policy_version(app, c, p).await,
        Action::AttachUserPolicy => policies::attachment(app, c, p, "user", "Attach").await,
        Action::DetachUserPolicy => policies::attachment(app, c, p, "user", "Detach").await,
        Action::ListAttachedUserPolicies => policies::attachment(app, c, p, "user", "List").await,
        Action::AttachGroupPolicy => policies::attachment(app, c, p, "group", "Attach").await,
        Action::DetachGroupPolicy => policies::attachment(app, c, p, "group", "Detach").await,
        Action::ListAttachedGroupPolicies => policies::attachment(app, c, p, "group", "List").await,
        Action::ListEntitiesForPolicy => policies::list_entities_for_policy(app, c, p).await,
        Action::CreateVirtualMFADevice => mfa::create_virtual_mfa_device(app, c, p).await,
        Action::EnableMFADevice => mfa::enable_mfa_device(app, c, p).await,
        Action::ResyncMFADevice => mfa::resync_mfa_device(app, c, p).await,
        Action::DeactivateMFADevice => mfa::deactivate_mfa_device(app, c, p).await,
        Action::DeleteVirtualMFADevice => mfa::delete_virtual_mfa_device(app, c, p).await,
        Action::ListMFADevices => mfa::list_mfa_devices(app, c, p).await,
        Action::ListVirtualMFADevices => mfa::list_virtual_mfa_devices(app, c, p).await,
        Action::GetMFADevice => mfa::get_mfa_device(app, c, p).await,
        Action::TagMFADevice => mfa::tag_mfa_device(app, c, p).await,
        Action::UntagMFADevice => mfa::untag_mfa_device(app, c, p).await,
        Action::ListMFADeviceTags => mfa::list_mfa_device_tags(app, c, p).await,
        Action::GenerateCredentialReport => mfa::generate_credential_report(app, c, p).await,
        Action::GetCredentialReport => mfa::get_credential_report(app, c, p).await,
        Action::CreateUser => create_user(app, c, p).await,
        Action::GetUser => get_user(app, c, p).await,
        Action::ListUsers => list_users(app, c, p).await,
        Action::UpdateUser => update_user(app, c, p).await,
        Action::DeleteUser => delete_user(app, c, p).await,
        Action::TagUser => tag_user(app, c, p).await,
        Action::UntagUser => untag_user(app, c, p).await,
        Action::ListUserTags => list_user_tags(app, c, p).await,
        Action::CreateLoginProfile => create_login_profile(app, c, p).await,
        Action::GetLoginProfile => get_login_profile(app, c, p).await,
        Action::UpdateLoginProfile => update_login_profile(app, c, p).await,
        Action::DeleteLoginProfile => delete_login_profile(app, c, p).await,
        Action::ChangePassword => change_password(app, c, p).await,
        Action::UpdateAccountPasswordPolicy => update_password_policy(app, c, p).await,
        Action::GetAccountPasswordPolicy => get_password_policy(app, c, p).await,
        Action::DeleteAccountPasswordPolicy => delete_password_policy(app, c, p).await,
        Action::CreateAccessKey => create_access_key(app, c, p).await,
        Action::ListAccessKeys => list_access_keys(app, c, p).await,
        Action::UpdateAccessKey => update_access_key(app, c, p).await,
        Action::DeleteAccessKey => delete_access_key(app, c, p).await,
        Action::GetAccessKeyLastUsed => get_access_key_last_used(app, c, p).await,
        Action::CreateAccountAlias => create_account_alias(app, c, p).await,
        Action::ListAccountAliases => list_account_aliases(app, c, p).await,
        Action::DeleteAccountAlias => delete_account_alias(app, c, p).await,
        Action::GetAccountSummary => get_account_summary(app, c, p).await,
        Action::LookupEvents => Err(AwsError::invalid_action("LookupEvents is a CloudTrail JSON operation")),
    }
}

fn get_caller_identity(c: &Caller, p: &mut Params) -> Out {
    p.finish()?;
    let mut x = Xml::new();
    x.text("UserId", &c.principal.user_id()).text("Account", account(c)).text("Arn", &c.principal.arn());
    Ok(Some(x.buf))
}

/// sts:GetAccessKeyInfo: the account a key belongs to. AWS decodes it from the key id; iamd's ids
/// carry no account, so it answers for what it can resolve: a long-term key it holds (of any
/// account, as AWS answers across accounts) and the caller's own key. Any other id (a stranger's
/// session key, a key that never existed) is refused rather than answered with a guess.
async fn get_access_key_info(app: &App, c: &Caller, p: &mut Params) -> Out {
    let id = p.req("AccessKeyId", &params::ACCESS_KEY_ID);
    p.finish()?;
    target::account(app, c, Action::GetAccessKeyInfo).await?;
    // AWS: GetSessionToken's credentials call no STS operation but AssumeRole and GetCallerIdentity.
    if c.session.is_some() && c.principal.role.is_none() {
        return Err(AwsError::access_denied("Cannot call GetAccessKeyInfo with session credentials from GetSessionToken."));
    }
    let owner = if id == c.principal.access_key_id {
        Some(account(c).to_string())
    } else if id.starts_with("AKIA") {
        keys::lookup(&app.iam, &id).await?.map(|e| e.account_id.clone())
    } else {
        None
    };
    let Some(owner) = owner else {
        // (The id is at most 128 characters: ACCESS_KEY_ID checked it.)
        return Err(AwsError::validation(format!("The access key {id} is not one this server issued, or it is a session key of another caller.")));
    };
    let mut x = Xml::new();
    x.text("Account", &owner);
    Ok(Some(x.buf))
}

async fn create_user(app: &App, c: &Caller, p: &mut Params) -> Out {
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

async fn get_user(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::EXISTING_USER_NAME);
    p.finish()?;
    let owner = target::owner(app, c, Action::GetUser, name.as_deref()).await?;
    let mut x = Xml::new();
    x.open("User");
    match owner {
        Owner::Root => {
            let created: i64 =
                sqlx::query_scalar("SELECT created_at FROM accounts WHERE account_id = $1").bind(account(c)).fetch_one(&app.iam.store.read).await?;
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

async fn list_users(app: &App, c: &Caller, p: &mut Params) -> Out {
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
    // Renaming or moving needs permission on the user as it is and as it will be (AWS: "on both the
    // source object and the target object").
    let u = target::user(app, c, Action::UpdateUser, &name).await?;
    let to = user_arn(account(c), new_path.as_deref().unwrap_or(&u.path), new_name.as_deref().unwrap_or(&u.name));
    authorize(app, c, Action::UpdateUser, &to).await?;
    users::update(&app.iam, account(c), &u.name, new_name.as_deref(), new_path.as_deref()).await?;
    Ok(None)
}

async fn delete_user(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("UserName", &params::EXISTING_USER_NAME);
    p.finish()?;
    let u = target::user(app, c, Action::DeleteUser, &name).await?;
    users::delete(&app.iam, account(c), &u.name).await?;
    Ok(None)
}

async fn tag_user(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("UserName", &params::EXISTING_USER_NAME);
    let tags = p.tags(true);
    p.finish()?;
    params::check_duplicate_tag_keys(&tags)?;
    let u = target::user(app, c, Action::TagUser, &name).await?;
    users::tag(&app.iam, account(c), &u.name, &tags).await?;
    Ok(None)
}

async fn untag_user(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("UserName", &params::EXISTING_USER_NAME);
    let keys = p.string_list("TagKeys", &params::TAG_KEY, 50, true);
    p.finish()?;
    let u = target::user(app, c, Action::UntagUser, &name).await?;
    users::untag(&app.iam, account(c), &u.name, &keys).await?;
    Ok(None)
}

async fn list_user_tags(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("UserName", &params::EXISTING_USER_NAME);
    let (marker, max) = p.paging();
    p.finish()?;
    let u = target::user(app, c, Action::ListUserTags, &name).await?;
    let u = users::get(&app.iam, account(c), &u.name).await?;
    tags_page(u.tags, marker, max)
}

/// A page of a List*Tags answer: tags sorted by key (see `tags::list`), `MaxItems` of them from the
/// key the marker names.
pub fn tags_page(tags: Vec<(String, String)>, marker: Option<String>, max: i64) -> Out {
    let (tags, next) = mfa::page(tags, |(k, _)| k.clone(), decode_marker(marker.as_deref())?, max);
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

async fn create_login_profile(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::USER_NAME);
    let password = p.opt("Password", &params::PASSWORD);
    let reset = p.boolean("PasswordResetRequired").unwrap_or(false);
    p.finish()?;
    let user = target::calling_user(app, c, Action::CreateLoginProfile, name.as_deref()).await?;
    let password = password.ok_or_else(|| AwsError::invalid_input("A password is required to create a login profile."))?;
    let lp = users::create_login_profile(&app.iam, account(c), &user, &password, reset).await?;
    Ok(Some(write_login_profile(&lp)))
}

async fn get_login_profile(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::USER_NAME);
    p.finish()?;
    let user = target::calling_user(app, c, Action::GetLoginProfile, name.as_deref()).await?;
    Ok(Some(write_login_profile(&users::get_login_profile(&app.iam, &user).await?)))
}

async fn update_login_profile(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.req("UserName", &params::USER_NAME);
    let password = p.opt("Password", &params::PASSWORD);
    let reset = p.boolean("PasswordResetRequired");
    p.finish()?;
    let user = target::user(app, c, Action::UpdateLoginProfile, &name).await?.as_ref();
    users::update_login_profile(&app.iam, account(c), &user, password.as_deref(), reset).await?;
    Ok(None)
}

async fn delete_login_profile(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::USER_NAME);
    p.finish()?;
    let user = target::calling_user(app, c, Action::DeleteLoginProfile, name.as_deref()).await?;
    users::delete_login_profile(&app.iam, account(c), &user).await?;
    Ok(None)
}

async fn change_password(app: &App, c: &Caller, p: &mut Params) -> Out {
    let old = p.req("OldPassword", &params::PASSWORD);
    let new = p.req("NewPassword", &params::PASSWORD);
    p.finish()?;
    let Some(user) = c.principal.user.clone() else {
        return Err(AwsError::invalid_user_type("The request was rejected because the type of user for the transaction was incorrect."));
    };
    super::authz::may_change_password(app, c, &user).await?;
    users::change_password(&app.iam, account(c), &user, &old, &new, None, c.source_ip.as_deref().unwrap_or("")).await?;
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
    target::account(app, c, Action::UpdateAccountPasswordPolicy).await?;
    accounts::put_password_policy(&app.iam, account(c), Some(&policy)).await?;
    Ok(None)
}

async fn get_password_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
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

async fn delete_password_policy(app: &App, c: &Caller, p: &mut Params) -> Out {
    p.finish()?;
    target::account(app, c, Action::DeleteAccountPasswordPolicy).await?;
    if !accounts::put_password_policy(&app.iam, account(c), None).await? {
        return Err(accounts::no_password_policy_to_delete());
    }
    Ok(None)
}

async fn create_access_key(app: &App, c: &Caller, p: &mut Params) -> Out {
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

async fn list_access_keys(app: &App, c: &Caller, p: &mut Params) -> Out {
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

async fn update_access_key(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::EXISTING_USER_NAME);
    let key = p.req("AccessKeyId", &params::ACCESS_KEY_ID);
    let status = p.enumeration("Status", &["Active", "Inactive", "Expired"], true);
    p.finish()?;
    let owner = target::owner(app, c, Action::UpdateAccessKey, name.as_deref()).await?;
    keys::update_status(&app.iam, account(c), &owner, &key, &status.unwrap_or_default()).await?;
    Ok(None)
}

async fn delete_access_key(app: &App, c: &Caller, p: &mut Params) -> Out {
    let name = p.opt("UserName", &params::EXISTING_USER_NAME);
    let key = p.req("AccessKeyId", &params::ACCESS_KEY_ID);
    p.finish()?;
    let owner = target::owner(app, c, Action::DeleteAccessKey, name.as_deref()).await?;
    keys::delete(&app.iam, account(c), &owner, &key).await?;
    Ok(None)
}

async fn get_access_key_last_used(app: &App, c: &Caller, p: &mut Params) -> Out {
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

async fn create_account_alias(app: &App, c: &Caller, p: &mut Params) -> Out {
    let alias = p.req("AccountAlias", &params::ACCOUNT_ALIAS);
    p.finish()?;
    target::account(app, c, Action::CreateAccountAlias).await?;
    if alias.len() == 12 && alias.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AwsError::invalid_input("An account alias cannot be a 12-digit number."));
    }
    accounts::create_alias(&app.iam, account(c), &alias).await?;
    Ok(None)
}

async fn list_account_aliases(app: &App, c: &Caller, p: &mut Params) -> Out {
    let _ = p.paging();
    p.finish()?;
    target::account(app, c, Action::ListAccountAliases).await?;
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
    target::account(app, c, Action::DeleteAccountAlias).await?;
    accounts::delete_alias(&app.iam, account(c), &alias).await?;
    Ok(None)
}

async fn get_account_summary(app: &App, c: &Caller, p: &mut Params) -> Out {
    p.finish()?;
    target::account(app, c, Action::GetAccountSummary).await?;
    let map = accounts::summary(&app.iam, account(c)).await?;
    let mut x = Xml::new();
    x.open("SummaryMap");
    for (k, v) in map {
        x.open("entry").text("key", k).num("value", v).close("entry");
    }
    x.close("SummaryMap");
    Ok(Some(x.buf))
}
