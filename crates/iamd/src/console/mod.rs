//! The web console under `/console`: sign-in with a password and then any one MFA device (a TOTP code or
//! a FIDO2 security key), the Security credentials page, a users list for administrators and the event
//! history. Server-rendered HTML; the only script is the WebAuthn hand-off.
//!
//! Every action is the same domain call as the API's, authorized by the same policy engine with a
//! console principal whose session carries `aws:MultiFactorAuthPresent` when it signed in with MFA, and
//! recorded in the audit trail like an API call. Forms carry a per-session CSRF token (sign-in forms a
//! double-submit cookie); state-changing requests must also come from the same origin. Cookies are
//! HttpOnly and SameSite=Strict (and Secure under TLS); pages send a Content-Security-Policy that allows
//! no inline script.

mod admin;
mod devices;
mod events;
mod login;
mod passwords;
mod record;
mod security;
mod signin;
pub mod views;

use crate::app::App;
use crate::auth::action::Action;
use crate::auth::Caller;
use crate::domain::console::{self as cs, ConsoleSession, Stage};
use crate::domain::{is_root_column, keys, Owner, Principal, UserRef};
use crate::error::{AwsError, ErrorCode};
use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Request, Response, StatusCode};
use serde_json::json;
use subtle::ConstantTimeEq;

/// The largest console form iamd reads.
const MAX_FORM_BYTES: usize = 64 * 1024;
/// How long the steps between the password and the second factor may take.
const STEP_TTL_MS: i64 = 10 * 60 * 1000;
const SESSION_COOKIE: &str = "iamd_session";
const PRE_COOKIE: &str = "iamd_signin";
/// Marks a browser that has signed in as a principal before (see `domain::console::scopes_for_known_browser`).
const KNOWN_COOKIE: &str = "iamd_known";
const KNOWN_MAX_AGE_S: i64 = 180 * 86_400;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

use crate::app::Hosts;

/// A console request, read and bounded.
pub struct Req {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub form: Vec<(String, String)>,
    pub cookies: Vec<(String, String)>,
    pub ip: String,
    pub ua: String,
    /// The scheme and host the browser used (for records and for the origin check).
    pub origin: String,
    pub request_id: String,
}

impl Req {
    pub fn form(&self, name: &str) -> &str {
        wire::first(&self.form, name).unwrap_or("")
    }
    pub fn query(&self, name: &str) -> &str {
        wire::first(&self.query, name).unwrap_or("")
    }
    pub fn cookie(&self, name: &str) -> &str {
        wire::first(&self.cookies, name).unwrap_or("")
    }
}

/// What a handler answers.
pub struct Out {
    status: u16,
    body: String,
    location: Option<String>,
    cookies: Vec<String>,
    content_type: &'static str,
    /// Another origin this page's forms may lead to (the consent page's redirect to the CLI).
    form_origin: Option<String>,
}

impl Out {
    pub fn page(body: String) -> Out {
        Out { status: 200, body, location: None, cookies: vec![], content_type: "text/html; charset=utf-8", form_origin: None }
    }
    pub fn status(mut self, s: u16) -> Out {
        self.status = s;
        self
    }
    pub fn redirect(to: &str) -> Out {
        Out { status: 303, body: String::new(), location: Some(to.to_string()), cookies: vec![], content_type: "text/html; charset=utf-8", form_origin: None }
    }
    pub fn cookie(mut self, c: String) -> Out {
        self.cookies.push(c);
        self
    }
    /// Lets this page's forms lead (through a redirect) to `url`'s origin as well as its own.
    pub fn form_target(mut self, url: &str) -> Out {
        let origin = url.split_once("://").map(|(s, rest)| format!("{s}://{}", rest.split('/').next().unwrap_or("")));
        self.form_origin = origin.filter(|o| o.bytes().all(|b| b.is_ascii_alphanumeric() || b":/.-".contains(&b)));
        self
    }
}

type R = Result<Out, AwsError>;

tokio::task_local! {
    /// Whether this request reached the console over HTTPS (directly, or through a trusted proxy):
    /// the origin check's scheme and the cookies' Secure flag.
    static SECURE: bool;
}

fn secure_now() -> bool {
    SECURE.try_with(|s| *s).unwrap_or(false)
}

pub async fn handle(app: &App, req: Request<Body>, peer: Option<String>, secure: bool) -> Response<Body> {
    let request_id = crate::ids::request_id();
    let started = std::time::Instant::now();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let method = parts.method.clone();
    match (method.as_str(), path.as_str()) {
        ("GET", "/console/static/style.css") => return asset(include_str!("assets/style.css"), "text/css; charset=utf-8"),
        ("GET", "/console/static/webauthn.js") => return asset(include_str!("assets/webauthn.js"), "text/javascript; charset=utf-8"),
        _ => {}
    }
    let secure = secure || app.console.secure;
    let work = async {
        let r = read(parts, body, peer, secure, &app.console.hosts, request_id.clone()).await?;
        route(app, &r).await
    };
    let work = SECURE.scope(secure, work);
    let outcome = match futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(work)).await {
        Ok(r) => r,
        Err(_) => {
            tracing::error!(request_id, "the console handler panicked");
            Err(AwsError::internal("internal"))
        }
    };
    let out = match outcome {
        Ok(o) => o,
        Err(e) => error_page(&e, &request_id),
    };
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(request_id, method = %method, path, status = out.status, ms, "console");
    respond(out, &request_id)
}

fn asset(body: &'static str, ct: &'static str) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    resp
}

fn respond(out: Out, request_id: &str) -> Response<Body> {
    let mut resp = Response::new(Body::from(out.body));
    *resp.status_mut() = StatusCode::from_u16(out.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(out.content_type));
    match out.form_origin.as_deref().and_then(|o| HeaderValue::from_str(&CSP.replace("form-action 'self'", &format!("form-action 'self' {o}"))).ok()) {
        Some(v) => h.insert(header::CONTENT_SECURITY_POLICY, v),
        None => h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    if let Some(l) = out.location.as_deref().and_then(|l| HeaderValue::from_str(l).ok()) {
        h.insert(header::LOCATION, l);
    }
    for c in out.cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    if out.status == 503 {
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// A page for an error the handlers did not turn into a message: it says what happened in general
/// terms and names the request id; details go to the log only.
fn error_page(e: &AwsError, request_id: &str) -> Out {
    let (status, title, text) = match e.status {
        400 | 413 => (e.status, "Bad request", "The request could not be read."),
        403 => (403, "Request refused", "This request was refused. Reload the page and try again."),
        404 => (404, "Not found", "There is no such page."),
        421 => (421, "Wrong address", "This console answers only at its own address."),
        503 => (503, "Busy", "The console is busy checking other sign-ins. Wait a second, then try again."),
        _ => {
            tracing::error!(request_id, code = e.code.as_str(), error = %e.message, "console request failed");
            (
                500,
                "Something went wrong",
                "The console could not complete this request. Try again; if it keeps failing, give your administrator the request id below.",
            )
        }
    };
    views::page(&views::ErrorPage { frame: views::Frame::signed_out(title), text, request_id }).status(status)
}

fn forbidden() -> AwsError {
    AwsError::forbidden("refused")
}

async fn read(parts: axum::http::request::Parts, body: Body, peer: Option<String>, secure: bool, hosts: &Hosts, request_id: String) -> Result<Req, AwsError> {
    let header = |n: header::HeaderName| parts.headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    if header(header::CONTENT_LENGTH).parse::<usize>().is_ok_and(|n| n > MAX_FORM_BYTES) {
        return Err(AwsError::too_large("too large"));
    }
    let bytes = match tokio::time::timeout(crate::app::BODY_TIMEOUT, axum::body::to_bytes(body, MAX_FORM_BYTES)).await {
        Ok(Ok(b)) => b,
        _ => return Err(AwsError::too_large("too large")),
    };
    let host = header(header::HOST);
    // DNS rebinding: a page on another name that resolves here sends its own Host (and a matching
    // Origin); the console answers only to its own names.
    if !hosts.allows(&host) {
        return Err(AwsError::misdirected_request("not this console's host"));
    }
    let origin = format!("{}://{}", if secure { "https" } else { "http" }, host);
    if parts.method == Method::POST {
        // Same-origin only: browsers send Origin on every POST; a request without it must at least not
        // name another site as its referrer. (The CSRF token is checked as well.)
        let o = header(header::ORIGIN);
        let referer = header(header::REFERER);
        let same = if !o.is_empty() { o == origin } else { referer.is_empty() || referer.starts_with(&format!("{origin}/")) };
        if !same || host.is_empty() {
            return Err(forbidden());
        }
    }
    let form = if parts.method == Method::POST { wire::pairs(&bytes) } else { vec![] };
    let query = wire::pairs(parts.uri.query().unwrap_or("").as_bytes());
    let cookies = wire::cookies(&header(header::COOKIE));
    Ok(Req {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query,
        form,
        cookies,
        ip: peer.unwrap_or_default(),
        ua: header(header::USER_AGENT).chars().take(1024).collect(),
        origin,
        request_id,
    })
}

/// A console cookie's name: under HTTPS `__Host-NAME`, which a browser accepts only with Secure,
/// `Path=/` and no Domain, so no other host or plain-HTTP page can set or shadow it.
pub fn cookie_name(name: &str) -> String {
    if secure_now() {
        format!("__Host-{name}")
    } else {
        name.to_string()
    }
}

/// A console cookie: HttpOnly, SameSite=Strict; under HTTPS `__Host-` and Secure with `Path=/`,
/// otherwise `Path=/console`.
fn cookie(name: &str, value: &str, max_age_s: i64) -> String {
    let attrs = if secure_now() { "Path=/; Secure" } else { "Path=/console" };
    format!("{}={value}; {attrs}; HttpOnly; SameSite=Strict; Max-Age={max_age_s}", cookie_name(name))
}

fn session_cookie(_app: &App, token: &str, max_age_s: i64) -> String {
    cookie(SESSION_COOKIE, token, max_age_s)
}

fn clear_cookie(_app: &App, name: &str) -> String {
    cookie(name, "", 0)
}

fn pre_cookie(_app: &App, token: &str) -> String {
    cookie(PRE_COOKIE, token, 3600)
}

/// The known-browser cookie for a principal: its throttle key sealed under the master key.
fn known_cookie(app: &App, principal_key: &str) -> String {
    use base64::Engine;
    let sealed = app.iam.sealer.seal(crate::crypto::Purpose::KnownBrowser, KNOWN_COOKIE.as_bytes(), principal_key.as_bytes());
    let v = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed);
    cookie(KNOWN_COOKIE, &v, KNOWN_MAX_AGE_S)
}

/// Whether this browser has signed in as `principal_key` before.
fn is_known_browser(app: &App, r: &Req, principal_key: &str) -> bool {
    use base64::Engine;
    let v = r.cookie(&cookie_name(KNOWN_COOKIE));
    if v.is_empty() || v.len() > 512 {
        return false;
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(v)
        .ok()
        .and_then(|b| app.iam.sealer.open(crate::crypto::Purpose::KnownBrowser, KNOWN_COOKIE.as_bytes(), &b))
        .is_some_and(|k| same_token(&String::from_utf8_lossy(&k), principal_key))
}

/// Constant-time comparison of two tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    !a.is_empty() && a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The signed-in principal of a request.
pub struct Ctx {
    pub s: ConsoleSession,
    pub principal: Principal,
    pub caller: Caller,
}

impl Ctx {
    pub fn who(&self) -> String {
        match &self.principal.user {
            Some(u) => format!("{} @ {}", u.name, self.principal.account_id),
            None => format!("root @ {}", self.principal.account_id),
        }
    }
    pub fn user(&self) -> Option<&UserRef> {
        self.principal.user.as_ref()
    }
    /// Whose keys and devices this session's principal holds: root or the signed-in user (a console
    /// session is never a role's).
    pub fn owner(&self) -> Owner {
        match self.user() {
            Some(u) => Owner::User(u.clone()),
            None => Owner::Root,
        }
    }
    pub fn account(&self) -> &str {
        &self.s.account_id
    }
    /// The user name MFA records and policies name ("AWS ROOT USER" for root, as CloudTrail writes).
    pub fn user_name(&self) -> String {
        self.user().map(|u| u.name.clone()).unwrap_or_else(|| "AWS ROOT USER".into())
    }
}

/// The session a request's cookie names, with its principal; None when signed out, expired, or the
/// user no longer exists.
async fn session(app: &App, r: &Req) -> Result<Option<Ctx>, AwsError> {
    let Some(s) = cs::load(&app.iam, r.cookie(&cookie_name(SESSION_COOKIE))).await? else { return Ok(None) };
    let user = if is_root_column(&s.owner) {
        None
    } else {
        match keys::lookup_user(&app.iam, &s.account_id, &s.owner).await? {
            Some(u) => Some(u),
            None => {
                cs::delete(&app.iam, &s.token_hash).await?;
                return Ok(None);
            }
        }
    };
    let principal = Principal { account_id: s.account_id.clone(), user, role: None, access_key_id: String::new() };
    let caller = Caller::signed_in(principal.clone(), &s.owner, (s.created_at, s.expires_at), s.mfa.clone(), &r.ip, secure_now());
    Ok(Some(Ctx { s, principal, caller }))
}

async fn route(app: &App, r: &Req) -> R {
    match r.path.as_str() {
        "/v1/authorize" => {
            login::only_get(r)?;
            return login::authorize(app, r).await;
        }
        "/v1/sessions/confirmation" => {
            login::only_get(r)?;
            return login::confirmation(r);
        }
        _ => {}
    }
    let ctx = session(app, r).await?;
    let path = r.path.trim_end_matches('/');
    let post = r.method == Method::POST;
    // `aws login`'s consent page before the sign-in is complete: sign in first, then come back.
    if let Some(id) = login::grant_id(path) {
        if r.method == Method::GET && ctx.as_ref().is_none_or(|c| c.s.stage != Stage::Full) {
            return Ok(Out::redirect("/console").cookie(cookie(login::NEXT_COOKIE, id, 3600)));
        }
    }
    if post && path != "/console/signin" {
        // Every other form belongs to a session and carries its CSRF token.
        match &ctx {
            Some(c) if same_token(r.form("csrf"), &c.s.csrf) => {}
            Some(_) => return Err(forbidden()),
            None => return Ok(Out::redirect("/console")),
        }
    }
    if r.method != Method::GET && !post {
        return Err(AwsError::method_not_allowed("method"));
    }
    let Some(ctx) = ctx else {
        return match (post, path) {
            (false, "/console") => Ok(signin::signin_page(app, false, None, "", "")),
            (false, "/console/root") => Ok(signin::signin_page(app, true, None, "", "")),
            (true, "/console/signin") => signin::signin(app, r).await,
            (false, p) if p.starts_with("/console") => Ok(Out::redirect("/console")),
            _ => Err(AwsError::no_such_entity("no page")),
        };
    };
    if path == "/console/signout" && post {
        cs::delete(&app.iam, &ctx.s.token_hash).await?;
        return Ok(Out::redirect("/console").cookie(clear_cookie(app, SESSION_COOKIE)));
    }
    if path == "/console/signout/everywhere" && post && ctx.s.stage == Stage::Full {
        // Every console session of this principal ends, this one included.
        let n = cs::credentials_changed(&mut *app.iam.store.write.acquire().await?, &ctx.s.account_id, &ctx.s.owner, None, None).await?;
        tracing::info!(account = %ctx.s.account_id, sessions = n, "signed out everywhere");
        return Ok(Out::redirect("/console").cookie(clear_cookie(app, SESSION_COOKIE)));
    }
    if path == "/console/signin" && post {
        // A new sign-in from a browser that still has a session: start over.
        return signin::signin(app, r).await;
    }
    match ctx.s.stage {
        Stage::Mfa => match (post, path) {
            (false, "/console/mfa") => signin::mfa_choose_page(app, &ctx, None).await,
            (true, "/console/mfa") => signin::mfa_choose(app, r, &ctx).await,
            (false, "/console/mfa/verify") => signin::mfa_verify_page(app, &ctx, None).await,
            (true, "/console/mfa/verify") => signin::mfa_verify(app, r, &ctx).await,
            _ => Ok(Out::redirect("/console/mfa")),
        },
        Stage::Password => match (post, path) {
            (false, "/console/password") => Ok(signin::forced_password_page(&ctx, None)),
            (true, "/console/password") => signin::forced_password(app, r, &ctx).await,
            _ => Ok(Out::redirect("/console/password")),
        },
        Stage::Full if login::grant_id(path).is_some() => {
            let id = login::grant_id(path).unwrap_or("");
            if post {
                login::decide(app, r, &ctx, id).await
            } else {
                login::consent_page(app, &ctx, id).await
            }
        }
        Stage::Full => match (post, path) {
            (false, "/console") | (false, "/console/root") => match login::returning_to(r) {
                Some(next) => Ok(Out::redirect(&next).cookie(clear_cookie(app, login::NEXT_COOKIE))),
                None => Ok(home(&ctx)),
            },
            (false, "/console/security") => security::security(app, r, &ctx, None).await,
            (true, "/console/security/password") => security::change_password(app, r, &ctx).await,
            (false, "/console/security/mfa/new") => security::assign_page(app, &ctx, None, "").await,
            (true, "/console/security/mfa/new") => security::assign(app, r, &ctx).await,
            (true, "/console/security/mfa/app") => security::add_app(app, r, &ctx).await,
            (true, "/console/security/mfa/hardware") => security::add_hardware(app, r, &ctx).await,
            (true, "/console/security/mfa/key") => security::add_key(app, r, &ctx).await,
            (true, "/console/security/mfa/remove") => security::remove_own_device(app, r, &ctx).await,
            (true, "/console/security/keys") => security::access_keys(app, r, &ctx).await,
            (true, "/console/security/cli-logins/revoke") => security::revoke_cli_login(app, r, &ctx).await,
            (false, "/console/users") => admin::users(app, r, &ctx).await,
            (false, "/console/events") => events::events(app, r, &ctx).await,
            (false, p) if p.starts_with("/console/users/") => match p.strip_prefix("/console/users/").filter(|n| !n.contains('/')) {
                Some(name) => admin::user_page(app, &ctx, name, None).await,
                None => Err(AwsError::no_such_entity("no page")),
            },
            (true, p) if p.starts_with("/console/users/") && p.ends_with("/sessions/end") => {
                match p.strip_prefix("/console/users/").and_then(|n| n.strip_suffix("/sessions/end")).filter(|n| !n.is_empty() && !n.contains('/')) {
                    Some(name) => admin::end_user_sessions(app, r, &ctx, name).await,
                    None => Err(AwsError::no_such_entity("no page")),
                }
            }
            (true, p) if p.starts_with("/console/users/") && p.ends_with("/mfa/remove") => {
                match p.strip_prefix("/console/users/").and_then(|n| n.strip_suffix("/mfa/remove")).filter(|n| !n.is_empty() && !n.contains('/')) {
                    Some(name) => admin::remove_user_device(app, r, &ctx, name).await,
                    None => Err(AwsError::no_such_entity("no page")),
                }
            }
            (false, "/console/mfa") | (false, "/console/mfa/verify") | (false, "/console/password") => Ok(Out::redirect("/console")),
            _ => Err(AwsError::no_such_entity("no page")),
        },
    }
}

/// Whether the principal may do `action` on `resource`, a canonical ARN (to show or hide a part of a
/// page; the action itself authorizes again through `auth::target`).
pub async fn can(app: &App, ctx: &Ctx, action: Action, resource: &str) -> Result<bool, AwsError> {
    Ok(crate::auth::authz::decide(app, &ctx.caller, action, resource).await? == policy::Decision::Allow)
}

/// Whether an error is an authorization refusal (AWS's "… is not authorized to perform …"), to turn
/// it into a message on the page; other AccessDenied answers (a wrong old password) are not.
pub fn refused(e: &AwsError) -> bool {
    e.status == 403 && e.code == ErrorCode::AccessDenied && e.message.contains(" is not authorized to perform: ")
}

pub fn json_params(pairs: &[(&str, &str)]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (k, v) in pairs {
        m.insert(k.to_string(), json!(v));
    }
    serde_json::Value::Object(m)
}

/// Whether the principal may change its own password: root always; a user exactly as the API's
/// ChangePassword decides (an Allow, or AllowUsersToChangePassword in place of one; a Deny wins).
pub(crate) async fn may_change_password(app: &App, ctx: &Ctx) -> Result<bool, AwsError> {
    match ctx.user() {
        None => Ok(true),
        Some(u) => match crate::auth::authz::may_change_password(app, &ctx.caller, u).await {
            Ok(()) => Ok(true),
            Err(e) if refused(&e) => Ok(false),
            Err(e) => Err(e),
        },
    }
}

pub(crate) fn home(ctx: &Ctx) -> Out {
    views::page(&views::Home {
        frame: views::frame(ctx, "Home", false),
        arn: ctx.principal.arn(),
        mfa_serial: ctx.s.mfa.as_ref().map(|(_, serial)| serial.clone()),
        until: views::when(Some(ctx.s.expires_at)),
    })
}
