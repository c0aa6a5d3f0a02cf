//! The audit trail: one CloudTrail-shaped record for every IAM, STS and CloudTrail call, console
//! sign-in and administrative command.
//!
//! How a record reaches the database:
//! - A call that changes something writes its record **in its own transaction**: the request's record
//!   waits in a task-local slot ([`scope`]), and the domain's [`Tx::commit`] inserts it just before
//!   committing. An acknowledged change is never missing from the trail, and a change that rolled back
//!   leaves no record.
//! - A call that changes nothing (a read, or a refusal) hands its record to the [`sink::Sink`], which
//!   appends the records of many calls as one row. Refusals are awaited before the answer; successful
//!   reads are awaited on PostgreSQL (so every node's lookups see them at once) and, on SQLite, are
//!   on disk within one group commit (lookups flush first, so they see them at once).
//!
//! Rows are append-only (database triggers); digests ([`digest`]) chain and sign them.

pub mod index;
pub mod sink;
mod tx;

pub use tx::{execute_one, Tx};

use crate::error::AwsError;
use serde::Serialize;
use serde_json::Value;
use std::cell::RefCell;

/// Who made the call, as CloudTrail's `userIdentity`.
#[derive(Clone, Debug, Default)]
pub struct Identity {
    /// Root | IAMUser | AssumedRole | AWSService | Unknown
    pub kind: &'static str,
    pub principal_id: String,
    pub arn: String,
    pub account_id: String,
    pub access_key_id: String,
    pub user_name: Option<String>,
    /// Some for every authenticated principal: whether this call's credentials carry MFA.
    pub mfa_authenticated: Option<bool>,
    /// When the session was issued (session credentials only).
    pub session_created_ms: Option<i64>,
    /// For role sessions: (role id, role arn, role name).
    pub issuer: Option<(String, String, String)>,
    /// For the administrative command line: who invoked it.
    pub invoked_by: Option<String>,
}

/// One event, kept in structured form until it is written.
#[derive(Clone, Debug)]
pub struct Event {
    pub time_ms: i64,
    pub source: &'static str,
    pub name: String,
    pub region: String,
    pub source_ip: String,
    pub user_agent: String,
    pub request_id: Option<String>,
    pub event_id: String,
    pub read_only: bool,
    /// AwsApiCall | AwsConsoleSignIn | AwsServiceEvent
    pub event_type: &'static str,
    /// The account the record belongs to ('' when the caller could not be attributed to one).
    pub account: String,
    pub identity: Identity,
    /// The request's parameters (Query-protocol names, secrets already left out).
    pub params: Vec<(String, String)>,
    /// Parameters already in record form (console and command-line events).
    pub params_json: Option<Value>,
    pub response: Option<Value>,
    pub additional: Option<Value>,
    pub error: Option<(String, String)>,
}

impl Event {
    pub fn new(time_ms: i64, source: &'static str, name: impl Into<String>) -> Event {
        Event {
            time_ms,
            source,
            name: name.into(),
            region: "us-east-1".into(),
            source_ip: String::new(),
            user_agent: String::new(),
            request_id: None,
            event_id: crate::ids::event_id(time_ms),
            read_only: false,
            event_type: "AwsApiCall",
            account: String::new(),
            identity: Identity::default(),
            params: Vec::new(),
            params_json: None,
            response: None,
            additional: None,
            error: None,
        }
    }

    /// The record as CloudTrail writes it: one line of JSON.
    pub fn render(&self) -> String {
        self.rendered().0
    }

    /// The record, and what the index keeps of it (the same fields [`index::summarize`] reads back
    /// from the line, taken from the event without parsing it again).
    pub fn rendered(&self) -> (String, index::Summary) {
        let id = &self.identity;
        let session_context = id.mfa_authenticated.map(|mfa| SessionContext {
            session_issuer: id.issuer.as_ref().map(|(rid, arn, name)| Issuer {
                kind: "Role",
                principal_id: rid,
                arn,
                account_id: &id.account_id,
                user_name: name,
            }),
            attributes: Attributes {
                creation_date: id.session_created_ms.map(crate::conventions::iso8601),
                mfa_authenticated: if mfa { "true" } else { "false" },
            },
        });
        let params = match &self.params_json {
            Some(v) => v.clone(),
            None if self.params.is_empty() => Value::Null,
            None => request_parameters(&self.params),
        };
        // Console sign-in events answer as CloudTrail writes them: no error code, the generic
        // "Failed authentication", and responseElements {EventName: Success | Failure}.
        let sign_in = self.event_type == "AwsConsoleSignIn";
        let outcome;
        let (error_code, error_message, response) = match (&self.error, sign_in) {
            (Some(_), true) => {
                outcome = serde_json::json!({ self.name.as_str(): "Failure" });
                (None, Some("Failed authentication"), Some(&outcome))
            }
            (None, true) => {
                outcome = serde_json::json!({ self.name.as_str(): "Success" });
                (None, None, Some(&outcome))
            }
            (Some(e), false) => (Some(e.0.as_str()), Some(e.1.as_str()), None),
            (None, false) => (None, None, self.response.as_ref()),
        };
        let rec = Record {
            event_version: "1.09",
            user_identity: UserIdentity {
                kind: id.kind,
                principal_id: opt(&id.principal_id),
                arn: opt(&id.arn),
                account_id: opt(&id.account_id),
                access_key_id: if id.kind == "AWSService" { None } else { Some(&id.access_key_id) },
                user_name: id.user_name.as_deref(),
                session_context,
                invoked_by: id.invoked_by.as_deref(),
            },
            event_time: crate::conventions::iso8601(self.time_ms),
            event_source: self.source,
            event_name: &self.name,
            aws_region: &self.region,
            source_ip_address: &self.source_ip,
            user_agent: &self.user_agent,
            error_code,
            error_message,
            request_parameters: params,
            response_elements: response,
            additional_event_data: self.additional.as_ref(),
            request_id: self.request_id.as_deref(),
            event_id: &self.event_id,
            read_only: self.read_only,
            event_type: self.event_type,
            management_event: true,
            recipient_account_id: &self.account,
            event_category: "Management",
        };
        let line = rec.to_json();
        // Debug builds (the unit and end-to-end tests) check every record against serde's rendering.
        debug_assert_eq!(line, serde_json::to_string(&rec).expect("a record serializes"), "the hand-written record is serde_json's");
        let summary = index::Summary {
            event_id: self.event_id.clone(),
            event_name: self.name.clone(),
            read_only: self.read_only,
            access_key_id: if id.kind == "AWSService" { String::new() } else { id.access_key_id.clone() },
            time_ms: self.time_ms - self.time_ms.rem_euclid(1000),
            source: self.source.to_string(),
            username: index::username_of(id.kind, &id.arn, id.user_name.as_deref()),
            resources: index::resources_of(&rec.request_parameters),
            sign_in: (sign_in && self.name == "ConsoleLogin" && self.error.is_none())
                .then(|| index::sign_in_kind(self.additional.as_ref().unwrap_or(&Value::Null))),
        };
        (line, summary)
    }
}

impl Record<'_> {
    /// The record as one line of JSON: exactly what `serde_json::to_string` makes of it (a test
    /// holds the two equal), written by hand because a read's record is rendered on every call and
    /// serde's generic path (a map entry at a time, each string escaped a byte at a time) was most
    /// of its cost: 11.5k of a GetCallerIdentity's 116k instructions under callgrind.
    fn to_json(&self) -> String {
        let mut o = String::with_capacity(1024);
        o.push_str("{\"eventVersion\":");
        json_str(&mut o, self.event_version);
        let u = &self.user_identity;
        o.push_str(",\"userIdentity\":{\"type\":");
        json_str(&mut o, u.kind);
        opt_field(&mut o, "principalId", u.principal_id);
        opt_field(&mut o, "arn", u.arn);
        opt_field(&mut o, "accountId", u.account_id);
        opt_field(&mut o, "accessKeyId", u.access_key_id);
        opt_field(&mut o, "userName", u.user_name);
        if let Some(c) = &u.session_context {
            o.push_str(",\"sessionContext\":{");
            if let Some(i) = &c.session_issuer {
                o.push_str("\"sessionIssuer\":{\"type\":");
                json_str(&mut o, i.kind);
                field(&mut o, "principalId", i.principal_id);
                field(&mut o, "arn", i.arn);
                field(&mut o, "accountId", i.account_id);
                field(&mut o, "userName", i.user_name);
                o.push_str("},");
            }
            o.push_str("\"attributes\":{");
            if let Some(d) = &c.attributes.creation_date {
                o.push_str("\"creationDate\":");
                json_str(&mut o, d);
                o.push(',');
            }
            o.push_str("\"mfaAuthenticated\":");
            json_str(&mut o, c.attributes.mfa_authenticated);
            o.push_str("}}");
        }
        opt_field(&mut o, "invokedBy", u.invoked_by);
        o.push('}');
        field(&mut o, "eventTime", &self.event_time);
        field(&mut o, "eventSource", self.event_source);
        field(&mut o, "eventName", self.event_name);
        field(&mut o, "awsRegion", self.aws_region);
        field(&mut o, "sourceIPAddress", self.source_ip_address);
        field(&mut o, "userAgent", self.user_agent);
        opt_field(&mut o, "errorCode", self.error_code);
        opt_field(&mut o, "errorMessage", self.error_message);
        o.push_str(",\"requestParameters\":");
        json_value(&mut o, Some(&self.request_parameters));
        o.push_str(",\"responseElements\":");
        json_value(&mut o, self.response_elements);
        if let Some(v) = self.additional_event_data {
            o.push_str(",\"additionalEventData\":");
            json_value(&mut o, Some(v));
        }
        opt_field(&mut o, "requestID", self.request_id);
        field(&mut o, "eventID", self.event_id);
        o.push_str(if self.read_only { ",\"readOnly\":true" } else { ",\"readOnly\":false" });
        field(&mut o, "eventType", self.event_type);
        o.push_str(if self.management_event { ",\"managementEvent\":true" } else { ",\"managementEvent\":false" });
        field(&mut o, "recipientAccountId", self.recipient_account_id);
        field(&mut o, "eventCategory", self.event_category);
        o.push('}');
        o
    }
}

/// `,"name":"value"` (the name needs no escaping).
fn field(o: &mut String, name: &str, value: &str) {
    o.push_str(",\"");
    o.push_str(name);
    o.push_str("\":");
    json_str(o, value);
}

/// [`field`] when there is a value (serde's `skip_serializing_if = "Option::is_none"`).
fn opt_field(o: &mut String, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        field(o, name, v);
    }
}

fn json_value(o: &mut String, v: Option<&Value>) {
    match v {
        None | Some(Value::Null) => o.push_str("null"),
        Some(v) => o.push_str(&v.to_string()),
    }
}

/// A JSON string. Most of what a record holds (ids, ARNs, times, names) needs no escape: that is
/// checked sixteen bytes at a time (a check the compiler vectorises) and copied whole; a string that
/// does need one is escaped by serde_json, so the output is serde_json's either way.
fn json_str(o: &mut String, s: &str) {
    fn plain(chunk: &[u8]) -> bool {
        chunk.iter().fold(true, |ok, &b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'))
    }
    let bytes = s.as_bytes();
    let mut chunks = bytes.chunks_exact(16);
    let clean = chunks.all(plain) && plain(chunks.remainder());
    if clean {
        o.push('"');
        o.push_str(s);
        o.push('"');
    } else {
        o.push_str(&serde_json::to_string(s).unwrap_or_default());
    }
}

fn opt(s: &str) -> Option<&str> {
    if s.is_empty() {
        None
    } else {
        Some(s)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    event_version: &'static str,
    user_identity: UserIdentity<'a>,
    event_time: String,
    event_source: &'a str,
    event_name: &'a str,
    aws_region: &'a str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: &'a str,
    user_agent: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    request_parameters: Value,
    response_elements: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_event_data: Option<&'a Value>,
    #[serde(rename = "requestID", skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    #[serde(rename = "eventID")]
    event_id: &'a str,
    read_only: bool,
    event_type: &'a str,
    management_event: bool,
    recipient_account_id: &'a str,
    event_category: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_context: Option<SessionContext<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invoked_by: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionContext<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    session_issuer: Option<Issuer<'a>>,
    attributes: Attributes,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Issuer<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    principal_id: &'a str,
    arn: &'a str,
    account_id: &'a str,
    user_name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Attributes {
    #[serde(skip_serializing_if = "Option::is_none")]
    creation_date: Option<String>,
    mfa_authenticated: &'static str,
}

/// Parameters that never enter the trail: codes, passwords, and the signature of a presigned URL.
/// The longest value a refused call's record keeps of one parameter. A call that succeeded was
/// bounded by the model's limits; a refused one can carry anything up to the body limit.
pub const REFUSED_VALUE_CHARS: usize = 1024;

impl Event {
    /// Bounds what a refused call's record keeps of its parameters.
    pub fn clip_refused(&mut self) {
        for (_, v) in &mut self.params {
            if let Some((i, _)) = v.char_indices().nth(REFUSED_VALUE_CHARS) {
                v.truncate(i);
                v.push_str("...");
            }
        }
        if self.params_json.as_ref().is_some_and(|j| j.to_string().len() > 4 * REFUSED_VALUE_CHARS) {
            self.params_json = Some(serde_json::json!({"truncated": true}));
        }
    }
}

pub fn is_secret_param(name: &str) -> bool {
    matches!(name, "Action" | "Version" | "AuthenticationCode1" | "AuthenticationCode2" | "TokenCode" | "Password" | "OldPassword" | "NewPassword")
        || is_signing_param(name)
}

/// SigV4's presigned parameters (`X-Amz-Signature`, `X-Amz-Credential`, …): authentication, not input.
pub fn is_signing_param(name: &str) -> bool {
    name.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("X-Amz-"))
}

fn numeric_param(name: &str) -> bool {
    name.ends_with("Seconds")
        || name.ends_with("Items")
        || name.ends_with("Duration")
        || name.ends_with("Age")
        || name.ends_with("Length")
        || name.ends_with("Prevention")
}

#[derive(Default)]
enum Node {
    #[default]
    Empty,
    Leaf(String, bool),
    Map(std::collections::BTreeMap<String, Node>),
    List(std::collections::BTreeMap<u32, Node>),
}

impl Node {
    fn insert(&mut self, path: &[&str], value: &str, numeric: bool) {
        let Some((head, rest)) = path.split_first() else {
            *self = Node::Leaf(value.to_string(), numeric);
            return;
        };
        // `X.member.N…` / `X.entry.N…` are list items.
        if (*head == "member" || *head == "entry") && rest.first().is_some_and(|n| n.parse::<u32>().is_ok()) {
            if !matches!(self, Node::List(_)) {
                *self = Node::List(Default::default());
            }
            if let Node::List(items) = self {
                let idx: u32 = rest[0].parse().unwrap_or(0);
                items.entry(idx).or_default().insert(&rest[1..], value, numeric);
            }
            return;
        }
        if !matches!(self, Node::Map(_)) {
            *self = Node::Map(Default::default());
        }
        if let Node::Map(m) = self {
            m.entry(crate::conventions::lower_camel(head)).or_default().insert(rest, value, numeric);
        }
    }

    fn into_json(self) -> Value {
        match self {
            Node::Empty => Value::Null,
            Node::Leaf(s, true) => s.parse::<i64>().map(Value::from).unwrap_or(Value::String(s)),
            Node::Leaf(s, false) => Value::String(s),
            Node::Map(m) => Value::Object(m.into_iter().map(|(k, v)| (k, v.into_json())).collect()),
            Node::List(items) => Value::Array(items.into_values().map(Node::into_json).collect()),
        }
    }
}

/// Query-protocol parameters as CloudTrail's `requestParameters`: lowerCamelCase names, lists as
/// arrays, counts as numbers.
pub fn request_parameters(params: &[(String, String)]) -> Value {
    let mut root = Node::Map(Default::default());
    for (k, v) in params {
        if is_secret_param(k) {
            continue;
        }
        let path: Vec<&str> = k.split('.').collect();
        let numeric = numeric_param(path.last().copied().unwrap_or(""));
        root.insert(&path, v, numeric);
    }
    root.into_json()
}

pub use crate::conventions::sts_time;

// ---- the request's record, carried through the task ----

pub struct Current {
    pub event: Event,
    /// Set once the record has been committed (with the change it describes).
    pub written: bool,
}

tokio::task_local! {
    static CURRENT: RefCell<Option<Current>>;
}

/// Runs `f` with `event` as the record of the work it does; returns the output and the record
/// (`written` tells whether a transaction already committed it).
pub async fn scope<F: std::future::Future>(event: Event, f: F) -> (F::Output, Current) {
    CURRENT
        .scope(RefCell::new(Some(Current { event, written: false })), async move {
            let out = f.await;
            let cur = CURRENT.with(|c| c.borrow_mut().take()).expect("the audit slot is filled");
            (out, cur)
        })
        .await
}

/// Changes the current record (no-op outside a request).
pub fn with<R>(f: impl FnOnce(&mut Event) -> R) -> Option<R> {
    CURRENT.try_with(|c| c.borrow_mut().as_mut().map(|cur| f(&mut cur.event))).ok().flatten()
}

/// Sets the current record's responseElements.
pub fn respond(v: Value) {
    with(|e| e.response = Some(v));
}

/// Writes a call's record when no transaction did (a read, a refusal, a change that committed
/// nothing), with the call's error when it failed (`None` keeps what the record says). `wait`: return
/// only once it is committed. The API, the console and the command line all end a call through this.
pub async fn settle(sink: &sink::Sink, cur: Current, error: Option<(String, String)>, wait: bool) {
    if cur.written {
        return;
    }
    let mut ev = cur.event;
    if error.is_some() {
        ev.error = error;
    }
    if let Some(n) = sink.push(ev, wait) {
        sink.wait(n).await;
    }
}

/// The current record, rendered, if it still needs writing: (account, time, line, summary).
fn pending_line(error: Option<&AwsError>) -> Option<(String, i64, String, index::Summary)> {
    if cfg!(feature = "bench-no-audit") {
        return None;
    }
    CURRENT
        .try_with(|c| {
            let mut b = c.borrow_mut();
            let cur = b.as_mut()?;
            if cur.written {
                return None;
            }
            if let Some(e) = error {
                cur.event.error = Some((e.code.to_string(), e.message.clone()));
            }
            let (line, summary) = cur.event.rendered();
            Some((cur.event.account.clone(), cur.event.time_ms, line, summary))
        })
        .ok()
        .flatten()
}

/// A clone of the current record if it still needs writing (for work done on another thread).
pub fn pending_event() -> Option<Event> {
    if cfg!(feature = "bench-no-audit") {
        return None;
    }
    CURRENT.try_with(|c| c.borrow().as_ref().filter(|cur| !cur.written).map(|cur| cur.event.clone())).ok().flatten()
}

pub fn mark_written() {
    let _ = CURRENT.try_with(|c| {
        if let Some(cur) = c.borrow_mut().as_mut() {
            cur.written = true;
        }
    });
}

/// Batches larger than this are stored compressed (the JSON of one account's records compresses
/// about sixteenfold, and the pages it no longer writes cost more than the compression).
pub const COMPRESS_OVER: usize = 4096;

/// The first bytes of a Zstandard frame. Rows written before Zstandard hold raw deflate, which can
/// never start so (0x28 opens a stored block whose length and its complement would disagree).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// A row's body as stored in `body_z`: Zstandard at level 1. Measured on GetCallerIdentity batches
/// (`iamd-bench`'s records, 62 to a row): 0.25 µs and 42 bytes a record, where deflate at its fast
/// level took 0.83 µs and 60 bytes. Each thread keeps one compression context (a new one is some
/// hundreds of KB to allocate and set up).
pub fn compress(s: &str) -> Vec<u8> {
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> = const { std::cell::RefCell::new(None) };
    }
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = zstd::bulk::Compressor::new(1).ok();
        }
        c.as_mut().and_then(|c| c.compress(s.as_bytes()).ok()).unwrap_or_else(|| zstd::bulk::compress(s.as_bytes(), 1).unwrap_or_default())
    })
}

/// A row's records as text, from `body` or, when it was stored compressed, from `body_z`
/// (Zstandard, or raw deflate in rows written before it). A compressed body that does not decode
/// (tampering) reads as a marker, so its hash cannot match.
pub fn row_body(body: String, body_z: Option<Vec<u8>>) -> String {
    use std::io::Read;
    let Some(z) = body_z else { return body };
    let mut out = String::new();
    let decoded = if z.starts_with(&ZSTD_MAGIC) {
        zstd::stream::read::Decoder::new(z.as_slice()).and_then(|mut d| d.read_to_string(&mut out))
    } else {
        flate2::read::DeflateDecoder::new(z.as_slice()).read_to_string(&mut out)
    };
    match decoded {
        Ok(_) => out,
        Err(_) => "{\"iamdUndecodable\":true}".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_compressor_packs_every_body_so_that_it_reads_back_and_old_deflated_rows_still_read() {
        use std::io::Write;
        // Sizes around buffer boundaries, one thread, so the compression context is reused each time.
        let mut x: u64 = 1;
        for len in [0usize, 1, 100, 4097, 70_000, 1_500_000, 10, 300_000] {
            let text: String = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (b'a' + ((x >> 59) as u8 % 20)) as char
                })
                .collect();
            let z = compress(&text);
            assert!(z.starts_with(&ZSTD_MAGIC), "length {len}");
            // Twenty letters: a little over four bits each, never much more than the text.
            assert!(z.len() <= len * 6 / 10 + 64, "length {len}: {} bytes", z.len());
            assert_eq!(row_body(String::new(), Some(z)), text, "length {len}");
            // A row written deflated by an earlier version reads the same.
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(text.as_bytes()).expect("in memory");
            assert_eq!(row_body(String::new(), Some(e.finish().expect("in memory"))), text, "length {len}");
        }
        // A damaged body of either kind reads as the marker, never as a panic.
        let mut z = compress(&"x".repeat(10_000));
        z.truncate(z.len() / 2);
        assert_eq!(row_body(String::new(), Some(z)), "{\"iamdUndecodable\":true}");
        assert_eq!(row_body(String::new(), Some(vec![0xff; 40])), "{\"iamdUndecodable\":true}");
    }

    #[test]
    fn request_parameters_are_lower_camel_with_lists_and_no_secrets() {
        let p: Vec<(String, String)> = [
            ("Action", "CreateUser"),
            ("Version", "2010-05-08"),
            ("UserName", "alice"),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "red"),
            ("Tags.member.2.Key", "env"),
            ("DurationSeconds", "3600"),
            ("TokenCode", "123456"),
            ("NewPassword", "hunter2"),
            ("X-Amz-Signature", "abc"),
            ("ActionNames.member.1", "iam:GetUser"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let v = request_parameters(&p);
        assert_eq!(
            v,
            serde_json::json!({"userName": "alice", "tags": [{"key": "team", "value": "red"}, {"key": "env"}], "durationSeconds": 3600, "actionNames": ["iam:GetUser"]})
        );
        let s = v.to_string();
        assert!(!s.contains("123456") && !s.contains("hunter2") && !s.contains("abc"));
    }

    /// What the index keeps of an event (taken from the event as it is written) is what a lookup
    /// reads back from the stored line, for every kind of caller and record: otherwise the index
    /// would point a lookup at the wrong rows or miss the right ones.
    #[test]
    fn the_index_summary_of_an_event_is_the_summary_of_its_line() {
        let user = Identity {
            kind: "IAMUser",
            principal_id: "AIDAX".into(),
            arn: "arn:aws:iam::111122223333:user/bob".into(),
            account_id: "111122223333".into(),
            access_key_id: "AKIAX".into(),
            user_name: Some("bob".into()),
            mfa_authenticated: Some(true),
            ..Default::default()
        };
        let role = Identity {
            kind: "AssumedRole",
            arn: "arn:aws:sts::111122223333:assumed-role/ops/sess-1".into(),
            access_key_id: "ASIAX".into(),
            issuer: Some(("AROAX".into(), "arn:aws:iam::111122223333:role/ops".into(), "ops".into())),
            mfa_authenticated: Some(false),
            ..Default::default()
        };
        let root = Identity { kind: "Root", arn: "arn:aws:iam::111122223333:root".into(), access_key_id: "AKIAR".into(), ..Default::default() };
        let cli = Identity { kind: "AWSService", invoked_by: Some("iamd-cli (ops)".into()), ..Default::default() };
        let mut events = Vec::new();
        for (k, id) in [user, role, root, cli, Identity { kind: "Unknown", ..Default::default() }].into_iter().enumerate() {
            let mut e = Event::new(1_688_000_000_123 + k as i64 * 7_777, "iam.amazonaws.com", "AttachUserPolicy");
            e.identity = id;
            e.account = "111122223333".into();
            e.read_only = k % 2 == 0;
            e.params = vec![
                ("UserName".into(), "alice".into()),
                ("PolicyArn".into(), "arn:aws:iam::aws:policy/ReadOnlyAccess".into()),
                ("SerialNumber".into(), "arn:aws:iam::111122223333:mfa/a".into()),
                ("AccessKeyId".into(), "AKIAY".into()),
                ("Password".into(), "never-recorded".into()),
            ];
            events.push(e.clone());
            e.params.clear();
            e.params_json = Some(serde_json::json!({"roleArn": "arn:aws:iam::111122223333:role/ops", "groupName": "g"}));
            e.error = Some(("AccessDenied".into(), "no".into()));
            events.push(e.clone());
            let mut s = Event::new(1_688_000_000_999, "signin.amazonaws.com", "ConsoleLogin");
            s.event_type = "AwsConsoleSignIn";
            s.identity = e.identity.clone();
            s.additional = Some(serde_json::json!({"MFAUsed": "Yes", "MFAIdentifier": "arn:aws:iam::111122223333:u2f/user/bob/key-1"}));
            events.push(s.clone());
            s.error = Some(("Failed".into(), "Failed authentication".into()));
            events.push(s);
        }
        let mut sign_ins = 0;
        for e in &events {
            let (line, summary) = e.rendered();
            let back = index::summarize(&serde_json::from_str(&line).unwrap());
            assert_eq!(summary, back, "{line}");
            sign_ins += usize::from(summary.sign_in == Some(1));
        }
        assert_eq!(sign_ins, 5, "each successful sign-in counts as a security key's, no failure counts");
        // The index entries of a row name each value once, with the records that hold it.
        let summaries: Vec<index::Summary> = events.iter().map(|e| e.rendered().1).collect();
        let row = index::RowIndex::of("111122223333", &summaries);
        let bob = index::key("111122223333", index::Attribute::Username, "bob");
        let (_, mask) = row.keys.iter().find(|(k, _)| *k == bob).copied().unwrap();
        let want: i64 = summaries.iter().enumerate().filter(|(_, s)| s.username.as_deref() == Some("bob")).map(|(i, _)| 1i64 << i).sum();
        assert_eq!(mask, want);
        let ids: std::collections::BTreeSet<(i64, Option<i64>)> = events.iter().map(|e| (index::event_key(&e.event_id), Some(e.time_ms))).collect();
        assert_eq!(row.event_ids, ids.into_iter().collect::<Vec<_>>());
        // A lookup finds an id by the time it carries when that is inside its row; only the others
        // get an entry of their own.
        let (first, last) = (events.iter().map(|e| e.time_ms).min().unwrap(), events.iter().map(|e| e.time_ms).max().unwrap());
        assert_eq!(row.event_id_entries(first, last).count(), 0);
        let late: Vec<i64> = events.iter().filter(|e| e.time_ms > first).map(|e| index::event_key(&e.event_id)).collect();
        let mut outside: Vec<i64> = row.event_id_entries(first, first).collect();
        outside.sort_unstable();
        let mut late_keys = late.clone();
        late_keys.sort_unstable();
        late_keys.dedup();
        assert!(!late_keys.is_empty());
        assert_eq!(outside, late_keys);
        let v4 = uuid::Uuid::new_v4().to_string();
        assert_eq!(index::event_time_ms(&v4), None);
        assert_eq!(index::event_time_ms("not-an-id"), None);
        assert_eq!(index::event_time_ms(&crate::ids::event_id(1_688_000_000_123)), Some(1_688_000_000_123));
        // Event ids are time-ordered, so their keys grow with time.
        assert!(index::event_key(&crate::ids::event_id(1_000)) < index::event_key(&crate::ids::event_id(2_000)));
        assert!(row.keys.windows(2).all(|w| w[0].0 < w[1].0));
        // Another account's key for the same value differs.
        assert_ne!(bob, index::key("444455556666", index::Attribute::Username, "bob"));
    }

    #[test]
    fn strings_that_need_escapes_render_as_serde_json_renders_them_at_every_offset() {
        let nasty = ["", "a", "\"", "\\", "\n", "\u{1f}", "\u{7f}", "é", "日本", "😀", "</script>", "a/b", "x\"y\\z\tq\r"];
        for k in 0..40 {
            for n in nasty {
                // Every offset of the odd byte in and across 16-byte chunks.
                let text = format!("{}{n}{}", "p".repeat(k), "s".repeat(k % 7));
                let mut o = String::new();
                json_str(&mut o, &text);
                assert_eq!(o, serde_json::to_string(&text).unwrap(), "{text:?}");
                assert_eq!(serde_json::from_str::<String>(&o).unwrap(), text);
            }
        }
        // A whole record full of them (rendered() asserts the same against serde in debug builds).
        let mut e = Event::new(1_688_000_000_000, "sts.amazonaws.com", "Get\"Caller\\Identity");
        e.account = "111122223333".into();
        e.user_agent = "aws-cli/2 \"quoted\" \u{1}\t日本".into();
        e.source_ip = "10.0.0.1\n".into();
        e.identity = Identity {
            kind: "AssumedRole",
            arn: "arn:aws:sts::111122223333:assumed-role/o\"ps/s".into(),
            access_key_id: "ASIA\\".into(),
            issuer: Some(("AROA\u{2}".into(), "arn:aws:iam::111122223333:role/ops".into(), "o\"ps".into())),
            mfa_authenticated: Some(true),
            session_created_ms: Some(1_687_999_000_000),
            ..Default::default()
        };
        e.error = Some(("AccessDenied".into(), "not \"you\"\n".into()));
        e.params = vec![("UserName".into(), "al\"ice".into())];
        let (line, _) = e.rendered();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["userAgent"], "aws-cli/2 \"quoted\" \u{1}\t日本");
        assert_eq!(v["userIdentity"]["sessionContext"]["sessionIssuer"]["userName"], "o\"ps");
        assert_eq!(v["userIdentity"]["sessionContext"]["attributes"]["mfaAuthenticated"], "true");
        assert_eq!(v["errorMessage"], "not \"you\"\n");
        assert_eq!(v["requestParameters"]["userName"], "al\"ice");
    }

    #[test]
    fn a_record_has_cloudtrails_shape() {
        let mut e = Event::new(1_688_000_000_000, "sts.amazonaws.com", "GetSessionToken");
        e.account = "111122223333".into();
        e.identity = Identity {
            kind: "IAMUser",
            principal_id: "AIDAX".into(),
            arn: "arn:aws:iam::111122223333:user/bob".into(),
            account_id: "111122223333".into(),
            access_key_id: "AKIAX".into(),
            user_name: Some("bob".into()),
            mfa_authenticated: Some(false),
            ..Default::default()
        };
        e.response = Some(serde_json::json!({"credentials": {"accessKeyId": "ASIA"}}));
        let v: Value = serde_json::from_str(&e.render()).unwrap();
        assert_eq!(v["userIdentity"]["sessionContext"]["attributes"]["mfaAuthenticated"], "false");
        assert_eq!(v["eventTime"], "2023-06-29T00:53:20Z");
        assert_eq!(v["requestParameters"], Value::Null);
        assert_eq!(v["responseElements"]["credentials"]["accessKeyId"], "ASIA");
        assert!(v.get("errorCode").is_none());
        e.error = Some(("AccessDenied".into(), "no".into()));
        let v: Value = serde_json::from_str(&e.render()).unwrap();
        assert_eq!(v["errorCode"], "AccessDenied");
        assert_eq!(v["responseElements"], Value::Null);
        assert_eq!(sts_time(1_689_696_459_000), "Jul 18, 2023, 4:07:39 PM");
    }
}
