//! `table5.csv`: the layout of Table 5 of the MPT README. One block of rows per model (Quant Scheme,
//! PPL ±, Tokens/s, Param(GB), ARC-C, ARC-E, MMLU, other measured tasks, KLD, bpw), one column per
//! bit width, `-` where nothing was measured.
//!
//! Which rung fills a column when several share its bit width: unpruned rungs only; the table5
//! ladder's type for that width if it was measured (IQ1_M, Q2_K, Q3_K_M, Q4_K_M, Q5_K_M, Q6_K, Q8_0,
//! F16); else the measured rung with the most bits per weight (ties by name). A width whose rungs all
//! failed shows the ladder's (or first) type marked `(failed)`.

use anyhow::Result;

use crate::results::{RungResult, SweepResults};

use super::data;
use super::format::{gb, opt, pm, pm_sig, trim_float, DASH};
use super::options::ReportOptions;
use super::task_names::{task_key, task_label};

/// The published columns; other widths (32-bit) are appended when measured.
pub const STANDARD_WIDTHS: [u32; 8] = [1, 2, 3, 4, 5, 6, 8, 16];
/// Tasks with a row of their own in the published layout, in its order.
pub const LAYOUT_TASKS: [&str; 3] = ["arc-challenge", "arc-easy", "mmlu"];

#[derive(Debug, Clone, PartialEq)]
pub struct Table5 {
    pub widths: Vec<u32>,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub model: String,
    /// The rung filling each column.
    pub chosen: Vec<Option<String>>,
    /// Row label and one cell per column.
    pub rows: Vec<(String, Vec<String>)>,
}

enum Pick<'a> {
    Measured(&'a RungResult),
    Failed(&'a RungResult),
}

/// The rung that fills the `width` column (see the module docs for the rule).
pub fn pick_for_width<'a>(rows: &[&'a RungResult], width: u32) -> Option<&'a RungResult> {
    match pick(rows, width)? {
        Pick::Measured(r) => Some(r),
        Pick::Failed(_) => None,
    }
}

fn pick<'a>(rows: &[&'a RungResult], width: u32) -> Option<Pick<'a>> {
    let ladder: Vec<&str> = crate::quant::types::ladder("table5")
        .unwrap_or_default()
        .iter()
        .map(|t| t.name)
        .collect();
    let in_ladder = |r: &RungResult| ladder.iter().any(|n| n.eq_ignore_ascii_case(&r.quant));
    let same: Vec<&RungResult> = rows
        .iter()
        .copied()
        .filter(|r| !data::is_pruned(r) && data::bit_width(r) == Some(width))
        .collect();
    let measured: Vec<&RungResult> = same.iter().copied().filter(|r| r.ok()).collect();
    if let Some(r) = measured.iter().find(|r| in_ladder(r)) {
        return Some(Pick::Measured(r));
    }
    if let Some(r) = measured.iter().copied().max_by(|a, b| {
        let (x, y) = (data::bits(a).unwrap_or(0.0), data::bits(b).unwrap_or(0.0));
        x.total_cmp(&y).then_with(|| b.rung.cmp(&a.rung))
    }) {
        return Some(Pick::Measured(r));
    }
    let failed = same.iter().find(|r| in_ladder(r)).or(same.first())?;
    Some(Pick::Failed(failed))
}

impl Table5 {
    pub fn build(results: &[SweepResults], opts: &ReportOptions) -> Table5 {
        let mut widths = STANDARD_WIDTHS.to_vec();
        for r in results {
            for row in data::all_rows(r)
                .into_iter()
                .filter(|x| !data::is_pruned(x))
            {
                if let Some(w) = data::bit_width(row) {
                    if !widths.contains(&w) {
                        widths.push(w);
                    }
                }
            }
        }
        widths.sort_unstable();
        let extra_tasks: Vec<String> = data::all_tasks(results)
            .into_iter()
            .filter(|t| !LAYOUT_TASKS.iter().any(|l| task_key(l) == task_key(t)))
            .collect();
        let names = data::model_names(results);
        let blocks = results
            .iter()
            .zip(names)
            .map(|(r, name)| block(r, name, &widths, &extra_tasks, opts))
            .collect();
        Table5 { widths, blocks }
    }

    pub fn header(&self) -> Vec<String> {
        let mut h = vec!["Main Model".to_string(), "Indicator".to_string()];
        h.extend(self.widths.iter().map(|w| format!("{w}-bit")));
        h
    }

    pub fn to_csv(&self) -> Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(self.header())?;
        for b in &self.blocks {
            for (i, (label, cells)) in b.rows.iter().enumerate() {
                let model = if i == 0 { b.model.as_str() } else { "" };
                let mut rec = vec![model, label.as_str()];
                rec.extend(cells.iter().map(String::as_str));
                w.write_record(rec)?;
            }
        }
        Ok(w.into_inner()?)
    }

    /// The README's Markdown layout (bold model names and indicators).
    pub fn to_markdown(&self) -> String {
        let h = self.header();
        let mut s = String::new();
        let bold: Vec<String> = h.iter().map(|c| format!("**{c}**")).collect();
        s.push_str(&format!("| {} |\n", bold.join(" | ")));
        s.push_str(&format!("|{}\n", "---|".repeat(h.len())));
        for b in &self.blocks {
            for (i, (label, cells)) in b.rows.iter().enumerate() {
                let model = if i == 0 {
                    format!("**{}**", md_escape(&b.model))
                } else {
                    String::new()
                };
                s.push_str(&format!(
                    "| {model} | **{label}** | {} |\n",
                    cells
                        .iter()
                        .map(|c| md_escape(c))
                        .collect::<Vec<_>>()
                        .join(" | ")
                ));
            }
        }
        s
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

fn block(
    r: &SweepResults,
    model: String,
    widths: &[u32],
    extra: &[String],
    opts: &ReportOptions,
) -> Block {
    let rows = data::all_rows(r);
    let picks: Vec<Option<Pick>> = widths.iter().map(|w| pick(&rows, *w)).collect();
    let measured = |f: &dyn Fn(&RungResult) -> String| -> Vec<String> {
        picks
            .iter()
            .map(|p| match p {
                Some(Pick::Measured(r)) => f(r),
                _ => DASH.to_string(),
            })
            .collect()
    };
    let scheme: Vec<String> = picks
        .iter()
        .map(|p| match p {
            Some(Pick::Measured(r)) => scheme_name(&r.quant),
            Some(Pick::Failed(r)) => format!("{} (failed)", scheme_name(&r.quant)),
            None => DASH.to_string(),
        })
        .collect();
    let task = |name: &str, decimals: usize| {
        measured(&|r| {
            opt(data::task_acc(r, name).map(|a| a.0), |v| {
                format!("{v:.decimals$}")
            })
        })
    };
    let mut out = vec![
        ("Quant Scheme".to_string(), scheme),
        (
            "PPL".to_string(),
            measured(&|r| match (data::ppl(r), r.ppl_err) {
                (Some(p), Some(e)) => pm(p, e, 4),
                (Some(p), None) => format!("{p:.4}"),
                _ => DASH.to_string(),
            }),
        ),
        (
            "Tokens/s".to_string(),
            measured(&|r| opt(data::throughput(r, opts.throughput).0, |v| trim_float(v, 2))),
        ),
        (
            "Param(GB)".to_string(),
            measured(&|r| r.size_bytes.map(gb).unwrap_or_else(|| DASH.into())),
        ),
        ("ARC-C".to_string(), task("arc-challenge", 2)),
        ("ARC-E".to_string(), task("arc-easy", 2)),
        ("MMLU".to_string(), task("mmlu", 3)),
    ];
    for t in extra {
        out.push((task_label(t), task(t, 3)));
    }
    out.push((
        "KLD".to_string(),
        measured(&|r| {
            opt(r.kld.as_ref().map(|k| k.mean), |m| {
                pm_sig(m, r.kld.as_ref().unwrap().mean_err, 3)
            })
        }),
    ));
    out.push((
        "bpw".to_string(),
        measured(&|r| opt(data::bits(r), |b| format!("{b:.2}"))),
    ));
    Block {
        model,
        chosen: picks
            .iter()
            .map(|p| match p {
                Some(Pick::Measured(r)) => Some(r.rung.clone()),
                _ => None,
            })
            .collect(),
        rows: out,
    }
}

/// The published table writes the unquantized column as FP16.
fn scheme_name(quant: &str) -> String {
    if quant.eq_ignore_ascii_case("F16") {
        "FP16".to_string()
    } else {
        quant.to_string()
    }
}
