//! The official SigV4 suite (../shared/vectors/sigv4/v4), read at test time, plus the error cases.

use super::*;
use std::path::PathBuf;

struct Parsed {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Parsed {
    fn with<R>(&self, f: impl FnOnce(&Request<'_>) -> R) -> R {
        let headers: Vec<(&str, &str)> = self.headers.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        f(&Request { method: &self.method, path: &self.path, query: &self.query, headers: &headers, body: &self.body })
    }
}

fn vectors_dir() -> PathBuf {
    if let Ok(d) = std::env::var("IAMD_SIGV4_VECTORS") {
        return d.into();
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/sigv4/v4")
}

/// Parses the suite's request files: a request line whose path may hold spaces, headers with
/// folded continuation lines, a blank line, then the body.
fn parse_request(text: &str) -> Parsed {
    let (head, body) = match text.find("\n\n") {
        Some(i) => (&text[..i], &text[i + 2..]),
        None => (text.trim_end_matches('\n'), ""),
    };
    let mut lines = head.lines();
    let first = lines.next().unwrap();
    let (method, rest) = first.split_once(' ').unwrap();
    let target = rest.strip_suffix(" HTTP/1.1").unwrap();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with(' ') || line.starts_with('\t') {
            let last = headers.last_mut().unwrap();
            last.1.push(' ');
            last.1.push_str(line);
        } else {
            let (n, v) = line.split_once(':').unwrap();
            headers.push((n.to_string(), v.to_string()));
        }
    }
    Parsed { method: method.into(), path: path.into(), query: query.into(), headers, body: body.as_bytes().to_vec() }
}

fn read(dir: &std::path::Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
}

fn json_str(ctx: &str, key: &str) -> String {
    let i = ctx.find(&format!("\"{key}\"")).unwrap_or_else(|| panic!("{key} in context"));
    let rest = &ctx[i + key.len() + 2..];
    let rest = &rest[rest.find('"').unwrap() + 1..];
    rest[..rest.find('"').unwrap()].to_string()
}

fn run_case(dir: &std::path::Path, prefix: &str) {
    let ctx = read(dir, "context.json");
    let secret = json_str(&ctx, "secret_access_key");
    let region = json_str(&ctx, "region");
    let service = json_str(&ctx, "service");
    let normalize = !ctx.contains("\"normalize\": false");
    let now = parse_amz_date(&json_str(&ctx, "timestamp").replace(['-', ':'], "")).unwrap();
    let signed = parse_request(&read(dir, &format!("{prefix}-signed-request.txt")));
    let want_creq = read(dir, &format!("{prefix}-canonical-request.txt"));
    let want_sts = read(dir, &format!("{prefix}-string-to-sign.txt"));
    let want_sig = read(dir, &format!("{prefix}-signature.txt"));
    signed.with(|req| {
        let auth = parse(req).unwrap_or_else(|e| panic!("{}: parse: {e:?}", dir.display()));
        assert_eq!(auth.region, region);
        assert_eq!(auth.service, service);
        assert_eq!(auth.kind, if prefix == "header" { AuthKind::Header } else { AuthKind::Presigned });
        let omit = prefix == "query" && ctx.contains("\"omit_session_token\": true");
        let creq = canonical_request_with(req, &auth, normalize, omit).unwrap();
        assert_eq!(creq, want_creq.trim_end_matches('\n'), "{} {prefix} canonical request", dir.display());
        assert_eq!(string_to_sign(&auth, &creq), want_sts.trim_end_matches('\n'), "{} {prefix} string to sign", dir.display());
        assert_eq!(auth.signature, want_sig.trim());
        let key = signing_key(&secret, &auth.scope_date, &auth.region, &auth.service);
        verify(req, &auth, &key, normalize).unwrap_or_else(|e| panic!("{} {prefix}: {e:?}", dir.display()));
        check_time(&auth, now).unwrap();
        let wrong = signing_key("not-the-secret", &auth.scope_date, &auth.region, &auth.service);
        assert!(verify(req, &auth, &wrong, normalize).is_err());
    });
}

#[test]
fn every_published_vector_verifies_with_header_and_query_auth() {
    let dir = vectors_dir();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("SigV4 vectors at {}: {e} (set IAMD_SIGV4_VECTORS)", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("context.json").exists())
        .collect();
    cases.sort();
    assert!(cases.len() >= 30, "expected the whole suite, found {}", cases.len());
    let mut ran = 0;
    for case in &cases {
        for prefix in ["header", "query"] {
            if case.join(format!("{prefix}-signed-request.txt")).exists() {
                run_case(case, prefix);
                ran += 1;
            }
        }
    }
    assert!(ran >= 60, "ran {ran}");
}

fn req_with<'a>(headers: &'a [(&'a str, &'a str)], query: &'a str) -> Request<'a> {
    Request { method: "POST", path: "/", query, headers, body: b"Action=GetCallerIdentity&Version=2011-06-15" }
}

#[test]
fn missing_authorization_is_missing_authentication_token() {
    let h = [("Host", "localhost")];
    assert_eq!(parse(&req_with(&h, "")).unwrap_err(), Error::MissingAuthenticationToken);
}

#[test]
fn incomplete_header_names_the_missing_part() {
    let cases = [
        ("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00", "'Credential'"),
        ("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request, SignedHeaders=host", "'Signature'"),
        ("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request, Signature=00", "'SignedHeaders'"),
    ];
    for (authz, needle) in cases {
        let h = [("Host", "localhost"), ("X-Amz-Date", "20150830T123600Z"), ("Authorization", authz)];
        match parse(&req_with(&h, "")).unwrap_err() {
            Error::IncompleteSignature(m) => assert!(m.contains(needle), "{m}"),
            e => panic!("{e:?}"),
        }
    }
    let h =
        [("Host", "localhost"), ("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=00")];
    match parse(&req_with(&h, "")).unwrap_err() {
        Error::IncompleteSignature(m) => assert!(m.starts_with("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")),
        e => panic!("{e:?}"),
    }
    let h = [("Host", "localhost"), ("Authorization", "AWS4-HMAC-SHA512 Credential=a")];
    assert_eq!(parse(&req_with(&h, "")).unwrap_err(), Error::IncompleteSignature("Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'".into()));
    let h = [
        ("Host", "localhost"),
        ("X-Amz-Date", "2015-08-30"),
        ("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=00"),
    ];
    match parse(&req_with(&h, "")).unwrap_err() {
        Error::IncompleteSignature(m) => assert!(m.starts_with("Date must be in ISO-8601 'basic format'. Got '2015-08-30'.")),
        e => panic!("{e:?}"),
    }
}

#[test]
fn presigned_without_credential_is_incomplete() {
    let h = [("Host", "localhost")];
    match parse(&req_with(&h, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00")).unwrap_err() {
        Error::IncompleteSignature(m) => assert!(m.contains("'X-Amz-Credential'"), "{m}"),
        e => panic!("{e:?}"),
    }
}

#[test]
fn clock_skew_beyond_fifteen_minutes_is_refused_with_aws_text() {
    let h = [("Host", "localhost"), ("X-Amz-Date", "20210502T144040Z"), ("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20210502/us-east-1/iam/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000")];
    let auth = parse(&req_with(&h, "")).unwrap();
    let now = parse_amz_date("20210502T174643Z").unwrap();
    assert_eq!(
        check_time(&auth, now).unwrap_err(),
        Error::SignatureDoesNotMatch("Signature expired: 20210502T144040Z is now earlier than 20210502T173143Z (20210502T174643Z - 15 min.)".into())
    );
    let now = parse_amz_date("20210502T142000Z").unwrap();
    assert_eq!(
        check_time(&auth, now).unwrap_err(),
        Error::SignatureDoesNotMatch("Signature not yet current: 20210502T144040Z is still later than 20210502T143500Z (20210502T142000Z + 15 min.)".into())
    );
    assert!(check_time(&auth, parse_amz_date("20210502T145500Z").unwrap()).is_ok());
}

#[test]
fn scope_date_must_match_request_date() {
    let h = [("Host", "localhost"), ("X-Amz-Date", "20210502T144040Z"), ("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20210501/us-east-1/iam/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000")];
    assert!(matches!(parse(&req_with(&h, "")).unwrap_err(), Error::SignatureDoesNotMatch(_)));
}

#[test]
fn host_must_be_signed_and_tampered_body_fails() {
    let h = [("Host", "localhost"), ("X-Amz-Date", "20210502T144040Z"), ("Content-Type", "application/x-www-form-urlencoded")];
    let req = req_with(&h, "");
    let authz = sign_header(&req, "AKID", "secret", "20210502T144040Z", "us-east-1", "sts", &["host", "x-amz-date", "content-type"]);
    let h2 = [h[0], h[1], h[2], ("Authorization", authz.as_str())];
    let req = req_with(&h2, "");
    let auth = parse(&req).unwrap();
    let key = signing_key("secret", &auth.scope_date, &auth.region, &auth.service);
    verify(&req, &auth, &key, true).unwrap();
    let tampered = Request { body: b"Action=GetCallerIdentity&Version=2011-06-16", ..req.clone() };
    assert_eq!(verify(&tampered, &auth, &key, true).unwrap_err(), Error::SignatureDoesNotMatch(SIGNATURE_MISMATCH.into()));
    let mut no_host = auth.clone();
    no_host.signed_headers = vec!["x-amz-date".into()];
    assert!(verify(&req, &no_host, &key, true).is_err());
}

#[test]
fn a_plus_and_its_escape_decode_differently_everywhere() {
    // `+` is a space in a query, as in a form body; `%2B` is a plus. Swapping one for the other
    // changes the canonical query, so it breaks the signature.
    assert_eq!(query_pairs("a=x+y&b=x%2By"), vec![("a".to_string(), "x y".to_string()), ("b".to_string(), "x+y".to_string())]);
    assert_ne!(canonical_query("a=x+y", AuthKind::Header, false), canonical_query("a=x%2By", AuthKind::Header, false));
    assert_eq!(canonical_query("a=x+y", AuthKind::Header, false), "a=x%20y");
}

#[test]
fn presigned_requests_must_say_when_they_expire() {
    let base = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Signature=0000000000000000000000000000000000000000000000000000000000000000";
    let headers = [("host", "example.amazonaws.com")];
    for (extra, ok) in [
        ("", false),
        ("&X-Amz-Expires=", false),
        ("&X-Amz-Expires=0", false),
        ("&X-Amz-Expires=604801", false),
        ("&X-Amz-Expires=-5", false),
        ("&X-Amz-Expires=60", true),
    ] {
        let q = format!("{base}{extra}");
        let req = Request { method: "GET", path: "/", query: &q, headers: &headers, body: b"" };
        let r = parse(&req);
        assert_eq!(r.is_ok(), ok, "{extra}: {r:?}");
        if let Ok(a) = r {
            assert_eq!(a.expires, Some(60));
            assert!(check_time(&a, a.timestamp + 61).is_err(), "expired after its 60 s");
        }
    }
}

#[test]
fn multibyte_dates_are_refused_not_sliced() {
    let headers = [("host", "example.amazonaws.com"), ("x-amz-date", "2015é830T12360Z"),
        ("authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2015é830/us-east-1/iam/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000")];
    let req = Request { method: "POST", path: "/", query: "", headers: &headers, body: b"" };
    assert!(matches!(parse(&req), Err(Error::IncompleteSignature(_))));
    let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F2015%C3%A9830%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=2015%C3%A9830T12360Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=0000000000000000000000000000000000000000000000000000000000000000";
    let req = Request { method: "GET", path: "/", query: q, headers: &headers[..1], body: b"" };
    assert!(parse(&req).is_err());
}

#[test]
fn an_echoed_authorization_header_never_shows_the_signature() {
    let sig = "a".repeat(64);
    let h = format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, Signature={sig}");
    let headers = [("host", "example.amazonaws.com"), ("authorization", h.as_str())];
    let req = Request { method: "POST", path: "/", query: "", headers: &headers, body: b"" };
    match parse(&req) {
        Err(Error::IncompleteSignature(m)) => {
            assert!(m.contains("SignedHeaders") && m.contains("Signature=REDACTED") && !m.contains(&sig), "{m}");
        }
        other => panic!("{other:?}"),
    }
}
