//! The web console's state: sessions (rows found by the SHA-256 of the cookie's token), the limits on
//! password guessing, and the principal a sign-in names. No HTTP here.
//!
//! Password guessing is bounded in the database, per scope, by counting each attempt *before* the
//! password is checked (one conditional write per scope in one transaction), so concurrent guesses and
//! several nodes cannot slip past the count:
//! - `pi:` the principal from one source address: 5 free failures, then waits doubling up to 15 min;
//! - `p:` the principal from anywhere: 20 free failures, then waits doubling up to 1 min only — so a
//!   distributed guesser is slowed to about one guess a minute, but cannot lock the owner out for long;
//! - `ip:` one source address, whatever it names: 100 free failures, then waits up to 15 min.
//!
//! A success clears the principal's scopes. Failures older than an hour are forgotten.

use super::{Iam, UserRef};
use crate::error::{AwsError, Result};
use crate::store::Backend;
use base64::Engine;
use rand::RngCore;
use sha2::Digest;
use sqlx::Row;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The password was accepted but must be changed before anything else.
    Password,
    /// The password was accepted; one MFA device must follow.
    Mfa,
    Full,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Password => "password",
            Stage::Mfa => "mfa",
            Stage::Full => "full",
        }
    }
    fn parse(s: &str) -> Stage {
        match s {
            "full" => Stage::Full,
            "password" => Stage::Password,
            _ => Stage::Mfa,
        }
    }
}

#[derive(Clone, Debug)]
pub struct ConsoleSession {
    pub token_hash: String,
    pub account_id: String,
    /// '' for root, else the user's id.
    pub owner: String,
    pub stage: Stage,
    pub csrf: String,
    /// When and with which device MFA completed the sign-in.
    pub mfa: Option<(i64, String)>,
    /// The device picked on "Additional verification required".
    pub chosen_serial: Option<String>,
    /// A device being assigned on the Security credentials page.
    pub pending_serial: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

pub fn hash_token(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

const COLS: &str = "token_hash, account_id, owner, stage, csrf, mfa_serial, mfa_at, chosen_serial, pending_serial, created_at, expires_at";

fn from_row(r: &sqlx::any::AnyRow) -> ConsoleSession {
    let serial: Option<String> = r.get(5);
    let at: Option<i64> = r.get(6);
    ConsoleSession {
        token_hash: r.get(0),
        account_id: r.get(1),
        owner: r.get(2),
        stage: Stage::parse(&r.get::<String, _>(3)),
        csrf: r.get(4),
        mfa: serial.zip(at).map(|(s, t)| (t, s)),
        chosen_serial: r.get(7),
        pending_serial: r.get(8),
        created_at: r.get(9),
        expires_at: r.get(10),
    }
}

/// Opens a session; returns the cookie's token (only its hash is stored).
pub async fn create(
    iam: &Iam,
    account: &str,
    owner: &str,
    stage: Stage,
    mfa: Option<(i64, String)>,
    ttl_ms: i64,
    ip: &str,
) -> Result<(String, ConsoleSession)> {
    let token = random_token();
    let now = iam.clock.now_ms();
    let s = ConsoleSession {
        token_hash: hash_token(&token),
        account_id: account.to_string(),
        owner: owner.to_string(),
        stage,
        csrf: random_token(),
        mfa,
        chosen_serial: None,
        pending_serial: None,
        created_at: now,
        expires_at: now + ttl_ms,
    };
    let mut tx = iam.begin().await?;
    // Expired sessions go as new ones arrive.
    sqlx::query("DELETE FROM console_sessions WHERE expires_at < $1").bind(now).execute(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO console_sessions (token_hash, account_id, owner, stage, csrf, mfa_serial, mfa_at, source_ip, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&s.token_hash)
    .bind(account)
    .bind(owner)
    .bind(stage.as_str())
    .bind(&s.csrf)
    .bind(s.mfa.as_ref().map(|m| m.1.clone()))
    .bind(s.mfa.as_ref().map(|m| m.0))
    .bind(ip)
    .bind(now)
    .bind(s.expires_at)
    .execute(&mut *tx)
    .await?;
    // The sign-in's record is the console's to write, once it knows the outcome (console::record).
    tx.commit_unrecorded().await?;
    Ok((token, s))
}

/// The live session a cookie names, if any.
pub async fn load(iam: &Iam, token: &str) -> Result<Option<ConsoleSession>> {
    if token.is_empty() || token.len() > 100 {
        return Ok(None);
    }
    let row =
        sqlx::query(&format!("SELECT {COLS} FROM console_sessions WHERE token_hash = $1")).bind(hash_token(token)).fetch_optional(&iam.store.write).await?;
    Ok(row.as_ref().map(from_row).filter(|s| s.expires_at > iam.clock.now_ms()))
}

/// The principal's credentials changed — a password set or removed, the device a session signed in
/// with removed, the user deleted — so the console sessions that stand on them end. `using`: only
/// the sessions signed in with this device. `keep`: a session that survives (the one that just
/// changed its own password, proving the old one). Tags, policies and other edits never call this.
/// One mechanism for every kind of session that rests on a principal's credentials; returns how
/// many ended.
pub async fn credentials_changed(conn: &mut sqlx::AnyConnection, account: &str, owner: &str, using: Option<&str>, keep: Option<&str>) -> Result<u64> {
    let mut sql = String::from("DELETE FROM console_sessions WHERE account_id = $1 AND owner = $2");
    let mut q_using = None;
    let mut q_keep = None;
    let mut n = 3;
    if using.is_some() {
        sql.push_str(&format!(" AND mfa_serial = ${n}"));
        q_using = using;
        n += 1;
    }
    if keep.is_some() {
        sql.push_str(&format!(" AND token_hash <> ${n}"));
        q_keep = keep;
    }
    let mut q = sqlx::query(&sql).bind(account).bind(owner);
    if let Some(u) = q_using {
        q = q.bind(u);
    }
    if let Some(k) = q_keep {
        q = q.bind(k);
    }
    let ended = q.execute(&mut *conn).await?.rows_affected();
    // `aws login` rests on the same sign-in: its logins end (their credentials stop at once, their
    // refresh is refused) and codes allowed but not yet exchanged are gone. The session kept is a
    // console session's; no CLI login is kept.
    let filter = if using.is_some() { " AND mfa_serial = $3" } else { "" };
    let now = chrono::Utc::now().timestamp_millis();
    let revoke_sql = format!(
        "UPDATE cli_logins SET revoked_ms = ${} WHERE account_id = $1 AND owner = $2 AND revoked_ms IS NULL{filter}",
        if using.is_some() { 4 } else { 3 }
    );
    let grants_sql = format!("DELETE FROM login_grants WHERE account_id = $1 AND owner = $2 AND used = 0{filter}");
    let mut revoke = sqlx::query(&revoke_sql).bind(account).bind(owner);
    let mut grants = sqlx::query(&grants_sql).bind(account).bind(owner);
    if let Some(u) = using {
        revoke = revoke.bind(u);
        grants = grants.bind(u);
    }
    revoke.bind(now).execute(&mut *conn).await?;
    grants.execute(&mut *conn).await?;
    Ok(ended)
}

/// Ends a session (sign-out).
pub async fn delete(iam: &Iam, token_hash: &str) -> Result<()> {
    crate::audit::execute_one(&iam.store, sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1").bind(token_hash)).await?;
    Ok(())
}

/// Replaces a pre-MFA (or must-change-password) session by a full one with a new token, in one
/// transaction: the old token stops working (no session fixation). Returns the new token, or None when
/// the old session was already used (a second tab, a replay).
pub async fn promote(iam: &Iam, old: &ConsoleSession, stage: Stage, mfa: Option<(i64, String)>, ttl_ms: i64) -> Result<Option<(String, ConsoleSession)>> {
    let token = random_token();
    let now = iam.clock.now_ms();
    let s = ConsoleSession {
        token_hash: hash_token(&token),
        stage,
        csrf: random_token(),
        mfa: mfa.or(old.mfa.clone()),
        chosen_serial: None,
        pending_serial: None,
        created_at: now,
        expires_at: now + ttl_ms,
        ..old.clone()
    };
    let mut tx = iam.begin().await?;
    let n = sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1").bind(&old.token_hash).execute(&mut *tx).await?.rows_affected();
    if n == 0 {
        return Ok(None);
    }
    sqlx::query(
        "INSERT INTO console_sessions (token_hash, account_id, owner, stage, csrf, mfa_serial, mfa_at, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&s.token_hash)
    .bind(&s.account_id)
    .bind(&s.owner)
    .bind(stage.as_str())
    .bind(&s.csrf)
    .bind(s.mfa.as_ref().map(|m| m.1.clone()))
    .bind(s.mfa.as_ref().map(|m| m.0))
    .bind(now)
    .bind(s.expires_at)
    .execute(&mut *tx)
    .await?;
    // A session moving to its next stage: its record is the sign-in step's, written by the console.
    tx.commit_unrecorded().await?;
    Ok(Some((token, s)))
}

/// Remembers the device picked for the second factor, or the device being assigned.
pub async fn set_serial(iam: &Iam, token_hash: &str, chosen: bool, serial: Option<&str>) -> Result<()> {
    let col = if chosen { "chosen_serial" } else { "pending_serial" };
    sqlx::query(&format!("UPDATE console_sessions SET {col} = $1 WHERE token_hash = $2")).bind(serial).bind(token_hash).execute(&iam.store.write).await?;
    Ok(())
}

/// Which WebAuthn ceremony a session holds: registering a security key, or signing in with one.
/// (Its name is bound into the sealed state, so one kind's state never opens as the other's.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ceremony {
    Register,
    Authenticate,
}

impl Ceremony {
    fn as_str(self) -> &'static str {
        match self {
            Ceremony::Register => "register",
            Ceremony::Authenticate => "auth",
        }
    }
}

/// Stores a WebAuthn ceremony's state (sealed, bound to the session) for whichever node finishes it.
pub async fn put_ceremony(iam: &Iam, token_hash: &str, kind: Ceremony, state: &[u8]) -> Result<()> {
    let kind = kind.as_str();
    let sealed = iam.sealer.seal(crate::crypto::Purpose::WebauthnCeremony, format!("{token_hash}/{kind}").as_bytes(), state);
    sqlx::query("UPDATE console_sessions SET ceremony = $1 WHERE token_hash = $2").bind(sealed).bind(token_hash).execute(&iam.store.write).await?;
    Ok(())
}

/// Takes the session's WebAuthn ceremony state, once: a conditional write clears it, so two requests
/// (on any nodes) cannot both finish the same ceremony.
pub async fn take_ceremony(iam: &Iam, token_hash: &str, kind: Ceremony) -> Result<Option<Vec<u8>>> {
    let kind = kind.as_str();
    let mut tx = iam.begin().await?;
    let lock = if iam.store.backend == Backend::Postgres { " FOR UPDATE" } else { "" };
    let sealed: Option<Option<Vec<u8>>> =
        sqlx::query_scalar(&format!("SELECT ceremony FROM console_sessions WHERE token_hash = $1{lock}")).bind(token_hash).fetch_optional(&mut *tx).await?;
    let Some(Some(sealed)) = sealed else { return Ok(None) };
    sqlx::query("UPDATE console_sessions SET ceremony = NULL WHERE token_hash = $1").bind(token_hash).execute(&mut *tx).await?;
    // Taking a ceremony's state is bookkeeping of the step that uses it, which records itself.
    tx.commit_unrecorded().await?;
    Ok(iam.sealer.open(crate::crypto::Purpose::WebauthnCeremony, format!("{token_hash}/{kind}").as_bytes(), &sealed))
}

// ---- who a sign-in names ----

/// A principal found by its sign-in name, with what the password check needs.
pub struct Candidate {
    pub account_id: String,
    pub user: Option<UserRef>,
    pub password_hash: String,
    pub reset_required: bool,
}

/// The IAM user `name` of the account given by id or alias, if it has a console password.
pub async fn find_user(iam: &Iam, account_or_alias: &str, name: &str) -> Result<Option<Candidate>> {
    let row = sqlx::query(
        "SELECT a.account_id, u.user_id, u.name, u.path, l.password_hash, l.reset_required FROM accounts a JOIN users u ON u.account_id = a.account_id JOIN login_profiles l ON l.user_id = u.user_id WHERE (a.account_id = $1 OR a.alias = $2) AND u.name_lower = $3",
    )
    .bind(account_or_alias)
    .bind(account_or_alias.to_ascii_lowercase())
    .bind(name.to_ascii_lowercase())
    .fetch_optional(&iam.store.read)
    .await?;
    Ok(row.map(|r| Candidate {
        account_id: r.get(0),
        user: Some(UserRef { user_id: r.get(1), name: r.get(2), path: r.get(3) }),
        password_hash: r.get(4),
        reset_required: r.get::<i64, _>(5) != 0,
    }))
}

/// The account whose root user has this e-mail address.
pub async fn find_root(iam: &Iam, email: &str) -> Result<Option<Candidate>> {
    let row = sqlx::query("SELECT account_id, root_password_hash FROM accounts WHERE root_email_lower = $1")
        .bind(email.trim().to_ascii_lowercase())
        .fetch_optional(&iam.store.read)
        .await?;
    Ok(row.map(|r| Candidate { account_id: r.get(0), user: None, password_hash: r.get(1), reset_required: false }))
}

/// The account id an "Account ID or alias" names (for the records of failed sign-ins).
pub async fn account_of(iam: &Iam, account_or_alias: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT account_id FROM accounts WHERE account_id = $1 OR alias = $2")
        .bind(account_or_alias)
        .bind(account_or_alias.to_ascii_lowercase())
        .fetch_optional(&iam.store.read)
        .await?)
}

/// Records a successful password sign-in (PasswordLastUsed).
pub async fn password_used(iam: &Iam, c: &Candidate) -> Result<()> {
    let now = iam.clock.now_ms();
    match &c.user {
        Some(u) => sqlx::query("UPDATE users SET password_last_used = $1 WHERE user_id = $2").bind(now).bind(&u.user_id).execute(&iam.store.write).await?,
        None => {
            sqlx::query("UPDATE accounts SET root_password_last_used = $1 WHERE account_id = $2")
                .bind(now)
                .bind(&c.account_id)
                .execute(&iam.store.write)
                .await?
        }
    };
    Ok(())
}

/// The root user changes the root password, proving the old one (the record goes with the change).
/// Root's other console sessions end; `keep` survives.
pub async fn change_root_password(iam: &Iam, account: &str, old: &str, new: &str, keep: Option<&str>, ip: &str) -> Result<()> {
    let (stored, email): (String, String) = {
        let r = sqlx::query("SELECT root_password_hash, root_email FROM accounts WHERE account_id = $1").bind(account).fetch_one(&iam.store.read).await?;
        (r.get(0), r.get(1))
    };
    prove_old_password(iam, &principal_key(account, None), ip, old, &stored).await?;
    // The root password follows AWS's default rules, whatever the account's policy for users says.
    super::passwords::check(None, new, &[account, &email])?;
    let hash = super::passwords::hash(new.to_string()).await?;
    let n = crate::audit::execute_one(
        &iam.store,
        sqlx::query("UPDATE accounts SET root_password_hash = $1, root_password_changed_at = $2 WHERE account_id = $3 AND root_password_hash = $4")
            .bind(hash)
            .bind(iam.clock.now_ms())
            .bind(account)
            .bind(stored),
    )
    .await?
    .rows_affected();
    if n == 0 {
        return Err(AwsError::entity_temporarily_unmodifiable("The password was changed by another request; try again."));
    }
    credentials_changed(&mut *iam.store.write.acquire().await?, account, super::Owner::Root.column(), None, keep).await?;
    Ok(())
}

// ---- password guessing ----

/// A throttle scope: (key, free failures, longest wait in seconds).
pub type Scope = (String, i64, i64);

/// The throttle key of a principal: its account and user id (`root` for the root user), so every
/// spelling that reaches it — account id or alias, any case — shares one budget.
pub fn principal_key(account: &str, user_id: Option<&str>) -> String {
    format!("{account}/{}", user_id.unwrap_or("root"))
}

/// The three scopes of a password guess: the principal from this source, the principal from
/// anywhere, and this source. A source is an IPv4 address or an IPv6 /64.
pub fn scopes(principal_key: &str, ip: &str) -> Vec<Scope> {
    let src = crate::net::source_group(ip);
    vec![(format!("pi:{principal_key}|{src}"), 5, 900), (format!("p:{principal_key}"), 20, 60), (format!("ip:{src}"), 100, 900)]
}

/// The scopes for a browser that has signed in as this principal before (it holds the principal's
/// known-browser cookie): not the principal-wide one, so a guesser elsewhere who keeps that scope
/// waiting never keeps the owner out.
pub fn scopes_for_known_browser(principal_key: &str, ip: &str) -> Vec<Scope> {
    scopes(principal_key, ip).into_iter().filter(|(k, _, _)| !k.starts_with("p:")).collect()
}

/// Forgotten after this long without a failure.
const FORGET_MS: i64 = 3_600_000;

fn wait_seconds(failures: i64, free: i64, cap: i64) -> i64 {
    if failures < free {
        0
    } else {
        (1i64 << (failures - free).min(20)).min(cap)
    }
}

/// Counts one attempt in every scope, before the password is checked. Err(seconds) when a scope is
/// waiting: the attempt is then refused without being checked (and not counted).
pub async fn count_attempt(iam: &Iam, scopes: &[Scope]) -> Result<std::result::Result<(), i64>> {
    let now = iam.clock.now_ms();
    let lock = if iam.store.backend == Backend::Postgres { " FOR UPDATE" } else { "" };
    let mut tx = iam.begin().await?;
    // Scopes forgotten (no failure for FORGET_MS, no wait running) are removed now and then, so a
    // guesser cycling through names cannot grow the table without bound.
    if rand::random::<u8>() < 4 {
        sqlx::query("DELETE FROM signin_throttle WHERE updated_at < $1 AND locked_until < $2").bind(now - FORGET_MS).bind(now).execute(&mut *tx).await?;
    }
    let mut rows = Vec::with_capacity(scopes.len());
    for (key, free, cap) in scopes {
        sqlx::query("INSERT INTO signin_throttle (scope, failures, locked_until, updated_at) VALUES ($1, 0, 0, $2) ON CONFLICT (scope) DO NOTHING")
            .bind(key)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query(&format!("SELECT failures, locked_until, updated_at FROM signin_throttle WHERE scope = $1{lock}"))
            .bind(key)
            .fetch_one(&mut *tx)
            .await?;
        let (mut failures, locked_until, updated): (i64, i64, i64) = (r.get(0), r.get(1), r.get(2));
        if locked_until > now {
            tx.rollback().await?;
            return Ok(Err((locked_until - now + 999) / 1000));
        }
        if now - updated > FORGET_MS {
            failures = 0;
        }
        rows.push((key, failures + 1, wait_seconds(failures + 1, *free, *cap)));
    }
    for (key, n, wait) in rows {
        sqlx::query("UPDATE signin_throttle SET failures = $1, locked_until = $2, updated_at = $3 WHERE scope = $4")
            .bind(n)
            .bind(if wait > 0 { now + wait * 1000 } else { 0 })
            .bind(now)
            .bind(key)
            .execute(&mut *tx)
            .await?;
    }
    // Counting an attempt is bookkeeping of the sign-in, which records itself with its outcome.
    tx.commit_unrecorded().await?;
    Ok(Ok(()))
}

/// A password change's proof of the old password, a guess like a sign-in's: counted in the
/// principal's sign-in scopes before it is checked (Throttling while a wait runs), a wrong one
/// restarts the waits from its answer (AccessDenied), a right one clears them.
pub async fn prove_old_password(iam: &Iam, principal_key: &str, ip: &str, old: &str, stored: &str) -> Result<()> {
    let scopes = scopes(principal_key, ip);
    if let Err(wait) = count_attempt(iam, &scopes).await? {
        return Err(super::users::throttled(wait));
    }
    if !super::passwords::verify(old.to_string(), stored.to_string()).await? {
        attempt_failed(iam, &scopes).await?;
        return Err(AwsError::access_denied("The old password is incorrect."));
    }
    clear_attempts(iam, &scopes).await
}

/// A wrong password: every wait this guess started (or that a concurrent one did) runs from now,
/// the moment the answer goes out, not from when the guess was counted. Checking a password takes a
/// noticeable time (Argon2), and a wait that had mostly run out while the guess was being checked
/// would let the next guess straight in.
pub async fn attempt_failed(iam: &Iam, scopes: &[Scope]) -> Result<()> {
    let now = iam.clock.now_ms();
    for (key, _, _) in scopes {
        sqlx::query("UPDATE signin_throttle SET locked_until = $1 + (locked_until - updated_at), updated_at = $1 WHERE scope = $2 AND locked_until > updated_at AND updated_at <= $1")
            .bind(now)
            .bind(key)
            .execute(&iam.store.write)
            .await?;
    }
    Ok(())
}

/// A correct password clears the principal's scopes; the address's count only takes back this
/// attempt (many people may sign in from one address).
pub async fn clear_attempts(iam: &Iam, scopes: &[Scope]) -> Result<()> {
    for (key, _, _) in scopes {
        let q = if key.starts_with("ip:") {
            "UPDATE signin_throttle SET failures = CASE WHEN failures > 0 THEN failures - 1 ELSE 0 END WHERE scope = $1"
        } else {
            "DELETE FROM signin_throttle WHERE scope = $1"
        };
        sqlx::query(q).bind(key).execute(&iam.store.write).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_start_after_the_free_failures_and_are_capped() {
        assert_eq!((1..=4).map(|n| wait_seconds(n, 5, 900)).collect::<Vec<_>>(), vec![0, 0, 0, 0]);
        assert_eq!(wait_seconds(5, 5, 900), 1);
        assert_eq!(wait_seconds(8, 5, 900), 8);
        assert_eq!(wait_seconds(40, 5, 900), 900);
        assert_eq!(wait_seconds(40, 20, 60), 60);
    }

    #[test]
    fn tokens_are_random_and_stored_as_hashes() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), a);
    }
}
