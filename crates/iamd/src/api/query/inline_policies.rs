//! Inline policies of users, groups and roles: one handler for the twelve Put/Get/Delete/List
//! operations, typed by who holds the policy and what is done with it.

use super::support::{holder_param, names_page, Out};
use crate::api::params::{encode_doc, Params, DOCUMENT, POLICY_NAME};
use crate::api::xml::Xml;
use crate::app::App;
use crate::auth::action::Action;
use crate::auth::target;
use crate::auth::Caller;
use crate::domain::policies::{self, Holder};

/// What an inline-policy operation does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum PolicyOp {
    Put,
    Get,
    Delete,
    List,
}

impl PolicyOp {
    fn action(self, holder: Holder) -> Action {
        use {Holder::*, PolicyOp::*};
        match (holder, self) {
            (User, Put) => Action::PutUserPolicy,
            (User, Get) => Action::GetUserPolicy,
            (User, Delete) => Action::DeleteUserPolicy,
            (User, List) => Action::ListUserPolicies,
            (Group, Put) => Action::PutGroupPolicy,
            (Group, Get) => Action::GetGroupPolicy,
            (Group, Delete) => Action::DeleteGroupPolicy,
            (Group, List) => Action::ListGroupPolicies,
            (Role, Put) => Action::PutRolePolicy,
            (Role, Get) => Action::GetRolePolicy,
            (Role, Delete) => Action::DeleteRolePolicy,
            (Role, List) => Action::ListRolePolicies,
        }
    }
}

pub(super) async fn inline(app: &App, c: &Caller, p: &mut Params, holder: Holder, op: PolicyOp) -> Out {
    let (key, spec) = holder_param(holder);
    let name = p.req(key, spec);
    let policy_name = (op != PolicyOp::List).then(|| p.req("PolicyName", &POLICY_NAME));
    let doc = (op == PolicyOp::Put).then(|| p.req("PolicyDocument", &DOCUMENT));
    let (marker, max) = if op == PolicyOp::List { p.paging() } else { (None, 100) };
    p.finish()?;
    let h = target::holder(app, c, op.action(holder), holder, &name).await?;
    match (op, policy_name, doc) {
        (PolicyOp::Put, Some(pn), Some(d)) => {
            policies::put_inline(&app.iam, holder, &h.id, &h.name, &pn, &d).await?;
            Ok(None)
        }
        (PolicyOp::Get, Some(pn), _) => {
            let d = policies::get_inline(&app.iam, holder, &h.id, &pn).await?;
            let mut x = Xml::new();
            x.text(key, &h.name).text("PolicyName", &pn).text("PolicyDocument", &encode_doc(&d));
            Ok(Some(x.buf))
        }
        (PolicyOp::Delete, Some(pn), _) => {
            policies::delete_inline(&app.iam, holder, &h.id, &pn).await?;
            Ok(None)
        }
        _ => names_page(policies::list_inline(&app.iam, holder, &h.id).await?, marker, max),
    }
}
