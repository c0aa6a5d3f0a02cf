//! Tags of users, roles, virtual MFA devices and managed policies: one implementation for the four tables. Keys are
//! unique case-insensitively (IAM preserves the case it was given), at most 50 per entity.

use crate::error::{AwsError, Result};
use sqlx::Row;

pub const MAX_TAGS: i64 = 50;

#[derive(Clone, Copy)]
pub enum Taggable {
    User,
    Role,
    MfaDevice,
    Policy,
}

impl Taggable {
    fn table(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Taggable::User => ("user_tags", "user_id", "TagsPerUser"),
            Taggable::Role => ("role_tags", "role_id", "TagsPerRole"),
            Taggable::MfaDevice => ("mfa_device_tags", "device_id", "TagsPerMFADevice"),
            Taggable::Policy => ("policy_tags", "policy_id", "TagsPerPolicy"),
        }
    }
}

/// Sets tags (a key given again, in any case, is replaced) and enforces the limit, inside `tx`.
pub async fn put(tx: &mut crate::audit::Tx, t: Taggable, id: &str, tags: &[(String, String)]) -> Result<()> {
    let (table, col, quota) = t.table();
    for (k, v) in tags {
        sqlx::query(&format!("DELETE FROM {table} WHERE {col} = $1 AND tag_key_lower = $2")).bind(id).bind(k.to_lowercase()).execute(&mut **tx).await?;
        sqlx::query(&format!("INSERT INTO {table} ({col}, tag_key, tag_key_lower, tag_value) VALUES ($1, $2, $3, $4)"))
            .bind(id)
            .bind(k)
            .bind(k.to_lowercase())
            .bind(v)
            .execute(&mut **tx)
            .await?;
    }
    let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE {col} = $1")).bind(id).fetch_one(&mut **tx).await?;
    if n > MAX_TAGS {
        return Err(AwsError::limit_exceeded(format!("Cannot exceed quota for {quota}: {MAX_TAGS}")));
    }
    Ok(())
}

pub async fn remove(tx: &mut crate::audit::Tx, t: Taggable, id: &str, keys: &[String]) -> Result<()> {
    let (table, col, _) = t.table();
    for k in keys {
        sqlx::query(&format!("DELETE FROM {table} WHERE {col} = $1 AND tag_key_lower = $2")).bind(id).bind(k.to_lowercase()).execute(&mut **tx).await?;
    }
    Ok(())
}

pub async fn remove_all(tx: &mut crate::audit::Tx, t: Taggable, id: &str) -> Result<()> {
    let (table, col, _) = t.table();
    sqlx::query(&format!("DELETE FROM {table} WHERE {col} = $1")).bind(id).execute(&mut **tx).await?;
    Ok(())
}

/// Sorted by key, as AWS sorts them: by the key's characters (`Stan` before `like-a`), the same on
/// both backends whatever the database's collation.
pub async fn list<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(ex: E, t: Taggable, id: &str) -> Result<Vec<(String, String)>> {
    let (table, col, _) = t.table();
    let rows = sqlx::query(&format!("SELECT tag_key, tag_value FROM {table} WHERE {col} = $1")).bind(id).fetch_all(ex).await?;
    let mut tags: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    tags.sort_unstable();
    Ok(tags)
}
