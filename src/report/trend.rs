//! The trend chart: open findings by severity over the last reviews, drawn with plotters as
//! SVG (for summary.html) and PNG (for mail, as an inline image: mail clients block SVG), with
//! a font built into the binary, so a server without fonts draws the same chart.

use crate::records::TrendPoint;

/// The chart as an SVG document.
pub fn svg(points: &[TrendPoint], title: &str) -> anyhow::Result<String> {
    let _ = (points, title);
    todo!()
}

/// The chart as a PNG image.
pub fn png(points: &[TrendPoint], title: &str) -> anyhow::Result<Vec<u8>> {
    let _ = (points, title);
    todo!()
}
