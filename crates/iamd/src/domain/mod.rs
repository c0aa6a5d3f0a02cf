//! The domain: accounts, the root user, IAM users, passwords and access keys. No HTTP here: the API
//! and the command line call these functions, each of which is one transaction.

pub mod accounts;
pub mod console;
pub mod keys;
pub mod logins;
pub mod mfa;
pub mod passwords;
pub mod policies;
pub mod report;
pub mod roles;
pub mod sessions;
pub mod tags;
pub mod trail;
pub mod users;

use crate::crypto::Sealer;
use crate::store::Store;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// The time source. Tests move it with an offset; everything that asks "now" asks here.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    pub fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis() + self.offset_ms.load(Ordering::Relaxed)
    }
    pub fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }
    pub fn set_offset_ms(&self, ms: i64) {
        self.offset_ms.store(ms, Ordering::Relaxed)
    }
}

/// "path starts with the prefix" as a range that an index on (account_id, path, name_lower) serves.
/// IAM paths are ASCII (`[\x21-\x7F]`, checked at the edge), so every path that starts with the
/// prefix sorts at or after it and before the prefix followed by U+0080. PostgreSQL compares bytes
/// ("C") here, whatever the database's collation, as its index does. For "/", which every path
/// starts with, the condition is empty and the list walks the name index instead.
pub(crate) struct PathRange {
    /// ` AND …` with the placeholders `$first` and `$first + 1`, or empty.
    pub sql: String,
    /// The next free placeholder after the condition's.
    pub next: usize,
    /// The path column as the condition compares it (to order by it the same way).
    pub column: &'static str,
    bounds: Option<(String, String)>,
}

impl PathRange {
    pub fn new(backend: crate::store::Backend, prefix: &str, first: usize) -> PathRange {
        if prefix == "/" || prefix.is_empty() {
            return PathRange { sql: String::new(), next: first, column: "path", bounds: None };
        }
        let col = match backend {
            crate::store::Backend::Sqlite => "path",
            crate::store::Backend::Postgres => "path COLLATE \"C\"",
        };
        PathRange {
            sql: format!(" AND {col} >= ${first} AND {col} < ${}", first + 1),
            next: first + 2,
            column: col,
            bounds: Some((prefix.to_string(), format!("{prefix}\u{80}"))),
        }
    }

    /// Binds the condition's values (none when it is empty) after those already bound.
    pub fn bind<'q>(
        &'q self,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        match &self.bounds {
            Some((lo, hi)) => q.bind(lo).bind(hi),
            None => q,
        }
    }
}

/// Everything a domain call needs: the database, the sealer for secrets and the clock.
#[derive(Clone, Debug)]
pub struct Iam {
    pub store: Store,
    pub sealer: Arc<Sealer>,
    pub clock: Arc<Clock>,
    pub keys: Arc<keys::KeyCache>,
    /// Where the records of calls that changed nothing go (see `audit`).
    pub audit: Arc<crate::audit::sink::Sink>,
    /// Whether a successful read waits for its record to be committed before answering.
    pub audit_sync_reads: bool,
    /// How long an `aws login` lasts from its console sign-in (`serve --login-max-hours`).
    pub login_max_ms: i64,
}

impl Iam {
    /// Begins a write transaction whose commit writes the current call's record (see `audit::Tx`).
    pub async fn begin(&self) -> std::result::Result<crate::audit::Tx, sqlx::Error> {
        crate::audit::Tx::begin(&self.store).await
    }

    /// Needs a Tokio runtime: it starts the audit writer.
    pub fn new(store: Store, sealer: Sealer) -> Self {
        let cache = keys::KeyCache::new(store.backend == crate::store::Backend::Sqlite);
        let audit = crate::audit::sink::Sink::start(store.clone());
        // Successful reads answer before their record is committed (within one group commit);
        // `serve --audit-sync-reads` makes them wait.
        let audit_sync_reads = false;
        Iam {
            store,
            sealer: Arc::new(sealer),
            clock: Arc::new(Clock::default()),
            keys: Arc::new(cache),
            audit,
            audit_sync_reads,
            login_max_ms: logins::DEFAULT_MAX_LOGIN_MS,
        }
    }
}

/// Makes sure the master key is the one the database was sealed under: the first start records a
/// value sealed under it; later starts must open that value, or refuse to serve.
pub async fn check_master_key(iam: &Iam) -> anyhow::Result<()> {
    use crate::crypto::Purpose;
    const AAD: &[u8] = b"master_key_check";
    let stored: Option<Vec<u8>> = sqlx::query_scalar("SELECT value FROM meta WHERE name = 'master_key_check'").fetch_optional(&iam.store.write).await?;
    match stored {
        Some(v) => {
            if iam.sealer.open(Purpose::KeyCheck, AAD, &v).as_deref() != Some(b"iamd".as_slice()) {
                anyhow::bail!("the master key does not match this database: give the key it was initialised with (DATA_DIR/master.key or IAMD_MASTER_KEY)");
            }
        }
        None => {
            let sealed = iam.sealer.seal(Purpose::KeyCheck, AAD, b"iamd");
            // Two nodes starting at once: the second insert loses and its check runs next start.
            let _ = sqlx::query("INSERT INTO meta (name, value) VALUES ('master_key_check', $1)").bind(sealed).execute(&iam.store.write).await;
        }
    }
    Ok(())
}

/// An IAM user as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRef {
    pub user_id: String,
    pub name: String,
    pub path: String,
}

/// Whose credentials a key, an MFA device or a guessing throttle belongs to: the account's root user
/// or one IAM user. Always a value the resolver produced from the caller's own credentials (root) or
/// from a user that exists; never inferred from a parameter that was left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    Root,
    User(UserRef),
}

impl Owner {
    /// The caller's own owner: root for root's credentials, the user for an IAM user's; None for a
    /// role session, which owns no keys or devices.
    pub fn of(p: &Principal) -> Option<Owner> {
        match (&p.user, &p.role) {
            (_, Some(_)) => None,
            (Some(u), None) => Some(Owner::User(u.clone())),
            (None, None) => Some(Owner::Root),
        }
    }
    /// The stored `owner` column: '' is root's, otherwise the user's id. The one place that
    /// encoding is read or written.
    pub fn column(&self) -> &str {
        match self {
            Owner::Root => "",
            Owner::User(u) => &u.user_id,
        }
    }
    pub fn user(&self) -> Option<&UserRef> {
        match self {
            Owner::Root => None,
            Owner::User(u) => Some(u),
        }
    }
    pub fn is_root(&self) -> bool {
        matches!(self, Owner::Root)
    }
    pub fn arn(&self, account: &str) -> String {
        match self {
            Owner::Root => format!("arn:aws:iam::{account}:root"),
            Owner::User(u) => user_arn(account, &u.path, &u.name),
        }
    }
}

/// Whose MFA throttle a caller's guesses count against: root's, the user's, or (for a role session,
/// which owns no devices) a key of the role's own. Never the target of the call.
pub fn throttle_key(p: &Principal) -> String {
    match (&p.user, &p.role) {
        (_, Some(r)) => format!("role:{}", r.role_id),
        (Some(u), None) => u.user_id.clone(),
        (None, None) => Owner::Root.column().to_string(),
    }
}

/// Whether a stored `owner` column is root's (see [`Owner::column`]).
pub fn is_root_column(owner: &str) -> bool {
    owner.is_empty()
}

/// An entity other rows hang off (keys, devices, policies, memberships, login profiles).
#[derive(Clone, Copy, Debug)]
pub enum Parent {
    User,
    Group,
    Role,
    Policy,
}

/// Locks a parent row inside a write transaction and says whether it still exists. Every write that
/// adds a child row, and every delete of a parent, takes this first, so a write racing a delete
/// serialises: the delete either sees the child (DeleteConflict) or wins, and the child write then
/// finds no parent (NoSuchEntity). Nothing dangles. PostgreSQL: `SELECT … FOR UPDATE`; SQLite: the
/// one writer already runs write transactions one at a time (BEGIN IMMEDIATE).
pub async fn lock_parent(tx: &mut crate::audit::Tx, backend: crate::store::Backend, parent: Parent, id: &str) -> crate::error::Result<bool> {
    let (table, col) = match parent {
        Parent::User => ("users", "user_id"),
        Parent::Group => ("groups", "group_id"),
        Parent::Role => ("roles", "role_id"),
        Parent::Policy => ("managed_policies", "policy_id"),
    };
    let lock = if backend == crate::store::Backend::Postgres { " FOR UPDATE" } else { "" };
    let found: Option<String> = sqlx::query_scalar(&format!("SELECT {col} FROM {table} WHERE {col} = $1{lock}")).bind(id).fetch_optional(&mut **tx).await?;
    Ok(found.is_some())
}

/// A role session: the role and the session name the caller chose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleRef {
    pub role_id: String,
    pub name: String,
    pub session_name: String,
}

/// Who made a request: the root user, an IAM user, or a role session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub account_id: String,
    /// `None` (with `role` also `None`) for the root user.
    pub user: Option<UserRef>,
    pub role: Option<RoleRef>,
    pub access_key_id: String,
}

impl Principal {
    pub fn is_root(&self) -> bool {
        self.user.is_none() && self.role.is_none()
    }
    pub fn arn(&self) -> String {
        match (&self.user, &self.role) {
            (_, Some(r)) => format!("arn:aws:sts::{}:assumed-role/{}/{}", self.account_id, r.name, r.session_name),
            (None, None) => format!("arn:aws:iam::{}:root", self.account_id),
            (Some(u), None) => user_arn(&self.account_id, &u.path, &u.name),
        }
    }
    /// GetCallerIdentity's UserId: the account id for root, `AROA…:session` for a role session, the
    /// user id otherwise.
    pub fn user_id(&self) -> String {
        match (&self.user, &self.role) {
            (_, Some(r)) => format!("{}:{}", r.role_id, r.session_name),
            (None, None) => self.account_id.clone(),
            (Some(u), None) => u.user_id.clone(),
        }
    }
}

pub fn user_arn(account: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:user{path}{name}")
}

pub use crate::conventions::iso8601;
