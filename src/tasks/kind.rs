//! Task names, their aliases and where their files are looked for by default.

use std::fmt;
use std::path::PathBuf;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TaskKind {
    ArcEasy,
    ArcChallenge,
    Mmlu,
    HellaSwag,
    WinoGrande,
    /// TruthfulQA mc1, read from llama-perplexity's binary multiple-choice file only.
    TruthfulQa,
}

impl TaskKind {
    pub const ALL: [TaskKind; 6] = [
        TaskKind::ArcEasy,
        TaskKind::ArcChallenge,
        TaskKind::Mmlu,
        TaskKind::HellaSwag,
        TaskKind::WinoGrande,
        TaskKind::TruthfulQa,
    ];

    /// The name used on the command line and in results (`TaskScore::task`).
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::ArcEasy => "arc-easy",
            TaskKind::ArcChallenge => "arc-challenge",
            TaskKind::Mmlu => "mmlu",
            TaskKind::HellaSwag => "hellaswag",
            TaskKind::WinoGrande => "winogrande",
            TaskKind::TruthfulQa => "truthfulqa",
        }
    }

    fn aliases(self) -> &'static [&'static str] {
        match self {
            TaskKind::ArcEasy => &["arc-easy", "arc_easy", "arc-e", "arce", "ARC-Easy"],
            TaskKind::ArcChallenge => &[
                "arc-challenge",
                "arc_challenge",
                "arc-c",
                "arcc",
                "ARC-Challenge",
            ],
            TaskKind::Mmlu => &["mmlu", "hendrycks-test", "hendrycksTest"],
            TaskKind::HellaSwag => &["hellaswag", "hella-swag"],
            TaskKind::WinoGrande => &["winogrande", "wino-grande", "winogrande_xl"],
            TaskKind::TruthfulQa => &[
                "truthfulqa",
                "truthful-qa",
                "truthfulqa_mc1",
                "truthfulqa-mc1",
            ],
        }
    }

    /// Parses a task name (case-insensitive, `_` or `-`); an unknown name lists the known ones and
    /// the closest matches.
    pub fn parse(name: &str) -> Result<TaskKind> {
        let norm = |s: &str| s.trim().to_ascii_lowercase().replace('_', "-");
        let wanted = norm(name);
        for kind in Self::ALL {
            if kind.aliases().iter().any(|a| norm(a) == wanted) {
                return Ok(kind);
            }
        }
        let mut close: Vec<(f64, &str)> = Self::ALL
            .iter()
            .map(|k| (strsim::jaro_winkler(&wanted, k.name()), k.name()))
            .filter(|(score, _)| *score > 0.7)
            .collect();
        close.sort_by(|a, b| b.0.total_cmp(&a.0));
        let known: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
        let hint = match close.first() {
            Some((_, best)) => format!(" (did you mean {best}?)"),
            None => String::new(),
        };
        bail!(
            "unknown task `{name}`{hint}; known tasks: {}",
            known.join(", ")
        )
    }

    /// The file this task is read from in the default data folder (what scripts/fetch-tasks.sh writes).
    pub fn default_file(self) -> &'static str {
        match self {
            TaskKind::ArcEasy => "arc_easy_validation.jsonl",
            TaskKind::ArcChallenge => "arc_challenge_validation.jsonl",
            TaskKind::Mmlu => "mmlu_validation.jsonl",
            TaskKind::HellaSwag => "hellaswag_validation.jsonl",
            TaskKind::WinoGrande => "winogrande_xl_validation.jsonl",
            TaskKind::TruthfulQa => "truthful-qa-validation.bin",
        }
    }

    /// What a Hugging Face row of this task holds, for error messages.
    pub fn row_shape(self) -> &'static str {
        match self {
            TaskKind::ArcEasy | TaskKind::ArcChallenge => {
                "question, choices {text[], label[]}, answerKey"
            }
            TaskKind::Mmlu => "question, subject, choices[4], answer (0-3 or A-D)",
            TaskKind::HellaSwag => "activity_label, ctx_a, ctx_b, endings[], label",
            TaskKind::WinoGrande => "sentence (with _), option1, option2, answer (1 or 2)",
            TaskKind::TruthfulQa => "llama.cpp's binary multiple-choice file",
        }
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `$MPT_TASKS_DIR`, else `~/.cache/mpt-gguf/tasks`.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MPT_TASKS_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache/mpt-gguf/tasks")
}
