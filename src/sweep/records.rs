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

/// Writes the record of a finished rung (or of the base) atomically.
pub fn write(dir: &Path, fingerprint: &str, result: &RungResult, base: bool) -> Result<()> {
    let folder = dir.join(RECORDS_DIR);
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("{}: cannot create the folder", folder.display()))?;
    let record = RungRecord {
        record_version: RECORD_VERSION,
        fingerprint: fingerprint.to_string(),
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

/// The records in `dir` of the sweep with this fingerprint, and the names of files that are not
/// (damaged, or from other inputs or settings).
pub fn read_matching(dir: &Path, fingerprint: &str) -> (Vec<RungRecord>, Vec<String>) {
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
        match read(p) {
            Some(r) if r.fingerprint == fingerprint => records.push(r),
            _ => other.push(p.display().to_string()),
        }
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
        write(dir.path(), "fp1", &r, false).unwrap();
        write(dir.path(), "fp1", &RungResult::new("F16", "F16"), true).unwrap();
        write(dir.path(), "fp2", &RungResult::new("Q8_0", "Q8_0"), false).unwrap();
        let damaged = record_path(dir.path(), "Q2_K", false);
        std::fs::write(&damaged, "{\"record_version\": 1, \"fing").unwrap();
        let (records, other) = read_matching(dir.path(), "fp1");
        assert_eq!(records.len(), 2);
        let rung = records.iter().find(|x| !x.base).unwrap();
        assert_eq!(rung.result, r, "numbers come back bit for bit");
        assert!(record_path(dir.path(), &r.rung, false).ends_with("rung-Q4_K_M+wanda0.5_2_4.json"));
        assert_eq!(other.len(), 2, "{other:?}");
    }
}
