//! The two circuits: a narrow leaf over one batch's public input, and the aggregation of leaves.

use halo2_base::{
    gates::{
        RangeInstructions,
        circuit::{BaseCircuitParams, CircuitBuilderStage, builder::BaseCircuitBuilder},
        flex_gate::MultiPhaseThreadBreakPoints,
    },
    halo2_proofs::{
        halo2curves::bn256::{Bn256, Fr},
        poly::kzg::commitment::ParamsKZG,
    },
};
use snark_verifier_sdk::{
    SHPLONK, Snark,
    halo2::aggregation::{AggregationCircuit, AggregationConfigParams, VerifierUniversality},
};

/// Public instances of a leaf: the chain id and the batch's public input.
pub(crate) const LEAF_INSTANCES: usize = 2;
/// The accumulator's limbs at the start of an aggregation's instances (4 coordinates × 3 limbs).
pub(crate) const ACCUMULATOR_LIMBS: usize = 12;
/// Bits of each accumulator limb.
pub(crate) const LIMB_BITS: usize = 88;

/// The leaf's shape before keygen fixes the rest: one advice column, one lookup column, one
/// fixed column (narrow leaves keep aggregation cheap).
pub(crate) fn leaf_shape(k: u32) -> BaseCircuitParams {
    BaseCircuitParams {
        k: k as usize,
        num_advice_per_phase: vec![1],
        num_fixed: 1,
        num_lookup_advice_per_phase: vec![1],
        lookup_bits: Some(k as usize - 1),
        num_instance_columns: 1,
    }
}

/// The leaf circuit. It stands in for a chain's validity circuit (a zkVM proving the batch's
/// state transition): all it proves is that its two public instances are a 64-bit chain id and
/// a 224-bit batch public input, which binds the proof to exactly that batch. A chain plugs its
/// real validity prover in through the same `ProofBackend` trait.
pub(crate) fn leaf_circuit(
    stage: CircuitBuilderStage,
    params: &BaseCircuitParams,
    break_points: Option<MultiPhaseThreadBreakPoints>,
    chain_id: u64,
    value: Fr,
) -> BaseCircuitBuilder<Fr> {
    let mut builder = BaseCircuitBuilder::from_stage(stage).use_params(params.clone());
    if let Some(break_points) = break_points {
        builder.set_break_points(break_points);
    }
    let range = builder.range_chip();
    let ctx = builder.main(0);
    let chain = ctx.load_witness(Fr::from(chain_id));
    let input = ctx.load_witness(value);
    range.range_check(ctx, chain, 64);
    range.range_check(ctx, input, 224);
    builder.assigned_instances[0].extend([chain, input]);
    builder
}

/// The aggregation circuit over `snarks`, exposing its accumulator and then every snark's
/// instances in order. Over aggregations (`over_aggregations`: the second level of a tree) the
/// inner accumulators are folded in and not exposed again, so the leaves' instances still follow
/// the accumulator directly.
pub(crate) fn aggregation_circuit(
    stage: CircuitBuilderStage,
    config: AggregationConfigParams,
    params: &ParamsKZG<Bn256>,
    snarks: Vec<Snark>,
    break_points: Option<MultiPhaseThreadBreakPoints>,
    over_aggregations: bool,
) -> AggregationCircuit {
    let mut circuit = AggregationCircuit::new::<SHPLONK>(
        stage,
        config,
        params,
        snarks,
        VerifierUniversality::None,
    );
    circuit.expose_previous_instances(over_aggregations);
    if let Some(break_points) = break_points {
        circuit.set_break_points(break_points);
    }
    circuit
}
