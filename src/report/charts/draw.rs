//! Renders a [`Figure`] with plotters, the same drawing code for PNG and SVG. The legend sits in
//! its own column to the right of the plots, so it never covers data.

use std::path::Path;

use anyhow::{Context as _, Result};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::heat;
use super::primitives::{err, rgb, wrap, Ticked, FONT, LEGEND_WRAP};
use super::spec::{Body, Figure, Line, Mark, Marker, Panel, Scale, Swatch, GREY};

/// Width of the legend column, in pixels.
const LEGEND_W: u32 = 270;

pub fn write_png(fig: &Figure, path: &Path) -> Result<()> {
    let (w, h) = fig.size;
    let mut buf = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        draw(&root, fig)?;
        root.present().map_err(err)?;
    }
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header()?;
        writer.write_image_data(&buf)?;
    }
    crate::util::write_atomic(path, &bytes)
}

pub fn write_svg(fig: &Figure, path: &Path) -> Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, fig.size).into_drawing_area();
        draw(&root, fig)?;
        root.present().map_err(err)?;
    }
    crate::util::write_atomic(path, svg.as_bytes())
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure) -> Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let (w, _) = root.dim_in_pixel();
    let title_h = if fig.subtitle.is_some() { 62 } else { 42 };
    let (top, rest) = root.split_vertically(title_h);
    let center = Pos::new(HPos::Center, VPos::Top);
    top.draw_text(
        &fig.title,
        &(FONT, 22).into_font().style(FontStyle::Bold).into_text_style(&top).pos(center),
        (w as i32 / 2, 10),
    )
    .map_err(err)
    .context("drawing the title (charts need a TrueType font found through fontconfig: run scripts/setup.sh)")?;
    if let Some(sub) = &fig.subtitle {
        top.draw_text(
            sub,
            &(FONT, 14).into_font().color(&rgb(GREY)).pos(center),
            (w as i32 / 2, 38),
        )
        .map_err(err)?;
    }
    let (main, legend) = rest.split_horizontally(w.saturating_sub(LEGEND_W));
    match &fig.body {
        Body::Panels(panels) => {
            // Each panel's legend beside it; entries already shown above are not repeated.
            let areas = main.split_evenly((panels.len().max(1), 1));
            let keys = legend.split_evenly((panels.len().max(1), 1));
            let mut shown: Vec<String> = Vec::new();
            for ((area, key), panel) in areas.iter().zip(&keys).zip(panels) {
                draw_panel(area, panel)?;
                let entries: Vec<(String, Swatch)> = legend_entries(std::slice::from_ref(panel))
                    .into_iter()
                    .filter(|(l, _)| !shown.contains(l))
                    .collect();
                shown.extend(entries.iter().map(|e| e.0.clone()));
                draw_legend(key, &entries)?;
            }
        }
        Body::Heatmap(hm) => {
            heat::draw_heatmap(&main, hm)?;
            heat::draw_colorbar(&legend, hm)?;
        }
    }
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Panel) -> Result<()> {
    let ((y0, y1),) = (p.y.range_t(),);
    let mut b = ChartBuilder::on(area);
    b.margin(10)
        .margin_right(24)
        .x_label_area_size(50)
        .y_label_area_size(78);
    if let Some(t) = &p.title {
        b.caption(t, (FONT, 17));
    }
    let mut chart = b
        .build_cartesian_2d(Ticked::of(&p.x), Ticked::of(&p.y))
        .map_err(err)?;
    let xf = |v: &f64| p.x.tick_label(*v);
    let yf = |v: &f64| p.y.tick_label(*v);
    chart
        .configure_mesh()
        .x_desc(p.x.label.as_str())
        .y_desc(p.y.label.as_str())
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .bold_line_style(RGBColor(228, 228, 228))
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(err)?;

    // Bands under lines under data.
    for m in &p.marks {
        if let Mark::VBand {
            from,
            to,
            color,
            alpha,
            ..
        } = m
        {
            let (a, b) = (p.x.t(from.max(p.x.min)), p.x.t(to.min(p.x.max)));
            if b > a {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(a, y0), (b, y1)],
                        rgb(*color).mix(*alpha).filled(),
                    )))
                    .map_err(err)?;
            }
        }
    }
    for m in &p.marks {
        if let Mark::VLine {
            x, color, dashed, ..
        } = m
        {
            if !x.is_finite() || *x < p.x.min || *x > p.x.max {
                continue;
            }
            let xt = p.x.t(*x);
            let style = rgb(*color).stroke_width(2);
            if *dashed {
                chart
                    .draw_series(DashedLineSeries::new(vec![(xt, y0), (xt, y1)], 8, 6, style))
                    .map_err(err)?;
            } else {
                chart
                    .draw_series(LineSeries::new(vec![(xt, y0), (xt, y1)], style))
                    .map_err(err)?;
            }
        }
    }
    for s in &p.series {
        let c = rgb(s.color);
        let drawable = |pt: &&super::spec::Pt| {
            pt.x.is_finite()
                && pt.y.is_finite()
                && (p.x.scale == Scale::Linear || pt.x > 0.0)
                && (p.y.scale == Scale::Linear || pt.y > 0.0)
        };
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(drawable)
            .map(|pt| (p.x.t(pt.x), p.y.t(pt.y)))
            .collect();
        match s.line {
            Line::Solid => {
                chart
                    .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                    .map_err(err)?;
            }
            Line::Dashed => {
                chart
                    .draw_series(DashedLineSeries::new(pts.clone(), 9, 6, c.stroke_width(2)))
                    .map_err(err)?;
            }
            Line::None => {}
        }
        chart
            .draw_series(s.points.iter().filter_map(|pt| {
                let (lo, hi) = pt.err?;
                if p.y.scale == Scale::Log && lo <= 0.0 {
                    return None;
                }
                Some(ErrorBar::new_vertical(
                    p.x.t(pt.x),
                    p.y.t(lo),
                    p.y.t(pt.y),
                    p.y.t(hi),
                    c.stroke_width(1),
                    8,
                ))
            }))
            .map_err(err)?;
        draw_markers(&mut chart, s.marker, &pts, c)?;
    }
    draw_point_labels(&mut chart, p)
}

/// Rung names beside points, skipping any that would overlap a label already placed, and
/// flipping to the left of the point at the right edge.
fn draw_point_labels<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<Ticked, Ticked>>,
    p: &Panel,
) -> Result<()> {
    let style = (FONT, 12).into_font().color(&rgb(GREY));
    let right = chart.plotting_area().get_pixel_range().0.end;
    let mut placed: Vec<(i32, i32, i32, i32)> = Vec::new();
    let mut texts = Vec::new();
    for pt in p.series.iter().flat_map(|s| &s.points) {
        let Some(label) = &pt.label else { continue };
        let at = (p.x.t(pt.x), p.y.t(pt.y));
        let (px, py) = chart.backend_coord(&at);
        let w = 7 * label.chars().count() as i32;
        let dx = if px + 8 + w > right { -8 - w } else { 8 };
        let rect = (px + dx, py - 18, px + dx + w, py - 4);
        if placed
            .iter()
            .any(|r| rect.0 < r.2 && r.0 < rect.2 && rect.1 < r.3 && r.1 < rect.3)
        {
            continue;
        }
        placed.push(rect);
        texts.push(EmptyElement::at(at) + Text::new(label.clone(), (dx, -18), style.clone()));
    }
    chart.draw_series(texts).map_err(err)?;
    Ok(())
}

fn draw_markers<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<Ticked, Ticked>>,
    m: Marker,
    pts: &[(f64, f64)],
    c: RGBColor,
) -> Result<()> {
    let style = c.filled();
    let p = pts.iter().copied();
    match m {
        Marker::Circle => chart
            .draw_series(p.map(|at| Circle::new(at, 5, style)))
            .map(|_| ()),
        Marker::Ring => chart
            .draw_series(p.map(|at| Circle::new(at, 5, c.stroke_width(2))))
            .map(|_| ()),
        Marker::Triangle => chart
            .draw_series(p.map(|at| TriangleMarker::new(at, 6, style)))
            .map(|_| ()),
        Marker::Square => chart
            .draw_series(
                p.map(|at| EmptyElement::at(at) + Rectangle::new([(-4, -4), (4, 4)], style)),
            )
            .map(|_| ()),
        Marker::Diamond => chart
            .draw_series(p.map(|at| {
                EmptyElement::at(at) + Polygon::new(vec![(0, -6), (6, 0), (0, 6), (-6, 0)], style)
            }))
            .map(|_| ()),
        Marker::None => Ok(()),
    }
    .map_err(err)
}

fn legend_entries(panels: &[Panel]) -> Vec<(String, Swatch)> {
    let mut out: Vec<(String, Swatch)> = Vec::new();
    let mut push = |label: &str, s: Swatch| {
        if !label.is_empty() && !out.iter().any(|(l, _)| l == label) {
            out.push((label.to_string(), s));
        }
    };
    for p in panels {
        for s in &p.series {
            push(&s.label, Swatch::Series(s.color, s.marker, s.line));
        }
        for m in &p.marks {
            match m {
                Mark::VLine {
                    color,
                    dashed,
                    label,
                    ..
                } => push(label, Swatch::VLine(*color, *dashed)),
                Mark::VBand {
                    color,
                    alpha,
                    label,
                    ..
                } => push(label, Swatch::Band(*color, *alpha)),
            }
        }
        for (label, swatch) in &p.legend {
            push(label, *swatch);
        }
    }
    out
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, Swatch)],
) -> Result<()> {
    let font: TextStyle = (FONT, 14).into();
    let mut y = 24;
    for (label, swatch) in entries {
        let mid = y + 8;
        match swatch {
            Swatch::Series(c, m, line) => {
                let c = rgb(*c);
                match line {
                    Line::Solid => area.draw(&PathElement::new(
                        vec![(8, mid), (42, mid)],
                        c.stroke_width(2),
                    )),
                    Line::Dashed => {
                        area.draw(&PathElement::new(
                            vec![(8, mid), (19, mid)],
                            c.stroke_width(2),
                        ))
                        .map_err(err)?;
                        area.draw(&PathElement::new(
                            vec![(31, mid), (42, mid)],
                            c.stroke_width(2),
                        ))
                    }
                    Line::None => Ok(()),
                }
                .map_err(err)?;
                draw_marker_px(area, *m, (25, mid), c)?;
            }
            Swatch::Band(c, a) => {
                area.draw(&Rectangle::new(
                    [(8, y), (42, y + 16)],
                    rgb(*c).mix(a.max(0.12)).filled(),
                ))
                .map_err(err)?;
            }
            Swatch::VLine(c, dashed) => {
                let s = rgb(*c).stroke_width(2);
                if *dashed {
                    area.draw(&PathElement::new(vec![(25, y - 2), (25, y + 5)], s))
                        .map_err(err)?;
                    area.draw(&PathElement::new(vec![(25, y + 11), (25, y + 18)], s))
                        .map_err(err)?;
                } else {
                    area.draw(&PathElement::new(vec![(25, y - 2), (25, y + 18)], s))
                        .map_err(err)?;
                }
            }
        }
        let lines = wrap(label, LEGEND_WRAP);
        for (i, l) in lines.iter().enumerate() {
            area.draw_text(l, &font, (50, y + i as i32 * 17))
                .map_err(err)?;
        }
        y += 17 * lines.len() as i32 + 10;
    }
    Ok(())
}

fn draw_marker_px<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    m: Marker,
    at: (i32, i32),
    c: RGBColor,
) -> Result<()> {
    let style = c.filled();
    let (x, y) = at;
    match m {
        Marker::Circle => area.draw(&Circle::new(at, 5, style)),
        Marker::Ring => area.draw(&Circle::new(at, 5, c.stroke_width(2))),
        Marker::Triangle => area.draw(&TriangleMarker::new(at, 6, style)),
        Marker::Square => area.draw(&Rectangle::new([(x - 4, y - 4), (x + 4, y + 4)], style)),
        Marker::Diamond => area.draw(&Polygon::new(
            vec![(x, y - 6), (x + 6, y), (x, y + 6), (x - 6, y)],
            style,
        )),
        Marker::None => Ok(()),
    }
    .map_err(err)
}
