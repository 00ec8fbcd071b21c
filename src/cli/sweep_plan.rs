//! `sweep --dry-run` (the resource plan) and `sweep --emit slurm` (the sweep as a job chain).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use mpt_gguf::sweep::emit::{self, Emitter, JobChain, Request, Slurm};
use mpt_gguf::sweep::estimate::{self, ResourcePlan, StageCost};
use mpt_gguf::sweep::{Shard, SweepConfig};

#[derive(clap::Args, Debug, Default)]
pub struct PlanArgs {
    /// Print each stage's predicted time, peak memory and disk on this machine, and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: the plan as JSON.
    #[arg(long, requires = "dry_run")]
    pub json: bool,
    /// Write the sweep as jobs for a scheduler into OUT/slurm/: prepare, a job array of
    /// --shards rung shards, merge, and submit.sh that chains them.
    #[arg(long, value_parser = ["slurm"])]
    pub emit: Option<String>,
    /// Rung shards (array tasks) of --emit.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub shards: u32,
    /// A scheduler option every job gets as it is, e.g. --slurm-opt=--partition=short (repeatable).
    #[arg(long = "slurm-opt", allow_hyphen_values = true)]
    pub slurm_opts: Vec<String>,
}

/// Flags that choose what this command does rather than what the sweep is: not passed on to jobs.
const OWN_FLAGS: &[(&str, bool)] = &[
    ("--dry-run", false),
    ("--json", false),
    ("--emit", true),
    ("--shards", true),
    ("--slurm-opt", true),
    ("--stage", true),
    ("--shard", true),
];

pub fn dry_run(cfg: &SweepConfig, json: bool) -> Result<()> {
    let plan = make_plan(cfg)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
        return Ok(());
    }
    println!(
        "{}: {:.0}M parameters, {} rungs, {} threads on {}",
        plan.model,
        plan.parameters as f64 / 1e6,
        cfg.plan.rungs.len(),
        cfg.n_threads,
        plan.machine.device
    );
    println!(
        "{:<26} {:>10} {:>12} {:>10}",
        "stage", "time", "peak memory", "disk"
    );
    for s in &plan.stages {
        println!("{}", row(s));
    }
    println!(
        "{:<26} {:>10} {:>12} {:>10}",
        "total",
        duration(plan.total_seconds),
        gib(plan.peak_memory_bytes),
        gib(plan.peak_disk_bytes)
    );
    println!("(peak memory: the largest stage's; disk: the most the folder holds at once)");
    Ok(())
}

fn make_plan(cfg: &SweepConfig) -> Result<ResourcePlan> {
    let mut say = |device: &str| {
        eprintln!("measuring the peaks of {device} (about 30 s; cached for next time)")
    };
    estimate::plan_sweep(cfg, &mut say)
}

fn row(s: &StageCost) -> String {
    format!(
        "{:<26} {:>10} {:>12} {:>10}",
        s.stage,
        duration(s.seconds),
        gib(s.peak_memory_bytes),
        gib(s.disk_bytes)
    )
}

fn duration(seconds: f64) -> String {
    match seconds {
        s if s < 120.0 => format!("{s:.0} s"),
        s if s < 7200.0 => format!("{:.1} min", s / 60.0),
        s => format!("{:.1} h", s / 3600.0),
    }
}

fn gib(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1e9 {
        format!("{:.0} MB", b / 1e6)
    } else {
        format!("{:.2} GB", b / 1e9)
    }
}

/// Writes the job chain and says how to submit it.
pub fn emit(cfg: &SweepConfig, a: &PlanArgs, emitter: &str) -> Result<()> {
    let emitter: Box<dyn Emitter> = match emitter {
        "slurm" => Box::new(Slurm),
        other => bail!("--emit {other}: not a scheduler this writes jobs for (slurm)"),
    };
    let plan = make_plan(cfg)?;
    let chain = job_chain(cfg, a, &plan)?;
    std::fs::create_dir_all(&cfg.out_dir)
        .with_context(|| format!("{}: cannot create the output folder", cfg.out_dir.display()))?;
    let folder = emit::write(&chain, emitter.as_ref())?;
    eprintln!(
        "wrote the sweep as jobs in {} (they ask for: prepare {}, each of {} rung shards {}, memory up to {}); {}",
        folder.display(),
        duration(chain.prepare.seconds),
        chain.shards,
        duration(chain.rung.seconds),
        gib(chain.rung.memory_bytes.max(chain.prepare.memory_bytes)),
        emitter.next_step(&folder)
    );
    Ok(())
}

/// What each job asks for: the plan's figure with room to spare (twice the time and ten more
/// minutes, a quarter more memory and half a GiB), so a slower node does not get the job killed.
fn request(cfg: &SweepConfig, c: &StageCost) -> Request {
    Request {
        cpus: cfg.n_threads,
        memory_bytes: c.peak_memory_bytes + c.peak_memory_bytes / 4 + (512 << 20),
        seconds: 2.0 * c.seconds + 600.0,
        gpu: cfg.n_gpu_layers > 0,
    }
}

fn job_chain(cfg: &SweepConfig, a: &PlanArgs, plan: &ResourcePlan) -> Result<JobChain> {
    let n = a.shards.min(cfg.plan.rungs.len().max(1) as u32);
    let hashing = plan.stages.first().map_or(0.0, |s| s.seconds);
    let mut shard_cost = (0..n)
        .map(|i| {
            let shard = Shard { index: i, count: n };
            plan.rungs_of((0..cfg.plan.rungs.len()).filter(|&p| shard.owns(p)))
        })
        .max_by(|x, y| x.seconds.total_cmp(&y.seconds))
        .context("no rungs to run")?;
    shard_cost.seconds += hashing;
    let merge = StageCost {
        stage: "merge".into(),
        seconds: 60.0,
        peak_memory_bytes: 512 << 20,
        disk_bytes: 0,
    };
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let mut command = vec![exe.display().to_string()];
    command.extend(job_args(std::env::args().skip(1)));
    Ok(JobChain {
        command,
        workdir: std::env::current_dir().context("cannot read the current folder")?,
        out_dir: absolute(&cfg.out_dir)?,
        name: cfg.model_name(),
        shards: n,
        prepare: request(cfg, &plan.shared()),
        rung: request(cfg, &shard_cost),
        merge: request(cfg, &merge),
        options: a.slurm_opts.clone(),
    })
}

fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    })
}

/// The command's arguments without the flags that choose what this command does.
fn job_args(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let own = OWN_FLAGS.iter().find(|(f, _)| {
            arg == *f
                || arg
                    .strip_prefix(f)
                    .is_some_and(|rest| rest.starts_with('='))
        });
        match own {
            Some((flag, true)) if arg == *flag => {
                args.next();
            }
            Some(_) => {}
            None => out.push(arg),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_the_sweep_without_the_flags_that_made_them() {
        let args = "sweep m.gguf -o out --emit slurm --shards 3 --slurm-opt=--partition=x --slurm-opt --account=y -c 256 --dry-run --json --stage=rungs --shard 1/2 --types Q8_0";
        let kept = job_args(args.split(' ').map(String::from));
        assert_eq!(kept.join(" "), "sweep m.gguf -o out -c 256 --types Q8_0");
    }
}
