//! Server-side verification of AWS Signature Version 4, for the Query protocol services (IAM, STS) and
//! JSON 1.1 services that iamd serves.
//!
//! The crate is pure: it parses the `Authorization` header or the presigned query parameters, rebuilds
//! the canonical request from the bytes exactly as received, derives the signing key and compares the
//! signature in constant time. Looking up the secret, checking the key's status and mapping errors to
//! the wire are the caller's job.
//!
//! Invariants:
//! - the signature is computed over the raw body bytes, before anything parses them;
//! - nothing here allocates a secret into an error message;
//! - every rejection carries the AWS error code and the message text AWS uses (spec section 5.4).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

mod time;
pub use time::{format_amz_date, parse_amz_date};

type HmacSha256 = Hmac<Sha256>;

/// SHA-256 of the empty string: the payload hash of a request with no body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// How far a request's time may be from the server's, either way (AWS: 15 minutes).
pub const MAX_SKEW_SECONDS: i64 = 15 * 60;
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// A request as the server received it. `path` is the path as the client signed it, which for a
/// request read off the wire is the path exactly as it appears in the request line.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The raw query string, without the leading `?`.
    pub query: &'a str,
    /// Header names and values in the order received; names in any case.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// Where the signature came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    Header,
    Presigned,
}

/// The parsed authentication parameters of a request.
#[derive(Debug, Clone)]
pub struct Auth {
    pub kind: AuthKind,
    pub access_key_id: String,
    /// `yyyymmdd` from the credential scope.
    pub scope_date: String,
    pub region: String,
    pub service: String,
    /// `yyyymmddThhmmssZ`
    pub amz_date: String,
    /// Seconds since the epoch of `amz_date`.
    pub timestamp: i64,
    /// Lower-case, in the order given.
    pub signed_headers: Vec<String>,
    pub signature: String,
    pub security_token: Option<String>,
    /// Presigned only: X-Amz-Expires.
    pub expires: Option<i64>,
}

impl Auth {
    pub fn scope(&self) -> String {
        let mut s = String::new();
        self.push_scope(&mut s);
        s
    }

    /// Appends `date/region/service/aws4_request`.
    fn push_scope(&self, out: &mut String) {
        for part in [self.scope_date.as_str(), "/", &self.region, "/", &self.service, "/aws4_request"] {
            out.push_str(part);
        }
    }
}

/// Why a request's authentication was refused, with AWS's error code and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// No Authorization header and no presigned parameters.
    MissingAuthenticationToken,
    /// A part is missing or malformed (HTTP 400).
    IncompleteSignature(String),
    /// The signature is wrong, expired, not yet current or mis-scoped (HTTP 403).
    SignatureDoesNotMatch(String),
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::MissingAuthenticationToken => "MissingAuthenticationToken",
            Error::IncompleteSignature(_) => "IncompleteSignature",
            Error::SignatureDoesNotMatch(_) => "SignatureDoesNotMatch",
        }
    }
    pub fn message(&self) -> String {
        match self {
            Error::MissingAuthenticationToken => "Request is missing Authentication Token".into(),
            Error::IncompleteSignature(m) | Error::SignatureDoesNotMatch(m) => m.clone(),
        }
    }
    pub fn status(&self) -> u16 {
        match self {
            Error::IncompleteSignature(_) => 400,
            _ => 403,
        }
    }
}

pub const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

fn header<'a>(req: &Request<'a>, name: &str) -> Option<&'a str> {
    req.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
}

/// Decodes the raw query string into (name, value) pairs as `application/x-www-form-urlencoded`
/// does (a `+` is a space, `%2B` a plus): the same decoding the server reads parameters with, so a
/// signed value cannot be changed by swapping one spelling for the other.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    wire::pairs(query.as_bytes())
}

/// Parses the request's authentication: the Authorization header if present, else the presigned
/// query parameters.
pub fn parse(req: &Request<'_>) -> Result<Auth, Error> {
    if let Some(h) = header(req, "authorization") {
        return parse_header(req, h);
    }
    let pairs = query_pairs(req.query);
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    if get("X-Amz-Algorithm").is_some() || get("X-Amz-Signature").is_some() || get("X-Amz-Credential").is_some() {
        return parse_presigned(&get);
    }
    Err(Error::MissingAuthenticationToken)
}

/// The Authorization header as an error message may echo it (as AWS does): the Signature value
/// redacted, and at most 512 characters.
fn echo_authorization(h: &str) -> String {
    let parts: Vec<String> = h
        .split(',')
        .map(|p| match p.split_once("Signature=") {
            Some((before, _)) if before.trim().is_empty() || before.ends_with(' ') => format!("{before}Signature=REDACTED"),
            _ => p.to_string(),
        })
        .collect();
    parts.join(",").chars().take(512).collect()
}

fn parse_header(req: &Request<'_>, h: &str) -> Result<Auth, Error> {
    let h = h.trim();
    // The echo is built only for an error: a good request never pays for it.
    let incomplete =
        |what: &str| Error::IncompleteSignature(format!("Authorization header requires '{what}' parameter. Authorization={}", echo_authorization(h)));
    let (algorithm, rest) = h.split_once(' ').unwrap_or((h, ""));
    if algorithm != ALGORITHM {
        return Err(Error::IncompleteSignature(format!("Unsupported AWS 'algorithm': '{algorithm}'")));
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some((k, v)) = part.split_once('=') {
            match k.trim() {
                "Credential" => credential = Some(v.trim()),
                "SignedHeaders" => signed = Some(v.trim()),
                "Signature" => signature = Some(v.trim()),
                _ => {}
            }
        }
    }
    let credential = credential.ok_or_else(|| incomplete("Credential"))?;
    let signature = signature.ok_or_else(|| incomplete("Signature"))?;
    let signed = signed.ok_or_else(|| incomplete("SignedHeaders"))?;
    let amz_date = match header(req, "x-amz-date").or_else(|| header(req, "date")) {
        Some(d) => d.trim().to_string(),
        None => {
            return Err(Error::IncompleteSignature(format!(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={}",
                echo_authorization(h)
            )))
        }
    };
    let security_token = header(req, "x-amz-security-token").map(|s| s.trim().to_string());
    build_auth(AuthKind::Header, credential, signed, signature, &amz_date, security_token, None)
}

fn parse_presigned(get: &dyn Fn(&str) -> Option<String>) -> Result<Auth, Error> {
    let require = |name: &str| {
        get(name)
            .ok_or_else(|| Error::IncompleteSignature(format!("AWS query-string parameters must include '{name}'. Re-examine the query-string parameters.")))
    };
    let algorithm = require("X-Amz-Algorithm")?;
    if algorithm != ALGORITHM {
        return Err(Error::IncompleteSignature(format!("Unsupported AWS 'algorithm': '{algorithm}'")));
    }
    let credential = require("X-Amz-Credential")?;
    let signed = require("X-Amz-SignedHeaders")?;
    let signature = require("X-Amz-Signature")?;
    let amz_date = require("X-Amz-Date")?;
    // A presigned request always says how long it lives: without X-Amz-Expires it is refused, never
    // valid for ever.
    let e = require("X-Amz-Expires")?;
    let expires = match e.parse::<i64>() {
        Ok(n) if (1..=604_800).contains(&n) => Some(n),
        _ => return Err(Error::IncompleteSignature(format!("X-Amz-Expires must be a number between 1 and 604800 seconds. Got '{e}'"))),
    };
    build_auth(AuthKind::Presigned, &credential, &signed, &signature, &amz_date, get("X-Amz-Security-Token"), expires)
}

fn build_auth(
    kind: AuthKind,
    credential: &str,
    signed: &str,
    signature: &str,
    amz_date: &str,
    security_token: Option<String>,
    expires: Option<i64>,
) -> Result<Auth, Error> {
    let timestamp = parse_amz_date(amz_date).ok_or_else(|| {
        Error::IncompleteSignature(format!("Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601"))
    })?;
    let parts: Vec<&str> = credential.split('/').collect();
    if parts.len() != 5 || parts[4] != "aws4_request" || parts[0].is_empty() {
        return Err(Error::IncompleteSignature(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'. Credential={credential}",
            parts.last().copied().unwrap_or("")
        )));
    }
    if parts[1] != &amz_date[..8] {
        return Err(Error::SignatureDoesNotMatch(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
            parts[1],
            &amz_date[..8],
            amz_date
        )));
    }
    if parts[2].is_empty() {
        return Err(Error::SignatureDoesNotMatch("Credential should be scoped to a valid region.".into()));
    }
    let signed_headers: Vec<String> = signed.split(';').map(|s| s.trim().to_ascii_lowercase()).collect();
    if signed_headers.iter().any(|s| s.is_empty()) {
        return Err(Error::IncompleteSignature(format!("Invalid SignedHeaders: '{signed}'")));
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::SignatureDoesNotMatch(SIGNATURE_MISMATCH.into()));
    }
    Ok(Auth {
        kind,
        access_key_id: parts[0].to_string(),
        scope_date: parts[1].to_string(),
        region: parts[2].to_string(),
        service: parts[3].to_string(),
        amz_date: amz_date.to_string(),
        timestamp,
        signed_headers,
        signature: signature.to_ascii_lowercase(),
        security_token,
        expires,
    })
}

/// Checks the request time against `now` (seconds since the epoch): ±15 minutes for header auth,
/// and for presigned requests also the X-Amz-Expires window.
pub fn check_time(auth: &Auth, now: i64) -> Result<(), Error> {
    let t = auth.timestamp;
    if auth.kind == AuthKind::Presigned {
        if let Some(exp) = auth.expires {
            if now > t + exp {
                return Err(Error::SignatureDoesNotMatch(format!(
                    "Signature expired: {} is now earlier than {} ({} - {} sec.)",
                    format_amz_date(t + exp),
                    format_amz_date(now),
                    format_amz_date(now),
                    exp
                )));
            }
        }
    } else if t < now - MAX_SKEW_SECONDS {
        return Err(Error::SignatureDoesNotMatch(format!(
            "Signature expired: {} is now earlier than {} ({} - 15 min.)",
            auth.amz_date,
            format_amz_date(now - MAX_SKEW_SECONDS),
            format_amz_date(now)
        )));
    }
    if t > now + MAX_SKEW_SECONDS {
        return Err(Error::SignatureDoesNotMatch(format!(
            "Signature not yet current: {} is still later than {} ({} + 15 min.)",
            auth.amz_date,
            format_amz_date(now + MAX_SKEW_SECONDS),
            format_amz_date(now)
        )));
    }
    Ok(())
}

/// RFC 3986 encoding as SigV4 wants it: only `A-Z a-z 0-9 - _ . ~` stay as they are.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from_digit((b >> 4) as u32, 16).unwrap().to_ascii_uppercase());
            out.push(char::from_digit((b & 15) as u32, 16).unwrap().to_ascii_uppercase());
        }
    }
    out
}

/// The canonical URI. With `normalize` (every service but S3) dot segments are removed and runs of
/// slashes collapse, as the published suite expects.
pub fn canonical_uri(path: &str, normalize: bool) -> std::borrow::Cow<'static, str> {
    if path.is_empty() || path == "/" {
        return "/".into();
    }
    if !normalize {
        return uri_encode(path, true).into();
    }
    let mut segs: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    let mut out = String::from("/");
    out.push_str(&segs.iter().map(|s| uri_encode(s, false)).collect::<Vec<_>>().join("/"));
    if path.ends_with('/') && !segs.is_empty() {
        out.push('/');
    }
    out.into()
}

/// The canonical query string; for presigned requests `X-Amz-Signature` is left out, and so is
/// `X-Amz-Security-Token` when `omit_token` (clients that add the token after signing).
pub fn canonical_query(query: &str, kind: AuthKind, omit_token: bool) -> String {
    if query.is_empty() {
        return String::new();
    }
    let mut pairs: Vec<(String, String)> = query_pairs(query)
        .into_iter()
        .filter(|(k, _)| !(kind == AuthKind::Presigned && k == "X-Amz-Signature"))
        .filter(|(k, _)| !(omit_token && k == "X-Amz-Security-Token"))
        .map(|(k, v)| (uri_encode(&k, false), uri_encode(&v, false)))
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// Appends a header value as SigV4 wants it: trimmed, inner runs of whitespace as one space.
fn push_canonical_header_value(v: &str, out: &mut String) {
    let mut space = false;
    let mut any = false;
    for c in v.trim().chars() {
        if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
            space = true;
        } else {
            if space && any {
                out.push(' ');
            }
            space = false;
            any = true;
            out.push(c);
        }
    }
}

/// Builds the canonical request. Fails when a signed header is absent, or `host` is not signed.
pub fn canonical_request(req: &Request<'_>, auth: &Auth, normalize: bool) -> Result<String, Error> {
    canonical_request_with(req, auth, normalize, false)
}

/// As `canonical_request`; `omit_token` leaves a presigned `X-Amz-Security-Token` out of the query.
pub fn canonical_request_with(req: &Request<'_>, auth: &Auth, normalize: bool, omit_token: bool) -> Result<String, Error> {
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(Error::SignatureDoesNotMatch("'Host' must be a 'SignedHeader' in the AWS Authorization.".into()));
    }
    let mut sorted: Vec<&str> = auth.signed_headers.iter().map(|s| s.as_str()).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::with_capacity(512);
    out.push_str(req.method);
    out.push('\n');
    out.push_str(&canonical_uri(req.path, normalize));
    out.push('\n');
    out.push_str(&canonical_query(req.query, auth.kind, omit_token));
    out.push('\n');
    for name in &sorted {
        out.push_str(name);
        out.push(':');
        let mut first = true;
        for (_, v) in req.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)) {
            if !first {
                out.push(',');
            }
            first = false;
            push_canonical_header_value(v, &mut out);
        }
        if first {
            return Err(Error::SignatureDoesNotMatch(SIGNATURE_MISMATCH.into()));
        }
        out.push('\n');
    }
    out.push('\n');
    for (i, name) in sorted.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name);
    }
    out.push('\n');
    if req.body.is_empty() {
        out.push_str(EMPTY_SHA256);
    } else {
        push_hex(&mut out, &Sha256::digest(req.body));
    }
    Ok(out)
}

/// Appends a SHA-256 digest as lower-case hex, without a temporary string.
fn push_hex(out: &mut String, digest: &[u8]) {
    let mut buf = [0u8; 64];
    match hex::encode_to_slice(digest, &mut buf) {
        Ok(()) => out.push_str(std::str::from_utf8(&buf).expect("hex is ASCII")),
        Err(_) => out.push_str(&hex::encode(digest)),
    }
}

pub fn string_to_sign(auth: &Auth, canonical_request: &str) -> String {
    let mut out = String::with_capacity(ALGORITHM.len() + auth.amz_date.len() + auth.scope_date.len() + auth.region.len() + auth.service.len() + 86);
    out.push_str(ALGORITHM);
    out.push('\n');
    out.push_str(&auth.amz_date);
    out.push('\n');
    auth.push_scope(&mut out);
    out.push('\n');
    push_hex(&mut out, &Sha256::digest(canonical_request.as_bytes()));
    out
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().into()
}

/// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac(signing_key, string_to_sign.as_bytes()))
}

/// Verifies `auth.signature` over the request with the given signing key, in constant time.
/// A presigned URL whose session token was appended after signing (the suite's `omit_session_token`
/// mode) is accepted too: the token is a sealed credential that authenticates itself.
pub fn verify(req: &Request<'_>, auth: &Auth, signing_key: &[u8; 32], normalize: bool) -> Result<(), Error> {
    // Compared as the 32 bytes the hex names (parse checked it is 64 hex digits; anything else
    // matches nothing).
    let mut given = [0u8; 32];
    let given = hex::decode_to_slice(&auth.signature, &mut given).ok().map(|()| given);
    let matches = |omit: bool| -> Result<bool, Error> {
        let creq = canonical_request_with(req, auth, normalize, omit)?;
        let expected = hmac(signing_key, string_to_sign(auth, &creq).as_bytes());
        Ok(given.is_some_and(|g| bool::from(expected.ct_eq(&g))))
    };
    let token_in_query = auth.kind == AuthKind::Presigned && auth.security_token.is_some();
    if matches(false)? || (token_in_query && matches(true)?) {
        Ok(())
    } else {
        Err(Error::SignatureDoesNotMatch(SIGNATURE_MISMATCH.into()))
    }
}

/// Client side, for tests and the load benchmark: signs a POST form request with header auth and
/// returns the Authorization header value.
pub fn sign_header(req: &Request<'_>, access_key_id: &str, secret: &str, amz_date: &str, region: &str, service: &str, signed_headers: &[&str]) -> String {
    let auth = Auth {
        kind: AuthKind::Header,
        access_key_id: access_key_id.into(),
        scope_date: amz_date[..8].into(),
        region: region.into(),
        service: service.into(),
        amz_date: amz_date.into(),
        timestamp: 0,
        signed_headers: signed_headers.iter().map(|s| s.to_string()).collect(),
        signature: String::new(),
        security_token: None,
        expires: None,
    };
    let creq = canonical_request(req, &auth, true).expect("signed headers present");
    let sig = signature(&signing_key(secret, &auth.scope_date, region, service), &string_to_sign(&auth, &creq));
    let mut sh: Vec<&str> = signed_headers.to_vec();
    sh.sort();
    format!("{ALGORITHM} Credential={access_key_id}/{}, SignedHeaders={}, Signature={sig}", auth.scope(), sh.join(";"))
}

#[cfg(test)]
mod tests;
