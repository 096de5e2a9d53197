//! The background loop of each check.

use std::any::Any;
use std::sync::{Arc, Weak};

use tokio::runtime::Handle;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::checks::Check;
use crate::options::CheckOptions;
use crate::outcome::Outcome;
use crate::state::Shared;

/// Spawns the loop of check `index`: run, record, sleep `interval`, again. The loop
/// holds the shared state weakly and ends when the registry is gone.
pub(crate) fn spawn(
    runtime: &Handle,
    shared: &Arc<Shared>,
    index: usize,
    check: Arc<dyn Check>,
    options: CheckOptions,
) -> AbortHandle {
    let shared: Weak<Shared> = Arc::downgrade(shared);
    let runtime_for_runs = runtime.clone();
    runtime
        .spawn(async move {
            loop {
                let (outcome, duration) = run_once(&runtime_for_runs, &*check, &options).await;
                match shared.upgrade() {
                    Some(shared) => shared.record(index, outcome, duration),
                    None => return,
                }
                tokio::time::sleep(options.interval).await;
            }
        })
        .abort_handle()
}

/// Runs the check once in a task of its own, so that a panic is caught and a run
/// past its timeout is cancelled.
async fn run_once(
    runtime: &Handle,
    check: &dyn Check,
    options: &CheckOptions,
) -> (Outcome, std::time::Duration) {
    let start = Instant::now();
    let task = runtime.spawn(check.run());
    let abort = task.abort_handle();
    let outcome = match tokio::time::timeout(options.timeout, task).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(err)) if err.is_panic() => Outcome::fail(format!(
            "the check panicked: {}",
            panic_message(&*err.into_panic())
        )),
        Ok(Err(_)) => Outcome::fail("the check was cancelled"),
        Err(_) => {
            abort.abort();
            Outcome::fail(format!(
                "timed out after {}",
                humantime::format_duration(options.timeout)
            ))
        }
    };
    (outcome, start.elapsed())
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
