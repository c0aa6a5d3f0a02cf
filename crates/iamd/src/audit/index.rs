//! LookupEvents' index, kept as records are appended, in the transaction that appends them.
//!
//! The index is derived data: `audit_log` stays the record (verify reads only it and never trusts
//! the index), prune removes index rows with the records, and a data directory from before the index
//! gets it by [`backfill`] at start-up. Three tables:
//! - `audit_index`: one row per (row of the trail, lookup attribute, value) — not per record: a row
//!   holds up to [`MAX_ROW_RECORDS`] records of one account, and the index row's `mask` says which of
//!   them hold the value (bit i: the row's i-th record; -1: look at every record, for older rows with
//!   more than 64). Its key `k` is a hash of (account, attribute, value), ordered by (first_ms, seq) so
//!   a page is a range scan, newest first, from where the last page ended.
//! - EventId is the one attribute whose value is new with every record. iamd's event ids are UUIDs
//!   (v7) that carry the record's own millisecond, so a lookup finds the row by that time, through
//!   the (account, first_ms) index the row already has: no entry per record. `audit_event_ids`
//!   (keyed by the id's leading 64 bits) holds only the ids that lookup cannot find so: ids that are
//!   not v7, and ids whose time lies outside their row's [first_ms, last_ms] (rows written before
//!   this rule have an entry for every record).
//! - `signin_daily`: successful console sign-ins per account, day, user ('' for all) and kind of MFA
//!   device, for the console's chart.

use serde_json::Value;
use sha2::Digest;

/// The most records in one row of the trail (the group commit starts a new row past it), so a row's
/// records fit the index's 64-bit mask.
pub const MAX_ROW_RECORDS: usize = 64;
/// The most time between a row's first and last record (the group commit starts a new row past it):
/// a lookup merges rows that overlap in time, and reads ahead this far to know none still unread
/// holds a newer event.
pub const MAX_ROW_SPAN_MS: i64 = 1_000;

/// LookupEvents' eight lookup attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Attribute {
    EventId,
    EventName,
    ReadOnly,
    Username,
    ResourceType,
    ResourceName,
    EventSource,
    AccessKeyId,
}

impl Attribute {
    pub const ALL: [Attribute; 8] = [
        Attribute::EventId,
        Attribute::EventName,
        Attribute::ReadOnly,
        Attribute::Username,
        Attribute::ResourceType,
        Attribute::ResourceName,
        Attribute::EventSource,
        Attribute::AccessKeyId,
    ];

    /// The attribute's name in CloudTrail's API (`AttributeKey`).
    pub fn name(self) -> &'static str {
        match self {
            Attribute::EventId => "EventId",
            Attribute::EventName => "EventName",
            Attribute::ReadOnly => "ReadOnly",
            Attribute::Username => "Username",
            Attribute::ResourceType => "ResourceType",
            Attribute::ResourceName => "ResourceName",
            Attribute::EventSource => "EventSource",
            Attribute::AccessKeyId => "AccessKeyId",
        }
    }

    pub fn parse(name: &str) -> Option<Attribute> {
        Attribute::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// The kinds of second factor the console's chart counts sign-ins by (the index into this is the
/// `kind` column of `signin_daily`).
pub const SIGN_IN_KINDS: [&str; 4] = ["Authenticator app", "Passkey or security key", "Hardware TOTP token", "No MFA"];

/// The kind of second factor a ConsoleLogin record's additionalEventData names (an index into
/// [`SIGN_IN_KINDS`]).
pub fn sign_in_kind(additional: &Value) -> usize {
    let id = additional["MFAIdentifier"].as_str().unwrap_or("");
    if additional["MFAUsed"].as_str() != Some("Yes") || id.is_empty() {
        3
    } else if id.contains(":u2f/") {
        1
    } else if id.contains(":mfa/") {
        0
    } else {
        2
    }
}

/// The fields of a record a lookup sees (and the index keeps).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub event_id: String,
    pub event_name: String,
    pub read_only: bool,
    pub access_key_id: String,
    pub time_ms: i64,
    pub source: String,
    pub username: Option<String>,
    pub resources: Vec<(&'static str, String)>,
    /// A successful console sign-in: the kind of second factor used.
    pub sign_in: Option<usize>,
}

/// LookupEvents' `Username`: root for the root user, the session name for a role session, else the
/// identity's user name.
pub fn username_of(kind: &str, arn: &str, user_name: Option<&str>) -> Option<String> {
    match kind {
        "Root" => Some("root".to_string()),
        "AssumedRole" => (!arn.is_empty()).then(|| arn.rsplit('/').next().unwrap_or("").to_string()),
        _ => user_name.map(str::to_string),
    }
}

/// LookupEvents' resources: what the request's parameters name.
pub fn resources_of(params: &Value) -> Vec<(&'static str, String)> {
    let mut resources = Vec::new();
    if let Some(p) = params.as_object() {
        for (k, t) in [
            ("userName", "AWS::IAM::User"),
            ("roleName", "AWS::IAM::Role"),
            ("roleArn", "AWS::IAM::Role"),
            ("groupName", "AWS::IAM::Group"),
            ("policyArn", "AWS::IAM::Policy"),
            ("serialNumber", "AWS::IAM::MFADevice"),
            ("accessKeyId", "AWS::IAM::AccessKey"),
        ] {
            if let Some(v) = p.get(k).and_then(|v| v.as_str()) {
                resources.push((t, v.to_string()));
            }
        }
    }
    resources
}

/// A stored record's summary.
pub fn summarize(rec: &Value) -> Summary {
    let id = &rec["userIdentity"];
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let time_ms = rec["eventTime"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.timestamp_millis()).unwrap_or(0);
    let sign_in =
        (rec["eventName"] == "ConsoleLogin" && rec["responseElements"]["ConsoleLogin"] == "Success").then(|| sign_in_kind(&rec["additionalEventData"]));
    Summary {
        event_id: s(&rec["eventID"]),
        event_name: s(&rec["eventName"]),
        read_only: rec["readOnly"].as_bool().unwrap_or(false),
        access_key_id: s(&id["accessKeyId"]),
        time_ms,
        source: s(&rec["eventSource"]),
        username: username_of(id["type"].as_str().unwrap_or(""), id["arn"].as_str().unwrap_or(""), id["userName"].as_str()),
        resources: resources_of(&rec["requestParameters"]),
        sign_in,
    }
}

impl Summary {
    /// The (attribute, value) pairs a lookup can find this record by, EventId aside.
    pub fn values(&self) -> impl Iterator<Item = (Attribute, &str)> {
        let one = [
            Some((Attribute::EventName, self.event_name.as_str())),
            Some((Attribute::ReadOnly, if self.read_only { "true" } else { "false" })),
            self.username.as_deref().map(|u| (Attribute::Username, u)),
            Some((Attribute::EventSource, self.source.as_str())),
            (!self.access_key_id.is_empty()).then_some((Attribute::AccessKeyId, self.access_key_id.as_str())),
        ];
        one.into_iter()
            .flatten()
            .chain(self.resources.iter().map(|(t, _)| (Attribute::ResourceType, *t)))
            .chain(self.resources.iter().map(|(_, n)| (Attribute::ResourceName, n.as_str())))
    }

    /// Whether the record has this attribute's value.
    pub fn has(&self, a: Attribute, v: &str) -> bool {
        match a {
            Attribute::EventId => self.event_id == v,
            _ => self.values().any(|(b, w)| b == a && w == v),
        }
    }
}

/// The index key of an account's (attribute, value).
pub fn key(account: &str, a: Attribute, value: &str) -> i64 {
    let mut h = sha2::Sha256::new();
    h.update(account.as_bytes());
    h.update([0]);
    h.update(a.name().as_bytes());
    h.update([0]);
    h.update(value.as_bytes());
    let d = h.finalize();
    i64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

/// The key of an event id: a UUID's leading 64 bits (time-ordered for the v7 ids iamd makes), or a
/// hash of anything else.
pub fn event_key(event_id: &str) -> i64 {
    match uuid::Uuid::try_parse(event_id) {
        Ok(u) => i64::from_be_bytes(u.as_bytes()[..8].try_into().expect("8 bytes")),
        Err(_) => key("", Attribute::EventId, event_id),
    }
}

/// The millisecond a version 7 UUID starts with; `None` for anything else.
pub fn event_time_ms(event_id: &str) -> Option<i64> {
    let u = uuid::Uuid::try_parse(event_id).ok()?;
    (u.get_version_num() == 7).then(|| {
        let b = u.as_bytes();
        i64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
    })
}

/// What one row of the trail adds to the index.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RowIndex {
    /// (key, mask), one per distinct (attribute, value), sorted by key.
    pub keys: Vec<(i64, i64)>,
    /// (key, the millisecond a v7 id carries), one per distinct key, sorted by key.
    pub event_ids: Vec<(i64, Option<i64>)>,
    /// ((day, user or '' for all, kind), count).
    pub sign_ins: Vec<((i64, String, i64), i64)>,
}

impl RowIndex {
    /// The index entries of a row of `account`'s records, in the row's order.
    pub fn of<'a>(account: &str, records: impl IntoIterator<Item = &'a Summary>) -> RowIndex {
        let mut masks: std::collections::HashMap<(Attribute, &str), i64> = std::collections::HashMap::new();
        let mut event_ids = Vec::new();
        let mut sign_ins: std::collections::BTreeMap<(i64, String, i64), i64> = std::collections::BTreeMap::new();
        for (i, s) in records.into_iter().enumerate() {
            let bit = if i < 64 { 1i64 << i } else { -1 };
            for v in s.values() {
                *masks.entry(v).or_default() |= bit;
            }
            event_ids.push((event_key(&s.event_id), event_time_ms(&s.event_id)));
            if let Some(kind) = s.sign_in {
                let day = s.time_ms.div_euclid(86_400_000);
                *sign_ins.entry((day, String::new(), kind as i64)).or_default() += 1;
                if let Some(u) = &s.username {
                    *sign_ins.entry((day, u.clone(), kind as i64)).or_default() += 1;
                }
            }
        }
        let mut keys: Vec<(i64, i64)> = masks.into_iter().map(|((a, v), m)| (key(account, a, v), m)).collect();
        keys.sort_unstable();
        keys.dedup_by(|b, a| {
            // Two values with one key (a hash collision): one entry that checks both sets of records.
            if a.0 == b.0 {
                a.1 |= b.1;
                true
            } else {
                false
            }
        });
        event_ids.sort_unstable();
        event_ids.dedup_by_key(|e| e.0);
        RowIndex { keys, event_ids, sign_ins: sign_ins.into_iter().collect() }
    }

    /// The event ids of a row spanning [first_ms, last_ms] that a lookup cannot find by their time:
    /// the ones `audit_event_ids` holds.
    pub fn event_id_entries(&self, first_ms: i64, last_ms: i64) -> impl Iterator<Item = i64> + '_ {
        self.event_ids.iter().filter(move |(_, t)| !t.is_some_and(|t| first_ms <= t && t <= last_ms)).map(|(k, _)| *k)
    }

    /// Writes the entries for row `seq` through the SQLite writer thread's connection.
    pub fn write_rusqlite(&self, conn: &rusqlite::Connection, account: &str, seq: i64, first_ms: i64, last_ms: i64) -> rusqlite::Result<()> {
        let mut st = conn.prepare_cached("INSERT OR IGNORE INTO audit_index (k, first_ms, seq, last_ms, mask) VALUES (?1, ?2, ?3, ?4, ?5)")?;
        for (k, m) in &self.keys {
            st.execute(rusqlite::params![k, first_ms, seq, last_ms, m])?;
        }
        let mut st = conn.prepare_cached("INSERT OR IGNORE INTO audit_event_ids (k, seq) VALUES (?1, ?2)")?;
        for k in self.event_id_entries(first_ms, last_ms) {
            st.execute(rusqlite::params![k, seq])?;
        }
        if !self.sign_ins.is_empty() {
            let mut st = conn.prepare_cached(UPSERT_SIGN_IN_RUSQLITE)?;
            for ((day, user, kind), n) in &self.sign_ins {
                st.execute(rusqlite::params![account, day, user, kind, n])?;
            }
        }
        Ok(())
    }

    /// Writes the entries for row `seq` in `conn`'s transaction: a few statements per row, not one
    /// per entry.
    pub async fn write(&self, conn: &mut sqlx::AnyConnection, account: &str, seq: i64, first_ms: i64, last_ms: i64) -> Result<(), sqlx::Error> {
        for chunk in self.keys.chunks(500) {
            let mut sql = String::from("INSERT INTO audit_index (k, first_ms, seq, last_ms, mask) VALUES ");
            for i in 0..chunk.len() {
                let b = i * 2;
                sql.push_str(&format!("{}(${}, $1, $2, $3, ${})", if i > 0 { ", " } else { "" }, b + 4, b + 5));
            }
            sql.push_str(" ON CONFLICT DO NOTHING");
            let mut q = sqlx::query(&sql).bind(first_ms).bind(seq).bind(last_ms);
            for (k, m) in chunk {
                q = q.bind(*k).bind(*m);
            }
            q.execute(&mut *conn).await?;
        }
        let event_ids: Vec<i64> = self.event_id_entries(first_ms, last_ms).collect();
        for chunk in event_ids.chunks(1000) {
            let mut sql = String::from("INSERT INTO audit_event_ids (k, seq) VALUES ");
            for i in 0..chunk.len() {
                sql.push_str(&format!("{}(${}, $1)", if i > 0 { ", " } else { "" }, i + 2));
            }
            sql.push_str(" ON CONFLICT DO NOTHING");
            let mut q = sqlx::query(&sql).bind(seq);
            for k in chunk {
                q = q.bind(*k);
            }
            q.execute(&mut *conn).await?;
        }
        for ((day, user, kind), n) in &self.sign_ins {
            sqlx::query(UPSERT_SIGN_IN).bind(account).bind(day).bind(user).bind(kind).bind(n).execute(&mut *conn).await?;
        }
        Ok(())
    }
}

const UPSERT_SIGN_IN: &str = "INSERT INTO signin_daily (account_id, day, user_name, kind, n) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (account_id, day, user_name, kind) DO UPDATE SET n = signin_daily.n + excluded.n";
const UPSERT_SIGN_IN_RUSQLITE: &str = "INSERT INTO signin_daily (account_id, day, user_name, kind, n) VALUES (?1, ?2, ?3, ?4, ?5) \
     ON CONFLICT (account_id, day, user_name, kind) DO UPDATE SET n = signin_daily.n + excluded.n";

/// Inserts one record as its own row with its index entries, in `conn`'s transaction.
pub async fn insert_one(conn: &mut sqlx::AnyConnection, account: &str, time_ms: i64, line: &str, summary: &Summary) -> Result<(), sqlx::Error> {
    let seq: i64 = sqlx::query_scalar("INSERT INTO audit_log (account_id, first_ms, last_ms, n, body) VALUES ($1, $2, $2, 1, $3) RETURNING seq")
        .bind(account)
        .bind(time_ms)
        .bind(line)
        .fetch_one(&mut *conn)
        .await?;
    RowIndex::of(account, [summary]).write(conn, account, seq, time_ms, time_ms).await
}

/// The rusqlite form, for work on the SQLite writer thread.
pub fn insert_one_rusqlite(conn: &rusqlite::Connection, account: &str, time_ms: i64, line: &str, summary: &Summary) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT INTO audit_log (account_id, first_ms, last_ms, n, body) VALUES (?1, ?2, ?2, 1, ?3)")?
        .execute(rusqlite::params![account, time_ms, line])?;
    let seq = conn.last_insert_rowid();
    RowIndex::of(account, [summary]).write_rusqlite(conn, account, seq, time_ms, time_ms)
}

/// Rows indexed per transaction by [`backfill`].
const BACKFILL_ROWS: i64 = 500;

/// Indexes the rows written before the index existed (migration 0012 notes how far they go), a
/// chunk per transaction, logging progress; resumes where a previous start stopped. Nodes sharing
/// PostgreSQL take turns on the state row, so a chunk is never indexed twice.
pub async fn backfill(store: &crate::store::Store) -> anyhow::Result<()> {
    use crate::store::Backend;
    let state: Option<(i64, i64)> =
        sqlx::query_as("SELECT legacy_through, done_through FROM audit_index_state WHERE id = 1").fetch_optional(&store.read).await?;
    let Some((through, done)) = state else { return Ok(()) };
    if done >= through {
        return Ok(());
    }
    let total: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM audit_log WHERE seq > $1 AND seq <= $2")
        .bind(done)
        .bind(through)
        .fetch_one(&store.read)
        .await?;
    tracing::info!(records = total, "indexing the audit trail for LookupEvents (once, after an upgrade)");
    let started = std::time::Instant::now();
    let mut last_log = started;
    let mut indexed: i64 = 0;
    let lock = if store.backend == Backend::Postgres { " FOR UPDATE" } else { "" };
    loop {
        let mut tx = store.begin_write().await?;
        let (through, done, span): (i64, i64, i64) =
            sqlx::query_as(&format!("SELECT legacy_through, done_through, max_span_ms FROM audit_index_state WHERE id = 1{lock}")).fetch_one(&mut *tx).await?;
        if done >= through {
            tx.rollback().await?;
            break;
        }
        type Row = (i64, String, i64, i64, String, Option<Vec<u8>>);
        let rows: Vec<Row> =
            sqlx::query_as("SELECT seq, account_id, first_ms, last_ms, body, body_z FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3")
                .bind(done)
                .bind(through)
                .bind(BACKFILL_ROWS)
                .fetch_all(&mut *tx)
                .await?;
        let mut upto = through;
        let mut span = span;
        if let Some(last) = rows.last() {
            if rows.len() as i64 == BACKFILL_ROWS {
                upto = last.0;
            }
        }
        for (seq, account, first, last, body, z) in rows {
            let body = super::row_body(body, z);
            let summaries: Vec<Summary> = body.split('\n').map(|l| summarize(&serde_json::from_str(l).unwrap_or(Value::Null))).collect();
            indexed += summaries.len() as i64;
            span = span.max(last - first);
            RowIndex::of(&account, &summaries).write(&mut tx, &account, seq, first, last).await?;
        }
        sqlx::query("UPDATE audit_index_state SET done_through = $1, max_span_ms = $2 WHERE id = 1").bind(upto).bind(span).execute(&mut *tx).await?;
        tx.commit().await?;
        if last_log.elapsed() >= std::time::Duration::from_secs(2) {
            last_log = std::time::Instant::now();
            let rate = indexed as f64 / started.elapsed().as_secs_f64().max(0.001);
            let left = ((total - indexed).max(0) as f64 / rate.max(1.0)).round();
            tracing::info!(indexed, records = total, percent = (indexed * 100) / total.max(1), seconds_left = left, "indexing the audit trail");
        }
    }
    tracing::info!(indexed, seconds = started.elapsed().as_secs_f64(), "the audit trail is indexed");
    Ok(())
}

/// How far apart a row's first and last record may be (rows from before the index may span more than
/// the group commit now allows).
pub async fn max_span_ms(read: &sqlx::AnyPool) -> Result<i64, sqlx::Error> {
    let span: Option<i64> = sqlx::query_scalar("SELECT max_span_ms FROM audit_index_state WHERE id = 1").fetch_optional(read).await?;
    Ok(span.unwrap_or(0).max(MAX_ROW_SPAN_MS))
}
