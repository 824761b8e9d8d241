//! The settlement ExEx's store: a redb database under `<datadir>/settlement/`.
//!
//! Typed tables, one write transaction per ExEx step ([`Store::write`]), and a schema version
//! checked on open: a database written by a newer or unknown schema is refused with an error
//! that names both versions. An ExEx persists its head in the same transaction as the data the
//! head covers ([`StoreWriter::set_head`]), so after a crash the two always agree. redb commits
//! are durable (fsynced) before [`Store::write`] returns.
//!
//! # Examples
//! ```no_run
//! use alloy::eips::BlockNumHash;
//! use gateway_store::{BlockRecord, Store};
//!
//! let store = Store::open("/tmp/datadir")?;
//! let block = BlockRecord { number: 1, hash: [1; 32].into(), ..Default::default() };
//! store.write(|tx| {
//!     tx.put_block(&block)?;
//!     tx.set_head("settlement", BlockNumHash::new(block.number, block.hash))
//! })?;
//! # Ok::<_, gateway_store::StoreError>(())
//! ```
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod gateway;
mod halt;
mod interop;
mod migration;
mod records;

pub use gateway::{
    ChainBatchInfo, ChainExecutorSet, ChainRef, CommittedChainBatch, ExecutedChainBatch,
    GatewayBatchContents, GatewayBlockEvents, GatewayChain, ProvedChainBatch,
};
pub use halt::Halt;
pub use interop::{MirrorProgress, MirroredChain, MirroredLeaf};
pub use migration::{MigrationPhase, MigrationRecord};
pub use records::{BatchRecord, BatchStage, BlockRecord, ImportedRoot, InFlightTx};

/// What one [`StoreWriter::prune_settled`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Blocks (with their pubdata).
    pub blocks: u64,
    /// Batch records.
    pub batches: u64,
}

use std::{
    ops::RangeInclusive,
    path::{Path, PathBuf},
};

use alloy::{eips::BlockNumHash, primitives::B256};
use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    WriteTransaction,
};
use tracing::debug;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 7;

/// Older schema versions this build upgrades in place when it opens them (each upgrade only
/// adds tables; 7 added the interop mirror's).
const UPGRADABLE_FROM: &[u64] = &[2, 3, 4, 5, 6];

/// Schema 6 changed the encoding of the gateway-mode tables (what L1 now checks of each carried
/// chain batch): a store of an older schema upgrades only while those tables are empty (every
/// chain node's store, and a Gateway node's that has not seen a block yet).
const GATEWAY_ENCODING_CHANGED_AT: u64 = 6;

/// The store's file name under `<datadir>/settlement/`.
pub const STORE_FILE: &str = "store.redb";

/// The store's page cache. redb's default (1 GiB) lets a node's memory grow with its history;
/// the pipeline reads mostly what it wrote last (recent blocks and batches), which fits in far
/// less.
const CACHE_BYTES: usize = 8 * 1024 * 1024;

const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
const EXEX_HEADS: TableDefinition<'_, &str, (u64, [u8; 32])> = TableDefinition::new("exex_heads");
const BLOCKS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("blocks");
const BATCHES: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("batches");
const SENDER: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("sender");
/// Schema 3: the bytes each block publishes under a rollup DA scheme, until its batch executes.
const PUBDATA: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("block_pubdata");
const IN_FLIGHT_KEY: &str = "in_flight";

/// Whose signed transaction in flight a record is: each signer has its own nonces on each
/// settlement layer, so each has its own slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InFlightSlot {
    /// The sender's (the operator's commit, prove, execute and settle transactions).
    Sender,
    /// A migration step's, sent by `signer` on settlement layer `layer`.
    Migration {
        /// The settlement layer's chain id.
        layer: u64,
        /// The signing account.
        signer: alloy::primitives::Address,
    },
    /// The inbox relayer's `processOp` on the chain itself, sent by `signer`.
    Relay {
        /// The chain's id.
        chain: u64,
        /// The signing account.
        signer: alloy::primitives::Address,
    },
}

impl InFlightSlot {
    fn key(&self) -> String {
        match self {
            Self::Sender => IN_FLIGHT_KEY.to_string(),
            Self::Migration { layer, signer } => format!("migration_in_flight/{layer}/{signer}"),
            Self::Relay { chain, signer } => format!("relay_in_flight/{chain}/{signer}"),
        }
    }
}
const SCHEMA_KEY: &str = "schema_version";

/// The result type of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// What can go wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database was written by another schema.
    #[error(
        "store {path} has schema version {found}, this build supports version {supported}; \
         run the build that wrote it or move the directory aside"
    )]
    SchemaMismatch {
        /// The database file.
        path: PathBuf,
        /// The version in the file.
        found: u64,
        /// The version this build supports.
        supported: u32,
    },
    /// A gateway-mode store written before schema 6 holds records this build cannot read.
    #[error(
        "store {path} has schema version {found} and holds {blocks} Gateway block(s) in an \
         encoding schema {supported} changed (L1 now checks each carried chain batch's stored \
         info); move the directory aside and let the Gateway's node ingest its blocks again"
    )]
    GatewayEncodingChanged {
        /// The database file.
        path: PathBuf,
        /// The version in the file.
        found: u64,
        /// The version this build supports.
        supported: u32,
        /// How many Gateway blocks' events it holds.
        blocks: u64,
    },
    /// A record could not be decoded.
    #[error("corrupt {table} record {key}: {reason}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The record's key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// Creating the store's directory failed.
    #[error("create {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// redb failed.
    #[error("redb: {0}")]
    Redb(#[from] redb::Error),
}

macro_rules! redb_from {
    ($($ty:ty),*) => {$(
        impl From<$ty> for StoreError {
            fn from(err: $ty) -> Self {
                Self::Redb(err.into())
            }
        }
    )*};
}
redb_from!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// The store. Cheap to share behind an `Arc`; redb serializes writers.
#[derive(Debug)]
pub struct Store {
    db: Database,
    path: PathBuf,
}

impl Store {
    /// Opens (or creates) the store under `<datadir>/settlement/`.
    pub fn open(datadir: impl AsRef<Path>) -> StoreResult<Self> {
        let dir = datadir.as_ref().join("settlement");
        std::fs::create_dir_all(&dir)
            .map_err(|source| StoreError::Io { path: dir.clone(), source })?;
        let path = dir.join(STORE_FILE);
        let db = Database::builder().set_cache_size(CACHE_BYTES).create(&path)?;
        let store = Self { db, path };
        store.check_schema()?;
        debug!(target: "store", path = %store.path.display(), "opened store");
        Ok(store)
    }

    fn check_schema(&self) -> StoreResult<()> {
        let tx = self.db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            let found = meta.get(SCHEMA_KEY)?.map(|v| v.value());
            match found {
                None => {
                    meta.insert(SCHEMA_KEY, u64::from(SCHEMA_VERSION))?;
                }
                Some(found) if found == u64::from(SCHEMA_VERSION) => {}
                Some(found) if UPGRADABLE_FROM.contains(&found) => {
                    if (4..GATEWAY_ENCODING_CHANGED_AT).contains(&found) {
                        let events = tx.open_table(gateway::BLOCK_EVENTS)?.len()?;
                        let others = tx.open_table(gateway::CHAIN_PROOFS)?.len()?
                            + tx.open_table(gateway::BATCH_CONTENTS)?.len()?;
                        if events + others > 0 {
                            return Err(StoreError::GatewayEncodingChanged {
                                path: self.path.clone(),
                                found,
                                supported: SCHEMA_VERSION,
                                blocks: events,
                            });
                        }
                    }
                    meta.insert(SCHEMA_KEY, u64::from(SCHEMA_VERSION))?;
                    tracing::info!(
                        target: "store",
                        path = %self.path.display(),
                        from = found,
                        to = SCHEMA_VERSION,
                        "upgraded the store's schema"
                    );
                }
                Some(found) => {
                    return Err(StoreError::SchemaMismatch {
                        path: self.path.clone(),
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
            }
            tx.open_table(EXEX_HEADS)?;
            tx.open_table(BLOCKS)?;
            tx.open_table(BATCHES)?;
            tx.open_table(SENDER)?;
            tx.open_table(PUBDATA)?;
            tx.open_table(gateway::BLOCK_EVENTS)?;
            tx.open_table(gateway::CHAIN_PROOFS)?;
            tx.open_table(gateway::CHAINS)?;
            tx.open_table(gateway::BATCH_CONTENTS)?;
            tx.open_table(gateway::HELD_BACK)?;
            tx.open_table(gateway::CHAIN_COMMITS)?;
            tx.open_table(migration::MIGRATIONS)?;
            tx.open_table(gateway::L1_CHECKPOINT)?;
            tx.open_table(interop::PROGRESS)?;
            tx.open_table(interop::CHAINS)?;
            tx.open_table(interop::LEAVES)?;
            tx.open_table(interop::BATCH_INDEX)?;
            tx.open_table(interop::ROOTS)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one write transaction and commits it durably; nothing is written if `f`
    /// fails.
    pub fn write<T>(
        &self,
        f: impl FnOnce(&mut StoreWriter<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let tx = self.db.begin_write()?;
        let value = {
            let mut writer = StoreWriter { tx: &tx };
            f(&mut writer)?
        };
        tx.commit()?;
        Ok(value)
    }

    /// The head ExEx `exex_id` persisted, if any.
    pub fn head(&self, exex_id: &str) -> StoreResult<Option<BlockNumHash>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(EXEX_HEADS)?;
        Ok(table.get(exex_id)?.map(|v| {
            let (number, hash) = v.value();
            BlockNumHash::new(number, B256::from(hash))
        }))
    }

    /// Block `number`, if stored.
    pub fn block(&self, number: u64) -> StoreResult<Option<BlockRecord>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(BLOCKS)?;
        table.get(number)?.map(|v| BlockRecord::decode(number, v.value())).transpose()
    }

    /// The stored blocks in `range`, ascending.
    pub fn blocks(&self, range: RangeInclusive<u64>) -> StoreResult<Vec<BlockRecord>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(BLOCKS)?;
        let mut out = Vec::new();
        for item in table.range(range)? {
            let (key, value) = item?;
            out.push(BlockRecord::decode(key.value(), value.value())?);
        }
        Ok(out)
    }

    /// Batch `number`, if sealed.
    pub fn batch(&self, number: u64) -> StoreResult<Option<BatchRecord>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(BATCHES)?;
        table.get(number)?.map(|v| BatchRecord::decode(number, v.value())).transpose()
    }

    /// The sealed batches in `range`, ascending.
    pub fn batches(&self, range: RangeInclusive<u64>) -> StoreResult<Vec<BatchRecord>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(BATCHES)?;
        let mut out = Vec::new();
        for item in table.range(range)? {
            let (key, value) = item?;
            out.push(BatchRecord::decode(key.value(), value.value())?);
        }
        Ok(out)
    }

    /// The highest sealed batch.
    pub fn last_batch(&self) -> StoreResult<Option<BatchRecord>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(BATCHES)?;
        table.last()?.map(|(k, v)| BatchRecord::decode(k.value(), v.value())).transpose()
    }

    /// The lowest block still stored, if any (lower ones were pruned).
    pub fn first_block(&self) -> StoreResult<Option<BlockRecord>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(BLOCKS)?;
        table.first()?.map(|(k, v)| BlockRecord::decode(k.value(), v.value())).transpose()
    }

    /// The lowest batch still stored, if any (lower ones were pruned).
    pub fn first_batch(&self) -> StoreResult<Option<BatchRecord>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(BATCHES)?;
        table.first()?.map(|(k, v)| BatchRecord::decode(k.value(), v.value())).transpose()
    }

    /// Why settlement stopped, if it did ([`Halt`]).
    pub fn halt(&self) -> StoreResult<Option<Halt>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(SENDER)?;
        table.get(halt::HALT_KEY)?.map(|v| Halt::decode(v.value())).transpose()
    }

    /// The sender's transaction in flight, if any.
    pub fn in_flight(&self) -> StoreResult<Option<InFlightTx>> {
        self.in_flight_at(&InFlightSlot::Sender)
    }

    /// The transaction in flight in `slot`, if any.
    pub fn in_flight_at(&self, slot: &InFlightSlot) -> StoreResult<Option<InFlightTx>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(SENDER)?;
        table.get(slot.key().as_str())?.map(|v| InFlightTx::decode(v.value())).transpose()
    }

    /// The highest stored block.
    pub fn last_block(&self) -> StoreResult<Option<BlockRecord>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(BLOCKS)?;
        table.last()?.map(|(k, v)| BlockRecord::decode(k.value(), v.value())).transpose()
    }

    /// The pubdata of blocks `range`, concatenated in block order; an error names the first
    /// block whose pubdata is not stored.
    pub fn pubdata(&self, range: RangeInclusive<u64>) -> StoreResult<Vec<u8>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(PUBDATA)?;
        let mut out = Vec::new();
        let mut next = *range.start();
        for item in table.range(range.clone())? {
            let (number, bytes) = item?;
            if number.value() != next {
                break;
            }
            out.extend_from_slice(bytes.value());
            next += 1;
        }
        if next <= *range.end() {
            return Err(StoreError::Corrupt {
                table: "block_pubdata",
                key: next.to_string(),
                reason: format!("missing, needed for blocks {}..={}", range.start(), range.end()),
            });
        }
        Ok(out)
    }
}

/// Writes inside one [`Store::write`] transaction.
pub struct StoreWriter<'a> {
    tx: &'a WriteTransaction,
}

impl std::fmt::Debug for StoreWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreWriter").finish_non_exhaustive()
    }
}

impl StoreWriter<'_> {
    /// Stores (or replaces) a block.
    pub fn put_block(&mut self, block: &BlockRecord) -> StoreResult<()> {
        let mut table = self.tx.open_table(BLOCKS)?;
        table.insert(block.number, block.encode().as_slice())?;
        Ok(())
    }

    /// Removes every block at or above `number` (a revert); returns how many.
    pub fn remove_blocks_from(&mut self, number: u64) -> StoreResult<usize> {
        let mut table = self.tx.open_table(BLOCKS)?;
        let keys: Vec<u64> =
            table.range(number..)?.map(|r| r.map(|(k, _)| k.value())).collect::<Result<_, _>>()?;
        for key in &keys {
            table.remove(key)?;
        }
        let mut pubdata = self.tx.open_table(PUBDATA)?;
        pubdata.retain_in(number.., |_, _| false)?;
        drop(pubdata);
        self.remove_gateway_block_events_from(number)?;
        Ok(keys.len())
    }

    /// Stores (or replaces) the bytes block `number` publishes.
    pub fn put_block_pubdata(&mut self, number: u64, pubdata: &[u8]) -> StoreResult<()> {
        let mut table = self.tx.open_table(PUBDATA)?;
        table.insert(number, pubdata)?;
        Ok(())
    }

    /// Forgets the pubdata of every block at or below `number` (their batches are executed).
    pub fn prune_pubdata_through(&mut self, number: u64) -> StoreResult<()> {
        let mut table = self.tx.open_table(PUBDATA)?;
        table.retain_in(..=number, |_, _| false)?;
        Ok(())
    }

    /// The block `number` as stored in this transaction.
    pub fn block(&self, number: u64) -> StoreResult<Option<BlockRecord>> {
        let table = self.tx.open_table(BLOCKS)?;
        let value = table.get(number)?.map(|v| v.value().to_vec());
        value.map(|v| BlockRecord::decode(number, &v)).transpose()
    }

    /// Stores (or replaces) a batch.
    pub fn put_batch(&mut self, batch: &BatchRecord) -> StoreResult<()> {
        let mut table = self.tx.open_table(BATCHES)?;
        table.insert(batch.number, batch.encode().as_slice())?;
        Ok(())
    }

    /// Batch `number` as stored in this transaction.
    pub fn batch(&self, number: u64) -> StoreResult<Option<BatchRecord>> {
        let table = self.tx.open_table(BATCHES)?;
        let value = table.get(number)?.map(|v| v.value().to_vec());
        value.map(|v| BatchRecord::decode(number, &v)).transpose()
    }

    /// The highest batch as stored in this transaction.
    pub fn last_batch(&self) -> StoreResult<Option<BatchRecord>> {
        let table = self.tx.open_table(BATCHES)?;
        let value = table.last()?.map(|(k, v)| (k.value(), v.value().to_vec()));
        value.map(|(k, v)| BatchRecord::decode(k, &v)).transpose()
    }

    /// Forgets what settled history no longer needs: blocks at or below `blocks_through` (with
    /// their pubdata) and batch records below `batches_below`. Returns how many blocks and
    /// batches went.
    pub fn prune_settled(
        &mut self,
        blocks_through: u64,
        batches_below: u64,
    ) -> StoreResult<Pruned> {
        let mut pruned = Pruned::default();
        {
            let mut blocks = self.tx.open_table(BLOCKS)?;
            blocks.retain_in(..=blocks_through, |_, _| {
                pruned.blocks += 1;
                false
            })?;
        }
        self.prune_pubdata_through(blocks_through)?;
        if batches_below > 0 {
            let mut batches = self.tx.open_table(BATCHES)?;
            batches.retain_in(..batches_below, |_, _| {
                pruned.batches += 1;
                false
            })?;
        }
        Ok(pruned)
    }

    /// The lowest batch still stored, if any (lower ones were pruned).
    pub fn first_batch(&self) -> StoreResult<Option<BatchRecord>> {
        let table = self.tx.open_table(BATCHES)?;
        let value = table.first()?.map(|(k, v)| (k.value(), v.value().to_vec()));
        value.map(|(k, v)| BatchRecord::decode(k, &v)).transpose()
    }

    /// Removes every batch at or above `number` (unsealing them, with their Gateway contents);
    /// returns how many.
    pub fn remove_batches_from(&mut self, number: u64) -> StoreResult<usize> {
        let mut table = self.tx.open_table(BATCHES)?;
        let keys: Vec<u64> =
            table.range(number..)?.map(|r| r.map(|(k, _)| k.value())).collect::<Result<_, _>>()?;
        for key in &keys {
            table.remove(key)?;
        }
        drop(table);
        self.remove_gateway_batch_contents_from(number)?;
        Ok(keys.len())
    }

    /// The sender's transaction in flight, as stored in this transaction.
    pub fn in_flight(&self) -> StoreResult<Option<InFlightTx>> {
        self.in_flight_at(&InFlightSlot::Sender)
    }

    /// The transaction in flight in `slot`, as stored in this transaction.
    pub fn in_flight_at(&self, slot: &InFlightSlot) -> StoreResult<Option<InFlightTx>> {
        let table = self.tx.open_table(SENDER)?;
        let value = table.get(slot.key().as_str())?.map(|v| v.value().to_vec());
        value.map(|v| InFlightTx::decode(&v)).transpose()
    }

    /// Records the sender's transaction in flight (`None` clears it).
    pub fn set_in_flight(&mut self, in_flight: Option<&InFlightTx>) -> StoreResult<()> {
        self.set_in_flight_at(&InFlightSlot::Sender, in_flight)
    }

    /// Records the transaction in flight in `slot` (`None` clears it).
    pub fn set_in_flight_at(
        &mut self,
        slot: &InFlightSlot,
        in_flight: Option<&InFlightTx>,
    ) -> StoreResult<()> {
        let mut table = self.tx.open_table(SENDER)?;
        let key = slot.key();
        match in_flight {
            Some(record) => {
                table.insert(key.as_str(), record.encode().as_slice())?;
            }
            None => {
                table.remove(key.as_str())?;
            }
        }
        Ok(())
    }

    /// Why settlement stopped, as stored in this transaction.
    pub fn halt(&self) -> StoreResult<Option<Halt>> {
        let table = self.tx.open_table(SENDER)?;
        let value = table.get(halt::HALT_KEY)?.map(|v| v.value().to_vec());
        value.map(|v| Halt::decode(&v)).transpose()
    }

    /// Records why settlement stopped (`None` lifts the halt).
    pub fn set_halt(&mut self, halt: Option<&Halt>) -> StoreResult<()> {
        let mut table = self.tx.open_table(SENDER)?;
        match halt {
            Some(halt) => {
                table.insert(halt::HALT_KEY, halt.encode().as_slice())?;
            }
            None => {
                table.remove(halt::HALT_KEY)?;
            }
        }
        Ok(())
    }

    /// Persists ExEx `exex_id`'s head with the data of this transaction.
    pub fn set_head(&mut self, exex_id: &str, head: BlockNumHash) -> StoreResult<()> {
        let mut table = self.tx.open_table(EXEX_HEADS)?;
        table.insert(exex_id, (head.number, head.hash.0))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(number: u64) -> BlockRecord {
        BlockRecord {
            number,
            hash: B256::with_last_byte(number as u8),
            parent_hash: B256::with_last_byte(number.saturating_sub(1) as u8),
            timestamp: 1_000 + number,
            tx_count: number as u32,
            gas_used: 21_000 * number,
            pubdata_bytes: 100 * number,
            message_leaves: (0..number % 3).map(|i| B256::repeat_byte(i as u8 + 1)).collect(),
            // Every other block imported interop roots (schema 5's addition).
            imported_roots: (0..number % 2)
                .map(|i| ImportedRoot {
                    gateway_block: number * 100 + i,
                    root: B256::repeat_byte(0x40 + number as u8),
                })
                .collect(),
            // Every third block processed priority operations (with or without roots).
            priority_ops: (0..u64::from(number.is_multiple_of(3)) * 2)
                .map(|i| B256::repeat_byte(0x70 + i as u8))
                .collect(),
        }
    }

    #[test]
    fn block_records_round_trip_with_every_optional_part() {
        // Blocks 1..=12 cover: nothing optional (2, 4, ...), roots only (1, 5, ...),
        // operations only (6, 12) and both (3, 9); a record without them is as short as before.
        for number in 1..=12 {
            let block = record(number);
            assert_eq!(BlockRecord::decode(number, &block.encode()).unwrap(), block, "{number}");
        }
        let plain = BlockRecord { number: 1, ..Default::default() };
        assert_eq!(plain.encode().len(), 32 + 32 + 8 + 4 + 8 + 8 + 4);
        let mut truncated = record(3).encode();
        truncated.pop();
        assert!(BlockRecord::decode(3, &truncated).is_err(), "a cut record is corrupt");
    }

    #[test]
    fn batches_round_trip_and_unseal_from_a_number() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let batch = |n: u64| BatchRecord {
            number: n,
            first_block: n * 10,
            last_block: n * 10 + 9,
            sl_chain_id: 506,
            stage: BatchStage::ALL[(n % 5) as usize],
            commit_info: vec![n as u8; 40],
            proof: if n.is_multiple_of(2) { vec![] } else { vec![7; 12] },
        };
        store.write(|tx| (1..=4).try_for_each(|n| tx.put_batch(&batch(n)))).unwrap();
        assert_eq!(store.batches(0..=10).unwrap(), (1..=4).map(batch).collect::<Vec<_>>());
        assert_eq!(store.write(|tx| tx.remove_batches_from(3)).unwrap(), 2);
        assert_eq!(store.last_batch().unwrap(), Some(batch(2)));
    }

    #[test]
    fn head_and_blocks_commit_together_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .write(|tx| {
                for n in 1..=3 {
                    tx.put_block(&record(n))?;
                }
                tx.set_head("e", BlockNumHash::new(3, record(3).hash))
            })
            .unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.head("e").unwrap(), Some(BlockNumHash::new(3, record(3).hash)));
        assert_eq!(store.blocks(1..=10).unwrap(), vec![record(1), record(2), record(3)]);
        assert_eq!(store.head("other").unwrap(), None);
    }

    #[test]
    fn a_failed_step_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let result = store.write(|tx| {
            tx.put_block(&record(1))?;
            tx.set_head("e", BlockNumHash::new(1, record(1).hash))?;
            Err::<(), _>(StoreError::Corrupt {
                table: "blocks",
                key: "1".into(),
                reason: "test".into(),
            })
        });
        assert!(result.is_err());
        assert_eq!(store.head("e").unwrap(), None);
        assert_eq!(store.block(1).unwrap(), None);
    }

    #[test]
    fn the_in_flight_transaction_survives_reopen_and_clears() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let record = InFlightTx {
            stage: 1,
            from: 3,
            to: 5,
            nonce: 42,
            attempts: 2,
            hash: B256::repeat_byte(7),
            raw: vec![0x02, 0xf8, 0x71, 0x01],
        };
        store.write(|tx| tx.set_in_flight(Some(&record))).unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.in_flight().unwrap(), Some(record.clone()));
        store.write(|tx| tx.set_in_flight(None)).unwrap();
        assert_eq!(store.in_flight().unwrap(), None);
        // Each migration signer on each layer has its own slot, apart from the sender's.
        let a = InFlightSlot::Migration {
            layer: 1,
            signer: alloy::primitives::Address::repeat_byte(1),
        };
        let b = InFlightSlot::Migration {
            layer: 2,
            signer: alloy::primitives::Address::repeat_byte(1),
        };
        store.write(|tx| tx.set_in_flight_at(&a, Some(&record))).unwrap();
        assert_eq!(store.in_flight_at(&a).unwrap(), Some(record.clone()));
        assert_eq!(store.in_flight_at(&b).unwrap(), None);
        assert_eq!(store.in_flight().unwrap(), None);
        // The inbox relayer's slot on the chain is apart from both.
        let relay =
            InFlightSlot::Relay { chain: 1, signer: alloy::primitives::Address::repeat_byte(1) };
        assert_eq!(store.in_flight_at(&relay).unwrap(), None);
        store.write(|tx| tx.set_in_flight_at(&relay, Some(&record))).unwrap();
        assert_eq!(store.in_flight_at(&relay).unwrap(), Some(record.clone()));
        assert_eq!(store.in_flight_at(&a).unwrap(), Some(record.clone()));
        // A record an older build wrote (no transaction bytes) still reads, with none.
        let old = InFlightTx { raw: Vec::new(), ..record };
        let mut bytes = old.encode();
        assert_eq!(bytes.len(), 1 + 8 * 3 + 4 + 32);
        assert_eq!(InFlightTx::decode(&bytes).unwrap(), old);
        bytes.pop();
        assert!(InFlightTx::decode(&bytes).is_err(), "a truncated record is corrupt");
    }

    #[test]
    fn revert_removes_blocks_from_a_height() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.write(|tx| (1..=5).try_for_each(|n| tx.put_block(&record(n)))).unwrap();
        assert_eq!(store.write(|tx| tx.remove_blocks_from(4)).unwrap(), 2);
        assert_eq!(store.last_block().unwrap(), Some(record(3)));
    }

    #[test]
    fn a_newer_schema_is_refused_naming_both_versions() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let tx = store.db.begin_write().unwrap();
        let newer = u64::from(SCHEMA_VERSION) + 1;
        tx.open_table(META).unwrap().insert(SCHEMA_KEY, newer).unwrap();
        tx.commit().unwrap();
        drop(store);
        let err = Store::open(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("schema version {newer}"))
                && err.contains(&format!("supports version {SCHEMA_VERSION}")),
            "{err}"
        );
    }

    #[test]
    fn an_older_or_unknown_schema_is_refused_naming_both_versions_and_left_as_it_was() {
        // 1: before the settlement tables (no upgrade path); 0 and u64::MAX: never written by
        // any build.
        for found in [0, 1, u64::MAX] {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            let tx = store.db.begin_write().unwrap();
            tx.open_table(META).unwrap().insert(SCHEMA_KEY, found).unwrap();
            tx.commit().unwrap();
            drop(store);
            let err = Store::open(dir.path()).unwrap_err();
            assert!(
                matches!(err, StoreError::SchemaMismatch { found: f, supported, .. }
                    if f == found && supported == SCHEMA_VERSION),
                "{err}"
            );
            let message = err.to_string();
            assert!(message.contains(&format!("schema version {found}")), "{message}");
            assert!(message.contains(&format!("supports version {SCHEMA_VERSION}")), "{message}");
            // The refused file keeps its version: nothing was upgraded or rewritten.
            let db = redb::Database::open(dir.path().join("settlement/store.redb")).unwrap();
            let read = db.begin_read().unwrap();
            let kept = read.open_table(META).unwrap().get(SCHEMA_KEY).unwrap().unwrap().value();
            assert_eq!(kept, found);
        }
    }

    #[test]
    fn a_schema_2_store_is_upgraded_in_place_keeping_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.write(|tx| tx.put_block(&record(1))).unwrap();
        // What a schema-2 build left: no pubdata or gateway tables, version 2.
        let tx = store.db.begin_write().unwrap();
        tx.open_table(META).unwrap().insert(SCHEMA_KEY, 2).unwrap();
        tx.delete_table(PUBDATA).unwrap();
        tx.delete_table(gateway::BLOCK_EVENTS).unwrap();
        tx.delete_table(gateway::BATCH_CONTENTS).unwrap();
        tx.commit().unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.block(1).unwrap(), Some(record(1)));
        store.write(|tx| tx.put_block_pubdata(1, b"tx bytes")).unwrap();
        assert_eq!(store.pubdata(1..=1).unwrap(), b"tx bytes");
        assert_eq!(store.gateway_block_events(0..=9).unwrap(), vec![]);
        assert_eq!(store.gateway_batch_contents(1).unwrap(), None);
        let tx = store.db.begin_read().unwrap();
        let version = tx.open_table(META).unwrap().get(SCHEMA_KEY).unwrap().unwrap().value();
        assert_eq!(version, u64::from(SCHEMA_VERSION));
    }

    #[test]
    fn a_schema_6_store_gains_the_interop_mirror_keeping_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.write(|tx| tx.put_block(&record(1))).unwrap();
        // What a schema-6 build left: no interop mirror tables, version 6.
        let tx = store.db.begin_write().unwrap();
        tx.open_table(META).unwrap().insert(SCHEMA_KEY, 6).unwrap();
        tx.delete_table(interop::PROGRESS).unwrap();
        tx.delete_table(interop::CHAINS).unwrap();
        tx.delete_table(interop::LEAVES).unwrap();
        tx.delete_table(interop::BATCH_INDEX).unwrap();
        tx.delete_table(interop::ROOTS).unwrap();
        tx.commit().unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.block(1).unwrap(), Some(record(1)));
        assert_eq!(store.mirror_progress(506).unwrap(), None);
        assert_eq!(store.mirror_root_at_or_before(506, 9).unwrap(), None);
        store.write(|tx| tx.mirror_put_root(506, 3, B256::repeat_byte(3))).unwrap();
        assert_eq!(store.mirror_root_at(506, 3).unwrap(), Some(B256::repeat_byte(3)));
    }

    #[test]
    fn a_schema_5_store_upgrades_unless_it_holds_gateway_blocks_of_the_old_encoding() {
        let as_schema_5 = |store: &Store| {
            let tx = store.db.begin_write().unwrap();
            tx.open_table(META).unwrap().insert(SCHEMA_KEY, 5).unwrap();
            tx.commit().unwrap();
        };
        // A chain node's store (no Gateway blocks): upgraded, its data kept.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.write(|tx| tx.put_block(&record(1))).unwrap();
        as_schema_5(&store);
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.block(1).unwrap(), Some(record(1)));
        drop(store);

        // A Gateway node's store with blocks in the old encoding: refused, left as it was.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.write(|tx| tx.put_gateway_block_events(1, &GatewayBlockEvents::default())).unwrap();
        as_schema_5(&store);
        drop(store);
        let err = Store::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, StoreError::GatewayEncodingChanged { found: 5, blocks: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("move the directory aside"), "{err}");
        let db = redb::Database::open(dir.path().join("settlement/store.redb")).unwrap();
        let read = db.begin_read().unwrap();
        assert_eq!(read.open_table(META).unwrap().get(SCHEMA_KEY).unwrap().unwrap().value(), 5);
    }

    #[test]
    fn pubdata_concatenates_in_order_names_a_gap_and_goes_with_its_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .write(|tx| {
                for n in 1..=4 {
                    tx.put_block(&record(n))?;
                    tx.put_block_pubdata(n, &[n as u8; 3])?;
                }
                Ok(())
            })
            .unwrap();
        assert_eq!(store.pubdata(2..=3).unwrap(), vec![2, 2, 2, 3, 3, 3]);
        store.write(|tx| tx.remove_blocks_from(4).map(drop)).unwrap();
        let err = store.pubdata(3..=4).unwrap_err().to_string();
        assert!(err.contains("block_pubdata record 4"), "{err}");
        store.write(|tx| tx.prune_pubdata_through(2)).unwrap();
        let err = store.pubdata(2..=3).unwrap_err().to_string();
        assert!(err.contains("record 2"), "{err}");
        assert_eq!(store.pubdata(3..=3).unwrap(), vec![3, 3, 3]);
    }
}
