//! The job chain `sweep --emit slurm` writes, submitted to a real Slurm: the one-node cluster
//! scripts/slurm-local.sh starts on this machine (as root; elsewhere the tests say why they do not
//! run). The merged numbers equal one process's; a shard cancelled mid-rung and resubmitted
//! finishes the sweep with the same numbers.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{self, sweeps};
use mpt_gguf::results::SweepResults;

/// Starts the local cluster; `Err` says why it cannot run here.
fn cluster() -> Result<(), String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&root.stdout).trim() != "0" {
        return Err("not root: scripts/slurm-local.sh installs and starts Slurm's daemons".into());
    }
    let st = Command::new("bash")
        .arg(support::repo().join("scripts/slurm-local.sh"))
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "slurm-local.sh: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    Ok(())
}

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The job id submit.sh printed after `label: `.
fn job_id(printed: &str, label: &str) -> String {
    let line = printed.lines().find(|l| l.starts_with(label)).unwrap();
    line.split_whitespace().last().unwrap().to_string()
}

/// `JobState` of a job Slurm still remembers.
fn state(job: &str) -> String {
    let shown = run(Command::new("scontrol").args(["show", "job", job]));
    let field = shown
        .split_whitespace()
        .find(|w| w.starts_with("JobState="))
        .unwrap();
    field["JobState=".len()..].to_string()
}

/// Waits until `job` (all its array tasks) left the queue; its final state.
fn wait_for(job: &str) -> String {
    let start = Instant::now();
    while !run(Command::new("squeue").args(["-h", "-j", job]))
        .trim()
        .is_empty()
    {
        assert!(
            start.elapsed() < Duration::from_secs(900),
            "job {job} still queued after 15 min"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    state(job)
}

fn emit(out: &Path) -> std::path::PathBuf {
    support::machine_peaks();
    let err = sweeps::ok(
        &sweeps::sweep(out, &["--emit", "slurm", "--shards", "3"])
            .output()
            .unwrap(),
    );
    assert!(err.contains("submit with"), "{err}");
    out.join("slurm")
}

/// Runs submit.sh; the jobs get this environment (sbatch passes it on), the test's peaks cache too.
fn submit(jobs: &Path, shards: &[&str]) -> String {
    let cache = support::fixtures_dir().join("cache");
    run(Command::new(jobs.join("submit.sh"))
        .env("MPT_CACHE_DIR", cache)
        .args(shards))
}

#[test]
fn the_emitted_chain_on_slurm_equals_one_process() {
    if let Err(why) = cluster() {
        eprintln!("skipped the_emitted_chain_on_slurm_equals_one_process: {why}");
        return;
    }
    sweeps::one_process();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let jobs = emit(&out);
    let rungs = std::fs::read_to_string(jobs.join("rungs.sbatch")).unwrap();
    assert!(
        rungs.contains("#SBATCH --array=0-2") && rungs.contains("--cpus-per-task=2"),
        "{rungs}"
    );
    let printed = submit(&jobs, &[]);
    let merge = job_id(&printed, "merge:");
    assert_eq!(wait_for(&merge), "COMPLETED", "{printed}");
    assert_eq!(state(&job_id(&printed, "prepare:")), "COMPLETED");
    sweeps::assert_same_numbers(&SweepResults::load(&out).unwrap());
    assert!(out.join("table5.csv").exists() && out.join("report.md").exists());
}

#[test]
fn a_shard_cancelled_mid_rung_and_resubmitted_gives_the_same_results() {
    if let Err(why) = cluster() {
        eprintln!(
            "skipped a_shard_cancelled_mid_rung_and_resubmitted_gives_the_same_results: {why}"
        );
        return;
    }
    sweeps::one_process();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let jobs = emit(&out);
    let printed = submit(&jobs, &[]);
    let (rungs, merge) = (job_id(&printed, "rungs:"), job_id(&printed, "merge:"));
    // Shard 2 (array task 1) is cancelled once it measures its rung.
    let log = jobs.join(format!("logs/rungs-{rungs}_1.log"));
    let start = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("perplexity + KLD")
    {
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "shard 2 never started its rung"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    run(Command::new("scancel").arg(format!("{rungs}_1")));
    wait_for(&rungs);
    // The merge waited on every shard succeeding: it will not run.
    let _ = Command::new("scancel").arg(&merge).status();
    assert!(!SweepResults::load(&out)
        .is_ok_and(|r| r.rungs.len() == 4 && r.rungs.iter().all(|r| r.ok())));

    let again = submit(&jobs, &["2"]);
    let merge = job_id(&again, "merge:");
    assert_eq!(wait_for(&merge), "COMPLETED", "{again}");
    let log = std::fs::read_to_string(
        jobs.join(format!("logs/rungs-{}_1.log", job_id(&again, "rungs:"))),
    )
    .unwrap();
    assert!(log.contains("shard 2/3: 1 rung(s) measured here"), "{log}");
    sweeps::assert_same_numbers(&SweepResults::load(&out).unwrap());
}
