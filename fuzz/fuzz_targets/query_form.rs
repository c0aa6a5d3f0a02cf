#![no_main]
//! The SigV4 canonical query and the parameters the server reads must decode any query string the
//! same way (a `+` is a space, `%2B` a plus): otherwise a signed value could be changed without
//! breaking the signature.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(q) = std::str::from_utf8(data) {
        let ours = sigv4::query_pairs(q);
        let form: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes()).into_owned().collect();
        assert_eq!(ours, form, "query {q:?}");
        let _ = sigv4::canonical_query(q, sigv4::AuthKind::Presigned, true);
    }
});
