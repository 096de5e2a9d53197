//! What the health tests share: a registry of one check, started, and checks that
//! count their runs. Not every test file uses every item.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use opskit_health::{Check, CheckOptions, Health, HealthBuilder, Outcome};

/// A registry of the one check `name`, built and marked started, so the probes
/// answer from the check.
pub(crate) fn started(name: &str, check: impl Check, options: CheckOptions) -> Health {
    started_in(Health::builder(), name, check, options)
}

/// [`started`], with each check's output in the responses (`details`).
pub(crate) fn started_showing_outputs(
    name: &str,
    check: impl Check,
    options: CheckOptions,
) -> Health {
    started_in(Health::builder().details(true), name, check, options)
}

fn started_in(
    builder: HealthBuilder,
    name: &str,
    check: impl Check,
    options: CheckOptions,
) -> Health {
    let health = builder.check(name, check, options).build().unwrap();
    health.mark_started();
    health
}

/// A check whose run `n` (from 0) answers what `answer(n)` does, and the count of
/// its runs.
pub(crate) fn counted<F, Fut>(answer: F) -> (impl Check, Arc<AtomicU32>)
where
    F: Fn(u32) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let runs = Arc::new(AtomicU32::new(0));
    let counter = runs.clone();
    let check = move || answer(counter.fetch_add(1, Ordering::SeqCst));
    (check, runs)
}
