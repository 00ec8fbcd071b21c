//! Sensitivity, recipes and `quantize --recipe`: a group's measured cost against `perplexity --base` of
//! a file with only that group quantized (made by llama.cpp's quantizer and dequantized back), recipes
//! against llama-quantize's `--tensor-type-file` (same bytes) and the stock file (no larger), and the
//! refusals a user meets.

use crate::support;
use crate::support::{mpt, refused};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mpt_gguf::quant::tensor_type_file::TensorTypeFile;
use mpt_gguf::recipe::SensitivityTable;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const CTX: &str = "64";
const CHUNKS: &str = "2";

/// A small table: per kind, 2 chunks of 64 tokens, Q4_0 and Q8_0 plus the types of stock Q4_K_M and
/// Q8_0, with the importance matrix.
fn table() -> PathBuf {
    // Made before the fixture lock is taken: fixture() does not nest.
    let (model, calib, imatrix) = (
        support::model_f16(),
        support::calibration_text(),
        support::imatrix_f16(),
    );
    support::fixture("sens-kind-v1.json", |out| {
        let _heavy = support::measure::heavy();
        ok(
            &mpt([
                "sensitivity",
                s(&model),
                "--calib",
                s(&calib),
                "--imatrix",
                s(&imatrix),
                "--group",
                "kind",
                "-c",
                CTX,
                "--chunks",
                CHUNKS,
                "--stock",
                "Q4_K_M,Q8_0",
                "--types",
                "q4_0,q8_0",
                "-t",
                "2",
                "-o",
                s(out),
            ]),
            "mpt-gguf sensitivity",
        );
    })
}

#[test]
fn a_groups_cost_is_what_perplexity_measures_with_only_that_group_quantized() {
    let table = SensitivityTable::open(&table()).unwrap();
    let group = table
        .groups
        .iter()
        .find(|g| g.name == "attn_v.weight")
        .unwrap();
    assert_eq!(group.tensors.len(), 30);
    let choice = group
        .choices
        .iter()
        .find(|c| c.ggml_type.ggml_name() == "q4_0")
        .unwrap();
    assert!(choice.kld > 0.0);

    // llama.cpp's quantizer: attn_v in Q4_0 with the same importance matrix, everything else F16;
    // then dequantized back to F16, which is what the sensitivity run computed with.
    let dir = tempfile::tempdir().unwrap();
    let (q, deq) = (dir.path().join("q.gguf"), dir.path().join("deq.gguf"));
    let f16 = support::model_f16();
    let imatrix = support::imatrix_f16();
    let _heavy = support::measure::heavy();
    ok(
        &mpt([
            "quantize",
            "--imatrix",
            s(&imatrix),
            "--tensor-type",
            r"attn_v\.weight$=q4_0",
            "--tensor-type",
            ".*=f16",
            s(&f16),
            s(&q),
            "Q8_0",
        ]),
        "quantize",
    );
    ok(
        &mpt(["quantize", "--allow-requantize", s(&q), s(&deq), "F16"]),
        "dequantize",
    );
    let json = ok(
        &mpt([
            "perplexity",
            "-m",
            s(&deq),
            "--base",
            s(&f16),
            "-f",
            s(&support::calibration_text()),
            "-c",
            CTX,
            "--chunks",
            CHUNKS,
            "--json",
            "-",
        ]),
        "perplexity --base",
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let reference = v["kld"]["stats"]["kld_mean"].as_f64().unwrap();
    let rel = (choice.kld - reference).abs() / reference;
    assert!(
        rel < 0.01,
        "sensitivity {} vs perplexity --base {reference}",
        choice.kld
    );
    // A type the tensor is already exactly in costs nothing: the F16 input.
    assert_eq!(group.choices[0].kld, 0.0);
}

#[test]
fn a_recipe_like_q4_k_m_is_no_larger_applied_and_the_same_bytes_as_llama_quantize() {
    let table_path = table();
    let dir = tempfile::tempdir().unwrap();
    let recipe = dir.path().join("recipe.txt");
    let f16 = support::model_f16();
    let imatrix = support::imatrix_f16();
    ok(
        &mpt([
            "recipe",
            s(&table_path),
            "--like",
            "q4_k_m",
            "-o",
            s(&recipe),
            "-m",
            s(&f16),
        ]),
        "recipe",
    );
    let text = std::fs::read_to_string(&recipe).unwrap();
    assert!(text
        .split_whitespace()
        .all(|t| t.contains('=') && !t.contains('#')));
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("recipe.json")).unwrap()).unwrap();
    assert!(meta["tensor_bytes"].as_u64() <= meta["budget_tensor_bytes"].as_u64());
    let stock_kld = meta["stock_within_budget"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "Q4_K_M")
        .unwrap()["predicted_kld"]
        .as_f64()
        .unwrap();
    assert!(meta["predicted_kld"].as_f64().unwrap() <= stock_kld);

    let (stock, ours, theirs) = (
        dir.path().join("stock.gguf"),
        dir.path().join("ours.gguf"),
        dir.path().join("theirs.gguf"),
    );
    let _heavy = support::measure::heavy();
    for (out, extra) in [(&stock, None), (&ours, Some(&recipe))] {
        let mut args = vec!["quantize", "--imatrix", s(&imatrix)];
        if let Some(r) = extra {
            args.extend(["--recipe", s(r)]);
        }
        args.extend([s(&f16), s(out), "Q4_K_M"]);
        ok(&mpt(args), "quantize");
    }
    let o = Command::new(support::require_reference("llama-quantize"))
        .args(["--imatrix", s(&imatrix), "--tensor-type-file", s(&recipe)])
        .args([s(&f16), s(&theirs), "Q4_K_M"])
        .output()
        .unwrap();
    ok(&o, "llama-quantize --tensor-type-file");
    assert!(
        std::fs::read(&ours).unwrap() == std::fs::read(&theirs).unwrap(),
        "mpt-gguf quantize --recipe and llama-quantize --tensor-type-file wrote different bytes"
    );
    assert!(std::fs::metadata(&ours).unwrap().len() <= std::fs::metadata(&stock).unwrap().len());
    let parsed = TensorTypeFile::open(&recipe).unwrap();
    let written = mpt_gguf::engine::open_gguf(&ours).unwrap();
    let mut named = 0;
    for t in written.tensors() {
        if let Some(ty) = parsed.type_for(&t.name) {
            assert_eq!(ty, t.ggml_type, "{}", t.name);
            named += 1;
        }
    }
    assert_eq!(
        named, 211,
        "the recipe names every quantized tensor, token_embd included"
    );
}

#[test]
fn bad_tables_targets_and_recipes_are_refused() {
    let table_path = table();
    let dir = tempfile::tempdir().unwrap();
    let f16 = support::model_f16();
    let recipe = dir.path().join("r.txt");
    let r = s(&recipe);

    // A table measured on another model: one tensor's shape differs.
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&table_path).unwrap()).unwrap();
    v["model"]["tensors"][5]["dims"][1] = serde_json::json!(7);
    let other = dir.path().join("other.json");
    std::fs::write(&other, serde_json::to_vec(&v).unwrap()).unwrap();
    refused(
        &mpt([
            "recipe",
            s(&other),
            "--like",
            "Q4_K_M",
            "-o",
            r,
            "-m",
            s(&f16),
        ]),
        &["measured on another model", "other.json"],
    );
    std::fs::write(&other, b"{\"version\": 1}").unwrap();
    refused(
        &mpt(["recipe", s(&other), "--like", "Q4_K_M", "-o", r]),
        &["other.json", "not a sensitivity table"],
    );

    let t = s(&table_path);
    refused(
        &mpt(["recipe", t, "--target-bpw", "1", "-o", r]),
        &["below the smallest"],
    );
    refused(
        &mpt(["recipe", t, "--target-bpw", "40", "-o", r]),
        &["above the largest"],
    );
    refused(
        &mpt(["recipe", t, "--like", "Q3_K_M", "-o", r]),
        &["no stock mix of Q3_K_M"],
    );
    assert!(!recipe.exists());

    // Recipes quantize refuses before writing anything, and one llama.cpp does not apply.
    let out = dir.path().join("out.gguf");
    for (text, fragment) in [
        (r"^blk\.99\.attn_q\.weight$=q4_0", "matches no tensor"),
        ("# a comment", "has no '='"),
        (r"^blk\.0\.attn_q\.weight$=q4_k", "cannot store"),
    ] {
        std::fs::write(&recipe, text).unwrap();
        refused(
            &mpt(["quantize", "--recipe", r, s(&f16), s(&out), "Q4_K_M"]),
            &["r.txt", fragment],
        );
        assert!(!out.exists());
    }
    std::fs::write(&recipe, r"^token_embd\.weight$=q4_0").unwrap();
    refused(
        &mpt([
            "quantize",
            "--recipe",
            r,
            "--token-embedding-type",
            "q8_0",
            s(&f16),
            s(&out),
            "Q4_K_M",
        ]),
        &["token_embd.weight", "recipe was not applied"],
    );
    assert!(!out.exists());
}

#[test]
fn sensitivity_refuses_a_quantized_model_and_a_short_text() {
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.txt");
    std::fs::write(&short, "Only a few words.").unwrap();
    refused(
        &mpt([
            "sensitivity",
            s(&support::model_q4_1()),
            "--calib",
            s(&short),
            "-o",
            s(&dir.path().join("s.json")),
        ]),
        &["already quantized", "F16"],
    );
    refused(
        &mpt([
            "sensitivity",
            s(&support::model_f16()),
            "--calib",
            s(&short),
            "-o",
            s(&dir.path().join("s.json")),
        ]),
        &["short.txt", "tokens", "longer text"],
    );
    assert!(!dir.path().join("s.json").exists());
}

#[test]
fn a_sweep_with_recipes_measures_them_beside_stock_and_draws_both_frontiers() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let (model, text, calib) = (
        support::model_f16(),
        support::eval_text(),
        support::calibration_text(),
    );
    let args = [
        "sweep",
        s(&model),
        "-o",
        s(&out),
        "-f",
        s(&text),
        "--calib",
        s(&calib),
        "-c",
        "128",
        "--chunks",
        "2",
        "-t",
        "2",
        "--no-bench",
        "--types",
        "Q8_0,Q4_K_M,Q3_K_M,Q2_K,IQ2_XS",
        "--imatrix-for",
        "all",
        "--imatrix-chunks",
        "2",
        "--recipes",
        "like-stock",
        "--sens-group",
        "kind",
        "--sens-ctx",
        CTX,
    ];
    let _heavy = support::measure::heavy();
    let o = mpt(args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = mpt_gguf::results::SweepResults::load(&out).unwrap();
    let like = ["Q8_0", "Q4_K_M", "Q3_K_M", "Q2_K", "IQ2_XS"];
    for ty in like {
        let stock = r.rungs.iter().find(|x| x.rung == ty).unwrap();
        let recipe = r
            .rungs
            .iter()
            .find(|x| x.rung == format!("recipe-{ty}"))
            .unwrap();
        assert!(recipe.ok(), "{:?}", recipe.error);
        let info = recipe.recipe.as_ref().unwrap();
        assert_eq!(info.like.as_deref(), Some(ty));
        assert_eq!(recipe.imatrix, Some(true));
        assert!(
            recipe.size_bytes <= stock.size_bytes,
            "{ty}: recipe {:?} > stock {:?}",
            recipe.size_bytes,
            stock.size_bytes
        );
        // The recipe the rung was quantized with is kept and reads back.
        TensorTypeFile::open(&out.join(&info.file)).unwrap();
    }
    let table5 = std::fs::read_to_string(out.join("table5.csv")).unwrap();
    let blocks: Vec<&str> = table5
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .filter(|m| !m.is_empty())
        .collect();
    assert_eq!(
        blocks.len(),
        2,
        "a stock block and a recipe block: {table5}"
    );
    assert!(blocks[1].ends_with(" recipes"), "{blocks:?}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("## Recipes against stock"), "{report}");
    for ty in like {
        assert!(
            report.contains(&format!("| recipe-{ty} | --like {ty} |")),
            "{report}"
        );
    }
    let chart = std::fs::read_to_string(out.join("charts/kld_vs_bpw.svg")).unwrap();
    assert!(
        chart.contains("recipes"),
        "the KLD chart draws the recipe series"
    );

    // Resuming measures nothing again, the sensitivity table included.
    let before = std::fs::metadata(out.join("sens.json"))
        .unwrap()
        .modified()
        .unwrap();
    let o = mpt(args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::metadata(out.join("sens.json"))
            .unwrap()
            .modified()
            .unwrap(),
        before
    );
}
