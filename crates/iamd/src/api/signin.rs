//! `POST /v1/token`: the Sign-In service's CreateOAuth2Token (rest-json, unsigned, DPoP required), as
//! `aws login` and botocore's `login_session` provider call it. The grants are `domain::logins`'s; this
//! is the wire: the JSON body, the DPoP header, and errors in AWS's shape (`x-amzn-ErrorType` and
//! `{error, message}`), each a modeled exception so botocore maps it.

use crate::app::App;
use crate::audit;
use crate::domain::logins::{self, TokenError};
use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use serde_json::{json, Value};

const MAX_TOKEN_BODY: usize = 64 * 1024;

pub async fn token(app: &App, req: Request<Body>, peer: Option<String>, secure: bool) -> Response<Body> {
    let request_id = crate::ids::request_id();
    let mut event = audit::Event::new(app.iam.clock.now_ms(), "signin.amazonaws.com", "CreateOAuth2Token");
    event.request_id = Some(request_id.clone());
    event.source_ip = peer.clone().unwrap_or_default();
    if let Some(ua) = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()) {
        event.user_agent = ua.chars().take(1024).collect();
    }
    let (outcome, cur) = audit::scope(event, Box::pin(exchange(app, req, peer.as_deref().unwrap_or(""), secure))).await;
    // Only a token issued is a call with a principal; a refusal names nobody the server can vouch
    // for, so it goes to the log, not the trail.
    if outcome.is_ok() && !cur.written {
        audit::settle(&app.iam.audit, cur, None, app.iam.audit.accepting()).await;
    }
    let (status, body, error_type) = match outcome {
        Ok(v) => (200, v, None),
        Err(e) => {
            tracing::info!(request_id, exception = e.exception, error = e.error, message = %e.message, "CreateOAuth2Token refused");
            let status = if e.exception == "InternalServerException" { 500 } else { 400 };
            (status, json!({"__type": e.exception, "error": e.error, "message": e.message}), Some(e.exception))
        }
    };
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(t) = error_type {
        h.insert("x-amzn-ErrorType", HeaderValue::from_static(t));
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    resp
}

fn field<'a>(body: &'a Value, name: &str, max: usize) -> Result<Option<&'a str>, TokenError> {
    match &body[name] {
        Value::Null => Ok(None),
        Value::String(s) if !s.is_empty() && s.len() <= max => Ok(Some(s.as_str())),
        _ => Err(TokenError::invalid(format!("{name} is not a string of 1 to {max} characters."))),
    }
}

async fn exchange(app: &App, req: Request<Body>, ip: &str, secure: bool) -> Result<Value, TokenError> {
    let (parts, body) = req.into_parts();
    if parts.method != axum::http::Method::POST {
        return Err(TokenError::invalid("CreateOAuth2Token is a POST."));
    }
    let bytes = match tokio::time::timeout(crate::app::BODY_TIMEOUT, axum::body::to_bytes(body, MAX_TOKEN_BODY)).await {
        Ok(Ok(b)) => b,
        _ => return Err(TokenError::invalid(format!("The request body is not a JSON object of at most {MAX_TOKEN_BODY} bytes."))),
    };
    let body: Value = serde_json::from_slice(&bytes).map_err(|_| TokenError::invalid("The request body is not JSON."))?;
    if !body.is_object() {
        return Err(TokenError::invalid("The request body is not a JSON object."));
    }
    let client_id = field(&body, "clientId", 256)?.ok_or_else(|| TokenError::invalid("clientId is required."))?;
    if client_id != logins::SAME_DEVICE && client_id != logins::CROSS_DEVICE {
        return Err(TokenError {
            exception: "ValidationException",
            error: "invalid_client",
            message: "The clientId is not a client this server signs in.".into(),
        });
    }
    let grant = field(&body, "grantType", 64)?.ok_or_else(|| TokenError::invalid("grantType is required."))?;
    // DPoP: exactly one proof, for this URL.
    let mut proofs = parts.headers.get_all("dpop").iter();
    let (Some(dpop), None) = (proofs.next(), proofs.next()) else {
        return Err(TokenError::invalid("The request must carry exactly one DPoP proof."));
    };
    let host = parts.headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let issuer = format!("{}://{host}", if secure { "https" } else { "http" });
    let htu = format!("{issuer}{}", parts.uri.path());
    let now_s = app.iam.clock.now_ms().div_euclid(1000);
    let proof =
        logins::verify_dpop(dpop.to_str().unwrap_or(""), &htu, now_s).map_err(|why| TokenError::invalid(format!("The DPoP proof is not valid: {why}.")))?;
    if !logins::first_use_of(&app.iam, &proof).await? {
        return Err(TokenError::invalid("The DPoP proof was used before."));
    }
    // The principal must be allowed signin:CreateOAuth2Token (with the login's MFA in the context).
    let principal = match grant {
        "authorization_code" => logins::code_principal(&app.iam, field(&body, "code", 512)?.unwrap_or("")).await?,
        "refresh_token" => logins::refresh_principal(&app.iam, field(&body, "refreshToken", 12288)?.unwrap_or("")).await?,
        _ => None,
    };
    if let Some(p) = principal {
        permitted(app, &p, "signin:CreateOAuth2Token", ip, secure).await?;
    }
    let out = match grant {
        "authorization_code" => {
            let code = field(&body, "code", 512)?.unwrap_or("");
            let verifier = field(&body, "codeVerifier", 128)?.unwrap_or("");
            let redirect = field(&body, "redirectUri", 2048)?.unwrap_or("");
            logins::exchange_code(&app.iam, client_id, code, verifier, redirect, &proof, &issuer, ip).await?
        }
        "refresh_token" => logins::refresh(&app.iam, client_id, field(&body, "refreshToken", 12288)?.unwrap_or(""), &proof).await?,
        _ => {
            return Err(TokenError {
                exception: "ValidationException",
                error: "unsupported_grant_type",
                message: "grantType must be authorization_code or refresh_token.".into(),
            })
        }
    };
    let s = &out.credentials.session;
    let mut v = json!({
        "accessToken": {"accessKeyId": s.access_key_id, "secretAccessKey": s.secret, "sessionToken": out.credentials.token},
        "tokenType": "aws_sigv4",
        "expiresIn": out.expires_in,
        "refreshToken": out.refresh_token,
    });
    if let Some(t) = out.id_token {
        v["idToken"] = json!(t);
    }
    Ok(v)
}

/// Whether a login's principal may perform a Sign-In action; INSUFFICIENT_PERMISSIONS when not. (A
/// principal that no longer exists is left to the grant's own checks, which end the login.)
async fn permitted(app: &App, p: &logins::Principal, action: &str, ip: &str, secure: bool) -> Result<(), TokenError> {
    let user = if crate::domain::is_root_column(&p.owner) {
        None
    } else {
        match crate::domain::keys::lookup_user(&app.iam, &p.account, &p.owner).await? {
            Some(u) => Some(u),
            None => return Ok(()),
        }
    };
    let principal = crate::domain::Principal { account_id: p.account.clone(), user, role: None, access_key_id: String::new() };
    let now = app.iam.clock.now_ms();
    let caller = crate::auth::Caller::signed_in(principal, &p.owner, (now, now), p.mfa.clone(), ip, secure);
    let resource = logins::client_resource("us-east-1", &p.account);
    match crate::auth::authz::decide_named(app, &caller, action, &resource).await? {
        policy::Decision::Allow => Ok(()),
        _ => Err(TokenError::insufficient(format!(
            "User: {} is not authorized to perform: {action} on resource: {resource}. Attach a policy that allows it (for example arn:aws:iam::aws:policy/SignInLocalDevelopmentAccess).",
            caller.principal.arn()
        ))),
    }
}
