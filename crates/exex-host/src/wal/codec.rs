//! The byte format of one WAL file.
//!
//! ```text
//! file    = version:u8 kind:u8 chain{1,2}
//! kind    = 0 committed (new) | 1 reorged (old, new) | 2 reverted (old)
//! chain   = first_block:u64 count:u32 block{count}
//! block   = hash:[u8;32] len:u32 rlp(block) senders:u32 address{senders}
//!           receipts:u32 (len:u32 rlp(receipt)){receipts}
//! ```
//! Integers are big-endian. Blocks and receipts use their canonical RLP encodings.

use alloy::consensus::BlockHeader as _;
use std::sync::Arc;

use alloy::{
    primitives::{Address, B256},
    rlp::{Decodable, Encodable},
};
use reth_primitives_traits::{NodePrimitives, RecoveredBlock};

use crate::{Chain, ExExNotification, ExecutionOutcome};

/// The format version this build writes and reads, the first byte of every WAL file.
pub const WAL_FORMAT_VERSION: u8 = 1;

const KIND_COMMITTED: u8 = 0;
const KIND_REORGED: u8 = 1;
const KIND_REVERTED: u8 = 2;

/// Encodes a notification into the bytes of a WAL file.
pub(crate) fn encode<N: NodePrimitives>(notification: &ExExNotification<N>) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    out.push(WAL_FORMAT_VERSION);
    match notification {
        ExExNotification::ChainCommitted { new } => {
            out.push(KIND_COMMITTED);
            encode_chain(new, &mut out);
        }
        ExExNotification::ChainReorged { old, new } => {
            out.push(KIND_REORGED);
            encode_chain(old, &mut out);
            encode_chain(new, &mut out);
        }
        ExExNotification::ChainReverted { old } => {
            out.push(KIND_REVERTED);
            encode_chain(old, &mut out);
        }
    }
    out
}

fn encode_chain<N: NodePrimitives>(chain: &Chain<N>, out: &mut Vec<u8>) {
    out.extend_from_slice(&chain.first().number().to_be_bytes());
    put_len(chain.len(), out);
    for (block, receipts) in chain.blocks_and_receipts() {
        out.extend_from_slice(block.hash().as_slice());
        put_rlp(block.sealed_block(), out);
        put_len(block.senders().len(), out);
        for sender in block.senders() {
            out.extend_from_slice(sender.as_slice());
        }
        put_len(receipts.len(), out);
        for receipt in receipts {
            put_rlp(receipt, out);
        }
    }
}

fn put_len(len: usize, out: &mut Vec<u8>) {
    // WAL entries are far below 4 GiB; a larger count is a bug upstream.
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
}

fn put_rlp<T: Encodable + ?Sized>(item: &T, out: &mut Vec<u8>) {
    put_len(item.length(), out);
    item.encode(out);
}

/// Why a file could not be decoded. The version check comes first so that a file from another
/// build is reported as such rather than as corrupt.
#[derive(Debug)]
pub(crate) enum DecodeError {
    /// The version byte is not [`WAL_FORMAT_VERSION`].
    Version(u8),
    /// The bytes are not a valid entry.
    Corrupt(String),
}

/// Decodes the bytes of a WAL file.
pub(crate) fn decode<N: NodePrimitives>(bytes: &[u8]) -> Result<ExExNotification<N>, DecodeError> {
    let mut reader = Reader { bytes };
    let version = reader.u8()?;
    if version != WAL_FORMAT_VERSION {
        return Err(DecodeError::Version(version));
    }
    let notification = match reader.u8()? {
        KIND_COMMITTED => ExExNotification::ChainCommitted { new: reader.chain()? },
        KIND_REORGED => {
            let old = reader.chain()?;
            ExExNotification::ChainReorged { old, new: reader.chain()? }
        }
        KIND_REVERTED => ExExNotification::ChainReverted { old: reader.chain()? },
        other => {
            return Err(DecodeError::Corrupt(format!("unknown notification kind {other}")));
        }
    };
    if !reader.bytes.is_empty() {
        return Err(DecodeError::Corrupt(format!("{} trailing bytes", reader.bytes.len())));
    }
    Ok(notification)
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError::Corrupt(format!(
                "truncated: wanted {n} bytes, {} left",
                self.bytes.len()
            )));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<usize, DecodeError> {
        let mut buf = [0u8; 4];
        buf.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(buf) as usize)
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(buf))
    }

    fn rlp<T: Decodable>(&mut self) -> Result<T, DecodeError> {
        let len = self.u32()?;
        let mut slice = self.take(len)?;
        let item = T::decode(&mut slice).map_err(|e| DecodeError::Corrupt(e.to_string()))?;
        if !slice.is_empty() {
            return Err(DecodeError::Corrupt("rlp item shorter than its length".into()));
        }
        Ok(item)
    }

    fn chain<N: NodePrimitives>(&mut self) -> Result<Arc<Chain<N>>, DecodeError> {
        let first_block = self.u64()?;
        let count = self.u32()?;
        let mut blocks = Vec::with_capacity(count.min(4096));
        let mut receipts = Vec::with_capacity(count.min(4096));
        for _ in 0..count {
            let hash = B256::from_slice(self.take(32)?);
            let block: N::Block = self.rlp()?;
            let senders_len = self.u32()?;
            let mut senders = Vec::with_capacity(senders_len.min(1 << 16));
            for _ in 0..senders_len {
                senders.push(Address::from_slice(self.take(20)?));
            }
            let receipts_len = self.u32()?;
            let mut block_receipts = Vec::with_capacity(receipts_len.min(1 << 16));
            for _ in 0..receipts_len {
                block_receipts.push(self.rlp::<N::Receipt>()?);
            }
            blocks.push(Arc::new(RecoveredBlock::new(block, senders, hash)));
            receipts.push(block_receipts);
        }
        let chain = Chain::new(blocks, ExecutionOutcome::new(receipts, first_block))
            .map_err(|e| DecodeError::Corrupt(e.to_string()))?;
        Ok(Arc::new(chain))
    }
}
