//! Each finished rung, and the base, as a file of its own in `OUT/rungs/`, written atomically when it
//! finishes. The manifest indexes the sweep; the records are what it measured: when the manifest is
//! damaged or edited by hand, the records are what is kept.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::results::RungResult;

pub const RECORDS_DIR: &str = "rungs";
const RECORD_VERSION: u32 = 1;

/// One finished measurement and the sweep it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RungRecord {
    pub record_version: u32,
    /// The fingerprint of the sweep's inputs and settings: a record of another sweep is not used.
    pub fingerprint: String,
    /// What went into the fingerprint, to say why a record of another sweep is refused.
    #[serde(default)]
    pub fingerprint_inputs: Vec<(String, String)>,
    /// The machine that measured it (workers of one sweep may run on many).
    #[serde(default)]
    pub host: String,
    /// The unquantized input's own measurement rather than a rung.
    pub base: bool,
    pub result: RungResult,
}

/// `rung` as a file name: characters other than letters, digits, `.`, `_`, `+` and `-` become `_`.
fn file_name(rung: &str, base: bool) -> String {
    if base {
        return "base.json".into();
    }
    let safe: String = rung
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("rung-{safe}.json")
}

pub fn record_path(dir: &Path, rung: &str, base: bool) -> PathBuf {
    dir.join(RECORDS_DIR).join(file_name(rung, base))
}

/// The sweep a record belongs to.
pub struct SweepId<'a> {
    pub fingerprint: &'a str,
    pub inputs: &'a [(String, String)],
}

/// Writes the record of a finished rung (or of the base) atomically.
pub fn write(dir: &Path, sweep: &SweepId<'_>, result: &RungResult, base: bool) -> Result<()> {
    let folder = dir.join(RECORDS_DIR);
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("{}: cannot create the folder", folder.display()))?;
    let record = RungRecord {
        record_version: RECORD_VERSION,
        fingerprint: sweep.fingerprint.to_string(),
        fingerprint_inputs: sweep.inputs.to_vec(),
        host: crate::util::hostname(),
        base,
        result: result.clone(),
    };
    let json = serde_json::to_vec_pretty(&record)?;
    crate::util::write_atomic(&record_path(dir, &result.rung, base), &json)
}

/// Reads one record; `None` for a file that is not a readable record of this version.
pub fn read(path: &Path) -> Option<RungRecord> {
    let bytes = std::fs::read(path).ok()?;
    let record: RungRecord = serde_json::from_slice(&bytes).ok()?;
    (record.record_version == RECORD_VERSION).then_some(record)
}

/// Whether the rung (or the base) has a record of this sweep without an error.
pub fn finished(dir: &Path, fingerprint: &str, rung: &str, base: bool) -> bool {
    read(&record_path(dir, rung, base))
        .is_some_and(|r| r.fingerprint == fingerprint && r.result.error.is_none())
}

/// A record file that is not used, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub path: String,
    pub why: String,
}

/// The records in `dir` of the sweep with this fingerprint, and the files that are not
/// (damaged, or from other inputs or settings: `inputs` says what differs).
pub fn read_matching(
    dir: &Path,
    fingerprint: &str,
    inputs: &[(String, String)],
) -> (Vec<RungRecord>, Vec<Refused>) {
    let (mut records, mut other) = (Vec::new(), Vec::new());
    let Ok(entries) = std::fs::read_dir(dir.join(RECORDS_DIR)) else {
        return (records, other);
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    paths.sort();
    for p in paths
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
    {
        let why = match read(p) {
            Some(r) if r.fingerprint == fingerprint => {
                records.push(r);
                continue;
            }
            Some(r) if r.fingerprint_inputs.is_empty() => "another sweep's".to_string(),
            Some(r) => format!(
                "another sweep's ({})",
                super::manifest::describe_changes(inputs, &r.fingerprint_inputs)
            ),
            None => "damaged or not a rung record".to_string(),
        };
        other.push(Refused {
            path: p.display().to_string(),
            why,
        });
    }
    (records, other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_other_sweeps_or_damage_are_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = RungResult::new("Q4_K_M+wanda0.5,2:4", "Q4_K_M");
        r.ppl = Some(13.979_712_345_678_9);
        let in1 = [("n_ctx".to_string(), "512".to_string())];
        let in2 = [("n_ctx".to_string(), "256".to_string())];
        let (one, two) = (
            SweepId {
                fingerprint: "fp1",
                inputs: &in1,
            },
            SweepId {
                fingerprint: "fp2",
                inputs: &in2,
            },
        );
        write(dir.path(), &one, &r, false).unwrap();
        write(dir.path(), &one, &RungResult::new("F16", "F16"), true).unwrap();
        write(dir.path(), &two, &RungResult::new("Q8_0", "Q8_0"), false).unwrap();
        let damaged = record_path(dir.path(), "Q2_K", false);
        std::fs::write(&damaged, "{\"record_version\": 1, \"fing").unwrap();
        let (records, other) = read_matching(dir.path(), "fp1", &in1);
        assert_eq!(records.len(), 2);
        let rung = records.iter().find(|x| !x.base).unwrap();
        assert_eq!(rung.result, r, "numbers come back bit for bit");
        assert!(record_path(dir.path(), &r.rung, false).ends_with("rung-Q4_K_M+wanda0.5_2_4.json"));
        assert_eq!(other.len(), 2, "{other:?}");
        let why: Vec<&str> = other.iter().map(|o| o.why.as_str()).collect();
        assert!(
            why.contains(&"another sweep's (n_ctx: 512 -> 256)"),
            "{why:?}"
        );
        assert!(why.contains(&"damaged or not a rung record"), "{why:?}");
        assert!(finished(dir.path(), "fp1", &r.rung, false));
        assert!(
            !finished(dir.path(), "fp1", "Q8_0", false),
            "another sweep's"
        );
    }
}
