//! lm-evaluation-harness prompts: each task's YAML (`doc_to_text`, `doc_to_choice`, target
//! delimiter " ", few-shot delimiter "\n\n") written out, and its `_encode_pair` tokenization.

use std::collections::HashMap;
use std::sync::OnceLock;

use anyhow::{bail, Result};
use regex::Regex;

use super::item::{Item, ItemBody};
use super::subjects::subject_words;
use crate::engine::{Model, Token};

/// One question as the harness asks it: a (context, continuation) pair per choice, and the choice
/// strings whose character counts `acc_norm` divides by (None where the harness reports acc only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub pairs: Vec<(String, String)>,
    pub norm_chars: Option<Vec<usize>>,
}

const LETTERS: [&str; 4] = ["A", "B", "C", "D"];

/// The harness's HellaSwag `preprocess`: strip, " [title]" → ". ", drop `[...]`, "  " → " ".
pub fn hellaswag_preprocess(text: &str) -> String {
    static BRACKETS: OnceLock<Regex> = OnceLock::new();
    let re = BRACKETS.get_or_init(|| Regex::new(r"\[.*?\]").expect("valid regex"));
    let t = text.trim().replace(" [title]", ". ");
    re.replace_all(&t, "").replace("  ", " ")
}

/// Python's `str.capitalize`: first character upper case, the rest lower case.
pub fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// MMLU's `doc_to_text`: question (stripped), lettered choices, "Answer:".
fn mmlu_text(question: &str, choices: &[String]) -> String {
    let mut s = question.trim().to_string();
    for (letter, c) in LETTERS.iter().zip(choices) {
        s.push_str(&format!("\n{letter}. {c}"));
    }
    s.push_str("\nAnswer:");
    s
}

/// The harness request for `item`; `shots` are MMLU's dev exemplars of the same subject, in order.
pub fn harness_request(item: &Item, shots: &[&Item]) -> Result<Request> {
    let same_context = |context: String, choices: &[String], norm: bool| Request {
        pairs: choices
            .iter()
            .map(|c| (context.clone(), format!(" {c}")))
            .collect(),
        norm_chars: norm.then(|| choices.iter().map(|c| c.chars().count()).collect()),
    };
    if !shots.is_empty() && !matches!(item.body, ItemBody::Mmlu { .. }) {
        bail!("few-shot prompts are supported for mmlu only");
    }
    Ok(match &item.body {
        ItemBody::Arc { question, choices } => {
            same_context(format!("Question: {question}\nAnswer:"), choices, true)
        }
        ItemBody::Mmlu { question, choices } => {
            let subject = item.subject.as_deref().unwrap_or_default();
            let mut context = format!(
                "The following are multiple choice questions (with answers) about {}.\n\n",
                subject_words(subject)
            );
            for shot in shots {
                let ItemBody::Mmlu { question, choices } = &shot.body else {
                    bail!("{}: not an MMLU exemplar", shot.at);
                };
                context.push_str(&mmlu_text(question, choices));
                context.push_str(&format!(" {}\n\n", LETTERS[shot.gold]));
            }
            context.push_str(&mmlu_text(question, choices));
            let letters: Vec<String> = LETTERS.iter().map(|l| l.to_string()).collect();
            same_context(context, &letters, false)
        }
        ItemBody::HellaSwag {
            activity_label,
            ctx_a,
            ctx_b,
            endings,
        } => {
            let query =
                hellaswag_preprocess(&format!("{activity_label}: {ctx_a} {}", capitalize(ctx_b)));
            let choices: Vec<String> = endings.iter().map(|e| hellaswag_preprocess(e)).collect();
            same_context(query, &choices, true)
        }
        ItemBody::HellaSwagText { context, endings } => {
            same_context(context.clone(), endings, true)
        }
        ItemBody::WinoGrande {
            before,
            after,
            options,
        } => {
            // Partial evaluation: one context per option, the rest of the sentence scored alone.
            let continuation = format!(" {}", after.trim());
            Request {
                pairs: options
                    .iter()
                    .map(|o| (format!("{before}{o}"), continuation.clone()))
                    .collect(),
                norm_chars: None,
            }
        }
        ItemBody::Choice { question, answers } => same_context(question.clone(), answers, true),
    })
}

/// The harness's `_encode_pair`: trailing spaces of the context move to the continuation; the
/// continuation's tokens are those of `context + continuation` past the context's own tokens.
/// BOS is put in front when the model's tokenizer asks for it; an empty context becomes BOS alone.
pub fn encode_pair(
    model: &Model,
    context: &str,
    continuation: &str,
) -> Result<(Vec<Token>, Vec<Token>)> {
    encode_pair_cached(model, context, continuation, &mut HashMap::new())
}

/// `encode_pair` with the contexts' tokens kept in `cache` (the choices of a question share one).
pub fn encode_pair_cached(
    model: &Model,
    context: &str,
    continuation: &str,
    cache: &mut HashMap<String, Vec<Token>>,
) -> Result<(Vec<Token>, Vec<Token>)> {
    let kept = context.trim_end().len();
    let (context, moved) = context.split_at(kept);
    let continuation = format!("{moved}{continuation}");
    let tok = |s: &str| -> Result<Vec<Token>> {
        let mut t = Vec::with_capacity(s.len() / 3 + 2);
        if model.adds_bos() {
            t.push(model.bos());
        }
        t.extend(model.tokenize(s, false, false)?);
        Ok(t)
    };
    let whole = tok(&format!("{context}{continuation}"))?;
    let mut ctx = match cache.get(context) {
        Some(t) => t.clone(),
        None => {
            let t = tok(context)?;
            cache.insert(context.to_string(), t.clone());
            t
        }
    };
    let n = ctx.len().min(whole.len());
    let cont = whole[n..].to_vec();
    if ctx.is_empty() {
        if model.bos() < 0 {
            bail!("an empty context needs a BOS token and the model has none");
        }
        ctx.push(model.bos());
    }
    Ok((ctx, cont))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hellaswag_preprocess_matches_the_harness() {
        assert_eq!(
            hellaswag_preprocess(" [header] How to x [title] Do y. [step] Then z  "),
            " How to x. Do y. Then z"
        );
        assert_eq!(capitalize("the lady"), "The lady");
        assert_eq!(capitalize("A Man in the US"), "A man in the us");
        assert_eq!(capitalize(""), "");
    }
}
