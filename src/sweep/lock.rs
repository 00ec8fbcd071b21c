//! One sweep at a time in an output folder: a lock file naming the host and process that holds it.
//! A lock whose process is gone (kill -9, a crash) is taken over by the next sweep on that host.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

pub const LOCK_FILE: &str = ".mpt-gguf.lock";

/// Held while a sweep works in its folder; removed when dropped.
#[derive(Debug)]
pub struct SweepLock {
    path: PathBuf,
}

/// Whether process `pid` runs on this host (Linux: it has a /proc entry).
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

impl SweepLock {
    pub fn acquire(dir: &Path) -> Result<SweepLock> {
        let path = dir.join(LOCK_FILE);
        let (host, me) = (crate::util::hostname(), std::process::id());
        for _ in 0..3 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    f.write_all(format!("{host}\n{me}\n").as_bytes())
                        .with_context(|| format!("{}: cannot write", path.display()))?;
                    return Ok(SweepLock { path });
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    let owner = fs::read_to_string(&path).unwrap_or_default();
                    let mut lines = owner.lines();
                    let (o_host, o_pid) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
                    let pid: Option<u32> = o_pid.trim().parse().ok();
                    if o_host == host && pid.is_some_and(|p| !alive(p)) || owner.is_empty() {
                        // Left by a process that is gone (or half-written by one): take it over.
                        let _ = fs::remove_file(&path);
                        continue;
                    }
                    bail!(
                        "{}: another mpt-gguf sweep (process {} on {}) is working in this folder; wait for it to finish or pick another -o (if none is running there, delete {})",
                        dir.display(),
                        o_pid.trim(),
                        if o_host.is_empty() { "an unknown host" } else { o_host },
                        path.display()
                    );
                }
                Err(e) => {
                    let hint = crate::util::unwritable_hint(&e);
                    return Err(e).with_context(|| {
                        format!(
                            "{}: cannot create a file in {}{hint}",
                            path.display(),
                            dir.display()
                        )
                    });
                }
            }
        }
        bail!("{}: cannot take the sweep's lock", path.display())
    }
}

impl Drop for SweepLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}
