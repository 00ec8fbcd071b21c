//! Bad task input: each case a clear error naming the file and row, or (with --skip-bad-rows)
//! counted and reported. The CLI answers with one line and exit status 2 before loading a model.

use crate::support;
use std::path::Path;

use crate::support::tasks::*;
use mpt_gguf::tasks::{LoadOptions, TaskSet};

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

const ARC_ROW: &str = r#"{"id": "x", "question": "Q?", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answerKey": "B"}"#;

#[test]
fn rows_without_gold_or_with_gold_out_of_range_name_file_and_row() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let no_key = ARC_ROW.replace(r#", "answerKey": "B""#, "");
    let f = write(d, "arc.jsonl", &format!("{ARC_ROW}\n{no_key}\n"));
    let e = load_err(&format!("arc-easy={f}"), &LoadOptions::default());
    assert!(
        e.contains(&format!(
            "{f}: line 2: no gold answer (`answerKey` is missing or empty)"
        )),
        "{e}"
    );
    assert!(e.contains("--skip-bad-rows"), "{e}");

    let f = write(
        d,
        "arc2.jsonl",
        &format!(
            "{ARC_ROW}\n{}\n",
            ARC_ROW.replace(r#""answerKey": "B""#, r#""answerKey": "E""#)
        ),
    );
    let e = load_err(&format!("arc-easy={f}"), &LoadOptions::default());
    assert!(
        e.contains("line 2: gold answer `E` is not one of the choice labels A, B"),
        "{e}"
    );

    let hs = r#"{"activity_label": "a", "ctx_a": "b", "ctx_b": "c", "endings": ["w", "x", "y", "z"], "label": "7"}"#;
    let f = write(d, "hs.jsonl", &format!("{hs}\n"));
    let e = load_err(&format!("hellaswag={f}"), &LoadOptions::default());
    assert!(
        e.contains(&format!(
            "{f}: line 1: gold index 7 out of range (4 endings)"
        )),
        "{e}"
    );

    let f = write(d, "hs.txt", "ctx\n9\na\nb\nc\nd\n");
    let e = load_err(&format!("hellaswag={f}"), &LoadOptions::default());
    assert!(e.contains("line 1: gold index 9 out of range"), "{e}");

    let mmlu =
        r#"{"question": "q", "subject": "anatomy", "choices": ["a", "b", "c", "d"], "answer": 4}"#;
    let f = write(d, "mmlu.jsonl", &format!("{mmlu}\n"));
    let e = load_err(&format!("mmlu={f}"), &LoadOptions::default());
    assert!(
        e.contains("line 1: gold index 4 out of range (4 choices)"),
        "{e}"
    );

    let wg = "0,Sarah or _ went.,Sarah,Maria,\n";
    let f = write(d, "wg.csv", &format!("0,A _ b.,x,y,1\n{wg}"));
    let e = load_err(&format!("winogrande={f}"), &LoadOptions::default());
    assert!(e.contains("line 2: no gold answer"), "{e}");
}

#[test]
fn skip_bad_rows_counts_and_reports_what_it_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let good = rows("arc_easy_validation.jsonl")[..8]
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>();
    let text = format!(
        "{}\n{}\nnot json at all\n{}\n",
        good[..4].join("\n"),
        ARC_ROW.replace(r#""answerKey": "B""#, r#""answerKey": """#),
        good[4..].join("\n")
    );
    let f = write(tmp.path(), "arc.jsonl", &text);
    let opts = LoadOptions {
        skip_bad_rows: true,
        ..Default::default()
    };
    let set = TaskSet::load(&format!("arc-easy={f}"), &opts).unwrap();
    assert_eq!(set.len(), 8);
    assert_eq!(set.skipped.len(), 2, "{:?}", set.skipped);
    assert!(
        set.skipped[0].contains("line 5: no gold answer"),
        "{:?}",
        set.skipped
    );
    assert!(
        set.skipped[1].contains("line 6: not JSON"),
        "{:?}",
        set.skipped
    );

    // Nothing usable at all is still an error.
    let f = write(tmp.path(), "bad.jsonl", "{\"question\": \"q\"}\n");
    let e = load_err(&format!("arc-easy={f}"), &opts);
    assert!(
        e.contains("no usable arc-easy rows (1 bad rows skipped"),
        "{e}"
    );
}

#[test]
fn wrong_files_empty_files_and_unknown_names_are_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let e = load_err("arc-eazy", &LoadOptions::default());
    assert!(
        e.contains("unknown task `arc-eazy` (did you mean arc-easy?)") && e.contains("winogrande"),
        "{e}"
    );

    let f = write(d, "empty.jsonl", "");
    let e = load_err(&format!("arc-easy={f}"), &LoadOptions::default());
    assert!(e.contains(&format!("{f}: empty file")), "{e}");
    let f = write(d, "blank.txt", "\n\n  \n");
    assert!(load_err(&format!("hellaswag={f}"), &LoadOptions::default()).contains("empty file"));

    let f = write(
        d,
        "noise.dat",
        "\u{1}\u{2}garbage that is no format\nat all",
    );
    let e = load_err(&format!("arc-easy={f}"), &LoadOptions::default());
    assert!(
        e.contains(&format!(
            "{f}: not a task file in any known format (tried Parquet,"
        )) && e.contains("JSON lines")
            && e.contains("llama.cpp WinoGrande CSV"),
        "{e}"
    );

    // A WinoGrande file given as HellaSwag, a HellaSwag row as ARC.
    let wg = tasks_dir().join("llama.cpp/winogrande_dev.csv");
    let e = load_err(
        &format!("hellaswag={}", wg.display()),
        &LoadOptions::default(),
    );
    assert!(
        e.contains("a llama.cpp WinoGrande CSV file cannot hold hellaswag tasks"),
        "{e}"
    );
    let e = load_err(
        &format!(
            "arc-easy={}",
            tasks_dir().join("winogrande_xl_validation.jsonl").display()
        ),
        &LoadOptions::default(),
    );
    assert!(
        e.contains("line 1: missing field `question` (arc-easy rows have question, choices")
            && e.contains("this one has answer, option1, option2, sentence"),
        "{e}"
    );

    let f = write(d, "short.txt", "ctx\n1\na\nb\nc\nd\nctx2\n2\n");
    let e = load_err(&format!("hellaswag={f}"), &LoadOptions::default());
    assert!(e.contains("8 lines, not a multiple of 6"), "{e}");

    let e = load_err(
        &format!("arc-easy={}", d.join("missing.jsonl").display()),
        &LoadOptions::default(),
    );
    assert!(e.contains("missing.jsonl: no such file or folder"), "{e}");

    // No path and nothing in the data folder: how to get the data.
    let opts = LoadOptions {
        data_dir: Some(d.join("nothing-here")),
        ..Default::default()
    };
    let e = load_err("winogrande", &opts);
    assert!(
        e.contains("no winogrande data") && e.contains("scripts/fetch-tasks.sh"),
        "{e}"
    );

    // A cut-short binary multiple-choice file.
    let mut b = vec![2u8, 0, 0, 0, 12, 0, 0, 0, 30, 0, 0, 0];
    b.extend_from_slice(&50u32.to_le_bytes());
    b.extend_from_slice(b"Ques");
    b.extend_from_slice(&[0u8; 20]);
    let p = d.join("cut.bin");
    std::fs::write(&p, &b).unwrap();
    let e = load_err(
        &format!("arc-easy={}", p.display()),
        &LoadOptions::default(),
    );
    assert!(
        e.contains("cut.bin: task 1 of 2 is cut short or malformed"),
        "{e}"
    );
}

#[test]
fn the_cli_answers_bad_task_input_with_one_line_and_status_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = support::mpt_assert()
        .args(["eval", "-m", "no-model.gguf", "--task", "arc-easy,mmlu-pro"])
        .env("MPT_TASKS_DIR", tasks_dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("unknown task `mmlu-pro` (did you mean mmlu?)"),
        "{err}"
    );

    // Skipped rows are reported before the model is even opened.
    let f = write(
        tmp.path(),
        "arc.jsonl",
        &format!("{ARC_ROW}\n{}\n", ARC_ROW.replace("\"B\"}", "\"Z\"}")),
    );
    let out = support::mpt_assert()
        .args([
            "eval",
            "-m",
            "no-model.gguf",
            "--skip-bad-rows",
            "--task",
            &format!("arc-easy={f}"),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("arc-easy: skipped 1 bad rows:") && err.contains("line 2: gold answer `Z`"),
        "{err}"
    );
    assert!(err.contains("no-model.gguf"), "{err}");
    assert_eq!(out.status.code(), Some(2));
}

/// Inputs the fuzzer found (scripts/fuzz.sh), minimized: each must be a clean error.
#[test]
fn fuzzer_findings_are_clean_errors() {
    let dir = tempfile::tempdir().unwrap();
    // Arrow IPC whose message claims a body of 8·10¹⁸ bytes: Arrow's reader allocated it.
    let path = dir.path().join("validation.arrow");
    std::fs::copy(
        support::repo().join("tests/it/data/fuzz/task_arrow-body-length.arrow"),
        &path,
    )
    .unwrap();
    let e = support::tasks::load_err(
        &format!("hellaswag={}", path.display()),
        &Default::default(),
    );
    assert!(
        e.contains("validation.arrow: unreadable Arrow IPC data") && e.contains("outside the file"),
        "{e}"
    );
    // Parquet whose footer gives a column chunk a negative offset: the reader panicked.
    let path = dir.path().join("validation.parquet");
    std::fs::copy(
        support::repo().join("tests/it/data/fuzz/task_parquet-negative-column-offset.parquet"),
        &path,
    )
    .unwrap();
    let e = support::tasks::load_err(&format!("arc-easy={}", path.display()), &Default::default());
    assert!(
        e.contains("validation.parquet: a column chunk the footer lists lies outside the file"),
        "{e}"
    );
}
