//! IAM users: create, read, list, rename, delete; their tags; their console passwords (login profiles).

use super::tags::Taggable;
use super::{accounts, passwords, Iam, UserRef};
use crate::error::{is_unique_violation, AwsError, Result};
use crate::ids;
use sqlx::Row;

#[derive(Debug, Clone)]
pub struct User {
    pub user_id: String,
    pub name: String,
    pub path: String,
    pub created_at: i64,
    pub password_last_used: Option<i64>,
    pub tags: Vec<(String, String)>,
}

impl User {
    pub fn as_ref(&self) -> UserRef {
        UserRef { user_id: self.user_id.clone(), name: self.name.clone(), path: self.path.clone() }
    }
}

pub fn no_such_user(name: &str) -> AwsError {
    AwsError::no_such_entity(format!("The user with name {name} cannot be found."))
}

pub async fn create(iam: &Iam, account: &str, name: &str, path: &str, tags: &[(String, String)]) -> Result<User> {
    let user_id = ids::user_id();
    let now = iam.clock.now_ms();
    let mut tx = iam.begin().await?;
    let r = sqlx::query("INSERT INTO users (user_id, account_id, name, name_lower, path, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&user_id)
        .bind(account)
        .bind(name)
        .bind(name.to_ascii_lowercase())
        .bind(path)
        .bind(now)
        .execute(&mut *tx)
        .await;
    match r {
        Err(e) if is_unique_violation(&e) => return Err(AwsError::entity_already_exists(format!("User with name {name} already exists."))),
        Err(e) => return Err(e.into()),
        Ok(_) => {}
    }
    super::tags::put(&mut tx, Taggable::User, &user_id, tags).await?;
    crate::audit::respond(serde_json::json!({"user": {
        "path": path, "userName": name, "userId": user_id, "arn": super::user_arn(account, path, name),
        "createDate": crate::audit::sts_time(now),
    }}));
    tx.commit().await?;
    Ok(User { user_id, name: name.into(), path: path.into(), created_at: now, password_last_used: None, tags: tags.to_vec() })
}

fn user_from_row(r: &sqlx::any::AnyRow) -> User {
    User { user_id: r.get(0), name: r.get(1), path: r.get(2), created_at: r.get(3), password_last_used: r.get(4), tags: vec![] }
}

const USER_COLS: &str = "user_id, name, path, created_at, password_last_used";

/// Finds a user by name (case-insensitively, as IAM does), without tags.
pub async fn find<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(ex: E, account: &str, name: &str) -> Result<Option<User>> {
    let row = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE account_id = $1 AND name_lower = $2"))
        .bind(account)
        .bind(name.to_ascii_lowercase())
        .fetch_optional(ex)
        .await?;
    Ok(row.as_ref().map(user_from_row))
}

pub async fn get(iam: &Iam, account: &str, name: &str) -> Result<User> {
    let mut u = find(&iam.store.read, account, name).await?.ok_or_else(|| no_such_user(name))?;
    u.tags = tags(iam, &u.user_id).await?;
    Ok(u)
}

pub async fn resolve(iam: &Iam, account: &str, name: &str) -> Result<UserRef> {
    Ok(find(&iam.store.read, account, name).await?.ok_or_else(|| no_such_user(name))?.as_ref())
}

pub async fn tags(iam: &Iam, user_id: &str) -> Result<Vec<(String, String)>> {
    super::tags::list(&iam.store.read, Taggable::User, user_id).await
}

/// One page of users. Without a path prefix (or with "/") they are sorted by name and the marker is
/// the (lower-cased) name to start from. Under a prefix they are sorted by path, then name, so a page
/// reads its rows from the (account, path, name) index and nothing outside the prefix; the marker is
/// then the path followed by the name (a name has no '/', so the last '/' splits them). Markers are
/// opaque to clients, as AWS's are.
pub async fn list(iam: &Iam, account: &str, path_prefix: &str, marker: Option<&str>, max: i64) -> Result<(Vec<User>, Option<String>)> {
    let range = super::PathRange::new(iam.store.backend, path_prefix, 2);
    let marker = marker.unwrap_or("");
    let rows = if range.sql.is_empty() {
        let sql = format!("SELECT {USER_COLS}, name_lower FROM users WHERE account_id = $1 AND name_lower >= $2 ORDER BY name_lower LIMIT $3");
        sqlx::query(&sql).bind(account).bind(marker).bind(max + 1).fetch_all(&iam.store.read).await?
    } else {
        let (m_path, m_name) = match marker.rfind('/') {
            Some(i) => marker.split_at(i + 1),
            None => ("", ""),
        };
        // Never below the prefix: PostgreSQL starts the index scan at the row bound when it is the
        // looser one, and walked every path before the prefix (44 ms at a million users).
        let (m_path, m_name) = if m_path < path_prefix { (path_prefix, "") } else { (m_path, m_name) };
        let col = range.column;
        let sql = format!(
            "SELECT {USER_COLS}, name_lower FROM users WHERE account_id = $1{} AND ({col}, name_lower) >= (${}, ${}) ORDER BY {col}, name_lower LIMIT ${}",
            range.sql,
            range.next,
            range.next + 1,
            range.next + 2
        );
        range.bind(sqlx::query(&sql).bind(account)).bind(m_path).bind(m_name).bind(max + 1).fetch_all(&iam.store.read).await?
    };
    let mut users: Vec<User> = rows.iter().map(user_from_row).collect();
    let next = if users.len() as i64 > max {
        let last: String = rows[max as usize].get(5);
        let next = if range.sql.is_empty() { last } else { format!("{}{last}", users[max as usize].path) };
        users.truncate(max as usize);
        Some(next)
    } else {
        None
    };
    Ok((users, next))
}

pub async fn update(iam: &Iam, account: &str, name: &str, new_name: Option<&str>, new_path: Option<&str>) -> Result<()> {
    let mut tx = iam.begin().await?;
    let u = find(&mut *tx, account, name).await?.ok_or_else(|| no_such_user(name))?;
    let nn = new_name.unwrap_or(&u.name);
    let np = new_path.unwrap_or(&u.path);
    let r = sqlx::query("UPDATE users SET name = $1, name_lower = $2, path = $3 WHERE user_id = $4")
        .bind(nn)
        .bind(nn.to_ascii_lowercase())
        .bind(np)
        .bind(&u.user_id)
        .execute(&mut *tx)
        .await;
    match r {
        Err(e) if is_unique_violation(&e) => return Err(AwsError::entity_already_exists(format!("User with name {nn} already exists."))),
        Err(e) => return Err(e.into()),
        Ok(_) => {}
    }
    tx.commit().await?;
    iam.keys.invalidate();
    Ok(())
}

/// DeleteUser: refused with AWS's DeleteConflict messages while anything still hangs off the user.
pub async fn delete(iam: &Iam, account: &str, name: &str) -> Result<()> {
    let mut tx = iam.begin().await?;
    let u = find(&mut *tx, account, name).await?.ok_or_else(|| no_such_user(name))?;
    // Locked before anything is counted: a concurrent write under this user (a key, a device, a
    // policy, a membership) either committed first and is counted, or waits and then finds no user.
    if !super::lock_parent(&mut tx, iam.store.backend, super::Parent::User, &u.user_id).await? {
        return Err(no_such_user(name));
    }
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM login_profiles WHERE user_id = $1), (SELECT COUNT(*) FROM access_keys WHERE account_id = $2 AND owner = $1), (SELECT COUNT(*) FROM mfa_devices WHERE account_id = $2 AND owner = $1), (SELECT COUNT(*) FROM user_policies WHERE user_id = $1), (SELECT COUNT(*) FROM policy_attachments WHERE entity_type = 'user' AND entity_id = $1), (SELECT COUNT(*) FROM group_members WHERE user_id = $1)",
    )
    .bind(&u.user_id)
    .bind(account)
    .fetch_one(&mut *tx)
    .await?;
    if row.get::<i64, _>(0) > 0 {
        return Err(AwsError::delete_conflict("Cannot delete entity, must delete login profile first."));
    }
    if row.get::<i64, _>(1) > 0 {
        return Err(AwsError::delete_conflict("Cannot delete entity, must delete access keys first."));
    }
    if row.get::<i64, _>(2) > 0 {
        return Err(AwsError::delete_conflict("Cannot delete entity, must delete MFA device first."));
    }
    if row.get::<i64, _>(3) > 0 {
        return Err(AwsError::delete_conflict("Cannot delete entity, must delete policies first."));
    }
    if row.get::<i64, _>(4) > 0 {
        return Err(AwsError::delete_conflict("Cannot delete entity, must detach all policies first."));
    }
    if row.get::<i64, _>(5) > 0 {
        return Err(AwsError::delete_conflict("Cannot delete entity, must remove user from all groups first."));
    }
    sqlx::query("DELETE FROM mfa_throttle WHERE account_id = $1 AND owner = $2").bind(account).bind(&u.user_id).execute(&mut *tx).await?;
    super::console::credentials_changed(&mut tx, account, &u.user_id, None, None).await?;
    super::tags::remove_all(&mut tx, Taggable::User, &u.user_id).await?;
    sqlx::query("DELETE FROM users WHERE user_id = $1").bind(&u.user_id).execute(&mut *tx).await?;
    tx.commit().await?;
    iam.keys.invalidate();
    Ok(())
}

pub async fn tag(iam: &Iam, account: &str, name: &str, new_tags: &[(String, String)]) -> Result<()> {
    let mut tx = iam.begin().await?;
    let u = find(&mut *tx, account, name).await?.ok_or_else(|| no_such_user(name))?;
    super::tags::put(&mut tx, Taggable::User, &u.user_id, new_tags).await?;
    tx.commit().await?;
    // Tags feed aws:PrincipalTag in cached authorization data.
    iam.keys.invalidate();
    Ok(())
}

pub async fn untag(iam: &Iam, account: &str, name: &str, keys: &[String]) -> Result<()> {
    let mut tx = iam.begin().await?;
    let u = find(&mut *tx, account, name).await?.ok_or_else(|| no_such_user(name))?;
    super::tags::remove(&mut tx, Taggable::User, &u.user_id, keys).await?;
    tx.commit().await?;
    iam.keys.invalidate();
    Ok(())
}

// ---- login profiles ----

#[derive(Debug, Clone)]
pub struct LoginProfile {
    pub user_name: String,
    pub created_at: i64,
    pub reset_required: bool,
}

fn no_login_profile(name: &str) -> AwsError {
    AwsError::no_such_entity(format!("Login Profile for User {name} cannot be found."))
}

async fn check_policy(iam: &Iam, account: &str, password: &str) -> Result<()> {
    let policy = accounts::get_password_policy(iam, account).await?;
    let email: String = sqlx::query_scalar("SELECT root_email FROM accounts WHERE account_id = $1").bind(account).fetch_one(&iam.store.read).await?;
    passwords::check(policy.as_ref(), password, &[account, &email])
}

pub async fn create_login_profile(iam: &Iam, account: &str, user: &UserRef, password: &str, reset_required: bool) -> Result<LoginProfile> {
    check_policy(iam, account, password).await?;
    let hash = passwords::hash(password.to_string()).await?;
    let now = iam.clock.now_ms();
    let mut tx = iam.begin().await?;
    if !super::lock_parent(&mut tx, iam.store.backend, super::Parent::User, &user.user_id).await? {
        return Err(no_such_user(&user.name));
    }
    let r = sqlx::query("INSERT INTO login_profiles (user_id, password_hash, reset_required, created_at, changed_at) VALUES ($1, $2, $3, $4, $4)")
        .bind(&user.user_id)
        .bind(hash)
        .bind(reset_required as i64)
        .bind(now)
        .execute(&mut *tx)
        .await;
    match r {
        Err(e) if is_unique_violation(&e) => Err(AwsError::entity_already_exists(format!("Login Profile for user {} already exists.", user.name))),
        Err(e) => Err(e.into()),
        Ok(_) => {
            tx.commit().await?;
            Ok(LoginProfile { user_name: user.name.clone(), created_at: now, reset_required })
        }
    }
}

pub async fn get_login_profile(iam: &Iam, user: &UserRef) -> Result<LoginProfile> {
    let row = sqlx::query("SELECT created_at, reset_required FROM login_profiles WHERE user_id = $1")
        .bind(&user.user_id)
        .fetch_optional(&iam.store.read)
        .await?
        .ok_or_else(|| no_login_profile(&user.name))?;
    Ok(LoginProfile { user_name: user.name.clone(), created_at: row.get(0), reset_required: row.get::<i64, _>(1) != 0 })
}

pub async fn update_login_profile(iam: &Iam, account: &str, user: &UserRef, password: Option<&str>, reset_required: Option<bool>) -> Result<()> {
    let hash = match password {
        Some(p) => {
            check_policy(iam, account, p).await?;
            Some(passwords::hash(p.to_string()).await?)
        }
        None => None,
    };
    let now = iam.clock.now_ms();
    let n = crate::audit::execute_one(&iam.store, sqlx::query(
        "UPDATE login_profiles SET password_hash = COALESCE($2, password_hash), reset_required = COALESCE($3, reset_required), changed_at = CASE WHEN $2 IS NULL THEN changed_at ELSE $4 END WHERE user_id = $1",
    )
    .bind(&user.user_id)
    .bind(hash)
    .bind(reset_required.map(|b| b as i64))
    .bind(now)
    )
    .await?
    .rows_affected();
    if n == 0 {
        return Err(no_login_profile(&user.name));
    }
    if password.is_some() {
        super::console::credentials_changed(&mut *iam.store.write.acquire().await?, account, &user.user_id, None, None).await?;
    }
    Ok(())
}

pub async fn delete_login_profile(iam: &Iam, account: &str, user: &UserRef) -> Result<()> {
    let n = crate::audit::execute_one(&iam.store, sqlx::query("DELETE FROM login_profiles WHERE user_id = $1").bind(&user.user_id)).await?.rows_affected();
    if n == 0 {
        return Err(no_login_profile(&user.name));
    }
    super::console::credentials_changed(&mut *iam.store.write.acquire().await?, account, &user.user_id, None, None).await?;
    Ok(())
}

/// AWS's throttling answer, with how long to wait.
pub fn throttled(wait_s: i64) -> AwsError {
    AwsError::throttling(format!("Rate exceeded: too many wrong passwords; retry in {wait_s} seconds."))
}

/// ChangePassword: the calling IAM user changes their own password, proving the old one. The user's
/// console sessions end, but `keep` (the console session that made the change).
///
/// The old password is a guess like a sign-in's: it is counted in the same database-backed throttle
/// (per principal and address, per principal, per address) before it is checked, and the new
/// password is judged only after the old one was accepted, so the answer never says whether a guess
/// was right without the guess having been counted.
pub async fn change_password(iam: &Iam, account: &str, user: &UserRef, old: &str, new: &str, keep: Option<&str>, ip: &str) -> Result<()> {
    let stored: Option<String> =
        sqlx::query_scalar("SELECT password_hash FROM login_profiles WHERE user_id = $1").bind(&user.user_id).fetch_optional(&iam.store.read).await?;
    let stored = stored.ok_or_else(|| no_login_profile(&user.name))?;
    super::console::prove_old_password(iam, &super::console::principal_key(account, Some(&user.user_id)), ip, old, &stored).await?;
    check_policy(iam, account, new).await?;
    let hash = passwords::hash(new.to_string()).await?;
    // Conditional on the hash we verified: two concurrent changes cannot both win with the same old password.
    let n = crate::audit::execute_one(
        &iam.store,
        sqlx::query("UPDATE login_profiles SET password_hash = $1, reset_required = 0, changed_at = $2 WHERE user_id = $3 AND password_hash = $4")
            .bind(hash)
            .bind(iam.clock.now_ms())
            .bind(&user.user_id)
            .bind(stored),
    )
    .await?
    .rows_affected();
    if n == 0 {
        return Err(AwsError::entity_temporarily_unmodifiable("The password was changed by another request; try again."));
    }
    super::console::credentials_changed(&mut *iam.store.write.acquire().await?, account, &user.user_id, None, keep).await?;
    Ok(())
}

/// Which users the console's Users page shows, by their MFA devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MfaFilter {
    Any,
    /// No device at all: locked out of MFA-only actions.
    NoDevice,
    /// Exactly one device: one lost phone from locked out.
    OneDevice,
    /// At least one device of this kind.
    Kind(super::mfa::Kind),
}

/// A user with the number of devices of each kind: (authenticator apps, hardware tokens, security keys).
pub struct WithDevices {
    pub user: User,
    pub devices: (i64, i64, i64),
}

/// One page of the account's users whose name starts with `prefix` (ASCII case folded), after
/// `after` (a lowercased name), filtered by their devices: one query whatever the page holds, walking
/// the name index. Returns at most `max` users and the name the next page starts after.
pub async fn page_with_devices(iam: &Iam, account: &str, prefix: &str, filter: MfaFilter, after: &str, max: i64) -> Result<(Vec<WithDevices>, Option<String>)> {
    let max = max.max(1);
    let prefix = prefix.to_ascii_lowercase();
    // IAM names are [\w+=,.@-]: every one of them sorts below '~', so [prefix, prefix~) is the prefix's range.
    let end = format!("{prefix}~");
    // One probe of the (account, owner, kind) index per user gives all three counts, packed: apps
    // count by 1, hardware tokens by 2^16, security keys by 2^32 (a principal has at most eight).
    // "No device" and "exactly one" read the (account, count, name) index: users.mfa_count is kept
    // by triggers on mfa_devices.
    let count = match filter {
        MfaFilter::NoDevice => " AND u.mfa_count = 0",
        MfaFilter::OneDevice => " AND u.mfa_count = 1",
        _ => "",
    };
    let condition = match filter {
        MfaFilter::Any | MfaFilter::NoDevice | MfaFilter::OneDevice => "1 = 1",
        MfaFilter::Kind(super::mfa::Kind::Virtual) => "packed % 65536 > 0",
        MfaFilter::Kind(super::mfa::Kind::Hardware) => "(packed / 65536) % 65536 > 0",
        MfaFilter::Kind(super::mfa::Kind::U2f) => "packed >= 4294967296",
    };
    let sql = format!(
        "SELECT user_id, name, path, created_at, password_last_used, name_lower, packed FROM (SELECT u.user_id, u.name, u.path, u.created_at, u.password_last_used, u.name_lower, \
         (SELECT CAST(COALESCE(SUM(CASE d.kind WHEN 'virtual' THEN 1 WHEN 'hardware' THEN 65536 ELSE 4294967296 END), 0) AS BIGINT) FROM mfa_devices d WHERE d.account_id = u.account_id AND d.owner = u.user_id) AS packed \
         FROM users u WHERE u.account_id = $1{count} AND u.name_lower >= $2 AND u.name_lower < $3 AND u.name_lower > $4) s WHERE {condition} ORDER BY name_lower LIMIT $5"
    );
    let rows = sqlx::query(&sql).bind(account).bind(&prefix).bind(&end).bind(after).bind(max + 1).fetch_all(&iam.store.read).await?;
    let next = (rows.len() as i64 > max).then(|| rows[max as usize - 1].get::<String, _>(5));
    let list = rows
        .iter()
        .take(max as usize)
        .map(|r| {
            let packed: i64 = r.get(6);
            WithDevices { user: user_from_row(r), devices: (packed % 65536, (packed >> 16) % 65536, packed >> 32) }
        })
        .collect();
    Ok((list, next))
}
