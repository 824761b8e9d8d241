//! The write-ahead log of notifications (reth's ExEx `Wal`).
//!
//! Every notification the manager fans out is first written here, one file per notification,
//! so that after a crash an ExEx whose head is no longer canonical can be handed the revert of
//! what it processed. Files are written atomically (temp file, fsync, rename, fsync of the
//! directory) and start with a format version byte; stray temp files from a crash are ignored.
//! [`Wal::finalize`] deletes what every ExEx has finished and the chain has finalized.

mod codec;

pub use codec::WAL_FORMAT_VERSION;

use alloy::consensus::BlockHeader as _;
use std::{
    collections::{BTreeMap, HashMap},
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
};

use alloy::{
    eips::BlockNumHash,
    primitives::{B256, BlockNumber},
};
use metrics::{Gauge, gauge};
use reth_primitives_traits::NodePrimitives;
use tracing::{debug, warn};

use crate::{EthPrimitives, ExExNotification, HostError, HostResult};

/// Above this many blocks in the WAL the host logs a warning: some ExEx is not finishing.
pub const DEFAULT_WAL_BLOCKS_WARNING: usize = 128;

const FILE_SUFFIX: &str = "wal";
const TEMP_SUFFIX: &str = "tmp";
const HEAD_FILE: &str = "head";
/// The followed chain's genesis hash, written when the host first starts.
const GENESIS_FILE: &str = "genesis";

/// What the WAL remembers of one file without reading it again.
#[derive(Debug, Clone)]
struct EntryInfo {
    /// The highest block the notification touches (committed or reverted).
    highest_block: BlockNumber,
    /// Hashes of the committed blocks, to answer lookups by hash.
    committed: Vec<B256>,
    /// Number of committed blocks.
    blocks: usize,
}

#[derive(Debug)]
struct WalInner {
    dir: PathBuf,
    entries: BTreeMap<u64, EntryInfo>,
    by_committed_hash: HashMap<B256, u64>,
    /// Blocks a notification in the WAL reverted and no later one committed again, with the
    /// entry that reverted them: an ExEx whose finished block is one of them still needs the
    /// entry that committed it.
    reverted: HashMap<B256, u64>,
    next_id: u64,
    head: Option<BlockNumHash>,
    blocks_warning: usize,
    blocks_gauge: Gauge,
    files_gauge: Gauge,
}

/// The write-ahead log of notifications. Cloning shares the same log.
#[derive(Debug, Clone)]
pub struct Wal<N: NodePrimitives = EthPrimitives> {
    inner: Arc<RwLock<WalInner>>,
    _primitives: std::marker::PhantomData<N>,
}

/// Read access to the WAL for notification streams (reth's `WalHandle`).
#[derive(Debug, Clone)]
pub struct WalHandle<N: NodePrimitives = EthPrimitives> {
    wal: Wal<N>,
}

impl<N: NodePrimitives> WalHandle<N> {
    /// The genesis hash of the chain this WAL follows, once recorded.
    pub fn genesis(&self) -> HostResult<Option<B256>> {
        let path = self.wal.read().dir.join(GENESIS_FILE);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(HostError::io("read WAL genesis", path, e)),
        };
        match bytes.as_slice() {
            [WAL_FORMAT_VERSION, hash @ ..] if hash.len() == 32 => Ok(Some(B256::from_slice(hash))),
            _ => Err(HostError::WalCorrupt {
                path,
                reason: format!(
                    "{} bytes, expected a version byte and a 32-byte hash",
                    bytes.len()
                ),
            }),
        }
    }

    /// Records the genesis hash of the chain this WAL follows.
    pub fn set_genesis(&self, hash: B256) -> HostResult<()> {
        let path = self.wal.read().dir.join(GENESIS_FILE);
        let mut bytes = Vec::with_capacity(33);
        bytes.push(WAL_FORMAT_VERSION);
        bytes.extend_from_slice(hash.as_slice());
        atomic_write(&path, &bytes)
    }

    /// The notification that committed the block with this hash, if it is still in the WAL.
    pub fn get_committed_notification_by_block_hash(
        &self,
        block_hash: &B256,
    ) -> HostResult<Option<ExExNotification<N>>> {
        let (dir, id) = {
            let inner = self.wal.read();
            let Some(id) = inner.by_committed_hash.get(block_hash).copied() else {
                return Ok(None);
            };
            (inner.dir.clone(), id)
        };
        read_entry(&entry_path(&dir, id)).map(Some)
    }
}

impl<N: NodePrimitives> Wal<N> {
    /// Opens (or creates) the WAL in `dir`, reading what is there. Fails on a file written by
    /// another format version, naming both versions.
    pub fn open(dir: impl Into<PathBuf>) -> HostResult<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| HostError::io("create WAL directory", &dir, e))?;
        let mut inner = WalInner {
            dir: dir.clone(),
            entries: BTreeMap::new(),
            by_committed_hash: HashMap::new(),
            reverted: HashMap::new(),
            next_id: 0,
            head: None,
            blocks_warning: DEFAULT_WAL_BLOCKS_WARNING,
            blocks_gauge: gauge!("exex_wal_blocks"),
            files_gauge: gauge!("exex_wal_notifications"),
        };
        let listing =
            fs::read_dir(&dir).map_err(|e| HostError::io("read WAL directory", &dir, e))?;
        // Entries are replayed in the order they were written (their ids), never the
        // directory's: a later entry's hashes replace an earlier one's (A -> B -> A).
        let mut found = Vec::new();
        for item in listing {
            let item = item.map_err(|e| HostError::io("read WAL directory", &dir, e))?;
            let path = item.path();
            let name = item.file_name().to_string_lossy().into_owned();
            if name.ends_with(TEMP_SUFFIX) {
                // A crash between write and rename: the notification was never acknowledged.
                warn!(target: "exex::wal", path = %path.display(), "removing stray WAL temp file");
                let _ = fs::remove_file(&path);
                continue;
            }
            let Some(id) =
                name.strip_suffix(&format!(".{FILE_SUFFIX}")).and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            found.push((id, path));
        }
        found.sort_unstable_by_key(|(id, _)| *id);
        for (id, path) in found {
            let notification: ExExNotification<N> = read_entry(&path)?;
            inner.insert(id, &notification);
            inner.next_id = inner.next_id.max(id + 1);
        }
        inner.head = read_head(&dir)?;
        inner.update_gauges();
        debug!(target: "exex::wal", dir = %dir.display(), notifications = inner.entries.len(), "opened WAL");
        Ok(Self { inner: Arc::new(RwLock::new(inner)), _primitives: std::marker::PhantomData })
    }

    /// Sets how many blocks the WAL may hold before it warns.
    pub fn with_blocks_warning(self, blocks: usize) -> Self {
        self.write().blocks_warning = blocks;
        self
    }

    /// A read handle for notification streams.
    pub fn handle(&self) -> WalHandle<N> {
        WalHandle { wal: self.clone() }
    }

    /// Durably appends a notification and records the host's new head (the committed tip, or
    /// the fork block of a revert). Returns the entry's id.
    pub fn commit(&self, notification: &ExExNotification<N>) -> HostResult<u64> {
        let bytes = codec::encode(notification);
        let mut inner = self.write();
        let id = inner.next_id;
        let path = entry_path(&inner.dir, id);
        atomic_write(&path, &bytes)?;
        inner.next_id += 1;
        inner.insert(id, notification);
        let head = match notification.committed_chain() {
            Some(new) => new.tip().num_hash(),
            None => notification.reverted_chain().map(|old| old.fork_block()).unwrap_or_default(),
        };
        write_head(&inner.dir, head)?;
        inner.head = Some(head);
        inner.update_gauges();
        let blocks = inner.num_blocks();
        if blocks > inner.blocks_warning {
            metrics::counter!("exex_wal_blocks_warnings_total").increment(1);
            warn!(
                target: "exex::wal",
                blocks,
                threshold = inner.blocks_warning,
                "the WAL holds many blocks: an ExEx is not reporting FinishedHeight"
            );
        }
        Ok(id)
    }

    /// Deletes every notification whose highest block is at or below `to_block`.
    pub fn finalize(&self, to_block: BlockNumHash) -> HostResult<usize> {
        let mut inner = self.write();
        let ids: Vec<u64> = inner
            .entries
            .iter()
            .filter(|(_, info)| info.highest_block <= to_block.number)
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            let path = entry_path(&inner.dir, *id);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(HostError::io("remove WAL file", path, e)),
            }
            if let Some(info) = inner.entries.remove(id) {
                for hash in info.committed {
                    if inner.by_committed_hash.get(&hash) == Some(id) {
                        inner.by_committed_hash.remove(&hash);
                    }
                }
            }
        }
        let removed: std::collections::HashSet<u64> = ids.iter().copied().collect();
        inner.reverted.retain(|_, id| !removed.contains(id));
        inner.update_gauges();
        if !ids.is_empty() {
            debug!(target: "exex::wal", removed = ids.len(), to_block = to_block.number, "finalized WAL");
        }
        Ok(ids.len())
    }

    /// True when a notification in the WAL reverted the block with this hash and no later one
    /// committed it again (reth checks that every ExEx's finished block is still known before
    /// it finalizes the WAL; this is the WAL's side of that check).
    pub fn is_reverted(&self, hash: &B256) -> bool {
        self.read().reverted.contains_key(hash)
    }

    /// All notifications in the WAL, oldest first.
    pub fn iter_notifications(&self) -> HostResult<Vec<ExExNotification<N>>> {
        let (dir, ids) = {
            let inner = self.read();
            (inner.dir.clone(), inner.entries.keys().copied().collect::<Vec<_>>())
        };
        ids.into_iter().map(|id| read_entry(&entry_path(&dir, id))).collect()
    }

    /// The host's head: the tip after the last committed notification, kept even when every
    /// notification has been finalized away. `None` for a new WAL.
    pub fn head(&self) -> Option<BlockNumHash> {
        self.read().head
    }

    /// How many committed blocks the WAL holds.
    pub fn num_blocks(&self) -> usize {
        self.read().num_blocks()
    }

    /// How many notifications the WAL holds.
    pub fn len(&self) -> usize {
        self.read().entries.len()
    }

    /// True when the WAL holds no notification.
    pub fn is_empty(&self) -> bool {
        self.read().entries.is_empty()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, WalInner> {
        // A panic while holding the lock leaves consistent data (every write is all-or-nothing).
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, WalInner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl WalInner {
    fn insert<N: NodePrimitives>(&mut self, id: u64, notification: &ExExNotification<N>) {
        let committed = notification.committed_chain();
        let reverted = notification.reverted_chain();
        let highest_block = committed
            .iter()
            .chain(reverted.iter())
            .map(|c| c.tip().number())
            .max()
            .unwrap_or_default();
        if let Some(old) = &reverted {
            for block in old.blocks_iter() {
                self.reverted.insert(block.hash(), id);
            }
        }
        let hashes: Vec<B256> =
            committed.iter().flat_map(|c| c.blocks_iter().map(|b| b.hash())).collect();
        for hash in &hashes {
            self.by_committed_hash.insert(*hash, id);
            self.reverted.remove(hash);
        }
        let blocks = hashes.len();
        self.entries.insert(id, EntryInfo { highest_block, committed: hashes, blocks });
    }

    fn num_blocks(&self) -> usize {
        self.entries.values().map(|e| e.blocks).sum()
    }

    fn update_gauges(&self) {
        self.blocks_gauge.set(self.num_blocks() as f64);
        self.files_gauge.set(self.entries.len() as f64);
    }
}

fn entry_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id}.{FILE_SUFFIX}"))
}

fn read_entry<N: NodePrimitives>(path: &Path) -> HostResult<ExExNotification<N>> {
    let bytes = fs::read(path).map_err(|e| HostError::io("read WAL file", path, e))?;
    codec::decode(&bytes).map_err(|e| match e {
        codec::DecodeError::Version(found) => HostError::WalVersionMismatch {
            path: path.to_path_buf(),
            found,
            expected: WAL_FORMAT_VERSION,
        },
        codec::DecodeError::Corrupt(reason) => {
            HostError::WalCorrupt { path: path.to_path_buf(), reason }
        }
    })
}

fn read_head(dir: &Path) -> HostResult<Option<BlockNumHash>> {
    let path = dir.join(HEAD_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(HostError::io("read WAL head", path, e)),
    };
    match bytes.as_slice() {
        [WAL_FORMAT_VERSION, rest @ ..] if rest.len() == 40 => {
            let mut number = [0u8; 8];
            number.copy_from_slice(&rest[..8]);
            Ok(Some(BlockNumHash::new(u64::from_be_bytes(number), B256::from_slice(&rest[8..]))))
        }
        [found, ..] if *found != WAL_FORMAT_VERSION => {
            Err(HostError::WalVersionMismatch { path, found: *found, expected: WAL_FORMAT_VERSION })
        }
        _ => Err(HostError::WalCorrupt { path, reason: format!("{} bytes", bytes.len()) }),
    }
}

fn write_head(dir: &Path, head: BlockNumHash) -> HostResult<()> {
    let mut bytes = Vec::with_capacity(41);
    bytes.push(WAL_FORMAT_VERSION);
    bytes.extend_from_slice(&head.number.to_be_bytes());
    bytes.extend_from_slice(head.hash.as_slice());
    atomic_write(&dir.join(HEAD_FILE), &bytes)
}

/// Writes `bytes` to `path` so that after a crash the file is either absent or complete.
pub(crate) fn atomic_write(path: &Path, bytes: &[u8]) -> HostResult<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(format!(".{TEMP_SUFFIX}"));
    let temp = PathBuf::from(temp);
    let mut file =
        fs::File::create(&temp).map_err(|e| HostError::io("create WAL temp file", &temp, e))?;
    file.write_all(bytes).map_err(|e| HostError::io("write WAL temp file", &temp, e))?;
    file.sync_all().map_err(|e| HostError::io("fsync WAL temp file", &temp, e))?;
    drop(file);
    fs::rename(&temp, path).map_err(|e| HostError::io("rename WAL temp file to", path, e))?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| HostError::io("fsync WAL directory", dir, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TestChain;

    fn notifications(chain: &TestChain) -> Vec<ExExNotification> {
        let first = chain.commit(3, 2);
        let (old, new) = chain.reorg(1, 2, 1);
        let reverted = chain.revert(1);
        vec![
            ExExNotification::ChainCommitted { new: first },
            ExExNotification::ChainReorged { old, new },
            ExExNotification::ChainReverted { old: reverted },
        ]
    }

    #[test]
    fn commits_survive_reopen_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let chain = TestChain::new();
        let written = notifications(&chain);
        let wal = Wal::<EthPrimitives>::open(dir.path()).unwrap();
        for n in &written {
            wal.commit(n).unwrap();
        }
        drop(wal);
        let wal = Wal::<EthPrimitives>::open(dir.path()).unwrap();
        assert_eq!(wal.iter_notifications().unwrap(), written);
        // Head after the revert of block 4 of the new fork is block 3.
        assert_eq!(wal.head(), Some(written[2].reverted_chain().unwrap().fork_block()));
        let hash = written[1].committed_chain().unwrap().tip().hash();
        let found = wal.handle().get_committed_notification_by_block_hash(&hash).unwrap();
        assert_eq!(found.as_ref(), Some(&written[1]));
    }

    /// reth's WAL replays its files in id order; so does this one: after A -> B -> A the lookup
    /// of an A block finds the newest entry that commits it, before and after a reopen,
    /// whatever order the directory lists the files in.
    #[test]
    fn a_to_b_to_a_across_reopen_the_newest_entry_wins() {
        let dir = tempfile::tempdir().unwrap();
        let chain = TestChain::new();
        let a = chain.commit(5, 1);
        let (a_tail, _) = chain.reorg(2, 2, 1);
        let wal = Wal::<EthPrimitives>::open(dir.path()).unwrap();
        wal.commit(&ExExNotification::ChainCommitted { new: a }).unwrap();
        // Twelve forks B_i, each left again for A's blocks 4..=5: every entry commits A's tip
        // and each is distinct (B_i has i transactions a block). Read in directory order, the
        // newest is the last one read only by chance (1 in 13 on a hashed directory, never on
        // one that lists newest first).
        let mut last = None;
        for i in 1..=12 {
            let b = TestChain::new().commit(2, i);
            let back = ExExNotification::ChainReorged { old: b, new: Arc::clone(&a_tail) };
            wal.commit(&back).unwrap();
            last = Some(back);
        }
        let tip = a_tail.tip().hash();
        let newest = wal.handle().get_committed_notification_by_block_hash(&tip).unwrap();
        assert_eq!(newest.as_ref(), last.as_ref());
        drop(wal);
        let wal = Wal::<EthPrimitives>::open(dir.path()).unwrap();
        let reopened = wal.handle().get_committed_notification_by_block_hash(&tip).unwrap();
        assert_eq!(reopened.as_ref(), last.as_ref(), "the newest entry wins after a reopen");
    }

    #[test]
    fn a_crash_between_write_and_rename_leaves_no_entry() {
        let dir = tempfile::tempdir().unwrap();
        let chain = TestChain::new();
        let written = notifications(&chain);
        let wal = Wal::<EthPrimitives>::open(dir.path()).unwrap();
        wal.commit(&written[0]).unwrap();
        drop(wal);
        // What a crash after writing part of the temp file leaves behind.
        let bytes = codec::encode(&written[1]);
        fs::write(dir.path().join("1.wal.tmp"), &bytes[..bytes.len() / 2]).unwrap();

        let wal = Wal::<EthPrimitives>::open(dir.path()).unwrap();
        assert_eq!(wal.iter_notifications().unwrap(), vec![written[0].clone()]);
        assert!(!dir.path().join("1.wal.tmp").exists(), "the stray temp file is removed");
        // The next commit takes the id the crashed one never got.
        assert_eq!(wal.commit(&written[1]).unwrap(), 1);
    }

    #[test]
    fn a_file_of_another_format_version_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let chain = TestChain::new();
        let mut bytes = codec::encode(&notifications(&chain)[0]);
        bytes[0] = WAL_FORMAT_VERSION + 1;
        fs::write(dir.path().join("0.wal"), bytes).unwrap();
        let err = Wal::<EthPrimitives>::open(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("format version {}", WAL_FORMAT_VERSION + 1))
                && err.contains(&format!("reads version {WAL_FORMAT_VERSION}"))
                && err.contains("0.wal"),
            "{err}"
        );
    }

    #[test]
    fn a_truncated_file_is_reported_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let chain = TestChain::new();
        let bytes = codec::encode(&notifications(&chain)[0]);
        fs::write(dir.path().join("0.wal"), &bytes[..bytes.len() - 3]).unwrap();
        let err = Wal::<EthPrimitives>::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("is corrupt") && err.contains("truncated"), "{err}");
    }

    #[test]
    fn holding_more_blocks_than_the_threshold_counts_a_warning() {
        use metrics_util::debugging::{DebugValue, DebuggingRecorder};
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let dir = tempfile::tempdir().unwrap();
        let chain = TestChain::new();
        metrics::with_local_recorder(&recorder, || {
            let wal = Wal::<EthPrimitives>::open(dir.path()).unwrap().with_blocks_warning(3);
            wal.commit(&ExExNotification::ChainCommitted { new: chain.commit(2, 0) }).unwrap();
            wal.commit(&ExExNotification::ChainCommitted { new: chain.commit(2, 0) }).unwrap();
        });
        let values: Vec<_> = snapshotter.snapshot().into_vec();
        let value =
            |name: &str| values.iter().find(|(key, ..)| key.key().name() == name).map(|(.., v)| v);
        assert_eq!(value("exex_wal_blocks_warnings_total"), Some(&DebugValue::Counter(1)));
        assert_eq!(value("exex_wal_blocks"), Some(&DebugValue::Gauge(4.0.into())));
    }

    #[test]
    fn finalize_removes_entries_at_or_below_the_height_and_keeps_the_head() {
        let dir = tempfile::tempdir().unwrap();
        let chain = TestChain::new();
        let wal = Wal::<EthPrimitives>::open(dir.path()).unwrap().with_blocks_warning(2);
        let a = chain.commit(2, 0);
        let b = chain.commit(2, 0);
        wal.commit(&ExExNotification::ChainCommitted { new: Arc::clone(&a) }).unwrap();
        wal.commit(&ExExNotification::ChainCommitted { new: Arc::clone(&b) }).unwrap();
        assert_eq!(wal.num_blocks(), 4);
        assert_eq!(wal.finalize(a.tip().num_hash()).unwrap(), 1);
        assert_eq!(wal.num_blocks(), 2);
        let lookup = wal.handle();
        assert!(
            lookup.get_committed_notification_by_block_hash(&a.tip().hash()).unwrap().is_none()
        );
        assert!(
            lookup.get_committed_notification_by_block_hash(&b.tip().hash()).unwrap().is_some()
        );
        assert_eq!(wal.finalize(b.tip().num_hash()).unwrap(), 1);
        assert!(wal.is_empty());
        drop(wal);
        let wal = Wal::<EthPrimitives>::open(dir.path()).unwrap();
        assert_eq!(wal.head(), Some(b.tip().num_hash()), "the head outlives finalization");
    }
}
