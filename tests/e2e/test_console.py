"""The web console in a real browser: headless Chromium (Debian's package) driven by Playwright, with a
CDP virtual authenticator (WebAuthn.addVirtualAuthenticator, ctap2) standing in for a security key.

Every page the tests pass through is saved as a screenshot under artifacts/console/<test>/.
The console is opened at http://localhost:PORT: browsers refuse WebAuthn on http://127.0.0.1.
"""

import html
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import ROOT, b32decode, http, now_step, totp

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("IAMD_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = os.path.join(ROOT, "artifacts", "console")

SELF_MANAGE = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "AllowViewAccountInfo", "Effect": "Allow", "Action": ["iam:GetAccountPasswordPolicy", "iam:ListVirtualMFADevices"], "Resource": "*"},
        {"Sid": "AllowManageOwnPasswords", "Effect": "Allow", "Action": ["iam:ChangePassword", "iam:GetUser"], "Resource": "arn:aws:iam::*:user/${aws:username}"},
        {"Sid": "AllowManageOwnAccessKeys", "Effect": "Allow",
         "Action": ["iam:CreateAccessKey", "iam:DeleteAccessKey", "iam:ListAccessKeys", "iam:UpdateAccessKey"], "Resource": "arn:aws:iam::*:user/${aws:username}"},
        {"Sid": "AllowManageOwnVirtualMFADevice", "Effect": "Allow", "Action": ["iam:CreateVirtualMFADevice"], "Resource": "arn:aws:iam::*:mfa/*"},
        {"Sid": "AllowManageOwnUserMFA", "Effect": "Allow",
         "Action": ["iam:DeactivateMFADevice", "iam:EnableMFADevice", "iam:ListMFADevices", "iam:ResyncMFADevice"], "Resource": "arn:aws:iam::*:user/${aws:username}"},
        {"Sid": "DenyAllExceptListedIfNoMFA", "Effect": "Deny",
         "NotAction": ["iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:GetUser", "iam:ListMFADevices", "iam:ListVirtualMFADevices",
                       "iam:ResyncMFADevice", "sts:GetSessionToken"],
         "Resource": "*", "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}},
    ],
}

PASSWORD = "Console-Pass-1!"


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is not at {CHROMIUM}: run the suite with scripts/test.sh, which installs it")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        yield b
        b.close()


class Console:
    """One browser context on one server, with a virtual authenticator and numbered screenshots."""

    def __init__(self, browser, server, name):
        self.server = server
        port = urllib.parse.urlsplit(server.endpoint).port
        self.base = f"http://localhost:{port}"
        self.context = browser.new_context(viewport={"width": 1100, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(15000)
        self.cdp = self.context.new_cdp_session(self.page)
        self.cdp.send("WebAuthn.enable")
        self.authenticator = self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "usb", "hasResidentKey": True, "hasUserVerification": True,
            "isUserVerified": True, "automaticPresenceSimulation": True}})["authenticatorId"]
        self.dir = os.path.join(ARTIFACTS, f"{name}-{server.backend}")
        os.makedirs(self.dir, exist_ok=True)
        self.n = 0

    def shot(self, what):
        self.n += 1
        self.page.screenshot(path=os.path.join(self.dir, f"{self.n:02d}-{what}.png"), full_page=True)

    def goto(self, path):
        self.page.goto(self.base + path)

    def button(self, name):
        return self.page.get_by_role("button", name=name, exact=True)

    def text(self):
        return self.page.inner_text("body")

    def sign_in_user(self, account, user, password=PASSWORD):
        self.goto("/console")
        self.page.get_by_label("Account ID or alias").fill(account)
        self.page.get_by_label("User name").fill(user)
        self.page.get_by_label("Password", exact=True).fill(password)
        self.shot("sign-in")
        self.button("Sign in").click()
        self.page.wait_for_load_state()

    def sign_in_root(self, email, password):
        self.goto("/console")
        self.page.get_by_role("link", name="Sign in as root user").click()
        self.page.get_by_label("Email address").fill(email)
        self.page.get_by_label("Password", exact=True).fill(password)
        self.shot("root-sign-in")
        self.button("Sign in").click()
        self.page.wait_for_load_state()

    def pick_device(self, label):
        assert "Additional verification required" in self.text()
        self.page.get_by_label(label, exact=True).check()
        self.shot("choose-device")
        self.button("Next").click()
        self.page.wait_for_load_state()

    def enter_code(self, code):
        self.page.get_by_label("MFA code", exact=True).fill(code)
        self.shot("mfa-code")
        self.button("Submit").click()
        self.page.wait_for_load_state()

    def tap_key(self):
        self.shot("security-key")
        with self.page.expect_navigation():
            self.button("Use security key").click()
        self.page.wait_for_load_state()

    def sign_out(self):
        self.button("Sign out").click()
        self.page.wait_for_load_state()
        assert "Sign in" in self.text()

    def assign_app(self, name):
        self.goto("/console/security")
        self.page.get_by_role("link", name="Assign MFA device").click()
        self.page.get_by_label("Device name").fill(name)
        self.page.get_by_label("Authenticator app", exact=True).check()
        self.shot("assign-app")
        self.button("Next").click()
        self.page.get_by_text("Show secret key").click()
        secret = self.page.locator("#secret-key").inner_text().strip()
        self.shot("app-qr")
        # The QR code on the page carries the same secret (decoded from the rendered image).
        import io
        import zxingcpp
        from PIL import Image
        img = Image.open(io.BytesIO(self.page.locator("img.qr").screenshot()))
        uri = zxingcpp.read_barcodes(img)[0].text
        assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
        seed = b32decode(secret)
        n = now_step()
        self.page.get_by_label("MFA code 1").fill(totp(seed, n - 1))
        self.page.get_by_label("MFA code 2").fill(totp(seed, n))
        self.button("Add MFA").click()
        self.page.wait_for_load_state()
        assert "The MFA device was assigned." in self.text(), self.text()
        return seed, n

    def assign_key(self, name):
        self.goto("/console/security")
        self.page.get_by_role("link", name="Assign MFA device").click()
        self.page.get_by_label("Device name").fill(name)
        self.page.get_by_label("Passkey or security key", exact=True).check()
        self.shot("assign-key")
        self.button("Next").click()
        self.tap_key()
        assert "The MFA device was assigned." in self.text(), self.text()

    def remove(self, device_name):
        self.goto("/console/security")
        row = self.page.locator("tr", has_text=device_name)
        row.get_by_role("button", name="Remove").click()
        assert "Remove MFA device?" in self.text()
        self.shot("remove-confirm")
        self.button("Remove").click()
        self.page.wait_for_load_state()
        assert "The MFA device was removed." in self.text(), self.text()

    def close(self):
        self.context.close()


def wait_for_step_after(n):
    """Waits until the clock's TOTP step is past n (a fresh code is then newer than any used)."""
    while now_step() <= n:
        time.sleep(0.5)


def make_console_user(server, name):
    iam = server.iam()
    iam.create_user(UserName=name)
    iam.create_login_profile(UserName=name, Password=PASSWORD, PasswordResetRequired=False)
    iam.put_user_policy(UserName=name, PolicyName="self-manage", PolicyDocument=json.dumps(SELF_MANAGE))
    return server.account["account_id"]


def lookup(server, **attr):
    args = {}
    if attr:
        (k, v), = attr.items()
        args["LookupAttributes"] = [{"AttributeKey": k, "AttributeValue": v}]
    events = server.client("cloudtrail").lookup_events(MaxResults=50, **args)["Events"]
    return [json.loads(e["CloudTrailEvent"]) for e in events]


def signin_records(server, name):
    return [r for r in lookup(server, EventName="ConsoleLogin") if r["userIdentity"].get("userName") == name]


def run_device_lifecycle(c, server, sign_in, device_owner_arn_part, record_name):
    """The issue's scenario for one principal: register a security key and an authenticator app; sign
    out; sign in with the key; sign out; sign in with the app's code (a wrong code first, then a replay);
    remove the key; it can no longer be used; the app still signs in."""
    sign_in()
    assert "Welcome" in c.text(), c.text()  # no device yet: the password alone signs in
    c.shot("home-no-mfa")
    c.goto("/console/security")
    c.shot("security-credentials-empty")
    assert "No MFA devices are assigned." in c.text()
    c.assign_key("yubikey")
    seed, n = c.assign_app("phone")
    c.shot("security-credentials-two-devices")
    table = c.page.locator("table").first.inner_text()
    assert "Passkey or security key" in table and "Authenticator app" in table
    key_serial = re.search(r"arn:aws:iam::\d{12}:u2f/" + device_owner_arn_part + r"/yubikey-[A-Z2-7]{26}", table).group(0)
    app_serial = re.search(r"arn:aws:iam::\d{12}:mfa/phone", table).group(0)
    c.sign_out()

    # With the security key.
    sign_in()
    c.pick_device("Passkey or security key: yubikey")
    c.tap_key()
    assert "Welcome" in c.text() and key_serial in c.text(), c.text()
    c.shot("home-signed-in-with-key")
    c.sign_out()

    # With the app: a wrong code is refused on the page, then the right one signs in.
    sign_in()
    c.pick_device("Authenticator app: phone")
    good = totp(seed, n + 1)
    wrong = next(x for x in ("000000", "111111", "222222") if x not in {totp(seed, s) for s in range(n - 3, n + 4)})
    c.enter_code(wrong)
    assert "The MFA code is not valid" in c.text()
    c.shot("wrong-code")
    c.enter_code(good)
    assert "Welcome" in c.text() and app_serial in c.text(), c.text()
    c.sign_out()

    # The same code again (a replay) is refused.
    sign_in()
    c.pick_device("Authenticator app: phone")
    c.enter_code(good)
    assert "The MFA code is not valid" in c.text()
    c.shot("replayed-code")
    wait_for_step_after(n)
    c.enter_code(totp(seed, n + 2))
    assert "Welcome" in c.text(), c.text()

    # Remove the key (this session has MFA, so the policy allows it); the app keeps working.
    c.remove("yubikey")
    c.shot("security-credentials-key-removed")
    assert key_serial not in c.text() and app_serial in c.text()
    c.sign_out()
    sign_in()
    assert "Additional verification required" in c.text()
    assert "yubikey" not in c.text()
    c.shot("choose-device-after-removal")
    # A stale tab cannot finish a security-key sign-in either: the device is gone from the verify step.
    c.goto("/console/mfa/verify")
    assert "Use security key" not in c.text()
    wait_for_step_after(n + 1)
    c.pick_device("Authenticator app: phone")
    c.enter_code(totp(seed, n + 3))
    assert "Welcome" in c.text(), c.text()
    c.shot("home-after-removal")

    # The trail names the device behind each sign-in.
    recs = [r for r in lookup(server, EventName="ConsoleLogin") if r["userIdentity"].get("userName", "root") == record_name or
            (record_name == "root" and r["userIdentity"]["type"] == "Root")]
    ok = [r for r in recs if r["responseElements"] == {"ConsoleLogin": "Success"}]
    used = [r["additionalEventData"].get("MFAIdentifier") for r in ok]
    assert key_serial in used and app_serial in used, used
    assert any(r["additionalEventData"]["MFAUsed"] == "No" for r in ok)
    failed = [r for r in recs if r.get("errorMessage") == "Failed authentication"]
    assert len(failed) >= 2 and all(r["responseElements"] == {"ConsoleLogin": "Failure"} for r in failed)
    assert {r["additionalEventData"]["MFAIdentifier"] for r in failed} == {app_serial}
    checks = [r for r in lookup(server, EventName="CheckMfa")]
    assert any(r["additionalEventData"]["MfaType"] == "Multiple MFA Devices" for r in checks)
    return key_serial, app_serial


def test_iam_user_signs_in_with_any_device_and_manages_them(browser, server):
    account = make_console_user(server, "carol")
    c = Console(browser, server, "iam-user")
    try:
        key_serial, app_serial = run_device_lifecycle(c, server, lambda: c.sign_in_user(account, "carol"), "user/carol", "carol")
        # The API sees the same devices: the key is gone, the app remains.
        serials = [d["SerialNumber"] for d in server.iam().list_mfa_devices(UserName="carol")["MFADevices"]]
        assert serials == [app_serial]
        with pytest.raises(Exception) as e:
            server.iam().get_mfa_device(UserName="carol", SerialNumber=key_serial)
        assert "NoSuchEntity" in str(e.value)
    finally:
        c.close()


def test_root_signs_in_with_any_device_and_manages_them(browser, server):
    c = Console(browser, server, "root")
    try:
        email, pw = server.account["root_email"], server.account["root_password"]
        key_serial, app_serial = run_device_lifecycle(c, server, lambda: c.sign_in_root(email, pw), "root", "root")
        assert key_serial.startswith(f"arn:aws:iam::{server.account['account_id']}:u2f/root/yubikey-")
        serials = [d["SerialNumber"] for d in server.iam().list_mfa_devices()["MFADevices"]]
        assert serials == [app_serial]
    finally:
        c.close()


def test_security_key_appears_in_the_api_and_counts_toward_eight(browser, server):
    account = make_console_user(server, "dave")
    iam = server.iam()
    # Seven authenticator apps through the API, then a security key through the console: eight.
    seeds = []
    for i in range(7):
        d = iam.create_virtual_mfa_device(VirtualMFADeviceName=f"dave-{i}")["VirtualMFADevice"]
        seed = b32decode(d["Base32StringSeed"].decode())
        n = now_step()
        iam.enable_mfa_device(UserName="dave", SerialNumber=d["SerialNumber"], AuthenticationCode1=totp(seed, n - 1), AuthenticationCode2=totp(seed, n))
        seeds.append((seed, n))
    c = Console(browser, server, "eight")
    try:
        c.sign_in_user(account, "dave")
        c.pick_device("Authenticator app: dave-0")
        c.enter_code(totp(seeds[0][0], seeds[0][1] + 1))
        assert "Welcome" in c.text(), c.text()
        c.goto("/console/security")
        c.assign_key("key8")
        listed = iam.list_mfa_devices(UserName="dave")["MFADevices"]
        assert len(listed) == 8
        key = next(d["SerialNumber"] for d in listed if ":u2f/" in d["SerialNumber"])
        got = iam.get_mfa_device(UserName="dave", SerialNumber=key)
        assert got["SerialNumber"] == key and "EnableDate" in got and got.get("Certifications", {}) == {}
        # The limit shows as a clear message, and the wizard refuses a ninth.
        c.goto("/console/security")
        assert "You have 8 MFA devices" in c.text()
        c.shot("eight-devices")
        c.goto("/console/security/mfa/new")
        assert "You already have 8 MFA devices" in c.text()
        # DeactivateMFADevice through the API removes the key.
        iam.deactivate_mfa_device(UserName="dave", SerialNumber=key)
        assert len(iam.list_mfa_devices(UserName="dave")["MFADevices"]) == 7
    finally:
        c.close()


def test_taken_device_name_asks_for_another(browser, server):
    account = make_console_user(server, "erin")
    server.iam().create_virtual_mfa_device(VirtualMFADeviceName="taken")
    c = Console(browser, server, "taken-name")
    try:
        c.sign_in_user(account, "erin")
        c.goto("/console/security/mfa/new")
        c.page.get_by_label("Device name").fill("taken")
        c.page.get_by_label("Authenticator app", exact=True).check()
        c.button("Next").click()
        assert "is already in use in this account. Choose another name." in c.text()
        c.shot("name-taken")
    finally:
        c.close()


def test_hardware_token_assigned_in_the_console_signs_in(browser, server, tmpdir_path):
    import base64
    account = make_console_user(server, "fred")
    seed = bytes(range(20))
    csv = os.path.join(tmpdir_path, "tokens.csv")
    with open(csv, "w") as f:
        f.write(f"serial,seed\nGAHT00000001,{base64.b32encode(seed).decode()}\n")
    from conftest import run_iamd
    run_iamd("mfa", "import", *server.store_args(), "--account", account, csv)
    c = Console(browser, server, "hardware")
    try:
        c.sign_in_user(account, "fred")
        c.goto("/console/security/mfa/new")
        c.page.get_by_label("Device name").fill("token")
        c.page.get_by_label("Hardware TOTP token", exact=True).check()
        c.button("Next").click()
        c.page.get_by_label("Serial number").fill("GAHT00000001")
        n = now_step()
        c.page.get_by_label("MFA code 1").fill(totp(seed, n - 1))
        c.page.get_by_label("MFA code 2").fill(totp(seed, n))
        c.shot("hardware")
        c.button("Add MFA").click()
        assert "The MFA device was assigned." in c.text(), c.text()
        assert "GAHT00000001" in c.text() and "Hardware TOTP token" in c.text()
        c.sign_out()
        c.sign_in_user(account, "fred")
        c.pick_device("Hardware TOTP token: token")
        c.enter_code(totp(seed, n + 1))
        assert "Welcome" in c.text() and "GAHT00000001" in c.text()
    finally:
        c.close()


def test_password_reset_required_and_guessing_limits(browser, server):
    iam = server.iam()
    account = server.account["account_id"]
    iam.create_user(UserName="gina")
    iam.create_login_profile(UserName="gina", Password=PASSWORD, PasswordResetRequired=True)
    iam.update_account_password_policy(MinimumPasswordLength=12, RequireNumbers=True)
    c = Console(browser, server, "password")
    try:
        # Wrong password and unknown user get the same generic message.
        c.sign_in_user(account, "gina", "wrong-password")
        assert "Your authentication information is incorrect" in c.text()
        first = c.text()
        c.sign_in_user(account, "nobody-here", "wrong-password")
        assert "Your authentication information is incorrect" in c.text()
        c.shot("generic-failure")
        assert first.replace("gina", "") == c.text().replace("nobody-here", "")
        # The reset comes first, under the account's password policy.
        c.sign_in_user(account, "gina")
        assert "Change your password" in c.text()
        c.shot("forced-password-change")
        c.goto("/console/security")
        assert "Change your password" in c.text()  # nothing else until it is changed
        c.page.get_by_label("Old password").fill(PASSWORD)
        c.page.get_by_label("New password", exact=True).fill("short1")
        c.page.get_by_label("Retype new password").fill("short1")
        c.button("Change password").click()
        assert "minimum length of 12" in c.text()
        c.page.get_by_label("Old password").fill(PASSWORD)
        c.page.get_by_label("New password", exact=True).fill("a-much-longer-pass-2")
        c.page.get_by_label("Retype new password").fill("a-much-longer-pass-2")
        c.button("Change password").click()
        assert "Welcome" in c.text(), c.text()
        c.sign_out()
        assert iam.get_login_profile(UserName="gina")["LoginProfile"]["PasswordResetRequired"] is False

        # Guessing: five wrong passwords from one address are free, then each failure makes the next
        # attempt wait 1, 2, 4, 8 … seconds (refused unchecked: even the right password is refused
        # while waiting), and the wait runs out. The waits are only counted here, never raced: a slow
        # browser may arrive after a short wait has run out, so the guesser waits out what it is told
        # until eight failures have counted, then tries the right password inside the 8-second wait.
        for _ in range(5):
            c.sign_in_user(account, "gina", "bad-guess")
            assert "Your authentication information is incorrect" in c.text()
        counted, waits = 5, []
        while counted < 8:
            c.sign_in_user(account, "gina", "bad-guess")
            m = re.search(r"Too many failed sign-in attempts\. Wait (\d+) seconds", c.text())
            if m:
                waits.append(int(m.group(1)))
                assert waits[-1] <= 2 ** (counted - 5), (counted, waits)
                time.sleep(waits[-1] + 0.2)
            else:
                assert "Your authentication information is incorrect" in c.text(), c.text()
                counted += 1
            assert len(waits) < 20, waits
        c.sign_in_user(account, "gina", "a-much-longer-pass-2")
        m = re.search(r"Too many failed sign-in attempts\. Wait (\d+) seconds", c.text())
        assert m and 1 <= int(m.group(1)) <= 8, c.text()
        c.shot("throttled")
        time.sleep(int(m.group(1)) + 0.2)
        c.sign_in_user(account, "gina", "a-much-longer-pass-2")
        assert "Welcome" in c.text(), c.text()
        recs = signin_records(server, "gina") + [r for r in lookup(server, EventName="ConsoleLogin") if r["userIdentity"].get("userName") == "HIDDEN_DUE_TO_SECURITY_REASONS"]
        assert any(r["userIdentity"]["userName"] == "HIDDEN_DUE_TO_SECURITY_REASONS" for r in recs)
        assert sum(1 for r in recs if r.get("errorMessage") == "Failed authentication") >= 7
        assert any(r["eventName"] == "PasswordUpdated" for r in lookup(server, EventName="PasswordUpdated"))
    finally:
        c.close()


def test_admin_sees_users_mfa_and_removes_a_lost_device(browser, server):
    account = make_console_user(server, "hank")
    iam = server.iam()
    d = iam.create_virtual_mfa_device(VirtualMFADeviceName="hank-phone")["VirtualMFADevice"]
    seed = b32decode(d["Base32StringSeed"].decode())
    n = now_step()
    iam.enable_mfa_device(UserName="hank", SerialNumber=d["SerialNumber"], AuthenticationCode1=totp(seed, n - 1), AuthenticationCode2=totp(seed, n))
    c = Console(browser, server, "admin")
    try:
        c.sign_in_root(server.account["root_email"], server.account["root_password"])
        c.goto("/console/users")
        row = c.page.locator("tr", has_text="hank").inner_text()
        assert "1 (Authenticator app)" in row
        c.shot("users")
        c.page.get_by_role("link", name="hank").click()
        assert d["SerialNumber"] in c.text()
        c.shot("user-page")
        c.page.locator("tr", has_text="hank-phone").get_by_role("button", name="Remove").click()
        c.button("Remove").click()
        assert iam.list_mfa_devices(UserName="hank")["MFADevices"] == []
        # The event history shows the sign-ins with the device used, and the chart.
        c.goto("/console/events?event=ConsoleLogin")
        assert "ConsoleLogin" in c.text() and "successful console sign-ins" in c.text()
        assert c.page.locator("svg.chart").count() == 1
        c.shot("event-history")
        c.goto("/console/events?event=DeactivateMFADevice")
        assert d["SerialNumber"] in c.text()
    finally:
        c.close()
    # A user without permission sees the pages refuse politely, not fail.
    c = Console(browser, server, "no-admin")
    try:
        c.sign_in_user(account, "hank")
        c.goto("/console/users")
        assert "You do not have permission to list the account's users" in c.text()
    finally:
        c.close()


def test_cookies_csrf_and_headers(server):
    base = server.endpoint.replace("127.0.0.1", "localhost")
    status, body, h = http(base + "/console")
    assert status == 200 and "Sign in as root user" in body
    csp = h["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert "<script>" not in body and "onclick" not in body
    cookie = h["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    token = re.search(r'name="csrf" value="([^"]+)"', body).group(1)
    pre = cookie.split(";")[0]
    form = urllib.parse.urlencode({"kind": "root", "csrf": token, "email": server.account["root_email"], "password": server.account["root_password"]})
    # Without the double-submit cookie, or from another origin, the sign-in is refused.
    status, body, _ = http(base + "/console/signin", form, {"Origin": base})
    assert status == 200 and "This sign-in page expired" in body
    status, _, _ = http(base + "/console/signin", form, {"Origin": "http://evil.example", "Cookie": pre})
    assert status == 403
    status, _, h = http(base + "/console/signin", form, {"Origin": base, "Cookie": pre})
    assert status == 303 and h["Location"] == "/console"
    session = [c for c in h.get_all("Set-Cookie") if c.startswith("iamd_session=")][0]
    assert "HttpOnly" in session and "SameSite=Strict" in session and "Max-Age=43200" in session
    sc = session.split(";")[0]
    status, body, _ = http(base + "/console/security", headers={"Cookie": sc})
    assert status == 200 and "Security credentials" in body
    csrf = re.search(r'name="csrf" value="([^"]+)"', body).group(1)
    # A form without the session's CSRF token is refused; with it, sign-out ends the session on the server.
    status, _, _ = http(base + "/console/signout", "csrf=wrong", {"Origin": base, "Cookie": sc})
    assert status == 403
    status, _, _ = http(base + "/console/signout", f"csrf={csrf}", {"Origin": base, "Cookie": sc})
    assert status == 303
    status, _, h = http(base + "/console/security", headers={"Cookie": sc})
    assert status == 303 and h["Location"] == "/console"
    # Unknown pages and oversized forms get plain error pages.
    status, body, _ = http(base + "/console/nope", headers={"Cookie": sc})
    assert status == 303
    status, body, _ = http(base + "/console/signin", "x=" + "a" * 70000, {"Origin": base})
    assert status == 413 and "Request id" in body


def test_tls_serves_api_and_console_with_secure_cookies(fresh, tmpdir_path):
    import ssl
    cert, key = os.path.join(tmpdir_path, "cert.pem"), os.path.join(tmpdir_path, "key.pem")
    import subprocess
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    fresh.init()
    fresh.start(extra=["--tls-cert", cert, "--tls-key", key])
    assert fresh.endpoint.startswith("https://127.0.0.1:")
    import boto3
    import botocore.config
    sts = boto3.client("sts", endpoint_url=fresh.endpoint, region_name="us-east-1", verify=cert,
                       aws_access_key_id=fresh.root.access_key_id, aws_secret_access_key=fresh.root.secret_access_key,
                       config=botocore.config.Config(retries={"max_attempts": 1}))
    assert sts.get_caller_identity()["Account"] == fresh.account["account_id"]
    ctx = ssl.create_default_context(cafile=cert)
    with urllib.request.urlopen(fresh.endpoint.replace("127.0.0.1", "localhost") + "/console", context=ctx, timeout=30) as r:
        assert r.status == 200
        c = r.headers["Set-Cookie"]
        # Under TLS the console's cookies are __Host- cookies: Secure, Path=/, no Domain.
        assert c.startswith("__Host-iamd_signin=") and "Secure" in c and "HttpOnly" in c and "Path=/;" in c and "Domain" not in c
    # Plain HTTP to the TLS port gets no answer it could mistake for one.
    with pytest.raises(Exception):
        urllib.request.urlopen(fresh.endpoint.replace("https://", "http://") + "/console", timeout=10).read()


def test_a_ceremony_begun_on_one_node_finishes_on_another(browser, server, tmpdir_path):
    if server.backend != "postgres":
        pytest.skip("several nodes share PostgreSQL")
    account = make_console_user(server, "ivan")
    node2 = server.second_node(tmpdir_path)
    c = Console(browser, server, "two-nodes")
    try:
        c.sign_in_user(account, "ivan")
        c.goto("/console/security/mfa/new")
        c.page.get_by_label("Device name").fill("roaming")
        c.page.get_by_label("Passkey or security key", exact=True).check()
        c.button("Next").click()
        # Node 1 began the ceremony; the browser's answer is taken instead of posted to node 1 ...
        c.page.evaluate("() => { const f = document.getElementById('webauthn-form'); f.submit = () => { window.__cred = f.elements.credential.value; }; }")
        c.button("Use security key").click()
        c.page.wait_for_function("() => window.__cred")
        cred = c.page.evaluate("() => window.__cred")
        csrf = c.page.locator("input[name=csrf]").first.get_attribute("value")
        cookie = "; ".join(f"{k['name']}={k['value']}" for k in c.context.cookies() if k["name"] == "iamd_session")
        # ... and posted to node 2, which finishes it from the state in the database.
        base2 = node2.endpoint.replace("127.0.0.1", "localhost")
        status, _, h = http(base2 + "/console/security/mfa/key", urllib.parse.urlencode({"csrf": csrf, "credential": cred}),
                            {"Origin": base2, "Cookie": cookie})
        assert status == 303 and h["Location"] == "/console/security?notice=assigned", status
        serials = [d["SerialNumber"] for d in server.iam().list_mfa_devices(UserName="ivan")["MFADevices"]]
        assert len(serials) == 1 and ":u2f/user/ivan/roaming-" in serials[0]
        # The ceremony is used up: the same answer again, on either node, assigns nothing more.
        status, body, _ = http(base2 + "/console/security/mfa/key", urllib.parse.urlencode({"csrf": csrf, "credential": cred}),
                               {"Origin": base2, "Cookie": cookie})
        assert "expired" in body
        assert len(server.iam().list_mfa_devices(UserName="ivan")["MFADevices"]) == 1
    finally:
        c.close()
        node2.stop()


def test_console_passwords_and_seeds_never_reach_the_trail(browser, server):
    account = make_console_user(server, "judy")
    c = Console(browser, server, "secrets")
    try:
        c.sign_in_user(account, "judy", "Wrong-Guess-99!")
        c.sign_in_user(account, "judy")
        seed, n = c.assign_app("judy-phone")
    finally:
        c.close()
    from conftest import run_iamd
    import base64
    trail = run_iamd("audit", "export", *server.store_args(), "--since", "2000-01-01", "--format", "jsonl").stdout
    assert "ConsoleLogin" in trail and "EnableMFADevice" in trail
    for secret in (PASSWORD, "Wrong-Guess-99!", base64.b32encode(seed).decode().rstrip("=")):
        assert secret not in trail


def test_own_access_keys_and_password_on_the_security_page(browser, server):
    c = Console(browser, server, "keys-and-password")
    try:
        email, pw = server.account["root_email"], server.account["root_password"]
        c.sign_in_root(email, pw)
        c.goto("/console/security")
        c.button("Create access key").click()
        assert "This is the only time the secret access key is shown." in c.text()
        akid = c.page.locator("#akid").inner_text().strip()
        secret = c.page.locator("#secret").inner_text().strip()
        c.shot("access-key-created")
        from conftest import Creds
        assert server.sts(Creds(akid, secret)).get_caller_identity()["Arn"].endswith(":root")
        c.page.get_by_role("link", name="Done").click()
        assert secret not in c.text()
        c.page.locator("tr", has_text=akid).get_by_role("button", name="Deactivate").click()
        assert "The access key was updated." in c.text()
        assert {k["AccessKeyId"]: k["Status"] for k in server.iam().list_access_keys()["AccessKeyMetadata"]}[akid] == "Inactive"
        c.page.locator("tr", has_text=akid).get_by_role("button", name="Delete").click()
        assert "The access key was deleted." in c.text()
        assert akid not in [k["AccessKeyId"] for k in server.iam().list_access_keys()["AccessKeyMetadata"]]
        # Change the root password: a wrong old password is refused, then the new one signs in.
        c.page.get_by_label("Old password").fill("not-the-password")
        c.page.get_by_label("New password", exact=True).fill("Fresh-Root-Pass-7")
        c.page.get_by_label("Retype new password").fill("Fresh-Root-Pass-7")
        c.button("Change password").click()
        assert "The old password is incorrect." in c.text()
        c.page.get_by_label("Old password").fill(pw)
        c.page.get_by_label("New password", exact=True).fill("Fresh-Root-Pass-7")
        c.page.get_by_label("Retype new password").fill("Fresh-Root-Pass-7")
        c.button("Change password").click()
        assert "Your password was changed." in c.text()
        c.shot("password-changed")
        c.sign_out()
        c.sign_in_root(email, pw)
        assert "Your authentication information is incorrect" in c.text()
        c.sign_in_root(email, "Fresh-Root-Pass-7")
        assert "Welcome" in c.text()
    finally:
        c.close()


def test_sign_out_everywhere_ends_every_browser_session(browser, server):
    """Two browsers signed in as root; "Sign out everywhere" in one ends both (and the API's keys keep
    working: only console sessions end)."""
    email, pw = server.account["root_email"], server.account["root_password"]
    a, b = Console(browser, server, "sign-out-everywhere-a"), Console(browser, server, "sign-out-everywhere-b")
    try:
        for c in (a, b):
            c.sign_in_root(email, pw)
            assert "Welcome" in c.text()
        b.goto("/console/security")
        assert "Security credentials" in b.text()
        a.goto("/console/security")
        assert "Console sessions" in a.text()
        a.shot("before")
        a.button("Sign out everywhere").click()
        a.page.wait_for_load_state()
        assert "Sign in" in a.text() and "Security credentials" not in a.text()
        a.shot("signed-out")
        b.goto("/console/security")
        assert "Sign in" in b.text() and "Console sessions" not in b.text()
        b.shot("other-browser-signed-out")
        assert server.sts().get_caller_identity()["Arn"].endswith(":root")
        # Signing in again works, and starts a session of its own.
        a.sign_in_root(email, pw)
        assert "Welcome" in a.text()
    finally:
        a.close()
        b.close()


def test_users_page_pages_searches_and_filters_by_mfa(server):
    """The Users page at scale: 50 users a page by name, a name-prefix search, and filters by MFA
    devices (none, exactly one, by type). Under a filter, a user whose devices the caller may not
    list is left out; without one it shows a dash."""
    from conftest import ConsoleClient
    iam = server.iam()
    acct = server.account["account_id"]
    iam.create_user(UserName="boss")
    iam.create_login_profile(UserName="boss", Password=PASSWORD, PasswordResetRequired=False)
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:ListUsers", "iam:ListMFADevices", "iam:GetUser"], "Resource": "*"},
        {"Effect": "Deny", "Action": "iam:ListMFADevices", "Resource": f"arn:aws:iam::{acct}:user/secret-*"}]}
    iam.put_user_policy(UserName="boss", PolicyName="admin", PolicyDocument=json.dumps(policy))
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: iam.create_user(UserName=f"alpha-{i:02d}"), range(60)))
    for name, devices in (("beta-app", 1), ("beta-two", 2), ("secret-one", 1)):
        iam.create_user(UserName=name)
        for k in range(devices):
            d = iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{name}-{k}")["VirtualMFADevice"]
            seed = b32decode(d["Base32StringSeed"].decode())
            n = now_step()
            iam.enable_mfa_device(UserName=name, SerialNumber=d["SerialNumber"], AuthenticationCode1=totp(seed, n - 1), AuthenticationCode2=totp(seed, n))
    c = ConsoleClient(server)
    c.sign_in(acct, "boss", PASSWORD)

    def names(query):
        st, body, _ = c.get("/console/users?" + query)
        assert st == 200, (st, body[:300])
        nxt = re.search(r'href="/console/users\?([^"]+)">Next page', body)
        return re.findall(r'<a href="/console/users/([^"]+)">', body), nxt and html.unescape(nxt.group(1)), body

    first, nxt, _ = names("q=ALPHA")
    assert first == [f"alpha-{i:02d}" for i in range(50)] and nxt
    second, nxt2, _ = names(nxt)
    assert second == [f"alpha-{i:02d}" for i in range(50, 60)] and nxt2 is None
    assert names("q=beta&mfa=one")[0] == ["beta-app"]
    assert names("mfa=app")[0] == ["beta-app", "beta-two"], "secret-one's devices are not the caller's to see"
    assert names("mfa=none&q=be")[0] == []
    assert names("q=bo&mfa=none")[0] == ["boss"]
    hidden, _, body = names("q=secret")
    assert hidden == ["secret-one"] and "\u2014" in body and "1 (Authenticator app)" not in body
    assert "2 (Authenticator app)" in names("q=beta-two")[2]
    st, body, _ = c.get("/console/users?q=%3Cx%3E")
    assert st == 400 and "Search by the start of a user name" in body
