//! One multiple-choice question as read from a task file, before any prompt template is applied.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Where a row came from, for error messages and per-item results: `file: row 7` or `file: line 7`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowRef {
    pub file: Arc<Path>,
    /// 1-based row (table formats) or line (text formats).
    pub row: usize,
    pub is_line: bool,
}

impl RowRef {
    pub fn row(file: &Arc<Path>, row: usize) -> Self {
        Self {
            file: file.clone(),
            row,
            is_line: false,
        }
    }

    pub fn line(file: &Arc<Path>, line: usize) -> Self {
        Self {
            file: file.clone(),
            row: line,
            is_line: true,
        }
    }
}

impl fmt::Display for RowRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = if self.is_line { "line" } else { "row" };
        write!(f, "{}: {unit} {}", self.file.display(), self.row)
    }
}

/// A row that cannot be used, with where it is.
#[derive(Debug, Clone)]
pub struct RowError {
    pub at: RowRef,
    pub msg: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.msg)
    }
}

/// The fields of a question, in the shape its source format has them. Templates (harness mode) and
/// llama.cpp's algorithms (llama.cpp mode) turn them into token sequences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemBody {
    /// ARC: a question and its answer texts.
    Arc {
        question: String,
        choices: Vec<String>,
    },
    /// MMLU: a question and four answer texts (the subject is on the item).
    Mmlu {
        question: String,
        choices: Vec<String>,
    },
    /// HellaSwag as Hugging Face rows have it: the harness builds its context from these.
    HellaSwag {
        activity_label: String,
        ctx_a: String,
        ctx_b: String,
        endings: Vec<String>,
    },
    /// HellaSwag as llama-perplexity's text file has it: context and endings already preprocessed.
    HellaSwagText {
        context: String,
        endings: Vec<String>,
    },
    /// WinoGrande: the sentence split at its blank (`_`) and the two options for the blank.
    WinoGrande {
        before: String,
        after: String,
        options: Vec<String>,
    },
    /// llama-perplexity's binary multiple-choice format: a ready-made question and answers.
    Choice {
        question: String,
        answers: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub at: RowRef,
    /// MMLU subject (`abstract_algebra`), None for other tasks.
    pub subject: Option<String>,
    pub body: ItemBody,
    /// Index of the correct choice.
    pub gold: usize,
}

impl ItemBody {
    pub fn n_choices(&self) -> usize {
        match self {
            ItemBody::Arc { choices, .. } | ItemBody::Mmlu { choices, .. } => choices.len(),
            ItemBody::HellaSwag { endings, .. } | ItemBody::HellaSwagText { endings, .. } => {
                endings.len()
            }
            ItemBody::WinoGrande { options, .. } => options.len(),
            ItemBody::Choice { answers, .. } => answers.len(),
        }
    }
}
