//! Folders of task files: `save_to_disk` datasets, Hub snapshots of Parquet shards, the datasets
//! cache, hendrycks MMLU `data/` folders. Their files are grouped by split, the split read from
//! the file name or a parent folder name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// Split names as they appear in file and folder names, and the split each means.
pub const SPLITS: &[(&str, &str)] = &[
    ("validation", "validation"),
    ("valid", "validation"),
    ("val", "validation"),
    ("dev", "dev"),
    ("test", "test"),
    ("train", "train"),
];

const DATA_EXTENSIONS: &[&str] = &["parquet", "arrow", "jsonl", "json", "csv", "txt", "bin"];
/// Metadata that `datasets` writes beside the data.
const METADATA: &[&str] = &["dataset_info.json", "state.json", "dataset_dict.json"];

/// The canonical split a name stands for (`val` → `validation`).
pub fn canonical_split(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    SPLITS.iter().find(|(n, _)| *n == lower).map(|(_, s)| *s)
}

/// The split a data file belongs to: the last split word in its file name, else the nearest
/// parent folder named after a split.
pub fn split_of(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_string_lossy().to_string();
    let from_name = stem
        .split(['-', '_', '.', ' '])
        .filter_map(canonical_split)
        .next_back();
    if let Some(s) = from_name {
        return Some(s.to_string());
    }
    path.ancestors()
        .skip(1)
        .take(3)
        .filter_map(|p| p.file_name())
        .find_map(|n| canonical_split(&n.to_string_lossy()))
        .map(String::from)
}

/// Files of one split under `dir`, sorted by path, and the split's name. `split` names the split
/// wanted; otherwise the first of `prefer` that exists, or the only one there is.
pub fn split_files(
    dir: &Path,
    split: Option<&str>,
    prefer: &[&str],
) -> Result<(Vec<PathBuf>, String)> {
    let mut files = Vec::new();
    walk(dir, 0, &mut files);
    if files.is_empty() {
        bail!(
            "{}: folder holds no task files (looked for {} files)",
            dir.display(),
            DATA_EXTENSIONS.join(", ")
        );
    }
    let mut groups: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for f in files {
        let s = split_of(f.strip_prefix(dir).unwrap_or(&f)).unwrap_or_else(|| "(none)".into());
        groups.entry(s).or_default().push(f);
    }
    let available: Vec<&str> = groups.keys().map(String::as_str).collect();
    let chosen = match split {
        Some(s) => {
            let want = canonical_split(s).unwrap_or(s);
            if !groups.contains_key(want) {
                bail!(
                    "{}: no `{s}` split here (splits found: {})",
                    dir.display(),
                    available.join(", ")
                );
            }
            want.to_string()
        }
        None => match prefer.iter().find(|p| groups.contains_key(**p)) {
            Some(p) => p.to_string(),
            None if groups.len() == 1 => available[0].to_string(),
            None => bail!(
                "{}: several splits ({}) and none of {} among them: name one with --split",
                dir.display(),
                available.join(", "),
                prefer.join(", ")
            ),
        },
    };
    let mut files = groups.remove(&chosen).unwrap_or_default();
    files.sort();
    Ok((files, chosen))
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || name.starts_with("cache-") || name.ends_with(".lock") {
            continue;
        }
        if path.is_dir() {
            if depth < 4 {
                walk(&path, depth + 1, out);
            }
            continue;
        }
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if DATA_EXTENSIONS.contains(&ext.as_str()) && !METADATA.contains(&name.as_str()) {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_names_come_from_file_or_folder_names() {
        let s = |p: &str| split_of(Path::new(p));
        assert_eq!(
            s("arc_easy_validation.jsonl").as_deref(),
            Some("validation")
        );
        assert_eq!(
            s("data/val/abstract_algebra_val.csv").as_deref(),
            Some("validation")
        );
        assert_eq!(s("all/dev-00000-of-00001.parquet").as_deref(), Some("dev"));
        assert_eq!(
            s("ARC-Easy/validation/data-00000-of-00001.arrow").as_deref(),
            Some("validation")
        );
        assert_eq!(s("ai2_arc-test.arrow").as_deref(), Some("test"));
        assert_eq!(s("x/y/data.arrow"), None);
    }
}
