//! The credential report.

use super::support::{account, b64, Out};
use crate::api::params::Params;
use crate::api::xml::Xml;
use crate::app::App;
use crate::auth::action::Action;
use crate::auth::target;
use crate::auth::Caller;
use crate::domain::{iso8601, report};

pub(super) async fn generate_credential_report(app: &App, c: &Caller, p: &mut Params) -> Out {
    p.finish()?;
    target::account(app, c, Action::GenerateCredentialReport).await?;
    let (state, description) = report::generate(&app.iam, account(c)).await?;
    let mut x = Xml::new();
    x.text("State", state).text("Description", description);
    Ok(Some(x.buf))
}

pub(super) async fn get_credential_report(app: &App, c: &Caller, p: &mut Params) -> Out {
    p.finish()?;
    target::account(app, c, Action::GetCredentialReport).await?;
    let (content, at) = report::get(&app.iam, account(c)).await?;
    let mut x = Xml::new();
    x.text("Content", &b64(&content)).text("ReportFormat", "text/csv").text("GeneratedTime", &iso8601(at));
    Ok(Some(x.buf))
}
