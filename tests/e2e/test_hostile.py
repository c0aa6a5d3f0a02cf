"""Hostile clients at the edge: slow and idle sockets, connection floods, presigned requests that never
expire, `+` against `%2B`, multibyte dates, body framings. Each test is what an attacker would send.

The connection tests are about the HTTP server, which does not depend on the database: they run on
SQLite only (a fresh server of their own); the request tests run on both backends.
"""

import datetime
import os
import resource
import shutil
import socket
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import ConsoleClient, Server, presign_query, sigv4_header

SLOW_SOCKETS = 1500


@pytest.fixture
def edge_server():
    tmp = tempfile.mkdtemp(prefix="iamd-edge-")
    s = Server("sqlite", tmp)
    s.init()
    yield s
    s.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def raise_fd_limit(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(n, soft)), hard))


def host_port(server):
    u = urllib.parse.urlsplit(server.endpoint)
    return u.hostname, u.port


def closed_by_peer(sock):
    """True when the server has closed (or reset) the connection."""
    try:
        return sock.recv(4096, socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def answered(server):
    status, body, _ = server.raw("Action=GetCallerIdentity&Version=2011-06-15", service="sts")
    return status == 200 and "<Arn>" in body


def test_slowloris_sockets_are_closed_and_a_normal_client_keeps_getting_answers(edge_server):
    """1,500 sockets that send half a request head and then a byte every few seconds, for 60 s,
    from the same address as a normal client."""
    raise_fd_limit(SLOW_SOCKETS + 512)
    edge_server.start()
    host, port = host_port(edge_server)
    slow = []
    for _ in range(SLOW_SOCKETS):
        s = socket.create_connection((host, port))
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.append(s)
    started = time.time()
    closed_at = {}
    answers, failures = 0, []
    last_trickle = 0.0
    while time.time() - started < 60:
        now = time.time()
        if now - last_trickle >= 3:
            last_trickle = now
            for i, s in enumerate(slow):
                if i in closed_at:
                    continue
                try:
                    s.send(b"a")
                except OSError:
                    closed_at[i] = now - started
        for i, s in enumerate(slow):
            if i not in closed_at and closed_by_peer(s):
                closed_at[i] = time.time() - started
        t0 = time.time()
        if answered(edge_server):
            answers += 1
        else:
            failures.append(round(t0 - started, 1))
        took = time.time() - t0
        assert took < 5, f"a normal request took {took:.1f} s at {t0 - started:.0f} s"
        time.sleep(0.5)
    for s in slow:
        s.close()
    assert not failures, f"normal requests failed at {failures}"
    assert answers >= 60
    assert len(closed_at) == SLOW_SOCKETS, f"only {len(closed_at)} of {SLOW_SOCKETS} slow sockets were closed by the server"
    # The header-read deadline is 10 s: every slow socket is gone well before the minute is out.
    assert max(closed_at.values()) < 30, max(closed_at.values())
    print(f"slowloris: {SLOW_SOCKETS} slow sockets, all closed by {max(closed_at.values()):.1f} s; {answers} normal answers")


def test_over_the_connection_cap_idle_sockets_make_room(edge_server):
    """With --max-connections 200, 400 idle sockets never keep a normal client waiting: each new
    connection closes the oldest one without a request in flight."""
    raise_fd_limit(2048)
    edge_server.start(extra=["--max-connections", "200", "--header-read-timeout", "60"])
    host, port = host_port(edge_server)
    idle = [socket.create_connection((host, port)) for _ in range(400)]
    time.sleep(0.5)
    t0 = time.time()
    for _ in range(20):
        assert answered(edge_server)
    assert time.time() - t0 < 10
    time.sleep(0.5)
    open_ = [s for s in idle if not closed_by_peer(s)]
    assert len(open_) <= 200, f"{len(open_)} idle sockets still open over a cap of 200"
    # The oldest were closed first.
    assert closed_by_peer(idle[0]) or idle[0] not in open_
    for s in idle:
        s.close()


def raw_http(server, data, wait=40):
    host, port = host_port(server)
    s = socket.create_connection((host, port))
    s.settimeout(wait)
    s.sendall(data)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out:
                head, _, rest = out.partition(b"\r\n\r\n")
                length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if length and len(rest) >= length[0]:
                    break
    except socket.timeout:
        pass
    s.close()
    status = int(out.split(b" ", 2)[1]) if out.startswith(b"HTTP/1.1 ") else None
    return status, out


def test_body_limits_under_every_framing(edge_server):
    edge_server.start()
    big = 1024 * 1024 + 1
    # Content-Length over the limit: refused before the body is read.
    status, out = raw_http(edge_server, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % big)
    assert status == 413 and b"RequestEntityTooLarge" in out
    # Chunked, over the limit.
    chunk = b"a" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(17)) + b"0\r\n\r\n"
    status, out = raw_http(edge_server, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    assert status == 413 and b"RequestEntityTooLarge" in out
    # A Content-Length never sent in full: the body deadline answers (AWS's RequestTimeout).
    t0 = time.time()
    status, out = raw_http(edge_server, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nAction=", wait=45)
    assert status == 400 and b"RequestTimeout" in out, out[:300]
    assert time.time() - t0 < 40
    assert answered(edge_server)


def test_multibyte_dates_are_400_not_a_panic(server):
    """A multibyte character in X-Amz-Date, in the credential scope, and in a presigned query."""
    key = server.root.access_key_id
    date = "2015\u00e9830T12360Z".encode()
    auth = f"AWS4-HMAC-SHA256 Credential={key}/2015\u00e9830/us-east-1/iam/aws4_request, SignedHeaders=host;x-amz-date, Signature={'0' * 64}".encode()
    body = b"Action=ListUsers&Version=2010-05-08"
    req = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nX-Amz-Date: " + date +
           b"\r\nAuthorization: " + auth + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    status, out = raw_http(server, req, wait=10)
    assert status == 400 and b"<Code>IncompleteSignature</Code>" in out, out[:400]
    q = ("Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" +
         urllib.parse.quote(f"{key}/2015\u00e9830/us-east-1/sts/aws4_request", safe="") +
         "&X-Amz-Date=" + urllib.parse.quote("2015\u00e9830T12360Z") + "&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=" + "0" * 64)
    status, body, _ = server.raw(method="GET", query=q, sign=False)
    assert status == 400 and "IncompleteSignature" in body
    logs = server.logs()
    assert "panicked" not in logs


def test_presigned_requests_without_expiry_are_refused(server):
    base = {"Action": "GetCallerIdentity", "Version": "2011-06-15"}
    q = presign_query(server.endpoint, base, server.root, expires=None)
    status, body, _ = server.raw(method="GET", query=q, sign=False)
    assert status == 400 and "X-Amz-Expires" in body
    for bad in ("", "0", "604801", "-1", "1e3"):
        q = presign_query(server.endpoint, base, server.root, expires=bad)
        status, body, _ = server.raw(method="GET", query=q, sign=False)
        assert status == 400 and "X-Amz-Expires" in body, (bad, body)
    # Bounded, it works until it expires.
    q = presign_query(server.endpoint, base, server.root, expires=60)
    assert server.raw(method="GET", query=q, sign=False)[0] == 200
    old = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=120)).strftime("%Y%m%dT%H%M%SZ")
    q = presign_query(server.endpoint, base, server.root, expires=60, amz_date=old)
    status, body, _ = server.raw(method="GET", query=q, sign=False)
    assert status == 403 and "Signature expired" in body


def test_a_signed_plus_cannot_be_swapped_for_its_escape(server):
    """The query is signed with `x%2By`; sent with `x+y` instead, the signature no longer matches (the
    server reads `+` as a space, and so does the canonical query)."""
    amz_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    host = urllib.parse.urlsplit(server.endpoint).netloc
    signed_query = "Action=CreateUser&Version=2010-05-08&UserName=x%2By"
    h = {"host": host, "x-amz-date": amz_date}
    auth = sigv4_header("GET", "/", signed_query, h, b"", server.root, "us-east-1", "iam", amz_date)
    def send(query):
        req = urllib.request.Request(server.endpoint + "/?" + query, method="GET")
        req.add_header("x-amz-date", amz_date)
        req.add_header("authorization", auth)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    status, body = send(signed_query.replace("%2B", "+"))
    assert status == 403 and "SignatureDoesNotMatch" in body
    assert [u["UserName"] for u in server.iam().list_users()["Users"]] == []
    status, body = send(signed_query)
    assert status == 200 and "<UserName>x+y</UserName>" in body


# ---- what gets stored and echoed ----

def test_control_characters_never_reach_the_xml(server):
    """A `\\x0b` in a role description or a tag would make ListRoles unreadable to every SDK."""
    import json
    from test_mfa import error_of
    iam = server.iam()
    acct = server.account["account_id"]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"}, "Action": "sts:AssumeRole"}]})
    for bad in ("a\x0bb", "a\x00b", "a\x0cb", "a\x7fb", "a\x85b"):
        assert error_of(iam.create_role, RoleName="hidden", AssumeRolePolicyDocument=trust, Description=bad)[0] == "ValidationError", repr(bad)
        assert error_of(iam.create_user, UserName="tagged", Tags=[{"Key": "k", "Value": bad}])[0] == "ValidationError", repr(bad)
        assert error_of(iam.create_user, UserName="tagged", Tags=[{"Key": bad, "Value": "v"}])[0] == "ValidationError", repr(bad)
    code, msg, _ = error_of(iam.create_user, UserName="tagged", Tags=[{"Key": "aws:owner", "Value": "v"}])
    assert code == "InvalidInput" and "aws:" in msg
    iam.create_role(RoleName="shown", AssumeRolePolicyDocument=trust, Description="tab\tand line\nok and Latin-1 é")
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["shown"]
    assert iam.get_role(RoleName="shown")["Role"]["Description"] == "tab\tand line\nok and Latin-1 é"
    assert iam.list_users()["Users"] == []


def test_credential_report_fields_are_quoted(server):
    import base64
    import csv
    import io
    iam = server.iam()
    iam.create_user(UserName="forger", Path="/a,TRUE,TRUE,\"x\"/")
    from test_mfa import wait_for_report
    iam.generate_credential_report()
    content = wait_for_report(iam)["Content"]
    content = content if isinstance(content, bytes) else base64.b64decode(content)
    rows = list(csv.reader(io.StringIO(content.decode())))
    assert all(len(r) == 22 for r in rows), [len(r) for r in rows]
    forger = [r for r in rows if r[0] == "forger"][0]
    assert forger[1].endswith(':user/a,TRUE,TRUE,"x"/forger') and forger[7] == "FALSE"


def test_an_incomplete_signature_never_echoes_the_signature(server):
    sig = "b" * 64
    key = server.root.access_key_id
    status, body, _ = server.raw("Action=ListUsers&Version=2010-05-08", sign=False,
                                 headers={"authorization": f"AWS4-HMAC-SHA256 Credential={key}/20200101/us-east-1/iam/aws4_request, Signature={sig}"})
    assert status == 400 and "IncompleteSignature" in body and "SignedHeaders" in body
    assert sig not in body and "Signature=REDACTED" in body
    assert sig not in server.logs()


# ---- console sessions end when the credentials they stand on change ----

def test_console_sessions_end_when_credentials_change_and_only_then(server):
    import json
    from conftest import now_step, totp
    from test_mfa import new_virtual
    acct = server.account["account_id"]
    iam = server.iam()
    pw = "Sessions-Pass-1!"
    iam.create_user(UserName="sam")
    iam.create_login_profile(UserName="sam", Password=pw)
    a, b = ConsoleClient(server), ConsoleClient(server)
    a.sign_in(acct, "sam", pw)
    b.sign_in(acct, "sam", pw)
    # Edits that are not credentials leave sessions alone.
    iam.tag_user(UserName="sam", Tags=[{"Key": "team", "Value": "x"}])
    iam.put_user_policy(UserName="sam", PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}))
    iam.update_login_profile(UserName="sam", PasswordResetRequired=False)
    assert a.signed_in() and b.signed_in()
    # A new password set by an administrator ends them.
    iam.update_login_profile(UserName="sam", Password=pw + "2")
    assert not a.signed_in() and not b.signed_in()
    pw = pw + "2"
    # The user's own change in the console ends the other sessions, not the one that made it.
    a, b = ConsoleClient(server), ConsoleClient(server)
    a.sign_in(acct, "sam", pw)
    b.sign_in(acct, "sam", pw)
    st, _, h = a.post("/console/security/password", old=pw, new=pw + "3", retype=pw + "3")
    assert st == 303, st
    assert a.signed_in() and not b.signed_in()
    pw = pw + "3"
    # Removing the device a session signed in with ends that session; one signed in otherwise stays.
    # (One device per sign-in below, each enabled with the previous and current codes and used with
    # the next one, so no sign-in waits for the clock.)
    n = now_step()
    devices = []
    for name in ("sam-one", "sam-two", "sam-three", "sam-four"):
        serial, seed = new_virtual(iam, name)
        iam.enable_mfa_device(UserName="sam", SerialNumber=serial, AuthenticationCode1=totp(seed, n - 1), AuthenticationCode2=totp(seed, n))
        devices.append((serial, seed))
    sessions = []
    for serial, seed in devices[:3]:
        c = ConsoleClient(server)
        c.sign_in(acct, "sam", pw, serial, totp(seed, n + 1))
        sessions.append(c)
    one, two, three = sessions
    iam.deactivate_mfa_device(UserName="sam", SerialNumber=devices[0][0])
    assert not one.signed_in() and two.signed_in() and three.signed_in()
    # Sign out everywhere ends every session, this one included.
    st, _, _ = three.post("/console/signout/everywhere")
    assert st == 303
    assert not three.signed_in() and not two.signed_in()
    # Deleting the login profile ends what is left.
    four = ConsoleClient(server)
    four.sign_in(acct, "sam", pw, devices[3][0], totp(devices[3][1], n + 1))
    iam.delete_login_profile(UserName="sam")
    assert not four.signed_in()


# ---- abuse of the password checks ----

def test_argon2_floods_get_a_fast_503_and_the_api_keeps_answering(server):
    """Unauthenticated sign-ins each cost an Argon2 check (19 MiB): beyond the cores and a short
    queue, they are told to come back instead of piling up."""
    import concurrent.futures
    acct = server.account["account_id"]

    def attempt(i):
        c = ConsoleClient(server)
        t0 = time.time()
        st, _, h = c.attempt_signin(acct, f"nobody{i}", "Wrong-Passw0rd!")
        return st, h.get("Retry-After"), time.time() - t0

    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        futures = [pool.submit(attempt, i) for i in range(64)]
        api_ok = answered(server)
        results = [f.result() for f in futures]
    took = time.time() - t0
    busy = [r for r in results if r[0] == 503]
    assert api_ok
    assert busy, "no sign-in was told to come back"
    assert all(r[1] == "1" for r in busy), "a 503 says when to retry"
    assert all(r[0] in (401, 503) for r in results), sorted({r[0] for r in results})
    assert max(r[2] for r in busy) < 5, "a refused sign-in is refused fast"
    assert took < 60
    print(f"argon2 flood: {len(busy)} of 64 sign-ins told to retry; all answered in {took:.1f} s")


def test_change_password_is_no_oracle(server):
    """A NewPassword that breaks the policy used to make ChangePassword a free oracle for the old one:
    now every guess is counted first, and the policy is judged only after a right guess."""
    from conftest import Creds
    from test_mfa import error_of
    iam = server.iam()
    iam.update_account_password_policy(MinimumPasswordLength=20, AllowUsersToChangePassword=True)
    iam.create_user(UserName="oracle")
    right = "Right-Passw0rd!-long-enough"
    iam.create_login_profile(UserName="oracle", Password=right)
    k = iam.create_access_key(UserName="oracle")["AccessKey"]
    me = server.iam(Creds(k["AccessKeyId"], k["SecretAccessKey"]))
    for i in range(5):
        code, msg, _ = error_of(me.change_password, OldPassword=f"guess-{i}", NewPassword="short")
        assert code == "AccessDenied" and "old password is incorrect" in msg
    # The sixth guess is refused before it is checked — even the right one.
    code, msg, status = error_of(me.change_password, OldPassword=right, NewPassword="short")
    assert (code, status) == ("Throttling", 400), (code, msg)
    assert "PasswordPolicyViolation" not in msg


def test_an_account_id_and_its_alias_share_one_guessing_budget(server):
    acct = server.account["account_id"]
    iam = server.iam()
    iam.create_account_alias(AccountAlias="budget-test")
    iam.create_user(UserName="bud")
    iam.create_login_profile(UserName="bud", Password="Budget-Passw0rd!")
    statuses = []
    for i in range(6):
        c = ConsoleClient(server)
        st, body, _ = c.attempt_signin(acct if i % 2 else "budget-test", "BUD" if i % 3 else "bud", f"wrong-{i}")
        statuses.append(st)
    # Five free failures per principal and address, whichever spelling: the sixth waits.
    assert statuses[:5] == [401] * 5 and statuses[5] == 429, statuses


# ---- a write racing a delete leaves nothing behind ----

def test_writes_racing_deletes_never_leave_orphans(server):
    import json
    import threading
    from botocore.exceptions import ClientError
    from conftest import now_step, totp
    from test_mfa import new_virtual
    root = server.iam()
    acct = server.account["account_id"]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"}, "Action": "sts:AssumeRole"}]})
    pol = root.create_policy(PolicyName="racy", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]}))["Policy"]["Arn"]

    def outcome(fn, **kw):
        try:
            fn(**kw)
            return "ok"
        except ClientError as e:
            return e.response["Error"]["Code"]

    def race(write, delete):
        results = {}
        barrier = threading.Barrier(2)

        def run(name, f):
            client = server.iam()
            barrier.wait()
            results[name] = f(client)

        ts = [threading.Thread(target=run, args=("write", write)), threading.Thread(target=run, args=("delete", delete))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return results["write"], results["delete"]

    tally = {}
    for i in range(20):
        cases = []
        root.create_role(RoleName=f"r{i}", AssumeRolePolicyDocument=trust)
        cases.append(("AttachRolePolicy/DeleteRole", lambda c, i=i: outcome(c.attach_role_policy, RoleName=f"r{i}", PolicyArn=pol), lambda c, i=i: outcome(c.delete_role, RoleName=f"r{i}")))
        root.create_user(UserName=f"ua{i}")
        cases.append(("AttachUserPolicy/DeleteUser", lambda c, i=i: outcome(c.attach_user_policy, UserName=f"ua{i}", PolicyArn=pol), lambda c, i=i: outcome(c.delete_user, UserName=f"ua{i}")))
        root.create_user(UserName=f"um{i}")
        serial, seed = new_virtual(root, f"race-{i}")
        n = now_step()
        codes = (totp(seed, n - 1), totp(seed, n))
        cases.append(("EnableMFADevice/DeleteUser", lambda c, i=i, s=serial, k=codes: outcome(c.enable_mfa_device, UserName=f"um{i}", SerialNumber=s, AuthenticationCode1=k[0], AuthenticationCode2=k[1]), lambda c, i=i: outcome(c.delete_user, UserName=f"um{i}")))
        root.create_user(UserName=f"uk{i}")
        cases.append(("CreateAccessKey/DeleteUser", lambda c, i=i: outcome(c.create_access_key, UserName=f"uk{i}"), lambda c, i=i: outcome(c.delete_user, UserName=f"uk{i}")))
        root.create_user(UserName=f"ug{i}")
        root.create_group(GroupName=f"g{i}")
        cases.append(("AddUserToGroup/DeleteUser", lambda c, i=i: outcome(c.add_user_to_group, GroupName=f"g{i}", UserName=f"ug{i}"), lambda c, i=i: outcome(c.delete_user, UserName=f"ug{i}")))
        for name, write, delete in cases:
            w, d = race(write, delete)
            tally.setdefault(name, {}).setdefault((w, d), 0)
            tally[name][(w, d)] += 1
            assert (w, d) in (("ok", "DeleteConflict"), ("NoSuchEntity", "ok")), f"{name} #{i}: write {w}, delete {d}"
    # Nothing dangles: every attachment names an entity, the policy can be detached and deleted,
    # and the devices in use are exactly those of existing users.
    ents = root.list_entities_for_policy(PolicyArn=pol)
    for r in ents["PolicyRoles"]:
        assert r["RoleName"]
        root.detach_role_policy(RoleName=r["RoleName"], PolicyArn=pol)
    for u in ents["PolicyUsers"]:
        assert u["UserName"]
        root.detach_user_policy(UserName=u["UserName"], PolicyArn=pol)
    root.delete_policy(PolicyArn=pol)
    in_use = root.get_account_summary()["SummaryMap"]["MFADevicesInUse"]
    users = {u["UserName"] for u in root.list_users()["Users"]}
    assigned = sum(len(root.list_mfa_devices(UserName=u)["MFADevices"]) for u in users)
    assert in_use == assigned
    print("races:", {k: {f"{w}/{d}": n for (w, d), n in v.items()} for k, v in tally.items()})


# ---- unauthenticated junk in the append-only trail ----

def db_bytes(server):
    import subprocess
    if server.backend == "postgres":
        from conftest import pg_admin_url
        out = subprocess.run(["psql", pg_admin_url(), "-At", "-c", f"SELECT pg_database_size('{server.pg_name}')"], capture_output=True, text=True, check=True).stdout
        return int(out.strip())
    return sum(os.path.getsize(os.path.join(server.data_dir, f)) for f in os.listdir(server.data_dir) if f.startswith("iamd"))


def test_junk_naming_a_real_key_is_recorded_bounded_and_never_in_the_victims_trail(server):
    import json
    from conftest import Creds
    victim = server.root
    forged = Creds(victim.access_key_id, "not-the-secret-" + "0" * 25)
    import base64
    def payload():  # 64 KiB that no compression shrinks
        return "EVIL" + base64.urlsafe_b64encode(os.urandom(48 * 1024)).decode()

    before = db_bytes(server)
    statuses = set()
    for _ in range(1000):
        body = "Action=CreateUser&Version=2010-05-08&UserName=x&Payload=" + payload()
        status, text, _ = server.raw(body=body, creds=forged)
        statuses.add((status, "SignatureDoesNotMatch" in text))
    assert statuses == {(403, True)}, statuses
    # A correctly signed request with the same key, from the same address, is not held up at all.
    assert answered(server)
    server.iam().create_user(UserName="after-the-flood")
    time.sleep(1)
    grown = db_bytes(server) - before
    assert grown < 4 * 1024 * 1024, f"the database grew by {grown} bytes for 64 MiB of junk"
    # The victim's trail holds no attacker-chosen payload and no junk filed under its account.
    ct = server.client("cloudtrail")
    events = []
    kw = {"MaxResults": 50}
    while True:
        page = ct.lookup_events(**kw)
        events += page["Events"]
        if "NextToken" not in page:
            break
        kw["NextToken"] = page["NextToken"]
    assert not any("EVIL" in e["CloudTrailEvent"] for e in events)
    assert not any(json.loads(e["CloudTrailEvent"]).get("errorCode") == "SignatureDoesNotMatch" for e in events)
    print(f"junk: 1000 × 64 KiB → database +{grown} bytes")


def test_a_long_term_key_with_a_session_token_is_refused(server):
    from conftest import Creds
    mixed = Creds(server.root.access_key_id, server.root.secret_access_key, "FwoGZXIvYXdzEJr//////////bogus")
    status, body, _ = server.raw("Action=GetCallerIdentity&Version=2011-06-15", creds=mixed, service="sts")
    assert status == 403 and "InvalidClientTokenId" in body and "security token included in the request is invalid" in body


def test_simulation_is_paged_and_costs_only_its_page(server):
    import json
    iam = server.iam()
    doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:Get*", "Resource": "*"}]})
    actions = [f"iam:Get{i}" for i in range(1000)]
    resources = [f"arn:aws:iam::123456789012:user/u{i}" for i in range(1000)]  # 10^6 pairs
    t0 = time.time()
    page = iam.simulate_custom_policy(PolicyInputList=[doc], ActionNames=actions, ResourceArns=resources, MaxItems=50)
    assert len(page["EvaluationResults"]) == 50 and page["IsTruncated"]
    assert page["EvaluationResults"][0]["EvalActionName"] == "iam:Get0" and page["EvaluationResults"][49]["EvalResourceName"].endswith("/u49")
    nxt = iam.simulate_custom_policy(PolicyInputList=[doc], ActionNames=actions, ResourceArns=resources, MaxItems=1000, Marker=page["Marker"])
    assert len(nxt["EvaluationResults"]) == 1000 and nxt["EvaluationResults"][0]["EvalResourceName"].endswith("/u50")
    assert nxt["EvaluationResults"][950]["EvalActionName"] == "iam:Get1"
    assert time.time() - t0 < 20
    # The last page is not truncated.
    small = iam.simulate_custom_policy(PolicyInputList=[doc], ActionNames=["iam:GetUser", "iam:ListUsers"], MaxItems=1)
    last = iam.simulate_custom_policy(PolicyInputList=[doc], ActionNames=["iam:GetUser", "iam:ListUsers"], MaxItems=1, Marker=small["Marker"])
    assert [r["EvalDecision"] for r in small["EvaluationResults"] + last["EvaluationResults"]] == ["allowed", "implicitDeny"]
    assert not last["IsTruncated"]


def test_two_hardware_tokens_cannot_share_a_seed(server, tmpdir_path):
    from conftest import run_iamd
    acct = server.account["account_id"]
    seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    f1 = os.path.join(tmpdir_path, "a.csv")
    open(f1, "w").write(f"GAKT00000001,{seed}\n")
    run_iamd("mfa", "import", *server.store_args(), "--account", acct, f1)
    f2 = os.path.join(tmpdir_path, "b.csv")
    open(f2, "w").write(f"GAKT00000002,JBSWY3DPEHPK3PXQJBSWY3DPEHPK3PXQ\nGAKT00000003,{seed}\n")
    p = run_iamd("mfa", "import", *server.store_args(), "--account", acct, f2, check=False)
    assert p.returncode != 0 and "same seed" in p.stderr and "GAKT00000001" in p.stderr
    f3 = os.path.join(tmpdir_path, "c.csv")
    open(f3, "w").write("GAKT00000004,KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU\nGAKT00000005,KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU\n")
    p = run_iamd("mfa", "import", *server.store_args(), "--account", acct, f3, check=False)
    assert p.returncode != 0 and "same seed" in p.stderr
    listed = run_iamd("mfa", "list-hardware", *server.store_args(), "--account", acct, check=False).stdout
    assert "GAKT00000001" in listed and "GAKT00000002" not in listed and "GAKT00000004" not in listed


def test_first_start_can_write_credentials_to_a_file_instead_of_stdout(fresh, tmpdir_path):
    import json
    import stat
    path = os.path.join(tmpdir_path, "root-credentials.json")
    fresh.start(extra=["--credentials-file", path])
    out = "".join(fresh.stdout_lines)
    creds = json.load(open(path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert creds["secret_access_key"] not in out and creds["root_password"] not in out and path in out


def test_failed_enables_against_a_user_never_slow_that_users_sign_ins(server):
    import json
    from conftest import now_step, totp
    from test_mfa import error_of, new_virtual, next_code
    iam = server.iam()
    victim = server.new_user_with_key("victim")
    serial, seed = new_virtual(iam, "victim-phone")
    n = now_step()
    iam.enable_mfa_device(UserName="victim", SerialNumber=serial, AuthenticationCode1=totp(seed, n - 1), AuthenticationCode2=totp(seed, n))
    attacker = server.new_user_with_key("attacker")
    iam.put_user_policy(UserName="attacker", PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:EnableMFADevice", "iam:ResyncMFADevice", "iam:CreateVirtualMFADevice"], "Resource": "*"}]}))
    spare, _ = new_virtual(iam, "spare")
    a = server.iam(attacker)
    for _ in range(12):
        assert error_of(a.enable_mfa_device, UserName="victim", SerialNumber=spare, AuthenticationCode1="000000", AuthenticationCode2="111111")[0] in ("InvalidAuthenticationCode", "AccessDenied")
        assert error_of(a.resync_mfa_device, UserName="victim", SerialNumber=serial, AuthenticationCode1="000000", AuthenticationCode2="111111")[0] in ("InvalidAuthenticationCode", "AccessDenied")
    # The victim's own code still opens a session at once.
    c = server.sts(victim).get_session_token(SerialNumber=serial, TokenCode=next_code(seed))["Credentials"]
    assert c["AccessKeyId"].startswith("ASIA")
    # The attacker, on the other hand, is now waiting.
    code, _, _ = error_of(a.enable_mfa_device, UserName="victim", SerialNumber=spare, AuthenticationCode1="000000", AuthenticationCode2="111111")
    assert code in ("InvalidAuthenticationCode", "AccessDenied")


# ---- lock-outs: whose address, and who may always get in ----

def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(server):
    acct = server.account["account_id"]
    iam = server.iam()
    iam.create_user(UserName="xff")
    iam.create_login_profile(UserName="xff", Password="Forwarded-Passw0rd!")
    # Each guess claims another address; without --trusted-proxies the peer's own address counts.
    statuses = [ConsoleClient(server).attempt_signin(acct, "xff", f"wrong-{i}", xff=f"198.51.100.{i}")[0] for i in range(6)]
    assert statuses == [401] * 5 + [429], statuses


def test_behind_a_trusted_proxy_the_client_address_counts_and_ipv6_groups_by_64(edge_server):
    edge_server.start(extra=["--trusted-proxies", "127.0.0.0/8,::1"])
    acct = edge_server.account["account_id"]
    iam = edge_server.iam()
    iam.create_user(UserName="proxied")
    iam.create_login_profile(UserName="proxied", Password="Proxied-Passw0rd!")
    # Distinct clients behind the proxy: each has its own per-address budget.
    statuses = [ConsoleClient(edge_server).attempt_signin(acct, "proxied", f"wrong-{i}", xff=f"203.0.113.{i}")[0] for i in range(8)]
    assert 429 not in statuses, statuses
    # Addresses of one IPv6 /64 are one source.
    statuses = [ConsoleClient(edge_server).attempt_signin(acct, "proxied", f"wrong-v6-{i}", xff=f"2001:db8:aa:bb::{i + 1}")[0] for i in range(6)]
    assert statuses == [401] * 5 + [429], statuses
    # The client's address reaches aws:SourceIp and the trail.
    import json
    iam.put_user_policy(UserName="proxied", PolicyName="ip", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}}]}))
    k = iam.create_access_key(UserName="proxied")["AccessKey"]
    from conftest import Creds
    me = Creds(k["AccessKeyId"], k["SecretAccessKey"])
    st, body, _ = edge_server.raw("Action=GetUser&Version=2010-05-08", creds=me, headers={"x-forwarded-for": "192.0.2.10"})
    assert st == 200, body
    st, body, _ = edge_server.raw("Action=GetUser&Version=2010-05-08", creds=me, headers={"x-forwarded-for": "198.51.100.10"})
    assert st == 403 and "AccessDenied" in body


def test_a_guesser_cannot_keep_the_owner_out_of_a_browser_that_signed_in_before(edge_server):
    edge_server.start(extra=["--trusted-proxies", "127.0.0.0/8"])
    acct = edge_server.account["account_id"]
    iam = edge_server.iam()
    pw = "Owner-Passw0rd!"
    iam.create_user(UserName="owner")
    iam.create_login_profile(UserName="owner", Password=pw)
    mine = ConsoleClient(edge_server)
    assert mine.attempt_signin(acct, "owner", pw, xff="192.0.2.50")[0] == 303
    mine.cookies.pop("iamd_session", None)
    # A distributed guesser (many addresses) pushes the principal-wide scope into its waits.
    for i in range(24):
        ConsoleClient(edge_server).attempt_signin(acct, "owner", f"guess-{i}", xff=f"203.0.113.{i + 1}")
    assert ConsoleClient(edge_server).attempt_signin(acct, "owner", pw, xff="198.51.100.77")[0] == 429
    # The owner's browser, which signed in before, is not held by the principal-wide scope.
    assert mine.attempt_signin(acct, "owner", pw, xff="192.0.2.50")[0] == 303


def test_the_console_answers_only_at_its_own_host(server):
    """DNS rebinding: a page on evil.example that resolves to this server sends Host and Origin of
    its own; the console refuses it."""
    from conftest import http
    port = urllib.parse.urlsplit(server.endpoint).port
    status, body, _ = http(f"http://127.0.0.1:{port}/console", headers={"Host": f"evil.example:{port}"})
    assert status == 421 and "own address" in body
    status, _, _ = http(f"http://127.0.0.1:{port}/console/signin", "kind=root&email=x&password=y",
                        {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"})
    assert status == 421
    for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
        assert http(f"http://127.0.0.1:{port}/console", headers={"Host": host})[0] == 200
    # The API is not the console: it answers any Host (SigV4 signs the Host it was sent to).
    assert answered(server)


def test_while_the_trail_cannot_be_written_reads_get_503_and_nothing_acknowledged_is_lost(server):
    import json
    import sqlite3
    import subprocess
    from conftest import pg_admin_url

    def sql(statement):
        if server.backend == "postgres":
            url = pg_admin_url().rsplit("/", 1)[0] + "/" + server.pg_name
            subprocess.run(["psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-c", statement], check=True, capture_output=True)
        else:
            db = [f for f in os.listdir(server.data_dir) if f.endswith(".db") or f.endswith(".sqlite")][0]
            c = sqlite3.connect(os.path.join(server.data_dir, db), timeout=10)
            c.executescript(statement)
            c.close()

    if server.backend == "postgres":
        sql("CREATE FUNCTION fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full (test)'; END $$; "
            "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION fail_audit();")
    else:
        sql("CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END;")
    # The first read is answered before its record is written (group commit) and must not be lost.
    st, body, h = server.raw("Action=GetCallerIdentity&Version=2011-06-15", service="sts")
    assert st == 200
    acknowledged = h["x-amzn-requestid"]
    deadline = time.time() + 10
    st = 200
    while time.time() < deadline and st == 200:
        st, body, h = server.raw("Action=GetCallerIdentity&Version=2011-06-15", service="sts")
        if st == 200:
            time.sleep(0.1)
    assert st == 503 and "ServiceUnavailable" in body and h.get("retry-after") == "1"
    # The database comes back: the writer's retry lands what was queued, and reads are answered again.
    sql("DROP TRIGGER fail_audit ON audit_log; DROP FUNCTION fail_audit();" if server.backend == "postgres" else "DROP TRIGGER fail_audit;")
    deadline = time.time() + 15
    while time.time() < deadline and not answered(server):
        time.sleep(0.2)
    assert answered(server)
    ct = server.client("cloudtrail")
    found = []
    deadline = time.time() + 10
    while time.time() < deadline and not found:
        events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "GetCallerIdentity"}], MaxResults=50)["Events"]
        found = [e for e in events if json.loads(e["CloudTrailEvent"]).get("requestID") == acknowledged]
        time.sleep(0.2)
    assert found, "the acknowledged read's record was lost"
