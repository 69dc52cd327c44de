//! Where composing a run's mail spends its time, part by part, summed over the composing
//! threads (so roughly CPU time): logged with "mail composed", for the benchmark's account of
//! what each output costs (BENCHMARKS.md).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// A part of composing a run's mail.
#[derive(Clone, Copy)]
pub enum Part {
    /// The management report's summary of the organization's findings.
    Summary,
    /// The organizations' review workbooks.
    OrgWorkbook,
    /// The PID/SLs' decision workbooks.
    DecisionWorkbook,
    /// The management reports' trend charts.
    TrendChart,
    /// The template values and both renderings (text and HTML).
    Templates,
    /// The HTML's stylesheet inlined into style= attributes.
    InlineCss,
    /// The MIME message built and encoded (quoted-printable, base64).
    Mime,
    /// The message handed to its writer (a file, the zip's queue or a spool).
    Write,
}

impl Part {
    const ALL: [Part; 8] = [
        Part::Summary,
        Part::OrgWorkbook,
        Part::DecisionWorkbook,
        Part::TrendChart,
        Part::Templates,
        Part::InlineCss,
        Part::Mime,
        Part::Write,
    ];

    /// The name of the field it is logged as.
    pub fn name(self) -> &'static str {
        match self {
            Part::Summary => "summary_s",
            Part::OrgWorkbook => "org_workbooks_s",
            Part::DecisionWorkbook => "decision_workbooks_s",
            Part::TrendChart => "trend_charts_s",
            Part::Templates => "templates_s",
            Part::InlineCss => "inline_css_s",
            Part::Mime => "mime_s",
            Part::Write => "write_s",
        }
    }
}

/// The time spent on each [`Part`], from every thread composing.
#[derive(Default)]
pub struct ComposeCost {
    nanos: [AtomicU64; Part::ALL.len()],
}

impl ComposeCost {
    /// `work`, its time added to `part`'s.
    pub fn time<T>(&self, part: Part, work: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let result = work();
        self.nanos[part as usize].fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        result
    }

    /// The parts as one line, "summary_s=0.1 org_workbooks_s=2.3 …", for the log.
    pub fn line(&self) -> String {
        Part::ALL
            .iter()
            .map(|&part| {
                let nanos = self.nanos[part as usize].load(Ordering::Relaxed);
                format!("{}={:.1}", part.name(), nanos as f64 / 1e9)
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_part_adds_up_its_own_time_and_the_line_names_every_part() {
        let cost = ComposeCost::default();
        let pause = || std::thread::sleep(std::time::Duration::from_millis(60));
        assert_eq!(cost.time(Part::DecisionWorkbook, || 7), 7);
        cost.time(Part::DecisionWorkbook, pause);
        cost.time(Part::DecisionWorkbook, pause);
        cost.time(Part::InlineCss, pause);
        let line = cost.line();
        let seconds = |name: &str| -> f64 {
            let field = line
                .split(' ')
                .find_map(|f| f.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("{name} in {line}"));
            field.parse().unwrap()
        };
        assert_eq!(seconds("decision_workbooks_s"), 0.1, "{line}");
        assert_eq!(seconds("inline_css_s"), 0.1, "{line}");
        assert_eq!(seconds("org_workbooks_s"), 0.0, "{line}");
        assert_eq!(line.split(' ').count(), Part::ALL.len());
    }
}
