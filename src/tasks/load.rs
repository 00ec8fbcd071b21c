//! Loading a task set from `NAME[=PATH]`: find the files, detect their format, turn rows into
//! items, check gold answers and (for MMLU) that every subject is there. No model is needed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::formats::{self, split_of, FileRows, Format, Rows, SPLITS};
use super::item::{Item, RowRef};
use super::kind::{default_data_dir, TaskKind};
use super::rows::item_from_record;
use super::subjects::MMLU_SUBJECTS;

#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Skip rows that cannot be used (no gold answer, gold out of range, malformed) and report
    /// them, instead of stopping at the first.
    pub skip_bad_rows: bool,
    /// Split to read from a folder holding several (`validation`, `test`, `dev`); default: the
    /// split lm-evaluation-harness evaluates (test for ARC and MMLU, validation otherwise).
    pub split: Option<String>,
    /// File or folder with MMLU's few-shot exemplars (the dev split); default: found beside the data.
    pub fewshot: Option<PathBuf>,
    /// Where specs without a path are looked up; default `$MPT_TASKS_DIR` or `~/.cache/mpt-gguf/tasks`.
    pub data_dir: Option<PathBuf>,
}

/// One task's items, loaded once and evaluated on any number of models.
#[derive(Debug, Clone)]
pub struct TaskSet {
    pub kind: TaskKind,
    /// The file or folder named in the spec (or found in the data folder).
    pub source: PathBuf,
    /// The split read (`validation`, `test`, ...; `?` when a file's name does not say).
    pub split: String,
    /// Formats detected, in file order, without repeats.
    pub formats: Vec<Format>,
    /// Every file read, for provenance hashes.
    pub files: Vec<PathBuf>,
    pub items: Vec<Item>,
    /// MMLU dev exemplars for `--shots`, in file order; empty when none were found.
    pub fewshot: Vec<Item>,
    pub fewshot_files: Vec<PathBuf>,
    /// Rows skipped with `skip_bad_rows`, each `file: row N: why`.
    pub skipped: Vec<String>,
    /// Things the user should know that did not stop loading (missing MMLU subjects when skipping).
    pub warnings: Vec<String>,
    /// Rows llama-perplexity itself never reads (the last line of a WinoGrande CSV); the
    /// llama.cpp mode leaves them out too, so that both score the same tasks.
    pub llama_cpp_unread: Vec<RowRef>,
}

/// Splits `NAME[=PATH]`.
pub fn parse_spec(spec: &str) -> Result<(TaskKind, Option<PathBuf>)> {
    let (name, path) = match spec.split_once('=') {
        Some((n, p)) if !p.trim().is_empty() => (n, Some(PathBuf::from(p.trim()))),
        Some((n, _)) => bail!(
            "task spec `{spec}`: nothing after `=` (use {}=PATH)",
            n.trim()
        ),
        None => (spec, None),
    };
    Ok((TaskKind::parse(name)?, path))
}

impl TaskSet {
    /// Loads `NAME[=PATH]`; without a path, the task's file in the default data folder.
    pub fn load(spec: &str, opts: &LoadOptions) -> Result<TaskSet> {
        let (kind, path) = parse_spec(spec)?;
        let path = match path {
            Some(p) => p,
            None => default_path(kind, opts)?,
        };
        Self::from_path(kind, &path, opts)
    }

    pub fn from_path(kind: TaskKind, path: &Path, opts: &LoadOptions) -> Result<TaskSet> {
        let prefer: &[&str] = match kind {
            TaskKind::ArcEasy | TaskKind::ArcChallenge | TaskKind::Mmlu => &["test", "validation"],
            _ => &["validation"],
        };
        let (files, split) = formats::resolve(path, opts.split.as_deref(), prefer)?;
        let files = arc_variant(kind, path, files);
        let mut set = TaskSet {
            kind,
            source: path.to_path_buf(),
            split,
            formats: Vec::new(),
            files: files.clone(),
            items: Vec::new(),
            fewshot: Vec::new(),
            fewshot_files: Vec::new(),
            skipped: Vec::new(),
            warnings: Vec::new(),
            llama_cpp_unread: Vec::new(),
        };
        let read = formats::read_split(&files)?;
        for f in &read {
            if !set.formats.contains(&f.format) {
                set.formats.push(f.format);
            }
            set.llama_cpp_unread.extend(f.llama_cpp_unread.clone());
        }
        set.items = items_of(kind, read, opts, &mut set.skipped)?;
        if set.items.is_empty() {
            bail!(
                "{}: no usable {kind} rows ({} bad rows skipped; first: {})",
                path.display(),
                set.skipped.len(),
                set.skipped.first().map(String::as_str).unwrap_or("-")
            );
        }
        // llama.cpp's binary MMLU files carry no subjects: nothing to check or to add shots from.
        if kind == TaskKind::Mmlu && set.items.iter().any(|i| i.subject.is_some()) {
            set.check_subjects(opts)?;
            set.load_fewshot(opts)?;
        }
        Ok(set)
    }

    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The subjects of the items, sorted (MMLU).
    pub fn subjects(&self) -> BTreeSet<&str> {
        self.items
            .iter()
            .filter_map(|i| i.subject.as_deref())
            .collect()
    }

    fn check_subjects(&mut self, opts: &LoadOptions) -> Result<()> {
        let present = self.subjects();
        let missing: Vec<&str> = MMLU_SUBJECTS
            .iter()
            .copied()
            .filter(|s| !present.contains(s))
            .collect();
        let unknown: Vec<&str> = present
            .iter()
            .copied()
            .filter(|s| !MMLU_SUBJECTS.contains(s))
            .collect();
        if !unknown.is_empty() {
            self.warnings.push(format!(
                "{}: subjects that are not among MMLU's 57: {}",
                self.source.display(),
                unknown.join(", ")
            ));
        }
        if missing.is_empty() {
            return Ok(());
        }
        let msg = format!(
            "{}: MMLU split `{}` lacks {} of {} subjects: {}",
            self.source.display(),
            self.split,
            missing.len(),
            MMLU_SUBJECTS.len(),
            missing.join(", ")
        );
        if opts.skip_bad_rows {
            self.warnings.push(msg);
            Ok(())
        } else {
            bail!("{msg} (pass --skip-bad-rows to evaluate the subjects present)")
        }
    }

    fn load_fewshot(&mut self, opts: &LoadOptions) -> Result<()> {
        let dev = match &opts.fewshot {
            Some(p) => formats::resolve(p, Some("dev"), &["dev"]).map(|(f, _)| f)?,
            None if self.source.is_dir() => {
                match formats::resolve(&self.source, Some("dev"), &[]) {
                    Ok((f, _)) => f,
                    Err(_) => return Ok(()),
                }
            }
            None => match dev_sibling(&self.source) {
                Some(p) => vec![p],
                None => return Ok(()),
            },
        };
        let read = formats::read_split(&dev)?;
        let mut skipped = Vec::new();
        self.fewshot = items_of(self.kind, read, opts, &mut skipped)?;
        self.skipped.extend(skipped);
        self.fewshot_files = dev;
        Ok(())
    }
}

/// Where a spec without a path is looked for, or an error saying how to get the data.
fn default_path(kind: TaskKind, opts: &LoadOptions) -> Result<PathBuf> {
    let dir = opts.data_dir.clone().unwrap_or_else(default_data_dir);
    let path = dir.join(kind.default_file());
    if path.exists() {
        return Ok(path);
    }
    let how = if kind == TaskKind::TruthfulQa {
        "get llama.cpp's truthful-qa-validation.bin (huggingface.co/datasets/ikawrakow/validation-datasets-for-llama.cpp) and pass truthfulqa=PATH".to_string()
    } else {
        format!(
            "run scripts/fetch-tasks.sh (it writes the task rows into {}), set MPT_TASKS_DIR, or pass {}=PATH (JSONL, Parquet, Arrow, CSV or llama.cpp files)",
            dir.display(),
            kind.name()
        )
    };
    bail!("no {kind} data: {} not found; {how}", path.display())
}

/// A folder holding both ARC configurations: keep the files of the one asked for.
fn arc_variant(kind: TaskKind, root: &Path, files: Vec<PathBuf>) -> Vec<PathBuf> {
    let (want, other) = match kind {
        TaskKind::ArcEasy => ("easy", "challenge"),
        TaskKind::ArcChallenge => ("challenge", "easy"),
        _ => return files,
    };
    let rel = |f: &PathBuf| {
        f.strip_prefix(root)
            .unwrap_or(f)
            .to_string_lossy()
            .to_ascii_lowercase()
    };
    let mixed =
        files.iter().any(|f| rel(f).contains(want)) && files.iter().any(|f| rel(f).contains(other));
    if mixed {
        files
            .into_iter()
            .filter(|f| rel(f).contains(want))
            .collect()
    } else {
        files
    }
}

/// The dev split beside an evaluation file: every split word in the last three path components
/// replaced by `dev` (`mmlu_validation.jsonl` → `mmlu_dev.jsonl`, `val/x_val.csv` → `dev/x_dev.csv`).
fn dev_sibling(path: &Path) -> Option<PathBuf> {
    split_of(path)?;
    let comps: Vec<String> = path
        .iter()
        .map(|c| c.to_string_lossy().to_string())
        .collect();
    let n = comps.len();
    let mut out = PathBuf::new();
    for (i, c) in comps.iter().enumerate() {
        if i + 3 < n {
            out.push(c);
            continue;
        }
        let mut rebuilt = String::new();
        let mut word = String::new();
        for ch in c.chars().chain(std::iter::once('\0')) {
            if ch.is_alphanumeric() {
                word.push(ch);
                continue;
            }
            let is_split = SPLITS.iter().any(|(n, _)| word.eq_ignore_ascii_case(n));
            rebuilt.push_str(if is_split { "dev" } else { &word });
            word.clear();
            if ch != '\0' {
                rebuilt.push(ch);
            }
        }
        out.push(rebuilt);
    }
    (out != path && out.exists()).then_some(out)
}

/// Items of every file, bad rows either stopping the load or collected in `skipped`.
fn items_of(
    kind: TaskKind,
    read: Vec<FileRows>,
    opts: &LoadOptions,
    skipped: &mut Vec<String>,
) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    for f in read {
        check_format_fits(kind, &f)?;
        let rows: Vec<_> = match f.rows {
            Rows::Records(records) => records
                .into_iter()
                .map(|(at, v)| item_from_record(kind, at, &v))
                .collect(),
            Rows::Items(rows) => rows,
        };
        for row in rows {
            match row {
                Ok(item) => items.push(item),
                Err(e) if opts.skip_bad_rows => skipped.push(e.to_string()),
                Err(e) => bail!("{e} (pass --skip-bad-rows to skip such rows)"),
            }
        }
    }
    Ok(items)
}

fn check_format_fits(kind: TaskKind, f: &FileRows) -> Result<()> {
    let fits = match f.format {
        Format::LlamaHellaSwag => kind == TaskKind::HellaSwag,
        Format::LlamaWinoGrande => kind == TaskKind::WinoGrande,
        Format::MmluCsv => kind == TaskKind::Mmlu,
        Format::LlamaMultipleChoice => kind != TaskKind::WinoGrande,
        _ => kind != TaskKind::TruthfulQa,
    };
    if !fits {
        bail!(
            "{}: a {} file cannot hold {kind} tasks",
            f.path.display(),
            f.format
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_split_into_name_and_path() {
        let (k, p) = parse_spec("arc-easy=/x/y.jsonl").unwrap();
        assert_eq!(
            (k, p.as_deref()),
            (TaskKind::ArcEasy, Some(Path::new("/x/y.jsonl")))
        );
        assert_eq!(
            parse_spec("ARC_Challenge").unwrap().0,
            TaskKind::ArcChallenge
        );
        let e = parse_spec("hellaswg").unwrap_err().to_string();
        assert!(
            e.contains("unknown task `hellaswg`") && e.contains("did you mean hellaswag"),
            "{e}"
        );
        assert!(parse_spec("mmlu=").is_err());
    }
}
