//! The llama-bench equivalent: its fields and statistics, the output formats, the sweep's entry point.
//! (Speed against llama-bench is shown by scripts/compare-measure.sh, not by timed tests.)

use crate::support::measure::{heavy, mpt_ok, path_str, quant, reference};
use mpt_gguf::engine::{Model, ModelOptions};
use mpt_gguf::measure::bench::{bench_model, mean_and_stddev, BenchPoint};

fn rows(json: &str) -> Vec<serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(json)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// Same tests, same field names and the same values where they describe the same thing as llama-bench's.
#[test]
fn json_rows_carry_llama_bench_fields_and_statistics() {
    let model = quant("Q4_K_M");
    let args = [
        "-m",
        path_str(&model),
        "-p",
        "32",
        "-n",
        "4",
        "-r",
        "3",
        "-t",
        "1",
        "-o",
        "json",
    ];
    let _guard = heavy();
    let text = reference("llama-bench", &args);
    let theirs = rows(&text[text.find('[').unwrap()..text.rfind(']').unwrap() + 1]);
    let mut ours_args = vec!["bench"];
    ours_args.extend(args);
    let ours = rows(&mpt_ok(&ours_args));
    assert_eq!(ours.len(), 2);
    assert_eq!(theirs.len(), 2);
    for (o, t) in ours.iter().zip(&theirs) {
        for field in [
            "cpu_info",
            "gpu_info",
            "backends",
            "model_type",
            "model_size",
            "model_n_params",
            "n_batch",
            "n_ubatch",
            "n_threads",
            "n_prompt",
            "n_gen",
        ] {
            assert_eq!(o[field], t[field], "{field}");
        }
        for field in [
            "build_commit",
            "model_filename",
            "test_time",
            "avg_ns",
            "stddev_ns",
        ] {
            assert!(!o[field].is_null(), "{field} missing");
        }
        let samples: Vec<f64> = o["samples_ts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let ns: Vec<u64> = o["samples_ns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!((samples.len(), ns.len()), (3, 3));
        let n_tokens = o["n_prompt"].as_f64().unwrap() + o["n_gen"].as_f64().unwrap();
        for (ts, ns) in samples.iter().zip(&ns) {
            assert!((ts - 1e9 * n_tokens / *ns as f64).abs() < 1e-6 * ts);
        }
        let (mean, sd) = mean_and_stddev(&samples);
        assert!((o["avg_ts"].as_f64().unwrap() - mean).abs() < 1e-9 * mean);
        assert!((o["stddev_ts"].as_f64().unwrap() - sd).abs() < 1e-9 * mean.max(1.0));
        assert!(o["peak_rss_bytes"].as_u64().unwrap() > 0);
    }
    // pp: time to first token = the prompt's time; tg: decode ms/token = 1000 / t/s on average.
    let pp = &ours[0];
    let ttft = pp["ttft_ms"].as_f64().unwrap();
    let avg_ms = pp["avg_ns"].as_f64().unwrap() / 1e6;
    assert!((ttft - avg_ms).abs() < 1e-3 * avg_ms, "{ttft} vs {avg_ms}");
    assert!((pp["prefill_ms_per_token"].as_f64().unwrap() - ttft / 32.0).abs() < 1e-9 * ttft);
    let tg = &ours[1];
    assert!(tg["ttft_ms"].is_null());
    let per_token = tg["decode_ms_per_token"].as_f64().unwrap();
    assert!((per_token - tg["avg_ns"].as_f64().unwrap() / 4.0 / 1e6).abs() < 1e-3 * per_token);
}

/// Several values per flag run every combination (one thread: a busy test machine slows two-thread
/// runs many times over); csv, jsonl and markdown hold one row per test.
#[test]
fn value_lists_and_output_formats() {
    let model = quant("Q4_K_M");
    let m = path_str(&model);
    let base = [
        "bench",
        "-m",
        m,
        "-p",
        "8,16",
        "-n",
        "2",
        "-r",
        "1",
        "-t",
        "1",
        "-b",
        "256-512*2",
        "--no-warmup",
    ];
    let _guard = heavy();
    let run = |fmt: &str| {
        let mut a = base.to_vec();
        a.extend(["-o", fmt]);
        mpt_ok(&a)
    };
    let csv = run("csv");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    for f in [
        "model_type",
        "n_threads",
        "n_prompt",
        "n_gen",
        "avg_ts",
        "stddev_ts",
        "ttft_ms",
        "peak_rss_bytes",
    ] {
        assert!(header.iter().any(|h| h == f), "{f} missing from {header:?}");
    }
    let recs: Vec<_> = reader.records().map(|r| r.unwrap()).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let shapes: Vec<(String, String, String)> = recs
        .iter()
        .map(|r| {
            (
                r[col("n_batch")].to_string(),
                r[col("n_prompt")].to_string(),
                r[col("n_gen")].to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String, String)> = [
        ("256", "8", "0"),
        ("256", "16", "0"),
        ("256", "0", "2"),
        ("512", "8", "0"),
        ("512", "16", "0"),
        ("512", "0", "2"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(shapes, want);

    let jsonl = run("jsonl");
    let lines: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert!(lines.iter().all(|l| l["avg_ts"].as_f64().unwrap() > 0.0));

    let md = run("md");
    assert!(md.starts_with("| model "), "{md}");
    for test in ["pp8", "pp16", "tg2"] {
        assert_eq!(
            md.matches(&format!(" {test} |")).count(),
            2,
            "{test} rows in\n{md}"
        );
    }
    assert!(
        md.contains("| threads | n_batch |")
            && md.contains("TTFT ms")
            && md.contains("\nbuild: llama-cpp-sys-2")
    );
}

/// What a sweep calls on a model it already loaded: pp and tg in one call.
#[test]
fn bench_model_gives_pp_and_tg() {
    let model = Model::load(&quant("Q4_K_M"), &ModelOptions::default()).unwrap();
    let _guard = heavy();
    let r = bench_model(
        &model,
        &BenchPoint {
            n_prompt: 32,
            n_gen: 4,
            reps: 2,
            n_threads: 1,
            n_batch: 2048,
            warmup: false,
            ..BenchPoint::default()
        },
    )
    .unwrap();
    let (pp, tg) = (r.pp.as_ref().unwrap(), r.tg.as_ref().unwrap());
    assert_eq!(
        (pp.n_prompt, pp.n_gen, tg.n_prompt, tg.n_gen),
        (32, 0, 0, 4)
    );
    assert_eq!(r.pp_ts, Some(pp.avg_ts));
    assert_eq!(r.tg_ts_sd, Some(tg.stddev_ts));
    assert!(r.pp_ts.unwrap() > 0.0 && r.tg_ts.unwrap() > 0.0);
    assert!(r.ttft_ms.unwrap() > 0.0 && r.decode_ms_per_token.unwrap() > 0.0);
    assert_eq!(r.model_n_params, model.n_params());
    // Resident memory during the test holds at least the weights it touched (mapped from the file).
    assert!(
        r.peak_rss_bytes.unwrap() > model.size_bytes() / 2,
        "{:?}",
        r.peak_rss_bytes
    );
    if !cfg!(feature = "cuda") {
        assert_eq!(r.gpu_memory_bytes, None);
    }
}
