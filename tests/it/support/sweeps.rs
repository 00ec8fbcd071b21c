//! A small sweep run by several workers, and the same sweep in one process to compare it with.

use std::path::Path;
use std::process::{Command, Output};

use mpt_gguf::results::SweepResults;

/// Four rungs, none needing an importance matrix; no bench (its speeds differ run to run).
pub const TYPES: &str = "Q8_0,Q6_K,Q4_0,Q5_0";

/// `mpt-gguf sweep` of the F16 baseline into `out` with small settings, plus `extra`.
pub fn sweep(out: &Path, extra: &[&str]) -> Command {
    sweep_of(&super::model_f16(), out, extra)
}

fn sweep_of(model: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = super::mpt_command();
    c.arg("sweep")
        .arg(model)
        .arg("-o")
        .arg(out)
        .arg("-f")
        .arg(super::eval_text())
        .args([
            "-c",
            "256",
            "--chunks",
            "2",
            "-t",
            "2",
            "--no-bench",
            "--types",
            TYPES,
        ])
        .args(extra);
    c
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn ok(o: &Output) -> String {
    let err = stderr(o);
    assert!(o.status.success(), "the command failed: {err}");
    err
}

/// The sweep in one process, made once per build.
pub fn one_process() -> SweepResults {
    // Fixtures are made one at a time: the model before this one.
    let model = super::model_f16();
    let dir = super::fixture("sweep-one-process-v1", |out| {
        ok(&sweep_of(&model, out, &[]).output().unwrap());
    });
    SweepResults::load(&dir).unwrap()
}

/// The rungs of `got` have the numbers of the one-process sweep, bit for bit (so to every
/// printed digit).
pub fn assert_same_numbers(got: &SweepResults) {
    let want = one_process();
    assert_eq!(got.rungs.len(), want.rungs.len());
    for (g, w) in got.rungs.iter().zip(&want.rungs) {
        assert_eq!(g.rung, w.rung);
        assert!(g.ok(), "{}: {:?}", g.rung, g.error);
        assert_eq!((g.ppl, g.ppl_err), (w.ppl, w.ppl_err), "{}", g.rung);
        let kld = |r: &mpt_gguf::results::RungResult| r.kld.as_ref().map(|k| (k.mean, k.same_top));
        assert_eq!(kld(g), kld(w), "{}", g.rung);
        assert_eq!(g.size_bytes, w.size_bytes, "{}", g.rung);
    }
    assert_eq!(
        got.base.as_ref().and_then(|b| b.ppl),
        want.base.as_ref().and_then(|b| b.ppl)
    );
}
