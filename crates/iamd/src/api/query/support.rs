//! What the handlers share: the caller's account, opaque markers and the pages of a listing.

use crate::api::params::{self, GROUP_NAME, ROLE_NAME};
use crate::api::xml::Xml;
use crate::auth::Caller;
use crate::domain::policies::Holder;
use crate::error::{AwsError, Result};
use base64::Engine;

pub type Out = Result<Option<String>>;

pub(super) fn account(c: &Caller) -> &str {
    &c.principal.account_id
}

/// Markers are opaque to clients: base64 of where the next page starts.
pub(super) fn encode_marker(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s.as_bytes())
}

pub(super) fn decode_marker(m: Option<&str>) -> Result<Option<String>> {
    use base64::Engine;
    match m {
        None => Ok(None),
        Some(m) => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(m)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(Some)
            .ok_or_else(|| AwsError::invalid_input("Invalid Marker.")),
    }
}

/// Pages over a sorted list by an opaque marker holding the next item's key.
pub(super) fn page<T>(items: Vec<T>, key: impl Fn(&T) -> String, marker: Option<String>, max: i64) -> (Vec<T>, Option<String>) {
    let start = marker.unwrap_or_default();
    let mut rest: Vec<T> = items.into_iter().filter(|i| key(i) >= start).collect();
    let next = if rest.len() as i64 > max { Some(key(&rest[max as usize])) } else { None };
    rest.truncate(max as usize);
    (rest, next)
}

/// A page of a List*Tags answer: tags sorted by key (see `tags::list`), `MaxItems` of them from the
/// key the marker names.
pub(super) fn tags_page(tags: Vec<(String, String)>, marker: Option<String>, max: i64) -> Out {
    let (tags, next) = page(tags, |(k, _)| k.clone(), decode_marker(marker.as_deref())?, max);
    let mut x = Xml::new();
    x.tags("Tags", &tags).paging(next.map(|n| encode_marker(&n)).as_deref());
    Ok(Some(x.buf))
}

pub(super) fn names_page(names: Vec<String>, marker: Option<String>, max: i64) -> Out {
    let (names, next) = page(names, |n| n.clone(), decode_marker(marker.as_deref())?, max);
    let mut x = Xml::new();
    x.list("PolicyNames", &names, |x, n| crate::api::xml::escape(n, &mut x.buf));
    x.paging(next.map(|n| encode_marker(&n)).as_deref());
    Ok(Some(x.buf))
}

/// A page of ListAttached{User,Group,Role}Policies: the policies whose path starts with `prefix`,
/// by name, `max` of them from the marker's.
pub(super) fn attached_page(list: Vec<(String, String)>, prefix: &str, marker: Option<String>, max: i64) -> Out {
    let path_of = |arn: &str| -> String {
        let rest = arn.split_once(":policy").map_or("", |(_, r)| r);
        rest.rfind('/').map_or("/".into(), |i| rest[..=i].to_string())
    };
    let list: Vec<(String, String)> = list.into_iter().filter(|(_, a)| path_of(a).starts_with(prefix)).collect();
    let (list, next) = page(list, |(n, a)| format!("{n}\u{0}{a}"), decode_marker(marker.as_deref())?, max);
    let mut x = Xml::new();
    x.list("AttachedPolicies", &list, |x, (n, a)| {
        x.text("PolicyName", n).text("PolicyArn", a);
    });
    x.paging(next.map(|n| encode_marker(&n)).as_deref());
    Ok(Some(x.buf))
}

/// The parameter that names the holder, and its model.
pub(super) fn holder_param(holder: Holder) -> (&'static str, &'static params::Spec) {
    match holder {
        Holder::User => ("UserName", &params::EXISTING_USER_NAME),
        Holder::Group => ("GroupName", &GROUP_NAME),
        Holder::Role => ("RoleName", &ROLE_NAME),
    }
}

/// Standard base64, as IAM encodes seeds, QR codes and reports.
pub(super) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
