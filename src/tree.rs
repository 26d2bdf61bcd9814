//! Pytrees: nested containers of [`Array`]s, flattened to a list of leaves.
//!
//! Every transformation in rjax (`grad`, `jit`, `vmap`, ...) takes and returns
//! *trees* of arrays — a tuple of parameters, a `Vec` of layers, a struct of
//! weights and biases, a map of named buffers — yet each transformation only
//! ever sees the **flat list of leaves**. A tree is taken apart with
//! [`Tree::flatten_into`] (or [`tree_leaves`]), the transformation works on
//! the `Vec<Array>`, and the result is put back together with
//! [`Tree::unflatten_from`] (or [`tree_unflatten`]), using the original value
//! as the *template*: the template supplies everything that is not a leaf
//! (the container shapes, the `Vec` lengths, which `Option`s are `Some`, the
//! map keys, and fields marked `#[tree(static)]`).
//!
//! This is the same idea as JAX's pytrees, with one difference: there is no
//! separate "treedef" object needed to rebuild a value. The value itself is the
//! template. A [`TreeDef`] — a printed description of the structure, such as
//! `(*,[*,*],{a:*,b:*})` — exists to compare structures (two trees that are
//! combined leaf by leaf must match, see [`tree_map2`]) and to be part of
//! `jit`'s cache keys, since a compiled program is only valid for one
//! structure.
//!
//! # Implementations
//!
//! | type                       | leaves                          | structure        |
//! |----------------------------|---------------------------------|------------------|
//! | [`Array`]                  | itself                          | `*`              |
//! | `()`                       | none                            | `()`             |
//! | `(A,)` .. `(A,..,H)`       | each element's, in order        | `(*,)`, `(*,*)`  |
//! | `Vec<T>`, `[T; N]`         | each element's, in order        | `[*,*]`          |
//! | `Option<T>`                | `None`: none; `Some(x)`: `x`'s  | `None`, `Some(*)`|
//! | `BTreeMap<String, T>`      | each value's, in key order      | `{a:*,b:*}`      |
//! | `Box<T>`                   | `T`'s                           | `T`'s            |
//!
//! `HashMap` is deliberately not a tree: its iteration order is not
//! deterministic, so its leaves would come out in a different order from run to
//! run. Use a `BTreeMap`.
//!
//! Your own types become trees with `#[derive(Tree)]` (re-exported as
//! `rjax::Tree` next to the trait). It works for structs with named fields,
//! tuple structs, unit structs and enums. A field marked `#[tree(static)]` is
//! not a leaf: it is cloned from the template when unflattening (so it must be
//! `Clone`) and written into the structure with its `Debug` form (so it must be
//! `Debug`), which makes, for example, an activation-function choice or a
//! layer size part of `jit`'s cache key. A type parameter used in a leaf
//! (non-static) field gets a `T: rjax::Tree` bound; the type of a static field
//! that mentions a type parameter gets a `Clone + Debug` bound. Structures are
//! written as `Name{field:..,field2:..}`, `Name(..,..)`, `Name` and, for enums,
//! `Name::Variant{..}`, `Name::Variant(..)`, `Name::Variant`.
//!
//! ```
//! use rjax::{tree_leaves, tree_map, tree_structure, Array, Tree};
//!
//! #[derive(Clone, Tree)]
//! struct Linear {
//!     w: Array,
//!     b: Option<Array>,
//!     #[tree(static)]
//!     name: String,
//! }
//!
//! let layer = Linear {
//!     w: Array::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]).unwrap(),
//!     b: Some(Array::from_vec(vec![0.5f32, 0.5], &[2]).unwrap()),
//!     name: "fc1".to_string(),
//! };
//! assert_eq!(tree_structure(&layer).to_string(), r#"Linear{w:*,b:Some(*),name:"fc1"}"#);
//! assert_eq!(tree_leaves(&layer).len(), 2);
//!
//! // Every leaf replaced by a zero array of the same shape; `name` is kept.
//! let zeros = tree_map(&layer, |x| {
//!     Array::from_vec(vec![0.0f32; x.shape().iter().product()], x.shape()).unwrap()
//! });
//! assert_eq!(zeros.w.to_vec::<f32>().unwrap(), vec![0.0; 4]);
//! assert_eq!(zeros.name, "fc1");
//! ```

use std::collections::BTreeMap;
use std::fmt;

use crate::Array;
use rjax_ir::{Error, Result};

/// A value made of [`Array`] leaves: flattened to a list of leaves and rebuilt
/// from such a list, using the value itself as the template.
///
/// See the [module documentation](self) for the implementations provided and
/// for `#[derive(Tree)]`.
///
/// Implementations must be consistent: `unflatten_from` takes exactly as many
/// leaves as `flatten_into` appends, in the same order, and two values with the
/// same `write_structure` output have the same number of leaves.
pub trait Tree: Sized {
    /// Appends this value's leaves, in order.
    fn flatten_into(&self, leaves: &mut Vec<Array>);

    /// Rebuilds a value shaped like `self` from leaves, taking exactly as many
    /// as [`flatten_into`](Tree::flatten_into) gives. Everything that is not a
    /// leaf is copied from `self`.
    ///
    /// Returns an `Error::Op` for `tree_unflatten` if the iterator runs out.
    /// Leaves are not checked against the template's shapes or dtypes:
    /// transformations legitimately rebuild a tree from leaves of other
    /// shapes (batched leaves under `vmap`, for example).
    fn unflatten_from(&self, leaves: &mut dyn Iterator<Item = Array>) -> Result<Self>;

    /// Writes a description of the structure (not the leaves' values), such as
    /// `(*,[*,*],{a:*,b:*})`, with static fields written with their `Debug`
    /// form. Used as part of `jit`'s cache keys and to check that two trees
    /// match.
    fn write_structure(&self, out: &mut String);
}

/// The structure of a tree, as printed by [`Tree::write_structure`]: what
/// must be equal for two trees to be combined leaf by leaf, or for a compiled
/// program to be reused.
///
/// Obtained with [`tree_structure`]; displayed as the structure string, e.g.
/// `(*,[*,*],{a:*,b:*})`.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct TreeDef(String);

impl TreeDef {
    /// The structure string, e.g. `(*,[*,*])`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TreeDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The structure of `tree`: its containers, lengths, keys and static fields,
/// but not the values of its leaves.
///
/// # Example
///
/// ```
/// use rjax::{tree_structure, Array};
///
/// let x = Array::from_vec(vec![1.0f32, 2.0], &[2]).unwrap();
/// let t = (x.clone(), vec![x.clone(), x], None::<Array>);
/// assert_eq!(tree_structure(&t).to_string(), "(*,[*,*],None)");
/// ```
pub fn tree_structure<T: Tree>(tree: &T) -> TreeDef {
    let mut out = String::new();
    tree.write_structure(&mut out);
    TreeDef(out)
}

/// The leaves of `tree`, in order (cheap: arrays are reference-counted
/// handles).
///
/// # Example
///
/// ```
/// use rjax::{tree_leaves, Array};
///
/// let a = Array::from_vec(vec![1.0f32], &[1]).unwrap();
/// let b = Array::from_vec(vec![2.0f32, 3.0], &[2]).unwrap();
/// let leaves = tree_leaves(&(a, Some(b), ()));
/// assert_eq!(leaves.len(), 2);
/// assert_eq!(leaves[1].to_vec::<f32>().unwrap(), vec![2.0, 3.0]);
/// ```
pub fn tree_leaves<T: Tree>(tree: &T) -> Vec<Array> {
    let mut leaves = Vec::new();
    tree.flatten_into(&mut leaves);
    leaves
}

/// The number of leaves of `tree`.
///
/// # Example
///
/// ```
/// use rjax::{tree::tree_num_leaves, Array};
///
/// let a = Array::from_vec(vec![1.0f32], &[1]).unwrap();
/// assert_eq!(tree_num_leaves(&vec![(a.clone(), a.clone()), (a.clone(), a)]), 4);
/// ```
pub fn tree_num_leaves<T: Tree>(tree: &T) -> usize {
    tree_leaves(tree).len()
}

/// Rebuilds a tree shaped like `template` from `leaves`, in the order
/// [`tree_leaves`] gives them.
///
/// Errors with `Error::Op { op: "tree_unflatten", .. }`, naming the structure,
/// if `leaves` has more or fewer elements than `template` has leaves.
///
/// # Example
///
/// ```
/// use rjax::{tree_unflatten, Array};
///
/// let z = Array::from_vec(vec![0.0f32], &[1]).unwrap();
/// let template = (z.clone(), vec![z]);
/// let a = Array::from_vec(vec![1.0f32], &[1]).unwrap();
/// let b = Array::from_vec(vec![2.0f32], &[1]).unwrap();
/// let (x, v) = tree_unflatten(&template, vec![a, b]).unwrap();
/// assert_eq!(x.to_vec::<f32>().unwrap(), vec![1.0]);
/// assert_eq!(v[0].to_vec::<f32>().unwrap(), vec![2.0]);
///
/// let too_few = tree_unflatten(&template, vec![]);
/// assert!(too_few.is_err());
/// ```
pub fn tree_unflatten<T: Tree>(template: &T, leaves: Vec<Array>) -> Result<T> {
    let expected = tree_num_leaves(template);
    if leaves.len() != expected {
        return Err(Error::op(
            "tree_unflatten",
            format!(
                "structure {} has {} leaves but {} were given",
                tree_structure(template),
                expected,
                leaves.len()
            ),
        ));
    }
    template.unflatten_from(&mut leaves.into_iter())
}

/// Applies `f` to every leaf of `tree`, returning a tree of the same
/// structure.
///
/// # Example
///
/// ```
/// use rjax::{tree_map, Array};
///
/// let a = Array::from_vec(vec![1.0f32, 2.0], &[2]).unwrap();
/// let t = (a.clone(), vec![a]);
/// // Replace every leaf by a 1-element array holding its length.
/// let lens = tree_map(&t, |x| Array::from_vec(vec![x.shape()[0] as i32], &[1]).unwrap());
/// assert_eq!(lens.1[0].to_vec::<i32>().unwrap(), vec![2]);
/// ```
pub fn tree_map<T: Tree>(tree: &T, mut f: impl FnMut(&Array) -> Array) -> T {
    let leaves = tree_leaves(tree).iter().map(&mut f).collect();
    tree_unflatten(tree, leaves)
        .expect("tree_map: a tree's leaf count changed between flatten and unflatten")
}

/// Like [`tree_map`] with a fallible `f`: stops at the first error.
///
/// # Example
///
/// ```
/// use rjax::{tree::try_tree_map, Array};
///
/// let t = vec![Array::from_vec(vec![1.0f32], &[1]).unwrap()];
/// // Reading an f32 array as i32 fails; the error is passed on.
/// let r = try_tree_map(&t, |x| Array::from_vec(x.to_vec::<i32>()?, x.shape()));
/// assert!(r.is_err());
/// ```
pub fn try_tree_map<T: Tree>(tree: &T, f: impl FnMut(&Array) -> Result<Array>) -> Result<T> {
    let leaves = tree_leaves(tree)
        .iter()
        .map(f)
        .collect::<Result<Vec<_>>>()?;
    tree_unflatten(tree, leaves)
}

/// Applies `f` to corresponding leaves of `a` and `b`, which must have the same
/// structure, returning a tree shaped like `a`.
///
/// # Panics
///
/// If the structures of `a` and `b` differ; the message names both. Use
/// [`try_tree_map2`] to get an error instead.
///
/// # Example
///
/// ```
/// use rjax::{tree_map2, Array};
///
/// let a = vec![Array::from_vec(vec![1.0f32, 2.0], &[2]).unwrap()];
/// let b = vec![Array::from_vec(vec![3.0f32, 4.0], &[2]).unwrap()];
/// // Keep the leaf with the larger first element.
/// let m = tree_map2(&a, &b, |x, y| {
///     if x.to_vec::<f32>().unwrap()[0] > y.to_vec::<f32>().unwrap()[0] { x.clone() } else { y.clone() }
/// });
/// assert_eq!(m[0].to_vec::<f32>().unwrap(), vec![3.0, 4.0]);
/// ```
pub fn tree_map2<T: Tree>(a: &T, b: &T, f: impl FnMut(&Array, &Array) -> Array) -> T {
    match try_tree_map2(a, b, f) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

/// Like [`tree_map2`], but returns `Error::Op { op: "tree_map2", .. }`, naming
/// both structures, when they differ.
///
/// # Example
///
/// ```
/// use rjax::{tree::try_tree_map2, Array};
///
/// let x = Array::from_vec(vec![1.0f32], &[1]).unwrap();
/// let (a, b) = (vec![x.clone(), x.clone()], vec![x]);
/// let err = try_tree_map2(&a, &b, |x, _| x.clone()).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "tree_map2: tree structures differ: first is [*,*], second is [*]"
/// );
/// ```
pub fn try_tree_map2<T: Tree>(
    a: &T,
    b: &T,
    mut f: impl FnMut(&Array, &Array) -> Array,
) -> Result<T> {
    check_same_structure("tree_map2", a, b)?;
    let la = tree_leaves(a);
    let lb = tree_leaves(b);
    let leaves = la.iter().zip(&lb).map(|(x, y)| f(x, y)).collect();
    tree_unflatten(a, leaves)
}

/// Errors with `Error::Op { op, .. }` naming both structures unless `a` and `b`
/// have the same structure.
fn check_same_structure<T: Tree>(op: &str, a: &T, b: &T) -> Result<()> {
    let (sa, sb) = (tree_structure(a), tree_structure(b));
    if sa != sb {
        return Err(Error::op(
            op,
            format!("tree structures differ: first is {sa}, second is {sb}"),
        ));
    }
    Ok(())
}

/// The error an exhausted leaf iterator gives in [`Tree::unflatten_from`].
fn out_of_leaves() -> Error {
    Error::op(
        "tree_unflatten",
        "ran out of leaves while rebuilding a tree",
    )
}

impl Tree for Array {
    fn flatten_into(&self, leaves: &mut Vec<Array>) {
        leaves.push(self.clone());
    }

    fn unflatten_from(&self, leaves: &mut dyn Iterator<Item = Array>) -> Result<Self> {
        leaves.next().ok_or_else(out_of_leaves)
    }

    fn write_structure(&self, out: &mut String) {
        out.push('*');
    }
}

impl Tree for () {
    fn flatten_into(&self, _leaves: &mut Vec<Array>) {}

    fn unflatten_from(&self, _leaves: &mut dyn Iterator<Item = Array>) -> Result<Self> {
        Ok(())
    }

    fn write_structure(&self, out: &mut String) {
        out.push_str("()");
    }
}

/// Implements [`Tree`] for one tuple arity: `(A,)` is written `(*,)`, longer
/// tuples `(*,*)`.
macro_rules! impl_tree_tuple {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: Tree),+> Tree for ($($name,)+) {
            fn flatten_into(&self, leaves: &mut Vec<Array>) {
                $(self.$idx.flatten_into(leaves);)+
            }

            fn unflatten_from(&self, leaves: &mut dyn Iterator<Item = Array>) -> Result<Self> {
                Ok(($(self.$idx.unflatten_from(leaves)?,)+))
            }

            fn write_structure(&self, out: &mut String) {
                out.push('(');
                $(
                    self.$idx.write_structure(out);
                    out.push(',');
                )+
                // `(*,)` for one element, `(*,*)` for more.
                if [$($idx),+].len() > 1 {
                    out.pop();
                }
                out.push(')');
            }
        }
    };
}

impl_tree_tuple!(A 0);
impl_tree_tuple!(A 0, B 1);
impl_tree_tuple!(A 0, B 1, C 2);
impl_tree_tuple!(A 0, B 1, C 2, D 3);
impl_tree_tuple!(A 0, B 1, C 2, D 3, E 4);
impl_tree_tuple!(A 0, B 1, C 2, D 3, E 4, F 5);
impl_tree_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
impl_tree_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

/// Writes `[s0,s1,..]` for a sequence of subtrees.
fn write_seq<'a, T: Tree + 'a>(items: impl IntoIterator<Item = &'a T>, out: &mut String) {
    out.push('[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        item.write_structure(out);
    }
    out.push(']');
}

impl<T: Tree> Tree for Vec<T> {
    fn flatten_into(&self, leaves: &mut Vec<Array>) {
        for item in self {
            item.flatten_into(leaves);
        }
    }

    fn unflatten_from(&self, leaves: &mut dyn Iterator<Item = Array>) -> Result<Self> {
        self.iter()
            .map(|item| item.unflatten_from(leaves))
            .collect()
    }

    fn write_structure(&self, out: &mut String) {
        write_seq(self, out);
    }
}

impl<T: Tree, const N: usize> Tree for [T; N] {
    fn flatten_into(&self, leaves: &mut Vec<Array>) {
        for item in self {
            item.flatten_into(leaves);
        }
    }

    fn unflatten_from(&self, leaves: &mut dyn Iterator<Item = Array>) -> Result<Self> {
        let items: Vec<T> = self
            .iter()
            .map(|item| item.unflatten_from(leaves))
            .collect::<Result<_>>()?;
        Ok(items
            .try_into()
            .unwrap_or_else(|_| unreachable!("exactly N items were rebuilt")))
    }

    fn write_structure(&self, out: &mut String) {
        write_seq(self, out);
    }
}

impl<T: Tree> Tree for Option<T> {
    fn flatten_into(&self, leaves: &mut Vec<Array>) {
        if let Some(x) = self {
            x.flatten_into(leaves);
        }
    }

    fn unflatten_from(&self, leaves: &mut dyn Iterator<Item = Array>) -> Result<Self> {
        self.as_ref().map(|x| x.unflatten_from(leaves)).transpose()
    }

    fn write_structure(&self, out: &mut String) {
        match self {
            None => out.push_str("None"),
            Some(x) => {
                out.push_str("Some(");
                x.write_structure(out);
                out.push(')');
            }
        }
    }
}

/// Writes a map key: bare if it is a non-empty run of ASCII letters, digits and
/// `_` (`{a:*}`), otherwise quoted with `Debug` (`{"a b":*}`), so that keys
/// containing `:`, `,` or braces cannot make two structures print alike.
fn write_key(key: &str, out: &mut String) {
    if !key.is_empty() && key.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
        out.push_str(key);
    } else {
        out.push_str(&format!("{key:?}"));
    }
}

impl<T: Tree> Tree for BTreeMap<String, T> {
    fn flatten_into(&self, leaves: &mut Vec<Array>) {
        for value in self.values() {
            value.flatten_into(leaves);
        }
    }

    fn unflatten_from(&self, leaves: &mut dyn Iterator<Item = Array>) -> Result<Self> {
        self.iter()
            .map(|(k, v)| Ok((k.clone(), v.unflatten_from(leaves)?)))
            .collect()
    }

    fn write_structure(&self, out: &mut String) {
        out.push('{');
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_key(k, out);
            out.push(':');
            v.write_structure(out);
        }
        out.push('}');
    }
}

impl<T: Tree> Tree for Box<T> {
    fn flatten_into(&self, leaves: &mut Vec<Array>) {
        (**self).flatten_into(leaves);
    }

    fn unflatten_from(&self, leaves: &mut dyn Iterator<Item = Array>) -> Result<Self> {
        Ok(Box::new((**self).unflatten_from(leaves)?))
    }

    fn write_structure(&self, out: &mut String) {
        (**self).write_structure(out);
    }
}
