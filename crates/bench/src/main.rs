//! iamd's load benchmark. It sends real SigV4-signed Query requests over keep-alive HTTP/1.1
//! connections and reports throughput and p50/p99 latency per operation, against iamd and — in the
//! same run, with the same client — against a trivial HTTP server (the ceiling on this machine), and
//! prints each as a ratio of the ceiling. It also reports iamd's resident memory when idle.
//!
//! The client re-signs each distinct request once per second (the signature stays valid SigV4 with a
//! fresh X-Amz-Date); the server verifies every request in full.
//!
//! Example: `cargo run --release -p iamd-bench -- --iamd target/release/iamd --seconds 5 --connections 32`

mod fill;
mod scale;

use anyhow::{bail, Context};
use clap::Parser;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Parser, Debug)]
#[command(about = "Load benchmark: iamd against a trivial HTTP server, same client, one run")]
struct Args {
    /// The iamd binary to start (on a fresh data directory), unless --endpoint is given.
    #[arg(long, default_value = "target/release/iamd")]
    iamd: String,
    /// Benchmark an already running iamd instead (needs --access-key-id and --secret-access-key).
    #[arg(long)]
    endpoint: Option<String>,
    #[arg(long)]
    access_key_id: Option<String>,
    #[arg(long)]
    secret_access_key: Option<String>,
    /// PostgreSQL URL for the iamd this benchmark starts (default: SQLite).
    #[arg(long)]
    database_url: Option<String>,
    /// Seconds of measurement per operation and target.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Operations to run, comma-separated.
    #[arg(
        long,
        default_value = "GetCallerIdentity,ListUsers,ListMFADevices,ListMFADevices/self/1-policy,ListMFADevices/self/10-policies,GetSessionToken+MFA",
        value_delimiter = ','
    )]
    ops: Vec<String>,
    /// MFA devices to provision for GetSessionToken+MFA (each code is single-use, so each device
    /// serves about two requests per run).
    #[arg(long, default_value_t = 16000)]
    mfa_devices: usize,
    /// A second iamd binary measured in the same run, on the same load, for comparison (e.g. a build
    /// with `--features bench-no-audit` to measure what the audit trail costs). SQLite only.
    #[arg(long)]
    baseline_iamd: Option<String>,
    /// For fixed requests: measure each target this many times, interleaved (trivial, iamd, baseline,
    /// trivial, …), and report the median of each; evens out a noisy machine.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Scale mode: for each point USERS:RECORDS (e.g. `1000:10000,1000000:10000000`), build an account
    /// of that many users and audit records, then measure p50/p99 of sequential calls (API and
    /// console) and the time to a complete credential report; one table for all points.
    #[arg(long, value_delimiter = ',')]
    scale: Vec<String>,
    /// Scale mode: keep each point's built data under DIR and reuse it in later runs (else it is
    /// built in a temporary directory and removed).
    #[arg(long, value_name = "DIR")]
    keep: Option<std::path::PathBuf>,
    /// Scale mode: sequential calls per row (after 20 untimed ones).
    #[arg(long, default_value_t = 1000)]
    calls: usize,
    /// Internal (scale mode's builder): fill the initialised iamd in this data directory.
    #[arg(long, hide = true)]
    fill: Option<std::path::PathBuf>,
    #[arg(long, hide = true, default_value_t = 0)]
    fill_users: u64,
    #[arg(long, hide = true, default_value_t = 0)]
    fill_records: u64,
    #[arg(long, hide = true, default_value = "")]
    fill_account: String,
    #[arg(long, hide = true, default_value = "")]
    fill_akid: String,
    /// Internal: run as the trivial HTTP server on this address.
    #[arg(long, hide = true)]
    trivial_server: Option<String>,
}

struct Target {
    addr: SocketAddr,
    akid: String,
    secret: String,
}

#[derive(Clone, Copy)]
struct Op {
    name: &'static str,
    service: &'static str,
    body: &'static str,
    /// For JSON-protocol calls (CloudTrail): the X-Amz-Target header.
    target: Option<&'static str>,
}

const OPS: &[Op] = &[
    Op { name: "GetCallerIdentity", service: "sts", body: "Action=GetCallerIdentity&Version=2011-06-15", target: None },
    Op { name: "ListUsers", service: "iam", body: "Action=ListUsers&Version=2010-05-08&MaxItems=10", target: None },
    Op { name: "ListMFADevices", service: "iam", body: "Action=ListMFADevices&Version=2010-05-08&UserName=bench-0", target: None },
    // The cost of authorization: a user lists its own devices under 1 policy, then under 10.
    Op { name: "ListMFADevices/self/1-policy", service: "iam", body: "Action=ListMFADevices&Version=2010-05-08", target: None },
    Op { name: "ListMFADevices/self/10-policies", service: "iam", body: "Action=ListMFADevices&Version=2010-05-08", target: None },
    // Each request carries its own user, device and code: see `mfa_pool`.
    Op { name: "GetSessionToken+MFA", service: "sts", body: "", target: None },
    // The trail's lookups, on whatever the runs before them recorded (run them last): a user with
    // few events among many, the busiest event name, and a value that matches nothing.
    Op {
        name: "LookupEvents/Username",
        service: "cloudtrail",
        body: r#"{"LookupAttributes":[{"AttributeKey":"Username","AttributeValue":"bench-0"}],"MaxResults":50}"#,
        target: Some(LOOKUP),
    },
    Op {
        name: "LookupEvents/EventName",
        service: "cloudtrail",
        body: r#"{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"GetCallerIdentity"}],"MaxResults":50}"#,
        target: Some(LOOKUP),
    },
    Op {
        name: "LookupEvents/no-match",
        service: "cloudtrail",
        body: r#"{"LookupAttributes":[{"AttributeKey":"Username","AttributeValue":"nobody-at-all"}],"MaxResults":50}"#,
        target: Some(LOOKUP),
    },
];

const LOOKUP: &str = "CloudTrail_20131101.LookupEvents";

/// One pre-provisioned MFA device and the user (with an access key) that owns it.
#[derive(Clone)]
struct MfaDevice {
    akid: String,
    secret: String,
    serial: String,
    seed: Vec<u8>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(addr) = &args.trivial_server {
        return trivial_server(addr);
    }
    if let Some(dir) = &args.fill {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let f = rt.block_on(fill::fill(dir, args.database_url.as_deref(), &args.fill_account, &args.fill_akid, args.fill_users, args.fill_records))?;
        println!("{}", serde_json::to_string(&f)?);
        return Ok(());
    }
    if !args.scale.is_empty() {
        let mut points = Vec::new();
        for p in &args.scale {
            let parsed = p.split_once(':').and_then(|(u, r)| Some((u.trim().parse::<u64>().ok()?, r.trim().parse::<u64>().ok()?)));
            let Some((users, records)) = parsed.filter(|(u, _)| *u >= 100) else {
                bail!("--scale takes USERS:RECORDS points (at least 100 users), e.g. 1000:10000")
            };
            points.push((users, records));
        }
        return scale::run(scale::Config {
            iamd: args.iamd.clone(),
            points,
            database_url: args.database_url.clone(),
            keep: args.keep.clone(),
            calls: args.calls.max(10),
        });
    }
    let mut children: Vec<Child> = Vec::new();
    let _tmp = tempfile::tempdir()?;
    let (iamd_target, iamd_pid) = match &args.endpoint {
        Some(ep) => {
            let addr: SocketAddr = ep.trim_start_matches("http://").trim_end_matches('/').parse().context("--endpoint must be http://IP:PORT")?;
            let (Some(a), Some(s)) = (&args.access_key_id, &args.secret_access_key) else { bail!("--endpoint needs --access-key-id and --secret-access-key") };
            (Target { addr, akid: a.clone(), secret: s.clone() }, None)
        }
        None => {
            let (t, child) = start_iamd(&args.iamd, &_tmp.path().join("data"), args.database_url.as_deref())?;
            let pid = child.id();
            children.push(child);
            (t, Some(pid))
        }
    };
    let baseline = match &args.baseline_iamd {
        Some(_) if args.database_url.is_some() => bail!("--baseline-iamd runs on SQLite only"),
        Some(bin) => {
            let (t, child) = start_iamd(bin, &_tmp.path().join("baseline"), None)?;
            children.push(child);
            Some(t)
        }
        None => None,
    };
    let me = std::env::current_exe()?;
    let mut trivial = Command::new(me);
    trivial.args(["--trivial-server", "127.0.0.1:0"]);
    let (child, trivial_addr) = spawn_listening(trivial)?;
    children.push(child);
    let trivial_target = Target { addr: trivial_addr, akid: iamd_target.akid.clone(), secret: iamd_target.secret.clone() };

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let idle_rss = iamd_pid.and_then(rss_kib);
    println!(
        "iamd-bench: {} connections, {} s per run, client on 1 thread, machine has {} cores",
        args.connections,
        args.seconds,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    let mut rows = Vec::new();
    let needs_mfa = args.ops.iter().any(|o| o == "GetSessionToken+MFA" || o == "ListMFADevices");
    let pool = if needs_mfa {
        let t0 = Instant::now();
        let p = rt.block_on(mfa_pool(&iamd_target, args.mfa_devices, args.connections, "bench-"))?;
        println!("provisioned {} users and {} MFA devices in {:.1} s", p.len().div_ceil(8), p.len(), t0.elapsed().as_secs_f64());
        p
    } else {
        vec![]
    };
    let pool = Arc::new(pool);
    let baseline_pool = match (&baseline, needs_mfa) {
        (Some(b), true) => Arc::new(rt.block_on(mfa_pool(b, args.mfa_devices, args.connections, "bench-"))?),
        _ => Arc::new(Vec::new()),
    };
    for name in &args.ops {
        let Some(op) = OPS.iter().find(|o| o.name == name) else {
            bail!("unknown op {name}; known: {}", OPS.iter().map(|o| o.name).collect::<Vec<_>>().join(", "))
        };
        let work = if op.body.is_empty() { Work::Sessions(pool.clone()) } else { Work::Fixed(*op) };
        let as_user = if op.name.ends_with("/1-policy") {
            Some(rt.block_on(authz_user(&iamd_target, "bench-authz-1", 1))?)
        } else if op.name.ends_with("/10-policies") {
            Some(rt.block_on(authz_user(&iamd_target, "bench-authz-10", 10))?)
        } else {
            None
        };
        let (iamd_target, trivial_target) = match &as_user {
            Some((a, s)) => (
                Target { addr: iamd_target.addr, akid: a.clone(), secret: s.clone() },
                Target { addr: trivial_target.addr, akid: a.clone(), secret: s.clone() },
            ),
            None => (
                Target { addr: iamd_target.addr, akid: iamd_target.akid.clone(), secret: iamd_target.secret.clone() },
                Target { addr: trivial_target.addr, akid: trivial_target.akid.clone(), secret: trivial_target.secret.clone() },
            ),
        };
        if matches!(work, Work::Fixed(_)) {
            // Warm both up (fixed requests only: every MFA code is single-use).
            rt.block_on(run(&trivial_target, &work, args.connections, Duration::from_millis(500)))?;
            rt.block_on(run(&iamd_target, &work, args.connections, Duration::from_millis(500)))?;
        }
        let bt = match &baseline {
            Some(b) => Some(match &as_user {
                Some(_) => {
                    let (a, s) =
                        rt.block_on(authz_user(b, &format!("bench-authz-b-{}", op.name.len()), if op.name.ends_with("/10-policies") { 10 } else { 1 }))?;
                    Target { addr: b.addr, akid: a, secret: s }
                }
                None => Target { addr: b.addr, akid: b.akid.clone(), secret: b.secret.clone() },
            }),
            None => None,
        };
        let bwork = if op.body.is_empty() { Work::Sessions(baseline_pool.clone()) } else { Work::Fixed(*op) };
        if let (Some(bt), Work::Fixed(_)) = (&bt, &bwork) {
            rt.block_on(run(bt, &bwork, args.connections, Duration::from_millis(500)))?;
        }
        // Every MFA code is single-use: sessions are measured once.
        let rounds = if matches!(work, Work::Fixed(_)) { args.rounds.max(1) } else { 1 };
        let (mut cs, mut ms, mut bs) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            cs.push(rt.block_on(run(&trivial_target, &work, args.connections, Duration::from_secs(args.seconds)))?);
            ms.push(rt.block_on(run(&iamd_target, &work, args.connections, Duration::from_secs(args.seconds)))?);
            if let Some(bt) = &bt {
                bs.push(rt.block_on(run(bt, &bwork, args.connections, Duration::from_secs(args.seconds)))?);
            }
        }
        let (ceiling, measured) = (median(cs), median(ms));
        let base = if bs.is_empty() { None } else { Some(median(bs)) };
        rows.push((op.name, ceiling, measured, base));
    }
    println!();
    println!("| operation | target | requests/s | p50 ms | p99 ms | errors | % of ceiling |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (name, c, m, b) in &rows {
        println!("| {name} | trivial HTTP server | {:.0} | {:.3} | {:.3} | {} | 100% |", c.rps, c.p50, c.p99, c.errors);
        println!("| {name} | iamd | {:.0} | {:.3} | {:.3} | {} | {:.0}% |", m.rps, m.p50, m.p99, m.errors, 100.0 * m.rps / c.rps);
        if let Some(b) = b {
            println!("| {name} | baseline iamd | {:.0} | {:.3} | {:.3} | {} | {:.0}% |", b.rps, b.p50, b.p99, b.errors, 100.0 * b.rps / c.rps);
        }
    }
    for (name, _, m, b) in &rows {
        if let Some(b) = b {
            // Cost per request = 1/throughput: the share of iamd's cost the baseline does not pay.
            println!("{name}: iamd spends {:.1}% of its per-request cost on what the baseline leaves out", 100.0 * (1.0 - m.rps / b.rps));
        }
    }
    if let Some(kib) = idle_rss {
        println!("\niamd idle resident memory (before load): {:.1} MB", kib as f64 / 1024.0);
    }
    if let Some(kib) = iamd_pid.and_then(rss_kib) {
        println!("iamd resident memory after load: {:.1} MB", kib as f64 / 1024.0);
    }
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    Ok(())
}

/// `iamd init` on a fresh directory, then `iamd serve`: the target (root's key) and the process.
fn start_iamd(bin: &str, dir: &std::path::Path, database_url: Option<&str>) -> anyhow::Result<(Target, Child)> {
    let mut init = Command::new(bin);
    init.args(["init", "--data-dir"]).arg(dir).arg("--json");
    if let Some(u) = database_url {
        init.args(["--database-url", u]);
    }
    let out = init.output().with_context(|| format!("running {bin} init"))?;
    if !out.status.success() {
        bail!("iamd init failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let mut serve = Command::new(bin);
    serve.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(dir).env("IAMD_LOG", "warn");
    if let Some(u) = database_url {
        serve.args(["--database-url", u]);
    }
    let (child, addr) = spawn_listening(serve)?;
    Ok((
        Target { addr, akid: v["access_key_id"].as_str().unwrap_or_default().into(), secret: v["secret_access_key"].as_str().unwrap_or_default().into() },
        child,
    ))
}

/// The run with the median throughput.
fn median(mut v: Vec<Stats>) -> Stats {
    v.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    let i = v.len() / 2;
    v.swap_remove(i)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// Starts a process that prints `... listening on http://ADDR` on stdout and returns that address.
fn spawn_listening(mut cmd: Command) -> anyhow::Result<(Child, SocketAddr)> {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().context("starting a server")?;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while let Some(line) = lines.next() {
        let line = line?;
        if let Some(a) = line.split("listening on http://").nth(1) {
            let addr = a.trim().parse()?;
            std::thread::spawn(move || for _ in lines {});
            return Ok((child, addr));
        }
    }
    bail!("the server exited before listening")
}

fn trivial_server(addr: &str) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let l = tokio::net::TcpListener::bind(addr).await?;
        println!("trivial server listening on http://{}", l.local_addr()?);
        let body = "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:root</Arn><UserId>123456789012</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata></GetCallerIdentityResponse>";
        let app = axum::Router::new().fallback(move || async move { ([("content-type", "text/xml")], body) });
        axum::serve(l, app).await?;
        anyhow::Ok(())
    })
}

struct Stats {
    rps: f64,
    p50: f64,
    p99: f64,
    errors: u64,
}

/// One signed request, re-signed when the second changes.
struct Signed {
    second: i64,
    bytes: Vec<u8>,
}

fn sign(t: &Target, op: Op, now: chrono::DateTime<chrono::Utc>) -> Vec<u8> {
    signed_request(t.addr, &t.akid, &t.secret, op.service, op.target, op.body, now)
}

/// A SigV4-signed POST: a Query form, or (with an X-Amz-Target) a JSON-protocol call.
fn signed_request(addr: SocketAddr, akid: &str, secret: &str, service: &str, target: Option<&str>, body: &str, now: chrono::DateTime<chrono::Utc>) -> Vec<u8> {
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let host = addr.to_string();
    let ct = if target.is_some() { "application/x-amz-json-1.1" } else { "application/x-www-form-urlencoded; charset=utf-8" };
    let mut headers = vec![("host", host.as_str()), ("x-amz-date", amz_date.as_str()), ("content-type", ct)];
    headers.extend(target.map(|target| ("x-amz-target", target)));
    let signed: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
    let req = sigv4::Request { method: "POST", path: "/", query: "", headers: &headers, body: body.as_bytes() };
    let authz = sigv4::sign_header(&req, akid, secret, &amz_date, "us-east-1", service, &signed);
    let target = target.map(|v| format!("X-Amz-Target: {v}\r\n")).unwrap_or_default();
    format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nX-Amz-Date: {amz_date}\r\nContent-Type: {ct}\r\n{target}Authorization: {authz}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// What a run sends: one fixed request (signed by the root key, re-signed each second), or
/// GetSessionToken with MFA, each request with another device's fresh code.
#[derive(Clone)]
enum Work {
    Fixed(Op),
    Sessions(Arc<Vec<MfaDevice>>),
}

async fn run(t: &Target, work: &Work, conns: usize, dur: Duration) -> anyhow::Result<Stats> {
    let deadline = Instant::now() + dur;
    let started = Instant::now();
    let target = Arc::new(Target { addr: t.addr, akid: t.akid.clone(), secret: t.secret.clone() });
    let mut tasks = Vec::new();
    for i in 0..conns {
        let target = target.clone();
        let work = work.clone();
        tasks.push(tokio::spawn(async move {
            match work {
                Work::Fixed(op) => connection(target, op, deadline).await,
                Work::Sessions(pool) => session_connection(target, pool, i, conns, deadline).await,
            }
        }));
    }
    let mut lat: Vec<u32> = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await??;
        lat.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| if lat.is_empty() { 0.0 } else { lat[((lat.len() - 1) as f64 * p) as usize] as f64 / 1000.0 };
    Ok(Stats { rps: lat.len() as f64 / elapsed, p50: pct(0.50), p99: pct(0.99), errors })
}

async fn connection(t: Arc<Target>, op: Op, deadline: Instant) -> anyhow::Result<(Vec<u32>, u64)> {
    let mut s = TcpStream::connect(t.addr).await?;
    s.set_nodelay(true)?;
    let mut signed = Signed { second: -1, bytes: vec![] };
    let mut buf = vec![0u8; 64 * 1024];
    let mut lat = Vec::with_capacity(100_000);
    let mut errors = 0u64;
    while Instant::now() < deadline {
        let now = chrono::Utc::now();
        if now.timestamp() != signed.second {
            signed = Signed { second: now.timestamp(), bytes: sign(&t, op, now) };
        }
        let t0 = Instant::now();
        s.write_all(&signed.bytes).await?;
        let status = read_response(&mut s, &mut buf).await?.0;
        lat.push(t0.elapsed().as_micros() as u32);
        if status != 200 {
            errors += 1;
        }
    }
    Ok((lat, errors))
}

fn sign_as(addr: SocketAddr, akid: &str, secret: &str, service: &str, body: &str) -> Vec<u8> {
    signed_request(addr, akid, secret, service, None, body, chrono::Utc::now())
}

/// Connection `i` of `n` uses every n-th device; each device serves the current step's code, then
/// the next step's (both inside the ±1 window), then is spent for this run.
async fn session_connection(t: Arc<Target>, pool: Arc<Vec<MfaDevice>>, i: usize, n: usize, deadline: Instant) -> anyhow::Result<(Vec<u32>, u64)> {
    let mut s = TcpStream::connect(t.addr).await?;
    s.set_nodelay(true)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut lat = Vec::new();
    let mut errors = 0u64;
    let params = otp::Params::default();
    'outer: for offset in [0i64, 1] {
        for d in pool.iter().skip(i).step_by(n) {
            if Instant::now() >= deadline {
                break 'outer;
            }
            let step = otp::step_of(chrono::Utc::now().timestamp(), &params) + offset;
            let body = format!(
                "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=900&SerialNumber={}&TokenCode={}",
                d.serial.replace(':', "%3A").replace('/', "%2F"),
                otp::code_at(&d.seed, step, &params)
            );
            let req = sign_as(t.addr, &d.akid, &d.secret, "sts", &body);
            let t0 = Instant::now();
            s.write_all(&req).await?;
            let status = read_response(&mut s, &mut buf).await?.0;
            lat.push(t0.elapsed().as_micros() as u32);
            if status != 200 {
                errors += 1;
            }
        }
    }
    Ok((lat, errors))
}

/// AWS's "self-manage MFA" policy (it allows a user to list its own devices), and filler policies of
/// realistic size and shape for other services.
const SELF_MFA: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"AllowListActions","Effect":"Allow","Action":["iam:ListUsers","iam:ListVirtualMFADevices"],"Resource":"*"},{"Sid":"AllowUserToCreateVirtualMFADevice","Effect":"Allow","Action":["iam:CreateVirtualMFADevice"],"Resource":"arn:aws:iam::*:mfa/*"},{"Sid":"AllowUserToManageTheirOwnMFA","Effect":"Allow","Action":["iam:EnableMFADevice","iam:GetMFADevice","iam:ListMFADevices","iam:ResyncMFADevice"],"Resource":"arn:aws:iam::*:user/${aws:username}"},{"Sid":"AllowUserToDeactivateTheirOwnMFAOnlyWhenUsingMFA","Effect":"Allow","Action":["iam:DeactivateMFADevice"],"Resource":["arn:aws:iam::*:user/${aws:username}"],"Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}},{"Sid":"BlockMostAccessUnlessSignedInWithMFA","Effect":"Deny","NotAction":["iam:CreateVirtualMFADevice","iam:EnableMFADevice","iam:ListMFADevices","iam:ListUsers","iam:ListVirtualMFADevices","iam:ResyncMFADevice"],"Resource":"*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}]}"#;

fn filler_policy(i: usize) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"S3Read{i}","Effect":"Allow","Action":["s3:GetObject","s3:ListBucket","s3:GetBucketLocation"],"Resource":["arn:aws:s3:::team-{i}-data","arn:aws:s3:::team-{i}-data/*"],"Condition":{{"IpAddress":{{"aws:SourceIp":["10.0.0.0/8","192.168.{i}.0/24"]}}}}}},{{"Sid":"Ec2Describe{i}","Effect":"Allow","Action":["ec2:Describe*"],"Resource":"*","Condition":{{"StringEquals":{{"aws:RequestedRegion":["eu-west-1","us-east-1"]}}}}}},{{"Sid":"DenyOutside{i}","Effect":"Deny","Action":["s3:DeleteObject","s3:PutBucketPolicy"],"Resource":"arn:aws:s3:::team-{i}-*","Condition":{{"NumericGreaterThan":{{"aws:MultiFactorAuthAge":"3600"}}}}}},{{"Sid":"Tags{i}","Effect":"Allow","Action":"ec2:StartInstances","Resource":"arn:aws:ec2:*:*:instance/*","Condition":{{"StringEquals":{{"aws:ResourceTag/team":"${{aws:PrincipalTag/team}}"}}}}}}]}}"#
    )
}

/// Creates a user with an access key and `n` attached managed policies (the last one allows the
/// user to list its own MFA devices); returns its key.
async fn authz_user(t: &Target, name: &str, n: usize) -> anyhow::Result<(String, String)> {
    let enc = |s: &str| s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect::<String>();
    let (st, body) = call(t.addr, &t.akid, &t.secret, "iam", &format!("Action=CreateUser&Version=2010-05-08&UserName={name}")).await?;
    if st != 200 {
        bail!("CreateUser {name}: {body}");
    }
    let (_, body) = call(t.addr, &t.akid, &t.secret, "iam", &format!("Action=CreateAccessKey&Version=2010-05-08&UserName={name}")).await?;
    let key = (between(&body, "<AccessKeyId>", "<").unwrap_or("").to_string(), between(&body, "<SecretAccessKey>", "<").unwrap_or("").to_string());
    for i in 0..n {
        let doc = if i == n - 1 { SELF_MFA.to_string() } else { filler_policy(i) };
        let pname = format!("{name}-p{i}");
        let (st, body) =
            call(t.addr, &t.akid, &t.secret, "iam", &format!("Action=CreatePolicy&Version=2010-05-08&PolicyName={pname}&PolicyDocument={}", enc(&doc))).await?;
        if st != 200 {
            bail!("CreatePolicy: {body}");
        }
        let arn = between(&body, "<Arn>", "<").unwrap_or("").to_string();
        let (st, body) =
            call(t.addr, &t.akid, &t.secret, "iam", &format!("Action=AttachUserPolicy&Version=2010-05-08&UserName={name}&PolicyArn={}", enc(&arn))).await?;
        if st != 200 {
            bail!("AttachUserPolicy: {body}");
        }
    }
    Ok(key)
}

/// One request on a fresh connection; returns (status, body).
async fn call(addr: SocketAddr, akid: &str, secret: &str, service: &str, body: &str) -> anyhow::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(&sign_as(addr, akid, secret, service, body)).await?;
    let mut buf = vec![0u8; 256 * 1024];
    let (status, text) = read_response(&mut s, &mut buf).await?;
    Ok((status, text))
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    Some(&text[start..start + text[start..].find(close)?])
}

/// Creates users named PREFIX0, PREFIX1, … (each with an access key) and enables eight virtual MFA
/// devices for each, through the API, `conns` at a time.
async fn mfa_pool(t: &Target, devices: usize, conns: usize, prefix: &str) -> anyhow::Result<Vec<MfaDevice>> {
    let users = devices.div_ceil(8);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..conns.min(16) {
        let (next, addr, akid, secret, prefix) = (next.clone(), t.addr, t.akid.clone(), t.secret.clone(), prefix.to_string());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let u = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if u >= users {
                    break;
                }
                let name = format!("{prefix}{u}");
                let (st, body) = call(addr, &akid, &secret, "iam", &format!("Action=CreateUser&Version=2010-05-08&UserName={name}")).await?;
                if st != 200 && !body.contains("EntityAlreadyExists") {
                    bail!("CreateUser {name}: {st} {body}");
                }
                let (st, body) = call(addr, &akid, &secret, "iam", &format!("Action=CreateAccessKey&Version=2010-05-08&UserName={name}")).await?;
                if st != 200 {
                    bail!("CreateAccessKey {name}: {st} {body}");
                }
                let (uk, us) =
                    (between(&body, "<AccessKeyId>", "<").unwrap_or("").to_string(), between(&body, "<SecretAccessKey>", "<").unwrap_or("").to_string());
                for d in 0..8 {
                    let dev = format!("{name}-d{d}-{}", chrono::Utc::now().timestamp_millis());
                    let (st, body) =
                        call(addr, &akid, &secret, "iam", &format!("Action=CreateVirtualMFADevice&Version=2010-05-08&VirtualMFADeviceName={dev}")).await?;
                    if st != 200 {
                        bail!("CreateVirtualMFADevice: {st} {body}");
                    }
                    let serial = between(&body, "<SerialNumber>", "<").unwrap_or("").to_string();
                    use base64::Engine;
                    let b32 = base64::engine::general_purpose::STANDARD.decode(between(&body, "<Base32StringSeed>", "<").unwrap_or(""))?;
                    let seed = otp::base32::decode(std::str::from_utf8(&b32)?).ok_or_else(|| anyhow::anyhow!("bad seed"))?;
                    let p = otp::Params::default();
                    let n = otp::step_of(chrono::Utc::now().timestamp(), &p);
                    let enable = format!(
                        "Action=EnableMFADevice&Version=2010-05-08&UserName={name}&SerialNumber={}&AuthenticationCode1={}&AuthenticationCode2={}",
                        serial.replace(':', "%3A").replace('/', "%2F"),
                        otp::code_at(&seed, n - 2, &p),
                        otp::code_at(&seed, n - 1, &p)
                    );
                    let (st, body) = call(addr, &akid, &secret, "iam", &enable).await?;
                    if st != 200 {
                        bail!("EnableMFADevice: {st} {body}");
                    }
                    out.push(MfaDevice { akid: uk.clone(), secret: us.clone(), serial, seed });
                }
            }
            anyhow::Ok(out)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    all.truncate(devices);
    Ok(all)
}

/// One response: status, head (status line and headers) and body.
struct Response {
    status: u16,
    head: String,
    body: String,
}

/// Reads one HTTP/1.1 response with a Content-Length body; returns the status and the body.
async fn read_response(s: &mut TcpStream, buf: &mut [u8]) -> anyhow::Result<(u16, String)> {
    let r = read_full(s, buf).await?;
    Ok((r.status, r.body))
}

async fn read_full(s: &mut TcpStream, buf: &mut [u8]) -> anyhow::Result<Response> {
    let mut have = 0;
    loop {
        let n = s.read(&mut buf[have..]).await?;
        if n == 0 {
            bail!("connection closed");
        }
        have += n;
        if let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end])?.to_string();
            let status: u16 = head.get(9..12).unwrap_or("0").parse().unwrap_or(0);
            let len: usize = head
                .lines()
                .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")).map(|(_, v)| v.trim().parse().unwrap_or(0)))
                .unwrap_or(0);
            let mut body: Vec<u8> = buf[end + 4..have].to_vec();
            while body.len() < len {
                let n = s.read(&mut buf[..]).await?;
                if n == 0 {
                    bail!("connection closed");
                }
                body.extend_from_slice(&buf[..n]);
            }
            return Ok(Response { status, head, body: String::from_utf8_lossy(&body).into_owned() });
        }
        if have == buf.len() {
            bail!("response header too large");
        }
    }
}
