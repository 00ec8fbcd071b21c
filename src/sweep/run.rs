//! Runs a sweep: validate, importance matrix, base, then every rung (prune, quantize, measure,
//! record), then render. Each finished rung is in the manifest before the next starts.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::config::SweepConfig;
use super::events::{Observer, SweepEvent};
use super::manifest::{self, Manifest};
use super::plan::{PruneLevel, Rung};
use super::prepare::{self, PrunedSource};
use super::rung::{self, Shared};
use crate::engine::{open_gguf, Model};
use crate::gguf::{GgufFile, Summary};
use crate::measure::KldBase;
use crate::quant::quantize::{quantize_file, QuantizeOptions};
use crate::quant::types;
use crate::results::{ModelInfo, Provenance, PruneInfo, RungResult, Settings, SweepResults};
use crate::tasks::{LoadOptions, TaskSet};

pub const KLD_BASE_FILE: &str = "base.kld";

/// The type name the unquantized input is filed under in the ladder.
fn base_type_name(file: &GgufFile) -> &'static str {
    let mut by_type = [0u64; 3];
    for t in file.tensors().iter().filter(|t| t.dims.len() >= 2) {
        match t.ggml_type.ggml_name() {
            "f16" => by_type[0] += t.n_elements(),
            "bf16" => by_type[1] += t.n_elements(),
            "f32" => by_type[2] += t.n_elements(),
            _ => {}
        }
    }
    match by_type.iter().enumerate().max_by_key(|(_, n)| **n) {
        Some((1, n)) if *n > 0 => "BF16",
        Some((2, n)) if *n > 0 => "F32",
        _ => "F16",
    }
}

pub fn run_sweep(cfg: &SweepConfig, on: Observer<'_>) -> Result<SweepResults> {
    on(SweepEvent::Stage("validating the input"));
    let input = open_gguf(&cfg.model)?;
    prepare::check_unquantized(cfg, &input)?;
    let base_type = base_type_name(&input);
    let summary = Summary::of(&input);
    drop(input);
    let text = crate::measure::text::read_text(&cfg.text)?;
    std::fs::create_dir_all(&cfg.out_dir)
        .with_context(|| format!("{}: cannot create the output folder", cfg.out_dir.display()))?;
    let tasks = load_tasks(cfg, on)?;
    on(SweepEvent::Stage("hashing inputs"));
    let task_files: Vec<PathBuf> = tasks.iter().flat_map(|t| t.files.clone()).collect();
    let mut m = open_manifest(cfg, &task_files)?;
    if let Some(w) = m.take_warning() {
        on(SweepEvent::Warning(w));
    }
    m.results.model = ModelInfo {
        name: cfg.model_name(),
        path: cfg.model.display().to_string(),
        sha256: m.results.model.sha256.clone(),
        architecture: summary.architecture.clone(),
        n_params: Some(summary.parameters),
        size_bytes: Some(summary.file_size),
    };
    m.save(&cfg.out_dir)?;

    // Block scores load the base themselves: before the base is held here, so it is not mapped twice.
    let scores = prepare::block_scores(cfg, &mut m, on)?;
    let base_file = cfg.out_dir.join(KLD_BASE_FILE);
    let base_done = m.results.base.is_some() && base_file.exists();
    // The base model serves the importance matrix and the base pass; the evaluation text is
    // tokenized on a thread of its own while the importance matrix starts (reading its own
    // calibration text, one core each).
    let base_model = if base_done {
        None
    } else {
        Some(Model::load(&cfg.model, &rung::model_options(cfg))?)
    };
    let (imatrix, tokens) = std::thread::scope(|s| {
        let tokenizing = base_model
            .as_ref()
            .map(|model| s.spawn(|| crate::measure::text::tokenize(model, &text)));
        let imatrix = prepare::imatrix(cfg, &mut m, base_model.as_ref(), on);
        if tokenizing.as_ref().is_some_and(|t| !t.is_finished()) {
            on(SweepEvent::Stage("tokenizing the text"));
        }
        let tokens = tokenizing.map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        (imatrix, tokens.transpose())
    });
    let imatrix = imatrix?;
    let tokens = tokens?;
    m.results.settings.imatrix = imatrix.as_ref().map(|p| p.display().to_string());

    let kld_base = match base_model.as_ref().zip(tokens) {
        Some((model, tokens)) => {
            let mut r = RungResult::new(base_type, base_type);
            describe_type(&mut r, base_type);
            r.bpw = Some(summary.bits_per_weight);
            r.size_bytes = Some(summary.file_size);
            r.n_params = Some(summary.parameters);
            let base = rung::measure_base(cfg, &tokens, model, &mut r, &tasks, on)?;
            base.save(&base_file)?;
            m.results.base = Some(r);
            m.kld_base = Some(KLD_BASE_FILE.into());
            m.save(&cfg.out_dir)?;
            base
        }
        None => KldBase::open(&base_file)?,
    };
    drop(base_model);
    drop(text);
    let shared = Shared {
        kld_base: &kld_base,
        tasks: &tasks,
    };

    let total = cfg.plan.rungs.len();
    let mut index = 0;
    for group in groups(&cfg.plan.rungs) {
        crate::util::check_interrupted()?;
        let todo: Vec<&Rung> = group
            .iter()
            .copied()
            .filter(|r| m.finished(&r.name).is_none())
            .collect();
        for done in group.iter().filter(|r| m.finished(&r.name).is_some()) {
            index += 1;
            on(SweepEvent::RungSkipped(&done.name));
        }
        if todo.is_empty() {
            continue;
        }
        // One pruned model serves every rung of its level; it goes when the level is done.
        let level = todo[0].prune.clone();
        let source = match &level {
            None => None,
            Some(level) => {
                match prepare::pruned_source(cfg, level, imatrix.as_deref(), scores.as_ref(), on) {
                    Ok(s) => Some(s),
                    Err(e) if is_fatal(&e) => return Err(e),
                    Err(e) => {
                        for r in &todo {
                            index += 1;
                            on(SweepEvent::RungStart {
                                index,
                                total,
                                rung: &r.name,
                            });
                            record_failure(cfg, &mut m, r, &e, on)?;
                        }
                        continue;
                    }
                }
            }
        };
        let _remove_source = source
            .as_ref()
            .map(|s| RemoveOnDrop(s.path.clone(), cfg.keep_models));
        // A depth-pruned level's renumbered importance matrix goes with it.
        let _remove_imatrix = source
            .as_ref()
            .and_then(|s| s.imatrix.clone())
            .filter(|p| Some(p.as_path()) != imatrix.as_deref())
            .map(|p| RemoveOnDrop(p, cfg.keep_models));
        for r in todo {
            crate::util::check_interrupted()?;
            index += 1;
            on(SweepEvent::RungStart {
                index,
                total,
                rung: &r.name,
            });
            let result = if r.prune.is_none() && r.qtype.name == base_type {
                // The input itself is this rung: the base's numbers.
                let mut b = m.results.base.clone().context("base result missing")?;
                b.rung = r.name.clone();
                Ok(b)
            } else {
                measure_rung(
                    cfg,
                    r,
                    base_type,
                    source.as_ref(),
                    imatrix.as_deref(),
                    &shared,
                    on,
                )
            };
            match result {
                Ok(res) => {
                    on(SweepEvent::RungDone(&res));
                    m.record(res);
                    m.save(&cfg.out_dir)?;
                }
                Err(e) if is_fatal(&e) => return Err(e),
                Err(e) => record_failure(cfg, &mut m, r, &e, on)?,
            }
        }
    }
    on(SweepEvent::Stage("rendering results"));
    m.results.save(&cfg.out_dir)?;
    crate::report::render_all_with(std::slice::from_ref(&m.results), &cfg.out_dir, &cfg.report)?;
    Ok(m.results)
}

/// Consecutive rungs with the same pruning level.
fn groups(rungs: &[Rung]) -> Vec<Vec<&Rung>> {
    let mut out: Vec<Vec<&Rung>> = Vec::new();
    for r in rungs {
        match out.last_mut() {
            Some(g) if g[0].prune == r.prune => g.push(r),
            _ => out.push(vec![r]),
        }
    }
    out
}

fn record_failure(
    cfg: &SweepConfig,
    m: &mut Manifest,
    r: &Rung,
    e: &anyhow::Error,
    on: Observer<'_>,
) -> Result<()> {
    let mut res = RungResult::new(&r.name, r.qtype.name);
    describe_type(&mut res, r.qtype.name);
    res.prune = r.prune.as_ref().map(prune_info);
    res.error = Some(format!("{e:#}"));
    on(SweepEvent::RungDone(&res));
    m.record(res);
    m.save(&cfg.out_dir)
}

fn describe_type(r: &mut RungResult, name: &str) {
    if let Some(t) = types::find(name) {
        r.ftype = Some(t.ftype);
        r.bit_width = Some(t.bits);
        r.nominal_bpw = Some(t.nominal_bpw());
    }
}

fn prune_info(level: &PruneLevel) -> PruneInfo {
    PruneInfo {
        method: level.method(),
        level: level.level(),
        pattern: match level {
            PruneLevel::Pattern(_, p) => Some(p.to_string()),
            _ => None,
        },
        ..Default::default()
    }
}

/// Errors that stop the sweep (Ctrl-C, a full disk) rather than fail one rung.
fn is_fatal(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<crate::util::Interrupted>().is_some()
            || c.downcast_ref::<std::io::Error>()
                .is_some_and(crate::util::is_disk_full)
            || c.to_string().contains("No space left on device")
    })
}

/// Deletes a model file when dropped (however the rung ends), unless the user keeps them.
struct RemoveOnDrop(PathBuf, bool);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if !self.1 {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn measure_rung(
    cfg: &SweepConfig,
    r: &Rung,
    base_type: &str,
    source: Option<&PrunedSource>,
    imatrix: Option<&Path>,
    shared: &Shared<'_>,
    on: Observer<'_>,
) -> Result<RungResult> {
    let mut res = RungResult::new(&r.name, r.qtype.name);
    describe_type(&mut res, r.qtype.name);
    let (input, imatrix) = match source {
        Some(s) => {
            let mut info = prune_info(r.prune.as_ref().expect("a source is pruned"));
            info.achieved_sparsity = Some(if s.report.removed_blocks.is_empty() {
                s.report.sparsity
            } else {
                1.0 - s.report.parameters_after as f64 / s.report.parameters_before as f64
            });
            info.removed_layers = s.report.removed_blocks.clone();
            res.prune = Some(info);
            res.times.prune_s = Some(s.report.seconds);
            (s.path.as_path(), s.imatrix.as_deref())
        }
        None => (cfg.model.as_path(), imatrix),
    };
    let path = if source.is_some() && r.qtype.name == base_type {
        // The pruned model in the base's own type is measured as it is.
        let f = open_gguf(input)?;
        let s = Summary::of(&f);
        res.bpw = Some(s.bits_per_weight);
        res.size_bytes = Some(s.file_size);
        res.n_params = Some(s.parameters);
        input.to_path_buf()
    } else {
        on(SweepEvent::Stage("quantizing"));
        let out = cfg
            .out_dir
            .join(format!("model-{}.gguf", r.name.replace(':', "_")));
        let mut q = QuantizeOptions::new(r.qtype);
        q.n_threads = cfg.n_threads;
        q.allow_requantize = cfg.allow_requantize;
        q.durable = cfg.keep_models;
        // Wanda may have used the matrix to prune; the quantizer gets it by the policy only.
        let with_imatrix = r.quantized_with_imatrix(cfg.imatrix_for);
        q.imatrix = imatrix.filter(|_| with_imatrix).map(Path::to_path_buf);
        res.imatrix = Some(q.imatrix.is_some());
        let report = quantize_file(input, &out, &q, None)?;
        res.times.quantize_s = Some(report.seconds);
        res.bpw = Some(report.bpw);
        res.size_bytes = Some(report.output_bytes);
        res.n_params = Some(report.n_params);
        out
    };
    let _remove = (path != input).then(|| RemoveOnDrop(path.clone(), cfg.keep_models));
    rung::measure_file(cfg, &path, shared, &mut res, on)?;
    Ok(res)
}

/// The task files, read once for every rung.
fn load_tasks(cfg: &SweepConfig, on: Observer<'_>) -> Result<Vec<TaskSet>> {
    if cfg.tasks.is_empty() {
        return Ok(Vec::new());
    }
    on(SweepEvent::Stage("loading tasks"));
    let sets = crate::tasks::load_all(&cfg.tasks, &LoadOptions::default())?;
    for w in sets.iter().flat_map(|s| &s.warnings) {
        on(SweepEvent::Warning(w.clone()));
    }
    Ok(sets)
}

/// Loads the manifest of an earlier run of the same sweep, or starts one; refuses a folder that
/// holds a different sweep (other inputs or settings) unless `--force`.
fn open_manifest(cfg: &SweepConfig, task_files: &[PathBuf]) -> Result<Manifest> {
    let inputs = cfg.fingerprint_inputs(task_files)?;
    let fp = manifest::fingerprint(&inputs);
    let plan = cfg.plan.names();
    let mut warning = None;
    if let Some(mut old) = Manifest::load(&cfg.out_dir)? {
        if old.fingerprint == fp {
            old.plan = plan;
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
    } else if std::fs::read_dir(&cfg.out_dir)?.next().is_some() && !cfg.force {
        anyhow::bail!(
            "{}: not empty and holds no sweep manifest; pick an empty or new folder (or --force)",
            cfg.out_dir.display()
        );
    }
    let settings = Settings {
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
    };
    let mut provenance = Provenance::current();
    for (k, v) in &inputs {
        if matches!(k.as_str(), "model" | "text" | "calibration" | "imatrix")
            || k.starts_with("task file")
        {
            provenance.inputs.insert(k.clone(), v.clone());
        }
    }
    let mut results = SweepResults::new(ModelInfo::default(), provenance, settings);
    results.model.sha256 = inputs.first().map(|(_, v)| v.clone());
    let mut m = Manifest::new(fp, inputs, plan, results);
    m.warning = warning;
    Ok(m)
}
