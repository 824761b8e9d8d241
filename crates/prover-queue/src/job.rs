//! The kinds of proof job (a leaf, an aggregation, a tree's group and top) and how their
//! payloads are written into the queue.

use alloy_primitives::{Bytes, U256, keccak256};
use alloy_sol_types::SolValue;
use gateway_prover::{BackendKind, BatchProof, BatchPublicInput, GroupProof, describe_inputs};

use crate::error::QueueError;

/// What a job asks a worker to prove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobKind {
    /// One batch's proof.
    Leaf,
    /// One proof over several batch proofs (a flat aggregation, or a tree made in one piece).
    Aggregate,
    /// One group of a tree's leaves, aggregated (the tree's first level).
    Group,
    /// A tree's top: one proof over its groups (the most memory: about 20 GB at k = 22).
    Top,
}

impl JobKind {
    /// Every kind.
    pub const ALL: [Self; 4] = [Self::Leaf, Self::Aggregate, Self::Group, Self::Top];

    /// Its name in the queue and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Leaf => "leaf",
            Self::Aggregate => "aggregate",
            Self::Group => "group",
            Self::Top => "top",
        }
    }

    /// The kinds a worker asked for `kinds` takes: `aggregate` stands for every aggregation
    /// (a tree's groups and top too), so a worker set up before trees were made in pieces
    /// keeps taking all of them; `group` or `top` alone route those to some workers only.
    pub fn taken_with(kinds: &[Self]) -> Vec<Self> {
        let mut taken = kinds.to_vec();
        if kinds.contains(&Self::Aggregate) {
            taken.extend([Self::Group, Self::Top]);
        }
        taken.sort_unstable();
        taken.dedup();
        taken
    }
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for JobKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "leaf" => Ok(Self::Leaf),
            "aggregate" => Ok(Self::Aggregate),
            "group" => Ok(Self::Group),
            "top" => Ok(Self::Top),
            other => Err(format!(
                "unknown proof job kind '{other}' (expected leaf, aggregate, group or top)"
            )),
        }
    }
}

/// A job's payload, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Payload {
    /// Prove this batch.
    Leaf(BatchPublicInput),
    /// Aggregate these proofs (as a tree when `tree`).
    Aggregate {
        /// Through the backend's two-level tree.
        tree: bool,
        /// The proofs, in order.
        proofs: Vec<BatchProof>,
    },
    /// One group of a tree (its first level), proved apart from the others.
    Group {
        /// The group's leaves, in order.
        proofs: Vec<BatchProof>,
    },
    /// A tree's top over its groups.
    Top {
        /// The groups, in order.
        groups: Vec<GroupProof>,
    },
}

/// The first word of an aggregation's payload: what it makes (a flat aggregation and a whole
/// tree keep the encoding they had as a boolean, 0 and 1). Each shape has its job kind too, so
/// a worker that does not know groups and tops never claims them; the word is checked against
/// the kind all the same.
const SHAPE_FLAT: u64 = 0;
const SHAPE_TREE: u64 = 1;
const SHAPE_GROUP: u64 = 2;
const SHAPE_TOP: u64 = 3;

type Input = (u64, u64, U256);

fn input_tuple(input: &BatchPublicInput) -> Input {
    (input.chain_id, input.batch_number, input.value)
}

fn input_of((chain_id, batch_number, value): Input) -> BatchPublicInput {
    BatchPublicInput { chain_id, batch_number, value }
}

impl Payload {
    pub(crate) fn kind(&self) -> JobKind {
        match self {
            Self::Leaf(_) => JobKind::Leaf,
            Self::Aggregate { .. } => JobKind::Aggregate,
            Self::Group { .. } => JobKind::Group,
            Self::Top { .. } => JobKind::Top,
        }
    }

    /// Its bytes in the queue.
    pub(crate) fn encode(&self) -> Vec<u8> {
        match self {
            Self::Leaf(input) => input_tuple(input).abi_encode(),
            Self::Aggregate { tree, proofs } => {
                let shape = if *tree { SHAPE_TREE } else { SHAPE_FLAT };
                Self::encode_proofs(shape, proofs)
            }
            Self::Group { proofs } => Self::encode_proofs(SHAPE_GROUP, proofs),
            Self::Top { groups } => {
                let inputs: Vec<Vec<Input>> =
                    groups.iter().map(|g| g.inputs.iter().map(input_tuple).collect()).collect();
                let bytes: Vec<Bytes> = groups.iter().map(|g| g.bytes.clone()).collect();
                (SHAPE_TOP, inputs, bytes).abi_encode_params()
            }
        }
    }

    fn encode_proofs(shape: u64, proofs: &[BatchProof]) -> Vec<u8> {
        let inputs: Vec<Input> = proofs.iter().map(|p| input_tuple(&p.input)).collect();
        let bytes: Vec<Bytes> = proofs.iter().map(|p| p.bytes.clone()).collect();
        (shape, inputs, bytes).abi_encode_params()
    }

    /// The payload of job `id`, of `kind`, made by `backend`'s proofs.
    pub(crate) fn decode(
        id: i64,
        kind: JobKind,
        backend: BackendKind,
        bytes: &[u8],
    ) -> Result<Self, QueueError> {
        let bad = |e: alloy_sol_types::Error| QueueError::BadJob {
            id,
            reason: format!("its {kind} payload does not decode: {e}"),
        };
        match kind {
            JobKind::Leaf => Ok(Self::Leaf(input_of(Input::abi_decode(bytes).map_err(bad)?))),
            JobKind::Aggregate | JobKind::Group | JobKind::Top => {
                let shape = bytes.get(..32).map(U256::from_be_slice).unwrap_or(U256::MAX);
                let expected: &[u64] = match kind {
                    JobKind::Group => &[SHAPE_GROUP],
                    JobKind::Top => &[SHAPE_TOP],
                    _ => &[SHAPE_FLAT, SHAPE_TREE],
                };
                if !expected.iter().any(|e| shape == U256::from(*e)) {
                    return Err(QueueError::BadJob {
                        id,
                        reason: format!("its {kind} payload names shape {shape}, not a {kind}'s"),
                    });
                }
                if kind == JobKind::Top {
                    let (_, inputs, proofs) =
                        <(u64, Vec<Vec<Input>>, Vec<Bytes>)>::abi_decode_params(bytes)
                            .map_err(bad)?;
                    if inputs.len() != proofs.len() {
                        return Err(QueueError::BadJob {
                            id,
                            reason: format!(
                                "{} input lists for {} groups",
                                inputs.len(),
                                proofs.len()
                            ),
                        });
                    }
                    let groups = inputs
                        .into_iter()
                        .zip(proofs)
                        .map(|(inputs, bytes)| GroupProof {
                            backend,
                            inputs: inputs.into_iter().map(input_of).collect(),
                            bytes,
                        })
                        .collect();
                    return Ok(Self::Top { groups });
                }
                let (shape, inputs, proofs) =
                    <(u64, Vec<Input>, Vec<Bytes>)>::abi_decode_params(bytes).map_err(bad)?;
                if inputs.len() != proofs.len() {
                    return Err(QueueError::BadJob {
                        id,
                        reason: format!("{} inputs for {} proofs", inputs.len(), proofs.len()),
                    });
                }
                let proofs = inputs
                    .into_iter()
                    .zip(proofs)
                    .map(|(input, bytes)| BatchProof { backend, input: input_of(input), bytes })
                    .collect();
                Ok(match kind {
                    JobKind::Group => Self::Group { proofs },
                    _ => Self::Aggregate { tree: shape == SHAPE_TREE, proofs },
                })
            }
        }
    }

    /// The job's key: the same work asked twice (a restarted node, two nodes) is one job.
    pub(crate) fn key(&self, backend: BackendKind) -> String {
        match self {
            Self::Leaf(input) => format!(
                "{backend}/leaf/{}/{}/{:#x}",
                input.chain_id, input.batch_number, input.value
            ),
            Self::Aggregate { .. } | Self::Group { .. } | Self::Top { .. } => {
                format!("{backend}/{}/{}", self.kind(), keccak256(self.encode()))
            }
        }
    }

    /// What it proves, for people.
    pub(crate) fn what(&self) -> String {
        match self {
            Self::Leaf(input) => {
                format!("batch {} of chain {}", input.batch_number, input.chain_id)
            }
            Self::Aggregate { proofs, .. } => {
                format!("aggregation of {}", describe_inputs(proofs.iter().map(|p| &p.input)))
            }
            Self::Group { proofs } => {
                format!("tree group of {}", describe_inputs(proofs.iter().map(|p| &p.input)))
            }
            Self::Top { groups } => format!(
                "tree top over {} groups of {}",
                groups.len(),
                describe_inputs(groups.iter().flat_map(|g| &g.inputs))
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proof(chain_id: u64, batch_number: u64) -> BatchProof {
        BatchProof {
            backend: BackendKind::Mock,
            input: BatchPublicInput { chain_id, batch_number, value: U256::from(batch_number * 7) },
            bytes: Bytes::from(vec![batch_number as u8; 3]),
        }
    }

    #[test]
    fn payloads_round_trip_and_keys_name_the_work() {
        let leaf = Payload::Leaf(proof(270, 5).input);
        let decoded = Payload::decode(1, JobKind::Leaf, BackendKind::Mock, &leaf.encode()).unwrap();
        assert_eq!(decoded, leaf);
        assert_eq!(leaf.key(BackendKind::Mock), "mock/leaf/270/5/0x23");
        assert_ne!(leaf.key(BackendKind::Halo2), leaf.key(BackendKind::Mock));

        let aggregate =
            Payload::Aggregate { tree: true, proofs: vec![proof(270, 1), proof(271, 2)] };
        let decoded =
            Payload::decode(2, JobKind::Aggregate, BackendKind::Mock, &aggregate.encode()).unwrap();
        assert_eq!(decoded, aggregate);
        assert_eq!(
            aggregate.what(),
            "aggregation of 2 proofs (chain 270 batch 1 .. chain 271 batch 2)"
        );
        // A group and a top go as aggregation jobs, each its own work.
        let group = Payload::Group { proofs: vec![proof(270, 1), proof(271, 2)] };
        let decoded =
            Payload::decode(3, JobKind::Group, BackendKind::Mock, &group.encode()).unwrap();
        assert_eq!((decoded.kind(), &decoded), (JobKind::Group, &group));
        // A payload read as another kind than its own is refused, naming its shape.
        let err = Payload::decode(3, JobKind::Aggregate, BackendKind::Mock, &group.encode())
            .unwrap_err()
            .to_string();
        assert!(err.contains("names shape 2"), "{err}");
        assert!(Payload::decode(3, JobKind::Top, BackendKind::Mock, &group.encode()).is_err());
        assert_ne!(group.key(BackendKind::Mock), aggregate.key(BackendKind::Mock));
        let groups = vec![
            GroupProof {
                backend: BackendKind::Mock,
                inputs: vec![proof(270, 1).input, proof(271, 2).input],
                bytes: Bytes::from(vec![1u8; 5]),
            },
            GroupProof {
                backend: BackendKind::Mock,
                inputs: vec![proof(272, 3).input],
                bytes: Bytes::from(vec![2u8; 5]),
            },
        ];
        let top = Payload::Top { groups };
        let decoded = Payload::decode(4, JobKind::Top, BackendKind::Mock, &top.encode()).unwrap();
        assert_eq!(decoded, top);
        assert_eq!(top.kind(), JobKind::Top);
        assert!(Payload::decode(4, JobKind::Group, BackendKind::Mock, &top.encode()).is_err());
        assert_eq!(
            top.what(),
            "tree top over 2 groups of 3 proofs (chain 270 batch 1 .. chain 272 batch 3)"
        );
        // A shape this code does not know is refused, naming it, whatever its high bits.
        let mut unknown = group.encode();
        unknown[31] = 9;
        let err = Payload::decode(5, JobKind::Aggregate, BackendKind::Mock, &unknown).unwrap_err();
        assert!(err.to_string().contains("shape 9"), "{err}");
        let mut wide = aggregate.encode();
        wide[23] = 1;
        assert!(Payload::decode(6, JobKind::Aggregate, BackendKind::Mock, &wide).is_err());
        // Reordered leaves are other work.
        let reordered =
            Payload::Aggregate { tree: true, proofs: vec![proof(271, 2), proof(270, 1)] };
        assert_ne!(reordered.key(BackendKind::Mock), aggregate.key(BackendKind::Mock));
    }

    #[test]
    fn a_payload_that_does_not_decode_names_its_job() {
        let err = Payload::decode(9, JobKind::Aggregate, BackendKind::Mock, &[1, 2, 3])
            .unwrap_err()
            .to_string();
        assert!(err.contains("proof job 9") && err.contains("aggregate payload"), "{err}");
    }

    #[test]
    fn kinds_parse_from_the_command_line() {
        assert_eq!("leaf".parse::<JobKind>(), Ok(JobKind::Leaf));
        assert_eq!(" aggregate".parse::<JobKind>(), Ok(JobKind::Aggregate));
        assert_eq!("top".parse::<JobKind>(), Ok(JobKind::Top));
        assert!("root".parse::<JobKind>().unwrap_err().contains("leaf, aggregate, group or top"));
        // `aggregate` takes a tree's groups and top too; `group` alone only groups.
        assert_eq!(
            JobKind::taken_with(&[JobKind::Leaf, JobKind::Aggregate]),
            JobKind::ALL.to_vec()
        );
        assert_eq!(JobKind::taken_with(&[JobKind::Group]), vec![JobKind::Group]);
    }
}
