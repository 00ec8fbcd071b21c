//! Perplexity against llama-perplexity: same model, same text, same settings, same numbers.

use crate::support;

use crate::support::measure::{assert_significant, heavy, path_str, quant, side_by_side};

/// llama-perplexity's `[1]12.5608,[2]21.2755,...` running values and its final estimate.
fn parse_reference(out: &str) -> (Vec<f64>, f64, f64) {
    let chunks: Vec<f64> = out
        .split(['[', ','])
        .filter_map(|piece| {
            let (idx, val) = piece.split_once(']')?;
            idx.parse::<u32>().ok()?;
            val.trim().parse().ok()
        })
        .collect();
    let line = out
        .lines()
        .find(|l| l.contains("Final estimate: PPL ="))
        .unwrap_or_else(|| panic!("no final estimate in llama-perplexity's output:\n{out}"));
    let rest = line.split("PPL =").nth(1).unwrap();
    let (ppl, err) = rest.split_once("+/-").unwrap();
    (
        chunks,
        ppl.trim().parse().unwrap(),
        err.trim().parse().unwrap(),
    )
}

fn parity(model: &std::path::Path) {
    parity_with(model, &["-c", "512", "--chunks", "20"]);
}

fn parity_with(model: &std::path::Path, settings: &[&str]) {
    let text = support::eval_text();
    let mut args = vec!["-m", path_str(model), "-f", path_str(&text)];
    args.extend(settings);
    let value = |flag: &str| settings[settings.iter().position(|a| *a == flag).unwrap() + 1];
    let n_chunks: usize = value("--chunks").parse().unwrap();
    let n_ctx: u64 = value("-c").parse().unwrap();
    let mut ours_args = vec!["perplexity"];
    ours_args.extend(&args);
    ours_args.extend(["--json", "-"]);
    let _guard = heavy();
    let (theirs, out) = side_by_side("llama-perplexity", &args, &ours_args);
    let (ref_chunks, ref_ppl, ref_err) = parse_reference(&theirs);
    assert_eq!(ref_chunks.len(), n_chunks, "{theirs}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (ppl, err) = (
        json["ppl"].as_f64().unwrap(),
        json["ppl_err"].as_f64().unwrap(),
    );
    eprintln!(
        "{} {settings:?}: mpt-gguf PPL = {ppl:.4} ± {err:.5}, llama-perplexity PPL = {ref_ppl} ± {ref_err}",
        model.display()
    );
    assert_significant("PPL", ppl, ref_ppl, 4);
    assert_significant("PPL ±", err, ref_err, 4);
    let chunks = json["chunks"].as_array().unwrap();
    assert_eq!(chunks.len(), n_chunks);
    for (c, r) in chunks.iter().zip(&ref_chunks) {
        assert_significant("running PPL", c["ppl"].as_f64().unwrap(), *r, 4);
    }
    assert_eq!(
        json["n_scored"].as_u64(),
        Some(n_chunks as u64 * (n_ctx - 1 - n_ctx / 2))
    );
    // The human summary still ends with the PPL line (on stderr when stdout carries JSON).
    let last = stderr.lines().last().unwrap_or_default();
    assert_eq!(last, format!("PPL = {ppl:.4} ± {err:.5}"));
}

#[test]
fn f16_perplexity_equals_llama_perplexity() {
    parity(&support::model_f16());
}

#[test]
fn q4_k_m_perplexity_equals_llama_perplexity() {
    parity(&quant("Q4_K_M"));
}

/// The Q4_1 test model marked to add BOS (SmolLM2 itself does not): llama-perplexity then puts BOS in
/// place of every chunk's first token.
fn bos_model() -> std::path::PathBuf {
    let src = support::model_q4_1();
    support::fixture("smollm2-q4_1-add-bos.gguf", |out| {
        let file = mpt_gguf::engine::open_gguf(&src).unwrap();
        let mut b = mpt_gguf::gguf::GgufBuilder::from_file(&file);
        b.set("tokenizer.ggml.add_bos_token", true);
        b.write(out).unwrap();
    })
}

/// Chunks split over several decode calls (-b below -c, not dividing it), several chunks per call with a
/// partial last group, and BOS in front of each chunk: llama-perplexity's numbers in every case.
#[test]
fn batch_splits_and_bos_equal_llama_perplexity() {
    let bos = bos_model();
    parity_with(&bos, &["-c", "256", "-b", "100", "--chunks", "3"]);
    parity_with(&bos, &["-c", "128", "-b", "512", "--chunks", "5"]);
}
