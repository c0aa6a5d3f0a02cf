#![no_main]
//! The one form decoding (crate `wire`) that the Query API's parameters, SigV4's canonical query and
//! the console's forms all read through. Any bytes: it agrees with `form_urlencoded` (an independent
//! implementation), what it decodes re-encodes to the same pairs, SigV4 sees the same pairs, and the
//! Cookie header reader never yields a name with a separator in it. Nothing may panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ours = wire::pairs(data);
    let oracle: Vec<(String, String)> = form_urlencoded::parse(data).into_owned().collect();
    assert_eq!(ours, oracle, "form {data:?}");
    let again = wire::encode(ours.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    assert_eq!(wire::pairs(again.as_bytes()), ours, "re-encoded {again:?}");
    if let Some((k, _)) = ours.first() {
        assert_eq!(wire::first(&ours, k), ours.first().map(|(_, v)| v.as_str()));
    }
    if let Ok(q) = std::str::from_utf8(data) {
        assert_eq!(sigv4::query_pairs(q), ours);
        let _ = sigv4::canonical_query(q, sigv4::AuthKind::Presigned, true);
        for (name, value) in wire::cookies(q) {
            assert!(!name.contains(';') && !value.contains(';') && name.trim() == name && value.trim() == value);
        }
    }
});
