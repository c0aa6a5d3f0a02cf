"""A pytest plugin that runs moto's own IAM and STS tests against a running iamd (server mode).

Each test gets a fresh iamd account: its root keys become the environment's credentials (moto's
`mock_aws` would replace them with fake ones; the plugin turns that off), and the account id
constants the test modules compare ARNs against are pointed at it. After the test, the account's
alias is removed (aliases are unique across accounts) so the next test can take the same one.

Environment: IAMD_BIN, IAMD_STORE_ARGS (the store flags of the running server, space-separated),
TEST_SERVER_MODE_ENDPOINT.
"""

import json
import os
import shlex
import subprocess

import boto3
import pytest

from moto.core.config import default_user_config

default_user_config.setdefault("core", {})["mock_credentials"] = False

_saved = {}


def _new_account(n):
    out = subprocess.run(
        [os.environ["IAMD_BIN"], "account", "create", *shlex.split(os.environ["IAMD_STORE_ARGS"]), "--email", f"moto-{os.getpid()}-{n}@example.com", "--json"],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)


_count = [0]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _count[0] += 1
    acct = _new_account(_count[0])
    item._iamd_account = acct
    for k, v in {"AWS_ACCESS_KEY_ID": acct["access_key_id"], "AWS_SECRET_ACCESS_KEY": acct["secret_access_key"], "MOTO_ACCOUNT_ID": acct["account_id"]}.items():
        _saved.setdefault(k, os.environ.get(k))
        os.environ[k] = v
    os.environ.pop("AWS_SESSION_TOKEN", None)
    # boto3's default session caches the credentials it first found.
    boto3.DEFAULT_SESSION = None
    mod = item.module
    for name in ("ACCOUNT_ID", "DEFAULT_ACCOUNT_ID"):
        if hasattr(mod, name):
            setattr(mod, name, acct["account_id"])


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    acct = getattr(item, "_iamd_account", None)
    if not acct:
        return
    try:
        iam = boto3.client("iam", region_name="us-east-1", endpoint_url=os.environ["TEST_SERVER_MODE_ENDPOINT"],
                           aws_access_key_id=acct["access_key_id"], aws_secret_access_key=acct["secret_access_key"])
        for alias in iam.list_account_aliases()["AccountAliases"]:
            iam.delete_account_alias(AccountAlias=alias)
    except Exception:
        pass
