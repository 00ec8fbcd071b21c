//! Quality and speed against bits and size, one series per model (the quantization ladder only;
//! pruned grid cells have their own charts).

use crate::results::RungResult;

use super::super::data;
use super::super::format::GB;
use super::super::task_names::task_label;
use super::context::{Ctx, THRESHOLD_BITS};
use super::spec::{color, Axis, Body, Figure, Line, Marker, Panel, Pt, Series, MARKERS};

const SIZE: (u32, u32) = (1200, 720);

/// A value and its error bar (absolute low, high).
type ValueErr = (f64, Option<(f64, f64)>);
/// Rung names beside points only when they stay readable.
const MAX_LABELLED: usize = 40;

/// The unpruned, measured rungs of a model, most bits first.
pub(crate) fn ladder<'a>(ctx: &Ctx<'a>, m: usize) -> Vec<&'a RungResult> {
    let mut rows: Vec<&RungResult> = data::all_rows(&ctx.results[m])
        .into_iter()
        .filter(|r| r.ok() && !data::is_pruned(r))
        .collect();
    rows.sort_by(|a, b| {
        data::bits(b)
            .unwrap_or(0.0)
            .total_cmp(&data::bits(a).unwrap_or(0.0))
    });
    rows
}

fn series_style(ctx: &Ctx, m: usize) -> (super::spec::Rgb, Marker) {
    (
        color(m),
        if ctx.single() {
            Marker::Circle
        } else {
            MARKERS[m % MARKERS.len()]
        },
    )
}

/// One series per model of `y(rung)` against `x(rung)`, and every value for the axes. The rungs
/// the model's bits fit left out (beaten by a rung with fewer bits) are a second series of rings
/// without a line, so the line follows the rungs the fit saw.
fn collect(
    ctx: &Ctx,
    what: &str,
    x: &dyn Fn(&RungResult) -> Option<f64>,
    y: &dyn Fn(&RungResult) -> Option<ValueErr>,
) -> (Vec<Series>, Vec<f64>, Vec<f64>) {
    let mut series = Vec::new();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for m in 0..ctx.results.len() {
        let rows = ladder(ctx, m);
        let label_points = ctx.single() && rows.len() <= MAX_LABELLED;
        let left_out: Vec<&str> = ctx.bits_fit(m).map_or_else(Vec::new, |f| {
            f.points
                .iter()
                .filter(|p| !p.fitted())
                .map(|p| p.rung.as_str())
                .collect()
        });
        let (mut kept, mut out) = (Vec::new(), Vec::new());
        for r in &rows {
            let Some((xv, (yv, err))) = x(r).zip(y(r)) else {
                continue;
            };
            xs.push(xv);
            ys.push(yv);
            if let Some((lo, hi)) = err {
                ys.extend([lo, hi]);
            }
            let pt = Pt {
                x: xv,
                y: yv,
                err,
                label: label_points.then(|| r.rung.clone()),
            };
            if left_out.contains(&r.rung.as_str()) {
                out.push(pt);
            } else {
                kept.push(pt);
            }
        }
        let (c, marker) = series_style(ctx, m);
        if !kept.is_empty() {
            series.push(Series {
                label: if ctx.single() {
                    format!("{} ({what})", ctx.names[m])
                } else {
                    ctx.names[m].clone()
                },
                color: c,
                marker,
                line: Line::Solid,
                points: kept,
            });
        }
        if !out.is_empty() {
            series.push(Series::left_out(
                ctx.label(m, "not fitted: beaten by a rung with fewer bits"),
                c,
                out,
            ));
        }
    }
    (series, xs, ys)
}

fn ppl_point(r: &RungResult) -> Option<ValueErr> {
    let p = data::ppl(r)?;
    Some((p, r.ppl_err.map(|e| (p - e, p + e))))
}

/// The fitted curve of each model, sampled along its measured range, placed by `to_x`.
fn fit_curves(ctx: &Ctx, to_x: &dyn Fn(usize, f64) -> Option<f64>) -> Vec<Series> {
    let mut out = Vec::new();
    for m in 0..ctx.results.len() {
        let Some(fit) = ctx.bits_fit(m) else { continue };
        let fitted = || fit.points.iter().filter(|p| p.fitted()).map(|p| p.x);
        let lo = fitted().fold(f64::INFINITY, f64::min);
        let hi = fitted().fold(f64::NEG_INFINITY, f64::max);
        if !(lo.is_finite() && hi > lo) || fit.predict_ppl(lo).is_none() {
            continue;
        }
        let points = (0..=160)
            .filter_map(|k| {
                let b = lo * (hi / lo).powf(k as f64 / 160.0);
                Some(Pt {
                    x: to_x(m, b)?,
                    y: fit.predict_ppl(b)?,
                    err: None,
                    label: None,
                })
            })
            .collect();
        let what = if fit.transition().is_some() {
            "fitted piecewise curve"
        } else {
            "fitted power law"
        };
        out.push(Series {
            label: ctx.label(m, what),
            color: if ctx.single() {
                (200, 30, 30)
            } else {
                color(m)
            },
            marker: Marker::None,
            line: Line::Dashed,
            points,
        });
    }
    out
}

fn figure(
    ctx: &Ctx,
    name: &str,
    title: &str,
    x: Axis,
    y: Axis,
    series: Vec<Series>,
    marks: Vec<super::spec::Mark>,
) -> Figure {
    Figure {
        name: name.into(),
        title: title.into(),
        subtitle: ctx.subtitle(),
        size: SIZE,
        body: Body::Panels(vec![Panel {
            title: None,
            x,
            y,
            marks,
            series,
            legend: vec![],
        }]),
    }
}

pub(crate) fn ppl_vs_bpw(ctx: &Ctx) -> Option<Figure> {
    let (mut series, xs, ys) = collect(ctx, "PPL ± error", &data::bits, &ppl_point);
    if series.is_empty() {
        return None;
    }
    let ident = |_: usize, b: f64| Some(b);
    series.extend(fit_curves(ctx, &ident));
    Some(figure(
        ctx,
        "ppl_vs_bpw",
        "Perplexity vs bits per weight",
        Axis::bits("measured bits per weight (bpw, log scale)", &xs),
        Axis::log("perplexity (log scale)", &ys),
        series,
        ctx.quality_marks(&ident),
    ))
}

pub(crate) fn ppl_vs_size(ctx: &Ctx) -> Option<Figure> {
    let gb = |r: &RungResult| r.size_bytes.map(|b| b as f64 / GB);
    let (mut series, xs, ys) = collect(ctx, "PPL ± error", &gb, &ppl_point);
    if series.is_empty() {
        return None;
    }
    // Bits to size through each model's own rungs (metadata and unquantized tensors make size
    // not quite proportional to bits); proportional beyond the measured range.
    let anchors: Vec<Vec<(f64, f64)>> = (0..ctx.results.len())
        .map(|m| {
            let mut a: Vec<(f64, f64)> = ladder(ctx, m)
                .iter()
                .filter_map(|r| Some((data::bits(r)?, r.size_bytes? as f64 / GB)))
                .collect();
            a.sort_by(|u, v| u.0.total_cmp(&v.0));
            a.dedup_by(|u, v| u.0 == v.0);
            a
        })
        .collect();
    let to_gb = move |m: usize, b: f64| size_at(&anchors[m], b);
    series.extend(fit_curves(ctx, &to_gb));
    let mut x = Axis::log("file size (GB, log scale)", &xs);
    if let Some(t) = (0..ctx.results.len())
        .filter_map(|m| to_gb(m, THRESHOLD_BITS))
        .reduce(f64::min)
    {
        x = Axis::log(
            "file size (GB, log scale)",
            &[xs.clone(), vec![t * 0.95]].concat(),
        );
    }
    Some(figure(
        ctx,
        "ppl_vs_size",
        "Perplexity vs file size",
        x,
        Axis::log("perplexity (log scale)", &ys),
        series,
        ctx.quality_marks(&to_gb),
    ))
}

pub(crate) fn kld_vs_bpw(ctx: &Ctx) -> Option<Figure> {
    let kld = |r: &RungResult| {
        let k = r.kld.as_ref()?;
        (k.mean > 0.0).then(|| {
            (
                k.mean,
                Some((
                    (k.mean - k.mean_err).max(k.mean * 0.05),
                    k.mean + k.mean_err,
                )),
            )
        })
    };
    let (series, xs, ys) = collect(ctx, "mean KLD ± error", &data::bits, &kld);
    if series.is_empty() {
        return None;
    }
    Some(figure(
        ctx,
        "kld_vs_bpw",
        "KL-divergence to the base vs bits per weight",
        Axis::bits("measured bits per weight (bpw, log scale)", &xs),
        Axis::log("mean KL-divergence (nats, log scale)", &ys),
        series,
        ctx.quality_marks(&|_, b| Some(b)),
    ))
}

pub(crate) fn tps_vs_bits(ctx: &Ctx) -> Option<Figure> {
    let mut series = Vec::new();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for m in 0..ctx.results.len() {
        let rows = ladder(ctx, m);
        for (k, (what, get)) in [
            (
                "prompt processing (pp)",
                (|r: &RungResult| (r.pp_ts, r.pp_ts_sd)) as fn(&RungResult) -> _,
            ),
            ("token generation (tg)", |r: &RungResult| {
                (r.tg_ts, r.tg_ts_sd)
            }),
        ]
        .into_iter()
        .enumerate()
        {
            let points: Vec<Pt> = rows
                .iter()
                .filter_map(|r| {
                    let (v, sd) = get(r);
                    let v = v.filter(|v| *v > 0.0)?;
                    Some(Pt {
                        x: data::bits(r)?,
                        y: v,
                        err: sd.map(|s| ((v - s).max(v * 0.5), v + s)),
                        label: None,
                    })
                })
                .collect();
            if points.is_empty() {
                continue;
            }
            for p in &points {
                xs.push(p.x);
                ys.extend([p.y, p.err.map_or(p.y, |e| e.0), p.err.map_or(p.y, |e| e.1)]);
            }
            series.push(Series {
                label: ctx.label(m, &format!("{what}, mean ± sd")),
                color: color(if ctx.single() { k } else { m }),
                marker: if k == 0 {
                    Marker::Circle
                } else {
                    Marker::Triangle
                },
                line: if k == 0 { Line::Solid } else { Line::Dashed },
                points,
            });
        }
    }
    if series.is_empty() {
        return None;
    }
    Some(figure(
        ctx,
        "tps_vs_bits",
        "Throughput vs bits per weight",
        Axis::bits("measured bits per weight (bpw, log scale)", &xs),
        Axis::log("tokens per second (log scale)", &ys),
        series,
        vec![],
    ))
}

pub(crate) fn accuracy_vs_bits(ctx: &Ctx) -> Option<Figure> {
    let tasks = data::all_tasks(ctx.results);
    let mut series = Vec::new();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for m in 0..ctx.results.len() {
        let rows = ladder(ctx, m);
        for (k, task) in tasks.iter().enumerate() {
            let points: Vec<Pt> = rows
                .iter()
                .filter_map(|r| {
                    let (acc, err) = data::task_acc(r, task)?;
                    Some(Pt {
                        x: data::bits(r)?,
                        y: acc,
                        err: Some((acc - err, acc + err)),
                        label: None,
                    })
                })
                .collect();
            if points.is_empty() {
                continue;
            }
            for p in &points {
                xs.push(p.x);
                ys.extend([p.y, p.err.unwrap().0, p.err.unwrap().1]);
            }
            series.push(Series {
                label: ctx.label(m, &format!("{} accuracy ± se", task_label(task))),
                color: color(k),
                marker: MARKERS[m % MARKERS.len()],
                line: Line::Solid,
                points,
            });
        }
    }
    if series.is_empty() {
        return None;
    }
    Some(figure(
        ctx,
        "accuracy_vs_bits",
        "Task accuracy vs bits per weight",
        Axis::bits("measured bits per weight (bpw, log scale)", &xs),
        Axis::linear("accuracy (fraction correct)", &ys, false),
        series,
        ctx.quality_marks(&|_, b| Some(b)),
    ))
}

/// Size at `bits` by linear interpolation between measured (bits, GB) anchors sorted by bits;
/// proportional to bits from the nearest end outside them.
fn size_at(anchors: &[(f64, f64)], bits: f64) -> Option<f64> {
    let (first, last) = (anchors.first()?, anchors.last()?);
    if bits <= first.0 {
        return Some(first.1 * bits / first.0);
    }
    if bits >= last.0 {
        return Some(last.1 * bits / last.0);
    }
    anchors.windows(2).find_map(|w| {
        let ((b0, s0), (b1, s1)) = (w[0], w[1]);
        (bits >= b0 && bits <= b1).then(|| s0 + (s1 - s0) * (bits - b0) / (b1 - b0))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn size_follows_the_measured_rungs() {
        let a = [(2.0, 0.04), (4.0, 0.07), (16.0, 0.27)];
        assert!((super::size_at(&a, 3.0).unwrap() - 0.055).abs() < 1e-12);
        assert_eq!(super::size_at(&a, 1.0), Some(0.02));
        assert_eq!(super::size_at(&a, 32.0), Some(0.54));
        assert_eq!(super::size_at(&[], 3.0), None);
    }
}
