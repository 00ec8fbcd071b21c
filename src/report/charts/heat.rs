//! The prune × quantize heat map and its colour bar.

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::primitives::{err, rgb, wrap, Ticked, FONT, LEGEND_WRAP};
use super::spec::{Heatmap, Rgb};

/// Green (good) through yellow to red (bad) for t in [0, 1].
pub fn heat(t: f64) -> Rgb {
    let t = t.clamp(0.0, 1.0);
    let (a, b, f) = if t < 0.5 {
        ((26.0, 152.0, 80.0), (254.0, 224.0, 139.0), t * 2.0)
    } else {
        ((254.0, 224.0, 139.0), (215.0, 48.0, 39.0), t * 2.0 - 1.0)
    };
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn value_range(hm: &Heatmap) -> (f64, f64) {
    let vals: Vec<f64> = hm
        .values
        .iter()
        .flatten()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (lo.min(0.0), lo.max(0.0) + 1.0)
    }
}

pub(super) fn draw_heatmap<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    hm: &Heatmap,
) -> Result<()> {
    let rotate = hm.x.categories.len() > 8;
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .margin_right(24)
        .x_label_area_size(if rotate { 90 } else { 50 })
        .y_label_area_size(130)
        .build_cartesian_2d(Ticked::of(&hm.x), Ticked::of(&hm.y))
        .map_err(err)?;
    let xf = |v: &f64| hm.x.tick_label(*v);
    let yf = |v: &f64| hm.y.tick_label(*v);
    let x_style = if rotate {
        (FONT, 13).into_font().transform(FontTransform::Rotate90)
    } else {
        (FONT, 13).into_font()
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(hm.x.label.as_str())
        .y_desc(hm.y.label.as_str())
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .x_label_style(x_style)
        .y_label_style((FONT, 13))
        .axis_desc_style((FONT, 15))
        .draw()
        .map_err(err)?;
    let (lo, hi) = value_range(hm);
    for (j, row) in hm.values.iter().enumerate() {
        for (i, v) in row.iter().enumerate() {
            let (x, y) = (i as f64, j as f64);
            let fill = v.map_or((235, 235, 235), |v| heat((v - lo) / (hi - lo)));
            chart
                .draw_series([
                    Rectangle::new([(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)], rgb(fill).filled()),
                    Rectangle::new(
                        [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                        WHITE.stroke_width(2),
                    ),
                ])
                .map_err(err)?;
            let text = hm
                .text
                .get(j)
                .and_then(|r| r.get(i))
                .cloned()
                .unwrap_or_default();
            let style = (FONT, 13)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Center));
            chart
                .draw_series(std::iter::once(Text::new(text, (x, y), style)))
                .map_err(err)?;
        }
    }
    Ok(())
}

pub(super) fn draw_colorbar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    hm: &Heatmap,
) -> Result<()> {
    let font: TextStyle = (FONT, 14).into();
    let mut y = 24;
    for l in wrap(&hm.scale_label, LEGEND_WRAP) {
        area.draw_text(&l, &font, (10, y)).map_err(err)?;
        y += 17;
    }
    let (lo, hi) = value_range(hm);
    let (top, height, steps) = (y + 10, 240, 48);
    for k in 0..steps {
        let t = 1.0 - k as f64 / (steps - 1) as f64;
        let y0 = top + k * height / steps;
        let y1 = top + (k + 1) * height / steps;
        area.draw(&Rectangle::new([(12, y0), (40, y1)], rgb(heat(t)).filled()))
            .map_err(err)?;
    }
    area.draw_text(&super::super::format::tick(hi), &font, (48, top - 6))
        .map_err(err)?;
    area.draw_text(
        &super::super::format::tick(lo),
        &font,
        (48, top + height - 10),
    )
    .map_err(err)?;
    area.draw(&Rectangle::new(
        [(12, top + height + 24), (40, top + height + 40)],
        RGBColor(235, 235, 235).filled(),
    ))
    .map_err(err)?;
    area.draw_text("not measured", &font, (48, top + height + 24))
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn colours_run_from_green_to_red() {
        assert_eq!(super::heat(0.0), (26, 152, 80));
        assert_eq!(super::heat(0.5), (254, 224, 139));
        assert_eq!(super::heat(1.0), (215, 48, 39));
    }
}
