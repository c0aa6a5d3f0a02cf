"""`aws login` against iamd: Playwright signs in to the console with an app code and allows the CLI, a
loopback listener receives the code, botocore's own `signin` client exchanges it with a DPoP proof
(awscrt keys, botocore's own proof builder), the cache file is written as the CLI writes it, and a
`login_session` profile then calls STS and IAM — an action allowed only with MFA included — and
refreshes by itself. Then the refusals: wrong verifier, reused code, another key, a replayed proof,
a wrong htu, a non-loopback redirect, an old refresh token, revocation by a password change.

The stock CLI v2 is not installable here (not on PyPI): these use the same botocore 1.44 code the
CLI's login and boto3's refresh run.
"""

import base64
import datetime
import hashlib
import http.server
import json
import os
import secrets
import string
import textwrap
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from test_console import SELF_MANAGE, Console, browser, make_console_user, wait_for_step_after  # noqa: F401
from conftest import now_step, totp

awscrt_crypto = pytest.importorskip("awscrt.crypto")
import boto3  # noqa: E402
import botocore  # noqa: E402
import botocore.session  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import _build_add_dpop_header_handler, _build_dpop_header  # noqa: E402
from botocore.utils import JSONFileCache, generate_login_cache_key  # noqa: E402

SAME_DEVICE = "arn:aws:signin:::devtools/same-device"
SIGNIN_POLICY = "arn:aws:iam::aws:policy/SignInLocalDevelopmentAccess"


def cli_user(server, name, without_mfa=False):
    """A console user with AWS's self-manage policy and the Sign-In permissions `aws login` needs
    (AWS's managed SignInLocalDevelopmentAccess). `without_mfa`: the self-manage policy's deny of
    everything without MFA spares `aws login` itself."""
    account = make_console_user(server, name)
    if without_mfa:
        doc = json.loads(json.dumps(SELF_MANAGE))
        doc["Statement"][-1]["NotAction"] += ["signin:AuthorizeOAuth2Access", "signin:CreateOAuth2Token"]
        server.iam().put_user_policy(UserName=name, PolicyName="self-manage", PolicyDocument=json.dumps(doc))
    server.iam().attach_user_policy(UserName=name, PolicyArn=SIGNIN_POLICY)
    return account
EC, ECType, ECExportFormat = awscrt_crypto.EC, awscrt_crypto.ECType, awscrt_crypto.ECExportFormat


def callback_server():
    got, done = {}, threading.Event()

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
            if "code" in q and "state" in q or "error" in q:
                got.update(q)
                done.set()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, got, done


def authorize_url(base, redirect_uri, challenge, state, client=SAME_DEVICE):
    q = urllib.parse.urlencode({"response_type": "code", "client_id": client, "state": state, "code_challenge_method": "SHA-256",
                                "scope": "openid", "redirect_uri": redirect_uri}, quote_via=urllib.parse.quote, safe="-._~")
    return f"{base}/v1/authorize?{q}&code_challenge={challenge}"


def pkce():
    verifier = "".join(secrets.choice(string.ascii_letters + string.digits + "-._~") for _ in range(64))
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode()[:-1]


def signin_client(base, key):
    c = botocore.session.get_session().create_client("signin", region_name="us-east-1", endpoint_url=base,
                                                     config=Config(signature_version=botocore.UNSIGNED))
    c.meta.events.register("before-call.signin.CreateOAuth2Token", _build_add_dpop_header_handler(key))
    return c


def browser_login(c, account, user, seed, state, challenge, redirect_uri, after_step):
    """The browser part: the authorize link, the console's sign-in with an app code, then Allow."""
    c.page.goto(authorize_url(c.base, redirect_uri, challenge, state))
    c.page.get_by_label("Account ID or alias").fill(account)
    c.page.get_by_label("User name").fill(user)
    c.page.get_by_label("Password", exact=True).fill("Console-Pass-1!")
    c.button("Sign in").click()
    c.page.wait_for_load_state()
    if "Additional verification required" in c.text():
        c.pick_device("Authenticator app: phone")
    wait_for_step_after(after_step)
    n = now_step()
    c.enter_code(totp(seed, n))
    assert "Allow the AWS CLI?" in c.text(), c.text()
    assert f"user/{user}" in c.text() and "MFA device" in c.text()
    c.shot("consent")
    with c.page.expect_navigation(url=lambda u: u.startswith(redirect_uri)):
        c.button("Allow").click()
    return n


def raw_token(base, body, dpop):
    req = urllib.request.Request(f"{base}/v1/token", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", **({"DPoP": dpop} if dpop else {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read()), r.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), e.headers


def test_aws_login_with_an_app_code_gives_a_refreshing_mfa_session(browser, server, tmp_path, monkeypatch):  # noqa: F811
    account = cli_user(server, "lena", without_mfa=True)
    c = Console(browser, server, "aws-login")
    try:
        c.sign_in_user(account, "lena")
        # Signed in with the password alone (no device yet): straight to consent, and credentials like
        # that console session's — IAM allowed, aws:MultiFactorAuthPresent false.
        verifier, challenge = pkce()
        srv, got, done = callback_server()
        redirect_uri = f"http://127.0.0.1:{srv.server_port}/oauth/callback"
        c.page.goto(authorize_url(c.base, redirect_uri, challenge, "no-mfa"))
        assert "without an MFA device" in c.text(), c.text()
        with c.page.expect_navigation(url=lambda u: u.startswith(redirect_uri)):
            c.button("Allow").click()
        assert done.wait(20)
        srv.shutdown()
        plain = exchange(c.base, EC.new_generate(ECType.P_256), SAME_DEVICE, got["code"], verifier, redirect_uri)
        _, iam_plain = sts_and_iam(c.base, plain)
        assert iam_plain.get_user()["User"]["UserName"] == "lena"
        with pytest.raises(botocore.exceptions.ClientError) as e:
            iam_plain.list_access_keys(UserName="lena")
        assert e.value.response["Error"]["Code"] == "AccessDenied"
        c.goto("/console")
        seed, step = c.assign_app("phone")
        c.sign_out()

        # About 0.8% of awscrt's keys have a coordinate shorter than 32 bytes; this login uses one.
        key = EC.new_generate(ECType.P_256)
        while all(len(v) == 32 for v in key.get_public_coords()):
            key = EC.new_generate(ECType.P_256)
        verifier, challenge = pkce()
        state = str(uuid.uuid4())
        srv, got, done = callback_server()
        redirect_uri = f"http://127.0.0.1:{srv.server_port}/oauth/callback"
        step = browser_login(c, account, "lena", seed, state, challenge, redirect_uri, step)
        assert done.wait(20) and got.get("state") == state and "code" in got, got
        srv.shutdown()

        client = signin_client(c.base, key)
        # Refused before the exchange: another verifier spends the code.
        with pytest.raises(client.exceptions.ValidationException) as e:
            client.create_o_auth2_token(tokenInput={"clientId": SAME_DEVICE, "grantType": "authorization_code", "code": got["code"],
                                                    "codeVerifier": "x" * 64, "redirectUri": redirect_uri})
        assert e.value.response["error"] == "INVALID_REQUEST"

        # A second login, exchanged properly.
        verifier, challenge = pkce()
        state = str(uuid.uuid4())
        srv, got, done = callback_server()
        redirect_uri = f"http://127.0.0.1:{srv.server_port}/oauth/callback"
        c.page.goto(authorize_url(c.base, redirect_uri, challenge, state))
        # Already signed in with MFA: straight to consent.
        assert "Allow the AWS CLI?" in c.text(), c.text()
        with c.page.expect_navigation(url=lambda u: u.startswith(redirect_uri)):
            c.button("Allow").click()
        assert done.wait(20) and got.get("state") == state
        srv.shutdown()
        body = {"clientId": SAME_DEVICE, "grantType": "authorization_code", "code": got["code"], "codeVerifier": verifier, "redirectUri": redirect_uri}
        out = client.create_o_auth2_token(tokenInput=body)["tokenOutput"]
        assert out["tokenType"] == "aws_sigv4" and 0 < out["expiresIn"] <= 900
        p = out["idToken"].split(".")[1]
        sub = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["sub"]
        assert sub == f"arn:aws:iam::{account}:user/lena"
        # The code works once.
        with pytest.raises(client.exceptions.ValidationException):
            client.create_o_auth2_token(tokenInput=body)

        # The cache file and profile, as the CLI writes them.
        cache = tmp_path / "login-cache"
        monkeypatch.setenv("AWS_LOGIN_CACHE_DIRECTORY", str(cache))
        config = tmp_path / "config"
        config.write_text(f"[profile iamd]\nlogin_session = {sub}\nregion = us-east-1\nservices = iamd\n"
                          f"[services iamd]\nsignin =\n  endpoint_url = {c.base}\nsts =\n  endpoint_url = {c.base}\niam =\n  endpoint_url = {c.base}\n")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            monkeypatch.delenv(k, raising=False)
        exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=out["expiresIn"])
        pem = textwrap.fill(base64.b64encode(key.export_key(ECExportFormat.SEC1)).decode(), 64)
        entry = {"accessToken": {**out["accessToken"], "accountId": sub.split(":")[4], "expiresAt": exp.strftime("%Y-%m-%dT%H:%M:%SZ")},
                 "tokenType": out["tokenType"], "clientId": SAME_DEVICE, "refreshToken": out["refreshToken"], "idToken": out["idToken"],
                 "dpopKey": f"-----BEGIN EC PRIVATE KEY-----\n{pem}\n-----END EC PRIVATE KEY-----\n"}
        JSONFileCache(str(cache))[generate_login_cache_key(sub)] = entry
        path = cache / (generate_login_cache_key(sub) + ".json")

        s = boto3.Session(profile_name="iamd")
        assert s.client("sts").get_caller_identity()["Arn"] == sub
        # Allowed only with MFA (the self-manage policy denies it otherwise).
        assert s.client("iam").list_access_keys(UserName="lena")["AccessKeyMetadata"] == []

        # Expired in the cache: botocore refreshes with the same DPoP key and a rotated refresh token.
        first = json.loads(path.read_text())
        first["accessToken"]["expiresAt"] = "2020-01-01T00:00:00Z"
        path.write_text(json.dumps(first))
        s = boto3.Session(profile_name="iamd")
        assert s.client("sts").get_caller_identity()["Arn"] == sub
        second = json.loads(path.read_text())
        assert second["accessToken"]["accessKeyId"] != out["accessToken"]["accessKeyId"]
        assert second["refreshToken"] != out["refreshToken"]
        assert s.client("iam").list_access_keys(UserName="lena")["AccessKeyMetadata"] == []

        # Another DPoP key cannot refresh this login.
        other = signin_client(c.base, EC.new_generate(ECType.P_256))
        with pytest.raises(other.exceptions.ValidationException):
            other.create_o_auth2_token(tokenInput={"clientId": SAME_DEVICE, "refreshToken": second["refreshToken"], "grantType": "refresh_token"})
        # A replayed proof is refused; a proof for another URL too.
        url = f"{c.base}/v1/token"
        refresh = {"clientId": SAME_DEVICE, "refreshToken": second["refreshToken"], "grantType": "refresh_token"}
        proof = _build_dpop_header(key, url)
        status, body, headers = raw_token(c.base, refresh, proof)
        assert status == 200, body
        third = body
        status, body, headers = raw_token(c.base, {**refresh, "refreshToken": third["refreshToken"]}, proof)
        assert (status, body["error"], headers.get("x-amzn-ErrorType")) == (400, "INVALID_REQUEST", "ValidationException"), body
        status, body, _ = raw_token(c.base, {**refresh, "refreshToken": third["refreshToken"]}, _build_dpop_header(key, url.replace("/v1/token", "/v2/token")))
        assert body["error"] == "INVALID_REQUEST" and "htu" in body["message"]
        status, body, _ = raw_token(c.base, {**refresh, "refreshToken": third["refreshToken"]}, None)
        assert body["error"] == "INVALID_REQUEST"
        # The token replaced just now is still honoured (racing processes share one cache file): it
        # gets the current refresh token. One replaced before that asks for a new login.
        status, body, _ = raw_token(c.base, refresh, _build_dpop_header(key, url))
        assert status == 200 and body["refreshToken"] == third["refreshToken"], body
        status, body, headers = raw_token(c.base, {**refresh, "refreshToken": out["refreshToken"]}, _build_dpop_header(key, url))
        assert (body["error"], headers.get("x-amzn-ErrorType")) == ("TOKEN_EXPIRED", "AccessDeniedException"), body

        # Without signin:CreateOAuth2Token the refresh is refused as INSUFFICIENT_PERMISSIONS.
        server.iam().detach_user_policy(UserName="lena", PolicyArn=SIGNIN_POLICY)
        status, body, headers = raw_token(c.base, {**refresh, "refreshToken": third["refreshToken"]}, _build_dpop_header(key, url))
        assert (body["error"], headers.get("x-amzn-ErrorType")) == ("INSUFFICIENT_PERMISSIONS", "AccessDeniedException"), body
        server.iam().attach_user_policy(UserName="lena", PolicyArn=SIGNIN_POLICY)

        # A password change ends the login: the refresh asks for a new login, and the credentials
        # already issued stop at once.
        live = boto3.client("sts", endpoint_url=c.base, region_name="us-east-1", aws_access_key_id=third["accessToken"]["accessKeyId"],
                            aws_secret_access_key=third["accessToken"]["secretAccessKey"], aws_session_token=third["accessToken"]["sessionToken"])
        assert live.get_caller_identity()["Arn"] == sub
        server.iam().update_login_profile(UserName="lena", Password="Another-Pass-2!")
        status, body, headers = raw_token(c.base, {**refresh, "refreshToken": third["refreshToken"]}, _build_dpop_header(key, url))
        assert (body["error"], headers.get("x-amzn-ErrorType")) == ("USER_CREDENTIALS_CHANGED", "AccessDeniedException"), body
        with pytest.raises(botocore.exceptions.ClientError) as e:
            live.get_caller_identity()
        assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"

        # The trail names the device behind each token issue.
        ct = server.client("cloudtrail")
        events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateOAuth2Token"}])["Events"]
        assert len(events) >= 3
        rec = json.loads(events[0]["CloudTrailEvent"])
        assert rec["additionalEventData"]["MFAUsed"] == "Yes" and ":mfa/phone" in rec["additionalEventData"]["MFAIdentifier"]
        assert rec["userIdentity"]["arn"] == sub
        calls = ct.lookup_events(LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": out["accessToken"]["accessKeyId"]}])["Events"]
        made = [json.loads(e["CloudTrailEvent"]) for e in calls if e["EventName"] in ("GetCallerIdentity", "ListAccessKeys")]
        assert made and all(r["userIdentity"]["sessionContext"]["attributes"]["mfaAuthenticated"] == "true" for r in made)
        dumped = json.dumps(events, default=str)
        assert out["refreshToken"] not in dumped and out["accessToken"]["secretAccessKey"] not in dumped and out["accessToken"]["sessionToken"] not in dumped
    finally:
        c.close()


def test_authorize_refuses_what_the_cli_never_sends(server):
    base = server.endpoint
    _, challenge = pkce()
    for redirect in ["http://localhost:8080/oauth/callback", "https://evil.example/oauth/callback", "http://127.0.0.1:8080/elsewhere"]:
        req = urllib.request.Request(authorize_url(base, redirect, challenge, "s"))
        opener = urllib.request.build_opener(type("NoRedirect", (urllib.request.HTTPRedirectHandler,), {"redirect_request": lambda *a, **k: None}))
        with pytest.raises(urllib.error.HTTPError) as e:
            opener.open(req, timeout=10)
        assert e.value.code == 400 and e.value.headers.get("Location") is None, redirect
    # A token call with a proof signed by alg none, or none at all.
    none = base64.urlsafe_b64encode(json.dumps({"typ": "dpop+jwt", "alg": "none"}).encode()).decode().rstrip("=")
    status, body, headers = raw_token(base, {"clientId": SAME_DEVICE, "grantType": "refresh_token", "refreshToken": "x"}, f"{none}.e30.")
    assert (status, body["error"], headers.get("x-amzn-ErrorType")) == (400, "INVALID_REQUEST", "ValidationException")


FIDO2_ONLY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*",
                   "Condition": {"StringEquals": {"iamd:MultiFactorAuthType": "fido2"}}}],
}


def sts_and_iam(base, token):
    creds = dict(endpoint_url=base, region_name="us-east-1", aws_access_key_id=token["accessToken"]["accessKeyId"],
                 aws_secret_access_key=token["accessToken"]["secretAccessKey"], aws_session_token=token["accessToken"]["sessionToken"])
    return boto3.client("sts", **creds), boto3.client("iam", **creds)


def exchange(base, key, client_id, code, verifier, redirect_uri):
    return signin_client(base, key).create_o_auth2_token(tokenInput={
        "clientId": client_id, "grantType": "authorization_code", "code": code, "codeVerifier": verifier, "redirectUri": redirect_uri})["tokenOutput"]


def allow(c, url, redirect_prefix):
    c.page.goto(url)
    assert "Allow the AWS CLI?" in c.text(), c.text()
    with c.page.expect_navigation(url=lambda u: u.startswith(redirect_prefix)):
        c.button("Allow").click()


def test_passkey_login_meets_a_fido2_policy_remote_login_and_revocation(browser, server):  # noqa: F811
    account = make_console_user(server, "pia")
    server.iam().put_user_policy(UserName="pia", PolicyName="fido2-only", PolicyDocument=json.dumps(FIDO2_ONLY))
    c = Console(browser, server, "aws-login-passkey")
    try:
        c.sign_in_user(account, "pia")
        c.assign_key("yubikey")
        seed, step = c.assign_app("phone")
        # Without signin:AuthorizeOAuth2Access the console refuses to hand the CLI a code.
        c.page.goto(authorize_url(c.base, "http://127.0.0.1:9/oauth/callback", pkce()[1], "refused"))
        assert "cannot sign in as you" in c.text() and "SignInLocalDevelopmentAccess" in c.text(), c.text()
        assert c.page.locator("#allow").count() == 0
        server.iam().attach_user_policy(UserName="pia", PolicyArn=SIGNIN_POLICY)
        c.sign_out()

        # Same device, with the security key (the virtual authenticator).
        key = EC.new_generate(ECType.P_256)
        verifier, challenge = pkce()
        state = str(uuid.uuid4())
        srv, got, done = callback_server()
        redirect_uri = f"http://127.0.0.1:{srv.server_port}/oauth/callback"
        c.page.goto(authorize_url(c.base, redirect_uri, challenge, state))
        c.page.get_by_label("Account ID or alias").fill(account)
        c.page.get_by_label("User name").fill("pia")
        c.page.get_by_label("Password", exact=True).fill("Console-Pass-1!")
        c.button("Sign in").click()
        c.page.wait_for_load_state()
        c.pick_device("Passkey or security key: yubikey")
        c.tap_key()
        assert "Allow the AWS CLI?" in c.text() and ":u2f/user/pia/yubikey-" in c.text(), c.text()
        with c.page.expect_navigation(url=lambda u: u.startswith(redirect_uri)):
            c.button("Allow").click()
        assert done.wait(20) and got.get("state") == state
        srv.shutdown()
        by_key = exchange(c.base, key, SAME_DEVICE, got["code"], verifier, redirect_uri)
        sts, iam = sts_and_iam(c.base, by_key)
        assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{account}:user/pia"
        # Allowed only with a phishing-resistant factor: iamd:MultiFactorAuthType is fido2.
        assert any(u["UserName"] == "pia" for u in iam.list_users()["Users"])
        c.goto("/console")
        c.sign_out()

        # With the app's code, the same policy refuses it (totp).
        verifier, challenge = pkce()
        state = str(uuid.uuid4())
        srv, got, done = callback_server()
        redirect_uri = f"http://127.0.0.1:{srv.server_port}/oauth/callback"
        browser_login(c, account, "pia", seed, state, challenge, redirect_uri, step)
        assert done.wait(20) and got.get("state") == state
        srv.shutdown()
        app_key = EC.new_generate(ECType.P_256)
        by_app = exchange(c.base, app_key, SAME_DEVICE, got["code"], verifier, redirect_uri)
        _, iam_app = sts_and_iam(c.base, by_app)
        with pytest.raises(botocore.exceptions.ClientError) as e:
            iam_app.list_users()
        assert e.value.response["Error"]["Code"] == "AccessDenied"
        assert iam_app.list_access_keys(UserName="pia")["AccessKeyMetadata"] == []  # MFA present

        # Another device (--remote): the browser shows base64("state=…&code=…") to paste.
        cross = "arn:aws:signin:::devtools/cross-device"
        confirmation = f"{c.base}/v1/sessions/confirmation"
        verifier, challenge = pkce()
        state = str(uuid.uuid4())
        allow(c, authorize_url(c.base, confirmation, challenge, state, client=cross), confirmation)
        pasted = c.page.locator("#login-code").input_value()
        c.button("Copy").click()
        c.page.wait_for_function("document.getElementById('copy-login-code').textContent === 'Copied'")
        c.shot("remote-code")
        fields = dict(urllib.parse.parse_qsl(base64.b64decode(pasted).decode()))
        assert fields["state"] == state
        remote = exchange(c.base, EC.new_generate(ECType.P_256), cross, fields["code"], verifier, confirmation)
        sts_remote, _ = sts_and_iam(c.base, remote)
        assert sts_remote.get_caller_identity()["Arn"] == f"arn:aws:iam::{account}:user/pia"
        # The cross-device code is not for the same-device client.
        verifier, challenge = pkce()
        allow(c, authorize_url(c.base, confirmation, challenge, "s2", client=cross), confirmation)
        fields = dict(urllib.parse.parse_qsl(base64.b64decode(c.page.locator("#login-code").input_value()).decode()))
        client = signin_client(c.base, EC.new_generate(ECType.P_256))
        with pytest.raises(client.exceptions.ValidationException):
            client.create_o_auth2_token(tokenInput={"clientId": SAME_DEVICE, "grantType": "authorization_code", "code": fields["code"],
                                                    "codeVerifier": verifier, "redirectUri": confirmation})

        # Deny sends the CLI access_denied, and no code.
        srv, got, done = callback_server()
        redirect_uri = f"http://127.0.0.1:{srv.server_port}/oauth/callback"
        c.page.goto(authorize_url(c.base, redirect_uri, pkce()[1], "denied"))
        # The consent is a POST with the session's CSRF token: without it, nothing is allowed.
        forged = c.context.request.post(c.page.url, form={"decision": "allow"}, headers={"Origin": c.base}, max_redirects=0)
        assert forged.status == 403 and not done.is_set(), forged.status
        with c.page.expect_navigation(url=lambda u: u.startswith(redirect_uri)):
            c.button("Deny").click()
        assert done.wait(20) and got.get("error") == "access_denied" and got.get("state") == "denied" and "code" not in got
        srv.shutdown()

        # The Security credentials page lists the logins; Revoke ends the newest (the remote one).
        c.goto("/console/security")
        rows = c.page.locator("#cli-logins tbody tr")
        assert rows.count() == 3, c.text()
        c.shot("cli-logins")
        rows.first.get_by_role("button", name="Revoke").click()
        c.page.wait_for_load_state()
        assert "The CLI login was revoked" in c.text(), c.text()
        assert c.page.locator("#cli-logins tbody tr").count() == 2
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sts_remote.get_caller_identity()
        assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"

        # Removing the security key ends the login made with it, not the one made with the app.
        c.remove("yubikey")
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sts.get_caller_identity()
        assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"
        sts_app, _ = sts_and_iam(c.base, by_app)
        assert sts_app.get_caller_identity()["Arn"] == f"arn:aws:iam::{account}:user/pia"
    finally:
        c.close()

    # An administrator (root here) ends every session and CLI login of the user from the user's page.
    admin = Console(browser, server, "aws-login-admin")
    try:
        admin.sign_in_root(server.account["root_email"], server.account["root_password"])
        admin.goto("/console/users/pia")
        assert admin.page.locator("#cli-login-count").inner_text() == "1"
        admin.button("End sessions").click()
        admin.page.wait_for_load_state()
        assert "has ended" in admin.text() and admin.page.locator("#cli-login-count").inner_text() == "0"
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sts_app.get_caller_identity()
        assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"
        status, body, headers = raw_token(admin.base, {"clientId": SAME_DEVICE, "grantType": "refresh_token", "refreshToken": by_app["refreshToken"]},
                                          _build_dpop_header(app_key, f"{admin.base}/v1/token"))
        assert (status, body["error"], headers.get("x-amzn-ErrorType")) == (400, "USER_CREDENTIALS_CHANGED", "AccessDeniedException"), body
    finally:
        admin.close()


def test_any_node_serves_any_step_of_a_login(browser, server, tmpdir_path):  # noqa: F811
    if server.backend != "postgres":
        pytest.skip("several nodes share PostgreSQL")
    account = cli_user(server, "noa")
    node2 = server.second_node(tmpdir_path)
    base2 = node2.endpoint.replace("127.0.0.1", "localhost")
    c = Console(browser, server, "aws-login-two-nodes")
    try:
        c.sign_in_user(account, "noa")
        seed, step = c.assign_app("phone")
        c.sign_out()
        key = EC.new_generate(ECType.P_256)
        verifier, challenge = pkce()
        srv, got, done = callback_server()
        redirect_uri = f"http://127.0.0.1:{srv.server_port}/oauth/callback"
        # The browser on node 1; the code exchanged on node 2; refreshed on node 1.
        browser_login(c, account, "noa", seed, "two-nodes", challenge, redirect_uri, step)
        assert done.wait(20) and got.get("state") == "two-nodes"
        srv.shutdown()
        out = exchange(base2, key, SAME_DEVICE, got["code"], verifier, redirect_uri)
        with pytest.raises(botocore.exceptions.ClientError):
            exchange(c.base, EC.new_generate(ECType.P_256), SAME_DEVICE, got["code"], verifier, redirect_uri)
        status, body, _ = raw_token(c.base, {"clientId": SAME_DEVICE, "grantType": "refresh_token", "refreshToken": out["refreshToken"]},
                                    _build_dpop_header(key, f"{c.base}/v1/token"))
        assert status == 200, body
        # Revoked through node 2 (a password change): the credentials stop on node 1 at once.
        sts1, _ = sts_and_iam(c.base, body)
        assert sts1.get_caller_identity()["Arn"].endswith(":user/noa")
        node2.iam().update_login_profile(UserName="noa", Password="Another-Pass-2!")
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sts1.get_caller_identity()
        assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"
    finally:
        c.close()
        node2.stop()


def es256_proof(key, header, claims):
    """A DPoP proof signed by an awscrt key with the header and claims given (botocore's method)."""
    b64 = lambda d: base64.urlsafe_b64encode(json.dumps(d, separators=(",", ":")).encode()).decode().rstrip("=")
    signing_input = f"{b64(header)}.{b64(claims)}"
    der = key.sign(hashlib.sha256(signing_input.encode()).digest())
    sig = EC.decode_der_signature_to_padded_pair(der, pad_to=32)
    return f"{signing_input}.{base64.urlsafe_b64encode(sig).decode().rstrip('=')}"


def test_token_endpoint_refuses_forged_proofs_on_the_wire(server):
    import hmac
    import time
    base = server.endpoint
    url = f"{base}/v1/token"
    key = EC.new_generate(ECType.P_256)
    x, y = key.get_public_coords()
    b64u = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")
    jwk = {"kty": "EC", "x": b64u(x), "y": b64u(y), "crv": "P-256"}
    claims = {"htm": "POST", "htu": url, "iat": int(time.time()), "jti": str(uuid.uuid4())}
    body = {"clientId": SAME_DEVICE, "grantType": "refresh_token", "refreshToken": "unknown"}
    # The genuine proof reaches the grant check (an unknown refresh token asks for a new login) ...
    status, out, headers = raw_token(base, body, es256_proof(key, {"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}, claims))
    assert (out["error"], headers.get("x-amzn-ErrorType")) == ("TOKEN_EXPIRED", "AccessDeniedException"), out
    # ... forged ones never do.
    forged = {
        "a private key in the jwk": es256_proof(key, {"typ": "dpop+jwt", "alg": "ES256", "jwk": {**jwk, "d": b64u(b"\x01" * 32)}}, {**claims, "jti": str(uuid.uuid4())}),
        "typ JWT": es256_proof(key, {"typ": "JWT", "alg": "ES256", "jwk": jwk}, {**claims, "jti": str(uuid.uuid4())}),
        "a GET": es256_proof(key, {"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}, {**claims, "htm": "GET", "jti": str(uuid.uuid4())}),
        "an old iat": es256_proof(key, {"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}, {**claims, "iat": claims["iat"] - 3600, "jti": str(uuid.uuid4())}),
    }
    head = base64.urlsafe_b64encode(json.dumps({"typ": "dpop+jwt", "alg": "HS256", "jwk": jwk}).encode()).decode().rstrip("=")
    pay = base64.urlsafe_b64encode(json.dumps({**claims, "jti": str(uuid.uuid4())}).encode()).decode().rstrip("=")
    forged["HS256"] = f"{head}.{pay}.{b64u(hmac.new(b'k', f'{head}.{pay}'.encode(), hashlib.sha256).digest())}"
    for what, proof in forged.items():
        status, out, headers = raw_token(base, body, proof)
        assert (status, out["error"], headers.get("x-amzn-ErrorType")) == (400, "INVALID_REQUEST", "ValidationException"), (what, out)
