#![no_main]
//! Any bytes as an HTTP request (the official vectors' format): method line, headers, blank line,
//! body. Parse the authentication, check its time, canonicalise and verify. Nothing may panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let first = lines.next().unwrap_or("");
    let mut words = first.split(' ');
    let method = words.next().unwrap_or("GET");
    let target = words.next().unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers: Vec<(String, String)> = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.to_ascii_lowercase(), v.to_string())).collect();
    let refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let req = sigv4::Request { method, path, query, headers: &refs, body: body.as_bytes() };
    if let Ok(auth) = sigv4::parse(&req) {
        let _ = sigv4::check_time(&auth, 1_440_938_160);
        let _ = sigv4::canonical_request(&req, &auth, true);
        let key = sigv4::signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", &auth.scope_date, &auth.region, &auth.service);
        let _ = sigv4::verify(&req, &auth, &key, true);
    }
});
