"""Each finding of the authorization review (issue 11), reproduced as the attacker tried it — boto3 and
raw HTTP against the real binary — and now refused."""

import json
import re

from conftest import ConsoleClient, Creds, run_iamd, totp, now_step, b32decode
from test_mfa import enable, new_virtual, error_of

ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}
PASSWORD = "Findings-Pass-1!"


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def role_session(server, acct, name, policy, path="/"):
    """A role with `policy`, assumed by a user the trust policy names; returns its credentials."""
    iam = server.iam()
    who = server.new_user_with_key(f"{name}-assumer")
    trust = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:user/{name}-assumer"}, "Action": "sts:AssumeRole"})
    role = iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=trust)["Role"]
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=doc(policy))
    c = server.sts(who).assume_role(RoleArn=role["Arn"], RoleSessionName="ss")["Credentials"]
    return Creds(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


def user_with(server, name, *statements, path="/"):
    iam = server.iam()
    iam.create_user(UserName=name, Path=path)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=doc(*statements))
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return Creds(k["AccessKeyId"], k["SecretAccessKey"])


NON_USER = ("ValidationError", "Must specify userName when calling with non-User credentials", 400)


def test_1_a_role_session_never_reaches_root(server):
    acct = server.account["account_id"]
    root_iam = server.iam()
    root_keys = root_iam.list_access_keys()["AccessKeyMetadata"]
    out = json.loads(run_iamd("mfa", "create-virtual", *server.store_args(), "--account", acct, "--name", "root-phone", "--json").stdout)
    seed = b32decode(out["seed_base32"])
    n = now_step()
    run_iamd("mfa", "enable-root", *server.store_args(), "--account", acct, "--serial", out["serial"], "--code1", totp(seed, n - 1), "--code2", totp(seed, n))
    creds = role_session(server, acct, "keymaker", {"Effect": "Allow", "Action": "iam:*", "Resource": "*"})
    iam = server.iam(creds)
    assert error_of(iam.create_access_key) == NON_USER
    assert error_of(iam.list_access_keys) == NON_USER
    assert error_of(iam.update_access_key, AccessKeyId=root_keys[0]["AccessKeyId"], Status="Inactive") == NON_USER
    assert error_of(iam.delete_access_key, AccessKeyId=root_keys[0]["AccessKeyId"]) == NON_USER
    assert error_of(iam.list_mfa_devices) == NON_USER
    assert error_of(iam.deactivate_mfa_device, SerialNumber=out["serial"]) == NON_USER
    assert error_of(iam.get_user) == NON_USER
    assert error_of(iam.get_access_key_last_used, AccessKeyId=root_keys[0]["AccessKeyId"])[0] == "AccessDenied"
    # The AWS CLI, as the attacker ran it.
    p = server.aws("iam", "create-access-key", creds=creds, check=False)
    assert p.returncode != 0 and "non-User credentials" in p.stderr
    # Nothing changed: root has exactly its key and its device, and no key anywhere answers as root.
    assert root_iam.list_access_keys()["AccessKeyMetadata"] == root_keys
    assert [d["SerialNumber"] for d in root_iam.list_mfa_devices()["MFADevices"]] == [out["serial"]]
    assert root_iam.get_account_summary()["SummaryMap"]["AccountAccessKeysPresent"] == 1
    # Account-wide listings still show root's device to an administrator, as AWS does.
    listed = iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]
    assert [d["User"]["Arn"] for d in listed if d["SerialNumber"] == out["serial"]] == [f"arn:aws:iam::{acct}:root"]


def test_1_an_iam_user_without_user_name_acts_on_itself(server):
    acct = server.account["account_id"]
    creds = user_with(server, "self", ALLOW_ALL, path="/staff/")
    iam = server.iam(creds)
    assert iam.get_user()["User"]["Arn"] == f"arn:aws:iam::{acct}:user/staff/self"
    k = iam.create_access_key()["AccessKey"]
    assert k["UserName"] == "self"
    who = server.sts(Creds(k["AccessKeyId"], k["SecretAccessKey"])).get_caller_identity()
    assert who["Arn"] == f"arn:aws:iam::{acct}:user/staff/self"
    root_key = server.iam().list_access_keys()["AccessKeyMetadata"][0]["AccessKeyId"]
    assert error_of(iam.update_access_key, AccessKeyId=root_key, Status="Inactive")[0] == "NoSuchEntity"


def test_2_a_deny_holds_however_the_name_is_spelled(server):
    root = server.iam()
    root.create_group(GroupName="Admins")
    creds = user_with(server, "mallory", ALLOW_ALL, {"Effect": "Deny", "Action": "iam:AddUserToGroup", "Resource": "arn:aws:iam::*:group/Admins"})
    iam = server.iam(creds)
    for spelling in ("Admins", "admins", "ADMINS", "aDmInS"):
        code, msg, status = error_of(iam.add_user_to_group, GroupName=spelling, UserName="mallory")
        assert (code, status) == ("AccessDenied", 403) and "explicit deny" in msg and "group/Admins" in msg, (spelling, msg)
    assert root.list_groups_for_user(UserName="mallory")["Groups"] == []


def test_2_groups_and_roles_are_authorized_with_their_path(server):
    acct = server.account["account_id"]
    root = server.iam()
    trust = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"}, "Action": "sts:AssumeRole"})
    root.create_role(RoleName="break", Path="/ops/", AssumeRolePolicyDocument=trust)
    root.create_group(GroupName="oncall", Path="/ops/")
    creds = user_with(server, "eve", ALLOW_ALL, {"Effect": "Deny", "Action": "iam:*", "Resource": ["arn:aws:iam::*:role/ops/*", "arn:aws:iam::*:group/ops/*"]})
    iam = server.iam(creds)
    for call, kw in ((iam.get_role, {"RoleName": "break"}), (iam.delete_role, {"RoleName": "BREAK"}), (iam.put_role_policy, {"RoleName": "Break", "PolicyName": "x", "PolicyDocument": doc(ALLOW_ALL)}),
                     (iam.get_group, {"GroupName": "oncall"}), (iam.delete_group, {"GroupName": "OnCall"})):
        code, msg, _ = error_of(call, **kw)
        assert code == "AccessDenied" and "explicit deny" in msg, (kw, msg)
    assert root.get_role(RoleName="break")["Role"]["Path"] == "/ops/"
    # A user at path / is authorized under its stored name, not the caller's case.
    root.create_user(UserName="Karl")
    creds = user_with(server, "eve2", ALLOW_ALL, {"Effect": "Deny", "Action": "iam:*", "Resource": "arn:aws:iam::*:user/Karl"})
    code, msg, _ = error_of(server.iam(creds).create_login_profile, UserName="karl", Password=PASSWORD)
    assert code == "AccessDenied" and "user/Karl" in msg
    # And an Allow on a lower-case pattern does not reach the stored upper-case user.
    root.create_user(UserName="SVC-x")
    creds = user_with(server, "eve3", {"Effect": "Allow", "Action": "iam:TagUser", "Resource": "arn:aws:iam::*:user/svc-*"})
    assert error_of(server.iam(creds).tag_user, UserName="svc-x", Tags=[{"Key": "a", "Value": "b"}])[0] == "AccessDenied"


def test_2_the_simulator_resolves_the_whole_arn(server):
    acct = server.account["account_id"]
    root = server.iam()
    root.create_user(UserName="sim", Path="/team/")
    root.put_user_policy(UserName="sim", PolicyName="p", PolicyDocument=doc({"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}))
    ok = root.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{acct}:user/team/sim", ActionNames=["iam:GetUser"])
    assert ok["EvaluationResults"][0]["EvalDecision"] == "allowed"
    for wrong in (f"arn:aws:iam::{acct}:user/sim", f"arn:aws:iam::{acct}:user/other/sim", f"arn:aws:iam::{acct}:group/team/sim"):
        assert error_of(root.simulate_principal_policy, PolicySourceArn=wrong, ActionNames=["iam:GetUser"])[0] == "NoSuchEntity", wrong
    # A Deny on the canonical ARN refuses the simulation of that principal, spelled any way.
    creds = user_with(server, "auditor", ALLOW_ALL, {"Effect": "Deny", "Action": "iam:SimulatePrincipalPolicy", "Resource": f"arn:aws:iam::{acct}:user/team/sim"})
    code, msg, _ = error_of(server.iam(creds).simulate_principal_policy, PolicySourceArn=f"arn:aws:iam::{acct}:user/team/SIM", ActionNames=["iam:GetUser"])
    assert code == "AccessDenied" and "explicit deny" in msg


def test_3_assume_role_obeys_an_explicit_deny(server):
    acct = server.account["account_id"]
    root = server.iam()
    creds = user_with(server, "denied", {"Effect": "Deny", "Action": "*", "Resource": "*"})
    trust = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:user/denied"}, "Action": "sts:AssumeRole"})
    role = root.create_role(RoleName="named", AssumeRolePolicyDocument=trust)["Role"]
    code, msg, status = error_of(server.sts(creds).assume_role, RoleArn=role["Arn"], RoleSessionName="xx")
    assert (code, status) == ("AccessDenied", 403) and "explicit deny" in msg
    # Without the Deny, naming the user in the trust policy is enough (no identity Allow needed).
    root.delete_user_policy(UserName="denied", PolicyName="p")
    assert server.sts(creds).assume_role(RoleArn=role["Arn"], RoleSessionName="xx")["AssumedRoleUser"]["Arn"].endswith(":assumed-role/named/xx")


def test_4_last_used_update_user_and_change_password(server):
    root = server.iam()
    # GetAccessKeyLastUsed is authorized on the key's owner: a self-service user cannot map other keys.
    victim = server.new_user_with_key("victim")
    selfish = user_with(server, "selfish", {"Effect": "Allow", "Action": "iam:GetAccessKeyLastUsed", "Resource": "arn:aws:iam::*:user/${aws:username}"})
    mine = root.list_access_keys(UserName="selfish")["AccessKeyMetadata"][0]["AccessKeyId"]
    assert server.iam(selfish).get_access_key_last_used(AccessKeyId=mine)["UserName"] == "selfish"
    code, msg, _ = error_of(server.iam(selfish).get_access_key_last_used, AccessKeyId=victim.access_key_id)
    assert code == "AccessDenied" and "user/victim" in msg and "victim" not in msg.split("resource:")[0]
    # UpdateUser needs permission on the new name and path too.
    root.create_user(UserName="dev-x")
    admin = user_with(server, "devadmin", {"Effect": "Allow", "Action": "iam:UpdateUser", "Resource": "arn:aws:iam::*:user/dev-*"})
    assert error_of(server.iam(admin).update_user, UserName="dev-x", NewUserName="ops-x")[0] == "AccessDenied"
    assert error_of(server.iam(admin).update_user, UserName="dev-x", NewPath="/moved/")[0] == "AccessDenied"
    server.iam(admin).update_user(UserName="dev-x", NewUserName="dev-y")
    assert root.get_user(UserName="dev-y")["User"]["Path"] == "/"
    # AllowUsersToChangePassword stands in for an Allow, never against a Deny.
    root.update_account_password_policy(MinimumPasswordLength=8, AllowUsersToChangePassword=True)
    pw = user_with(server, "pw", {"Effect": "Deny", "Action": "iam:ChangePassword", "Resource": "*"})
    root.create_login_profile(UserName="pw", Password=PASSWORD)
    # (Long-term keys: ChangePassword from the user's own access key.)
    code, msg, _ = error_of(server.iam(pw).change_password, OldPassword=PASSWORD, NewPassword=PASSWORD + "x")
    assert code == "AccessDenied" and "explicit deny" in msg
    free = user_with(server, "pw2", {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"})
    root.create_login_profile(UserName="pw2", Password=PASSWORD)
    server.iam(free).change_password(OldPassword=PASSWORD, NewPassword=PASSWORD + "x")


SELF_MFA = {"Effect": "Allow", "Action": ["iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:ListMFADevices", "iam:DeactivateMFADevice"],
            "Resource": ["arn:aws:iam::*:mfa/*", "arn:aws:iam::*:user/${aws:username}"]}


def test_5_a_stale_enrolment_never_reaches_another_users_device(server):
    acct = server.account["account_id"]
    root = server.iam()
    for name in ("attacker", "victim"):
        root.create_user(UserName=name)
        root.create_login_profile(UserName=name, Password=PASSWORD)
        root.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=doc(SELF_MFA))
    c = ConsoleClient(server)
    c.sign_in(acct, "attacker", PASSWORD)
    status, body, _ = c.post("/console/security/mfa/new", name="shared-name", type="app")
    assert status == 200 and "Set up your authenticator app" in body
    serial = f"arn:aws:iam::{acct}:mfa/shared-name"
    # The attacker walks away; the name is freed and a device is made under it for the victim.
    root.delete_virtual_mfa_device(SerialNumber=serial)
    vserial, vseed = new_virtual(root, "shared-name")
    assert vserial == serial
    enable(root, "victim", serial, vseed)
    # Re-posting the old form: junk codes show no seed, the victim's codes assign nothing.
    status, body, _ = c.post("/console/security/mfa/app", name="shared-name", code1="000000", code2="111111")
    assert "secret-key" not in body and totp(vseed, now_step()) not in body
    import base64
    assert base64.b32encode(vseed).decode().rstrip("=") not in body
    n = now_step()
    status, body, _ = c.post("/console/security/mfa/app", name="shared-name", code1=totp(vseed, n), code2=totp(vseed, n + 1))
    assert [d["SerialNumber"] for d in root.list_mfa_devices(UserName="victim")["MFADevices"]] == [serial]
    assert root.list_mfa_devices(UserName="attacker")["MFADevices"] == []


def test_5_an_enrolment_is_bound_to_its_own_device_even_unassigned(server):
    acct = server.account["account_id"]
    root = server.iam()
    root.create_user(UserName="slow")
    root.create_login_profile(UserName="slow", Password=PASSWORD)
    root.put_user_policy(UserName="slow", PolicyName="p", PolicyDocument=doc(SELF_MFA))
    c = ConsoleClient(server)
    c.sign_in(acct, "slow", PASSWORD)
    c.post("/console/security/mfa/new", name="slow-phone", type="app")
    serial = f"arn:aws:iam::{acct}:mfa/slow-phone"
    root.delete_virtual_mfa_device(SerialNumber=serial)
    _, newseed = new_virtual(root, "slow-phone")  # unassigned, someone else's enrolment
    status, body, _ = c.post("/console/security/mfa/app", name="slow-phone", code1="000000", code2="111111")
    import base64
    assert base64.b32encode(newseed).decode().rstrip("=") not in body
    n = now_step()
    c.post("/console/security/mfa/app", name="slow-phone", code1=totp(newseed, n - 1), code2=totp(newseed, n))
    assert root.list_mfa_devices(UserName="slow")["MFADevices"] == []


def test_6_console_user_pages_authorize_what_they_show(server):
    acct = server.account["account_id"]
    root = server.iam()
    root.create_user(UserName="nobody")
    root.create_login_profile(UserName="nobody", Password=PASSWORD)
    root.create_user(UserName="target", Path="/secret/")
    c = ConsoleClient(server)
    c.sign_in(acct, "nobody", PASSWORD)
    s_exists, b_exists, _ = c.get("/console/users/target")
    s_missing, b_missing, _ = c.get("/console/users/no-such-user")
    assert s_exists == s_missing == 403
    assert "/secret/" not in b_exists and "arn:aws" not in b_exists
    # The device-removal form also refuses before it says anything about the user or device.
    status, body, _ = c.post("/console/users/target/mfa/remove", serial=f"arn:aws:iam::{acct}:mfa/x")
    assert status == 403 and "arn:aws" not in body
    # With GetUser on the user, the page shows it; a missing user is then a 404.
    root.put_user_policy(UserName="nobody", PolicyName="p", PolicyDocument=doc({"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}))
    status, body, _ = c.get("/console/users/target")
    assert status == 200 and f"arn:aws:iam::{acct}:user/secret/target" in body
    assert c.get("/console/users/no-such-user")[0] == 404
    # A name that cannot be an IAM name, or a path that runs past it, is no page (never a panic).
    assert c.post("/console/users/mfa/remove", serial="x")[0] in (403, 404)
    assert c.get("/console/users/%E2%84%AAarl")[0] == 404


def test_7_aws_managed_policies_count_only_this_accounts_attachments(server):
    other = json.loads(run_iamd("account", "create", *server.store_args(), "--email", "other@example.com", "--json").stdout)
    oc = Creds(other["access_key_id"], other["secret_access_key"])
    arn = "arn:aws:iam::aws:policy/AdministratorAccess"
    oi = server.iam(oc)
    oi.create_user(UserName="x")
    oi.attach_user_policy(UserName="x", PolicyArn=arn)
    assert oi.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    assert server.iam().get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 0
    listed = [p for p in server.iam().list_policies(Scope="AWS")["Policies"] if p["Arn"] == arn]
    assert listed[0]["AttachmentCount"] == 0
    assert server.iam().list_entities_for_policy(PolicyArn=arn)["PolicyUsers"] == []


def test_8_names_fold_ascii_only(server):
    acct = server.account["account_id"]
    root = server.iam()
    root.create_user(UserName="karl")
    root.create_login_profile(UserName="karl", Password=PASSWORD)
    kelvin = "\u212Aarl"
    code, msg, status = error_of(root.get_user, UserName=kelvin)
    assert (code, status) == ("ValidationError", 400)
    assert error_of(root.create_user, UserName=kelvin)[0] == "ValidationError"
    trust = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"}, "Action": "sts:AssumeRole"})
    root.create_role(RoleName="kr", AssumeRolePolicyDocument=trust)
    # An ARN naming an IAM entity is ASCII too: refused at the edge, never folded into `karl`.
    assert error_of(root.simulate_principal_policy, PolicySourceArn=f"arn:aws:iam::{acct}:user/{kelvin}", ActionNames=["iam:GetUser"])[0] == "ValidationError"
    assert error_of(root.get_policy, PolicyArn=f"arn:aws:iam::{acct}:policy/{kelvin}")[0] == "ValidationError"
    u = server.new_user_with_key("assumer")
    root.put_user_policy(UserName="assumer", PolicyName="p", PolicyDocument=doc(ALLOW_ALL))
    assert error_of(server.sts(u).assume_role, RoleArn=f"arn:aws:iam::{acct}:role/\u212Ar", RoleSessionName="xx")[0] == "ValidationError"
    # The console refuses the name as it refuses a wrong password.
    c = ConsoleClient(server)
    _, body, _ = c.get("/console")
    token = re.search(r'name="csrf" value="([^"]+)"', body).group(1)
    status, body, _ = c.post("/console/signin", csrf=token, kind="user", account=acct, username=kelvin, password=PASSWORD)
    assert status != 303 and "incorrect" in body


def test_4_a_required_password_change_obeys_an_explicit_deny(server):
    acct = server.account["account_id"]
    root = server.iam()
    for name, statements in (("stuck", [{"Effect": "Deny", "Action": "iam:ChangePassword", "Resource": "*"}]), ("fresh", [])):
        root.create_user(UserName=name)
        root.create_login_profile(UserName=name, Password=PASSWORD, PasswordResetRequired=True)
        if statements:
            root.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=doc(*statements))
        c = ConsoleClient(server)
        _, body, _ = c.get("/console")
        token = re.search(r'name="csrf" value="([^"]+)"', body).group(1)
        status, _, h = c.post("/console/signin", csrf=token, kind="user", account=acct, username=name, password=PASSWORD)
        assert status == 303 and h["Location"] == "/console/password"
        _, body, _ = c.get("/console/password")
        c.csrf = re.search(r'name="csrf" value="([^"]+)"', body).group(1)
        status, body, h = c.post("/console/password", old=PASSWORD, new=PASSWORD + "n", retype=PASSWORD + "n")
        if statements:
            # The sign-in step stands in for an Allow of iam:ChangePassword, never against a Deny.
            assert status == 200 and "not allowed to change your password" in body
        else:
            assert status == 303 and h["Location"] == "/console"


def test_the_simulator_answers_as_enforcement_does(server):
    """A policy that depends on the principal's tags: the simulator and a real call agree."""
    acct = server.account["account_id"]
    root = server.iam()
    stmt = {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "ops"}}}
    tagged = user_with(server, "tagged", stmt, path="/t/")
    root.tag_user(UserName="tagged", Tags=[{"Key": "team", "Value": "ops"}])
    server.iam(tagged).list_users()
    sim = root.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{acct}:user/t/tagged", ActionNames=["iam:ListUsers"])
    assert sim["EvaluationResults"][0]["EvalDecision"] == "allowed"
    root.tag_user(UserName="tagged", Tags=[{"Key": "team", "Value": "dev"}])
    assert error_of(server.iam(tagged).list_users)[0] == "AccessDenied"
    sim = root.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{acct}:user/t/tagged", ActionNames=["iam:ListUsers"])
    assert sim["EvaluationResults"][0]["EvalDecision"] == "implicitDeny"
