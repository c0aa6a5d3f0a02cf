//! Roles: identities that users assume with sts:AssumeRole, governed by a trust policy that says who
//! may assume them (and may require MFA).

use super::policies::{self, Holder};
use super::tags::Taggable;
use super::Iam;
use crate::error::{is_unique_violation, AwsError, Result};
use policy::DocKind;
use sqlx::Row;

#[derive(Clone, Debug)]
pub struct Role {
    pub role_id: String,
    pub name: String,
    pub path: String,
    pub trust_policy: String,
    pub description: Option<String>,
    pub max_session_duration: i64,
    pub created_at: i64,
    /// RoleLastUsed: when the role was last assumed (to the minute), and in which region.
    pub last_used: Option<(i64, String)>,
}

const COLS: &str = "role_id, name, path, trust_policy, description, max_session_duration, created_at, last_used_at, last_used_region";
const INSERT_COLS: &str = "role_id, name, path, trust_policy, description, max_session_duration, created_at";

fn row(r: &sqlx::any::AnyRow) -> Role {
    let at: Option<i64> = r.get(7);
    let region: Option<String> = r.get(8);
    Role {
        role_id: r.get(0),
        name: r.get(1),
        path: r.get(2),
        trust_policy: r.get(3),
        description: r.get(4),
        max_session_duration: r.get(5),
        created_at: r.get(6),
        last_used: at.map(|t| (t, region.unwrap_or_default())),
    }
}

/// How often a role's last use is written: at most once a minute per role and node (AWS reports
/// RoleLastUsed with hours of delay; a write per AssumeRole would make every assumption a write).
const LAST_USED_GRANULARITY_MS: i64 = 60_000;

/// Records that the role was assumed now, in `region`: in the background, skipped when this node
/// wrote it less than a minute ago, and conditional so a slower node never moves it back.
pub fn record_use(iam: &Iam, role_id: &str, region: &str) {
    static RECENT: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, i64>>> = std::sync::LazyLock::new(Default::default);
    let now = iam.clock.now_ms();
    {
        let mut recent = RECENT.lock().unwrap_or_else(|p| p.into_inner());
        if recent.get(role_id).is_some_and(|&t| now - t < LAST_USED_GRANULARITY_MS) {
            return;
        }
        if recent.len() > 100_000 {
            recent.retain(|_, t| now - *t < LAST_USED_GRANULARITY_MS);
        }
        recent.insert(role_id.to_string(), now);
    }
    let pool = iam.store.write.clone();
    let (id, region) = (role_id.to_string(), region.to_string());
    crate::app::spawn_background(async move {
        let r = sqlx::query("UPDATE roles SET last_used_at = $1, last_used_region = $2 WHERE role_id = $3 AND (last_used_at IS NULL OR last_used_at < $1)")
            .bind(now)
            .bind(region)
            .bind(id)
            .execute(&pool)
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "recording a role's last use");
        }
    });
}

pub fn arn(account: &str, r: &Role) -> String {
    format!("arn:aws:iam::{account}:role{}{}", r.path, r.name)
}

pub fn no_such_role(name: &str) -> AwsError {
    AwsError::no_such_entity(format!("The role with name {name} cannot be found."))
}

pub fn validate_trust(doc: &str) -> Result<policy::Policy> {
    policy::parse(doc, DocKind::Trust).map_err(|e| AwsError::malformed_policy_document(e.0))
}

// The eight are CreateRole's own parameters, each one used once.
#[allow(clippy::too_many_arguments)]
pub async fn create(
    iam: &Iam,
    account: &str,
    name: &str,
    path: &str,
    trust: &str,
    description: Option<&str>,
    max: i64,
    tags: &[(String, String)],
) -> Result<Role> {
    validate_trust(trust)?;
    if policy::quota_size(trust) > 2048 {
        return Err(AwsError::limit_exceeded("Cannot exceed quota for ACLSizePerRole: 2048"));
    }
    let role = Role {
        role_id: format!("AROA{}", &uuid::Uuid::new_v4().simple().to_string().to_uppercase()[..17]),
        name: name.into(),
        path: path.into(),
        trust_policy: trust.into(),
        description: description.map(Into::into),
        max_session_duration: max,
        created_at: iam.clock.now_ms(),
        last_used: None,
    };
    let mut tx = iam.begin().await?;
    let r = sqlx::query(&format!("INSERT INTO roles ({INSERT_COLS}, account_id, name_lower) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
        .bind(&role.role_id)
        .bind(name)
        .bind(path)
        .bind(trust)
        .bind(description)
        .bind(max)
        .bind(role.created_at)
        .bind(account)
        .bind(name.to_ascii_lowercase())
        .execute(&mut *tx)
        .await;
    match r {
        Err(e) if is_unique_violation(&e) => return Err(AwsError::entity_already_exists(format!("Role with name {name} already exists."))),
        Err(e) => return Err(e.into()),
        Ok(_) => {}
    }
    super::tags::put(&mut tx, Taggable::Role, &role.role_id, tags).await?;
    tx.commit().await?;
    Ok(role)
}

pub async fn find<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(ex: E, account: &str, name: &str) -> Result<Option<Role>> {
    let r = sqlx::query(&format!("SELECT {COLS} FROM roles WHERE account_id = $1 AND name_lower = $2"))
        .bind(account)
        .bind(name.to_ascii_lowercase())
        .fetch_optional(ex)
        .await?;
    Ok(r.as_ref().map(row))
}

pub async fn get(iam: &Iam, account: &str, name: &str) -> Result<Role> {
    find(&iam.store.read, account, name).await?.ok_or_else(|| no_such_role(name))
}

/// By id, for role sessions: a deleted role's sessions stop at once.
pub async fn lookup(iam: &Iam, account: &str, role_id: &str) -> Result<Option<Role>> {
    let r = sqlx::query(&format!("SELECT {COLS} FROM roles WHERE account_id = $1 AND role_id = $2"))
        .bind(account)
        .bind(role_id)
        .fetch_optional(&iam.store.read)
        .await?;
    Ok(r.as_ref().map(row))
}

/// Resolves a role ARN in the caller's account.
pub async fn by_arn(iam: &Iam, account: &str, role_arn: &str) -> Result<Option<Role>> {
    let prefix = format!("arn:aws:iam::{account}:role/");
    let Some(rest) = role_arn.strip_prefix(&prefix) else { return Ok(None) };
    let name = rest.rsplit('/').next().unwrap_or(rest);
    Ok(find(&iam.store.read, account, name).await?.filter(|r| arn(account, r) == role_arn))
}

pub async fn list(iam: &Iam, account: &str, path_prefix: &str) -> Result<Vec<Role>> {
    let range = super::PathRange::new(iam.store.backend, path_prefix, 2);
    let sql = format!("SELECT {COLS} FROM roles WHERE account_id = $1{} ORDER BY name_lower", range.sql);
    let rows = range.bind(sqlx::query(&sql).bind(account)).fetch_all(&iam.store.read).await?;
    Ok(rows.iter().map(row).collect())
}

pub async fn update(iam: &Iam, account: &str, name: &str, description: Option<&str>, max: Option<i64>) -> Result<()> {
    let r = get(iam, account, name).await?;
    crate::audit::execute_one(
        &iam.store,
        sqlx::query("UPDATE roles SET description = COALESCE($1, description), max_session_duration = $2 WHERE role_id = $3")
            .bind(description)
            .bind(max.unwrap_or(r.max_session_duration))
            .bind(&r.role_id),
    )
    .await?;
    Ok(())
}

pub async fn update_trust(iam: &Iam, account: &str, name: &str, doc: &str) -> Result<()> {
    validate_trust(doc)?;
    let r = get(iam, account, name).await?;
    crate::audit::execute_one(&iam.store, sqlx::query("UPDATE roles SET trust_policy = $1 WHERE role_id = $2").bind(doc).bind(&r.role_id)).await?;
    Ok(())
}

pub async fn delete(iam: &Iam, account: &str, name: &str) -> Result<()> {
    let mut tx = iam.begin().await?;
    let r = find(&mut *tx, account, name).await?.ok_or_else(|| no_such_role(name))?;
    if !super::lock_parent(&mut tx, iam.store.backend, super::Parent::Role, &r.role_id).await? {
        return Err(no_such_role(name));
    }
    let c = sqlx::query("SELECT (SELECT COUNT(*) FROM role_policies WHERE role_id = $1), (SELECT COUNT(*) FROM policy_attachments WHERE entity_type = 'role' AND entity_id = $1)")
        .bind(&r.role_id)
        .fetch_one(&mut *tx)
        .await?;
    if c.get::<i64, _>(0) > 0 {
        return Err(AwsError::delete_conflict("Cannot delete entity, must delete policies first."));
    }
    if c.get::<i64, _>(1) > 0 {
        return Err(AwsError::delete_conflict("Cannot delete entity, must detach all policies first."));
    }
    super::tags::remove_all(&mut tx, Taggable::Role, &r.role_id).await?;
    sqlx::query("DELETE FROM roles WHERE role_id = $1").bind(&r.role_id).execute(&mut *tx).await?;
    tx.commit().await?;
    iam.keys.invalidate();
    Ok(())
}

pub async fn tags(iam: &Iam, role_id: &str) -> Result<Vec<(String, String)>> {
    super::tags::list(&iam.store.read, Taggable::Role, role_id).await
}

pub async fn tag(iam: &Iam, account: &str, name: &str, new: &[(String, String)]) -> Result<()> {
    let r = get(iam, account, name).await?;
    let mut tx = iam.begin().await?;
    super::tags::put(&mut tx, Taggable::Role, &r.role_id, new).await?;
    tx.commit().await?;
    iam.keys.invalidate();
    Ok(())
}

pub async fn untag(iam: &Iam, account: &str, name: &str, keys: &[String]) -> Result<()> {
    let r = get(iam, account, name).await?;
    let mut tx = iam.begin().await?;
    super::tags::remove(&mut tx, Taggable::Role, &r.role_id, keys).await?;
    tx.commit().await?;
    iam.keys.invalidate();
    Ok(())
}

pub async fn put_policy(iam: &Iam, account: &str, name: &str, pname: &str, doc: &str) -> Result<()> {
    let r = get(iam, account, name).await?;
    policies::put_inline(iam, Holder::Role, &r.role_id, &r.name, pname, doc).await
}
