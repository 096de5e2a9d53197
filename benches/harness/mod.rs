//! How the criterion benchmarks here run: one measurement setting, one runtime, one
//! way to compare services on the same request. Not every benchmark uses every item.

/// The benchmark's `main`: criterion measuring each benchmark for 3 s (these run
/// in nanoseconds to microseconds; 3 s gives stable figures on a loaded machine).
#[allow(unused_macros)]
macro_rules! main {
    ($($target:path),+ $(,)?) => {
        criterion::criterion_group! {
            name = benches;
            config = criterion::Criterion::default()
                .measurement_time(std::time::Duration::from_secs(3));
            targets = $($target),+
        }
        criterion::criterion_main!(benches);
    };
}
#[allow(unused_imports)]
pub(crate) use main;

/// Benchmarks `call(&mut service, request())` for each named service, in one group
/// named `group`: a fresh request per call, built outside the measurement.
#[allow(unused_macros)]
macro_rules! compare {
    ($c:expr, $group:expr, $request:expr, $call:expr, { $($name:literal => $service:expr),+ $(,)? }) => {{
        let mut group = $c.benchmark_group($group);
        $(
            group.bench_function($name, |b| {
                b.iter_batched(
                    $request,
                    |r| std::hint::black_box($call(&mut $service, r)),
                    criterion::BatchSize::SmallInput,
                )
            });
        )+
        group.finish();
    }};
}
#[allow(unused_imports)]
pub(crate) use compare;

/// A current-thread runtime, for what a benchmark sets up or drives asynchronously.
#[allow(dead_code)]
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
