//! The account: its alias and its summary.

use super::support::{account, Out};
use crate::api::params::{self, Params};
use crate::api::xml::Xml;
use crate::app::App;
use crate::auth::action::Action;
use crate::auth::target;
use crate::auth::Caller;
use crate::domain::accounts;
use crate::error::AwsError;

pub(super) async fn create_account_alias(app: &App, c: &Caller, p: &mut Params) -> Out {
    let alias = p.req("AccountAlias", &params::ACCOUNT_ALIAS);
    p.finish()?;
    target::account(app, c, Action::CreateAccountAlias).await?;
    if alias.len() == 12 && alias.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AwsError::invalid_input("An account alias cannot be a 12-digit number."));
    }
    accounts::create_alias(&app.iam, account(c), &alias).await?;
    Ok(None)
}

pub(super) async fn list_account_aliases(app: &App, c: &Caller, p: &mut Params) -> Out {
    let _ = p.paging();
    p.finish()?;
    target::account(app, c, Action::ListAccountAliases).await?;
    let alias = accounts::get_alias(&app.iam, account(c)).await?;
    let list: Vec<String> = alias.into_iter().collect();
    let mut x = Xml::new();
    x.list("AccountAliases", &list, |x, a| {
        crate::api::xml::escape(a, &mut x.buf);
    });
    x.paging(None);
    Ok(Some(x.buf))
}

pub(super) async fn delete_account_alias(app: &App, c: &Caller, p: &mut Params) -> Out {
    let alias = p.req("AccountAlias", &params::ACCOUNT_ALIAS);
    p.finish()?;
    target::account(app, c, Action::DeleteAccountAlias).await?;
    accounts::delete_alias(&app.iam, account(c), &alias).await?;
    Ok(None)
}

pub(super) async fn get_account_summary(app: &App, c: &Caller, p: &mut Params) -> Out {
    p.finish()?;
    target::account(app, c, Action::GetAccountSummary).await?;
    let map = accounts::summary(&app.iam, account(c)).await?;
    let mut x = Xml::new();
    x.open("SummaryMap");
    for (k, v) in map {
        x.open("entry").text("key", k).num("value", v).close("entry");
    }
    x.close("SummaryMap");
    Ok(Some(x.buf))
}
