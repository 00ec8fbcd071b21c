//! Locks that work between processes on many machines sharing one folder (NFS included): a lock
//! is a file created exclusively, naming its host, process and a token, and rewritten by its holder
//! every few seconds (its heartbeat). A lock is given up for dead when its process is gone (same
//! host) or when its heartbeat is older than the lease (another host: a killed job, a lost node).
//! Taking over renames the dead lock aside first, so of two processes that find it dead only one
//! takes it; a holder whose lock was taken checks before it writes anything (`still_held`).

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context as _, Result};

/// The folder in a sweep's output folder that holds its locks.
pub const LOCKS_DIR: &str = "locks";

/// How long a heartbeat may be missing before another host takes a lock over
/// (`MPT_LOCK_LEASE_S` changes it, for tests and slow shared filesystems).
pub fn lease() -> Duration {
    let secs = std::env::var("MPT_LOCK_LEASE_S")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|&s| s > 0)
        .unwrap_or(120);
    Duration::from_secs(secs)
}

/// Who holds a lock, as its file says.
#[derive(Debug, Clone, PartialEq)]
pub struct Owner {
    pub host: String,
    pub pid: String,
    token: String,
    /// The file's text, to tell whether a lock renamed aside is the one judged dead.
    text: String,
}

impl Owner {
    fn parse(text: &str) -> Owner {
        let mut lines = text.lines().map(str::trim);
        let mut next = || lines.next().unwrap_or("").to_string();
        let (host, pid, token) = (next(), next(), next());
        Owner {
            host,
            pid,
            token,
            text: text.to_string(),
        }
    }

    /// `process 123 on node7`
    pub fn describe(&self) -> String {
        let host = if self.host.is_empty() {
            "an unknown host"
        } else {
            &self.host
        };
        format!("process {} on {host}", self.pid)
    }
}

/// Held until dropped; its heartbeat runs on a thread of its own.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    text: String,
    lost: Arc<AtomicBool>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    beat: Option<JoinHandle<()>>,
}

pub enum Attempt {
    Held(Lock),
    Busy(Owner),
}

/// A token no other process has: host, process and the time, hashed.
fn new_token() -> String {
    use sha2::{Digest, Sha256};
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let seed = format!(
        "{}|{}|{}|{:?}",
        crate::util::hostname(),
        std::process::id(),
        now.as_nanos(),
        std::thread::current().id()
    );
    let hash = Sha256::digest(seed.as_bytes());
    hash[..8].iter().map(|b| format!("{b:02x}")).collect()
}

impl Lock {
    /// Takes the lock at `path` unless a live process holds it.
    pub fn try_acquire(path: &Path) -> Result<Attempt> {
        let dir = path.parent().unwrap_or(Path::new("."));
        if let Err(e) = fs::create_dir_all(dir) {
            let hint = crate::util::unwritable_hint(&e);
            return Err(e).with_context(|| {
                format!(
                    "{}: cannot create a file in {}{hint}",
                    path.display(),
                    dir.display()
                )
            });
        }
        let text = format!(
            "{}\n{}\n{}\n",
            crate::util::hostname(),
            std::process::id(),
            new_token()
        );
        for _ in 0..5 {
            match OpenOptions::new().write(true).create_new(true).open(path) {
                Ok(mut f) => {
                    f.write_all(text.as_bytes())
                        .with_context(|| format!("{}: cannot write", path.display()))?;
                    return Ok(Attempt::Held(Lock::start(path, text, f)));
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    let Ok(owner_text) = fs::read_to_string(path) else {
                        continue; // released meanwhile
                    };
                    let owner = Owner::parse(&owner_text);
                    if !is_dead(path, &owner)? {
                        return Ok(Attempt::Busy(owner));
                    }
                    take_over(path, &owner);
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
        bail!(
            "{}: cannot take the lock (other processes keep taking it)",
            path.display()
        )
    }

    /// Takes the lock at `path`, waiting while a live process holds it (`on_wait` is told who,
    /// once).
    pub fn acquire_waiting(path: &Path, on_wait: &mut dyn FnMut(&Owner)) -> Result<Lock> {
        let mut told = false;
        loop {
            match Lock::try_acquire(path)? {
                Attempt::Held(lock) => return Ok(lock),
                Attempt::Busy(owner) => {
                    if !told {
                        on_wait(&owner);
                        told = true;
                    }
                    crate::util::check_interrupted()?;
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
    }

    fn start(path: &Path, text: String, file: File) -> Lock {
        let lost = Arc::new(AtomicBool::new(false));
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let every = lease() / 6;
        let beat = {
            let (path, text, lost, stop) =
                (path.to_path_buf(), text.clone(), lost.clone(), stop.clone());
            std::thread::spawn(move || heartbeat(&path, &text, &file, &lost, &stop, every))
        };
        Lock {
            path: path.to_path_buf(),
            text,
            lost,
            stop,
            beat: Some(beat),
        }
    }

    /// Whether the lock is still this process's: false when another process took it over (after
    /// this one stopped beating for longer than the lease, or the file was removed by hand).
    pub fn still_held(&self) -> bool {
        !self.lost.load(Ordering::SeqCst)
            && fs::read_to_string(&self.path).is_ok_and(|t| t == self.text)
    }
}

/// Rewrites the lock's bytes in place every `every`, so its modification time (set by the file
/// server on a shared filesystem) says the holder is alive; notices when the lock was taken.
fn heartbeat(
    path: &Path,
    text: &str,
    file: &File,
    lost: &AtomicBool,
    stop: &(Mutex<bool>, Condvar),
    every: Duration,
) {
    let (stopped, wake) = stop;
    let mut guard = stopped.lock().unwrap_or_else(|p| p.into_inner());
    while !*guard {
        let (g, _) = wake
            .wait_timeout(guard, every)
            .unwrap_or_else(|p| p.into_inner());
        guard = g;
        if *guard {
            break;
        }
        if fs::read_to_string(path).map_or(true, |t| t != text) {
            lost.store(true, Ordering::SeqCst);
            break;
        }
        let _ = file.write_all_at(text.as_bytes(), 0);
        let _ = file.set_modified(SystemTime::now());
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        wake.notify_all();
        if let Some(beat) = self.beat.take() {
            let _ = beat.join();
        }
        if self.still_held() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Who holds the lock at `path`, when a live process does.
pub fn live_holder(path: &Path) -> Result<Option<Owner>> {
    let Ok(text) = fs::read_to_string(path) else {
        return Ok(None);
    };
    let owner = Owner::parse(&text);
    Ok((!is_dead(path, &owner)?).then_some(owner))
}

/// Whether a live process other than this one holds any lock in `dir`.
pub fn others_active(dir: &Path) -> Result<bool> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(false);
    };
    let me = std::process::id().to_string();
    let host = crate::util::hostname();
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "lock") {
            continue;
        }
        if let Some(o) = live_holder(&path)? {
            if o.host != host || o.pid != me {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Whether process `pid` runs on this host (Linux: it has a /proc entry).
fn alive(pid: &str) -> bool {
    pid.parse::<u32>()
        .is_ok_and(|p| Path::new(&format!("/proc/{p}")).exists())
}

/// A lock of this host whose process is gone, or any lock whose heartbeat is older than the
/// lease on the folder's own clock (a file written there now), or a lock left empty.
fn is_dead(path: &Path, owner: &Owner) -> Result<bool> {
    if owner.token.is_empty() {
        // Half-written by a process killed between creating and writing it.
        return Ok(age(path)?.is_some_and(|a| a > Duration::from_secs(5)));
    }
    if owner.host == crate::util::hostname() {
        return Ok(!alive(&owner.pid));
    }
    Ok(age(path)?.is_some_and(|a| a > lease()))
}

/// Time since `path` was last written, by the clock that stamps files in its folder.
fn age(path: &Path) -> Result<Option<Duration>> {
    let Ok(meta) = fs::metadata(path) else {
        return Ok(None);
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let probe = dir.join(format!(".probe-{}", new_token()));
    let now = fs::write(&probe, b"now")
        .and_then(|_| fs::metadata(&probe)?.modified())
        .unwrap_or_else(|_| SystemTime::now());
    let _ = fs::remove_file(&probe);
    let written = meta.modified().context("file times unsupported")?;
    Ok(Some(now.duration_since(written).unwrap_or_default()))
}

/// Moves a dead lock aside and removes it. When the file moved is not the one judged dead (a
/// process took the lock over in between), it is put back where it was.
fn take_over(path: &Path, dead: &Owner) {
    let aside = path.with_extension(format!("dead-{}", new_token()));
    if fs::rename(path, &aside).is_err() {
        return; // another process moved it first
    }
    let moved = fs::read_to_string(&aside).unwrap_or_default();
    if moved != dead.text {
        // hard_link does not replace a file: whoever created a lock since keeps it.
        let _ = fs::hard_link(&aside, path);
    }
    let _ = fs::remove_file(&aside);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(a: Attempt) -> Lock {
        match a {
            Attempt::Held(l) => l,
            Attempt::Busy(o) => panic!("busy: {o:?}"),
        }
    }

    #[test]
    fn a_lock_is_held_once_and_released_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locks/rung-Q8_0.lock");
        let lock = held(Lock::try_acquire(&path).unwrap());
        assert!(lock.still_held());
        match Lock::try_acquire(&path).unwrap() {
            Attempt::Busy(o) => {
                assert_eq!(o.pid, std::process::id().to_string());
                assert!(o.describe().contains("process "));
            }
            Attempt::Held(_) => panic!("taken twice"),
        }
        drop(lock);
        assert!(!path.exists());
        held(Lock::try_acquire(&path).unwrap());
    }

    #[test]
    fn a_dead_process_s_lock_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        // This host, a process number no process has.
        let host = crate::util::hostname();
        fs::write(&path, format!("{host}\n4294967\nabc\n")).unwrap();
        let lock = held(Lock::try_acquire(&path).unwrap());
        assert!(lock.still_held());
    }

    #[test]
    fn another_host_s_lock_is_taken_over_only_after_the_lease() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        fs::write(&path, "node-that-is-gone\n12\nabc\n").unwrap();
        assert!(matches!(
            Lock::try_acquire(&path).unwrap(),
            Attempt::Busy(_)
        ));
        let old = SystemTime::now() - lease() - Duration::from_secs(5);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let lock = held(Lock::try_acquire(&path).unwrap());
        assert!(lock.still_held());
    }

    #[test]
    fn a_holder_knows_when_its_lock_was_taken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let lock = held(Lock::try_acquire(&path).unwrap());
        fs::write(&path, "elsewhere\n1\nother\n").unwrap();
        assert!(!lock.still_held());
        drop(lock);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "elsewhere\n1\nother\n",
            "a lock taken over is not removed by the process that lost it"
        );
    }
}
