"""The command line (init, serve's first start, accounts) and what the storage keeps (nothing readable)."""

import concurrent.futures
import hashlib
import json
import os
import re
import subprocess
import stat

import pytest
from botocore.exceptions import ClientError

from conftest import run_iamd, Creds


def file_digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_init_prints_one_json_object_and_refuses_a_second_time(fresh):
    acct = fresh.init(email="ops@example.com")
    assert set(acct) == {"account_id", "root_email", "root_password", "access_key_id", "secret_access_key"}
    assert re.fullmatch(r"[1-9]\d{11}", acct["account_id"])
    assert acct["root_email"] == "ops@example.com"
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", acct["access_key_id"])
    assert len(acct["secret_access_key"]) == 40
    key = os.path.join(fresh.data_dir, "master.key")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    before = {n: file_digest(os.path.join(fresh.data_dir, n)) for n in os.listdir(fresh.data_dir) if n == "master.key"}
    p = run_iamd("init", *fresh.store_args(), "--json", check=False)
    assert p.returncode != 0
    assert "already initialised" in p.stderr
    assert p.stdout == ""
    assert {n: file_digest(os.path.join(fresh.data_dir, n)) for n in before} == before
    # the account it made is the only one
    out = json.loads(run_iamd("account", "list", *fresh.store_args(), "--json").stdout)
    assert [a["account_id"] for a in out] == [acct["account_id"]]


def test_first_serve_creates_everything_and_prints_credentials_once(fresh):
    assert not os.path.exists(fresh.data_dir)
    fresh.start()
    first = "".join(fresh.stdout_lines)
    m = re.search(r"access key id:\s+(AKIA\w+)\s+secret access key:\s+(\S+)", first)
    assert m, first
    assert "root password:" in first and "aws --endpoint-url" in first and "sts get-caller-identity" in first
    assert os.path.exists(os.path.join(fresh.data_dir, "master.key"))
    creds = Creds(m.group(1), m.group(2))
    ident = fresh.sts(creds).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:iam::{ident['Account']}:root"
    fresh.stop()
    fresh.start()
    second = "".join(fresh.stdout_lines)
    assert "access key id" not in second and m.group(2) not in second
    assert fresh.sts(creds).get_caller_identity()["Account"] == ident["Account"]


def test_help_explains_every_command_with_an_example():
    for args in (["--help"], ["serve", "--help"], ["init", "--help"], ["account", "create", "--help"], ["account", "list", "--help"]):
        out = run_iamd(*args).stdout
        assert "Example" in out or "Examples" in out, args
    serve_help = run_iamd("serve", "--help").stdout
    for flag in ("--data-dir", "--listen", "--database-url", "IAMD_DATA_DIR", "IAMD_LISTEN", "IAMD_DATABASE_URL"):
        assert flag in serve_help


def test_accounts_are_isolated(server):
    other = json.loads(run_iamd("account", "create", *server.store_args(), "--email", "b@example.com", "--json").stdout)
    assert other["account_id"] != server.account["account_id"]
    b = Creds(other["access_key_id"], other["secret_access_key"])
    server.iam().create_user(UserName="alice")
    assert server.iam(b).list_users()["Users"] == []
    with pytest.raises(ClientError) as e:
        server.iam(b).get_user(UserName="alice")
    assert e.value.response["Error"]["Code"] == "NoSuchEntity"
    server.iam(b).create_user(UserName="alice")  # same name in another account is fine
    k = server.iam().create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    for call in (lambda: server.iam(b).delete_access_key(UserName="alice", AccessKeyId=k),
                 lambda: server.iam(b).update_access_key(AccessKeyId=k, Status="Inactive")):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "NoSuchEntity"
    assert server.iam(b).get_account_summary()["SummaryMap"]["Users"] == 1
    listed = json.loads(run_iamd("account", "list", *server.store_args(), "--json").stdout)
    assert len(listed) == 2
    p = run_iamd("account", "create", *server.store_args(), "--email", "B@example.com", "--json", check=False)
    assert p.returncode != 0 and "already exists" in p.stderr


def storage_bytes(server):
    if server.backend == "sqlite":
        blob = b""
        for n in os.listdir(server.data_dir):
            if n.startswith("iamd.db"):
                with open(os.path.join(server.data_dir, n), "rb") as f:
                    blob += f.read()
        return blob
    return subprocess.run(["pg_dump", "--data-only", server.database_url], check=True, capture_output=True).stdout


def test_database_holds_no_secret_key_or_password_in_readable_form(server):
    iam = server.iam()
    iam.create_user(UserName="carol")
    secret = iam.create_access_key(UserName="carol")["AccessKey"]["SecretAccessKey"]
    password = "Pl41n-Text-Pa55word!"
    iam.create_login_profile(UserName="carol", Password=password)
    blob = storage_bytes(server)
    assert b"carol" in blob  # the dump really is the database
    for s in (secret, password, server.account["secret_access_key"], server.account["root_password"]):
        for form in (s.encode(), s.encode().hex().encode(), __import__("base64").b64encode(s.encode())):
            assert form not in blob, "a secret is stored readable"


def test_concurrent_creates_respect_key_quota_and_unique_names(server):
    iam = server.iam()
    iam.create_user(UserName="dave")

    def make_key(_):
        try:
            server.iam().create_access_key(UserName="dave")
            return "ok"
        except ClientError as e:
            return e.response["Error"]["Code"]

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        results = list(ex.map(make_key, range(12)))
    assert results.count("ok") == 2, results
    assert set(results) == {"ok", "LimitExceeded"}
    assert len(iam.list_access_keys(UserName="dave")["AccessKeyMetadata"]) == 2

    def make_user(i):
        try:
            server.iam().create_user(UserName="Erin" if i % 2 else "erin")
            return "ok"
        except ClientError as e:
            return e.response["Error"]["Code"]

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        results = list(ex.map(make_user, range(10)))
    assert results.count("ok") == 1, results
    assert set(results) == {"ok", "EntityAlreadyExists"}


def test_every_response_request_id_appears_in_the_log(server):
    r = server.iam().list_users()
    rid = r["ResponseMetadata"]["RequestId"]
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"] == rid
    lines = [json.loads(l) for l in server.logs().splitlines() if rid in l]
    assert lines and lines[0]["action"] == "ListUsers" and lines[0]["status"] == 200
    assert server.account["secret_access_key"] not in server.logs()


def test_wrong_master_key_refuses_to_start(server):
    server.stop()
    p = run_iamd("serve", *server.store_args(), "--listen", "127.0.0.1:0", env={"IAMD_MASTER_KEY": "11" * 32}, check=False)
    assert p.returncode != 0 and "master key does not match" in p.stderr


def test_second_serve_on_one_sqlite_directory_is_refused(server):
    if server.backend != "sqlite":
        pytest.skip("the data-directory lock is SQLite's; PostgreSQL nodes share by design (see the next test)")
    p = run_iamd("serve", *server.store_args(), "--listen", "127.0.0.1:0", check=False)
    assert p.returncode != 0 and "already using" in p.stderr


def test_postgres_nodes_share_state_and_see_key_changes_at_once(server, tmpdir_path):
    if server.backend != "postgres":
        pytest.skip("several nodes need PostgreSQL")
    p = run_iamd("serve", "--data-dir", os.path.join(tmpdir_path, "keyless"), "--database-url", server.database_url, "--listen", "127.0.0.1:0", check=False)
    assert p.returncode != 0 and "master.key" in p.stderr
    node2 = server.second_node(tmpdir_path)
    try:
        creds = server.new_user_with_key("shared")
        assert node2.sts(creds).get_caller_identity()["Arn"].endswith(":user/shared")
        for _ in range(3):
            server.iam().update_access_key(UserName="shared", AccessKeyId=creds.access_key_id, Status="Inactive")
            with pytest.raises(ClientError) as e:
                node2.sts(creds).get_caller_identity()
            assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"
            node2.iam().update_access_key(UserName="shared", AccessKeyId=creds.access_key_id, Status="Active")
            assert server.sts(creds).get_caller_identity()["Arn"].endswith(":user/shared")
    finally:
        node2.stop()
