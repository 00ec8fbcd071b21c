//! Shared test fixtures: the real SmolLM2 model, baselines made from it, the reference tools.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

pub const MODEL_Q4_1: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Read at run time: test binaries are reused from a shared build cache by clones in other folders.
pub fn repo() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// `../shared/data/...` beside the checkout.
pub fn shared_data(rel: &str) -> PathBuf {
    let p = repo().join("../shared/data").join(rel);
    assert!(
        p.exists(),
        "{} is missing: tests read the shared data beside the checkout",
        p.display()
    );
    p
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

/// The F16 baseline: the Q4_1 file requantized to F16 by mpt-gguf's own quantizer.
pub fn model_f16() -> PathBuf {
    let src = model_q4_1();
    fixture("smollm2-f16.gguf", |out| {
        let st = Command::new(env!("CARGO_BIN_EXE_mpt-gguf"))
            .args(["quantize", "--allow-requantize"])
            .arg(&src)
            .arg(out)
            .arg("F16")
            .status()
            .unwrap();
        assert!(st.success(), "making the F16 baseline failed");
    })
}

/// An importance matrix of the F16 baseline over two chunks of the calibration text.
pub fn imatrix_f16() -> PathBuf {
    let model = model_f16();
    fixture("smollm2-f16-imatrix-2chunks.gguf", |out| {
        let st = Command::new(env!("CARGO_BIN_EXE_mpt-gguf"))
            .arg("imatrix")
            .arg(&model)
            .arg("-f")
            .arg(shared_data("calibration/groups_merged.txt"))
            .args(["--chunks", "2", "--no-ppl", "-o"])
            .arg(out)
            .status()
            .unwrap();
        assert!(st.success(), "making the imatrix fixture failed");
    })
}

/// Folder of llama.cpp's own tools (`../shared/tools/build-reference.sh`), if built.
pub fn reference_bin(tool: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("MPT_REFERENCE_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".cache/mpt-reference/build/bin"))
        })?;
    let p = dir.join(tool);
    p.exists().then_some(p)
}

/// Like `reference_bin` but fails with how to build the reference when it is missing.
pub fn require_reference(tool: &str) -> PathBuf {
    reference_bin(tool).unwrap_or_else(|| {
        panic!("llama.cpp reference tool {tool} not found: run ../shared/tools/build-reference.sh (scripts/test.sh does) or set MPT_REFERENCE_BIN")
    })
}
