//! Data availability: what a batch publishes and the `daCommitment` that binds it.
//!
//! A batch's pubdata is its transactions, EIP-2718 encoded, in block order: a stand-in for the
//! state diffs a real chain publishes. The executor checks each batch's DA input at commit:
//! - `validium`: only the commitment is published, `keccak256(abi.encode(blockHashes))`;
//! - `rollup-calldata`: the pubdata goes in the commit transaction's calldata, and the
//!   commitment is `keccak256(pubdata)`;
//! - `rollup-blobs`: the pubdata is packed into EIP-4844 blobs (alloy's `SimpleCoder`) carried by
//!   the commit transaction, and the commitment is `keccak256(abi.encodePacked(versionedHashes))`;
//!   the executor reads the versioned hashes with `BLOBHASH`. A batch without pubdata has no blob
//!   and the commitment of an empty list.

use alloy::{
    eips::eip4844::{
        Blob, BlobTransactionSidecar,
        builder::{SidecarBuilder, SimpleCoder},
    },
    eips::eip7594::BlobTransactionSidecarEip7594,
    primitives::{B256, Bytes, U256, keccak256},
    sol_types::SolValue,
};
use gateway_primitives::DaScheme;
use tracing::warn;

use crate::error::{SettlementError, SettlementResult};

/// At most this many blobs per batch and per commit transaction (EIP-7594's per-transaction
/// limit); the executor enforces the same per batch.
pub const MAX_BLOBS_PER_TX: usize = 6;

/// The KZG trusted setup compiled into alloy (loaded once).
fn kzg() -> &'static alloy::eips::eip4844::c_kzg::KzgSettings {
    alloy::eips::eip4844::env_settings::EnvKzgSettings::Default.get()
}

/// What a commit transaction carries for one batch.
#[derive(Debug, Clone, Default)]
pub struct DaInput {
    /// The `daInputs` entry of `commitBatches`.
    pub input: Bytes,
    /// The batch's blobs, in order (rollup-blobs only).
    pub blobs: Vec<Blob>,
}

/// The blobs that carry `pubdata` (none for empty pubdata).
pub fn blobs_of(pubdata: &[u8]) -> Vec<Blob> {
    if pubdata.is_empty() {
        return Vec::new();
    }
    SidecarBuilder::<SimpleCoder>::from_slice(pubdata).take()
}

/// `keccak256(abi.encodePacked(versionedHashes))` of `blobs`.
pub fn blob_commitment(blobs: &[Blob]) -> SettlementResult<B256> {
    let hashes = versioned_hashes(blobs)?;
    let packed: Vec<u8> = hashes.iter().flat_map(|h| h.0).collect();
    Ok(keccak256(packed))
}

fn versioned_hashes(blobs: &[Blob]) -> SettlementResult<Vec<B256>> {
    if blobs.is_empty() {
        return Ok(Vec::new());
    }
    // The EIP-4844 form computes one proof per blob instead of 128 cell proofs: enough for the
    // commitments, whose versioned hashes are the same in both forms.
    let sidecar = BlobTransactionSidecar::try_from_blobs_with_settings(blobs.to_vec(), kzg())?;
    Ok(sidecar.versioned_hashes().collect())
}

/// The scheme a batch is sealed with and its `daCommitment`. A rollup-blobs batch that would need
/// more than [`MAX_BLOBS_PER_TX`] blobs falls back to rollup-calldata (logged), so no batch is
/// ever uncommittable.
pub fn seal_commitment(
    scheme: DaScheme,
    block_hashes: &[B256],
    pubdata: &[u8],
    batch: u64,
) -> SettlementResult<(DaScheme, B256)> {
    match scheme {
        DaScheme::Validium => Ok((scheme, keccak256(block_hashes.abi_encode()))),
        DaScheme::RollupCalldata => Ok((scheme, keccak256(pubdata))),
        DaScheme::RollupBlobs => {
            let blobs = blobs_of(pubdata);
            if blobs.len() > MAX_BLOBS_PER_TX {
                warn!(
                    target: "settlement::batcher",
                    batch,
                    blobs = blobs.len(),
                    max = MAX_BLOBS_PER_TX,
                    "batch needs more blobs than a transaction carries: its pubdata goes as calldata"
                );
                return Ok((DaScheme::RollupCalldata, keccak256(pubdata)));
            }
            Ok((scheme, blob_commitment(&blobs)?))
        }
    }
}

/// What the commit transaction carries for a batch sealed with `scheme`.
pub fn commit_input(scheme: DaScheme, pubdata: Vec<u8>) -> DaInput {
    match scheme {
        DaScheme::Validium => DaInput::default(),
        DaScheme::RollupCalldata => DaInput { input: pubdata.into(), blobs: Vec::new() },
        DaScheme::RollupBlobs => {
            let blobs = blobs_of(&pubdata);
            DaInput { input: U256::from(blobs.len()).abi_encode().into(), blobs }
        }
    }
}

/// The EIP-7594 sidecar (cell proofs) of a commit transaction's blobs.
pub fn sidecar(blobs: Vec<Blob>) -> SettlementResult<BlobTransactionSidecarEip7594> {
    Ok(BlobTransactionSidecarEip7594::try_from_blobs_with_settings(blobs, kzg())?)
}

/// The EIP-7594 sidecar of `blobs`, built on a blocking thread (cell proofs take a while).
pub async fn sidecar_off_thread(
    blobs: Vec<Blob>,
) -> SettlementResult<BlobTransactionSidecarEip7594> {
    tokio::task::spawn_blocking(move || sidecar(blobs))
        .await
        .map_err(|e| SettlementError::Sidecar(Box::new(e)))?
}

/// The pubdata of blocks `from..=to` as stored, for a batch under `scheme` (empty for a scheme
/// that publishes none). Blocks stored while the node ran as a validium have none: a rollup
/// must not silently publish less, so that is an error naming the fix.
pub fn stored_pubdata(
    store: &gateway_store::Store,
    scheme: DaScheme,
    from: u64,
    to: u64,
) -> SettlementResult<Vec<u8>> {
    if !scheme.publishes_pubdata() {
        return Ok(Vec::new());
    }
    store.pubdata(from..=to).map_err(|source| SettlementError::MissingPubdata {
        from,
        to,
        da: scheme.as_str(),
        source: Box::new(source),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scheme_commits_to_what_it_publishes() {
        let pubdata = vec![7u8; 1_000];
        let hashes = [B256::repeat_byte(1), B256::repeat_byte(2)];
        let (scheme, validium) = seal_commitment(DaScheme::Validium, &hashes, &pubdata, 1).unwrap();
        assert_eq!(
            (scheme, validium),
            (DaScheme::Validium, keccak256(hashes.to_vec().abi_encode()))
        );
        let (_, calldata) =
            seal_commitment(DaScheme::RollupCalldata, &hashes, &pubdata, 1).unwrap();
        assert_eq!(calldata, keccak256(&pubdata));
        assert_eq!(commit_input(DaScheme::RollupCalldata, pubdata.clone()).input, pubdata);

        let (scheme, blobs) = seal_commitment(DaScheme::RollupBlobs, &hashes, &pubdata, 1).unwrap();
        assert_eq!(scheme, DaScheme::RollupBlobs);
        let input = commit_input(DaScheme::RollupBlobs, pubdata.clone());
        assert_eq!(input.blobs.len(), 1);
        assert_eq!(input.input, U256::from(1).abi_encode());
        let sidecar = sidecar(input.blobs).unwrap();
        let packed: Vec<u8> = sidecar.versioned_hashes().flat_map(|h| h.0).collect();
        assert_eq!(blobs, keccak256(packed), "the sidecar's hashes are the sealed commitment");
        let mut other = pubdata;
        other[0] = 8;
        assert_ne!(seal_commitment(DaScheme::RollupBlobs, &hashes, &other, 1).unwrap().1, blobs);
    }

    #[test]
    fn empty_pubdata_has_no_blob_and_too_much_falls_back_to_calldata() {
        let (scheme, empty) = seal_commitment(DaScheme::RollupBlobs, &[], &[], 1).unwrap();
        assert_eq!((scheme, empty), (DaScheme::RollupBlobs, keccak256([])));
        assert!(commit_input(DaScheme::RollupBlobs, Vec::new()).blobs.is_empty());
        let huge = vec![1u8; 131_072 * MAX_BLOBS_PER_TX];
        let (scheme, commitment) = seal_commitment(DaScheme::RollupBlobs, &[], &huge, 1).unwrap();
        assert_eq!((scheme, commitment), (DaScheme::RollupCalldata, keccak256(&huge)));
    }
}
