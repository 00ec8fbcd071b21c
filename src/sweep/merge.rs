//! The merge: every worker's rung records gathered into the sweep's results, tables, report and
//! charts, with what is missing, still being measured, failed or refused said by name.

use std::path::Path;

use anyhow::{Context as _, Result};

use super::config::SweepConfig;
use super::events::{Observer, SweepEvent};
use super::lock::{self, Lock, Owner, LOCKS_DIR};
use super::manifest::Manifest;
use super::records::{self, Refused};
use crate::results::SweepResults;

/// The lock every writer of the manifest holds (the shared stages and the merge).
pub const MANIFEST_LOCK: &str = "manifest.lock";

/// What a merge found beside the finished rungs.
#[derive(Debug, Default)]
pub struct MergeSummary {
    /// Rungs of the plan with no record yet and no worker on them.
    pub missing: Vec<String>,
    /// Rungs a live worker is measuring now.
    pub in_progress: Vec<(String, Owner)>,
    /// Rungs whose last attempt failed, with the error.
    pub failed: Vec<(String, String)>,
    /// Record files not used (another sweep's, damaged).
    pub refused: Vec<Refused>,
}

impl MergeSummary {
    /// Whether every rung of the plan has a result (measured or failed).
    pub fn complete(&self) -> bool {
        self.missing.is_empty() && self.in_progress.is_empty()
    }
}

/// Where the lock of rung `name` lives.
pub fn rung_lock_path(dir: &Path, name: &str) -> std::path::PathBuf {
    let file = records::record_path(dir, name, false);
    let stem = file.file_stem().unwrap_or_default().to_string_lossy();
    dir.join(LOCKS_DIR).join(format!("{stem}.lock"))
}

/// Waits for the manifest's lock (another process may be running the shared stages or a merge).
pub fn lock_manifest(dir: &Path, on: Observer<'_>) -> Result<Lock> {
    Lock::acquire_waiting(&dir.join(LOCKS_DIR).join(MANIFEST_LOCK), &mut |o| {
        on(SweepEvent::Stage("waiting for the sweep's shared stages"));
        on(SweepEvent::Warning(format!(
            "{} holds {}'s shared stages or merge; waiting for it",
            o.describe(),
            dir.display()
        )))
    })
}

/// Gathers the records in the sweep folder into its manifest and results, and renders them.
pub fn merge(cfg: &SweepConfig, on: Observer<'_>) -> Result<(SweepResults, MergeSummary)> {
    let dir = &cfg.out_dir;
    let _lock = lock_manifest(dir, on)?;
    on(SweepEvent::Stage("merging the rungs' records"));
    let mut manifest = Manifest::load(dir)?.with_context(|| {
        format!(
            "{}: holds no sweep manifest; run the shared stages first (mpt-gguf sweep ... --stage prepare, or the whole sweep)",
            dir.display()
        )
    })?;
    manifest.adopt_records(dir);
    let summary = summarize(&manifest, dir)?;
    manifest.save(dir)?;
    on(SweepEvent::Stage("rendering results"));
    manifest.results.save(dir)?;
    let results = std::slice::from_ref(&manifest.results);
    crate::report::render_all_with(results, dir, &cfg.report)?;
    Ok((manifest.results, summary))
}

fn summarize(manifest: &Manifest, dir: &Path) -> Result<MergeSummary> {
    let mut s = MergeSummary::default();
    for name in &manifest.plan {
        if manifest.finished(name).is_some() {
            continue;
        }
        let failed = manifest.results.rungs.iter().find(|r| &r.rung == name);
        if let Some(owner) = lock::live_holder(&rung_lock_path(dir, name))? {
            s.in_progress.push((name.clone(), owner));
        } else if let Some(e) = failed.and_then(|r| r.error.clone()) {
            s.failed.push((name.clone(), e));
        } else {
            s.missing.push(name.clone());
        }
    }
    let (_, refused) =
        records::read_matching(dir, &manifest.fingerprint, &manifest.fingerprint_inputs);
    s.refused = refused;
    Ok(s)
}
