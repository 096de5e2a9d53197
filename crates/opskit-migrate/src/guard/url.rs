//! The database URL the guard connects to, its password kept out of every message.

use opskit_secret::{ConnectionString, ExposeSecret};

/// A database URL the guard connects to: a [`ConnectionString`] (the service's
/// setting, its password masked in every message), or a `str`/`String`. Errors show
/// the URL masked whichever is given.
pub trait DatabaseUrl: private::Sealed {
    /// The URL, password included, for the driver only.
    #[doc(hidden)]
    fn expose_url(&self) -> &str;
}

impl DatabaseUrl for ConnectionString {
    fn expose_url(&self) -> &str {
        self.expose_secret()
    }
}

impl DatabaseUrl for str {
    fn expose_url(&self) -> &str {
        self
    }
}

impl DatabaseUrl for String {
    fn expose_url(&self) -> &str {
        self
    }
}

mod private {
    pub trait Sealed {}
    impl Sealed for opskit_secret::ConnectionString {}
    impl Sealed for str {}
    impl Sealed for String {}
}
