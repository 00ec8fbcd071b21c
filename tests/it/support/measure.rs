//! Helpers shared by the measure tests: quantized fixtures, the evaluation text, running both tools.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

/// The F16 baseline quantized to `ty` by mpt-gguf (made once per build).
pub fn quant(ty: &str) -> PathBuf {
    quantized(ty, None)
}

/// The F16 baseline quantized to an IQ type with the two-chunk importance matrix.
pub fn quant_with_imatrix(ty: &str) -> PathBuf {
    quantized(ty, Some(super::imatrix_f16()))
}

fn quantized(ty: &str, imatrix: Option<PathBuf>) -> PathBuf {
    let f16 = super::model_f16();
    // The key says whether an importance matrix was used and which one.
    let key = match &imatrix {
        Some(im) => format!("-{}", im.file_stem().unwrap().to_string_lossy()),
        None => String::new(),
    };
    let name = format!("smollm2-{}{key}.gguf", ty.to_lowercase());
    super::fixture(&name, |out| {
        let mut cmd = super::mpt_command();
        cmd.arg("quantize");
        if let Some(im) = &imatrix {
            cmd.arg("--imatrix").arg(im);
        }
        let st = cmd.arg(&f16).arg(out).arg(ty).output().unwrap();
        assert!(
            st.status.success(),
            "quantizing to {ty} failed: {}",
            String::from_utf8_lossy(&st.stderr)
        );
    })
}

static HEAVY: Mutex<()> = Mutex::new(());

/// One model evaluation at a time: the tests of a binary run in parallel threads, and two llama.cpp
/// processes with busy-waiting OpenMP threads on the same cores slow each other down many times over.
pub fn heavy() -> MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs a llama.cpp tool; fails the test with its output when it fails.
pub fn reference(tool: &str, args: &[&str]) -> String {
    let out = Command::new(super::require_reference(tool))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{tool} {args:?} failed:\n{text}");
    text
}

/// Runs a llama.cpp tool and mpt-gguf side by side, one thread each (`-t 1` is appended to both): on a
/// 2-core machine that takes as long as one after the other with two threads, and a busy machine slows
/// it far less (no busy-waiting thread barriers). Returns the tool's output and mpt-gguf's.
pub fn side_by_side(tool: &str, tool_args: &[&str], mpt_args: &[&str]) -> (String, Output) {
    let spawn = |mut c: Command| {
        c.arg("-t")
            .arg("1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut theirs = Command::new(super::require_reference(tool));
    theirs.args(tool_args);
    let mut ours = super::mpt_command();
    ours.args(mpt_args);
    let (theirs, ours) = (spawn(theirs), spawn(ours));
    let (theirs, ours) = (
        theirs.wait_with_output().unwrap(),
        ours.wait_with_output().unwrap(),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&theirs.stdout),
        String::from_utf8_lossy(&theirs.stderr)
    );
    assert!(
        theirs.status.success(),
        "{tool} {tool_args:?} failed:\n{text}"
    );
    (text, ours)
}

/// stdout of a successful mpt-gguf run (fails the test with stderr otherwise).
pub fn mpt_ok(args: &[&str]) -> String {
    let out = super::mpt(args);
    assert!(
        out.status.success(),
        "mpt-gguf {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Asserts that `ours` equals `theirs` (a printed value) to `digits` significant digits: they differ by
/// less than half a unit in that digit.
pub fn assert_significant(what: &str, ours: f64, theirs: f64, digits: i32) {
    let magnitude = theirs.abs().log10().floor() as i32;
    let half_unit = 0.5 * 10f64.powi(magnitude - digits + 1);
    assert!(
        (ours - theirs).abs() < half_unit,
        "{what}: ours {ours} vs llama.cpp {theirs} differ in the first {digits} significant digits"
    );
}
