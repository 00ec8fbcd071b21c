//! Renderings of saved results: results.csv and table5.csv parse back with the right values,
//! table5 reproduces the published layout, charts are valid PNG and SVG.
//! Set MPT_REPORT_SAMPLES=DIR to keep the rendered files for a look.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::support::report_fixtures as fx;
use mpt_gguf::report::{self, ReportOptions, Table5};
use mpt_gguf::results::SweepResults;

fn out_dir(name: &str) -> (Option<tempfile::TempDir>, PathBuf) {
    match std::env::var_os("MPT_REPORT_SAMPLES") {
        Some(d) => {
            let p = PathBuf::from(d).join(name);
            let _ = std::fs::remove_dir_all(&p);
            (None, p)
        }
        None => {
            let t = tempfile::tempdir().unwrap();
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    }
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<HashMap<String, String>>) {
    let mut rd = csv::Reader::from_path(path).unwrap();
    let head: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    let rows = rd
        .records()
        .map(|r| {
            let r = r.unwrap();
            head.iter()
                .cloned()
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect();
    (head, rows)
}

fn num(row: &HashMap<String, String>, col: &str) -> f64 {
    row[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col} = '{}' is not a number", row[col]))
}

#[test]
fn results_csv_has_one_row_per_rung_with_the_saved_numbers() {
    let r = fx::smollm2();
    let (_t, dir) = out_dir("smollm2");
    let written = report::render_all(std::slice::from_ref(&r), &dir).unwrap();
    assert!(written.contains(&dir.join("results.csv")));
    let (head, rows) = read_csv(&dir.join("results.csv"));
    assert_eq!(
        rows.len(),
        r.rungs.len(),
        "the base is the F16 rung, not an extra row"
    );
    for col in [
        "model",
        "rung",
        "bpw",
        "size_gb",
        "ppl",
        "ppl_err",
        "ln_ppl_ratio",
        "kld_mean",
        "kld_median",
        "kld_p99",
        "same_top_pct",
        "dp_rms_pct",
        "pp_ts",
        "pp_ts_sd",
        "tg_ts",
        "tg_ts_sd",
        "arc_easy_acc",
        "arc_easy_acc_err",
        "mmlu_acc",
        "prune_method",
        "prune_level",
        "compression_ratio",
        "theoretical_compression_rate",
        "drop_overall_pct",
        "q_score",
        "retention",
        "error",
    ] {
        assert!(
            head.iter().any(|h| h == col),
            "missing column {col}: {head:?}"
        );
    }
    for (row, rung) in rows.iter().zip(&r.rungs) {
        assert_eq!(row["rung"], rung.rung);
        assert_eq!(row["model"], "SmolLM2-135M-Instruct");
        if let Some(e) = &rung.error {
            assert_eq!(row["error"], e.replace('\n', " "));
            assert_eq!(row["ppl"], "");
            continue;
        }
        assert_eq!(num(row, "ppl"), rung.ppl.unwrap());
        assert_eq!(num(row, "bpw"), rung.bpw.unwrap());
        assert_eq!(num(row, "size_bytes") as u64, rung.size_bytes.unwrap());
        assert_eq!(num(row, "tg_ts"), rung.tg_ts.unwrap());
        assert_eq!(num(row, "arc_easy_acc"), rung.task("arc-easy").unwrap().acc);
        let base_size = r.base.as_ref().unwrap().size_bytes.unwrap() as f64;
        let ratio = num(row, "compression_ratio");
        assert!((ratio - base_size / rung.size_bytes.unwrap() as f64).abs() < 1e-9);
        // Q by hand: 0.8·0.7·100·acc(hellaswag) − 0.7·PPL + 0.2·tg (IFEval, TruthfulQA not measured).
        let q = 0.8 * 0.7 * 100.0 * rung.task("hellaswag").unwrap().acc - 0.7 * rung.ppl.unwrap()
            + 0.2 * rung.tg_ts.unwrap();
        assert!(
            (num(row, "q_score") - q).abs() < 1e-9,
            "{} {q}",
            row["q_score"]
        );
        if rung.quant == "Q4_K_M" {
            assert!((num(row, "theoretical_compression_rate") - (1.0 - 4.5 / 16.0)).abs() < 1e-12);
            assert_eq!(row["within_tolerance"], "false");
        }
        if rung.quant == "F16" {
            assert_eq!(num(row, "drop_overall_pct"), 0.0);
            assert_eq!(row["kld_mean"], "");
            assert_eq!(row["within_tolerance"], "true");
        }
    }
}

/// Rows of the published table (`| **Model** | **Indicator** | cells... |`) by model and indicator.
fn reference_table() -> Vec<(String, String, Vec<String>)> {
    let path = crate::support::repo().join("tests/it/data/table5_published.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut model = String::new();
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|--"))
    {
        let cells: Vec<String> = line
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().replace("**", ""))
            .collect();
        if cells[1] == "Indicator" {
            out.push(("header".into(), String::new(), cells[2..].to_vec()));
            continue;
        }
        if !cells[0].is_empty() {
            model = cells[0].clone();
        }
        out.push((model.clone(), cells[1].clone(), cells[2..].to_vec()));
    }
    out
}

#[test]
fn table5_reproduces_the_published_layout_and_cells() {
    let results = [fx::qwen_05b(), fx::qwen_15b()];
    let table = Table5::build(&results, &ReportOptions::default());
    let bytes = table.to_csv().unwrap();
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&bytes[..]);
    let rows: Vec<Vec<String>> = rd
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    let reference = reference_table();
    assert_eq!(rows[0][..2], ["Main Model", "Indicator"]);
    assert_eq!(rows[0][2..], reference[0].2[..], "columns 1-bit ... 16-bit");
    // Our blocks: the reference rows in order, then KLD and bpw.
    let labels = [
        "Quant Scheme",
        "PPL",
        "Tokens/s",
        "Param(GB)",
        "ARC-C",
        "ARC-E",
        "MMLU",
        "KLD",
        "bpw",
    ];
    assert_eq!(rows.len(), 1 + 2 * labels.len());
    let mut model = String::new();
    let mut checked = 0;
    for row in &rows[1..] {
        if !row[0].is_empty() {
            model = row[0].clone();
        }
        assert!(labels.contains(&row[1].as_str()), "{row:?}");
        if let Some((_, _, cells)) = reference
            .iter()
            .find(|(m, l, _)| *m == model && *l == row[1])
        {
            assert_eq!(row[2..], cells[..], "{model} {}", row[1]);
            checked += 1;
        } else {
            assert!(row[1] == "KLD" || row[1] == "bpw");
            assert_eq!(row[2], "-", "1-bit was not measured");
        }
    }
    assert_eq!(checked, 14, "every published row compared");
    // Which rung fills a shared column: the ladder's type, never Q4_K_S / Q3_K_L.
    assert_eq!(table.blocks[0].chosen[3].as_deref(), Some("Q4_K_M"));
    assert_eq!(table.blocks[0].chosen[2].as_deref(), Some("Q3_K_M"));
    assert_eq!(table.blocks[0].chosen[0], None);
    let md = table.to_markdown();
    assert!(
        md.contains("| **Qwen2.5-0.5B** | **Quant Scheme** | - | Q2_K | Q3_K_M |"),
        "{md}"
    );
}

#[test]
fn table5_picks_the_most_bits_without_the_ladder_type_and_marks_failures() {
    let mut r = fx::smollm2();
    r.rungs
        .retain(|x| x.quant != "Q4_K_M" && x.quant != "IQ1_M");
    let t = Table5::build(std::slice::from_ref(&r), &ReportOptions::default());
    let b = &t.blocks[0];
    // 4-bit: Q4_K_S (4.6 bpw) beats IQ4_XS (4.3); 1-bit: only IQ1_S, which failed.
    assert_eq!(b.chosen[3].as_deref(), Some("Q4_K_S"));
    assert_eq!(b.rows[0].1[0], "IQ1_S (failed)");
    assert_eq!(b.rows[1].1[0], "-");
    assert_eq!(b.rows[0].1[7], "FP16");
    let kld = &b.rows.iter().find(|r| r.0 == "KLD").unwrap().1;
    assert!(kld[1].contains(" ± "), "{kld:?}");
    let extra: Vec<&str> = b.rows.iter().map(|r| r.0.as_str()).collect();
    assert!(
        extra.contains(&"HellaSwag"),
        "measured tasks beyond the layout get rows: {extra:?}"
    );
}

fn check_png(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
    let dec = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    // Not blank: some pixels differ from white.
    assert!(buf.chunks(3).any(|p| p != [255, 255, 255]));
    (info.width, info.height)
}

fn svg_text(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let doc =
        roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.is_text())
        .map(|n| n.text().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn charts_are_valid_png_and_svg_with_the_marks() {
    let r = fx::smollm2();
    let (_t, dir) = out_dir("smollm2-charts");
    let charts = dir.join("charts");
    let written = report::render_all(std::slice::from_ref(&r), &dir).unwrap();
    for name in [
        "ppl_vs_bpw",
        "ppl_vs_size",
        "kld_vs_bpw",
        "tps_vs_bits",
        "accuracy_vs_bits",
        "fig7_schemes",
    ] {
        let png = charts.join(format!("{name}.png"));
        let svg = charts.join(format!("{name}.svg"));
        assert!(written.contains(&png) && written.contains(&svg), "{name}");
        let (w, h) = check_png(&png);
        assert!(w >= 1000 && h >= 600, "{name}: {w}x{h}");
        let text = svg_text(&svg);
        assert!(
            ["bits per weight", "scheme", "file size (GB"]
                .iter()
                .any(|l| text.contains(l)),
            "{name}: axis label"
        );
        if name != "tps_vs_bits" {
            assert!(text.contains("3-bit threshold"), "{name}: {text}");
            assert!(text.contains("fitted b0 = 3."), "{name}: {text}");
            assert!(text.contains("95% CI of b0"), "{name}");
            assert!(text.contains("safe zone"), "{name}");
        }
    }
    let svg = svg_text(&charts.join("ppl_vs_bpw.svg"));
    assert!(
        svg.contains("Perplexity vs bits per weight") && svg.contains("Q4_K_M"),
        "{svg}"
    );
    assert!(!svg.contains("not fitted"), "every rung is on the curve");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("![Perplexity vs bits per weight](charts/ppl_vs_bpw.png)"));
    assert!(md.contains("phase transition at b0 = 3."), "{md}");
    assert!(md.contains("IQ1_S failed"), "{md}");
    assert!(md.contains("| **SmolLM2-135M-Instruct** | **Quant Scheme** |"));
    assert!(md.contains("| context | 512 |"));
}

#[test]
fn rungs_left_out_of_the_fit_are_drawn_apart_from_the_line() {
    let r = fx::smollm2_with_misfits();
    let (_t, dir) = out_dir("smollm2-misfits");
    report::render_all(std::slice::from_ref(&r), &dir).unwrap();
    for name in ["ppl_vs_bpw", "ppl_vs_size", "kld_vs_bpw"] {
        let text = svg_text(&dir.join("charts").join(format!("{name}.svg")));
        assert!(
            text.contains("not fitted: beaten by a rung"),
            "{name}: {text}"
        );
    }
    // Left-out rungs keep their name labels.
    let ppl = svg_text(&dir.join("charts/ppl_vs_bpw.svg"));
    assert!(ppl.contains("TQ2_0"), "{ppl}");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("left out of the fit") && md.contains("TQ2_0 (2.07 bpw"),
        "{md}"
    );
}

#[test]
fn several_models_share_charts_and_get_one_block_each() {
    let results = [fx::smollm2(), fx::qwen_05b(), fx::qwen_15b()];
    let (_t, dir) = out_dir("three-models");
    let charts = dir.join("charts");
    report::render_all(&results, &dir).unwrap();
    let text = svg_text(&charts.join("fig7_schemes.svg"));
    for m in [
        "SmolLM2-135M-Instruct",
        "Qwen2.5-0.5B",
        "Qwen2.5-1.5B",
        "ARC-Easy",
        "ARC-Challenge",
        "MMLU",
        "WikiText PPL",
    ] {
        assert!(text.contains(m), "{m} missing from fig7");
    }
    let (_, rows) = read_csv(&dir.join("results.csv"));
    assert_eq!(
        rows.len(),
        results.iter().map(|r| r.rungs.len()).sum::<usize>()
    );
    let t = std::fs::read_to_string(dir.join("table5.csv")).unwrap();
    assert_eq!(
        t.lines()
            .filter(|l| l.starts_with("Qwen2.5") || l.starts_with("SmolLM2"))
            .count(),
        3
    );
}

#[test]
fn grid_results_get_pruning_charts_and_columns() {
    let r = fx::grid();
    let (_t, dir) = out_dir("grid");
    let charts = dir.join("charts");
    let written = report::render_all(std::slice::from_ref(&r), &dir).unwrap();
    for name in [
        "ppl_vs_sparsity",
        "ppl_vs_effective_bpw",
        "prune_quant_heatmap",
    ] {
        assert!(
            written.contains(&charts.join(format!("{name}.png"))),
            "{name}"
        );
        check_png(&charts.join(format!("{name}.png")));
    }
    let text = svg_text(&charts.join("ppl_vs_sparsity.svg"));
    assert!(
        text.contains("wanda pruning") && text.contains("F16: p0 = "),
        "{text}"
    );
    // The synthetic grid collapses beyond 0.5 (wanda) and 0.35 (magnitude) achieved sparsity.
    let p0s: Vec<f64> = text
        .split("p0 = ")
        .skip(1)
        .map(|s| s.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(p0s.len(), 8, "{p0s:?}");
    assert!(
        p0s[..4].iter().all(|p| (p - fx::P0_WANDA).abs() < 0.01),
        "{p0s:?}"
    );
    assert!(
        p0s[4..].iter().all(|p| (p - fx::P0_MAGNITUDE).abs() < 0.01),
        "{p0s:?}"
    );
    let heat = svg_text(&charts.join("prune_quant_heatmap.svg"));
    assert!(
        heat.contains("wanda 0.5") && heat.contains("Q4_K_M"),
        "{heat}"
    );
    let (_, rows) = read_csv(&dir.join("results.csv"));
    let cell = rows
        .iter()
        .find(|r| r["rung"] == "Q4_K_M+wanda0.5")
        .unwrap();
    assert_eq!(cell["prune_method"], "wanda");
    assert_eq!(num(cell, "prune_level"), 0.5);
    assert!((num(cell, "sparsity") - 0.49).abs() < 1e-12);
    // 1 − (1 − 0.49)·4.5/16
    assert!((num(cell, "theoretical_compression_rate") - (1.0 - 0.51 * 4.5 / 16.0)).abs() < 1e-12);
    assert!((num(cell, "effective_bpw") - 4.89 * 0.51).abs() < 1e-12);
}

#[test]
fn an_empty_sweep_renders_tables_and_says_what_was_not_drawn() {
    let r: SweepResults = {
        let mut r = fx::smollm2();
        for x in &mut r.rungs {
            x.error = Some("interrupted".into());
        }
        r.base = None;
        r
    };
    let (_t, dir) = out_dir("empty");
    let written = report::render_all(std::slice::from_ref(&r), &dir).unwrap();
    assert!(
        written
            .iter()
            .all(|p| p.extension().is_none_or(|e| e != "png")),
        "{written:?}"
    );
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("not drawn: ppl_vs_bpw"), "{md}");
    assert!(md.contains("no fit: 0 measured bit widths"), "{md}");
}
