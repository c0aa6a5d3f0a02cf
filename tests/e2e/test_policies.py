"""Policies that see MFA: AWS's self-manage-MFA policies give exactly the spec's allow/deny matrix,
with long-term keys, sessions without MFA and MFA sessions; managed policies, versions, groups."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import Creds, totp, now_step, b32decode
from test_mfa import enable, new_virtual, next_code, session, error_of

POLICY_A = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "AllowListActions", "Effect": "Allow", "Action": ["iam:ListUsers", "iam:ListVirtualMFADevices"], "Resource": "*"},
        {"Sid": "AllowUserToCreateVirtualMFADevice", "Effect": "Allow", "Action": ["iam:CreateVirtualMFADevice"], "Resource": "arn:aws:iam::*:mfa/*"},
        {"Sid": "AllowUserToManageTheirOwnMFA", "Effect": "Allow", "Action": ["iam:EnableMFADevice", "iam:GetMFADevice", "iam:ListMFADevices", "iam:ResyncMFADevice"], "Resource": "arn:aws:iam::*:user/${aws:username}"},
        {"Sid": "AllowUserToDeactivateTheirOwnMFAOnlyWhenUsingMFA", "Effect": "Allow", "Action": ["iam:DeactivateMFADevice"], "Resource": ["arn:aws:iam::*:user/${aws:username}"], "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}},
        {"Sid": "BlockMostAccessUnlessSignedInWithMFA", "Effect": "Deny", "NotAction": ["iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:ListMFADevices", "iam:ListUsers", "iam:ListVirtualMFADevices", "iam:ResyncMFADevice"], "Resource": "*", "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}},
    ],
}

POLICY_B = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "AllowViewAccountInfo", "Effect": "Allow", "Action": "iam:ListVirtualMFADevices", "Resource": "*"},
        {"Sid": "AllowManageOwnVirtualMFADevice", "Effect": "Allow", "Action": ["iam:CreateVirtualMFADevice"], "Resource": "arn:aws:iam::*:mfa/*"},
        {"Sid": "AllowManageOwnUserMFA", "Effect": "Allow", "Action": ["iam:DeactivateMFADevice", "iam:EnableMFADevice", "iam:GetUser", "iam:GetMFADevice", "iam:ListMFADevices", "iam:ResyncMFADevice"], "Resource": "arn:aws:iam::*:user/${aws:username}"},
        {"Sid": "DenyAllExceptListedIfNoMFA", "Effect": "Deny", "NotAction": ["iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:GetUser", "iam:ListMFADevices", "iam:ListVirtualMFADevices", "iam:ResyncMFADevice", "sts:GetSessionToken"], "Resource": "*", "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}},
    ],
}


def outcome(fn, **kw):
    """'allowed' when authorization passed (whatever the operation then said), else the denial kind."""
    try:
        fn(**kw)
        return "allowed"
    except ClientError as e:
        code, msg = e.response["Error"]["Code"], e.response["Error"]["Message"]
        if code == "AccessDenied":
            return "explicit" if "explicit deny" in msg else "implicit"
        if code == "InvalidClientTokenId":
            return "invalid-token"
        return "allowed"  # NoSuchEntity, InvalidAuthenticationCode, …: authorized, then refused


def attach_a(server, how, doc=POLICY_A):
    iam = server.iam()
    if how == "inline":
        iam.put_user_policy(UserName="bob", PolicyName="self-mfa", PolicyDocument=json.dumps(doc))
    elif how == "managed":
        arn = iam.create_policy(PolicyName="SelfManageMFA", PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
        iam.attach_user_policy(UserName="bob", PolicyArn=arn)
    else:
        iam.create_group(GroupName="mfa-users")
        iam.put_group_policy(GroupName="mfa-users", PolicyName="self-mfa", PolicyDocument=json.dumps(doc))
        iam.add_user_to_group(GroupName="mfa-users", UserName="bob")


@pytest.mark.parametrize("how", ["inline", "managed", "group"])
def test_policy_a_matrix_with_keys_sessions_and_mfa(server, how):
    iam = server.iam()
    iam.create_user(UserName="alice")
    bob = server.new_user_with_key("bob")
    attach_a(server, how)
    acct = server.account["account_id"]
    serial, seed = new_virtual(iam, "bob-phone")
    enable(iam, "bob", serial, seed)

    def matrix(creds):
        b = server.iam(creds)
        return {
            "CreateVirtualMFADevice": outcome(b.create_virtual_mfa_device, VirtualMFADeviceName="bob-" + creds.access_key_id[-6:]),
            "EnableMFADevice(bob)": outcome(b.enable_mfa_device, UserName="bob", SerialNumber="arn:aws:iam::%s:mfa/none" % acct, AuthenticationCode1="111111", AuthenticationCode2="222222"),
            "ResyncMFADevice(bob)": outcome(b.resync_mfa_device, UserName="bob", SerialNumber=serial, AuthenticationCode1="111111", AuthenticationCode2="222222"),
            "ListMFADevices(bob)": outcome(b.list_mfa_devices, UserName="bob"),
            "ListUsers": outcome(b.list_users),
            "ListVirtualMFADevices": outcome(b.list_virtual_mfa_devices),
            "EnableMFADevice(alice)": outcome(b.enable_mfa_device, UserName="alice", SerialNumber="arn:aws:iam::%s:mfa/none" % acct, AuthenticationCode1="111111", AuthenticationCode2="222222"),
            "DeactivateMFADevice(bob)": outcome(b.deactivate_mfa_device, UserName="bob", SerialNumber="arn:aws:iam::%s:mfa/none" % acct),
            "GetMFADevice(bob)": outcome(b.get_mfa_device, UserName="bob", SerialNumber="arn:aws:iam::%s:u2f/user/bob/none" % acct),
            "CreateUser": outcome(b.create_user, UserName="mallory"),
            "GetCallerIdentity": outcome(server.sts(creds).get_caller_identity),
        }

    long_term = matrix(bob)
    assert long_term == {
        "CreateVirtualMFADevice": "allowed", "EnableMFADevice(bob)": "allowed", "ResyncMFADevice(bob)": "allowed",
        "ListMFADevices(bob)": "allowed", "ListUsers": "allowed", "ListVirtualMFADevices": "allowed",
        "EnableMFADevice(alice)": "implicit", "DeactivateMFADevice(bob)": "explicit", "GetMFADevice(bob)": "explicit",
        "CreateUser": "explicit", "GetCallerIdentity": "allowed",
    }
    # GetSessionToken is never policy-checked
    plain, _ = session(server, bob)
    without_mfa = matrix(plain)
    assert {k: v for k, v in without_mfa.items() if k != "GetCallerIdentity"} == {k: "invalid-token" for k in without_mfa if k != "GetCallerIdentity"}
    assert without_mfa["GetCallerIdentity"] == "allowed"
    mfa, _ = session(server, bob, serial, next_code(seed))
    with_mfa = matrix(mfa)
    assert with_mfa["DeactivateMFADevice(bob)"] == "allowed"
    assert with_mfa["GetMFADevice(bob)"] == "allowed"
    assert with_mfa["CreateUser"] == "implicit"
    assert with_mfa["EnableMFADevice(alice)"] == "implicit"
    assert with_mfa["ListUsers"] == "allowed"
    # and the real thing: with MFA, bob deactivates his own device
    server.iam(mfa).deactivate_mfa_device(UserName="bob", SerialNumber=serial)


def test_policy_b_lets_a_user_without_mfa_add_a_first_device_only(server):
    iam = server.iam()
    bob = server.new_user_with_key("bob")
    attach_a(server, "inline", POLICY_B)
    b = server.iam(bob)
    d = b.create_virtual_mfa_device(VirtualMFADeviceName="bob-first")["VirtualMFADevice"]
    seed = b32decode(d["Base32StringSeed"].decode())
    n = now_step()
    b.enable_mfa_device(UserName="bob", SerialNumber=d["SerialNumber"], AuthenticationCode1=totp(seed, n - 1), AuthenticationCode2=totp(seed, n))
    assert b.get_user()["User"]["UserName"] == "bob"
    assert outcome(b.deactivate_mfa_device, UserName="bob", SerialNumber=d["SerialNumber"]) == "explicit"
    assert outcome(b.list_users) == "explicit"
    mfa, _ = session(server, bob, d["SerialNumber"], next_code(seed))
    server.iam(mfa).deactivate_mfa_device(UserName="bob", SerialNumber=d["SerialNumber"])


def test_managed_policies_versions_and_aws_policies(server):
    iam = server.iam()
    carl = server.new_user_with_key("carl")
    c = server.iam(carl)
    assert outcome(c.list_users) == "implicit"
    ro = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"
    assert iam.get_policy(PolicyArn=ro)["Policy"]["PolicyName"] == "IAMReadOnlyAccess"
    iam.attach_user_policy(UserName="carl", PolicyArn=ro)
    assert [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName="carl")["AttachedPolicies"]] == [ro]
    assert outcome(c.list_users) == "allowed"
    assert outcome(c.create_user, UserName="x") == "implicit"
    iam.detach_user_policy(UserName="carl", PolicyArn=ro)
    assert outcome(c.list_users) == "implicit", "a detached policy stops applying at once"

    doc1 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}]}
    doc2 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListGroups", "Resource": "*"}]}
    p = iam.create_policy(PolicyName="Lister", Path="/team/", PolicyDocument=json.dumps(doc1), Description="lists")["Policy"]
    assert p["Arn"] == f"arn:aws:iam::{server.account['account_id']}:policy/team/Lister" and p["DefaultVersionId"] == "v1"
    assert error_of(iam.create_policy, PolicyName="Lister", Path="/team/", PolicyDocument=json.dumps(doc1))[0] == "EntityAlreadyExists"
    iam.attach_user_policy(UserName="carl", PolicyArn=p["Arn"])
    assert outcome(c.list_users) == "allowed" and outcome(c.list_groups) == "implicit"
    v2 = iam.create_policy_version(PolicyArn=p["Arn"], PolicyDocument=json.dumps(doc2), SetAsDefault=True)["PolicyVersion"]
    assert v2["VersionId"] == "v2" and v2["IsDefaultVersion"] is True
    assert outcome(c.list_users) == "implicit" and outcome(c.list_groups) == "allowed"
    got = iam.get_policy_version(PolicyArn=p["Arn"], VersionId="v2")["PolicyVersion"]
    assert got["Document"] == doc2  # botocore url-decodes and parses it
    for _ in range(3):
        iam.create_policy_version(PolicyArn=p["Arn"], PolicyDocument=json.dumps(doc1))
    assert error_of(iam.create_policy_version, PolicyArn=p["Arn"], PolicyDocument=json.dumps(doc1))[0] == "LimitExceeded"
    assert error_of(iam.delete_policy_version, PolicyArn=p["Arn"], VersionId="v2")[0] == "DeleteConflict"
    iam.set_default_policy_version(PolicyArn=p["Arn"], VersionId="v1")
    assert outcome(c.list_users) == "allowed"
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=p["Arn"])["Versions"] if v["IsDefaultVersion"]] == ["v1"]
    ents = iam.list_entities_for_policy(PolicyArn=p["Arn"])
    assert [u["UserName"] for u in ents["PolicyUsers"]] == ["carl"]
    assert error_of(iam.delete_policy, PolicyArn=p["Arn"]) == ("DeleteConflict", "Cannot delete a policy attached to entities.", 409)
    iam.detach_user_policy(UserName="carl", PolicyArn=p["Arn"])
    assert error_of(iam.delete_policy, PolicyArn=p["Arn"])[0] == "DeleteConflict"  # versions remain
    for v in ("v2", "v3", "v4", "v5"):
        iam.delete_policy_version(PolicyArn=p["Arn"], VersionId=v)
    iam.delete_policy(PolicyArn=p["Arn"])
    local = [x["PolicyName"] for x in iam.list_policies(Scope="Local")["Policies"]]
    assert local == []
    aws = [x["PolicyName"] for x in iam.list_policies(Scope="AWS")["Policies"]]
    assert {"AdministratorAccess", "IAMFullAccess", "IAMReadOnlyAccess", "IAMUserChangePassword"} <= set(aws)


def test_groups_apply_to_members_and_deletion_conflicts(server):
    iam = server.iam()
    dee = server.new_user_with_key("dee")
    iam.create_group(GroupName="admins", Path="/ops/")
    assert error_of(iam.create_group, GroupName="ADMINS")[0] == "EntityAlreadyExists"
    iam.attach_group_policy(GroupName="admins", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    assert outcome(server.iam(dee).create_user, UserName="made-by-dee") == "implicit"
    iam.add_user_to_group(GroupName="admins", UserName="dee")
    server.iam(dee).create_user(UserName="made-by-dee")
    g = iam.get_group(GroupName="admins")
    assert [u["UserName"] for u in g["Users"]] == ["dee"] and g["Group"]["Path"] == "/ops/"
    assert [x["GroupName"] for x in iam.list_groups_for_user(UserName="dee")["Groups"]] == ["admins"]
    assert error_of(iam.delete_group, GroupName="admins") == ("DeleteConflict", "Cannot delete entity, must remove users from group first.", 409)
    iam.delete_access_key(UserName="dee", AccessKeyId=dee.access_key_id)
    assert error_of(iam.delete_user, UserName="dee")[:2] == ("DeleteConflict", "Cannot delete entity, must remove user from all groups first.")
    iam.remove_user_from_group(GroupName="admins", UserName="dee")
    assert error_of(iam.delete_group, GroupName="admins")[1] == "Cannot delete entity, must detach all policies first."
    iam.detach_group_policy(GroupName="admins", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.put_group_policy(GroupName="admins", PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    assert iam.list_group_policies(GroupName="admins")["PolicyNames"] == ["p"]
    assert error_of(iam.delete_group, GroupName="admins")[1] == "Cannot delete entity, must delete policies first."
    iam.delete_group_policy(GroupName="admins", PolicyName="p")
    iam.delete_group(GroupName="admins")
    iam.delete_user(UserName="dee")


def test_inline_policies_validation_quota_and_conflicts(server):
    iam = server.iam()
    iam.create_user(UserName="eli")
    code, msg, status = error_of(iam.put_user_policy, UserName="eli", PolicyName="bad", PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*"}]}')
    assert (code, status) == ("MalformedPolicyDocument", 400) and msg == "Policy statement must contain resources."
    assert error_of(iam.put_user_policy, UserName="eli", PolicyName="bad", PolicyDocument="{not json")[0] == "MalformedPolicyDocument"
    big = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [f"iam:Get{i:04d}" for i in range(200)], "Resource": "*"}]}
    assert error_of(iam.put_user_policy, UserName="eli", PolicyName="big", PolicyDocument=json.dumps(big))[0] == "LimitExceeded"
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}]}
    iam.put_user_policy(UserName="eli", PolicyName="ok", PolicyDocument=json.dumps(doc))
    got = iam.get_user_policy(UserName="eli", PolicyName="ok")
    assert got["PolicyDocument"] == doc
    assert iam.list_user_policies(UserName="eli")["PolicyNames"] == ["ok"]
    assert error_of(iam.delete_user, UserName="eli") == ("DeleteConflict", "Cannot delete entity, must delete policies first.", 409)
    iam.delete_user_policy(UserName="eli", PolicyName="ok")
    assert error_of(iam.get_user_policy, UserName="eli", PolicyName="ok")[0] == "NoSuchEntity"
    iam.delete_user(UserName="eli")


def test_conditions_see_source_ip_and_mfa_age(server):
    iam = server.iam()
    fin = server.new_user_with_key("fin")
    serial, seed = new_virtual(iam, "fin-phone")
    enable(iam, "fin", serial, seed)
    doc = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*", "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}},
        {"Effect": "Allow", "Action": "iam:ListGroups", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}},
        {"Effect": "Deny", "Action": "iam:ListPolicies", "Resource": "*", "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
    ]}
    iam.put_user_policy(UserName="fin", PolicyName="cond", PolicyDocument=json.dumps(doc))
    f = server.iam(fin)
    assert outcome(f.list_users) == "implicit"  # long-term keys carry no MFA age
    assert outcome(f.list_groups) == "allowed"
    assert outcome(f.list_policies) == "explicit"
    mfa, _ = session(server, fin, serial, next_code(seed))
    assert outcome(server.iam(mfa).list_users) == "allowed"


def test_principal_tags_feed_conditions_and_changes_apply_at_once(server):
    iam = server.iam()
    gil = server.new_user_with_key("gil")
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}}}]}
    iam.put_user_policy(UserName="gil", PolicyName="by-tag", PolicyDocument=json.dumps(doc))
    g = server.iam(gil)
    assert outcome(g.list_users) == "implicit"
    iam.tag_user(UserName="gil", Tags=[{"Key": "team", "Value": "blue"}])
    assert outcome(g.list_users) == "allowed"
    iam.untag_user(UserName="gil", TagKeys=["team"])
    assert outcome(g.list_users) == "implicit"


def test_resources_of_other_users_carry_their_path(server):
    iam = server.iam()
    iam.create_user(UserName="ana", Path="/eng/")
    iam.create_user(UserName="ben")
    hal = server.new_user_with_key("hal")
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "arn:aws:iam::*:user/eng/*"}]}
    iam.put_user_policy(UserName="hal", PolicyName="eng", PolicyDocument=json.dumps(doc))
    h = server.iam(hal)
    assert h.get_user(UserName="ana")["User"]["Path"] == "/eng/"
    code, msg, _ = error_of(h.get_user, UserName="ben")
    assert code == "AccessDenied" and msg.endswith(":user/ben because no identity-based policy allows the iam:GetUser action")
    role_doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{server.account['account_id']}:root"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="reader", AssumeRolePolicyDocument=json.dumps(role_doc))
    iam.attach_role_policy(RoleName="reader", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    ents = iam.list_entities_for_policy(PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    assert [r["RoleName"] for r in ents["PolicyRoles"]] == ["reader"]
