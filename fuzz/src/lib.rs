//! What every fuzz target shares: the input written to a file, since the readers take paths as a
//! user's file arrives (the name's extension is what the reader sees).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        // A memory-backed folder where there is one: the targets write a file per input.
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        };
        dir.expect("a scratch folder for fuzz inputs")
    })
    .path()
}

/// `data` written to `name` in this process's scratch folder.
pub fn file_with(name: &str, data: &[u8]) -> PathBuf {
    let path = scratch().join(name);
    std::fs::write(&path, data).expect("writing a fuzz input");
    path
}

/// A folder `name` in the scratch folder holding `files` (name, bytes), emptied first.
pub fn folder_with(name: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let dir = scratch().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a fuzz input folder");
    for (file, bytes) in files {
        std::fs::write(dir.join(file), bytes).expect("writing a fuzz input");
    }
    dir
}

/// Loads `data`, written as `name`, as task `kind` the way `--tasks KIND=FILE` does (bad rows
/// skipped, so the loader goes on past them).
pub fn load_task(kind: mpt_gguf::tasks::TaskKind, name: &str, data: &[u8]) {
    let path = file_with(name, data);
    let opts = mpt_gguf::tasks::LoadOptions {
        skip_bad_rows: true,
        ..Default::default()
    };
    let _ = mpt_gguf::tasks::TaskSet::from_path(kind, &path, &opts);
}
