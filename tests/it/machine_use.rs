//! Machine use: FLOPs and bytes per token against a count by hand from SmolLM2-135M's published
//! shapes, and bench's MFU and bandwidth use against the machine's measured peaks.

use mpt_gguf::engine::open_gguf;
use mpt_gguf::measure::work::ModelWork;
use serde_json::Value;

use crate::support;

// SmolLM2-135M: 30 layers, width 576, 9 query heads and 3 key/value heads of 64, feed-forward
// 1536, vocabulary 49152, output tied to the token embedding.
const LAYERS: u64 = 30;
const WIDTH: u64 = 576;
const HEADS: u64 = 9;
const KV_HEADS: u64 = 3;
const HEAD_DIM: u64 = 64;
const FFN: u64 = 1536;
const VOCAB: u64 = 49152;

/// Weights one token multiplies per layer: q and o (width²), k and v (width × kv width), gate,
/// up and down (width × ffn).
fn layer_weights_by_hand() -> u64 {
    let kv_width = KV_HEADS * HEAD_DIM;
    LAYERS * (2 * WIDTH * WIDTH + 2 * WIDTH * kv_width + 3 * WIDTH * FFN)
}

/// The last layer's feed-forward block, which llama.cpp runs only on the rows whose logits it
/// computes.
const LAST_FFN: u64 = 3 * WIDTH * FFN;

#[test]
fn flops_and_bytes_per_token_of_smollm2_match_a_count_by_hand() {
    let work = ModelWork::from_gguf(&open_gguf(&support::model_f16()).unwrap()).unwrap();
    let layers = layer_weights_by_hand();
    let output = VOCAB * WIDTH;
    assert_eq!(work.layer_weights + work.last_ffn_weights, layers);
    assert_eq!(work.last_ffn_weights, LAST_FFN);
    assert_eq!(work.output_weights, output);
    // F16: two bytes a weight.
    assert_eq!(work.layer_weight_bytes, 2 * layers);
    assert_eq!(work.layer_weight_bytes_all_experts, 2 * layers);
    assert_eq!(work.output_bytes, 2 * output);
    assert_eq!(work.embedding_row_bytes, 2 * WIDTH);
    // Attention per attended position: QKᵀ and PV, 2 FLOPs per multiply-add, every head.
    let attention = LAYERS * HEADS * 2 * (HEAD_DIM + HEAD_DIM);
    assert_eq!(work.attention_flops_per_position, attention);
    assert_eq!(
        work.flops_per_token(1000) as u64,
        2 * (layers + output) + attention * 1000
    );

    // pp512 with llama-bench's -b 2048 -ub 512: one call, logits for its last token only (the
    // last layer's feed-forward block too); positions 0..511 attend to 1..512 positions.
    let pp = work.test(512, 0, 2048, 512);
    let pp_flops =
        2 * (layers - LAST_FFN) * 512 + 2 * (LAST_FFN + output) + attention * (512 * 513 / 2);
    assert_eq!(pp.flops as u64, pp_flops);
    assert_eq!(pp.n_passes, 1);
    // tg128: 128 calls of one token, each with logits, attending to 1..128 positions.
    let tg = work.test(0, 128, 2048, 512);
    let tg_flops = 2 * (layers + output) * 128 + attention * (128 * 129 / 2);
    assert_eq!(tg.flops as u64, tg_flops);
    // Each generated token reads every weight, its embedding row, the K and V of the positions it
    // attends to, and writes its own.
    let kv_per_position = LAYERS * KV_HEADS * (HEAD_DIM + HEAD_DIM) * 2;
    let tg_bytes =
        (2 * layers + 2 * output + 2 * WIDTH) * 128 + kv_per_position * (128 * 129 / 2 + 128);
    assert_eq!(tg.bytes as u64, tg_bytes);
    assert_eq!(tg.bytes_per_pass(), tg.bytes_per_token());
    // A quantized file reads fewer bytes for the same FLOPs.
    let q4 = ModelWork::from_gguf(&open_gguf(&support::model_q4_1()).unwrap()).unwrap();
    assert_eq!(q4.layer_weights + q4.last_ffn_weights, layers);
    assert!(q4.layer_weight_bytes < work.layer_weight_bytes / 3);
}

fn bench_json(extra: &[&str]) -> Vec<Value> {
    support::machine_peaks();
    let model = support::model_q4_1();
    let _guard = support::measure::heavy();
    let o = support::mpt_command()
        .args([
            "bench", "-p", "128", "-n", "16", "-r", "2", "-o", "json", "-m",
        ])
        .arg(&model)
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice::<Vec<Value>>(&o.stdout).unwrap()
}

fn num(row: &Value, key: &str) -> f64 {
    row[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {row}"))
}

#[test]
fn bench_reports_mfu_and_bandwidth_use_within_the_measured_peaks() {
    let peaks = support::machine_peaks();
    let kernels = peaks["kernels"].as_array().unwrap();
    let fastest = kernels
        .iter()
        .map(|k| k["flops_per_s"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert_eq!(peaks["flops"]["value"].as_f64().unwrap(), fastest);
    assert!(!peaks["bandwidth_curve"].as_array().unwrap().is_empty());

    let work = ModelWork::from_gguf(&open_gguf(&support::model_q4_1()).unwrap()).unwrap();
    let rows = bench_json(&["--tdp", "50"]);
    assert_eq!(rows.len(), 2);
    for row in &rows {
        let (p, g) = (num(row, "n_prompt") as u64, num(row, "n_gen") as u64);
        let expected = work.test(p, g, 2048, 512);
        assert_eq!(num(row, "flops_per_token"), expected.flops_per_token());
        assert_eq!(num(row, "bytes_per_token"), expected.bytes_per_token());
        let peak_gbps = num(row, "peak_gbps");
        assert!(peak_gbps > 0.0);
        for key in ["mfu", "bandwidth_use"] {
            let v = num(row, key);
            assert!(v > 0.0 && v <= 1.0, "{key} = {v} in {row}");
        }
        // MFU is the achieved FLOPs/s over the peak, nothing else.
        let achieved = num(row, "flops_per_token") * num(row, "avg_ts");
        let mfu = achieved / (num(row, "peak_tflops") * 1e12);
        assert!((mfu / num(row, "mfu") - 1.0).abs() < 1e-9);
        assert!(row["peak_tflops_source"]
            .as_str()
            .unwrap()
            .starts_with("measured: ggml mul_mat"));
        assert!(row["peak_gbps_source"]
            .as_str()
            .unwrap()
            .starts_with("measured: streaming read"));
        // Where the machine has no energy counter, the estimate from --tdp, labelled as such.
        let source = row["energy_source"].as_str().unwrap();
        assert!(
            source == "estimated (TDP 50 W)" || source.starts_with("measured ("),
            "{source}"
        );
        assert!(num(row, "joules_per_token") > 0.0);
    }
}

#[test]
fn given_peaks_replace_measured_ones_and_bad_values_are_refused() {
    let rows = bench_json(&["--peak-tflops", "2", "--peak-gbps", "100"]);
    for row in &rows {
        assert_eq!(row["peak_tflops_source"], "given: --peak-tflops");
        assert_eq!(row["peak_gbps_source"], "given: --peak-gbps");
        let bw = num(row, "bytes_per_token") * num(row, "avg_ts") / 100e9;
        assert!((bw / num(row, "bandwidth_use") - 1.0).abs() < 1e-9);
    }
    for bad in ["0", "-3", "fast"] {
        let o = support::mpt_command()
            .args(["bench", "-m"])
            .arg(support::model_q4_1())
            .arg(format!("--peak-tflops={bad}"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains("not a positive number"),
            "{err}"
        );
    }
}
