//! Tamper evidence, after CloudTrail's log file integrity validation.
//!
//! A digest covers the rows appended since the previous digest (a range of the trail's *cursor*: the
//! row's seq on SQLite, its writing transaction's id on PostgreSQL — see the migrations). Its rows are
//! cut into "log files": per account, consecutive rows of up to 1,000 records, whose content is
//! CloudTrail's `{"Records":[…]}`. The digest lists each log file with the SHA-256 of that content
//! (plus iamd's extras: the rows' seq range, the number of records, and a hash of the sorted record
//! hashes, which tells a reordering from an alteration), names and hashes the previous digest and
//! carries its signature, and is itself signed SHA256withRSA over CloudTrail's string to sign.
//! `verify` walks the chain and recomputes everything.

use crate::crypto::Purpose;
use crate::domain::{iso8601, Iam};
use crate::store::Backend;
use anyhow::{bail, Context};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rsa::signature::{SignatureEncoding, Signer as _, Verifier as _};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const BUCKET: &str = "iamd-trail";
pub const TRAIL_ACCOUNT: &str = "iamd";
pub const REGION: &str = "us-east-1";
const RECORDS_PER_FILE: i64 = 1000;
/// The first digest starts below every cursor, so a row forged before the first real one is caught.
const FIRST_CURSOR: i64 = i64::MIN;
const KEY_NAME: &str = "audit_signing_key";
const KEY_AAD: &[u8] = b"audit_signing_key";

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// The trail's cursor column for this backend.
pub fn cursor_col(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "seq",
        Backend::Postgres => "txid",
    }
}

// ---- the signing key ----

pub struct KeyPair {
    key: RsaPrivateKey,
}

impl KeyPair {
    pub fn public(&self) -> RsaPublicKey {
        self.key.to_public_key()
    }
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.public())
    }
}

/// 32 hex digits, like CloudTrail's: the first 16 bytes of the SHA-256 of the public key (DER SPKI).
pub fn fingerprint(k: &RsaPublicKey) -> String {
    let der = k.to_public_key_der().map(|d| d.as_bytes().to_vec()).unwrap_or_default();
    hex::encode(&Sha256::digest(&der)[..16])
}

pub fn public_pem(k: &RsaPublicKey) -> String {
    k.to_public_key_pem(rsa::pkcs8::LineEnding::LF).unwrap_or_default()
}

/// The trail's key pair, sealed under the master key in `meta`; made on first use (one node wins).
pub async fn key_pair(iam: &Iam) -> anyhow::Result<KeyPair> {
    if let Some(k) = load_key(iam).await? {
        return Ok(k);
    }
    let key = tokio::task::spawn_blocking(|| RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)).await?.context("making the audit signing key")?;
    let der = key.to_pkcs8_der().context("encoding the audit signing key")?;
    let sealed = iam.sealer.seal(Purpose::AuditSigningKey, KEY_AAD, der.as_bytes());
    let _ = sqlx::query("INSERT INTO meta (name, value) VALUES ($1, $2)").bind(KEY_NAME).bind(sealed).execute(&iam.store.write).await;
    load_key(iam).await?.context("the audit signing key was not stored")
}

async fn load_key(iam: &Iam) -> anyhow::Result<Option<KeyPair>> {
    let v: Option<Vec<u8>> = sqlx::query_scalar("SELECT value FROM meta WHERE name = $1").bind(KEY_NAME).fetch_optional(&iam.store.write).await?;
    let Some(v) = v else { return Ok(None) };
    let der = iam.sealer.open(Purpose::AuditSigningKey, KEY_AAD, &v).context("the audit signing key does not open under this master key")?;
    Ok(Some(KeyPair { key: RsaPrivateKey::from_pkcs8_der(&der).context("decoding the audit signing key")? }))
}

// ---- rows and log files ----

#[derive(Clone, Debug)]
pub struct Row {
    pub seq: i64,
    pub account: String,
    pub first_ms: i64,
    pub last_ms: i64,
    pub n: i64,
    pub body: String,
}

/// The rows whose cursor lies in (start, end], in seq order.
pub async fn rows_in(iam: &Iam, start: i64, end: i64) -> anyhow::Result<Vec<Row>> {
    rows_between(&iam.store.read, iam.store.backend, start, end).await
}

/// An `audit_log` row as read: seq, account, first and last time, count, body, compressed body.
type LogRow = (i64, String, i64, i64, i64, String, Option<Vec<u8>>);
/// An `audit_digests` row as read (`STORED_COLS`).
type DigestRow = (i64, i64, i64, i64, i64, String, String, String);

async fn rows_between<'e>(db: impl sqlx::Executor<'e, Database = sqlx::Any>, backend: Backend, start: i64, end: i64) -> anyhow::Result<Vec<Row>> {
    let col = cursor_col(backend);
    let q = format!("SELECT seq, account_id, first_ms, last_ms, n, body, body_z FROM audit_log WHERE {col} > $1 AND {col} <= $2 ORDER BY seq");
    let rows: Vec<LogRow> = sqlx::query_as(&q).bind(start).bind(end).fetch_all(db).await?;
    Ok(rows
        .into_iter()
        .map(|(seq, account, first_ms, last_ms, n, body, z)| Row { seq, account, first_ms, last_ms, n, body: crate::audit::row_body(body, z) })
        .collect())
}

/// A log file: rows of one account, consecutive in that account's part of a range.
#[derive(Clone, Debug)]
pub struct LogFile {
    pub account: String,
    pub rows: Vec<Row>,
}

impl LogFile {
    pub fn records(&self) -> impl Iterator<Item = &str> {
        self.rows.iter().flat_map(|r| r.body.split('\n'))
    }
    /// CloudTrail's log file content.
    pub fn content(&self) -> String {
        let mut s = String::from("{\"Records\":[");
        for (i, r) in self.records().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(r);
        }
        s.push_str("]}");
        s
    }
    pub fn record_count(&self) -> i64 {
        self.records().count() as i64
    }
    /// The hash of the sorted record hashes: the same for the same records in any order.
    pub fn set_hash(&self) -> String {
        let mut hs: Vec<[u8; 32]> = self.records().map(|r| Sha256::digest(r.as_bytes()).into()).collect();
        hs.sort_unstable();
        let mut h = Sha256::new();
        for x in hs {
            h.update(x);
        }
        hex::encode(h.finalize())
    }
    pub fn oldest_ms(&self) -> i64 {
        self.rows.iter().map(|r| r.first_ms).min().unwrap_or(0)
    }
    pub fn newest_ms(&self) -> i64 {
        self.rows.iter().map(|r| r.last_ms).max().unwrap_or(0)
    }
    pub fn account_dir(&self) -> &str {
        if self.account.is_empty() {
            "unattributed"
        } else {
            &self.account
        }
    }
}

/// Cuts rows into log files: per account in order of first appearance, up to 1,000 records each.
pub fn log_files(rows: &[Row]) -> Vec<LogFile> {
    let mut accounts: Vec<String> = Vec::new();
    for r in rows {
        if !accounts.contains(&r.account) {
            accounts.push(r.account.clone());
        }
    }
    let mut out = Vec::new();
    for a in accounts {
        let mut cur = LogFile { account: a.clone(), rows: Vec::new() };
        let mut count = 0;
        for r in rows.iter().filter(|r| r.account == a) {
            if count >= RECORDS_PER_FILE {
                out.push(std::mem::replace(&mut cur, LogFile { account: a.clone(), rows: Vec::new() }));
                count = 0;
            }
            count += r.n;
            cur.rows.push(r.clone());
        }
        out.push(cur);
    }
    out
}

fn compact_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y%m%dT%H%MZ").to_string()).unwrap_or_default()
}

fn day_path(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y/%m/%d").to_string()).unwrap_or_default()
}

/// CloudTrail's object key for a log file.
fn log_object(f: &LogFile, digest_no: i64, index: usize, end_ms: i64) -> String {
    let acct = f.account_dir();
    let unique = &sha256_hex(format!("{digest_no}:{index}").as_bytes())[..16];
    format!("AWSLogs/{acct}/CloudTrail/{REGION}/{}/{acct}_CloudTrail_{REGION}_{}_{unique}.json.gz", day_path(end_ms), compact_time(end_ms))
}

fn digest_object(digest_no: i64, end_ms: i64) -> String {
    let ts = chrono::DateTime::from_timestamp_millis(end_ms).map(|t| t.format("%Y%m%dT%H%M%SZ").to_string()).unwrap_or_default();
    format!(
        "AWSLogs/{TRAIL_ACCOUNT}/CloudTrail-Digest/{REGION}/{}/{TRAIL_ACCOUNT}_CloudTrail-Digest_{REGION}_iamd_{REGION}_{ts}_{digest_no:08}.json.gz",
        day_path(end_ms)
    )
}

/// CloudTrail's string to sign (awscli `validation.py`).
pub fn string_to_sign(end_time: &str, object: &str, body: &str, previous_signature: Option<&str>) -> String {
    format!("{end_time}\n{BUCKET}/{object}\n{}\n{}", sha256_hex(body.as_bytes()), previous_signature.unwrap_or("null"))
}

// ---- making digests ----

#[derive(Clone, Debug)]
pub struct Stored {
    pub digest_no: i64,
    pub start_cursor: i64,
    pub end_cursor: i64,
    pub start_ms: i64,
    pub end_ms: i64,
    pub object_key: String,
    pub body: String,
    pub signature: String,
}

const STORED_COLS: &str = "digest_no, start_cursor, end_cursor, start_ms, end_ms, object_key, body, signature";

fn stored(r: (i64, i64, i64, i64, i64, String, String, String)) -> Stored {
    Stored { digest_no: r.0, start_cursor: r.1, end_cursor: r.2, start_ms: r.3, end_ms: r.4, object_key: r.5, body: r.6, signature: r.7 }
}

pub async fn all(iam: &Iam) -> anyhow::Result<Vec<Stored>> {
    let q = format!("SELECT {STORED_COLS} FROM audit_digests ORDER BY digest_no");
    let rows: Vec<DigestRow> = sqlx::query_as(&q).fetch_all(&iam.store.read).await?;
    Ok(rows.into_iter().map(stored).collect())
}

/// The most rows one digest covers: a backlog (a bulk load, a long outage of the schedule) becomes
/// several digests in a row, each read, hashed and held in memory on its own.
pub const MAX_DIGEST_ROWS: i64 = 20_000;

/// Makes the next digests, covering every row appended since the previous one (in digests of at
/// most [`MAX_DIGEST_ROWS`] rows); returns the last. On a schedule (`min_interval_ms` > 0) it
/// returns None when another node is making one at this moment (PostgreSQL) or when
/// `min_interval_ms` has not passed since the last digest. Asked for now (`min_interval_ms` 0, the
/// command line's export and prune), it waits for a digest another node is making and then makes
/// its own, so what it returns covers everything committed before the call.
pub async fn make(iam: &Iam, min_interval_ms: i64) -> anyhow::Result<Option<Stored>> {
    let keys = key_pair(iam).await?;
    let mut last = None;
    let mut min_interval_ms = min_interval_ms;
    let mut until = None;
    loop {
        let (made, more, end) = match iam.store.backend {
            Backend::Postgres => make_postgres(iam, &keys, min_interval_ms, until).await?,
            Backend::Sqlite => make_sqlite(iam, &keys, min_interval_ms, until).await?,
        };
        let Some(d) = made else { return Ok(last) };
        last = Some(d);
        if !more {
            return Ok(last);
        }
        // The rest of the backlog, up to where the first digest found the trail's end.
        min_interval_ms = 0;
        until = Some(end);
    }
}

/// Where a digest that starts after `start` ends: at `end`, or sooner so that it covers at most
/// MAX_DIGEST_ROWS rows (whole transactions on PostgreSQL: the cursor is a transaction id). And
/// whether rows remain after it.
async fn capped_end(tx: &mut sqlx::AnyConnection, backend: Backend, start: i64, end: i64) -> anyhow::Result<(i64, bool)> {
    let col = cursor_col(backend);
    let q = format!("SELECT {col} FROM audit_log WHERE {col} > $1 AND {col} <= $2 ORDER BY {col} LIMIT 1 OFFSET $3");
    let nth: Option<i64> = sqlx::query_scalar(&q).bind(start).bind(end).bind(MAX_DIGEST_ROWS).fetch_optional(&mut *tx).await?;
    Ok(match (nth, backend) {
        (None, _) => (end, false),
        // seq is unique: the row before the first one left out.
        (Some(n), Backend::Sqlite) => (n - 1, true),
        // A transaction's rows stay together; one bigger than the cap is covered whole.
        (Some(n), Backend::Postgres) if n - 1 > start => (n - 1, true),
        (Some(n), Backend::Postgres) => (n, n < end),
    })
}

/// PostgreSQL: one transaction holds the digest lock (other nodes' digests wait or give way; the
/// API's writes never wait for it).
async fn make_postgres(iam: &Iam, keys: &KeyPair, min_interval_ms: i64, until: Option<i64>) -> anyhow::Result<(Option<Stored>, bool, i64)> {
    let mut tx = iam.store.begin_write().await?;
    if min_interval_ms > 0 {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(7243514801)").fetch_one(&mut *tx).await?;
        if !got {
            return Ok((None, false, 0));
        }
    } else {
        sqlx::query("SELECT pg_advisory_xact_lock(7243514801)").execute(&mut *tx).await?;
    }
    // Every transaction below the oldest one still running has finished: its rows are final.
    let end_cursor: i64 = match until {
        Some(u) => u,
        None => sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint - 1").fetch_one(&mut *tx).await?,
    };
    // Read once the lock is held: a wait for another node's digest is not counted in this one.
    let now = iam.clock.now_ms();
    let Some((prev, start_cursor)) = previous(&mut tx, now, min_interval_ms).await? else { return Ok((None, false, 0)) };
    let end_all = end_cursor.max(start_cursor);
    let (end_cursor, more) = capped_end(&mut tx, Backend::Postgres, start_cursor, end_all).await?;
    let rows = rows_between(&mut *tx, Backend::Postgres, start_cursor, end_cursor).await?;
    let d = compose(keys, prev.as_ref(), start_cursor, end_cursor, &rows, now);
    insert(&mut tx, &d, now).await?;
    tx.commit().await?;
    tracing::info!(digest = d.digest_no, rows = rows.len(), "audit digest made");
    Ok((Some(d), more, end_all))
}

/// SQLite: the rows are read and hashed in a read snapshot, with no lock that would hold the API's
/// writes; only the insert of the digest takes the write lock, after checking that no other digest
/// was made meanwhile (then it starts over from that one).
async fn make_sqlite(iam: &Iam, keys: &KeyPair, min_interval_ms: i64, until: Option<i64>) -> anyhow::Result<(Option<Stored>, bool, i64)> {
    loop {
        let mut rx = iam.store.read.begin().await?;
        // In this snapshot every row up to the newest is final: seq is max + 1 and commits are
        // serial, so no row below it can appear later.
        let newest: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM audit_log").fetch_one(&mut *rx).await?;
        let end_all = until.unwrap_or(newest).min(newest);
        let now = iam.clock.now_ms();
        let Some((prev, start_cursor)) = previous(&mut rx, now, min_interval_ms).await? else { return Ok((None, false, 0)) };
        let (end_cursor, more) = capped_end(&mut rx, Backend::Sqlite, start_cursor, end_all.max(start_cursor)).await?;
        let rows = rows_between(&mut *rx, Backend::Sqlite, start_cursor, end_cursor).await?;
        rx.commit().await?;
        let d = compose(keys, prev.as_ref(), start_cursor, end_cursor, &rows, now);
        let mut tx = iam.store.begin_write().await?;
        let newest_digest: Option<i64> = sqlx::query_scalar("SELECT MAX(digest_no) FROM audit_digests").fetch_one(&mut *tx).await?;
        if newest_digest != prev.as_ref().map(|p| p.digest_no) {
            // Another maker (a command line beside the server) got there first.
            drop(tx);
            if min_interval_ms > 0 {
                return Ok((None, false, 0));
            }
            continue;
        }
        insert(&mut tx, &d, now).await?;
        tx.commit().await?;
        tracing::info!(digest = d.digest_no, rows = rows.len(), "audit digest made");
        return Ok((Some(d), more, end_all));
    }
}

/// The newest digest and the cursor the next one starts after; None when that digest is younger
/// than `min_interval_ms`.
async fn previous(conn: &mut sqlx::AnyConnection, now: i64, min_interval_ms: i64) -> anyhow::Result<Option<(Option<Stored>, i64)>> {
    let q = format!("SELECT {STORED_COLS} FROM audit_digests ORDER BY digest_no DESC LIMIT 1");
    let prev: Option<Stored> = sqlx::query_as(&q).fetch_optional(&mut *conn).await?.map(stored);
    if prev.as_ref().is_some_and(|p| now - p.end_ms < min_interval_ms) {
        return Ok(None);
    }
    let start = prev.as_ref().map(|p| p.end_cursor).unwrap_or(FIRST_CURSOR);
    Ok(Some((prev, start)))
}

/// The signed digest of `rows`, the range (start_cursor, end_cursor], following `prev`.
fn compose(keys: &KeyPair, prev: Option<&Stored>, start_cursor: i64, end_cursor: i64, rows: &[Row], now: i64) -> Stored {
    let digest_no = prev.map(|p| p.digest_no + 1).unwrap_or(1);
    let start_ms = prev.map(|p| p.end_ms).unwrap_or_else(|| rows.iter().map(|r| r.first_ms).min().unwrap_or(now));
    let end_ms = now.max(start_ms);
    let files = log_files(rows);
    let object_key = digest_object(digest_no, end_ms);
    let log_entries: Vec<Value> = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            json!({
                "s3Bucket": BUCKET,
                "s3Object": log_object(f, digest_no, i, end_ms),
                "hashValue": sha256_hex(f.content().as_bytes()),
                "hashAlgorithm": "SHA-256",
                "newestEventTime": iso8601(f.newest_ms()),
                "oldestEventTime": iso8601(f.oldest_ms()),
                "iamdAccount": f.account,
                "iamdFirstSeq": f.rows.first().map(|r| r.seq),
                "iamdLastSeq": f.rows.last().map(|r| r.seq),
                "iamdRecords": f.record_count(),
                "iamdRecordSetHash": f.set_hash(),
            })
        })
        .collect();
    let oldest = rows.iter().map(|r| r.first_ms).min();
    let newest = rows.iter().map(|r| r.last_ms).max();
    let end_time = iso8601(end_ms);
    let body = json!({
        "awsAccountId": TRAIL_ACCOUNT,
        "digestStartTime": iso8601(start_ms),
        "digestEndTime": end_time,
        "digestS3Bucket": BUCKET,
        "digestS3Object": object_key,
        "digestPublicKeyFingerprint": keys.fingerprint(),
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": newest.map(iso8601),
        "oldestEventTime": oldest.map(iso8601),
        "previousDigestS3Bucket": prev.map(|_| BUCKET),
        "previousDigestS3Object": prev.map(|p| p.object_key.clone()),
        "previousDigestHashValue": prev.map(|p| sha256_hex(p.body.as_bytes())),
        "previousDigestHashAlgorithm": prev.map(|_| "SHA-256"),
        "previousDigestSignature": prev.map(|p| p.signature.clone()),
        "logFiles": log_entries,
        "iamdDigestNumber": digest_no,
        "iamdStartCursor": start_cursor,
        "iamdEndCursor": end_cursor,
    })
    .to_string();
    let to_sign = string_to_sign(&end_time, &object_key, &body, prev.map(|p| p.signature.as_str()));
    let signature = hex::encode(SigningKey::<Sha256>::new(keys.key.clone()).sign(to_sign.as_bytes()).to_vec());
    Stored { digest_no, start_cursor, end_cursor, start_ms, end_ms, object_key, body, signature }
}

async fn insert(tx: &mut sqlx::AnyConnection, d: &Stored, now: i64) -> anyhow::Result<()> {
    sqlx::query(&format!("INSERT INTO audit_digests ({STORED_COLS}, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
        .bind(d.digest_no)
        .bind(d.start_cursor)
        .bind(d.end_cursor)
        .bind(d.start_ms)
        .bind(d.end_ms)
        .bind(&d.object_key)
        .bind(&d.body)
        .bind(&d.signature)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

// ---- verifying ----

#[derive(Debug, Default)]
pub struct Report {
    pub digests: usize,
    pub records: i64,
    pub problems: Vec<String>,
    pub notes: Vec<String>,
}

/// What the chain alone cannot show: that its tail was cut. `expect` is a digest known from outside
/// the database (number, SHA-256 of its body); `max_age_s` how old the newest digest may be.
pub async fn check_tail(iam: &Iam, expect: Option<(i64, String)>, max_age_s: Option<i64>) -> anyhow::Result<Vec<String>> {
    let digests = all(iam).await?;
    let mut problems = Vec::new();
    if let Some((n, hash)) = expect {
        match digests.iter().find(|d| d.digest_no == n) {
            None => problems.push(format!(
                "digest {n}, which you expected, is not in the chain: its tail was cut (the newest is {})",
                digests.last().map_or("none".into(), |d| d.digest_no.to_string())
            )),
            Some(d) if sha256_hex(d.body.as_bytes()) != hash => {
                problems.push(format!("digest {n} is not the one you expected (its SHA-256 differs): the chain was rewritten"))
            }
            Some(_) => {}
        }
    }
    if let Some(max) = max_age_s {
        let now = chrono::Utc::now().timestamp_millis();
        match digests.last() {
            Some(d) if now - d.end_ms > max * 1000 => problems.push(format!(
                "the newest digest ({}) ended {} s ago, more than --max-age {max} s: newer digests were removed, or digests stopped",
                d.digest_no,
                (now - d.end_ms) / 1000
            )),
            Some(_) => {}
            None => {
                let oldest: Option<i64> = sqlx::query_scalar("SELECT MIN(first_ms) FROM audit_log").fetch_one(&iam.store.read).await?;
                if oldest.is_some_and(|t| now - t > max * 1000) {
                    problems.push(format!("records older than --max-age {max} s are covered by no digest"));
                }
            }
        }
    }
    Ok(problems)
}

/// What a prune's signature covers.
fn prune_to_sign(through_digest: i64, digest_body: &str, before_ms: i64, pruned_at: i64) -> String {
    format!("iamd-prune\n{through_digest}\n{}\n{before_ms}\n{pruned_at}", sha256_hex(digest_body.as_bytes()))
}

/// Every prune row with whether its signature holds (against the digest it names).
async fn signed_prunes(iam: &Iam, key: &KeyPair, digests: &[Stored]) -> anyhow::Result<Vec<(i64, i64, i64, bool)>> {
    let rows: Vec<(i64, i64, i64, i64, Option<String>)> =
        sqlx::query_as("SELECT prune_no, through_digest, before_ms, pruned_at, signature FROM audit_prunes ORDER BY prune_no")
            .fetch_all(&iam.store.read)
            .await?;
    let verifier = VerifyingKey::<Sha256>::new(key.public());
    Ok(rows
        .into_iter()
        .map(|(no, through, before, at, sig)| {
            let ok = digests.iter().find(|d| d.digest_no == through).is_some_and(|d| {
                let msg = prune_to_sign(through, &d.body, before, at);
                sig.as_deref()
                    .and_then(|s| hex::decode(s).ok())
                    .and_then(|s| Signature::try_from(s.as_slice()).ok())
                    .is_some_and(|s| verifier.verify(msg.as_bytes(), &s).is_ok())
            });
            (no, through, before, ok)
        })
        .collect())
}

/// The digest through which records were pruned, if any, and when.
pub async fn pruned_through(iam: &Iam) -> anyhow::Result<Option<(i64, i64)>> {
    Ok(sqlx::query_as("SELECT through_digest, before_ms FROM audit_prunes ORDER BY prune_no DESC LIMIT 1").fetch_optional(&iam.store.read).await?)
}

/// Walks the chain from the first digest to the last and checks every digest and every record.
pub async fn verify(iam: &Iam) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let digests = all(iam).await?;
    let key = load_key(iam).await?;
    // Only a prune the audit key signed excuses missing records; any other prune row is a finding.
    let mut pruned: Option<(i64, i64)> = None;
    if let Some(k) = &key {
        for (no, through, before, ok) in signed_prunes(iam, k, &digests).await? {
            if ok {
                pruned = Some((through, before));
            } else {
                report.problems.push(format!(
                    "prune {no} (through digest {through}) is not signed by the audit key: records may have been deleted outside `iamd audit prune`"
                ));
            }
        }
    }
    if digests.is_empty() {
        report.notes.push("no digest has been made yet: run `iamd audit digest`".into());
    }
    let Some(key) = key else {
        if !digests.is_empty() {
            report.problems.push("the audit signing key is missing from the database".into());
        }
        return Ok(report);
    };
    let verifier = VerifyingKey::<Sha256>::new(key.public());
    let fp = key.fingerprint();
    let mut prev: Option<&Stored> = None;
    for d in &digests {
        report.digests += 1;
        let n = d.digest_no;
        let expected_no = prev.map(|p| p.digest_no + 1).unwrap_or(1);
        if n != expected_no {
            report.problems.push(format!("digests {expected_no}–{} are missing (removed from the chain)", n - 1));
        }
        let body: Value = match serde_json::from_str(&d.body) {
            Ok(v) => v,
            Err(_) => {
                report.problems.push(format!("digest {n} is not valid JSON (altered)"));
                prev = Some(d);
                continue;
            }
        };
        let end_time = body["digestEndTime"].as_str().unwrap_or("");
        let object = body["digestS3Object"].as_str().unwrap_or("");
        let to_sign = string_to_sign(end_time, object, &d.body, body["previousDigestSignature"].as_str());
        let sig_ok = hex::decode(&d.signature)
            .ok()
            .and_then(|s| Signature::try_from(s.as_slice()).ok())
            .is_some_and(|s| verifier.verify(to_sign.as_bytes(), &s).is_ok());
        if !sig_ok {
            report.problems.push(format!("digest {n}: the signature does not match (the digest was altered)"));
        }
        if body["digestPublicKeyFingerprint"].as_str() != Some(fp.as_str()) {
            report.problems.push(format!("digest {n} names another signing key ({})", body["digestPublicKeyFingerprint"]));
        }
        match prev {
            Some(p) => {
                if body["previousDigestHashValue"].as_str() != Some(sha256_hex(p.body.as_bytes()).as_str())
                    || body["previousDigestSignature"].as_str() != Some(p.signature.as_str())
                {
                    report.problems.push(format!("digest {n} does not chain to digest {} (a digest was altered or replaced)", p.digest_no));
                }
            }
            None => {
                if !body["previousDigestSignature"].is_null() && n == 1 {
                    report.problems.push("digest 1 names a previous digest".into());
                }
            }
        }
        // The range comes from the signed body, not from the row's columns.
        let (start, end) = (body["iamdStartCursor"].as_i64().unwrap_or(d.start_cursor), body["iamdEndCursor"].as_i64().unwrap_or(d.end_cursor));
        if let Some(p) = prev {
            if start != p.end_cursor {
                report.problems.push(format!("digest {n} does not start where digest {} ends", p.digest_no));
            }
        }
        if pruned.is_some_and(|(through, _)| n <= through) {
            prev = Some(d);
            continue;
        }
        let rows = rows_in(iam, start, end).await?;
        let mut claimed = vec![false; rows.len()];
        for (i, f) in body["logFiles"].as_array().cloned().unwrap_or_default().iter().enumerate() {
            let account = f["iamdAccount"].as_str().unwrap_or("");
            let (first, last) = (f["iamdFirstSeq"].as_i64().unwrap_or(i64::MAX), f["iamdLastSeq"].as_i64().unwrap_or(i64::MIN));
            let mut file = LogFile { account: account.to_string(), rows: Vec::new() };
            for (j, r) in rows.iter().enumerate() {
                if r.account == account && r.seq >= first && r.seq <= last {
                    claimed[j] = true;
                    file.rows.push(r.clone());
                }
            }
            let want = f["iamdRecords"].as_i64().unwrap_or(-1);
            let got = file.record_count();
            report.records += got.min(want.max(0));
            let place = format!(
                "digest {n}, log file {} ({}: account {}, rows seq {first}–{last})",
                i + 1,
                f["s3Object"].as_str().unwrap_or(""),
                if account.is_empty() { "unattributed" } else { account }
            );
            if got < want {
                report.problems.push(format!("removed: {} record(s) missing from {place}", want - got));
            } else if got > want {
                report.problems.push(format!("inserted: {} record(s) added to {place}", got - want));
            } else if f["hashValue"].as_str() != Some(sha256_hex(file.content().as_bytes()).as_str()) {
                if f["iamdRecordSetHash"].as_str() == Some(file.set_hash().as_str()) {
                    report.problems.push(format!("reordered: the records of {place} are in another order"));
                } else {
                    report.problems.push(format!("altered: a record of {place} was changed"));
                }
            }
        }
        for (j, r) in rows.iter().enumerate() {
            if !claimed[j] {
                report.problems.push(format!(
                    "inserted: row seq {} ({} record(s), account {}) lies in digest {n}'s range but is in none of its log files",
                    r.seq,
                    r.n,
                    if r.account.is_empty() { "unattributed" } else { &r.account }
                ));
            }
        }
        prev = Some(d);
    }
    if let Some((through, before)) = pruned {
        report.notes.push(format!("records of digests 1–{through} were pruned (older than {}); their digests were checked", iso8601(before)));
    }
    let last_end = digests.last().map(|d| d.end_cursor).unwrap_or(FIRST_CURSOR);
    let col = cursor_col(iam.store.backend);
    let tail: i64 = sqlx::query_scalar(&format!("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM audit_log WHERE {col} > $1"))
        .bind(last_end)
        .fetch_one(&iam.store.read)
        .await?;
    if tail > 0 {
        report.notes.push(format!("{tail} record(s) newer than the last digest are not covered yet"));
    }
    Ok(report)
}

// ---- pruning ----

/// Removes the records of every digest whose records are all older than `before_ms`, through the
/// one path the database allows, and records that it did. Returns (digest, rows removed).
pub async fn prune(iam: &Iam, before_ms: i64) -> anyhow::Result<Option<(i64, u64)>> {
    // Everything up to now is digested first, so pruning never removes an undigested record.
    make(iam, 0).await?;
    let digests = all(iam).await?;
    // A digest's records were all written before it was made, so a digest made before the cutoff
    // holds only older records; digests end in order.
    let through = digests.iter().take_while(|d| d.end_ms <= before_ms).last();
    let Some(d) = through else { return Ok(None) };
    if pruned_through(iam).await?.is_some_and(|(t, _)| t >= d.digest_no) {
        return Ok(Some((d.digest_no, 0)));
    }
    let now = iam.clock.now_ms();
    // Signed before the transaction opens (on SQLite the key is read through the one writer).
    let keys = key_pair(iam).await?;
    let signature = hex::encode(SigningKey::<Sha256>::new(keys.key.clone()).sign(prune_to_sign(d.digest_no, &d.body, before_ms, now).as_bytes()).to_vec());
    let mut event = crate::audit::Event::new(now, "iamd.audit", "PruneAuditRecords");
    cli_identity(&mut event);
    event.params_json = Some(json!({"before": iso8601(before_ms), "throughDigest": d.digest_no}));
    event.response = Some(json!({"recordsThrough": iso8601(d.end_ms)}));
    let mut tx = iam.store.begin_write().await?;
    // The prune's own record goes in first: it is then the newest row, which keeps seq increasing
    // on SQLite (seq is max + 1) even when every older row goes.
    let (line, summary) = event.rendered();
    crate::audit::index::insert_one(&mut tx, &event.account, event.time_ms, &line, &summary).await?;
    sqlx::query("INSERT INTO audit_prunes (through_digest, before_ms, pruned_at, signature) VALUES ($1, $2, $3, $4)")
        .bind(d.digest_no)
        .bind(before_ms)
        .bind(now)
        .bind(signature)
        .execute(&mut *tx)
        .await?;
    let col = cursor_col(iam.store.backend);
    // The index goes with the records it points at (it is derived data, outside the append-only
    // rules); the sign-in counters of whole days before the cutoff go too.
    sqlx::query(&format!("DELETE FROM audit_index WHERE seq IN (SELECT seq FROM audit_log WHERE {col} <= $1)")).bind(d.end_cursor).execute(&mut *tx).await?;
    sqlx::query(&format!("DELETE FROM audit_event_ids WHERE seq IN (SELECT seq FROM audit_log WHERE {col} <= $1)"))
        .bind(d.end_cursor)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM signin_daily WHERE day < $1").bind(before_ms.div_euclid(86_400_000)).execute(&mut *tx).await?;
    let removed = sqlx::query(&format!("DELETE FROM audit_log WHERE {col} <= $1")).bind(d.end_cursor).execute(&mut *tx).await?.rows_affected();
    tx.commit().await?;
    Ok(Some((d.digest_no, removed)))
}

/// userIdentity for the administrative command line.
pub fn cli_identity(e: &mut crate::audit::Event) {
    let who = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    e.event_type = "AwsServiceEvent";
    e.identity = crate::audit::Identity { kind: "AWSService", invoked_by: Some(format!("iamd-cli ({who})")), ..Default::default() };
    e.source_ip = "iamd-cli".into();
    e.user_agent = format!("iamd/{}", env!("CARGO_PKG_VERSION"));
}

// ---- export ----

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data)?;
    e.finish()
}

/// Writes the log files and digests of every digest ending at or after `since_ms` into `dir` in
/// CloudTrail's layout; each digest's signature goes beside it (`….json.gz.sig.json`, standing in for
/// S3's object metadata). Returns (log files, digests).
pub async fn export(iam: &Iam, since_ms: i64, dir: &std::path::Path, mut progress: impl FnMut(usize, usize)) -> anyhow::Result<(usize, usize)> {
    let digests = all(iam).await?;
    let pruned = pruned_through(iam).await?;
    let chosen: Vec<&Stored> = digests.iter().filter(|d| d.end_ms >= since_ms).collect();
    let (mut files, mut written) = (0, 0);
    for (i, d) in chosen.iter().enumerate() {
        progress(i + 1, chosen.len());
        let body: Value = serde_json::from_str(&d.body)?;
        if pruned.is_none_or(|(t, _)| d.digest_no > t) {
            let rows = rows_in(iam, d.start_cursor, d.end_cursor).await?;
            let entries = body["logFiles"].as_array().cloned().unwrap_or_default();
            for (f, entry) in log_files(&rows).iter().zip(entries.iter()) {
                let key = entry["s3Object"].as_str().unwrap_or("");
                write_file(dir, key, &gzip(f.content().as_bytes())?)?;
                files += 1;
            }
        }
        write_file(dir, &d.object_key, &gzip(d.body.as_bytes())?)?;
        let meta = json!({"x-amz-meta-signature": d.signature, "x-amz-meta-signature-algorithm": "SHA256withRSA"});
        write_file(dir, &format!("{}.sig.json", d.object_key), meta.to_string().as_bytes())?;
        written += 1;
    }
    Ok((files, written))
}

fn write_file(dir: &std::path::Path, key: &str, data: &[u8]) -> anyhow::Result<()> {
    if key.is_empty() || key.contains("..") {
        bail!("refusing to write object {key:?}");
    }
    let path = dir.join(key);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&path, data).with_context(|| format!("writing {}", path.display()))
}

/// Every record since `since_ms`, oldest first, one JSON line each (for a SIEM).
pub async fn stream_jsonl(iam: &Iam, since_ms: i64, out: &mut impl std::io::Write) -> anyhow::Result<u64> {
    let mut seq = i64::MIN;
    let mut count = 0;
    loop {
        let rows: Vec<(i64, String, Option<Vec<u8>>)> =
            sqlx::query_as("SELECT seq, body, body_z FROM audit_log WHERE seq > $1 AND last_ms >= $2 ORDER BY seq LIMIT 500")
                .bind(seq)
                .bind(since_ms)
                .fetch_all(&iam.store.read)
                .await?;
        let rows: Vec<(i64, String)> = rows.into_iter().map(|(s, b, z)| (s, crate::audit::row_body(b, z))).collect();
        let Some(last) = rows.last() else { break };
        seq = last.0;
        for (_, body) in &rows {
            for line in body.split('\n') {
                let t = serde_json::from_str::<Value>(line)
                    .ok()
                    .and_then(|v| v["eventTime"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.timestamp_millis()));
                if t.unwrap_or(0) >= since_ms - since_ms.rem_euclid(1000) {
                    out.write_all(line.as_bytes())?;
                    out.write_all(b"\n")?;
                    count += 1;
                }
            }
        }
    }
    out.flush()?;
    Ok(count)
}

/// Makes digests on a schedule and prunes by retention; on every node (one wins each digest).
pub fn start_schedule(iam: Iam, interval: std::time::Duration, retention_days: Option<u32>) {
    tokio::spawn(async move {
        // Ticks well inside the interval, so a digest is never late by a whole interval.
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5).min(interval / 4).max(std::time::Duration::from_millis(100)));
        loop {
            tick.tick().await;
            iam.audit.flush().await;
            if let Err(e) = make(&iam, interval.as_millis() as i64).await {
                tracing::warn!(error = %e, "making an audit digest failed");
            }
            if let Some(days) = retention_days {
                let before = iam.clock.now_ms() - days as i64 * 86_400_000;
                if let Err(e) = prune_if_due(&iam, before).await {
                    tracing::warn!(error = %e, "pruning audit records failed");
                }
            }
        }
    });
}

/// Prunes only when a digest not yet pruned has aged out, so the schedule does not make a digest
/// on every tick.
async fn prune_if_due(iam: &Iam, before: i64) -> anyhow::Result<()> {
    let done = pruned_through(iam).await?.map(|(t, _)| t).unwrap_or(0);
    let due = all(iam).await?.iter().any(|d| d.digest_no > done && d.end_ms <= before);
    if due {
        if let Some((d, n)) = prune(iam, before).await? {
            tracing::info!(through_digest = d, rows = n, "audit records pruned by retention");
        }
    }
    Ok(())
}
