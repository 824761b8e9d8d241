//! The SRS and the proving keys, cached on disk.
//!
//! A key file is named after the circuit version and fingerprint ([`super::CIRCUIT_HASH`]), the
//! circuit, its `k` and the SRS it was made with (`v1-c3f2a…-leaf-k12-srs3f2a….pk`), beside a JSON file with the circuit's parameters and break
//! points, which proving needs and a cached key does not carry. Files are written to a temporary
//! name and renamed, so a crash never leaves half a key behind.

use std::{
    fs::File,
    io::{BufReader, BufWriter, Write},
    path::{Path, PathBuf},
    time::Instant,
};

use halo2_base::{
    gates::{
        circuit::{BaseCircuitParams, CircuitBuilderStage, builder::BaseCircuitBuilder},
        flex_gate::MultiPhaseThreadBreakPoints,
    },
    halo2_proofs::{
        SerdeFormat,
        halo2curves::bn256::{Bn256, Fr, G1Affine},
        plonk::{ProvingKey, keygen_pk, keygen_vk},
        poly::{
            commitment::{Params, ParamsProver},
            kzg::commitment::ParamsKZG,
        },
    },
};
use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
use serde::{Serialize, de::DeserializeOwned};
use snark_verifier_sdk::{
    CircuitExt, SHPLONK,
    halo2::{
        aggregation::{AggregationCircuit, AggregationConfigParams},
        gen_dummy_snark_from_vk,
    },
    snark_verifier::{
        system::halo2::{Config, compile},
        verifier::plonk::PlonkProtocol,
    },
};
use tracing::info;

use super::{
    CIRCUIT_HASH, CIRCUIT_VERSION, DEV_SRS_SEED, Halo2Config, SrsSource,
    circuits::{ACCUMULATOR_LIMBS, LEAF_INSTANCES, aggregation_circuit, leaf_circuit, leaf_shape},
    guarded,
};
use crate::{ProverError, ProverResult};

fn io_error(what: impl std::fmt::Display, err: impl std::fmt::Display) -> ProverError {
    ProverError::Failed { what: what.to_string(), reason: err.to_string() }
}

/// Writes `path` through a temporary file and a rename.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> ProverResult<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir.display(), e))?;
    }
    // A temporary name of this process's own: two processes sharing a cache never write into
    // each other's files.
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    // Removes the part written on any failure, a panic included (halo2's key writer unwraps
    // its I/O errors).
    struct Part<'a>(&'a Path, bool);
    impl Drop for Part<'_> {
        fn drop(&mut self) {
            if !self.1 {
                let _ = std::fs::remove_file(self.0);
            }
        }
    }
    let mut part = Part(&tmp, false);
    let written = (|| {
        let file = File::create(&tmp)?;
        let mut writer = BufWriter::with_capacity(1 << 20, file);
        write(&mut writer)?;
        writer.flush()?;
        writer.get_ref().sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    // A key is gigabytes: a failed write (a full disk) must not leave its part behind.
    part.1 = written.is_ok();
    written.map_err(|e| io_error(path.display(), e))
}

/// The SRS of size `2^k` from `source`, cached under `cache_dir/srs`.
pub(crate) fn load_srs(config: &Halo2Config, k: u32) -> ProverResult<ParamsKZG<Bn256>> {
    match &config.srs {
        SrsSource::DevSeed => {
            let path = config.cache_dir.join("srs").join(format!("insecure-dev-seed-k{k}.srs"));
            if let Ok(file) = File::open(&path) {
                let read = guarded("the cached SRS", || {
                    ParamsKZG::<Bn256>::read(&mut BufReader::with_capacity(1 << 20, file))
                })?;
                if let Ok(params) = read {
                    return Ok(params);
                }
            }
            info!(target: "prover::halo2", k, path = %path.display(), "generating the INSECURE dev SRS from its public seed (once; k = 20 takes about 3 minutes, k = 21 about 6.5)");
            let started = Instant::now();
            let params = ParamsKZG::<Bn256>::setup(k, ChaCha20Rng::from_seed(DEV_SRS_SEED));
            info!(target: "prover::halo2", k, seconds = started.elapsed().as_secs_f64(), "dev SRS generated");
            write_atomically(&path, |w| params.write(w))?;
            Ok(params)
        }
        SrsSource::File(path) => {
            info!(target: "prover::halo2", k, path = %path.display(), "loading the SRS file");
            let started = Instant::now();
            let file = File::open(path)
                .map_err(|e| io_error(format!("SRS file {}", path.display()), e))?;
            let mut params = guarded("the SRS file", || {
                ParamsKZG::<Bn256>::read(&mut BufReader::with_capacity(1 << 20, file))
            })?
            .map_err(|e| io_error(format!("SRS file {}", path.display()), e))?;
            if params.k() < k {
                return Err(ProverError::Failed {
                    what: format!("SRS file {}", path.display()),
                    reason: format!("it has k = {}, the circuits need k = {k}", params.k()),
                });
            }
            params.downsize(k);
            info!(target: "prover::halo2", k, seconds = started.elapsed().as_secs_f64(), "SRS loaded");
            Ok(params)
        }
    }
}

/// A short id of the SRS (its tau): part of key file names.
fn srs_id(params: &ParamsKZG<Bn256>) -> String {
    use halo2_base::halo2_proofs::halo2curves::group::GroupEncoding;
    let bytes = params.get_g()[1].to_bytes();
    let hash = alloy_primitives::keccak256(bytes.as_ref());
    format!("srs{}", alloy_primitives::hex::encode(&hash[..6]))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Sidecar<P> {
    params: P,
    break_points: MultiPhaseThreadBreakPoints,
}

fn read_sidecar<P: DeserializeOwned>(path: &Path) -> Option<Sidecar<P>> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn write_sidecar<P: Serialize>(path: &Path, sidecar: &Sidecar<P>) -> ProverResult<()> {
    let json = serde_json::to_vec_pretty(sidecar).map_err(|e| io_error(path.display(), e))?;
    write_atomically(path, |w| w.write_all(&json))
}

fn read_pk<C: halo2_base::halo2_proofs::plonk::Circuit<Fr>>(
    path: &Path,
    params: C::Params,
) -> Option<ProvingKey<G1Affine>> {
    let file = File::open(path).ok()?;
    guarded("a cached proving key", || {
        ProvingKey::<G1Affine>::read::<_, C>(
            &mut BufReader::with_capacity(1 << 20, file),
            SerdeFormat::RawBytesUnchecked,
            params,
        )
    })
    .ok()?
    .ok()
}

fn write_pk(path: &Path, pk: &ProvingKey<G1Affine>) -> ProverResult<()> {
    write_atomically(path, |w| pk.write(w, SerdeFormat::RawBytesUnchecked))
}

/// The leaf circuit's SRS, proving key and what proving needs besides.
pub struct LeafKeys {
    /// The SRS at the leaf's `k`.
    pub params: ParamsKZG<Bn256>,
    /// The proving key (with the verifying key).
    pub pk: ProvingKey<G1Affine>,
    pub(crate) circuit_params: BaseCircuitParams,
    pub(crate) break_points: MultiPhaseThreadBreakPoints,
    /// The leaf's protocol, as the aggregation circuit reads it.
    pub(crate) protocol: PlonkProtocol<G1Affine>,
    /// Where the key is cached.
    pub path: PathBuf,
    /// True when the key was read from the cache, false when it was made now.
    pub from_cache: bool,
}

impl std::fmt::Debug for LeafKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeafKeys").field("path", &self.path).finish_non_exhaustive()
    }
}

impl LeafKeys {
    pub(crate) fn load_or_create(config: &Halo2Config) -> ProverResult<Self> {
        let k = config.leaf_k;
        // The dev SRS at the leaf's size comes from the same seed, so the same tau as the big one.
        let params = load_srs(config, k)?;
        let name = format!("v{CIRCUIT_VERSION}-c{CIRCUIT_HASH}-leaf-k{k}-{}", srs_id(&params));
        let path = config.cache_dir.join("keys").join(format!("{name}.pk"));
        let sidecar_path = path.with_extension("json");
        let cached = read_sidecar::<BaseCircuitParams>(&sidecar_path).and_then(|sidecar| {
            let pk = read_pk::<BaseCircuitBuilder<Fr>>(&path, sidecar.params.clone())?;
            Some((pk, sidecar))
        });
        let from_cache = cached.is_some();
        let (pk, sidecar) = match cached {
            Some(cached) => cached,
            None => {
                info!(target: "prover::halo2", k, path = %path.display(), "leaf keygen");
                let started = Instant::now();
                let (pk, sidecar) = guarded("leaf keygen", || {
                    let mut circuit = leaf_circuit(
                        CircuitBuilderStage::Keygen,
                        &leaf_shape(k),
                        None,
                        0,
                        Fr::zero(),
                    );
                    let circuit_params = circuit.calculate_params(Some(9));
                    let vk = keygen_vk(&params, &circuit)?;
                    let pk = keygen_pk(&params, vk, &circuit)?;
                    Ok::<_, halo2_base::halo2_proofs::plonk::Error>((
                        pk,
                        Sidecar { params: circuit_params, break_points: circuit.break_points() },
                    ))
                })?
                .map_err(|e| io_error("leaf keygen", format!("{e:?}")))?;
                write_pk(&path, &pk)?;
                write_sidecar(&sidecar_path, &sidecar)?;
                info!(target: "prover::halo2", seconds = started.elapsed().as_secs_f64(), path = %path.display(), "leaf keys generated");
                (pk, sidecar)
            }
        };
        let protocol = compile(
            &params,
            pk.get_vk(),
            Config::kzg()
                .with_num_instance(vec![LEAF_INSTANCES])
                .with_accumulator_indices(BaseCircuitBuilder::<Fr>::accumulator_indices()),
        );
        Ok(Self {
            params,
            pk,
            circuit_params: sidecar.params,
            break_points: sidecar.break_points,
            protocol,
            path,
            from_cache,
        })
    }
}

/// What an aggregation circuit aggregates.
#[derive(Clone, Copy)]
pub(crate) enum Inner<'a> {
    /// Leaf proofs: a flat aggregation (or the first level of a tree).
    Leaves(&'a LeafKeys),
    /// Aggregations of leaves: the second level of a tree.
    Aggregations(&'a AggregationKeys),
}

/// An aggregation circuit's SRS, proving key and what proving needs besides.
pub struct AggregationKeys {
    /// The SRS at the aggregation's `k`.
    pub params: ParamsKZG<Bn256>,
    /// The proving key (with the verifying key).
    pub pk: ProvingKey<G1Affine>,
    pub(crate) config: AggregationConfigParams,
    pub(crate) break_points: MultiPhaseThreadBreakPoints,
    /// The circuit's protocol, as a second tree level reads it.
    pub(crate) protocol: PlonkProtocol<G1Affine>,
    /// Public instances: the accumulator, then `[chain_id, input]` per leaf.
    pub(crate) num_instance: usize,
    /// Where the key is cached.
    pub path: PathBuf,
    /// True when the key was read from the cache, false when it was made now.
    pub from_cache: bool,
}

impl std::fmt::Debug for AggregationKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AggregationKeys").field("path", &self.path).finish_non_exhaustive()
    }
}

impl AggregationKeys {
    /// Keys of the circuit aggregating `config.arity` snarks of `inner`.
    pub(crate) fn load_or_create(config: &Halo2Config, inner: Inner<'_>) -> ProverResult<Self> {
        let k = config.aggregation_k;
        let params = load_srs(config, k)?;
        // The circuit bakes the inner verifying key in: name the key after it too.
        let (level, inner_path, inner_params, inner_vk, inner_instances, inner_accumulator) =
            match inner {
                Inner::Leaves(leaf) => (
                    "aggregation",
                    &leaf.path,
                    &leaf.params,
                    leaf.pk.get_vk(),
                    LEAF_INSTANCES,
                    None,
                ),
                Inner::Aggregations(agg) => (
                    "tree",
                    &agg.path,
                    &agg.params,
                    agg.pk.get_vk(),
                    agg.num_instance,
                    AggregationCircuit::accumulator_indices(),
                ),
            };
        let over_aggregations = matches!(inner, Inner::Aggregations(_));
        let inner_id = alloy_primitives::keccak256(
            inner_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        );
        let name = format!(
            "v{CIRCUIT_VERSION}-c{CIRCUIT_HASH}-{level}{}-k{k}-{}-inner{}",
            config.arity,
            srs_id(&params),
            alloy_primitives::hex::encode(&inner_id[..4])
        );
        let path = config.cache_dir.join("keys").join(format!("{name}.pk"));
        let sidecar_path = path.with_extension("json");
        let cached = read_sidecar::<AggregationConfigParams>(&sidecar_path).and_then(|sidecar| {
            let pk = read_pk::<AggregationCircuit>(&path, sidecar.params)?;
            Some((pk, sidecar))
        });
        let from_cache = cached.is_some();
        let (pk, sidecar) = match cached {
            Some(cached) => {
                info!(target: "prover::halo2", path = %path.display(), "aggregation keys loaded");
                cached
            }
            None => {
                info!(target: "prover::halo2", level, arity = config.arity, k, "aggregation keygen (a minute or two and several GB)");
                let started = Instant::now();
                let (pk, sidecar) = guarded("aggregation keygen", || {
                    let dummy = gen_dummy_snark_from_vk::<SHPLONK>(
                        inner_params,
                        inner_vk,
                        vec![inner_instances],
                        inner_accumulator.clone(),
                    );
                    let shape = AggregationConfigParams {
                        degree: k,
                        lookup_bits: k as usize - 1,
                        ..Default::default()
                    };
                    let mut circuit = aggregation_circuit(
                        CircuitBuilderStage::Keygen,
                        shape,
                        &params,
                        vec![dummy; config.arity],
                        None,
                        over_aggregations,
                    );
                    let agg_params = circuit.calculate_params(Some(9));
                    let vk = keygen_vk(&params, &circuit)?;
                    let pk = keygen_pk(&params, vk, &circuit)?;
                    Ok::<_, halo2_base::halo2_proofs::plonk::Error>((
                        pk,
                        Sidecar { params: agg_params, break_points: circuit.break_points() },
                    ))
                })?
                .map_err(|e| io_error("aggregation keygen", format!("{e:?}")))?;
                info!(target: "prover::halo2", level, seconds = started.elapsed().as_secs_f64(), "aggregation keys generated; caching");
                write_pk(&path, &pk)?;
                write_sidecar(&sidecar_path, &sidecar)?;
                (pk, sidecar)
            }
        };
        let leaves_per_snark = (inner_instances
            .saturating_sub(ACCUMULATOR_LIMBS * usize::from(over_aggregations)))
            / LEAF_INSTANCES;
        let num_instance = ACCUMULATOR_LIMBS + LEAF_INSTANCES * leaves_per_snark * config.arity;
        let protocol = compile(
            &params,
            pk.get_vk(),
            Config::kzg()
                .with_num_instance(vec![num_instance])
                .with_accumulator_indices(AggregationCircuit::accumulator_indices()),
        );
        Ok(Self {
            params,
            pk,
            config: sidecar.params,
            break_points: sidecar.break_points,
            protocol,
            num_instance,
            path,
            from_cache,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_or_panicking_write_leaves_no_part_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("k.pk");
        let err = write_atomically(&path, |w| {
            w.write_all(&[1; 4096])?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(err.is_err());
        let panicked = std::panic::catch_unwind(|| {
            let _ = write_atomically(&path, |w| {
                w.write_all(&[2; 4096])?;
                panic!("the key writer unwraps an I/O error");
            });
        });
        assert!(panicked.is_err());
        let left: Vec<_> = std::fs::read_dir(dir.path().join("keys")).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
        write_atomically(&path, |w| w.write_all(b"key")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"key");
        assert_eq!(std::fs::read_dir(dir.path().join("keys")).unwrap().count(), 1);
    }
}
