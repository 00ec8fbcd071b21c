//! Fitting: which series of rungs the results hold, and for each the safe zone, the rungs left out
//! and the judged outcome.

use crate::results::{RungResult, SweepResults};

use super::super::data;
use super::super::format;
use super::super::options::ReportOptions;
use super::model;
use super::outcome::{Axis, FitOutcome, FitPoint, FitSubject, PhaseFit, Transition};
use super::stats;

/// Fewest points the fit accepts: two on each side of the transition and one to judge it.
pub const MIN_POINTS: usize = 2 * model::MIN_SIDE + 1;
pub const CI_LEVEL: f64 = 0.95;
const F_TEST_ALPHA: f64 = 0.05;

/// Every fit the results support: bits for each model's ladder, sparsity for each pruning method
/// and quantization type of a grid.
pub fn fit_all(results: &[SweepResults], opts: &ReportOptions) -> Vec<PhaseFit> {
    let names = data::model_names(results);
    let mut fits = Vec::new();
    for (r, name) in results.iter().zip(&names) {
        let rows = data::all_rows(r);
        let ladder: Vec<&RungResult> = rows
            .iter()
            .copied()
            .filter(|x| !data::is_pruned(x))
            .collect();
        fits.push(fit_series(
            r,
            name,
            Axis::Bits,
            FitSubject::Quantization,
            &ladder,
            opts,
        ));
        for (method, quant) in prune_groups(&rows) {
            let cells: Vec<&RungResult> = rows
                .iter()
                .copied()
                .filter(|x| x.quant == quant)
                .filter(|x| {
                    !data::is_pruned(x) || x.prune.as_ref().is_some_and(|p| p.method == method)
                })
                .collect();
            let subject = FitSubject::Pruning { method, quant };
            fits.push(fit_series(r, name, Axis::Sparsity, subject, &cells, opts));
        }
    }
    fits
}

/// (method, quant) of every pruned cell, in first-seen order.
fn prune_groups(rows: &[&RungResult]) -> Vec<(String, String)> {
    let mut groups: Vec<(String, String)> = Vec::new();
    for r in rows.iter().filter(|r| data::is_pruned(r)) {
        let key = (r.prune.as_ref().unwrap().method.clone(), r.quant.clone());
        if !groups.contains(&key) {
            groups.push(key);
        }
    }
    groups
}

/// The fit of one series of rungs along one axis.
pub fn fit_series(
    r: &SweepResults,
    model: &str,
    axis: Axis,
    subject: FitSubject,
    rows: &[&RungResult],
    opts: &ReportOptions,
) -> PhaseFit {
    let base_ppl = data::base_of(r).and_then(data::ppl);
    let mut notes = Vec::new();
    let mut points = Vec::new();
    for row in rows {
        if let Some(e) = &row.error {
            let first = e.lines().next().unwrap_or("");
            notes.push(format!("{} failed and is left out ({first})", row.rung));
            continue;
        }
        let x = match axis {
            Axis::Bits => data::bits(row),
            Axis::Sparsity => data::sparsity(row),
        };
        match (x, data::ppl(row)) {
            (Some(x), Some(ppl)) => points.push(FitPoint {
                rung: row.rung.clone(),
                x,
                ppl,
                ppl_err: row.ppl_err.filter(|e| e.is_finite() && *e >= 0.0),
                safe: base_ppl.map(|b| ppl <= b * (1.0 + opts.tolerance)),
                beaten_by: None,
            }),
            (None, _) => notes.push(format!(
                "{} has no {} and is left out",
                row.rung,
                axis.unit()
            )),
            (_, None) => notes.push(format!("{} has no perplexity and is left out", row.rung)),
        }
    }
    // Most capacity first: bits descending, sparsity ascending.
    points.sort_by(|a, b| axis.capacity(b.x).total_cmp(&axis.capacity(a.x)));
    let safe_rungs = points
        .iter()
        .filter(|p| p.safe == Some(true))
        .map(|p| p.rung.clone())
        .collect();
    let safe_limit = points
        .iter()
        .take_while(|p| p.safe == Some(true))
        .last()
        .map(|p| p.x);
    if base_ppl.is_none() {
        notes.push("no base perplexity: the safe zone is not judged".into());
    }
    mark_beaten(axis, &mut points, opts.tolerance, &mut notes);
    let fitted: Vec<FitPoint> = points.iter().filter(|p| p.fitted()).cloned().collect();
    let outcome = judge(axis, &fitted, opts, &mut notes);
    PhaseFit {
        model: model.to_string(),
        axis,
        subject,
        points,
        base_ppl,
        tolerance: opts.tolerance,
        safe_rungs,
        safe_limit,
        outcome,
        notes,
    }
}

/// Marks the rungs that a rung with less capacity beats by more than the tolerance and by more
/// than twice their combined standard error in ln PPL (the best such rung is named), and says so
/// in one note.
fn mark_beaten(axis: Axis, points: &mut [FitPoint], tolerance: f64, notes: &mut Vec<String>) {
    let rel_err = |p: &FitPoint| p.ppl_err.map_or(0.0, |e| e / p.ppl);
    let beats = |winner: &FitPoint, loser: &FitPoint| {
        let gap = loser.ppl.ln() - winner.ppl.ln();
        let noise = 2.0 * rel_err(winner).hypot(rel_err(loser));
        axis.capacity(winner.x) <= axis.capacity(loser.x)
            && gap > (1.0 + tolerance).ln()
            && gap > noise
    };
    let beaters: Vec<Option<usize>> = (0..points.len())
        .map(|i| {
            (0..points.len())
                .filter(|&j| j != i && beats(&points[j], &points[i]))
                .min_by(|&a, &b| points[a].ppl.total_cmp(&points[b].ppl))
        })
        .collect();
    let mut named = Vec::new();
    for (i, by) in beaters.into_iter().enumerate() {
        if let Some(j) = by {
            let (rung, x) = (points[j].rung.clone(), points[j].x);
            named.push(format!(
                "{} ({} {}, PPL {}) by {rung} ({} {}, PPL {})",
                points[i].rung,
                format::tick(points[i].x),
                axis.unit(),
                format::sig(points[i].ppl, 4),
                format::tick(x),
                axis.unit(),
                format::sig(points[j].ppl, 4),
            ));
            points[i].beaten_by = Some(rung);
        }
    }
    if !named.is_empty() {
        notes.push(format!(
            "left out of the fit, each worse than a rung with {} by more than {:.0}% and by more \
             than twice their standard error: {}",
            axis.less_capacity(),
            100.0 * tolerance,
            named.join("; ")
        ));
    }
}

fn judge(
    axis: Axis,
    points: &[FitPoint],
    opts: &ReportOptions,
    notes: &mut Vec<String>,
) -> FitOutcome {
    let x: Vec<f64> = points.iter().map(|p| axis.capacity(p.x)).collect();
    let y: Vec<f64> = points.iter().map(|p| p.ppl.ln()).collect();
    let mut distinct = x.clone();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    if distinct.len() < MIN_POINTS || x.iter().any(|c| *c <= 0.0) {
        return FitOutcome::TooFewRungs {
            reason: format!(
                "{} measured {} with a perplexity; the fit needs at least {MIN_POINTS} \
                 (two on each side of the transition and one to judge it)",
                distinct.len(),
                if axis == Axis::Bits {
                    "bit widths"
                } else {
                    "sparsity levels"
                },
            ),
        };
    }
    let power_law = model::fit_power_law(&x, &y);
    if let Some((reason, between)) = lone_collapse(axis, points, &x, &y, opts.tolerance) {
        return FitOutcome::Unresolved { reason, between };
    }
    let no = |reason: String| FitOutcome::NoCollapse { reason, power_law };
    let Some(fit) = model::fit_piecewise(&x, &y) else {
        return no(
            "perplexity does not rise faster than a power law anywhere in the measured range"
                .into(),
        );
    };
    let n = x.len() as f64;
    let pl_sse = power_law.map_or(f64::INFINITY, |p| p.sse);
    let tiny = 1e-12 * n;
    if pl_sse <= tiny {
        return no("a single power law fits every rung".into());
    }
    let f_stat = if fit.sse <= tiny {
        f64::INFINITY
    } else {
        ((pl_sse - fit.sse).max(0.0) / 2.0) / (fit.sse / (n - 4.0))
    };
    let p_value = stats::f_sf(f_stat, 2.0, n - 4.0);
    if p_value >= F_TEST_ALPHA {
        return no(format!(
            "the bend is not significant against a single power law (F = {f_stat:.2}, p = {p_value:.3})"
        ));
    }
    let lowest = x.iter().copied().fold(f64::INFINITY, f64::min);
    let excess = fit.beta * (fit.c0 - lowest);
    if excess < (1.0 + opts.tolerance).ln() {
        return no(format!(
            "the collapse term adds only {:.1}% to PPL at the lowest rung, within the {:.0}% tolerance",
            100.0 * (excess.exp() - 1.0),
            100.0 * opts.tolerance
        ));
    }
    let mut boot = model::bootstrap_c0(&x, &y, &fit, opts.bootstrap, opts.seed);
    boot.sort_by(f64::total_cmp);
    let (lo_c, hi_c) = percentiles(&boot).unwrap_or((fit.c0, fit.c0));
    let boot_se = std_dev(&boot);
    if (boot.len() as f64) < 0.9 * opts.bootstrap as f64 {
        notes.push(format!(
            "{} of {} bootstrap resamples showed no collapse; the interval is from the rest",
            opts.bootstrap as usize - boot.len(),
            opts.bootstrap
        ));
    }
    if let Some((lo, hi)) = model::c0_range(&x) {
        let edge = 0.02 * (hi - lo);
        if fit.c0 - lo < edge || hi - fit.c0 < edge {
            notes.push(format!(
                "the transition lies at the edge of the range the fit can place it in ({}–{} {}): measure more rungs around it",
                format::tick(back(axis, lo).min(back(axis, hi))),
                format::tick(back(axis, lo).max(back(axis, hi))),
                axis.unit()
            ));
        }
    }
    let residuals: Vec<f64> = x.iter().zip(&y).map(|(c, v)| v - fit.ln_ppl(*c)).collect();
    let my = y.iter().sum::<f64>() / n;
    let sst: f64 = y.iter().map(|v| (v - my).powi(2)).sum();
    // Percentile intervals can miss the estimate by a hair when the residuals are ~0; keep it inside.
    let (a, b, c) = (back(axis, lo_c), back(axis, hi_c), back(axis, fit.c0));
    FitOutcome::Transition(Transition {
        critical: c,
        ci_low: a.min(b).min(c),
        ci_high: a.max(b).max(c),
        ci_level: CI_LEVEL,
        boot_se,
        boot_n: boot.len(),
        curve: fit,
        rmse_log: (fit.sse / n).sqrt(),
        max_residual_log: residuals.iter().fold(0.0, |m, r| m.max(r.abs())),
        r2: if sst > 0.0 { 1.0 - fit.sse / sst } else { 1.0 },
        f_stat,
        p_value,
        power_law_rmse_log: (pl_sse / n).sqrt(),
    })
}

/// When only the lowest-capacity rung departs from the power law of the others, the collapse is
/// real but one rung cannot place it: say where it lies instead.
fn lone_collapse(
    axis: Axis,
    points: &[FitPoint],
    x: &[f64],
    y: &[f64],
    tolerance: f64,
) -> Option<(String, (f64, f64))> {
    let low = (0..x.len()).min_by(|&a, &b| x[a].total_cmp(&x[b]))?;
    let (rx, ry): (Vec<f64>, Vec<f64>) = (0..x.len())
        .filter(|&i| i != low)
        .map(|i| (x[i], y[i]))
        .unzip();
    let rest = model::fit_power_law(&rx, &ry)?;
    // The others must follow one power law to within the tolerance (no collapse among them),
    // and the lowest rung must lie well above it.
    let tol = (1.0 + tolerance).ln();
    let rest_max = rx
        .iter()
        .zip(&ry)
        .map(|(c, v)| (v - rest.ln_ppl(*c)).abs())
        .fold(0.0, f64::max);
    let rest_rmse = (rest.sse / rx.len() as f64).sqrt();
    let excess = y[low] - rest.ln_ppl(x[low]);
    if rest_max > tol || excess <= tol || excess <= 3.0 * rest_rmse {
        return None;
    }
    let next = (0..x.len())
        .filter(|&i| x[i] > x[low])
        .min_by(|&a, &b| x[a].total_cmp(&x[b]))?;
    let (a, b) = (
        points[low].x.min(points[next].x),
        points[low].x.max(points[next].x),
    );
    let reason = format!(
        "only the lowest rung, {} ({} {}), departs from the power law of the others (+{:.0}% PPL): \
         the collapse lies between {} and {} {} but one rung cannot place it; measure rungs in between",
        points[low].rung,
        format::tick(points[low].x),
        axis.unit(),
        100.0 * (excess.exp() - 1.0),
        format::tick(a),
        format::tick(b),
        axis.unit()
    );
    Some((reason, (a, b)))
}

/// Capacity back to the axis's units.
fn back(axis: Axis, c: f64) -> f64 {
    match axis {
        Axis::Bits => c,
        Axis::Sparsity => 1.0 - c,
    }
}

fn percentiles(sorted: &[f64]) -> Option<(f64, f64)> {
    if sorted.is_empty() {
        return None;
    }
    let q = |p: f64| {
        let pos = p * (sorted.len() - 1) as f64;
        let (i, f) = (pos.floor() as usize, pos.fract());
        let j = (i + 1).min(sorted.len() - 1);
        sorted[i] + f * (sorted[j] - sorted[i])
    };
    let tail = (1.0 - CI_LEVEL) / 2.0;
    Some((q(tail), q(1.0 - tail)))
}

fn std_dev(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}
