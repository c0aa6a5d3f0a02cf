//! The browser's part of `aws login` (`domain::logins`): `/v1/authorize` checks the CLI's request and
//! hands it to the console, which signs the person in as always (password, then any one device) and
//! asks for consent on `/console/cli-login/ID`; Allow sends the browser back to the CLI's loopback
//! listener (or, for `aws login --remote`, to `/v1/sessions/confirmation`) with a single-use code.

use super::{views, Ctx, Out, Req, R};
use crate::app::App;
use crate::domain::logins;
use crate::error::AwsError;

/// The consent page a signed-out browser returns to once it has signed in.
pub(super) const NEXT_COOKIE: &str = "iamd_next";
const PREFIX: &str = "/console/cli-login/";

fn message(title: &str, text: &str) -> Out {
    views::page(&views::Message { frame: views::Frame::signed_out(title), text, error: None })
}

/// `GET /v1/authorize`: a request that passes every check waits for consent; anything else is a page
/// saying what is wrong (never a redirect: the redirect is what is being checked).
pub(super) async fn authorize(app: &App, r: &Req) -> R {
    let confirmation = format!("{}/v1/sessions/confirmation", r.origin);
    match logins::validate_authorize(&r.query, &confirmation) {
        Err(why) => Ok(message("This sign-in link is not valid", &format!("{why} Run aws login again.")).status(400)),
        Ok(a) => {
            let id = logins::create_grant(&app.iam, &a).await?;
            Ok(Out::redirect(&format!("{PREFIX}{id}")))
        }
    }
}

/// `GET /v1/sessions/confirmation` (`aws login --remote`): the code to paste into the CLI, as it
/// parses it: standard base64 of `state=…&code=…`.
pub(super) fn confirmation(r: &Req) -> R {
    use base64::Engine;
    let (code, state) = (r.query("code"), r.query("state"));
    let ok = |v: &str| !v.is_empty() && v.len() <= 512 && v.bytes().all(|b| (0x21..0x7f).contains(&b));
    if !ok(code) || !ok(state) {
        return Ok(
            message("Nothing to confirm", "This page shows the code for aws login --remote after you allow it. Run aws login --remote again.").status(400)
        );
    }
    let query = wire::encode([("state", state), ("code", code)]);
    let code = base64::engine::general_purpose::STANDARD.encode(query);
    Ok(views::page(&views::CliConfirmation { frame: views::Frame { title: "Finish signing in to the AWS CLI".into(), nav: None, scripts: true }, code }))
}

/// The grant id a `/console/cli-login/ID` path names.
pub(super) fn grant_id(path: &str) -> Option<&str> {
    path.strip_prefix(PREFIX).filter(|id| !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// The consent page a browser that has just signed in returns to (the `iamd_next` cookie), if any.
pub(super) fn returning_to(r: &Req) -> Option<String> {
    let path = format!("{PREFIX}{}", r.cookie(&super::cookie_name(NEXT_COOKIE)));
    grant_id(&path).is_some().then_some(path)
}

fn expired() -> Out {
    message("This sign-in request has ended", "It was used, refused or waited too long. Run aws login again.").status(410)
}

/// The consent page: who the CLI will act as, and with which device the sign-in was made. Its form
/// may send the browser on to the CLI's listener, so its policy allows that one origin as a form's
/// destination.
pub(super) async fn consent_page(app: &App, ctx: &Ctx, id: &str) -> R {
    let Some(g) = logins::pending_grant(&app.iam, id).await? else { return Ok(expired()) };
    if let Some(page) = refused(app, ctx).await? {
        return Ok(page);
    }
    let client = if g.request.client_id == logins::SAME_DEVICE { "The AWS CLI on this computer" } else { "The AWS CLI on another device (aws login --remote)" };
    let out = views::page(&views::CliConsent {
        frame: views::frame(ctx, "Allow the AWS CLI", false),
        id,
        csrf: &ctx.s.csrf,
        client,
        arn: ctx.principal.arn(),
        device: ctx.s.mfa.as_ref().map(|m| m.1.clone()),
        hours: app.iam.login_max_ms / 3_600_000,
    });
    Ok(out.form_target(&g.request.redirect_uri))
}

/// Allow or Deny (a POST with the session's CSRF token, checked by the router).
pub(super) async fn decide(app: &App, r: &Req, ctx: &Ctx, id: &str) -> R {
    let Some(g) = logins::pending_grant(&app.iam, id).await? else { return Ok(expired()) };
    let state = wire::encode([("state", g.request.state.as_str())]);
    let mut ev = super::record::event(app, r, Some(ctx), "signin.amazonaws.com", "AuthorizeOAuth2Access");
    ev.params_json = Some(serde_json::json!({"clientId": g.request.client_id, "redirectUri": g.request.redirect_uri}));
    if r.form("decision") != "allow" {
        logins::deny(&app.iam, id).await?;
        ev.error = Some(("AccessDenied".into(), "The person refused the sign-in.".into()));
        super::record::write_now(app, ev).await;
        return Ok(Out::redirect(&format!("{}?error=access_denied&{state}", g.request.redirect_uri)));
    }
    if let Some(page) = refused(app, ctx).await? {
        return Ok(page);
    }
    let who = logins::Approval { account: &ctx.s.account_id, owner: &ctx.s.owner, mfa: ctx.s.mfa.clone(), auth_ms: ctx.s.created_at };
    let Some(code) = logins::approve(&app.iam, id, &who).await? else { return Ok(expired()) };
    ev.additional = Some(serde_json::json!({
        "MFAUsed": if ctx.s.mfa.is_some() { "Yes" } else { "No" },
        "MFAIdentifier": ctx.s.mfa.as_ref().map(|m| m.1.as_str()).unwrap_or(""),
    }));
    super::record::write_now(app, ev).await;
    Ok(Out::redirect(&format!("{}?{}&{state}", g.request.redirect_uri, wire::encode([("code", code.as_str())]))))
}

/// Refuses anything but GET for the two pages outside `/console`.
pub(super) fn only_get(r: &Req) -> Result<(), AwsError> {
    if r.method == axum::http::Method::GET {
        Ok(())
    } else {
        Err(AwsError::method_not_allowed("method"))
    }
}

/// The page refusing the signed-in principal a CLI login (signin:AuthorizeOAuth2Access, decided by
/// its policies with its console session's MFA), or `None` when it may allow one.
async fn refused(app: &App, ctx: &Ctx) -> Result<Option<Out>, AwsError> {
    let resource = logins::client_resource("us-east-1", ctx.account());
    let action = "signin:AuthorizeOAuth2Access";
    if crate::auth::authz::decide_named(app, &ctx.caller, action, &resource).await? == policy::Decision::Allow {
        return Ok(None);
    }
    let why = format!(
        "You are not allowed {action} on {resource}. An administrator can attach a policy that allows it (for example arn:aws:iam::aws:policy/SignInLocalDevelopmentAccess)."
    );
    Ok(Some(views::page(&views::Message { frame: views::frame(ctx, "The AWS CLI cannot sign in as you", false), text: "", error: Some(&why) }).status(403)))
}
