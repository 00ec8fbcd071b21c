//! Synthetic saved results for the report tests: a SmolLM2-135M-like ladder (PPL ~20 at 16 bits
//! collapsing to ~1000 at 1.75 bpw), the two Qwen2.5 blocks of the published Table 5, and a
//! prune × quantize grid. The curves are known, so fits can be checked against them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use mpt_gguf::results::{
    KldSummary, ModelInfo, Provenance, PruneInfo, RungResult, Settings, SweepResults, TaskScore,
    RESULTS_VERSION,
};

/// The SmolLM2-like curve: power law above `B0`, exponential collapse below.
pub const B0: f64 = 3.2;
pub const ALPHA: f64 = 0.04;
pub const BETA: f64 = 2.6;
pub const BASE_PPL: f64 = 20.0;
pub const N_PARAMS: u64 = 134_515_008;

pub fn true_ppl(b: f64) -> f64 {
    let cap = b.max(B0);
    let mut ln = BASE_PPL.ln() - ALPHA * (cap / 16.0).ln();
    if b < B0 {
        ln += BETA * (B0 - b);
    }
    ln.exp()
}

/// Deterministic ±`amp` relative wiggle, different per index.
pub fn wiggle(i: usize, amp: f64) -> f64 {
    let v = ((i as f64 + 1.0) * 12.9898).sin() * 43758.5453;
    1.0 + amp * (2.0 * (v - v.floor()) - 1.0)
}

fn results(name: &str, n_params: u64) -> SweepResults {
    let mut r = SweepResults {
        results_version: RESULTS_VERSION,
        model: ModelInfo {
            name: name.into(),
            path: format!("/models/{name}.F16.gguf"),
            sha256: Some("ab".repeat(32)),
            architecture: Some("llama".into()),
            n_params: Some(n_params),
            size_bytes: Some(n_params * 2),
        },
        provenance: Provenance {
            mpt_gguf_version: "0.1.0".into(),
            llama_cpp: "b0000".into(),
            backends: vec!["CPU".into()],
            target_cpu: "native".into(),
            created: "2025-01-01T00:00:00Z".into(),
            ..Default::default()
        },
        settings: Settings {
            text_file: Some("wiki.test.raw".into()),
            n_ctx: 512,
            n_chunks: Some(8),
            n_threads: 2,
            bench_prompt: 512,
            bench_gen: 128,
            bench_reps: 3,
            tasks: vec![
                "arc-easy".into(),
                "arc-challenge".into(),
                "mmlu".into(),
                "hellaswag".into(),
            ],
            ..Default::default()
        },
        base: None,
        rungs: vec![],
        peaks: None,
    };
    r.provenance.machine.n_cpus = 2;
    r
}

fn task(name: &str, acc: f64, n: u64) -> TaskScore {
    TaskScore {
        task: name.into(),
        n,
        acc,
        acc_err: (acc * (1.0 - acc) / n as f64).sqrt(),
        acc_norm: Some(acc),
        acc_norm_err: None,
    }
}

fn kld(mean: f64) -> KldSummary {
    KldSummary {
        n_tokens: 4096,
        mean,
        mean_err: mean * 0.03,
        max: mean * 40.0,
        p99: mean * 12.0,
        median: mean * 0.4,
        same_top: (1.0 - 0.35 * mean.sqrt()).max(0.1),
        same_top_err: 0.002,
        dp_rms: 0.05 * mean.sqrt(),
        dp_rms_err: 0.001,
        ..Default::default()
    }
}

/// (type, bit width, nominal bpw, measured bpw) of the SmolLM2-like ladder.
pub const SMOL_LADDER: &[(&str, u32, f64, f64)] = &[
    ("F16", 16, 16.0, 16.0),
    ("Q8_0", 8, 8.5, 8.5),
    ("Q6_K", 6, 6.5625, 6.6),
    ("Q5_K_M", 5, 5.5, 5.75),
    ("Q5_K_S", 5, 5.5, 5.55),
    ("Q4_K_M", 4, 4.5, 4.89),
    ("Q4_K_S", 4, 4.5, 4.6),
    ("IQ4_XS", 4, 4.25, 4.3),
    ("Q3_K_M", 3, 3.4375, 3.91),
    ("IQ3_M", 3, 3.4375, 3.7),
    ("IQ3_XXS", 3, 3.0625, 3.06),
    ("Q2_K", 2, 2.625, 2.96),
    ("IQ2_M", 2, 2.5, 2.7),
    ("IQ2_XS", 2, 2.3125, 2.31),
    ("IQ2_XXS", 2, 2.0625, 2.06),
    ("IQ1_M", 1, 1.75, 1.75),
    ("IQ1_S", 1, 1.5625, 1.56),
];

fn smol_rung(i: usize, quant: &str, width: u32, nominal: f64, bpw: f64, noise: f64) -> RungResult {
    let mut r = RungResult::new(quant, quant);
    r.bit_width = Some(width);
    r.nominal_bpw = Some(nominal);
    r.bpw = Some(bpw);
    r.n_params = Some(N_PARAMS);
    r.size_bytes = Some((N_PARAMS as f64 * bpw / 8.0) as u64 + 1_500_000);
    let ppl = true_ppl(bpw) * wiggle(i, noise);
    r.ppl = Some(ppl);
    r.ppl_err = Some(ppl * 0.012);
    let ratio = (ppl / BASE_PPL).ln();
    r.ln_ppl_ratio = Some(ratio);
    r.ln_ppl_ratio_err = Some(0.002);
    if quant != "F16" {
        r.kld = Some(kld(0.0015 * (16.0 / bpw).powi(2) + 0.7 * ratio.max(0.0)));
    }
    r.pp_ts = Some(2400.0 * (16.0 / bpw).powf(0.15) * wiggle(i + 40, 0.03));
    r.pp_ts_sd = Some(35.0);
    r.tg_ts = Some(95.0 * (16.0 / bpw).powf(0.55) * wiggle(i + 80, 0.03));
    r.tg_ts_sd = Some(2.5);
    let keep = (-1.2 * ratio.max(0.0)).exp();
    r.tasks = vec![
        task("arc-easy", 0.25 + 0.33 * keep, 500),
        task("arc-challenge", 0.25 + 0.07 * keep, 300),
        task("mmlu", 0.25 + 0.06 * keep, 1000),
        task("hellaswag", 0.25 + 0.18 * keep, 500),
    ];
    r.times.quantize_s = Some(4.0);
    r.times.perplexity_s = Some(9.0);
    r
}

/// SmolLM2-135M-like sweep over `SMOL_LADDER`, IQ1_S failed, ±`noise` relative PPL noise.
pub fn smollm2_with_noise(noise: f64) -> SweepResults {
    let mut r = results("SmolLM2-135M-Instruct", N_PARAMS);
    for (i, &(q, w, nom, bpw)) in SMOL_LADDER.iter().enumerate() {
        if q == "IQ1_S" {
            let mut f = RungResult::new(q, q);
            f.bit_width = Some(w);
            f.nominal_bpw = Some(nom);
            f.error = Some("quantize: llama.cpp refused IQ1_S for this model\n(details)".into());
            r.rungs.push(f);
            continue;
        }
        let noise_i = if q == "F16" { 0.0 } else { noise };
        r.rungs.push(smol_rung(i, q, w, nom, bpw, noise_i));
    }
    r.base = Some(r.rungs[0].clone());
    r
}

pub fn smollm2() -> SweepResults {
    smollm2_with_noise(0.01)
}

/// `smollm2()` plus three rungs off its curve: `TQ2_0` (a ternary type on a model not trained for
/// it: PPL 1.8 million at 2.07 bpw), `Q5_1` (30% worse than its neighbours, beyond the tolerance
/// and the error), `Q4_0` (8% worse, but within twice its ±6% error).
pub fn smollm2_with_misfits() -> SweepResults {
    let mut r = smollm2();
    for (i, (quant, bpw, factor, rel_err)) in [
        ("TQ2_0", 2.07_f64, 1.8e6 / true_ppl(2.07), 0.05),
        ("Q5_1", 5.6, 1.3, 0.012),
        ("Q4_0", 4.7, 1.08, 0.06),
    ]
    .into_iter()
    .enumerate()
    {
        let mut x = smol_rung(60 + i, quant, bpw.floor() as u32, bpw, bpw, 0.0);
        let ppl = true_ppl(bpw) * factor;
        x.ppl = Some(ppl);
        x.ppl_err = Some(ppl * rel_err);
        r.rungs.push(x);
    }
    r
}

/// The published Table 5 rows of one Qwen2.5 model: (quant, PPL, ±, tokens/s, GB, ARC-C, ARC-E, MMLU).
pub type QwenRow = (&'static str, f64, f64, f64, f64, f64, f64, f64);

pub const QWEN_05B: &[QwenRow] = &[
    ("Q2_K", 14.8206, 0.1111, 5593.6, 0.41, 0.43, 0.62, 0.231),
    ("Q3_K_M", 14.2463, 0.1062, 5343.97, 0.42, 0.35, 0.45, 0.236),
    ("Q4_K_M", 13.9797, 0.1039, 5370.62, 0.48, 0.39, 0.56, 0.235),
    ("Q5_K_M", 13.9324, 0.1038, 5385.33, 0.52, 0.39, 0.59, 0.231),
    ("Q6_K", 13.7029, 0.1018, 5427.74, 0.63, 0.37, 0.59, 0.231),
    ("Q8_0", 13.7042, 0.1018, 5465.18, 0.66, 0.38, 0.61, 0.231),
    ("F16", 13.6439, 0.1012, 4266.22, 1.27, 0.38, 0.61, 0.231),
];

pub const QWEN_15B: &[QwenRow] = &[
    ("Q2_K", 14.6341, 0.1034, 3814.78, 0.74, 0.47, 0.56, 0.315),
    ("Q3_K_M", 10.6066, 0.0733, 3630.17, 0.90, 0.68, 0.86, 0.579),
    ("Q4_K_M", 10.0107, 0.0684, 3843.72, 1.12, 0.75, 0.90, 0.586),
    ("Q5_K_M", 9.7016, 0.0659, 3494.1, 1.29, 0.75, 0.91, 0.603),
    ("Q6_K", 9.6790, 0.0658, 3543.53, 1.46, 0.74, 0.91, 0.603),
    ("Q8_0", 9.6617, 0.0657, 3265.56, 1.89, 0.75, 0.90, 0.598),
    ("F16", 9.6555, 0.0657, 2133.91, 3.56, 0.77, 0.90, 0.601),
];

/// A Qwen2.5 sweep carrying the published numbers (throughput as tg), plus extra rungs that the
/// table must not pick (Q4_K_S, Q3_K_L share columns with the ladder's types).
pub fn qwen(name: &str, rows: &[QwenRow]) -> SweepResults {
    let f16_gb = rows.iter().find(|r| r.0 == "F16").unwrap().4;
    let n_params = (f16_gb * 1e9 / 2.0) as u64;
    let mut r = results(name, n_params);
    let widths = [
        ("Q2_K", 2),
        ("Q3_K_M", 3),
        ("Q4_K_M", 4),
        ("Q5_K_M", 5),
        ("Q6_K", 6),
        ("Q8_0", 8),
        ("F16", 16),
    ];
    for &(q, ppl, err, tps, gb, arc_c, arc_e, mmlu) in rows {
        let mut x = RungResult::new(q, q);
        x.bit_width = widths.iter().find(|w| w.0 == q).map(|w| w.1);
        x.size_bytes = Some((gb * 1e9).round() as u64);
        x.bpw = Some(gb * 1e9 * 8.0 / n_params as f64);
        x.ppl = Some(ppl);
        x.ppl_err = Some(err);
        x.tg_ts = Some(tps);
        x.pp_ts = Some(tps * 3.0);
        x.tasks = vec![
            task("arc-challenge", arc_c, 1172),
            task("arc-easy", arc_e, 2376),
            task("mmlu", mmlu, 14042),
        ];
        if q != "F16" {
            x.kld = Some(kld(0.01
                * (ppl / rows.last().unwrap().1).ln().max(0.001)
                * 50.0));
        }
        r.rungs.push(x);
    }
    // Same columns as Q4_K_M / Q3_K_M with more bits than the ladder's type: must not be chosen.
    for (q, w, like, more_bits, ppl_factor) in [
        ("Q4_K_S", 4u32, "Q4_K_M", 0.05, 1.004),
        ("Q3_K_L", 3, "Q3_K_M", 0.3, 0.99),
    ] {
        let like = r.rungs.iter().find(|x| x.quant == like).unwrap();
        let mut x = RungResult::new(q, q);
        x.bit_width = Some(w);
        x.bpw = Some(like.bpw.unwrap() + more_bits);
        x.ppl = Some(like.ppl.unwrap() * ppl_factor);
        x.ppl_err = like.ppl_err;
        r.rungs.push(x);
    }
    r.base = Some(r.rungs.iter().find(|x| x.quant == "F16").unwrap().clone());
    r
}

pub fn qwen_05b() -> SweepResults {
    qwen("Qwen2.5-0.5B", QWEN_05B)
}

pub fn qwen_15b() -> SweepResults {
    qwen("Qwen2.5-1.5B", QWEN_15B)
}

/// Critical sparsity of the synthetic grid per method.
pub const P0_WANDA: f64 = 0.5;
pub const P0_MAGNITUDE: f64 = 0.35;

/// Perplexity of a pruned cell: the quant's PPL × a sparsity curve with collapse beyond `p0`
/// (power law in density 1 − p, exponential beyond, the fit's own model).
pub fn pruned_ppl(quant_ppl: f64, p: f64, p0: f64) -> f64 {
    let d = 1.0 - p;
    let d0 = 1.0 - p0;
    let mut ln = -0.3 * d.max(d0).ln();
    if d < d0 {
        ln += 6.0 * (d0 - d);
    }
    quant_ppl * ln.exp()
}

/// SmolLM2-like prune × quantize grid: F16, Q8_0, Q4_K_M, Q2_K × {wanda, magnitude} × 0.1 ... 0.8.
pub fn grid() -> SweepResults {
    let mut r = smollm2_with_noise(0.0);
    r.model.name = "SmolLM2-135M-grid".into();
    r.rungs
        .retain(|x| ["F16", "Q8_0", "Q4_K_M", "Q2_K"].contains(&x.quant.as_str()));
    let quants: Vec<RungResult> = r.rungs.clone();
    let mut i = 0;
    for (method, p0) in [("wanda", P0_WANDA), ("magnitude", P0_MAGNITUDE)] {
        for q in &quants {
            for k in 1..=8 {
                let level = k as f64 / 10.0;
                let mut x = q.clone();
                x.rung = format!("{}+{method}{level}", q.quant);
                x.prune = Some(PruneInfo {
                    method: method.into(),
                    level,
                    achieved_sparsity: Some(level * 0.98),
                    ..Default::default()
                });
                let ppl = pruned_ppl(q.ppl.unwrap(), level * 0.98, p0) * wiggle(i, 0.005);
                i += 1;
                x.ppl = Some(ppl);
                x.ppl_err = Some(ppl * 0.012);
                x.tasks.clear();
                r.rungs.push(x);
            }
        }
    }
    r
}

/// Saves `r` as `DIR/NAME/results.json` and returns the folder.
pub fn save(dir: &Path, name: &str, r: &SweepResults) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    r.save(&d).unwrap();
    d
}
