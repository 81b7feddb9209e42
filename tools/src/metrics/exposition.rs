//! The Prometheus text exposition format (0.0.4), written by hand: a scrape renders a few
//! hundred lines from atomics, which needs no registry, only correct escaping and one
//! `# HELP`/`# TYPE` pair per family.

use std::fmt::Write;

/// A metric family's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Summary,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Summary => "summary",
        }
    }
}

/// A scrape's text, family by family.
#[derive(Default)]
pub struct Exposition {
    out: String,
    family: String,
    /// Families written so far (a family must appear once, all its samples together).
    seen: Vec<String>,
}

/// Escapes a label value: backslash, double quote and newline.
fn escape_label(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn push_value(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

impl Exposition {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a family: the samples written next belong to it.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> &mut Self {
        debug_assert!(
            !self.seen.iter().any(|n| n == name),
            "metric family {name} written twice"
        );
        self.seen.push(name.to_string());
        self.family.clear();
        self.family.push_str(name);
        let _ = writeln!(self.out, "# HELP {name} {}", help.replace('\n', " "));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
        self
    }

    /// A sample of the current family.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.sample_suffixed("", labels, value)
    }

    /// A sample named the family plus `suffix` (a summary's `_sum` and `_count`).
    pub fn sample_suffixed(
        &mut self,
        suffix: &str,
        labels: &[(&str, &str)],
        value: f64,
    ) -> &mut Self {
        self.out.push_str(&self.family);
        self.out.push_str(suffix);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                escape_label(v, &mut self.out);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        push_value(value, &mut self.out);
        self.out.push('\n');
        self
    }

    /// A family with one unlabelled sample.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: f64) -> &mut Self {
        self.family(name, kind, help).sample(&[], value)
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_families_and_escapes_labels() {
        let mut e = Exposition::new();
        e.family("tidewatch_x_total", Kind::Counter, "Things.\nMore.")
            .sample(&[("sensor", "a\"b\\c\nd")], 3.0)
            .sample(&[], 0.25);
        e.family("tidewatch_lat_seconds", Kind::Summary, "Latency.")
            .sample(&[("quantile", "0.5")], f64::NAN)
            .sample_suffixed("_count", &[], 2.0);
        assert_eq!(
            e.finish(),
            "# HELP tidewatch_x_total Things. More.\n# TYPE tidewatch_x_total counter\n\
             tidewatch_x_total{sensor=\"a\\\"b\\\\c\\nd\"} 3\ntidewatch_x_total 0.25\n\
             # HELP tidewatch_lat_seconds Latency.\n# TYPE tidewatch_lat_seconds summary\n\
             tidewatch_lat_seconds{quantile=\"0.5\"} NaN\ntidewatch_lat_seconds_count 2\n"
        );
    }
}
