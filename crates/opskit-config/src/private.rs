//! Items the derive's generated code calls. Not a public API: no stability promise.

use std::marker::PhantomData;

use opskit_secret::{ConnectionString, SecretBox};
use serde::de::DeserializeOwned;
use zeroize::Zeroize;

use crate::de::from_missing;
use crate::describe::{Requirement, Setting};
use crate::report::Invalid;
use crate::summary::REDACTED;

pub use crate::field_spec::{DefaultSpec, FieldSpec, VarName};
pub use crate::loader::Loader;
pub use crate::range::{RangeSpec, Ranged};

/// The prefix of a nested struct: the parent's prefix followed by the sub-prefix.
pub fn join(prefix: &str, sub_prefix: &str) -> String {
    let mut joined = String::with_capacity(prefix.len() + sub_prefix.len());
    joined.push_str(prefix);
    joined.push_str(sub_prefix);
    joined
}

/// What the summary may show of a value: its masked form, or its rendering in the
/// configuration format.
pub type Shows<T> = fn(&T) -> Option<String>;

/// A field's type default, redaction and rendering, for its listing.
pub type Defaults<T> = (Option<fn() -> T>, Shows<T>, Shows<T>);

/// Adds one field to a description.
pub fn describe_field<T: DeserializeOwned>(
    out: &mut Vec<Setting>,
    prefix: &str,
    field_path: &str,
    spec: &'static FieldSpec,
    secret: bool,
    defaults: Defaults<T>,
) {
    let (type_default, redact, show) = defaults;
    let variable = spec.name.full(prefix);
    let requirement = match spec.default {
        DefaultSpec::Literal(literal) if secret => Requirement::Default(Some(
            crate::de::from_value::<T>(literal)
                .ok()
                .and_then(|value| redact(&value))
                .unwrap_or_else(|| REDACTED.to_owned())
                .into(),
        )),
        DefaultSpec::Literal(literal) => Requirement::Default(Some(literal.into())),
        DefaultSpec::TypeDefault if secret => Requirement::Default(Some(REDACTED.into())),
        DefaultSpec::TypeDefault => {
            Requirement::Default(type_default.and_then(|d| show(&d())).map(Into::into))
        }
        DefaultSpec::None if from_missing::<T>().is_ok() => Requirement::Optional,
        DefaultSpec::None => Requirement::Required,
    };
    out.push(Setting {
        file_variable: secret.then(|| format!("{variable}_FILE")),
        variable,
        field: join(field_path, spec.field),
        ty: spec.ty,
        requirement,
        secret,
        doc: spec.doc,
    });
}

/// What the function of a `#[config(rule(check(a, b)))]` may return.
#[diagnostic::on_unimplemented(
    message = "a rule's check returns `Vec<Invalid>` or `Option<Invalid>`, not `{Self}`",
    label = "the function named here returns `{Self}`"
)]
pub trait RuleOutput {
    /// The problems found.
    fn into_problems(self) -> Vec<Invalid>;
}

impl RuleOutput for Vec<Invalid> {
    fn into_problems(self) -> Vec<Invalid> {
        self
    }
}

impl RuleOutput for Option<Invalid> {
    fn into_problems(self) -> Vec<Invalid> {
        self.into_iter().collect()
    }
}

/// The problems a rule's check returned.
pub fn rule_output<R: RuleOutput>(output: R) -> Vec<Invalid> {
    output.into_problems()
}

/// Autoref probe: `(&Probe::<T>::new()).__is_secret()` is `true` for the secret types
/// (through [`SecretKind`]) and `false` for every other type (through [`PlainKind`]).
pub struct Probe<T: ?Sized>(PhantomData<T>);

impl<T: ?Sized> Probe<T> {
    /// A probe for `T`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T: ?Sized> std::fmt::Debug for Probe<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Probe")
    }
}

/// Implemented for the probes of secret types.
pub trait SecretKind<T> {
    /// Always `true`.
    fn __is_secret(&self) -> bool {
        true
    }
    /// What the summary may show of the value, if more than `[REDACTED]`.
    fn __redacted(&self, _value: &T) -> Option<String> {
        None
    }
}

impl<S: Zeroize + ?Sized> SecretKind<SecretBox<S>> for Probe<SecretBox<S>> {}

impl SecretKind<ConnectionString> for Probe<ConnectionString> {
    fn __redacted(&self, value: &ConnectionString) -> Option<String> {
        Some(value.masked().to_owned())
    }
}

impl<T> SecretKind<Option<T>> for Probe<Option<T>>
where
    Probe<T>: SecretKind<T>,
{
    fn __redacted(&self, value: &Option<T>) -> Option<String> {
        value.as_ref().and_then(|v| Probe::<T>::new().__redacted(v))
    }
}

impl<T> SecretKind<Vec<T>> for Probe<Vec<T>> where Probe<T>: SecretKind<T> {}

/// Implemented for every probe, one autoref further away than [`SecretKind`].
pub trait PlainKind<T> {
    /// Always `false`.
    fn __is_secret(&self) -> bool {
        false
    }
    /// Never used for plain values.
    fn __redacted(&self, _value: &T) -> Option<String> {
        None
    }
}

impl<T> PlainKind<T> for &Probe<T> {}

/// Implemented for the probes of `Serialize` types: a value shows in the summary,
/// `--describe` and `--env-example` in the format it is read in (`a,b`, `debug`,
/// `1m 30s`), so the text set back into its variable loads the same value.
pub trait RenderKind<T> {
    /// The value in the configuration format, when it has one.
    fn __show(&self, value: &T) -> Option<String>;
}

impl<T: serde::Serialize> RenderKind<T> for Probe<T> {
    fn __show(&self, value: &T) -> Option<String> {
        crate::render::render(value)
    }
}

/// Implemented for every probe, one autoref further away than [`RenderKind`].
pub trait OpaqueKind<T> {
    /// Nothing to show.
    fn __show(&self, _value: &T) -> Option<String> {
        None
    }
}

impl<T> OpaqueKind<T> for &Probe<T> {}
