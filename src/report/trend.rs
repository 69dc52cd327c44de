//! The trend chart: open findings by severity over the last reviews, drawn with plotters as
//! SVG (for summary.html) and PNG (for mail, as an inline image: mail clients block SVG), with
//! a font built into the binary, so a server without fonts draws the same chart.
//!
//! The font is DejaVu Sans (`src/report/fonts/DejaVuSans.ttf`, Bitstream Vera licence with the
//! DejaVu changes in the public domain; the text is `src/report/fonts/LICENSE-DejaVu.txt`). plotters
//! is built without its `ttf` feature, so it links no font-kit and never reads a system font:
//! it lays out and rasterizes text with ab_glyph from the registered bytes only. The SVG names
//! the family `sans-serif` (the browser draws SVG text with its own sans-serif; the layout was
//! measured with DejaVu's metrics) and references no font file.
//!
//! One line per severity in the report's colours (templates/_layout.html.j2), most serious
//! drawn last (on top); x is the review dates (day, and the year under it), oldest first, one
//! slot per review (two reviews of one day are two points); y is the open findings, from zero,
//! with thousands separators. One point draws its dots; the legend is a row under the dates.

use crate::domain::Severity;
use crate::records::TrendPoint;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::sync::OnceLock;

/// The chart's size in pixels: readable in a mail client and in the page.
pub const WIDTH: u32 = 640;
pub const HEIGHT: u32 = 320;

/// The font every text of the chart is measured and drawn with.
static FONT: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");

/// The family the font is registered as, and the SVG names.
const FAMILY: &str = "sans-serif";

/// The severities as the chart draws them: least serious first, so the most serious is on top.
const DRAWN: [(Severity, &str, RGBColor); 4] = [
    (Severity::Low, "Low", RGBColor(0x5b, 0x9b, 0xd5)),
    (Severity::Medium, "Medium", RGBColor(0xff, 0xc0, 0x00)),
    (Severity::High, "High", RGBColor(0xed, 0x7d, 0x31)),
    (Severity::Critical, "Critical", RGBColor(0xc0, 0x00, 0x00)),
];

const INK: RGBColor = RGBColor(0x1b, 0x1b, 0x1b);
const MUTED: RGBColor = RGBColor(0x5c, 0x5c, 0x5c);
const GRID: RGBColor = RGBColor(0xe4, 0xe8, 0xec);

/// The chart as an SVG document.
pub fn svg(points: &[TrendPoint], title: &str) -> anyhow::Result<String> {
    register_font()?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, points, title)?;
        root.present().map_err(chart_error)?;
    }
    Ok(out)
}

/// The chart as a PNG image.
pub fn png(points: &[TrendPoint], title: &str) -> anyhow::Result<Vec<u8>> {
    register_font()?;
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, points, title)?;
        root.present().map_err(chart_error)?;
    }
    let mut out = Vec::new();
    let mut encoder = ::png::Encoder::new(&mut out, WIDTH, HEIGHT);
    encoder.set_color(::png::ColorType::Rgb);
    encoder.set_depth(::png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&rgb)?;
    writer.finish()?;
    Ok(out)
}

/// Registers the built-in font once per process.
fn register_font() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let registered = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    anyhow::ensure!(registered, "the trend chart's built-in font cannot be read");
    Ok(())
}

fn chart_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("cannot draw the trend chart: {e}")
}

/// Draws the chart on `root`: the title, the plot, its dates and the legend.
fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    points: &[TrendPoint],
    title: &str,
) -> anyhow::Result<()> {
    root.fill(&WHITE).map_err(chart_error)?;
    let (upper, legend) = root.split_vertically(HEIGHT - 28);
    let count = |p: &TrendPoint, s: Severity| p.open.get(&s).copied().unwrap_or(0) as i64;
    let highest = points
        .iter()
        .flat_map(|p| DRAWN.iter().map(move |(s, _, _)| count(p, *s)))
        .max()
        .unwrap_or(0);
    // Room above the highest point; at least 0 to 1, so an all-zero trend has an axis.
    let top = (highest + highest / 10 + 1).max(1);
    let last = points.len().max(1) as f64 - 0.5;
    let mut chart = ChartBuilder::on(&upper)
        .caption(title, (FAMILY, 19).into_font().color(&INK))
        .margin_top(8)
        .margin_left(10)
        .margin_right(24)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(-0.5f64..last, 0i64..top)
        .map_err(chart_error)?;
    let label_style = (FAMILY, 14).into_font().color(&MUTED);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(6)
        .y_label_formatter(&|n| crate::templates::group_digits(i128::from(*n)))
        .y_label_style(label_style.clone())
        .y_desc("Open findings")
        .axis_desc_style((FAMILY, 14).into_font().color(&MUTED))
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID)
        .axis_style(MUTED)
        .draw()
        .map_err(chart_error)?;

    // The dates, one under each point, centred: the day, and the year under it (eight full
    // dates side by side would overlap at this width).
    let (_, plot_bottom) = chart.backend_coord(&(0.0, 0));
    let date_style = label_style.pos(Pos::new(HPos::Center, VPos::Top));
    for (i, point) in points.iter().enumerate() {
        let (x, _) = chart.backend_coord(&(i as f64, 0));
        for (line, format) in [(0, "%b %-d"), (1, "%Y")] {
            root.draw(&Text::new(
                point.as_of.format(format).to_string(),
                (x, plot_bottom + 6 + line * 16),
                date_style.clone(),
            ))
            .map_err(chart_error)?;
        }
    }

    for (severity, _, colour) in DRAWN {
        let line: Vec<(f64, i64)> = points
            .iter()
            .enumerate()
            .map(|(i, p)| (i as f64, count(p, severity)))
            .collect();
        chart
            .draw_series(LineSeries::new(line.clone(), colour.stroke_width(2)))
            .map_err(chart_error)?;
        chart
            .draw_series(
                line.into_iter()
                    .map(|xy| Circle::new(xy, 3, colour.filled())),
            )
            .map_err(chart_error)?;
    }

    // The legend: one row under the dates, most serious first, centred.
    let legend_style = (FAMILY, 15).into_font().color(&INK);
    let items: Vec<(&str, RGBColor, i32)> = DRAWN
        .iter()
        .rev()
        .map(|(_, name, colour)| {
            let (w, _) = legend
                .estimate_text_size(name, &legend_style)
                .unwrap_or((60, 13));
            (*name, *colour, 26 + w as i32)
        })
        .collect();
    let gap = 22;
    let total: i32 = items.iter().map(|(_, _, w)| w).sum::<i32>() + gap * 3;
    let mut x = (WIDTH as i32 - total) / 2;
    let y = 12;
    for (name, colour, width) in items {
        legend
            .draw(&PathElement::new(
                vec![(x, y), (x + 20, y)],
                colour.stroke_width(2),
            ))
            .map_err(chart_error)?;
        legend
            .draw(&Circle::new((x + 10, y), 3, colour.filled()))
            .map_err(chart_error)?;
        legend
            .draw(&Text::new(
                name,
                (x + 26, y),
                legend_style.pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(chart_error)?;
        x += width + gap;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn point(run_id: &str, day: u32, counts: [usize; 4]) -> TrendPoint {
        let severities = [
            Severity::Critical,
            Severity::High,
            Severity::Medium,
            Severity::Low,
        ];
        TrendPoint {
            run_id: run_id.into(),
            as_of: NaiveDate::from_ymd_opt(2026, 10, day).unwrap(),
            open: severities.into_iter().zip(counts).collect(),
        }
    }

    fn trend() -> Vec<TrendPoint> {
        vec![
            point("20261001-001", 1, [2, 14, 1_250, 3]),
            point("20261008-001", 8, [1, 9, 1_100, 0]),
            point("20261015-001", 15, [0, 4, 980, 7]),
        ]
    }

    /// Whether every tag of `xml` is closed in order (a small check, enough for plotters'
    /// output: no comments, CDATA or processing instructions besides the declaration).
    fn well_formed(xml: &str) -> Result<(), String> {
        let mut open: Vec<String> = Vec::new();
        let mut rest = xml;
        while let Some(start) = rest.find('<') {
            let after = &rest[start + 1..];
            let end = after.find('>').ok_or("a tag is not closed")?;
            let tag = &after[..end];
            rest = &after[end + 1..];
            if tag.starts_with('?') || tag.starts_with('!') {
                continue;
            }
            if let Some(name) = tag.strip_prefix('/') {
                let expected = open.pop().ok_or(format!("</{name}> closes nothing"))?;
                if expected != name.trim() {
                    return Err(format!("</{name}> closes <{expected}>"));
                }
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().unwrap_or_default();
                open.push(name.to_string());
            }
        }
        if open.is_empty() {
            Ok(())
        } else {
            Err(format!("not closed: {open:?}"))
        }
    }

    #[test]
    fn the_svg_is_well_formed_names_each_severity_and_uses_no_font_file() {
        let svg = svg(&trend(), "Open findings <by severity> & date").unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        well_formed(&svg).unwrap();
        for name in ["Critical", "High", "Medium", "Low"] {
            assert!(
                svg.contains(&format!(">\n{name}\n</text>")),
                "{name} missing"
            );
        }
        for date in ["Oct 1", "Oct 8", "Oct 15", "2026"] {
            assert!(
                svg.contains(&format!(">\n{date}\n</text>")),
                "{date} missing"
            );
        }
        // The title's markup characters are escaped by plotters.
        assert!(svg.contains("Open findings &lt;by severity&gt; &amp; date"));
        assert!(!svg.contains("<by severity>"));
        for external in ["url(", "@font-face", "href", ".ttf", "<image", "<script"] {
            assert!(!svg.contains(external), "{external} in the SVG");
        }
        // The y axis counts with thousands separators.
        assert!(svg.contains("1,"), "no thousands separator on the y axis");
    }

    #[test]
    fn a_trend_of_one_point_draws_its_dots() {
        let svg = svg(&trend()[..1], "Open findings").unwrap();
        well_formed(&svg).unwrap();
        // Four dots of the point, and four in the legend.
        assert_eq!(svg.matches("<circle").count(), 8, "{svg}");
        assert!(svg.contains(">\nOct 1\n</text>"));
        png(&trend()[..1], "Open findings").unwrap();
        // No point at all still makes a chart (axes and legend).
        well_formed(&super::svg(&[], "Open findings").unwrap()).unwrap();
    }

    #[test]
    fn the_png_decodes_at_its_size_and_is_drawn_the_same_every_time() {
        let png = png(&trend(), "Open findings").unwrap();
        let decoder = ::png::Decoder::new(std::io::Cursor::new(&png));
        let mut reader = decoder.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), (WIDTH, HEIGHT));
        let mut pixels = vec![0; reader.output_buffer_size()];
        reader.next_frame(&mut pixels).unwrap();
        // Not blank: the critical line's red is there.
        assert!(pixels.chunks(3).any(|p| p == [0xc0, 0x00, 0x00]));
        assert_eq!(png, super::png(&trend(), "Open findings").unwrap());
    }

    /// The chart cannot read a system font, so a server without fonts draws the same bytes:
    /// plotters is built without `ttf`, and nothing links font-kit or fontconfig.
    /// The chart cannot read a system font, so a server without fonts draws the same bytes:
    /// plotters is built without `ttf`, and nothing links font-kit or fontconfig.
    #[test]
    fn dump_for_a_look() {
        let mut points = trend();
        for day in 16..21 {
            points.push(point("x", day, [1, 3, 900 + day as usize, 2]));
        }
        std::fs::write(
            "/tmp/trend8.svg",
            super::svg(&points, "Open findings by severity at the last reviews").unwrap(),
        )
        .unwrap();
        std::fs::write(
            "/tmp/trend8.png",
            super::png(&points, "Open findings by severity at the last reviews").unwrap(),
        )
        .unwrap();
        std::fs::write(
            "/tmp/trend1.png",
            super::png(
                &points[..1],
                "Open findings by severity at the last reviews",
            )
            .unwrap(),
        )
        .unwrap();
    }

    #[test]
    fn no_system_font_library_is_linked() {
        let lock = include_str!("../../Cargo.lock");
        for library in ["font-kit", "yeslogic-fontconfig-sys", "servo-fontconfig"] {
            assert!(
                !lock.contains(&format!("name = \"{library}\"")),
                "{library} is in Cargo.lock"
            );
        }
    }
}
