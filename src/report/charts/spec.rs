//! Charts as plain data: what to draw, built from results, rendered to PNG and SVG by `draw`.

use super::super::format;

pub type Rgb = (u8, u8, u8);

/// Series colours (Tableau 10): distinguishable, print well.
pub const PALETTE: [Rgb; 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];
pub const GREY: Rgb = (90, 90, 90);
pub const SAFE_GREEN: Rgb = (60, 170, 80);

pub fn color(i: usize) -> Rgb {
    PALETTE[i % PALETTE.len()]
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    Linear,
    Log,
}

#[derive(Debug, Clone)]
pub struct Axis {
    pub label: String,
    pub scale: Scale,
    /// Range in data units.
    pub min: f64,
    pub max: f64,
    /// Tick positions in data units.
    pub ticks: Vec<f64>,
    /// Non-empty: a categorical axis with one position per category (0, 1, ...).
    pub categories: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Marker {
    Circle,
    /// A hollow circle: a point drawn but left out of what the chart fits.
    Ring,
    Triangle,
    Square,
    Diamond,
    None,
}

pub const MARKERS: [Marker; 4] = [
    Marker::Circle,
    Marker::Triangle,
    Marker::Square,
    Marker::Diamond,
];

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Line {
    Solid,
    Dashed,
    None,
}

#[derive(Debug, Clone)]
pub struct Pt {
    pub x: f64,
    pub y: f64,
    /// Error bar, absolute low and high.
    pub err: Option<(f64, f64)>,
    /// Text beside the point (the rung name).
    pub label: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub color: Rgb,
    pub marker: Marker,
    pub line: Line,
    pub points: Vec<Pt>,
}

impl Series {
    /// Points a fit left out: rings without a line, in the colour of the series they belong to.
    pub fn left_out(label: String, color: Rgb, points: Vec<Pt>) -> Series {
        Series {
            label,
            color,
            marker: Marker::Ring,
            line: Line::None,
            points,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Mark {
    VLine {
        x: f64,
        color: Rgb,
        dashed: bool,
        label: String,
    },
    VBand {
        from: f64,
        to: f64,
        color: Rgb,
        alpha: f64,
        label: String,
    },
}

/// How a legend entry is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Swatch {
    Series(Rgb, Marker, Line),
    Band(Rgb, f64),
    VLine(Rgb, bool),
}

#[derive(Debug, Clone)]
pub struct Panel {
    pub title: Option<String>,
    pub x: Axis,
    pub y: Axis,
    /// Marks with an empty label get no legend entry.
    pub marks: Vec<Mark>,
    pub series: Vec<Series>,
    /// Legend entries beyond the series and labelled marks (a generic key for unlabelled marks).
    pub legend: Vec<(String, Swatch)>,
}

#[derive(Debug, Clone)]
pub struct Heatmap {
    pub x: Axis,
    pub y: Axis,
    /// values[row][col]: colour value (lower is better), None where not measured.
    pub values: Vec<Vec<Option<f64>>>,
    pub text: Vec<Vec<String>>,
    /// What the colour shows, for the legend.
    pub scale_label: String,
}

#[derive(Debug, Clone)]
pub enum Body {
    Panels(Vec<Panel>),
    Heatmap(Box<Heatmap>),
}

#[derive(Debug, Clone)]
pub struct Figure {
    /// File stem: `ppl_vs_bpw` → `ppl_vs_bpw.png` and `.svg`.
    pub name: String,
    pub title: String,
    pub subtitle: Option<String>,
    pub size: (u32, u32),
    pub body: Body,
}

impl Axis {
    /// To drawing coordinates (log10 on a log axis).
    pub fn t(&self, v: f64) -> f64 {
        match self.scale {
            Scale::Linear => v,
            Scale::Log => v.max(1e-300).log10(),
        }
    }

    pub fn range_t(&self) -> (f64, f64) {
        (self.t(self.min), self.t(self.max))
    }

    /// Tick label for a position in drawing coordinates.
    pub fn tick_label(&self, t: f64) -> String {
        if !self.categories.is_empty() {
            let i = t.round();
            return if (t - i).abs() < 1e-6 && i >= 0.0 {
                self.categories.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            };
        }
        let v = match self.scale {
            Scale::Linear => t,
            Scale::Log => 10f64.powf(t),
        };
        format::tick(v)
    }

    pub fn linear(label: &str, values: &[f64], include_zero: bool) -> Axis {
        let (mut lo, mut hi) = extent(values).unwrap_or((0.0, 1.0));
        if include_zero {
            lo = lo.min(0.0);
            hi = hi.max(0.0);
        }
        if hi - lo < 1e-12 {
            let d = if hi.abs() > 0.0 { hi.abs() * 0.1 } else { 1.0 };
            lo -= d;
            hi += d;
        }
        let pad = 0.06 * (hi - lo);
        let (min, max) = (
            if include_zero && lo >= 0.0 {
                lo
            } else {
                lo - pad
            },
            hi + pad,
        );
        Axis {
            label: label.into(),
            scale: Scale::Linear,
            min,
            max,
            ticks: nice_ticks(min, max, 6),
            categories: vec![],
        }
    }

    /// Log axis; narrow ranges (under one decade) get linear-looking nice ticks.
    pub fn log(label: &str, values: &[f64]) -> Axis {
        let pos: Vec<f64> = values.iter().copied().filter(|v| *v > 0.0).collect();
        let (lo, hi) = extent(&pos).unwrap_or((1.0, 10.0));
        let (llo, lhi) = (lo.log10(), hi.log10());
        let pad = (0.06 * (lhi - llo)).max(0.02);
        let (min, max) = (10f64.powf(llo - pad), 10f64.powf(lhi + pad));
        let ticks = if lhi - llo > 3.5 {
            // Many decades: one tick each, or the labels crowd.
            decade_ticks(min, max, &[1.0])
        } else if lhi - llo >= 0.9 {
            let mut t = decade_ticks(min, max, &[1.0, 2.0, 5.0]);
            if t.len() < 5 {
                t = decade_ticks(min, max, &[1.0, 1.5, 2.0, 3.0, 5.0, 7.0]);
            }
            t
        } else {
            nice_ticks(min, max, 5)
        };
        Axis {
            label: label.into(),
            scale: Scale::Log,
            min,
            max,
            ticks,
            categories: vec![],
        }
    }

    /// Bits-per-weight axis: log scale, ticks at the bit widths people read.
    pub fn bits(label: &str, values: &[f64]) -> Axis {
        let mut a = Axis::log(label, values);
        a.min = a.min.min(2.7);
        const T: [f64; 16] = [
            0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 16.0, 24.0, 32.0,
        ];
        a.ticks = T
            .iter()
            .copied()
            .filter(|t| *t >= a.min && *t <= a.max)
            .collect();
        a
    }

    pub fn categorical(label: &str, categories: Vec<String>) -> Axis {
        let n = categories.len().max(1) as f64;
        Axis {
            label: label.into(),
            scale: Scale::Linear,
            min: -0.5,
            max: n - 0.5,
            ticks: (0..categories.len()).map(|i| i as f64).collect(),
            categories,
        }
    }
}

fn extent(values: &[f64]) -> Option<(f64, f64)> {
    let f: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if f.is_empty() {
        return None;
    }
    Some((
        f.iter().copied().fold(f64::INFINITY, f64::min),
        f.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    ))
}

/// Ticks at 1, 2, 2.5 or 5 × 10^k steps, about `n` of them, inside [min, max].
pub fn nice_ticks(min: f64, max: f64, n: usize) -> Vec<f64> {
    let span = max - min;
    if span <= 0.0 || !span.is_finite() {
        return vec![min];
    }
    let raw = span / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let (k0, k1) = (
        (min / step - 1e-9).ceil() as i64,
        (max / step + 1e-9).floor() as i64,
    );
    // Multiples of the step, rounded so that 3 × 0.2 prints as 0.6.
    let f = 10f64.powi((-mag.log10()).max(0.0) as i32 + 2);
    (k0..=k1)
        .map(|k| (k as f64 * step * f).round() / f)
        .collect()
}

fn decade_ticks(min: f64, max: f64, mantissas: &[f64]) -> Vec<f64> {
    let mut out = Vec::new();
    let (e0, e1) = (min.log10().floor() as i32, max.log10().ceil() as i32);
    for e in e0..=e1 {
        for m in mantissas {
            let v = m * 10f64.powi(e);
            if v >= min && v <= max {
                out.push(v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside() {
        assert_eq!(nice_ticks(0.0, 1.0, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(nice_ticks(13.2, 15.1, 5), vec![13.5, 14.0, 14.5, 15.0]);
        let a = Axis::log("PPL", &[20.0, 1000.0]);
        assert!(a.ticks.contains(&100.0) && a.ticks.contains(&50.0));
        assert!(a.ticks.iter().all(|t| *t >= a.min && *t <= a.max));
        let b = Axis::bits("bpw", &[1.75, 16.5]);
        assert!(b.ticks.contains(&3.0) && b.ticks.contains(&16.0) && !b.ticks.contains(&1.5));
        let narrow = Axis::log("PPL", &[13.6, 14.8]);
        assert!(narrow.ticks.len() >= 3, "{:?}", narrow.ticks);
        let c = Axis::categorical("scheme", vec!["Q2_K".into(), "Q4_K_M".into()]);
        assert_eq!(c.tick_label(1.0), "Q4_K_M");
        assert_eq!(c.tick_label(0.5), "");
    }
}
