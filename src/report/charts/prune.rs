//! Charts of a prune × quantize grid: PPL against sparsity per pruning method, PPL against effective
//! bits for quantized-only versus pruned-and-quantized models, and a heat map of the grid.

use crate::results::RungResult;

use super::super::data;
use super::super::fit::{Axis as FitAxis, PhaseFit};
use super::super::format;
use super::context::{fit_marks, slug, Ctx};
use super::spec::{
    color, Axis, Body, Figure, Heatmap, Line, Mark, Panel, Pt, Series, Swatch, GREY, MARKERS,
};

pub(crate) fn prune_figures(ctx: &Ctx, skipped: &mut Vec<String>) -> Vec<Figure> {
    let any = ctx
        .results
        .iter()
        .any(|r| data::all_rows(r).iter().any(|x| data::is_pruned(x)));
    if !any {
        skipped.push("pruning charts: no pruned grid cells in these results".into());
        return vec![];
    }
    let mut out = Vec::new();
    out.extend(ppl_vs_sparsity(ctx));
    out.extend(ppl_vs_effective_bpw(ctx));
    for m in 0..ctx.results.len() {
        match heatmap(ctx, m) {
            Some(f) => out.push(f),
            None => skipped.push(format!(
                "prune × quant heat map of {}: no pruned cells",
                ctx.names[m]
            )),
        }
    }
    out
}

fn ppl_err(r: &RungResult) -> Option<(f64, Option<(f64, f64)>)> {
    let p = data::ppl(r)?;
    Some((p, r.ppl_err.map(|e| (p - e, p + e))))
}

/// One panel per pruning method, one line per model and quantization type; each line's fitted
/// transition and safe zone in its own colour, with one generic legend key for those marks.
fn ppl_vs_sparsity(ctx: &Ctx) -> Option<Figure> {
    // (model, fit, pruning method, quantization type) of every sparsity fit.
    let fits: Vec<(usize, &PhaseFit, &str, &str)> = ctx
        .fits
        .iter()
        .filter(|f| f.axis == FitAxis::Sparsity)
        .filter_map(|f| {
            let (method, quant) = f.subject.pruning()?;
            Some((
                ctx.names.iter().position(|n| *n == f.model)?,
                f,
                method,
                quant,
            ))
        })
        .collect();
    let mut methods: Vec<&str> = Vec::new();
    let mut groups: Vec<(usize, &str)> = Vec::new();
    for &(m, _, method, quant) in &fits {
        if !methods.contains(&method) {
            methods.push(method);
        }
        if !groups.contains(&(m, quant)) {
            groups.push((m, quant));
        }
    }
    let mut panels = Vec::new();
    let mut all_x = Vec::new();
    for method in &methods {
        let mut series = Vec::new();
        let (mut ys, mut bands, mut lines) = (Vec::new(), Vec::new(), Vec::new());
        for &(m, fit, _, quant) in fits.iter().filter(|f| f.2 == *method) {
            let k = groups.iter().position(|g| *g == (m, quant)).unwrap_or(0);
            let rows = data::all_rows(&ctx.results[m]);
            // Cells the fit left out are rings off the line.
            let (mut points, mut left_out) = (Vec::new(), Vec::new());
            for p in &fit.points {
                let Some((y, err)) = rows
                    .iter()
                    .find(|r| r.rung == p.rung)
                    .and_then(|r| ppl_err(r))
                else {
                    continue;
                };
                all_x.push(p.x);
                ys.extend([y, err.map_or(y, |e| e.0), err.map_or(y, |e| e.1)]);
                let pt = Pt {
                    x: p.x,
                    y,
                    err,
                    label: None,
                };
                if p.fitted() {
                    points.push(pt);
                } else {
                    left_out.push(pt);
                }
            }
            if points.is_empty() && left_out.is_empty() {
                continue;
            }
            let c = color(k);
            let what = match fit.transition() {
                Some(t) => format!(
                    "{quant}: p0 = {} ({}–{})",
                    format::sig(t.critical, 3),
                    format::sig(t.ci_low, 3),
                    format::sig(t.ci_high, 3)
                ),
                None => format!("{quant}: no p0"),
            };
            series.push(Series {
                label: ctx.label(m, &what),
                color: c,
                marker: MARKERS[m % MARKERS.len()],
                line: Line::Solid,
                points,
            });
            if !left_out.is_empty() {
                series.push(Series::left_out(
                    "not fitted: beaten by a cell with more sparsity".into(),
                    c,
                    left_out,
                ));
            }
            let (mut fb, mut fl) = (Vec::new(), Vec::new());
            fit_marks(ctx, m, fit, &|_, x| Some(x), &mut fb, &mut fl);
            for mark in fb.into_iter().chain(fl) {
                match mark {
                    Mark::VBand {
                        from, to, alpha, ..
                    } => bands.push(Mark::VBand {
                        from,
                        to,
                        color: c,
                        alpha: alpha * 0.7,
                        label: String::new(),
                    }),
                    Mark::VLine { x, dashed, .. } => lines.push(Mark::VLine {
                        x,
                        color: c,
                        dashed,
                        label: String::new(),
                    }),
                }
            }
        }
        if series.is_empty() {
            continue;
        }
        bands.extend(lines);
        panels.push((method.to_string(), ys, bands, series));
    }
    if panels.is_empty() {
        return None;
    }
    let x = Axis::linear("sparsity (fraction of weights removed)", &all_x, true);
    let key = vec![
        (
            "fitted p0 (line in the series' colour)".to_string(),
            Swatch::VLine(GREY, false),
        ),
        (
            "95% CI of p0 (band in the series' colour)".to_string(),
            Swatch::Band(GREY, 0.25),
        ),
        (
            format!(
                "safe zone: PPL within {:.0}% of base",
                100.0 * ctx.opts.tolerance
            ),
            Swatch::Band(GREY, 0.1),
        ),
    ];
    let n = panels.len() as u32;
    let panels = panels
        .into_iter()
        .map(|(method, ys, marks, series)| Panel {
            title: Some(format!("{method} pruning")),
            x: x.clone(),
            y: Axis::log("perplexity (log scale)", &ys),
            marks,
            series,
            legend: key.clone(),
        })
        .collect();
    Some(Figure {
        name: "ppl_vs_sparsity".into(),
        title: "Perplexity vs sparsity, per pruning method".into(),
        subtitle: Some(format!(
            "{}; p0: fitted critical sparsity (95% bootstrap CI)",
            ctx.names.join(", ")
        )),
        size: (1200, 120 + 460 * n),
        body: Body::Panels(panels),
    })
}

fn ppl_vs_effective_bpw(ctx: &Ctx) -> Option<Figure> {
    let mut series = Vec::new();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for m in 0..ctx.results.len() {
        let rows: Vec<&RungResult> = data::all_rows(&ctx.results[m])
            .into_iter()
            .filter(|r| r.ok())
            .collect();
        // Quantized only, then one series per pruning method.
        let mut kinds: Vec<Option<String>> = vec![None];
        for r in rows.iter().filter(|r| data::is_pruned(r)) {
            let method = r.prune.as_ref().map(|p| p.method.clone());
            if !kinds.contains(&method) {
                kinds.push(method);
            }
        }
        for (k, kind) in kinds.iter().enumerate() {
            let mut points: Vec<Pt> = rows
                .iter()
                .filter(|r| match kind {
                    None => !data::is_pruned(r),
                    Some(m) => {
                        data::is_pruned(r) && r.prune.as_ref().is_some_and(|p| &p.method == m)
                    }
                })
                .filter_map(|r| {
                    let (y, err) = ppl_err(r)?;
                    Some(Pt {
                        x: data::effective_bpw(r)?,
                        y,
                        err,
                        label: None,
                    })
                })
                .collect();
            points.sort_by(|a, b| a.x.total_cmp(&b.x));
            if points.is_empty() {
                continue;
            }
            for p in &points {
                xs.push(p.x);
                ys.extend([p.y, p.err.map_or(p.y, |e| e.0), p.err.map_or(p.y, |e| e.1)]);
            }
            let what = match kind {
                None => "quantized only".to_string(),
                Some(m) => format!("{m}-pruned + quantized"),
            };
            series.push(Series {
                label: ctx.label(m, &what),
                color: color(if ctx.single() { k } else { m * 3 + k }),
                marker: MARKERS[k % MARKERS.len()],
                line: if kind.is_none() {
                    Line::Solid
                } else {
                    Line::None
                },
                points,
            });
        }
    }
    if series.is_empty() {
        return None;
    }
    Some(Figure {
        name: "ppl_vs_effective_bpw".into(),
        title: "Perplexity vs effective bits: quantized only vs pruned + quantized".into(),
        subtitle: ctx.subtitle(),
        size: (1200, 720),
        body: Body::Panels(vec![Panel {
            title: None,
            x: Axis::bits(
                "effective bits per weight = bpw × (1 − sparsity) (log scale)",
                &xs,
            ),
            y: Axis::log("perplexity (log scale)", &ys),
            marks: ctx.quality_marks(&|_, b| Some(b)),
            series,
            legend: vec![],
        }]),
    })
}

fn heatmap(ctx: &Ctx, m: usize) -> Option<Figure> {
    let rows: Vec<&RungResult> = data::all_rows(&ctx.results[m]);
    if !rows.iter().any(|r| data::is_pruned(r)) {
        return None;
    }
    let base = data::base_of(&ctx.results[m]).and_then(data::ppl);
    // Columns: quantization types, most bits first.
    let mut quants: Vec<(String, f64)> = Vec::new();
    for r in &rows {
        if !quants.iter().any(|q| q.0 == r.quant) {
            quants.push((r.quant.clone(), data::quant_bits(r).unwrap_or(0.0)));
        }
    }
    quants.sort_by(|a, b| b.1.total_cmp(&a.1));
    // Rows: unpruned first, then by method and level.
    let mut configs: Vec<(String, String, f64)> = vec![("none".into(), String::new(), 0.0)];
    for r in rows.iter().filter(|r| data::is_pruned(r)) {
        let label = data::prune_label(r).unwrap_or_default();
        if !configs.iter().any(|c| c.0 == label) {
            let p = r.prune.as_ref().unwrap();
            configs.push((label, p.method.clone(), p.level));
        }
    }
    configs[1..].sort_by(|a, b| a.1.cmp(&b.1).then(a.2.total_cmp(&b.2)));
    let cell = |cfg: &str, quant: &str| {
        rows.iter().find(|r| {
            r.quant == quant
                && match data::prune_label(r) {
                    Some(l) if data::is_pruned(r) => l == cfg,
                    _ => cfg == "none",
                }
        })
    };
    // Row 0 is drawn at the bottom: list the configurations bottom-up so "none" is on top.
    configs.reverse();
    let mut values = Vec::new();
    let mut text = Vec::new();
    for (cfg, _, _) in &configs {
        let (mut v, mut t) = (Vec::new(), Vec::new());
        for (q, _) in &quants {
            let r = cell(cfg, q);
            let ppl = r.filter(|r| r.ok()).and_then(|r| data::ppl(r));
            v.push(ppl.map(|p| base.map_or(p.ln(), |b| (p / b).ln())));
            t.push(match (r, ppl) {
                (_, Some(p)) => format::sig(p, 3),
                (Some(r), None) if !r.ok() => "failed".into(),
                _ => "-".into(),
            });
        }
        values.push(v);
        text.push(t);
    }
    let scale_label = if base.is_some() {
        "ln(PPL / base PPL); cells show PPL".to_string()
    } else {
        "ln PPL; cells show PPL".to_string()
    };
    let width = (300 + 110 * quants.len() as u32).clamp(900, 2400);
    let height = (220 + 44 * configs.len() as u32).clamp(420, 1600);
    let name = if ctx.single() {
        "prune_quant_heatmap".to_string()
    } else {
        format!("prune_quant_heatmap_{}", slug(&ctx.names[m]))
    };
    Some(Figure {
        name,
        title: format!("Prune × quantize grid: perplexity of {}", ctx.names[m]),
        subtitle: base.map(|b| {
            format!(
                "base PPL {}; green = close to base, red = collapsed",
                format::sig(b, 4)
            )
        }),
        size: (width, height),
        body: Body::Heatmap(Box::new(Heatmap {
            x: Axis::categorical(
                "quantization type",
                quants.into_iter().map(|q| q.0).collect(),
            ),
            y: Axis::categorical(
                "pruning (method, level)",
                configs.into_iter().map(|c| c.0).collect(),
            ),
            values,
            text,
            scale_label,
        })),
    })
}
