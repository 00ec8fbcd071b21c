//! The llama.cpp wrapper on the real model.

use crate::support;

use std::process::Command;

use mpt_gguf::engine::{Batch, Context, ContextOptions, Model, ModelOptions};

const SENTENCE: &str = "The quick brown fox jumps over the lazy dog, doesn't it? 1234 café";

#[test]
fn tokenizer_matches_llama_tokenize() {
    let path = support::model_q4_1();
    let model = Model::load(&path, &ModelOptions::default()).unwrap();
    let ours = model.tokenize(SENTENCE, true, false).unwrap();

    let tool = support::require_reference("llama-tokenize");
    let out = Command::new(tool)
        .arg("-m")
        .arg(&path)
        .args(["-p", SENTENCE, "--ids", "--log-disable"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "llama-tokenize failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('['))
        .expect("no id list from llama-tokenize");
    let theirs: Vec<i32> = line
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect();
    assert_eq!(ours, theirs);
    assert_eq!(model.detokenize(&ours), SENTENCE);
}

#[test]
fn decode_gives_finite_logits_of_vocabulary_size() {
    let model = Model::load(&support::model_q4_1(), &ModelOptions::default()).unwrap();
    assert_eq!(model.n_vocab(), 49152);
    let tokens = model
        .tokenize("Paris is the capital of", true, false)
        .unwrap();
    let mut ctx = Context::new(&model, &ContextOptions::new(64, 64, 2)).unwrap();
    let mut batch = Batch::new(64, 1);
    for (i, &t) in tokens.iter().enumerate() {
        batch.add(t, i as i32, &[0], i + 1 == tokens.len()).unwrap();
    }
    ctx.decode(&mut batch).unwrap();
    let logits = ctx.logits(tokens.len() - 1).unwrap();
    assert_eq!(logits.len(), 49152);
    assert!(logits.iter().all(|l| l.is_finite()));
    // A sane model puts " France" among its top choices here.
    let france = model.tokenize(" France", false, false).unwrap()[0] as usize;
    let better = logits.iter().filter(|&&l| l > logits[france]).count();
    assert!(better < 10, "' France' ranked {better}");
    // Entries added without logits have none.
    assert!(ctx.logits(0).is_err());
}

#[test]
fn loading_a_non_gguf_file_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("not-a-model.gguf");
    std::fs::write(&p, b"this is not a gguf file at all").unwrap();
    let err = Model::load(&p, &ModelOptions::default())
        .err()
        .expect("must fail");
    let msg = format!("{err:#}");
    assert!(msg.contains("not-a-model.gguf"), "{msg}");
}
