//! Task names as results spell them (`ARC-Easy`, `arc_easy`, `arc-easy`): one key to match them by,
//! and the label tables and legends print.

/// Task names compared loosely: `ARC-Easy`, `arc_easy` and `arc-easy` are one task.
pub fn task_key(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// How a task is printed in tables and legends.
pub fn task_label(name: &str) -> String {
    match task_key(name).as_str() {
        "arcchallenge" | "arcc" => "ARC-C".into(),
        "arceasy" | "arce" => "ARC-E".into(),
        "mmlu" => "MMLU".into(),
        "hellaswag" => "HellaSwag".into(),
        "winogrande" => "WinoGrande".into(),
        "ifeval" => "IFEval".into(),
        "truthfulqa" => "TruthfulQA".into(),
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_names_match_loosely() {
        assert_eq!(task_key("ARC-Easy"), task_key("arc_easy"));
        assert_eq!(task_label("arc-challenge"), "ARC-C");
        assert_eq!(task_label("custom"), "custom");
    }
}
