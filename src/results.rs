//! Results as plain data: what a sweep measured, written once (`results.json`, inside the manifest)
//! and rendered many times (`results.csv`, `table5.csv`, charts, the report) without running a model.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::measure::machine_use::MachineUse;
use crate::measure::peaks::Peaks;
use crate::measure::KldStats;
use crate::tasks::TaskReport;

/// Bumped when a field changes meaning; readers refuse newer versions.
pub const RESULTS_VERSION: u32 = 1;
pub const RESULTS_FILE: &str = "results.json";

/// One sweep of one model: every rung and everything needed to say how it was measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SweepResults {
    pub results_version: u32,
    pub model: ModelInfo,
    pub provenance: Provenance,
    pub settings: Settings,
    /// The unquantized input, measured once; KL-divergence and accuracy drops are against it.
    pub base: Option<RungResult>,
    /// Rungs in plan order (most bits first), failed ones included with their error.
    pub rungs: Vec<RungResult>,
    /// The machine's measured (or given) limits every rung's machine use is against.
    #[serde(default)]
    pub peaks: Option<Peaks>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Short name for tables and legends (file stem unless given).
    pub name: String,
    pub path: String,
    pub sha256: Option<String>,
    pub architecture: Option<String>,
    pub n_params: Option<u64>,
    pub size_bytes: Option<u64>,
}

/// Where the numbers came from: program, llama.cpp build, machine, input hashes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub mpt_gguf_version: String,
    pub llama_cpp: String,
    pub backends: Vec<String>,
    pub target_cpu: String,
    pub machine: Machine,
    /// RFC 3339 UTC time the results were first created.
    pub created: String,
    /// sha256 of each input file by role (`model`, `text`, `calibration`, `imatrix`, task files).
    pub inputs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub hostname: String,
    pub os: String,
    pub arch: String,
    pub cpu: String,
    pub n_cpus: u32,
    pub ram_bytes: Option<u64>,
}

/// Measurement settings shared by every rung.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub text_file: Option<String>,
    pub n_ctx: u32,
    pub n_chunks: Option<u32>,
    pub n_threads: u32,
    pub n_gpu_layers: u32,
    pub bench_prompt: u32,
    pub bench_gen: u32,
    pub bench_reps: u32,
    pub imatrix: Option<String>,
    pub tasks: Vec<String>,
    /// Anything else that shaped the numbers (batch size, task limit, seed, ...).
    pub extra: BTreeMap<String, String>,
}

/// One rung of the ladder (or one cell of a prune × quantize grid). Every measurement is optional:
/// a rung that failed, or a measurement that was not asked for, leaves it `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RungResult {
    /// Unique within a sweep: the quant type name, with the pruning appended for grid cells
    /// (`Q4_K_M`, `Q4_K_M+wanda0.5`).
    pub rung: String,
    /// Quantization type name as `mpt-gguf types` lists it (`F16` for the base).
    pub quant: String,
    pub ftype: Option<u32>,
    /// The bit-width column it is filed under (Table 5's 1-bit ... 16-bit).
    pub bit_width: Option<u32>,
    /// The type's nominal bits per weight (from its name, not the file).
    pub nominal_bpw: Option<f64>,
    /// Measured: tensor bytes × 8 / parameters of the written file.
    pub bpw: Option<f64>,
    pub size_bytes: Option<u64>,
    pub n_params: Option<u64>,
    pub prune: Option<PruneInfo>,
    /// Whether the quantizer was given the importance matrix (`None`: not quantized by the sweep).
    pub imatrix: Option<bool>,
    /// For a recipe rung: what it was solved for and what it predicted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<RecipeInfo>,

    pub ppl: Option<f64>,
    pub ppl_err: Option<f64>,
    /// Mean ln(PPL(Q)/PPL(base)) over chunks and its ± (llama-perplexity's KL-divergence report).
    pub ln_ppl_ratio: Option<f64>,
    pub ln_ppl_ratio_err: Option<f64>,
    pub kld: Option<KldSummary>,

    /// Prompt processing and token generation throughput: mean ± sample stddev over repetitions.
    pub pp_ts: Option<f64>,
    pub pp_ts_sd: Option<f64>,
    pub tg_ts: Option<f64>,
    pub tg_ts_sd: Option<f64>,
    pub peak_rss_bytes: Option<u64>,
    /// How close prompt processing and generation came to the machine's limits (MFU, bandwidth
    /// use, energy per token).
    #[serde(default)]
    pub pp_use: Option<MachineUse>,
    #[serde(default)]
    pub tg_use: Option<MachineUse>,

    pub tasks: Vec<TaskScore>,
    pub times: Timings,
    /// Why this rung has no numbers (it failed and the sweep went on).
    pub error: Option<String>,
}

/// A recipe rung's recipe: a per-tensor mix solved from the sweep's sensitivity table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecipeInfo {
    /// `--like Q4_K_M` or `--target-bpw 4.5`.
    pub target: String,
    /// The stock rung it stands in for (`--like`), if any.
    pub like: Option<String>,
    /// Sum of the measured per-tensor costs (on the calibration text).
    pub predicted_kld: f64,
    pub predicted_tensor_bytes: u64,
    /// `solver`, or `stock TYPE` when a stock mix predicted better.
    pub source: String,
    /// The recipe file, relative to the sweep folder.
    pub file: String,
}

/// How a grid cell was pruned before quantization.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PruneInfo {
    /// `magnitude`, `wanda` (unstructured or N:M) or `depth` (whole blocks removed).
    pub method: String,
    /// Target sparsity in [0, 1) for weight pruning; number of removed blocks for depth pruning.
    pub level: f64,
    /// `2:4`, `4:8` for semi-structured sparsity.
    pub pattern: Option<String>,
    /// Zeroed fraction of the prunable weights (weight pruning) or of all parameters (depth).
    pub achieved_sparsity: Option<f64>,
    pub removed_layers: Vec<u32>,
}

/// llama-perplexity's `--kl-divergence` report, against the base.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KldSummary {
    pub n_tokens: u64,
    pub mean: f64,
    pub mean_err: f64,
    pub max: f64,
    pub p99_9: f64,
    pub p99: f64,
    pub p95: f64,
    pub p90: f64,
    pub median: f64,
    pub p10: f64,
    pub p5: f64,
    pub p1: f64,
    pub p0_1: f64,
    pub min: f64,
    /// Δp: probability of the correct token, quant minus base.
    pub dp_mean: f64,
    pub dp_mean_err: f64,
    pub dp_rms: f64,
    pub dp_rms_err: f64,
    pub dp_max: f64,
    pub dp_p99_9: f64,
    pub dp_p99: f64,
    pub dp_p95: f64,
    pub dp_p90: f64,
    pub dp_median: f64,
    pub dp_p10: f64,
    pub dp_p5: f64,
    pub dp_p1: f64,
    pub dp_p0_1: f64,
    pub dp_min: f64,
    /// Fraction of tokens whose most likely token is the same in both models.
    pub same_top: f64,
    pub same_top_err: f64,
    /// Pearson correlation of per-chunk ln PPL between quant and base.
    pub ln_ppl_correlation: f64,
}

/// Accuracy on one multiple-choice task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskScore {
    /// `arc-easy`, `arc-challenge`, `mmlu`, `hellaswag`, `winogrande`.
    pub task: String,
    /// Items scored.
    pub n: u64,
    /// Fraction correct by summed log-probability, and its standard error.
    pub acc: f64,
    pub acc_err: f64,
    /// Fraction correct by log-probability per answer byte (lm-evaluation-harness `acc_norm`).
    pub acc_norm: Option<f64>,
    pub acc_norm_err: Option<f64>,
}

/// What a sweep keeps of a KL-divergence run.
impl From<&KldStats> for KldSummary {
    fn from(s: &KldStats) -> Self {
        let (k, d) = (&s.kld, &s.dp);
        KldSummary {
            n_tokens: s.n_tokens,
            mean: s.kld_mean,
            mean_err: s.kld_mean_err,
            max: k.max,
            p99_9: k.p99_9,
            p99: k.p99,
            p95: k.p95,
            p90: k.p90,
            median: k.median,
            p10: k.p10,
            p5: k.p5,
            p1: k.p1,
            p0_1: k.p0_1,
            min: k.min,
            dp_mean: s.dp_mean,
            dp_mean_err: s.dp_mean_err,
            dp_rms: s.dp_rms,
            dp_rms_err: s.dp_rms_err,
            dp_max: d.max,
            dp_p99_9: d.p99_9,
            dp_p99: d.p99,
            dp_p95: d.p95,
            dp_p90: d.p90,
            dp_median: d.median,
            dp_p10: d.p10,
            dp_p5: d.p5,
            dp_p1: d.p1,
            dp_p0_1: d.p0_1,
            dp_min: d.min,
            same_top: s.same_top,
            same_top_err: s.same_top_err,
            ln_ppl_correlation: s.ln_ppl_correlation,
        }
    }
}

/// What a sweep keeps of a task's evaluation.
impl From<&TaskReport> for TaskScore {
    fn from(r: &TaskReport) -> Self {
        TaskScore {
            task: r.task.clone(),
            n: r.n as u64,
            acc: r.acc.value,
            acc_err: r.acc.stderr,
            acc_norm: r.acc_norm.map(|a| a.value),
            acc_norm_err: r.acc_norm.map(|a| a.stderr),
        }
    }
}

/// Seconds spent per stage of a rung.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub prune_s: Option<f64>,
    pub quantize_s: Option<f64>,
    pub perplexity_s: Option<f64>,
    pub bench_s: Option<f64>,
    pub tasks_s: Option<f64>,
}

impl RungResult {
    pub fn new(rung: impl Into<String>, quant: impl Into<String>) -> Self {
        Self {
            rung: rung.into(),
            quant: quant.into(),
            ..Default::default()
        }
    }

    pub fn task(&self, name: &str) -> Option<&TaskScore> {
        self.tasks.iter().find(|t| t.task == name)
    }

    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

impl SweepResults {
    pub fn new(model: ModelInfo, provenance: Provenance, settings: Settings) -> Self {
        Self {
            results_version: RESULTS_VERSION,
            model,
            provenance,
            settings,
            base: None,
            rungs: Vec::new(),
            peaks: None,
        }
    }

    /// The rungs that produced numbers.
    pub fn measured(&self) -> impl Iterator<Item = &RungResult> {
        self.rungs.iter().filter(|r| r.ok())
    }

    /// Writes `results.json` into `dir` atomically.
    pub fn save(&self, dir: &Path) -> Result<PathBuf> {
        let path = dir.join(RESULTS_FILE);
        let json = serde_json::to_vec_pretty(self)?;
        crate::util::write_atomic(&path, &json)?;
        Ok(path)
    }

    /// Reads saved results from a `results.json`, a sweep's `manifest.json`, or a sweep folder
    /// (its results.json, or its manifest when results.json is missing or damaged: both hold the
    /// same results).
    pub fn load(path: &Path) -> Result<SweepResults> {
        if !path.is_dir() {
            return Self::load_file(path);
        }
        let (results, manifest) = (path.join(RESULTS_FILE), path.join("manifest.json"));
        match Self::load_file(&results) {
            Ok(r) => Ok(r),
            Err(e) if !manifest.exists() => Err(e),
            Err(e) => Self::load_file(&manifest).map_err(|m| {
                m.context(format!(
                    "{:#}; and its manifest: re-run the sweep command to rewrite both",
                    e
                ))
            }),
        }
    }

    fn load_file(file: &Path) -> Result<SweepResults> {
        let file = file.to_path_buf();
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("{}: cannot read saved results", file.display()))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not JSON", file.display()))?;
        // A manifest carries the results under "results".
        let value = match value.get("results") {
            Some(inner) if value.get("manifest_version").is_some() => inner.clone(),
            _ => value,
        };
        let version = value.get("results_version").and_then(|v| v.as_u64());
        match version {
            Some(v) if v <= RESULTS_VERSION as u64 => {}
            Some(v) => bail!(
                "{}: results version {v} is newer than this mpt-gguf reads ({RESULTS_VERSION}); update mpt-gguf",
                file.display()
            ),
            None => bail!(
                "{}: not mpt-gguf results (no results_version); pass a sweep folder, results.json or manifest.json",
                file.display()
            ),
        }
        serde_json::from_value(value)
            .with_context(|| format!("{}: malformed mpt-gguf results", file.display()))
    }
}

impl Provenance {
    /// This program, its llama.cpp and this machine, now.
    pub fn current() -> Self {
        use crate::engine::build_info;
        Self {
            mpt_gguf_version: build_info::MPT_VERSION.to_string(),
            llama_cpp: build_info::LLAMA_REVISION.to_string(),
            backends: build_info::backends(),
            target_cpu: build_info::TARGET_CPU.to_string(),
            machine: Machine::current(),
            created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            inputs: BTreeMap::new(),
        }
    }
}

impl Machine {
    pub fn current() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default();
        Self {
            hostname: crate::util::hostname(),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            cpu,
            n_cpus: crate::util::default_threads() as u32,
            ram_bytes: crate::util::ram_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::kld::hand_computed_accumulator;

    #[test]
    fn kld_summary_keeps_the_run_s_statistics() {
        let s = hand_computed_accumulator().stats();
        let summary = KldSummary::from(&s);
        assert_eq!(summary.n_tokens, s.n_tokens);
        assert_eq!(summary.mean, s.kld_mean);
        assert_eq!(summary.p99, s.kld.p99);
        assert_eq!(summary.dp_p99, s.dp.p99);
        assert_eq!(summary.same_top, s.same_top);
    }

    fn sample() -> SweepResults {
        let mut r = SweepResults::new(
            ModelInfo {
                name: "m".into(),
                ..Default::default()
            },
            Provenance::current(),
            Settings::default(),
        );
        let mut rung = RungResult::new("Q4_K_M", "Q4_K_M");
        rung.ppl = Some(13.9797);
        rung.tasks.push(TaskScore {
            task: "arc-easy".into(),
            n: 10,
            acc: 0.5,
            acc_err: 0.16,
            ..Default::default()
        });
        r.rungs.push(rung);
        r
    }

    #[test]
    fn saved_results_load_back_from_file_folder_and_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let r = sample();
        let path = r.save(dir.path()).unwrap();
        assert_eq!(SweepResults::load(&path).unwrap(), r);
        assert_eq!(SweepResults::load(dir.path()).unwrap(), r);
        let manifest = serde_json::json!({"manifest_version": 1, "results": r});
        let mpath = dir.path().join("manifest.json");
        std::fs::write(&mpath, manifest.to_string()).unwrap();
        assert_eq!(SweepResults::load(&mpath).unwrap(), r);
    }

    #[test]
    fn numbers_read_back_bit_for_bit() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut r = sample();
        let values: Vec<f64> = (0..2000)
            .map(|i| match i % 3 {
                0 => rng.gen::<f64>(),
                1 => rng.gen_range(-1e6..1e6),
                _ => (rng.gen_range(1..1000) as f64) / (rng.gen_range(1..1000) as f64),
            })
            .collect();
        for (i, v) in values.iter().enumerate() {
            let mut rung = RungResult::new(format!("r{i}"), "Q4_0");
            rung.ppl = Some(*v);
            r.rungs.push(rung);
        }
        let dir = tempfile::tempdir().unwrap();
        r.save(dir.path()).unwrap();
        let back = SweepResults::load(dir.path()).unwrap();
        for (a, b) in r.rungs.iter().zip(&back.rungs) {
            assert_eq!(
                a.ppl.map(f64::to_bits),
                b.ppl.map(f64::to_bits),
                "{:?}",
                a.ppl
            );
        }
    }

    #[test]
    fn foreign_and_newer_files_are_refused_with_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        std::fs::write(&p, "{\"a\": 1}").unwrap();
        let e = format!("{:#}", SweepResults::load(&p).unwrap_err());
        assert!(
            e.contains("x.json") && e.contains("not mpt-gguf results"),
            "{e}"
        );
        std::fs::write(&p, "{\"results_version\": 99}").unwrap();
        let e = format!("{:#}", SweepResults::load(&p).unwrap_err());
        assert!(e.contains("newer"), "{e}");
    }
}
