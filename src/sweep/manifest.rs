//! The sweep's manifest in OUT_DIR: the plan, the settings (and a fingerprint of everything that changes
//! the numbers), provenance and each finished rung. Written atomically after every step, so an interrupted
//! or failed sweep resumes where it stopped.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::records;
use crate::prune::BlockScores;
use crate::results::{RungResult, SweepResults};

pub const MANIFEST_FILE: &str = "manifest.json";

/// Records taken into a manifest: new to it, or replacing what it held otherwise.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Adopted {
    pub added: usize,
    pub replaced: usize,
}
pub const MANIFEST_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub manifest_version: u32,
    /// Hash of the inputs and settings that change the measurements; a resume must match it.
    pub fingerprint: String,
    /// Human-readable form of what went into the fingerprint, to say what changed.
    pub fingerprint_inputs: Vec<(String, String)>,
    /// Rung names in the order they run.
    pub plan: Vec<String>,
    /// Importance matrix computed by this sweep (file name inside OUT_DIR).
    pub imatrix: Option<String>,
    /// Saved base for KL-divergence (file name inside OUT_DIR).
    pub kld_base: Option<String>,
    /// Block influence of the base, for depth-pruning levels.
    #[serde(default)]
    pub block_scores: Option<BlockScores>,
    pub results: SweepResults,
    /// Said once to the user when the manifest is opened; not saved.
    #[serde(skip)]
    pub warning: Option<String>,
}

impl Manifest {
    pub fn new(
        fingerprint: String,
        fingerprint_inputs: Vec<(String, String)>,
        plan: Vec<String>,
        results: SweepResults,
    ) -> Self {
        Self {
            manifest_version: MANIFEST_VERSION,
            fingerprint,
            fingerprint_inputs,
            plan,
            imatrix: None,
            kld_base: None,
            block_scores: None,
            results,
            warning: None,
        }
    }

    pub fn path(dir: &Path) -> PathBuf {
        dir.join(MANIFEST_FILE)
    }

    pub fn load(dir: &Path) -> Result<Option<Manifest>> {
        let path = Self::path(dir);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let m: Manifest = serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: damaged or not an mpt-gguf sweep manifest",
                path.display()
            )
        })?;
        if m.manifest_version != MANIFEST_VERSION {
            bail!(
                "{}: manifest version {} is not {}",
                path.display(),
                m.manifest_version,
                MANIFEST_VERSION
            );
        }
        Ok(Some(m))
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self)?;
        crate::util::write_atomic(&Self::path(dir), &json)
    }

    pub fn take_warning(&mut self) -> Option<String> {
        self.warning.take()
    }

    pub fn finished(&self, rung: &str) -> Option<&RungResult> {
        self.results
            .rungs
            .iter()
            .find(|r| r.rung == rung && r.error.is_none())
    }

    /// Takes every record of this sweep in `dir/rungs` that the manifest lacks or holds otherwise
    /// (an edited or rebuilt manifest): the records are what was measured.
    pub fn adopt_records(&mut self, dir: &Path) -> Adopted {
        let (found, _) = records::read_matching(dir, &self.fingerprint, &self.fingerprint_inputs);
        let mut adopted = Adopted::default();
        for rec in found {
            let held = if rec.base {
                self.results.base.as_ref()
            } else {
                self.results
                    .rungs
                    .iter()
                    .find(|r| r.rung == rec.result.rung)
            };
            match held {
                Some(h) if *h == rec.result => continue,
                Some(_) => adopted.replaced += 1,
                None => adopted.added += 1,
            }
            if rec.base {
                self.results.base = Some(rec.result);
            } else {
                self.record(rec.result);
            }
        }
        adopted
    }

    /// Records a rung's result, replacing an earlier attempt of the same rung, in plan order.
    pub fn record(&mut self, result: RungResult) {
        self.results.rungs.retain(|r| r.rung != result.rung);
        self.results.rungs.push(result);
        let order = |name: &str| {
            self.plan
                .iter()
                .position(|p| p == name)
                .unwrap_or(usize::MAX)
        };
        let mut rungs = std::mem::take(&mut self.results.rungs);
        rungs.sort_by_key(|r| order(&r.rung));
        self.results.rungs = rungs;
    }
}

/// Removes what an earlier sweep left in `dir` (for `--force`): manifest, saved base, imatrix,
/// model files, rendered results. Other files are the user's and stay.
pub fn clear_sweep_files(dir: &Path) -> Result<()> {
    let ours = |name: &str| {
        matches!(
            name,
            MANIFEST_FILE
                | "base.kld"
                | "imatrix.gguf"
                | "results.json"
                | "results.csv"
                | "table5.csv"
                | "report.md"
        ) || (name.ends_with(".gguf")
            && (name.starts_with("model-")
                || name.starts_with("pruned-")
                || name.starts_with("imatrix-")))
    };
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("{}: cannot list", dir.display()))?
    {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if ours(&name) {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("{}: cannot remove", entry.path().display()))?;
        }
    }
    for folder in ["charts", records::RECORDS_DIR] {
        let path = dir.join(folder);
        if path.is_dir() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("{}: cannot remove", path.display()))?;
        }
    }
    Ok(())
}

/// Removes the unfinished files (`.NAME.XXXXXX.partial`, how every file is written before it is
/// renamed into place) that a run killed without a chance to clean up (kill -9, a lost node) left in
/// `dir`, its `charts/` and its records. Returns how many there were.
pub fn remove_partial_files(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    for folder in [
        dir.to_path_buf(),
        dir.join("charts"),
        dir.join(records::RECORDS_DIR),
    ] {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.ends_with(".partial") && entry.path().is_file() {
                std::fs::remove_file(entry.path())
                    .with_context(|| format!("{}: cannot remove", entry.path().display()))?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// Fingerprint of (name, value) pairs; the pairs are kept to explain a mismatch.
pub fn fingerprint(inputs: &[(String, String)]) -> String {
    let mut h = Sha256::new();
    for (k, v) in inputs {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    format!("{:x}", h.finalize())[..16].to_string()
}

fn is_sha256(v: &str) -> bool {
    v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What differs between two fingerprint input lists, for the error message.
pub fn describe_changes(old: &[(String, String)], new: &[(String, String)]) -> String {
    let mut changes = Vec::new();
    for (k, v) in new {
        match old.iter().find(|(ok, _)| ok == k) {
            Some((_, ov)) if ov != v && is_sha256(ov) && is_sha256(v) => changes.push(format!(
                "{k}: the file changed (sha256 {}… -> {}…)",
                &ov[..12],
                &v[..12]
            )),
            Some((_, ov)) if ov != v => changes.push(format!("{k}: {ov} -> {v}")),
            None => changes.push(format!("{k}: (none) -> {v}")),
            _ => {}
        }
    }
    for (k, _) in old {
        if !new.iter().any(|(nk, _)| nk == k) {
            changes.push(format!("{k} removed"));
        }
    }
    changes.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_changes_with_any_input() {
        let a = vec![
            ("n_ctx".to_string(), "512".to_string()),
            ("text".to_string(), "abc".to_string()),
        ];
        let mut b = a.clone();
        b[0].1 = "1024".into();
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
        assert_eq!(describe_changes(&a, &b), "n_ctx: 512 -> 1024");
    }

    #[test]
    fn record_keeps_plan_order_and_replaces_retries() {
        let mut m = Manifest::new(
            "fp".into(),
            vec![],
            vec!["Q8_0".into(), "Q4_K_M".into(), "Q2_K".into()],
            SweepResults::default(),
        );
        m.record(RungResult::new("Q2_K", "Q2_K"));
        let mut failed = RungResult::new("Q8_0", "Q8_0");
        failed.error = Some("boom".into());
        m.record(failed);
        assert!(
            m.finished("Q8_0").is_none(),
            "a failed rung is not finished"
        );
        m.record(RungResult::new("Q8_0", "Q8_0"));
        let names: Vec<&str> = m.results.rungs.iter().map(|r| r.rung.as_str()).collect();
        assert_eq!(names, ["Q8_0", "Q2_K"]);
        assert!(m.finished("Q8_0").is_some());
    }

    #[test]
    fn clearing_keeps_the_users_files() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "manifest.json",
            "base.kld",
            "model-Q4_K_M.gguf",
            "notes.txt",
            "my.gguf",
        ] {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        std::fs::create_dir(dir.path().join("charts")).unwrap();
        clear_sweep_files(dir.path()).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["my.gguf", "notes.txt"]);
    }
}
