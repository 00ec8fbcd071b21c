//! Runs a sweep: validate, importance matrix, base, then every rung (prune, quantize, measure,
//! record), then render. Each finished rung is in the manifest before the next starts.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::config::SweepConfig;
use super::events::{Observer, SweepEvent};
use super::lock::{SweepLock, LOCK_FILE};
use super::manifest::{self, Manifest};
use super::plan::{PruneLevel, Rung};
use super::prepare::{self, PrunedSource};
use super::records;
use super::rung::{self, MachineLimits, Shared};
use crate::engine::{open_gguf, Model, Token};
use crate::gguf::{GgufFile, Summary};
use crate::measure::energy::EnergySource;
use crate::measure::peaks::peaks_for_run;
use crate::measure::KldBase;
use crate::prune::BlockScores;
use crate::quant::quantize::{quantize_file, QuantizeOptions};
use crate::quant::types;
use crate::results::{ModelInfo, Provenance, PruneInfo, RungResult, Settings, SweepResults};
use crate::tasks::{LoadOptions, TaskSet};

pub const KLD_BASE_FILE: &str = "base.kld";

pub fn run_sweep(cfg: &SweepConfig, on: Observer<'_>) -> Result<SweepResults> {
    let mut sweep = SweepState::open(cfg, on)?;
    sweep.prepare()?;
    sweep.measure_base()?;
    for level in by_prune_level(&cfg.plan.rungs) {
        sweep.measure_level(&level)?;
    }
    sweep.render()
}

/// What the stages of one sweep hand on to each other, from the validated input to the last rung.
struct SweepState<'a> {
    cfg: &'a SweepConfig,
    on: Observer<'a>,
    manifest: Manifest,
    /// The type name the unquantized input is filed under in the ladder.
    base_type: &'static str,
    input: Summary,
    /// The evaluation text, until the base pass is done.
    text: String,
    tasks: Vec<TaskSet>,
    block_scores: Option<BlockScores>,
    imatrix: Option<PathBuf>,
    /// The base model and the tokenized text, from `prepare` to the base pass; `None` when an
    /// earlier run of the sweep measured the base.
    base: Option<(Model, Vec<Token>)>,
    /// What every rung's KL-divergence is measured against, from the base pass on.
    kld_base: Option<KldBase>,
    /// Rungs started or skipped so far, for the progress count.
    index: usize,
    /// What every bench is compared with, from the base pass on.
    limits: MachineLimits,
    /// No other sweep works in the folder while this one does.
    _lock: SweepLock,
}

impl<'a> SweepState<'a> {
    /// Checks the input, reads the text and task sets, and opens (or resumes) the manifest.
    fn open(cfg: &'a SweepConfig, on: Observer<'a>) -> Result<Self> {
        on(SweepEvent::Stage("validating the input"));
        let file = open_gguf(&cfg.model)?;
        prepare::check_unquantized(cfg, &file)?;
        let base_type = base_type_name(&file);
        let input = Summary::of(&file);
        drop(file);
        let text = crate::measure::text::read_text(&cfg.text)?;
        std::fs::create_dir_all(&cfg.out_dir).with_context(|| {
            format!("{}: cannot create the output folder", cfg.out_dir.display())
        })?;
        let lock = SweepLock::acquire(&cfg.out_dir)?;
        let tasks = load_tasks(cfg, on)?;
        on(SweepEvent::Stage("hashing inputs"));
        let task_files: Vec<PathBuf> = tasks.iter().flat_map(|t| t.files.clone()).collect();
        let mut manifest = open_manifest(cfg, &task_files)?;
        if let Some(w) = manifest.take_warning() {
            on(SweepEvent::Warning(w));
        }
        let stale = manifest::remove_partial_files(&cfg.out_dir)?;
        if stale > 0 {
            on(SweepEvent::Warning(format!(
                "removed {stale} unfinished file(s) an interrupted run left in {}",
                cfg.out_dir.display()
            )));
        }
        manifest.results.model = model_info(cfg, &input, manifest.results.model.sha256.clone());
        manifest.save(&cfg.out_dir)?;
        Ok(Self {
            cfg,
            on,
            manifest,
            base_type,
            input,
            text,
            tasks,
            block_scores: None,
            imatrix: None,
            base: None,
            kld_base: None,
            index: 0,
            limits: MachineLimits::default(),
            _lock: lock,
        })
    }

    /// What the rungs share: block scores, the importance matrix and, unless an earlier run
    /// measured the base, the loaded base model and the tokenized text.
    fn prepare(&mut self) -> Result<()> {
        let cfg = self.cfg;
        // Block scores load the base themselves: before the base is held here, so it is not
        // mapped twice.
        self.block_scores = prepare::block_scores(cfg, &mut self.manifest, self.on)?;
        let base_done =
            self.manifest.results.base.is_some() && cfg.out_dir.join(KLD_BASE_FILE).exists();
        // The base model serves the importance matrix and the base pass; the evaluation text is
        // tokenized on a thread of its own while the importance matrix starts (reading its own
        // calibration text, one core each).
        let model = if base_done {
            None
        } else {
            Some(Model::load(&cfg.model, &rung::model_options(cfg))?)
        };
        let (text, manifest, on) = (&self.text, &mut self.manifest, &mut *self.on);
        let (imatrix, tokens) = std::thread::scope(|s| {
            let tokenizing = model
                .as_ref()
                .map(|model| s.spawn(|| crate::measure::text::tokenize(model, text)));
            let imatrix = prepare::imatrix(cfg, manifest, model.as_ref(), on);
            if tokenizing.as_ref().is_some_and(|t| !t.is_finished()) {
                on(SweepEvent::Stage("tokenizing the text"));
            }
            let tokens =
                tokenizing.map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            (imatrix, tokens.transpose())
        });
        self.imatrix = imatrix?;
        self.base = model.zip(tokens?);
        self.manifest.results.settings.imatrix =
            self.imatrix.as_ref().map(|p| p.display().to_string());
        Ok(())
    }

    /// The base pass: the input's own rung, and the saved base every rung's KL-divergence is
    /// measured against (from an earlier run of the sweep when it measured the base).
    fn measure_base(&mut self) -> Result<()> {
        let cfg = self.cfg;
        self.machine_limits();
        let base_file = cfg.out_dir.join(KLD_BASE_FILE);
        let kld_base = match self.base.take() {
            Some((model, tokens)) => {
                let mut r = RungResult::new(self.base_type, self.base_type);
                describe_type(&mut r, self.base_type);
                record_size(&mut r, &self.input);
                let base = rung::measure_base(
                    cfg,
                    &tokens,
                    &model,
                    &mut r,
                    &self.tasks,
                    &self.limits,
                    self.on,
                )?;
                base.save(&base_file)?;
                records::write(&cfg.out_dir, &self.manifest.fingerprint, &r, true)?;
                self.manifest.results.base = Some(r);
                self.manifest.kld_base = Some(KLD_BASE_FILE.into());
                self.manifest.save(&cfg.out_dir)?;
                base
            }
            None => KldBase::open(&base_file)?,
        };
        self.kld_base = Some(kld_base);
        self.text = String::new();
        Ok(())
    }

    /// The machine's peaks (kept from an earlier run of the sweep, so every rung is compared with
    /// the same figures) and its energy source. Without peaks the bench still runs; only its
    /// utilization figures are left out.
    fn machine_limits(&mut self) {
        let cfg = self.cfg;
        if cfg.bench.is_none() {
            return;
        }
        let gpu = cfg.n_gpu_layers > 0;
        if self.manifest.results.peaks.is_none() {
            (self.on)(SweepEvent::Stage("measuring the machine's peaks"));
            match peaks_for_run(gpu, cfg.n_threads, cfg.peak_overrides, &mut |_| {}) {
                Ok(p) => self.manifest.results.peaks = Some(p),
                Err(e) => (self.on)(SweepEvent::Warning(format!(
                    "the machine's peaks could not be measured ({e:#}); MFU and bandwidth use are left out"
                ))),
            }
        }
        self.limits = MachineLimits {
            peaks: self.manifest.results.peaks.clone(),
            energy: EnergySource::detect(gpu, cfg.tdp_watts),
        };
    }

    /// The rungs of one pruning level, which share one pruned model: made here when some rung of
    /// the level is still to measure, and deleted when the level is done. Rungs an earlier run
    /// finished are skipped.
    fn measure_level(&mut self, level: &[&Rung]) -> Result<()> {
        crate::util::check_interrupted()?;
        let (done, todo): (Vec<&Rung>, Vec<&Rung>) = level
            .iter()
            .copied()
            .partition(|r| self.manifest.finished(&r.name).is_some());
        for r in done {
            self.index += 1;
            (self.on)(SweepEvent::RungSkipped(&r.name));
        }
        let Some(first) = todo.first() else {
            return Ok(());
        };
        let source = match self.pruned_source(first.prune.as_ref()) {
            Ok(source) => source,
            Err(e) if is_fatal(&e) => return Err(e),
            Err(e) => {
                for r in &todo {
                    self.start_rung(r);
                    self.record_failure(r, &e)?;
                }
                return Ok(());
            }
        };
        let keep = self.cfg.keep_models;
        let _remove_source = source.as_ref().map(|s| RemoveOnDrop(s.path.clone(), keep));
        // A depth-pruned level's renumbered importance matrix goes with it.
        let _remove_imatrix = source
            .as_ref()
            .and_then(|s| s.imatrix.clone())
            .filter(|p| Some(p.as_path()) != self.imatrix.as_deref())
            .map(|p| RemoveOnDrop(p, keep));
        for r in todo {
            crate::util::check_interrupted()?;
            self.measure_rung(r, source.as_ref())?;
        }
        Ok(())
    }

    /// The pruned model a level's rungs are quantized from; `None` for the unpruned level.
    fn pruned_source(&mut self, level: Option<&PruneLevel>) -> Result<Option<PrunedSource>> {
        let Some(level) = level else {
            return Ok(None);
        };
        let (imatrix, scores) = (self.imatrix.as_deref(), self.block_scores.as_ref());
        prepare::pruned_source(self.cfg, level, imatrix, scores, self.on).map(Some)
    }

    /// Measures one rung and records it; a failure is recorded as the rung's result, unless it
    /// stops the sweep.
    fn measure_rung(&mut self, r: &Rung, source: Option<&PrunedSource>) -> Result<()> {
        self.start_rung(r);
        let result = if r.prune.is_none() && r.qtype.name == self.base_type {
            // The input itself is this rung: the base's numbers.
            let base = self.manifest.results.base.as_ref();
            let base = base.context("base result missing")?;
            Ok(RungResult {
                rung: r.name.clone(),
                ..base.clone()
            })
        } else {
            self.quantize_and_measure(r, source)
        };
        match result {
            Ok(res) => {
                (self.on)(SweepEvent::RungDone(&res));
                self.finish_rung(res)
            }
            Err(e) if is_fatal(&e) => Err(e),
            Err(e) => self.record_failure(r, &e),
        }
    }

    /// Quantizes the rung's model (from `source` when the level is pruned) and measures it.
    fn quantize_and_measure(
        &mut self,
        r: &Rung,
        source: Option<&PrunedSource>,
    ) -> Result<RungResult> {
        let cfg = self.cfg;
        let mut res = RungResult::new(&r.name, r.qtype.name);
        describe_type(&mut res, r.qtype.name);
        let (input, imatrix) = match source {
            Some(s) => {
                res.prune = Some(achieved_pruning(r, s));
                res.times.prune_s = Some(s.report.seconds);
                (s.path.as_path(), s.imatrix.as_deref())
            }
            None => (cfg.model.as_path(), self.imatrix.as_deref()),
        };
        let path = if source.is_some() && r.qtype.name == self.base_type {
            // The pruned model in the base's own type is measured as it is.
            record_size(&mut res, &Summary::of(&open_gguf(input)?));
            input.to_path_buf()
        } else {
            (self.on)(SweepEvent::Stage("quantizing"));
            quantize(cfg, r, input, imatrix, &mut res)?
        };
        let _remove = (path != input).then(|| RemoveOnDrop(path.clone(), cfg.keep_models));
        let shared = Shared {
            kld_base: self
                .kld_base
                .as_ref()
                .expect("the base pass comes before the rungs"),
            tasks: &self.tasks,
            limits: &self.limits,
        };
        rung::measure_file(cfg, &path, &shared, &mut res, self.on)?;
        Ok(res)
    }

    fn start_rung(&mut self, r: &Rung) {
        self.index += 1;
        (self.on)(SweepEvent::RungStart {
            index: self.index,
            total: self.cfg.plan.rungs.len(),
            rung: &r.name,
        });
    }

    fn record_failure(&mut self, r: &Rung, e: &anyhow::Error) -> Result<()> {
        let mut res = RungResult::new(&r.name, r.qtype.name);
        describe_type(&mut res, r.qtype.name);
        res.prune = r.prune.as_ref().map(prune_info);
        res.error = Some(format!("{e:#}"));
        (self.on)(SweepEvent::RungDone(&res));
        self.finish_rung(res)
    }

    /// A finished rung: its own record first, then the manifest that indexes it.
    fn finish_rung(&mut self, res: RungResult) -> Result<()> {
        let dir = &self.cfg.out_dir;
        records::write(dir, &self.manifest.fingerprint, &res, false)?;
        self.manifest.record(res);
        self.manifest.save(dir)
    }

    /// Saves the results and renders the tables, report and charts.
    fn render(self) -> Result<SweepResults> {
        let Self {
            cfg, on, manifest, ..
        } = self;
        on(SweepEvent::Stage("rendering results"));
        manifest.results.save(&cfg.out_dir)?;
        let results = std::slice::from_ref(&manifest.results);
        crate::report::render_all_with(results, &cfg.out_dir, &cfg.report)?;
        Ok(manifest.results)
    }
}

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

fn model_info(cfg: &SweepConfig, input: &Summary, sha256: Option<String>) -> ModelInfo {
    ModelInfo {
        name: cfg.model_name(),
        path: cfg.model.display().to_string(),
        sha256,
        architecture: input.architecture.clone(),
        n_params: Some(input.parameters),
        size_bytes: Some(input.file_size),
    }
}

/// Consecutive rungs with the same pruning level.
fn by_prune_level(rungs: &[Rung]) -> Vec<Vec<&Rung>> {
    let mut out: Vec<Vec<&Rung>> = Vec::new();
    for r in rungs {
        match out.last_mut() {
            Some(g) if g[0].prune == r.prune => g.push(r),
            _ => out.push(vec![r]),
        }
    }
    out
}

/// Quantizes `input` to the rung's type as `model-RUNG.gguf` in OUT_DIR, recording how in `res`.
fn quantize(
    cfg: &SweepConfig,
    r: &Rung,
    input: &Path,
    imatrix: Option<&Path>,
    res: &mut RungResult,
) -> Result<PathBuf> {
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
    Ok(out)
}

/// Bits per weight, size and parameters of the model file a rung measures.
fn record_size(res: &mut RungResult, file: &Summary) {
    res.bpw = Some(file.bits_per_weight);
    res.size_bytes = Some(file.file_size);
    res.n_params = Some(file.parameters);
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

/// The rung's pruning level with what pruning `source` achieved.
fn achieved_pruning(r: &Rung, source: &PrunedSource) -> PruneInfo {
    let report = &source.report;
    let mut info = prune_info(r.prune.as_ref().expect("a source is pruned"));
    info.achieved_sparsity = Some(if report.removed_blocks.is_empty() {
        report.sparsity
    } else {
        1.0 - report.parameters_after as f64 / report.parameters_before as f64
    });
    info.removed_layers = report.removed_blocks.clone();
    info
}

/// Errors that stop the sweep (Ctrl-C, a full disk) rather than fail one rung. A full disk is
/// known by the kind of an I/O error anywhere in the chain, not by what its message says.
fn is_fatal(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<crate::util::Interrupted>().is_some()
            || c.downcast_ref::<std::io::Error>()
                .is_some_and(crate::util::is_disk_full)
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

/// Whether `dir` holds anything but this sweep's lock.
fn holds_files(dir: &Path) -> Result<bool> {
    let mut entries =
        std::fs::read_dir(dir).with_context(|| format!("{}: cannot list", dir.display()))?;
    Ok(entries.any(|e| e.map_or(true, |e| e.file_name() != LOCK_FILE)))
}

/// Loads the manifest of an earlier run of the same sweep, or starts one; refuses a folder that
/// holds a different sweep (other inputs or settings) unless `--force`.
fn open_manifest(cfg: &SweepConfig, task_files: &[PathBuf]) -> Result<Manifest> {
    let inputs = cfg.fingerprint_inputs(task_files)?;
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
            let adopted = old.adopt_records(&cfg.out_dir);
            if adopted > 0 {
                old.warning = Some(format!(
                    "{adopted} finished rung(s) taken from their records in {}/ (the manifest lacked them or held them otherwise)",
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
    let (found, _) = records::read_matching(&cfg.out_dir, &fp);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_stops_the_sweep_by_its_error_kind() {
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        let e = anyhow::Error::new(full).context("model-Q8_0.gguf: write failed");
        assert!(is_fatal(&e));
        let quota = std::io::Error::from(std::io::ErrorKind::QuotaExceeded);
        assert!(is_fatal(&anyhow::Error::new(quota)));
        let other = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert!(!is_fatal(&anyhow::Error::new(other).context("x")));
        // Words alone are not the error: the rung fails, the sweep goes on.
        assert!(!is_fatal(&anyhow::anyhow!("No space left on device")));
    }

    #[test]
    fn ctrl_c_stops_the_sweep() {
        let e = anyhow::Error::new(crate::util::Interrupted).context("quantizing");
        assert!(is_fatal(&e));
        assert!(!is_fatal(&anyhow::anyhow!(
            "llama.cpp could not load the model"
        )));
    }
}
