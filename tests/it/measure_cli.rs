//! Bad input to `mpt-gguf perplexity` and `bench`: one clear line naming the file, exit status 2, no
//! panic, nothing half-written.

use crate::support;
use crate::support::mpt;

use std::path::{Path, PathBuf};

use crate::support::measure::{mpt_ok, path_str};
use mpt_gguf::engine::open_gguf;
use mpt_gguf::gguf::{GgufBuilder, Value};

/// Runs mpt-gguf expecting failure; returns its one-line error.
fn fails(args: &[&str]) -> String {
    let out = mpt(args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    lines[0].to_string()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The Q4_1 test model with two vocabulary entries swapped: same size, different tokens.
fn other_vocabulary_model() -> PathBuf {
    let src = support::model_q4_1();
    support::fixture("smollm2-q4_1-swapped-vocab.gguf", |out| {
        let file = open_gguf(&src).unwrap();
        let mut b = GgufBuilder::from_file(&file);
        let Some(Value::Array(tokens)) = b.get("tokenizer.ggml.tokens") else {
            panic!("no token list");
        };
        let mut swapped: Vec<String> = tokens
            .as_strings()
            .unwrap()
            .iter()
            .map(String::from)
            .collect();
        swapped.swap(1000, 1001);
        b.set("tokenizer.ggml.tokens", swapped);
        b.write(out).unwrap();
    })
}

#[test]
fn bad_text_files() {
    let dir = tempfile::tempdir().unwrap();
    let model = support::model_q4_1();
    let m = path_str(&model);
    let short = write(
        dir.path(),
        "short.txt",
        "Only a few words of text here.".repeat(20).as_bytes(),
    );
    let e = fails(&["perplexity", "-m", m, "-f", path_str(&short)]);
    assert!(
        e.contains("short.txt") && e.contains("tokenizes to only"),
        "{e}"
    );
    assert!(e.contains("-c 512 needs at least 1024 (two chunks)"), "{e}");
    let e = fails(&[
        "perplexity",
        "-m",
        m,
        "-f",
        path_str(&short),
        "-c",
        "64",
        "--chunks",
        "0",
    ]);
    assert!(e.contains("--chunks must be at least 1"), "{e}");

    let empty = write(dir.path(), "empty.txt", b"\n\n");
    let e = fails(&["perplexity", "-m", m, "-f", path_str(&empty)]);
    assert!(e.contains("empty.txt: empty text"), "{e}");
    // A model file handed over as the text.
    let e = fails(&["perplexity", "-m", m, "-f", m]);
    assert!(e.contains("binary file, not text"), "{e}");
    let latin1 = write(dir.path(), "latin1.txt", b"na\xefve caf\xe9");
    let e = fails(&["perplexity", "-m", m, "-f", path_str(&latin1)]);
    assert!(e.contains("latin1.txt: not UTF-8 text"), "{e}");
    let missing = dir.path().join("missing.txt");
    let e = fails(&["perplexity", "-m", m, "-f", path_str(&missing)]);
    assert!(e.contains("missing.txt: cannot read"), "{e}");
    let e = fails(&["perplexity", "-m", m]);
    assert!(e.contains("-f TEXT is needed"), "{e}");
}

#[test]
fn context_larger_than_training() {
    let model = support::model_q4_1();
    let text = support::eval_text();
    let e = fails(&[
        "perplexity",
        "-m",
        path_str(&model),
        "-f",
        path_str(&text),
        "-c",
        "16384",
    ]);
    assert!(
        e.contains("-c 16384 is larger than the model's training context (8192 tokens)"),
        "{e}"
    );
    assert!(e.contains("SmolLM2-135M-Instruct.Q4_1.gguf"), "{e}");
}

#[test]
fn bases_of_another_vocabulary_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = support::model_q4_1();
    let other = other_vocabulary_model();
    let (m, o) = (path_str(&model), path_str(&other));
    let text = support::eval_text();
    let t = path_str(&text);

    // --base: a model of the same vocabulary size with other tokens.
    let e = fails(&[
        "perplexity",
        "-m",
        m,
        "-f",
        t,
        "-c",
        "64",
        "--chunks",
        "2",
        "--base",
        o,
    ]);
    assert!(
        e.contains("different tokens") && e.contains("swapped-vocab"),
        "{e}"
    );

    // A compact base made by the other model, then one claiming another vocabulary size.
    let kld = dir.path().join("other.kld");
    mpt_ok(&[
        "perplexity",
        "-m",
        o,
        "-f",
        t,
        "-c",
        "64",
        "--chunks",
        "2",
        "--save-kld-base",
        path_str(&kld),
    ]);
    let e = fails(&["perplexity", "-m", m, "--kld-base", path_str(&kld)]);
    assert!(
        e.contains("a different vocabulary from the KL-divergence base's model"),
        "{e}"
    );
    let bytes = std::fs::read(&kld).unwrap();
    let text_at = bytes
        .windows(15)
        .position(|w| w == b"\"n_vocab\":49152")
        .unwrap();
    let mut patched = bytes.clone();
    patched[text_at..text_at + 15].copy_from_slice(b"\"n_vocab\":65536");
    let patched_path = write(dir.path(), "patched.kld", &patched);
    let e = fails(&["perplexity", "-m", m, "--kld-base", path_str(&patched_path)]);
    assert!(
        e.contains(
            "vocabulary of 49152 tokens, but the KL-divergence base was computed with 65536"
        ),
        "{e}"
    );

    // llama.cpp's file for a 5-token vocabulary (a valid file: header, tokens, one chunk of rows).
    let mut file = b"_logits_".to_vec();
    for v in [8u32, 5, 1] {
        file.extend(v.to_le_bytes());
    }
    file.extend(std::iter::repeat_n(0u8, 8 * 4 + 3 * 10 * 2));
    let small = write(dir.path(), "small.logits", &file);
    let e = fails(&[
        "perplexity",
        "-m",
        m,
        "--kl-divergence-base",
        path_str(&small),
        "--kl-divergence",
        "-c",
        "8",
    ]);
    assert!(
        e.contains("has 5; compare models of the same vocabulary"),
        "{e}"
    );
    let trunc = write(dir.path(), "trunc.logits", &file[..file.len() - 1]);
    let e = fails(&[
        "perplexity",
        "-m",
        m,
        "--kl-divergence-base",
        path_str(&trunc),
        "--kl-divergence",
        "-c",
        "8",
    ]);
    assert!(
        e.contains("trunc.logits") && e.contains("truncated or corrupt"),
        "{e}"
    );
    let e = fails(&["perplexity", "-m", m, "--kld-base", path_str(&small)]);
    assert!(e.contains("llama.cpp --kl-divergence-base file"), "{e}");
}

#[test]
fn failed_runs_leave_no_output_files() {
    let dir = tempfile::tempdir().unwrap();
    let model = support::model_q4_1();
    let short = write(dir.path(), "short.txt", "too short ".repeat(10).as_bytes());
    let kld = dir.path().join("out.kld");
    let logits = dir.path().join("out.logits");
    let json = dir.path().join("out.json");
    fails(&[
        "perplexity",
        "-m",
        path_str(&model),
        "-f",
        path_str(&short),
        "-c",
        "64",
        "--save-kld-base",
        path_str(&kld),
        "--kl-divergence-base",
        path_str(&logits),
        "--json",
        path_str(&json),
    ]);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("short.txt")],
        "{left:?}"
    );
}

#[test]
fn bad_bench_arguments() {
    let model = support::model_q4_1();
    let m = path_str(&model);
    let e = fails(&["bench", "-m", m, "-p", "0", "-n", "0"]);
    assert!(e.contains("nothing to run"), "{e}");
    let e = fails(&["bench", "-m", m, "-t", "0"]);
    assert!(e.contains("-t, -b and -ub must be at least 1"), "{e}");
    let e = fails(&["bench", "-m", "/nonexistent/model.gguf"]);
    assert!(e.contains("/nonexistent/model.gguf"), "{e}");
    let e = fails(&["bench", "-m", m, "-r", "0"]);
    assert!(e.contains("-r must be at least 1"), "{e}");
}
