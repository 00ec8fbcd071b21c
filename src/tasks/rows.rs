//! Hugging Face rows (as JSON objects) to items, one reader per task, with the gold answer checked.

use serde_json::Value;

use super::item::{Item, ItemBody, RowError, RowRef};
use super::kind::TaskKind;

type RowResult = std::result::Result<Item, RowError>;

pub fn item_from_record(kind: TaskKind, at: RowRef, row: &Value) -> RowResult {
    let fail = |msg: String| RowError {
        at: at.clone(),
        msg,
    };
    let obj = match row {
        Value::Object(o) => o,
        Value::String(s) => return Err(fail(s.clone())),
        _ => return Err(fail("not a JSON object".into())),
    };
    let r = Row { obj, kind };
    let built = match kind {
        TaskKind::ArcEasy | TaskKind::ArcChallenge => arc(&r),
        TaskKind::Mmlu => mmlu(&r),
        TaskKind::HellaSwag => hellaswag(&r),
        TaskKind::WinoGrande => winogrande(&r),
        TaskKind::TruthfulQa => Err(format!(
            "{kind} is read from llama.cpp's binary multiple-choice file, not from rows"
        )),
    };
    built
        .map(|(subject, body, gold)| Item {
            at: at.clone(),
            subject,
            body,
            gold,
        })
        .map_err(fail)
}

type Built = std::result::Result<(Option<String>, ItemBody, usize), String>;

struct Row<'a> {
    obj: &'a serde_json::Map<String, Value>,
    kind: TaskKind,
}

impl Row<'_> {
    fn missing(&self, field: &str) -> String {
        let found: Vec<&str> = self.obj.keys().map(String::as_str).collect();
        format!(
            "missing field `{field}` ({} rows have {}; this one has {})",
            self.kind,
            self.kind.row_shape(),
            found.join(", ")
        )
    }

    fn get(&self, field: &str) -> std::result::Result<&Value, String> {
        self.obj.get(field).ok_or_else(|| self.missing(field))
    }

    fn str(&self, field: &str) -> std::result::Result<String, String> {
        match self.get(field)? {
            Value::String(s) => Ok(s.clone()),
            other => Err(format!(
                "field `{field}` is {} instead of text",
                kind_of(other)
            )),
        }
    }

    /// The gold field as text, or None when it is absent, null or empty (unlabelled test rows).
    fn gold_text(&self, field: &str) -> Option<String> {
        match self.obj.get(field)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn strings(v: &Value, what: &str) -> std::result::Result<Vec<String>, String> {
    let Value::Array(items) = v else {
        return Err(format!("`{what}` is {} instead of a list", kind_of(v)));
    };
    items
        .iter()
        .map(|x| match x {
            Value::String(s) => Ok(s.clone()),
            other => Err(format!("`{what}` holds {} instead of text", kind_of(other))),
        })
        .collect()
}

fn no_gold(field: &str) -> String {
    format!("no gold answer (`{field}` is missing or empty)")
}

/// `{"question", "choices": {"text": [...], "label": [...]}, "answerKey"}`; AI2's original layout
/// (`"question": {"stem", "choices": [{"text", "label"}]}`) is read too.
fn arc(r: &Row) -> Built {
    let (question, texts, labels) = match r.get("question")? {
        Value::Object(q) => {
            let stem = q
                .get("stem")
                .and_then(Value::as_str)
                .ok_or_else(|| r.missing("question.stem"))?;
            let choices = q
                .get("choices")
                .and_then(Value::as_array)
                .ok_or_else(|| r.missing("question.choices"))?;
            let field = |c: &Value, f: &str| c.get(f).and_then(Value::as_str).map(String::from);
            let texts: Option<Vec<String>> = choices.iter().map(|c| field(c, "text")).collect();
            let labels: Option<Vec<String>> = choices.iter().map(|c| field(c, "label")).collect();
            let (Some(t), Some(l)) = (texts, labels) else {
                return Err("question.choices entries need text and label".into());
            };
            (stem.to_string(), t, l)
        }
        _ => {
            let question = r.str("question")?;
            let choices = r.get("choices")?;
            let texts = strings(
                choices
                    .get("text")
                    .ok_or_else(|| r.missing("choices.text"))?,
                "choices.text",
            )?;
            let labels = strings(
                choices
                    .get("label")
                    .ok_or_else(|| r.missing("choices.label"))?,
                "choices.label",
            )?;
            (question, texts, labels)
        }
    };
    if texts.len() != labels.len() || texts.len() < 2 {
        return Err(format!(
            "{} choice texts and {} labels; need the same number, at least 2",
            texts.len(),
            labels.len()
        ));
    }
    let key = r
        .gold_text("answerKey")
        .ok_or_else(|| no_gold("answerKey"))?;
    let gold = labels.iter().position(|l| *l == key).ok_or_else(|| {
        format!(
            "gold answer `{key}` is not one of the choice labels {}",
            labels.join(", ")
        )
    })?;
    Ok((
        None,
        ItemBody::Arc {
            question,
            choices: texts,
        },
        gold,
    ))
}

/// `{"question", "subject", "choices": [4], "answer": 0-3}` (also `"A"`-`"D"` or `"0"`-`"3"`).
fn mmlu(r: &Row) -> Built {
    let question = r.str("question")?;
    let subject = r.str("subject")?;
    let choices = strings(r.get("choices")?, "choices")?;
    if choices.len() != 4 {
        return Err(format!("{} choices; MMLU rows have 4", choices.len()));
    }
    let answer = r.gold_text("answer").ok_or_else(|| no_gold("answer"))?;
    let gold = match answer.as_str() {
        "A" => 0,
        "B" => 1,
        "C" => 2,
        "D" => 3,
        s => s
            .parse::<i64>()
            .map_err(|_| format!("answer `{s}` is neither an index 0-3 nor a letter A-D"))?
            .try_into()
            .unwrap_or(usize::MAX),
    };
    if gold >= 4 {
        return Err(format!("gold index {answer} out of range (4 choices)"));
    }
    Ok((Some(subject), ItemBody::Mmlu { question, choices }, gold))
}

/// `{"activity_label", "ctx_a", "ctx_b", "endings": [4], "label": "0"-"3"}`.
fn hellaswag(r: &Row) -> Built {
    let activity_label = r.str("activity_label")?;
    let ctx_a = r.str("ctx_a")?;
    let ctx_b = r.str("ctx_b")?;
    let endings = strings(r.get("endings")?, "endings")?;
    if endings.len() < 2 {
        return Err(format!("{} endings; need at least 2", endings.len()));
    }
    let label = r.gold_text("label").ok_or_else(|| no_gold("label"))?;
    let gold = index_in_range(&label, endings.len(), "endings")?;
    let body = ItemBody::HellaSwag {
        activity_label,
        ctx_a,
        ctx_b,
        endings,
    };
    Ok((None, body, gold))
}

/// `{"sentence" with one _, "option1", "option2", "answer": "1"|"2"}`.
fn winogrande(r: &Row) -> Built {
    let sentence = r.str("sentence")?;
    let options = vec![r.str("option1")?, r.str("option2")?];
    let Some(blank) = sentence.find('_') else {
        return Err("no _ (blank) in the sentence".into());
    };
    let answer = r.gold_text("answer").ok_or_else(|| no_gold("answer"))?;
    let gold = match answer.as_str() {
        "1" => 0,
        "2" => 1,
        other => return Err(format!("answer `{other}` is not 1 or 2")),
    };
    let body = ItemBody::WinoGrande {
        before: sentence[..blank].to_string(),
        after: sentence[blank + 1..].to_string(),
        options,
    };
    Ok((None, body, gold))
}

fn index_in_range(text: &str, n: usize, what: &str) -> std::result::Result<usize, String> {
    let i: i64 = text
        .parse()
        .map_err(|_| format!("gold `{text}` is not an index"))?;
    if i < 0 || i as usize >= n {
        return Err(format!("gold index {i} out of range ({n} {what})"));
    }
    Ok(i as usize)
}
