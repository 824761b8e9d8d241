//! Where a mined transaction's gas went, by kind of work, from the node's own opcode trace
//! (`debug_traceTransaction`, struct logs): for benchmarks that must explain a number, not only
//! print it.

use alloy::{primitives::B256, providers::Provider};
use serde::Deserialize;

use crate::{DevnetError, DevnetResult, raw_call};

/// A transaction's gas, split by what paid for it. The parts add up to the receipt's gas used:
/// `base + calldata + storage_reads + storage_writes + hashing + events + calls + other -
/// refund + floor`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct GasProfile {
    /// The receipt's gas used.
    pub gas_used: u64,
    /// The transaction's own 21,000.
    pub base: u64,
    /// The rest of the intrinsic gas: the calldata's bytes (and, for a creation, the code).
    pub calldata: u64,
    /// `SLOAD`s of the top call frame.
    pub storage_reads: u64,
    /// How many `SLOAD`s.
    pub sloads: u64,
    /// `SSTORE`s of the top call frame (before refunds).
    pub storage_writes: u64,
    /// How many `SSTORE`s.
    pub sstores: u64,
    /// `KECCAK256` of the top call frame (with the memory it expanded).
    pub hashing: u64,
    /// `LOG0`..`LOG4` of the top call frame.
    pub events: u64,
    /// Calls to other contracts (a verifier, a library), everything inside them included.
    pub calls: u64,
    /// Everything else the top frame ran: ABI decoding, memory, arithmetic, jumps.
    pub other: u64,
    /// Gas refunded at the end (storage cleared or set back).
    pub refund: u64,
    /// What the transaction paid above its execution because its calldata's floor price
    /// (EIP-7623: 10 gas per zero byte, 40 per other byte, plus 21,000) was higher: nonzero only
    /// for a calldata-heavy transaction, whose gas then no longer moves with its execution. (A
    /// transaction that gets a refund and pays the floor shows the top-up net of the refund.)
    pub floor: u64,
}

impl GasProfile {
    /// `self` divided by `n` (e.g. per chain batch), each part rounded down.
    pub fn per(&self, n: u64) -> Self {
        let n = n.max(1);
        Self {
            gas_used: self.gas_used / n,
            base: self.base / n,
            calldata: self.calldata / n,
            storage_reads: self.storage_reads / n,
            sloads: self.sloads / n,
            storage_writes: self.storage_writes / n,
            sstores: self.sstores / n,
            hashing: self.hashing / n,
            events: self.events / n,
            calls: self.calls / n,
            other: self.other / n,
            refund: self.refund / n,
            floor: self.floor / n,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Trace {
    gas: u64,
    #[serde(default)]
    struct_logs: Vec<Step>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Step {
    /// Where in the code of the frame it ran (for [`PCS_ENV`]).
    #[serde(default)]
    pc: u64,
    op: String,
    gas: u64,
    gas_cost: u64,
    depth: u64,
}

#[derive(Deserialize)]
struct TxGas {
    gas: alloy::primitives::U64,
}

/// The [`GasProfile`] of mined transaction `hash`, from the node's struct-log trace (anvil and
/// geth answer `debug_traceTransaction`; anvil only when started with `--steps-tracing`, see
/// [`crate::DevnetConfig::l1_steps_tracing`]). A trace of a large transaction runs to hundreds of
/// megabytes: profile the shapes a benchmark explains, not every transaction.
pub async fn gas_profile<P: Provider>(provider: &P, hash: B256) -> DevnetResult<GasProfile> {
    let options = serde_json::json!({
        "disableStack": true, "disableStorage": true, "enableMemory": false,
        "enableReturnData": false,
    });
    let trace: Trace = serde_json::from_value(
        raw_call(provider, "debug_traceTransaction", serde_json::json!([hash, options])).await?,
    )
    .map_err(|e| DevnetError::Rpc(format!("debug_traceTransaction {hash}: {e}")))?;
    if trace.struct_logs.is_empty() {
        return Err(DevnetError::Rpc(format!(
            "debug_traceTransaction {hash}: no opcode steps in the trace; start anvil with \
             --steps-tracing (DevnetConfig::l1_steps_tracing)"
        )));
    }
    let tx: TxGas = serde_json::from_value(
        raw_call(provider, "eth_getTransactionByHash", serde_json::json!([hash])).await?,
    )
    .map_err(|e| DevnetError::Rpc(format!("eth_getTransactionByHash {hash}: {e}")))?;
    if let Some(dir) = std::env::var_os(PCS_ENV) {
        for (name, steps) in pcs_files(&trace) {
            let path = std::path::Path::new(&dir).join(format!("{hash}{name}"));
            std::fs::write(&path, steps)
                .map_err(|source| DevnetError::Io { path: path.clone(), source })?;
        }
    }
    Ok(profile_of(tx.gas.to::<u64>(), &trace))
}

/// The environment variable naming a folder: when set, [`gas_profile`] also writes there, per
/// traced transaction, one file per call frame with one line per step of it: its program counter,
/// its opcode and the gas it cost (a call's including all inside it). The top frame's file is
/// `<hash>.txt`; the frames it calls, in the order they started, are
/// `<hash>.frame<N>.depth<D>.txt` (the top frame is frame 0 at depth 1; a verifier behind an
/// adapter is the frame at depth 3). `node scripts/gas-by-line.js <file> [Contract]` adds a
/// file up by line of the contract's sources.
pub const PCS_ENV: &str = "GAS_PROFILE_PCS";

/// The files [`PCS_ENV`] writes for `trace`: each frame's name after the transaction hash, and
/// its steps.
fn pcs_files(trace: &Trace) -> Vec<(String, String)> {
    frames(trace)
        .iter()
        .enumerate()
        .map(|(n, frame)| {
            let name = if n == 0 {
                ".txt".to_string()
            } else {
                format!(".frame{n}.depth{}.txt", frame.depth)
            };
            let mut out = String::new();
            for (step, cost) in &frame.steps {
                out.push_str(&format!("{} {} {cost}\n", step.pc, step.op));
            }
            (name, out)
        })
        .collect()
}

/// One call frame of a trace: its depth and its steps, each with its gas: what the frame's next
/// step has less (a call's includes everything inside it); the frame's last step its own cost.
struct Frame<'a> {
    depth: u64,
    steps: Vec<(&'a Step, u64)>,
}

/// The call frames of `trace`, in the order they started (the top frame first). A step deeper
/// than the frame before it starts a new frame; a shallower one goes back to the frame it
/// returned to (two calls from one frame are two frames).
fn frames(trace: &Trace) -> Vec<Frame<'_>> {
    let mut frames: Vec<Frame<'_>> = Vec::new();
    // The frames still running, innermost last (indices into `frames`).
    let mut running: Vec<usize> = Vec::new();
    for step in &trace.struct_logs {
        while running.last().is_some_and(|&f| frames[f].depth > step.depth) {
            running.pop();
        }
        let at = match running.last() {
            Some(&f) if frames[f].depth == step.depth => f,
            _ => {
                frames.push(Frame { depth: step.depth, steps: Vec::new() });
                running.push(frames.len() - 1);
                frames.len() - 1
            }
        };
        let frame = &mut frames[at];
        if let Some((previous, cost)) = frame.steps.last_mut() {
            *cost = previous.gas.saturating_sub(step.gas);
        }
        frame.steps.push((step, step.gas_cost));
    }
    frames
}

fn profile_of(gas_limit: u64, trace: &Trace) -> GasProfile {
    let steps = &trace.struct_logs;
    let intrinsic = steps
        .first()
        .map_or(gas_limit.saturating_sub(trace.gas), |s| gas_limit.saturating_sub(s.gas));
    let mut profile = GasProfile {
        gas_used: trace.gas,
        base: intrinsic.min(21_000),
        calldata: intrinsic.saturating_sub(21_000),
        ..GasProfile::default()
    };
    let mut spent = intrinsic;
    let top = frames(trace).into_iter().next().map(|frame| frame.steps).unwrap_or_default();
    for (step, cost) in top {
        spent += cost;
        match step.op.as_str() {
            "SLOAD" => {
                profile.storage_reads += cost;
                profile.sloads += 1;
            }
            "SSTORE" => {
                profile.storage_writes += cost;
                profile.sstores += 1;
            }
            "KECCAK256" | "SHA3" => profile.hashing += cost,
            op if op.starts_with("LOG") => profile.events += cost,
            "CALL" | "STATICCALL" | "DELEGATECALL" | "CALLCODE" => profile.calls += cost,
            _ => profile.other += cost,
        }
    }
    profile.refund = spent.saturating_sub(trace.gas);
    profile.floor = trace.gas.saturating_sub(spent);
    profile
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(op: &str, gas: u64, gas_cost: u64, depth: u64) -> Step {
        Step { pc: 7, op: op.into(), gas, gas_cost, depth }
    }

    #[test]
    fn a_trace_is_split_by_kind_and_adds_up_to_the_gas_used() {
        // 100,000 limit, 21,000 + 1,000 intrinsic; a call that spends 3,000 inside.
        let trace = Trace {
            gas: 22_000 + 3 + 2_100 + 5_000 + 36 + 750 + 3_100 + 2 - 2_000,
            struct_logs: vec![
                step("PUSH1", 78_000, 3, 1),
                step("SLOAD", 77_997, 2_100, 1),
                step("SSTORE", 75_897, 5_000, 1),
                step("KECCAK256", 70_897, 36, 1),
                step("LOG1", 70_861, 750, 1),
                step("STATICCALL", 70_111, 70_000, 1),
                step("PUSH1", 69_000, 3, 2),
                step("RETURN", 67_500, 0, 2),
                step("POP", 67_011, 2, 1),
                step("STOP", 67_009, 0, 1),
            ],
        };
        let p = profile_of(100_000, &trace);
        assert_eq!((p.base, p.calldata), (21_000, 1_000));
        assert_eq!((p.storage_reads, p.sloads, p.storage_writes, p.sstores), (2_100, 1, 5_000, 1));
        assert_eq!((p.hashing, p.events, p.calls), (36, 750, 3_100));
        assert_eq!(p.other, 3 + 2);
        let sum = p.base
            + p.calldata
            + p.storage_reads
            + p.storage_writes
            + p.hashing
            + p.events
            + p.calls
            + p.other;
        assert_eq!(sum - p.refund, p.gas_used);
        assert_eq!(p.floor, 0);
        assert_eq!(p.per(2).storage_writes, 2_500);
        // One file per frame: the top frame's steps, a call's gas including what ran inside
        // it, then the called frame's own steps.
        let files = pcs_files(&trace);
        let names: Vec<_> = files.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, [".txt", ".frame1.depth2.txt"]);
        let top: Vec<_> = files[0].1.lines().collect();
        assert_eq!(top.len(), 8);
        assert_eq!(top[5], "7 STATICCALL 3100");
        assert_eq!(files[1].1.lines().collect::<Vec<_>>(), ["7 PUSH1 1500", "7 RETURN 0"]);
    }

    #[test]
    fn each_call_frame_gets_its_own_steps_and_two_calls_are_two_frames() {
        // The top frame calls an adapter that calls a verifier, then calls a second contract.
        let trace = Trace {
            gas: 0,
            struct_logs: vec![
                step("STATICCALL", 90_000, 40_000, 1),
                step("PUSH1", 60_000, 3, 2),
                step("STATICCALL", 59_997, 30_000, 2),
                step("MULMOD", 50_000, 8, 3),
                step("RETURN", 49_992, 0, 3),
                step("RETURN", 49_900, 0, 2),
                step("CALL", 80_000, 9_000, 1),
                step("SLOAD", 75_000, 2_100, 2),
                step("STOP", 72_900, 0, 2),
                step("STOP", 71_000, 0, 1),
            ],
        };
        let frames = frames(&trace);
        let shape: Vec<_> = frames.iter().map(|f| (f.depth, f.steps.len())).collect();
        assert_eq!(shape, [(1, 3), (2, 3), (3, 2), (2, 2)]);
        let costs = |f: &Frame<'_>| f.steps.iter().map(|(_, c)| *c).collect::<Vec<_>>();
        // A call's gas is what its frame has less at its next step: all inside it included.
        assert_eq!(costs(&frames[0]), [10_000, 9_000, 0]);
        assert_eq!(costs(&frames[1]), [3, 10_097, 0]);
        assert_eq!(costs(&frames[2]), [8, 0]);
        assert_eq!(costs(&frames[3]), [2_100, 0]);
        let names: Vec<_> = pcs_files(&trace).into_iter().map(|(name, _)| name).collect();
        assert_eq!(
            names,
            [".txt", ".frame1.depth2.txt", ".frame2.depth3.txt", ".frame3.depth2.txt"]
        );
    }

    #[test]
    fn a_calldata_floor_above_the_execution_is_its_own_part() {
        // 21,000 + 1,000 intrinsic and 50 of execution, but the calldata's floor price is 40,000.
        let trace = Trace {
            gas: 40_000,
            struct_logs: vec![step("PUSH1", 78_000, 3, 1), step("STOP", 77_953, 0, 1)],
        };
        let p = profile_of(100_000, &trace);
        assert_eq!((p.base, p.calldata, p.other, p.refund), (21_000, 1_000, 47, 0));
        assert_eq!(p.floor, 40_000 - 22_047);
        assert_eq!(p.base + p.calldata + p.other + p.floor, p.gas_used);
    }
}
