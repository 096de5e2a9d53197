//! The log writer that redacts every registered secret from every line, whoever
//! wrote it.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

/// Wraps a [`MakeWriter`] so that each log line passes through
/// [`opskit_secret::redaction::redact_bytes`] on its way out: the secrets opskit-config
/// loaded (and any a service registered) never reach the output, even in lines a
/// dependency writes. [`subscriber`](crate::logs::subscriber) installs it; use it directly
/// when building a subscriber of your own.
///
/// ```
/// use opskit_telemetry::RedactingWriter;
///
/// opskit_secret::redaction::register("canary-pw-51f3");
/// let make_writer = RedactingWriter::new(std::io::stdout);
/// let subscriber = tracing_subscriber::fmt().with_writer(make_writer).finish();
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::warn!(target: "sqlx::postgres::options", "ignoring sslpassword=canary-pw-51f3");
/// });
/// ```
#[derive(Debug, Clone)]
pub struct RedactingWriter<M> {
    inner: M,
}

impl<M> RedactingWriter<M> {
    /// Redacts what `inner`'s writers receive.
    pub fn new(inner: M) -> Self {
        Self { inner }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingWriter<M> {
    type Writer = Redacting<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        Redacting(self.inner.make_writer())
    }
}

/// One line's writer, from [`RedactingWriter`].
#[derive(Debug)]
pub struct Redacting<W>(W);

impl<W: Write> Write for Redacting<W> {
    /// The formatter hands over a whole line at once: it is redacted as a whole,
    /// so a secret cannot be split across two writes.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .write_all(&opskit_secret::redaction::redact_bytes(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}
