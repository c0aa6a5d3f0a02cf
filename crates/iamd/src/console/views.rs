//! The console's views: one struct per page, rendered by its askama template under
//! `crates/iamd/templates/console/` (`base.html` is the frame every page extends, `macros.html` the
//! shared parts). Templates escape every value by default; the one value marked `|safe` is the
//! WebAuthn options JSON, made inert for a `<script>` block by [`json_in_html`].

use super::{Ctx, Out};
use crate::domain::console::Stage;
use crate::domain::mfa::{Device, Kind};
use askama::Template;

/// The header of a signed-in page.
pub struct Nav {
    pub who: String,
    pub csrf: String,
    /// Whether the full console is open (not only a sign-in step).
    pub full: bool,
}

/// What every page has: its title, its header (signed in or not) and whether it runs the WebAuthn script.
pub struct Frame {
    pub title: String,
    pub nav: Option<Nav>,
    pub scripts: bool,
}

impl Frame {
    pub fn signed_out(title: &str) -> Frame {
        Frame { title: title.to_string(), nav: None, scripts: false }
    }
}

/// Renders a view as the page. (A template that fails to render is a bug: logged, and a bare 500.)
pub fn page(view: &impl Template) -> Out {
    match view.render() {
        Ok(html) => Out::page(html),
        Err(e) => {
            tracing::error!(error = %e, "a console template did not render");
            Out::page("<!doctype html><title>Error · iamd</title><p>The page could not be shown.</p>".into()).status(500)
        }
    }
}

/// JSON inside a `<script type="application/json">` block: `<`, `>` and `&` are escaped so the text
/// cannot end the block.
pub fn json_in_html(s: &str) -> String {
    s.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

/// A date for tables (UTC).
pub fn when(ms: Option<i64>) -> String {
    match ms.and_then(chrono::DateTime::from_timestamp_millis) {
        Some(t) => t.format("%Y-%m-%d %H:%M UTC").to_string(),
        None => "Never".into(),
    }
}

/// A device as the tables and the device choice show it.
pub struct DeviceRow {
    pub name: String,
    pub kind: &'static str,
    pub serial: String,
    pub assigned: String,
    pub last_used: String,
}

#[derive(Template)]
#[template(path = "console/signin.html")]
pub struct Signin<'a> {
    pub frame: Frame,
    pub root: bool,
    pub error: Option<&'a str>,
    pub token: &'a str,
    pub account: &'a str,
    pub name: &'a str,
}

#[derive(Template)]
#[template(path = "console/mfa_choose.html")]
pub struct MfaChoose<'a> {
    pub frame: Frame,
    pub error: Option<&'a str>,
    pub csrf: &'a str,
    pub devices: Vec<DeviceRow>,
}

#[derive(Template)]
#[template(path = "console/mfa_verify.html")]
pub struct MfaVerify<'a> {
    pub frame: Frame,
    pub error: Option<&'a str>,
    pub csrf: &'a str,
    /// The device's type, in lower case ("authenticator app").
    pub kind: String,
    pub name: String,
    /// For a security key: the WebAuthn request options (already through `json_in_html`).
    pub key_options: Option<String>,
}

#[derive(Template)]
#[template(path = "console/password.html")]
pub struct ForcedPassword<'a> {
    pub frame: Frame,
    pub error: Option<&'a str>,
    pub csrf: &'a str,
}

#[derive(Template)]
#[template(path = "console/home.html")]
pub struct Home {
    pub frame: Frame,
    pub arn: String,
    pub mfa_serial: Option<String>,
    pub until: String,
}

/// One of the principal's `aws login`s still in force.
pub struct CliLoginRow {
    pub id: String,
    pub device: String,
    pub signed_in: String,
    pub refreshed: String,
    pub ip: String,
}

pub struct KeyRow {
    pub id: String,
    pub status: String,
    pub active: bool,
    pub created: String,
}

#[derive(Template)]
#[template(path = "console/security.html")]
pub struct Security<'a> {
    pub frame: Frame,
    pub cli_logins: Vec<CliLoginRow>,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub csrf: &'a str,
    pub me: String,
    /// None: no permission to list them.
    pub devices: Option<Vec<DeviceRow>>,
    pub can_remove: bool,
    pub at_max: bool,
    pub can_assign: bool,
    pub can_change_password: bool,
    /// None: no permission to list them.
    pub keys: Option<Vec<KeyRow>>,
    pub may_update: bool,
    pub may_delete: bool,
    pub can_create_key: bool,
}

#[derive(Template)]
#[template(path = "console/assign.html")]
pub struct Assign<'a> {
    pub frame: Frame,
    pub at_max: bool,
    pub error: Option<&'a str>,
    pub csrf: &'a str,
    pub name: &'a str,
}

#[derive(Template)]
#[template(path = "console/app.html")]
pub struct AppSetup<'a> {
    pub frame: Frame,
    pub error: Option<&'a str>,
    pub csrf: &'a str,
    pub name: &'a str,
    pub serial: &'a str,
    pub seed: &'a str,
    /// The otpauth URI as a PNG, base64.
    pub qr: String,
}

#[derive(Template)]
#[template(path = "console/hardware.html")]
pub struct HardwareSetup<'a> {
    pub frame: Frame,
    pub error: Option<&'a str>,
    pub csrf: &'a str,
    pub name: &'a str,
    pub serial: &'a str,
}

#[derive(Template)]
#[template(path = "console/key.html")]
pub struct KeySetup<'a> {
    pub frame: Frame,
    pub error: Option<&'a str>,
    pub csrf: &'a str,
    pub name: &'a str,
    /// The WebAuthn creation options (already through `json_in_html`).
    pub options: String,
}

#[derive(Template)]
#[template(path = "console/remove.html")]
pub struct Remove<'a> {
    pub frame: Frame,
    pub csrf: &'a str,
    pub kind: String,
    pub name: String,
    pub serial: &'a str,
    pub for_user: Option<&'a str>,
    pub action: &'a str,
    pub back: &'a str,
}

#[derive(Template)]
#[template(path = "console/key_created.html")]
pub struct KeyCreated<'a> {
    pub frame: Frame,
    pub id: &'a str,
    pub secret: &'a str,
}

/// A page that is one card with a message (no permission) or an error.
#[derive(Template)]
#[template(path = "console/message.html")]
pub struct Message<'a> {
    pub frame: Frame,
    pub text: &'a str,
    pub error: Option<&'a str>,
}

pub struct UserRow {
    pub name: String,
    pub mfa: String,
    pub created: String,
    pub last_sign_in: String,
}

#[derive(Template)]
#[template(path = "console/users.html")]
pub struct Users {
    pub frame: Frame,
    /// The name prefix searched for.
    pub q: String,
    /// (value, label, selected) of the MFA filter.
    pub filters: Vec<(&'static str, &'static str, bool)>,
    pub error: Option<&'static str>,
    pub users: Vec<UserRow>,
    /// The query of the next page, when there is one.
    pub next: Option<String>,
}

#[derive(Template)]
#[template(path = "console/user.html")]
pub struct User<'a> {
    pub frame: Frame,
    pub csrf: &'a str,
    pub name: &'a str,
    pub arn: String,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub devices: Option<Vec<DeviceRow>>,
    pub remove_action: String,
    pub can_remove: bool,
    /// The user's `aws login`s in force.
    pub cli_logins: usize,
    pub can_end_sessions: bool,
}

pub struct EventRow {
    pub time: String,
    pub name: String,
    pub who: String,
    pub ip: String,
    pub device: String,
    pub outcome: String,
}

pub struct Bar {
    pub x: String,
    pub y: String,
    pub width: String,
    pub height: String,
    pub color: &'static str,
    pub title: String,
}

pub struct Label {
    pub x: String,
    pub y: f64,
    pub text: String,
}

/// The stacked bars of sign-ins per day, with the axis and the legend.
pub struct Chart {
    pub width: f64,
    pub height: f64,
    pub view_height: f64,
    pub pad: f64,
    pub max: u32,
    pub bars: Vec<Bar>,
    pub labels: Vec<Label>,
    /// (swatch index, type, count)
    pub legend: Vec<(usize, &'static str, u32)>,
    pub total: u32,
}

#[derive(Template)]
#[template(path = "console/events.html")]
pub struct Events<'a> {
    pub frame: Frame,
    pub user: &'a str,
    pub event: &'a str,
    pub start: String,
    pub end: String,
    pub chart: Chart,
    pub rows: Vec<EventRow>,
    /// The query of the next page, when there is one.
    pub older: Option<String>,
}

#[derive(Template)]
#[template(path = "console/error.html")]
pub struct ErrorPage<'a> {
    pub frame: Frame,
    pub text: &'a str,
    pub request_id: &'a str,
}

pub fn frame(ctx: &Ctx, title: &str, scripts: bool) -> Frame {
    Frame { title: title.to_string(), nav: Some(Nav { who: ctx.who(), csrf: ctx.s.csrf.clone(), full: ctx.s.stage == Stage::Full }), scripts }
}

pub fn type_label(k: Kind) -> &'static str {
    match k {
        Kind::Virtual => "Authenticator app",
        Kind::Hardware => "Hardware TOTP token",
        Kind::U2f => "Passkey or security key",
    }
}

pub fn device_name(d: &Device) -> String {
    d.name.clone().unwrap_or_else(|| d.serial.rsplit('/').next().unwrap_or(&d.serial).to_string())
}

pub fn device_row(d: &Device) -> DeviceRow {
    DeviceRow { name: device_name(d), kind: type_label(d.kind), serial: d.serial.clone(), assigned: when(d.enabled_at), last_used: when(d.last_used_at) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(title: &str) -> Frame {
        Frame { title: title.into(), nav: Some(Nav { who: "a\"<b>".into(), csrf: "t\"x".into(), full: true }), scripts: false }
    }

    #[test]
    fn values_are_escaped_by_default() {
        let html =
            Home { frame: frame("<Home>"), arn: "<script>alert(1)</script>".into(), mfa_serial: Some("x\" onmouseover=\"y".into()), until: "now".into() }
                .render()
                .unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<Home>") && !html.contains("<b>"));
        assert!(!html.contains("x\" onmouseover"), "an attribute cannot be broken out of");
        assert!(!html.contains("value=\"t\"x\""), "the CSRF token is escaped in its attribute");
    }

    #[test]
    fn fields_have_labels_bound_to_them_and_the_csrf_token() {
        let html = ForcedPassword { frame: frame("Change your password"), error: Some("bad & worse"), csrf: "tok" }.render().unwrap();
        for name in ["old", "new", "retype"] {
            assert!(html.contains(&format!(r#"<label for="f-{name}">"#)) && html.contains(&format!(r#"id="f-{name}""#)), "{name}");
        }
        assert!(html.contains(r#"<input type="hidden" name="csrf" value="tok">"#));
        assert!(html.contains(r#"role="alert""#) && !html.contains("bad & worse"));
    }

    #[test]
    fn macro_arguments_keep_the_callers_values() {
        // (A macro parameter named like the caller's variable once shadowed it: the hidden name field
        // said "name" instead of the device's name.)
        let html = HardwareSetup { frame: frame("Set up"), error: None, csrf: "tok", name: "token", serial: "GAHT1" }.render().unwrap();
        assert!(html.contains(r#"<input type="hidden" name="name" value="token">"#), "{html}");
        assert!(html.contains(r#"<label for="f-code1">MFA code 1</label><input id="f-code1" name="code1""#));
        let html = Remove {
            frame: frame("Remove"),
            csrf: "tok",
            kind: "app".into(),
            name: "phone".into(),
            serial: "arn:aws:iam::1:mfa/phone",
            for_user: Some("bob"),
            action: "/a",
            back: "/b",
        }
        .render()
        .unwrap();
        assert!(html.contains(r#"<input type="hidden" name="serial" value="arn:aws:iam::1:mfa/phone">"#), "{html}");
    }

    #[test]
    fn script_json_cannot_end_its_block() {
        assert_eq!(json_in_html(r#"{"a":"</script><x>&"}"#), r#"{"a":"\u003c/script\u003e\u003cx\u003e\u0026"}"#);
    }
}

#[derive(Template)]
#[template(path = "console/cli_consent.html")]
pub struct CliConsent<'a> {
    pub frame: Frame,
    pub id: &'a str,
    pub csrf: &'a str,
    pub client: &'a str,
    pub arn: String,
    pub device: Option<String>,
    pub hours: i64,
}

#[derive(Template)]
#[template(path = "console/cli_confirmation.html")]
pub struct CliConfirmation {
    pub frame: Frame,
    pub code: String,
}
