//! hendrycks MMLU CSV (`data/{dev,val,test}/{subject}_{split}.csv`): no header; question, the four
//! choices, the answer letter. The subject is the file name without its split suffix.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result};

use crate::tasks::item::{Item, ItemBody, RowError, RowRef};

/// The subject a hendrycks file name stands for: `high_school_physics_test.csv` → `high_school_physics`.
pub fn subject_of(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    for suffix in ["_dev", "_val", "_validation", "_test", "_train"] {
        if let Some(s) = stem.strip_suffix(suffix) {
            return s.to_string();
        }
    }
    stem
}

pub fn looks_like(head: &[u8]) -> bool {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(head);
    match reader.records().next() {
        Some(Ok(rec)) => {
            rec.len() == 6 && matches!(rec.get(5).map(str::trim), Some("A" | "B" | "C" | "D"))
        }
        _ => false,
    }
}

pub fn read(file: &Arc<Path>) -> Result<Vec<std::result::Result<Item, RowError>>> {
    let subject = subject_of(file);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(file)
        .with_context(|| format!("{}: cannot open", file.display()))?;
    let mut out = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let at = RowRef::row(file, i + 1);
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                out.push(Err(RowError {
                    at,
                    msg: format!("not CSV ({e})"),
                }));
                continue;
            }
        };
        out.push(item(rec, at, &subject));
    }
    if out.is_empty() {
        anyhow::bail!("{}: empty file (no task rows)", file.display());
    }
    Ok(out)
}

fn item(rec: csv::StringRecord, at: RowRef, subject: &str) -> std::result::Result<Item, RowError> {
    let err = |msg: String| RowError {
        at: at.clone(),
        msg,
    };
    if rec.len() != 6 {
        return Err(err(format!(
            "{} fields; an MMLU CSV row has 6 (question, A, B, C, D, answer)",
            rec.len()
        )));
    }
    let answer = rec[5].trim();
    let gold = match answer {
        "" => return Err(err("no gold answer (answer column is empty)".into())),
        "A" => 0,
        "B" => 1,
        "C" => 2,
        "D" => 3,
        other => return Err(err(format!("answer `{other}` is not one of A, B, C, D"))),
    };
    Ok(Item {
        at: at.clone(),
        subject: Some(subject.to_string()),
        body: ItemBody::Mmlu {
            question: rec[0].to_string(),
            choices: (1..5).map(|k| rec[k].to_string()).collect(),
        },
        gold,
    })
}
