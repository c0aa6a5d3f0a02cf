//! The write path as a type: [`Tx`] is the only transaction the domain writes through, and its
//! ordinary [`Tx::commit`] inserts the current call's record before committing, so a change and its
//! record commit or roll back together. The deliberate exceptions say so by name:
//! [`Tx::commit_unrecorded`] for bookkeeping that is not a call of its own (a console session's
//! WebAuthn ceremony taken once, the sign-in throttle's counters).

use super::{mark_written, pending_line};
use crate::error::AwsError;
use crate::store::Store;
use sqlx::{Any, AnyConnection, Transaction};

/// A write transaction. Dropped without a commit, it rolls back (recording nothing).
pub struct Tx(Transaction<'static, Any>);

impl Tx {
    /// Begins a write transaction (on SQLite `BEGIN IMMEDIATE`: the write lock is taken now).
    pub async fn begin(store: &Store) -> Result<Tx, sqlx::Error> {
        Ok(Tx(store.begin_write().await?))
    }

    async fn commit_with(mut self, error: Option<&AwsError>) -> Result<(), sqlx::Error> {
        match pending_line(error) {
            Some((account, ms, line, summary)) => {
                super::index::insert_one(&mut self.0, &account, ms, &line, &summary).await?;
                self.0.commit().await?;
                mark_written();
            }
            None => self.0.commit().await?,
        }
        Ok(())
    }

    /// Commits the change together with the current call's record (a success).
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.commit_with(None).await
    }

    /// Commits what a refused call changed (a failure counter) together with its record, and returns
    /// the refusal.
    pub async fn commit_refusal<T>(self, e: AwsError) -> crate::error::Result<T> {
        self.commit_with(Some(&e)).await?;
        Err(e)
    }

    /// Commits without writing the current call's record: for bookkeeping whose call is recorded
    /// elsewhere or is no call at all. Each use says why.
    pub async fn commit_unrecorded(self) -> Result<(), sqlx::Error> {
        self.0.commit().await
    }

    /// Rolls back: nothing changed and nothing is recorded.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.0.rollback().await
    }
}

impl std::ops::Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.0
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.0
    }
}

/// One statement in its own transaction, committed with the current call's record when it changed
/// a row (and rolled back, recording nothing, when it changed none).
pub async fn execute_one<'q>(store: &Store, q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>) -> Result<sqlx::any::AnyQueryResult, sqlx::Error> {
    let mut tx = Tx::begin(store).await?;
    let r = q.execute(&mut *tx).await?;
    if r.rows_affected() > 0 {
        tx.commit().await?;
    }
    Ok(r)
}
