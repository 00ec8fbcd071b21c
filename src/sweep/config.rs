//! What a sweep is asked to do: the plan, the inputs and the measurement settings, and the
//! fingerprint that tells whether an output folder holds the same sweep.

use std::path::PathBuf;

use anyhow::{Context as _, Result};

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

/// Which stages of a sweep this process runs. A sweep folder is shared: the shared stages run once,
/// any number of workers measure rungs, a merge gathers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stage {
    /// Shared stages, this process's rungs, then the merge (a sweep in one command).
    #[default]
    All,
    /// Importance matrix, block scores, the base pass and the machine's peaks.
    Prepare,
    /// This process's share of the rungs (the shared stages first, if no process ran them).
    Rungs,
    /// Gathers every rung's record into the results, tables, report and charts.
    Merge,
}

impl Stage {
    pub fn parse(s: &str) -> Result<Stage> {
        Ok(match s {
            "all" => Stage::All,
            "prepare" => Stage::Prepare,
            "rungs" => Stage::Rungs,
            "merge" => Stage::Merge,
            _ => anyhow::bail!("--stage {s}: not a stage; use all, prepare, rungs or merge"),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::All => "all",
            Stage::Prepare => "prepare",
            Stage::Rungs => "rungs",
            Stage::Merge => "merge",
        }
    }
}

/// One worker's share of the rungs: the plan's rungs `index`, `index + count`, ... (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl Shard {
    /// `I/N`, 1-based as people count (`--shard 2/3`).
    pub fn parse(s: &str) -> Result<Shard> {
        let bad = || anyhow::anyhow!("--shard {s}: expected I/N with 1 <= I <= N, e.g. 2/3");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (i, n): (u32, u32) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if i == 0 || n == 0 || i > n {
            return Err(bad());
        }
        Ok(Shard {
            index: i - 1,
            count: n,
        })
    }

    /// The share a scheduler gives an array task: Slurm's `SLURM_ARRAY_TASK_ID` (less
    /// `SLURM_ARRAY_TASK_MIN`) of `SLURM_ARRAY_TASK_COUNT`, or a Kubernetes Indexed Job's
    /// `JOB_COMPLETION_INDEX` of `MPT_SHARD_COUNT`. `None` outside an array task.
    pub fn from_env(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Shard>> {
        let num = |name: &str| -> Result<Option<u32>> {
            get(name)
                .map(|v| {
                    v.trim()
                        .parse::<u32>()
                        .map_err(|_| anyhow::anyhow!("{name}={v}: not a number"))
                })
                .transpose()
        };
        let (index, count) = if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let count = num("SLURM_ARRAY_TASK_COUNT")?
                .context("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not")?;
            (
                id.checked_sub(min)
                    .context("SLURM_ARRAY_TASK_ID below SLURM_ARRAY_TASK_MIN")?,
                count,
            )
        } else if let Some(index) = num("JOB_COMPLETION_INDEX")? {
            let count = num("MPT_SHARD_COUNT")?.context(
                "JOB_COMPLETION_INDEX is set: give the number of shards in MPT_SHARD_COUNT (or pass --shard I/N)",
            )?;
            (index, count)
        } else {
            return Ok(None);
        };
        if count == 0 || index >= count {
            anyhow::bail!("array task {index} of {count}: not a shard; pass --shard I/N");
        }
        Ok(Some(Shard { index, count }))
    }

    pub fn owns(&self, position: usize) -> bool {
        position % self.count as usize == self.index as usize
    }
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
    pub stage: Stage,
    pub shard: Shard,
    /// How the sensitivity table of recipe rungs is measured (used only when the plan has recipes).
    pub sensitivity: SensitivitySettings,
}

/// `--sens-ctx`, `--sens-chunks`, `--sens-group`: the sensitivity run behind recipe rungs.
#[derive(Debug, Clone, PartialEq)]
pub struct SensitivitySettings {
    pub n_ctx: u32,
    pub n_chunk: u32,
    pub grouping: crate::recipe::Grouping,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_come_from_the_flag_or_the_scheduler() {
        assert_eq!(Shard::parse("2/3").unwrap(), Shard { index: 1, count: 3 });
        for bad in ["0/3", "4/3", "3", "a/b", "1/0"] {
            assert!(
                Shard::parse(bad).unwrap_err().to_string().contains("I/N"),
                "{bad}"
            );
        }
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ]);
        assert_eq!(
            Shard::from_env(&slurm).unwrap(),
            Some(Shard { index: 1, count: 3 })
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "2"), ("MPT_SHARD_COUNT", "3")]);
        assert_eq!(
            Shard::from_env(&k8s).unwrap(),
            Some(Shard { index: 2, count: 3 })
        );
        let k8s_alone = env(&[("JOB_COMPLETION_INDEX", "2")]);
        assert!(Shard::from_env(&k8s_alone)
            .unwrap_err()
            .to_string()
            .contains("MPT_SHARD_COUNT"));
        assert_eq!(Shard::from_env(&env(&[])).unwrap(), None);
        let s = Shard { index: 1, count: 3 };
        let mine: Vec<usize> = (0..7).filter(|&p| s.owns(p)).collect();
        assert_eq!(mine, [1, 4]);
    }
}
