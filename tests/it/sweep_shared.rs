//! Many workers in one sweep folder, as a cluster runs them: shards, sweeps started side by side, a
//! worker killed mid-rung, and the merge, which names what is missing and refuses another sweep's
//! records. Every rung is measured once and the numbers are those of one process.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use crate::support::sweeps::{self, ok, stderr, sweep};
use mpt_gguf::results::SweepResults;

/// How many times `err` reports measuring `rung`.
fn measured(err: &str, rung: &str) -> usize {
    err.lines()
        .filter(|l| l.split_whitespace().next() == Some(rung) && l.contains(" bpw  PPL "))
        .count()
}

fn names_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn shards_and_sweeps_side_by_side_measure_each_rung_once_and_merge_to_one_process_numbers() {
    sweeps::one_process();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let err = ok(&sweep(&out, &["--stage", "prepare"]).output().unwrap());
    assert!(err.contains("shared stages done"), "{err}");
    let first = ok(&sweep(&out, &["--stage", "rungs", "--shard", "1/3"])
        .output()
        .unwrap());
    assert!(
        first.contains("shard 1/3: 2 rung(s) measured here"),
        "{first}"
    );

    // Merged too early: what exists is rendered, and the rungs nobody measured are named.
    let early = sweep(&out, &["--stage", "merge"]).output().unwrap();
    assert_eq!(early.status.code(), Some(2), "{}", stderr(&early));
    let last = stderr(&early).trim().lines().last().unwrap().to_string();
    let missing: Vec<&str> = sweeps::TYPES
        .split(',')
        .filter(|t| measured(&first, t) == 0)
        .collect();
    assert_eq!(missing.len(), 2);
    assert!(
        missing.iter().all(|m| last.contains(m)) && last.contains("no result yet"),
        "{last}"
    );
    assert!(out.join("results.json").exists());

    // A record of another sweep (other settings) dropped into the folder is refused, by name.
    let records = out.join("rungs");
    let some = names_in(&records)
        .into_iter()
        .find(|n| n.starts_with("rung-"))
        .unwrap();
    let mut other: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(records.join(&some)).unwrap()).unwrap();
    other["fingerprint"] = "0123456789abcdef".into();
    for pair in other["fingerprint_inputs"].as_array_mut().unwrap() {
        if pair[0] == "chunks" {
            pair[1] = "3".into();
        }
    }
    other["result"]["rung"] = "Q3_K_S".into();
    std::fs::write(records.join("rung-Q3_K_S.json"), other.to_string()).unwrap();

    // The other two shards and a whole sweep, side by side in the same folder.
    let spawn = |extra: &[&str]| {
        sweep(&out, extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children = [
        spawn(&["--stage", "rungs", "--shard", "2/3"]),
        spawn(&["--stage", "rungs", "--shard", "3/3"]),
        spawn(&[]),
    ];
    let errs: Vec<String> = children
        .into_iter()
        .map(|c| ok(&c.wait_with_output().unwrap()))
        .collect();
    let all = format!("{first}{}", errs.concat());
    for t in sweeps::TYPES.split(',') {
        assert_eq!(measured(&all, t), 1, "{t} measured once: {all}");
    }

    let err = ok(&sweep(&out, &["--stage", "merge"]).output().unwrap());
    assert!(
        err.contains("rung-Q3_K_S.json: not used: another sweep's (chunks: 2 -> 3)"),
        "{err}"
    );
    let merged = SweepResults::load(&out).unwrap();
    sweeps::assert_same_numbers(&merged);
    assert!(merged.rungs.iter().all(|r| r.rung != "Q3_K_S"));
    assert_eq!(
        names_in(&out.join("locks")),
        Vec::<String>::new(),
        "every lock released"
    );
}

#[test]
fn a_worker_killed_mid_rung_leaves_its_rung_to_the_next() {
    sweeps::one_process();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    ok(&sweep(&out, &["--stage", "prepare"]).output().unwrap());
    let mut worker = sweep(&out, &["--stage", "rungs"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(worker.stderr.take().unwrap()).lines();
    for line in lines.map(Result::unwrap) {
        if line.contains("perplexity + KLD") {
            break;
        }
    }
    // kill -9 in the middle of its first rung: its lock and quantized model stay behind.
    worker.kill().unwrap();
    worker.wait().unwrap();
    let locks = names_in(&out.join("locks"));
    assert!(locks.iter().any(|l| l.starts_with("rung-")), "{locks:?}");

    let err = ok(&sweep(&out, &[]).output().unwrap());
    assert!(
        !err.contains("being measured by"),
        "the dead worker's lock was taken over: {err}"
    );
    sweeps::assert_same_numbers(&SweepResults::load(&out).unwrap());
    assert_eq!(names_in(&out.join("locks")), Vec::<String>::new());
    let left: Vec<String> = names_in(&out)
        .into_iter()
        .filter(|n| n.ends_with(".gguf") || n.ends_with(".partial"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn the_dry_run_plans_every_stage_and_predicts_the_rungs_sizes() {
    let measured = sweeps::one_process();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let o = sweep(&out, &["--dry-run", "--json"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.exists(), "a dry run writes nothing");
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let stages = plan["stages"].as_array().unwrap();
    let names: Vec<&str> = stages
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(&names[..2], ["hashing inputs", "base pass"]);
    let total: f64 = stages.iter().map(|s| s["seconds"].as_f64().unwrap()).sum();
    assert!((plan["total_seconds"].as_f64().unwrap() - total).abs() < 1e-6);
    for r in &measured.rungs {
        let stage = stages
            .iter()
            .find(|s| s["stage"] == format!("rung {}", r.rung))
            .unwrap();
        let predicted = stage["disk_bytes"].as_f64().unwrap();
        let size = r.size_bytes.unwrap() as f64;
        // Each tensor's type is llama.cpp's own (its dry run): only the metadata is estimated.
        assert!(
            (predicted / size - 1.0).abs() < 0.03,
            "{}: {predicted} vs {size}",
            r.rung
        );
        assert!(stage["seconds"].as_f64().unwrap() > 0.0);
        assert!(stage["peak_memory_bytes"].as_f64().unwrap() > size);
    }
    assert!(plan["machine"]["model"]["forward_factor"].as_f64().unwrap() >= 1.0);
}
