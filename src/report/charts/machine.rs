//! How close each rung comes to the machine: MFU and memory-bandwidth use in one panel, tokens/s
//! in the other, against bits per weight.

use crate::measure::machine_use::MachineUse;
use crate::results::RungResult;

use super::super::data;
use super::context::Ctx;
use super::quality::ladder;
use super::spec::{color, Axis, Body, Figure, Line, Marker, Panel, Pt, Series};

type Getter = fn(&RungResult) -> Option<f64>;

fn use_of(u: &Option<MachineUse>, f: fn(&MachineUse) -> Option<f64>) -> Option<f64> {
    u.as_ref().and_then(f)
}

/// (legend, value) per series of the utilization panel, in percent.
const UTILIZATION: [(&str, Getter); 3] = [
    ("prompt processing: MFU", |r| {
        use_of(&r.pp_use, |u| u.mfu).map(|v| v * 100.0)
    }),
    ("generation: bandwidth use", |r| {
        use_of(&r.tg_use, |u| u.bandwidth_use).map(|v| v * 100.0)
    }),
    ("generation: MFU", |r| {
        use_of(&r.tg_use, |u| u.mfu).map(|v| v * 100.0)
    }),
];

const THROUGHPUT: [(&str, Getter); 2] = [
    ("prompt processing (pp)", |r| r.pp_ts),
    ("token generation (tg)", |r| r.tg_ts),
];

/// One series per (model, getter) with a value; every x and y for the axes.
fn series_of(ctx: &Ctx, getters: &[(&str, Getter)]) -> (Vec<Series>, Vec<f64>, Vec<f64>) {
    let (mut series, mut xs, mut ys) = (Vec::new(), Vec::new(), Vec::new());
    for m in 0..ctx.results.len() {
        let rows = ladder(ctx, m);
        for (k, (what, get)) in getters.iter().enumerate() {
            let points: Vec<Pt> = rows
                .iter()
                .filter_map(|r| {
                    let y = get(r).filter(|v| v.is_finite() && *v > 0.0)?;
                    Some(Pt {
                        x: data::bits(r)?,
                        y,
                        err: None,
                        label: None,
                    })
                })
                .collect();
            if points.is_empty() {
                continue;
            }
            xs.extend(points.iter().map(|p| p.x));
            ys.extend(points.iter().map(|p| p.y));
            series.push(Series {
                label: ctx.label(m, what),
                color: color(if ctx.single() { k } else { m }),
                marker: [Marker::Circle, Marker::Triangle, Marker::Square][k % 3],
                line: if k == 0 { Line::Solid } else { Line::Dashed },
                points,
            });
        }
    }
    (series, xs, ys)
}

pub(crate) fn machine_use_vs_bits(ctx: &Ctx) -> Option<Figure> {
    let (util, ux, uy) = series_of(ctx, &UTILIZATION);
    if util.is_empty() {
        return None;
    }
    let (speed, sx, sy) = series_of(ctx, &THROUGHPUT);
    let mut all_x = ux.clone();
    all_x.extend(&sx);
    let bits = |label: &str| Axis::bits(label, &all_x);
    let mut panels = vec![Panel {
        title: Some("utilization of the machine's peaks".into()),
        x: bits("measured bits per weight (bpw, log scale)"),
        y: Axis::linear("percent of peak", &uy, true),
        marks: vec![],
        series: util,
        legend: vec![],
    }];
    if !speed.is_empty() {
        panels.push(Panel {
            title: Some("throughput".into()),
            x: bits("measured bits per weight (bpw, log scale)"),
            y: Axis::log("tokens per second (log scale)", &sy),
            marks: vec![],
            series: speed,
            legend: vec![],
        });
    }
    let n = panels.len() as u32;
    Some(Figure {
        name: "machine_use_vs_bits".into(),
        title: "MFU, memory-bandwidth use and throughput vs bits per weight".into(),
        subtitle: ctx.subtitle(),
        size: (1200, 120 + 460 * n),
        body: Body::Panels(panels),
    })
}
