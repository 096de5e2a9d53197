//! Reading `#[config(...)]` attributes.

use proc_macro2::Span;
use syn::{Attribute, Ident, LitStr, Path};

/// Attributes on the struct.
#[derive(Default)]
pub(crate) struct ContainerAttrs {
    pub(crate) prefix: Option<LitStr>,
    pub(crate) krate: Option<Path>,
    pub(crate) validate: Option<Path>,
    pub(crate) rules: Vec<RuleAttr>,
}

/// `rule(check(a, b))`, as written.
pub(crate) struct RuleAttr {
    /// The function.
    pub(crate) check: Path,
    /// The fields it reads, in the order the function takes them.
    pub(crate) fields: Vec<Ident>,
}

/// A field's default.
pub(crate) enum Default {
    Literal(LitStr),
    Type(Span),
}

/// Attributes on a field.
#[derive(std::default::Default)]
pub(crate) struct FieldAttrs {
    pub(crate) name: Option<LitStr>,
    pub(crate) default: Option<Default>,
    pub(crate) secret: Option<Span>,
    pub(crate) nested: Option<Span>,
    pub(crate) prefix: Option<LitStr>,
    pub(crate) range: Option<LitStr>,
}

const CONTAINER_KEYS: &str =
    "`prefix = \"...\"`, `crate = \"...\"`, `rule(check(a, b))`, `validate = \"...\"`";
const FIELD_KEYS: &str = "`name = \"...\"`, `default`, `default = \"...\"`, `range = \"...\"`, `secret`, `nested`, `prefix = \"...\"`";

fn set_once<T>(
    slot: &mut Option<T>,
    value: T,
    meta: &syn::meta::ParseNestedMeta<'_>,
) -> syn::Result<()> {
    if slot.is_some() {
        return Err(meta.error("this attribute is given twice"));
    }
    *slot = Some(value);
    Ok(())
}

pub(crate) fn container(attrs: &[Attribute]) -> syn::Result<ContainerAttrs> {
    let mut out = ContainerAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("config")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("prefix") {
                let lit: LitStr = meta.value()?.parse()?;
                check_variable_chars(&lit, "prefix")?;
                set_once(&mut out.prefix, lit, &meta)
            } else if meta.path.is_ident("crate") {
                let lit: LitStr = meta.value()?.parse()?;
                let path: Path = lit.parse()?;
                set_once(&mut out.krate, path, &meta)
            } else if meta.path.is_ident("validate") {
                let lit: LitStr = meta.value()?.parse()?;
                let path: Path = lit.parse()?;
                set_once(&mut out.validate, path, &meta)
            } else if meta.path.is_ident("rule") {
                out.rules.push(rule(&meta)?);
                Ok(())
            } else {
                Err(meta.error(format!(
                    "unknown config attribute on the struct; expected one of {CONTAINER_KEYS}"
                )))
            }
        })?;
    }
    Ok(out)
}

/// The inside of `rule(...)`: one call, `check(a, b)`.
fn rule(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<RuleAttr> {
    let mut out = None;
    meta.parse_nested_meta(|inner| {
        if out.is_some() {
            return Err(inner
                .error("one check per rule; write another #[config(rule(...))] for the next one"));
        }
        if !inner.input.peek(syn::token::Paren) {
            return Err(inner
                .error("a rule is its check called with the fields it reads: rule(check(a, b))"));
        }
        let mut fields = Vec::new();
        inner.parse_nested_meta(|field| match field.path.get_ident() {
            Some(ident) if field.input.is_empty() || field.input.peek(syn::Token![,]) => {
                fields.push(ident.clone());
                Ok(())
            }
            _ => Err(field.error("expected the name of a field of this struct")),
        })?;
        out = Some(RuleAttr {
            check: inner.path.clone(),
            fields,
        });
        Ok(())
    })?;
    out.ok_or_else(|| {
        meta.error("a rule is its check called with the fields it reads: rule(check(a, b))")
    })
}

pub(crate) fn field(attrs: &[Attribute]) -> syn::Result<FieldAttrs> {
    let mut out = FieldAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("config")) {
        attr.parse_nested_meta(|meta| {
            let span = meta
                .path
                .get_ident()
                .map_or_else(Span::call_site, |i| i.span());
            if meta.path.is_ident("name") {
                let lit: LitStr = meta.value()?.parse()?;
                check_variable_chars(&lit, "name")?;
                set_once(&mut out.name, lit, &meta)
            } else if meta.path.is_ident("default") {
                let default = if meta.input.peek(syn::Token![=]) {
                    Default::Literal(meta.value()?.parse()?)
                } else {
                    Default::Type(span)
                };
                set_once(&mut out.default, default, &meta)
            } else if meta.path.is_ident("range") {
                let lit: LitStr = meta.value()?.parse()?;
                set_once(&mut out.range, lit, &meta)
            } else if meta.path.is_ident("secret") {
                set_once(&mut out.secret, span, &meta)
            } else if meta.path.is_ident("nested") {
                set_once(&mut out.nested, span, &meta)
            } else if meta.path.is_ident("prefix") {
                let lit: LitStr = meta.value()?.parse()?;
                // `prefix = ""` reads the nested settings under the parent's prefix.
                if !lit.value().is_empty() {
                    check_variable_chars(&lit, "prefix")?;
                }
                set_once(&mut out.prefix, lit, &meta)
            } else {
                Err(meta.error(format!(
                    "unknown config attribute on a field; expected one of {FIELD_KEYS}"
                )))
            }
        })?;
    }
    Ok(out)
}

/// Variable names and prefixes: ASCII letters, digits and `_`, not starting with a digit.
fn check_variable_chars(lit: &LitStr, what: &str) -> syn::Result<()> {
    let value = lit.value();
    let valid = !value.is_empty()
        && !value.starts_with(|c: char| c.is_ascii_digit())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(syn::Error::new(
            lit.span(),
            format!(
                "invalid {what} {value:?}: use ASCII letters, digits and `_`, not starting with a digit"
            ),
        ))
    }
}
