//! A small Prometheus registry: labelled counters and fixed-bucket histograms of atomics,
//! rendered in the text exposition format (version 0.0.4).
//!
//! Written by hand rather than taken from the `prometheus` crate: the gateway needs two metric
//! types, a handful of families and no push or protobuf support, and this is about as much
//! code as wiring that crate's builders and error types would be.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// Series of one family, keyed by their label values (in the family's label order).
type SeriesMap<T> = RwLock<BTreeMap<Vec<String>, Arc<T>>>;

/// The series for `values`, created on first use. Label values come from code (route
/// patterns, operation names, status codes), never from raw user input, so the number of
/// series stays bounded.
fn series<T>(map: &SeriesMap<T>, values: &[&str], make: impl FnOnce() -> T) -> Arc<T> {
    {
        let read = map.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = read
            .iter()
            .find(|(k, _)| k.iter().map(String::as_str).eq(values.iter().copied()))
            .map(|(_, s)| s)
        {
            return s.clone();
        }
    }
    let key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
    map.write()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key)
        .or_insert_with(|| Arc::new(make()))
        .clone()
}

/// A counter family: `name{labels…} value`.
#[derive(Debug)]
pub struct CounterVec {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    series: SeriesMap<AtomicU64>,
}

impl CounterVec {
    /// An empty family.
    pub fn new(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Self {
        Self {
            name,
            help,
            labels,
            series: RwLock::default(),
        }
    }

    /// Adds one to the series with these label values.
    pub fn inc(&self, values: &[&str]) {
        series(&self.series, values, AtomicU64::default).fetch_add(1, Ordering::Relaxed);
    }

    /// The current value of one series (0 when it was never incremented).
    pub fn get(&self, values: &[&str]) -> u64 {
        self.series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(k, _)| k.iter().map(String::as_str).eq(values.iter().copied()))
            .map_or(0, |(_, v)| v.load(Ordering::Relaxed))
    }

    /// Appends the family in the text format.
    pub fn render(&self, out: &mut String) {
        header(out, self.name, self.help, "counter");
        let map = self.series.read().unwrap_or_else(PoisonError::into_inner);
        for (values, v) in map.iter() {
            let _ = writeln!(
                out,
                "{}{} {}",
                self.name,
                labels(self.labels, values, None),
                v.load(Ordering::Relaxed)
            );
        }
    }
}

/// One histogram series: a count per bucket (not cumulative; the last one is `+Inf`), the
/// sum in nanoseconds and the total count.
#[derive(Debug)]
struct Histogram {
    buckets: Vec<AtomicU64>,
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

/// A histogram family of durations with fixed upper bounds in seconds.
#[derive(Debug)]
pub struct HistogramVec {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    bounds: &'static [f64],
    series: SeriesMap<Histogram>,
}

impl HistogramVec {
    /// An empty family; `bounds` are the buckets' upper bounds in seconds, ascending.
    pub fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        bounds: &'static [f64],
    ) -> Self {
        Self {
            name,
            help,
            labels,
            bounds,
            series: RwLock::default(),
        }
    }

    /// Records one duration in the series with these label values.
    pub fn observe(&self, values: &[&str], d: Duration) {
        let h = series(&self.series, values, || Histogram {
            buckets: (0..=self.bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
            count: AtomicU64::new(0),
        });
        let secs = d.as_secs_f64();
        let idx = self
            .bounds
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(self.bounds.len());
        Self::add(&h, idx, d);
    }

    fn add(h: &Histogram, idx: usize, d: Duration) {
        if let Some(b) = h.buckets.get(idx) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        h.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        h.count.fetch_add(1, Ordering::Relaxed);
    }

    /// How many observations one series has.
    pub fn count(&self, values: &[&str]) -> u64 {
        self.series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(k, _)| k.iter().map(String::as_str).eq(values.iter().copied()))
            .map_or(0, |(_, h)| h.count.load(Ordering::Relaxed))
    }

    /// Appends the family in the text format: cumulative `_bucket` lines, `_sum`, `_count`.
    pub fn render(&self, out: &mut String) {
        header(out, self.name, self.help, "histogram");
        let map = self.series.read().unwrap_or_else(PoisonError::into_inner);
        for (values, h) in map.iter() {
            let mut cumulative = 0u64;
            for (i, b) in h.buckets.iter().enumerate() {
                cumulative += b.load(Ordering::Relaxed);
                let le = self
                    .bounds
                    .get(i)
                    .map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
                let _ = writeln!(
                    out,
                    "{}_bucket{} {cumulative}",
                    self.name,
                    labels(self.labels, values, Some(&le))
                );
            }
            let lbl = labels(self.labels, values, None);
            let sum = h.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(out, "{}_sum{lbl} {sum}", self.name);
            let _ = writeln!(
                out,
                "{}_count{lbl} {}",
                self.name,
                h.count.load(Ordering::Relaxed)
            );
        }
    }
}

/// `# HELP` and `# TYPE` lines.
pub fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A gauge (or counter) family whose values are computed at scrape time.
pub fn scraped(
    out: &mut String,
    name: &str,
    help: &str,
    kind: &str,
    label_names: &[&str],
    rows: &[(Vec<String>, f64)],
) {
    header(out, name, help, kind);
    for (values, v) in rows {
        let v = if v.is_finite() { *v } else { 0.0 };
        let _ = writeln!(out, "{name}{} {v}", labels(label_names, values, None));
    }
}

/// `{a="x",b="y"}` (with `le` last for buckets), or nothing without labels.
fn labels(names: &[&str], values: &[String], le: Option<&str>) -> String {
    let mut s = String::new();
    let pairs = names
        .iter()
        .zip(values.iter().map(String::as_str))
        .chain(le.map(|v| (&"le", v)));
    for (i, (n, v)) in pairs.enumerate() {
        s.push(if i == 0 { '{' } else { ',' });
        let _ = write!(s, "{n}=\"{}\"", escape(v));
    }
    if !s.is_empty() {
        s.push('}');
    }
    s
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_one_line_per_series() {
        let c = CounterVec::new("t_total", "Things.", &["route", "status"]);
        c.inc(&["/a", "200"]);
        c.inc(&["/a", "200"]);
        c.inc(&["/b\"x", "404"]);
        let mut out = String::new();
        c.render(&mut out);
        assert_eq!(
            out,
            "# HELP t_total Things.\n# TYPE t_total counter\n\
             t_total{route=\"/a\",status=\"200\"} 2\n\
             t_total{route=\"/b\\\"x\",status=\"404\"} 1\n"
        );
        assert_eq!(c.get(&["/a", "200"]), 2);
        assert_eq!(c.get(&["/c", "200"]), 0);
    }

    #[test]
    fn histograms_are_cumulative_with_sum_and_count() {
        let h = HistogramVec::new("d_seconds", "Durations.", &["op"], &[0.1, 1.0]);
        h.observe(&["x"], Duration::from_millis(50));
        h.observe(&["x"], Duration::from_millis(500));
        h.observe(&["x"], Duration::from_secs(3));
        let mut out = String::new();
        h.render(&mut out);
        assert!(
            out.contains("d_seconds_bucket{op=\"x\",le=\"0.1\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("d_seconds_bucket{op=\"x\",le=\"1\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("d_seconds_bucket{op=\"x\",le=\"+Inf\"} 3\n"),
            "{out}"
        );
        assert!(out.contains("d_seconds_sum{op=\"x\"} 3.55\n"), "{out}");
        assert!(out.contains("d_seconds_count{op=\"x\"} 3\n"), "{out}");
        assert_eq!(h.count(&["x"]), 3);
    }

    #[test]
    fn scraped_values_without_labels() {
        let mut out = String::new();
        scraped(&mut out, "g", "A gauge.", "gauge", &[], &[(vec![], 2.5)]);
        assert_eq!(out, "# HELP g A gauge.\n# TYPE g gauge\ng 2.5\n");
    }
}
