//! KL-divergence: the compact base against the full-vocabulary computation, the compact base through
//! the command line, and llama.cpp's own `--kl-divergence-base` files against llama-perplexity.

use crate::support;
use crate::support::mpt;

use crate::support::measure::{heavy, mpt_ok, path_str, quant, quant_with_imatrix, side_by_side};
use mpt_gguf::engine::{Model, ModelOptions};
use mpt_gguf::logits::LogSumExp;
use mpt_gguf::measure::chunks::{ChunkPlan, ChunkRunner};
use mpt_gguf::measure::compare_full;
use mpt_gguf::measure::kld::KldAccumulator;
use mpt_gguf::measure::kld_base::{DEFAULT_TAIL_SAMPLES, DEFAULT_TOP_K};
use mpt_gguf::measure::kld_record::{sample_offset, BaseRecord};
use mpt_gguf::measure::text;

/// The proof behind the compact base's design: on the same logits, its mean KLD is within 1% of the
/// full-vocabulary value (IQ1_M: collapsed, KLD near 1; Q2_K: heavy tails; Q8_0: tiny divergences), and Δp, same-top and the PPL
/// ratio are the same numbers.
#[test]
fn compact_base_is_within_one_percent_of_the_full_vocabulary_kld() {
    let load = |p: &std::path::Path| Model::load(p, &ModelOptions::default()).unwrap();
    let base = load(&support::model_f16());
    let quants = [
        ("IQ1_M", load(&quant_with_imatrix("IQ1_M"))),
        ("Q2_K", load(&quant("Q2_K"))),
        ("Q8_0", load(&quant("Q8_0"))),
    ];
    let text = text::read_text(&support::eval_text()).unwrap();
    let tokens = text::tokenize(&base, &text[..200_000]).unwrap();
    let plan = ChunkPlan::new(512, 2048, 8).unwrap();
    let _guard = heavy();
    // Three single-threaded contexts decoding side by side (no busy-waiting barriers on a busy machine).
    let mut base_runner = ChunkRunner::new(&base, &plan, 1).unwrap();
    let mut runners: Vec<_> = quants
        .iter()
        .map(|(_, m)| ChunkRunner::new(m, &plan, 1).unwrap())
        .collect();
    let mut compact = vec![KldAccumulator::default(); quants.len()];
    let mut full = vec![KldAccumulator::default(); quants.len()];
    let mut index = 0u64;
    for (first, n) in plan.groups() {
        std::thread::scope(|s| {
            s.spawn(|| base_runner.eval(&tokens, first, n).unwrap());
            for r in &mut runners {
                s.spawn(|| r.eval(&tokens, first, n).unwrap());
            }
        });
        for seq in 0..n {
            let base_rows = base_runner.rows(seq).unwrap();
            let quant_rows: Vec<_> = runners.iter().map(|r| r.rows(seq).unwrap()).collect();
            for (k, row) in base_rows.iter().enumerate() {
                let tok = tokens[(first + seq) * 512 + 256 + k + 1] as usize;
                let lse = LogSumExp::of(row);
                let u = sample_offset(index);
                let record =
                    BaseRecord::capture(row, &lse, tok, DEFAULT_TOP_K, DEFAULT_TAIL_SAMPLES, u);
                for (q, rows) in quant_rows.iter().enumerate() {
                    compact[q].add(&record.compare(rows[k], tok));
                    full[q].add(&compare_full(row, rows[k], tok));
                }
                index += 1;
            }
        }
    }
    assert_eq!(index, 8 * 255);
    for (q, (name, _)) in quants.iter().enumerate() {
        let (c, f) = (compact[q].stats(), full[q].stats());
        let rel = (c.kld_mean - f.kld_mean) / f.kld_mean;
        eprintln!(
            "{name}: mean KLD full {:.6} compact {:.6} ({:+.3}%), median {:.6} / {:.6}, p99 {:.5} / {:.5}, same top {:.4}, Δp {:.5}",
            f.kld_mean, c.kld_mean, 100.0 * rel, f.kld.median, c.kld.median, f.kld.p99, c.kld.p99, f.same_top, f.dp_mean
        );
        assert!(
            rel.abs() < 0.01,
            "{name}: compact mean KLD {:+.3}% off",
            100.0 * rel
        );
        assert_eq!(c.same_top, f.same_top, "{name}: same top token");
        for (what, a, b) in [
            ("Δp mean", c.dp_mean, f.dp_mean),
            ("Δp rms", c.dp_rms, f.dp_rms),
            ("Δp median", c.dp.median, f.dp.median),
            ("Δp min", c.dp.min, f.dp.min),
            ("Δp max", c.dp.max, f.dp.max),
            ("ln PPL ratio", c.ln_ppl_ratio, f.ln_ppl_ratio),
            ("PPL(Q)", c.ppl, f.ppl),
        ] {
            // The base's correct-token log-probability is stored as f32: equal to ~1e-7.
            assert!(
                (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                "{name}: {what} {a} vs {b}"
            );
        }
    }
    assert!(
        full[1].stats().kld_mean > 10.0 * full[2].stats().kld_mean,
        "Q2_K diverges more than Q8_0"
    );
}

fn kld_value(out: &str, label: &str) -> f64 {
    let line = out
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no '{label}' in:\n{out}"));
    let v = line.split(':').nth(1).unwrap().trim();
    v.split(['±', '%']).next().unwrap().trim().parse().unwrap()
}

/// The saved compact base through the command line gives what `--base MODEL` (full vocabulary, both
/// models loaded) gives, and refuses runs that cannot be compared.
#[test]
fn saved_compact_base_matches_base_model_run() {
    let dir = tempfile::tempdir().unwrap();
    let f16 = support::model_f16();
    let q = quant("Q2_K");
    let text = support::eval_text();
    let kld = dir.path().join("f16.kld");
    let common_args = ["-f", path_str(&text), "-c", "128", "--chunks", "6"];
    let _guard = heavy();
    let mut args = vec![
        "perplexity",
        "-m",
        path_str(&f16),
        "--save-kld-base",
        path_str(&kld),
    ];
    args.extend(common_args);
    let base_out = mpt_ok(&args);
    assert!(base_out.contains("PPL = "));
    let size = std::fs::metadata(&kld).unwrap().len();
    // 6 chunks × 63 scored tokens × (8 + 8·64) bytes, plus tokens and header.
    assert!(
        size > 6 * 63 * 520 && size < 6 * 63 * 520 + 6 * 128 * 4 + 4096,
        "{size}"
    );

    // The two comparisons side by side, a thread each.
    let mut args = vec![
        "perplexity",
        "-m",
        path_str(&q),
        "--base",
        path_str(&f16),
        "-t",
        "1",
    ];
    args.extend(common_args);
    let (compact, full) = std::thread::scope(|s| {
        let compact = s.spawn(|| {
            mpt_ok(&[
                "perplexity",
                "-m",
                path_str(&q),
                "--kld-base",
                path_str(&kld),
                "-t",
                "1",
            ])
        });
        let full = mpt_ok(&args);
        (compact.join().unwrap(), full)
    });
    for label in [
        "Same top p",
        "Mean    Δp",
        "RMS Δp",
        "Mean PPL(Q) ",
        "Mean PPL(base)",
        "Mean ln(PPL(Q)/PPL(base))",
    ] {
        assert_eq!(
            kld_value(&compact, label),
            kld_value(&full, label),
            "{label}"
        );
    }
    let (c, f) = (
        kld_value(&compact, "Mean    KLD"),
        kld_value(&full, "Mean    KLD"),
    );
    // 378 tokens only: the 1% bound is the test above; here the two paths must agree closely.
    assert!((c - f).abs() < 0.03 * f, "compact {c} vs full {f}");
    let ppl = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("PPL = "))
            .unwrap()
            .to_string()
    };
    assert_eq!(ppl(&compact), ppl(&full));

    // The same text may be given; a different one, or other settings, are refused.
    let ok = mpt([
        "perplexity",
        "-m",
        path_str(&q),
        "--kld-base",
        path_str(&kld),
        "-f",
        path_str(&text),
        "-c",
        "128",
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let other = dir.path().join("other.txt");
    std::fs::write(&other, "A different text entirely. ".repeat(400)).unwrap();
    let bad = mpt([
        "perplexity",
        "-m",
        path_str(&q),
        "--kld-base",
        path_str(&kld),
        "-f",
        path_str(&other),
    ]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2));
    assert!(err.contains("does not give the base's tokens"), "{err}");
    let bad = mpt([
        "perplexity",
        "-m",
        path_str(&q),
        "--kld-base",
        path_str(&kld),
        "-c",
        "256",
    ]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        err.contains("computed with -c 128, but this run uses -c 256"),
        "{err}"
    );
    let bad = mpt([
        "perplexity",
        "-m",
        path_str(&q),
        "--kld-base",
        path_str(&kld),
        "--chunks",
        "3",
    ]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("holds 6 chunks, but this run asks for --chunks 3"),
        "{err}"
    );
}

/// The report sections llama-perplexity prints after `--kl-divergence` (its log prefix removed).
fn kld_report(out: &str) -> Vec<String> {
    let strip = |l: &str| -> String {
        // llama.cpp's log lines may carry a `0.01.234.567 I ` timestamp prefix.
        let mut parts = l.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(ts), Some("I"), Some(rest))
                if ts.chars().all(|c| c.is_ascii_digit() || c == '.') =>
            {
                rest.to_string()
            }
            _ => l.to_string(),
        }
    };
    let lines: Vec<String> = out.lines().map(strip).collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("====== Perplexity statistics"))
        .unwrap_or_else(|| panic!("no statistics in:\n{out}"));
    let end = lines[start..]
        .iter()
        .position(|l| l.starts_with("Same top p"))
        .unwrap_or_else(|| panic!("no 'Same top p' in:\n{out}"));
    lines[start..=start + end]
        .iter()
        .filter(|l| !l.is_empty())
        .cloned()
        .collect()
}

/// llama.cpp's `--kl-divergence-base` file: ours is the file llama-perplexity writes, and KLD from it
/// is llama-perplexity's report, line for line.
#[test]
fn llama_cpp_logits_files_interoperate() {
    let dir = tempfile::tempdir().unwrap();
    let f16 = support::model_f16();
    let q = quant("Q2_K");
    let text = support::eval_text();
    let (theirs, ours) = (
        dir.path().join("theirs.logits"),
        dir.path().join("ours.logits"),
    );
    let settings = ["-c", "256", "--chunks", "4"];
    let _guard = heavy();
    let mut args = vec![
        "-m",
        path_str(&f16),
        "-f",
        path_str(&text),
        "--kl-divergence-base",
        path_str(&theirs),
    ];
    args.extend(settings);
    let mut ours_args = vec!["perplexity"];
    ours_args.extend(args.iter().map(|a| {
        if *a == path_str(&theirs) {
            path_str(&ours)
        } else {
            a
        }
    }));
    let (_, out) = side_by_side("llama-perplexity", &args, &ours_args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (a, b) = (
        std::fs::read(&theirs).unwrap(),
        std::fs::read(&ours).unwrap(),
    );
    assert_eq!(a.len(), b.len(), "file sizes");
    let header = 20 + 4 * 256 * 4;
    assert_eq!(a[..header], b[..header], "magic, sizes and tokens");
    let differing = a[header..]
        .chunks(2)
        .zip(b[header..].chunks(2))
        .filter(|(x, y)| x != y)
        .count();
    let total = (a.len() - header) / 2;
    eprintln!("logits files: {differing} of {total} values differ");
    assert!(
        differing * 1000 <= total,
        "{differing} of {total} 16-bit values differ"
    );

    let args = vec![
        "-m",
        path_str(&q),
        "--kl-divergence-base",
        path_str(&theirs),
        "--kl-divergence",
        "-c",
        "256",
    ];
    let mut ours_args = args.clone();
    ours_args.insert(0, "perplexity");
    let (theirs_out, out) = side_by_side("llama-perplexity", &args, &ours_args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs_report = kld_report(&theirs_out);
    let ours_report = kld_report(&String::from_utf8_lossy(&out.stdout));
    assert!(theirs_report.len() >= 35, "{theirs_report:#?}");
    assert_eq!(ours_report, theirs_report);
}
