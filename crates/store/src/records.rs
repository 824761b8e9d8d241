//! Records stored in the tables, with their byte encodings.

use alloy::primitives::B256;

use crate::{StoreError, StoreResult};

/// What the settlement ExEx keeps of each L2 block it has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

const BLOCK_RECORD_LEN: usize = 32 + 32 + 8 + 4 + 8;

impl BlockRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BLOCK_RECORD_LEN);
        out.extend_from_slice(self.hash.as_slice());
        out.extend_from_slice(self.parent_hash.as_slice());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.tx_count.to_be_bytes());
        out.extend_from_slice(&self.gas_used.to_be_bytes());
        out
    }

    pub(crate) fn decode(number: u64, bytes: &[u8]) -> StoreResult<Self> {
        if bytes.len() != BLOCK_RECORD_LEN {
            return Err(StoreError::Corrupt {
                table: "blocks",
                key: number.to_string(),
                reason: format!("{} bytes, expected {BLOCK_RECORD_LEN}", bytes.len()),
            });
        }
        let u64_at = |at: usize| {
            let mut buf = [0u8; 8];
            buf.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(buf)
        };
        let mut tx_count = [0u8; 4];
        tx_count.copy_from_slice(&bytes[72..76]);
        Ok(Self {
            number,
            hash: B256::from_slice(&bytes[..32]),
            parent_hash: B256::from_slice(&bytes[32..64]),
            timestamp: u64_at(64),
            tx_count: u32::from_be_bytes(tx_count),
            gas_used: u64_at(76),
        })
    }
}
