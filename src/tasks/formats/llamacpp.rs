//! llama-perplexity's own task files, read the way its `perplexity.cpp` reads them:
//! `--hellaswag` text (6 lines a task), `--winogrande` CSV and the binary `--multiple-choice` file.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};

use super::records::read_text;
use crate::tasks::item::{Item, ItemBody, RowError, RowRef};

type Rows = Vec<std::result::Result<Item, RowError>>;

/// Lines as llama-perplexity sees them: `-f` drops one final newline, then `std::getline` splits
/// at `\n` (no empty piece at the end; carriage returns kept).
fn getline_lines(text: &str) -> Vec<&str> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let mut lines: Vec<&str> = text.split('\n').collect();
    if lines.last() == Some(&"") {
        lines.pop();
    }
    lines
}

/// `std::stoi` / `istream >> int`: optional leading whitespace and sign, then digits; the rest ignored.
fn leading_int(s: &str) -> Option<i64> {
    let t = s.trim_start();
    let (sign, digits) = match t.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let n: String = digits.chars().take_while(|c| c.is_ascii_digit()).collect();
    n.parse::<i64>().ok().map(|v| sign * v)
}

pub fn looks_like_hellaswag(lines: &[&str]) -> bool {
    let is_int = |s: &str| s.trim().parse::<u32>().is_ok();
    lines.len() >= 6
        && !is_int(lines[0])
        && is_int(lines[1])
        && (lines.len() < 8 || is_int(lines[7]))
}

pub fn read_hellaswag(file: &Arc<Path>) -> Result<Rows> {
    let text = read_text(file)?;
    let lines = getline_lines(&text);
    if lines.is_empty() {
        bail!("{}: empty file (no task rows)", file.display());
    }
    if !lines.len().is_multiple_of(6) {
        bail!(
            "{}: {} lines, not a multiple of 6 (llama.cpp's HellaSwag text has 6 lines a task: context, gold index, 4 endings)",
            file.display(),
            lines.len()
        );
    }
    Ok(lines
        .chunks(6)
        .enumerate()
        .map(|(k, task)| {
            let at = RowRef::line(file, 6 * k + 1);
            let endings: Vec<String> = task[2..].iter().map(|s| s.to_string()).collect();
            match leading_int(task[1]) {
                Some(g) if (0..endings.len() as i64).contains(&g) => Ok(Item {
                    at,
                    subject: None,
                    body: ItemBody::HellaSwagText {
                        context: task[0].to_string(),
                        endings,
                    },
                    gold: g as usize,
                }),
                Some(g) => Err(RowError {
                    at,
                    msg: format!("gold index {g} out of range (4 endings)"),
                }),
                None => Err(RowError {
                    at,
                    msg: format!(
                        "no gold index on the second line (found `{}`)",
                        task[1].trim()
                    ),
                }),
            }
        })
        .collect())
}

/// Byte offsets of the first four commas outside double quotes, as llama-perplexity finds them.
fn comma_positions(line: &str) -> Option<[usize; 4]> {
    let mut pos = [0usize; 4];
    let mut n = 0;
    let mut quoted = false;
    for (i, b) in line.bytes().enumerate() {
        if quoted {
            quoted = b != b'"';
        } else if b == b',' {
            pos[n] = i;
            n += 1;
            if n == 4 {
                return Some(pos);
            }
        } else if b == b'"' {
            quoted = true;
        }
    }
    None
}

/// One WinoGrande CSV line split as llama-perplexity splits it: sentence (outer quotes dropped,
/// nothing unescaped), the two options, the answer; `Err` says why the line is unusable.
fn winogrande_fields(
    line: &str,
) -> std::result::Result<(String, String, String, String, i64), String> {
    let c = comma_positions(line).ok_or("fewer than 4 comma separators")?;
    let sentence = if line.as_bytes().get(c[0] + 1) == Some(&b'"') {
        line.get(c[0] + 2..c[1].saturating_sub(1)).unwrap_or("")
    } else {
        &line[c[0] + 1..c[1]]
    };
    let option1 = &line[c[1] + 1..c[2]];
    let option2 = &line[c[2] + 1..c[3]];
    let answer = &line[c[3] + 1..];
    let Some(blank) = sentence.find('_') else {
        return Err("no _ (blank) in the sentence".into());
    };
    match leading_int(answer) {
        Some(a @ 1..=2) => Ok((
            sentence[..blank].to_string(),
            sentence[blank + 1..].to_string(),
            option1.to_string(),
            option2.to_string(),
            a,
        )),
        _ if answer.trim().is_empty() => Err("no gold answer (answer column is empty)".into()),
        _ => Err(format!("answer `{}` is not 1 or 2", answer.trim())),
    }
}

pub fn looks_like_winogrande(lines: &[&str]) -> bool {
    lines
        .iter()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| winogrande_fields(l).is_ok())
}

/// Reads every line. llama-perplexity itself never reads the last one (its loop stops at the
/// end-of-file that `-f` leaves after the last line); [`llama_cpp_unread_line`] names it.
pub fn read_winogrande(file: &Arc<Path>) -> Result<Rows> {
    let text = read_text(file)?;
    let mut out = Vec::new();
    for (i, line) in getline_lines(&text).into_iter().enumerate() {
        if line.is_empty() {
            continue;
        }
        let at = RowRef::line(file, i + 1);
        out.push(match winogrande_fields(line) {
            Ok((before, after, o1, o2, answer)) => Ok(Item {
                at,
                subject: None,
                body: ItemBody::WinoGrande {
                    before,
                    after,
                    options: vec![o1, o2],
                },
                gold: answer as usize - 1,
            }),
            Err(msg) => Err(RowError { at, msg }),
        });
    }
    if out.is_empty() {
        bail!("{}: empty file (no task rows)", file.display());
    }
    Ok(out)
}

/// The line of a WinoGrande CSV that llama-perplexity skips: the last one (1-based), if any.
pub fn llama_cpp_unread_line(file: &Path) -> Result<Option<usize>> {
    let text = read_text(file)?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    Ok((!text.is_empty()).then(|| text.split('\n').count()))
}

/// A task of the binary multiple-choice format: question, answers and which of them are correct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceTask {
    pub question: String,
    pub answers: Vec<String>,
    /// 1 for a correct answer, 0 otherwise (llama.cpp's `mc1.labels`).
    pub labels: Vec<i32>,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The header is a task count and a table of task offsets; the first offset is just past the table.
pub fn looks_like_multiple_choice(head: &[u8], file_len: u64) -> bool {
    let Some(n) = u32_at(head, 0) else {
        return false;
    };
    let first = 4 + 4 * n as u64;
    if n == 0 || first >= file_len || u32_at(head, 4).map(u64::from) != Some(first) {
        return false;
    }
    let mut prev = first;
    for k in 1..n as usize {
        let Some(p) = u32_at(head, 4 + 4 * k) else {
            break;
        };
        if (p as u64) <= prev || p as u64 >= file_len {
            return false;
        }
        prev = p as u64;
    }
    true
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn u32(&mut self) -> Option<u32> {
        let v = u32_at(self.b, self.at)?;
        self.at += 4;
        Some(v)
    }
    fn bytes(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        Some(String::from_utf8_lossy(self.bytes(n)?).into_owned())
    }
    /// llama.cpp's `multiple_choice_answers::deserialize` (at most 100 answers).
    fn answers(&mut self) -> Option<(Vec<String>, Vec<i32>)> {
        let n = self.u32()? as usize;
        if n > 100 {
            return None;
        }
        let answers = (0..n).map(|_| self.string()).collect::<Option<Vec<_>>>()?;
        let labels = (0..n)
            .map(|_| self.u32().map(|v| v as i32))
            .collect::<Option<Vec<_>>>()?;
        Some((answers, labels))
    }
}

/// Reads every task of a binary multiple-choice file in order (mc2 is read and ignored, as llama.cpp does).
pub fn read_choice_tasks(file: &Path) -> Result<Vec<ChoiceTask>> {
    let b = std::fs::read(file).with_context(|| format!("{}: cannot read", file.display()))?;
    let mut c = Cursor { b: &b, at: 0 };
    let n = c
        .u32()
        .with_context(|| format!("{}: empty file (no task rows)", file.display()))?;
    if n == 0 {
        bail!("{}: no tasks (task count is 0)", file.display());
    }
    c.bytes(4 * n as usize).with_context(|| {
        format!(
            "{}: task table cut short ({n} tasks announced)",
            file.display()
        )
    })?;
    let mut tasks = Vec::with_capacity(n as usize);
    for k in 0..n {
        let task = (|| {
            let question = c.string()?;
            let (answers, labels) = c.answers()?;
            c.answers()?;
            Some(ChoiceTask {
                question,
                answers,
                labels,
            })
        })();
        match task {
            Some(t) => tasks.push(t),
            None => bail!(
                "{}: task {} of {n} is cut short or malformed (at byte {})",
                file.display(),
                k + 1,
                c.at
            ),
        }
    }
    Ok(tasks)
}

pub fn read_multiple_choice(file: &Arc<Path>) -> Result<Rows> {
    let tasks = read_choice_tasks(file)?;
    Ok(tasks
        .into_iter()
        .enumerate()
        .map(|(k, t)| {
            let at = RowRef::row(file, k + 1);
            let correct: Vec<usize> = (0..t.labels.len()).filter(|&i| t.labels[i] == 1).collect();
            let msg = if t.question.is_empty() {
                Some("empty question".to_string())
            } else if t.answers.is_empty() || t.answers.iter().any(|a| a.is_empty()) {
                Some("no answers, or an empty answer".to_string())
            } else if correct.len() != 1 {
                Some(format!(
                    "{} answers labelled correct; mc1 needs exactly one",
                    correct.len()
                ))
            } else {
                None
            };
            match msg {
                Some(msg) => Err(RowError { at, msg }),
                None => Ok(Item {
                    at,
                    subject: None,
                    body: ItemBody::Choice {
                        question: t.question,
                        answers: t.answers,
                    },
                    gold: correct[0],
                }),
            }
        })
        .collect())
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// The bytes of a binary multiple-choice file holding `tasks` (mc2 empty).
pub fn encode_choice_tasks(tasks: &[ChoiceTask]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut offsets = Vec::with_capacity(tasks.len());
    let header = 4 + 4 * tasks.len();
    for t in tasks {
        offsets.push((header + body.len()) as u32);
        put_string(&mut body, &t.question);
        body.extend_from_slice(&(t.answers.len() as u32).to_le_bytes());
        for a in &t.answers {
            put_string(&mut body, a);
        }
        for l in &t.labels {
            body.extend_from_slice(&l.to_le_bytes());
        }
        body.extend_from_slice(&0u32.to_le_bytes());
    }
    let mut out = Vec::with_capacity(header + body.len());
    out.extend_from_slice(&(tasks.len() as u32).to_le_bytes());
    for o in offsets {
        out.extend_from_slice(&o.to_le_bytes());
    }
    out.extend_from_slice(&body);
    out
}

/// Writes a binary multiple-choice file atomically.
pub fn write_choice_tasks(path: &Path, tasks: &[ChoiceTask]) -> Result<()> {
    crate::util::write_atomic(path, &encode_choice_tasks(tasks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn winogrande_lines_split_like_llama_cpp() {
        let (b, a, o1, o2, ans) =
            winogrande_fields("2,\"They were worried, but the _ was't ruined.\",blanket,bed,2")
                .unwrap();
        assert_eq!(
            (b.as_str(), a.as_str()),
            ("They were worried, but the ", " was't ruined.")
        );
        assert_eq!((o1.as_str(), o2.as_str(), ans), ("blanket", "bed", 2));
        assert!(winogrande_fields("0,no blank here,a,b,1").is_err());
        assert!(winogrande_fields("0,a _ b,x,y,3")
            .unwrap_err()
            .contains("not 1 or 2"));
        assert_eq!(leading_int("2\r"), Some(2));
    }
}
