"""The adversarial authorization matrix, generated from iamd's own action table (`iamd actions`).

For every IAM, STS and CloudTrail action iamd serves, and every caller — root; an IAM user with
long-term keys; that user's sessions with and without MFA; a role session with and without MFA — and
every spelling of the target (exact, other case, without its path, omitted where the API allows):

- an explicit Deny on the target's canonical ARN (under an Allow of everything) refuses, however the
  caller spells the target;
- an Allow of the action on *only* the canonical ARN admits (so the ARN really is canonical);
- a role session that leaves out a UserName the call needs gets AWS's ValidationError;
- nothing but root's own credentials ever reads or changes root's keys, devices or login.

An action in the table without an entry in SPECS fails the test, as does an entry whose target kind
disagrees with the table.
"""

import functools
import itertools
import json
import re
import urllib.parse

from conftest import Creds, run_iamd, totp, now_step
from test_mfa import new_virtual, next_code

ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}
DOC = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]})
PASSWORD = "Matrix-Passw0rd!x"

# ---- the specs: target kind and the parameters besides the target ----
# kind: as in the action table; extra: lambda fx -> dict; flags: destructive (fresh fixtures per admitted call)

def _tags(k="env", v="x"):
    return {"Tags.member.1.Key": k, "Tags.member.1.Value": v}


SPECS = {
    # STS and CloudTrail
    "GetCallerIdentity": ("unchecked", lambda f: {}),
    "GetSessionToken": ("unchecked", lambda f: {}),
    "AssumeRole": ("role-arn", lambda f: {"RoleSessionName": "matrix"}),
    "GetAccessKeyInfo": ("account", lambda f: {"AccessKeyId": f.key_id}),
    "LookupEvents": ("account", lambda f: {}),
    # users
    "CreateUser": ("new", lambda f: {}),
    "GetUser": ("user-or-caller", lambda f: {}),
    "ListUsers": ("listing", lambda f: {}),
    "UpdateUser": ("user", lambda f: {"NewPath": f.user.path}),
    "DeleteUser": ("user", lambda f: {}, "destructive"),
    "TagUser": ("user", lambda f: _tags()),
    "UntagUser": ("user", lambda f: {"TagKeys.member.1": "env"}),
    "ListUserTags": ("user", lambda f: {}),
    "CreateLoginProfile": ("user-or-calling-user", lambda f: {"Password": PASSWORD}),
    "GetLoginProfile": ("user-or-calling-user", lambda f: {}),
    "UpdateLoginProfile": ("user", lambda f: {"PasswordResetRequired": "false"}),
    "DeleteLoginProfile": ("user-or-calling-user", lambda f: {}),
    "ChangePassword": ("calling-user", lambda f: {"OldPassword": "Not-the-0ld-one!", "NewPassword": PASSWORD + "2"}),
    "UpdateAccountPasswordPolicy": ("account", lambda f: {"MinimumPasswordLength": "8"}),
    "GetAccountPasswordPolicy": ("account", lambda f: {}),
    "DeleteAccountPasswordPolicy": ("account", lambda f: {}),
    # access keys (the target's key, never the caller's own signing key)
    "CreateAccessKey": ("user-or-caller", lambda f: {}),
    "ListAccessKeys": ("user-or-caller", lambda f: {}),
    "UpdateAccessKey": ("user-or-caller", lambda f: {"AccessKeyId": f.key_id, "Status": "Active"}),
    "DeleteAccessKey": ("user-or-caller", lambda f: {"AccessKeyId": f.key_id}),
    "GetAccessKeyLastUsed": ("access-key", lambda f: {"AccessKeyId": f.key_id}),
    # account
    "CreateAccountAlias": ("account", lambda f: {"AccountAlias": "matrix-alias"}),
    "ListAccountAliases": ("account", lambda f: {}),
    "DeleteAccountAlias": ("account", lambda f: {"AccountAlias": "matrix-alias"}),
    "GetAccountSummary": ("account", lambda f: {}),
    # MFA
    "CreateVirtualMFADevice": ("new", lambda f: {}),
    "EnableMFADevice": ("user", lambda f: {"SerialNumber": f.spare, "AuthenticationCode1": "123456", "AuthenticationCode2": "654321"}),
    "ResyncMFADevice": ("user", lambda f: {"SerialNumber": f.user_device, "AuthenticationCode1": "123456", "AuthenticationCode2": "654321"}),
    "DeactivateMFADevice": ("user-or-caller", lambda f: {"SerialNumber": f.user_device}),
    "DeleteVirtualMFADevice": ("mfa-device", lambda f: {}, "destructive"),
    "ListMFADevices": ("user-or-caller", lambda f: {}),
    "ListVirtualMFADevices": ("account", lambda f: {}),
    "GetMFADevice": ("user-or-caller", lambda f: {"SerialNumber": f.spare}),
    "TagMFADevice": ("mfa-device", lambda f: _tags()),
    "UntagMFADevice": ("mfa-device", lambda f: {"TagKeys.member.1": "env"}),
    "ListMFADeviceTags": ("mfa-device", lambda f: {}),
    "GenerateCredentialReport": ("account", lambda f: {}),
    "GetCredentialReport": ("account", lambda f: {}),
    # user policies
    "PutUserPolicy": ("user", lambda f: {"PolicyName": "up", "PolicyDocument": DOC}),
    "GetUserPolicy": ("user", lambda f: {"PolicyName": "up"}),
    "ListUserPolicies": ("user", lambda f: {}),
    "DeleteUserPolicy": ("user", lambda f: {"PolicyName": "up"}),
    "AttachUserPolicy": ("user", lambda f: {"PolicyArn": f.policy.arn}),
    "DetachUserPolicy": ("user", lambda f: {"PolicyArn": f.policy.arn}),
    "ListAttachedUserPolicies": ("user", lambda f: {}),
    # groups
    "CreateGroup": ("new", lambda f: {}),
    "GetGroup": ("group", lambda f: {}),
    "ListGroups": ("listing", lambda f: {}),
    "UpdateGroup": ("group", lambda f: {"NewPath": f.group.path}),
    "DeleteGroup": ("group", lambda f: {}, "destructive"),
    "AddUserToGroup": ("group", lambda f: {"UserName": f.user.name}),
    "RemoveUserFromGroup": ("group", lambda f: {"UserName": f.user.name}),
    "ListGroupsForUser": ("user", lambda f: {}),
    "PutGroupPolicy": ("group", lambda f: {"PolicyName": "gp", "PolicyDocument": DOC}),
    "GetGroupPolicy": ("group", lambda f: {"PolicyName": "gp"}),
    "ListGroupPolicies": ("group", lambda f: {}),
    "DeleteGroupPolicy": ("group", lambda f: {"PolicyName": "gp"}),
    "AttachGroupPolicy": ("group", lambda f: {"PolicyArn": f.policy.arn}),
    "DetachGroupPolicy": ("group", lambda f: {"PolicyArn": f.policy.arn}),
    "ListAttachedGroupPolicies": ("group", lambda f: {}),
    # managed policies
    "CreatePolicy": ("new", lambda f: {}),
    "GetPolicy": ("policy", lambda f: {}),
    "ListPolicies": ("account", lambda f: {}),
    "DeletePolicy": ("policy", lambda f: {}, "destructive"),
    "CreatePolicyVersion": ("policy", lambda f: {"PolicyDocument": DOC}),
    "GetPolicyVersion": ("policy", lambda f: {"VersionId": "v1"}),
    "ListPolicyVersions": ("policy", lambda f: {}),
    "DeletePolicyVersion": ("policy", lambda f: {"VersionId": "v2"}),
    "SetDefaultPolicyVersion": ("policy", lambda f: {"VersionId": "v1"}),
    "ListEntitiesForPolicy": ("policy", lambda f: {}),
    "TagPolicy": ("policy", lambda f: _tags()),
    "UntagPolicy": ("policy", lambda f: {"TagKeys.member.1": "env"}),
    "ListPolicyTags": ("policy", lambda f: {}),
    # roles
    "CreateRole": ("new", lambda f: {}),
    "GetRole": ("role", lambda f: {}),
    "ListRoles": ("listing", lambda f: {}),
    "UpdateRole": ("role", lambda f: {"Description": "matrix"}),
    "UpdateAssumeRolePolicy": ("role", lambda f: {"PolicyDocument": json.dumps(f.trust)}),
    "DeleteRole": ("role", lambda f: {}, "destructive"),
    "TagRole": ("role", lambda f: _tags()),
    "UntagRole": ("role", lambda f: {"TagKeys.member.1": "env"}),
    "ListRoleTags": ("role", lambda f: {}),
    "PutRolePolicy": ("role", lambda f: {"PolicyName": "rp", "PolicyDocument": DOC}),
    "GetRolePolicy": ("role", lambda f: {"PolicyName": "rp"}),
    "ListRolePolicies": ("role", lambda f: {}),
    "DeleteRolePolicy": ("role", lambda f: {"PolicyName": "rp"}),
    "AttachRolePolicy": ("role", lambda f: {"PolicyArn": f.policy.arn}),
    "DetachRolePolicy": ("role", lambda f: {"PolicyArn": f.policy.arn}),
    "ListAttachedRolePolicies": ("role", lambda f: {}),
    # the simulator
    "SimulatePrincipalPolicy": ("policy-source", lambda f: {"ActionNames.member.1": "iam:GetUser"}),
    "SimulateCustomPolicy": ("account", lambda f: {"PolicyInputList.member.1": DOC, "ActionNames.member.1": "iam:GetUser"}),
}

NEW_KIND = {"CreateUser": "user", "CreateVirtualMFADevice": "mfa", "CreateGroup": "group", "CreatePolicy": "policy", "CreateRole": "role"}
LISTING = {"ListUsers": "user", "ListGroups": "group", "ListRoles": "role"}


def swap(s):
    return s.swapcase()


class Entity:
    def __init__(self, name, path, arn):
        self.name, self.path, self.arn = name, path, arn


class Fixtures:
    """One action's targets, made on first use (as root) with mixed-case names under a path."""

    counter = itertools.count(1)

    def __init__(self, m):
        self.m = m
        self.n = next(Fixtures.counter)
        self.acct = m.acct

    def call(self, action, **params):
        status, code, msg, body = self.m.call(self.m.root, action, params)
        assert status == 200, f"fixture {action}: {status} {code} {msg}"
        return body

    @functools.cached_property
    def user(self):
        name, path = f"Tgt{self.n}X", "/team/"
        self.call("CreateUser", UserName=name, Path=path)
        return Entity(name, path, f"arn:aws:iam::{self.acct}:user{path}{name}")

    @functools.cached_property
    def key_id(self):
        return re.search(r"<AccessKeyId>([^<]+)<", self.call("CreateAccessKey", UserName=self.user.name)).group(1)

    @functools.cached_property
    def spare(self):
        name = f"Spare{self.n}Dev"
        body = self.call("CreateVirtualMFADevice", VirtualMFADeviceName=name, Path="/dev/")
        return re.search(r"<SerialNumber>([^<]+)<", body).group(1)

    @functools.cached_property
    def user_device(self):
        name = f"Tgt{self.n}Phone"
        body = self.call("CreateVirtualMFADevice", VirtualMFADeviceName=name)
        serial = re.search(r"<SerialNumber>([^<]+)<", body).group(1)
        import base64
        from conftest import b32decode
        seed = b32decode(base64.b64decode(re.search(r"<Base32StringSeed>([^<]+)<", body).group(1)).decode())
        n = now_step()
        self.call("EnableMFADevice", UserName=self.user.name, SerialNumber=serial, AuthenticationCode1=totp(seed, n - 1), AuthenticationCode2=totp(seed, n))
        return serial

    @functools.cached_property
    def group(self):
        name, path = f"Grp{self.n}Admins", "/ops/"
        self.call("CreateGroup", GroupName=name, Path=path)
        return Entity(name, path, f"arn:aws:iam::{self.acct}:group{path}{name}")

    @property
    def trust(self):
        return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{self.acct}:root"}, "Action": "sts:AssumeRole"}]}

    @functools.cached_property
    def role(self):
        name, path = f"Role{self.n}Break", "/ops/"
        self.call("CreateRole", RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(self.trust))
        return Entity(name, path, f"arn:aws:iam::{self.acct}:role{path}{name}")

    @functools.cached_property
    def policy(self):
        name, path = f"Pol{self.n}Ops", "/p/"
        self.call("CreatePolicy", PolicyName=name, Path=path, PolicyDocument=DOC)
        arn = f"arn:aws:iam::{self.acct}:policy{path}{name}"
        self.call("CreatePolicyVersion", PolicyArn=arn, PolicyDocument=DOC)
        return Entity(name, path, arn)

    @functools.cached_property
    def device(self):
        return Entity(self.spare.rsplit("/", 1)[1], "/dev/", self.spare)


class Matrix:
    def __init__(self, server):
        self.s = server
        self.acct = server.account["account_id"]
        self.root = server.root
        self.calls = 0

    def call(self, creds, action, params, service=None):
        """A signed request; returns (status, code, message, body)."""
        self.calls += 1
        if action == "LookupEvents":
            status, body, _ = self.s.raw(body=json.dumps(params), creds=creds, service="cloudtrail",
                                         headers={"content-type": "application/x-amz-json-1.1", "x-amz-target": "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"})
            if status == 200:
                return 200, None, None, body
            j = json.loads(body)
            return status, j.get("__type"), j.get("message", ""), body
        sts = action in STS_ACTIONS
        q = {"Action": action, "Version": "2011-06-15" if sts else "2010-05-08", **{k: v for k, v in params.items() if v is not None}}
        status, body, _ = self.s.raw(body=urllib.parse.urlencode(q), creds=creds, service="sts" if sts else "iam")
        code = re.search(r"<Code>([^<]*)</Code>", body)
        msg = re.search(r"<Message>([^<]*)</Message>", body)
        return status, code and code.group(1), msg and msg.group(1), body


STS_ACTIONS = ("GetCallerIdentity", "GetSessionToken", "AssumeRole", "GetAccessKeyInfo")


def classify(status, code, msg):
    if status == 200:
        return "ok"
    if code in ("AccessDenied", "AccessDeniedException") and msg and "is not authorized to perform" in msg:
        return "explicit" if "explicit deny" in msg else "implicit"
    if code == "InvalidClientTokenId":
        return "invalid-token"
    if code == "ValidationError" and msg and "non-User credentials" in msg:
        return "non-user"
    return "refused-after-authz:" + str(code)


def admitted(outcome):
    """Authorization passed: the call succeeded or failed for a reason other than authorization."""
    return outcome == "ok" or outcome.startswith("refused-after-authz")


def setup_callers(server, m):
    """root; the IAM user Caller (path /staff/) with keys; its sessions with and without MFA; the
    role Runner (path /ops/) assumed without and with MFA."""
    iam = server.iam()
    acct = m.acct
    iam.create_user(UserName="Caller", Path="/staff/")
    k = iam.create_access_key(UserName="Caller")["AccessKey"]
    user = Creds(k["AccessKeyId"], k["SecretAccessKey"])
    serial, seed = new_virtual(iam, "caller-phone")
    n = now_step()
    iam.enable_mfa_device(UserName="Caller", SerialNumber=serial, AuthenticationCode1=totp(seed, n - 1), AuthenticationCode2=totp(seed, n))
    caller_arn = f"arn:aws:iam::{acct}:user/staff/Caller"
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": caller_arn}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="Runner", Path="/ops/", AssumeRolePolicyDocument=json.dumps(trust))
    sts = server.sts(user)
    c = sts.get_session_token(SerialNumber=serial, TokenCode=next_code(seed))["Credentials"]
    user_mfa = Creds(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    c = sts.get_session_token()["Credentials"]
    user_nomfa = Creds(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    role_arn = f"arn:aws:iam::{acct}:role/ops/Runner"
    c = sts.assume_role(RoleArn=role_arn, RoleSessionName="plain")["Credentials"]
    role = Creds(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    # MFA carried from the user's MFA session into the role session.
    c = server.sts(user_mfa).assume_role(RoleArn=role_arn, RoleSessionName="withmfa")["Credentials"]
    role_mfa = Creds(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    return {
        "user": (user, "user", caller_arn),
        "user-mfa": (user_mfa, "user", caller_arn),
        "user-nomfa": (user_nomfa, "user-session-nomfa", caller_arn),
        "role": (role, "role", None),
        "role-mfa": (role_mfa, "role", None),
    }


def enrol_root_device(server):
    acct = server.account["account_id"]
    out = json.loads(run_iamd("mfa", "create-virtual", *server.store_args(), "--account", acct, "--name", "root-matrix", "--json").stdout)
    from conftest import b32decode
    seed = b32decode(out["seed_base32"])
    n = now_step()
    run_iamd("mfa", "enable-root", *server.store_args(), "--account", acct, "--serial", out["serial"], "--code1", totp(seed, n - 1), "--code2", totp(seed, n))
    return out["serial"]


def put_cell_policy(m, statements):
    doc = json.dumps({"Version": "2012-10-17", "Statement": statements})
    for action, who in (("PutUserPolicy", {"UserName": "Caller"}), ("PutRolePolicy", {"RoleName": "Runner"})):
        st, code, msg, _ = m.call(m.root, action, {**who, "PolicyName": "cell", "PolicyDocument": doc})
        assert st == 200, (action, code, msg)


def target_cells(m, action, kind, f):
    """(spelling, target params, canonical ARN or 'caller', resolves) for the action's target."""
    a = m.acct
    if kind in ("user", "user-or-caller", "user-or-calling-user"):
        u = f.user
        cells = [("exact", {"UserName": u.name}, u.arn, True), ("other-case", {"UserName": swap(u.name)}, u.arn, True)]
        if kind != "user":
            cells.append(("omitted", {}, "caller", True))
        return cells
    if kind == "calling-user":
        return [("omitted", {}, "caller", True)]
    if kind == "group":
        g = f.group
        return [("exact", {"GroupName": g.name}, g.arn, True), ("other-case", {"GroupName": swap(g.name)}, g.arn, True)]
    if kind == "role":
        r = f.role
        return [("exact", {"RoleName": r.name}, r.arn, True), ("other-case", {"RoleName": swap(r.name)}, r.arn, True)]
    if kind == "policy":
        p = f.policy
        return [("exact", {"PolicyArn": p.arn}, p.arn, True), ("without-path", {"PolicyArn": f"arn:aws:iam::{a}:policy/{p.name}"}, p.arn, False),
                ("other-case", {"PolicyArn": f"arn:aws:iam::{a}:policy{p.path}{swap(p.name)}"}, p.arn, False)]
    if kind == "mfa-device":
        d = f.device
        return [("exact", {"SerialNumber": d.arn}, d.arn, True), ("without-path", {"SerialNumber": f"arn:aws:iam::{a}:mfa/{d.name}"}, d.arn, False),
                ("other-case", {"SerialNumber": f"arn:aws:iam::{a}:mfa{d.path}{swap(d.name)}"}, d.arn, False)]
    if kind == "access-key":
        return [("exact", {}, f.user.arn, True)]
    if kind == "role-arn":
        r = f.role
        return [("exact", {"RoleArn": r.arn}, r.arn, True), ("without-path", {"RoleArn": f"arn:aws:iam::{a}:role/{r.name}"}, r.arn, False),
                ("other-case", {"RoleArn": f"arn:aws:iam::{a}:role{r.path}{swap(r.name)}"}, r.arn, False)]
    if kind == "policy-source":
        u = f.user
        return [("exact", {"PolicySourceArn": u.arn}, u.arn, True), ("other-case", {"PolicySourceArn": f"arn:aws:iam::{a}:user{u.path}{swap(u.name)}"}, u.arn, True),
                ("without-path", {"PolicySourceArn": f"arn:aws:iam::{a}:user/{u.name}"}, u.arn, False)]
    if kind == "new":
        what = NEW_KIND[action]
        name = f"New{next(Fixtures.counter)}Ent"
        params = {"user": {"UserName": name, "Path": "/new/"}, "group": {"GroupName": name, "Path": "/new/"},
                  "mfa": {"VirtualMFADeviceName": name, "Path": "/new/"},
                  "policy": {"PolicyName": name, "Path": "/new/", "PolicyDocument": DOC},
                  "role": {"RoleName": name, "Path": "/new/", "AssumeRolePolicyDocument": json.dumps(f.trust)}}[what]
        return [("exact", params, f"arn:aws:iam::{a}:{what}/new/{name}", True)]
    if kind == "listing":
        return [("exact", {}, f"arn:aws:iam::{a}:{LISTING[action]}/", True)]
    if kind == "account":
        return [("exact", {}, "*", True)]
    raise AssertionError(f"no cells for kind {kind}")


def test_authorization_matrix(server):
    table = json.loads(run_iamd("actions").stdout)
    served = {row["action"]: row for row in table}
    missing = sorted(set(served) - set(SPECS))
    assert not missing, f"actions without a matrix entry: {missing}"
    assert not set(SPECS) - set(served), f"matrix entries for actions iamd does not serve: {sorted(set(SPECS) - set(served))}"
    for name, spec in SPECS.items():
        assert spec[0] == served[name]["target"], f"{name}: matrix kind {spec[0]} but the table says {served[name]['target']}"

    m = Matrix(server)
    callers = setup_callers(server, m)
    root_keys_before = server.iam().list_access_keys()["AccessKeyMetadata"]
    failures = []
    cells = 0

    def check(cond, what):
        if not cond:
            failures.append(what)

    for action, spec in SPECS.items():
        kind, extra = spec[0], spec[1]
        destructive = "destructive" in spec[2:]
        f = Fixtures(m)
        full = ("sts:" if action in STS_ACTIONS else "cloudtrail:" if action == "LookupEvents" else "iam:") + action

        if kind == "unchecked":
            # Authentication operations are never policy-checked: a Deny of everything does not stop them.
            put_cell_policy(m, [{"Effect": "Deny", "Action": "*", "Resource": "*"}])
            st, code, msg, _ = m.call(callers["user"][0], action, extra(f))
            check(st == 200, f"{action} under Deny *: {st} {code} {msg}")
            cells += 1
            continue

        # Root: no policy applies; root may do everything in its account (but assume a role).
        for spelling, tparams, canon, resolves in target_cells(m, action, kind, f):
            if not resolves:
                continue
            o = classify(*m.call(m.root, action, {**tparams, **extra(f)})[:3])
            cells += 1
            if action == "AssumeRole":
                check(o == "refused-after-authz:AccessDenied", f"root {action}: {o}")
            else:
                check(admitted(o), f"root {action} [{spelling}]: {o}")
            break

        for mode in ("deny", "allow"):
            for spelling, tparams, canon, resolves in target_cells(m, action, kind, Fixtures(m) if destructive else f):
                if mode == "allow" and not resolves:
                    continue
                for cname, (creds, ckind, caller_arn) in callers.items():
                    if destructive and mode == "allow":
                        # A fresh target per admitted call: the last one took the old target away.
                        f = Fixtures(m)
                        spelling, tparams, canon, resolves = next(c for c in target_cells(m, action, kind, f) if c[0] == spelling)
                    arn = caller_arn if canon == "caller" else canon
                    if arn is None:  # an omitted UserName from a role session: no canonical target
                        arn = f"arn:aws:iam::{m.acct}:user/none"
                    if mode == "deny":
                        put_cell_policy(m, [ALLOW_ALL, {"Effect": "Deny", "Action": full, "Resource": arn}])
                    else:
                        put_cell_policy(m, [{"Effect": "Allow", "Action": full, "Resource": arn}])
                    params = {**tparams, **extra(f)}
                    st, code, msg, _ = m.call(creds, action, params)
                    o = classify(st, code, msg)
                    cells += 1
                    where = f"{action} [{spelling}] as {cname}, {mode} on {arn}: {st} {code} {msg}"
                    if ckind == "user-session-nomfa" and served[action]["service"] == "iam":
                        check(o == "invalid-token", where)  # sessions without MFA cannot call IAM at all
                    elif ckind == "role" and canon == "caller":
                        # A role session must name the user; for ChangePassword it is not a user at all.
                        check(o == ("refused-after-authz:InvalidUserType" if kind == "calling-user" else "non-user"), where)
                    elif mode == "deny":
                        check(st != 200, where)
                        if resolves:
                            check(o == "explicit", where)
                    else:
                        check(admitted(o), where)

    # Root's keys are as they were, and none of the probes below reaches root's keys or devices.
    check(server.iam().list_access_keys()["AccessKeyMetadata"] == root_keys_before, "root's access keys changed")
    root_key = root_keys_before[0]["AccessKeyId"]
    root_serial = enrol_root_device(server)
    put_cell_policy(m, [ALLOW_ALL])
    for cname, (creds, ckind, _) in callers.items():
        if ckind == "user-session-nomfa":
            continue
        role = ckind == "role"
        probes = [
            ("CreateAccessKey", {}),
            ("ListAccessKeys", {}),
            ("UpdateAccessKey", {"AccessKeyId": root_key, "Status": "Inactive"}),
            ("DeleteAccessKey", {"AccessKeyId": root_key}),
            ("ListMFADevices", {}),
            ("DeactivateMFADevice", {"SerialNumber": root_serial}),
            ("GetMFADevice", {"SerialNumber": root_serial}),
            ("GetUser", {}),
            ("GetLoginProfile", {}),
        ]
        for action, params in probes:
            st, code, msg, body = m.call(creds, action, params)
            cells += 1
            if role:
                check(classify(st, code, msg) == "non-user", f"{cname} {action} without UserName: {st} {code} {msg}")
            else:
                # An IAM user that leaves out UserName acts on itself, never on root.
                check(st != 200 or (":root" not in body and root_serial not in body), f"{cname} {action} reached root: {body[:300]}")
                if action in ("UpdateAccessKey", "DeleteAccessKey", "DeactivateMFADevice", "GetMFADevice"):
                    check(code == "NoSuchEntity", f"{cname} {action} on root's credential: {st} {code}")
        st, code, msg, _ = m.call(creds, "GetAccessKeyLastUsed", {"AccessKeyId": root_key})
        check(code == "AccessDenied", f"{cname} GetAccessKeyLastUsed(root's key): {st} {code}")
        for action, params in (("TagMFADevice", _tags()), ("UntagMFADevice", {"TagKeys.member.1": "env"}), ("ListMFADeviceTags", {}), ("DeleteVirtualMFADevice", {})):
            st, code, msg, _ = m.call(creds, action, {"SerialNumber": root_serial, **params})
            check(code == "NoSuchEntity", f"{cname} {action}(root's device): {st} {code}")
    # Root's device is still root's and still assigned.
    devices = server.iam().list_mfa_devices()["MFADevices"]
    check([d["SerialNumber"] for d in devices] == [root_serial], f"root's devices changed: {devices}")
    # The role sessions and users created keys for themselves only; root still has exactly its keys.
    check(server.iam().list_access_keys()["AccessKeyMetadata"] == root_keys_before, "root's access keys changed by a probe")

    print(f"authorization matrix: {cells} cells, {m.calls} requests")
    assert not failures, f"{len(failures)} of {cells} cells failed:\n" + "\n".join(failures[:60])
