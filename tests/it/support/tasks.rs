//! Helpers for the task tests: the shared JSONL rows turned into the other formats users have
//! (Parquet, Arrow, CSV), written into temporary folders; nothing is copied into the repository.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{Array, ArrayRef, Int64Array, ListArray, RecordBatch, StringArray, StructArray};
use arrow_schema::Field;
use mpt_gguf::tasks::{Item, LoadOptions, TaskSet};
use serde_json::Value;

pub use super::tasks_dir;

pub fn rows(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(tasks_dir().join(file)).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn load(spec: &str) -> TaskSet {
    TaskSet::load(spec, &LoadOptions::default()).unwrap_or_else(|e| panic!("{spec}: {e:#}"))
}

pub fn load_err(spec: &str, opts: &LoadOptions) -> String {
    match TaskSet::load(spec, opts) {
        Ok(s) => panic!("{spec}: loaded {} items instead of failing", s.len()),
        Err(e) => format!("{e:#}"),
    }
}

/// Items compared without where they came from.
pub fn same_items(a: &[Item], b: &[Item]) {
    assert_eq!(a.len(), b.len(), "item counts differ");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(
            (&x.body, x.gold, &x.subject),
            (&y.body, y.gold, &y.subject),
            "{} vs {}",
            x.at,
            y.at
        );
    }
}

fn strings(rows: &[Value], f: impl Fn(&Value) -> &str) -> ArrayRef {
    Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
}

fn string_lists(rows: &[Value], f: impl Fn(&Value) -> &Vec<Value>) -> ListArray {
    let mut b = ListBuilder::new(StringBuilder::new());
    for r in rows {
        for s in f(r) {
            b.values().append_value(s.as_str().unwrap());
        }
        b.append(true);
    }
    b.finish()
}

/// ARC rows as the Hub's Parquet/Arrow has them: choices is a struct of two string lists.
pub fn arc_batch(rows: &[Value]) -> RecordBatch {
    let text = string_lists(rows, |r| r["choices"]["text"].as_array().unwrap());
    let label = string_lists(rows, |r| r["choices"]["label"].as_array().unwrap());
    let choices = StructArray::from(vec![
        (
            Arc::new(Field::new("text", text.data_type().clone(), true)),
            Arc::new(text) as ArrayRef,
        ),
        (
            Arc::new(Field::new("label", label.data_type().clone(), true)),
            Arc::new(label) as ArrayRef,
        ),
    ]);
    RecordBatch::try_from_iter(vec![
        ("id", strings(rows, |r| r["id"].as_str().unwrap())),
        (
            "question",
            strings(rows, |r| r["question"].as_str().unwrap()),
        ),
        ("choices", Arc::new(choices) as ArrayRef),
        (
            "answerKey",
            strings(rows, |r| r["answerKey"].as_str().unwrap()),
        ),
    ])
    .unwrap()
}

/// MMLU rows: answer is an int64 class label.
pub fn mmlu_batch(rows: &[Value]) -> RecordBatch {
    let choices = string_lists(rows, |r| r["choices"].as_array().unwrap());
    let answer: Int64Array = rows.iter().map(|r| r["answer"].as_i64()).collect();
    RecordBatch::try_from_iter(vec![
        (
            "question",
            strings(rows, |r| r["question"].as_str().unwrap()),
        ),
        ("subject", strings(rows, |r| r["subject"].as_str().unwrap())),
        ("choices", Arc::new(choices) as ArrayRef),
        ("answer", Arc::new(answer) as ArrayRef),
    ])
    .unwrap()
}

/// Snappy-compressed Parquet, as the Hub serves it.
pub fn write_parquet(path: &Path, batch: &RecordBatch) {
    use parquet::basic::Compression;
    use parquet::file::properties::WriterProperties;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let f = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), Some(props)).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

pub fn write_arrow_file(path: &Path, batch: &RecordBatch) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = arrow_ipc::writer::FileWriter::try_new(f, &batch.schema()).unwrap();
    w.write(batch).unwrap();
    w.finish().unwrap();
}

pub fn write_arrow_stream(path: &Path, batch: &RecordBatch) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let f = std::fs::File::create(path).unwrap();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(f, &batch.schema()).unwrap();
    w.write(batch).unwrap();
    w.finish().unwrap();
}

/// hendrycks MMLU layout: `{root}/{split}/{subject}_{split}.csv`, no header, answer letter.
pub fn write_mmlu_csv(root: &Path, split: &str, rows: &[Value]) {
    let dir = root.join(split);
    std::fs::create_dir_all(&dir).unwrap();
    let mut by_subject: std::collections::BTreeMap<&str, Vec<&Value>> = Default::default();
    for r in rows {
        by_subject
            .entry(r["subject"].as_str().unwrap())
            .or_default()
            .push(r);
    }
    for (subject, rows) in by_subject {
        let mut w = csv::Writer::from_path(dir.join(format!("{subject}_{split}.csv"))).unwrap();
        for r in rows {
            let c: Vec<&str> = r["choices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            let letter = ["A", "B", "C", "D"][r["answer"].as_u64().unwrap() as usize];
            w.write_record([
                r["question"].as_str().unwrap(),
                c[0],
                c[1],
                c[2],
                c[3],
                letter,
            ])
            .unwrap();
        }
        w.flush().unwrap();
    }
}
