//! Depth pruning on the real model: removed blocks, renumbering, metadata, llama.cpp loads the
//! result; block importance from llama.cpp's hidden states.

use crate::support;

use std::ffi::OsStr;
use std::sync::{Arc, Mutex};

use crate::support::mpt;
use crate::support::prune::{eval_excerpt, floats, mean_nll};
use mpt_gguf::engine::open_gguf;
use mpt_gguf::engine::{
    Batch, Context, ContextOptions, Model, ModelOptions, NamedTensor, TensorObserver,
};
use mpt_gguf::gguf::{GgufBuilder, Value};
use mpt_gguf::prune::{
    block_influence, prune_file, DepthSpec, ImportanceOptions, PruneOptions, PruneSpec,
};

fn layers(list: Vec<u32>) -> PruneSpec {
    PruneSpec {
        depth: Some(DepthSpec::Layers { layers: list }),
        sparsity: None,
    }
}

#[test]
fn removed_blocks_are_gone_renumbered_and_the_model_runs() {
    let input = support::model_f16();
    let sha_before = mpt_gguf::util::sha256_file(&input).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("no-20-27.gguf");
    let report = prune_file(
        &input,
        &out,
        &layers((20..=27).collect()),
        &PruneOptions::default(),
    )
    .unwrap();
    assert_eq!(report.removed_blocks, (20..=27).collect::<Vec<_>>());
    assert_eq!(
        (report.block_count_before, report.block_count_after),
        (30, 22)
    );
    assert_eq!(
        (report.tensors_before, report.tensors_after),
        (272, 272 - 8 * 9)
    );
    assert_eq!(
        report.parameters_before - report.parameters_after,
        8 * 3_540_096
    );
    assert_eq!(report.metadata_changed, ["llama.block_count"]);

    let src = open_gguf(&input).unwrap();
    let dst = open_gguf(&out).unwrap();
    assert_eq!(dst.arch_u64("block_count"), Some(22));
    assert_eq!(dst.tensors().len(), 200);
    assert_eq!(report.file_size_after, dst.file_size());
    assert!(dst
        .tensors()
        .iter()
        .all(|t| t.layer().is_none_or(|l| l < 22)));
    // Blocks 0-19 keep their place; input blocks 28, 29 become 20, 21, bytes unchanged.
    for (from, to) in [(0, 0), (19, 19), (28, 20), (29, 21)] {
        for kind in ["attn_q.weight", "ffn_down.weight", "attn_norm.weight"] {
            let a = src.tensor(&format!("blk.{from}.{kind}")).unwrap();
            let b = dst.tensor(&format!("blk.{to}.{kind}")).unwrap();
            assert_eq!(src.tensor_data(a), dst.tensor_data(b), "blk.{from}.{kind}");
        }
    }
    assert_eq!(
        src.tensor_data(src.tensor("token_embd.weight").unwrap()),
        dst.tensor_data(dst.tensor("token_embd.weight").unwrap())
    );
    // The input is untouched.
    assert_eq!(mpt_gguf::util::sha256_file(&input).unwrap(), sha_before);

    let model = Model::load(&out, &ModelOptions::default()).unwrap();
    assert_eq!(model.n_layer(), 22);
    drop(model);
    let nll = mean_nll(&out, &eval_excerpt(), 128);
    assert!(nll.is_finite(), "{nll}");
}

#[test]
fn inspect_shows_the_pruned_file() {
    let input = support::model_f16();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pruned.gguf");
    let run = mpt([
        OsStr::new("prune"),
        input.as_os_str(),
        out.as_os_str(),
        OsStr::new("--layers"),
        OsStr::new("3,5-6"),
        OsStr::new("--json"),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["removed_blocks"], serde_json::json!([3, 5, 6]));
    assert_eq!(report["block_count_after"], 27);

    let inspect = mpt([
        OsStr::new("inspect"),
        out.as_os_str(),
        OsStr::new("--json"),
        OsStr::new("--meta"),
    ]);
    assert!(inspect.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(doc["tensor_count"], 272 - 3 * 9);
    let layers: Vec<u64> = doc["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["layer"].as_u64().unwrap())
        .collect();
    assert_eq!(layers, (0..27).collect::<Vec<u64>>());
    let block_count = doc["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .find(|kv| kv["key"] == "llama.block_count")
        .unwrap()["value"]
        .clone();
    assert_eq!(block_count, 27);
}

/// llama.cpp checks per-layer arrays against the block count: a file whose head counts are
/// per-layer arrays only loads after pruning if the arrays lost the removed entries.
#[test]
fn per_layer_arrays_follow_the_removed_blocks() {
    let input = support::model_f16();
    let src = open_gguf(&input).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let arrays = dir.path().join("per-layer.gguf");
    let mut b = GgufBuilder::from_file(&src);
    let heads = src.get_u64("llama.attention.head_count").unwrap() as u32;
    let kv = src.get_u64("llama.attention.head_count_kv").unwrap() as u32;
    b.set("llama.attention.head_count", vec![heads; 30]);
    b.set("llama.attention.head_count_kv", vec![kv; 30]);
    b.write(&arrays).unwrap();
    drop(src);

    let out = dir.path().join("pruned.gguf");
    let report = prune_file(
        &arrays,
        &out,
        &layers(vec![4, 17]),
        &PruneOptions::default(),
    )
    .unwrap();
    assert_eq!(
        report.metadata_changed,
        [
            "llama.block_count",
            "llama.attention.head_count",
            "llama.attention.head_count_kv"
        ]
    );
    let dst = open_gguf(&out).unwrap();
    assert_eq!(
        dst.get("llama.attention.head_count"),
        Some(&Value::from(vec![heads; 28]))
    );
    let nll = mean_nll(&out, &eval_excerpt(), 64);
    assert!(nll.is_finite());
}

/// A captured node: name, shape, rows.
type Seen = (String, [i64; 4], Vec<Vec<f32>>);

/// Captures named nodes for a test.
struct Capture {
    names: Vec<String>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl TensorObserver for Capture {
    fn wants(&mut self, name: &str, _ne: [i64; 4]) -> bool {
        self.names.iter().any(|n| n == name)
    }
    fn observe(&mut self, t: &NamedTensor<'_>) {
        let rows = (0..t.n_rows()).map(|r| t.flat_row(r).to_vec()).collect();
        self.seen
            .lock()
            .unwrap()
            .push((t.name.to_string(), t.ne, rows));
    }
}

/// The tapped hidden states are what they claim: `embd` is the token-embedding rows of the file,
/// and `l_out-29` (the last block's output), put through the output norm and the tied embedding
/// matrix here, gives llama.cpp's own logits.
#[test]
fn tapped_hidden_states_match_a_hand_computation() {
    let path = support::model_f16();
    let file = open_gguf(&path).unwrap();
    let embd_t = file.tensor("token_embd.weight").unwrap();
    let emb = floats(&file, embd_t);
    let norm_w = floats(&file, file.tensor("output_norm.weight").unwrap());
    let eps = file
        .get_f64("llama.attention.layer_norm_rms_epsilon")
        .unwrap();
    let n_embd = embd_t.dims[0] as usize;

    let model = Model::load(&path, &ModelOptions::default()).unwrap();
    let tokens = model
        .tokenize("The capital of France is", true, false)
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let capture = Capture {
        names: vec!["embd".into(), "l_out-29".into()],
        seen: seen.clone(),
    };
    let mut ctx =
        Context::with_tensor_observer(&model, &ContextOptions::new(64, 64, 2), Box::new(capture))
            .unwrap();
    let mut batch = Batch::new(64, 1);
    for (i, &t) in tokens.iter().enumerate() {
        batch.add(t, i as i32, &[0], true).unwrap();
    }
    ctx.decode(&mut batch).unwrap();
    let seen = seen.lock().unwrap().clone();
    let names: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(names, ["embd", "l_out-29"]);

    let (_, ne, embd_rows) = &seen[0];
    assert_eq!(ne[..2], [n_embd as i64, tokens.len() as i64]);
    for (row, &tok) in embd_rows.iter().zip(&tokens) {
        let want = &emb[tok as usize * n_embd..(tok as usize + 1) * n_embd];
        assert_eq!(row.as_slice(), want, "embedding row of token {tok}");
    }

    let last = seen[1].2.last().unwrap();
    let ms = last.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / n_embd as f64;
    let scale = 1.0 / (ms + eps).sqrt();
    let h: Vec<f64> = last
        .iter()
        .zip(&norm_w)
        .map(|(&x, &w)| x as f64 * scale * w as f64)
        .collect();
    let theirs = ctx.logits(tokens.len() - 1).unwrap();
    let mut worst = 0f64;
    for (v, &logit) in theirs.iter().enumerate() {
        let ours: f64 = emb[v * n_embd..(v + 1) * n_embd]
            .iter()
            .zip(&h)
            .map(|(&e, &x)| e as f64 * x)
            .sum();
        worst = worst.max((ours - logit as f64).abs());
    }
    eprintln!("largest logit difference against llama.cpp: {worst}");
    // llama.cpp multiplies in F16 x F32 with its own rounding; logits are O(10).
    assert!(worst < 0.05, "largest logit difference {worst}");
}

#[test]
fn block_influence_scores_every_block_and_drop_removes_the_lowest() {
    let input = support::model_f16();
    let text = std::fs::read_to_string(support::calibration_text()).unwrap();
    let opts = ImportanceOptions {
        n_chunks: Some(1),
        n_ctx: 256,
        ..Default::default()
    };
    let scores = block_influence(&input, &text, "calibration", &opts, &mut |_, _| {}).unwrap();
    assert_eq!(scores.scores.len(), 30);
    assert_eq!((scores.chunks, scores.tokens), (1, 256));
    for (b, &s) in scores.scores.iter().enumerate() {
        assert!((0.0..=2.0).contains(&s), "block {b}: {s}");
    }
    // Block 0 turns raw embeddings into the residual stream: far from the identity.
    assert!(scores.scores[0] > 0.5, "{:?}", scores.scores);

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("drop3.gguf");
    let run = mpt([
        OsStr::new("prune"),
        input.as_os_str(),
        out.as_os_str(),
        OsStr::new("--drop"),
        OsStr::new("3"),
        OsStr::new("--by"),
        OsStr::new("importance"),
        OsStr::new("-f"),
        support::calibration_text().as_os_str(),
        OsStr::new("--chunks"),
        OsStr::new("1"),
        OsStr::new("-c"),
        OsStr::new("256"),
        OsStr::new("--json"),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let cli_scores: Vec<f64> = report["block_scores"]["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    // Same text, same chunk: the same scores.
    for (a, b) in cli_scores.iter().zip(&scores.scores) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
    let removed: Vec<usize> = report["removed_blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let mut sorted = scores.scores.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(removed.len(), 3);
    for b in &removed {
        assert!(
            scores.scores[*b] <= sorted[2],
            "block {b} is not among the 3 lowest"
        );
    }
    assert_eq!(open_gguf(&out).unwrap().arch_u64("block_count"), Some(27));
}
