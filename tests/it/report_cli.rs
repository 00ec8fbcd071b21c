//! `table`, `plot` and `fit` run like a user would: on results saved by a sweep, one or many
//! models, and with a one-line error naming the file (exit 2) on bad input.

use crate::support;
use std::path::Path;

use crate::support::report_fixtures as fx;
use assert_cmd::Command;

fn stdout(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail: exit 2, one line on stderr, and returns it.
fn fails(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    err
}

#[test]
fn table_from_sweep_folders_results_and_manifests() {
    let tmp = tempfile::tempdir().unwrap();
    let smol = fx::save(tmp.path(), "smol", &fx::smollm2());
    let qwen = fx::save(tmp.path(), "qwen", &fx::qwen_05b());
    // A manifest carries the results under "results".
    let manifest = tmp.path().join("manifest.json");
    let m = serde_json::json!({"manifest_version": 1, "results": fx::qwen_15b()});
    std::fs::write(&manifest, m.to_string()).unwrap();

    let out = tmp.path().join("table5.csv");
    support::mpt_assert()
        .arg("table")
        .arg(&smol)
        .arg(qwen.join("results.json"))
        .arg(&manifest)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(&out)
        .unwrap();
    assert_eq!(
        rd.headers().unwrap().iter().collect::<Vec<_>>()[..4],
        ["Main Model", "Indicator", "1-bit", "2-bit"]
    );
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    let models: Vec<&str> = rows
        .iter()
        .map(|r| &r[0])
        .filter(|m| !m.is_empty())
        .collect();
    assert_eq!(
        models,
        ["SmolLM2-135M-Instruct", "Qwen2.5-0.5B", "Qwen2.5-1.5B"]
    );
    let ppl_15b = rows
        .iter()
        .skip_while(|r| &r[0] != "Qwen2.5-1.5B")
        .find(|r| &r[1] == "PPL")
        .unwrap();
    assert_eq!(&ppl_15b[5], "10.0107 ± 0.0684", "4-bit column");

    let md = stdout(
        support::mpt_assert()
            .arg("table")
            .arg(&qwen)
            .args(["--format", "md"]),
    );
    assert!(
        md.contains("| **Qwen2.5-0.5B** | **Quant Scheme** | - | Q2_K |"),
        "{md}"
    );
    support::mpt_assert()
        .arg("table")
        .arg(&qwen)
        .arg("-o")
        .arg(tmp.path().join("t.md"))
        .assert()
        .success();
    assert!(std::fs::read_to_string(tmp.path().join("t.md"))
        .unwrap()
        .starts_with("| **Main Model** |"));
}

#[test]
fn q_weights_come_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let smol = fx::save(tmp.path(), "smol", &fx::smollm2());
    let csv_text = stdout(support::mpt_assert().arg("table").arg(&smol).args([
        "--kind",
        "rungs",
        "--w-bench",
        "1",
        "--w-ppl",
        "0",
        "--w-tps",
        "0",
        "--bench-weight",
        "hellaswag=1",
        "--bench-weight",
        "ifeval=0",
        "--bench-weight",
        "truthfulqa=0",
    ]));
    let mut rd = csv::Reader::from_reader(csv_text.as_bytes());
    let head = rd.headers().unwrap().clone();
    let (q, hs) = (
        head.iter().position(|h| h == "q_score").unwrap(),
        head.iter().position(|h| h == "hellaswag_acc").unwrap(),
    );
    let mut n = 0;
    for rec in rd.records().map(|r| r.unwrap()) {
        if rec[hs].is_empty() {
            continue;
        }
        // Q = 1·(1·100·acc) − 0·PPL + 0·TPS
        let (qv, acc): (f64, f64) = (rec[q].parse().unwrap(), rec[hs].parse().unwrap());
        assert!((qv - 100.0 * acc).abs() < 1e-9, "{qv} vs {acc}");
        n += 1;
    }
    assert_eq!(n, 16);
    // A malformed weight is a usage error (clap's message, exit 2).
    let out = support::mpt_assert()
        .arg("table")
        .arg(&smol)
        .args(["--bench-weight", "hellaswag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected TASK=WEIGHT"));
}

#[test]
fn plot_renders_charts_and_report_from_saved_results() {
    let tmp = tempfile::tempdir().unwrap();
    let smol = fx::save(tmp.path(), "smol", &fx::smollm2());
    let grid = fx::save(tmp.path(), "grid", &fx::grid());
    let out = tmp.path().join("charts");
    let listed = stdout(
        support::mpt_assert()
            .arg("plot")
            .arg(&smol)
            .arg(&grid)
            .arg("-o")
            .arg(&out),
    );
    for name in [
        "ppl_vs_bpw.png",
        "ppl_vs_bpw.svg",
        "fig7_schemes.png",
        "ppl_vs_sparsity.svg",
        "prune_quant_heatmap_SmolLM2-135M-grid.png",
    ] {
        assert!(out.join(name).exists(), "{name}: {listed}");
        assert!(listed.contains(name));
    }
    assert!(
        !out.join("report.md").exists(),
        "charts only without --report"
    );
    let everything = tmp.path().join("all");
    support::mpt_assert()
        .arg("plot")
        .arg(&smol)
        .arg("-o")
        .arg(&everything)
        .arg("--report")
        .assert()
        .success();
    for name in [
        "results.csv",
        "table5.csv",
        "report.md",
        "charts/kld_vs_bpw.svg",
    ] {
        assert!(everything.join(name).exists(), "{name}");
    }
}

#[test]
fn fit_prints_the_transition_and_json() {
    let tmp = tempfile::tempdir().unwrap();
    let smol = fx::save(tmp.path(), "smol", &fx::smollm2());
    let text = stdout(support::mpt_assert().arg("fit").arg(&smol));
    assert!(text.contains("phase transition at b0 = 3.2"), "{text}");
    assert!(
        text.contains("IQ1_M") && text.contains("fitted PPL"),
        "{text}"
    );
    // A rung far off the curve is listed, marked as left out, and named in the JSON.
    let odd = fx::save(tmp.path(), "odd", &fx::smollm2_with_misfits());
    let text = stdout(support::mpt_assert().arg("fit").arg(&odd));
    let tq = text.lines().find(|l| l.trim_start().starts_with("TQ2_0"));
    assert!(
        tq.is_some_and(|l| l.ends_with("no, beaten by IQ2_XXS")),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(
        support::mpt_assert().arg("fit").arg(&odd).arg("--json"),
    ))
    .unwrap();
    let points = json[0]["points"].as_array().unwrap();
    let tq = points.iter().find(|p| p["rung"] == "TQ2_0").unwrap();
    assert_eq!(tq["beaten_by"], "IQ2_XXS");
    let json: serde_json::Value = serde_json::from_str(&stdout(
        support::mpt_assert().arg("fit").arg(&smol).arg("--json"),
    ))
    .unwrap();
    let t = &json[0]["outcome"];
    assert_eq!(t["kind"], "transition");
    assert!((t["critical"].as_f64().unwrap() - fx::B0).abs() < 0.1);
    assert!(t["ci_low"].as_f64().unwrap() <= t["ci_high"].as_f64().unwrap());
    // A looser tolerance widens the safe zone.
    let strict = json[0]["safe_rungs"].as_array().unwrap().len();
    let loose: serde_json::Value =
        serde_json::from_str(&stdout(support::mpt_assert().arg("fit").arg(&smol).args([
            "--json",
            "--ppl-tolerance",
            "0.5",
        ])))
        .unwrap();
    assert!(loose[0]["safe_rungs"].as_array().unwrap().len() > strict);
    // A flag given twice takes its last value (scripts append flags to override their defaults).
    let last_wins: serde_json::Value =
        serde_json::from_str(&stdout(support::mpt_assert().arg("fit").arg(&smol).args([
            "--json",
            "--ppl-tolerance",
            "0.05",
            "--ppl-tolerance",
            "0.5",
        ])))
        .unwrap();
    assert_eq!(last_wins[0]["safe_rungs"], loose[0]["safe_rungs"]);
}

fn names_file(err: &str, path: &Path) {
    assert!(
        err.contains(&path.display().to_string()),
        "error does not name {}: {err}",
        path.display()
    );
}

#[test]
fn bad_input_is_one_line_naming_the_file_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("t.csv");

    let missing = tmp.path().join("nope/results.json");
    for sub in ["table", "fit"] {
        let err = fails(
            support::mpt_assert()
                .arg(sub)
                .arg(&missing)
                .arg("-o")
                .arg(&out),
        );
        names_file(&err, &missing);
    }
    let err = fails(
        support::mpt_assert()
            .arg("plot")
            .arg(&missing)
            .arg("-o")
            .arg(tmp.path().join("p")),
    );
    names_file(&err, &missing);
    assert!(!out.exists(), "nothing written on failure");

    let foreign = tmp.path().join("other.json");
    std::fs::write(&foreign, r#"{"name": "not a sweep"}"#).unwrap();
    let err = fails(support::mpt_assert().arg("table").arg(&foreign));
    names_file(&err, &foreign);
    assert!(err.contains("not mpt-gguf results"), "{err}");

    let newer = tmp.path().join("newer.json");
    std::fs::write(&newer, r#"{"results_version": 999}"#).unwrap();
    let err = fails(
        support::mpt_assert()
            .arg("plot")
            .arg(&newer)
            .arg("-o")
            .arg(tmp.path().join("p")),
    );
    names_file(&err, &newer);
    assert!(err.contains("newer"), "{err}");

    let garbage = tmp.path().join("garbage.json");
    std::fs::write(&garbage, "\u{0}\u{1}not json").unwrap();
    let err = fails(support::mpt_assert().arg("fit").arg(&garbage));
    names_file(&err, &garbage);

    // A good file after a bad one still fails on the bad one.
    let smol = fx::save(tmp.path(), "smol", &fx::smollm2());
    let err = fails(support::mpt_assert().arg("table").arg(&smol).arg(&foreign));
    names_file(&err, &foreign);

    // The output folder is a file.
    let blocker = tmp.path().join("blocker");
    std::fs::write(&blocker, "x").unwrap();
    let err = fails(
        support::mpt_assert()
            .arg("plot")
            .arg(&smol)
            .arg("-o")
            .arg(&blocker),
    );
    names_file(&err, &blocker);
}
