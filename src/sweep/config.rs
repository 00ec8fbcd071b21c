//! What a sweep is asked to do: the plan, the inputs and the measurement settings, and the
//! fingerprint that tells whether an output folder holds the same sweep.

use std::path::PathBuf;

use anyhow::Result;

use super::plan::{ImatrixFor, SweepPlan};
use crate::engine::build_info;
use crate::measure::peaks::PeakOverrides;
use crate::report::ReportOptions;

/// llama-bench's settings for the throughput of each rung.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchSettings {
    pub n_prompt: u32,
    pub n_gen: u32,
    pub reps: u32,
}

#[derive(Debug, Clone)]
pub struct SweepConfig {
    pub model: PathBuf,
    pub out_dir: PathBuf,
    pub plan: SweepPlan,
    /// Evaluation text for perplexity and KL-divergence.
    pub text: PathBuf,
    /// Calibration text for the importance matrix and block importance.
    pub calib: Option<PathBuf>,
    /// A ready importance matrix instead of computing one.
    pub imatrix: Option<PathBuf>,
    pub imatrix_chunks: Option<u32>,
    /// Which rungs are quantized with the importance matrix.
    pub imatrix_for: ImatrixFor,
    pub n_ctx: u32,
    /// `-b`; `None`: the context size for evaluation, llama-bench's 2048 for the bench.
    pub n_batch: Option<u32>,
    pub n_chunks: Option<u32>,
    pub n_threads: u32,
    /// Contexts evaluating chunks side by side (`None`: measure's default); not in the
    /// fingerprint, as the numbers do not depend on it.
    pub n_workers: Option<u32>,
    pub n_gpu_layers: u32,
    /// None: no throughput measurement.
    pub bench: Option<BenchSettings>,
    /// Peaks the user gives instead of measured ones, and the TDP for estimated energy.
    pub peak_overrides: PeakOverrides,
    pub tdp_watts: Option<f64>,
    /// Multiple-choice tasks as `NAME[=PATH]`.
    pub tasks: Vec<String>,
    pub task_limit: Option<usize>,
    pub task_seed: u64,
    /// Name of the model in tables and legends (default: the file stem).
    pub name: Option<String>,
    pub keep_models: bool,
    pub force: bool,
    pub allow_requantize: bool,
    /// How results are rendered at the end (safe-zone tolerance, fit bootstrap, Q weights).
    pub report: ReportOptions,
}

impl SweepConfig {
    /// Everything that changes the numbers, as (name, value) pairs: input hashes and settings.
    /// The plan is not part of it: re-running with more types adds rungs to the same sweep.
    /// `task_files` are the files the task sets were read from (hashed, so an edited file counts).
    pub fn fingerprint_inputs(&self, task_files: &[PathBuf]) -> Result<Vec<(String, String)>> {
        let sha = |p: &PathBuf| crate::util::sha256_file(p);
        let opt = |v: Option<u32>| v.map_or("all".to_string(), |c| c.to_string());
        let mut inputs: Vec<(String, String)> = vec![
            ("model".into(), sha(&self.model)?),
            ("text".into(), sha(&self.text)?),
            ("n_ctx".into(), self.n_ctx.to_string()),
            (
                "n_batch".into(),
                self.n_batch.map_or("ctx".into(), |b| b.to_string()),
            ),
            ("chunks".into(), opt(self.n_chunks)),
            ("threads".into(), self.n_threads.to_string()),
            ("n_gpu_layers".into(), self.n_gpu_layers.to_string()),
            ("llama.cpp".into(), build_info::LLAMA_REVISION.into()),
        ];
        if let Some(b) = &self.bench {
            inputs.push((
                "bench".into(),
                format!("p{} n{} r{}", b.n_prompt, b.n_gen, b.reps),
            ));
        }
        // Only when given, so sweeps that give none keep their fingerprint.
        let o = &self.peak_overrides;
        for (name, v) in [
            ("peak_tflops", o.tflops),
            ("peak_gbps", o.gbps),
            ("tdp_watts", self.tdp_watts),
        ] {
            if let Some(v) = v {
                inputs.push((name.into(), v.to_string()));
            }
        }
        inputs.push(("imatrix_for".into(), self.imatrix_for.as_str().into()));
        if let Some(p) = &self.imatrix {
            inputs.push(("imatrix".into(), sha(p)?));
        }
        if let Some(c) = &self.calib {
            inputs.push(("calibration".into(), sha(c)?));
            inputs.push(("imatrix_chunks".into(), opt(self.imatrix_chunks)));
        }
        if !self.tasks.is_empty() {
            inputs.push(("tasks".into(), self.tasks.join(",")));
            inputs.push((
                "task_limit".into(),
                self.task_limit.map_or("all".into(), |l| l.to_string()),
            ));
            inputs.push(("task_seed".into(), self.task_seed.to_string()));
            for f in task_files {
                inputs.push((format!("task file {}", f.display()), sha(f)?));
            }
        }
        Ok(inputs)
    }

    /// Tokens per decode for perplexity and the importance matrix. One chunk at a time by default:
    /// the numbers are those of `-b 2048` (tested), and only one chunk's vocabulary-wide logits
    /// are held, which keeps the resident memory down.
    pub fn eval_batch(&self) -> u32 {
        self.n_batch.unwrap_or(self.n_ctx)
    }

    /// Tokens per decode for the bench: llama-bench's default.
    pub fn bench_batch(&self) -> u32 {
        self.n_batch.unwrap_or(2048)
    }

    pub fn model_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            self.model
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "model".into())
        })
    }
}
