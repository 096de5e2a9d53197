use crate::checks::{Check, Tolerant};
use crate::outcome::Outcome;

/// A check that opens a TCP connection to `address` (`host:port`) and closes it.
///
/// It proves that something listens there, not that it works: prefer a check that
/// speaks the protocol (such as [`sqlx_pool`](crate::checks::sqlx_pool)) where there
/// is one. The run's timeout bounds the connect. It reports failing after 3 failed
/// runs in a row unless the options set another
/// [`failure_threshold`](crate::CheckOptions::failure_threshold).
///
/// ```
/// use opskit_health::{CheckOptions, Health, checks::tcp_connect};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), opskit_health::BuildError> {
/// let health = Health::builder()
///     .check("cache", tcp_connect("127.0.0.1:6379"), CheckOptions::new())
///     .build()?;
/// # Ok(()) }
/// ```
pub fn tcp_connect(address: impl Into<String>) -> impl Check {
    let address: std::sync::Arc<str> = address.into().into();
    let check = move || {
        let address = address.clone();
        async move {
            match tokio::net::TcpStream::connect(&*address).await {
                Ok(_) => Outcome::pass(),
                Err(err) => Outcome::fail(format!("cannot connect to {address}: {err}")),
            }
        }
    };
    Tolerant::new(check, 3)
}
