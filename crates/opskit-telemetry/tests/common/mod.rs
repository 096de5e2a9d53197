//! Reading request-metric series back from a `DebuggingRecorder`.

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// Installs a `DebuggingRecorder` as the process's recorder (one per test binary)
/// and returns what reads it back.
pub(crate) fn install_recorder() -> Snapshotter {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::set_global_recorder(recorder).unwrap();
    snapshotter
}

/// Every `http_server_request_duration_seconds` series: the values of `labels` (in
/// that order) and its number of samples, sorted.
pub(crate) fn duration_series(
    snapshotter: &Snapshotter,
    labels: &[&str],
) -> Vec<(Vec<String>, usize)> {
    let mut series: Vec<(Vec<String>, usize)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "http_server_request_duration_seconds")
        .map(|(key, _, _, value)| {
            let values = labels
                .iter()
                .map(|name| {
                    key.key()
                        .labels()
                        .find(|l| l.key() == *name)
                        .unwrap_or_else(|| panic!("no label {name} on {key:?}"))
                        .value()
                        .to_owned()
                })
                .collect();
            let DebugValue::Histogram(samples) = value else {
                panic!("not a histogram: {key:?}")
            };
            (values, samples.len())
        })
        .collect();
    series.sort();
    series
}

/// `expected` in the shape [`duration_series`] returns.
pub(crate) fn owned<const N: usize>(expected: &[([&str; N], usize)]) -> Vec<(Vec<String>, usize)> {
    expected
        .iter()
        .map(|(labels, n)| (labels.iter().map(|l| (*l).to_owned()).collect(), *n))
        .collect()
}
