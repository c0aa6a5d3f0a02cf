//! The one decoding of `application/x-www-form-urlencoded` text that iamd has: the Query API's
//! parameters (body or query string), SigV4's view of a presigned query and the console's forms and
//! query strings all read through [`pairs`], so a value cannot mean one thing to the signature check
//! and another to the handler. Also the `Cookie` header ([`cookies`]).
//!
//! Pure and allocation-bounded by its input: fuzzed (`fuzz/fuzz_targets/forms.rs`) against the
//! `form_urlencoded` crate as an independent oracle.

use percent_encoding::{percent_decode, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Decodes form text into (name, value) pairs, in order, duplicates kept: split on `&`, empty
/// pieces skipped, a piece without `=` is a name with an empty value, `+` is a space, `%XX` a byte
/// (a malformed escape stays as written), and bytes that are not UTF-8 become U+FFFD.
pub fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    raw.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|&b| b == b'=') {
            Some(i) => (decode(&p[..i]), decode(&p[i + 1..])),
            None => (decode(p), String::new()),
        })
        .collect()
}

fn decode(s: &[u8]) -> String {
    // Most names and values need no decoding: one copy instead of three.
    if !s.iter().any(|&b| b == b'+' || b == b'%') {
        return String::from_utf8_lossy(s).into_owned();
    }
    let spaced: Vec<u8> = s.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
    let bytes: Vec<u8> = percent_decode(&spaced).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The first value given for `name` (later duplicates are ignored, everywhere in iamd).
pub fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// What may stay unescaped in form text (the form_urlencoded set: alphanumerics and `*-._`).
const FORM: &AsciiSet = &NON_ALPHANUMERIC.remove(b'*').remove(b'-').remove(b'.').remove(b'_');

/// Encodes pairs as form text that [`pairs`] decodes back to the same pairs (spaces as `+`).
pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let enc = |s: &str| utf8_percent_encode(s, FORM).to_string().replace("%20", "+");
    pairs.into_iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

/// The `Cookie` header's cookies, in order: `name=value` pieces split on `;`, each side trimmed;
/// a piece without `=` is not a cookie. Values are not decoded (iamd's cookies are base64url).
pub fn cookies(header: &str) -> Vec<(String, String)> {
    header.split(';').filter_map(|c| c.trim().split_once('=').map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oracle(raw: &[u8]) -> Vec<(String, String)> {
        form_urlencoded::parse(raw).into_owned().collect()
    }

    #[test]
    fn plus_is_a_space_and_percent_2b_a_plus() {
        assert_eq!(pairs(b"a=x+y&b=x%2By"), vec![("a".into(), "x y".into()), ("b".into(), "x+y".into())]);
    }

    #[test]
    fn edge_cases_agree_with_form_urlencoded() {
        for raw in [&b""[..], b"&&", b"=", b"a", b"a=", b"=b", b"a=b=c", b"%", b"%4", b"%zz", b"%ff%fe", b"a=%E2%82%AC", b"\xff=\xfe", b"a=1&a=2", b"+%2B+"] {
            assert_eq!(pairs(raw), oracle(raw), "{raw:?}");
        }
    }

    #[test]
    fn the_first_duplicate_wins() {
        let p = pairs(b"Action=ListUsers&Action=DeleteUser");
        assert_eq!(first(&p, "Action"), Some("ListUsers"));
        assert_eq!(first(&p, "UserName"), None);
    }

    #[test]
    fn encode_round_trips() {
        let v = [("a b", "c&d=e"), ("ü", "+%"), ("", "")];
        let text = encode(v.iter().copied());
        let back: Vec<(String, String)> = v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        assert_eq!(pairs(text.as_bytes()), back);
        assert_eq!(text, form_urlencoded::Serializer::new(String::new()).extend_pairs(v.iter()).finish());
    }

    #[test]
    fn cookies_are_trimmed_and_need_an_equals_sign() {
        assert_eq!(cookies(" a=1; b = 2 ;junk; c=x=y"), vec![("a".into(), "1".into()), ("b".into(), "2".into()), ("c".into(), "x=y".into())]);
    }
}
