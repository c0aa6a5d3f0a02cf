//! MFA devices: virtual devices (authenticator apps), hardware TOTP tokens imported from vendor
//! files, and the checks that accept a code.
//!
//! Invariants, all held by the database so they survive several nodes and concurrent requests:
//! - at most eight assigned devices per principal (a unique slot per owner);
//! - a code is accepted at most once per device (the last accepted step only moves forward, by a
//!   conditional write);
//! - guessing is bounded per principal: attempts are serialised on the principal's throttle row
//!   (one SQLite writer, or `SELECT … FOR UPDATE` on PostgreSQL), five consecutive failures are free,
//!   then each further attempt waits `min(2^(n-1), 900)` seconds after the n-th failure past the
//!   threshold. A refused attempt is not checked at all, so its answer says nothing about the code.
//!
//! Seeds are sealed under the master key with the device's id as associated data.

use super::tags::Taggable;
use super::{Iam, Owner, UserRef};
use crate::crypto::Purpose;
use crate::error::{is_unique_violation, AwsError, ErrorCode, Result};
use crate::store::Backend;
use rand::RngCore;
use sqlx::Row;

pub const MAX_DEVICES: i64 = 8;
pub const FREE_FAILURES: i64 = 5;
pub const MAX_LOCK_SECONDS: i64 = 900;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Virtual,
    Hardware,
    U2f,
}

impl Kind {
    fn parse(s: &str) -> Kind {
        match s {
            "hardware" => Kind::Hardware,
            "u2f" => Kind::U2f,
            _ => Kind::Virtual,
        }
    }
    /// The kind of device a serial names, from its shape alone (sessions carry only the serial): an
    /// app's is `arn:aws:iam::ACCOUNT:mfa/…`, a security key's `arn:aws:iam::ACCOUNT:u2f/…`, and a
    /// hardware token's is the vendor's serial, which never starts with `arn:` (the import refuses it).
    pub fn of_serial(serial: &str) -> Kind {
        let mut parts = serial.splitn(6, ':');
        let shape = (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next());
        match shape {
            (Some("arn"), Some(_), Some("iam"), Some(""), Some(_), Some(resource)) if resource.starts_with("u2f/") => Kind::U2f,
            (Some("arn"), Some(_), Some("iam"), Some(""), Some(_), Some(resource)) if resource.starts_with("mfa/") => Kind::Virtual,
            _ if serial.starts_with("arn:") => Kind::Virtual,
            _ => Kind::Hardware,
        }
    }
    /// `iamd:MultiFactorAuthType`'s value for a session whose MFA used this kind of device.
    pub fn condition_value(self) -> &'static str {
        match self {
            Kind::Virtual => "totp",
            Kind::Hardware => "hardware-totp",
            Kind::U2f => "fido2",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Kind::Virtual => "Virtual MFA",
            Kind::Hardware => "Hardware MFA",
            Kind::U2f => "U2F MFA",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Device {
    pub device_id: String,
    pub serial: String,
    pub kind: Kind,
    pub name: Option<String>,
    pub params: otp::Params,
    seed_sealed: Option<Vec<u8>>,
    /// None: unassigned; Some(""): root; Some(user_id).
    pub owner: Option<String>,
    pub enabled_at: Option<i64>,
    pub last_step: i64,
    pub drift: i64,
    pub last_used_at: Option<i64>,
    pub created_at: i64,
}

const COLS: &str = "device_id, serial, kind, name, digits, period, algorithm, seed_sealed, owner, enabled_at, last_step, drift, last_used_at, created_at";
/// `COLS` for queries that join devices as `d`.
const D_COLS: &str = "d.device_id, d.serial, d.kind, d.name, d.digits, d.period, d.algorithm, d.seed_sealed, d.owner, d.enabled_at, d.last_step, d.drift, d.last_used_at, d.created_at";

fn from_row(r: &sqlx::any::AnyRow) -> Device {
    Device {
        device_id: r.get(0),
        serial: r.get(1),
        kind: Kind::parse(&r.get::<String, _>(2)),
        name: r.get(3),
        params: otp::Params {
            digits: r.get::<i64, _>(4) as u32,
            period: r.get::<i64, _>(5) as u64,
            algorithm: otp::Algorithm::parse(&r.get::<String, _>(6)).unwrap_or(otp::Algorithm::Sha1),
        },
        seed_sealed: r.get(7),
        owner: r.get(8),
        enabled_at: r.get(9),
        last_step: r.get(10),
        drift: r.get(11),
        last_used_at: r.get(12),
        created_at: r.get(13),
    }
}

fn for_update(b: Backend) -> &'static str {
    match b {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    }
}

pub fn seed_aad(account: &str, device_id: &str) -> Vec<u8> {
    format!("{account}/{device_id}").into_bytes()
}

impl Device {
    fn seed(&self, iam: &Iam, account: &str) -> Result<Vec<u8>> {
        let sealed = self.seed_sealed.as_deref().ok_or_else(|| AwsError::from(anyhow::anyhow!("device {} has no seed", self.serial)))?;
        iam.sealer
            .open(Purpose::MfaSeed, &seed_aad(account, &self.device_id), sealed)
            .ok_or_else(|| AwsError::from(anyhow::anyhow!("device {}: sealed seed does not open under this master key", self.serial)))
    }
}

pub fn virtual_serial(account: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:mfa{path}{name}")
}

fn invalid_code() -> AwsError {
    AwsError::invalid_authentication_code("Authentication code for device is not valid.")
}

pub fn no_such_device(serial: &str) -> AwsError {
    AwsError::no_such_entity(format!("MFA Device with serial number {serial} does not exist."))
}

async fn find<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(ex: E, account: &str, serial: &str, lock: &str) -> Result<Option<Device>> {
    let row = sqlx::query(&format!("SELECT {COLS} FROM mfa_devices WHERE account_id = $1 AND serial = $2{lock}"))
        .bind(account)
        .bind(serial)
        .fetch_optional(ex)
        .await?;
    Ok(row.as_ref().map(from_row))
}

pub async fn get(iam: &Iam, account: &str, serial: &str) -> Result<Option<Device>> {
    find(&iam.store.read, account, serial, "").await
}

/// What CreateVirtualMFADevice returns: the serial, the seed as base32 text and a QR code PNG.
pub struct NewVirtual {
    pub device_id: String,
    pub serial: String,
    pub seed_base32: String,
    pub qr_png: Vec<u8>,
    pub uri: String,
}

pub async fn create_virtual(iam: &Iam, account: &str, name: &str, path: &str, tags: &[(String, String)]) -> Result<NewVirtual> {
    let serial = virtual_serial(account, path, name);
    let device_id = uuid::Uuid::new_v4().to_string();
    let mut seed = [0u8; 40];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let sealed = iam.sealer.seal(Purpose::MfaSeed, &seed_aad(account, &device_id), &seed);
    let seed_base32 = otp::base32::encode(&seed);
    let uri = otp::otpauth_uri("iamd", &format!("{name}@{account}"), &seed_base32, &otp::Params::default());
    let qr_png = crate::qr::png(&uri)?;
    let mut tx = iam.begin().await?;
    let r = sqlx::query(
        "INSERT INTO mfa_devices (device_id, account_id, serial, kind, name, path, seed_sealed, created_at) VALUES ($1, $2, $3, 'virtual', $4, $5, $6, $7)",
    )
    .bind(&device_id)
    .bind(account)
    .bind(&serial)
    .bind(name)
    .bind(path)
    .bind(sealed)
    .bind(iam.clock.now_ms())
    .execute(&mut *tx)
    .await;
    match r {
        Err(e) if is_unique_violation(&e) => return Err(AwsError::entity_already_exists("MFADevice entity at the same path and name already exists.")),
        Err(e) => return Err(e.into()),
        Ok(_) => {}
    }
    super::tags::put(&mut tx, Taggable::MfaDevice, &device_id, tags).await?;
    crate::audit::respond(serde_json::json!({"virtualMFADevice": {"serialNumber": serial}}));
    tx.commit().await?;
    Ok(NewVirtual { device_id, serial, seed_base32, qr_png, uri })
}

// ---- throttle ----

/// Serialises MFA attempts of one principal and says whether one may be made now.
/// Returns the current consecutive failures, or None while attempts are refused.
async fn throttle_enter(iam: &Iam, tx: &mut crate::audit::Tx, account: &str, owner: &str, now: i64) -> Result<Option<i64>> {
    let q = format!("SELECT failures, locked_until, updated_at FROM mfa_throttle WHERE account_id = $1 AND owner = $2{}", for_update(iam.store.backend));
    let mut row = sqlx::query(&q).bind(account).bind(owner).fetch_optional(&mut **tx).await?;
    if row.is_none() {
        sqlx::query("INSERT INTO mfa_throttle (account_id, owner, failures, locked_until) VALUES ($1, $2, 0, 0) ON CONFLICT (account_id, owner) DO NOTHING")
            .bind(account)
            .bind(owner)
            .execute(&mut **tx)
            .await?;
        row = sqlx::query(&q).bind(account).bind(owner).fetch_optional(&mut **tx).await?;
    }
    let row = row.ok_or_else(|| AwsError::from(anyhow::anyhow!("throttle row vanished")))?;
    let (failures, locked_until, updated): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    Ok(if locked_until > now { None } else { Some(decayed(failures, updated, now)) })
}

/// Failures are forgotten an hour after the last one: a guesser's slowdown does not follow the owner
/// for ever.
pub const FAILURES_DECAY_MS: i64 = 3_600_000;

fn decayed(failures: i64, last_failure_ms: i64, now: i64) -> i64 {
    if now - last_failure_ms > FAILURES_DECAY_MS {
        0
    } else {
        failures
    }
}

/// The wait after the n-th consecutive failure: none up to `FREE_FAILURES`, then 1, 2, 4 … seconds,
/// at most `MAX_LOCK_SECONDS`.
pub fn lock_seconds(failures: i64) -> i64 {
    if failures < FREE_FAILURES {
        0
    } else {
        let k = (failures - FREE_FAILURES).min(20) as u32;
        (1i64 << k).min(MAX_LOCK_SECONDS)
    }
}

async fn throttle_fail(tx: &mut crate::audit::Tx, account: &str, owner: &str, failures: i64, now: i64) -> Result<()> {
    let n = failures + 1;
    let lock = lock_seconds(n);
    sqlx::query("UPDATE mfa_throttle SET failures = $1, locked_until = $2, updated_at = $5 WHERE account_id = $3 AND owner = $4")
        .bind(n)
        .bind(if lock > 0 { now + lock * 1000 } else { 0 })
        .bind(account)
        .bind(owner)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn throttle_ok(tx: &mut crate::audit::Tx, account: &str, owner: &str, failures: i64) -> Result<()> {
    if failures != 0 {
        sqlx::query("UPDATE mfa_throttle SET failures = 0, locked_until = 0 WHERE account_id = $1 AND owner = $2")
            .bind(account)
            .bind(owner)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Why a sign-in code was not accepted. The API answers all of these alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such device, or not the caller's, or not a TOTP device.
    NotYourDevice,
    /// Wrong, replayed, or refused while the principal is throttled.
    BadCode,
}

pub const BAD_CODE: &str = "MultiFactorAuthentication failed with invalid MFA one time pass code.";
pub const NOT_YOURS: &str =
    "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial number is valid and associated with this user.";

impl Refusal {
    /// AWS's answer to an STS call refused this way.
    pub fn error(self) -> AwsError {
        match self {
            Refusal::NotYourDevice => AwsError::access_denied(NOT_YOURS),
            Refusal::BadCode => AwsError::access_denied(BAD_CODE),
        }
    }
}

/// Checks a sign-in code from one of `owner`'s TOTP devices (`owner` '' is root) and, when it is
/// accepted, advances the device's last step.
///
/// Attempts of one principal are serialised: on SQLite by the single writer connection held for the
/// whole check (two statements in the common case: one read of device and throttle, one conditional
/// update), on PostgreSQL by a transaction that locks the principal's throttle row.
pub async fn check_code(iam: &Iam, account: &str, owner: &Owner, serial: &str, code: &str) -> Result<std::result::Result<Device, Refusal>> {
    let owner = owner.column();
    let now = iam.clock.now_ms();
    match iam.store.backend {
        Backend::Sqlite => {
            let hot = iam.store.hot.clone().ok_or_else(|| AwsError::from(anyhow::anyhow!("SQLite store without its hot connection")))?;
            let (iam2, account, owner, serial, code) = (iam.clone(), account.to_string(), owner.to_string(), serial.to_string(), code.to_string());
            // The success record is rendered here, off the single writer thread.
            let event = crate::audit::pending_event().map(|e| (e.rendered(), e));
            let (r, recorded) = hot.run(move |conn| Ok(check_code_sqlite(&iam2, conn, &account, &owner, &serial, &code, now, event))).await?;
            if recorded {
                crate::audit::mark_written();
            }
            r
        }
        Backend::Postgres => {
            let mut tx = iam.begin().await?;
            let Some(failures) = throttle_enter(iam, &mut tx, account, owner, now).await? else {
                return refuse(tx, Refusal::BadCode).await;
            };
            let dev = match find(&mut *tx, account, serial, "").await? {
                Some(d) if d.owner.as_deref() == Some(owner) && d.kind != Kind::U2f => d,
                _ => {
                    throttle_fail(&mut tx, account, owner, failures, now).await?;
                    return refuse(tx, Refusal::NotYourDevice).await;
                }
            };
            if accept(iam, &mut tx, account, owner, &dev, code, now).await? {
                throttle_ok(&mut tx, account, owner, failures).await?;
                tx.commit().await?;
                Ok(Ok(dev))
            } else {
                throttle_fail(&mut tx, account, owner, failures, now).await?;
                refuse(tx, Refusal::BadCode).await
            }
        }
    }
}

/// Commits a refused check's failure count with the call's record (which names the refusal).
async fn refuse(tx: crate::audit::Tx, r: Refusal) -> Result<std::result::Result<Device, Refusal>> {
    match tx.commit_refusal::<()>(r.error()).await {
        Err(e) if e.code == ErrorCode::AccessDenied => Ok(Err(r)),
        Err(e) => Err(e),
        Ok(()) => Ok(Err(r)),
    }
}

fn sqlite_err(e: rusqlite::Error) -> AwsError {
    AwsError::from(anyhow::anyhow!("SQLite: {e}"))
}

/// The SQLite path of `check_code`, on a blocking thread: one IMMEDIATE transaction (which also
/// excludes the sqlx writer) reads the device and the principal's throttle, checks the code and
/// writes the outcome.
#[allow(clippy::too_many_arguments)]
fn check_code_sqlite(
    iam: &Iam,
    conn: &rusqlite::Connection,
    account: &str,
    owner: &str,
    serial: &str,
    code: &str,
    now: i64,
    event: Option<((String, crate::audit::index::Summary), crate::audit::Event)>,
) -> (Result<std::result::Result<Device, Refusal>>, bool) {
    match check_code_sqlite_tx(iam, conn, account, owner, serial, code, now, event.as_ref()) {
        Ok((r, committed)) => (Ok(r), committed && event.is_some()),
        Err(e) => (Err(e), false),
    }
}

/// Returns the outcome and whether the transaction (with the call's record) committed.
#[allow(clippy::too_many_arguments)]
fn check_code_sqlite_tx(
    iam: &Iam,
    conn: &rusqlite::Connection,
    account: &str,
    owner: &str,
    serial: &str,
    code: &str,
    now: i64,
    event: Option<&((String, crate::audit::index::Summary), crate::audit::Event)>,
) -> Result<(std::result::Result<Device, Refusal>, bool)> {
    use rusqlite::OptionalExtension;
    let record = |tx: &rusqlite::Connection, refusal: Option<Refusal>| -> Result<()> {
        if let Some((line, e)) = event {
            match refusal {
                None => crate::audit::index::insert_one_rusqlite(tx, &e.account, e.time_ms, &line.0, &line.1).map_err(sqlite_err)?,
                Some(r) => {
                    let mut e = e.clone();
                    let err = r.error();
                    e.error = Some((err.code.to_string(), err.message));
                    let (line, summary) = e.rendered();
                    crate::audit::index::insert_one_rusqlite(tx, &e.account, e.time_ms, &line, &summary).map_err(sqlite_err)?;
                }
            }
        }
        Ok(())
    };
    // Runs inside the writer's batch transaction (see store::HotWriter).
    let tx = conn;
    let (failures, locked_until, updated): (i64, i64, i64) = tx
        .prepare_cached("SELECT failures, locked_until, updated_at FROM mfa_throttle WHERE account_id = ?1 AND owner = ?2")
        .and_then(|mut st| st.query_row(rusqlite::params![account, owner], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional())
        .map_err(sqlite_err)?
        .unwrap_or((0, 0, 0));
    let failures = if locked_until > now { failures } else { decayed(failures, updated, now) };
    let set_throttle = |tx: &rusqlite::Connection, f: i64| -> Result<()> {
        let lock = lock_seconds(f);
        tx.prepare_cached("INSERT INTO mfa_throttle (account_id, owner, failures, locked_until, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (account_id, owner) DO UPDATE SET failures = excluded.failures, locked_until = excluded.locked_until, updated_at = excluded.updated_at")
            .and_then(|mut st| st.execute(rusqlite::params![account, owner, f, if lock > 0 { now + lock * 1000 } else { 0 }, now]))
            .map_err(sqlite_err)?;
        Ok(())
    };
    if locked_until > now {
        return Ok((Err(Refusal::BadCode), false));
    }
    let dev = tx
        .prepare_cached(&format!("SELECT {COLS} FROM mfa_devices WHERE account_id = ?1 AND serial = ?2"))
        .and_then(|mut st| {
            st.query_row(rusqlite::params![account, serial], |r| {
                Ok(Device {
                    device_id: r.get(0)?,
                    serial: r.get(1)?,
                    kind: Kind::parse(&r.get::<_, String>(2)?),
                    name: r.get(3)?,
                    params: otp::Params {
                        digits: r.get::<_, i64>(4)? as u32,
                        period: r.get::<_, i64>(5)? as u64,
                        algorithm: otp::Algorithm::parse(&r.get::<_, String>(6)?).unwrap_or(otp::Algorithm::Sha1),
                    },
                    seed_sealed: r.get(7)?,
                    owner: r.get(8)?,
                    enabled_at: r.get(9)?,
                    last_step: r.get(10)?,
                    drift: r.get(11)?,
                    last_used_at: r.get(12)?,
                    created_at: r.get(13)?,
                })
            })
            .optional()
        })
        .map_err(sqlite_err)?;
    let dev = match dev {
        Some(d) if d.owner.as_deref() == Some(owner) && d.kind != Kind::U2f => d,
        _ => {
            set_throttle(tx, failures + 1)?;
            record(tx, Some(Refusal::NotYourDevice))?;
            return Ok((Err(Refusal::NotYourDevice), true));
        }
    };
    let seed = dev.seed(iam, account)?;
    let step_now = otp::step_of(now.div_euclid(1000), &dev.params);
    let accepted = match otp::verify(&seed, &dev.params, code, step_now, dev.drift, dev.last_step) {
        Some(step) => {
            tx.prepare_cached("UPDATE mfa_devices SET last_step = ?1, last_used_at = ?2 WHERE device_id = ?3 AND last_step < ?1 AND owner = ?4")
                .and_then(|mut st| st.execute(rusqlite::params![step, now, dev.device_id, owner]))
                .map_err(sqlite_err)?
                == 1
        }
        None => false,
    };
    if accepted {
        if failures != 0 {
            set_throttle(tx, 0)?;
        }
        record(tx, None)?;
    } else {
        set_throttle(tx, failures + 1)?;
        record(tx, Some(Refusal::BadCode))?;
    }
    Ok((if accepted { Ok(dev) } else { Err(Refusal::BadCode) }, true))
}

/// Verifies the code and advances the device's last step with a conditional write: of two requests
/// with the same code, only one moves the step.
async fn accept(iam: &Iam, conn: &mut sqlx::AnyConnection, account: &str, owner: &str, dev: &Device, code: &str, now: i64) -> Result<bool> {
    let seed = dev.seed(iam, account)?;
    let step_now = otp::step_of(now.div_euclid(1000), &dev.params);
    let Some(step) = otp::verify(&seed, &dev.params, code, step_now, dev.drift, dev.last_step) else { return Ok(false) };
    let n = sqlx::query("UPDATE mfa_devices SET last_step = $1, last_used_at = $2 WHERE device_id = $3 AND last_step < $1 AND owner = $4")
        .bind(step)
        .bind(now)
        .bind(&dev.device_id)
        .bind(owner)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

async fn free_slot(tx: &mut crate::audit::Tx, account: &str, owner: &str) -> Result<i64> {
    let used: Vec<i64> =
        sqlx::query_scalar("SELECT owner_slot FROM mfa_devices WHERE account_id = $1 AND owner = $2").bind(account).bind(owner).fetch_all(&mut **tx).await?;
    (1..=MAX_DEVICES).find(|s| !used.contains(s)).ok_or_else(|| AwsError::limit_exceeded(format!("Cannot exceed quota for MFADevicesPerUser: {MAX_DEVICES}")))
}

/// EnableMFADevice: assigns a virtual or hardware device to `owner` ('' = root) after two consecutive
/// codes. The limit of eight is taken from a unique slot; a lost race for a slot is retried.
///
/// `only`: the id of the one device the caller means (a console enrolment holds on to the device it
/// created); a device found under the same serial with another id is not it.
///
/// `guesser`: whose throttle the codes count against — the caller's (see `throttle_key`), so failing
/// EnableMFADevice against someone else never slows that someone's sign-ins.
#[allow(clippy::too_many_arguments)]
pub async fn enable(iam: &Iam, account: &str, owner: &Owner, guesser: &str, serial: &str, only: Option<&str>, code1: &str, code2: &str) -> Result<()> {
    let owner = owner.column();
    for _attempt in 0..4 {
        match enable_once(iam, account, owner, guesser, serial, only, code1, code2).await {
            Err(Retry::Again) => continue,
            Err(Retry::Fail(e)) => return Err(e),
            Ok(()) => return Ok(()),
        }
    }
    Err(AwsError::concurrent_modification("The device was changed by another request; try again."))
}

enum Retry {
    Again,
    Fail(AwsError),
}

impl From<AwsError> for Retry {
    fn from(e: AwsError) -> Self {
        Retry::Fail(e)
    }
}

impl From<sqlx::Error> for Retry {
    fn from(e: sqlx::Error) -> Self {
        Retry::Fail(e.into())
    }
}

#[allow(clippy::too_many_arguments)]
async fn enable_once(
    iam: &Iam,
    account: &str,
    owner: &str,
    guesser: &str,
    serial: &str,
    only: Option<&str>,
    code1: &str,
    code2: &str,
) -> std::result::Result<(), Retry> {
    let now = iam.clock.now_ms();
    let mut tx = iam.begin().await?;
    let dev = find(&mut *tx, account, serial, "")
        .await?
        .filter(|d| d.kind != Kind::U2f && only.is_none_or(|id| id == d.device_id))
        .ok_or_else(|| no_such_device(serial))?;
    if dev.owner.is_some() {
        return Err(AwsError::entity_already_exists("MFA Device is already in use.").into());
    }
    if !super::is_root_column(owner) && !super::lock_parent(&mut tx, iam.store.backend, super::Parent::User, owner).await? {
        return Err(AwsError::no_such_entity("The user cannot be found.").into());
    }
    let Some(failures) = throttle_enter(iam, &mut tx, account, guesser, now).await? else {
        return Err(tx.commit_refusal::<()>(invalid_code()).await.unwrap_err().into());
    };
    let seed = dev.seed(iam, account)?;
    let step_now = otp::step_of(now.div_euclid(1000), &dev.params);
    let Some(sync) = otp::synchronize(&seed, &dev.params, code1, code2, step_now, None) else {
        throttle_fail(&mut tx, account, guesser, failures, now).await?;
        return Err(tx.commit_refusal::<()>(invalid_code()).await.unwrap_err().into());
    };
    let slot = free_slot(&mut tx, account, owner).await?;
    let r =
        sqlx::query("UPDATE mfa_devices SET owner = $1, owner_slot = $2, enabled_at = $3, last_step = $4, drift = $5 WHERE device_id = $6 AND owner IS NULL")
            .bind(owner)
            .bind(slot)
            .bind(now)
            .bind(sync.last_step)
            .bind(sync.drift)
            .bind(&dev.device_id)
            .execute(&mut *tx)
            .await;
    match r {
        Err(e) if is_unique_violation(&e) => return Err(Retry::Again),
        Err(e) => return Err(Retry::Fail(e.into())),
        Ok(r) if r.rows_affected() == 0 => return Err(AwsError::entity_already_exists("MFA Device is already in use.").into()),
        Ok(_) => {}
    }
    throttle_ok(&mut tx, account, guesser, failures).await?;
    tx.commit().await?;
    Ok(())
}

/// ResyncMFADevice: two consecutive codes newer than the last accepted step; records the new drift.
pub async fn resync(iam: &Iam, account: &str, owner: &Owner, guesser: &str, serial: &str, code1: &str, code2: &str) -> Result<()> {
    let owner = owner.column();
    let now = iam.clock.now_ms();
    let mut tx = iam.begin().await?;
    let dev = find(&mut *tx, account, serial, "")
        .await?
        .filter(|d| d.owner.as_deref() == Some(owner) && d.kind != Kind::U2f)
        .ok_or_else(|| no_such_device(serial))?;
    let Some(failures) = throttle_enter(iam, &mut tx, account, guesser, now).await? else {
        return tx.commit_refusal(invalid_code()).await;
    };
    let seed = dev.seed(iam, account)?;
    let step_now = otp::step_of(now.div_euclid(1000), &dev.params);
    let synced = match otp::synchronize(&seed, &dev.params, code1, code2, step_now, Some(dev.last_step)) {
        Some(sync) => {
            sqlx::query("UPDATE mfa_devices SET last_step = $1, drift = $2 WHERE device_id = $3 AND last_step < $1")
                .bind(sync.last_step)
                .bind(sync.drift)
                .bind(&dev.device_id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1
        }
        None => false,
    };
    if synced {
        throttle_ok(&mut tx, account, guesser, failures).await?;
        tx.commit().await?;
        Ok(())
    } else {
        throttle_fail(&mut tx, account, guesser, failures, now).await?;
        tx.commit_refusal(invalid_code()).await
    }
}

/// DeactivateMFADevice: the device leaves its owner at once. A virtual device becomes unassigned, a
/// hardware token returns to the inventory, a security key is removed.
pub async fn deactivate(iam: &Iam, account: &str, owner: &Owner, serial: &str) -> Result<Device> {
    let owner = owner.column();
    let mut tx = iam.begin().await?;
    let dev = find(&mut *tx, account, serial, "").await?.filter(|d| d.owner.as_deref() == Some(owner)).ok_or_else(|| no_such_device(serial))?;
    if dev.kind == Kind::U2f {
        super::tags::remove_all(&mut tx, Taggable::MfaDevice, &dev.device_id).await?;
        sqlx::query("DELETE FROM mfa_devices WHERE device_id = $1").bind(&dev.device_id).execute(&mut *tx).await?;
    } else {
        sqlx::query("UPDATE mfa_devices SET owner = NULL, owner_slot = NULL, enabled_at = NULL, drift = 0 WHERE device_id = $1")
            .bind(&dev.device_id)
            .execute(&mut *tx)
            .await?;
    }
    // Console sessions signed in with this device end with it.
    super::console::credentials_changed(&mut tx, account, owner, Some(&dev.serial), None).await?;
    tx.commit().await?;
    Ok(dev)
}

pub async fn delete_virtual(iam: &Iam, account: &str, serial: &str) -> Result<()> {
    let mut tx = iam.begin().await?;
    let dev = find(&mut *tx, account, serial, "")
        .await?
        .filter(|d| d.kind == Kind::Virtual)
        .ok_or_else(|| AwsError::no_such_entity(format!("VirtualMFADevice with serial number {serial} doesn't exist.")))?;
    if dev.owner.is_some() {
        return Err(AwsError::delete_conflict("MFA Device is still in use. Deactivate it first."));
    }
    super::tags::remove_all(&mut tx, Taggable::MfaDevice, &dev.device_id).await?;
    sqlx::query("DELETE FROM mfa_devices WHERE device_id = $1").bind(&dev.device_id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// The devices assigned to `owner`, oldest first.
pub async fn list_for_owner(iam: &Iam, account: &str, owner: &Owner) -> Result<Vec<Device>> {
    list_for_column(iam, account, owner.column()).await
}

async fn list_for_column(iam: &Iam, account: &str, owner: &str) -> Result<Vec<Device>> {
    let rows = sqlx::query(&format!("SELECT {COLS} FROM mfa_devices WHERE account_id = $1 AND owner = $2 ORDER BY enabled_at, serial"))
        .bind(account)
        .bind(owner)
        .fetch_all(&iam.store.read)
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// The devices assigned to the user named `name` (case-insensitively); None when no such user.
pub async fn list_for_user_name(iam: &Iam, account: &str, name: &str) -> Result<Option<(UserRef, Vec<Device>)>> {
    let cols = D_COLS;
    let rows = sqlx::query(&format!(
        "SELECT {cols}, u.user_id, u.name, u.path FROM users u JOIN mfa_devices d ON d.account_id = u.account_id AND d.owner = u.user_id WHERE u.account_id = $1 AND u.name_lower = $2 ORDER BY d.enabled_at, d.serial"
    ))
    .bind(account)
    .bind(name.to_ascii_lowercase())
    .fetch_all(&iam.store.read)
    .await?;
    if let Some(r) = rows.first() {
        let u = UserRef { user_id: r.get(14), name: r.get(15), path: r.get(16) };
        return Ok(Some((u, rows.iter().map(from_row).collect())));
    }
    Ok(super::users::find(&iam.store.read, account, name).await?.map(|u| (u.as_ref(), vec![])))
}

/// Virtual devices with their owner's user record (None for unassigned or root-owned).
pub async fn list_virtual(iam: &Iam, account: &str, status: &str) -> Result<Vec<(Device, Option<super::users::User>)>> {
    let filter = match status {
        "Assigned" => " AND d.owner IS NOT NULL",
        "Unassigned" => " AND d.owner IS NULL",
        _ => "",
    };
    let cols = D_COLS;
    let rows = sqlx::query(&format!(
        "SELECT {cols}, u.user_id, u.name, u.path, u.created_at, u.password_last_used FROM mfa_devices d LEFT JOIN users u ON u.user_id = d.owner WHERE d.account_id = $1 AND d.kind = 'virtual'{filter} ORDER BY d.serial"
    ))
    .bind(account)
    .fetch_all(&iam.store.read)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let d = from_row(r);
            let u = r.get::<Option<String>, _>(14).map(|user_id| super::users::User {
                user_id,
                name: r.get(15),
                path: r.get(16),
                created_at: r.get(17),
                password_last_used: r.get(18),
                tags: vec![],
            });
            (d, u)
        })
        .collect())
}

pub fn no_such_virtual(serial: &str) -> AwsError {
    AwsError::no_such_entity(format!("VirtualMFADevice with serial number {serial} doesn't exist."))
}

pub async fn tag(iam: &Iam, account: &str, serial: &str, tags: &[(String, String)]) -> Result<()> {
    let mut tx = iam.begin().await?;
    let dev = find(&mut *tx, account, serial, "").await?.filter(|d| d.kind == Kind::Virtual).ok_or_else(|| no_such_virtual(serial))?;
    super::tags::put(&mut tx, Taggable::MfaDevice, &dev.device_id, tags).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn untag(iam: &Iam, account: &str, serial: &str, keys: &[String]) -> Result<()> {
    let mut tx = iam.begin().await?;
    let dev = find(&mut *tx, account, serial, "").await?.filter(|d| d.kind == Kind::Virtual).ok_or_else(|| no_such_virtual(serial))?;
    super::tags::remove(&mut tx, Taggable::MfaDevice, &dev.device_id, keys).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn tags(iam: &Iam, account: &str, serial: &str) -> Result<Vec<(String, String)>> {
    let dev = get(iam, account, serial).await?.filter(|d| d.kind == Kind::Virtual).ok_or_else(|| no_such_virtual(serial))?;
    super::tags::list(&iam.store.read, Taggable::MfaDevice, &dev.device_id).await
}

// ---- hardware inventory ----

/// Imports hardware tokens into the account's inventory, all or nothing.
pub async fn import_hardware(iam: &Iam, account: &str, tokens: &[otp::pskc::Token]) -> anyhow::Result<usize> {
    let mut seen = std::collections::HashSet::new();
    for t in tokens {
        if t.counter_based {
            anyhow::bail!("token {} is counter-based (HOTP); iamd accepts time-based (TOTP) tokens only; nothing was imported", t.serial);
        }
        if !seen.insert(t.serial.clone()) {
            anyhow::bail!("serial {} appears twice in the file; nothing was imported", t.serial);
        }
        if t.serial.len() < 9 || t.serial.len() > 256 || !t.serial.chars().all(|c| c.is_ascii_alphanumeric() || "_+=/:,.@-".contains(c)) {
            anyhow::bail!("serial '{}' must be 9 to 256 characters of [A-Za-z0-9_+=/:,.@-] (AWS's SerialNumber); nothing was imported", t.serial);
        }
        // An ARN is an app's or a security key's serial: a token named like one could pass for it
        // (`iamd:MultiFactorAuthType` reads the kind from the serial).
        if t.serial.to_ascii_lowercase().starts_with("arn:") {
            anyhow::bail!("serial '{}' looks like an ARN, which only apps and security keys have; nothing was imported", t.serial);
        }
    }
    let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE account_id = $1").bind(account).fetch_one(&iam.store.read).await?;
    if exists == 0 {
        anyhow::bail!("no account {account}: `iamd account list` shows the accounts");
    }
    let mut tx = iam.begin().await?;
    // Two tokens with one seed would be one token under two serials (a code from either opens both):
    // a seed already in the account's inventory, or twice in the file, is refused.
    let existing: Vec<(String, String, Vec<u8>)> =
        sqlx::query("SELECT device_id, serial, seed_sealed FROM mfa_devices WHERE account_id = $1 AND kind = 'hardware' AND seed_sealed IS NOT NULL")
            .bind(account)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
    let mut known: Vec<(String, Vec<u8>)> = Vec::with_capacity(existing.len() + tokens.len());
    for (device_id, serial, sealed) in existing {
        if let Some(seed) = iam.sealer.open(Purpose::MfaSeed, &seed_aad(account, &device_id), &sealed) {
            known.push((serial, seed));
        }
    }
    for t in tokens {
        use subtle::ConstantTimeEq;
        if let Some((other, _)) = known.iter().find(|(_, s)| s.len() == t.secret.len() && bool::from(s.ct_eq(&t.secret))) {
            anyhow::bail!("token {} has the same seed as token {other}; nothing was imported", t.serial);
        }
        known.push((t.serial.clone(), t.secret.clone()));
    }
    let now = iam.clock.now_ms();
    for t in tokens {
        let device_id = uuid::Uuid::new_v4().to_string();
        let sealed = iam.sealer.seal(Purpose::MfaSeed, &seed_aad(account, &device_id), &t.secret);
        let r = sqlx::query(
            "INSERT INTO mfa_devices (device_id, account_id, serial, kind, seed_sealed, digits, period, algorithm, created_at) VALUES ($1, $2, $3, 'hardware', $4, $5, $6, $7, $8)",
        )
        .bind(&device_id)
        .bind(account)
        .bind(&t.serial)
        .bind(sealed)
        .bind(t.params.digits as i64)
        .bind(t.params.period as i64)
        .bind(t.params.algorithm.name())
        .bind(now)
        .execute(&mut *tx)
        .await;
        match r {
            Err(e) if is_unique_violation(&e) => anyhow::bail!("serial {} is already in this account; nothing was imported", t.serial),
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
    }
    tx.commit().await?;
    Ok(tokens.len())
}

#[derive(Debug, serde::Serialize)]
pub struct HardwareRow {
    pub serial: String,
    pub state: &'static str,
    pub owner: Option<String>,
    pub digits: i64,
    pub period: i64,
    pub algorithm: String,
}

pub async fn list_hardware(iam: &Iam, account: &str) -> anyhow::Result<Vec<HardwareRow>> {
    let rows = sqlx::query(
        "SELECT d.serial, d.owner, u.name, d.digits, d.period, d.algorithm FROM mfa_devices d LEFT JOIN users u ON u.user_id = d.owner WHERE d.account_id = $1 AND d.kind = 'hardware' ORDER BY d.serial",
    )
    .bind(account)
    .fetch_all(&iam.store.read)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let owner: Option<String> = r.get(1);
            let name: Option<String> = r.get(2);
            HardwareRow {
                serial: r.get(0),
                state: if owner.is_some() { "Assigned" } else { "Unassigned" },
                owner: owner.map(|o| if o.is_empty() { "root".to_string() } else { name.unwrap_or(o) }),
                digits: r.get(3),
                period: r.get(4),
                algorithm: r.get(5),
            }
        })
        .collect())
}

// ---- FIDO2 security keys and passkeys ----

/// A credential the browser registered, as the console hands it over.
pub struct NewKey {
    /// The credential id (base64url), unique across all accounts.
    pub credential_id: String,
    /// The verifier's serialized credential (public key, counter …); sealed at rest.
    pub credential: Vec<u8>,
    pub counter: i64,
    /// What the attestation certified (GetMFADevice's Certifications), possibly empty.
    pub certifications: serde_json::Map<String, serde_json::Value>,
}

fn key_aad(account: &str, device_id: &str) -> Vec<u8> {
    format!("{account}/{device_id}/webauthn").into_bytes()
}

/// The ARN a security key gets: `arn:aws:iam::ACCOUNT:u2f/user/NAME/DEVICE-ID` (root: `u2f/root/…`),
/// the device name followed by a random suffix, as AWS names them.
pub fn u2f_serial(account: &str, user: Option<&str>, name: &str) -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    let suffix: String = otp::base32::encode(&b).chars().take(26).collect();
    match user {
        Some(u) => format!("arn:aws:iam::{account}:u2f/user/{u}/{name}-{suffix}"),
        None => format!("arn:aws:iam::{account}:u2f/root/{name}-{suffix}"),
    }
}

/// Assigns a registered security key to `owner` (one of the eight slots).
pub async fn add_u2f(iam: &Iam, account: &str, owner: &Owner, user_name: Option<&str>, name: &str, key: &NewKey) -> Result<Device> {
    let owner = owner.column();
    for _attempt in 0..4 {
        let device_id = uuid::Uuid::new_v4().to_string();
        let serial = u2f_serial(account, user_name, name);
        let now = iam.clock.now_ms();
        let sealed = iam.sealer.seal(Purpose::WebauthnCredential, &key_aad(account, &device_id), &key.credential);
        let mut tx = iam.begin().await?;
        if !super::is_root_column(owner) && !super::lock_parent(&mut tx, iam.store.backend, super::Parent::User, owner).await? {
            return Err(AwsError::no_such_entity("The user cannot be found."));
        }
        let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mfa_devices WHERE account_id = $1 AND owner = $2 AND kind = 'u2f' AND name = $3")
            .bind(account)
            .bind(owner)
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
        if taken > 0 {
            return Err(AwsError::entity_already_exists("MFADevice entity at the same path and name already exists."));
        }
        let slot = free_slot(&mut tx, account, owner).await?;
        let r = sqlx::query(
            "INSERT INTO mfa_devices (device_id, account_id, serial, kind, name, path, seed_sealed, owner, owner_slot, enabled_at, last_step, credential_id, certifications, created_at) VALUES ($1, $2, $3, 'u2f', $4, '/', $5, $6, $7, $8, $9, $10, $11, $8)",
        )
        .bind(&device_id)
        .bind(account)
        .bind(&serial)
        .bind(name)
        .bind(sealed)
        .bind(owner)
        .bind(slot)
        .bind(now)
        .bind(key.counter)
        .bind(&key.credential_id)
        .bind(serde_json::Value::Object(key.certifications.clone()).to_string())
        .execute(&mut *tx)
        .await;
        match r {
            Err(e) if is_unique_violation(&e) => {
                let registered: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mfa_devices WHERE credential_id = $1")
                    .bind(&key.credential_id)
                    .fetch_one(&iam.store.write)
                    .await?;
                if registered > 0 {
                    return Err(AwsError::entity_already_exists("This security key is already registered."));
                }
                continue;
            }
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        tx.commit().await?;
        return find(&iam.store.write, account, &serial, "").await?.ok_or_else(|| no_such_device(&serial));
    }
    Err(AwsError::concurrent_modification("The device was changed by another request; try again."))
}

/// GetMFADevice's Certifications of a security key.
pub async fn certifications(iam: &Iam, device_id: &str) -> Result<Vec<(String, String)>> {
    let text: Option<String> =
        sqlx::query_scalar("SELECT certifications FROM mfa_devices WHERE device_id = $1").bind(device_id).fetch_optional(&iam.store.read).await?.flatten();
    let map: serde_json::Map<String, serde_json::Value> = text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    Ok(map.into_iter().map(|(k, v)| (k, v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))).collect())
}

/// `owner`'s security keys with their unsealed credentials.
pub async fn u2f_keys(iam: &Iam, account: &str, owner: &Owner) -> Result<Vec<(Device, Vec<u8>)>> {
    u2f_keys_of(iam, account, owner.column()).await
}

async fn u2f_keys_of(iam: &Iam, account: &str, owner: &str) -> Result<Vec<(Device, Vec<u8>)>> {
    let list = list_for_column(iam, account, owner).await?;
    Ok(list
        .into_iter()
        .filter(|d| d.kind == Kind::U2f)
        .filter_map(|d| {
            let cred = iam.sealer.open(Purpose::WebauthnCredential, &key_aad(account, &d.device_id), d.seed_sealed.as_deref()?)?;
            Some((d, cred))
        })
        .collect())
}

/// What a verified assertion says: which device, its new signature counter and updated credential.
pub struct Asserted {
    pub device_id: String,
    pub counter: i64,
    pub credential: Vec<u8>,
}

/// Checks a WebAuthn assertion for one of `owner`'s security keys under the same per-principal limits
/// as codes (the attempt is refused unchecked while the principal waits). `verify` checks the
/// signature against the keys it is given. The counter only moves forward, by a conditional write:
/// a cloned key that presents an old counter, or two nodes accepting the same assertion, fail.
pub async fn check_u2f(
    iam: &Iam,
    account: &str,
    owner: &Owner,
    verify: impl FnOnce(&[(Device, Vec<u8>)]) -> Option<Asserted>,
) -> Result<std::result::Result<Device, Refusal>> {
    let owner = owner.column();
    let now = iam.clock.now_ms();
    let keys = u2f_keys_of(iam, account, owner).await?;
    let mut tx = iam.begin().await?;
    let Some(failures) = throttle_enter(iam, &mut tx, account, owner, now).await? else {
        return refuse(tx, Refusal::BadCode).await;
    };
    let accepted = match verify(&keys) {
        Some(a) => {
            let sealed = iam.sealer.seal(Purpose::WebauthnCredential, &key_aad(account, &a.device_id), &a.credential);
            let n = sqlx::query(
                "UPDATE mfa_devices SET last_step = $1, seed_sealed = $2, last_used_at = $3 WHERE device_id = $4 AND owner = $5 AND kind = 'u2f' AND (last_step < $1 OR ($1 = 0 AND last_step <= 0))",
            )
            .bind(a.counter)
            .bind(sealed)
            .bind(now)
            .bind(&a.device_id)
            .bind(owner)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                keys.into_iter().map(|(d, _)| d).find(|d| d.device_id == a.device_id)
            } else {
                None
            }
        }
        None => None,
    };
    match accepted {
        Some(dev) => {
            throttle_ok(&mut tx, account, owner, failures).await?;
            tx.commit().await?;
            Ok(Ok(dev))
        }
        None => {
            throttle_fail(&mut tx, account, owner, failures, now).await?;
            refuse(tx, Refusal::BadCode).await
        }
    }
}

/// Names a device assigned through the console (hardware tokens arrive without a name).
pub async fn set_name(iam: &Iam, account: &str, owner: &Owner, serial: &str, name: &str) -> Result<()> {
    let owner = owner.column();
    sqlx::query("UPDATE mfa_devices SET name = $1 WHERE account_id = $2 AND serial = $3 AND owner = $4 AND name IS NULL")
        .bind(name)
        .bind(account)
        .bind(serial)
        .bind(owner)
        .execute(&iam.store.write)
        .await?;
    Ok(())
}

/// The seed of a virtual device that is not yet assigned, for showing it again while it is being
/// assigned (once assigned, a seed never leaves the server).
pub async fn unassigned_seed(iam: &Iam, account: &str, device_id: &str) -> Result<Option<String>> {
    let row = sqlx::query(&format!("SELECT {COLS} FROM mfa_devices WHERE account_id = $1 AND device_id = $2"))
        .bind(account)
        .bind(device_id)
        .fetch_optional(&iam.store.read)
        .await?;
    match row.as_ref().map(from_row) {
        Some(d) if d.kind == Kind::Virtual && d.owner.is_none() => Ok(Some(otp::base32::encode(&d.seed(iam, account)?))),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_forgotten_an_hour_after_the_last() {
        assert_eq!(decayed(7, 1_000, 1_000 + FAILURES_DECAY_MS), 7);
        assert_eq!(decayed(7, 1_000, 1_001 + FAILURES_DECAY_MS), 0);
    }

    #[test]
    fn lock_grows_after_five_failures_and_is_capped() {
        assert_eq!((1..=4).map(lock_seconds).collect::<Vec<_>>(), vec![0, 0, 0, 0]);
        assert_eq!(lock_seconds(5), 1);
        assert_eq!(lock_seconds(6), 2);
        assert_eq!(lock_seconds(10), 32);
        assert_eq!(lock_seconds(15), 900);
        assert_eq!(lock_seconds(1000), 900);
    }

    #[test]
    fn a_serial_s_kind_is_read_from_its_shape_not_from_what_it_contains() {
        assert_eq!(Kind::of_serial("arn:aws:iam::123456789012:u2f/user/bob/key-1-ABCD"), Kind::U2f);
        assert_eq!(Kind::of_serial("arn:aws:iam::123456789012:u2f/root/key-ABCD"), Kind::U2f);
        assert_eq!(Kind::of_serial("arn:aws:iam::123456789012:mfa/phone"), Kind::Virtual);
        // A virtual device's path may hold ':u2f/'; it is still an app.
        assert_eq!(Kind::of_serial("arn:aws:iam::123456789012:mfa/:u2f/x"), Kind::Virtual);
        assert_eq!(Kind::of_serial("arn:aws:iam::123456789012:mfa/team/u2f/x"), Kind::Virtual);
        assert_eq!(Kind::of_serial("GAHT12345678"), Kind::Hardware);
        assert_eq!(Kind::of_serial("u2f/GAHT12345678"), Kind::Hardware);
        assert_eq!(Kind::U2f.condition_value(), "fido2");
        assert_eq!(Kind::Virtual.condition_value(), "totp");
        assert_eq!(Kind::Hardware.condition_value(), "hardware-totp");
    }
}

#[cfg(test)]
mod column_tests {
    #[test]
    fn joined_columns_are_the_same_columns() {
        let prefixed: Vec<String> = super::COLS.split(", ").map(|c| format!("d.{c}")).collect();
        assert_eq!(prefixed.join(", "), super::D_COLS);
    }
}
