//! Runs a sweep: validate, the shared stages (importance matrix, base pass, peaks), this process's
//! share of the rungs (prune, quantize, measure, record), then the merge that renders. Many
//! processes, on many machines, can work in one sweep folder: each rung is taken under a lock of its
//! own and written as its own record.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::config::{Stage, SweepConfig};
use super::events::{Observer, SweepEvent};
use super::lock::{self, Attempt, Lock, LOCKS_DIR};
use super::manifest::{self, Manifest};
use super::merge::{self, MergeSummary};
use super::plan::{PruneLevel, Rung};
use super::prepare::{self, PrunedSource};
use super::recipes;
use super::records::{self, SweepId};
use super::resume::open_manifest;
use super::rung::{self, MachineLimits, Shared};
use crate::engine::{open_gguf, Model, Token};
use crate::gguf::{GgufFile, Summary};
use crate::measure::energy::EnergySource;
use crate::measure::peaks::{device_description, peaks_for_run};
use crate::measure::KldBase;
use crate::prune::BlockScores;
use crate::quant::quantize::{quantize_file, QuantizeOptions};
use crate::quant::types;
use crate::results::{ModelInfo, PruneInfo, RungResult, SweepResults};
use crate::tasks::{LoadOptions, TaskSet};

pub const KLD_BASE_FILE: &str = "base.kld";

/// What a run of the sweep did.
#[derive(Debug, Default)]
pub struct SweepOutcome {
    /// The merged results (the merge and a whole sweep).
    pub results: Option<SweepResults>,
    pub merge: Option<MergeSummary>,
    /// Rungs this process measured (or recorded as failed).
    pub measured: Vec<String>,
    /// Rungs of this process's share that another process was measuring.
    pub elsewhere: Vec<String>,
}

pub fn run_sweep(cfg: &SweepConfig, on: Observer<'_>) -> Result<SweepOutcome> {
    if cfg.stage == Stage::Merge {
        return merged(cfg, on, SweepOutcome::default());
    }
    let mut sweep = SweepState::open(cfg, on)?;
    sweep.shared_stages()?;
    if cfg.stage == Stage::Prepare {
        return Ok(SweepOutcome::default());
    }
    sweep.worker_limits();
    let share = sweep.share();
    for level in by_prune_level(&share) {
        sweep.measure_level(&level, share.len())?;
    }
    let outcome = std::mem::take(&mut sweep.outcome);
    drop(sweep);
    match cfg.stage {
        Stage::Rungs => Ok(outcome),
        _ => merged(cfg, on, outcome),
    }
}

fn merged(cfg: &SweepConfig, on: Observer<'_>, mut outcome: SweepOutcome) -> Result<SweepOutcome> {
    let (results, summary) = merge::merge(cfg, on)?;
    outcome.results = Some(results);
    outcome.merge = Some(summary);
    Ok(outcome)
}

/// What the stages of one sweep hand on to each other, from the validated input to the last rung.
struct SweepState<'a> {
    cfg: &'a SweepConfig,
    on: Observer<'a>,
    /// The sweep's fingerprint and what went into it.
    fingerprint: String,
    inputs: Vec<(String, String)>,
    /// As the shared stages left it; rungs are not written to it (the merge gathers them).
    manifest: Manifest,
    /// The type name the unquantized input is filed under in the ladder.
    base_type: &'static str,
    input: Summary,
    /// The evaluation text, until the base pass is done.
    text: String,
    tasks: Vec<TaskSet>,
    block_scores: Option<BlockScores>,
    imatrix: Option<PathBuf>,
    /// What every rung's KL-divergence is measured against, from the base pass on.
    kld_base: Option<KldBase>,
    /// Rungs started or skipped so far, for the progress count.
    index: usize,
    /// What every bench is compared with, from the base pass on.
    limits: MachineLimits,
    /// Names this process's files apart from other workers' (pruned models).
    worker_tag: String,
    outcome: SweepOutcome,
}

impl<'a> SweepState<'a> {
    /// Checks the input, reads the text and task sets, and hashes what the numbers depend on.
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
        let tasks = load_tasks(cfg, on)?;
        on(SweepEvent::Stage("hashing inputs"));
        let task_files: Vec<PathBuf> = tasks.iter().flat_map(|t| t.files.clone()).collect();
        let inputs = cfg.fingerprint_inputs(&task_files)?;
        let worker_tag: String = format!("{}-{}", crate::util::hostname(), std::process::id())
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Ok(Self {
            cfg,
            on,
            fingerprint: manifest::fingerprint(&inputs),
            inputs,
            manifest: Manifest::new(String::new(), vec![], vec![], SweepResults::default()),
            base_type,
            input,
            text,
            tasks,
            block_scores: None,
            imatrix: None,
            kld_base: None,
            index: 0,
            limits: MachineLimits::default(),
            worker_tag,
            outcome: SweepOutcome::default(),
        })
    }

    /// The stages every rung shares, run by one process at a time under the manifest's lock:
    /// the manifest (opened, resumed or rebuilt), block scores, the importance matrix, the base
    /// pass and the machine's peaks. A process that finds them done only reads them.
    fn shared_stages(&mut self) -> Result<()> {
        let cfg = self.cfg;
        let _lock = merge::lock_manifest(&cfg.out_dir, self.on)?;
        let mut manifest = open_manifest(cfg, &self.inputs)?;
        if let Some(w) = manifest.take_warning() {
            (self.on)(SweepEvent::Warning(w));
        }
        // Unfinished files are another worker's work in progress while one is running.
        if !lock::others_active(&cfg.out_dir.join(LOCKS_DIR))? {
            let stale = manifest::remove_partial_files(&cfg.out_dir)?;
            if stale > 0 {
                (self.on)(SweepEvent::Warning(format!(
                    "removed {stale} unfinished file(s) an interrupted run left in {}",
                    cfg.out_dir.display()
                )));
            }
        }
        manifest.results.model =
            model_info(cfg, &self.input, manifest.results.model.sha256.clone());
        manifest.save(&cfg.out_dir)?;
        self.manifest = manifest;
        self.prepare()?;
        self.manifest.save(&cfg.out_dir)
    }

    /// Block scores, the importance matrix and the base pass, each unless done before.
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
        self.manifest.results.settings.imatrix =
            self.imatrix.as_ref().map(|p| p.display().to_string());
        self.machine_limits();
        if let Some(base) = model.zip(tokens?) {
            self.measure_base(base)?;
        }
        self.text = String::new();
        recipes::sensitivity(cfg, self.imatrix.as_deref(), self.on)?;
        Ok(())
    }

    /// The base pass: the input's own rung, and the saved base every rung's KL-divergence is
    /// measured against.
    fn measure_base(&mut self, (model, tokens): (Model, Vec<Token>)) -> Result<()> {
        let cfg = self.cfg;
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
        base.save(&cfg.out_dir.join(KLD_BASE_FILE))?;
        records::write(&cfg.out_dir, &self.sweep_id(), &r, true)?;
        self.manifest.results.base = Some(r);
        self.manifest.kld_base = Some(KLD_BASE_FILE.into());
        self.manifest.save(&cfg.out_dir)?;
        self.kld_base = Some(base);
        Ok(())
    }

    fn sweep_id(&self) -> SweepId<'_> {
        SweepId {
            fingerprint: &self.fingerprint,
            inputs: &self.inputs,
        }
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
            (self.on)(SweepEvent::Stage(
                "measuring the machine's peaks (about 30 s, once per machine)",
            ));
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

    /// A worker on another kind of machine than the one that ran the shared stages compares its
    /// rungs with its own machine's peaks (cached per machine).
    fn worker_limits(&mut self) {
        let cfg = self.cfg;
        let gpu = cfg.n_gpu_layers > 0;
        let here = device_description(gpu, cfg.n_threads);
        let recorded = self.manifest.results.peaks.as_ref();
        if cfg.bench.is_none() || recorded.is_some_and(|p| p.device == here) {
            self.machine_limits();
            return;
        }
        self.limits = MachineLimits {
            peaks: peaks_for_run(gpu, cfg.n_threads, cfg.peak_overrides, &mut |_| {}).ok(),
            energy: EnergySource::detect(gpu, cfg.tdp_watts),
        };
    }

    /// This process's rungs: its shard of the plan.
    fn share(&self) -> Vec<Rung> {
        let shard = self.cfg.shard;
        let rungs = self.cfg.plan.rungs.iter().enumerate();
        rungs
            .filter(|(i, _)| shard.owns(*i))
            .map(|(_, r)| r.clone())
            .collect()
    }

    fn finished(&self, r: &Rung) -> bool {
        self.manifest.finished(&r.name).is_some()
            || records::finished(&self.cfg.out_dir, &self.fingerprint, &r.name, false)
    }

    /// The rungs of one pruning level, which share one pruned model: made when this process
    /// takes the level's first rung still to measure, and deleted when the level is done. Rungs
    /// finished before, or taken by another process, are skipped.
    fn measure_level(&mut self, level: &[&Rung], total: usize) -> Result<()> {
        let mut source: Option<LevelSource> = None;
        for &r in level {
            crate::util::check_interrupted()?;
            if self.finished(r) {
                self.index += 1;
                (self.on)(SweepEvent::RungSkipped(&r.name));
                continue;
            }
            let lock_path = merge::rung_lock_path(&self.cfg.out_dir, &r.name);
            let lock = match Lock::try_acquire(&lock_path)? {
                Attempt::Held(lock) => lock,
                Attempt::Busy(owner) => {
                    self.index += 1;
                    self.outcome.elsewhere.push(r.name.clone());
                    (self.on)(SweepEvent::RungElsewhere(&r.name, owner.describe()));
                    continue;
                }
            };
            // Another process may have finished it between the look and the lock.
            if self.finished(r) {
                self.index += 1;
                (self.on)(SweepEvent::RungSkipped(&r.name));
                continue;
            }
            self.index += 1;
            (self.on)(SweepEvent::RungStart {
                index: self.index,
                total,
                rung: &r.name,
            });
            if source.is_none() {
                source = Some(self.level_source(r.prune.as_ref())?);
            }
            let result = match source.as_ref().map(|s| &s.source) {
                Some(Ok(s)) => self.measure_rung(r, s.as_ref()),
                Some(Err(e)) => Err(anyhow::anyhow!("{e}")),
                None => unreachable!("made above"),
            };
            self.finish_rung(r, result, &lock)?;
        }
        Ok(())
    }

    /// The pruned model of a level (none for the unpruned level), removed with the value unless
    /// the user keeps models. A failure to prune fails each of the level's rungs, not the sweep.
    fn level_source(&mut self, level: Option<&PruneLevel>) -> Result<LevelSource> {
        let Some(level) = level else {
            return Ok(LevelSource {
                source: Ok(None),
                _remove: Vec::new(),
            });
        };
        let (imatrix, scores) = (self.imatrix.as_deref(), self.block_scores.as_ref());
        let made =
            prepare::pruned_source(self.cfg, level, imatrix, scores, &self.worker_tag, self.on);
        let keep = self.cfg.keep_models;
        match made {
            Ok(s) => {
                let mut remove = vec![RemoveOnDrop(s.path.clone(), keep)];
                // A depth-pruned level's renumbered importance matrix goes with it.
                if let Some(p) = s.imatrix.clone().filter(|p| Some(p.as_path()) != imatrix) {
                    remove.push(RemoveOnDrop(p, keep));
                }
                Ok(LevelSource {
                    source: Ok(Some(s)),
                    _remove: remove,
                })
            }
            Err(e) if is_fatal(&e) => Err(e),
            Err(e) => Ok(LevelSource {
                source: Err(format!("{e:#}")),
                _remove: Vec::new(),
            }),
        }
    }

    /// Measures one rung.
    fn measure_rung(&mut self, r: &Rung, source: Option<&PrunedSource>) -> Result<RungResult> {
        if r.prune.is_none() && r.qtype.name == self.base_type {
            // The input itself is this rung: the base's numbers.
            let base = self.manifest.results.base.as_ref();
            let base = base.context("base result missing")?;
            return Ok(RungResult {
                rung: r.name.clone(),
                ..base.clone()
            });
        }
        self.quantize_and_measure(r, source)
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
        if self.kld_base.is_none() {
            self.kld_base = Some(KldBase::open(&cfg.out_dir.join(KLD_BASE_FILE))?);
        }
        let shared = Shared {
            kld_base: self.kld_base.as_ref().context("no saved base")?,
            tasks: &self.tasks,
            limits: &self.limits,
        };
        rung::measure_file(cfg, &path, &shared, &mut res, self.on)?;
        Ok(res)
    }

    /// A finished rung (or its failure) as its own record, unless the sweep must stop. A rung
    /// whose lock another process took over meanwhile is that process's to record.
    fn finish_rung(&mut self, r: &Rung, result: Result<RungResult>, lock: &Lock) -> Result<()> {
        let res = match result {
            Ok(res) => res,
            Err(e) if is_fatal(&e) => return Err(e),
            Err(e) => {
                let mut res = RungResult::new(&r.name, r.qtype.name);
                describe_type(&mut res, r.qtype.name);
                res.prune = r.prune.as_ref().map(prune_info);
                res.error = Some(format!("{e:#}"));
                res
            }
        };
        (self.on)(SweepEvent::RungDone(&res));
        if !lock.still_held() {
            (self.on)(SweepEvent::Warning(format!(
                "{}: another process took this rung over (this one stopped beating for longer than the lock's lease); its result is not recorded here",
                r.name
            )));
            return Ok(());
        }
        records::write(&self.cfg.out_dir, &self.sweep_id(), &res, false)?;
        self.outcome.measured.push(r.name.clone());
        Ok(())
    }
}

/// The model a pruning level's rungs quantize from, or why it could not be made.
struct LevelSource {
    source: std::result::Result<Option<PrunedSource>, String>,
    _remove: Vec<RemoveOnDrop>,
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
    if r.recipe.is_some() {
        let (file, info, base_type) = recipes::solve_rung(cfg, r)?;
        q = QuantizeOptions::new(types::parse(&base_type)?);
        q.tensor_type_file = Some(file);
        res.recipe = Some(info);
    }
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
