//! A figure like Fig. 7 of the MPT README: PPL, ARC-E, ARC-C and MMLU against the quantization
//! scheme, stacked, one line per model. The schemes are Table 5's columns (same choice of rung).
//! The 3-bit threshold sits on the 3-bit column; each model's fitted transition is placed between
//! columns by interpolating its measured bits per weight.

use crate::results::RungResult;

use super::super::data;
use super::super::table5::{pick_for_width, Table5};
use super::context::{fit_marks, Ctx};
use super::spec::{color, Axis, Body, Figure, Line, Mark, Panel, Pt, Series, GREY, MARKERS};

const PANEL_H: u32 = 300;

type Metric = (
    &'static str,
    &'static str,
    fn(&RungResult) -> Option<(f64, f64)>,
);

const METRICS: [Metric; 4] = [
    ("WikiText PPL", "perplexity (log scale)", |r| {
        Some((data::ppl(r)?, r.ppl_err.unwrap_or(0.0)))
    }),
    ("ARC-Easy", "accuracy", |r| data::task_acc(r, "arc-easy")),
    ("ARC-Challenge", "accuracy", |r| {
        data::task_acc(r, "arc-challenge")
    }),
    ("MMLU", "accuracy", |r| data::task_acc(r, "mmlu")),
];

pub(crate) fn fig7(ctx: &Ctx) -> Option<Figure> {
    let table = Table5::build(ctx.results, ctx.opts);
    // Per model, the rung of each column (None where not measured).
    let picks: Vec<Vec<Option<&RungResult>>> = ctx
        .results
        .iter()
        .map(|r| {
            let rows = data::all_rows(r);
            table
                .widths
                .iter()
                .map(|w| pick_for_width(&rows, *w))
                .collect()
        })
        .collect();
    let cols: Vec<usize> = (0..table.widths.len())
        .filter(|&c| picks.iter().any(|p| p[c].is_some()))
        .collect();
    if cols.is_empty() {
        return None;
    }
    let categories: Vec<String> = cols
        .iter()
        .map(|&c| {
            let mut names: Vec<&str> = picks
                .iter()
                .filter_map(|p| p[c].map(|r| r.quant.as_str()))
                .collect();
            names.dedup();
            if names.len() == 1 {
                names[0].to_string()
            } else {
                format!("{}-bit", table.widths[c])
            }
        })
        .collect();
    let x = Axis::categorical("quantization scheme (Table 5 columns)", categories);

    // Bits → position: interpolate each model's measured bpw over the columns.
    let anchors: Vec<Vec<(f64, f64)>> = picks
        .iter()
        .map(|p| {
            let mut a: Vec<(f64, f64)> = cols
                .iter()
                .enumerate()
                .filter_map(|(pos, &c)| Some((data::bits(p[c]?)?, pos as f64)))
                .collect();
            a.sort_by(|u, v| u.0.total_cmp(&v.0));
            a
        })
        .collect();
    let to_pos = |m: usize, b: f64| interpolate(&anchors[m], b);
    let three_bit = cols
        .iter()
        .position(|&c| table.widths[c] == 3)
        .map(|p| p as f64);

    let mut panels = Vec::new();
    for (title, ylabel, get) in METRICS {
        let mut series = Vec::new();
        let mut ys = Vec::new();
        for (m, p) in picks.iter().enumerate() {
            let points: Vec<Pt> = cols
                .iter()
                .enumerate()
                .filter_map(|(pos, &c)| {
                    let (v, e) = get(p[c]?)?;
                    ys.extend([v, v - e, v + e]);
                    Some(Pt {
                        x: pos as f64,
                        y: v,
                        err: (e > 0.0).then_some((v - e, v + e)),
                        label: None,
                    })
                })
                .collect();
            if !points.is_empty() {
                series.push(Series {
                    label: ctx.names[m].clone(),
                    color: color(m),
                    marker: MARKERS[m % MARKERS.len()],
                    line: Line::Solid,
                    points,
                });
            }
        }
        if series.is_empty() {
            continue;
        }
        let y = if title.contains("PPL") {
            Axis::log(ylabel, &ys)
        } else {
            Axis::linear(ylabel, &ys, false)
        };
        let mut bands = Vec::new();
        let mut lines = Vec::new();
        if let Some(t) = three_bit {
            lines.push(Mark::VLine {
                x: t,
                color: GREY,
                dashed: true,
                label: "3-bit threshold (3-bit column)".into(),
            });
        }
        for m in 0..ctx.results.len() {
            if let Some(fit) = ctx.bits_fit(m) {
                fit_marks(ctx, m, fit, &to_pos, &mut bands, &mut lines);
            }
        }
        bands.extend(lines);
        panels.push(Panel {
            title: Some(title.to_string()),
            x: x.clone(),
            y,
            marks: bands,
            series,
            legend: vec![],
        });
    }
    if panels.is_empty() {
        return None;
    }
    // The shared x axis is described once, under the last panel.
    let last = panels.len() - 1;
    for p in &mut panels[..last] {
        p.x.label.clear();
    }
    let h = 70 + PANEL_H * panels.len() as u32;
    Some(Figure {
        name: "fig7_schemes".into(),
        title: "Quality by quantization scheme (Fig. 7 layout)".into(),
        subtitle: ctx.subtitle(),
        size: (1200, h),
        body: Body::Panels(panels),
    })
}

/// Piecewise-linear map through sorted (value, position) anchors, clamped at the ends.
fn interpolate(anchors: &[(f64, f64)], v: f64) -> Option<f64> {
    let first = anchors.first()?;
    let last = anchors.last()?;
    if v <= first.0 {
        return Some(first.1);
    }
    if v >= last.0 {
        return Some(last.1);
    }
    anchors.windows(2).find_map(|w| {
        let ((x0, p0), (x1, p1)) = (w[0], w[1]);
        (v >= x0 && v <= x1).then(|| {
            if x1 > x0 {
                p0 + (p1 - p0) * (v - x0) / (x1 - x0)
            } else {
                p0
            }
        })
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn interpolation_between_schemes() {
        let a = [(1.75, 0.0), (2.6, 1.0), (3.9, 2.0), (16.0, 7.0)];
        assert_eq!(super::interpolate(&a, 3.25), Some(1.5));
        assert_eq!(super::interpolate(&a, 1.0), Some(0.0));
        assert_eq!(super::interpolate(&a, 20.0), Some(7.0));
        assert_eq!(super::interpolate(&[], 2.0), None);
    }
}
