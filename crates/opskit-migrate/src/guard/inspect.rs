//! Reading: the schema's status, and the refusal of a schema this binary cannot
//! run against. Nothing here writes.

use crate::db::{self, GuardConnection, StatusConnection};
use crate::error::GuardError;
use crate::status::{SchemaStatus, State};

use super::Guard;

impl Guard {
    /// Compares the binary's migrations with the database, without writing.
    ///
    /// # Errors
    ///
    /// [`GuardError::Unreachable`] when the database cannot be read;
    /// [`GuardError::TableName`] for a migrations table name the guard cannot use;
    /// [`GuardError::TableElsewhere`] when its migrations table is missing and
    /// another records its migrations.
    pub async fn status(
        &self,
        conn: &mut impl StatusConnection,
    ) -> Result<SchemaStatus, GuardError> {
        crate::source::refuse_bad_versions(&self.migrations)?;
        let tables = self.tables()?;
        let (applied, records) = db::read(conn, &tables, &self.known()).await?;
        Ok(SchemaStatus::compute(&self.known(), &applied, &records))
    }

    /// Reads the status and refuses a schema this binary cannot run against. Pending
    /// migrations are not a refusal: the service starts, not ready.
    ///
    /// # Errors
    ///
    /// [`GuardError::Incompatible`] for a contract or unrecorded newer migration, a
    /// modified, missing or failed one; [`GuardError::Unreachable`].
    pub async fn verify(
        &self,
        conn: &mut impl GuardConnection,
    ) -> Result<SchemaStatus, GuardError> {
        let status = self.status(conn).await?;
        refuse_incompatible(status, true)
    }
}

/// `Ok` for a schema this binary can run against (pending allowed when
/// `pending_ok`), else the refusal.
pub(super) fn refuse_incompatible(
    status: SchemaStatus,
    pending_ok: bool,
) -> Result<SchemaStatus, GuardError> {
    match status.state {
        State::UpToDate | State::AheadCompatible | State::ContractPending => Ok(status),
        State::Pending if pending_ok => Ok(status),
        _ => Err(GuardError::Incompatible(Box::new(status))),
    }
}
