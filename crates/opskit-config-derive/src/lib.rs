//! The `#[derive(Config)]` macro of [opskit-config](https://docs.rs/opskit-config).
//!
//! Use it through `opskit_config::Config` (or `opskit::config::Config`); its
//! attributes are documented there. The work is split by phase: `ast` parses the
//! struct and its attributes, `attr` reads the attributes, `expand` generates the
//! `Config` impl.

mod ast;
mod attr;
mod expand;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `opskit_config::Config` for a struct with named fields.
#[proc_macro_derive(Config, attributes(config))]
pub fn derive_config(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    ast::Input::from_syn(&input)
        .map(|input| expand::expand(&input))
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
