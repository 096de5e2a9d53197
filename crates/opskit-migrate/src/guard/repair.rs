//! The repair: what an operator verified about a migration that failed outside a
//! transaction, recorded under the migration lock.

use crate::classify::classify;
use crate::db::{self, GuardConnection, ToApply};
use crate::error::GuardError;
use crate::status::SchemaStatus;

use super::{Guard, TARGET};

/// What an operator found after a migration failed outside a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// They finished it by hand: it counts as applied.
    Applied,
    /// They undid what it had done: it counts as not applied and runs again.
    NotApplied,
}

impl Repair {
    /// `applied` or `not-applied`, as the command line takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::NotApplied => "not-applied",
        }
    }
}

impl Guard {
    /// Records what an operator verified about a partly applied migration (one that
    /// failed outside a transaction, or that sqlx marked dirty), under the migration
    /// lock: [`Repair::Applied`] when they finished it by hand, [`Repair::NotApplied`]
    /// when they undid it (the next `apply` runs it again). The history table keeps
    /// the failure and the repair. Returns the status after the repair.
    ///
    /// # Errors
    ///
    /// [`GuardError::Repair`] when the migration is not partly applied, or this
    /// binary does not have it; [`GuardError::Unreachable`];
    /// [`GuardError::LockTimeout`].
    pub async fn repair(
        &self,
        conn: &mut impl GuardConnection,
        version: i64,
        repair: Repair,
    ) -> Result<SchemaStatus, GuardError> {
        let dialect = conn.dialect();
        let tables = self.tables()?;
        let lease = crate::db::Lease::new(self.lock_lease, &tables);
        conn.lock(self.lock_timeout, &lease, &tables).await?;
        let result = async {
            let (applied, records) = db::read(&mut *conn, &tables, &self.known()).await?;
            let status = SchemaStatus::compute(&self.known(), &applied, &records);
            let refuse = |message: String| GuardError::Repair { version, message };
            let Some(failed) = status.failed.iter().find(|f| f.migration.version == version) else {
                return Err(refuse(format!(
                    "it is not partly applied (the schema is {}); only a migration that failed outside a transaction needs a repair",
                    status.state.as_str()
                )));
            };
            let Some(m) = self.migrations.iter().find(|m| m.version == version) else {
                return Err(refuse(
                    "these migrations do not include it; run the repair with the release that has the file".into(),
                ));
            };
            let note = format!(
                "an operator recorded it as {} after a partial failure{}",
                repair.as_str(),
                failed.error.as_deref().map(|e| format!(" (error: {e})")).unwrap_or_default()
            );
            let migration = ToApply {
                tables: &tables,
                version,
                description: &m.description,
                sql: &m.sql,
                checksum: &m.checksum,
                no_tx: m.no_tx,
                classification: classify(m.sql.as_str(), dialect),
            };
            db::ensure_tables(&mut *conn, &tables).await?;
            conn.repair(&migration, repair == Repair::Applied, &note)
                .await?;
            tracing::warn!(
                target: TARGET,
                event = "schema.repaired",
                version,
                description = %m.description,
                recorded_as = repair.as_str(),
                "{note}"
            );
            let (applied, records) = db::read(&mut *conn, &tables, &self.known()).await?;
            Ok(SchemaStatus::compute(&self.known(), &applied, &records))
        }
        .await;
        let unlocked = conn.unlock(&lease).await;
        let status = result?;
        unlocked?;
        Ok(status)
    }
}
