"""What real clients trip on (issue 13): CloudTrail's short JSON target (the JavaScript and Go SDKs),
botocore's POST-presigned URLs, true GetAccountSummary counts, RoleLastUsed, policy tags,
GetAccessKeyInfo, parameters refused rather than dropped, trust-policy actions, paged tag listings,
device paths, the STS error namespace and bounded error echoes."""

import datetime
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import Creds, run_iamd, sigv4_header
from test_audit import lookup_all, records
from test_mfa import error_of

DOC = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]})


def trust(acct, action="sts:AssumeRole"):
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"}, "Action": action}]})


def post(url, body=b"", headers=None):
    req = urllib.request.Request(url, data=body, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def cloudtrail_json(server, target, body=b"{}"):
    """A signed CloudTrail JSON 1.1 request with the given X-Amz-Target."""
    host = server.endpoint.split("://", 1)[1]
    amz_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    h = {"host": host, "x-amz-date": amz_date, "content-type": "application/x-amz-json-1.1", "x-amz-target": target}
    h["authorization"] = sigv4_header("POST", "/", "", h, body, server.root, "us-east-1", "cloudtrail", amz_date)
    return post(server.endpoint + "/", body, {k: v for k, v in h.items() if k != "host"})


def test_lookup_events_answers_the_short_target_of_the_javascript_and_go_sdks(server):
    server.iam().create_user(UserName="short-target")
    status, body = cloudtrail_json(server, "CloudTrail_20131101.LookupEvents",
                                   json.dumps({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}]}).encode())
    assert status == 200, body
    names = [e["EventName"] for e in json.loads(body)["Events"]]
    assert names and set(names) == {"CreateUser"}
    # The long (botocore) prefix still works, and a target with neither prefix is refused and
    # recorded under a clean name, never its own text.
    status, _ = cloudtrail_json(server, "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents")
    assert status == 200
    status, body = cloudtrail_json(server, "Evil_1.<script>LookupEvents")
    assert status == 400 and json.loads(body)["__type"] == "UnknownOperationException"
    evs = records(lookup_all(server, LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Unknown"}]))
    assert evs and evs[0]["errorCode"] == "UnknownOperationException"
    assert all("<script>" not in json.dumps(e) for e in records(lookup_all(server)))


def test_a_post_presigned_url_from_botocore_works_and_a_parameter_given_twice_is_refused(server):
    sts = server.sts()
    url = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=60)
    status, body = post(url)
    assert status == 200, body
    assert f"<Account>{server.account['account_id']}</Account>" in body
    iam = server.iam()
    iam.create_user(UserName="presigned-post")
    url = iam.generate_presigned_url("get_user", Params={"UserName": "presigned-post"}, ExpiresIn=60)
    assert "UserName=presigned-post" in url
    status, body = post(url)
    assert status == 200 and "<UserName>presigned-post</UserName>" in body, body
    # The same URL sent as GET does not verify: it was signed for POST.
    try:
        urllib.request.urlopen(url, timeout=30)
        raise AssertionError("a POST-signed URL verified as GET")
    except urllib.error.HTTPError as e:
        assert e.code == 403 and "SignatureDoesNotMatch" in e.read().decode()
    # A body sent with a presigned URL was not signed (the signature covers the empty body).
    status, body = post(url, b"UserName=someone-else", {"content-type": "application/x-www-form-urlencoded"})
    assert status == 403 and "SignatureDoesNotMatch" in body
    # A header-signed POST whose URL and body both name UserName means two things: refused.
    status, body, _ = server.raw("Action=GetUser&Version=2010-05-08&UserName=presigned-post", query="UserName=root-user")
    assert status == 400 and "<Code>InvalidParameterCombination</Code>" in body and "UserName" in body, body
    # Parameters split between the URL and the body (each given once) are read from both.
    status, body, _ = server.raw("UserName=presigned-post", query="Action=GetUser&Version=2010-05-08")
    assert status == 200 and "<UserName>presigned-post</UserName>" in body, body


def summary(iam):
    return iam.get_account_summary()["SummaryMap"]


def test_get_account_summary_counts_what_exists(server):
    iam = server.iam()
    acct = server.account["account_id"]
    before = summary(iam)
    assert before["AccountPasswordPresent"] == 1 and before["AccountAccessKeysPresent"] == 1
    assert (before["Users"], before["Groups"], before["Roles"], before["Policies"], before["PolicyVersionsInUse"]) == (0, 0, 0, 0, 0)
    for i in range(4):
        iam.create_role(RoleName=f"r{i}", AssumeRolePolicyDocument=trust(acct))
    for i in range(3):
        iam.create_group(GroupName=f"g{i}")
    for i in range(2):
        iam.create_user(UserName=f"u{i}")
    arn = iam.create_policy(PolicyName="p0", PolicyDocument=DOC)["Policy"]["Arn"]
    arn1 = iam.create_policy(PolicyName="p1", PolicyDocument=DOC)["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="r0", PolicyArn=arn)
    iam.attach_group_policy(GroupName="g0", PolicyArn=arn)
    iam.attach_user_policy(UserName="u0", PolicyArn=arn)
    iam.create_virtual_mfa_device(VirtualMFADeviceName="spare")
    s = summary(iam)
    assert (s["Users"], s["Groups"], s["Roles"], s["Policies"], s["PolicyVersionsInUse"], s["MFADevices"], s["MFADevicesInUse"]) == (2, 3, 4, 2, 3, 1, 0)
    # Deletes count down, and a delete that is refused changes nothing.
    with pytest.raises(ClientError):
        iam.delete_role(RoleName="r0")  # a policy is attached
    iam.detach_role_policy(RoleName="r0", PolicyArn=arn)
    iam.delete_role(RoleName="r0")
    iam.detach_user_policy(UserName="u0", PolicyArn=arn)
    iam.delete_user(UserName="u0")
    iam.delete_group(GroupName="g2")
    iam.delete_policy(PolicyArn=arn1)
    s = summary(iam)
    assert (s["Users"], s["Groups"], s["Roles"], s["Policies"], s["PolicyVersionsInUse"]) == (1, 2, 3, 1, 1)
    # Another account's entities are not this account's.
    other = json.loads(run_iamd("account", "create", *server.store_args(), "--email", "other@example.com", "--json").stdout)
    o = server.iam(Creds(other["access_key_id"], other["secret_access_key"]))
    assert summary(o)["Roles"] == 0
    o.create_role(RoleName="theirs", AssumeRolePolicyDocument=trust(other["account_id"]))
    assert summary(o)["Roles"] == 1 and summary(iam)["Roles"] == 3


def test_role_last_used_appears_in_get_role_after_it_is_assumed_and_never_in_list_roles(server):
    iam = server.iam()
    acct = server.account["account_id"]
    iam.create_role(RoleName="used", AssumeRolePolicyDocument=trust(acct))
    assert iam.get_role(RoleName="used")["Role"]["RoleLastUsed"] == {}
    bob = server.new_user_with_key("bob")
    iam.put_user_policy(UserName="bob", PolicyName="a", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}))
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    server.client("sts", bob, region="eu-west-1").assume_role(RoleArn=f"arn:aws:iam::{acct}:role/used", RoleSessionName="sess")
    deadline = time.time() + 10
    while time.time() < deadline:
        used = iam.get_role(RoleName="used")["Role"]["RoleLastUsed"]
        if used:
            break
        time.sleep(0.2)
    assert used["Region"] == "eu-west-1" and used["LastUsedDate"] >= before - datetime.timedelta(seconds=2)
    listed = [r for r in iam.list_roles()["Roles"] if r["RoleName"] == "used"][0]
    assert "RoleLastUsed" not in listed and "Tags" not in listed


def test_policy_tags_are_kept_returned_paged_and_checked(server):
    iam = server.iam()
    p = iam.create_policy(PolicyName="tagged", PolicyDocument=DOC, Tags=[{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "prod"}])["Policy"]
    assert sorted((t["Key"], t["Value"]) for t in p["Tags"]) == [("env", "prod"), ("team", "a")]
    assert error_of(iam.create_policy, PolicyName="dup", PolicyDocument=DOC, Tags=[{"Key": "k", "Value": "1"}, {"Key": "K", "Value": "2"}])[0] == "InvalidInput"
    assert "dup" not in [x["PolicyName"] for x in iam.list_policies(Scope="Local")["Policies"]]
    arn = p["Arn"]
    iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "owner", "Value": "ops"}, {"Key": "TEAM", "Value": "b"}])
    got = iam.get_policy(PolicyArn=arn)["Policy"]["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in got) == [("TEAM", "b"), ("env", "prod"), ("owner", "ops")]
    page1 = iam.list_policy_tags(PolicyArn=arn, MaxItems=2)
    assert page1["IsTruncated"] and len(page1["Tags"]) == 2
    page2 = iam.list_policy_tags(PolicyArn=arn, MaxItems=2, Marker=page1["Marker"])
    assert not page2["IsTruncated"] and [t["Key"] for t in page1["Tags"] + page2["Tags"]] == ["TEAM", "env", "owner"]
    iam.untag_policy(PolicyArn=arn, TagKeys=["owner", "env"])
    assert [t["Key"] for t in iam.list_policy_tags(PolicyArn=arn)["Tags"]] == ["TEAM"]
    assert error_of(iam.tag_policy, PolicyArn=arn, Tags=[{"Key": "aws:x", "Value": "1"}])[0] == "InvalidInput"
    aws_policy = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    code = error_of(iam.tag_policy, PolicyArn=aws_policy, Tags=[{"Key": "k", "Value": "v"}])[0]
    assert code == "NoSuchEntity"
    iam.delete_policy(PolicyArn=arn)
    assert error_of(iam.list_policy_tags, PolicyArn=arn)[0] == "NoSuchEntity"
    # A new policy of the same name starts without the old one's tags.
    arn2 = iam.create_policy(PolicyName="tagged", PolicyDocument=DOC)["Policy"]["Arn"]
    assert iam.list_policy_tags(PolicyArn=arn2)["Tags"] == [] and "Tags" not in iam.get_policy(PolicyArn=arn2)["Policy"]


def test_get_access_key_info_names_the_keys_account(server):
    acct = server.account["account_id"]
    sts = server.sts()
    assert sts.get_access_key_info(AccessKeyId=server.root.access_key_id)["Account"] == acct
    bob = server.new_user_with_key("bob")
    # An ordinary permission: without an Allow a user is refused, as in AWS.
    assert error_of(server.sts(bob).get_access_key_info, AccessKeyId=bob.access_key_id)[0] == "AccessDenied"
    server.iam().put_user_policy(UserName="bob", PolicyName="yes", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:GetAccessKeyInfo", "Resource": "*"}]}))
    assert server.sts(bob).get_access_key_info(AccessKeyId=server.root.access_key_id)["Account"] == acct
    other = json.loads(run_iamd("account", "create", *server.store_args(), "--email", "other@example.com", "--json").stdout)
    assert sts.get_access_key_info(AccessKeyId=other["access_key_id"])["Account"] == other["account_id"]
    # A key that never existed is not answered with a guess.
    assert error_of(sts.get_access_key_info, AccessKeyId="AKIAIOSFODNN7EXAMPLE")[0] == "ValidationError"
    # A Deny takes it away again.
    server.iam().put_user_policy(UserName="bob", PolicyName="no", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "sts:GetAccessKeyInfo", "Resource": "*"}]}))
    assert error_of(server.sts(bob).get_access_key_info, AccessKeyId=bob.access_key_id)[0] == "AccessDenied"


def test_what_is_not_implemented_is_refused_not_dropped_and_trust_policies_name_sts_actions(server):
    iam = server.iam()
    acct = server.account["account_id"]
    boundary = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    code, msg, _ = error_of(iam.create_role, RoleName="bounded", AssumeRolePolicyDocument=trust(acct), PermissionsBoundary=boundary)
    assert code == "InvalidInput" and "boundar" in msg
    assert error_of(iam.get_role, RoleName="bounded")[0] == "NoSuchEntity"
    for bad in ["iam:CreateUser", "sts:GetSessionToken", "sts:TagSessions", ["sts:AssumeRole", "s3:GetObject"]]:
        code, msg, _ = error_of(iam.create_role, RoleName="t", AssumeRolePolicyDocument=trust(acct, bad))
        assert (code, msg) == ("MalformedPolicyDocument", "AssumeRole policy may only specify STS AssumeRole actions."), bad
    ok = ["sts:AssumeRole", "sts:assumerolewithwebidentity", ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity", "sts:SetContext"], "sts:*"]
    for i, good in enumerate(ok):
        iam.create_role(RoleName=f"t{i}", AssumeRolePolicyDocument=trust(acct, good))
    assert error_of(iam.update_assume_role_policy, RoleName="t0", PolicyDocument=trust(acct, "iam:*"))[0] == "MalformedPolicyDocument"
    # No policy is used as a boundary, so that filter lists none (and PermissionsPolicy lists them).
    assert iam.list_policies(PolicyUsageFilter="PermissionsBoundary")["Policies"] == []
    assert iam.list_policies(PolicyUsageFilter="PermissionsPolicy")["Policies"]


def test_role_tags_are_paged_and_device_paths_have_no_empty_segment(server):
    iam = server.iam()
    acct = server.account["account_id"]
    iam.create_role(RoleName="many", AssumeRolePolicyDocument=trust(acct), Tags=[{"Key": f"k{i:02}", "Value": str(i)} for i in range(5)])
    seen, marker = [], None
    while True:
        kw = {"Marker": marker} if marker else {}
        page = iam.list_role_tags(RoleName="many", MaxItems=2, **kw)
        assert len(page["Tags"]) <= 2
        seen += [t["Key"] for t in page["Tags"]]
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
    assert seen == [f"k{i:02}" for i in range(5)]
    msg = "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters."
    for bad in ["/a//b/", "test", "//"]:
        code, m, status = error_of(iam.create_virtual_mfa_device, Path=bad, VirtualMFADeviceName="d")
        assert (code, m, status) == ("ValidationError", msg, 400), bad
    assert iam.create_virtual_mfa_device(Path="/a/b/", VirtualMFADeviceName="d")["VirtualMFADevice"]["SerialNumber"] == f"arn:aws:iam::{acct}:mfa/a/b/d"


def test_sts_refusals_use_the_sts_namespace_and_long_values_are_not_echoed_whole(server):
    bad = Creds("AKIA" + "Z" * 16, "x" * 40)
    status, body, _ = server.raw("Action=GetCallerIdentity&Version=2011-06-15", creds=bad, service="sts")
    assert status == 403 and 'xmlns="https://sts.amazonaws.com/doc/2011-06-15/"' in body and "InvalidClientTokenId" in body
    status, body, _ = server.raw("Action=GetUser&Version=2010-05-08", creds=bad, service="iam")
    assert status == 403 and 'xmlns="https://iam.amazonaws.com/doc/2010-05-08/"' in body
    # A 200 KB policy is refused, and neither the error nor its record carries it whole.
    iam = server.iam()
    iam.create_user(UserName="long")
    huge = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*", "Sid": "A" * 200_000}]})
    code, msg, status = error_of(iam.put_user_policy, UserName="long", PolicyName="huge", PolicyDocument=huge)
    assert status == 400 and len(msg) < 2_000, (code, len(msg))
    evs = [e for e in records(lookup_all(server, LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "PutUserPolicy"}]))]
    assert evs and evs[0]["errorCode"] == code
    assert len(json.dumps(evs[0])) < 8_000


# ---- the AWS SDK for JavaScript v3 ----

JS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")


def test_the_javascript_sdk_runs_iam_sts_and_cloudtrail_flows(server):
    """tests/e2e/js/flows.mjs (scripts/test.sh installs its packages): users and paginators, two
    MFA devices, a role that requires MFA, GetSessionToken, policy tags, the account summary,
    RoleLastUsed and CloudTrail over the SDK's own short X-Amz-Target."""
    node = shutil.which("node")
    assert node and os.path.isdir(os.path.join(JS, "node_modules", "@aws-sdk", "client-cloudtrail")), "run scripts/test.sh (it installs the JavaScript SDK)"
    env = {**os.environ, "IAMD_ENDPOINT": server.endpoint, "IAMD_ACCOUNT": server.account["account_id"],
           "AWS_ACCESS_KEY_ID": server.root.access_key_id, "AWS_SECRET_ACCESS_KEY": server.root.secret_access_key}
    for k in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        env.pop(k, None)
    p = subprocess.run([node, "flows.mjs"], cwd=JS, env=env, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stdout + p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1])["checks"] >= 19, p.stdout


# ---- responses carry only the members of AWS's model ----

def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _unmapped_xml(elem, shape, path, out):
    """Every element under `elem` that `shape` (botocore's model) has no member for."""
    t = shape.type_name
    if t == "structure":
        names = {s.serialization.get("name", n): s for n, s in shape.members.items()}
        for child in elem:
            n = _local(child.tag)
            if n not in names:
                out.append(f"{path}.{n}")
            else:
                _unmapped_xml(child, names[n], f"{path}.{n}", out)
    elif t == "list":
        want = shape.member.serialization.get("name", "member")
        for child in elem:
            if _local(child.tag) != want:
                out.append(f"{path}.{_local(child.tag)}")
            else:
                _unmapped_xml(child, shape.member, f"{path}[]", out)
    elif t == "map":
        for entry in elem:
            for kv in entry:
                n = _local(kv.tag)
                if n == "value":
                    _unmapped_xml(kv, shape.value, f"{path}{{}}", out)
                elif n != "key":
                    out.append(f"{path}.{n}")
    elif len(elem):
        out.append(f"{path} (a {t} with child elements)")


def _unmapped_json(value, shape, path, out):
    t = shape.type_name
    if t == "structure" and isinstance(value, dict):
        for k, v in value.items():
            if k not in shape.members:
                out.append(f"{path}.{k}")
            else:
                _unmapped_json(v, shape.members[k], f"{path}.{k}", out)
    elif t == "list" and isinstance(value, list):
        for v in value:
            _unmapped_json(v, shape.member, f"{path}[]", out)


def watch_responses(client, seen, out):
    import xml.etree.ElementTree as ET

    def check(operation_model, response_dict, **_):
        if response_dict["status_code"] != 200:
            return
        seen.add(operation_model.name)
        shape = operation_model.output_shape
        if shape is None:
            return
        body = response_dict["body"]
        if operation_model.metadata["protocol"] == "json":
            _unmapped_json(json.loads(body), shape, operation_model.name, out)
            return
        root = ET.fromstring(body)
        wrapper = operation_model.output_shape.serialization.get("resultWrapper")
        result = next((c for c in root if _local(c.tag) == wrapper), None)
        for c in root:
            if _local(c.tag) not in (wrapper, "ResponseMetadata"):
                out.append(f"{operation_model.name}: <{_local(c.tag)}> beside the result")
        if result is not None:
            _unmapped_xml(result, shape, operation_model.name, out)

    client.meta.events.register("before-parse.*.*", check)
    return client


def test_every_response_carries_only_members_of_the_operations_model(server):
    """Each answer is read against botocore's copy of AWS's model: an element the model does not
    have for that operation would be dropped by one SDK and trip another."""
    from test_mfa import enable, new_virtual

    seen, out = set(), []
    iam = watch_responses(server.iam(), seen, out)
    sts = watch_responses(server.sts(), seen, out)
    ct = watch_responses(server.client("cloudtrail"), seen, out)
    acct = server.account["account_id"]
    iam.create_user(UserName="m", Path="/p/", Tags=[{"Key": "k", "Value": "v"}])
    iam.get_user(UserName="m"), iam.get_user(), iam.list_users(), iam.list_user_tags(UserName="m")
    iam.tag_user(UserName="m", Tags=[{"Key": "k2", "Value": "v"}]), iam.untag_user(UserName="m", TagKeys=["k2"])
    k = iam.create_access_key(UserName="m")["AccessKey"]
    iam.list_access_keys(UserName="m"), iam.get_access_key_last_used(AccessKeyId=k["AccessKeyId"])
    iam.update_access_key(UserName="m", AccessKeyId=k["AccessKeyId"], Status="Active")
    iam.create_login_profile(UserName="m", Password="Correct-Horse-9-Battery", PasswordResetRequired=False)
    iam.get_login_profile(UserName="m"), iam.update_login_profile(UserName="m", PasswordResetRequired=False)
    iam.update_account_password_policy(MinimumPasswordLength=12), iam.get_account_password_policy()
    iam.create_account_alias(AccountAlias=f"model-{acct}"), iam.list_account_aliases()
    iam.get_account_summary()
    iam.create_group(GroupName="g"), iam.add_user_to_group(GroupName="g", UserName="m")
    iam.get_group(GroupName="g"), iam.list_groups(), iam.list_groups_for_user(UserName="m")
    iam.put_group_policy(GroupName="g", PolicyName="gp", PolicyDocument=DOC)
    iam.get_group_policy(GroupName="g", PolicyName="gp"), iam.list_group_policies(GroupName="g")
    iam.put_user_policy(UserName="m", PolicyName="up", PolicyDocument=DOC)
    iam.get_user_policy(UserName="m", PolicyName="up"), iam.list_user_policies(UserName="m")
    arn = iam.create_policy(PolicyName="mp", PolicyDocument=DOC, Description="d", Tags=[{"Key": "k", "Value": "v"}])["Policy"]["Arn"]
    iam.get_policy(PolicyArn=arn), iam.list_policies(Scope="Local"), iam.list_policy_tags(PolicyArn=arn)
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=DOC, SetAsDefault=True)
    iam.get_policy_version(PolicyArn=arn, VersionId="v2"), iam.list_policy_versions(PolicyArn=arn)
    iam.attach_user_policy(UserName="m", PolicyArn=arn), iam.attach_group_policy(GroupName="g", PolicyArn=arn)
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust(acct), Description="d", Tags=[{"Key": "k", "Value": "v"}])
    iam.attach_role_policy(RoleName="r", PolicyArn=arn)
    iam.list_attached_user_policies(UserName="m"), iam.list_attached_group_policies(GroupName="g"), iam.list_attached_role_policies(RoleName="r")
    iam.list_entities_for_policy(PolicyArn=arn)
    iam.put_role_policy(RoleName="r", PolicyName="rp", PolicyDocument=DOC)
    iam.get_role_policy(RoleName="r", PolicyName="rp"), iam.list_role_policies(RoleName="r")
    iam.get_role(RoleName="r"), iam.list_roles(), iam.list_role_tags(RoleName="r"), iam.update_role(RoleName="r", Description="e")
    serial, seed = new_virtual(iam, "m-phone", Tags=[{"Key": "k", "Value": "v"}])
    enable(iam, "m", serial, seed)
    iam.list_mfa_devices(UserName="m"), iam.list_virtual_mfa_devices(), iam.list_mfa_device_tags(SerialNumber=serial)
    iam.generate_credential_report()
    for _ in range(50):
        try:
            iam.get_credential_report()
            break
        except ClientError:
            time.sleep(0.2)
    iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{acct}:user/p/m", ActionNames=["iam:GetUser"])
    iam.simulate_custom_policy(PolicyInputList=[DOC], ActionNames=["iam:GetUser"], ContextEntries=[{"ContextKeyName": "aws:username", "ContextKeyValues": ["m"], "ContextKeyType": "string"}])
    sts.get_caller_identity(), sts.get_session_token(DurationSeconds=900), sts.get_access_key_info(AccessKeyId=k["AccessKeyId"])
    bob = server.new_user_with_key("bob")
    iam.put_user_policy(UserName="bob", PolicyName="a", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}))
    watch_responses(server.sts(bob), seen, out).assume_role(RoleArn=f"arn:aws:iam::{acct}:role/r", RoleSessionName="model")
    ct.lookup_events(MaxResults=5)
    assert len(seen) >= 60, sorted(seen)
    assert out == [], out
    # The checker itself finds an element the model lacks.
    import xml.etree.ElementTree as ET
    probe = []
    shape = iam.meta.service_model.operation_model("GetUser").output_shape
    _unmapped_xml(ET.fromstring("<GetUserResult><User><UserName>x</UserName><Colour>red</Colour></User><Extra/></GetUserResult>"), shape, "GetUser", probe)
    assert probe == ["GetUser.User.Colour", "GetUser.Extra"], probe


def test_listing_filters_and_paging_are_applied_not_dropped(server):
    """ListEntitiesForPolicy's EntityFilter, PathPrefix and MaxItems, and the ListAttached*Policies
    PathPrefix and MaxItems (on roles too): each asks for less, and gets less."""
    iam = server.iam()
    acct = server.account["account_id"]
    arn = iam.create_policy(PolicyName="shared", PolicyDocument=DOC)["Policy"]["Arn"]
    for i, path in enumerate(["/a/", "/b/", "/a/"]):
        iam.create_user(UserName=f"u{i}", Path=path)
        iam.attach_user_policy(UserName=f"u{i}", PolicyArn=arn)
    iam.create_group(GroupName="g", Path="/a/")
    iam.attach_group_policy(GroupName="g", PolicyArn=arn)
    iam.create_role(RoleName="r", Path="/b/", AssumeRolePolicyDocument=trust(acct))
    iam.attach_role_policy(RoleName="r", PolicyArn=arn)
    users = iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="User")
    assert [u["UserName"] for u in users["PolicyUsers"]] == ["u0", "u1", "u2"] and users["PolicyGroups"] == [] and users["PolicyRoles"] == []
    a = iam.list_entities_for_policy(PolicyArn=arn, PathPrefix="/a/")
    assert ([g["GroupName"] for g in a["PolicyGroups"]], [u["UserName"] for u in a["PolicyUsers"]], a["PolicyRoles"]) == (["g"], ["u0", "u2"], [])
    assert iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="AWSManagedPolicy")["PolicyUsers"] == []
    seen = []
    for page in iam.get_paginator("list_entities_for_policy").paginate(PolicyArn=arn, PaginationConfig={"PageSize": 2}):
        n = len(page["PolicyGroups"]) + len(page["PolicyUsers"]) + len(page["PolicyRoles"])
        assert n <= 2
        seen += [g["GroupName"] for g in page["PolicyGroups"]] + [u["UserName"] for u in page["PolicyUsers"]] + [r["RoleName"] for r in page["PolicyRoles"]]
    assert sorted(seen) == ["g", "r", "u0", "u1", "u2"]
    # Attached policies of a role: PathPrefix and paging.
    other = iam.create_policy(PolicyName="other", Path="/team/", PolicyDocument=DOC)["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="r", PolicyArn=other)
    assert [p["PolicyName"] for p in iam.list_attached_role_policies(RoleName="r", PathPrefix="/team/")["AttachedPolicies"]] == ["other"]
    first = iam.list_attached_role_policies(RoleName="r", MaxItems=1)
    assert len(first["AttachedPolicies"]) == 1 and first["IsTruncated"]
    rest = iam.list_attached_role_policies(RoleName="r", MaxItems=1, Marker=first["Marker"])
    assert {first["AttachedPolicies"][0]["PolicyName"], rest["AttachedPolicies"][0]["PolicyName"]} == {"other", "shared"} and not rest["IsTruncated"]
    iam.attach_user_policy(UserName="u0", PolicyArn=other)
    assert [p["PolicyName"] for p in iam.list_attached_user_policies(UserName="u0", PathPrefix="/team/")["AttachedPolicies"]] == ["other"]


def test_account_summary_counts_hold_under_concurrent_writes_on_every_node(server, tmpdir_path):
    """Counts are the database's: 40 users and 20 roles created concurrently (through two nodes on
    PostgreSQL), half of them deleted again, read the same through every node."""
    import concurrent.futures

    nodes = [server] + ([server.second_node(tmpdir_path)] if server.backend == "postgres" else [])
    acct = server.account["account_id"]
    try:
        def work(i):
            iam = nodes[i % len(nodes)].iam()
            iam.create_user(UserName=f"c{i}")
            if i % 2 == 0:
                iam.create_role(RoleName=f"c{i}", AssumeRolePolicyDocument=trust(acct))
            if i % 4 == 0:
                iam.delete_user(UserName=f"c{i}")

        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(work, range(40)))
        for n in nodes:
            s = summary(n.iam())
            assert (s["Users"], s["Roles"]) == (30, 20), s
            assert s["Users"] == len(n.iam().list_users(MaxItems=1000)["Users"])
    finally:
        for n in nodes[1:]:
            n.stop()
