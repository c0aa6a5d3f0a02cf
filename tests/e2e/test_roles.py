"""Roles, sts:AssumeRole with MFA (also through the AWS CLI's own mfa_serial profile flow), and the
policy simulator."""

import json
import os
import subprocess
import shutil

import pytest
from botocore.exceptions import ClientError

from conftest import Creds, totp, now_step
from test_mfa import enable, new_virtual, next_code, session, error_of
from test_policies import POLICY_A

MFA_TRUST = lambda acct: {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"}, "Action": "sts:AssumeRole", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]}
ALLOW_ASSUME = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
LIST_USERS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}]}


def setup_admin_role(server):
    iam = server.iam()
    acct = server.account["account_id"]
    role = iam.create_role(RoleName="admin", AssumeRolePolicyDocument=json.dumps(MFA_TRUST(acct)), MaxSessionDuration=7200, Tags=[{"Key": "tier", "Value": "1"}])["Role"]
    iam.put_role_policy(RoleName="admin", PolicyName="list", PolicyDocument=json.dumps(LIST_USERS))
    gus = server.new_user_with_key("gus")
    iam.put_user_policy(UserName="gus", PolicyName="assume", PolicyDocument=json.dumps(ALLOW_ASSUME))
    serial, seed = new_virtual(iam, "gus-phone")
    enable(iam, "gus", serial, seed)
    return role, gus, serial, seed


def test_role_lifecycle(server):
    iam = server.iam()
    acct = server.account["account_id"]
    role, *_ = setup_admin_role(server)
    assert role["Arn"] == f"arn:aws:iam::{acct}:role/admin" and role["RoleId"].startswith("AROA")
    got = iam.get_role(RoleName="admin")["Role"]
    assert got["AssumeRolePolicyDocument"] == MFA_TRUST(acct) and got["MaxSessionDuration"] == 7200
    assert got["Tags"] == [{"Key": "tier", "Value": "1"}]
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["admin"]
    assert error_of(iam.create_role, RoleName="ADMIN", AssumeRolePolicyDocument=json.dumps(MFA_TRUST(acct)))[0] == "EntityAlreadyExists"
    bad = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
    assert error_of(iam.create_role, RoleName="x", AssumeRolePolicyDocument=json.dumps(bad))[0] == "MalformedPolicyDocument"
    assert iam.list_role_policies(RoleName="admin")["PolicyNames"] == ["list"]
    iam.attach_role_policy(RoleName="admin", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    assert error_of(iam.delete_role, RoleName="admin")[0] == "DeleteConflict"
    iam.delete_role_policy(RoleName="admin", PolicyName="list")
    iam.detach_role_policy(RoleName="admin", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    iam.delete_role(RoleName="admin")
    assert error_of(iam.get_role, RoleName="admin")[0] == "NoSuchEntity"


def test_assume_role_requires_mfa_and_gives_role_credentials(server):
    acct = server.account["account_id"]
    role, gus, serial, seed = setup_admin_role(server)
    sts = server.sts(gus)
    code, msg, status = error_of(sts.assume_role, RoleArn=role["Arn"], RoleSessionName="s1")
    assert (code, status) == ("AccessDenied", 403) and "sts:AssumeRole" in msg
    code = next_code(seed)
    r = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="ops", SerialNumber=serial, TokenCode=code)
    assert r["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{acct}:assumed-role/admin/ops"
    assert r["AssumedRoleUser"]["AssumedRoleId"] == role["RoleId"] + ":ops"
    c = r["Credentials"]
    rc = Creds(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    ident = server.sts(rc).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:sts::{acct}:assumed-role/admin/ops" and ident["UserId"] == role["RoleId"] + ":ops"
    assert server.iam(rc).list_users()["Users"]
    assert error_of(server.iam(rc).create_user, UserName="nope")[0] == "AccessDenied"
    # the same code again is a replay
    assert error_of(sts.assume_role, RoleArn=role["Arn"], RoleSessionName="again", SerialNumber=serial, TokenCode=code)[1] == "MultiFactorAuthentication failed with invalid MFA one time pass code."
    # MFA carried through from an MFA session (opened with gus's second device), no new code needed
    serial2, seed2 = new_virtual(server.iam(), "gus-tablet")
    enable(server.iam(), "gus", serial2, seed2)
    mfa_sess, _ = session(server, gus, serial2, next_code(seed2))
    server.sts(mfa_sess).assume_role(RoleArn=role["Arn"], RoleSessionName="carried")
    # longer than the role allows
    assert error_of(server.sts(mfa_sess).assume_role, RoleArn=role["Arn"], RoleSessionName="long", DurationSeconds=7201)[0] == "ValidationError"
    # a trust policy that names the account still needs an identity-policy Allow
    server.iam().delete_user_policy(UserName="gus", PolicyName="assume")
    assert error_of(server.sts(mfa_sess).assume_role, RoleArn=role["Arn"], RoleSessionName="noallow")[0] == "AccessDenied"
    # … unless it names the user directly
    direct = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:user/gus"}, "Action": "sts:AssumeRole"}]}
    server.iam().update_assume_role_policy(RoleName="admin", PolicyDocument=json.dumps(direct))
    server.sts(gus).assume_role(RoleArn=role["Arn"], RoleSessionName="direct")
    # a deleted role's sessions stop at once
    server.iam().delete_role_policy(RoleName="admin", PolicyName="list")
    server.iam().delete_role(RoleName="admin")
    assert error_of(server.sts(rc).get_caller_identity)[0] == "InvalidClientTokenId"


def test_aws_cli_profile_with_mfa_serial_assumes_the_role(server, tmpdir_path):
    role, gus, serial, seed = setup_admin_role(server)
    cfg = os.path.join(tmpdir_path, "config")
    creds = os.path.join(tmpdir_path, "credentials")
    with open(cfg, "w") as f:
        f.write(f"[default]\nregion = us-east-1\n\n[profile admin]\nrole_arn = {role['Arn']}\nsource_profile = default\nmfa_serial = {serial}\nregion = us-east-1\n")
    with open(creds, "w") as f:
        f.write(f"[default]\naws_access_key_id = {gus.access_key_id}\naws_secret_access_key = {gus.secret_access_key}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=cfg, AWS_SHARED_CREDENTIALS_FILE=creds, AWS_ENDPOINT_URL=server.endpoint)
    p = subprocess.run([shutil.which("aws"), "sts", "get-caller-identity", "--profile", "admin", "--output", "json"],
                       input=next_code(seed) + "\n", capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "Enter MFA code" in p.stderr or "Enter MFA code" in p.stdout
    out = json.loads(p.stdout[p.stdout.index("{"):])
    assert out["Arn"].startswith(f"arn:aws:sts::{server.account['account_id']}:assumed-role/admin/")


def test_simulator_uses_the_same_engine(server):
    iam = server.iam()
    iam.create_user(UserName="bob")
    iam.put_user_policy(UserName="bob", PolicyName="self-mfa", PolicyDocument=json.dumps(POLICY_A))
    arn = iam.get_user(UserName="bob")["User"]["Arn"]
    acct = server.account["account_id"]
    res = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["iam:DeactivateMFADevice", "iam:ListUsers"],
                                        ResourceArns=[f"arn:aws:iam::{acct}:user/bob"])["EvaluationResults"]
    got = {r["EvalActionName"]: r["EvalDecision"] for r in res}
    assert got == {"iam:DeactivateMFADevice": "explicitDeny", "iam:ListUsers": "allowed"}
    deny = next(r for r in res if r["EvalActionName"] == "iam:DeactivateMFADevice")
    assert deny["MatchedStatements"][0]["SourcePolicyId"] == "self-mfa"
    res = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["iam:DeactivateMFADevice"], ResourceArns=[f"arn:aws:iam::{acct}:user/bob"],
                                        ContextEntries=[{"ContextKeyName": "aws:MultiFactorAuthPresent", "ContextKeyValues": ["true"], "ContextKeyType": "boolean"}])["EvaluationResults"]
    assert res[0]["EvalDecision"] == "allowed"
    res = iam.simulate_custom_policy(PolicyInputList=[json.dumps(LIST_USERS)], ActionNames=["iam:ListUsers", "iam:CreateUser"])["EvaluationResults"]
    assert [r["EvalDecision"] for r in res] == ["allowed", "implicitDeny"]
