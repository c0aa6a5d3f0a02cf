//! Policies: inline (user and group), managed (the account's and AWS's, with versions), attachments,
//! groups and memberships, and the set of policies that applies to a user, which authorization reads.
//!
//! Every document is validated by the `policy` crate before it is stored. The effective policies of a
//! user are cached (SQLite only, the same coherence rule as access keys: every write invalidates the
//! cache before it answers).

use super::{Iam, UserRef};
use crate::error::{is_unique_violation, AwsError, Result};
use policy::{DocKind, Policy};
use sqlx::Row;
use std::sync::Arc;

pub const USER_INLINE_QUOTA: usize = 2048;
pub const GROUP_INLINE_QUOTA: usize = 5120;
pub const MANAGED_QUOTA: usize = 6144;
pub const ATTACHED_PER_ENTITY: i64 = 10;
pub const VERSIONS_PER_POLICY: i64 = 5;

fn malformed(e: policy::Error) -> AwsError {
    AwsError::malformed_policy_document(e.0)
}

/// Validates an inline identity policy document.
pub fn validate(doc: &str) -> Result<Policy> {
    policy::parse(doc, DocKind::Identity).map_err(malformed)
}

/// Validates a managed policy document (version 2012-10-17 required).
pub fn validate_managed(doc: &str) -> Result<Policy> {
    policy::parse(doc, DocKind::Managed).map_err(malformed)
}

// ---- inline policies (users and groups share the shape) ----

/// Who holds a policy (inline, or attached): a user, a group or a role.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Holder {
    User,
    Group,
    Role,
}

impl Holder {
    /// The parent row a write under this holder must find still there (see `lock_parent`).
    pub fn parent(self) -> super::Parent {
        match self {
            Holder::User => super::Parent::User,
            Holder::Group => super::Parent::Group,
            Holder::Role => super::Parent::Role,
        }
    }
    fn table(self) -> (&'static str, &'static str) {
        match self {
            Holder::User => ("user_policies", "user_id"),
            Holder::Group => ("group_policies", "group_id"),
            Holder::Role => ("role_policies", "role_id"),
        }
    }
    /// The holder's name in `policy_attachments.entity_type` and in errors.
    pub fn kind(self) -> &'static str {
        match self {
            Holder::User => "user",
            Holder::Group => "group",
            Holder::Role => "role",
        }
    }
    fn quota(self) -> (usize, &'static str) {
        match self {
            Holder::User => (USER_INLINE_QUOTA, "Maximum policy size of 2048 bytes exceeded for user"),
            Holder::Group => (GROUP_INLINE_QUOTA, "Maximum policy size of 5120 bytes exceeded for group"),
            Holder::Role => (10_240, "Maximum policy size of 10240 bytes exceeded for role"),
        }
    }
}

pub async fn put_inline(iam: &Iam, owner: Holder, owner_id: &str, owner_name: &str, name: &str, doc: &str) -> Result<()> {
    validate(doc)?;
    let (table, col) = owner.table();
    let mut tx = iam.begin().await?;
    if !super::lock_parent(&mut tx, iam.store.backend, owner.parent(), owner_id).await? {
        return Err(AwsError::no_such_entity(format!("The {} with name {owner_name} cannot be found.", owner.kind())));
    }
    let others: Vec<String> = sqlx::query_scalar(&format!("SELECT document FROM {table} WHERE {col} = $1 AND policy_name <> $2"))
        .bind(owner_id)
        .bind(name)
        .fetch_all(&mut *tx)
        .await?;
    let (quota, msg) = owner.quota();
    let total: usize = others.iter().map(|d| policy::quota_size(d)).sum::<usize>() + policy::quota_size(doc);
    if total > quota {
        return Err(AwsError::limit_exceeded(format!("{msg} {owner_name}.")));
    }
    sqlx::query(&format!("DELETE FROM {table} WHERE {col} = $1 AND policy_name = $2")).bind(owner_id).bind(name).execute(&mut *tx).await?;
    sqlx::query(&format!("INSERT INTO {table} ({col}, policy_name, document) VALUES ($1, $2, $3)"))
        .bind(owner_id)
        .bind(name)
        .bind(doc)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    iam.keys.invalidate();
    Ok(())
}

pub async fn get_inline(iam: &Iam, owner: Holder, owner_id: &str, name: &str) -> Result<String> {
    let (table, col) = owner.table();
    let doc: Option<String> = sqlx::query_scalar(&format!("SELECT document FROM {table} WHERE {col} = $1 AND policy_name = $2"))
        .bind(owner_id)
        .bind(name)
        .fetch_optional(&iam.store.read)
        .await?;
    let kind = owner.kind();
    doc.ok_or_else(|| AwsError::no_such_entity(format!("The {kind} policy with name {name} cannot be found.")))
}

pub async fn list_inline(iam: &Iam, owner: Holder, owner_id: &str) -> Result<Vec<String>> {
    let (table, col) = owner.table();
    Ok(sqlx::query_scalar(&format!("SELECT policy_name FROM {table} WHERE {col} = $1 ORDER BY policy_name")).bind(owner_id).fetch_all(&iam.store.read).await?)
}

pub async fn delete_inline(iam: &Iam, owner: Holder, owner_id: &str, name: &str) -> Result<()> {
    let (table, col) = owner.table();
    let n = crate::audit::execute_one(&iam.store, sqlx::query(&format!("DELETE FROM {table} WHERE {col} = $1 AND policy_name = $2")).bind(owner_id).bind(name))
        .await?
        .rows_affected();
    iam.keys.invalidate();
    if n == 0 {
        let kind = owner.kind();
        return Err(AwsError::no_such_entity(format!("The {kind} policy with name {name} cannot be found.")));
    }
    Ok(())
}

// ---- managed policies ----

#[derive(Clone, Debug)]
pub struct Managed {
    pub policy_id: String,
    pub account_id: String,
    pub arn: String,
    pub name: String,
    pub path: String,
    pub description: Option<String>,
    pub default_version: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub attachments: i64,
}

/// The columns of a managed policy as seen by one account: `acct` is the placeholder holding the
/// caller's account, so an AWS policy's AttachmentCount counts only that account's attachments.
fn mcols(acct: &str) -> String {
    format!("m.policy_id, m.account_id, m.arn, m.name, m.path, m.description, m.default_version, m.created_at, m.updated_at, (SELECT COUNT(*) FROM policy_attachments a WHERE a.policy_id = m.policy_id AND a.account_id = {acct})")
}

fn managed_row(r: &sqlx::any::AnyRow) -> Managed {
    Managed {
        policy_id: r.get(0),
        account_id: r.get(1),
        arn: r.get(2),
        name: r.get(3),
        path: r.get(4),
        description: r.get(5),
        default_version: r.get(6),
        created_at: r.get(7),
        updated_at: r.get(8),
        attachments: r.get(9),
    }
}

pub fn no_such_policy(arn: &str) -> AwsError {
    AwsError::no_such_entity(format!("Policy {arn} does not exist or is not attachable."))
}

fn policy_id() -> String {
    format!("ANPA{}", &uuid::Uuid::new_v4().simple().to_string().to_uppercase()[..17])
}

/// Finds a managed policy visible to `account`: its own, or AWS's.
pub async fn get_managed<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(ex: E, account: &str, arn: &str) -> Result<Option<Managed>> {
    let row = sqlx::query(&format!("SELECT {} FROM managed_policies m WHERE m.arn = $1 AND (m.account_id = $2 OR m.account_id = 'aws')", mcols("$2")))
        .bind(arn)
        .bind(account)
        .fetch_optional(ex)
        .await?;
    Ok(row.as_ref().map(managed_row))
}

pub async fn create_managed(
    iam: &Iam,
    account: &str,
    name: &str,
    path: &str,
    doc: &str,
    description: Option<&str>,
    tags: &[(String, String)],
) -> Result<Managed> {
    validate_managed(doc)?;
    if policy::quota_size(doc) > MANAGED_QUOTA {
        return Err(AwsError::limit_exceeded(format!("Cannot exceed quota for PolicySize: {MANAGED_QUOTA}")));
    }
    let arn = format!("arn:aws:iam::{account}:policy{path}{name}");
    let id = policy_id();
    let now = iam.clock.now_ms();
    let mut tx = iam.begin().await?;
    let r = sqlx::query("INSERT INTO managed_policies (policy_id, account_id, arn, name, path, description, default_version, next_version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'v1', 2, $7, $7)")
        .bind(&id)
        .bind(account)
        .bind(&arn)
        .bind(name)
        .bind(path)
        .bind(description)
        .bind(now)
        .execute(&mut *tx)
        .await;
    match r {
        Err(e) if is_unique_violation(&e) => {
            return Err(AwsError::entity_already_exists(format!("A policy called {name} already exists. Duplicate names are not allowed.")))
        }
        Err(e) => return Err(e.into()),
        Ok(_) => {}
    }
    sqlx::query("INSERT INTO policy_versions (policy_id, version_id, document, created_at) VALUES ($1, 'v1', $2, $3)")
        .bind(&id)
        .bind(doc)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    super::tags::put(&mut tx, super::tags::Taggable::Policy, &id, tags).await?;
    tx.commit().await?;
    Ok(Managed {
        policy_id: id,
        account_id: account.into(),
        arn,
        name: name.into(),
        path: path.into(),
        description: description.map(Into::into),
        default_version: "v1".into(),
        created_at: now,
        updated_at: now,
        attachments: 0,
    })
}

pub async fn list_managed(iam: &Iam, account: &str, scope: &str, only_attached: bool, path_prefix: &str) -> Result<Vec<Managed>> {
    let scope_sql = match scope {
        "AWS" => "m.account_id = 'aws'",
        "Local" => "m.account_id = $1",
        _ => "(m.account_id = $1 OR m.account_id = 'aws')",
    };
    let attached = if only_attached { " AND EXISTS (SELECT 1 FROM policy_attachments a WHERE a.policy_id = m.policy_id AND a.account_id = $1)" } else { "" };
    let rows = sqlx::query(&format!(
        "SELECT {} FROM managed_policies m WHERE {scope_sql}{attached} AND substr(m.path, 1, length($2)) = $2 AND ($1 = $1) ORDER BY m.name",
        mcols("$1")
    ))
    .bind(account)
    .bind(path_prefix)
    .fetch_all(&iam.store.read)
    .await?;
    Ok(rows.iter().map(managed_row).collect())
}

pub async fn delete_managed(iam: &Iam, account: &str, arn: &str) -> Result<()> {
    let mut tx = iam.begin().await?;
    let m = get_managed(&mut *tx, account, arn)
        .await?
        .filter(|m| m.account_id == account)
        .ok_or_else(|| AwsError::no_such_entity(format!("Policy {arn} was not found.")))?;
    super::lock_parent(&mut tx, iam.store.backend, super::Parent::Policy, &m.policy_id).await?;
    if m.attachments > 0 {
        return Err(AwsError::delete_conflict("Cannot delete a policy attached to entities."));
    }
    let versions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM policy_versions WHERE policy_id = $1").bind(&m.policy_id).fetch_one(&mut *tx).await?;
    if versions > 1 {
        return Err(AwsError::delete_conflict("This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy."));
    }
    sqlx::query("DELETE FROM policy_versions WHERE policy_id = $1").bind(&m.policy_id).execute(&mut *tx).await?;
    super::tags::remove_all(&mut tx, super::tags::Taggable::Policy, &m.policy_id).await?;
    sqlx::query("DELETE FROM managed_policies WHERE policy_id = $1").bind(&m.policy_id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// The tags of a managed policy (AWS's own have none).
pub async fn policy_tags(iam: &Iam, policy_id: &str) -> Result<Vec<(String, String)>> {
    super::tags::list(&iam.store.read, super::tags::Taggable::Policy, policy_id).await
}

/// TagPolicy / UntagPolicy: only the account's own policies, the policy row locked so a tag never
/// outlives a concurrent DeletePolicy.
pub async fn retag_policy(iam: &Iam, account: &str, arn: &str, add: &[(String, String)], remove: &[String]) -> Result<()> {
    let mut tx = iam.begin().await?;
    let m = own_policy(&mut tx, account, arn).await?;
    if !super::lock_parent(&mut tx, iam.store.backend, super::Parent::Policy, &m.policy_id).await? {
        return Err(AwsError::no_such_entity(format!("Policy {arn} was not found.")));
    }
    super::tags::put(&mut tx, super::tags::Taggable::Policy, &m.policy_id, add).await?;
    super::tags::remove(&mut tx, super::tags::Taggable::Policy, &m.policy_id, remove).await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Clone, Debug)]
pub struct PolicyVersion {
    pub version_id: String,
    pub document: String,
    pub is_default: bool,
    pub created_at: i64,
}

async fn own_policy(tx: &mut crate::audit::Tx, account: &str, arn: &str) -> Result<Managed> {
    get_managed(&mut **tx, account, arn)
        .await?
        .filter(|m| m.account_id == account)
        .ok_or_else(|| AwsError::no_such_entity(format!("Policy {arn} was not found.")))
}

pub async fn create_version(iam: &Iam, account: &str, arn: &str, doc: &str, set_default: bool) -> Result<PolicyVersion> {
    validate_managed(doc)?;
    if policy::quota_size(doc) > MANAGED_QUOTA {
        return Err(AwsError::limit_exceeded(format!("Cannot exceed quota for PolicySize: {MANAGED_QUOTA}")));
    }
    let mut tx = iam.begin().await?;
    let m = own_policy(&mut tx, account, arn).await?;
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM policy_versions WHERE policy_id = $1").bind(&m.policy_id).fetch_one(&mut *tx).await?;
    if count >= VERSIONS_PER_POLICY {
        return Err(AwsError::limit_exceeded(
            "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version.",
        ));
    }
    let next: i64 = sqlx::query_scalar("SELECT next_version FROM managed_policies WHERE policy_id = $1").bind(&m.policy_id).fetch_one(&mut *tx).await?;
    let vid = format!("v{next}");
    let now = iam.clock.now_ms();
    sqlx::query("INSERT INTO policy_versions (policy_id, version_id, document, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&m.policy_id)
        .bind(&vid)
        .bind(doc)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let q = if set_default {
        "UPDATE managed_policies SET next_version = next_version + 1, default_version = $2, updated_at = $3 WHERE policy_id = $1"
    } else {
        "UPDATE managed_policies SET next_version = next_version + 1, updated_at = $3 WHERE policy_id = $1 AND $2 = $2"
    };
    sqlx::query(q).bind(&m.policy_id).bind(&vid).bind(now).execute(&mut *tx).await?;
    tx.commit().await?;
    iam.keys.invalidate();
    Ok(PolicyVersion { version_id: vid, document: doc.into(), is_default: set_default, created_at: now })
}

pub async fn versions(iam: &Iam, account: &str, arn: &str) -> Result<(Managed, Vec<PolicyVersion>)> {
    let m = get_managed(&iam.store.read, account, arn).await?.ok_or_else(|| AwsError::no_such_entity(format!("Policy {arn} was not found.")))?;
    let rows = sqlx::query("SELECT version_id, document, created_at FROM policy_versions WHERE policy_id = $1 ORDER BY created_at DESC, version_id DESC")
        .bind(&m.policy_id)
        .fetch_all(&iam.store.read)
        .await?;
    let list = rows
        .iter()
        .map(|r| {
            let v: String = r.get(0);
            PolicyVersion { is_default: v == m.default_version, version_id: v, document: r.get(1), created_at: r.get(2) }
        })
        .collect();
    Ok((m, list))
}

pub async fn delete_version(iam: &Iam, account: &str, arn: &str, vid: &str) -> Result<()> {
    let mut tx = iam.begin().await?;
    let m = own_policy(&mut tx, account, arn).await?;
    if m.default_version == vid {
        return Err(AwsError::delete_conflict("Cannot delete the default version of a policy."));
    }
    let n = sqlx::query("DELETE FROM policy_versions WHERE policy_id = $1 AND version_id = $2")
        .bind(&m.policy_id)
        .bind(vid)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(AwsError::no_such_entity(format!("Policy {arn} version {vid} does not exist.")));
    }
    tx.commit().await?;
    Ok(())
}

pub async fn set_default_version(iam: &Iam, account: &str, arn: &str, vid: &str) -> Result<()> {
    let mut tx = iam.begin().await?;
    let m = own_policy(&mut tx, account, arn).await?;
    let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM policy_versions WHERE policy_id = $1 AND version_id = $2")
        .bind(&m.policy_id)
        .bind(vid)
        .fetch_one(&mut *tx)
        .await?;
    if exists == 0 {
        return Err(AwsError::no_such_entity(format!("Policy {arn} version {vid} does not exist.")));
    }
    sqlx::query("UPDATE managed_policies SET default_version = $1, updated_at = $2 WHERE policy_id = $3")
        .bind(vid)
        .bind(iam.clock.now_ms())
        .bind(&m.policy_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    iam.keys.invalidate();
    Ok(())
}

// ---- attachments ----

pub async fn attach(iam: &Iam, account: &str, holder: Holder, entity_id: &str, arn: &str) -> Result<()> {
    let entity_type = holder.kind();
    let mut tx = iam.begin().await?;
    if !super::lock_parent(&mut tx, iam.store.backend, holder.parent(), entity_id).await? {
        return Err(AwsError::no_such_entity(format!("The {entity_type} cannot be found.")));
    }
    let m = get_managed(&mut *tx, account, arn).await?.ok_or_else(|| no_such_policy(arn))?;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM policy_attachments WHERE entity_type = $1 AND entity_id = $2")
        .bind(entity_type)
        .bind(entity_id)
        .fetch_one(&mut *tx)
        .await?;
    let already: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM policy_attachments WHERE policy_id = $1 AND entity_type = $2 AND entity_id = $3")
        .bind(&m.policy_id)
        .bind(entity_type)
        .bind(entity_id)
        .fetch_one(&mut *tx)
        .await?;
    if already > 0 {
        return Ok(());
    }
    if n >= ATTACHED_PER_ENTITY {
        let what = match holder {
            Holder::Group => "PoliciesPerGroup",
            Holder::Role => "PoliciesPerRole",
            Holder::User => "PoliciesPerUser",
        };
        return Err(AwsError::limit_exceeded(format!("Cannot exceed quota for {what}: {ATTACHED_PER_ENTITY}")));
    }
    sqlx::query("INSERT INTO policy_attachments (policy_id, account_id, entity_type, entity_id) VALUES ($1, $2, $3, $4)")
        .bind(&m.policy_id)
        .bind(account)
        .bind(entity_type)
        .bind(entity_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    iam.keys.invalidate();
    Ok(())
}

pub async fn detach(iam: &Iam, account: &str, holder: Holder, entity_id: &str, arn: &str) -> Result<()> {
    let m = get_managed(&iam.store.read, account, arn).await?.ok_or_else(|| AwsError::no_such_entity(format!("Policy {arn} was not found.")))?;
    let n = crate::audit::execute_one(
        &iam.store,
        sqlx::query("DELETE FROM policy_attachments WHERE policy_id = $1 AND entity_type = $2 AND entity_id = $3")
            .bind(&m.policy_id)
            .bind(holder.kind())
            .bind(entity_id),
    )
    .await?
    .rows_affected();
    iam.keys.invalidate();
    if n == 0 {
        return Err(AwsError::no_such_entity(format!("Policy {arn} was not found.")));
    }
    Ok(())
}

/// (policy name, arn) attached to an entity.
pub async fn attached(iam: &Iam, holder: Holder, entity_id: &str) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query("SELECT m.name, m.arn FROM policy_attachments a JOIN managed_policies m ON m.policy_id = a.policy_id WHERE a.entity_type = $1 AND a.entity_id = $2 ORDER BY m.name")
        .bind(holder.kind())
        .bind(entity_id)
        .fetch_all(&iam.store.read)
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// ListEntitiesForPolicy: (entity type, name, id, path), by type then name.
pub async fn entities(iam: &Iam, account: &str, arn: &str) -> Result<Vec<(String, String, String, String)>> {
    let m = get_managed(&iam.store.read, account, arn).await?.ok_or_else(|| AwsError::no_such_entity(format!("Policy {arn} was not found.")))?;
    let rows = sqlx::query(
        "SELECT a.entity_type, COALESCE(u.name, g.name, r.name), a.entity_id, COALESCE(u.path, g.path, r.path) FROM policy_attachments a LEFT JOIN users u ON a.entity_type = 'user' AND u.user_id = a.entity_id LEFT JOIN groups g ON a.entity_type = 'group' AND g.group_id = a.entity_id LEFT JOIN roles r ON a.entity_type = 'role' AND r.role_id = a.entity_id WHERE a.policy_id = $1 AND a.account_id = $2 ORDER BY a.entity_type, 2",
    )
    .bind(&m.policy_id)
    .bind(account)
    .fetch_all(&iam.store.read)
    .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get::<Option<String>, _>(1).unwrap_or_default(), r.get(2), r.get::<Option<String>, _>(3).unwrap_or_default()))
        .collect())
}

// ---- groups ----

#[derive(Clone, Debug)]
pub struct Group {
    pub group_id: String,
    pub name: String,
    pub path: String,
    pub created_at: i64,
}

fn group_row(r: &sqlx::any::AnyRow) -> Group {
    Group { group_id: r.get(0), name: r.get(1), path: r.get(2), created_at: r.get(3) }
}

pub fn no_such_group(name: &str) -> AwsError {
    AwsError::no_such_entity(format!("The group with name {name} cannot be found."))
}

pub async fn find_group<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(ex: E, account: &str, name: &str) -> Result<Option<Group>> {
    let row = sqlx::query("SELECT group_id, name, path, created_at FROM groups WHERE account_id = $1 AND name_lower = $2")
        .bind(account)
        .bind(name.to_ascii_lowercase())
        .fetch_optional(ex)
        .await?;
    Ok(row.as_ref().map(group_row))
}

pub async fn create_group(iam: &Iam, account: &str, name: &str, path: &str) -> Result<Group> {
    let g = Group {
        group_id: format!("AGPA{}", &uuid::Uuid::new_v4().simple().to_string().to_uppercase()[..17]),
        name: name.into(),
        path: path.into(),
        created_at: iam.clock.now_ms(),
    };
    let r = crate::audit::execute_one(
        &iam.store,
        sqlx::query("INSERT INTO groups (group_id, account_id, name, name_lower, path, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&g.group_id)
            .bind(account)
            .bind(name)
            .bind(name.to_ascii_lowercase())
            .bind(path)
            .bind(g.created_at),
    )
    .await;
    match r {
        Err(e) if is_unique_violation(&e) => Err(AwsError::entity_already_exists(format!("Group with name {name} already exists."))),
        Err(e) => Err(e.into()),
        Ok(_) => Ok(g),
    }
}

pub async fn list_groups(iam: &Iam, account: &str, path_prefix: &str) -> Result<Vec<Group>> {
    let range = super::PathRange::new(iam.store.backend, path_prefix, 2);
    let sql = format!("SELECT group_id, name, path, created_at FROM groups WHERE account_id = $1{} ORDER BY name_lower", range.sql);
    let rows = range.bind(sqlx::query(&sql).bind(account)).fetch_all(&iam.store.read).await?;
    Ok(rows.iter().map(group_row).collect())
}

pub async fn group_members(iam: &Iam, group_id: &str) -> Result<Vec<super::users::User>> {
    let rows = sqlx::query("SELECT u.user_id, u.name, u.path, u.created_at, u.password_last_used FROM group_members m JOIN users u ON u.user_id = m.user_id WHERE m.group_id = $1 ORDER BY u.name_lower")
        .bind(group_id)
        .fetch_all(&iam.store.read)
        .await?;
    Ok(rows
        .iter()
        .map(|r| super::users::User { user_id: r.get(0), name: r.get(1), path: r.get(2), created_at: r.get(3), password_last_used: r.get(4), tags: vec![] })
        .collect())
}

pub async fn groups_for_user(iam: &Iam, user_id: &str) -> Result<Vec<Group>> {
    let rows = sqlx::query("SELECT g.group_id, g.name, g.path, g.created_at FROM group_members m JOIN groups g ON g.group_id = m.group_id WHERE m.user_id = $1 ORDER BY g.name_lower")
        .bind(user_id)
        .fetch_all(&iam.store.read)
        .await?;
    Ok(rows.iter().map(group_row).collect())
}

pub async fn update_group(iam: &Iam, account: &str, name: &str, new_name: Option<&str>, new_path: Option<&str>) -> Result<()> {
    let g = find_group(&iam.store.read, account, name).await?.ok_or_else(|| no_such_group(name))?;
    let nn = new_name.unwrap_or(&g.name);
    let r = crate::audit::execute_one(
        &iam.store,
        sqlx::query("UPDATE groups SET name = $1, name_lower = $2, path = $3 WHERE group_id = $4")
            .bind(nn)
            .bind(nn.to_ascii_lowercase())
            .bind(new_path.unwrap_or(&g.path))
            .bind(&g.group_id),
    )
    .await;
    match r {
        Err(e) if is_unique_violation(&e) => Err(AwsError::entity_already_exists(format!("Group with name {nn} already exists."))),
        Err(e) => Err(e.into()),
        Ok(_) => Ok(()),
    }
}

pub async fn delete_group(iam: &Iam, account: &str, name: &str) -> Result<()> {
    let mut tx = iam.begin().await?;
    let g = find_group(&mut *tx, account, name).await?.ok_or_else(|| no_such_group(name))?;
    if !super::lock_parent(&mut tx, iam.store.backend, super::Parent::Group, &g.group_id).await? {
        return Err(no_such_group(name));
    }
    let r = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM group_members WHERE group_id = $1), (SELECT COUNT(*) FROM group_policies WHERE group_id = $1), (SELECT COUNT(*) FROM policy_attachments WHERE entity_type = 'group' AND entity_id = $1)",
    )
    .bind(&g.group_id)
    .fetch_one(&mut *tx)
    .await?;
    if r.get::<i64, _>(0) > 0 {
        return Err(AwsError::delete_conflict("Cannot delete entity, must remove users from group first."));
    }
    if r.get::<i64, _>(1) > 0 {
        return Err(AwsError::delete_conflict("Cannot delete entity, must delete policies first."));
    }
    if r.get::<i64, _>(2) > 0 {
        return Err(AwsError::delete_conflict("Cannot delete entity, must detach all policies first."));
    }
    sqlx::query("DELETE FROM groups WHERE group_id = $1").bind(&g.group_id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn add_member(iam: &Iam, account: &str, group: &str, user: &UserRef) -> Result<()> {
    let mut tx = iam.begin().await?;
    let g = find_group(&mut *tx, account, group).await?.ok_or_else(|| no_such_group(group))?;
    // Both ends must still exist when the membership commits (a concurrent DeleteUser or
    // DeleteGroup either sees it and refuses, or wins and this refuses).
    if !super::lock_parent(&mut tx, iam.store.backend, super::Parent::Group, &g.group_id).await? {
        return Err(no_such_group(group));
    }
    if !super::lock_parent(&mut tx, iam.store.backend, super::Parent::User, &user.user_id).await? {
        return Err(super::users::no_such_user(&user.name));
    }
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM group_members WHERE user_id = $1").bind(&user.user_id).fetch_one(&mut *tx).await?;
    let already: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM group_members WHERE user_id = $1 AND group_id = $2")
        .bind(&user.user_id)
        .bind(&g.group_id)
        .fetch_one(&mut *tx)
        .await?;
    if already > 0 {
        return Ok(());
    }
    if n >= 10 {
        return Err(AwsError::limit_exceeded("Cannot exceed quota for GroupsPerUser: 10"));
    }
    sqlx::query("INSERT INTO group_members (group_id, user_id) VALUES ($1, $2)").bind(&g.group_id).bind(&user.user_id).execute(&mut *tx).await?;
    tx.commit().await?;
    iam.keys.invalidate();
    Ok(())
}

pub async fn remove_member(iam: &Iam, account: &str, group: &str, user: &UserRef) -> Result<()> {
    let g = find_group(&iam.store.read, account, group).await?.ok_or_else(|| no_such_group(group))?;
    let n = crate::audit::execute_one(
        &iam.store,
        sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2").bind(&g.group_id).bind(&user.user_id),
    )
    .await?
    .rows_affected();
    iam.keys.invalidate();
    if n == 0 {
        return Err(AwsError::no_such_entity(format!("The user with name {} cannot be found in group {}.", user.name, g.name)));
    }
    Ok(())
}

// ---- what applies to a user ----

/// What authorization needs about a principal: its identity policies, and its tags when a policy
/// refers to `aws:PrincipalTag/…` (read once with the policies and cached with them).
#[derive(Debug, Default)]
pub struct Effective {
    pub policies: Vec<Arc<Policy>>,
    pub principal_tags: Vec<(String, String)>,
}

fn mentions_principal_tag(p: &Policy) -> bool {
    p.statements.iter().any(|s| {
        s.conditions.iter().any(|c| c.key.to_ascii_lowercase().starts_with("aws:principaltag/") || c.values.iter().any(|v| v.contains("aws:PrincipalTag")))
            || s.resource.as_ref().is_some_and(|r| r.values.iter().any(|v| v.contains("aws:PrincipalTag")))
    })
}

/// Parsed documents by their text: parsing is pure, so the cache is right on every node whatever
/// the database says; it only saves the parse (the documents are still read each time on PostgreSQL).
static PARSED: std::sync::LazyLock<std::sync::RwLock<std::collections::HashMap<String, Arc<Policy>>>> = std::sync::LazyLock::new(Default::default);
const PARSED_MAX: usize = 10_000;

fn parse_all(docs: &[String]) -> Vec<Arc<Policy>> {
    let mut out = Vec::with_capacity(docs.len());
    for d in docs {
        if let Some(p) = PARSED.read().unwrap_or_else(|p| p.into_inner()).get(d) {
            out.push(p.clone());
            continue;
        }
        // Documents were validated when stored, perhaps under earlier rules: only their syntax is
        // read again, so no stored Deny is dropped by a stricter validator. One that does not even
        // parse is skipped and logged.
        match policy::parse_stored(d) {
            Ok(p) => {
                let p = Arc::new(p);
                let mut cache = PARSED.write().unwrap_or_else(|p| p.into_inner());
                if cache.len() >= PARSED_MAX {
                    cache.clear();
                }
                cache.insert(d.clone(), p.clone());
                out.push(p);
            }
            Err(e) => tracing::error!(error = %e, "a stored policy does not parse; ignored"),
        }
    }
    out
}

/// A role's identity policies: inline and attached.
pub async fn effective_role(iam: &Iam, role_id: &str) -> Result<Arc<Effective>> {
    let key = format!("role:{role_id}");
    if let Some(p) = iam.keys.cached_policies(&key) {
        return Ok(p);
    }
    let generation = iam.keys.generation();
    let docs: Vec<String> = sqlx::query_scalar(
        "SELECT document FROM role_policies WHERE role_id = $1 \
         UNION ALL SELECT v.document FROM policy_attachments a JOIN managed_policies m ON m.policy_id = a.policy_id JOIN policy_versions v ON v.policy_id = m.policy_id AND v.version_id = m.default_version WHERE a.entity_type = 'role' AND a.entity_id = $1",
    )
    .bind(role_id)
    .fetch_all(&iam.store.read)
    .await?;
    let policies = parse_all(&docs);
    let principal_tags = if policies.iter().any(|p| mentions_principal_tag(p)) { super::roles::tags(iam, role_id).await? } else { vec![] };
    let list = Arc::new(Effective { policies, principal_tags });
    iam.keys.cache_policies(&key, generation, list.clone());
    Ok(list)
}

/// The user's effective identity policies: inline, attached, and both kinds through its groups.
pub async fn effective(iam: &Iam, user_id: &str) -> Result<Arc<Effective>> {
    if let Some(p) = iam.keys.cached_policies(user_id) {
        return Ok(p);
    }
    let generation = iam.keys.generation();
    let docs: Vec<String> = sqlx::query_scalar(
        "SELECT document FROM user_policies WHERE user_id = $1 \
         UNION ALL SELECT v.document FROM policy_attachments a JOIN managed_policies m ON m.policy_id = a.policy_id JOIN policy_versions v ON v.policy_id = m.policy_id AND v.version_id = m.default_version WHERE a.entity_type = 'user' AND a.entity_id = $1 \
         UNION ALL SELECT gp.document FROM group_members gm JOIN group_policies gp ON gp.group_id = gm.group_id WHERE gm.user_id = $1 \
         UNION ALL SELECT v.document FROM group_members gm JOIN policy_attachments a ON a.entity_type = 'group' AND a.entity_id = gm.group_id JOIN managed_policies m ON m.policy_id = a.policy_id JOIN policy_versions v ON v.policy_id = m.policy_id AND v.version_id = m.default_version WHERE gm.user_id = $1",
    )
    .bind(user_id)
    .fetch_all(&iam.store.read)
    .await?;
    let policies = parse_all(&docs);
    let principal_tags = if policies.iter().any(|p| mentions_principal_tag(p)) { super::users::tags(iam, user_id).await? } else { vec![] };
    let list = Arc::new(Effective { policies, principal_tags });
    iam.keys.cache_policies(user_id, generation, list.clone());
    Ok(list)
}

/// The documents that apply to a user, group or role, each with the id and type the simulator
/// reports in MatchedStatements: (source id, source type, document).
pub async fn sources(iam: &Iam, holder: Holder, entity_id: &str) -> Result<Vec<(String, String, String)>> {
    let mut out = Vec::new();
    let entity_type = holder.kind();
    let (table, col) = holder.table();
    for r in sqlx::query(&format!("SELECT policy_name, document FROM {table} WHERE {col} = $1 ORDER BY policy_name"))
        .bind(entity_id)
        .fetch_all(&iam.store.read)
        .await?
    {
        out.push((r.get(0), entity_type.to_string(), r.get(1)));
    }
    let managed = "SELECT m.name, v.document FROM policy_attachments a JOIN managed_policies m ON m.policy_id = a.policy_id JOIN policy_versions v ON v.policy_id = m.policy_id AND v.version_id = m.default_version WHERE a.entity_type = $1 AND a.entity_id = $2 ORDER BY m.name";
    for r in sqlx::query(managed).bind(entity_type).bind(entity_id).fetch_all(&iam.store.read).await? {
        out.push((r.get(0), "IAM Policy".to_string(), r.get(1)));
    }
    if holder == Holder::User {
        for g in groups_for_user(iam, entity_id).await? {
            out.extend(Box::pin(sources(iam, Holder::Group, &g.group_id)).await?);
        }
    }
    Ok(out)
}

// ---- AWS managed policies ----

const AWS_MANAGED: &[(&str, &str, &str)] = &[
    ("AdministratorAccess", "/", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#),
    (
        "IAMFullAccess",
        "/",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:*","organizations:DescribeAccount","organizations:DescribeOrganization","organizations:DescribeOrganizationalUnit","organizations:DescribePolicy","organizations:ListChildren","organizations:ListParents","organizations:ListPoliciesForTarget","organizations:ListRoots","organizations:ListPolicies","organizations:ListTargetsForPolicy"],"Resource":"*"}]}"#,
    ),
    (
        "IAMReadOnlyAccess",
        "/",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GenerateCredentialReport","iam:GenerateServiceLastAccessedDetails","iam:Get*","iam:List*","iam:SimulateCustomPolicy","iam:SimulatePrincipalPolicy"],"Resource":"*"}]}"#,
    ),
    (
        "SignInLocalDevelopmentAccess",
        "/",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["signin:AuthorizeOAuth2Access","signin:CreateOAuth2Token"],"Resource":"arn:aws:signin:*:*:oauth2/public-client/*"}]}"#,
    ),
    (
        "IAMUserChangePassword",
        "/",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:ChangePassword"],"Resource":["arn:aws:iam::*:user/${aws:username}"]},{"Effect":"Allow","Action":["iam:GetAccountPasswordPolicy"],"Resource":"*"}]}"#,
    ),
];

/// Makes AWS's managed policies available under `arn:aws:iam::aws:policy/…` (idempotent).
pub async fn seed_aws_managed(iam: &Iam) -> anyhow::Result<()> {
    for (name, path, doc) in AWS_MANAGED {
        let arn = format!("arn:aws:iam::aws:policy{path}{name}");
        let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM managed_policies WHERE arn = $1").bind(&arn).fetch_one(&iam.store.write).await?;
        if exists > 0 {
            continue;
        }
        let id = policy_id();
        let mut tx = iam.begin().await?;
        let r = sqlx::query("INSERT INTO managed_policies (policy_id, account_id, arn, name, path, description, default_version, next_version, created_at, updated_at) VALUES ($1, 'aws', $2, $3, $4, NULL, 'v1', 2, 0, 0)")
            .bind(&id)
            .bind(&arn)
            .bind(*name)
            .bind(*path)
            .execute(&mut *tx)
            .await;
        if let Err(e) = r {
            if is_unique_violation(&e) {
                continue; // another node seeded it first
            }
            return Err(e.into());
        }
        sqlx::query("INSERT INTO policy_versions (policy_id, version_id, document, created_at) VALUES ($1, 'v1', $2, 0)")
            .bind(&id)
            .bind(*doc)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}
