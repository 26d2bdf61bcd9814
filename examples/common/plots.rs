//! The chapter-3 figures, drawn with plotters' pure-Rust bitmap backend and
//! the vendored DejaVu Sans font (no system fonts or C libraries): points
//! coloured by class, and the decision line `x @ W + b = 0.5`.

use plotters::prelude::*;
use std::error::Error;
use std::ops::Range;
use std::path::Path;

/// The font file every caption and label is drawn with.
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Colours of class 0 and class 1.
const CLASS_COLOURS: [RGBColor; 2] = [RGBColor(31, 119, 180), RGBColor(255, 127, 14)];

/// A boxed error from plotters or rjax.
pub type PlotResult<T> = Result<T, Box<dyn Error>>;

/// Registers the vendored font as `sans-serif`; call once before drawing.
pub fn register_font() -> PlotResult<()> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| "the vendored font assets/fonts/DejaVuSans.ttf is not a valid font")?;
    Ok(())
}

/// A line `x1 = slope * x0 + intercept` to draw over the points.
#[derive(Clone, Copy, Debug)]
pub struct Line {
    /// Its slope.
    pub slope: f32,
    /// Where it crosses `x0 = 0`.
    pub intercept: f32,
}

/// Draws `points` coloured by `classes` (0 or 1) into the PNG file `path`,
/// with `line` over them if given.
pub fn scatter(
    path: &Path,
    title: &str,
    points: &[(f32, f32)],
    classes: &[bool],
    line: Option<Line>,
) -> PlotResult<()> {
    let (xs, ys) = (
        span(points.iter().map(|p| p.0)),
        span(points.iter().map(|p| p.1)),
    );
    let root = BitMapBackend::new(path, (720, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(48)
        .build_cartesian_2d(xs.clone(), ys.clone())?;
    chart.configure_mesh().x_desc("x0").y_desc("x1").draw()?;
    for (class, colour) in CLASS_COLOURS.iter().enumerate() {
        let style = colour.mix(0.7).filled();
        chart
            .draw_series(
                points
                    .iter()
                    .zip(classes)
                    .filter(|(_, c)| usize::from(**c) == class)
                    .map(|(p, _)| Circle::new(*p, 3, style)),
            )?
            .label(format!("class {class}"))
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, style));
    }
    if let Some(line) = line {
        let at = |x: f32| (x, line.slope * x + line.intercept);
        let inside = |(x, y): &(f32, f32)| xs.contains(x) && ys.contains(y);
        let steps = 400;
        let samples = (0..=steps)
            .map(|i| at(xs.start + (xs.end - xs.start) * i as f32 / steps as f32))
            .filter(inside);
        chart
            .draw_series(LineSeries::new(samples, BLACK.stroke_width(2)))?
            .label("x @ W + b = 0.5")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .draw()?;
    root.present()?;
    Ok(())
}

/// The range of `values`, widened by a margin of 5% on each side.
fn span(values: impl Iterator<Item = f32>) -> Range<f32> {
    let (lo, hi) = values.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo > hi {
        return 0.0..1.0;
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    lo - pad..hi + pad
}
