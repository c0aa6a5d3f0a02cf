//! The audit trail as the domain reads it: lookups over an account's records (the API's
//! LookupEvents and the console's Event history both call [`lookup`]) and the digest chain
//! ([`digest`]: make, verify, export, prune). Records are written by `crate::audit`; this module
//! only reads them, and the digests sign them.

pub mod digest;

use super::Iam;
use crate::error::Result;
use base64::Engine;
use serde_json::Value;
use sha2::Digest;

pub use crate::audit::index::{summarize, Attribute, Summary};

/// Where a page ends: the place of the last event given out (see [`Place`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub time_ms: i64,
    pub first_ms: i64,
    pub seq: i64,
    pub idx: usize,
}

/// One lookup: an account's events with one attribute's value, in a time range, newest first.
pub struct LookupQuery {
    pub account: String,
    pub attribute: Option<(Attribute, String)>,
    /// Milliseconds; `None` is the start of the trail / now.
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub max: usize,
    pub after: Option<Cursor>,
}

impl LookupQuery {
    /// What a page token is bound to: the same query (not the page it has reached), so a token
    /// cannot be replayed against another account, attribute or range.
    pub fn fingerprint(&self) -> String {
        let (k, v) = self.attribute.as_ref().map_or(("", ""), |(a, v)| (a.name(), v.as_str()));
        let canon = format!("{}\u{0}{k}\u{0}{v}\u{0}{:?}\u{0}{:?}", self.account, self.start_ms, self.end_ms);
        hex::encode(&sha2::Sha256::digest(canon.as_bytes())[..8])
    }
}

/// One event found: its summary and the record itself (CloudTrail's JSON, as stored).
pub struct Found {
    pub summary: Summary,
    pub record: String,
}

pub struct Page {
    pub events: Vec<Found>,
    pub next: Option<Cursor>,
}

fn matches(attribute: Option<&(Attribute, String)>, start_ms: i64, end_ms: i64, s: &Summary) -> bool {
    if s.time_ms < start_ms - start_ms.rem_euclid(1000) || s.time_ms > end_ms {
        return false;
    }
    attribute.is_none_or(|(a, v)| s.has(*a, v))
}

/// Index entries (or rows) a lookup scans at a time.
const SCAN: i64 = 64;

/// An event's place in the newest-first order: its time (whole seconds, as ms), its row's
/// (first_ms, seq), its position in the row. Rows never change once written, so the order of the
/// events committed so far never changes either, and a page token (the last event's place) is
/// stable while records are appended: a row committed later lands before or after it, never in a
/// page already read.
type Place = (i64, i64, i64, usize);

/// A row the scan has reached but not yet read.
struct Pending {
    first_ms: i64,
    seq: i64,
    last_ms: i64,
    mask: i64,
    body: Option<(String, Option<Vec<u8>>)>,
}

struct Candidate {
    place: Place,
    summary: Summary,
    line: String,
}

impl PartialEq for Candidate {
    fn eq(&self, o: &Self) -> bool {
        self.place == o.place
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Candidate {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.place.cmp(&o.place)
    }
}

/// A page of `q.account`'s events, newest first, by the index. The rows read are those that hold the
/// attribute's value (and in them only the records that do), in the time range, from where the last
/// page ended: the work follows the page, not the trail. Rows are scanned by (first_ms, seq), newest
/// first; rows may overlap in time (a row spans at most `max_span_ms`), so events are merged: an
/// event is given out once no row still unread can hold a newer one. The caller has authorized the
/// lookup.
pub async fn lookup(iam: &Iam, q: &LookupQuery) -> Result<Page> {
    let start_ms = q.start_ms.unwrap_or(0);
    let end_ms = q.end_ms.unwrap_or_else(|| iam.clock.now_ms());
    // Records still waiting for their group commit are written first, so this lookup sees them.
    iam.audit.flush().await;
    let span = crate::audit::index::max_span_ms(&iam.store.read).await?;
    // An event's time is in whole seconds; a row's first_ms and last_ms are the events' milliseconds.
    let mut hi = end_ms.saturating_add(999);
    if let Some(c) = q.after {
        hi = hi.min(c.time_ms.saturating_add(999));
    }
    let lo_last = start_ms - start_ms.rem_euclid(1000);
    let lo_first = lo_last.saturating_sub(span);
    let after: Option<Place> = q.after.map(|c| (c.time_ms, c.first_ms, c.seq, c.idx));
    let attribute = q.attribute.as_ref();
    let (sql, selector) = scan_sql(&q.account, attribute);

    let mut scanned_to = (i64::MAX, i64::MAX);
    let mut exhausted = false;
    let mut unread: std::collections::VecDeque<Pending> = std::collections::VecDeque::new();
    let mut heap: std::collections::BinaryHeap<Candidate> = std::collections::BinaryHeap::new();
    let mut events: Vec<Found> = Vec::new();
    let mut last: Option<Place> = None;
    loop {
        let top = heap.peek().map(|c| c.place);
        if let Some(t) = top {
            // A row not yet read that may hold a newer event: read it first.
            let newer = |r: &Pending| r.last_ms >= t.0 + 1000 || (r.last_ms >= t.0 && (r.first_ms, r.seq) > (t.1, t.2));
            if let Some(pos) = unread.iter().position(newer) {
                let r = unread.remove(pos).expect("a position in the queue");
                read_row(iam, q, r, start_ms, end_ms, after, &mut heap).await?;
                continue;
            }
            // Rows not yet scanned start at or before the scan's position, so hold events up to
            // `span` after it.
            if !exhausted && scanned_to.0.saturating_add(span) >= t.0 + 1000 {
                scan(iam, q, &sql, selector, (hi, lo_first, lo_last, span), &mut scanned_to, &mut exhausted, &mut unread).await?;
                continue;
            }
            let c = heap.pop().expect("the top");
            if events.len() == q.max {
                // There is another event: the page ends at the last one given out.
                let next = last.map(|(time_ms, first_ms, seq, idx)| Cursor { time_ms, first_ms, seq, idx });
                return Ok(Page { events, next });
            }
            last = Some(c.place);
            events.push(Found { summary: c.summary, record: c.line });
            continue;
        }
        if let Some(r) = unread.pop_front() {
            read_row(iam, q, r, start_ms, end_ms, after, &mut heap).await?;
            continue;
        }
        if exhausted {
            break;
        }
        scan(iam, q, &sql, selector, (hi, lo_first, lo_last, span), &mut scanned_to, &mut exhausted, &mut unread).await?;
    }
    Ok(Page { events, next: None })
}

/// The scan's statement: $1 the account (no attribute) or the key; $2..$6 the window (first_ms at
/// most $2 and at least $3, last_ms at least $4) and the scan's position ((first_ms, seq) before
/// ($5, $6)). For event ids, $7 is the account (their key is not the account's) and ($8, $9) the
/// time the id carries and that time less the widest row: the rows that span the id's time, and
/// the rows `audit_event_ids` names apart from those (see `audit::index`). Rows come with their body
/// when the statement reads audit_log itself.
fn scan_sql(account: &str, attribute: Option<&(Attribute, String)>) -> (String, Option<i64>) {
    let window = |t: &str| format!("{t}first_ms <= $2 AND {t}first_ms >= $3 AND {t}last_ms >= $4 AND ({t}first_ms < $5 OR ({t}first_ms = $5 AND {t}seq < $6))");
    let order = |t: &str| format!("ORDER BY {t}first_ms DESC, {t}seq DESC LIMIT {SCAN}");
    let spans = |t: &str| format!("{t}first_ms <= $8 AND {t}first_ms >= $9 AND {t}last_ms >= $8");
    match attribute {
        None => (format!("SELECT first_ms, seq, last_ms, -1, body, body_z FROM audit_log WHERE account_id = $1 AND {} {}", window(""), order("")), None),
        Some((Attribute::EventId, v)) => (
            format!(
                "SELECT first_ms, seq, last_ms, -1 AS mask, body, body_z FROM audit_log WHERE account_id = $7 AND {} AND {} \
                 UNION ALL \
                 SELECT l.first_ms, l.seq, l.last_ms, -1, l.body, l.body_z FROM audit_event_ids e JOIN audit_log l ON l.seq = e.seq \
                 WHERE e.k = $1 AND l.account_id = $7 AND NOT ({}) AND {} {}",
                spans(""),
                window(""),
                spans("l."),
                window("l."),
                order("")
            ),
            Some(crate::audit::index::event_key(v)),
        ),
        Some((a, v)) => (
            format!("SELECT first_ms, seq, last_ms, mask, NULL, NULL FROM audit_index WHERE k = $1 AND {} {}", window(""), order("")),
            Some(crate::audit::index::key(account, *a, v)),
        ),
    }
}

/// Scans the next entries (index entries, or rows) into `unread`.
#[allow(clippy::too_many_arguments)]
async fn scan(
    iam: &Iam,
    q: &LookupQuery,
    sql: &str,
    selector: Option<i64>,
    (hi, lo_first, lo_last, span): (i64, i64, i64, i64),
    scanned_to: &mut (i64, i64),
    exhausted: &mut bool,
    unread: &mut std::collections::VecDeque<Pending>,
) -> Result<()> {
    type Row = (i64, i64, i64, i64, Option<String>, Option<Vec<u8>>);
    let query = sqlx::query_as::<_, Row>(sql);
    let query = match selector {
        None => query.bind(&q.account),
        Some(k) => query.bind(k),
    };
    let query = query.bind(hi).bind(lo_first).bind(lo_last).bind(scanned_to.0).bind(scanned_to.1);
    let query = match &q.attribute {
        // An id that carries no time (not a v7 UUID) spans no row: only its own entry finds it.
        Some((Attribute::EventId, v)) => {
            let (t, from) = crate::audit::index::event_time_ms(v).map_or((-1, 0), |t| (t, t.saturating_sub(span)));
            query.bind(&q.account).bind(t).bind(from)
        }
        _ => query,
    };
    let rows = query.fetch_all(&iam.store.read).await?;
    *exhausted = (rows.len() as i64) < SCAN;
    for (first_ms, seq, last_ms, mask, body, body_z) in rows {
        *scanned_to = (first_ms, seq);
        unread.push_back(Pending { first_ms, seq, last_ms, mask, body: body.map(|b| (b, body_z)) });
    }
    if *exhausted {
        *scanned_to = (i64::MIN, i64::MIN);
    }
    Ok(())
}

/// Reads a row's candidate records into the merge: those the mask names that match the query and
/// come after the page token.
#[allow(clippy::too_many_arguments)]
async fn read_row(
    iam: &Iam,
    q: &LookupQuery,
    r: Pending,
    start_ms: i64,
    end_ms: i64,
    after: Option<Place>,
    heap: &mut std::collections::BinaryHeap<Candidate>,
) -> Result<()> {
    // A row that starts in the token's second or later and comes before the token's row holds only
    // events given out already.
    if let Some(a) = after {
        if r.first_ms >= a.0 && (r.first_ms, r.seq) > (a.1, a.2) {
            return Ok(());
        }
    }
    let (body, body_z) = match r.body {
        Some(b) => b,
        None => {
            // The index names the row; its records are read by their key, and the account checked
            // (a hash shared with another account's value then finds nothing).
            let row: Option<(String, Option<Vec<u8>>)> = sqlx::query_as("SELECT body, body_z FROM audit_log WHERE seq = $1 AND account_id = $2")
                .bind(r.seq)
                .bind(&q.account)
                .fetch_optional(&iam.store.read)
                .await?;
            match row {
                Some(b) => b,
                None => return Ok(()),
            }
        }
    };
    let body = crate::audit::row_body(body, body_z);
    for (li, line) in body.split('\n').enumerate() {
        if r.mask != -1 && (li >= 64 || r.mask & (1i64 << li) == 0) {
            continue;
        }
        let Ok(rec) = serde_json::from_str::<Value>(line) else { continue };
        let summary = summarize(&rec);
        if !matches(q.attribute.as_ref(), start_ms, end_ms, &summary) {
            continue;
        }
        let place = (summary.time_ms, r.first_ms, r.seq, li);
        if after.is_some_and(|a| place >= a) {
            continue;
        }
        heap.push(Candidate { place, summary, line: line.to_string() });
    }
    Ok(())
}

/// Successful console sign-ins of an account (of one user, or of all when `user` is empty) per day
/// (days since 1970) and kind of second factor (`audit::index::SIGN_IN_KINDS`), from day `from` to
/// day `to`: (day, kind, count), from the counters the trail keeps as it is appended.
pub async fn sign_ins_per_day(iam: &Iam, account: &str, user: &str, from: i64, to: i64) -> Result<Vec<(i64, i64, i64)>> {
    iam.audit.flush().await;
    Ok(sqlx::query_as("SELECT day, kind, n FROM signin_daily WHERE account_id = $1 AND user_name = $2 AND day >= $3 AND day <= $4")
        .bind(account)
        .bind(user)
        .bind(from)
        .bind(to)
        .fetch_all(&iam.store.read)
        .await?)
}

/// A page token: the cursor, bound to the query's fingerprint.
pub fn encode_token(c: Cursor, fingerprint: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("3:{}:{}:{}:{}:{fingerprint}", c.time_ms, c.first_ms, c.seq, c.idx))
}

/// The cursor of a token made for a query with this fingerprint; `None` for anything else.
pub fn decode_token(t: &str, fingerprint: &str) -> Option<Cursor> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let mut it = s.split(':');
    if it.next()? != "3" {
        return None;
    }
    let time_ms = it.next()?.parse().ok()?;
    let first_ms = it.next()?.parse().ok()?;
    let seq = it.next()?.parse().ok()?;
    let idx = it.next()?.parse().ok()?;
    (it.next()? == fingerprint && it.next().is_none()).then_some(Cursor { time_ms, first_ms, seq, idx })
}
