//! Procedural macros for rjax: `#[derive(Tree)]`.
//!
//! The derive implements `rjax::Tree` (see `rjax::tree`) for a struct with
//! named fields, a tuple struct, a unit struct or an enum, so that the type can
//! be passed to and returned from rjax's transformations (`grad`, `jit`,
//! `vmap`), which only see its flat list of `Array` leaves.
//!
//! - Every field is a subtree (it must implement `rjax::Tree`), flattened in
//!   declaration order.
//! - A field marked `#[tree(static)]` is not a leaf: when unflattening it is
//!   cloned from the template (it must be `Clone`), and it is written into the
//!   structure string with its `Debug` form (it must be `Debug`), so two values
//!   that differ in a static field have different structures.
//! - Each type parameter that appears in a non-static field gets a
//!   `T: ::rjax::Tree` bound.
//! - The structure is written `Name{a:..,b:..}` for named fields, `Name(..,..)`
//!   for tuple structs, `Name` for unit structs, and `Name::Variant{..}`,
//!   `Name::Variant(..)`, `Name::Variant` for enum variants.
//!
//! The generated code names `::rjax::Tree`, `::rjax::Array` and
//! `::rjax::Result`; the `rjax` crate declares `extern crate self as rjax;` so
//! that the derive also works inside rjax itself.
//!
//! Usage (compiled and tested as the doctests of `rjax::tree`, since a
//! proc-macro crate's own doctests cannot depend on `rjax`):
//!
//! ```text
//! #[derive(Clone, rjax::Tree)]
//! struct Mlp<L> {
//!     layers: Vec<L>,
//!     #[tree(static)]
//!     activation: &'static str,
//! }
//! ```

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2, TokenTree};
use quote::{format_ident, quote};
use syn::{
    parse_macro_input, spanned::Spanned, Data, DeriveInput, Field, Fields, Generics, Ident, Index,
};

/// Derives `rjax::Tree`; see the [crate documentation](crate).
///
/// Fields marked `#[tree(static)]` are copied from the template and written into
/// the structure with `Debug` instead of being flattened into leaves.
#[proc_macro_derive(Tree, attributes(tree))]
pub fn derive_tree(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

/// One field of a struct or variant, as the expansion needs it.
struct FieldInfo {
    /// How the field is named in a pattern or a struct expression: `a` or `0`.
    member: syn::Member,
    /// The local binding the field is bound to in `match self`.
    binding: Ident,
    /// Whether the field is `#[tree(static)]`.
    is_static: bool,
    /// The field's name in the structure string (empty for tuple fields).
    label: String,
}

/// The shape of a struct or a variant's fields.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Named,
    Unnamed,
    Unit,
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let name = &input.ident;
    let type_name = name.to_string();

    // (path in patterns/expressions, structure prefix, kind, fields) for each
    // struct or variant.
    let mut cases: Vec<(TokenStream2, String, Kind, Vec<FieldInfo>)> = Vec::new();
    let mut leaf_types: Vec<&syn::Type> = Vec::new();
    let mut static_types: Vec<&syn::Type> = Vec::new();
    match &input.data {
        Data::Struct(data) => {
            let (kind, fields) = collect_fields(&data.fields, &mut leaf_types, &mut static_types)?;
            cases.push((quote!(Self), type_name, kind, fields));
        }
        Data::Enum(data) => {
            for variant in &data.variants {
                for attr in &variant.attrs {
                    if attr.path().is_ident("tree") {
                        return Err(syn::Error::new(
                            attr.span(),
                            "#[tree(...)] belongs on fields, not on enum variants",
                        ));
                    }
                }
                let (kind, fields) =
                    collect_fields(&variant.fields, &mut leaf_types, &mut static_types)?;
                let v = &variant.ident;
                cases.push((quote!(Self::#v), format!("{type_name}::{v}"), kind, fields));
            }
        }
        Data::Union(data) => {
            return Err(syn::Error::new(
                data.union_token.span(),
                "#[derive(Tree)] does not support unions",
            ));
        }
    }

    let generics = add_bounds(&input.generics, &leaf_types, &static_types);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();

    let mut flatten_arms = Vec::new();
    let mut unflatten_arms = Vec::new();
    let mut structure_arms = Vec::new();
    for (path, prefix, kind, fields) in &cases {
        let pattern = pattern(path, *kind, fields);

        // flatten_into: leaves of non-static fields, in order.
        let flatten = fields.iter().filter(|f| !f.is_static).map(|f| {
            let b = &f.binding;
            quote!(::rjax::Tree::flatten_into(#b, __rjax_leaves);)
        });
        flatten_arms.push(quote!(#pattern => { #(#flatten)* }));

        // unflatten_from: rebuild non-static fields in order, clone static ones.
        let rebuild = fields.iter().map(|f| {
            let b = &f.binding;
            if f.is_static {
                quote!(let #b = ::core::clone::Clone::clone(#b);)
            } else {
                quote!(let #b = ::rjax::Tree::unflatten_from(#b, __rjax_leaves)?;)
            }
        });
        let construct = pattern.clone();
        unflatten_arms.push(quote!(#pattern => {
            #(#rebuild)*
            ::core::result::Result::Ok(#construct)
        }));

        // write_structure: `Prefix{a:..,b:..}`, `Prefix(..,..)` or `Prefix`.
        let (open, close) = match kind {
            Kind::Named => ("{", "}"),
            Kind::Unnamed => ("(", ")"),
            Kind::Unit => ("", ""),
        };
        let mut writes = vec![quote!(__rjax_out.push_str(#prefix);)];
        if *kind != Kind::Unit {
            writes.push(quote!(__rjax_out.push_str(#open);));
        }
        for (i, f) in fields.iter().enumerate() {
            let b = &f.binding;
            let mut head = String::new();
            if i > 0 {
                head.push(',');
            }
            if *kind == Kind::Named {
                head.push_str(&f.label);
                head.push(':');
            }
            if !head.is_empty() {
                writes.push(quote!(__rjax_out.push_str(#head);));
            }
            if f.is_static {
                writes.push(quote!(
                    let _ = ::core::fmt::Write::write_fmt(
                        __rjax_out,
                        ::core::format_args!("{:?}", #b),
                    );
                ));
            } else {
                writes.push(quote!(::rjax::Tree::write_structure(#b, __rjax_out);));
            }
        }
        if *kind != Kind::Unit {
            writes.push(quote!(__rjax_out.push_str(#close);));
        }
        structure_arms.push(quote!(#pattern => { #(#writes)* }));
    }

    // An enum without variants has no values; `match *self {}` covers it.
    let (flatten_body, unflatten_body, structure_body) = if cases.is_empty() {
        (
            quote!(match *self {}),
            quote!(match *self {}),
            quote!(match *self {}),
        )
    } else {
        (
            quote!(match self { #(#flatten_arms)* }),
            quote!(match self { #(#unflatten_arms)* }),
            quote!(match self { #(#structure_arms)* }),
        )
    };

    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics ::rjax::Tree for #name #ty_generics #where_clause {
            #[allow(unused_variables)]
            fn flatten_into(&self, __rjax_leaves: &mut ::std::vec::Vec<::rjax::Array>) {
                #flatten_body
            }

            #[allow(unused_variables)]
            fn unflatten_from(
                &self,
                __rjax_leaves: &mut dyn ::core::iter::Iterator<Item = ::rjax::Array>,
            ) -> ::rjax::Result<Self> {
                #unflatten_body
            }

            #[allow(unused_variables)]
            fn write_structure(&self, __rjax_out: &mut ::std::string::String) {
                #structure_body
            }
        }
    })
}

/// Reads the fields of a struct or variant and their `#[tree(...)]` attributes,
/// pushing the types of non-static fields onto `leaf_types` and those of static
/// fields onto `static_types`.
fn collect_fields<'a>(
    fields: &'a Fields,
    leaf_types: &mut Vec<&'a syn::Type>,
    static_types: &mut Vec<&'a syn::Type>,
) -> syn::Result<(Kind, Vec<FieldInfo>)> {
    let kind = match fields {
        Fields::Named(_) => Kind::Named,
        Fields::Unnamed(_) => Kind::Unnamed,
        Fields::Unit => Kind::Unit,
    };
    let mut out = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        let is_static = is_static(field)?;
        if is_static {
            static_types.push(&field.ty);
        } else {
            leaf_types.push(&field.ty);
        }
        let (member, binding, label) = match &field.ident {
            Some(ident) => (
                syn::Member::Named(ident.clone()),
                format_ident!("__rjax_field_{}", ident),
                ident.to_string().trim_start_matches("r#").to_string(),
            ),
            None => (
                syn::Member::Unnamed(Index {
                    index: i as u32,
                    span: Span::call_site(),
                }),
                format_ident!("__rjax_field_{}", i),
                String::new(),
            ),
        };
        out.push(FieldInfo {
            member,
            binding,
            is_static,
            label,
        });
    }
    Ok((kind, out))
}

/// Whether `field` carries `#[tree(static)]`; errors on any other `tree`
/// attribute content.
fn is_static(field: &Field) -> syn::Result<bool> {
    let mut found = false;
    for attr in &field.attrs {
        if !attr.path().is_ident("tree") {
            continue;
        }
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("static") {
                found = true;
                Ok(())
            } else {
                Err(meta.error("unknown tree attribute; expected #[tree(static)]"))
            }
        })?;
    }
    Ok(found)
}

/// The pattern (also used as the constructor expression) binding every field of
/// a struct or variant: `Self { a: __rjax_field_a, .. }`,
/// `Self { 0: __rjax_field_0 }` or `Self`.
fn pattern(path: &TokenStream2, kind: Kind, fields: &[FieldInfo]) -> TokenStream2 {
    if kind == Kind::Unit {
        return quote!(#path);
    }
    let members = fields.iter().map(|f| &f.member);
    let bindings = fields.iter().map(|f| &f.binding);
    quote!(#path { #(#members: #bindings),* })
}

/// Adds `P: ::rjax::Tree` for each type parameter `P` that occurs in one of
/// `leaf_types` (the types of non-static fields), and
/// `F: Clone + Debug` for each type `F` of `static_types` (the types of static
/// fields) that mentions a type parameter.
fn add_bounds(
    generics: &Generics,
    leaf_types: &[&syn::Type],
    static_types: &[&syn::Type],
) -> Generics {
    let mut generics = generics.clone();
    let params: Vec<Ident> = generics.type_params().map(|p| p.ident.clone()).collect();
    let leaf_tokens: Vec<TokenStream2> = leaf_types.iter().map(|ty| quote!(#ty)).collect();
    for param in generics.type_params_mut() {
        if leaf_tokens
            .iter()
            .any(|tokens| mentions(tokens.clone(), &param.ident))
        {
            param.bounds.push(syn::parse_quote!(::rjax::Tree));
        }
    }
    for ty in static_types {
        if params.iter().any(|p| mentions(quote!(#ty), p)) {
            generics
                .make_where_clause()
                .predicates
                .push(syn::parse_quote!(#ty: ::core::clone::Clone + ::core::fmt::Debug));
        }
    }
    generics
}

/// Whether `ident` occurs anywhere in `tokens`.
fn mentions(tokens: TokenStream2, ident: &Ident) -> bool {
    tokens.into_iter().any(|tt| match tt {
        TokenTree::Ident(i) => i == *ident,
        TokenTree::Group(g) => mentions(g.stream(), ident),
        _ => false,
    })
}
