//! Task files in every format users have, read back to the same items as the Hugging Face JSONL
//! rows they were made from. No model needed.

use crate::support::tasks::*;
use mpt_gguf::tasks::formats::llamacpp::{encode_choice_tasks, write_choice_tasks, ChoiceTask};
use mpt_gguf::tasks::{Format, ItemBody, LoadOptions, TaskKind, TaskSet, MMLU_SUBJECTS};

fn spec(task: &str, path: &std::path::Path) -> String {
    format!("{task}={}", path.display())
}

#[test]
fn jsonl_task_sets_load_from_the_default_folder() {
    let opts = LoadOptions {
        data_dir: Some(tasks_dir()),
        ..Default::default()
    };
    let counts = [
        ("arc-easy", 570),
        ("arc-challenge", 299),
        ("mmlu", 1531),
        ("hellaswag", 10042),
        ("winogrande", 1267),
    ];
    for (name, n) in counts {
        let set = TaskSet::load(name, &opts).unwrap();
        assert_eq!(set.len(), n, "{name}");
        assert_eq!(set.formats, vec![Format::Jsonl]);
        assert_eq!(set.split, "validation");
        assert!(set.skipped.is_empty() && set.warnings.is_empty());
    }
    let mmlu = TaskSet::load("mmlu", &opts).unwrap();
    assert_eq!(
        mmlu.fewshot.len(),
        285,
        "dev split found beside mmlu_validation.jsonl"
    );
    assert_eq!(mmlu.subjects().len(), 57);
    let first = &TaskSet::load("arc-easy", &opts).unwrap().items[0];
    assert_eq!(first.gold, 0);
    assert_eq!(
        first.at.to_string(),
        format!(
            "{}: line 1",
            tasks_dir().join("arc_easy_validation.jsonl").display()
        )
    );
    match &first.body {
        ItemBody::Arc { question, choices } => {
            assert_eq!(question, "Which technology was developed most recently?");
            assert_eq!(choices[0], "cellular telephone");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn arrow_save_to_disk_cache_and_ipc_file_equal_the_jsonl_rows() {
    let jsonl = load(&spec(
        "arc-easy",
        &tasks_dir().join("arc_easy_validation.jsonl"),
    ));
    let folder = load(&spec(
        "arc-easy",
        &tasks_dir().join("hf-arrow/ARC-Easy/validation"),
    ));
    assert_eq!(folder.formats, vec![Format::ArrowStream]);
    same_items(&jsonl.items, &folder.items);

    // The datasets cache: `<name>-<split>.arrow` files in a versioned folder.
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp
        .path()
        .join("allenai___ai2_arc/ARC-Easy/0.0.0/210d026faf99");
    std::fs::create_dir_all(&cache).unwrap();
    let rows = rows("arc_easy_validation.jsonl");
    write_arrow_stream(&cache.join("ai2_arc-validation.arrow"), &arc_batch(&rows));
    write_arrow_stream(&cache.join("ai2_arc-train.arrow"), &arc_batch(&rows[..10]));
    let cached = TaskSet::load(
        &spec("arc-easy", &tmp.path().join("allenai___ai2_arc")),
        &LoadOptions {
            split: Some("validation".into()),
            ..Default::default()
        },
    )
    .unwrap();
    same_items(&jsonl.items, &cached.items);

    let ipc = tmp.path().join("arc.feather");
    write_arrow_file(&ipc, &arc_batch(&rows));
    let file = load(&spec("arc-easy", &ipc));
    assert_eq!(file.formats, vec![Format::ArrowFile]);
    same_items(&jsonl.items, &file.items);
}

#[test]
fn parquet_files_and_hub_folders_equal_the_jsonl_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = tmp.path().join("ai2_arc");
    let easy = rows("arc_easy_validation.jsonl");
    let challenge = rows("arc_challenge_validation.jsonl");
    write_parquet(
        &hub.join("ARC-Easy/validation-00000-of-00001.parquet"),
        &arc_batch(&easy),
    );
    write_parquet(
        &hub.join("ARC-Challenge/validation-00000-of-00001.parquet"),
        &arc_batch(&challenge),
    );
    write_parquet(
        &hub.join("ARC-Challenge/test-00000-of-00001.parquet"),
        &arc_batch(&challenge[..20]),
    );

    let file = load(&spec(
        "arc-easy",
        &hub.join("ARC-Easy/validation-00000-of-00001.parquet"),
    ));
    assert_eq!(file.formats, vec![Format::Parquet]);
    same_items(
        &load(&spec(
            "arc-easy",
            &tasks_dir().join("arc_easy_validation.jsonl"),
        ))
        .items,
        &file.items,
    );

    // A folder holding both configurations: the one asked for; the harness's split (test) first.
    let c = load(&spec("arc-challenge", &hub));
    assert_eq!((c.split.as_str(), c.len()), ("test", 20));
    let opts = LoadOptions {
        split: Some("validation".into()),
        ..Default::default()
    };
    let c = TaskSet::load(&spec("arc-challenge", &hub), &opts).unwrap();
    same_items(
        &load(&spec(
            "arc-challenge",
            &tasks_dir().join("arc_challenge_validation.jsonl"),
        ))
        .items,
        &c.items,
    );
    let e = TaskSet::load(&spec("arc-easy", &hub), &opts).unwrap();
    assert_eq!(e.len(), 570);
    let err = load_err(
        &spec("arc-easy", &hub),
        &LoadOptions {
            split: Some("train".into()),
            ..Default::default()
        },
    );
    assert!(
        err.contains("no `train` split") && err.contains("test, validation"),
        "{err}"
    );

    // MMLU as cais/mmlu's `all` folder: validation and dev (the 5-shot exemplars) beside each other.
    let all = tmp.path().join("mmlu/all");
    write_parquet(
        &all.join("validation-00000-of-00001.parquet"),
        &mmlu_batch(&rows("mmlu_validation.jsonl")),
    );
    write_parquet(
        &all.join("dev-00000-of-00001.parquet"),
        &mmlu_batch(&rows("mmlu_dev.jsonl")),
    );
    let mmlu = load(&spec("mmlu", &tmp.path().join("mmlu")));
    let reference = load(&spec("mmlu", &tasks_dir().join("mmlu_validation.jsonl")));
    same_items(&reference.items, &mmlu.items);
    same_items(&reference.fewshot, &mmlu.fewshot);
}

#[test]
fn hendrycks_csv_folders_equal_the_jsonl_rows_and_missing_subjects_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_mmlu_csv(&data, "val", &rows("mmlu_validation.jsonl"));
    write_mmlu_csv(&data, "dev", &rows("mmlu_dev.jsonl"));
    let csv = load(&spec("mmlu", &data));
    assert_eq!(
        (csv.formats.clone(), csv.split.as_str()),
        (vec![Format::MmluCsv], "validation")
    );
    let reference = load(&spec("mmlu", &tasks_dir().join("mmlu_validation.jsonl")));
    // The CSV folder is read subject by subject (file name order), the JSONL in its row order.
    let key = |i: &mpt_gguf::tasks::Item| format!("{:?}{:?}", i.subject, i.body);
    let (mut a, mut b) = (reference.items.clone(), csv.items.clone());
    a.sort_by_key(key);
    b.sort_by_key(key);
    same_items(&a, &b);
    assert_eq!(csv.fewshot.len(), 285);

    // One file of the val split: its dev sibling (dev/anatomy_dev.csv) is found; the other 56
    // subjects are missing, an error unless bad rows are skipped.
    let one = spec("mmlu", &data.join("val/anatomy_val.csv"));
    let err = load_err(&one, &LoadOptions::default());
    assert!(
        err.contains("lacks 56 of 57 subjects") && err.contains("--skip-bad-rows"),
        "{err}"
    );
    let skip = LoadOptions {
        skip_bad_rows: true,
        ..Default::default()
    };
    let single = TaskSet::load(&one, &skip).unwrap();
    assert!(single
        .items
        .iter()
        .all(|i| i.subject.as_deref() == Some("anatomy")));
    assert_eq!(single.fewshot.len(), 5);
    assert!(single.warnings.iter().any(|w| w.contains("lacks 56 of 57")));

    std::fs::remove_file(data.join("val/virology_val.csv")).unwrap();
    std::fs::remove_file(data.join("val/astronomy_val.csv")).unwrap();
    let err = load_err(&spec("mmlu", &data), &LoadOptions::default());
    assert!(
        err.contains(&data.display().to_string())
            && err.contains("lacks 2 of 57 subjects: astronomy, virology"),
        "{err}"
    );
    let opts = LoadOptions {
        skip_bad_rows: true,
        ..Default::default()
    };
    let partial = TaskSet::load(&spec("mmlu", &data), &opts).unwrap();
    assert_eq!(partial.subjects().len(), 55);
    assert!(partial
        .warnings
        .iter()
        .any(|w| w.contains("astronomy, virology")));
    assert_eq!(MMLU_SUBJECTS.len(), 57);
}

#[test]
fn llama_cpp_text_files_hold_the_same_tasks_as_the_rows() {
    let hs = load(&spec(
        "hellaswag",
        &tasks_dir().join("llama.cpp/hellaswag_val_full.txt"),
    ));
    assert_eq!(
        (hs.len(), hs.formats.clone()),
        (10042, vec![Format::LlamaHellaSwag])
    );
    match &hs.items[0].body {
        ItemBody::HellaSwagText { context, endings } => {
            assert_eq!(
                context,
                "Roof shingle removal: A man is sitting on a roof. he"
            );
            assert_eq!(endings[3], "starts pulling up roofing on a roof.");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(hs.items[0].gold, 3);
    assert_eq!(hs.items[1].at.row, 7, "six lines a task");

    let csv = load(&spec(
        "winogrande",
        &tasks_dir().join("llama.cpp/winogrande_dev.csv"),
    ));
    let rows = load(&spec(
        "winogrande",
        &tasks_dir().join("winogrande_xl_validation.jsonl"),
    ));
    assert_eq!(csv.formats, vec![Format::LlamaWinoGrande]);
    same_items(&rows.items, &csv.items);
    // llama-perplexity never reads a CSV's last line; the set says which one that is.
    assert_eq!(csv.llama_cpp_unread.len(), 1);
    assert_eq!(csv.llama_cpp_unread[0].row, 1267);
}

#[test]
fn binary_multiple_choice_files_round_trip_in_llama_cpp_layout() {
    let tasks: Vec<ChoiceTask> = rows("arc_easy_validation.jsonl")[..12]
        .iter()
        .map(|r| {
            let texts: Vec<String> = r["choices"]["text"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_string())
                .collect();
            let labels = r["choices"]["label"].as_array().unwrap();
            let key = r["answerKey"].as_str().unwrap();
            ChoiceTask {
                question: format!("Question: {}\nAnswer:", r["question"].as_str().unwrap()),
                labels: labels
                    .iter()
                    .map(|l| i32::from(l.as_str() == Some(key)))
                    .collect(),
                answers: texts,
            }
        })
        .collect();
    let bytes = encode_choice_tasks(&tasks);
    // perplexity.cpp: u32 task count, u32 offset per task, then per task: u32-length question,
    // mc1 (u32 n, n u32-length strings, n int32 labels), mc2 (same; empty here).
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    assert_eq!(u32_at(0), 12);
    let first = u32_at(4);
    assert_eq!(first, 4 + 4 * 12);
    let qlen = u32_at(first);
    assert_eq!(
        &bytes[first + 4..first + 4 + qlen],
        tasks[0].question.as_bytes()
    );
    assert_eq!(u32_at(first + 4 + qlen), tasks[0].answers.len());
    for (k, task) in tasks.iter().enumerate() {
        // Each offset points at a question length whose bytes are that task's question.
        let at = u32_at(4 + 4 * k);
        let n = u32_at(at);
        assert_eq!(&bytes[at + 4..at + 4 + n], task.question.as_bytes());
    }

    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("arc-easy.bin");
    write_choice_tasks(&path, &tasks).unwrap();
    let set = load(&spec("arc-easy", &path));
    assert_eq!(set.formats, vec![Format::LlamaMultipleChoice]);
    for (item, t) in set.items.iter().zip(&tasks) {
        assert_eq!(
            item.body,
            ItemBody::Choice {
                question: t.question.clone(),
                answers: t.answers.clone()
            }
        );
        assert_eq!(t.labels[item.gold], 1);
    }
    let jsonl = load(&spec(
        "arc-easy",
        &tasks_dir().join("arc_easy_validation.jsonl"),
    ));
    let golds: Vec<usize> = jsonl.items[..12].iter().map(|i| i.gold).collect();
    assert_eq!(set.items.iter().map(|i| i.gold).collect::<Vec<_>>(), golds);
    assert_eq!(
        TaskSet::load(&spec("truthfulqa", &path), &LoadOptions::default())
            .unwrap()
            .kind,
        TaskKind::TruthfulQa
    );
}
