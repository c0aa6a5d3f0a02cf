"""End-to-end fixtures: the real `iamd` binary, started on a free port, on SQLite or PostgreSQL, driven
by the real AWS clients (boto3 and the `aws` CLI).

Every test that takes `server` runs once per backend: `sqlite` (a fresh data directory) and `postgres`
(a fresh database in the cluster at IAMD_TEST_PG_URL, created by scripts/test.sh). Without
IAMD_TEST_PG_URL the postgres runs fail rather than skip, unless IAMD_TEST_BACKENDS=sqlite is set
explicitly: a suite that silently drops a backend would prove nothing about it.
"""

import datetime
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
import uuid

import boto3
import botocore.config
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("IAMD_BIN", os.path.join(ROOT, "target", "debug", "iamd"))
BACKENDS = os.environ.get("IAMD_TEST_BACKENDS", "sqlite,postgres").split(",")


def pg_admin_url():
    url = os.environ.get("IAMD_TEST_PG_URL")
    if not url:
        pytest.fail("IAMD_TEST_PG_URL is not set: run the suite with scripts/test.sh, which starts PostgreSQL")
    return url


def create_pg_database():
    admin = pg_admin_url()
    name = "iamd_" + uuid.uuid4().hex[:16]
    subprocess.run(["psql", admin, "-q", "-v", "ON_ERROR_STOP=1", "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    parts = urllib.parse.urlsplit(admin)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name)), name


def run_iamd(*args, env=None, check=True, input=None):
    e = dict(os.environ)
    e.setdefault("IAMD_LOG_FORMAT", "json")
    if env:
        e.update(env)
    p = subprocess.run([BIN, *args], capture_output=True, text=True, env=e, input=input, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"iamd {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p


class Creds:
    def __init__(self, access_key_id, secret_access_key, session_token=None):
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.session_token = session_token


class Server:
    """One running iamd. `start()` may be called again after `stop()` on the same data."""

    def __init__(self, backend, tmp):
        self.backend = backend
        self.data_dir = os.path.join(tmp, "data")
        self.database_url = None
        self.pg_name = None
        if backend == "postgres":
            self.database_url, self.pg_name = create_pg_database()
        self.proc = None
        self.stdout_lines = []
        self.log_path = os.path.join(tmp, "iamd.log")
        self.endpoint = None

    def store_args(self):
        a = ["--data-dir", self.data_dir]
        if self.database_url:
            a += ["--database-url", self.database_url]
        return a

    def init(self, email="root@example.com"):
        out = run_iamd("init", *self.store_args(), "--email", email, "--json").stdout
        self.account = json.loads(out)
        self.root = Creds(self.account["access_key_id"], self.account["secret_access_key"])
        return self.account

    def start(self, extra=(), env=None):
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [BIN, "serve", *self.store_args(), "--listen", "127.0.0.1:0", *extra],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env={**os.environ, "IAMD_LOG_FORMAT": "json", **(env or {})},
        )
        deadline = time.time() + 60
        self.stdout_lines = []
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"iamd exited early ({self.proc.wait()}): {open(self.log_path).read()[-2000:]}")
            self.stdout_lines.append(line)
            if line.startswith("iamd: listening on "):
                self.endpoint = line.split("listening on ", 1)[1].strip()
                return self
        raise AssertionError("iamd did not start listening within 60 s")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None

    def second_node(self, tmp):
        """Another iamd serving the same PostgreSQL database, with the same master key."""
        assert self.backend == "postgres"
        node = Server.__new__(Server)
        node.__dict__.update(self.__dict__)
        node.data_dir = os.path.join(tmp, "node2-" + uuid.uuid4().hex[:6])
        node.log_path = os.path.join(tmp, "node2.log")
        node.proc = None
        key = open(os.path.join(self.data_dir, "master.key")).read().strip()
        return node.start(env={"IAMD_MASTER_KEY": key})

    def logs(self):
        with open(self.log_path) as f:
            return f.read()

    def client(self, service, creds=None, region="us-east-1"):
        creds = creds or self.root
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
            config=botocore.config.Config(retries={"max_attempts": 1}),
        )

    def iam(self, creds=None):
        return self.client("iam", creds)

    def sts(self, creds=None):
        return self.client("sts", creds)

    def aws(self, *args, creds=None, check=True):
        """Runs the real `aws` CLI against this server; returns parsed JSON output (or the process)."""
        creds = creds or self.root
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": creds.access_key_id,
            "AWS_SECRET_ACCESS_KEY": creds.secret_access_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }
        env.pop("AWS_SESSION_TOKEN", None)
        if creds.session_token:
            env["AWS_SESSION_TOKEN"] = creds.session_token
        p = subprocess.run(
            [shutil.which("aws") or "aws", "--endpoint-url", self.endpoint, "--output", "json", *args],
            capture_output=True, text=True, env=env, timeout=120,
        )
        if not check:
            return p
        if p.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {p.stderr}")
        return json.loads(p.stdout) if p.stdout.strip() else None

    def new_user_with_key(self, name):
        iam = self.iam()
        iam.create_user(UserName=name)
        k = iam.create_access_key(UserName=name)["AccessKey"]
        return Creds(k["AccessKeyId"], k["SecretAccessKey"])

    # ---- raw signed requests, for the cases an SDK will not produce ----

    def raw(self, body=None, creds=None, service="iam", region="us-east-1", method="POST", query="",
            amz_date=None, headers=None, sign=True, tamper=None):
        creds = creds or self.root
        url = urllib.parse.urlsplit(self.endpoint)
        host = url.netloc
        body_bytes = (body or "").encode() if isinstance(body, (str, type(None))) else body
        amz_date = amz_date or datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        h = {"host": host, "x-amz-date": amz_date, "content-type": "application/x-www-form-urlencoded; charset=utf-8"}
        if creds.session_token:
            h["x-amz-security-token"] = creds.session_token
        if headers:
            h.update(headers)
        if sign:
            h["authorization"] = sigv4_header(method, "/", query, h, body_bytes, creds, region, service, amz_date)
        if tamper:
            body_bytes = tamper(body_bytes)
        req = urllib.request.Request(self.endpoint + "/" + (("?" + query) if query else ""), data=body_bytes if method == "POST" else None, method=method)
        for k, v in h.items():
            if k != "host":
                req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read().decode(), {k.lower(): v for k, v in r.headers.items()}
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), {k.lower(): v for k, v in e.headers.items()}


def http(url, data=None, headers=None):
    req = urllib.request.Request(url, data=data.encode() if data is not None else None, method="POST" if data is not None else "GET")
    for k, v in (headers or {}).items():
        req.add_header(k, v)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **kw):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers


class ConsoleClient:
    """The console over plain HTTP (no browser): one cookie jar, the CSRF token of the last page."""

    def __init__(self, server):
        self.base = server.endpoint.replace("127.0.0.1", "localhost")
        self.cookies = {}
        self.csrf = None

    def _h(self):
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), "Origin": self.base}

    def _keep(self, h):
        for c in h.get_all("Set-Cookie") or []:
            k, v = c.split(";")[0].split("=", 1)
            if v:
                self.cookies[k] = v
            else:
                self.cookies.pop(k, None)

    def get(self, path):
        st, body, h = http(self.base + path, headers=self._h())
        self._keep(h)
        return st, body, h

    def post(self, path, headers=None, **form):
        if self.csrf and "csrf" not in form:
            form["csrf"] = self.csrf
        st, body, h = http(self.base + path, urllib.parse.urlencode(form), {**self._h(), **(headers or {})})
        self._keep(h)
        m = re.search(r'name="csrf" value="([^"]+)"', body)
        if m and path != "/console/signin":
            self.csrf = m.group(1)
        return st, body, h

    def attempt_signin(self, account, user, password, xff=None):
        """The password step as a browser posts it; (status, body, headers)."""
        _, body, _ = self.get("/console")
        token = re.search(r'name="csrf" value="([^"]+)"', body).group(1)
        return self.post("/console/signin", headers={"X-Forwarded-For": xff} if xff else None, csrf=token, kind="user", account=account, username=user, password=password)

    def sign_in(self, account, user, password, serial=None, code=None):
        st, _, h = self.attempt_signin(account, user, password)
        assert st == 303, st
        if serial:
            _, body, _ = self.get("/console/mfa")
            self.csrf = re.search(r'name="csrf" value="([^"]+)"', body).group(1)
            st, _, _ = self.post("/console/mfa", serial=serial)
            _, body, _ = self.get("/console/mfa/verify")
            self.csrf = re.search(r'name="csrf" value="([^"]+)"', body).group(1)
            st, _, h = self.post("/console/mfa/verify", code=code)
            assert st == 303 and h["Location"] == "/console", st
        assert self.signed_in()

    def signed_in(self):
        st, body, _ = self.get("/console/security")
        if st == 200:
            self.csrf = re.search(r'name="csrf" value="([^"]+)"', body).group(1)
        return st == 200 and "Security credentials" in body


def totp(seed: bytes, step: int, digits=6, algorithm="sha1"):
    """RFC 6238 code for a time step (the test's own implementation, independent of iamd's)."""
    import struct
    mac = hmac.new(seed, struct.pack(">Q", step), getattr(hashlib, algorithm)).digest()
    off = mac[-1] & 15
    n = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 10 ** digits
    return str(n).zfill(digits)


def now_step(period=30):
    return int(time.time()) // period


def b32decode(text):
    import base64
    text = text.strip().replace(" ", "").upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def _enc(s):
    return urllib.parse.quote(s, safe="-_.~")


def canonical_query(query):
    pairs = [tuple(p.split("=", 1)) if "=" in p else (p, "") for p in query.split("&") if p]
    pairs = [(_enc(urllib.parse.unquote(k)), _enc(urllib.parse.unquote(v))) for k, v in pairs]
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def signing_key(secret, date, region, service):
    k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def sigv4_header(method, path, query, headers, body, creds, region, service, amz_date):
    names = sorted(headers)
    canon_headers = "".join(f"{n}:{' '.join(str(headers[n]).split())}\n" for n in names)
    creq = "\n".join([method, path, canonical_query(query), canon_headers, ";".join(names), hashlib.sha256(body or b"").hexdigest()])
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    sig = hmac.new(signing_key(creds.secret_access_key, amz_date[:8], region, service), sts.encode(), hashlib.sha256).hexdigest()
    return f"AWS4-HMAC-SHA256 Credential={creds.access_key_id}/{scope}, SignedHeaders={';'.join(names)}, Signature={sig}"


def presign_query(endpoint, params, creds, region="us-east-1", service="sts", expires=60, amz_date=None):
    amz_date = amz_date or datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    host = urllib.parse.urlsplit(endpoint).netloc
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    q = dict(params)
    q.update({
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{creds.access_key_id}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-SignedHeaders": "host",
    })
    if expires is not None:
        q["X-Amz-Expires"] = str(expires)
    query = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in q.items())
    creq = "\n".join(["GET", "/", canonical_query(query), f"host:{host}\n", "host", hashlib.sha256(b"").hexdigest()])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    sig = hmac.new(signing_key(creds.secret_access_key, amz_date[:8], region, service), sts.encode(), hashlib.sha256).hexdigest()
    return query + "&X-Amz-Signature=" + sig


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def tmpdir_path():
    d = tempfile.mkdtemp(prefix="iamd-test-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def fresh(backend, tmpdir_path):
    """An uninitialised server handle (no `init`, not started)."""
    s = Server(backend, tmpdir_path)
    yield s
    s.stop()


@pytest.fixture
def server(fresh):
    """An initialised, running server."""
    fresh.init()
    fresh.start()
    return fresh
