//! Task files as users have them. The format is detected from the content (and, for folders, from
//! their layout), never from a file name alone.

mod folder;
pub mod llamacpp;
mod mmlu_csv;
mod records;

use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use super::item::{Item, RowError, RowRef};

pub use folder::{split_of, SPLITS};
pub use records::record_to_json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Format {
    /// Hugging Face rows, one JSON object per line (`Dataset.to_json`).
    Jsonl,
    /// A JSON array of row objects.
    JsonArray,
    /// Apache Parquet (what the Hugging Face Hub serves).
    Parquet,
    /// Arrow IPC stream (`save_to_disk` shards and the datasets cache).
    ArrowStream,
    /// Arrow IPC file (Feather v2).
    ArrowFile,
    /// hendrycks MMLU CSV: question, A, B, C, D, answer letter; the subject is in the file name.
    MmluCsv,
    /// llama-perplexity's `--hellaswag` text: 6 lines a task.
    LlamaHellaSwag,
    /// llama-perplexity's `--winogrande` CSV: index, sentence, option1, option2, answer.
    LlamaWinoGrande,
    /// llama-perplexity's binary `--multiple-choice` file.
    LlamaMultipleChoice,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "JSON lines",
            Format::JsonArray => "JSON array",
            Format::Parquet => "Parquet",
            Format::ArrowStream => "Arrow IPC stream",
            Format::ArrowFile => "Arrow IPC file",
            Format::MmluCsv => "MMLU CSV",
            Format::LlamaHellaSwag => "llama.cpp HellaSwag text",
            Format::LlamaWinoGrande => "llama.cpp WinoGrande CSV",
            Format::LlamaMultipleChoice => "llama.cpp multiple-choice binary",
        }
    }

    /// Whether rows are Hugging Face records (task-neutral JSON objects).
    pub fn is_records(self) -> bool {
        matches!(
            self,
            Format::Jsonl
                | Format::JsonArray
                | Format::Parquet
                | Format::ArrowStream
                | Format::ArrowFile
        )
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What detection tries, in order, for the "matches no format" message.
const TRIED: &str = "Parquet, Arrow IPC file, Arrow IPC stream, llama.cpp multiple-choice binary, \
JSON lines, JSON array, llama.cpp HellaSwag text, llama.cpp WinoGrande CSV, MMLU CSV";

/// Rows of one file: Hugging Face records, or items already shaped by a task-specific format.
pub enum Rows {
    Records(Vec<(RowRef, serde_json::Value)>),
    Items(Vec<std::result::Result<Item, RowError>>),
}

/// One file's rows and its detected format.
pub struct FileRows {
    pub path: PathBuf,
    pub format: Format,
    pub rows: Rows,
    /// A row llama-perplexity would not read (the last line of a WinoGrande CSV).
    pub llama_cpp_unread: Option<RowRef>,
}

/// Reads every file of a split (one file, or the shards/subjects of a folder).
pub fn read_split(files: &[PathBuf]) -> Result<Vec<FileRows>> {
    files.iter().map(|f| read_file(f)).collect()
}

/// The files holding split `split` under `path` (a file is its own split). `prefer` lists the splits
/// to try, in order, when `split` is None.
pub fn resolve(
    path: &Path,
    split: Option<&str>,
    prefer: &[&str],
) -> Result<(Vec<PathBuf>, String)> {
    if path.is_dir() {
        folder::split_files(path, split, prefer)
    } else if path.exists() {
        let name = split_of(path).unwrap_or_else(|| split.unwrap_or("?").to_string());
        Ok((vec![path.to_path_buf()], name))
    } else {
        bail!("{}: no such file or folder", path.display())
    }
}

/// Reads one file, detecting its format.
pub fn read_file(path: &Path) -> Result<FileRows> {
    let format = detect(path)?;
    let file: Arc<Path> = Arc::from(path);
    let rows = match format {
        Format::Jsonl => Rows::Records(records::read_jsonl(&file)?),
        Format::JsonArray => Rows::Records(records::read_json_array(&file)?),
        Format::Parquet => Rows::Records(records::read_parquet(&file)?),
        Format::ArrowStream => Rows::Records(records::read_arrow(&file, false)?),
        Format::ArrowFile => Rows::Records(records::read_arrow(&file, true)?),
        Format::MmluCsv => Rows::Items(mmlu_csv::read(&file)?),
        Format::LlamaHellaSwag => Rows::Items(llamacpp::read_hellaswag(&file)?),
        Format::LlamaWinoGrande => Rows::Items(llamacpp::read_winogrande(&file)?),
        Format::LlamaMultipleChoice => Rows::Items(llamacpp::read_multiple_choice(&file)?),
    };
    let llama_cpp_unread = match format {
        Format::LlamaWinoGrande => {
            llamacpp::llama_cpp_unread_line(path)?.map(|l| RowRef::line(&file, l))
        }
        _ => None,
    };
    Ok(FileRows {
        path: path.to_path_buf(),
        format,
        rows,
        llama_cpp_unread,
    })
}

/// Detects the format of a file from its first bytes (and, for text, its first lines).
pub fn detect(path: &Path) -> Result<Format> {
    let mut head = Vec::with_capacity(64 * 1024);
    fs::File::open(path)
        .with_context(|| format!("{}: cannot open", path.display()))?
        .take(64 * 1024)
        .read_to_end(&mut head)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    if head.iter().all(|b| b.is_ascii_whitespace()) {
        bail!("{}: empty file (no task rows)", path.display());
    }
    if head.starts_with(b"PAR1") {
        return Ok(Format::Parquet);
    }
    if head.starts_with(b"ARROW1") {
        return Ok(Format::ArrowFile);
    }
    if head.starts_with(&[0xff, 0xff, 0xff, 0xff]) {
        return Ok(Format::ArrowStream);
    }
    let len = fs::metadata(path)?.len();
    if llamacpp::looks_like_multiple_choice(&head, len) {
        return Ok(Format::LlamaMultipleChoice);
    }
    // Text formats: judge by the first lines (a cut UTF-8 character at the end of `head` is fine).
    let text = String::from_utf8_lossy(&head);
    let first = text.trim_start();
    if first.starts_with('{') {
        return Ok(Format::Jsonl);
    }
    if first.starts_with('[') {
        return Ok(Format::JsonArray);
    }
    let lines: Vec<&str> = text.lines().collect();
    if llamacpp::looks_like_hellaswag(&lines) {
        return Ok(Format::LlamaHellaSwag);
    }
    if llamacpp::looks_like_winogrande(&lines) {
        return Ok(Format::LlamaWinoGrande);
    }
    if mmlu_csv::looks_like(&head) {
        return Ok(Format::MmluCsv);
    }
    bail!(
        "{}: not a task file in any known format (tried {TRIED})",
        path.display()
    )
}
