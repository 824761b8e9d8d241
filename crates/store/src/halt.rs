//! [`Halt`]: settlement stopped by a reorg of the chain below a committed batch. Persisted in
//! the sender's table, so a restart stays halted until the operator acts.

use crate::{StoreError, StoreResult};

/// The sender-table key of the halt record.
pub(crate) const HALT_KEY: &str = "halt";

/// Why settlement stopped: the chain reorged below batch `batch`, which the settlement layer
/// holds committed (`executed` = false) or executed. Nothing is sealed or sent while it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Halt {
    /// The lowest batch the settlement layer holds that has a replaced block.
    pub batch: u64,
    /// The first block the chain replaced.
    pub first_reverted_block: u64,
    /// Whether the settlement layer had executed that batch (no revert can undo it).
    pub executed: bool,
}

impl Halt {
    pub(crate) fn encode(&self) -> [u8; 17] {
        let mut bytes = [0u8; 17];
        bytes[..8].copy_from_slice(&self.batch.to_be_bytes());
        bytes[8..16].copy_from_slice(&self.first_reverted_block.to_be_bytes());
        bytes[16] = u8::from(self.executed);
        bytes
    }

    pub(crate) fn decode(bytes: &[u8]) -> StoreResult<Self> {
        let corrupt = || StoreError::Corrupt {
            table: "sender",
            key: HALT_KEY.into(),
            reason: format!("{} bytes, expected 17", bytes.len()),
        };
        let bytes: &[u8; 17] = bytes.try_into().map_err(|_| corrupt())?;
        let word = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(b)
        };
        Ok(Self { batch: word(0), first_reverted_block: word(8), executed: bytes[16] == 1 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for executed in [false, true] {
            let halt = Halt { batch: 7, first_reverted_block: 40, executed };
            assert_eq!(Halt::decode(&halt.encode()).unwrap(), halt);
        }
        assert!(Halt::decode(&[1, 2, 3]).is_err());
    }
}
