//! Opening a sweep folder's manifest: resuming the same sweep (taking the records of rungs finished
//! since), starting a new one, rebuilding a damaged one from the records, or refusing a folder that
//! holds another sweep or other files.

use std::path::Path;

use anyhow::{Context as _, Result};

use super::config::SweepConfig;
use super::lock::LOCKS_DIR;
use super::manifest::{self, Manifest};
use super::records;
use crate::results::{ModelInfo, Provenance, Settings, SweepResults};

/// Whether `dir` holds anything but this sweep's locks and the jobs `--emit` wrote for it.
fn holds_files(dir: &Path) -> Result<bool> {
    let mut entries =
        std::fs::read_dir(dir).with_context(|| format!("{}: cannot list", dir.display()))?;
    let ours = |name: &std::ffi::OsStr| name == LOCKS_DIR || name == "slurm";
    Ok(entries.any(|e| e.map_or(true, |e| !ours(&e.file_name()))))
}

/// Loads the manifest of an earlier run of the same sweep, or starts one; refuses a folder that
/// holds a different sweep (other inputs or settings) unless `--force`.
pub fn open_manifest(cfg: &SweepConfig, inputs: &[(String, String)]) -> Result<Manifest> {
    let inputs = inputs.to_vec();
    let fp = manifest::fingerprint(&inputs);
    let plan = cfg.plan.names();
    let mut warning = None;
    let old = match Manifest::load(&cfg.out_dir) {
        Ok(old) => old,
        Err(e) => return rebuild_manifest(cfg, e, fp, inputs, plan),
    };
    if let Some(mut old) = old {
        if old.fingerprint == fp {
            old.plan = plan;
            // Rungs the manifest lacks are normal (workers record rungs, the merge indexes them);
            // rungs it holds otherwise were edited.
            let replaced = old.adopt_records(&cfg.out_dir).replaced;
            if replaced > 0 {
                old.warning = Some(format!(
                    "{replaced} finished rung(s) taken from their records in {}/ (the manifest held them otherwise)",
                    cfg.out_dir.join(records::RECORDS_DIR).display()
                ));
            }
            return Ok(old);
        }
        if !cfg.force {
            anyhow::bail!(
                "{}: holds a sweep with other inputs or settings ({}); pass --force to start over there, or pick another -o",
                cfg.out_dir.display(),
                manifest::describe_changes(&old.fingerprint_inputs, &inputs)
            );
        }
        warning = Some(format!(
            "--force: discarding the earlier sweep in {}",
            cfg.out_dir.display()
        ));
        manifest::clear_sweep_files(&cfg.out_dir)?;
    } else if !cfg.force && holds_files(&cfg.out_dir)? {
        anyhow::bail!(
            "{}: not empty and holds no sweep manifest; pick an empty or new folder (or --force)",
            cfg.out_dir.display()
        );
    }
    let mut m = new_manifest(cfg, fp, inputs, plan);
    m.warning = warning;
    Ok(m)
}

/// A manifest that cannot be read (truncated, edited into invalid JSON) is rebuilt from the
/// records of this sweep's finished rungs; the damaged file is kept beside it. Without records
/// nothing can be rebuilt: the error says what to do.
fn rebuild_manifest(
    cfg: &SweepConfig,
    damage: anyhow::Error,
    fp: String,
    inputs: Vec<(String, String)>,
    plan: Vec<String>,
) -> Result<Manifest> {
    let path = Manifest::path(&cfg.out_dir);
    let (found, _) = records::read_matching(&cfg.out_dir, &fp, &inputs);
    if found.is_empty() {
        anyhow::bail!(
            "{damage:#}; no record of a finished rung of this sweep in {}/ to rebuild it from: restore the file, or pass --force to start over",
            cfg.out_dir.join(records::RECORDS_DIR).display()
        );
    }
    let kept = cfg.out_dir.join("manifest.json.damaged");
    std::fs::rename(&path, &kept)
        .with_context(|| format!("{}: cannot move aside", path.display()))?;
    let mut m = new_manifest(cfg, fp, inputs, plan);
    let adopted = m.adopt_records(&cfg.out_dir);
    let adopted = adopted.added + adopted.replaced;
    m.warning = Some(format!(
        "{}: could not be read; rebuilt from {adopted} record(s) of finished rungs, the damaged file kept as {}",
        path.display(),
        kept.display()
    ));
    Ok(m)
}

/// The manifest of a sweep starting afresh.
fn new_manifest(
    cfg: &SweepConfig,
    fp: String,
    inputs: Vec<(String, String)>,
    plan: Vec<String>,
) -> Manifest {
    let mut provenance = Provenance::current();
    for (k, v) in &inputs {
        if matches!(k.as_str(), "model" | "text" | "calibration" | "imatrix")
            || k.starts_with("task file")
        {
            provenance.inputs.insert(k.clone(), v.clone());
        }
    }
    let mut results = SweepResults::new(ModelInfo::default(), provenance, results_settings(cfg));
    results.model.sha256 = inputs.first().map(|(_, v)| v.clone());
    Manifest::new(fp, inputs, plan, results)
}

/// The settings a sweep's results are measured with, as its results record them.
fn results_settings(cfg: &SweepConfig) -> Settings {
    Settings {
        text_file: Some(cfg.text.display().to_string()),
        n_ctx: cfg.n_ctx,
        n_chunks: cfg.n_chunks,
        n_threads: cfg.n_threads,
        n_gpu_layers: cfg.n_gpu_layers,
        bench_prompt: cfg.bench.as_ref().map_or(0, |b| b.n_prompt),
        bench_gen: cfg.bench.as_ref().map_or(0, |b| b.n_gen),
        bench_reps: cfg.bench.as_ref().map_or(0, |b| b.reps),
        imatrix: cfg.imatrix.as_ref().map(|p| p.display().to_string()),
        tasks: cfg.tasks.clone(),
        extra: [
            ("n_batch".to_string(), cfg.eval_batch().to_string()),
            ("bench_n_batch".to_string(), cfg.bench_batch().to_string()),
            (
                "bench_warmup".to_string(),
                "none: the perplexity pass runs the model just before".to_string(),
            ),
            (
                "imatrix_for".to_string(),
                cfg.imatrix_for.as_str().to_string(),
            ),
            (
                "calibration".to_string(),
                cfg.calib
                    .as_ref()
                    .map_or("-".into(), |p| p.display().to_string()),
            ),
        ]
        .into_iter()
        .collect(),
    }
}
