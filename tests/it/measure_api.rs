//! The library flow a sweep follows: read and tokenize the text once, measure the base keeping a
//! compact KL-divergence base, save and reopen it, measure a rung against it, store the summary.

use crate::support;

use crate::support::measure::{heavy, quant};
use mpt_gguf::engine::{Model, ModelOptions};
use mpt_gguf::measure::{self, BaseCapture, Eval, KldBase, PerplexityOptions};
use mpt_gguf::results::KldSummary;

/// Perplexity of `tokens` keeping a compact KL-divergence base, as a sweep's base pass does.
fn capture_base(
    model: &Model,
    tokens: &[i32],
    opts: &PerplexityOptions,
    progress: &mut dyn FnMut(&measure::ChunkProgress),
) -> measure::PerplexityRun {
    let eval = Eval::Text {
        tokens,
        capture: BaseCapture::compact(),
    };
    measure::perplexity(model, eval, opts, progress).unwrap()
}

#[test]
fn sweep_flow_base_then_rung() {
    let dir = tempfile::tempdir().unwrap();
    let text = measure::text::read_text(&support::eval_text()).unwrap();
    let base_model = Model::load(&support::model_f16(), &ModelOptions::default()).unwrap();
    let tokens = measure::text::tokenize(&base_model, &text).unwrap();
    // BOS in front only when the model asks for it (SmolLM2 does not), as llama-perplexity tokenizes.
    assert_eq!(tokens[0] == base_model.bos(), base_model.adds_bos());
    let opts = PerplexityOptions {
        n_ctx: 128,
        n_batch: 512,
        n_chunks: Some(3),
        n_threads: 1,
        n_workers: None,
    };
    let _guard = heavy();

    let mut seen = Vec::new();
    let base_run = capture_base(&base_model, &tokens, &opts, &mut |p| {
        seen.push((p.done, p.total, p.chunk.ppl))
    });
    assert_eq!(
        seen.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>(),
        vec![(1, 3), (2, 3), (3, 3)]
    );
    assert_eq!(
        seen.last().unwrap().2,
        base_run.ppl,
        "the last running value is the result"
    );
    assert_eq!((base_run.n_chunks, base_run.n_scored), (3, 3 * 63));
    let base = base_run.base.as_ref().expect("captured base");
    assert_eq!(base.meta.ppl, base_run.ppl);
    let path = dir.path().join("base.kld");
    base.save(&path).unwrap();
    let base = KldBase::open(&path).unwrap();
    assert_eq!(base.tokens(), &tokens[..3 * 128]);

    // The base against itself: no divergence, same top token everywhere, PPL unchanged.
    let same =
        measure::perplexity(&base_model, Eval::AgainstBase(&base), &opts, &mut |_| {}).unwrap();
    let k = &same.kld.as_ref().unwrap().stats;
    assert!(
        k.kld_mean.abs() < 1e-6 && k.same_top == 1.0 && k.dp.max.abs() < 1e-6,
        "{k:?}"
    );
    assert!((same.ppl - base_run.ppl).abs() < 1e-6 * base_run.ppl);
    drop(base_model);

    let rung = Model::load(&quant("Q4_K_M"), &ModelOptions::default()).unwrap();
    let run = measure::perplexity(&rung, Eval::AgainstBase(&base), &opts, &mut |_| {}).unwrap();
    let stats = &run.kld.as_ref().unwrap().stats;
    assert!(stats.kld_mean > 0.0 && stats.same_top < 1.0 && stats.same_top > 0.5);
    assert!((stats.ppl - run.ppl).abs() < 1e-9 * run.ppl);
    assert!((stats.ppl_base - base_run.ppl).abs() < 1e-5 * base_run.ppl);
    assert!((stats.ln_ppl_ratio - (run.ppl / base_run.ppl).ln()).abs() < 1e-6);
    let summary = KldSummary::from(stats);
    assert_eq!(
        (summary.n_tokens, summary.mean, summary.same_top),
        (189, stats.kld_mean, stats.same_top)
    );
    assert_eq!(run.chunks.len(), 3);
    assert!(run.chunks.iter().all(|c| c.kld.is_some()));
    // Chunk values add up to the whole: mean NLL over chunks of equal size.
    let mean_nll = run.chunks.iter().map(|c| c.nll).sum::<f64>() / 3.0;
    assert!((mean_nll.exp() - run.ppl).abs() < 1e-9 * run.ppl);
}

/// Chunks decoded by two contexts side by side give the numbers one context gives, bit for bit: the
/// captured base, every chunk's values, the KL-divergence statistics; progress comes in chunk order.
#[test]
fn side_by_side_workers_give_the_same_numbers() {
    let text = measure::text::read_text(&support::eval_text()).unwrap();
    let base_model = Model::load(&support::model_f16(), &ModelOptions::default()).unwrap();
    let rung = Model::load(&quant("Q4_K_M"), &ModelOptions::default()).unwrap();
    let tokens = measure::text::tokenize(&base_model, &text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let _guard = heavy();
    // -b 256 with -c 128: one context decodes two chunks at a time, two contexts one each. -b 48:
    // three calls per chunk, the scored half split over two (one context gathers a chunk's rows,
    // two score each call's rows as they come).
    for n_batch in [48, 128, 256] {
        let mut runs = Vec::new();
        for workers in [1, 2] {
            let opts = PerplexityOptions {
                n_ctx: 128,
                n_batch,
                n_chunks: Some(5),
                n_threads: 2,
                n_workers: Some(workers),
            };
            let plan = measure::chunks::ChunkPlan::new(128, n_batch, 5).unwrap();
            let (w, threads, worker_plan) = opts.workers(&base_model, &plan);
            let n_seq = (plan.n_seq / workers as usize).max(1);
            assert_eq!(
                (w, threads, worker_plan.n_seq),
                (workers as usize, 2 / workers, n_seq)
            );
            let mut order = Vec::new();
            let base_run = capture_base(&base_model, &tokens, &opts, &mut |p| order.push(p.done));
            assert_eq!(order, [1, 2, 3, 4, 5]);
            let path = dir.path().join(format!("base-{n_batch}-{workers}.kld"));
            base_run.base.as_ref().unwrap().save(&path).unwrap();
            let base = KldBase::open(&path).unwrap();
            let run =
                measure::perplexity(&rung, Eval::AgainstBase(&base), &opts, &mut |_| {}).unwrap();
            runs.push((base_run, std::fs::read(&path).unwrap(), run));
        }
        let ((b1, f1, r1), (b2, f2, r2)) = (&runs[0], &runs[1]);
        assert!(f1 == f2, "-b {n_batch}: the saved bases differ");
        assert_eq!(
            (b1.ppl, b1.ppl_err, &b1.chunks),
            (b2.ppl, b2.ppl_err, &b2.chunks)
        );
        assert_eq!((r1.ppl, &r1.chunks), (r2.ppl, &r2.chunks));
        assert_eq!(r1.kld, r2.kld);
        assert!(r1.kld.as_ref().unwrap().stats.kld_mean > 0.0);
    }
}

/// `--json` and `--csv` carry the per-chunk values, with the KL-divergence columns in comparison runs.
#[test]
fn cli_json_and_csv_per_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let model = support::model_q4_1();
    let (m, text) = (support::measure::path_str(&model), support::eval_text());
    let t = support::measure::path_str(&text);
    let kld = dir.path().join("b.kld");
    let json = dir.path().join("run.json");
    let _guard = heavy();
    let out = support::measure::mpt_ok(&[
        "perplexity",
        "-m",
        m,
        "-f",
        t,
        "-c",
        "64",
        "--chunks",
        "3",
        "--csv",
        "-",
        "--json",
        support::measure::path_str(&json),
        "--save-kld-base",
        support::measure::path_str(&kld),
    ]);
    let mut csv = csv::Reader::from_reader(out.as_bytes());
    assert_eq!(
        csv.headers().unwrap().iter().collect::<Vec<_>>(),
        ["chunk", "ppl", "ppl_chunk", "nll"]
    );
    let rows: Vec<_> = csv.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 3);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["chunks"].as_array().unwrap().len(), 3);
    assert_eq!(
        rows[2][1].parse::<f64>().unwrap(),
        report["ppl"].as_f64().unwrap()
    );
    assert_eq!(
        (report["n_ctx"].as_u64(), report["n_scored"].as_u64()),
        (Some(64), Some(3 * 31))
    );
    assert!(report["kld"].is_null());

    let out = support::measure::mpt_ok(&[
        "perplexity",
        "-m",
        m,
        "--kld-base",
        support::measure::path_str(&kld),
        "--csv",
        "-",
    ]);
    let mut csv = csv::Reader::from_reader(out.as_bytes());
    let header: Vec<String> = csv.headers().unwrap().iter().map(String::from).collect();
    assert!(
        header.contains(&"kld".to_string()) && header.contains(&"same_top_running".to_string())
    );
    let rows: Vec<_> = csv.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 3);
    // The model against its own base: zero divergence in every chunk.
    let kld_col = header.iter().position(|h| h == "kld").unwrap();
    assert!(rows
        .iter()
        .all(|r| r[kld_col].parse::<f64>().unwrap().abs() < 1e-6));
}
