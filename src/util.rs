//! Small shared pieces: atomic file output, Ctrl-C state, hashing, peak memory.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// Returned when the user pressed Ctrl-C; the CLI maps it to exit status 130.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs a Ctrl-C handler that sets a flag long-running loops poll with [`check_interrupted`].
/// A second Ctrl-C exits at once.
pub fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: finishing cleanly (Ctrl-C again to abort)");
    });
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

pub fn check_interrupted() -> Result<()> {
    if interrupted() {
        Err(Interrupted.into())
    } else {
        Ok(())
    }
}

/// A file that becomes visible at its final path only when [`AtomicFile::commit`] is called;
/// dropped without commit (error, panic, Ctrl-C) it is removed.
pub struct AtomicFile {
    tmp: Option<tempfile::NamedTempFile>,
    path: PathBuf,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<Self> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let mut builder = tempfile::Builder::new();
        let prefix = format!(".{name}.");
        builder.prefix(&prefix).suffix(".partial");
        // Finished files get the permissions any new file of the user gets (0666 less the umask),
        // not a temporary file's 0600: sweep folders are read by others and by other jobs.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let tmp = builder.tempfile_in(&dir).map_err(|e| {
            let hint = unwritable_hint(&e);
            anyhow::Error::new(e).context(format!(
                "{}: cannot create a file in {}{hint}",
                path.display(),
                dir.display()
            ))
        })?;
        Ok(Self {
            tmp: Some(tmp),
            path: path.to_path_buf(),
        })
    }

    /// Path of the temporary file, for writers (like llama.cpp) that need a path rather than a handle.
    pub fn temp_path(&self) -> &Path {
        self.tmp.as_ref().expect("not committed").path()
    }

    pub fn file(&mut self) -> &mut fs::File {
        self.tmp.as_mut().expect("not committed").as_file_mut()
    }

    pub fn commit(self) -> Result<()> {
        self.commit_with(true)
    }

    /// Moves the file into place; `durable` first waits until its data is on the disk, which a
    /// file that a crash would make worthless anyway (a sweep's rung, deleted once measured) skips.
    pub fn commit_with(mut self, durable: bool) -> Result<()> {
        let tmp = self.tmp.take().expect("not committed");
        if durable {
            tmp.as_file()
                .sync_all()
                .with_context(|| format!("{}: cannot flush to disk", self.path.display()))?;
        }
        tmp.persist(&self.path)
            .map_err(|e| e.error)
            .with_context(|| {
                format!(
                    "{}: cannot move the finished file into place",
                    self.path.display()
                )
            })?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file().flush()
    }
}

/// Writes `bytes` to `path` atomically (temporary file in the same folder, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes)
        .with_context(|| format!("{}: write failed", path.display()))?;
    f.commit()
}

/// Hex sha256 of a file's contents.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("{}: read failed", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

/// Whether an I/O error says the disk (or the user's quota on it) is full.
pub fn is_disk_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

/// Peak resident set size of this process in bytes (Linux `VmHWM`), if known.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// What to do about a file that cannot be created in a folder: for a read-only or forbidden
/// folder, " (make the folder writable, or write somewhere else)"; nothing otherwise.
pub fn unwritable_hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::ReadOnlyFilesystem | io::ErrorKind::PermissionDenied => {
            " (make the folder writable, or write somewhere else)"
        }
        _ => "",
    }
}

/// This machine's host name (Linux), empty when unknown.
pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Installed memory in bytes (Linux `MemTotal`), if known.
pub fn ram_bytes() -> Option<u64> {
    let meminfo = fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Number of threads llama.cpp's tools default to: the physical cores, at least 1.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn committed_files_get_the_permissions_of_a_plain_new_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        fs::File::create(&plain).unwrap();
        let ours = dir.path().join("ours");
        let mut f = AtomicFile::create(&ours).unwrap();
        f.write_all(b"x").unwrap();
        f.commit().unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&ours), mode(&plain));
    }
}
