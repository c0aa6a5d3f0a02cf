//! The database: embedded SQLite (WAL) by default, PostgreSQL when the URL says `postgres://`.
//!
//! Both run the same SQL through sqlx's `Any` driver (`$1` placeholders work on both); each backend has
//! its own migrations. SQLite gets one writer connection, so write transactions never fight over the
//! file lock, and a few reader connections. PostgreSQL shares one pool; invariants hold there through
//! constraints and conditional writes, never through in-process state.

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Store {
    pub read: AnyPool,
    pub write: AnyPool,
    pub backend: Backend,
    /// SQLite only: a connection for the hottest write (accepting an MFA code), owned by one thread
    /// that runs each job whole, so a check is one hop instead of one per statement.
    pub hot: Option<HotWriter>,
}

/// What a job leaves to do once its batch has committed (or failed to): hand over its result.
type Deliver = Box<dyn FnOnce(Option<&rusqlite::Error>) + Send>;
type Job = Box<dyn FnOnce(&mut rusqlite::Connection) -> Deliver + Send>;

/// Most jobs one transaction takes.
const MAX_BATCH: usize = 256;

/// A thread that owns a rusqlite connection and runs jobs on it with group commit: the jobs waiting
/// when it is free run one after another in ONE transaction, each in its own savepoint, and none
/// gets its result before that transaction has committed. Under load a commit (and the pages it
/// writes to the WAL) is shared by many requests; alone, a job commits at once.
#[derive(Clone, Debug)]
pub struct HotWriter {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl HotWriter {
    fn start(mut conn: rusqlite::Connection) -> HotWriter {
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("iamd-sqlite-hot".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(j) => batch.push(j),
                            Err(_) => break,
                        }
                    }
                    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
                        // Every job of the batch still runs (in autocommit), so none is lost.
                        tracing::warn!(error = %e, "BEGIN on the SQLite writer failed");
                    }
                    let deliveries: Vec<Deliver> = batch.into_iter().map(|job| job(&mut conn)).collect();
                    let committed = if conn.is_autocommit() { Ok(()) } else { conn.execute_batch("COMMIT") };
                    if committed.is_err() {
                        let _ = conn.execute_batch("ROLLBACK");
                    }
                    for d in deliveries {
                        d(committed.as_ref().err());
                    }
                }
            })
            .expect("spawning the SQLite writer thread");
        HotWriter { jobs }
    }

    /// Runs `f` on the writer thread inside the current batch's transaction, in a savepoint that is
    /// rolled back when `f` fails; returns its result once the batch has committed.
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce(&rusqlite::Connection) -> anyhow::Result<T> + Send + 'static) -> anyhow::Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |c: &mut rusqlite::Connection| {
                let r = (|| -> anyhow::Result<T> {
                    let sp = c.savepoint()?;
                    let v = f(&sp)?;
                    sp.commit()?;
                    Ok(v)
                })();
                Box::new(move |commit_error: Option<&rusqlite::Error>| {
                    let r = match commit_error {
                        Some(e) => Err(anyhow::anyhow!("committing on SQLite: {e}")),
                        None => r,
                    };
                    let _ = tx.send(r);
                }) as Deliver
            }))
            .map_err(|_| anyhow::anyhow!("the SQLite writer thread has stopped"))?;
        rx.await.map_err(|_| anyhow::anyhow!("the SQLite writer thread dropped a job"))?
    }
}

pub const SQLITE_FILE: &str = "iamd.db";

impl Store {
    /// Opens (and migrates) the database: `database_url` if given, else `DATA_DIR/iamd.db`.
    pub async fn open(data_dir: &Path, database_url: Option<&str>) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let store = match database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                let opts = AnyConnectOptions::from_str(url).context("parsing the database URL")?;
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .min_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(opts)
                    .await
                    .with_context(|| format!("connecting to PostgreSQL at {}", redact(url)))?;
                Store { read: pool.clone(), write: pool, backend: Backend::Postgres, hot: None }
            }
            Some(url) if url.starts_with("sqlite:") => Self::open_sqlite(url).await?,
            Some(url) => anyhow::bail!("unsupported database URL {}: use postgres://… or sqlite:…", redact(url)),
            None => {
                let path = data_dir.join(SQLITE_FILE);
                Self::open_sqlite(&format!("sqlite://{}?mode=rwc", path.display())).await?
            }
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn open_sqlite(url: &str) -> anyhow::Result<Store> {
        let opts = AnyConnectOptions::from_str(url).context("parsing the SQLite URL")?;
        let write = AnyPoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .after_connect(sqlite_pragmas)
            .connect_with(opts.clone())
            .await
            .with_context(|| format!("opening {url}"))?;
        let read = AnyPoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .after_connect(sqlite_pragmas)
            .connect_with(opts)
            .await
            .with_context(|| format!("opening {url}"))?;
        let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
        let path = path.split('?').next().unwrap_or(path);
        let hot = rusqlite::Connection::open(path).with_context(|| format!("opening {path}"))?;
        hot.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {WAL_LIMIT_BYTES};"
        ))?;
        hot.busy_timeout(Duration::from_secs(10))?;
        hot.set_prepared_statement_cache_capacity(32);
        // Checkpoints (which fsync) run on their own connection and thread, not inside a writer's
        // commit: writers never wait for them, and the WAL stays small.
        //
        // The WAL stays bounded under sustained load: a passive checkpoint every half second copies
        // what no reader still needs; once the file passes WAL_TRUNCATE_BYTES, a TRUNCATE checkpoint
        // (it waits at most a second for readers, holding writers meanwhile) empties it, and
        // journal_size_limit trims what a restart leaves.
        let checkpointer = rusqlite::Connection::open(path).with_context(|| format!("opening {path}"))?;
        checkpointer.execute_batch(&format!("PRAGMA journal_size_limit = {WAL_LIMIT_BYTES};"))?;
        let wal_path = format!("{path}-wal");
        std::thread::Builder::new()
            .name("iamd-sqlite-checkpoint".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_millis(500));
                let big = std::fs::metadata(&wal_path).map(|m| m.len() > WAL_TRUNCATE_BYTES).unwrap_or(false);
                let (mode, wait) = if big { ("TRUNCATE", Duration::from_secs(1)) } else { ("PASSIVE", Duration::from_secs(10)) };
                let _ = checkpointer.busy_timeout(wait);
                match checkpointer.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| r.get::<_, i64>(0)) {
                    Ok(1) if big => tracing::debug!("the WAL could not be truncated yet: a reader holds an old snapshot"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, mode, "WAL checkpoint"),
                }
            })
            .context("starting the checkpoint thread")?;
        Ok(Store { read, write, backend: Backend::Sqlite, hot: Some(HotWriter::start(hot)) })
    }

    /// A write transaction. On SQLite it takes the write lock at once (BEGIN IMMEDIATE): a deferred
    /// transaction that reads first cannot upgrade once the other writer connection (the group
    /// committing writer thread) has committed since its read, and would fail instead of waiting.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.write.begin().await,
        }
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&self.write).await,
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&self.write).await,
        }
        .context("migrating the database")
    }
}

/// A URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The WAL's size a checkpoint trims it to (`journal_size_limit`).
pub const WAL_LIMIT_BYTES: u64 = 64 * 1024 * 1024;
/// Past this size the checkpoint thread empties the WAL (a TRUNCATE checkpoint).
pub const WAL_TRUNCATE_BYTES: u64 = 32 * 1024 * 1024;

fn sqlite_pragmas(conn: &mut sqlx::AnyConnection, _meta: sqlx::pool::PoolConnectionMetadata) -> futures_util::future::BoxFuture<'_, Result<(), sqlx::Error>> {
    Box::pin(async move {
        let pragmas = format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {WAL_LIMIT_BYTES};"
        );
        conn.execute(pragmas.as_str()).await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn redact_hides_the_password_only() {
        assert_eq!(super::redact("postgres://iamd:s3cret@localhost:5432/iamd"), "postgres://iamd:***@localhost:5432/iamd");
        assert_eq!(super::redact("postgres://localhost/iamd"), "postgres://localhost/iamd");
    }
}
