//! Settlement-layer migrations (schema 5): one record per migration, keyed by its id (1, 2, …).
//!
//! The last record says where the chain settles: a completed migration's target, or (while one
//! runs) its source. A migration's record is rewritten at every phase change in the same
//! durable transaction, so a restarted node resumes the migration where it stopped.

use alloy::{primitives::B256, sol, sol_types::SolValue};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use crate::{Store, StoreError, StoreResult, StoreWriter};

pub(crate) const MIGRATIONS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("migrations");

sol! {
    /// One switch of the settlement layer, as persisted.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct MigrationRecord {
        /// 1, 2, … in the order they were started.
        uint64 id;
        /// The settlement layer's chain id it leaves.
        uint64 fromLayer;
        /// The settlement layer's chain id it goes to.
        uint64 toLayer;
        /// A [`MigrationPhase`] as a number.
        uint8 phase;
        /// The last batch settled on `fromLayer`, once draining is done (the new layer goes on
        /// from the next one).
        uint64 drainedThrough;
        /// Bit set of the migration's one-shot steps already taken (see the settlement crate).
        uint8 stepsDone;
        /// The migration transaction last sent and not yet seen mined, if any.
        bytes32 pendingTx;
        /// The `stepsDone` bits that transaction completes once it succeeds.
        uint8 pendingSteps;
        /// Unix milliseconds: started, entered its current phase, finished (0 while running).
        uint64 startedAtMs;
        uint64 phaseStartedAtMs;
        uint64 finishedAtMs;
        /// The chain's head when it started and when it finished.
        uint64 headAtStart;
        uint64 headAtFinish;
        /// What started it (`rpc`, `start flag`).
        string trigger;
    }
}

/// Where a migration is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MigrationPhase {
    /// No batch is sealed for the old layer any more; the sealed ones are being settled there.
    Draining,
    /// Everything is settled on the old layer: the Bridgehub migration is under way.
    Migrating,
    /// The chain settles on the new layer.
    Completed,
    /// Cancelled while draining: the chain stays where it was.
    Cancelled,
}

impl MigrationPhase {
    /// Its persisted number.
    pub const fn as_u8(self) -> u8 {
        match self {
            Self::Draining => 0,
            Self::Migrating => 1,
            Self::Completed => 2,
            Self::Cancelled => 3,
        }
    }

    /// The phase with persisted number `value`.
    pub const fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(Self::Draining),
            1 => Some(Self::Migrating),
            2 => Some(Self::Completed),
            3 => Some(Self::Cancelled),
            _ => None,
        }
    }

    /// Its name in statuses and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Draining => "draining",
            Self::Migrating => "migrating",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Draining or migrating.
    pub const fn is_running(self) -> bool {
        matches!(self, Self::Draining | Self::Migrating)
    }
}

impl MigrationRecord {
    /// Its phase; a number no build wrote reads as an error.
    pub fn migration_phase(&self) -> StoreResult<MigrationPhase> {
        MigrationPhase::from_u8(self.phase).ok_or_else(|| StoreError::Corrupt {
            table: "migrations",
            key: self.id.to_string(),
            reason: format!("unknown phase {}", self.phase),
        })
    }

    /// Sets its phase.
    pub fn set_phase(&mut self, phase: MigrationPhase) {
        self.phase = phase.as_u8();
    }

    /// The migration transaction last sent, if one is pending.
    pub fn pending_tx(&self) -> Option<B256> {
        (!self.pendingTx.is_zero()).then_some(self.pendingTx)
    }
}

impl Store {
    /// The last migration started, if any.
    pub fn last_migration(&self) -> StoreResult<Option<MigrationRecord>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(MIGRATIONS)?;
        let Some((key, value)) = table.last()? else { return Ok(None) };
        decode_record(key.value(), value.value()).map(Some)
    }

    /// Every migration, oldest first.
    pub fn migrations(&self) -> StoreResult<Vec<MigrationRecord>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(MIGRATIONS)?;
        table
            .iter()?
            .map(|entry| {
                let (key, value) = entry?;
                decode_record(key.value(), value.value())
            })
            .collect()
    }

    /// The settlement layer the last completed migration went to, if any migration completed.
    pub fn migrated_layer(&self) -> StoreResult<Option<u64>> {
        for record in self.migrations()?.into_iter().rev() {
            if record.migration_phase()? == MigrationPhase::Completed {
                return Ok(Some(record.toLayer));
            }
        }
        Ok(None)
    }
}

impl StoreWriter<'_> {
    /// Stores (or replaces) a migration's record.
    pub fn put_migration(&mut self, record: &MigrationRecord) -> StoreResult<()> {
        let mut table = self.tx.open_table(MIGRATIONS)?;
        table.insert(record.id, record.abi_encode().as_slice())?;
        Ok(())
    }

    /// The last migration started, as stored in this transaction.
    pub fn last_migration(&self) -> StoreResult<Option<MigrationRecord>> {
        let table = self.tx.open_table(MIGRATIONS)?;
        let Some((key, value)) = table.last()? else { return Ok(None) };
        decode_record(key.value(), value.value()).map(Some)
    }
}

fn decode_record(id: u64, bytes: &[u8]) -> StoreResult<MigrationRecord> {
    MigrationRecord::abi_decode(bytes).map_err(|e| StoreError::Corrupt {
        table: "migrations",
        key: id.to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_round_trip_and_the_last_completed_one_names_the_layer() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.last_migration().unwrap(), None);
        assert_eq!(store.migrated_layer().unwrap(), None);
        let mut first = MigrationRecord {
            id: 1,
            fromLayer: 31337,
            toLayer: 506,
            trigger: "rpc".into(),
            ..Default::default()
        };
        first.set_phase(MigrationPhase::Completed);
        let mut second = MigrationRecord { id: 2, fromLayer: 506, toLayer: 31337, ..first.clone() };
        second.set_phase(MigrationPhase::Draining);
        second.pendingTx = B256::with_last_byte(7);
        store
            .write(|tx| {
                tx.put_migration(&first)?;
                tx.put_migration(&second)
            })
            .unwrap();
        // A running migration does not move the layer; the completed one before it does.
        assert_eq!(store.migrated_layer().unwrap(), Some(506));
        let last = store.last_migration().unwrap().unwrap();
        assert_eq!(last, second);
        assert_eq!(last.migration_phase().unwrap(), MigrationPhase::Draining);
        assert_eq!(last.pending_tx(), Some(B256::with_last_byte(7)));
        second.set_phase(MigrationPhase::Cancelled);
        store.write(|tx| tx.put_migration(&second)).unwrap();
        assert_eq!(store.migrations().unwrap().len(), 2);
        assert_eq!(store.migrated_layer().unwrap(), Some(506));
        // Reopened, it is all still there.
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.last_migration().unwrap().unwrap().phase, 3);
    }

    #[test]
    fn an_unknown_phase_is_reported_as_corrupt() {
        let record = MigrationRecord { id: 9, phase: 42, ..Default::default() };
        let err = record.migration_phase().unwrap_err().to_string();
        assert!(err.contains("migrations") && err.contains("unknown phase 42"), "{err}");
    }
}
