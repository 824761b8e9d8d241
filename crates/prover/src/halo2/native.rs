//! Native verification, and the metrics of proving.

use std::time::Instant;

use halo2_base::halo2_proofs::{
    arithmetic::CurveAffine,
    halo2curves::{
        bn256::{Bn256, Fq, Fr, G1Affine},
        ff::PrimeField,
        pairing::Engine,
    },
    plonk::{VerifyingKey, verify_proof},
    poly::{
        commitment::ParamsProver,
        kzg::{
            commitment::{KZGCommitmentScheme, ParamsKZG},
            multiopen::VerifierSHPLONK,
            strategy::SingleStrategy,
        },
    },
    transcript::TranscriptReadBuffer,
};
use snark_verifier_sdk::{
    NativeLoader,
    halo2::{POSEIDON_SPEC, PoseidonTranscript},
    snark_verifier::system::halo2::transcript::evm::EvmTranscript,
};

use super::circuits::{ACCUMULATOR_LIMBS, LIMB_BITS};
use crate::{BackendKind, ProverError, ProverResult};

fn invalid(what: &str, reason: impl Into<String>) -> ProverError {
    ProverError::Invalid { kind: BackendKind::Halo2, what: what.into(), reason: reason.into() }
}

/// A verifier that panicked read bytes it could not parse: the proof's fault (whoever made it,
/// a worker say), not the verifier's.
fn panicked(what: &str, error: ProverError) -> ProverError {
    match error {
        ProverError::Failed { reason, .. } => {
            invalid(what, format!("the verifier panicked on it: {reason}"))
        }
        other => other,
    }
}

/// Verifies a Keccak-transcript (EVM) SHPLONK proof.
pub(crate) fn verify_evm_proof(
    params: &ParamsKZG<Bn256>,
    vk: &VerifyingKey<G1Affine>,
    instances: &[Fr],
    proof: &[u8],
    what: &str,
) -> ProverResult<()> {
    let verifier_params = params.verifier_params();
    let result = super::guarded(what, || {
        let mut transcript = TranscriptReadBuffer::<_, G1Affine, _>::init(proof);
        verify_proof::<
            KZGCommitmentScheme<Bn256>,
            VerifierSHPLONK<'_, Bn256>,
            _,
            EvmTranscript<G1Affine, _, _, _>,
            _,
        >(verifier_params, vk, SingleStrategy::new(params), &[&[instances]], &mut transcript)
    })
    .map_err(|e| panicked(what, e))?;
    result.map_err(|e| invalid(what, format!("{e:?}")))
}

/// Verifies a Poseidon-transcript SHPLONK proof (the form aggregation reads).
pub(crate) fn verify_poseidon_proof(
    params: &ParamsKZG<Bn256>,
    vk: &VerifyingKey<G1Affine>,
    instances: &[Fr],
    proof: &[u8],
    what: &str,
) -> ProverResult<()> {
    let verifier_params = params.verifier_params();
    let result = super::guarded(what, || {
        let mut transcript =
            PoseidonTranscript::<NativeLoader, &[u8]>::from_spec(proof, POSEIDON_SPEC.clone());
        verify_proof::<KZGCommitmentScheme<Bn256>, VerifierSHPLONK<'_, Bn256>, _, _, _>(
            verifier_params,
            vk,
            SingleStrategy::new(params),
            &[&[instances]],
            &mut transcript,
        )
    })
    .map_err(|e| panicked(what, e))?;
    result.map_err(|e| invalid(what, format!("{e:?}")))
}

/// An accumulator coordinate from its three 88-bit limbs (least significant first).
fn coordinate(limbs: &[Fr]) -> Option<Fq> {
    let mut repr = [0u8; 32];
    let mut value = alloy_primitives::U256::ZERO;
    for (i, limb) in limbs.iter().enumerate() {
        value |= super::from_fr(limb) << (LIMB_BITS * i);
    }
    repr.copy_from_slice(&value.to_le_bytes::<32>());
    Option::from(Fq::from_repr(repr))
}

/// The pairing check that makes an aggregation's KZG accumulator a valid proof:
/// `e(lhs, g2) == e(rhs, s·g2)`.
pub(crate) fn check_accumulator(
    params: &ParamsKZG<Bn256>,
    limbs: &[Fr],
    what: &str,
) -> ProverResult<()> {
    if limbs.len() != ACCUMULATOR_LIMBS {
        return Err(invalid(what, format!("{} accumulator limbs, expected 12", limbs.len())));
    }
    let point = |at: usize| -> ProverResult<G1Affine> {
        let x = coordinate(&limbs[at..at + 3]).ok_or_else(|| invalid(what, "accumulator x"))?;
        let y = coordinate(&limbs[at + 3..at + 6]).ok_or_else(|| invalid(what, "accumulator y"))?;
        Option::from(G1Affine::from_xy(x, y))
            .ok_or_else(|| invalid(what, "accumulator point not on the curve"))
    };
    let (lhs, rhs) = (point(0)?, point(6)?);
    if Bn256::pairing(&lhs, &params.g2()) != Bn256::pairing(&rhs, &params.s_g2()) {
        return Err(invalid(what, "the accumulator's pairing check fails"));
    }
    Ok(())
}

/// Registers the descriptions of the prover's metrics. Idempotent.
pub(crate) fn describe_metrics() {
    metrics::describe_histogram!(
        "prover_proof_seconds",
        "time of one halo2 proof, by kind (leaf, aggregation, subtree: a tree's first level, tree: its top)"
    );
    metrics::describe_gauge!(
        "prover_peak_memory_bytes",
        "the process's peak resident memory after a halo2 proof"
    );
}

/// Records a proof's time and the process's peak memory.
pub(crate) fn record_proof(kind: &'static str, started: Instant) {
    metrics::histogram!("prover_proof_seconds", "kind" => kind)
        .record(started.elapsed().as_secs_f64());
    if let Some(peak) = peak_memory_bytes() {
        metrics::gauge!("prover_peak_memory_bytes").set(peak as f64);
    }
}

/// The process's peak resident memory (`VmHWM`), where `/proc` has it.
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
