"""IAM operations over the Query protocol, driven by boto3 and the aws CLI."""

import json
import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import run_iamd, Creds


def error_of(fn, *a, **kw):
    with pytest.raises(ClientError) as e:
        fn(*a, **kw)
    r = e.value.response
    return r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"]


def test_user_lifecycle_and_case_insensitive_names(server):
    iam = server.iam()
    acct = server.account["account_id"]
    u = iam.create_user(UserName="Alice", Path="/eng/")["User"]
    assert u["Arn"] == f"arn:aws:iam::{acct}:user/eng/Alice"
    assert u["UserId"].startswith("AIDA") and len(u["UserId"]) == 21
    assert error_of(iam.create_user, UserName="alice") == ("EntityAlreadyExists", "User with name alice already exists.", 409)
    assert iam.get_user(UserName="alice")["User"]["UserName"] == "Alice"
    iam.update_user(UserName="Alice", NewUserName="alice2", NewPath="/ops/")
    got = iam.get_user(UserName="alice2")["User"]
    assert got["Path"] == "/ops/" and got["UserId"] == u["UserId"]
    assert error_of(iam.get_user, UserName="Alice") == ("NoSuchEntity", "The user with name Alice cannot be found.", 404)
    iam.delete_user(UserName="alice2")
    assert error_of(iam.delete_user, UserName="alice2")[0] == "NoSuchEntity"


def test_list_users_paginates_and_filters_by_path(server):
    iam = server.iam()
    names = [f"user{i:02d}" for i in range(7)]
    for i, n in enumerate(names):
        iam.create_user(UserName=n, Path="/a/" if i % 2 else "/b/")
    page = iam.list_users(MaxItems=3)
    assert [u["UserName"] for u in page["Users"]] == names[:3]
    assert page["IsTruncated"] is True
    seen = [u["UserName"] for p in iam.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 2}) for u in p["Users"]]
    assert seen == names
    assert [u["UserName"] for u in iam.list_users(PathPrefix="/a/")["Users"]] == names[1::2]
    assert iam.list_users(PathPrefix="/zzz/")["Users"] == []
    status, text, _ = server.raw("Action=ListUsers&Version=2010-05-08&MaxItems=1001")
    assert status == 400 and "<Code>ValidationError</Code>" in text


def test_user_tags(server):
    iam = server.iam()
    iam.create_user(UserName="t", Tags=[{"Key": "team", "Value": "red"}])
    iam.tag_user(UserName="t", Tags=[{"Key": "Team", "Value": "blue"}, {"Key": "cost", "Value": "1"}])
    # Sorted by the key's characters, as AWS lists them (upper case before lower case).
    assert iam.list_user_tags(UserName="t")["Tags"] == [{"Key": "Team", "Value": "blue"}, {"Key": "cost", "Value": "1"}]
    iam.untag_user(UserName="t", TagKeys=["TEAM"])
    assert iam.list_user_tags(UserName="t")["Tags"] == [{"Key": "cost", "Value": "1"}]
    assert error_of(iam.tag_user, UserName="t", Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}])[0] == "InvalidInput"
    code, msg, status = error_of(iam.tag_user, UserName="t", Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    assert (code, status) == ("ValidationError", 400) and "less than or equal to 50" in msg
    iam.tag_user(UserName="t", Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(49)])
    assert error_of(iam.tag_user, UserName="t", Tags=[{"Key": "one-too-many", "Value": "v"}])[0] == "LimitExceeded"


def test_login_profiles_and_password_policy(server):
    iam = server.iam()
    iam.create_user(UserName="p")
    code, msg, status = error_of(iam.create_login_profile, UserName="p", Password="short")
    assert (code, status) == ("PasswordPolicyViolation", 400)
    lp = iam.create_login_profile(UserName="p", Password="Good-Passw0rd", PasswordResetRequired=True)["LoginProfile"]
    assert lp["UserName"] == "p" and lp["PasswordResetRequired"] is True
    assert error_of(iam.create_login_profile, UserName="p", Password="Good-Passw0rd")[0] == "EntityAlreadyExists"
    assert iam.get_login_profile(UserName="p")["LoginProfile"]["PasswordResetRequired"] is True

    assert error_of(iam.get_account_password_policy)[:1] == ("NoSuchEntity",)
    iam.update_account_password_policy(MinimumPasswordLength=14, RequireSymbols=True, RequireNumbers=True,
                                       RequireUppercaseCharacters=True, AllowUsersToChangePassword=True, MaxPasswordAge=90)
    pol = iam.get_account_password_policy()["PasswordPolicy"]
    assert pol["MinimumPasswordLength"] == 14 and pol["ExpirePasswords"] is True and pol["MaxPasswordAge"] == 90
    assert error_of(iam.update_login_profile, UserName="p", Password="Good-Passw0rd") == (
        "PasswordPolicyViolation", "Password should have a minimum length of 14", 400)
    assert error_of(iam.update_login_profile, UserName="p", Password="goodpassword-long-1")[1] == "Password should have at least one uppercase letter"
    iam.update_login_profile(UserName="p", Password="Much-Longer-Passw0rd", PasswordResetRequired=False)
    assert iam.get_login_profile(UserName="p")["LoginProfile"]["PasswordResetRequired"] is False
    status, text, _ = server.raw("Action=UpdateAccountPasswordPolicy&Version=2010-05-08&MinimumPasswordLength=5")
    assert status == 400 and "<Code>ValidationError</Code>" in text and "greater than or equal to 6" in text

    assert error_of(iam.delete_user, UserName="p") == ("DeleteConflict", "Cannot delete entity, must delete login profile first.", 409)
    iam.delete_login_profile(UserName="p")
    assert error_of(iam.get_login_profile, UserName="p") == ("NoSuchEntity", "Login Profile for User p cannot be found.", 404)
    iam.delete_account_password_policy()
    assert error_of(iam.delete_account_password_policy)[0] == "NoSuchEntity"


def test_change_password_needs_the_old_password_and_the_policy(server):
    iam = server.iam()
    creds = server.new_user_with_key("cp")
    iam.create_login_profile(UserName="cp", Password="First-Passw0rd", PasswordResetRequired=True)
    user_iam = server.iam(creds)
    # without AllowUsersToChangePassword (and without policies yet) the user may not
    assert error_of(user_iam.change_password, OldPassword="First-Passw0rd", NewPassword="Second-Passw0rd")[0] == "AccessDenied"
    iam.update_account_password_policy(MinimumPasswordLength=8, AllowUsersToChangePassword=True)
    assert error_of(user_iam.change_password, OldPassword="Wrong-Passw0rd", NewPassword="Second-Passw0rd")[0] == "AccessDenied"
    assert error_of(user_iam.change_password, OldPassword="First-Passw0rd", NewPassword="short")[0] == "PasswordPolicyViolation"
    user_iam.change_password(OldPassword="First-Passw0rd", NewPassword="Second-Passw0rd")
    assert iam.get_login_profile(UserName="cp")["LoginProfile"]["PasswordResetRequired"] is False
    assert error_of(user_iam.change_password, OldPassword="First-Passw0rd", NewPassword="Third-Passw0rd")[0] == "AccessDenied"
    assert error_of(iam.change_password, OldPassword="x", NewPassword="y")[0] == "InvalidUserType"


def test_access_keys_quota_status_and_deletion_take_effect_at_once(server):
    iam = server.iam()
    iam.create_user(UserName="k")
    k1 = iam.create_access_key(UserName="k")["AccessKey"]
    k2 = iam.create_access_key(UserName="k")["AccessKey"]
    assert error_of(iam.create_access_key, UserName="k") == ("LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2", 409)
    listed = iam.list_access_keys(UserName="k")["AccessKeyMetadata"]
    assert {m["AccessKeyId"] for m in listed} == {k1["AccessKeyId"], k2["AccessKeyId"]}
    assert all("SecretAccessKey" not in m for m in listed)
    c1 = Creds(k1["AccessKeyId"], k1["SecretAccessKey"])
    sts = server.sts(c1)
    assert sts.get_caller_identity()["Arn"].endswith(":user/k")
    iam.update_access_key(UserName="k", AccessKeyId=k1["AccessKeyId"], Status="Inactive")
    assert error_of(sts.get_caller_identity) == ("InvalidClientTokenId", "The security token included in the request is invalid.", 403)
    iam.update_access_key(UserName="k", AccessKeyId=k1["AccessKeyId"], Status="Active")
    assert sts.get_caller_identity()["UserId"] == iam.get_user(UserName="k")["User"]["UserId"]
    assert error_of(iam.delete_user, UserName="k") == ("DeleteConflict", "Cannot delete entity, must delete access keys first.", 409)
    iam.delete_access_key(UserName="k", AccessKeyId=k1["AccessKeyId"])
    assert error_of(sts.get_caller_identity)[0] == "InvalidClientTokenId"
    assert error_of(iam.delete_access_key, UserName="k", AccessKeyId=k1["AccessKeyId"]) == (
        "NoSuchEntity", f"The Access Key with id {k1['AccessKeyId']} cannot be found.", 404)
    assert error_of(iam.update_access_key, UserName="k", AccessKeyId=k2["AccessKeyId"], Status="Bogus")[0] == "ValidationError"
    # a third key fits once one is gone
    iam.create_access_key(UserName="k")


def test_root_keys_and_last_used(server):
    iam = server.iam()
    mine = iam.list_access_keys()["AccessKeyMetadata"]
    assert [m["AccessKeyId"] for m in mine] == [server.account["access_key_id"]]
    second = iam.create_access_key()["AccessKey"]
    assert "UserName" not in second
    assert error_of(iam.create_access_key)[0] == "LimitExceeded"
    creds = server.new_user_with_key("lu")
    kid = creds.access_key_id
    before = iam.get_access_key_last_used(AccessKeyId=kid)
    assert before["UserName"] == "lu" and before["AccessKeyLastUsed"]["ServiceName"] == "N/A"
    server.sts(creds).get_caller_identity()
    import time
    for _ in range(50):
        after = iam.get_access_key_last_used(AccessKeyId=kid)["AccessKeyLastUsed"]
        if "LastUsedDate" in after:
            break
        time.sleep(0.1)
    assert after["ServiceName"] == "sts" and after["Region"] == "us-east-1" and "LastUsedDate" in after
    iam.delete_access_key(AccessKeyId=second["AccessKeyId"])


def test_account_alias_is_unique_across_accounts(server):
    iam = server.iam()
    assert iam.list_account_aliases()["AccountAliases"] == []
    iam.create_account_alias(AccountAlias="acme-prod")
    assert iam.list_account_aliases()["AccountAliases"] == ["acme-prod"]
    iam.create_account_alias(AccountAlias="acme-main")  # replaces, as in AWS
    assert iam.list_account_aliases()["AccountAliases"] == ["acme-main"]
    other = json.loads(run_iamd("account", "create", *server.store_args(), "--email", "o@example.com", "--json").stdout)
    oiam = server.iam(Creds(other["access_key_id"], other["secret_access_key"]))
    assert error_of(oiam.create_account_alias, AccountAlias="acme-main") == ("EntityAlreadyExists", "The account alias acme-main already exists.", 409)
    assert error_of(iam.create_account_alias, AccountAlias="Bad_Alias")[0] == "ValidationError"
    assert error_of(iam.create_account_alias, AccountAlias="123456789012")[0] == "InvalidInput"
    assert error_of(iam.delete_account_alias, AccountAlias="acme-prod")[0] == "NoSuchEntity"
    iam.delete_account_alias(AccountAlias="acme-main")
    oiam.create_account_alias(AccountAlias="acme-main")


def test_account_summary_counts_are_true(server):
    iam = server.iam()
    s = iam.get_account_summary()["SummaryMap"]
    for key in ("Users", "UsersQuota", "Groups", "GroupsQuota", "ServerCertificates", "ServerCertificatesQuota",
                "UserPolicySizeQuota", "GroupPolicySizeQuota", "GroupsPerUserQuota", "SigningCertificatesPerUserQuota",
                "AccessKeysPerUserQuota", "MFADevices", "MFADevicesInUse", "AccountMFAEnabled", "AccountAccessKeysPresent",
                "AccountPasswordPresent", "AccountSigningCertificatesPresent", "AttachedPoliciesPerGroupQuota",
                "AttachedPoliciesPerRoleQuota", "AttachedPoliciesPerUserQuota", "Policies", "PoliciesQuota", "PolicySizeQuota",
                "PolicyVersionsInUse", "PolicyVersionsInUseQuota", "VersionsPerPolicyQuota", "GlobalEndpointTokenVersion",
                "AssumeRolePolicySizeQuota", "InstanceProfiles", "InstanceProfilesQuota", "Providers", "RolePolicySizeQuota",
                "Roles", "RolesQuota"):
        assert key in s, key
    assert s["Users"] == 0 and s["AccountAccessKeysPresent"] == 1 and s["AccessKeysPerUserQuota"] == 2
    for n in ("a", "b", "c"):
        iam.create_user(UserName=n)
    assert iam.get_account_summary()["SummaryMap"]["Users"] == 3
    second = iam.create_access_key()["AccessKey"]
    server.iam(Creds(second["AccessKeyId"], second["SecretAccessKey"])).delete_access_key(AccessKeyId=server.account["access_key_id"])
    iam2 = server.iam(Creds(second["AccessKeyId"], second["SecretAccessKey"]))
    assert iam2.get_account_summary()["SummaryMap"]["AccountAccessKeysPresent"] == 1
    iam2.delete_access_key(AccessKeyId=second["AccessKeyId"])
    assert error_of(iam2.get_account_summary)[0] == "InvalidClientTokenId"


def test_iam_user_is_denied_until_policies_exist_but_may_ask_who_it_is(server):
    creds = server.new_user_with_key("bob")
    acct = server.account["account_id"]
    code, msg, status = error_of(server.iam(creds).create_user, UserName="mallory")
    assert (code, status) == ("AccessDenied", 403)
    assert msg == (f"User: arn:aws:iam::{acct}:user/bob is not authorized to perform: iam:CreateUser on resource: "
                   f"arn:aws:iam::{acct}:user/mallory because no identity-based policy allows the iam:CreateUser action")
    assert error_of(server.iam(creds).list_users)[0] == "AccessDenied"
    ident = server.sts(creds).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:iam::{acct}:user/bob" and ident["Account"] == acct


def test_readme_walkthrough_with_the_aws_cli(server):
    """The README's newcomer path: create a user and a key as root, then call STS as that user."""
    u = server.aws("iam", "create-user", "--user-name", "alice")["User"]
    assert u["UserName"] == "alice"
    key = server.aws("iam", "create-access-key", "--user-name", "alice")["AccessKey"]
    alice = Creds(key["AccessKeyId"], key["SecretAccessKey"])
    ident = server.aws("sts", "get-caller-identity", creds=alice)
    assert ident["Arn"] == u["Arn"] and ident["UserId"] == u["UserId"]
    users = server.aws("iam", "list-users")["Users"]
    assert [x["UserName"] for x in users] == ["alice"]
    p = server.aws("iam", "list-users", creds=alice, check=False)
    assert p.returncode != 0 and "AccessDenied" in p.stderr
    summary = server.aws("iam", "get-account-summary")["SummaryMap"]
    assert summary["Users"] == 1
