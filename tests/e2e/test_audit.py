"""The audit trail: one CloudTrail-shaped record per call (with the MFA device used), LookupEvents over
CloudTrail's JSON protocol with the real clients, append-only storage, signed digests that catch every
kind of tampering, export, pruning, and records that survive a SIGKILL with the changes they describe."""

import base64
import concurrent.futures
import datetime
import glob
import gzip
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time

import pytest
from botocore.exceptions import ClientError

from conftest import ConsoleClient, Creds, Server, run_iamd, totp, now_step, b32decode
from test_mfa import enable, next_code, new_virtual, wrong_code, session


def lookup_all(server, creds=None, **kw):
    """Every event LookupEvents returns (following NextToken), newest first."""
    ct = server.client("cloudtrail", creds)
    out = []
    for page in ct.get_paginator("lookup_events").paginate(**kw):
        out.extend(page["Events"])
    return out


def records(events):
    return [json.loads(e["CloudTrailEvent"]) for e in events]


def rid(resp):
    return resp["ResponseMetadata"]["RequestId"]


def jsonl(server):
    p = run_iamd("audit", "export", *server.store_args(), "--since", "2000-01-01", "--format", "jsonl")
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


def sql(server, statement, params=()):
    """Runs SQL directly on the database (as an attacker with file or database access would)."""
    if server.backend == "sqlite":
        c = sqlite3.connect(os.path.join(server.data_dir, "iamd.db"), timeout=10)
        try:
            cur = c.execute(statement, params)
            rows = cur.fetchall()
            c.commit()
            return rows
        finally:
            c.close()
    parts = statement.split("?")
    assert len(parts) == len(params) + 1
    lit = lambda p: "'" + p.replace("'", "''") + "'" if isinstance(p, str) else str(p)
    q = parts[0] + "".join(lit(p) + rest for p, rest in zip(params, parts[1:]))
    r = subprocess.run(["psql", server.database_url, "-q", "-t", "-A", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", q], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return [tuple(l.split("\t")) for l in r.stdout.splitlines() if l]


def mfa_user(server, name):
    iam = server.iam()
    creds = server.new_user_with_key(name)
    serial, seed = new_virtual(iam, name + "-phone")
    enable(iam, name, serial, seed)
    return creds, serial, seed


def test_each_call_makes_one_record_naming_the_caller_and_the_mfa_device(server):
    alice, serial, seed = mfa_user(server, "alice")
    sts_alice = server.sts(alice)
    ids = {}
    ids["GetCallerIdentity"] = rid(sts_alice.get_caller_identity())
    with pytest.raises(ClientError) as denied:
        server.iam(alice).list_users()
    ids["ListUsers"] = denied.value.response["ResponseMetadata"]["RequestId"]
    code = next_code(seed)
    resp = server.sts(alice).get_session_token(SerialNumber=serial, TokenCode=code, DurationSeconds=900)
    ids["GetSessionToken"] = rid(resp)
    c = resp["Credentials"]
    mfa_creds = Creds(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    ids["GetCallerIdentity(mfa)"] = rid(server.sts(mfa_creds).get_caller_identity())
    # A failed attempt names the device it targeted; the code itself is never recorded.
    bad = wrong_code(seed)
    with pytest.raises(ClientError) as failed:
        server.sts(alice).get_session_token(SerialNumber=serial, TokenCode=bad)
    ids["GetSessionToken(failed)"] = failed.value.response["ResponseMetadata"]["RequestId"]

    # Visible as soon as the calls have answered, through the real AWS CLI.
    out = server.aws("cloudtrail", "lookup-events", "--lookup-attributes", "AttributeKey=Username,AttributeValue=alice")
    recs = records(out["Events"])
    by_request = {}
    for r in recs:
        by_request.setdefault(r["requestID"], []).append(r)
    for label, request_id in ids.items():
        assert len(by_request.get(request_id, [])) == 1, (label, request_id)
    acct = server.account["account_id"]
    for r in recs:
        assert r["eventVersion"] and r["eventType"] == "AwsApiCall" and r["recipientAccountId"] == acct
        assert r["userIdentity"]["userName"] == "alice" and r["userIdentity"]["type"] == "IAMUser"
        assert r["userIdentity"]["arn"] == f"arn:aws:iam::{acct}:user/alice"
        assert r["sourceIPAddress"] == "127.0.0.1" and "Botocore" in r["userAgent"] or "botocore" in r["userAgent"]

    gci = by_request[ids["GetCallerIdentity"]][0]
    assert gci["eventSource"] == "sts.amazonaws.com" and gci["readOnly"] is True
    assert gci["userIdentity"]["accessKeyId"] == alice.access_key_id
    assert gci["userIdentity"]["sessionContext"]["attributes"]["mfaAuthenticated"] == "false"

    lu = by_request[ids["ListUsers"]][0]
    assert lu["errorCode"] == "AccessDenied" and "not authorized" in lu["errorMessage"]

    gst = by_request[ids["GetSessionToken"]][0]
    assert gst["requestParameters"] == {"durationSeconds": 900, "serialNumber": serial}
    cr = gst["responseElements"]["credentials"]
    assert cr["accessKeyId"] == c["AccessKeyId"] and cr["sessionToken"] == c["SessionToken"]
    assert datetime.datetime.strptime(cr["expiration"], "%b %d, %Y, %I:%M:%S %p")
    assert c["SecretAccessKey"] not in json.dumps(gst)

    mfa_call = by_request[ids["GetCallerIdentity(mfa)"]][0]
    assert mfa_call["userIdentity"]["accessKeyId"] == c["AccessKeyId"]
    assert mfa_call["userIdentity"]["sessionContext"]["attributes"]["mfaAuthenticated"] == "true"

    fail = by_request[ids["GetSessionToken(failed)"]][0]
    assert fail["errorCode"] == "AccessDenied" and fail["requestParameters"]["serialNumber"] == serial
    assert "tokenCode" not in fail["requestParameters"] and f'"{bad}"' not in json.dumps(fail)
    assert f'"{code}"' not in json.dumps(recs)


def test_lookup_attributes_time_range_paging_and_errors(server):
    iam = server.iam()
    acct = server.account["account_id"]
    bob = server.new_user_with_key("bob")
    t0 = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
    for i in range(5):
        server.sts(bob).get_caller_identity()
    iam.tag_user(UserName="bob", Tags=[{"Key": "team", "Value": "red"}])
    # (Lookups are calls too and make records of their own: leave those out when comparing.)
    everything = [e for e in lookup_all(server) if e["EventName"] != "LookupEvents"]
    assert len(everything) >= 8
    # Newest first; every page at most MaxResults; paging returns each event once.
    paged = [e for e in lookup_all(server, PaginationConfig={"PageSize": 2}) if e["EventName"] != "LookupEvents"]
    assert [e["EventId"] for e in paged] == [e["EventId"] for e in everything]
    times = [e["EventTime"] for e in everything]
    assert times == sorted(times, reverse=True)

    tag = next(e for e in everything if e["EventName"] == "TagUser")
    gci = [e for e in everything if e["EventName"] == "GetCallerIdentity"]
    assert len(gci) == 5
    cases = {
        "EventId": (tag["EventId"], 1),
        "EventName": ("GetCallerIdentity", 5),
        "ReadOnly": ("false", None),
        "Username": ("bob", 5),
        "ResourceType": ("AWS::IAM::User", None),
        "ResourceName": ("bob", None),
        "EventSource": ("sts.amazonaws.com", 5),
        "AccessKeyId": (bob.access_key_id, 5),
    }
    for key, (value, count) in cases.items():
        got = lookup_all(server, LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}])
        assert got, key
        if count is not None:
            assert len(got) == count, (key, len(got))
        for e in got:
            r = json.loads(e["CloudTrailEvent"])
            if key == "ReadOnly":
                assert r["readOnly"] is False and e["ReadOnly"] == "false"
            if key == "ResourceName":
                assert any(x["ResourceName"] == "bob" for x in e["Resources"])
            if key == "Username":
                assert e["Username"] == "bob"
    # Root's own calls are under the user name "root", as in CloudTrail.
    assert all(e["Username"] == "root" for e in lookup_all(server, LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "root"}]))

    # Time range (botocore sends epoch seconds).
    after = lookup_all(server, StartTime=t0)
    assert {e["EventId"] for e in gci} <= {e["EventId"] for e in after}
    assert lookup_all(server, EndTime=t0 - datetime.timedelta(days=1)) == []

    ct = server.client("cloudtrail")
    def err(**kw):
        with pytest.raises(ClientError) as e:
            ct.lookup_events(**kw)
        return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]
    assert err(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "a"}, {"AttributeKey": "EventName", "AttributeValue": "b"}]) == ("InvalidLookupAttributesException", 400)
    assert err(LookupAttributes=[{"AttributeKey": "Colour", "AttributeValue": "a"}]) == ("InvalidLookupAttributesException", 400)
    assert err(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "x" * 2001}]) == ("InvalidLookupAttributesException", 400)
    assert err(MaxResults=51) == ("InvalidMaxResultsException", 400)
    assert err(StartTime=datetime.datetime(2026, 1, 2), EndTime=datetime.datetime(2026, 1, 1)) == ("InvalidTimeRangeException", 400)
    assert err(NextToken="bm90LWEtdG9rZW4") == ("InvalidNextTokenException", 400)
    assert err(EventCategory="everything") == ("InvalidEventCategoryException", 400)
    # A token belongs to its query.
    first = ct.lookup_events(MaxResults=1)
    assert err(NextToken=first["NextToken"], LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "bob"}]) == ("InvalidNextTokenException", 400)

    # Authorized by policy; an account sees only its own records.
    with pytest.raises(ClientError) as denied:
        server.client("cloudtrail", bob).lookup_events()
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    iam.put_user_policy(UserName="bob", PolicyName="trail", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "cloudtrail:LookupEvents", "Resource": "*"}]}))
    assert lookup_all(server, bob, LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "TagUser"}])
    other = json.loads(run_iamd("account", "create", *server.store_args(), "--email", "other@example.com", "--json").stdout)
    other_creds = Creds(other["access_key_id"], other["secret_access_key"])
    server.sts(other_creds).get_caller_identity()
    theirs = records(lookup_all(server, other_creds))
    assert theirs and all(r["recipientAccountId"] == other["account_id"] for r in theirs)
    assert all(r["recipientAccountId"] == acct for r in records(lookup_all(server)))


def test_no_secret_code_or_password_ever_reaches_the_trail(server, tmpdir_path):
    iam = server.iam()
    secrets = [server.root.secret_access_key, server.account["root_password"]]
    carol, serial, seed = mfa_user(server, "carol")
    secrets.append(carol.secret_access_key)
    secrets.append(base64.b32encode(seed).decode().rstrip("="))
    pw1, pw2 = "Initial-Passw0rd!x", "Changed-Passw0rd!y"
    iam.create_login_profile(UserName="carol", Password=pw1, PasswordResetRequired=False)
    iam.update_login_profile(UserName="carol", Password=pw2)
    secrets += [pw1, pw2]
    with pytest.raises(ClientError):
        iam.change_password(OldPassword="wrong-" + pw2, NewPassword="Never-Used-Passw0rd!")
    secrets.append("Never-Used-Passw0rd!")
    codes = []
    code = next_code(seed)
    codes.append(code)
    s, c = session(server, carol, serial, code)
    secrets.append(c["SecretAccessKey"])
    k = iam.create_access_key(UserName="carol")["AccessKey"]
    secrets.append(k["SecretAccessKey"])
    # A presigned request: its signature must not be recorded either.
    import urllib.request
    from conftest import presign_query
    q = presign_query(server.endpoint, {"Action": "GetCallerIdentity", "Version": "2011-06-15"}, carol)
    urllib.request.urlopen(server.endpoint + "/?" + q).read()
    secrets.append(q.rsplit("X-Amz-Signature=", 1)[1])
    v = iam.create_virtual_mfa_device(VirtualMFADeviceName="spare")["VirtualMFADevice"]
    secrets.append(v["Base32StringSeed"].decode())

    run_iamd("audit", "export", *server.store_args(), "--since", "2000-01-01", "--out", os.path.join(tmpdir_path, "out"))
    trail = "\n".join(json.dumps(r) for r in jsonl(server))
    for path in glob.glob(os.path.join(tmpdir_path, "out", "**", "*.gz"), recursive=True):
        trail += gzip.open(path).read().decode()
    assert "CreateLoginProfile" in trail and "GetSessionToken" in trail and "presign" not in trail
    for s_ in secrets:
        assert s_ not in trail, s_[:6]
    for c_ in codes:
        assert f'"{c_}"' not in trail


def test_the_trail_is_append_only_and_digests_catch_every_kind_of_tampering(server, tmpdir_path):
    dave = server.new_user_with_key("dave")
    for i in range(4):
        server.sts(dave).get_caller_identity()
        # Writes: one row each, all in the first digest's log file of this account.
        server.iam().tag_user(UserName="dave", Tags=[{"Key": f"k{i}", "Value": "v"}])
    run_iamd("audit", "digest", *server.store_args())
    for _ in range(3):
        server.sts(dave).get_caller_identity()
    run_iamd("audit", "digest", *server.store_args())
    ok = run_iamd("audit", "verify", *server.store_args())
    assert "OK:" in ok.stdout, ok.stdout

    # The database itself refuses to change or remove records.
    for stmt in ["UPDATE audit_log SET body = 'x'", "DELETE FROM audit_log", "UPDATE audit_digests SET body = 'x'", "DELETE FROM audit_digests"]:
        with pytest.raises((sqlite3.DatabaseError, RuntimeError)) as e:
            sql(server, stmt)
        assert "append-only" in str(e.value)

    # An attacker with full access drops the triggers; each kind of tampering is caught and located.
    if server.backend == "sqlite":
        for t in ["audit_log_no_update", "audit_log_no_delete", "audit_digests_no_update"]:
            sql(server, f"DROP TRIGGER {t}")
    else:
        sql(server, "DROP TRIGGER audit_log_append_only ON audit_log")
        sql(server, "DROP TRIGGER audit_digests_append_only ON audit_digests")
    acct = server.account["account_id"]
    rows = sql(server, "SELECT seq, body FROM audit_log WHERE account_id = ? AND body LIKE '%TagUser%' ORDER BY seq", (acct,))
    rows = [(int(a), b) for a, b in rows]
    assert len(rows) >= 4

    def verdict():
        p = run_iamd("audit", "verify", *server.store_args(), "--json", check=False)
        return p.returncode, json.loads(p.stdout)

    def expect(kind, seq=None):
        code, r = verdict()
        assert code != 0 and r["ok"] is False, r
        assert any(p.startswith(kind) for p in r["problems"]), r["problems"]
        if seq is not None:
            assert any(str(seq) in p for p in r["problems"] if p.startswith(kind)), r["problems"]

    seq, body = rows[0]
    # altered
    sql(server, "UPDATE audit_log SET body = ? WHERE seq = ?", (body.replace("TagUser", "TagUsex"), seq))
    expect("altered")
    sql(server, "UPDATE audit_log SET body = ? WHERE seq = ?", (body, seq))
    assert verdict()[0] == 0
    # removed
    cols = "seq, account_id, first_ms, last_ms, n, body" + (", txid" if server.backend == "postgres" else "")
    full = sql(server, f"SELECT {cols} FROM audit_log WHERE seq = ?", (seq,))[0]
    sql(server, "DELETE FROM audit_log WHERE seq = ?", (seq,))
    expect("removed")
    marks = ", ".join("?" for _ in full)
    sql(server, f"INSERT INTO audit_log ({cols}) VALUES ({marks})", tuple(int(x) if str(x).lstrip('-').isdigit() else x for x in full))
    assert verdict()[0] == 0
    # inserted (a forged record placed before the first real one)
    forged = body.replace("TagUser", "DeleteUser")
    if server.backend == "sqlite":
        sql(server, "INSERT INTO audit_log (seq, account_id, first_ms, last_ms, n, body) VALUES (-7, ?, 0, 0, 1, ?)", (acct, forged))
    else:
        sql(server, "INSERT INTO audit_log (seq, txid, account_id, first_ms, last_ms, n, body) VALUES (-7, 1, ?, 0, 0, 1, ?)", (acct, forged))
    expect("inserted", -7)
    sql(server, "DELETE FROM audit_log WHERE seq = -7")
    assert verdict()[0] == 0
    # reordered: two records of one log file swap places — two rows of the same digest (on
    # PostgreSQL a row whose transaction overlapped a digest's horizon falls into the next one)
    cursor = "seq" if server.backend == "sqlite" else "txid"
    digests = [(int(a), int(b)) for a, b in sql(server, "SELECT start_cursor, end_cursor FROM audit_digests ORDER BY digest_no")]
    at = {int(a): int(c) for a, c in sql(server, f"SELECT seq, {cursor} FROM audit_log WHERE account_id = ? AND body LIKE '%TagUser%'", (acct,))}
    by_digest = {}
    for r in rows:
        d = next((i for i, (lo, hi) in enumerate(digests) if lo < at[r[0]] <= hi), None)
        by_digest.setdefault(d, []).append(r)
    pair = next((v[:2] for k, v in sorted(by_digest.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)) if k is not None and len(v) >= 2), [])
    assert len(pair) == 2, (by_digest.keys(), digests)
    (s1, b1), (s2, b2) = pair
    sql(server, "UPDATE audit_log SET body = ? WHERE seq = ?", (b2, s1))
    sql(server, "UPDATE audit_log SET body = ? WHERE seq = ?", (b1, s2))
    expect("reordered")
    sql(server, "UPDATE audit_log SET body = ? WHERE seq = ?", (b1, s1))
    sql(server, "UPDATE audit_log SET body = ? WHERE seq = ?", (b2, s2))
    assert verdict()[0] == 0
    # a digest altered
    d = sql(server, "SELECT body FROM audit_digests WHERE digest_no = 1")[0][0]
    sql(server, "UPDATE audit_digests SET body = ? WHERE digest_no = 1", (d.replace('"iamd"', '"evil"', 1),))
    expect("digest 1")


def test_digests_verify_with_openssl_and_export_has_cloudtrails_layout(server, tmpdir_path):
    erin = server.new_user_with_key("erin")
    server.sts(erin).get_caller_identity()
    out = os.path.join(tmpdir_path, "trail")
    p = run_iamd("audit", "export", *server.store_args(), "--since", "2000-01-01", "--out", out)
    acct = server.account["account_id"]
    logs = glob.glob(os.path.join(out, "AWSLogs", acct, "CloudTrail", "us-east-1", "*", "*", "*", f"{acct}_CloudTrail_us-east-1_*.json.gz"))
    digests = sorted(glob.glob(os.path.join(out, "AWSLogs", "*", "CloudTrail-Digest", "us-east-1", "*", "*", "*", "*_CloudTrail-Digest_*.json.gz")))
    assert logs and digests
    by_key = {}
    for path in logs:
        raw = gzip.open(path).read()
        assert json.loads(raw)["Records"]
        by_key[os.path.relpath(path, out)] = hashlib.sha256(raw).hexdigest()
    pem = os.path.join(tmpdir_path, "pub.pem")
    with open(pem, "w") as f:
        f.write(run_iamd("audit", "public-key", *server.store_args()).stdout)
    listed = {}
    prev = None
    for path in digests:
        raw = gzip.open(path).read()
        d = json.loads(raw)
        sig = json.load(open(path + ".sig.json"))["x-amz-meta-signature"]
        for lf in d["logFiles"]:
            listed[lf["s3Object"]] = lf["hashValue"]
        if prev:
            assert d["previousDigestHashValue"] == hashlib.sha256(prev[0]).hexdigest() and d["previousDigestSignature"] == prev[1]
        # CloudTrail's string to sign, checked with openssl.
        to_sign = "\n".join([d["digestEndTime"], d["digestS3Bucket"] + "/" + d["digestS3Object"], hashlib.sha256(raw).hexdigest(), d["previousDigestSignature"] or "null"])
        with open(os.path.join(tmpdir_path, "to-sign"), "w") as f:
            f.write(to_sign)
        with open(os.path.join(tmpdir_path, "sig"), "wb") as f:
            f.write(bytes.fromhex(sig))
        r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pem, "-signature", os.path.join(tmpdir_path, "sig"), os.path.join(tmpdir_path, "to-sign")], capture_output=True, text=True)
        assert r.returncode == 0 and "Verified OK" in r.stdout, r.stdout + r.stderr
        assert d["digestSignatureAlgorithm"] == "SHA256withRSA" and len(d["digestPublicKeyFingerprint"]) == 32
        prev = (raw, sig)
    for key, h in by_key.items():
        assert listed[key] == h


def test_prune_removes_old_records_through_the_sanctioned_path_and_keeps_the_chain(server):
    frank = server.new_user_with_key("frank")
    server.sts(frank).get_caller_identity()
    run_iamd("audit", "digest", *server.store_args())
    time.sleep(1.2)
    cut = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    time.sleep(0.2)
    after = rid(server.sts(frank).get_caller_identity())
    p = run_iamd("audit", "prune", *server.store_args(), "--before", cut)
    assert "pruned" in p.stdout and "through digest" in p.stdout, p.stdout
    recs = jsonl(server)
    assert any(r["eventName"] == "PruneAuditRecords" and r["userIdentity"]["type"] == "AWSService" for r in recs)
    assert not any(r["eventName"] == "CreateUser" for r in recs)
    assert any(r.get("requestID") == after for r in recs)
    v = run_iamd("audit", "verify", *server.store_args())
    assert "OK:" in v.stdout and "pruned" in v.stdout
    # The index went with the records: no entry points at a removed row, and the pruned calls are
    # not found by any lookup, while the kept one is.
    for t in ("audit_index", "audit_event_ids"):
        (orphans,), = sql(server, f"SELECT COUNT(*) FROM {t} WHERE seq NOT IN (SELECT seq FROM audit_log)")
        assert int(orphans) == 0, t
    assert by_attr(server, "EventName", "CreateUser") == []
    assert after in {json.loads(e["CloudTrailEvent"]).get("requestID") for e in by_attr(server, "Username", "frank")}


def test_cli_actions_are_recorded(server, tmpdir_path):
    acct = server.account["account_id"]
    csv = os.path.join(tmpdir_path, "tokens.csv")
    with open(csv, "w") as f:
        f.write("GAKT000111,JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n")
    run_iamd("mfa", "import", *server.store_args(), "--account", acct, csv)
    other = json.loads(run_iamd("account", "create", *server.store_args(), "--email", "x@example.com", "--json").stdout)
    recs = jsonl(server)
    imp = [r for r in recs if r["eventName"] == "ImportHardwareMFADevices"]
    assert len(imp) == 1 and imp[0]["recipientAccountId"] == acct and imp[0]["requestParameters"]["serialNumbers"] == ["GAKT000111"]
    assert "JBSWY3DP" not in json.dumps(recs)
    created = [r for r in recs if r["eventName"] == "CreateAccount"]
    assert {r["recipientAccountId"] for r in created} == {acct, other["account_id"]}
    assert all(r["userIdentity"]["type"] == "AWSService" and r["eventType"] == "AwsServiceEvent" for r in imp + created)


def test_sigkill_mid_load_loses_no_acknowledged_record_and_leaves_no_change_without_one(server):
    iam = server.iam()
    acked = {}
    stop = threading.Event()
    lock = threading.Lock()

    def worker(w):
        client = server.iam()
        i = 0
        while not stop.is_set():
            name = f"load-{w}-{i}"
            i += 1
            try:
                r = client.create_user(UserName=name)
            except Exception:
                return
            with lock:
                acked[rid(r)] = name

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        futures = [ex.submit(worker, w) for w in range(8)]
        time.sleep(3)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
        stop.set()
        for f in futures:
            f.result()
    server.stop()
    assert len(acked) > 20
    server.start()
    recs = jsonl(server)
    created = {r["requestID"]: r for r in recs if r["eventName"] == "CreateUser" and "errorCode" not in r}
    missing = [n for r_, n in acked.items() if r_ not in created]
    assert not missing, missing[:5]
    users = {u["UserName"] for p in server.iam().get_paginator("list_users").paginate() for u in p["Users"]}
    recorded = {r["requestParameters"]["userName"] for r in created.values()}
    assert {u for u in users if u.startswith("load-")} == recorded


def test_digests_are_made_on_schedule_by_exactly_one_node(server, tmpdir_path):
    server.stop()
    server.start(extra=["--audit-digest-interval", "2"])
    nodes = [server]
    if server.backend == "postgres":
        nodes.append(server.second_node(tmpdir_path))
        nodes[1].stop()
        nodes[1].start(extra=["--audit-digest-interval", "2"], env={"IAMD_MASTER_KEY": open(os.path.join(server.data_dir, "master.key")).read().strip()})
    try:
        for i in range(14):
            server.sts().get_caller_identity()
            time.sleep(0.5)
        rows = sql(server, "SELECT digest_no, end_ms FROM audit_digests ORDER BY digest_no")
        rows = [(int(a), int(b)) for a, b in rows]
        assert len(rows) >= 3
        assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
        gaps = [b[1] - a[1] for a, b in zip(rows[1:], rows[2:])]
        assert all(g >= 2000 for g in gaps), gaps
        assert "OK:" in run_iamd("audit", "verify", *server.store_args()).stdout
    finally:
        for n in nodes[1:]:
            n.stop()


def test_a_digest_is_made_every_interval_even_when_nothing_happened(server):
    """CloudTrail delivers a digest file every hour, with or without log files: a quiet interval
    still gets its signed digest, so a chain whose newest digest is old was cut (or stopped)."""
    server.sts().get_caller_identity()
    server.stop()
    server.start(extra=["--audit-digest-interval", "1"])
    time.sleep(1.5)  # the start-up's own records are digested first
    before = int(sql(server, "SELECT COALESCE(MAX(digest_no), 0) FROM audit_digests")[0][0])
    records_before = int(sql(server, "SELECT COUNT(*) FROM audit_log")[0][0])
    time.sleep(5)  # no request at all
    assert int(sql(server, "SELECT COUNT(*) FROM audit_log")[0][0]) == records_before
    bodies = [json.loads(b) for (b,) in sql(server, "SELECT body FROM audit_digests WHERE digest_no > ? ORDER BY digest_no", (before,))]
    assert len(bodies) >= 3, len(bodies)
    assert all(b["logFiles"] == [] for b in bodies[1:]), [len(b["logFiles"]) for b in bodies]
    assert all(b["previousDigestSignature"] for b in bodies)
    out = run_iamd("audit", "verify", *server.store_args(), "--max-age", "3").stdout
    assert "OK:" in out


def test_batched_read_records_are_stored_compressed_and_still_looked_up_and_verified(server):
    gina = server.new_user_with_key("gina")
    sts = [server.sts(gina) for _ in range(8)]
    def burst(c):
        return [rid(c.get_caller_identity()) for _ in range(15)]
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        ids = [r for rs in ex.map(burst, sts) for r in rs]
    got = lookup_all(server, LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "gina"}])
    seen = [json.loads(e["CloudTrailEvent"])["requestID"] for e in got]
    assert sorted(seen) == sorted(ids)
    # The reads went in batches, and batches this large are stored compressed (Zstandard frames).
    assert int(sql(server, "SELECT COUNT(*) FROM audit_log WHERE body_z IS NOT NULL")[0][0]) >= 1
    head = "hex(substr(body_z, 1, 4))" if server.backend == "sqlite" else "encode(substring(body_z from 1 for 4), 'hex')"
    heads = {r[0].lower() for r in sql(server, f"SELECT {head} FROM audit_log WHERE body_z IS NOT NULL")}
    assert heads == {"28b52ffd"}, heads
    run_iamd("audit", "digest", *server.store_args())
    out = run_iamd("audit", "verify", *server.store_args()).stdout
    assert "OK:" in out
    assert sum(1 for r in jsonl(server) if r.get("requestID") in set(ids)) == len(ids)


def test_a_cut_tail_is_caught_with_an_expected_digest_or_by_age(server):
    """The chain cannot show that its newest digests (and their records) were deleted: a digest
    number and hash kept outside the database, or the newest digest's age, does."""
    import re
    dave = server.new_user_with_key("dave")
    expects = []
    for _ in range(3):
        server.sts(dave).get_caller_identity()
        out = run_iamd("audit", "digest", *server.store_args()).stdout
        expects.append(re.search(r"--expect (\d+:[0-9a-f]{64})", out).group(1))
    assert "OK:" in run_iamd("audit", "verify", *server.store_args(), "--expect", expects[-1]).stdout
    # Deleting the newest digest and its records leaves a chain that is consistent in itself.
    if server.backend == "sqlite":
        sql(server, "DROP TRIGGER audit_digests_no_delete")
        sql(server, "DROP TRIGGER audit_log_no_delete")
    else:
        sql(server, "DROP TRIGGER audit_log_append_only ON audit_log")
        sql(server, "DROP TRIGGER audit_digests_append_only ON audit_digests")
    n, _ = expects[-1].split(":")
    start = sql(server, "SELECT start_cursor FROM audit_digests WHERE digest_no = ?", (int(n),))[0][0]
    sql(server, "DELETE FROM audit_digests WHERE digest_no = ?", (int(n),))
    cursor = "seq" if server.backend == "sqlite" else "txid"
    sql(server, f"DELETE FROM audit_log WHERE {cursor} > ?", (int(start),))
    assert "OK:" in run_iamd("audit", "verify", *server.store_args()).stdout
    p = run_iamd("audit", "verify", *server.store_args(), "--expect", expects[-1], "--json", check=False)
    r = json.loads(p.stdout)
    assert p.returncode != 0 and any("tail was cut" in x for x in r["problems"]), r
    # A rewritten digest under the expected number is caught too.
    p = run_iamd("audit", "verify", *server.store_args(), "--expect", expects[1].split(":")[0] + ":" + "0" * 64, "--json", check=False)
    assert p.returncode != 0 and any("not the one you expected" in x for x in json.loads(p.stdout)["problems"])
    # Without anything kept outside, the age of the newest digest tells.
    time.sleep(2)
    p = run_iamd("audit", "verify", *server.store_args(), "--max-age", "1", "--json", check=False)
    assert p.returncode != 0 and any("--max-age" in x for x in json.loads(p.stdout)["problems"])


def test_an_unsigned_prune_row_does_not_excuse_deleted_records(server):
    """The database lets rows covered by a prune be deleted; a prune row inserted by hand (not signed
    by the audit key) makes verify fail instead of noting a prune."""
    dave = server.new_user_with_key("dave")
    server.sts(dave).get_caller_identity()
    run_iamd("audit", "digest", *server.store_args())
    n, end = sql(server, "SELECT digest_no, end_cursor FROM audit_digests ORDER BY digest_no DESC LIMIT 1")[0]
    sql(server, "INSERT INTO audit_prunes (through_digest, before_ms, pruned_at) VALUES (?, ?, ?)", (int(n), 0, 0))
    cursor = "seq" if server.backend == "sqlite" else "txid"
    sql(server, f"DELETE FROM audit_log WHERE {cursor} <= ?", (int(end),))
    p = run_iamd("audit", "verify", *server.store_args(), "--json", check=False)
    r = json.loads(p.stdout)
    assert p.returncode != 0 and any("not signed by the audit key" in x for x in r["problems"]), r
    assert any(x.startswith("removed") or "missing" in x or "removed" in x for x in r["problems"]), r["problems"]


def by_attr(server, key, value, creds=None, **kw):
    return lookup_all(server, creds, LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}], **kw)


def load(server, creds, n, threads=8):
    """n GetCallerIdentity calls from `threads` clients at once (so reads share group commits)."""
    def run(k):
        sts = server.sts(creds)
        return [rid(sts.get_caller_identity()) for _ in range(k)]
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        return [r for f in [ex.submit(run, n // threads) for _ in range(threads)] for r in f.result()]


def test_lookups_by_index_find_exactly_the_matching_records_inside_busy_rows(server):
    carl = server.new_user_with_key("carl")
    dora = server.new_user_with_key("dora")
    mine = []
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        flood = ex.submit(load, server, carl, 1600)
        sts = server.sts(dora)
        while not flood.done() or len(mine) < 30:
            mine.append(rid(sts.get_caller_identity()))
        carls = flood.result()
    # Reads shared rows, and no row holds more than the index's mask covers.
    (max_n,), = sql(server, "SELECT MAX(n) FROM audit_log")
    (shared,), = sql(server, "SELECT COUNT(*) FROM audit_log WHERE n > 1")
    assert int(max_n) <= 64 and int(shared) > 0, (max_n, shared)
    # dora's records, and only hers, though nearly every row they sit in is carl's.
    got = records(by_attr(server, "Username", "dora"))
    assert sorted(r["requestID"] for r in got) == sorted(mine)
    assert sorted(r["requestID"] for r in records(by_attr(server, "AccessKeyId", dora.access_key_id))) == sorted(mine)
    assert len(by_attr(server, "Username", "carl", PaginationConfig={"PageSize": 50})) == len(carls)
    # Newest first, across rows.
    times = [r["eventTime"] for r in got]
    assert times == sorted(times, reverse=True)
    # Each event id finds its one event.
    for r in got[:3] + got[-3:]:
        found = by_attr(server, "EventId", r["eventID"])
        assert [e["EventId"] for e in found] == [r["eventID"]]
    # A filter that matches nothing finds nothing.
    assert by_attr(server, "Username", "nobody") == []
    assert by_attr(server, "EventId", "6f1c9d52-1111-4222-8333-444455556666") == []
    assert by_attr(server, "EventId", "not-an-event-id") == []
    assert by_attr(server, "AccessKeyId", "AKIA0000000000000000") == []
    # A time window: exactly dora's events of one second.
    sec = got[len(got) // 2]["eventTime"]
    t = datetime.datetime.strptime(sec, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    window = records(by_attr(server, "Username", "dora", StartTime=t, EndTime=t))
    assert window and sorted(r["requestID"] for r in window) == sorted(r["requestID"] for r in got if r["eventTime"] == sec)
    # Another account's lookups never see these rows, whatever they ask.
    other = json.loads(run_iamd("account", "create", *server.store_args(), "--email", "idx@example.com", "--json").stdout)
    other_creds = Creds(other["access_key_id"], other["secret_access_key"])
    assert by_attr(server, "Username", "dora", other_creds) == []
    assert by_attr(server, "EventId", got[0]["eventID"], other_creds) == []


def test_paging_is_stable_while_records_are_appended(server, tmpdir_path):
    carl = server.new_user_with_key("carl")
    dora = server.new_user_with_key("dora")
    before = {rid(server.sts(dora).get_caller_identity()) for _ in range(40)}
    nodes = [server]
    if server.backend == "postgres":
        nodes.append(server.second_node(tmpdir_path))
    stop = threading.Event()
    appended = []

    def append(node, creds):
        sts = node.sts(creds)
        while not stop.is_set():
            appended.append(rid(sts.get_caller_identity()))

    threads = [threading.Thread(target=append, args=(n, c)) for n in nodes for c in (carl, dora, carl)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        ct = server.client("cloudtrail")
        for kw in ({"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "dora"}]}, {}):
            page = ct.lookup_events(MaxResults=7, **kw)
            ids, reqs, pages = [], set(), 1
            while True:
                for e in page["Events"]:
                    r = json.loads(e["CloudTrailEvent"])
                    ids.append(r["eventID"])
                    reqs.add(r.get("requestID"))
                if "NextToken" not in page:
                    break
                time.sleep(0.01)  # appends keep landing, on every node, between pages
                page = ct.lookup_events(MaxResults=7, NextToken=page["NextToken"], **kw)
                pages += 1
            # No event twice; none of those committed before the first page skipped.
            assert len(ids) == len(set(ids)), (kw, len(ids) - len(set(ids)))
            assert before <= reqs, (kw, len(before - reqs))
            assert pages > 5, pages
    finally:
        stop.set()
        for t in threads:
            t.join()
        for n in nodes[1:]:
            n.stop()
    assert len(appended) > 50


def test_an_upgraded_trail_is_indexed_at_start_with_progress(server):
    iam = server.iam()
    dora = server.new_user_with_key("dora")
    for _ in range(20):
        server.sts(dora).get_caller_identity()
    iam.create_login_profile(UserName="dora", Password="A-long-password-1")
    ConsoleClient(server).sign_in(server.account["account_id"], "dora", "A-long-password-1")
    ConsoleClient(server).sign_in(server.account["account_id"], "dora", "A-long-password-1")
    want = [e["EventId"] for e in by_attr(server, "Username", "dora")]
    signins = [e["EventId"] for e in by_attr(server, "EventName", "ConsoleLogin")]
    counters = sorted(sql(server, "SELECT account_id, day, user_name, kind, n FROM signin_daily"))
    assert len(want) >= 22 and len(signins) >= 2
    assert [c for c in counters if c[2] == "dora"] and [int(c[4]) for c in counters if c[2] == "dora"] == [2]
    server.stop()
    # A data directory from before the index: records, no index, and the state a migration leaves.
    for t in ("audit_index", "audit_event_ids", "signin_daily"):
        sql(server, f"DELETE FROM {t}")
    sql(server, "UPDATE audit_index_state SET legacy_through = (SELECT MAX(seq) FROM audit_log), done_through = 0, max_span_ms = 0")
    server.start()
    logs = [json.loads(l) for l in server.logs().splitlines() if l.startswith("{")]
    msgs = [l.get("message") or l.get("fields", {}).get("message", "") for l in logs]
    assert any("indexing the audit trail for LookupEvents" in m for m in msgs), msgs[-20:]
    assert any("the audit trail is indexed" in m for m in msgs)
    got = [e["EventId"] for e in by_attr(server, "Username", "dora")]
    assert got[len(got) - len(want):] == want  # the same events, newest first (new lookups' records come first)
    assert [e["EventId"] for e in by_attr(server, "EventName", "ConsoleLogin")] == signins
    assert sorted(sql(server, "SELECT account_id, day, user_name, kind, n FROM signin_daily")) == counters
    (done, through), = sql(server, "SELECT done_through, legacy_through FROM audit_index_state")
    assert int(done) >= int(through)
