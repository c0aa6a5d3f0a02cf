//! HTML building blocks for the console: escaping, the page frame, forms. Pages are plain
//! server-rendered HTML; every field has a label and every form a CSRF token.

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The header of a signed-in page.
pub struct Nav<'a> {
    pub who: &'a str,
    pub csrf: &'a str,
    /// Whether the full console is open (not only a sign-in step).
    pub full: bool,
}

pub fn page(title: &str, nav: Option<&Nav>, body: &str, scripts: bool) -> String {
    let header = match nav {
        Some(n) if n.full => format!(
            r#"<header><span class="brand">iamd console</span><a href="/console">Home</a><a href="/console/security">Security credentials</a><a href="/console/users">Users</a><a href="/console/events">Event history</a><span class="muted">{who}</span>{signout}</header>"#,
            who = esc(n.who),
            signout = signout_form(n.csrf)
        ),
        Some(n) => format!(r#"<header><span class="brand">iamd console</span><span class="muted">{}</span>{}</header>"#, esc(n.who), signout_form(n.csrf)),
        None => r#"<header><span class="brand">iamd console</span></header>"#.to_string(),
    };
    let script = if scripts { r#"<script src="/console/static/webauthn.js" defer></script>"# } else { "" };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title} · iamd</title><link rel="stylesheet" href="/console/static/style.css">{script}</head>
<body>{header}<main>{body}</main></body></html>"#,
        title = esc(title)
    )
}

fn signout_form(csrf: &str) -> String {
    format!(r#"<form method="post" action="/console/signout">{}<button type="submit" class="link">Sign out</button></form>"#, csrf_field(csrf))
}

pub fn csrf_field(csrf: &str) -> String {
    format!(r#"<input type="hidden" name="csrf" value="{}">"#, esc(csrf))
}

pub fn hidden(name: &str, value: &str) -> String {
    format!(r#"<input type="hidden" name="{}" value="{}">"#, esc(name), esc(value))
}

/// A labelled input. `kind` is the input type; `extra` more attributes.
pub fn field(label: &str, name: &str, kind: &str, value: &str, extra: &str) -> String {
    let id = format!("f-{name}");
    format!(r#"<label for="{id}">{}</label><input id="{id}" name="{}" type="{kind}" value="{}" {extra}>"#, esc(label), esc(name), esc(value))
}

pub fn error_box(msg: Option<&str>) -> String {
    match msg {
        Some(m) => format!(r#"<div class="error" role="alert">{}</div>"#, esc(m)),
        None => String::new(),
    }
}

pub fn notice_box(msg: Option<&str>) -> String {
    match msg {
        Some(m) => format!(r#"<div class="notice" role="status">{}</div>"#, esc(m)),
        None => String::new(),
    }
}

/// A date for tables (UTC).
pub fn when(ms: Option<i64>) -> String {
    match ms.and_then(chrono::DateTime::from_timestamp_millis) {
        Some(t) => t.format("%Y-%m-%d %H:%M UTC").to_string(),
        None => "Never".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(esc(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn fields_have_labels_bound_to_them() {
        let f = field("MFA code", "code", "text", "", "");
        assert!(f.contains(r#"<label for="f-code">MFA code</label>"#));
        assert!(f.contains(r#"id="f-code""#));
    }
}
