//! Generating the `Config` impl.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::Type;
use syn::spanned::Spanned as _;

use crate::ast::{Field, Input, Kind, Range, Value};
use crate::attr::Default;

/// What one field contributes to the impl.
#[derive(Default)]
struct FieldCode {
    /// Its rows in `__describe`.
    describe: TokenStream,
    /// Its statements in `__load`, ending with `__fieldN` bound to an `Option`.
    load: TokenStream,
    /// `(field name, spec, secret)` for a value field: the problems of rules and
    /// `validate` name its variable from this.
    spec: Option<TokenStream>,
}

pub(crate) fn expand(input: &Input<'_>) -> TokenStream {
    let krate = crate_path(input);
    let ident = input.ident;
    let prefix = &input.prefix;

    let mut describe = Vec::new();
    let mut load = Vec::new();
    let mut construct = Vec::new();
    let mut specs = Vec::new();
    for (i, field) in input.fields.iter().enumerate() {
        let var = format_ident!("__field{}", i);
        let name = field.ident;
        construct.push(quote!(#name: #var?));
        let code = match &field.kind {
            Kind::Nested { prefix } => nested_field(&krate, field, &var, prefix),
            Kind::Value(value) => value_field(&krate, field, &var, value),
        };
        describe.push(code.describe);
        load.push(code.load);
        specs.extend(code.spec);
    }
    let rules = rules(&krate, input, &specs);
    let validate = input.validate.as_ref().map(|path| {
        quote! {
            __loader.invalid(__prefix, __fields, #path(&__config));
        }
    });

    quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_qualifications, clippy::all)]
        const _: () = {
            #[allow(unused_imports)]
            use #krate::__private::{RenderKind as _, OpaqueKind as _, PlainKind as _, SecretKind as _};

            #[automatically_derived]
            impl #krate::Config for #ident {
                const PREFIX: &'static str = #prefix;

                fn __describe(
                    __out: &mut ::std::vec::Vec<#krate::Setting>,
                    __prefix: &str,
                    __path: &str,
                ) {
                    #(#describe)*
                }

                fn __load(
                    __loader: &mut #krate::__private::Loader<'_>,
                    __prefix: &str,
                ) -> ::core::option::Option<Self> {
                    #(#load)*
                    #rules
                    let __config = Self { #(#construct),* };
                    #validate
                    ::core::option::Option::Some(__config)
                }
            }
        };
    }
}

/// A `#[config(nested)]` field: its type describes and loads itself under the
/// joined prefix.
fn nested_field(
    krate: &TokenStream,
    field: &Field<'_>,
    var: &syn::Ident,
    prefix: &str,
) -> FieldCode {
    let ty = field.ty;
    let path = format!("{}.", field_name(field));
    FieldCode {
        describe: quote! {
            <#ty as #krate::Config>::__describe(
                __out,
                &#krate::__private::join(__prefix, #prefix),
                &#krate::__private::join(__path, #path),
            );
        },
        load: quote! {
            let #var = <#ty as #krate::Config>::__load(
                __loader,
                &#krate::__private::join(__prefix, #prefix),
            );
        },
        spec: None,
    }
}

/// A field read from one variable: its spec, how it is described, loaded and
/// (with a range) checked.
fn value_field(
    krate: &TokenStream,
    field: &Field<'_>,
    var: &syn::Ident,
    value: &Value,
) -> FieldCode {
    let Value {
        exact_name,
        suffix,
        default,
        secret,
        range,
    } = value;
    let ty = field.ty;
    let field_name = field_name(field);
    let spec = field_spec(
        krate,
        field,
        &field_name,
        exact_name.as_deref(),
        suffix,
        default.as_ref(),
        range.as_ref(),
    );
    let secret = quote! {
        (#secret || (&#krate::__private::Probe::<#ty>::new()).__is_secret())
    };
    let type_default = match default {
        Some(Default::Type(_)) => quote! {
            ::core::option::Option::Some(
                <#ty as ::core::default::Default>::default as fn() -> #ty
            )
        },
        _ => quote!(::core::option::Option::None::<fn() -> #ty>),
    };
    let shown = quote! {
        |__value: &#ty| (&#krate::__private::Probe::<#ty>::new()).__redacted(__value),
        |__value: &#ty| (&#krate::__private::Probe::<#ty>::new()).__show(__value),
    };
    let describe = quote! {
        #krate::__private::describe_field::<#ty>(
            __out,
            __prefix,
            __path,
            #spec,
            #secret,
            (#type_default, #shown),
        );
    };
    let mut load = quote! {
        let #var = __loader.field::<#ty>(__prefix, #spec, #secret, #type_default, #shown);
    };
    if let Some(range) = range {
        // Spanned on the range: a type without one is an error there.
        load.extend(quote_spanned! {range.lit.span()=>
            let #var = __loader.in_range::<#ty>(#spec, #var);
        });
    }
    FieldCode {
        describe,
        load,
        spec: Some(quote!((#field_name, #spec, #secret))),
    }
}

/// The field's name as its variable and problems spell it (without `r#`).
fn field_name(field: &Field<'_>) -> String {
    field.ident.to_string().trim_start_matches("r#").to_owned()
}

/// The value fields' table, then each rule, run when its fields parsed, before the
/// struct is built (which needs every field); `validate` runs after, on the whole
/// struct, and uses the same table.
fn rules(krate: &TokenStream, input: &Input<'_>, specs: &[TokenStream]) -> TokenStream {
    if input.rules.is_empty() && input.validate.is_none() {
        return TokenStream::new();
    }
    let rules = input.rules.iter().map(|rule| {
        let check = &rule.check;
        let vars = rule
            .fields
            .iter()
            .map(|(i, _)| format_ident!("__field{}", i));
        // Each argument spanned on its name in the rule, the call on the function's
        // path: a function that takes another type, or returns something else, is
        // an error there.
        let binds: Vec<_> = (rule.fields.iter().enumerate())
            .map(|(i, (_, name))| format_ident!("__input{}", i, span = name.span()))
            .collect();
        let call = quote_spanned! {check.span()=>
            #krate::__private::rule_output(#check(#(#binds),*))
        };
        quote! {
            if let (#(::core::option::Option::Some(#binds),)*) = (#(&#vars,)*) {
                __loader.invalid(__prefix, __fields, #call);
            }
        }
    });
    quote! {
        let __fields: &[(&'static str, &'static #krate::__private::FieldSpec, bool)] =
            &[#(#specs),*];
        #(#rules)*
    }
}

/// `{ const SPEC: FieldSpec = ...; &SPEC }`: a `&'static FieldSpec`.
fn field_spec(
    krate: &TokenStream,
    field: &Field<'_>,
    field_name: &str,
    exact_name: Option<&str>,
    suffix: &str,
    default: Option<&Default>,
    range: Option<&Range>,
) -> TokenStream {
    let name = match exact_name {
        Some(exact) => quote!(#krate::__private::VarName::Exact(#exact)),
        None => quote!(#krate::__private::VarName::Suffix(#suffix)),
    };
    let default = match default {
        None => quote!(#krate::__private::DefaultSpec::None),
        Some(Default::Literal(lit)) => quote!(#krate::__private::DefaultSpec::Literal(#lit)),
        Some(Default::Type(_)) => quote!(#krate::__private::DefaultSpec::TypeDefault),
    };
    let range = match range {
        None => quote!(::core::option::Option::None),
        Some(range) => {
            let text = range.lit.value();
            let end = |end: &Option<String>| match end {
                Some(end) => quote!(::core::option::Option::Some(#end)),
                None => quote!(::core::option::Option::None),
            };
            let (low, high) = (end(&range.low), end(&range.high));
            quote! {
                ::core::option::Option::Some(#krate::__private::RangeSpec {
                    text: #text,
                    low: #low,
                    high: #high,
                })
            }
        }
    };
    let ty = type_string(field.ty);
    let doc = &field.doc;
    quote! {{
        const SPEC: #krate::__private::FieldSpec = #krate::__private::FieldSpec {
            field: #field_name,
            name: #name,
            ty: #ty,
            doc: #doc,
            default: #default,
            range: #range,
        };
        &SPEC
    }}
}

/// The type as written, without the spaces `quote` puts between tokens.
fn type_string(ty: &Type) -> String {
    let raw = quote!(#ty).to_string();
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ' ' {
            let prev = out.chars().last();
            let next = chars.peek().copied();
            let glue = matches!(prev, Some('<' | ':' | '&' | '(' | '[') | None)
                || matches!(next, Some('<' | '>' | ':' | ',' | ')' | ']') | None);
            if glue {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Where the runtime crate is: `#[config(crate = "...")]`, else `opskit-config` or
/// `opskit` among the dependencies, else `::opskit_config`.
fn crate_path(input: &Input<'_>) -> TokenStream {
    use proc_macro_crate::{FoundCrate, crate_name};
    if let Some(path) = &input.krate {
        return quote!(#path);
    }
    match crate_name("opskit-config") {
        Ok(FoundCrate::Name(name)) => {
            let name = format_ident!("{}", name);
            return quote!(::#name);
        }
        Ok(FoundCrate::Itself) => return quote!(::opskit_config),
        Err(_) => {}
    }
    match crate_name("opskit") {
        Ok(FoundCrate::Name(name)) => {
            let name = format_ident!("{}", name);
            quote!(::#name::config)
        }
        Ok(FoundCrate::Itself) => quote!(crate::config),
        Err(_) => quote!(::opskit_config),
    }
}
