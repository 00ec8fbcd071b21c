//! What rungs share, made once per sweep: the importance matrix, block-importance scores, and the
//! pruned F16 model each pruning level of a grid quantizes from.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use super::config::SweepConfig;
use super::events::{Observer, SweepEvent};
use super::manifest::Manifest;
use super::plan::PruneLevel;
use crate::engine::Model;
use crate::prune::{self, BlockScores, DepthSpec, PruneSpec, SparsitySpec};
use crate::quant::calibrate::{compute_imatrix, ImatrixOptions};
use crate::quant::imatrix::Imatrix;
use crate::quant::imatrix_file::{self, ImatrixFormat};

pub const IMATRIX_FILE: &str = "imatrix.gguf";

pub(crate) fn calibration<'a>(cfg: &'a SweepConfig, what: &str) -> Result<&'a Path> {
    cfg.calib.as_deref().with_context(|| {
        format!(
            "{what}: pass --calib TEXT (e.g. groups_merged.txt, or the calibration.txt that scripts/fetch-demo-text.sh writes){}",
            if what.contains("importance matrix") {
                ", or --imatrix FILE"
            } else {
                ""
            }
        )
    })
}

/// The importance matrix of the base model: the user's file, one computed in an earlier run of
/// this sweep, or computed now from the calibration text on `base` (the base model, loaded here if
/// not given). `None` when no rung needs one.
pub fn imatrix(
    cfg: &SweepConfig,
    m: &mut Manifest,
    base: Option<&Model>,
    on: Observer<'_>,
) -> Result<Option<PathBuf>> {
    if let Some(p) = &cfg.imatrix {
        on(SweepEvent::Stage("checking the importance matrix"));
        let file = crate::engine::open_gguf(&cfg.model)?;
        crate::quant::quantize::load_checked_imatrix(p, &file)?;
        return Ok(Some(p.clone()));
    }
    if !cfg.plan.needs_imatrix(cfg.imatrix_for) {
        return Ok(None);
    }
    let out = cfg.out_dir.join(IMATRIX_FILE);
    if out.exists() && m.imatrix.is_some() {
        return Ok(Some(out));
    }
    let needing: Vec<&str> = cfg
        .plan
        .rungs
        .iter()
        .filter(|r| r.needs_imatrix(cfg.imatrix_for))
        .map(|r| r.name.as_str())
        .collect();
    let calib = calibration(
        cfg,
        &format!("{} need an importance matrix", needing.join(", ")),
    )?;
    on(SweepEvent::Stage("importance matrix"));
    let text = crate::measure::text::read_text(calib)?;
    let loaded;
    let model = match base {
        Some(model) => model,
        None => {
            loaded = Model::load(&cfg.model, &super::rung::model_options(cfg))?;
            &loaded
        }
    };
    let opts = ImatrixOptions {
        n_ctx: cfg.n_ctx,
        n_chunks: cfg.imatrix_chunks,
        n_batch: cfg.eval_batch(),
        // Every token is an output (llama-imatrix's layout, which the last block's statistics
        // depend on), but without the calibration perplexity each decode stops before the output
        // head, whose vocabulary-wide product the statistics do not need: the same statistics bit
        // for bit (tests/it/quant_parity.rs).
        n_threads: cfg.n_threads,
        compute_ppl: false,
        ..Default::default()
    };
    let run = compute_imatrix(
        model,
        &text,
        &calib.display().to_string(),
        &opts,
        &mut |done, total, _| on(SweepEvent::chunks(done, total)),
    )?;
    imatrix_file::save(&out, &run.imatrix, ImatrixFormat::Gguf)?;
    m.imatrix = Some(IMATRIX_FILE.into());
    m.save(&cfg.out_dir)?;
    Ok(Some(out))
}

/// Block influence of every block of the base, measured once for all `depth=N` levels.
pub fn block_scores(
    cfg: &SweepConfig,
    m: &mut Manifest,
    on: Observer<'_>,
) -> Result<Option<BlockScores>> {
    if !cfg.plan.needs_block_scores() {
        return Ok(None);
    }
    if let Some(s) = &m.block_scores {
        return Ok(Some(s.clone()));
    }
    let calib = calibration(cfg, "depth pruning chooses blocks by importance")?;
    on(SweepEvent::Stage("block importance"));
    let text = crate::measure::text::read_text(calib)?;
    let opts = prune::ImportanceOptions {
        n_ctx: cfg.n_ctx,
        n_chunks: cfg.imatrix_chunks,
        n_threads: cfg.n_threads,
        n_gpu_layers: cfg.n_gpu_layers,
    };
    let scores = prune::block_influence(
        &cfg.model,
        &text,
        &calib.display().to_string(),
        &opts,
        &mut |done, total| on(SweepEvent::chunks(done, total)),
    )?;
    m.block_scores = Some(scores.clone());
    m.save(&cfg.out_dir)?;
    Ok(Some(scores))
}

/// A pruned copy of the base for one grid level, and the importance matrix its IQ rungs use.
pub struct PrunedSource {
    pub path: PathBuf,
    pub imatrix: Option<PathBuf>,
    pub report: prune::PruneReport,
}

/// Prunes the base as `level` says into OUT_DIR, in files named with `tag` (each worker in a
/// shared folder makes and removes its own). For depth pruning the base's importance matrix is
/// renumbered to the remaining blocks, so IQ rungs of the pruned model can use it.
pub fn pruned_source(
    cfg: &SweepConfig,
    level: &PruneLevel,
    imatrix: Option<&Path>,
    scores: Option<&BlockScores>,
    tag: &str,
    on: Observer<'_>,
) -> Result<PrunedSource> {
    let label = level.label();
    on(SweepEvent::Stage("pruning"));
    let mut spec = PruneSpec::default();
    match level {
        PruneLevel::Sparsity(method, p) => {
            spec.sparsity = Some(SparsitySpec::unstructured(*p, *method));
        }
        PruneLevel::Pattern(method, pat) => {
            spec.sparsity = Some(SparsitySpec::semi_structured(*pat, *method));
        }
        PruneLevel::DropBlocks(n) => {
            let scores = scores.context("block scores were not measured")?;
            spec.depth = Some(DepthSpec::Layers {
                layers: scores.least_important(*n as usize),
            });
        }
    }
    if let Some(sp) = spec.sparsity.as_mut() {
        if level.needs_imatrix() {
            sp.imatrix = Some(imatrix.context("Wanda needs the importance matrix")?.into());
        }
    }
    let path = cfg.out_dir.join(format!("pruned-{label}.{tag}.gguf"));
    let opts = prune::PruneOptions {
        n_threads: cfg.n_threads,
        n_gpu_layers: cfg.n_gpu_layers,
    };
    let report = prune::prune_file(&cfg.model, &path, &spec, &opts)
        .with_context(|| format!("pruning {label}"))?;
    let imatrix = match (imatrix, report.removed_blocks.is_empty()) {
        (Some(im), false) => {
            let removed: BTreeSet<u32> = report.removed_blocks.iter().copied().collect();
            let renumbered = renumber_imatrix(
                &imatrix_file::load(im)?,
                report.block_count_before,
                &removed,
            );
            let out = cfg.out_dir.join(format!("imatrix-{label}.{tag}.gguf"));
            imatrix_file::save(&out, &renumbered, ImatrixFormat::Gguf)?;
            Some(out)
        }
        (im, _) => im.map(Path::to_path_buf),
    };
    Ok(PrunedSource {
        path,
        imatrix,
        report,
    })
}

/// The entries of removed blocks dropped, the others renamed to their new block numbers.
pub fn renumber_imatrix(im: &Imatrix, block_count: u32, removed: &BTreeSet<u32>) -> Imatrix {
    let map = prune::depth::renumbering(block_count, removed);
    let mut out = im.clone();
    out.entries = im
        .entries
        .iter()
        .filter_map(|(name, e)| Some((prune::depth::rename(name, &map)?, e.clone())))
        .collect();
    out
}

/// The sweep refuses quantized input unless told otherwise: every rung would carry its rounding.
pub fn check_unquantized(cfg: &SweepConfig, file: &crate::gguf::GgufFile) -> Result<()> {
    let quantized = file
        .tensors()
        .iter()
        .find(|t| t.dims.len() >= 2 && t.ggml_type.is_quantized());
    if let (Some(t), false) = (quantized, cfg.allow_requantize) {
        bail!(
            "{}: already quantized (tensor {} is {}); a sweep starts from F16/BF16/F32 weights. Pass --allow-requantize to sweep it anyway (every rung then carries its rounding)",
            cfg.model.display(),
            t.name,
            t.ggml_type.ggml_name()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::imatrix::ImatrixEntry;

    #[test]
    fn renumbered_imatrix_follows_the_remaining_blocks() {
        let mut im = Imatrix::default();
        for name in [
            "blk.0.attn_q.weight",
            "blk.1.attn_q.weight",
            "blk.2.attn_q.weight",
            "blk.3.ffn_up.weight",
            "output.weight",
        ] {
            im.entries.insert(
                name.into(),
                ImatrixEntry {
                    sums: vec![name.len() as f32],
                    counts: vec![1],
                },
            );
        }
        let out = renumber_imatrix(&im, 4, &BTreeSet::from([1]));
        let names: Vec<&str> = out.entries.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "blk.0.attn_q.weight",
                "blk.1.attn_q.weight",
                "blk.2.ffn_up.weight",
                "output.weight"
            ]
        );
        // blk.2 of the input is blk.1 now, with its own statistics.
        assert_eq!(
            out.entries["blk.1.attn_q.weight"],
            im.entries["blk.2.attn_q.weight"]
        );
    }
}
