//! `mpt-gguf inspect FILE`: what a GGUF file holds, read natively (no llama.cpp involved).

use std::fmt::Write;
use std::path::PathBuf;

use anyhow::Result;
use mpt_gguf::engine::open_gguf;
use mpt_gguf::gguf::show::{escape, value_json, value_line};
use mpt_gguf::gguf::summary::Totals;
use mpt_gguf::gguf::{GgufFile, Summary, Value};
use serde_json::json;

/// Array items and string characters shown per metadata value.
const META_ITEMS: usize = 5;
const META_CHARS: usize = 100;

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// GGUF file to read.
    pub file: PathBuf,
    /// List every tensor: name, type, shape, bytes, offset.
    #[arg(long)]
    pub tensors: bool,
    /// Print the metadata (long arrays such as the vocabulary are summarised).
    #[arg(long)]
    pub meta: bool,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: InspectArgs) -> Result<()> {
    let file = open_gguf(&args.file)?;
    let summary = Summary::of(&file);
    let out = if args.json {
        to_json(&file, &summary, &args)?
    } else {
        to_text(&file, &summary, &args)
    };
    print!("{out}");
    Ok(())
}

fn to_json(file: &GgufFile, summary: &Summary, args: &InspectArgs) -> Result<String> {
    let mut doc = serde_json::to_value(summary)?;
    if let Some(obj) = doc.as_object_mut() {
        if args.tensors {
            obj.insert("tensors".into(), serde_json::to_value(file.tensors())?);
        }
        if args.meta {
            let meta = file.metadata().iter().map(|(k, v)| {
                json!({ "key": k, "type": type_name(v), "value": value_json(v, META_ITEMS) })
            });
            obj.insert("metadata".into(), meta.collect());
        }
    }
    Ok(serde_json::to_string_pretty(&doc)? + "\n")
}

fn to_text(file: &GgufFile, s: &Summary, args: &InspectArgs) -> String {
    let mut out = String::new();
    let facts = [
        ("file", s.path.clone()),
        (
            "architecture",
            s.architecture.clone().unwrap_or_else(|| "-".into()),
        ),
        ("name", s.name.clone().unwrap_or_else(|| "-".into())),
        (
            "parameters",
            format!("{} ({})", millions(s.parameters), thousands(s.parameters)),
        ),
        (
            "file size",
            format!("{} ({} bytes)", mib(s.file_size), thousands(s.file_size)),
        ),
        ("tensors", s.tensor_count.to_string()),
        ("metadata", format!("{} keys", s.metadata_count)),
        (
            "gguf",
            format!(
                "v{}, alignment {}, data at byte {}",
                s.version,
                s.alignment,
                thousands(s.data_offset)
            ),
        ),
        (
            "bits/weight",
            format!("{:.3} (tensor bytes × 8 / parameters)", s.bits_per_weight),
        ),
    ];
    for (k, v) in facts {
        let _ = writeln!(out, "{k:<14}{v}");
    }

    let mut rows: Vec<Vec<String>> = s
        .types
        .iter()
        .map(|r| {
            let mut row = vec![r.ggml_type.to_string()];
            row.extend(totals_cells(&r.totals));
            row.push(format!("{:.1}%", r.share_of_file * 100.0));
            row
        })
        .collect();
    let all = Totals {
        tensors: s.tensor_count,
        parameters: s.parameters,
        bytes: s.tensor_bytes,
        bits_per_weight: s.bits_per_weight,
    };
    let share = if s.file_size == 0 {
        0.0
    } else {
        s.tensor_bytes as f64 / s.file_size as f64
    };
    let mut total = vec!["total".to_string()];
    total.extend(totals_cells(&all));
    total.push(format!("{:.1}%", share * 100.0));
    rows.push(total);
    out.push('\n');
    out += &table(
        &["type", "tensors", "parameters", "bytes", "bpw", "share"],
        &rows,
    );

    if !s.layers.is_empty() {
        let mut rows: Vec<Vec<String>> = s
            .layers
            .iter()
            .map(|l| {
                std::iter::once(format!("blk.{}", l.layer))
                    .chain(totals_cells(&l.totals))
                    .collect()
            })
            .collect();
        if s.outside_layers.tensors > 0 {
            rows.push(
                std::iter::once("other".to_string())
                    .chain(totals_cells(&s.outside_layers))
                    .collect(),
            );
        }
        out.push('\n');
        out += &table(&["layer", "tensors", "parameters", "bytes", "bpw"], &rows);
    }

    if args.tensors {
        let rows: Vec<Vec<String>> = file
            .tensors()
            .iter()
            .map(|t| {
                let shape = t
                    .dims
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(" × ");
                vec![
                    t.name.clone(),
                    t.ggml_type.to_string(),
                    shape,
                    thousands(t.size),
                    thousands(t.offset),
                ]
            })
            .collect();
        out.push('\n');
        out += &table(&["tensor", "type", "shape", "bytes", "offset"], &rows);
    }

    if args.meta {
        let rows: Vec<Vec<String>> = file
            .metadata()
            .iter()
            .map(|(k, v)| {
                vec![
                    escape(k),
                    type_name(v),
                    value_line(v, META_ITEMS, META_CHARS),
                ]
            })
            .collect();
        out.push('\n');
        out += &table(&["key", "type", "value"], &rows);
    }
    out
}

fn totals_cells(t: &Totals) -> Vec<String> {
    vec![
        t.tensors.to_string(),
        thousands(t.parameters),
        thousands(t.bytes),
        format!("{:.3}", t.bits_per_weight),
    ]
}

/// `u32`, `string`, `array[string]`.
fn type_name(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("array[{}]", a.elem_type().name()),
        other => other.value_type().name().to_string(),
    }
}

/// Columns padded to their widest cell: number columns right-aligned, the others left-aligned.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let numeric: Vec<bool> = (0..headers.len())
        .map(|col| {
            col > 0
                && rows
                    .iter()
                    .filter_map(|r| r.get(col))
                    .all(|c| c.starts_with(|ch: char| ch.is_ascii_digit()))
        })
        .collect();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    let mut widths = vec![0; headers.len()];
    for row in std::iter::once(&header).chain(rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for ((cell, w), right) in row.iter().zip(&widths).zip(&numeric) {
            let pad = " ".repeat(w.saturating_sub(cell.chars().count()));
            let _ = if *right {
                write!(line, "{pad}{cell}  ")
            } else {
                write!(line, "{cell}{pad}  ")
            };
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// 134515008 → `134,515,008`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn millions(n: u64) -> String {
    if n >= 1_000_000_000 {
        format!("{:.2} B", n as f64 / 1e9)
    } else {
        format!("{:.2} M", n as f64 / 1e6)
    }
}

fn mib(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
    }
}
