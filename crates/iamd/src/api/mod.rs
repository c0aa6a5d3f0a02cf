//! The HTTP edge: decode a Query-protocol request, authenticate it with SigV4 (before anything looks
//! at the Action), dispatch it, and encode the answer or the error. One request id names the request
//! in the XML, the `x-amzn-RequestId` header and the log line.

pub mod cloudtrail;
pub mod junk;
pub mod params;
mod query;
pub mod signin;
pub mod xml;

pub use crate::app::App;
use crate::auth::authenticate;
pub use crate::auth::{action, authz, identity_of, target, Caller, Service};

/// The XML namespace of a service's answers.
fn ns_of(s: Service) -> &'static str {
    match s {
        Service::Iam => xml::IAM_NS,
        Service::Sts => xml::STS_NS,
        Service::CloudTrail => "",
    }
}

use crate::audit;
use crate::error::{AwsError, ErrorCode};
use crate::ids;
use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use std::time::Instant;

/// The largest request body iamd reads. IAM's largest input (a policy document of 131,072
/// characters, percent-encoded) fits; anything larger is refused before it is buffered in full.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

use crate::app::BODY_TIMEOUT;

/// What a call answers with.
enum Reply {
    Query(String, Option<String>),
    Json(String),
}

/// CloudTrail's JSON 1.1 target prefixes: botocore sends the long one, the JavaScript SDK v3 and the Go
/// SDK v2 the short one; CloudTrail accepts both.
pub const CLOUDTRAIL_TARGET_PREFIXES: [&str; 2] = ["com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.", "CloudTrail_20131101."];

/// The CloudTrail operation an `X-Amz-Target` names, when it has one of CloudTrail's prefixes and an
/// operation-shaped name (letters, at most 64); anything else is not an operation of CloudTrail's.
pub fn cloudtrail_operation(target: &str) -> Option<&str> {
    let op = CLOUDTRAIL_TARGET_PREFIXES.iter().find_map(|p| target.strip_prefix(p))?;
    (!op.is_empty() && op.len() <= 64 && op.bytes().all(|b| b.is_ascii_alphabetic())).then_some(op)
}

/// A Query-protocol (IAM, STS) or JSON 1.1 (CloudTrail) request, from the HTTP edge (`http::route`),
/// which has resolved the client's address and scheme.
pub async fn handle(app: &App, req: Request<Body>, peer: Option<String>, secure: bool) -> Response<Body> {
    let started = Instant::now();
    let request_id = ids::request_id();
    let (parts, body) = req.into_parts();
    let json_target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut ns = xml::IAM_NS;
    let mut action = String::new();
    let mut principal = String::new();
    let mut event = audit::Event::new(app.iam.clock.now_ms(), "iam.amazonaws.com", "");
    event.request_id = Some(request_id.clone());
    event.source_ip = peer.clone().unwrap_or_default();
    if let Some(ua) = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()) {
        event.user_agent = ua.chars().take(1024).collect();
    }
    let work = async {
        if parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok()).is_some_and(|n| n > MAX_BODY_BYTES) {
            return Err(too_large());
        }
        // A client that stops sending its body gets an error instead of holding the request open.
        let bytes = match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
            Err(_) => return Err(AwsError::request_timeout("Your socket connection to the server was not read from or written to within the timeout period.")),
            Ok(r) => r.map_err(|_| too_large())?,
        };
        // The record is named before authentication so that refused attempts are recorded by name.
        let mut params = None;
        let mut params_refused = None;
        match &json_target {
            // A target that names no CloudTrail operation is recorded as "Unknown", never by its text.
            Some(t) => action = cloudtrail_operation(t).unwrap_or("Unknown").to_string(),
            None => {
                let post = parts.method == axum::http::Method::POST;
                let p = match params::Params::from_request(post, parts.uri.query().unwrap_or(""), &bytes) {
                    Ok(p) => p,
                    Err(e) => {
                        params_refused = Some(e);
                        params::Params::parse(b"")
                    }
                };
                action = p.raw("Action").unwrap_or("").to_string();
                params = Some(p);
            }
        }
        audit::with(|e| {
            e.name = action.clone();
            e.read_only = read_only(&action);
            if let Some(p) = &params {
                e.params = p.record_pairs();
            }
        });
        let mut caller = authenticate(app, &parts, &bytes).await?;
        caller.source_ip = peer.clone();
        caller.secure = secure;
        audit::with(|e| {
            e.identity = identity_of(&caller);
            e.account = caller.principal.account_id.clone();
        });
        if tracing::enabled!(tracing::Level::INFO) {
            principal = caller.principal.arn();
        }
        if caller.service == Service::CloudTrail || json_target.is_some() {
            if caller.service != Service::CloudTrail || json_target.as_deref().and_then(cloudtrail_operation).is_none() {
                return Err(AwsError::unknown_operation("Unknown operation"));
            }
            let out = Box::pin(cloudtrail::dispatch(app, &caller, &action, &bytes)).await?;
            return Ok(Reply::Json(out));
        }
        ns = ns_of(caller.service);
        if let Some(e) = params_refused {
            return Err(e);
        }
        let mut params = params.unwrap_or_else(|| params::Params::parse(b""));
        if action.is_empty() {
            return Err(AwsError::missing_action("Missing Action"));
        }
        let version = params.raw("Version").unwrap_or("").to_string();
        if version != caller.service.version() {
            return Err(AwsError::invalid_action(format!("Could not find operation {action} for version {version}")));
        }
        // Session credentials opened without MFA cannot call IAM at all (AWS answers as if the token
        // were unknown); with MFA they act as the user. An `aws login`'s act as the console session
        // it came from, which may.
        if caller.service == Service::Iam && caller.session.as_ref().is_some_and(|s| s.mfa.is_none() && s.role.is_none() && s.login.is_none()) {
            return Err(AwsError::invalid_token());
        }
        let Some(op) = action::Action::parse(caller.service, &action) else {
            return Err(AwsError::invalid_action(format!("Could not find operation {action} for version {version}")));
        };
        let result = Box::pin(query::dispatch(app, &caller, op, &mut params)).await?;
        Ok::<_, AwsError>(Reply::Query(action.clone(), result))
    };
    // A bug must not take the connection down without an answer: a panic becomes InternalFailure.
    let guarded = async {
        match futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(Box::pin(work))).await {
            Ok(r) => r,
            Err(_) => {
                tracing::error!(request_id, "the request handler panicked");
                Err(AwsError::internal("We encountered an internal error. Please try again."))
            }
        }
    };
    let (mut outcome, cur) = audit::scope(event, guarded).await;
    // A refusal before the caller was known (authentication) is in the namespace of the service the
    // request was for: its credential scope's, or else its action's.
    if outcome.is_err()
        && ns == xml::IAM_NS
        && (cur.event.source == "sts.amazonaws.com" || action::Action::by_name(&action).is_some_and(|a| a.service() == Service::Sts))
    {
        ns = xml::STS_NS;
    }
    // A successful read is acknowledged only when its record can be kept: while the trail cannot be
    // written (or its queue is full) the call is answered 503, and its record says so.
    let recording = !cur.written && !cur.event.identity.kind.is_empty();
    let accepting = recording && app.iam.audit.accepting();
    if outcome.is_ok() && recording && !accepting {
        outcome = Err(AwsError::service_unavailable("The audit trail cannot be written right now; retry shortly."));
    }
    // The record of a call that committed nothing (a read or a refusal); a request that never named
    // an access key is not recorded.
    if recording {
        let mut cur = cur;
        if let Err(e) = &outcome {
            cur.event.error = Some((e.code.to_string(), e.message.chars().take(1024).collect()));
            cur.event.clip_refused();
        }
        // A request whose signature never verified is anybody's: its record has a bounded shape,
        // belongs to no account, and a flood from one source is summarised, not stored in full.
        let keep = cur.event.identity.kind != "Unknown" || junk::admit(&mut cur.event, app.iam.clock.now_ms());
        if keep {
            // (Never wait on a trail that is not being written: the answer is 503 already.)
            let wait = (outcome.is_err() || app.iam.audit_sync_reads) && accepting;
            audit::settle(&app.iam.audit, cur, None, wait).await;
        }
    }
    let json = json_target.is_some();
    let (status, body, code) = match outcome {
        Ok(Reply::Query(op, result)) => (200, xml::response(&op, ns, result.as_deref(), &request_id), None),
        Ok(Reply::Json(body)) => (200, body, None),
        Err(e) if json => (e.status, json_error(&e), Some(e)),
        Err(e) => (e.status, xml::error(&e, ns, &request_id), Some(e)),
    };
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    match &code {
        None => tracing::info!(request_id, action, principal, status, ms, source_ip = peer.as_deref(), "request"),
        Some(e) => {
            tracing::info!(request_id, action, principal, status, code = e.code.as_str(), error = %e.message, ms, source_ip = peer.as_deref(), "request")
        }
    }
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(if json { "application/x-amz-json-1.1" } else { "text/xml" }));
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    if status == 503 {
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// A JSON 1.1 error body. The Query protocol's authentication codes have JSON-protocol names.
fn json_error(e: &AwsError) -> String {
    let code = match e.code {
        ErrorCode::InvalidClientTokenId => "UnrecognizedClientException",
        ErrorCode::SignatureDoesNotMatch => "InvalidSignatureException",
        ErrorCode::AccessDenied => "AccessDeniedException",
        c => c.as_str(),
    };
    serde_json::json!({"__type": code, "message": e.message}).to_string()
}

/// CloudTrail's readOnly: the action table's, for the actions iamd serves; for a name it does not
/// serve (recorded as refused), whether the name reads like a read.
pub fn read_only(action: &str) -> bool {
    match action::Action::by_name(action) {
        Some(a) => a.read_only(),
        None => action.starts_with("Get") || action.starts_with("List") || action.starts_with("Simulate") || action.starts_with("Lookup"),
    }
}

fn too_large() -> AwsError {
    AwsError::request_entity_too_large(format!("Request body is larger than the limit of {MAX_BODY_BYTES} bytes."))
}
