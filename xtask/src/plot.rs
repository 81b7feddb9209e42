//! The loadtest's PNG: packet rates, alert rates and latency over time, drawn with
//! plotters' bitmap backend. Text goes through ab_glyph with DejaVu Sans from Debian's
//! `fonts-dejavu-core`, so no fontconfig or freetype development files are needed.

use crate::loadtest::LoadtestReport;
use anyhow::{anyhow, bail, Result};
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

/// Where Debian (`fonts-dejavu-core`) and a few other systems keep DejaVu Sans.
const FONTS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// The plot's size in pixels.
pub const WIDTH: u32 = 900;
pub const HEIGHT: u32 = 780;

/// Registers DejaVu Sans as plotters' "sans-serif" once per process.
fn font() -> Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let bytes = FONTS.iter().find_map(|p| std::fs::read(p).ok()).ok_or_else(|| {
            format!("no DejaVu Sans font at {FONTS:?}: install fonts-dejavu-core (.ci/install-deps)")
        })?;
        // plotters keeps fonts for the process lifetime; the bytes live as long.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| "DejaVu Sans: not a font plotters can read".to_string())
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

/// Per-second rates between consecutive samples: `(t, value)` at each interval's end.
fn rates(r: &LoadtestReport, get: fn(&crate::loadtest::Sample) -> u64) -> Vec<(f64, f64)> {
    r.samples
        .windows(2)
        .filter(|w| w[1].t > w[0].t)
        .map(|w| {
            let n = get(&w[1]).saturating_sub(get(&w[0])) as f64;
            (w[1].t, n / (w[1].t - w[0].t))
        })
        .collect()
}

fn top(series: &[&[(f64, f64)]]) -> f64 {
    let m = series
        .iter()
        .flat_map(|s| s.iter().map(|p| p.1))
        .fold(0.0f64, f64::max);
    if m > 0.0 {
        m * 1.1
    } else {
        1.0
    }
}

type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

/// One panel: lines over a shared time axis.
fn panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    title: &str,
    unit: &str,
    tmax: f64,
    lines: &[Series<'_>],
) -> Result<()> {
    let ymax = top(&lines.iter().map(|l| l.2.as_slice()).collect::<Vec<_>>());
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..tmax, 0f64..ymax)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the generator started")
        .y_desc(unit)
        .label_style(("sans-serif", 12))
        // No minor grid: it doubles the PNG's size and the rates read fine without it.
        .light_line_style(TRANSPARENT)
        .draw()?;
    for (name, color, pts) in lines {
        let c = *color;
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 12))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Writes the plot of `r` to `path` (PNG, WIDTH×HEIGHT).
pub fn write_png(r: &LoadtestReport, path: &Path) -> Result<()> {
    if r.samples.len() < 2 {
        bail!("fewer than two samples: nothing to plot");
    }
    font()?;
    let tmax = r.samples.iter().map(|s| s.t).fold(0.0, f64::max).max(0.1);
    let mpps = |v: Vec<(f64, f64)>| v.into_iter().map(|(t, x)| (t, x / 1e6)).collect();
    let ms = |v: Vec<(f64, f64)>| v.into_iter().map(|(t, x)| (t, x * 1e3)).collect();
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((3, 1));
    let title = format!(
        "tidewatch loadtest: {} B, {} flows, {}, {:.1} s",
        r.size,
        r.flows,
        if r.pps == 0 {
            "full speed".to_string()
        } else {
            format!("{} pps", r.pps)
        },
        r.seconds
    );
    panel(
        &areas[0],
        &format!("{title} - packet rate"),
        "Mpps",
        tmax,
        &[
            ("offered", RED, mpps(rates(r, |s| s.offered))),
            ("seen by XDP", BLUE, mpps(rates(r, |s| s.seen))),
            ("inspected", GREEN, mpps(rates(r, |s| s.inspected))),
        ],
    )?;
    panel(
        &areas[1],
        "alert rate",
        "alerts/s",
        tmax,
        &[
            ("raised", MAGENTA, rates(r, |s| s.raised)),
            ("stored", BLACK, rates(r, |s| s.stored)),
        ],
    )?;
    let opt = |f: fn(&crate::loadtest::Sample) -> Option<f64>| {
        r.samples
            .iter()
            .filter_map(|s| f(s).map(|v| (s.t, v)))
            .collect::<Vec<_>>()
    };
    panel(
        &areas[2],
        "latency: packet->alert per interval (stored records), alert->stored (collector, 60 s window)",
        "ms",
        tmax,
        &[
            (
                "packet->alert p50",
                GREEN,
                ms(r.detect_series.iter().map(|p| (p.t, p.p50)).collect()),
            ),
            (
                "packet->alert p99",
                RGBColor(0, 100, 0),
                ms(r.detect_series.iter().map(|p| (p.t, p.p99)).collect()),
            ),
            ("alert->stored p50", BLUE, ms(opt(|s| s.deliver_p50))),
            ("alert->stored p99", RED, ms(opt(|s| s.deliver_p99))),
        ],
    )?;
    root.present()?;
    Ok(())
}
