"""The wire: SigV4 authentication errors with AWS's codes and texts, the Query protocol's envelopes,
validation, unknown actions, GET and presigned requests, body limits."""

import datetime
import re
import urllib.request
import xml.etree.ElementTree as ET

from conftest import Creds, presign_query

NS = {"i": "https://iam.amazonaws.com/doc/2010-05-08/", "s": "https://sts.amazonaws.com/doc/2011-06-15/"}


def parse_error(body):
    root = ET.fromstring(body)
    assert root.tag.endswith("ErrorResponse"), body
    ns = root.tag[1:].split("}")[0]
    e = root.find(f"{{{ns}}}Error")
    get = lambda n: e.find(f"{{{ns}}}{n}").text
    rid = root.find(f"{{{ns}}}RequestId").text
    return get("Type"), get("Code"), get("Message"), rid


def test_missing_authentication_comes_before_the_action(server):
    for body in ("Action=ListUsers&Version=2010-05-08", "Action=NoSuchThing&Version=2010-05-08"):
        status, text, headers = server.raw(body, sign=False)
        assert status == 403
        assert parse_error(text)[1:3] == ("MissingAuthenticationToken", "Request is missing Authentication Token")
        assert headers.get("x-amzn-requestid") == parse_error(text)[3]


def test_bad_signature_for_an_unknown_action_is_an_auth_error(server):
    bad = Creds(server.root.access_key_id, "x" * 40)
    status, text, _ = server.raw("Action=NoSuchThing&Version=2010-05-08", creds=bad)
    assert status == 403
    t, code, msg, _ = parse_error(text)
    assert (t, code) == ("Sender", "SignatureDoesNotMatch")
    assert msg.startswith("The request signature we calculated does not match the signature you provided.")


def test_unknown_key_is_invalid_client_token_id(server):
    status, text, _ = server.raw("Action=ListUsers&Version=2010-05-08", creds=Creds("AKIAAAAAAAAAAAAAAAAA", "x" * 40))
    assert status == 403
    assert parse_error(text)[1:3] == ("InvalidClientTokenId", "The security token included in the request is invalid.")


def test_tampered_body_fails_the_signature(server):
    status, text, _ = server.raw("Action=CreateUser&Version=2010-05-08&UserName=a",
                                 tamper=lambda b: b.replace(b"UserName=a", b"UserName=b"))
    assert status == 403 and parse_error(text)[1] == "SignatureDoesNotMatch"
    assert server.iam().list_users()["Users"] == []


def test_clock_skew_beyond_fifteen_minutes(server):
    old = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)).strftime("%Y%m%dT%H%M%SZ")
    status, text, _ = server.raw("Action=ListUsers&Version=2010-05-08", amz_date=old)
    assert status == 403
    _, code, msg, _ = parse_error(text)
    assert code == "SignatureDoesNotMatch"
    assert re.fullmatch(rf"Signature expired: {old} is now earlier than \d{{8}}T\d{{6}}Z \(\d{{8}}T\d{{6}}Z - 15 min\.\)", msg), msg
    future = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=20)).strftime("%Y%m%dT%H%M%SZ")
    _, code, msg, _ = parse_error(server.raw("Action=ListUsers&Version=2010-05-08", amz_date=future)[1])
    assert code == "SignatureDoesNotMatch" and msg.startswith(f"Signature not yet current: {future} is still later than")
    near = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)).strftime("%Y%m%dT%H%M%SZ")
    assert server.raw("Action=ListUsers&Version=2010-05-08", amz_date=near)[0] == 200


def test_incomplete_authorization_header(server):
    status, text, _ = server.raw("Action=ListUsers&Version=2010-05-08", sign=False,
                                 headers={"authorization": "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc"})
    assert status == 400
    _, code, msg, _ = parse_error(text)
    assert code == "IncompleteSignature" and msg.startswith("Authorization header requires 'Credential' parameter.")


def test_unknown_action_and_wrong_version(server):
    status, text, _ = server.raw("Action=FrobnicateUsers&Version=2010-05-08")
    assert status == 400
    assert parse_error(text)[1:3] == ("InvalidAction", "Could not find operation FrobnicateUsers for version 2010-05-08")
    status, text, _ = server.raw("Action=ListUsers&Version=2011-01-01")
    assert status == 400 and parse_error(text)[1] == "InvalidAction"
    # an IAM action signed for STS is not an STS operation
    status, text, _ = server.raw("Action=ListUsers&Version=2011-06-15", service="sts")
    assert status == 400 and parse_error(text)[1] == "InvalidAction"


def test_validation_error_text_and_status(server):
    status, text, _ = server.raw("Action=CreateUser&Version=2010-05-08&UserName=" + "a" * 65)
    assert status == 400
    _, code, msg, _ = parse_error(text)
    assert code == "ValidationError"
    assert msg == f"1 validation error detected: Value '{'a' * 65}' at 'userName' failed to satisfy constraint: Member must have length less than or equal to 64"
    _, code, msg, _ = parse_error(server.raw("Action=CreateUser&Version=2010-05-08")[1])
    assert msg == "1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null"
    _, code, msg, _ = parse_error(server.raw("Action=CreateUser&Version=2010-05-08&UserName=a%20b&Path=x")[1])
    assert msg.startswith("2 validation errors detected: ")


def test_success_envelope_shape(server):
    status, text, headers = server.raw("Action=ListUsers&Version=2010-05-08")
    assert status == 200 and headers["content-type"].startswith("text/xml")
    root = ET.fromstring(text)
    assert root.tag == "{https://iam.amazonaws.com/doc/2010-05-08/}ListUsersResponse"
    assert root.find("i:ListUsersResult/i:Users", NS) is not None
    assert root.find("i:ListUsersResult/i:IsTruncated", NS).text == "false"
    assert root.find("i:ResponseMetadata/i:RequestId", NS).text == headers["x-amzn-requestid"]
    status, text, _ = server.raw("Action=CreateUser&Version=2010-05-08&UserName=x")
    status, text, _ = server.raw("Action=DeleteUser&Version=2010-05-08&UserName=x")
    root = ET.fromstring(text)
    assert status == 200 and root.find("i:DeleteUserResult", NS) is None and root.find("i:ResponseMetadata", NS) is not None
    status, text, _ = server.raw("Action=GetCallerIdentity&Version=2011-06-15", service="sts")
    root = ET.fromstring(text)
    assert root.find("s:GetCallerIdentityResult/s:Arn", NS).text.endswith(":root")


def test_get_with_query_string_and_presigned_url(server):
    status, text, _ = server.raw(method="GET", query="Action=GetAccountSummary&Version=2010-05-08", body=b"")
    assert status == 200 and "SummaryMap" in text
    q = presign_query(server.endpoint, {"Action": "GetCallerIdentity", "Version": "2011-06-15"}, server.root)
    with urllib.request.urlopen(server.endpoint + "/?" + q) as r:
        assert r.status == 200 and server.account["account_id"] in r.read().decode()
    old = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)).strftime("%Y%m%dT%H%M%SZ")
    q = presign_query(server.endpoint, {"Action": "GetCallerIdentity", "Version": "2011-06-15"}, server.root, expires=60, amz_date=old)
    try:
        urllib.request.urlopen(server.endpoint + "/?" + q)
        raise AssertionError("an expired presigned URL was accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 403 and parse_error(e.read().decode())[1] == "SignatureDoesNotMatch"
    q = presign_query(server.endpoint, {"Action": "GetCallerIdentity", "Version": "2011-06-15"}, server.root).replace("GetCallerIdentity", "GetAccountSummary")
    try:
        urllib.request.urlopen(server.endpoint + "/?" + q)
        raise AssertionError("an altered presigned URL was accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 403


def test_any_region_signs_but_service_must_be_iam_or_sts(server):
    assert server.client("iam", region="eu-west-3").list_users()["Users"] == []
    status, text, _ = server.raw("Action=ListUsers&Version=2010-05-08", service="s3")
    assert status == 403 and parse_error(text)[1] == "SignatureDoesNotMatch"


def test_oversized_body_is_refused_without_harm(server):
    import socket
    import urllib.parse
    u = urllib.parse.urlsplit(server.endpoint)
    with socket.create_connection((u.hostname, u.port), timeout=10) as sock:
        # announce 2 MiB, send only the start: the refusal must not wait for (or buffer) the rest
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 2097152\r\n\r\nAction=CreateUser&Version=2010-05-08&UserName=big&Pad=xxxx")
        data = b""
        while b"</ErrorResponse>" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert parse_error(body.decode())[1] == "RequestEntityTooLarge"
    assert server.iam().list_users()["Users"] == []
    assert server.sts().get_caller_identity()["Account"] == server.account["account_id"]


def test_empty_list_form_and_garbage_never_crash(server):
    assert server.raw("Action=TagUser&Version=2010-05-08&UserName=nobody&Tags=")[0] in (400, 404)
    for body in ("%%%", "Action=&Version=", "Action=ListUsers&Version=2010-05-08&MaxItems=abc", "Action=ListUsers&Version=2010-05-08&Marker=%FF%FE"):
        status, text, _ = server.raw(body)
        assert 400 <= status < 500, (body, status, text)
        parse_error(text)
