//! Long-term access keys: creation (at most two per principal, enforced by a unique slot in the
//! database), status changes, deletion, last use, and the lookup every signed request makes.
//!
//! The lookup cache: with SQLite, iamd is the only process serving the database file (the data
//! directory is locked), so a key cached in memory is coherent as long as every write that changes a
//! key or its user invalidates the cache before it answers. A generation counter makes sure a lookup
//! that raced with a write never re-inserts what the write just replaced. With PostgreSQL, several
//! nodes share the database, so the cache is off and every request reads the key's row: a deactivated
//! key is refused on the very next request, on every node.

use super::{Iam, Owner, UserRef};
use crate::crypto::Purpose;
use crate::error::{is_unique_violation, AwsError, ErrorCode, Result};
use crate::ids;
use sqlx::Row;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// How stale `GetAccessKeyLastUsed` may be: a key's last use is written at most once a minute, so
/// reads do not turn into writes.
pub const LAST_USED_GRANULARITY_MS: i64 = 60_000;

/// A key's last signing scope (date, region, service) and the signing key derived for it.
type Signing = (String, String, String, [u8; 32]);

#[derive(Debug)]
pub struct KeyEntry {
    pub access_key_id: String,
    pub account_id: String,
    pub user: Option<UserRef>,
    pub active: bool,
    secret: String,
    last_used_at: AtomicI64,
    /// The last (date, region, service) and its signing key.
    signing: Mutex<Option<Signing>>,
}

impl KeyEntry {
    /// The SigV4 signing key for a scope, derived once per scope and kept.
    pub fn signing_key(&self, date: &str, region: &str, service: &str) -> [u8; 32] {
        let mut slot = self.signing.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((d, r, s, k)) = slot.as_ref() {
            if d == date && r == region && s == service {
                return *k;
            }
        }
        let k = sigv4::signing_key(&self.secret, date, region, service);
        *slot = Some((date.to_string(), region.to_string(), service.to_string(), k));
        k
    }
}

#[derive(Debug)]
pub struct KeyCache {
    enabled: bool,
    generation: AtomicU64,
    map: RwLock<HashMap<String, Arc<KeyEntry>>>,
    users: RwLock<HashMap<String, UserRef>>,
    policies: RwLock<HashMap<String, Arc<super::policies::Effective>>>,
}

impl KeyCache {
    pub fn new(enabled: bool) -> Self {
        KeyCache {
            enabled,
            generation: AtomicU64::new(0),
            map: RwLock::new(HashMap::new()),
            users: RwLock::new(HashMap::new()),
            policies: RwLock::new(HashMap::new()),
        }
    }
    /// Called by every write that changes a key or a user, after its commit and before it answers.
    pub fn invalidate(&self) {
        if self.enabled {
            let mut m = self.map.write().unwrap_or_else(|p| p.into_inner());
            let mut u = self.users.write().unwrap_or_else(|p| p.into_inner());
            let mut pol = self.policies.write().unwrap_or_else(|p| p.into_inner());
            self.generation.fetch_add(1, Ordering::SeqCst);
            m.clear();
            u.clear();
            pol.clear();
        }
    }
}

impl KeyCache {
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
    pub fn cached_policies(&self, user_id: &str) -> Option<Arc<super::policies::Effective>> {
        if !self.enabled {
            return None;
        }
        self.policies.read().unwrap_or_else(|p| p.into_inner()).get(user_id).cloned()
    }
    /// Keeps a user's policies unless a write happened since `generation` was read.
    pub fn cache_policies(&self, user_id: &str, generation: u64, list: Arc<super::policies::Effective>) {
        if self.enabled {
            let mut m = self.policies.write().unwrap_or_else(|p| p.into_inner());
            if self.generation.load(Ordering::SeqCst) == generation {
                m.insert(user_id.to_string(), list);
            }
        }
    }
}

/// Finds a long-term key and its principal. `None` when no such key exists.
pub async fn lookup(iam: &Iam, access_key_id: &str) -> Result<Option<Arc<KeyEntry>>> {
    let cache = &iam.keys;
    if cache.enabled {
        if let Some(e) = cache.map.read().unwrap_or_else(|p| p.into_inner()).get(access_key_id) {
            return Ok(Some(e.clone()));
        }
    }
    let generation = cache.generation.load(Ordering::SeqCst);
    let row = sqlx::query(
        "SELECT k.account_id, k.owner, k.secret_sealed, k.status, k.last_used_at, u.name, u.path FROM access_keys k LEFT JOIN users u ON u.user_id = k.owner WHERE k.access_key_id = $1",
    )
    .bind(access_key_id)
    .fetch_optional(&iam.store.read)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let owner: String = row.get(1);
    let sealed: Vec<u8> = row.get(2);
    let secret = iam
        .sealer
        .open(Purpose::AccessKeySecret, access_key_id.as_bytes(), &sealed)
        .ok_or_else(|| AwsError::from(anyhow::anyhow!("access key {access_key_id}: sealed secret does not open under this master key")))?;
    let user = if super::is_root_column(&owner) {
        None
    } else {
        let name: Option<String> = row.get(5);
        let path: Option<String> = row.get(6);
        match (name, path) {
            (Some(name), Some(path)) => Some(UserRef { user_id: owner, name, path }),
            _ => return Ok(None),
        }
    };
    let status: String = row.get(3);
    let entry = Arc::new(KeyEntry {
        access_key_id: access_key_id.to_string(),
        account_id: row.get(0),
        user,
        active: status == "Active",
        secret: String::from_utf8(secret).map_err(|_| AwsError::from(anyhow::anyhow!("access key secret is not UTF-8")))?,
        last_used_at: AtomicI64::new(row.get::<Option<i64>, _>(4).unwrap_or(0)),
        signing: Mutex::new(None),
    });
    if cache.enabled {
        let mut m = cache.map.write().unwrap_or_else(|p| p.into_inner());
        if cache.generation.load(Ordering::SeqCst) == generation {
            m.insert(access_key_id.to_string(), entry.clone());
        }
    }
    Ok(Some(entry))
}

/// Finds a user by id, for session credentials: a deleted user's sessions stop at once.
pub async fn lookup_user(iam: &Iam, account: &str, user_id: &str) -> Result<Option<UserRef>> {
    let cache = &iam.keys;
    if cache.enabled {
        if let Some(u) = cache.users.read().unwrap_or_else(|p| p.into_inner()).get(user_id) {
            return Ok(Some(u.clone()));
        }
    }
    let generation = cache.generation.load(Ordering::SeqCst);
    let row =
        sqlx::query("SELECT name, path FROM users WHERE user_id = $1 AND account_id = $2").bind(user_id).bind(account).fetch_optional(&iam.store.read).await?;
    let Some(row) = row else { return Ok(None) };
    let u = UserRef { user_id: user_id.to_string(), name: row.get(0), path: row.get(1) };
    if cache.enabled {
        let mut m = cache.users.write().unwrap_or_else(|p| p.into_inner());
        if cache.generation.load(Ordering::SeqCst) == generation {
            m.insert(user_id.to_string(), u.clone());
        }
    }
    Ok(Some(u))
}

/// Records a key's use (service and region), at most once per `LAST_USED_GRANULARITY_MS`, in the
/// background so the request does not wait for a write.
pub fn record_use(iam: &Iam, entry: &KeyEntry, region: &str, service: &str) {
    let now = iam.clock.now_ms();
    let last = entry.last_used_at.load(Ordering::Relaxed);
    if now - last < LAST_USED_GRANULARITY_MS || entry.last_used_at.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err() {
        return;
    }
    let pool = iam.store.write.clone();
    let (id, region, service) = (entry.access_key_id.clone(), region.to_string(), service.to_string());
    crate::app::spawn_background(async move {
        let r = sqlx::query("UPDATE access_keys SET last_used_at = $1, last_used_region = $2, last_used_service = $3 WHERE access_key_id = $4")
            .bind(now)
            .bind(region)
            .bind(service)
            .bind(id)
            .execute(&pool)
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "recording access key last use");
        }
    });
}

/// Inserts a new Active key for `owner` inside `tx`; returns (id, secret).
pub async fn insert_key(iam: &Iam, tx: &mut crate::audit::Tx, account: &str, owner: &Owner) -> Result<(String, String)> {
    if let Owner::User(u) = owner {
        if !super::lock_parent(tx, iam.store.backend, super::Parent::User, &u.user_id).await? {
            return Err(super::users::no_such_user(&u.name));
        }
    }
    let owner = owner.column();
    let used: Vec<i64> =
        sqlx::query_scalar("SELECT slot FROM access_keys WHERE account_id = $1 AND owner = $2").bind(account).bind(owner).fetch_all(&mut **tx).await?;
    let quota = || AwsError::limit_exceeded("Cannot exceed quota for AccessKeysPerUser: 2");
    let slot = [1i64, 2].into_iter().find(|s| !used.contains(s)).ok_or_else(quota)?;
    let id = ids::access_key_id();
    let secret = ids::secret_access_key();
    let sealed = iam.sealer.seal(Purpose::AccessKeySecret, id.as_bytes(), secret.as_bytes());
    let r = sqlx::query(
        "INSERT INTO access_keys (access_key_id, account_id, owner, slot, secret_sealed, status, created_at) VALUES ($1, $2, $3, $4, $5, 'Active', $6)",
    )
    .bind(&id)
    .bind(account)
    .bind(owner)
    .bind(slot)
    .bind(sealed)
    .bind(iam.clock.now_ms())
    .execute(&mut **tx)
    .await;
    match r {
        // Another request took the same free slot first: the caller may try again.
        Err(e) if is_unique_violation(&e) => Err(slot_race()),
        Err(e) => Err(e.into()),
        Ok(_) => Ok((id, secret)),
    }
}

fn slot_race() -> AwsError {
    AwsError::concurrent_modification("The access keys of this user were changed by another request; try again.")
}

#[derive(Debug, Clone)]
pub struct AccessKeyMeta {
    pub access_key_id: String,
    pub status: String,
    pub created_at: i64,
}

/// CreateAccessKey. Two requests racing for the same free slot: the loser looks again (on
/// PostgreSQL the losing transaction is aborted, so each try is a new one).
pub async fn create(iam: &Iam, account: &str, owner: &Owner) -> Result<(String, String, i64)> {
    let mut last = slot_race();
    for _ in 0..5 {
        let mut tx = iam.begin().await?;
        match insert_key(iam, &mut tx, account, owner).await {
            Ok((id, secret)) => {
                crate::audit::respond(serde_json::json!({"accessKey": {
                    "userName": owner.user().map(|u| u.name.as_str()), "accessKeyId": id, "status": "Active",
                    "createDate": crate::audit::sts_time(iam.clock.now_ms()),
                }}));
                tx.commit().await?;
                return Ok((id, secret, iam.clock.now_ms()));
            }
            Err(e) if e.code == ErrorCode::ConcurrentModification => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

pub async fn list(iam: &Iam, account: &str, owner: &Owner) -> Result<Vec<AccessKeyMeta>> {
    let rows = sqlx::query("SELECT access_key_id, status, created_at FROM access_keys WHERE account_id = $1 AND owner = $2 ORDER BY slot")
        .bind(account)
        .bind(owner.column())
        .fetch_all(&iam.store.read)
        .await?;
    Ok(rows.iter().map(|r| AccessKeyMeta { access_key_id: r.get(0), status: r.get(1), created_at: r.get(2) }).collect())
}

fn no_such_key(id: &str) -> AwsError {
    AwsError::no_such_entity(format!("The Access Key with id {id} cannot be found."))
}

pub async fn update_status(iam: &Iam, account: &str, owner: &Owner, key_id: &str, status: &str) -> Result<()> {
    let n = crate::audit::execute_one(
        &iam.store,
        sqlx::query("UPDATE access_keys SET status = $1 WHERE access_key_id = $2 AND account_id = $3 AND owner = $4")
            .bind(status)
            .bind(key_id)
            .bind(account)
            .bind(owner.column()),
    )
    .await?
    .rows_affected();
    iam.keys.invalidate();
    if n == 0 {
        return Err(no_such_key(key_id));
    }
    Ok(())
}

pub async fn delete(iam: &Iam, account: &str, owner: &Owner, key_id: &str) -> Result<()> {
    let n = crate::audit::execute_one(
        &iam.store,
        sqlx::query("DELETE FROM access_keys WHERE access_key_id = $1 AND account_id = $2 AND owner = $3").bind(key_id).bind(account).bind(owner.column()),
    )
    .await?
    .rows_affected();
    iam.keys.invalidate();
    if n == 0 {
        return Err(no_such_key(key_id));
    }
    Ok(())
}

pub struct LastUsed {
    pub owner: Owner,
    pub last_used_at: Option<i64>,
    pub region: Option<String>,
    pub service: Option<String>,
}

/// GetAccessKeyLastUsed. A key of another account is indistinguishable from a missing one.
pub async fn last_used(iam: &Iam, account: &str, key_id: &str) -> Result<Option<LastUsed>> {
    let row = sqlx::query(
        "SELECT k.owner, u.name, u.path, k.last_used_at, k.last_used_region, k.last_used_service FROM access_keys k LEFT JOIN users u ON u.user_id = k.owner WHERE k.access_key_id = $1 AND k.account_id = $2",
    )
    .bind(key_id)
    .bind(account)
    .fetch_optional(&iam.store.read)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let owner_col: String = r.get(0);
    let owner = if super::is_root_column(&owner_col) {
        Owner::Root
    } else {
        match (r.get::<Option<String>, _>(1), r.get::<Option<String>, _>(2)) {
            (Some(name), Some(path)) => Owner::User(UserRef { user_id: owner_col, name, path }),
            _ => return Ok(None),
        }
    };
    Ok(Some(LastUsed { owner, last_used_at: r.get(3), region: r.get(4), service: r.get(5) }))
}
