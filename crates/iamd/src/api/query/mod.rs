//! The Query-protocol operations of IAM and STS. `dispatch` sends each `Action` to its handler; each
//! handler decodes and checks its parameters, resolves and authorizes its target, calls one domain
//! function and writes its `<OpResult>` body (`None` for operations without output). A handler module
//! imports `support`, `shapes`, `params` and `xml`, never a sibling handler.

mod access_keys;
mod account;
mod groups;
mod inline_policies;
mod login_profiles;
mod managed_policies;
mod mfa;
mod report;
mod roles;
mod shapes;
mod simulate;
mod sts;
mod support;
mod users;

use crate::api::params::Params;
use crate::app::App;
use crate::auth::action::Action;
use crate::auth::Caller;
use crate::domain::policies::Holder;
use crate::error::AwsError;
use inline_policies::PolicyOp;
use managed_policies::AttachOp;
use support::Out;

pub(super) async fn dispatch(app: &App, c: &Caller, action: Action, p: &mut Params) -> Out {
    match action {
        Action::GetCallerIdentity => sts::get_caller_identity(c, p),
        Action::GetSessionToken => sts::get_session_token(app, c, p).await,
        Action::AssumeRole => sts::assume_role(app, c, p).await,
        Action::GetAccessKeyInfo => sts::get_access_key_info(app, c, p).await,
        Action::CreateRole => roles::create_role(app, c, p).await,
        Action::GetRole => roles::get_role(app, c, p).await,
        Action::ListRoles => roles::list_roles(app, c, p).await,
        Action::UpdateRole => roles::update_role(app, c, p).await,
        Action::UpdateAssumeRolePolicy => roles::update_assume_role_policy(app, c, p).await,
        Action::DeleteRole => roles::delete_role(app, c, p).await,
        Action::TagRole => roles::tag_role(app, c, p).await,
        Action::UntagRole => roles::untag_role(app, c, p).await,
        Action::ListRoleTags => roles::list_role_tags(app, c, p).await,
        Action::PutRolePolicy => inline_policies::inline(app, c, p, Holder::Role, PolicyOp::Put).await,
        Action::GetRolePolicy => inline_policies::inline(app, c, p, Holder::Role, PolicyOp::Get).await,
        Action::DeleteRolePolicy => inline_policies::inline(app, c, p, Holder::Role, PolicyOp::Delete).await,
        Action::ListRolePolicies => inline_policies::inline(app, c, p, Holder::Role, PolicyOp::List).await,
        Action::AttachRolePolicy => managed_policies::attachment(app, c, p, Holder::Role, AttachOp::Attach).await,
        Action::DetachRolePolicy => managed_policies::attachment(app, c, p, Holder::Role, AttachOp::Detach).await,
        Action::ListAttachedRolePolicies => managed_policies::attachment(app, c, p, Holder::Role, AttachOp::List).await,
        Action::SimulatePrincipalPolicy => simulate::simulate_principal_policy(app, c, p).await,
        Action::SimulateCustomPolicy => simulate::simulate_custom_policy(app, c, p).await,
        Action::PutUserPolicy => inline_policies::inline(app, c, p, Holder::User, PolicyOp::Put).await,
        Action::GetUserPolicy => inline_policies::inline(app, c, p, Holder::User, PolicyOp::Get).await,
        Action::ListUserPolicies => inline_policies::inline(app, c, p, Holder::User, PolicyOp::List).await,
        Action::DeleteUserPolicy => inline_policies::inline(app, c, p, Holder::User, PolicyOp::Delete).await,
        Action::CreateGroup => groups::create_group(app, c, p).await,
        Action::GetGroup => groups::get_group(app, c, p).await,
        Action::ListGroups => groups::list_groups(app, c, p).await,
        Action::UpdateGroup => groups::update_group(app, c, p).await,
        Action::DeleteGroup => groups::delete_group(app, c, p).await,
        Action::AddUserToGroup => groups::add_user_to_group(app, c, p).await,
        Action::RemoveUserFromGroup => groups::remove_user_from_group(app, c, p).await,
        Action::ListGroupsForUser => groups::list_groups_for_user(app, c, p).await,
        Action::PutGroupPolicy => inline_policies::inline(app, c, p, Holder::Group, PolicyOp::Put).await,
        Action::GetGroupPolicy => inline_policies::inline(app, c, p, Holder::Group, PolicyOp::Get).await,
        Action::ListGroupPolicies => inline_policies::inline(app, c, p, Holder::Group, PolicyOp::List).await,
        Action::DeleteGroupPolicy => inline_policies::inline(app, c, p, Holder::Group, PolicyOp::Delete).await,
        Action::CreatePolicy => managed_policies::create_policy(app, c, p).await,
        Action::GetPolicy => managed_policies::get_policy(app, c, p).await,
        Action::TagPolicy => managed_policies::tag_policy(app, c, p).await,
        Action::UntagPolicy => managed_policies::untag_policy(app, c, p).await,
        Action::ListPolicyTags => managed_policies::list_policy_tags(app, c, p).await,
        Action::ListPolicies => managed_policies::list_policies(app, c, p).await,
        Action::DeletePolicy => managed_policies::delete_policy(app, c, p).await,
        Action::CreatePolicyVersion => managed_policies::create_policy_version(app, c, p).await,
        Action::GetPolicyVersion => managed_policies::get_policy_version(app, c, p).await,
        Action::ListPolicyVersions => managed_policies::list_policy_versions(app, c, p).await,
        Action::DeletePolicyVersion => managed_policies::delete_policy_version(app, c, p).await,
        Action::SetDefaultPolicyVersion => managed_policies::set_default_policy_version(app, c, p).await,
        Action::AttachUserPolicy => managed_policies::attachment(app, c, p, Holder::User, AttachOp::Attach).await,
        Action::DetachUserPolicy => managed_policies::attachment(app, c, p, Holder::User, AttachOp::Detach).await,
        Action::ListAttachedUserPolicies => managed_policies::attachment(app, c, p, Holder::User, AttachOp::List).await,
        Action::AttachGroupPolicy => managed_policies::attachment(app, c, p, Holder::Group, AttachOp::Attach).await,
        Action::DetachGroupPolicy => managed_policies::attachment(app, c, p, Holder::Group, AttachOp::Detach).await,
        Action::ListAttachedGroupPolicies => managed_policies::attachment(app, c, p, Holder::Group, AttachOp::List).await,
        Action::ListEntitiesForPolicy => managed_policies::list_entities_for_policy(app, c, p).await,
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
        Action::GenerateCredentialReport => report::generate_credential_report(app, c, p).await,
        Action::GetCredentialReport => report::get_credential_report(app, c, p).await,
        Action::CreateUser => users::create_user(app, c, p).await,
        Action::GetUser => users::get_user(app, c, p).await,
        Action::ListUsers => users::list_users(app, c, p).await,
        Action::UpdateUser => users::update_user(app, c, p).await,
        Action::DeleteUser => users::delete_user(app, c, p).await,
        Action::TagUser => users::tag_user(app, c, p).await,
        Action::UntagUser => users::untag_user(app, c, p).await,
        Action::ListUserTags => users::list_user_tags(app, c, p).await,
        Action::CreateLoginProfile => login_profiles::create_login_profile(app, c, p).await,
        Action::GetLoginProfile => login_profiles::get_login_profile(app, c, p).await,
        Action::UpdateLoginProfile => login_profiles::update_login_profile(app, c, p).await,
        Action::DeleteLoginProfile => login_profiles::delete_login_profile(app, c, p).await,
        Action::ChangePassword => login_profiles::change_password(app, c, p).await,
        Action::UpdateAccountPasswordPolicy => login_profiles::update_password_policy(app, c, p).await,
        Action::GetAccountPasswordPolicy => login_profiles::get_password_policy(app, c, p).await,
        Action::DeleteAccountPasswordPolicy => login_profiles::delete_password_policy(app, c, p).await,
        Action::CreateAccessKey => access_keys::create_access_key(app, c, p).await,
        Action::ListAccessKeys => access_keys::list_access_keys(app, c, p).await,
        Action::UpdateAccessKey => access_keys::update_access_key(app, c, p).await,
        Action::DeleteAccessKey => access_keys::delete_access_key(app, c, p).await,
        Action::GetAccessKeyLastUsed => access_keys::get_access_key_last_used(app, c, p).await,
        Action::CreateAccountAlias => account::create_account_alias(app, c, p).await,
        Action::ListAccountAliases => account::list_account_aliases(app, c, p).await,
        Action::DeleteAccountAlias => account::delete_account_alias(app, c, p).await,
        Action::GetAccountSummary => account::get_account_summary(app, c, p).await,
        Action::LookupEvents => Err(AwsError::invalid_action("LookupEvents is a CloudTrail JSON operation")),
    }
}
