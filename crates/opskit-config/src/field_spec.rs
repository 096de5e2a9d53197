//! What the derive knows about a field: its variable's name, its type, its doc and
//! its default.

use crate::range::RangeSpec;

/// How a field's variable is named.
#[derive(Debug, Clone, Copy)]
pub enum VarName {
    /// The prefix followed by this (the field name in SCREAMING_SNAKE_CASE).
    Suffix(&'static str),
    /// Exactly this name, from `#[config(name = "...")]`; no prefix.
    Exact(&'static str),
}

impl VarName {
    /// The full variable name under `prefix`.
    pub fn full(self, prefix: &str) -> String {
        match self {
            Self::Suffix(suffix) => {
                let mut name = String::with_capacity(prefix.len() + suffix.len());
                name.push_str(prefix);
                name.push_str(suffix);
                name
            }
            Self::Exact(name) => name.to_owned(),
        }
    }

    /// Appends the full variable name under `prefix` to `out`.
    pub fn push_full(self, prefix: &str, out: &mut String) {
        match self {
            Self::Suffix(suffix) => {
                out.push_str(prefix);
                out.push_str(suffix);
            }
            Self::Exact(name) => out.push_str(name),
        }
    }
}

/// A field's default.
#[derive(Debug, Clone, Copy)]
pub enum DefaultSpec {
    /// No default.
    None,
    /// `#[config(default = "...")]`: parsed like a value.
    Literal(&'static str),
    /// `#[config(default)]`: the type's `Default`.
    TypeDefault,
}

/// What the derive knows about a field.
#[derive(Debug)]
pub struct FieldSpec {
    /// The Rust field name.
    pub field: &'static str,
    /// The variable name.
    pub name: VarName,
    /// The type as written.
    pub ty: &'static str,
    /// The first paragraph of the doc comment.
    pub doc: &'static str,
    /// The default.
    pub default: DefaultSpec,
    /// The values allowed, from `#[config(range = "...")]`.
    pub range: Option<RangeSpec>,
}
