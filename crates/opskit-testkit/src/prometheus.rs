//! A parser for the Prometheus text exposition format (version 0.0.4), strict enough
//! to fail on what a scraper would refuse.

use std::collections::{BTreeMap, BTreeSet};

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's name (a histogram's has `_bucket`, `_sum` or `_count`).
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// A metric family: its type, help and samples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Family {
    /// The `# TYPE`: counter, gauge, histogram, summary or untyped.
    pub kind: String,
    /// The `# HELP` text, if any.
    pub help: Option<String>,
    /// Its samples.
    pub samples: Vec<Sample>,
}

impl Family {
    /// The label names of the samples, without `le` and `quantile`, each set once.
    pub fn label_sets(&self) -> BTreeSet<Vec<String>> {
        self.samples
            .iter()
            .map(|s| {
                s.labels
                    .keys()
                    .filter(|k| *k != "le" && *k != "quantile")
                    .cloned()
                    .collect()
            })
            .collect()
    }
}

/// Parses an exposition; returns the families by name, or the first fault.
pub fn parse(text: &str) -> Result<BTreeMap<String, Family>, String> {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let at = |msg: &str| format!("line {}: {msg}: {line:?}", number + 1);
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    check_name(name).map_err(|e| at(&e))?;
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(at("unknown type"));
                    }
                    let family = families.entry(name.to_owned()).or_default();
                    if !family.kind.is_empty() || !family.samples.is_empty() {
                        return Err(at("TYPE after samples or twice"));
                    }
                    family.kind = kind.to_owned();
                }
                (Some("HELP"), Some(name), help) => {
                    check_name(name).map_err(|e| at(&e))?;
                    families.entry(name.to_owned()).or_default().help = help.map(str::to_owned);
                }
                _ => {} // other comments are allowed
            }
            continue;
        }
        let sample = parse_sample(line).map_err(|e| at(&e))?;
        let family_name = family_of(&sample.name, &families);
        families
            .entry(family_name)
            .or_default()
            .samples
            .push(sample);
    }
    for (name, family) in &families {
        if family.kind == "histogram" {
            check_histogram(name, family)?;
        }
    }
    Ok(families)
}

/// The family a sample belongs to: histogram and summary series carry suffixes.
fn family_of(sample: &str, families: &BTreeMap<String, Family>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = sample.strip_suffix(suffix)
            && families
                .get(base)
                .is_some_and(|f| f.kind == "histogram" || f.kind == "summary")
        {
            return base.to_owned();
        }
    }
    sample.to_owned()
}

fn check_name(name: &str) -> Result<(), String> {
    let valid = name.chars().enumerate().all(|(i, c)| {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
    });
    if valid && !name.is_empty() {
        Ok(())
    } else {
        Err(format!("invalid metric name {name:?}"))
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) => line.split_at(i),
        None => return Err("no value".into()),
    };
    check_name(name)?;
    let mut labels = BTreeMap::new();
    let rest = if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            inner = inner.trim_start_matches(',');
            if let Some(after) = inner.strip_prefix('}') {
                break after;
            }
            let eq = inner.find('=').ok_or("label without '='")?;
            let key = &inner[..eq];
            check_name(key)?;
            let mut value = String::new();
            let mut chars = inner[eq + 1..]
                .strip_prefix('"')
                .ok_or("unquoted label value")?
                .char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c @ ('\\' | '"'))) => value.push(c),
                        _ => return Err("bad escape in label value".into()),
                    },
                    Some((i, '"')) => break i,
                    Some((_, c)) => value.push(c),
                    None => return Err("unterminated label value".into()),
                }
            };
            if labels.insert(key.to_owned(), value).is_some() {
                return Err(format!("label {key} twice"));
            }
            inner = &inner[eq + 1 + 1 + end + 1..];
        }
    } else {
        rest
    };
    let mut fields = rest.split_whitespace();
    let value = fields.next().ok_or("no value")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().map_err(|_| format!("bad value {v:?}"))?,
    };
    if let Some(timestamp) = fields.next() {
        timestamp.parse::<i64>().map_err(|_| "bad timestamp")?;
    }
    if fields.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Buckets ascend, end with `+Inf`, are cumulative, and `_count` equals `+Inf`.
fn check_histogram(name: &str, family: &Family) -> Result<(), String> {
    let mut series: BTreeMap<Vec<(String, String)>, Vec<&Sample>> = BTreeMap::new();
    for sample in &family.samples {
        let key: Vec<(String, String)> = sample
            .labels
            .iter()
            .filter(|(k, _)| *k != "le")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        series.entry(key).or_default().push(sample);
    }
    for (labels, samples) in series {
        let buckets: Vec<(f64, f64)> = samples
            .iter()
            .filter(|s| s.name == format!("{name}_bucket"))
            .map(|s| {
                let le = &s.labels["le"];
                (
                    if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().unwrap()
                    },
                    s.value,
                )
            })
            .collect();
        if buckets.last().map(|b| b.0) != Some(f64::INFINITY) {
            return Err(format!("{name}{labels:?}: no +Inf bucket"));
        }
        if buckets
            .windows(2)
            .any(|w| w[0].0 >= w[1].0 || w[0].1 > w[1].1)
        {
            return Err(format!(
                "{name}{labels:?}: buckets not ascending and cumulative"
            ));
        }
        let count = samples
            .iter()
            .find(|s| s.name == format!("{name}_count"))
            .ok_or("no _count")?;
        if count.value != buckets.last().unwrap().1 {
            return Err(format!(
                "{name}{labels:?}: _count differs from the +Inf bucket"
            ));
        }
        samples
            .iter()
            .find(|s| s.name == format!("{name}_sum"))
            .ok_or("no _sum")?;
    }
    Ok(())
}
