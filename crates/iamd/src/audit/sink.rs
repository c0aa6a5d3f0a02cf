//! Group commit for the records of calls that changed nothing: records wait in memory for at most one
//! commit, then the records of each account become one row. A caller that must not answer before its
//! record is on disk awaits [`Sink::wait`].
//!
//! The queue cannot grow without end: past [`PRESSING`] records waiting, a read is answered only once
//! its record is committed, so a saturated server (or a slow database) slows its callers down before
//! it has to refuse them.

use super::index::{RowIndex, Summary, MAX_ROW_RECORDS, MAX_ROW_SPAN_MS};
use super::Event;
use crate::store::{Backend, Store};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// How long records of successful reads may wait for company before they are written.
const LINGER: Duration = Duration::from_millis(5);

/// The most records that may wait in memory. While the database refuses writes (or the queue is
/// full), reads are answered 503 instead of being acknowledged with a record that only memory holds;
/// the queue never grows past this.
pub const MAX_PENDING: usize = 100_000;

/// Past this many records waiting, a read is answered only once its record is committed (back
/// pressure: about a tenth of a second of the fastest load measured here, well short of
/// [`MAX_PENDING`], so a busy server slows down before it refuses).
pub const PRESSING: usize = 16_384;

pub struct Sink {
    pending: Mutex<Pending>,
    /// The last write of records failed (the writer is retrying).
    degraded: std::sync::atomic::AtomicBool,
    /// Records refused because the queue was full.
    dropped: std::sync::atomic::AtomicU64,
    wake: Notify,
    /// Someone is waiting for the next commit: do not linger to gather a bigger batch.
    urgent: std::sync::atomic::AtomicBool,
    flushed: watch::Sender<u64>,
}

struct Pending {
    events: Vec<Event>,
    /// The number of the batch that the events now pending will be written in.
    batch: u64,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("audit::Sink")
    }
}

impl Sink {
    fn new() -> Sink {
        Sink {
            pending: Mutex::new(Pending { events: Vec::with_capacity(1024), batch: 1 }),
            degraded: std::sync::atomic::AtomicBool::new(false),
            dropped: std::sync::atomic::AtomicU64::new(0),
            wake: Notify::new(),
            urgent: std::sync::atomic::AtomicBool::new(false),
            flushed: watch::channel(0).0,
        }
    }

    /// Starts the writer task on the current runtime.
    pub fn start(store: Store) -> Arc<Sink> {
        let sink = Arc::new(Sink::new());
        let s = sink.clone();
        tokio::spawn(async move { s.run(store).await });
        sink
    }

    /// Queues a record. Returns the batch to wait for before answering, if the caller must: when it
    /// asked to (`urgent`; the batch is then written without lingering), or when [`PRESSING`] records
    /// are waiting already.
    pub fn push(&self, e: Event, urgent: bool) -> Option<u64> {
        if cfg!(feature = "bench-no-audit") {
            return None;
        }
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if p.events.len() >= MAX_PENDING {
            let n = self.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::error!(dropped = n, max = MAX_PENDING, "the audit queue is full: records are refused");
            }
            return urgent.then_some(p.batch);
        }
        let was_empty = p.events.is_empty();
        p.events.push(e);
        let batch = p.batch;
        let pressing = p.events.len() > PRESSING;
        drop(p);
        if urgent {
            self.urgent.store(true, std::sync::atomic::Ordering::Release);
        }
        if was_empty || urgent {
            self.wake.notify_one();
        }
        (urgent || pressing).then_some(batch)
    }

    /// Whether a new record can be promised: the database takes writes and the queue has room. When
    /// not, the API answers 503 rather than acknowledge a call whose record memory alone would hold.
    pub fn accepting(&self) -> bool {
        !self.degraded.load(std::sync::atomic::Ordering::Acquire) && self.pending.lock().unwrap_or_else(|e| e.into_inner()).events.len() < MAX_PENDING
    }

    /// Waits until batch `n` (and every batch before it) is committed.
    pub async fn wait(&self, n: u64) {
        let mut rx = self.flushed.subscribe();
        let _ = rx.wait_for(|v| *v >= n).await;
    }

    /// Waits until every record queued so far is committed.
    pub async fn flush(&self) {
        let n = {
            let p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            if p.events.is_empty() {
                p.batch - 1
            } else {
                p.batch
            }
        };
        self.urgent.store(true, std::sync::atomic::Ordering::Release);
        self.wake.notify_one();
        self.wait(n).await;
    }

    async fn run(&self, store: Store) {
        loop {
            // Group commit: unless someone waits, let a batch gather for a moment, so a busy server
            // commits a few hundred times a second rather than once per handful of records.
            if !self.urgent.swap(false, std::sync::atomic::Ordering::AcqRel) && !self.pending.lock().unwrap_or_else(|e| e.into_inner()).events.is_empty() {
                // Only a waiter cuts the linger short: the first record queued after a batch was
                // taken also notifies (it found the queue empty), and answering that wake-up would
                // write a batch per commit's duration instead of one per LINGER.
                let deadline = tokio::time::Instant::now() + LINGER;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep_until(deadline) => break,
                        _ = self.wake.notified() => {
                            if self.urgent.load(std::sync::atomic::Ordering::Acquire) {
                                break;
                            }
                        }
                    }
                }
                self.urgent.store(false, std::sync::atomic::Ordering::Release);
            }
            let (events, n) = {
                let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                if p.events.is_empty() {
                    None
                } else {
                    let n = p.batch;
                    p.batch += 1;
                    Some((std::mem::replace(&mut p.events, Vec::with_capacity(1024)), n))
                }
            }
            .unwrap_or_default();
            if events.is_empty() {
                self.wake.notified().await;
                continue;
            }
            let events = Arc::new(events);
            let mut delay = Duration::from_millis(50);
            loop {
                match persist(&store, events.clone()).await {
                    Ok(()) => {
                        self.degraded.store(false, std::sync::atomic::Ordering::Release);
                        break;
                    }
                    Err(e) => {
                        self.degraded.store(true, std::sync::atomic::Ordering::Release);
                        tracing::error!(error = %e, records = events.len(), "writing audit records failed; retrying");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
            }
            self.flushed.send_replace(n);
        }
    }
}

/// One row of a batch: an account's records (at most `MAX_ROW_RECORDS`, within `MAX_ROW_SPAN_MS`).
struct Row {
    account: String,
    first_ms: i64,
    last_ms: i64,
    body: String,
    summaries: Vec<Summary>,
}

/// The rows for a batch: per account, in order, the records as lines; a new row once an account's
/// row is full or would span too long.
fn rows(events: &[Event]) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
    // The open row of each account, by index into `out`.
    let mut open: Vec<(&str, usize)> = Vec::new();
    // In time order (calls answer out of order), so an account's rows of a batch do not overlap.
    let mut events: Vec<&Event> = events.iter().collect();
    events.sort_by_key(|e| e.time_ms);
    for e in events {
        let (line, summary) = e.rendered();
        let slot = open.iter().position(|(a, _)| *a == e.account.as_str());
        let fits = |r: &Row| r.summaries.len() < MAX_ROW_RECORDS && r.last_ms.max(e.time_ms) - r.first_ms.min(e.time_ms) <= MAX_ROW_SPAN_MS;
        match slot {
            Some(k) if fits(&out[open[k].1]) => {
                let r = &mut out[open[k].1];
                r.first_ms = r.first_ms.min(e.time_ms);
                r.last_ms = r.last_ms.max(e.time_ms);
                r.body.push('\n');
                r.body.push_str(&line);
                r.summaries.push(summary);
            }
            _ => {
                out.push(Row { account: e.account.clone(), first_ms: e.time_ms, last_ms: e.time_ms, body: line, summaries: vec![summary] });
                match slot {
                    Some(k) => open[k].1 = out.len() - 1,
                    None => open.push((e.account.as_str(), out.len() - 1)),
                }
            }
        }
    }
    out
}

const INSERT: &str = "INSERT INTO audit_log (account_id, first_ms, last_ms, n, body, body_z) VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq";

/// (body, body_z) for a row: large batches compressed.
fn stored(body: String) -> (String, Option<Vec<u8>>) {
    if body.len() > super::COMPRESS_OVER {
        let z = super::compress(&body);
        (String::new(), Some(z))
    } else {
        (body, None)
    }
}

async fn persist(store: &Store, events: Arc<Vec<Event>>) -> anyhow::Result<()> {
    match (store.backend, &store.hot) {
        (Backend::Sqlite, Some(hot)) => {
            hot.run(move |conn| -> anyhow::Result<()> {
                // Inside the writer's batch transaction (see store::HotWriter).
                let mut st = conn.prepare_cached("INSERT INTO audit_log (account_id, first_ms, last_ms, n, body, body_z) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
                for r in rows(&events) {
                    let index = RowIndex::of(&r.account, &r.summaries);
                    let (body, z) = stored(r.body);
                    st.execute(rusqlite::params![r.account, r.first_ms, r.last_ms, r.summaries.len() as i64, body, z])?;
                    index.write_rusqlite(conn, &r.account, conn.last_insert_rowid(), r.first_ms, r.last_ms)?;
                }
                Ok(())
            })
            .await
        }
        _ => {
            let rows = rows(&events);
            let mut tx = store.begin_write().await?;
            for r in rows {
                let index = RowIndex::of(&r.account, &r.summaries);
                let (body, z) = stored(r.body);
                let seq: i64 = sqlx::query_scalar(INSERT)
                    .bind(&r.account)
                    .bind(r.first_ms)
                    .bind(r.last_ms)
                    .bind(r.summaries.len() as i64)
                    .bind(body)
                    .bind(z)
                    .fetch_one(&mut *tx)
                    .await?;
                index.write(&mut tx, &r.account, seq, r.first_ms, r.last_ms).await?;
            }
            tx.commit().await?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(k: i64) -> Event {
        let mut e = Event::new(1_700_000_000_000 + k, "sts.amazonaws.com", "GetCallerIdentity");
        e.account = if k % 3 == 0 { "111122223333" } else { "444455556666" }.into();
        e
    }

    #[test]
    #[cfg_attr(feature = "bench-no-audit", ignore = "the bench build keeps no records")]
    fn a_read_answers_at_once_until_the_queue_presses_then_waits_for_its_commit_and_a_waiter_always_waits() {
        let sink = Sink::new();
        for k in 0..PRESSING as i64 {
            assert_eq!(sink.push(read(k), false), None, "record {k} of a short queue");
        }
        assert_eq!(sink.push(read(-1), false), Some(1), "the record past PRESSING waits for batch 1");
        assert_eq!(sink.push(read(-2), true), Some(1));
        let fresh = Sink::new();
        assert_eq!(fresh.push(read(0), true), Some(1), "a caller that asked to wait waits even on an empty queue");
        // A full queue refuses the record (the API answered 503 already): nothing to wait for,
        // unless the caller asked to.
        {
            let mut p = sink.pending.lock().unwrap();
            let more: Vec<Event> = (0..(MAX_PENDING - p.events.len()) as i64).map(read).collect();
            p.events.extend(more);
        }
        assert_eq!(sink.push(read(-3), false), None);
        assert_eq!(sink.push(read(-4), true), Some(1));
        assert_eq!(sink.pending.lock().unwrap().events.len(), MAX_PENDING);
        assert_eq!(sink.dropped.load(std::sync::atomic::Ordering::Relaxed), 2);
    }
}
