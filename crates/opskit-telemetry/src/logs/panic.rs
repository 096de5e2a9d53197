//! Panics as structured log events.

use std::any::Any;
use std::sync::Once;

/// Installs a panic hook that logs each panic as an error event
/// (`event = "service.panic"`, with `panic_message`, `location` and `thread`; the
/// event's `message` reads "panic in thread T: M") and then
/// runs the hook that was there before (which prints to stderr). Installing twice
/// is harmless. [`init`](crate::logs::init) calls it.
pub fn install_panic_hook() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = payload_message(info.payload());
            let location = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
            let thread = std::thread::current();
            let thread = thread.name().unwrap_or("<unnamed>");
            tracing::error!(
                event = "service.panic",
                panic_message = message,
                location = location.as_deref(),
                thread,
                "panic in thread {thread}: {message}"
            );
            previous(info);
        }));
    });
}

fn payload_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic without a message)")
}
