//! Helpers for the prune tests: reading weights back natively, running a model, fixtures.
#![allow(dead_code)]

use std::path::Path;

use half::f16;
use mpt_gguf::engine::{Batch, Context, ContextOptions, Model, ModelOptions};
use mpt_gguf::gguf::{GgmlType, GgufFile, TensorInfo};
use mpt_gguf::logits::nll_and_prob;

/// The weights of an F16 or F32 tensor as f32, decoded here (not by the code under test).
pub fn floats(file: &GgufFile, t: &TensorInfo) -> Vec<f32> {
    let data = file.tensor_data(t);
    match t.ggml_type {
        GgmlType::F16 => data
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        GgmlType::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        other => panic!("{}: test decodes F16/F32 only, not {other}", t.name),
    }
}

/// The 2-D weight matrices of the blocks: what sparsity prunes by default.
pub fn block_matrices(file: &GgufFile) -> Vec<&TensorInfo> {
    file.tensors()
        .iter()
        .filter(|t| t.name.starts_with("blk.") && t.dims.len() == 2 && t.dims[1] > 1)
        .collect()
}

/// Mean negative log-likelihood of the first `n` tokens of `text` (BOS first), one sequence.
/// Also checks that every logit is finite.
pub fn mean_nll(model_path: &Path, text: &str, n: usize) -> f64 {
    let model = Model::load(model_path, &ModelOptions::default()).unwrap();
    let tokens = model.tokenize(text, true, false).unwrap();
    assert!(tokens.len() >= n, "text too short: {} tokens", tokens.len());
    let tokens = &tokens[..n];
    let mut ctx = Context::new(&model, &ContextOptions::new(n as u32, n as u32, 2)).unwrap();
    let mut batch = Batch::new(n, 1);
    for (i, &t) in tokens.iter().enumerate() {
        batch.add(t, i as i32, &[0], true).unwrap();
    }
    ctx.decode(&mut batch).unwrap();
    let mut sum = 0.0;
    for k in 0..n - 1 {
        let logits = ctx.logits(k).unwrap();
        assert!(
            logits.iter().all(|l| l.is_finite()),
            "{}: non-finite logits at token {k}",
            model_path.display()
        );
        sum += nll_and_prob(logits, tokens[k + 1] as usize).0;
    }
    sum / (n - 1) as f64
}

/// A few thousand characters of the evaluation text.
pub fn eval_excerpt() -> String {
    let text = std::fs::read_to_string(super::eval_text()).unwrap();
    text.chars().take(6000).collect()
}
