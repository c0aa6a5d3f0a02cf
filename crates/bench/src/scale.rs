//! Scale mode: for each point (N users, M records) build an account once (see `fill`), start iamd on
//! it, and measure p50/p99 of sequential calls through the API and the console on an otherwise idle
//! server; then one table with every point side by side and the goals checked.

use crate::fill::{self, Filled};
use crate::{between, mfa_pool, read_full, signed_request, spawn_listening, MfaDevice, Target};
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

pub struct Config {
    pub iamd: String,
    pub points: Vec<(u64, u64)>,
    pub database_url: Option<String>,
    /// Where built data is kept and reused (else a temporary directory, removed at the end).
    pub keep: Option<PathBuf>,
    pub calls: usize,
}

/// A built point, as kept in `built.json` beside its data.
#[derive(Serialize, Deserialize)]
struct Built {
    account_id: String,
    root_email: String,
    root_password: String,
    access_key_id: String,
    secret_access_key: String,
    database_url: Option<String>,
    filled: Filled,
}

struct Row {
    name: &'static str,
    /// Per point: (p50 ms, p99 ms).
    at: Vec<(f64, f64)>,
    kind: Goal,
}

#[derive(Clone, Copy, PartialEq)]
enum Goal {
    /// No goal of its own (reported for reference).
    None,
    /// Within 1.5× or +2 ms (whichever is larger) of the first point.
    Flat,
    /// p99 at most this many ms at the last point.
    P99(f64),
}

struct PointReport {
    users: u64,
    records: u64,
    filled: Filled,
    built_now: bool,
    report_seconds: f64,
    report_rss_mb: f64,
    idle_rss_mb: f64,
    summary_users: i64,
}

pub fn run(cfg: Config) -> anyhow::Result<()> {
    let backend = if cfg.database_url.is_some() { "postgres" } else { "sqlite" };
    let tmp = tempfile::tempdir()?;
    let root = cfg.keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&root)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let lookup_goal = if backend == "sqlite" { 50.0 } else { 100.0 };
    println!("iamd-bench scale: {backend}, {} sequential calls per row and point, points {:?}", cfg.calls, cfg.points);
    // Build (or reuse) every point, then serve them all at once: each row's calls alternate between
    // the points in blocks, so a machine that gets slower or faster meanwhile weighs on every point
    // alike.
    let mut servers = Vec::new();
    let mut built_all = Vec::new();
    for &(users, records) in &cfg.points {
        let dir = root.join(format!("{backend}-{users}-{records}"));
        let (built, built_now) = build(&cfg, &dir, users, records)?;
        reset_reports(&built, &dir)?;
        digest(&cfg.iamd, &dir, built.database_url.as_deref())?;
        let (child, addr) = serve(&cfg.iamd, &dir, built.database_url.as_deref())?;
        servers.push((KillOnDrop(child), addr));
        built_all.push((users, records, built, built_now));
    }
    let idle: Vec<f64> = servers.iter().map(|(c, _)| rss_mb(c.0.id())).collect();
    let targets: Vec<(Target, &Built, u32)> = servers
        .iter()
        .zip(&built_all)
        .map(|((c, addr), (_, _, b, _))| (Target { addr: *addr, akid: b.access_key_id.clone(), secret: b.secret_access_key.clone() }, b, c.0.id()))
        .collect();
    let measured = rt.block_on(measure(&targets, cfg.calls));
    drop(servers);
    if let (Some(url), None) = (&cfg.database_url, &cfg.keep) {
        drop_databases(url, &cfg.points.iter().map(|(u, r)| database_name(false, *u, *r)).collect::<Vec<_>>())?;
    }
    let (measured, reports) = measured?;
    let rows: Vec<Row> = measured
        .into_iter()
        .map(|(name, kind, at)| Row { name, at, kind: if name.starts_with("LookupEvents") { Goal::P99(lookup_goal) } else { kind } })
        .collect();
    let reports: Vec<PointReport> = built_all
        .into_iter()
        .zip(reports)
        .zip(idle)
        .map(|(((users, records, b, built_now), (report_seconds, report_rss_mb, summary_users)), idle_rss_mb)| PointReport {
            users,
            records,
            filled: b.filled,
            built_now,
            report_seconds,
            report_rss_mb,
            idle_rss_mb,
            summary_users,
        })
        .collect();
    print_table(backend, &rows, &reports);
    Ok(())
}

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_mb(pid: u32) -> f64 {
    crate::rss_kib(pid).unwrap_or(0) as f64 / 1024.0
}

/// What a point needs on disk, roughly (measured: SQLite ~0.6 KB a user with its devices, and under
/// 200 bytes a record with its index; PostgreSQL about twice that), with room to spare.
fn bytes_needed(users: u64, records: u64, pg: bool) -> u64 {
    let k = if pg { 2 } else { 1 };
    k * (users * 1_200 + records * 400) + 64 * 1024 * 1024
}

fn free_bytes(dir: &Path) -> anyhow::Result<u64> {
    let out = Command::new("df").args(["-B1", "--output=avail"]).arg(dir).output().context("running df")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().nth(1).and_then(|l| l.trim().parse().ok()).context("reading df's output")
}

fn build(cfg: &Config, dir: &Path, users: u64, records: u64) -> anyhow::Result<(Built, bool)> {
    let marker = dir.join("built.json");
    if let Ok(text) = std::fs::read_to_string(&marker) {
        let b: Built = serde_json::from_str(&text)?;
        println!("reusing {} ({users} users, {records} records)", dir.display());
        return Ok((b, false));
    }
    let _ = std::fs::remove_dir_all(dir);
    let pg = cfg.database_url.is_some();
    let need = bytes_needed(users, records, pg);
    let free = free_bytes(dir.parent().unwrap_or(Path::new("/")))?;
    if free < need {
        bail!("{users} users and {records} records need about {:.1} GB free under {}; there are {:.1} GB", need as f64 / 1e9, dir.display(), free as f64 / 1e9);
    }
    println!("building {users} users and {records} records in {} (needs about {:.1} GB, {:.1} GB free)", dir.display(), need as f64 / 1e9, free as f64 / 1e9);
    let database_url = match &cfg.database_url {
        // Kept data has a database of its own per point; a throwaway run's is named after the process
        // (and dropped at the end), so it never replaces kept data.
        Some(url) => Some(fresh_database(url, &database_name(cfg.keep.is_some(), users, records))?),
        None => None,
    };
    let mut init = Command::new(&cfg.iamd);
    init.args(["init", "--data-dir"]).arg(dir).arg("--json");
    if let Some(u) = &database_url {
        init.args(["--database-url", u]);
    }
    let out = init.output().with_context(|| format!("running {} init", cfg.iamd))?;
    if !out.status.success() {
        bail!("iamd init failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let mut fill = Command::new(std::env::current_exe()?);
    fill.arg("--fill")
        .arg(dir)
        .args([
            "--fill-users",
            &users.to_string(),
            "--fill-records",
            &records.to_string(),
            "--fill-account",
            &s("account_id"),
            "--fill-akid",
            &s("access_key_id"),
        ])
        .stderr(Stdio::inherit());
    if let Some(u) = &database_url {
        fill.args(["--database-url", u]);
    }
    let out = fill.output()?;
    if !out.status.success() {
        bail!("filling {} failed", dir.display());
    }
    let filled: Filled = serde_json::from_slice(&out.stdout).context("reading the builder's answer")?;
    println!(
        "built in {:.0} s (users and devices {:.0} s, records {:.0} s)",
        filled.seconds_users + filled.seconds_records,
        filled.seconds_users,
        filled.seconds_records
    );
    let b = Built {
        account_id: s("account_id"),
        root_email: s("root_email"),
        root_password: s("root_password"),
        access_key_id: s("access_key_id"),
        secret_access_key: s("secret_access_key"),
        database_url,
        filled,
    };
    // It holds root's password and secret key: readable by its owner only, like master.key.
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&marker)?;
        f.write_all(&serde_json::to_vec_pretty(&b)?)?;
    }
    Ok((b, true))
}

fn database_name(kept: bool, users: u64, records: u64) -> String {
    if kept {
        format!("iamd_bench_{users}_{records}")
    } else {
        format!("iamd_bench_tmp{}_{users}_{records}", std::process::id())
    }
}

/// Drops a throwaway run's databases.
fn drop_databases(url: &str, names: &[String]) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(url).await.context("connecting to PostgreSQL")?;
        for name in names {
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut c).await?;
        }
        anyhow::Ok(())
    })
}

/// A database of this name on the server of `url`, dropped first if it exists; its URL.
fn fresh_database(url: &str, name: &str) -> anyhow::Result<String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(url).await.context("connecting to PostgreSQL")?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&mut c).await?;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await?;
        anyhow::Ok(())
    })?;
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let host = match base.find("://").map(|i| i + 3) {
        Some(i) => match base[i..].find('/') {
            Some(j) => &base[..i + j],
            None => base,
        },
        None => base,
    };
    Ok(format!("{host}/{name}{query}"))
}

/// A report left by an earlier run on reused data would be reused by iamd (younger than 4 hours):
/// remove it, so the time to COMPLETE is measured.
fn reset_reports(b: &Built, dir: &Path) -> anyhow::Result<()> {
    let url = match &b.database_url {
        Some(u) => u.clone(),
        None => format!("sqlite://{}", dir.join(iamd::store::SQLITE_FILE).display()),
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut c = sqlx::AnyConnection::connect(&url).await?;
        sqlx::query("DELETE FROM credential_report_parts").execute(&mut c).await?;
        sqlx::query("DELETE FROM credential_reports").execute(&mut c).await?;
        anyhow::Ok(())
    })
}

/// Digests what the builder wrote (as a server that had been running would have), so that the
/// server measured next is idle rather than signing a backlog.
fn digest(bin: &str, dir: &Path, database_url: Option<&str>) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let mut c = Command::new(bin);
    c.args(["audit", "digest", "--data-dir"]).arg(dir).env("IAMD_LOG", "warn");
    if let Some(u) = database_url {
        c.args(["--database-url", u]);
    }
    let out = c.output()?;
    if !out.status.success() {
        bail!("iamd audit digest failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    println!("digested the trail in {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}

fn serve(bin: &str, dir: &Path, database_url: Option<&str>) -> anyhow::Result<(Child, SocketAddr)> {
    let mut serve = Command::new(bin);
    serve.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(dir).env("IAMD_LOG", "warn");
    if let Some(u) = database_url {
        serve.args(["--database-url", u]);
    }
    spawn_listening(serve)
}

/// One keep-alive connection and what a response says.
struct Conn {
    addr: SocketAddr,
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> anyhow::Result<Conn> {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(Conn { addr, s, buf: vec![0u8; 256 * 1024] })
    }

    async fn send(&mut self, req: &[u8]) -> anyhow::Result<crate::Response> {
        self.s.write_all(req).await?;
        read_full(&mut self.s, &mut self.buf).await
    }

    async fn api(&mut self, t: &Target, service: &str, target: Option<&str>, body: &str) -> anyhow::Result<crate::Response> {
        self.send(&api(t, service, target, body)).await
    }

    async fn get(&mut self, path: &str, cookie: &str) -> anyhow::Result<crate::Response> {
        self.send(&get(self.addr, path, cookie)).await
    }
}

/// A signed API request, signed now.
fn api(t: &Target, service: &str, target: Option<&str>, body: &str) -> Vec<u8> {
    signed_request(t.addr, &t.akid, &t.secret, service, target, body, chrono::Utc::now())
}

fn get(addr: SocketAddr, path: &str, cookie: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\r\n").into_bytes()
}

fn pct(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |p: f64| if v.is_empty() { f64::NAN } else { v[((v.len() - 1) as f64 * p).round() as usize] };
    (at(0.50), at(0.99))
}

/// A row's calls on one point: what the next request is (made outside the timing).
enum Calls {
    /// A fixed API call, signed anew each time.
    Api(&'static str, Option<&'static str>, String),
    /// GetSessionToken with the next device's next code.
    Session,
    /// LookupEvents by (attribute, value): the first page, then up to three more by NextToken,
    /// then the first again.
    Lookup(&'static str, String),
    /// A console page.
    Console(String),
}

/// One point being measured: its connection and what its calls need.
struct Point<'a> {
    t: &'a Target,
    c: Conn,
    pool: Vec<MfaDevice>,
    used: std::collections::HashSet<(usize, i64)>,
    sessions: usize,
    cookie: String,
    token: Option<String>,
    pages: usize,
}

impl Point<'_> {
    fn request(&mut self, calls: &Calls) -> Vec<u8> {
        match calls {
            Calls::Api(service, target, body) => api(self.t, service, *target, body),
            Calls::Session => {
                let params = otp::Params::default();
                let i = self.sessions;
                self.sessions += 1;
                let k = i % self.pool.len();
                let d = &self.pool[k];
                let step = otp::step_of(chrono::Utc::now().timestamp(), &params) + (i / self.pool.len()) as i64;
                // A device's second use takes the next step even when the clock's step rolled over.
                let step = if self.used.insert((k, step)) { step } else { step + 1 };
                self.used.insert((k, step));
                let body = format!(
                    "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=900&SerialNumber={}&TokenCode={}",
                    d.serial.replace(':', "%3A").replace('/', "%2F"),
                    otp::code_at(&d.seed, step, &params)
                );
                signed_request(self.t.addr, &d.akid, &d.secret, "sts", None, &body, chrono::Utc::now())
            }
            Calls::Lookup(attr, value) => {
                let mut body = serde_json::json!({"LookupAttributes": [{"AttributeKey": attr, "AttributeValue": value}], "MaxResults": 50});
                if let Some(tok) = &self.token {
                    body["NextToken"] = tok.clone().into();
                }
                api(self.t, "cloudtrail", Some("CloudTrail_20131101.LookupEvents"), &body.to_string())
            }
            Calls::Console(path) => get(self.t.addr, path, &self.cookie),
        }
    }

    fn answered(&mut self, calls: &Calls, r: &crate::Response) -> anyhow::Result<()> {
        if let Calls::Lookup(..) = calls {
            let v: serde_json::Value = serde_json::from_str(&r.body)?;
            self.pages += 1;
            self.token = v["NextToken"].as_str().filter(|_| self.pages < 4).map(str::to_string);
            if self.token.is_none() {
                self.pages = 0;
            }
        }
        Ok(())
    }
}

/// Calls per block: each point in turn makes this many, until each has made `calls`.
const BLOCK: usize = 50;

/// One row on every point: `warmup` untimed calls each, then `calls` timed ones each, alternating
/// between the points in blocks; every answer must be 200. Per point, (p50, p99) in ms.
async fn row(points: &mut [Point<'_>], name: &str, calls: &Calls, warmup: usize, n: usize) -> anyhow::Result<Vec<(f64, f64)>> {
    let mut lat: Vec<Vec<f64>> = vec![Vec::with_capacity(n); points.len()];
    let mut done = 0;
    let mut first = true;
    while done < n {
        let block = if first { warmup } else { BLOCK.min(n - done) };
        for (pi, p) in points.iter_mut().enumerate() {
            if let Calls::Lookup(..) = calls {
                // Every block starts from the first page.
                p.token = None;
                p.pages = 0;
            }
            for _ in 0..block {
                let req = p.request(calls);
                let t0 = Instant::now();
                let r = p.c.send(&req).await?;
                let ms = t0.elapsed().as_secs_f64() * 1e3;
                if r.status != 200 {
                    bail!("{name}: {} {}", r.status, r.body.chars().take(300).collect::<String>());
                }
                p.answered(calls, &r)?;
                if !first {
                    lat[pi].push(ms);
                }
            }
        }
        if !first {
            done += block;
        }
        first = false;
    }
    let out: Vec<(f64, f64)> = lat.into_iter().map(pct).collect();
    eprintln!("  {name}: {}", out.iter().map(|(a, b)| format!("p50 {a:.2} / p99 {b:.2} ms")).collect::<Vec<_>>().join(" | "));
    Ok(out)
}

type Measured = Vec<(&'static str, Goal, Vec<(f64, f64)>)>;

/// Per point: (seconds to a COMPLETE credential report, server's peak MB meanwhile, users counted).
type Reports = Vec<(f64, f64, i64)>;

async fn measure(targets: &[(Target, &Built, u32)], calls: usize) -> anyhow::Result<(Measured, Reports)> {
    let mut points = Vec::new();
    for (t, b, _) in targets {
        let t0 = Instant::now();
        // GetSessionToken+MFA: every code is single-use, so each device serves the current step's
        // code and then the next one's.
        let prefix = format!("gst{}-", chrono::Utc::now().timestamp() % 1_000_000);
        let pool: Vec<MfaDevice> = mfa_pool(t, calls.div_ceil(2) + 10, 8, &prefix).await?;
        eprintln!("  {}: provisioned {} MFA devices through the API in {:.1} s", t.addr, pool.len(), t0.elapsed().as_secs_f64());
        let mut c = Conn::open(t.addr).await?;
        let cookie = console_sign_in(&mut c, b).await?;
        points.push(Point { t, c, pool, used: Default::default(), sessions: 0, cookie, token: None, pages: 0 });
    }
    let mut out: Measured = Vec::new();
    let rows: Vec<(&'static str, Goal, Calls)> = vec![
        ("GetCallerIdentity", Goal::None, Calls::Api("sts", None, "Action=GetCallerIdentity&Version=2011-06-15".into())),
        ("GetSessionToken+MFA", Goal::None, Calls::Session),
        ("ListUsers (first page of 100)", Goal::Flat, Calls::Api("iam", None, "Action=ListUsers&Version=2010-05-08&MaxItems=100".into())),
        // "/team-4" matches 11 of the 100 teams: a full page at every point.
        (
            "ListUsers PathPrefix (page of 100)",
            Goal::Flat,
            Calls::Api("iam", None, "Action=ListUsers&Version=2010-05-08&PathPrefix=%2Fteam-4&MaxItems=100".into()),
        ),
        ("GetAccountSummary", Goal::Flat, Calls::Api("iam", None, "Action=GetAccountSummary&Version=2010-05-08".into())),
        ("LookupEvents Username (~M/N events)", Goal::P99(0.0), Calls::Lookup("Username", fill::user_name(1))),
        ("LookupEvents EventName (busiest)", Goal::P99(0.0), Calls::Lookup("EventName", "GetCallerIdentity".into())),
        ("LookupEvents no match", Goal::P99(0.0), Calls::Lookup("Username", "nobody-at-all".into())),
        ("Console Users page", Goal::Flat, Calls::Console("/console/users".into())),
        ("Console Users: exactly one device", Goal::Flat, Calls::Console("/console/users?mfa=one".into())),
        // 100 users at every point (u00000400 … u00000499).
        ("Console Users: name prefix", Goal::Flat, Calls::Console(format!("/console/users?q={}", &fill::user_name(400)[..7]))),
        ("Console Event history page", Goal::Flat, Calls::Console("/console/events".into())),
    ];
    for (name, goal, calls_of) in &rows {
        // No warm-up for sessions: it would spend codes.
        let (warmup, n) = match calls_of {
            Calls::Session => (0, calls.min(points.iter().map(|p| p.pool.len() * 2).min().unwrap_or(0))),
            _ => (20, calls),
        };
        let at = row(&mut points, name, calls_of, warmup, n).await?;
        out.push((name, *goal, at));
    }

    let mut reports = Vec::new();
    for (p, (_, b, pid)) in points.iter_mut().zip(targets) {
        // The counts are the true ones.
        let r = p.c.api(p.t, "iam", None, "Action=GetAccountSummary&Version=2010-05-08").await?;
        let users_count: i64 = between(&r.body, "<key>Users</key><value>", "<").unwrap_or("-1").parse().unwrap_or(-1);
        let expected = b.filled.users as i64;
        if users_count < expected || users_count > expected + 100_000 {
            bail!("GetAccountSummary says {users_count} users; {expected} were built (plus the benchmark's own)");
        }
        let (secs, peak) = credential_report(&mut p.c, p.t, *pid).await?;
        reports.push((secs, peak, users_count));
    }
    Ok((out, reports))
}

/// GenerateCredentialReport answers STARTED, then GetCredentialReport until COMPLETE: the seconds
/// that took and the server's peak memory meanwhile.
async fn credential_report(c: &mut Conn, t: &Target, pid: u32) -> anyhow::Result<(f64, f64)> {
    let t0 = Instant::now();
    let r = c.api(t, "iam", None, "Action=GenerateCredentialReport&Version=2010-05-08").await?;
    if r.status != 200 {
        bail!("GenerateCredentialReport: {} {}", r.status, r.body);
    }
    let mut peak = 0f64;
    loop {
        peak = peak.max(rss_mb(pid));
        let r = c.api(t, "iam", None, "Action=GetCredentialReport&Version=2010-05-08").await?;
        if r.status == 200 {
            if between(&r.body, "<Content>", "<").unwrap_or("").is_empty() {
                bail!("GetCredentialReport answered 200 without content");
            }
            let secs = t0.elapsed().as_secs_f64();
            eprintln!("  {}: credential report COMPLETE after {secs:.2} s (server peak {peak:.0} MB)", t.addr);
            return Ok((secs, peak));
        }
        if !r.body.contains("ReportInProgress") && !r.body.contains("ReportNotPresent") {
            bail!("GetCredentialReport: {} {}", r.status, r.body);
        }
        if t0.elapsed() > Duration::from_secs(600) {
            bail!("the credential report took more than 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn console_sign_in(c: &mut Conn, b: &Built) -> anyhow::Result<String> {
    let r = c.get("/console/root", "").await?;
    let pre = set_cookie(&r.head, "iamd_signin").context("the sign-in page set no cookie")?;
    let csrf = between(&r.body, "name=\"csrf\" value=\"", "\"").context("the sign-in page has no token")?.to_string();
    let form = wire::encode([("kind", "root"), ("email", b.root_email.as_str()), ("password", b.root_password.as_str()), ("csrf", csrf.as_str())]);
    let req = format!(
        "POST /console/signin HTTP/1.1\r\nHost: {a}\r\nOrigin: http://{a}\r\nCookie: {pre}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len(),
        a = c.addr
    );
    let r = c.send(req.as_bytes()).await?;
    let session = set_cookie(&r.head, "iamd_session").with_context(|| format!("signing in to the console as root: {} {}", r.status, r.body))?;
    Ok(session)
}

/// `NAME=VALUE` from a Set-Cookie header of this name.
fn set_cookie(head: &str, name: &str) -> Option<String> {
    head.lines().filter_map(|l| l.split_once(':')).filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie")).find_map(|(_, v)| {
        let pair = v.trim().split(';').next()?;
        let (n, _) = pair.split_once('=')?;
        (n.trim_start_matches("__Host-") == name).then(|| pair.to_string())
    })
}

/// One row of the table with a cell per point.
fn point_row(label: &str, reports: &[PointReport], cell: impl Fn(&PointReport) -> String, goal: &str, met: &str) {
    let cells: String = reports.iter().map(|p| format!(" {} |", cell(p))).collect();
    println!("| {label} |{cells} {goal} | {met} |");
}

fn print_table(backend: &str, rows: &[Row], reports: &[PointReport]) {
    println!();
    print!("| {backend} |");
    for p in reports {
        print!(" {} users, {} records: p50 / p99 ms |", p.users, p.records);
    }
    println!(" goal | met |");
    print!("|---|");
    for _ in reports {
        print!("---:|");
    }
    println!("---|---|");
    for r in rows {
        print!("| {} |", r.name);
        for (p50, p99) in &r.at {
            print!(" {p50:.2} / {p99:.2} |");
        }
        let (first, last) = (r.at.first().copied().unwrap_or((f64::NAN, f64::NAN)), r.at.last().copied().unwrap_or((f64::NAN, f64::NAN)));
        let (goal, met) = match r.kind {
            Goal::None => ("—".to_string(), "—"),
            Goal::Flat => {
                let bound = (first.0 * 1.5).max(first.0 + 2.0);
                (format!("p50 ≤ {bound:.2} (1.5× or +2 ms)"), if last.0 <= bound { "yes" } else { "NO" })
            }
            Goal::P99(ms) => (format!("p99 ≤ {ms:.0}"), if last.1 <= ms { "yes" } else { "NO" }),
        };
        println!(" {goal} | {met} |");
    }
    let last = reports.last().map(|p| p.report_seconds).unwrap_or(f64::NAN);
    point_row("Credential report, time to COMPLETE (s)", reports, |p| format!("{:.2}", p.report_seconds), "< 60 s", if last < 60.0 { "yes" } else { "NO" });
    point_row("Server memory: idle / peak during the report (MB)", reports, |p| format!("{:.0} / {:.0}", p.idle_rss_mb, p.report_rss_mb), "bounded", "—");
    point_row(
        "Database bytes per record (with its index)",
        reports,
        |p| {
            let f = &p.filled;
            format!("{:.0}", (f.bytes_after_records.saturating_sub(f.bytes_before_records)) as f64 / f.records.max(1) as f64)
        },
        "—",
        "—",
    );
    point_row("Database size (MB)", reports, |p| format!("{:.0}", p.filled.bytes_after_records as f64 / 1e6), "—", "—");
    println!();
    for p in reports {
        let f = &p.filled;
        println!(
            "{} users ({} MFA devices, GetAccountSummary: {} users), {} records: {} in {:.0} s (users {:.0} s, records {:.0} s, {:.0} records/s)",
            p.users,
            f.devices,
            p.summary_users,
            p.records,
            if p.built_now { "built" } else { "reused, built earlier" },
            f.seconds_users + f.seconds_records,
            f.seconds_users,
            f.seconds_records,
            f.records as f64 / f.seconds_records.max(1e-9)
        );
    }
}
