//! The action table: every IAM, STS and CloudTrail action iamd serves, with its service, whether
//! CloudTrail counts it read-only, and the kind of target it resolves before it is authorized.
//!
//! Dispatch matches on [`Action`] (so the compiler refuses an action without a handler), the audit
//! record takes `read_only` from here, and the end-to-end authorization matrix reads this table
//! (`iamd actions --json`) so an action added here without a matrix entry fails that test.

use super::Service;

/// What an action acts on, as the resolver (`api::target`) turns it into a canonical ARN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    /// Never policy-checked (authentication operations: GetCallerIdentity, GetSessionToken).
    Unchecked,
    /// The account as a whole: resource `*`.
    Account,
    /// A listing: the resource is the collection's ARN prefix (`user/`, `group/`, `role/`).
    Listing,
    /// An IAM user named by `UserName`, which the request must give.
    User,
    /// `UserName` may be omitted: then the calling IAM user, or root with root's own credentials;
    /// any other caller must name a user.
    UserOrCaller,
    /// `UserName` may be omitted: then the calling IAM user (root has no login profile).
    UserOrCallingUser,
    /// The calling IAM user itself (ChangePassword).
    CallingUser,
    /// A group named by `GroupName`.
    Group,
    /// A role named by `RoleName`.
    Role,
    /// A managed policy named by `PolicyArn`.
    Policy,
    /// A virtual MFA device named by `SerialNumber`.
    MfaDevice,
    /// An access key named by `AccessKeyId`, authorized on its owner.
    AccessKey,
    /// An entity the call creates: the ARN built from the requested path and name.
    New,
    /// AssumeRole: the role named by `RoleArn`.
    RoleArn,
    /// SimulatePrincipalPolicy: the user, group or role named by `PolicySourceArn`.
    PolicySource,
}

impl TargetKind {
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Unchecked => "unchecked",
            TargetKind::Account => "account",
            TargetKind::Listing => "listing",
            TargetKind::User => "user",
            TargetKind::UserOrCaller => "user-or-caller",
            TargetKind::UserOrCallingUser => "user-or-calling-user",
            TargetKind::CallingUser => "calling-user",
            TargetKind::Group => "group",
            TargetKind::Role => "role",
            TargetKind::Policy => "policy",
            TargetKind::MfaDevice => "mfa-device",
            TargetKind::AccessKey => "access-key",
            TargetKind::New => "new",
            TargetKind::RoleArn => "role-arn",
            TargetKind::PolicySource => "policy-source",
        }
    }
}

macro_rules! actions {
    ($( $name:ident => $svc:ident, $ro:ident, $target:ident; )*) => {
        /// One IAM, STS or CloudTrail action.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Action { $($name),* }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$name),*];

            pub fn name(self) -> &'static str {
                match self { $(Action::$name => stringify!($name)),* }
            }
            pub fn service(self) -> Service {
                match self { $(Action::$name => Service::$svc),* }
            }
            /// CloudTrail's readOnly for the action's record.
            pub fn read_only(self) -> bool {
                match self { $(Action::$name => actions!(@ro $ro)),* }
            }
            pub fn target(self) -> TargetKind {
                match self { $(Action::$name => TargetKind::$target),* }
            }
        }
    };
    (@ro read) => { true };
    (@ro write) => { false };
}

actions! {
    GetCallerIdentity => Sts, read, Unchecked;
    GetSessionToken => Sts, read, Unchecked;
    AssumeRole => Sts, read, RoleArn;
    GetAccessKeyInfo => Sts, read, Account;
    LookupEvents => CloudTrail, read, Account;

    CreateUser => Iam, write, New;
    GetUser => Iam, read, UserOrCaller;
    ListUsers => Iam, read, Listing;
    UpdateUser => Iam, write, User;
    DeleteUser => Iam, write, User;
    TagUser => Iam, write, User;
    UntagUser => Iam, write, User;
    ListUserTags => Iam, read, User;

    CreateLoginProfile => Iam, write, UserOrCallingUser;
    GetLoginProfile => Iam, read, UserOrCallingUser;
    UpdateLoginProfile => Iam, write, User;
    DeleteLoginProfile => Iam, write, UserOrCallingUser;
    ChangePassword => Iam, write, CallingUser;
    UpdateAccountPasswordPolicy => Iam, write, Account;
    GetAccountPasswordPolicy => Iam, read, Account;
    DeleteAccountPasswordPolicy => Iam, write, Account;

    CreateAccessKey => Iam, write, UserOrCaller;
    ListAccessKeys => Iam, read, UserOrCaller;
    UpdateAccessKey => Iam, write, UserOrCaller;
    DeleteAccessKey => Iam, write, UserOrCaller;
    GetAccessKeyLastUsed => Iam, read, AccessKey;

    CreateAccountAlias => Iam, write, Account;
    ListAccountAliases => Iam, read, Account;
    DeleteAccountAlias => Iam, write, Account;
    GetAccountSummary => Iam, read, Account;

    CreateVirtualMFADevice => Iam, write, New;
    EnableMFADevice => Iam, write, User;
    ResyncMFADevice => Iam, write, User;
    DeactivateMFADevice => Iam, write, UserOrCaller;
    DeleteVirtualMFADevice => Iam, write, MfaDevice;
    ListMFADevices => Iam, read, UserOrCaller;
    ListVirtualMFADevices => Iam, read, Account;
    GetMFADevice => Iam, read, UserOrCaller;
    TagMFADevice => Iam, write, MfaDevice;
    UntagMFADevice => Iam, write, MfaDevice;
    ListMFADeviceTags => Iam, read, MfaDevice;
    GenerateCredentialReport => Iam, write, Account;
    GetCredentialReport => Iam, read, Account;

    PutUserPolicy => Iam, write, User;
    GetUserPolicy => Iam, read, User;
    ListUserPolicies => Iam, read, User;
    DeleteUserPolicy => Iam, write, User;
    AttachUserPolicy => Iam, write, User;
    DetachUserPolicy => Iam, write, User;
    ListAttachedUserPolicies => Iam, read, User;

    CreateGroup => Iam, write, New;
    GetGroup => Iam, read, Group;
    ListGroups => Iam, read, Listing;
    UpdateGroup => Iam, write, Group;
    DeleteGroup => Iam, write, Group;
    AddUserToGroup => Iam, write, Group;
    RemoveUserFromGroup => Iam, write, Group;
    ListGroupsForUser => Iam, read, User;
    PutGroupPolicy => Iam, write, Group;
    GetGroupPolicy => Iam, read, Group;
    ListGroupPolicies => Iam, read, Group;
    DeleteGroupPolicy => Iam, write, Group;
    AttachGroupPolicy => Iam, write, Group;
    DetachGroupPolicy => Iam, write, Group;
    ListAttachedGroupPolicies => Iam, read, Group;

    CreatePolicy => Iam, write, New;
    GetPolicy => Iam, read, Policy;
    ListPolicies => Iam, read, Account;
    DeletePolicy => Iam, write, Policy;
    CreatePolicyVersion => Iam, write, Policy;
    GetPolicyVersion => Iam, read, Policy;
    ListPolicyVersions => Iam, read, Policy;
    DeletePolicyVersion => Iam, write, Policy;
    SetDefaultPolicyVersion => Iam, write, Policy;
    ListEntitiesForPolicy => Iam, read, Policy;
    TagPolicy => Iam, write, Policy;
    UntagPolicy => Iam, write, Policy;
    ListPolicyTags => Iam, read, Policy;

    CreateRole => Iam, write, New;
    GetRole => Iam, read, Role;
    ListRoles => Iam, read, Listing;
    UpdateRole => Iam, write, Role;
    UpdateAssumeRolePolicy => Iam, write, Role;
    DeleteRole => Iam, write, Role;
    TagRole => Iam, write, Role;
    UntagRole => Iam, write, Role;
    ListRoleTags => Iam, read, Role;
    PutRolePolicy => Iam, write, Role;
    GetRolePolicy => Iam, read, Role;
    ListRolePolicies => Iam, read, Role;
    DeleteRolePolicy => Iam, write, Role;
    AttachRolePolicy => Iam, write, Role;
    DetachRolePolicy => Iam, write, Role;
    ListAttachedRolePolicies => Iam, read, Role;

    SimulatePrincipalPolicy => Iam, read, PolicySource;
    SimulateCustomPolicy => Iam, read, Account;
}

impl Action {
    /// The action a request names, if this service serves it.
    pub fn parse(service: Service, name: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.service() == service && a.name() == name)
    }
    /// The action by name in any service (the console's records).
    pub fn by_name(name: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.name() == name)
    }
    /// `iam:CreateUser`, `sts:AssumeRole`, `cloudtrail:LookupEvents`: the name policies match.
    pub fn policy_name(self) -> String {
        let prefix = match self.service() {
            Service::Iam => "iam",
            Service::Sts => "sts",
            Service::CloudTrail => "cloudtrail",
        };
        format!("{prefix}:{}", self.name())
    }
}

/// The table as JSON lines for `iamd actions --json` (the authorization matrix reads it).
pub fn table_json() -> String {
    let rows: Vec<serde_json::Value> = Action::ALL
        .iter()
        .map(|a| {
            serde_json::json!({
                "action": a.name(),
                "service": match a.service() { Service::Iam => "iam", Service::Sts => "sts", Service::CloudTrail => "cloudtrail" },
                "read_only": a.read_only(),
                "target": a.target().name(),
            })
        })
        .collect();
    serde_json::to_string_pretty(&rows).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for a in Action::ALL {
            assert!(seen.insert(a.name()), "{} twice", a.name());
            assert_eq!(Action::parse(a.service(), a.name()), Some(*a));
        }
        assert_eq!(Action::parse(Service::Iam, "AssumeRole"), None, "an STS action is not an IAM one");
        assert_eq!(Action::parse(Service::Iam, "createuser"), None, "action names are case-sensitive");
    }

    #[test]
    fn read_only_follows_cloudtrail() {
        assert!(Action::GetUser.read_only() && Action::ListUsers.read_only() && Action::AssumeRole.read_only());
        assert!(!Action::CreateAccessKey.read_only() && !Action::GenerateCredentialReport.read_only());
    }
}
