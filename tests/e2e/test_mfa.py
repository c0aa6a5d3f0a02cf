"""Multiple MFA devices per principal: virtual and hardware TOTP devices, the 8-device limit, codes
that work once, guessing limits, and MFA-authenticated sessions from sts:GetSessionToken."""

import base64
import concurrent.futures
import json
import os
import time
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from conftest import Creds, run_iamd, totp, now_step, b32decode

BAD_CODE = "MultiFactorAuthentication failed with invalid MFA one time pass code."
NOT_YOURS = "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial number is valid and associated with this user."


def error_of(fn, *a, **kw):
    with pytest.raises(ClientError) as e:
        fn(*a, **kw)
    r = e.value.response
    return r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"]


def new_virtual(iam, name, **kw):
    d = iam.create_virtual_mfa_device(VirtualMFADeviceName=name, **kw)["VirtualMFADevice"]
    return d["SerialNumber"], b32decode(d["Base32StringSeed"].decode())


def enable(iam, user, serial, seed, digits=6, algorithm="sha1", period=30):
    """Enables with the previous and the current code. The next code (`next_code`) then always works,
    even when a 30-second boundary passes between the client's clock reading and the server's."""
    n = now_step(period)
    iam.enable_mfa_device(UserName=user, SerialNumber=serial,
                          AuthenticationCode1=totp(seed, n - 1, digits, algorithm),
                          AuthenticationCode2=totp(seed, n, digits, algorithm))


def next_code(seed, digits=6, algorithm="sha1", period=30):
    """The code of the step after the client's current one: newer than what `enable` used, and inside
    the server's ±1 window whether or not its step has moved on."""
    return totp(seed, now_step(period) + 1, digits, algorithm)


def wrong_code(seed, digits=6):
    n = now_step()
    valid = {totp(seed, s, digits) for s in range(n - 12, n + 13)}
    return next(c for c in (str(i).zfill(digits) for i in range(10 ** digits)) if c not in valid)


def session(server, creds, serial=None, code=None, **kw):
    args = dict(kw)
    if serial:
        args.update(SerialNumber=serial, TokenCode=code)
    c = server.sts(creds).get_session_token(**args)["Credentials"]
    return Creds(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]), c


def test_aws_cli_qr_enrolment_and_mfa_session(server, tmpdir_path):
    import zxingcpp
    from PIL import Image
    bob = server.new_user_with_key("bob")
    qr = os.path.join(tmpdir_path, "qr.png")
    out = server.aws("iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", "bob-phone",
                     "--outfile", qr, "--bootstrap-method", "QRCodePNG")
    serial = out["VirtualMFADevice"]["SerialNumber"]
    assert serial == f"arn:aws:iam::{server.account['account_id']}:mfa/bob-phone"
    found = zxingcpp.read_barcodes(Image.open(qr))
    assert len(found) == 1
    uri = found[0].text
    assert uri.startswith("otpauth://totp/") and "bob-phone" in urllib.parse.unquote(uri)
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(uri).query)
    assert q["issuer"] == ["iamd"]
    seed = b32decode(q["secret"][0])
    assert len(seed) == 40
    n = now_step()
    server.aws("iam", "enable-mfa-device", "--user-name", "bob", "--serial-number", serial,
               "--authentication-code1", totp(seed, n - 1), "--authentication-code2", totp(seed, n))
    devices = server.aws("iam", "list-mfa-devices", "--user-name", "bob")["MFADevices"]
    assert [d["SerialNumber"] for d in devices] == [serial] and devices[0]["UserName"] == "bob"
    creds = server.aws("sts", "get-session-token", "--serial-number", serial, "--token-code", totp(seed, n + 1), creds=bob)["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    sess = Creds(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    ident = server.aws("sts", "get-caller-identity", creds=sess)
    assert ident["Arn"].endswith(":user/bob")
    # an MFA session reaches IAM, where bob (no policies yet) is denied as himself, not as an unknown token
    p = server.aws("iam", "get-user", creds=sess, check=False)
    assert p.returncode != 0 and "AccessDenied" in p.stderr


def test_root_enrols_on_the_command_line_and_opens_short_mfa_sessions(server):
    acct = server.account["account_id"]
    out = json.loads(run_iamd("mfa", "create-virtual", *server.store_args(), "--account", acct, "--name", "root-phone", "--json").stdout)
    seed = b32decode(out["seed_base32"])
    n = now_step()
    run_iamd("mfa", "enable-root", *server.store_args(), "--account", acct, "--serial", out["serial"],
             "--code1", totp(seed, n - 1), "--code2", totp(seed, n))
    iam = server.iam()
    assert [d["SerialNumber"] for d in iam.list_mfa_devices()["MFADevices"]] == [out["serial"]]
    assert iam.get_account_summary()["SummaryMap"]["AccountMFAEnabled"] == 1
    sess, raw = session(server, server.root, out["serial"], next_code(seed), DurationSeconds=129600)
    left = raw["Expiration"].timestamp() - time.time()
    assert 3500 < left <= 3600, "root sessions are capped at one hour"
    assert server.iam(sess).list_users()["Users"] == []
    vm = iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]
    assert vm[0]["User"]["Arn"] == f"arn:aws:iam::{acct}:root"
    # a second root device, removed by the root itself through the API
    second = json.loads(run_iamd("mfa", "create-virtual", *server.store_args(), "--account", acct, "--name", "root-spare", "--json").stdout)
    s2 = b32decode(second["seed_base32"])
    run_iamd("mfa", "enable-root", *server.store_args(), "--account", acct, "--serial", second["serial"],
             "--code1", totp(s2, now_step() - 1), "--code2", totp(s2, now_step()))
    assert len(iam.list_mfa_devices()["MFADevices"]) == 2
    iam.deactivate_mfa_device(SerialNumber=second["serial"])
    assert [d["SerialNumber"] for d in iam.list_mfa_devices()["MFADevices"]] == [out["serial"]]
    # break glass: the root lost the phone
    p = run_iamd("mfa", "deactivate-root", *server.store_args(), "--account", acct, "--serial", out["serial"])
    assert "break-glass" in p.stderr and out["serial"] in p.stderr
    assert iam.list_mfa_devices()["MFADevices"] == []
    p = run_iamd("mfa", "deactivate-root", *server.store_args(), "--account", acct, "--serial", out["serial"], check=False)
    assert p.returncode != 0 and "does not exist" in p.stderr


def test_eight_devices_of_mixed_types_each_open_a_session_and_a_ninth_is_refused(server, tmpdir_path):
    iam = server.iam()
    carol = server.new_user_with_key("carol")
    seeds = {}
    csv = os.path.join(tmpdir_path, "tokens.csv")
    with open(csv, "w") as f:
        f.write("serial,seed\n")
        for i in range(4):
            s = os.urandom(20)
            serial = f"GAHT0000000{i}"
            extra = ",8,60,SHA256" if i % 2 else ""
            f.write(f"{serial},{base64.b32encode(s).decode()}{extra}\n")
            seeds[serial] = (s, 8 if i % 2 else 6, "sha256" if i % 2 else "sha1", 60 if i % 2 else 30)
    out = run_iamd("mfa", "import", *server.store_args(), "--account", server.account["account_id"], csv).stdout
    assert "imported 4" in out
    for i in range(4):
        serial, s = new_virtual(iam, f"carol-app-{i}")
        seeds[serial] = (s, 6, "sha1", 30)
    for serial, (s, digits, alg, period) in seeds.items():
        enable(iam, "carol", serial, s, digits, alg, period)
    assert len(iam.list_mfa_devices(UserName="carol")["MFADevices"]) == 8
    extra, s9 = new_virtual(iam, "carol-ninth")
    code, msg, status = error_of(enable, iam, "carol", extra, s9)
    assert (code, msg, status) == ("LimitExceeded", "Cannot exceed quota for MFADevicesPerUser: 8", 409)
    for serial, (s, digits, alg, period) in seeds.items():
        sess, _ = session(server, carol, serial, next_code(s, digits, alg, period))
        assert server.sts(sess).get_caller_identity()["Arn"].endswith(":user/carol")
    summary = iam.get_account_summary()["SummaryMap"]
    assert summary["MFADevices"] == 9 and summary["MFADevicesInUse"] == 8
    # an 8-digit device refuses 6-digit codes and the other way round
    hw8 = "GAHT00000001"
    s, digits, alg, period = seeds[hw8]
    assert error_of(session, server, carol, hw8, totp(s, now_step(period), 6, alg))[1] == BAD_CODE


def test_enable_errors_have_aws_codes(server):
    iam = server.iam()
    iam.create_user(UserName="dan")
    serial, seed = new_virtual(iam, "dan-phone")
    assert error_of(iam.create_virtual_mfa_device, VirtualMFADeviceName="dan-phone") == (
        "EntityAlreadyExists", "MFADevice entity at the same path and name already exists.", 409)
    n = now_step()
    bad = wrong_code(seed)
    assert error_of(iam.enable_mfa_device, UserName="dan", SerialNumber=serial, AuthenticationCode1=bad, AuthenticationCode2=totp(seed, n)) == (
        "InvalidAuthenticationCode", "Authentication code for device is not valid.", 403)
    # not consecutive
    assert error_of(iam.enable_mfa_device, UserName="dan", SerialNumber=serial, AuthenticationCode1=totp(seed, n - 2), AuthenticationCode2=totp(seed, n))[0] == "InvalidAuthenticationCode"
    assert error_of(iam.enable_mfa_device, UserName="nobody", SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="123456")[0] == "NoSuchEntity"
    assert error_of(iam.enable_mfa_device, UserName="dan", SerialNumber=serial + "x", AuthenticationCode1="123456", AuthenticationCode2="123456")[0] == "NoSuchEntity"
    enable(iam, "dan", serial, seed)
    iam.create_user(UserName="eve")
    assert error_of(iam.enable_mfa_device, UserName="eve", SerialNumber=serial, AuthenticationCode1=totp(seed, n), AuthenticationCode2=totp(seed, n + 1)) == (
        "EntityAlreadyExists", "MFA Device is already in use.", 409)
    status, text, _ = server.raw("Action=EnableMFADevice&Version=2010-05-08&UserName=dan&SerialNumber=x&AuthenticationCode1=12345&AuthenticationCode2=abcdef")
    assert status == 400 and "<Code>ValidationError</Code>" in text and "3 validation errors" in text


def test_lost_device_is_removed_while_the_others_keep_working(server):
    iam = server.iam()
    fay = server.new_user_with_key("fay")
    s1, k1 = new_virtual(iam, "fay-phone")
    s2, k2 = new_virtual(iam, "fay-tablet")
    enable(iam, "fay", s1, k1)
    enable(iam, "fay", s2, k2)
    assert error_of(iam.delete_virtual_mfa_device, SerialNumber=s1)[0] == "DeleteConflict"
    assert error_of(iam.delete_user, UserName="fay")[:2] == ("DeleteConflict", "Cannot delete entity, must delete access keys first.")
    iam.deactivate_mfa_device(UserName="fay", SerialNumber=s1)
    # the lost device's codes stop at once; the other one still opens sessions
    assert error_of(session, server, fay, s1, totp(k1, now_step()))[1] == NOT_YOURS
    session(server, fay, s2, next_code(k2))
    unassigned = iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")["VirtualMFADevices"]
    assert [d["SerialNumber"] for d in unassigned] == [s1] and "User" not in unassigned[0]
    iam.delete_virtual_mfa_device(SerialNumber=s1)
    assert error_of(iam.delete_virtual_mfa_device, SerialNumber=s1)[0] == "NoSuchEntity"
    iam.delete_access_key(UserName="fay", AccessKeyId=fay.access_key_id)
    assert error_of(iam.delete_user, UserName="fay") == ("DeleteConflict", "Cannot delete entity, must delete MFA device first.", 409)
    iam.deactivate_mfa_device(UserName="fay", SerialNumber=s2)
    iam.delete_user(UserName="fay")


def test_list_virtual_devices_by_assignment_with_pagination_and_tags(server):
    iam = server.iam()
    iam.create_user(UserName="gil")
    serials = [new_virtual(iam, f"dev{i}", Tags=[{"Key": "i", "Value": str(i)}]) for i in range(5)]
    enable(iam, "gil", *serials[0])
    every = iam.list_virtual_mfa_devices()["VirtualMFADevices"]
    assert len(every) == 5
    assigned = iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]
    assert [d["SerialNumber"] for d in assigned] == [serials[0][0]]
    assert assigned[0]["User"]["UserName"] == "gil" and "EnableDate" in assigned[0]
    pages = list(iam.get_paginator("list_virtual_mfa_devices").paginate(PaginationConfig={"PageSize": 2}))
    assert [d["SerialNumber"] for p in pages for d in p["VirtualMFADevices"]] == sorted(s for s, _ in serials)
    serial = serials[1][0]
    assert iam.list_mfa_device_tags(SerialNumber=serial)["Tags"] == [{"Key": "i", "Value": "1"}]
    iam.tag_mfa_device(SerialNumber=serial, Tags=[{"Key": "owner", "Value": "gil"}])
    iam.untag_mfa_device(SerialNumber=serial, TagKeys=["i"])
    assert iam.list_mfa_device_tags(SerialNumber=serial)["Tags"] == [{"Key": "owner", "Value": "gil"}]
    assert error_of(iam.get_mfa_device, SerialNumber=serials[0][0], UserName="gil")[0] == "NoSuchEntity"


def test_resync_records_drift(server):
    iam = server.iam()
    hal = server.new_user_with_key("hal")
    serial, seed = new_virtual(iam, "hal-phone")
    enable(iam, "hal", serial, seed)
    n = now_step()
    # the device's clock runs 6 steps (3 minutes) fast
    iam.resync_mfa_device(UserName="hal", SerialNumber=serial, AuthenticationCode1=totp(seed, n + 5), AuthenticationCode2=totp(seed, n + 6))
    assert error_of(session, server, hal, serial, totp(seed, n))[1] == BAD_CODE
    session(server, hal, serial, totp(seed, n + 7))
    assert error_of(iam.resync_mfa_device, UserName="hal", SerialNumber=serial, AuthenticationCode1=totp(seed, n + 5), AuthenticationCode2=totp(seed, n + 6))[0] == "InvalidAuthenticationCode"


def test_a_code_works_once(server):
    iam = server.iam()
    ida = server.new_user_with_key("ida")
    serial, seed = new_virtual(iam, "ida-phone")
    enable(iam, "ida", serial, seed)
    code = next_code(seed)
    session(server, ida, serial, code)
    assert error_of(session, server, ida, serial, code) == ("AccessDenied", BAD_CODE, 403)
    # an older code than the last accepted one is refused too
    assert error_of(session, server, ida, serial, totp(seed, now_step() - 1))[1] == BAD_CODE


def test_concurrent_same_code_succeeds_exactly_once(server, tmpdir_path):
    iam = server.iam()
    jo = server.new_user_with_key("jo")
    serial, seed = new_virtual(iam, "jo-phone")
    enable(iam, "jo", serial, seed)
    nodes = [server]
    if server.backend == "postgres":
        nodes.append(server.second_node(tmpdir_path))
    code = next_code(seed)

    def attempt(i):
        try:
            session(nodes[i % len(nodes)], jo, serial, code)
            return "ok"
        except ClientError as e:
            return e.response["Error"]["Message"]

    try:
        with concurrent.futures.ThreadPoolExecutor(32) as ex:
            results = list(ex.map(attempt, range(32)))
    finally:
        for n in nodes[1:]:
            n.stop()
    assert results.count("ok") == 1, results
    assert set(results) == {"ok", BAD_CODE}


def test_concurrent_enables_never_exceed_eight(server):
    iam = server.iam()
    iam.create_user(UserName="kim")
    for i in range(7):
        enable(iam, "kim", *new_virtual(iam, f"kim-{i}"))
    spare = [new_virtual(iam, f"kim-spare-{i}") for i in range(20)]
    n = now_step()

    def attempt(dev):
        serial, seed = dev
        try:
            server.iam().enable_mfa_device(UserName="kim", SerialNumber=serial,
                                           AuthenticationCode1=totp(seed, n - 2), AuthenticationCode2=totp(seed, n - 1))
            return "ok"
        except ClientError as e:
            return e.response["Error"]["Code"]

    with concurrent.futures.ThreadPoolExecutor(20) as ex:
        results = list(ex.map(attempt, spare))
    assert results.count("ok") == 1, results
    assert set(results) <= {"ok", "LimitExceeded"}
    assert len(iam.list_mfa_devices(UserName="kim")["MFADevices"]) == 8


def test_guessing_is_slowed_after_five_failures_but_never_locks_out(server):
    iam = server.iam()
    lee = server.new_user_with_key("lee")
    serial, seed = new_virtual(iam, "lee-phone")
    enable(iam, "lee", serial, seed)
    other, other_seed = new_virtual(iam, "lee-tablet")
    enable(iam, "lee", other, other_seed)
    bad = wrong_code(seed)
    # below the threshold a failure does not delay the next correct code
    for _ in range(4):
        assert error_of(session, server, lee, serial, bad)[1] == BAD_CODE
    session(server, lee, serial, next_code(seed))
    # five consecutive failures: then even the right code is refused (indistinguishably) for a while,
    # on every device of the principal
    for _ in range(5):
        assert error_of(session, server, lee, serial, bad)[1] == BAD_CODE
    good = next_code(other_seed)
    assert error_of(session, server, lee, other, good) == ("AccessDenied", BAD_CODE, 403)
    time.sleep(1.2)
    session(server, lee, other, good)


def test_session_rules(server):
    iam = server.iam()
    mo = server.new_user_with_key("mo")
    plain, _ = session(server, mo)
    assert server.sts(plain).get_caller_identity()["Arn"].endswith(":user/mo")
    assert error_of(server.iam(plain).get_user)[:2] == ("InvalidClientTokenId", "The security token included in the request is invalid.")
    assert error_of(server.sts(plain).get_session_token) == ("AccessDenied", "Cannot call GetSessionToken with session credentials", 403)
    forged = Creds(plain.access_key_id, plain.secret_access_key, plain.session_token[:-8] + "AAAAAAA=")
    assert error_of(server.sts(forged).get_caller_identity)[0] == "InvalidClientTokenId"
    other, _ = session(server, mo)
    swapped = Creds(other.access_key_id, other.secret_access_key, plain.session_token)
    assert error_of(server.sts(swapped).get_caller_identity)[0] == "InvalidClientTokenId"
    status, text, _ = server.raw("Action=GetSessionToken&Version=2011-06-15&DurationSeconds=899", service="sts", creds=mo)
    assert status == 400 and "greater than or equal to 900" in text
    status, text, _ = server.raw("Action=GetSessionToken&Version=2011-06-15&SerialNumber=GAHT12345678&TokenCode=9876543210123", service="sts", creds=mo)
    assert status == 400 and "at &apos;tokenCode&apos;" in text and "9876543210123" not in text and "9876543210123" not in server.logs()
    assert error_of(session, server, mo, "arn:aws:iam::123456789012:mfa/nope", "123456") == ("AccessDenied", NOT_YOURS, 403)
    # someone else's device is not yours
    serial, seed = new_virtual(iam, "other-phone")
    iam.create_user(UserName="ned")
    enable(iam, "ned", serial, seed)
    assert error_of(session, server, mo, serial, totp(seed, now_step()))[1] == NOT_YOURS
    # a deleted user's sessions stop at once
    iam.delete_access_key(UserName="mo", AccessKeyId=mo.access_key_id)
    iam.delete_user(UserName="mo")
    assert error_of(server.sts(plain).get_caller_identity)[0] == "InvalidClientTokenId"


def wait_for_report(iam, seconds=10):
    """GetCredentialReport, retried while the report is being built (as a client does)."""
    deadline = time.time() + seconds
    while True:
        try:
            return iam.get_credential_report()
        except ClientError as e:
            if e.response["Error"]["Code"] != "ReportInProgress" or time.time() > deadline:
                raise
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 404
            time.sleep(0.05)


def test_credential_report_shows_mfa(server):
    iam = server.iam()
    iam.create_user(UserName="ola")
    iam.create_user(UserName="pat")
    enable(iam, "ola", *new_virtual(iam, "ola-phone"))
    with pytest.raises(ClientError) as e:
        iam.get_credential_report()
    assert e.value.response["Error"]["Code"] == "ReportNotPresent" and e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410
    assert iam.generate_credential_report()["State"] == "STARTED"
    rep = wait_for_report(iam)
    # A report younger than four hours is reused.
    assert iam.generate_credential_report()["State"] == "COMPLETE"
    lines = rep["Content"].decode().strip().split("\n")
    header = lines[0].split(",")
    assert len(header) == 22 and header[7] == "mfa_active"
    rows = {l.split(",")[0]: l.split(",") for l in lines[1:]}
    assert rows["<root_account>"][1] == f"arn:aws:iam::{server.account['account_id']}:root"
    assert rows["<root_account>"][3] == "not_supported" and rows["<root_account>"][8] == "TRUE"
    assert rows["ola"][7] == "TRUE" and rows["pat"][7] == "FALSE"
    assert all(len(r) == 22 for r in rows.values())


def test_seeds_are_never_stored_readable(server):
    from test_cli_and_storage import storage_bytes
    iam = server.iam()
    d = iam.create_virtual_mfa_device(VirtualMFADeviceName="secret-phone")["VirtualMFADevice"]
    b32 = d["Base32StringSeed"]
    seed = b32decode(b32.decode())
    blob = storage_bytes(server)
    assert b"secret-phone" in blob
    for form in (seed, b32, seed.hex().encode(), base64.b64encode(seed), b32.lower()):
        assert form not in blob


PSKC_PRESHARED = """<?xml version="1.0" encoding="UTF-8"?>
<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:xenc="http://www.w3.org/2001/04/xmlenc#">
  <EncryptionKey><ds:KeyName>Pre-shared-key</ds:KeyName></EncryptionKey>
  <MACMethod Algorithm="http://www.w3.org/2000/09/xmldsig#hmac-sha1">
    <MACKey>
      <xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>
      <xenc:CipherData><xenc:CipherValue>ESIzRFVmd4iZABEiM0RVZgKn6WjLaTC1sbeBMSvIhRejN9vJa2BOlSaMrR7I5wSX</xenc:CipherValue></xenc:CipherData>
    </MACKey>
  </MACMethod>
  <KeyPackage>
    <DeviceInfo><Manufacturer>Manufacturer</Manufacturer><SerialNo>GAHT987654321</SerialNo></DeviceInfo>
    <Key Id="12345678" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
      <AlgorithmParameters><ResponseFormat Length="8" Encoding="DECIMAL"/></AlgorithmParameters>
      <Data>
        <Secret>
          <EncryptedValue>
            <xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>
            <xenc:CipherData><xenc:CipherValue>AAECAwQFBgcICQoLDA0OD+cIHItlB3Wra1DUpxVvOx2lef1VmNPCMl8jwZqIUqGv</xenc:CipherValue></xenc:CipherData>
          </EncryptedValue>
          <ValueMAC>Su+NvtQfmvfJzF6bmQiJqoLRExc=</ValueMAC>
        </Secret>
      </Data>
    </Key>
  </KeyPackage>
</KeyContainer>
"""

PSKC_PASSWORD = """<?xml version="1.0" encoding="UTF-8"?>
<pskc:KeyContainer xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc" xmlns:xenc11="http://www.w3.org/2009/xmlenc11#"
  xmlns:pkcs5="http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#" xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Version="1.0">
  <pskc:EncryptionKey><xenc11:DerivedKey>
    <xenc11:KeyDerivationMethod Algorithm="http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#pbkdf2">
      <pkcs5:PBKDF2-params><Salt><Specified>Ej7/PEpyEpw=</Specified></Salt><IterationCount>1000</IterationCount><KeyLength>16</KeyLength><PRF/></pkcs5:PBKDF2-params>
    </xenc11:KeyDerivationMethod>
  </xenc11:DerivedKey></pskc:EncryptionKey>
  <pskc:MACMethod Algorithm="http://www.w3.org/2000/09/xmldsig#hmac-sha1"><pskc:MACKey>
    <xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>
    <xenc:CipherData><xenc:CipherValue>2GTTnLwM3I4e5IO5FkufoOEiOhNj91fhKRQBtBJYluUDsPOLTfUvoU2dStyOwYZx</xenc:CipherValue></xenc:CipherData>
  </pskc:MACKey></pskc:MACMethod>
  <pskc:KeyPackage>
    <pskc:DeviceInfo><pskc:SerialNo>GAHT000123456</pskc:SerialNo></pskc:DeviceInfo>
    <pskc:Key Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp" Id="123456">
      <pskc:Data><pskc:Secret><pskc:EncryptedValue>
        <xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>
        <xenc:CipherData><xenc:CipherValue>oTvo+S22nsmS2Z/RtcoF8Hfh+jzMe0RkiafpoDpnoZTjPYZu6V+A4aEn032yCr4f</xenc:CipherValue></xenc:CipherData>
      </pskc:EncryptedValue><pskc:ValueMAC>LP6xMvjtypbfT9PdkJhBZ+D6O4w=</pskc:ValueMAC></pskc:Secret></pskc:Data>
    </pskc:Key>
  </pskc:KeyPackage>
</pskc:KeyContainer>
"""


def test_hardware_tokens_import_from_pskc_and_serve_sign_ins(server, tmpdir_path):
    acct = server.account["account_id"]
    iam = server.iam()
    pre = os.path.join(tmpdir_path, "vendor.pskcxml")
    open(pre, "w").write(PSKC_PRESHARED)
    p = run_iamd("mfa", "import", *server.store_args(), "--account", acct, pre, check=False)
    assert p.returncode != 0 and "--key-hex" in p.stderr
    p = run_iamd("mfa", "import", *server.store_args(), "--account", acct, pre, "--key-hex", "00" * 16, check=False)
    assert p.returncode != 0 and "line " in p.stderr and "nothing was imported" in p.stderr
    run_iamd("mfa", "import", *server.store_args(), "--account", acct, pre, "--key-hex", "12345678901234567890123456789012")
    pw = os.path.join(tmpdir_path, "vendor2.pskcxml")
    open(pw, "w").write(PSKC_PASSWORD)
    # RFC 6030's two examples carry the same secret: in one inventory that would be one token under two
    # serials, so the second is refused whole; another account takes it.
    p = run_iamd("mfa", "import", *server.store_args(), "--account", acct, pw, "--password-stdin", input="qwerty\n", check=False)
    assert p.returncode != 0 and "same seed" in p.stderr and "GAHT987654321" in p.stderr
    other = json.loads(run_iamd("account", "create", *server.store_args(), "--email", "tokens@example.com", "--json").stdout)
    run_iamd("mfa", "import", *server.store_args(), "--account", other["account_id"], pw, "--password-stdin", input="qwerty\n")
    # importing the same serial again is refused, whole
    p = run_iamd("mfa", "import", *server.store_args(), "--account", other["account_id"], pw, "--password-stdin", input="qwerty\n", check=False)
    assert p.returncode != 0 and "GAHT000123456" in p.stderr
    rows = json.loads(run_iamd("mfa", "list-hardware", *server.store_args(), "--account", acct, "--json").stdout)
    assert [(r["serial"], r["state"], r["digits"]) for r in rows] == [("GAHT987654321", "Unassigned", 8)]
    rows = json.loads(run_iamd("mfa", "list-hardware", *server.store_args(), "--account", other["account_id"], "--json").stdout)
    assert [(r["serial"], r["state"], r["digits"]) for r in rows] == [("GAHT000123456", "Unassigned", 6)]
    quinn = server.new_user_with_key("quinn")
    seed8 = b"12345678901234567890"
    seed6 = bytes.fromhex("3132333435363738393031323334353637383930")
    enable(iam, "quinn", "GAHT987654321", seed8, digits=8)
    oc = Creds(other["access_key_id"], other["secret_access_key"])
    oi = server.iam(oc)
    oi.create_user(UserName="rita")
    k = oi.create_access_key(UserName="rita")["AccessKey"]
    rita = Creds(k["AccessKeyId"], k["SecretAccessKey"])
    enable(oi, "rita", "GAHT000123456", seed6)
    rows = json.loads(run_iamd("mfa", "list-hardware", *server.store_args(), "--account", acct, "--json").stdout)
    assert all(r["state"] == "Assigned" and r["owner"] == "quinn" for r in rows)
    session(server, quinn, "GAHT987654321", next_code(seed8, 8))
    session(server, rita, "GAHT000123456", next_code(seed6))
    iam.deactivate_mfa_device(UserName="quinn", SerialNumber="GAHT987654321")
    rows = json.loads(run_iamd("mfa", "list-hardware", *server.store_args(), "--account", acct, "--json").stdout)
    assert {r["serial"]: r["state"] for r in rows} == {"GAHT987654321": "Unassigned"}


def test_bad_seed_files_store_nothing(server, tmpdir_path):
    acct = server.account["account_id"]
    bad = os.path.join(tmpdir_path, "bad.csv")
    open(bad, "w").write("GAHT10000001,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\nGAHT10000002,not-base32!\n")
    p = run_iamd("mfa", "import", *server.store_args(), "--account", acct, bad, check=False)
    assert p.returncode != 0 and "line 2" in p.stderr
    dup = os.path.join(tmpdir_path, "dup.csv")
    open(dup, "w").write("GAHT10000001,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\nGAHT10000001,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n")
    p = run_iamd("mfa", "import", *server.store_args(), "--account", acct, dup, check=False)
    assert p.returncode != 0 and "twice" in p.stderr
    xml = os.path.join(tmpdir_path, "bad.pskcxml")
    open(xml, "w").write(PSKC_PRESHARED.replace("</KeyPackage>", ""))
    p = run_iamd("mfa", "import", *server.store_args(), "--account", acct, xml, "--key-hex", "12345678901234567890123456789012", check=False)
    assert p.returncode != 0 and "not well-formed" in p.stderr
    assert json.loads(run_iamd("mfa", "list-hardware", *server.store_args(), "--account", acct, "--json").stdout) == []


# ---- the credential report, built in the background ----

def report_rows(rep):
    import csv
    import io
    return list(csv.reader(io.StringIO(rep["Content"].decode())))


def test_credential_report_is_built_in_parts_in_the_background(server):
    """GenerateCredentialReport answers STARTED at once; the report is built a page of users at a
    time (a part each, bounded memory) and is then COMPLETE, every user in name order."""
    from test_audit import sql
    iam = server.iam()
    names = [f"rep-{i:04d}" for i in range(1100)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: iam.create_user(UserName=n), names))
    enable(iam, "rep-0007", *new_virtual(iam, "rep-phone"))
    iam.create_access_key(UserName="rep-1099")
    t0 = time.time()
    assert iam.generate_credential_report()["State"] == "STARTED"
    started = time.time() - t0
    assert iam.generate_credential_report()["State"] in ("INPROGRESS", "COMPLETE")
    rows = report_rows(wait_for_report(iam))
    took = time.time() - t0
    assert len(rows) == 1 + 1 + 1100 and all(len(r) == 22 for r in rows)
    assert [r[0] for r in rows[2:]] == names, "every user, in name order"
    by = {r[0]: r for r in rows}
    assert by["rep-0007"][7] == "TRUE" and by["rep-0008"][7] == "FALSE"
    assert by["rep-1099"][8] == "TRUE" and by["rep-1098"][8] == "FALSE"
    # The header with root, then two pages of at most 1,000 users: three parts of one generation.
    parts = sql(server, "SELECT COUNT(*) FROM credential_report_parts")
    assert int(parts[0][0]) == 3, parts
    print(f"credential report of 1,100 users: STARTED in {started * 1000:.0f} ms, COMPLETE in {took:.2f} s")


def test_credential_report_expires_and_a_stopped_build_is_taken_over(server):
    from test_audit import sql
    iam = server.iam()
    iam.create_user(UserName="exp")
    assert iam.generate_credential_report()["State"] == "STARTED"
    wait_for_report(iam)
    # Four hours later the report has expired, and a new one is generated.
    sql(server, "UPDATE credential_reports SET generated_at = generated_at - 5 * 3600 * 1000")
    code, _, status = error_of(iam.get_credential_report)
    assert (code, status) == ("ReportExpired", 410)
    assert iam.generate_credential_report()["State"] == "STARTED"
    assert [r[0] for r in report_rows(wait_for_report(iam))][-1] == "exp"
    # A builder that stopped (its node died) holds the job only until its lease runs out; then the
    # report is not present and the next GenerateCredentialReport starts again.
    sql(server, "UPDATE credential_reports SET state = 'INPROGRESS', lease_until = 0")
    code, _, status = error_of(iam.get_credential_report)
    assert (code, status) == ("ReportNotPresent", 410)
    iam.create_user(UserName="exq")
    assert iam.generate_credential_report()["State"] == "STARTED"
    assert [r[0] for r in report_rows(wait_for_report(iam))][-1] == "exq"
    # While a live builder holds the lease, the report is in progress and nobody starts another.
    sql(server, "UPDATE credential_reports SET state = 'INPROGRESS', lease_until = 99999999999999")
    code, _, status = error_of(iam.get_credential_report)
    assert (code, status) == ("ReportInProgress", 404)
    assert iam.generate_credential_report()["State"] == "INPROGRESS"


def test_one_credential_report_job_per_account_across_nodes(server, tmpdir_path):
    """Concurrent GenerateCredentialReport calls, on two PostgreSQL nodes when the backend has them:
    exactly one starts the job, and its report is read from either node."""
    nodes = [server]
    if server.backend == "postgres":
        nodes.append(server.second_node(tmpdir_path))
    try:
        iam = server.iam()
        for i in range(20):
            iam.create_user(UserName=f"job-{i:02d}")
        clients = [n.iam() for n in nodes]
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            states = list(pool.map(lambda i: clients[i % len(clients)].generate_credential_report()["State"], range(16)))
        assert states.count("STARTED") == 1, states
        assert set(states) <= {"STARTED", "INPROGRESS", "COMPLETE"}, states
        contents = {wait_for_report(c)["Content"] for c in clients}
        assert len(contents) == 1 and len(report_rows({"Content": contents.pop()})) == 22
    finally:
        for n in nodes[1:]:
            n.stop()
