//! What the panel drawer ([`super::draw`]) and the heat-map drawer ([`super::heat`]) share: the
//! font, legend wrapping, colour and error conversion, and a coordinate with exactly our ticks.

use std::ops::Range;

use anyhow::anyhow;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::style::RGBColor;

use super::spec::{Axis, Rgb};

/// Every chart text is set in this family (found through fontconfig).
pub(super) const FONT: &str = "sans-serif";
/// Characters per legend line before wrapping.
pub(super) const LEGEND_WRAP: usize = 32;

/// plotters' drawing errors as ours.
pub(super) fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("{e}")
}

/// A spec colour as plotters takes it.
pub(super) fn rgb(c: Rgb) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

/// A linear coordinate in drawing units (log10 for log axes) with exactly the ticks we chose.
pub(super) struct Ticked {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ticked {
    pub(super) fn of(axis: &Axis) -> Ticked {
        let (lo, hi) = axis.range_t();
        let ticks = if axis.categories.is_empty() {
            axis.ticks.iter().map(|v| axis.t(*v)).collect()
        } else {
            axis.ticks.clone()
        };
        Ticked { lo, hi, ticks }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        if self.hi == self.lo {
            return (limit.0 + limit.1) / 2;
        }
        let f = ((v - self.lo) / (self.hi - self.lo)).clamp(-10.0, 10.0);
        limit.0 + ((limit.1 - limit.0) as f64 * f).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        // Bold grid lines and labels at our ticks; no light lines.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// `text` in lines of at most `width` characters, broken between words (a longer word gets its
/// own line).
pub(super) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let cur = lines.last_mut().unwrap();
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
            lines.push(word.to_string());
        } else {
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(word);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legend_text_wraps_on_words() {
        assert_eq!(
            wrap("fitted b0 of SmolLM2-135M (95% CI)", 20),
            vec!["fitted b0 of", "SmolLM2-135M (95%", "CI)"]
        );
    }
}
