//! Short renderings of metadata values for people (`inspect --meta`) and for JSON: long arrays such
//! as a tokenizer vocabulary show their type, length and first items instead of every element.

use std::fmt::Write;

use serde_json::json;

use super::value::{Array, Value};

/// One line: scalars as they are, strings quoted and escaped (cut after `max_chars`), arrays longer
/// than `max_items` as `[array of 49152 string] "<|endoftext|>", "<|im_start|>", …`.
pub fn value_line(value: &Value, max_items: usize, max_chars: usize) -> String {
    match value {
        Value::Array(a) => array_line(a, max_items, max_chars),
        Value::String(s) => quoted(s, max_chars),
        other => scalar(other),
    }
}

fn array_line(a: &Array, max_items: usize, max_chars: usize) -> String {
    let items: Vec<String> = (0..a.len().min(max_items))
        .filter_map(|i| a.get(i))
        .map(|v| match v {
            Value::Array(inner) => {
                format!("[array of {} {}]", inner.len(), inner.elem_type().name())
            }
            other => value_line(&other, max_items, max_chars.min(40)),
        })
        .collect();
    if a.len() <= max_items {
        return format!("[{}]", items.join(", "));
    }
    let mut line = format!("[array of {} {}]", a.len(), a.elem_type().name());
    if !items.is_empty() {
        let _ = write!(line, " {}, …", items.join(", "));
    }
    line
}

fn scalar(v: &Value) -> String {
    match v {
        Value::U8(x) => x.to_string(),
        Value::I8(x) => x.to_string(),
        Value::U16(x) => x.to_string(),
        Value::I16(x) => x.to_string(),
        Value::U32(x) => x.to_string(),
        Value::I32(x) => x.to_string(),
        Value::F32(x) => x.to_string(),
        Value::Bool(x) => x.to_string(),
        Value::U64(x) => x.to_string(),
        Value::I64(x) => x.to_string(),
        Value::F64(x) => x.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[array of {} {}]", a.len(), a.elem_type().name()),
    }
}

/// `"text"` with control characters escaped so it stays on one line; cut with a byte count if long.
fn quoted(s: &str, max_chars: usize) -> String {
    let escaped = escape(s);
    if escaped.chars().count() <= max_chars {
        return format!("\"{escaped}\"");
    }
    let cut: String = escaped.chars().take(max_chars).collect();
    format!("\"{cut}…\" ({} bytes)", s.len())
}

/// JSON for a value; arrays longer than `max_items` become
/// `{"array_of": "string", "len": 49152, "first": [...]}`.
pub fn value_json(value: &Value, max_items: usize) -> serde_json::Value {
    match value {
        Value::Array(a) => array_json(a, max_items),
        Value::String(s) => json!(s),
        Value::Bool(b) => json!(b),
        Value::F32(x) => json!(x),
        Value::F64(x) => json!(x),
        Value::U64(x) => json!(x),
        Value::I64(x) => json!(x),
        other => other
            .as_i64()
            .map(|x| json!(x))
            .unwrap_or(serde_json::Value::Null),
    }
}

fn array_json(a: &Array, max_items: usize) -> serde_json::Value {
    let items: Vec<serde_json::Value> = (0..a.len().min(max_items))
        .filter_map(|i| a.get(i))
        .map(|v| value_json(&v, max_items))
        .collect();
    if a.len() <= max_items {
        return serde_json::Value::Array(items);
    }
    json!({ "array_of": a.elem_type().name(), "len": a.len(), "first": items })
}

/// Escapes what would break a line or a quoted string (`"`, `\\`, control characters); other
/// characters, including non-ASCII text, stay as they are.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}
