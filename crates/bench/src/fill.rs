//! The scale benchmark's bulk builder: an account of N users (a share with MFA devices) and M audit
//! records, written straight into an initialised iamd's database. Only the data is built here; every
//! measurement goes through the API.
//!
//! - Users go in by multi-row INSERTs, so the account's counters (kept by triggers) stay true.
//! - Devices are sealed with the data directory's master key, as iamd seals them: one in 100 users
//!   has eight (six authenticator apps, two hardware tokens), one in 10 has exactly one app.
//! - Records go through iamd's own audit writer (`audit::sink`), in time order and in chunks, so the
//!   rows, their index and the sign-in counters are exactly what a server writes.
//!
//! It runs as its own process (`iamd-bench --fill …`), so nothing of it stays open beside the server.

use anyhow::Context;
use iamd::audit::{Event, Identity};
use iamd::crypto::{Purpose, Sealer};
use iamd::store::{Backend, Store};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What the bench needs to know of the built data.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Filled {
    pub users: u64,
    pub devices: u64,
    pub records: u64,
    /// Database bytes before and after the records were written.
    pub bytes_before_records: u64,
    pub bytes_after_records: u64,
    pub seconds_users: f64,
    pub seconds_records: f64,
}

/// User `i`'s name and path. Names sort as their numbers; paths spread the users over 100 teams.
pub fn user_name(i: u64) -> String {
    format!("u{i:08}")
}

pub fn user_path(i: u64) -> String {
    format!("/team-{:02}/", i % 100)
}

/// How many devices user `i` has.
pub fn devices_of(i: u64) -> u64 {
    if i.is_multiple_of(100) {
        8
    } else if i % 10 == 1 {
        1
    } else {
        0
    }
}

/// A cheap hash of a record's number onto 0..n: the user it is about.
fn record_user(k: u64, users: u64) -> u64 {
    let mut x = k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    x % users.max(1)
}

pub async fn fill(data_dir: &Path, database_url: Option<&str>, account: &str, root_akid: &str, users: u64, records: u64) -> anyhow::Result<Filled> {
    let key = iamd::crypto::load_master_key(data_dir, None)?;
    let sealer = Sealer::new(&key);
    let store = Store::open(data_dir, database_url).await?;
    let t0 = std::time::Instant::now();
    let devices = fill_users(&store, &sealer, account, users).await?;
    let seconds_users = t0.elapsed().as_secs_f64();
    let bytes_before_records = db_bytes(&store).await?;
    let t1 = std::time::Instant::now();
    fill_records(&store, account, root_akid, users, records).await?;
    let seconds_records = t1.elapsed().as_secs_f64();
    let bytes_after_records = db_bytes(&store).await?;
    Ok(Filled { users, devices, records, bytes_before_records, bytes_after_records, seconds_users, seconds_records })
}

/// The database's size: SQLite's pages once the WAL is folded in, or PostgreSQL's database size.
pub async fn db_bytes(store: &Store) -> anyhow::Result<u64> {
    Ok(match store.backend {
        Backend::Sqlite => {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&store.write).await?;
            let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(&store.write).await?;
            let size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(&store.write).await?;
            let free: i64 = sqlx::query_scalar("PRAGMA freelist_count").fetch_one(&store.write).await?;
            ((pages - free) * size) as u64
        }
        Backend::Postgres => {
            sqlx::query("CHECKPOINT").execute(&store.write).await.ok();
            let n: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())::BIGINT").fetch_one(&store.write).await?;
            n as u64
        }
    })
}

const USER_ROWS: u64 = 1000;

/// (device id, serial, kind, name, path, sealed seed, owner, slot)
type DeviceRow = (String, String, &'static str, Option<String>, Option<String>, Vec<u8>, String, i64);

async fn fill_users(store: &Store, sealer: &Sealer, account: &str, users: u64) -> anyhow::Result<u64> {
    let now = chrono::Utc::now().timestamp_millis();
    let mut devices = 0u64;
    let mut next_report = std::time::Instant::now();
    let mut start = 0u64;
    while start < users {
        let end = (start + USER_ROWS).min(users);
        let mut tx = store.begin_write().await?;
        let mut sql = String::from("INSERT INTO users (user_id, account_id, name, name_lower, path, created_at) VALUES ");
        let mut ids = Vec::with_capacity((end - start) as usize);
        for (j, _) in (start..end).enumerate() {
            let b = j * 6;
            sql.push_str(&format!("{}(${}, ${}, ${}, ${}, ${}, ${})", if j == 0 { "" } else { ", " }, b + 1, b + 2, b + 3, b + 4, b + 5, b + 6));
        }
        let mut q = sqlx::query(&sql);
        for i in start..end {
            let id = iamd::ids::user_id();
            let name = user_name(i);
            q = q.bind(id.clone()).bind(account.to_string()).bind(name.clone()).bind(name).bind(user_path(i)).bind(now - 86_400_000 + i as i64 % 86_400_000);
            ids.push((i, id));
        }
        q.execute(&mut *tx).await.context("inserting users")?;
        // Their devices, in one INSERT of up to ~1,000 rows.
        let mut rows: Vec<DeviceRow> = Vec::new();
        for (i, uid) in &ids {
            for slot in 1..=devices_of(*i) {
                let device_id = uuid::Uuid::new_v4().to_string();
                let mut seed = [0u8; 20];
                seed[..8].copy_from_slice(&i.to_le_bytes());
                seed[8] = slot as u8;
                let sealed = sealer.seal(Purpose::MfaSeed, &iamd::domain::mfa::seed_aad(account, &device_id), &seed);
                let (kind, serial, name, path) = if slot <= 6 {
                    let name = format!("{}-app{slot}", user_name(*i));
                    ("virtual", iamd::domain::mfa::virtual_serial(account, "/", &name), Some(name), Some("/".to_string()))
                } else {
                    ("hardware", format!("GAHT{:08}{slot}", i), None, None)
                };
                rows.push((device_id, serial, kind, name, path, sealed, uid.clone(), slot as i64));
            }
        }
        if !rows.is_empty() {
            let mut sql = String::from(
                "INSERT INTO mfa_devices (device_id, account_id, serial, kind, name, path, seed_sealed, owner, owner_slot, enabled_at, created_at) VALUES ",
            );
            for j in 0..rows.len() {
                let b = j * 11;
                sql.push_str(if j == 0 { "(" } else { ", (" });
                sql.push_str(&(1..=11).map(|k| format!("${}", b + k)).collect::<Vec<_>>().join(", "));
                sql.push(')');
            }
            let mut q = sqlx::query(&sql);
            for (device_id, serial, kind, name, path, sealed, owner, slot) in rows.iter().cloned() {
                q = q
                    .bind(device_id)
                    .bind(account.to_string())
                    .bind(serial)
                    .bind(kind)
                    .bind(name)
                    .bind(path)
                    .bind(sealed)
                    .bind(owner)
                    .bind(slot)
                    .bind(now)
                    .bind(now);
            }
            q.execute(&mut *tx).await.context("inserting devices")?;
            devices += rows.len() as u64;
        }
        tx.commit().await?;
        start = end;
        if std::time::Instant::now() >= next_report {
            eprintln!("  users: {start} of {users}");
            next_report += std::time::Duration::from_secs(10);
        }
    }
    Ok(devices)
}

/// Records per chunk handed to the writer (well under its queue's limit).
const CHUNK: u64 = 20_000;

/// M records over the last M/50 seconds (50 a second, so rows fill as on a busy server): 60% root's
/// GetCallerIdentity, 20% root's ListUsers, 10% console sign-ins and 10% GetSessionToken of users
/// with devices. A user with one device has about M/N records, one with eight about 10·M/N.
async fn fill_records(store: &Store, account: &str, root_akid: &str, users: u64, records: u64) -> anyhow::Result<()> {
    let sink = iamd::audit::sink::Sink::start(store.clone());
    let end_ms = chrono::Utc::now().timestamp_millis() - 60_000;
    let span_ms = (records as i64 * 20).max(1);
    let root = Identity {
        kind: "Root",
        principal_id: account.to_string(),
        arn: format!("arn:aws:iam::{account}:root"),
        account_id: account.to_string(),
        access_key_id: root_akid.to_string(),
        mfa_authenticated: Some(false),
        ..Default::default()
    };
    let mut next_report = std::time::Instant::now();
    let mut k = 0u64;
    while k < records {
        let end = (k + CHUNK).min(records);
        for r in k..end {
            let t = end_ms - span_ms + (r as i64 * span_ms) / records as i64;
            sink.push(record(r, t, account, &root, users), false);
        }
        sink.flush().await;
        k = end;
        if std::time::Instant::now() >= next_report {
            eprintln!("  records: {k} of {records}");
            next_report += std::time::Duration::from_secs(10);
        }
    }
    sink.flush().await;
    Ok(())
}

fn record(r: u64, t: i64, account: &str, root: &Identity, users: u64) -> Event {
    let kind = r % 10;
    let mut e = match kind {
        0..=5 => Event::new(t, "sts.amazonaws.com", "GetCallerIdentity"),
        6 | 7 => Event::new(t, "iam.amazonaws.com", "ListUsers"),
        8 => Event::new(t, "signin.amazonaws.com", "ConsoleLogin"),
        _ => Event::new(t, "sts.amazonaws.com", "GetSessionToken"),
    };
    e.account = account.to_string();
    e.source_ip = format!("10.{}.{}.{}", (r >> 16) & 255, (r >> 8) & 255, r & 255);
    e.user_agent = "aws-cli/2.22.0 Python/3.12.6 Linux/6.1 exe/x86_64 iamd-bench".into();
    e.request_id = Some(uuid::Uuid::new_v4().to_string());
    match kind {
        0..=7 => {
            e.read_only = true;
            e.identity = root.clone();
            if kind >= 6 {
                e.params = vec![("MaxItems".into(), "100".into())];
            }
        }
        _ => {
            // A user with a device: every other record one of those with eight, else one with one.
            let tens = record_user(r, users.div_ceil(10)) * 10;
            let i = if (r / 10).is_multiple_of(2) || tens + 1 >= users { tens - tens % 100 } else { tens + 1 };
            let name = user_name(i);
            let serial = iamd::domain::mfa::virtual_serial(account, "/", &format!("{name}-app1"));
            e.identity = Identity {
                kind: "IAMUser",
                principal_id: format!("AIDA{i:017}"),
                arn: format!("arn:aws:iam::{account}:user{}{name}", user_path(i)),
                account_id: account.to_string(),
                access_key_id: String::new(),
                user_name: Some(name),
                mfa_authenticated: Some(false),
                ..Default::default()
            };
            if kind == 8 {
                e.event_type = "AwsConsoleSignIn";
                e.read_only = false;
                e.additional =
                    Some(serde_json::json!({"LoginTo": "https://iamd.example/console", "MobileVersion": "No", "MFAUsed": "Yes", "MFAIdentifier": serial}));
            } else {
                e.read_only = true;
                e.params = vec![("DurationSeconds".into(), "900".into()), ("SerialNumber".into(), serial)];
                e.identity.access_key_id = format!("AKIA{:016}", i);
            }
        }
    }
    e
}
