//! Fixtures shared by every test module: the real SmolLM2 model and baselines made from it, the test
//! texts and task rows, llama.cpp's own tools, and running the mpt-gguf binary.
#![allow(dead_code)]

pub mod gguf;
pub mod measure;
pub mod prune;
pub mod report_fixtures;
pub mod sweeps;
pub mod tasks;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

pub const MODEL_Q4_1: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Read at run time: test binaries are reused from a shared build cache by clones in other folders.
pub fn repo() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The mpt-gguf binary built with these tests.
pub fn mpt_command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mpt-gguf"));
    // The machine's peaks are cached with the fixtures, not in the user's cache.
    c.env("MPT_CACHE_DIR", fixtures_dir().join("cache"));
    c
}

/// Runs mpt-gguf with `args` to the end.
pub fn mpt<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Output {
    mpt_command().args(args).output().unwrap()
}

/// Asserts a refusal as a user meets it: exit status 2 and one line on stderr that contains every
/// fragment.
pub fn refused(out: &Output, fragments: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "more than one line: {err}");
    for f in fragments {
        assert!(err.contains(f), "'{f}' missing from: {err}");
    }
}

/// mpt-gguf under assert_cmd, for tests that assert on its output.
pub fn mpt_assert() -> assert_cmd::Command {
    assert_cmd::Command::from_std(mpt_command())
}

/// A test data file. `$MPT_DATA_DIR/override_rel` where `MPT_DATA_DIR` is set (a folder laid out with
/// wikitext-2/, calibration/ and tasks/), else `fetched_rel` in the folder scripts/fetch-test-data.sh
/// fills (`$MPT_TESTDATA_DIR`, default ~/.cache/mpt-gguf/testdata); fails with the command to run.
fn data_file(override_rel: &str, fetched_rel: &str) -> PathBuf {
    let path = match std::env::var_os("MPT_DATA_DIR") {
        Some(dir) => PathBuf::from(dir).join(override_rel),
        None => testdata_dir().join(fetched_rel),
    };
    assert!(
        path.exists(),
        "{} is missing: run scripts/fetch-test-data.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

fn testdata_dir() -> PathBuf {
    std::env::var_os("MPT_TESTDATA_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/mpt-gguf/testdata"))
        })
        .expect("neither MPT_TESTDATA_DIR nor HOME is set")
}

/// English text for perplexity and KL-divergence (WikiText-2's test split under `MPT_DATA_DIR`).
pub fn eval_text() -> PathBuf {
    data_file("wikitext-2/wiki.test.raw", "eval.txt")
}

/// Calibration text for importance matrices (`groups_merged.txt` under `MPT_DATA_DIR`).
pub fn calibration_text() -> PathBuf {
    data_file("calibration/groups_merged.txt", "calibration.txt")
}

/// The folder of task rows: Hugging Face JSON lines, an Arrow folder and llama.cpp's files.
pub fn tasks_dir() -> PathBuf {
    data_file("tasks", "tasks")
}

pub fn models_dir() -> PathBuf {
    std::env::var_os("MPT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("models"))
}

/// The real test model; fails (not skips) with the command that fetches it.
pub fn model_q4_1() -> PathBuf {
    let p = models_dir().join(MODEL_Q4_1);
    assert!(
        p.exists(),
        "{} is missing: run scripts/fetch-model.sh first",
        p.display()
    );
    p
}

/// A scratch folder for derived fixtures, shared by the tests of one build.
pub fn fixtures_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mpt-fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

static FIXTURE_LOCK: Mutex<()> = Mutex::new(());

/// Makes `name` in the fixtures folder with `make(tmp_path)` once (file lock across test binaries).
pub fn fixture(name: &str, make: impl FnOnce(&Path)) -> PathBuf {
    let _guard = FIXTURE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let path = fixtures_dir().join(name);
    if path.exists() {
        return path;
    }
    let lock_path = fixtures_dir().join(format!("{name}.lock"));
    let lock = std::fs::File::create(&lock_path).unwrap();
    lock.lock().unwrap();
    if !path.exists() {
        let tmp = fixtures_dir().join(format!("{name}.tmp"));
        make(&tmp);
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

/// This machine's peaks, measured once (under the fixture lock) into the cache every mpt-gguf
/// command of the tests reads; returns `mpt-gguf peaks --json` as it printed them.
pub fn machine_peaks() -> serde_json::Value {
    let path = fixture("peaks.json", |out| {
        let o = mpt_command().args(["peaks", "--json"]).output().unwrap();
        assert!(
            o.status.success(),
            "mpt-gguf peaks failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        std::fs::write(out, &o.stdout).unwrap();
    });
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The F16 baseline: the Q4_1 file requantized to F16 by mpt-gguf's own quantizer.
pub fn model_f16() -> PathBuf {
    let src = model_q4_1();
    fixture("smollm2-f16.gguf", |out| {
        let st = mpt_command()
            .args(["quantize", "--allow-requantize"])
            .arg(&src)
            .arg(out)
            .arg("F16")
            .status()
            .unwrap();
        assert!(st.success(), "making the F16 baseline failed");
    })
}

/// An importance matrix of the F16 baseline over two chunks of the calibration text (the file's name
/// names the text, which `MPT_DATA_DIR` can change).
pub fn imatrix_f16() -> PathBuf {
    let model = model_f16();
    let text = calibration_text();
    let digest = mpt_gguf::util::sha256_file(&text).unwrap();
    fixture(
        &format!("smollm2-f16-imatrix-2chunks-{}.gguf", &digest[..12]),
        |out| {
            let st = mpt_command()
                .arg("imatrix")
                .arg(&model)
                .arg("-f")
                .arg(&text)
                .args(["--chunks", "2", "--no-ppl", "-o"])
                .arg(out)
                .status()
                .unwrap();
            assert!(st.success(), "making the imatrix fixture failed");
        },
    )
}

/// Folder of llama.cpp's own tools (`MPT_REFERENCE_BIN`, else where scripts/build-reference.sh
/// builds them), if built.
pub fn reference_bin(tool: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("MPT_REFERENCE_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".cache/mpt-gguf/reference/build/bin"))
        })?;
    let p = dir.join(tool);
    p.exists().then_some(p)
}

/// Like `reference_bin` but fails with how to build the reference when it is missing.
pub fn require_reference(tool: &str) -> PathBuf {
    reference_bin(tool).unwrap_or_else(|| {
        panic!("llama.cpp reference tool {tool} not found: run scripts/build-reference.sh (scripts/test.sh does) or set MPT_REFERENCE_BIN")
    })
}
