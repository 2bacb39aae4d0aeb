//! The latency percentile curve as a standalone SVG, written by hand.
//!
//! The x axis is HdrHistogram's: percentiles spread by `log10(1 / (1 - p))`, so 90%, 99%, 99.9%
//! and 99.99% are equally far apart and the tail gets the room it deserves. The y axis is linear
//! latency in milliseconds.

use std::fmt::Write as _;

const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
/// Nines shown on the x axis: the curve is cut at 99.999%.
const MAX_NINES: f64 = 5.0;
const COLOURS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/// One named curve: points `(percentile 0..=100, latency µs)`, as from
/// [`Latency::curve`](crate::stats::Latency::curve).
pub struct Series<'a> {
    /// Legend label.
    pub name: &'a str,
    /// The curve's points, lowest percentile first.
    pub points: &'a [(f64, u64)],
}

/// Renders `series` under `title` as a complete SVG document.
pub fn percentile_svg(title: &str, series: &[Series<'_>]) -> String {
    let max_us = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .max()
        .unwrap_or(0);
    let y_step = nice_step(max_us as f64 / 1000.0 / 5.0);
    let y_max = (max_us as f64 / 1000.0 / y_step).ceil().max(1.0) * y_step;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x_of = |pct: f64| LEFT + nines(pct) / MAX_NINES * plot_w;
    let y_of = |ms: f64| TOP + plot_h - (ms / y_max).min(1.0) * plot_h;

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    svg.push('\n');
    let _ = writeln!(
        svg,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/><text x="{}" y="24" text-anchor="middle" font-size="16">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    for i in 0..=MAX_NINES as u32 {
        let x = LEFT + f64::from(i) / MAX_NINES * plot_w;
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 18.0,
            nines_label(i)
        );
    }
    let mut tick = 0.0;
    while tick <= y_max + y_step / 2.0 {
        let y = y_of(tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0,
            trim_float(tick)
        );
        tick += y_step;
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile</text><text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">latency (ms)</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 8.0,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0
    );
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let mut points = String::new();
        for (pct, us) in s.points {
            let _ = write!(
                points,
                "{:.1},{:.1} ",
                x_of(*pct),
                y_of(*us as f64 / 1000.0)
            );
        }
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            points.trim_end()
        );
        let ly = TOP + 16.0 + 16.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<rect x="{:.1}" y="{:.1}" width="12" height="3" fill="{colour}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            LEFT + 12.0,
            ly - 4.0,
            LEFT + 30.0,
            ly,
            escape(s.name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Distance of `pct` from 0 in nines: 90% is 1, 99% is 2; capped at [`MAX_NINES`].
fn nines(pct: f64) -> f64 {
    let rest = 1.0 - (pct / 100.0).clamp(0.0, 1.0);
    if rest <= 0.0 {
        MAX_NINES
    } else {
        (-rest.log10()).clamp(0.0, MAX_NINES)
    }
}

/// Axis label for `i` nines: `0%`, `90%`, `99%`, `99.9%`...
fn nines_label(i: u32) -> String {
    match i {
        0 => "0%".to_owned(),
        1 => "90%".to_owned(),
        _ => format!("99.{}%", "9".repeat(i as usize - 2)).replace(".%", "%"),
    }
}

/// A round tick step (1, 2 or 5 times a power of ten) at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !raw.is_finite() || raw <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * power)
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Escapes text for an XML text node or attribute.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_helpers() {
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
        assert_eq!(nines(100.0), MAX_NINES);
        assert_eq!(nines(150.0), MAX_NINES);
        assert_eq!(
            (0..=5).map(nines_label).collect::<Vec<_>>(),
            ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        );
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(1.0), 1.0);
        assert_eq!(nice_step(13.0), 20.0);
        assert_eq!(nice_step(0.0), 1.0);
        assert_eq!(trim_float(2.500), "2.5");
        assert_eq!(trim_float(10.0), "10");
    }

    #[test]
    fn svg_is_well_formed_and_plots_each_point() {
        let points = [(0.0, 1000), (90.0, 2000), (99.0, 4000), (100.0, 10_000)];
        let svg = percentile_svg(
            "echo <ws> & \"acks\"",
            &[Series {
                name: "round trip",
                points: &points,
            }],
        );
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>\n"));
        assert!(svg.contains("echo &lt;ws&gt; &amp; &quot;acks&quot;"));
        assert!(!svg.contains("<ws>"));
        let polyline = svg
            .lines()
            .find(|l| l.starts_with("<polyline"))
            .expect("a curve");
        let coords = polyline.split("points=\"").nth(1).unwrap();
        let coords = coords.trim_end_matches("\"/>");
        let pts: Vec<(f64, f64)> = coords
            .split(' ')
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect();
        assert_eq!(pts.len(), 4);
        // 0% at the left edge, 90% one nine in, 100% at the right edge; y shrinks as latency
        // grows, and the maximum (10 ms) lands on the top of the plot (y axis max is 10 ms).
        assert_eq!(pts[0].0, LEFT);
        assert!((pts[1].0 - (LEFT + (WIDTH - LEFT - RIGHT) / MAX_NINES)).abs() < 0.1);
        assert_eq!(pts[3].0, WIDTH - RIGHT);
        assert!(pts.windows(2).all(|w| w[1].1 < w[0].1));
        assert_eq!(pts[3].1, TOP);
        assert!(svg.contains(">99.99%</text>"));
        assert!(svg.contains(">latency (ms)</text>"));
        assert!(svg.contains(">round trip</text>"));
    }

    #[test]
    fn empty_series_still_render() {
        let svg = percentile_svg("nothing", &[]);
        assert!(svg.contains("</svg>"));
        assert!(!svg.contains("<polyline"));
    }
}
