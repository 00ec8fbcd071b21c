//! GGUF-native pruning: remove whole transformer blocks (depth) and/or zero single weights inside
//! the dense float matrices (unstructured or N:M sparsity, by magnitude or Wanda). The output is
//! written with the native writer, atomically; the input is only read.
//!
//! A sweep calls [`prune_file`] once per grid cell. To try several block counts, measure the scores
//! once with [`block_influence`] and pass `DepthSpec::Layers` from [`BlockScores::least_important`].

pub mod depth;
pub mod importance;
pub mod report;
pub mod sparsity;
pub mod spec;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::BufWriter;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, ensure, Context as _, Result};
use regex::Regex;

pub use importance::{block_influence, BlockScores, ImportanceOptions};
pub use report::PruneReport;
pub use sparsity::TensorSparsity;
pub use spec::{parse_layers, DepthSpec, NmPattern, PruneMethod, PruneSpec, SparsitySpec};

use crate::engine::open_gguf;
use crate::gguf::writer::NewTensor;
use crate::gguf::{GgufBuilder, GgufFile, TensorInfo};
use crate::quant::imatrix_file;
use crate::util::AtomicFile;
use sparsity::{prune_tensor, Floats, RowRule};

/// How to run the model when blocks are chosen by importance.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    pub n_threads: u32,
    pub n_gpu_layers: u32,
}

impl Default for PruneOptions {
    fn default() -> Self {
        Self {
            n_threads: crate::util::default_threads() as u32,
            n_gpu_layers: 0,
        }
    }
}

/// Prunes `input` into `output` as `spec` says and reports what changed.
pub fn prune_file(
    input: &Path,
    output: &Path,
    spec: &PruneSpec,
    opts: &PruneOptions,
) -> Result<PruneReport> {
    prune_file_with_progress(input, output, spec, opts, &mut |_, _| {})
}

/// [`prune_file`], reporting (chunks done, chunks total) while block importance is measured.
pub fn prune_file_with_progress(
    input: &Path,
    output: &Path,
    spec: &PruneSpec,
    opts: &PruneOptions,
    progress: &mut dyn FnMut(u32, u32),
) -> Result<PruneReport> {
    let t0 = Instant::now();
    let label = input.display().to_string();
    spec::validate(spec, &label)?;
    check_distinct(input, output)?;
    let file = open_gguf(input)?;
    let arch = file
        .architecture()
        .with_context(|| format!("{label}: no general.architecture (not a model file)"))?
        .to_string();
    let block_count = file
        .arch_u64("block_count")
        .with_context(|| format!("{label}: no {arch}.block_count (not a transformer model)"))?
        as u32;

    let targets = sparsity_targets(&file, spec.sparsity.as_ref(), &label)?;
    let norms = match &spec.sparsity {
        Some(sp) if sp.method == PruneMethod::Wanda => wanda_norms(&file, sp, &targets)?,
        _ => HashMap::new(),
    };

    let (removed, block_scores) = match &spec.depth {
        None => (BTreeSet::new(), None),
        Some(DepthSpec::Layers { layers }) => {
            (depth::check_layers(&label, layers, block_count)?, None)
        }
        Some(DepthSpec::DropByImportance {
            n,
            calibration,
            n_ctx,
            chunks,
        }) => {
            ensure!(
                *n < block_count,
                "{label}: removing {n} of its {block_count} blocks would leave no model"
            );
            let text = crate::measure::text::read_text(calibration)?;
            let iopts = ImportanceOptions {
                n_ctx: *n_ctx,
                n_chunks: *chunks,
                n_threads: opts.n_threads,
                n_gpu_layers: opts.n_gpu_layers,
            };
            let scores = block_influence(
                input,
                &text,
                &calibration.display().to_string(),
                &iopts,
                progress,
            )?;
            ensure!(
                scores.scores.len() == block_count as usize,
                "{label}: llama.cpp reports {} blocks, the metadata {block_count}",
                scores.scores.len()
            );
            let layers = scores.least_important(*n as usize);
            (
                depth::check_layers(&label, &layers, block_count)?,
                Some(scores),
            )
        }
    };

    let map = depth::renumbering(block_count, &removed);
    let (metadata, metadata_changed) = depth::prune_metadata(&file, &arch, block_count, &removed);
    let mut builder = GgufBuilder::new();
    builder.version(file.version())?;
    for (k, v) in metadata {
        builder.set(k, v);
    }
    let mut kept: Vec<(&TensorInfo, String)> = Vec::new();
    for t in file.tensors() {
        if let Some(new) = depth::rename(&t.name, &map) {
            // Sizes are what the header needs; pruned data has the same size as the original.
            builder.add_tensor(new.clone(), t.ggml_type, &t.dims, file.tensor_data(t))?;
            kept.push((t, new));
        }
    }

    let rule_for = |name: &str| {
        spec.sparsity.as_ref().map(|sp| RowRule {
            sparsity: sp.sparsity,
            pattern: sp.pattern,
            column_norms: norms.get(name).map(Vec::as_slice),
        })
    };
    let mut tensors = Vec::new();
    // The builder's tensor `i` is `kept[i]`; its pruned data is made as it is written.
    let sparsify = |i: usize, _: &NewTensor| -> Result<Option<Vec<u8>>> {
        let (t, new) = &kept[i];
        let Some(rule) = rule_for(&t.name).filter(|_| targets.contains(t.name.as_str())) else {
            return Ok(None);
        };
        let (bytes, mut stats) =
            prune_tensor(&t.name, t.ggml_type, &t.dims, file.tensor_data(t), &rule)?;
        stats.name = new.clone();
        tensors.push(stats);
        Ok(Some(bytes))
    };
    let mut out = AtomicFile::create(output)?;
    let written = {
        let mut w = BufWriter::with_capacity(1 << 20, &mut out);
        builder.write_to_replacing(&mut w, sparsify).map_err(|e| {
            // A failed write names the file; a tensor that cannot be pruned says so itself.
            match e.is::<std::io::Error>() {
                true => e.context(format!("{}: write failed", output.display())),
                false => e,
            }
        })?
    };
    // Read the result back before it takes the output's name.
    let check = open_gguf(out.temp_path())
        .with_context(|| format!("{}: the pruned file does not read back", output.display()))?;
    ensure!(
        check.tensors().len() == kept.len(),
        "{}: the pruned file reads back with {} tensors, not {}",
        output.display(),
        check.tensors().len(),
        kept.len()
    );
    drop(check);
    out.commit()?;

    let parameters_after: u64 = kept.iter().map(|(t, _)| t.n_elements()).sum();
    let zeros: u64 = tensors.iter().map(|t| t.zeros).sum();
    let weights: u64 = tensors.iter().map(|t| t.row_len * t.rows).sum();
    Ok(PruneReport {
        input: label,
        output: output.display().to_string(),
        architecture: arch,
        spec: spec.clone(),
        block_count_before: block_count,
        block_count_after: block_count - removed.len() as u32,
        removed_blocks: removed.into_iter().collect(),
        block_scores,
        metadata_changed,
        tensors_before: file.tensors().len(),
        tensors_after: kept.len(),
        parameters_before: file.parameter_count(),
        parameters_after,
        nonzero_parameters_after: parameters_after - zeros,
        tensors,
        sparsity: ratio(zeros, weights),
        sparsity_of_all_parameters: ratio(zeros, parameters_after),
        file_size_before: file.file_size(),
        file_size_after: written,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Writing the output must never replace the input.
fn check_distinct(input: &Path, output: &Path) -> Result<()> {
    if let (Ok(a), Ok(b)) = (std::fs::canonicalize(input), std::fs::canonicalize(output)) {
        ensure!(
            a != b,
            "{}: the output would replace the input; give another output path",
            output.display()
        );
    }
    Ok(())
}

/// The tensors sparsity applies to (input names): the 2-D weight matrices of the blocks, or those
/// the spec's pattern matches. Each must be a dense float tensor.
fn sparsity_targets<'f>(
    file: &'f GgufFile,
    sp: Option<&SparsitySpec>,
    label: &str,
) -> Result<BTreeSet<&'f str>> {
    let Some(sp) = sp else {
        return Ok(BTreeSet::new());
    };
    let re = sp.tensors.as_deref().map(Regex::new).transpose()?;
    let chosen: BTreeSet<&str> = file
        .tensors()
        .iter()
        .filter(|t| match &re {
            Some(re) => re.is_match(&t.name),
            None => {
                t.name.starts_with("blk.")
                    && t.name.ends_with(".weight")
                    && t.dims.len() == 2
                    && t.dims[1] > 1
            }
        })
        .map(|t| {
            if Floats::of(t.ggml_type).is_none() {
                bail!(
                    "{label}: tensor {} is {}; sparsity needs F32, F16 or BF16 weights (prune the F16 model, then quantize)",
                    t.name,
                    t.ggml_type
                );
            }
            if let Some(pat) = sp.pattern {
                let ne0 = t.dims.first().copied().unwrap_or(1);
                ensure!(
                    ne0.is_multiple_of(pat.m as u64),
                    "{label}: tensor {} has rows of {ne0} weights, which do not split into groups of {} for the {pat} pattern",
                    t.name,
                    pat.m
                );
            }
            Ok(t.name.as_str())
        })
        .collect::<Result<_>>()?;
    ensure!(
        !chosen.is_empty(),
        "{label}: no tensor to sparsify{}",
        sp.tensors
            .as_ref()
            .map(|r| format!(" matches '{r}'"))
            .unwrap_or_default()
    );
    Ok(chosen)
}

/// Wanda's ‖X_j‖ per target tensor: √(Σx²/n) per input column from the importance matrix (the
/// 1/√n scale is the same for a whole row, so the ranking is Wanda's).
fn wanda_norms(
    file: &GgufFile,
    sp: &SparsitySpec,
    targets: &BTreeSet<&str>,
) -> Result<HashMap<String, Vec<f32>>> {
    let path = sp
        .imatrix
        .as_ref()
        .context("Wanda pruning needs an importance matrix")?;
    let label = path.display().to_string();
    let imatrix = imatrix_file::load(path)?;
    let dims: BTreeMap<String, Vec<u64>> = file
        .tensors()
        .iter()
        .map(|t| (t.name.clone(), t.dims.clone()))
        .collect();
    imatrix.check_against(&dims, &label)?;
    let mut means: HashMap<String, Vec<f32>> = imatrix.for_quantize().into_iter().collect();
    targets
        .iter()
        .map(|&name| {
            let Some(m) = means.remove(name) else {
                bail!("{label}: no activation statistics for {name} (an importance matrix of another model, or one without this tensor)");
            };
            Ok((name.to_string(), m.into_iter().map(|v| v.max(0.0).sqrt()).collect()))
        })
        .collect()
}
