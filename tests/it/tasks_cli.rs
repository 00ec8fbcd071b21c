//! `mpt-gguf eval` end to end on a few items: the summary table, and the JSON report parsing back.

use crate::support;

use crate::support::tasks::tasks_dir;
use mpt_gguf::results::TaskScore;
use mpt_gguf::tasks::{Mode, TaskReport};

#[test]
fn eval_prints_a_summary_and_writes_reports_that_parse_back() {
    let model = support::model_f16();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("reports.json");
    let wg = tasks_dir().join("llama.cpp/winogrande_dev.csv");
    let run = support::mpt_assert()
        .args(["eval", "-m"])
        .arg(&model)
        .args(["--task", "arc-easy,mmlu", "--limit", "6", "-t", "2", "-o"])
        .arg(&out)
        .env("MPT_TASKS_DIR", tasks_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains("arc-easy") && stdout.contains("harness") && stdout.contains("macro avg"),
        "{stdout}"
    );
    let reports: Vec<TaskReport> = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(reports.len(), 2);
    for r in &reports {
        assert_eq!((r.n, r.items.len(), r.mode), (6, 6, Mode::Harness));
        assert!(r.items_per_s > 0.0 && r.tokens_decoded > 0);
        let s: TaskScore = r.into();
        let right = r.items.iter().filter(|i| i.pred == i.gold).count();
        assert_eq!((s.n, s.acc), (6, right as f64 / 6.0));
    }
    assert!(reports[0].acc_norm.is_some() && reports[1].acc_norm.is_none());
    assert!(!reports[1].subjects.is_empty() && reports[1].macro_acc.is_some());

    // llama.cpp mode with llama.cpp's own file and selection.
    let run = support::mpt_assert()
        .args(["eval", "--mode", "llama.cpp", "-m"])
        .arg(&model)
        .arg("--task")
        .arg(format!("winogrande={}", wg.display()))
        .args(["--limit", "5", "-t", "2", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let reports: Vec<TaskReport> = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!((reports[0].n, reports[0].mode), (5, Mode::LlamaCpp));

    // Modes llama.cpp cannot score are refused with the reason.
    let run = support::mpt_assert()
        .args(["eval", "--mode", "llama.cpp", "-m"])
        .arg(&model)
        .args(["--task", "arc-easy", "--limit", "2"])
        .env("MPT_TASKS_DIR", tasks_dir())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        err.contains("--mode llama.cpp scores hellaswag, winogrande"),
        "{err}"
    );
}
