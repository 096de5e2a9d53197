//! The struct the derive is applied to, parsed and validated.

use std::collections::HashMap;

use proc_macro2::Span;
use syn::{Data, DeriveInput, Fields, Ident, LitStr, Path, Type};

use crate::attr::{self, Default, RuleAttr};

/// A struct with named fields and valid attributes.
pub(crate) struct Input<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) prefix: String,
    pub(crate) krate: Option<Path>,
    /// `#[config(validate = "path")]`: a `fn(&Self) -> Vec<Invalid>` run after loading,
    /// when every field parsed.
    pub(crate) validate: Option<Path>,
    /// `#[config(rule(...))]`, in the order written.
    pub(crate) rules: Vec<Rule>,
    pub(crate) fields: Vec<Field<'a>>,
}

/// `#[config(rule(check(a, b)))]`: `check(&a, &b)` runs when `a` and `b` parsed,
/// whatever else failed.
pub(crate) struct Rule {
    pub(crate) check: Path,
    /// Indices into [`Input::fields`], in the order `check` takes them, with the
    /// names as written in the call (for errors about that argument).
    pub(crate) fields: Vec<(usize, Ident)>,
}

/// How a field is read.
pub(crate) enum Kind {
    /// One variable.
    Value(Value),
    /// A nested struct under a sub-prefix.
    Nested { prefix: String },
}

/// A field read from one variable.
pub(crate) struct Value {
    /// `Some(name)` for an exact name, else the field name in SCREAMING_SNAKE_CASE
    /// after the prefix.
    pub(crate) exact_name: Option<String>,
    pub(crate) suffix: String,
    pub(crate) default: Option<Default>,
    pub(crate) secret: bool,
    pub(crate) range: Option<Range>,
}

/// `#[config(range = "...")]`: its ends, as written.
pub(crate) struct Range {
    pub(crate) lit: LitStr,
    pub(crate) low: Option<String>,
    pub(crate) high: Option<String>,
}

impl Range {
    /// `"100ms..=1h"`, `"1.."` or `"..=64"`: ends included, so the message can name
    /// both as allowed.
    fn parse(lit: LitStr) -> syn::Result<Self> {
        let text = lit.value();
        let error = |message: String| Err(syn::Error::new(lit.span(), message));
        let (low, high) = match text.split_once("..=") {
            Some(ends) => ends,
            None => match text.split_once("..") {
                Some((low, "")) => (low, ""),
                Some((low, high)) => {
                    return error(format!(
                        "a range includes its ends: write \"{}..={}\"",
                        low.trim(),
                        high.trim()
                    ));
                }
                None => {
                    return error(format!(
                        "{text:?} is not a range; write one such as \"100ms..=1h\", \"1..\" or \"..=64\""
                    ));
                }
            },
        };
        let end = |end: &str| Some(end.trim().to_owned()).filter(|end| !end.is_empty());
        let (low, high) = (end(low), end(high));
        if low.is_none() && high.is_none() {
            return error(
                "a range needs at least one end, such as \"1..\" or \"..=64\"".to_owned(),
            );
        }
        Ok(Self { lit, low, high })
    }
}

pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    pub(crate) doc: String,
    pub(crate) kind: Kind,
}

impl<'a> Input<'a> {
    /// Parses the struct: its shape, then the container's attributes, then each
    /// field, then the rules over the fields.
    pub(crate) fn from_syn(input: &'a DeriveInput) -> syn::Result<Self> {
        let named = named_fields(input)?;
        let container = attr::container(&input.attrs)?;
        let prefix = container
            .prefix
            .as_ref()
            .map(LitStr::value)
            .unwrap_or_default();
        let fields = parse_fields(named, &prefix)?;
        let rules = container
            .rules
            .into_iter()
            .map(|rule| Rule::from_attr(rule, &fields))
            .collect::<syn::Result<_>>()?;
        Ok(Self {
            ident: &input.ident,
            prefix,
            krate: container.krate,
            validate: container.validate,
            rules,
            fields,
        })
    }
}

/// The struct's named fields, or why the derive does not apply to `input`: an enum,
/// a union, a tuple or unit struct, or generic parameters.
fn named_fields(input: &DeriveInput) -> syn::Result<&syn::FieldsNamed> {
    let named = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => named,
            Fields::Unnamed(fields) => {
                return Err(syn::Error::new_spanned(
                    fields,
                    "#[derive(Config)] needs named fields: each field names one environment variable",
                ));
            }
            Fields::Unit => {
                return Err(syn::Error::new_spanned(
                    input,
                    "#[derive(Config)] needs a struct with named fields, not a unit struct",
                ));
            }
        },
        Data::Enum(data) => {
            return Err(syn::Error::new(
                data.enum_token.span,
                "#[derive(Config)] works on structs only; for a choice between values, \
                 derive serde::Deserialize on the enum and use it as a field's type",
            ));
        }
        Data::Union(data) => {
            return Err(syn::Error::new(
                data.union_token.span,
                "#[derive(Config)] works on structs only",
            ));
        }
    };
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "#[derive(Config)] does not support generic parameters; use concrete field types",
        ));
    }
    Ok(named)
}

/// Each field parsed, refusing two that read the same variable under `prefix`.
fn parse_fields<'a>(named: &'a syn::FieldsNamed, prefix: &str) -> syn::Result<Vec<Field<'a>>> {
    let mut fields = Vec::with_capacity(named.named.len());
    let mut seen: HashMap<String, &Ident> = HashMap::new();
    for field in &named.named {
        let ident = field.ident.as_ref().expect("named fields have identifiers");
        let field = Field::from_syn(ident, field)?;
        if let Kind::Value(Value {
            exact_name, suffix, ..
        }) = &field.kind
        {
            // Checked with the struct's own prefix; under another parent prefix the
            // names can only drift further apart from an exact name.
            let key = exact_name
                .clone()
                .unwrap_or_else(|| format!("{prefix}{suffix}"));
            if let Some(other) = seen.insert(key.clone(), ident) {
                return Err(syn::Error::new(
                    ident.span(),
                    format!(
                        "fields `{other}` and `{ident}` both read the variable {key}; \
                         give one another name with #[config(name = \"...\")]"
                    ),
                ));
            }
        }
        fields.push(field);
    }
    Ok(fields)
}

impl Rule {
    fn from_attr(rule: RuleAttr, fields: &[Field<'_>]) -> syn::Result<Self> {
        let RuleAttr {
            check,
            fields: names,
        } = rule;
        if names.is_empty() {
            return Err(syn::Error::new_spanned(
                &check,
                "a rule reads at least one field, named in its call: rule(check(a, b)); \
                 for a rule over the whole struct, use `validate = \"path\"`",
            ));
        }
        let mut indices = Vec::with_capacity(names.len());
        for name in &names {
            let Some(index) = fields.iter().position(|f| f.ident == name) else {
                return Err(syn::Error::new(
                    name.span(),
                    format!(
                        "no field `{name}` in this struct; a rule reads fields of the struct it is on"
                    ),
                ));
            };
            if indices.iter().any(|(i, _)| *i == index) {
                return Err(syn::Error::new(
                    name.span(),
                    format!("the field `{name}` is named twice in this rule"),
                ));
            }
            indices.push((index, name.clone()));
        }
        Ok(Self {
            check,
            fields: indices,
        })
    }
}

impl<'a> Field<'a> {
    fn from_syn(ident: &'a Ident, field: &'a syn::Field) -> syn::Result<Self> {
        let attrs = attr::field(&field.attrs)?;
        let doc = doc_summary(&field.attrs);
        let screaming = screaming_snake_case(&ident.to_string());
        let kind = if let Some(nested) = attrs.nested {
            let conflict = |span: Span, what: &str| {
                syn::Error::new(
                    span,
                    format!(
                        "a nested field cannot have {what}; put it on the fields of the nested struct"
                    ),
                )
            };
            if let Some(default) = &attrs.default {
                let span = match default {
                    Default::Literal(lit) => lit.span(),
                    Default::Type(span) => *span,
                };
                return Err(conflict(span, "a default"));
            }
            if let Some(span) = attrs.secret {
                return Err(conflict(span, "`secret`"));
            }
            if let Some(name) = &attrs.name {
                return Err(syn::Error::new(
                    name.span(),
                    "a nested field has a prefix, not a name; use #[config(nested, prefix = \"...\")]",
                ));
            }
            if let Some(range) = &attrs.range {
                return Err(conflict(range.span(), "a range"));
            }
            let _ = nested;
            Kind::Nested {
                prefix: attrs
                    .prefix
                    .as_ref()
                    .map_or_else(|| format!("{screaming}_"), LitStr::value),
            }
        } else {
            if let Some(prefix) = &attrs.prefix {
                return Err(syn::Error::new(
                    prefix.span(),
                    "`prefix` on a field needs `nested`: #[config(nested, prefix = \"...\")]",
                ));
            }
            if let (Some(_), Some(Default::Literal(lit))) = (attrs.secret, &attrs.default) {
                return Err(syn::Error::new(
                    lit.span(),
                    "a secret must not have a default written in the code; make it an Option or require it",
                ));
            }
            Kind::Value(Value {
                exact_name: attrs.name.as_ref().map(LitStr::value),
                suffix: screaming,
                default: attrs.default,
                secret: attrs.secret.is_some(),
                range: attrs.range.map(Range::parse).transpose()?,
            })
        };
        Ok(Self {
            ident,
            ty: &field.ty,
            doc,
            kind,
        })
    }
}

/// The first paragraph of the doc comment, lines trimmed and joined with spaces.
fn doc_summary(attrs: &[syn::Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("doc")) {
        let syn::Meta::NameValue(nv) = &attr.meta else {
            continue;
        };
        let syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) = &nv.value
        else {
            continue;
        };
        let value = s.value();
        let line = value.trim();
        if line.is_empty() {
            if lines.is_empty() {
                continue;
            }
            break;
        }
        lines.push(line.to_owned());
    }
    lines.join(" ")
}

/// `database_url` → `DATABASE_URL`; `r#type` → `TYPE`.
fn screaming_snake_case(field: &str) -> String {
    field.trim_start_matches("r#").to_ascii_uppercase()
}
