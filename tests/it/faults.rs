//! Inputs on which llama.cpp itself would stop the process (GGML_ASSERT, abort) or refuse to load:
//! each must reach the user as a one-line error and exit status 2, never as a crash.

use std::path::{Path, PathBuf};

use mpt_gguf::engine::open_gguf;
use mpt_gguf::gguf::{GgmlType, GgufBuilder, Value};

use crate::support;

/// The real model with one change, written to `dir/name`.
fn variant(dir: &Path, name: &str, change: impl FnOnce(&mut GgufBuilder)) -> PathBuf {
    let file = open_gguf(&support::model_q4_1()).unwrap();
    let mut b = GgufBuilder::from_file(&file);
    change(&mut b);
    let path = dir.join(name);
    b.write(&path).unwrap();
    path
}

/// Perplexity of one short chunk: loads the model, builds and runs its graph.
fn perplexity_error(model: &Path) -> String {
    let o = support::mpt_command()
        .args(["perplexity", "-m"])
        .arg(model)
        .arg("-f")
        .arg(support::eval_text())
        .args(["-c", "128", "--chunks", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{}: {err}", model.display());
    let lines: Vec<&str> = err.trim().lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    lines[0].to_string()
}

fn replace_tensor(b: &mut GgufBuilder, name: &str, ty: GgmlType, dims: &[u64], bytes: Vec<u8>) {
    b.remove_tensor(name).unwrap();
    b.add_tensor(name, ty, dims, bytes).unwrap();
}

#[test]
fn models_llama_cpp_cannot_run_are_one_line_errors() {
    let _guard = support::measure::heavy();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: Vec<(PathBuf, &[&str])> = vec![
        (
            variant(d, "arch.gguf", |b| {
                b.set("general.architecture", Value::String("notamodel".into()));
            }),
            &["arch.gguf"],
        ),
        (
            variant(d, "missing.gguf", |b| {
                b.remove_tensor("blk.3.ffn_down.weight").unwrap();
            }),
            &["missing.gguf"],
        ),
        (
            variant(d, "shape.gguf", |b| {
                let t = b.remove_tensor("blk.0.attn_k.weight").unwrap();
                b.add_tensor(&t.name, t.ggml_type, &[192, 576], t.data)
                    .unwrap();
            }),
            &["shape.gguf"],
        ),
        (
            variant(d, "layers.gguf", |b| {
                b.set("llama.block_count", Value::U32(31));
            }),
            &["layers.gguf"],
        ),
        (
            variant(d, "norm-type.gguf", |b| {
                let blocks = 576 / 32;
                replace_tensor(
                    b,
                    "blk.0.attn_norm.weight",
                    GgmlType::Q8_0,
                    &[576],
                    vec![0; blocks * 34],
                );
            }),
            &["norm-type.gguf", "blk.0.attn_norm.weight", "1-dimensional"],
        ),
        (
            variant(d, "heads.gguf", |b| {
                b.set("llama.attention.head_count", Value::U32(7));
            }),
            &["heads.gguf"],
        ),
    ];
    for (model, says) in cases {
        let line = perplexity_error(&model);
        for s in says {
            assert!(line.contains(s), "'{s}' missing: {line}");
        }
    }
}

#[test]
fn a_context_larger_than_memory_is_a_one_line_error() {
    // 10⁸ positions of SmolLM2's KV cache are 2.3 TB.
    let o = support::mpt_command()
        .args(["bench", "-m"])
        .arg(support::model_q4_1())
        .args(["-p", "100000000", "-n", "0", "-r", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let last = err.trim().lines().last().unwrap();
    assert!(
        last.starts_with("error: ")
            && last.contains("could not create a context of 100000000 tokens"),
        "{last}"
    );
}
