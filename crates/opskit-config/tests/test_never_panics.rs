//! Property tests: arbitrary environments never panic the loader, and never make it
//! show a secret.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStringExt;
use std::time::Duration;

use opskit_config::Config;
use opskit_secret::{ConnectionString, SecretString};
use proptest::prelude::*;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum Level {
    Low,
    High,
}

/// The pool.
#[derive(Config)]
#[allow(dead_code)]
struct Inner {
    /// Size.
    #[config(default = "4")]
    size: u8,
    /// Secret in a nested struct.
    password: Option<SecretString>,
}

/// A struct with one field of each kind.
#[derive(Config)]
#[config(prefix = "P_")]
#[allow(dead_code)]
struct Everything {
    /// A port.
    port: u16,
    /// A flag.
    #[config(default = "no")]
    flag: bool,
    /// A timeout.
    #[config(default = "1s")]
    timeout: Duration,
    /// A list.
    #[config(default)]
    list: Vec<u8>,
    /// A level.
    level: Option<Level>,
    /// An address.
    addr: Option<SocketAddr>,
    /// A token.
    token: SecretString,
    /// A URL.
    url: Option<ConnectionString>,
    /// A secret number.
    #[config(secret)]
    pin: Option<u32>,
    /// Nested.
    #[config(nested)]
    inner: Inner,
}

const NAMES: &[&str] = &[
    "P_PORT",
    "P_FLAG",
    "P_TIMEOUT",
    "P_LIST",
    "P_LEVEL",
    "P_ADDR",
    "P_TOKEN",
    "P_TOKEN_FILE",
    "P_URL",
    "P_URL_FILE",
    "P_PIN",
    "P_PIN_FILE",
    "P_INNER_SIZE",
    "P_INNER_PASSWORD",
    "P_INNER_PASSWORD_FILE",
    "P_PROT",
    "P_",
    "P",
];
const SECRETS: &[&str] = &["P_TOKEN", "P_URL", "P_PIN", "P_INNER_PASSWORD"];

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(NAMES).prop_map(str::to_owned),
        1 => "P_[A-Z_]{0,12}",
        1 => ".{0,8}",
    ]
}

fn value() -> impl Strategy<Value = OsString> {
    prop_oneof![
        2 => ".{0,40}".prop_map(OsString::from),
        1 => proptest::collection::vec(any::<u8>(), 0..24).prop_map(OsString::from_vec),
        1 => proptest::sample::select(vec![
            "", " ", "0", "65535", "65536", "-1", "yes", "OFF", "1m30s", "30", "low", "HIGH",
            "127.0.0.1:80", "[::1]:0", "postgres://u:p@h/d", "a,b,,c", "/proc/self/mem",
            "/nonexistent", "/", "/etc/hostname",
        ])
        .prop_map(OsString::from),
    ]
}

/// A secret that cannot occur in any message by chance.
fn secret() -> impl Strategy<Value = String> {
    "zq[a-km-z2-9]{12}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_environments_never_panic(pairs in proptest::collection::vec((name(), value()), 0..24)) {
        let pairs: Vec<(OsString, OsString)> =
            pairs.into_iter().map(|(n, v)| (OsString::from(n), v)).collect();
        match Everything::from_pairs(pairs) {
            Ok(loaded) => {
                let _ = loaded.summary().to_string();
                let _ = loaded.summary().to_json();
            }
            Err(err) => {
                prop_assert!(!err.problems().is_empty());
                let _ = err.to_string();
                let _ = serde_json::to_string(&err).unwrap();
            }
        }
    }

    #[test]
    fn secret_values_never_appear_whatever_else_is_wrong(
        others in proptest::collection::vec((name(), value()), 0..12),
        secrets in proptest::collection::vec((proptest::sample::select(SECRETS), secret(), 0usize..4), 1..5),
    ) {
        let mut pairs: Vec<(OsString, OsString)> =
            others.into_iter().map(|(n, v)| (OsString::from(n), v)).collect();
        let mut planted = Vec::new();
        for (name, secret, shape) in secrets {
            // Plant the secret bare, inside a URL, with surrounding spaces, or as a
            // number-like value.
            let value = match shape {
                0 => secret.clone(),
                1 => format!("postgres://u:{secret}@h/d"),
                2 => format!("  {secret}  "),
                _ => format!("{secret}:{secret}@"),
            };
            pairs.push((name.into(), value.into()));
            planted.push(secret);
        }
        let output = match Everything::from_pairs(pairs) {
            Ok(loaded) => format!("{}\n{:?}\n{}\n{loaded:?}", loaded.summary(), loaded.summary(), loaded.summary().to_json()),
            Err(err) => format!("{err}\n{err:?}\n{}", serde_json::to_string(&err).unwrap()),
        };
        for secret in planted {
            prop_assert!(!output.contains(&secret), "{} leaked into:\n{}", secret, output);
        }
    }
}
