//! Records stored in the tables, with their byte encodings.

use alloy::primitives::B256;

use crate::{StoreError, StoreResult};

/// What the settlement ExEx keeps of each L2 block it has seen.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlockRecord {
    /// The block number.
    pub number: u64,
    /// The block hash.
    pub hash: B256,
    /// The parent block's hash.
    pub parent_hash: B256,
    /// The block timestamp.
    pub timestamp: u64,
    /// How many transactions it has.
    pub tx_count: u32,
    /// The gas it used.
    pub gas_used: u64,
    /// The bytes it publishes (its transactions' encoded size).
    pub pubdata_bytes: u64,
    /// The leaves of its L2 -> L1 messages, in order.
    pub message_leaves: Vec<B256>,
    /// The interop roots it imported (`InteropRoots.RootImported`), in order.
    pub imported_roots: Vec<ImportedRoot>,
    /// The hashes of the priority operations (L1 -> L2 transactions) it processed
    /// (`L2Inbox.PriorityOpProcessed`), in order.
    pub priority_ops: Vec<B256>,
}

/// An interop root a chain block imported from the Gateway.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportedRoot {
    /// The Gateway block it is the root of.
    pub gateway_block: u64,
    /// The root.
    pub root: B256,
}

const BLOCK_FIXED_LEN: usize = 32 + 32 + 8 + 4 + 8 + 8 + 4;

impl BlockRecord {
    /// Its number and hash.
    pub const fn num_hash(&self) -> alloy::eips::BlockNumHash {
        alloy::eips::BlockNumHash { number: self.number, hash: self.hash }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BLOCK_FIXED_LEN + 32 * self.message_leaves.len());
        out.extend_from_slice(self.hash.as_slice());
        out.extend_from_slice(self.parent_hash.as_slice());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.tx_count.to_be_bytes());
        out.extend_from_slice(&self.gas_used.to_be_bytes());
        out.extend_from_slice(&self.pubdata_bytes.to_be_bytes());
        out.extend_from_slice(&(self.message_leaves.len() as u32).to_be_bytes());
        for leaf in &self.message_leaves {
            out.extend_from_slice(leaf.as_slice());
        }
        // Since schema 5; older records end here and read as importing nothing.
        if !self.imported_roots.is_empty() || !self.priority_ops.is_empty() {
            out.extend_from_slice(&(self.imported_roots.len() as u32).to_be_bytes());
            for imported in &self.imported_roots {
                out.extend_from_slice(&imported.gateway_block.to_be_bytes());
                out.extend_from_slice(imported.root.as_slice());
            }
        }
        // Since deposits (schema 7 still: older records end before it and read as processing
        // none).
        if !self.priority_ops.is_empty() {
            out.extend_from_slice(&(self.priority_ops.len() as u32).to_be_bytes());
            for op in &self.priority_ops {
                out.extend_from_slice(op.as_slice());
            }
        }
        out
    }

    pub(crate) fn decode(number: u64, bytes: &[u8]) -> StoreResult<Self> {
        let corrupt = |reason: String| StoreError::Corrupt {
            table: "blocks",
            key: number.to_string(),
            reason,
        };
        if bytes.len() < BLOCK_FIXED_LEN {
            return Err(corrupt(format!(
                "{} bytes, expected at least {BLOCK_FIXED_LEN}",
                bytes.len()
            )));
        }
        let mut reader = Reader(bytes);
        let hash = reader.b256();
        let parent_hash = reader.b256();
        let timestamp = reader.u64();
        let tx_count = reader.u32();
        let gas_used = reader.u64();
        let pubdata_bytes = reader.u64();
        let leaves = reader.u32() as usize;
        if reader.0.len() < leaves * 32 {
            return Err(corrupt(format!(
                "{leaves} message leaves but {} bytes left",
                reader.0.len()
            )));
        }
        let message_leaves = (0..leaves).map(|_| reader.b256()).collect();
        let mut imported_roots = Vec::new();
        if !reader.0.is_empty() {
            if reader.0.len() < 4 {
                return Err(corrupt(format!("{} stray bytes after the leaves", reader.0.len())));
            }
            let count = reader.u32() as usize;
            if reader.0.len() < count * 40 {
                return Err(corrupt(format!(
                    "{count} imported roots but {} bytes left",
                    reader.0.len()
                )));
            }
            imported_roots = (0..count)
                .map(|_| ImportedRoot { gateway_block: reader.u64(), root: reader.b256() })
                .collect();
        }
        let mut priority_ops = Vec::new();
        if !reader.0.is_empty() {
            if reader.0.len() < 4 {
                return Err(corrupt(format!("{} stray bytes after the roots", reader.0.len())));
            }
            let count = reader.u32() as usize;
            if reader.0.len() != count * 32 {
                return Err(corrupt(format!(
                    "{count} priority operations but {} bytes left",
                    reader.0.len()
                )));
            }
            priority_ops = (0..count).map(|_| reader.b256()).collect();
        }
        Ok(Self {
            number,
            hash,
            parent_hash,
            timestamp,
            tx_count,
            gas_used,
            pubdata_bytes,
            message_leaves,
            imported_roots,
            priority_ops,
        })
    }
}

/// How far a batch has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum BatchStage {
    /// Sealed: its blocks and commitment are fixed.
    Sealed = 0,
    /// Its proof is ready.
    Proved = 1,
    /// Committed on the settlement layer.
    Committed = 2,
    /// Its proof was accepted on the settlement layer.
    ProvedOnChain = 3,
    /// Executed on the settlement layer.
    Executed = 4,
}

impl BatchStage {
    /// Every stage, in order.
    pub const ALL: [Self; 5] =
        [Self::Sealed, Self::Proved, Self::Committed, Self::ProvedOnChain, Self::Executed];

    /// A short name for status and metrics.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Sealed => "sealed",
            Self::Proved => "proved",
            Self::Committed => "committed",
            Self::ProvedOnChain => "proved_on_chain",
            Self::Executed => "executed",
        }
    }

    fn from_u8(value: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| *s as u8 == value)
    }
}

/// A sealed batch and how far it has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRecord {
    /// The batch number.
    pub number: u64,
    /// Its first L2 block.
    pub first_block: u64,
    /// Its last L2 block.
    pub last_block: u64,
    /// The settlement layer it was built for (it is inside the commitment).
    pub sl_chain_id: u64,
    /// How far it has come.
    pub stage: BatchStage,
    /// The ABI encoding of its `CommitBatchInfo`.
    pub commit_info: Vec<u8>,
    /// Its proof, once proved.
    pub proof: Vec<u8>,
}

impl BatchRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 * 3 + 1 + 8 + self.commit_info.len() + self.proof.len());
        out.extend_from_slice(&self.first_block.to_be_bytes());
        out.extend_from_slice(&self.last_block.to_be_bytes());
        out.extend_from_slice(&self.sl_chain_id.to_be_bytes());
        out.push(self.stage as u8);
        out.extend_from_slice(&(self.commit_info.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.commit_info);
        out.extend_from_slice(&(self.proof.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.proof);
        out
    }

    pub(crate) fn decode(number: u64, bytes: &[u8]) -> StoreResult<Self> {
        let corrupt = |reason: &str| StoreError::Corrupt {
            table: "batches",
            key: number.to_string(),
            reason: reason.into(),
        };
        if bytes.len() < 8 * 3 + 1 + 8 {
            return Err(corrupt("too short"));
        }
        let mut reader = Reader(bytes);
        let first_block = reader.u64();
        let last_block = reader.u64();
        let sl_chain_id = reader.u64();
        let stage = BatchStage::from_u8(reader.u8()).ok_or_else(|| corrupt("unknown stage"))?;
        let commit_len = reader.u32() as usize;
        if reader.0.len() < commit_len + 4 {
            return Err(corrupt("truncated commit info"));
        }
        let commit_info = reader.take(commit_len).to_vec();
        let proof_len = reader.u32() as usize;
        if reader.0.len() != proof_len {
            return Err(corrupt("truncated proof"));
        }
        let proof = reader.take(proof_len).to_vec();
        Ok(Self { number, first_block, last_block, sl_chain_id, stage, commit_info, proof })
    }
}

/// Reads fields off a record whose length was checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.0.split_at(n.min(self.0.len()));
        self.0 = tail;
        head
    }

    fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or_default()
    }

    fn u32(&mut self) -> u32 {
        let mut buf = [0u8; 4];
        buf.copy_from_slice(self.take(4));
        u32::from_be_bytes(buf)
    }

    fn u64(&mut self) -> u64 {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(self.take(8));
        u64::from_be_bytes(buf)
    }

    fn b256(&mut self) -> B256 {
        B256::from_slice(self.take(32))
    }
}

/// The settlement-layer transaction the sender sent last and has not seen mined yet. It is
/// written before the transaction is broadcast: signed, with its hash and bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InFlightTx {
    /// What it does: 0 commit, 1 prove, 2 execute.
    pub stage: u8,
    /// Its first batch.
    pub from: u64,
    /// Its last batch.
    pub to: u64,
    /// The operator nonce it uses; any replacement reuses it.
    pub nonce: u64,
    /// How many times it was sent (each resend bumps the fee).
    pub attempts: u32,
    /// The hash of the last signed send (it may have been broadcast); zero when none was
    /// signed, or the node refused the last one.
    pub hash: B256,
    /// That transaction as signed and broadcast (EIP-2718 bytes; with a blob sidecar, its
    /// network form); empty with a zero hash. Records written before it existed decode empty.
    pub raw: Vec<u8>,
}

const IN_FLIGHT_FIXED_LEN: usize = 1 + 8 * 3 + 4 + 32;

impl InFlightTx {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(IN_FLIGHT_FIXED_LEN + self.raw.len());
        out.push(self.stage);
        out.extend_from_slice(&self.from.to_be_bytes());
        out.extend_from_slice(&self.to.to_be_bytes());
        out.extend_from_slice(&self.nonce.to_be_bytes());
        out.extend_from_slice(&self.attempts.to_be_bytes());
        out.extend_from_slice(self.hash.as_slice());
        out.extend_from_slice(&self.raw);
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> StoreResult<Self> {
        if bytes.len() < IN_FLIGHT_FIXED_LEN {
            return Err(StoreError::Corrupt {
                table: "sender",
                key: "in_flight".into(),
                reason: format!("{} bytes", bytes.len()),
            });
        }
        let mut reader = Reader(bytes);
        Ok(Self {
            stage: reader.u8(),
            from: reader.u64(),
            to: reader.u64(),
            nonce: reader.u64(),
            attempts: reader.u32(),
            hash: reader.b256(),
            raw: bytes[IN_FLIGHT_FIXED_LEN..].to_vec(),
        })
    }
}
