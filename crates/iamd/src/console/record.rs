//! A console action's audit record: the same record the API writes for the action behind the
//! form, committed with the change or (when nothing committed it) written before the page answers.

use super::{Ctx, Req};
use crate::app::App;
use crate::audit;
use crate::auth::action::Action;
use crate::error::AwsError;

/// A console action's record: the signed-in principal calling `name` on `source`.
pub(super) fn event(app: &App, r: &Req, ctx: Option<&Ctx>, source: &'static str, name: &str) -> audit::Event {
    let mut ev = audit::Event::new(app.iam.clock.now_ms(), source, name);
    ev.source_ip = r.ip.clone();
    ev.user_agent = r.ua.clone();
    ev.request_id = Some(r.request_id.clone());
    if let Some(c) = ctx {
        ev.identity = crate::auth::identity_of(&c.caller);
        ev.account = c.s.account_id.clone();
    }
    ev
}

/// Runs a console action as its API call: the record commits with the change (or, when the action
/// is refused, is written before the page answers).
pub(super) async fn act<T>(
    app: &App,
    r: &Req,
    ctx: &Ctx,
    action: Action,
    params: serde_json::Value,
    f: impl std::future::Future<Output = Result<T, AwsError>>,
) -> Result<T, AwsError> {
    act_as(app, r, ctx, "iam.amazonaws.com", action.name(), action.read_only(), params, f).await
}

/// [`act`] for a console action recorded under another service's name (the Sign-In service's
/// revocations), which the action table does not serve.
#[allow(clippy::too_many_arguments)]
pub(super) async fn act_as<T>(
    app: &App,
    r: &Req,
    ctx: &Ctx,
    source: &'static str,
    name: &str,
    read_only: bool,
    params: serde_json::Value,
    f: impl std::future::Future<Output = Result<T, AwsError>>,
) -> Result<T, AwsError> {
    let mut ev = event(app, r, Some(ctx), source, name);
    ev.params_json = Some(params);
    ev.read_only = read_only;
    finish_record(app, audit::scope(ev, f).await).await
}

/// Writes a scope's record when no transaction did (a refusal, or a change that committed nothing).
/// (While the trail cannot be written the writer retries the record; the page does not hang on it.)
pub(super) async fn finish_record<T>(app: &App, (r, cur): (Result<T, AwsError>, audit::Current)) -> Result<T, AwsError> {
    let error = r.as_ref().err().map(|e| (e.code.to_string(), e.message.clone()));
    audit::settle(&app.iam.audit, cur, error, app.iam.audit.accepting()).await;
    r
}

/// Writes a record that no transaction carried (a sign-in step's), before the page answers.
pub(super) async fn write_now(app: &App, ev: audit::Event) {
    audit::settle(&app.iam.audit, audit::Current { event: ev, written: false }, None, app.iam.audit.accepting()).await;
}
