//! # rjax: JAX-style functional arrays for Rust
//!
//! Pure functions over immutable [`Array`]s are traced into an IR (a
//! *jaxpr*, see [`rjax_ir`]); transformations act on traces.
//!
//! The pipeline, from the user's call down:
//!
//! 1. [`jnp`], [`nn`], [`lax`] and the operators on [`Array`] express every
//!    computation as primitives, applying NumPy broadcasting and JAX dtype
//!    promotion on the way.
//! 2. [`core::bind`] hands each primitive to the *current trace*
//!    ([`core`]): eager evaluation ([`core::EvalTrace`]) or staging into a
//!    jaxpr ([`staging::StagingTrace`], used by [`make_jaxpr`]).
//! 3. Eager evaluation runs each primitive through the reference
//!    interpreter of `rjax-ir`; compiled kernels from `rjax-codegen` take its
//!    place behind the same interface.
//!
//! Values passed to and returned from transformations are pytrees
//! ([`Tree`]): tuples, vectors, maps and `#[derive(Tree)]` structs of arrays.
//!
//! ```
//! use rjax::prelude::*;
//! let x = Array::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
//! let y = (&x * 2.0 + 1.0).sum();
//! assert_eq!(y.item::<f32>().unwrap(), 24.0);
//! ```

extern crate self as rjax;

pub mod array;
mod control_flow;
pub mod core;
pub mod device;
mod display;
mod eager;
pub mod index;
pub mod jit;
pub mod jnp;
pub mod keras;
pub mod lax;
pub mod nn;
mod ops;
pub mod random;
pub mod staging;
pub mod transforms;
pub mod tree;

pub use array::Array;
pub use device::{default_device, devices, try_default_device, Device};
pub use jit::{jit, Jit, JitStats};
pub use ops::WeakScalar;
pub use rjax_ir::{DType, Error, Result};
pub use rjax_macros::Tree;
pub use staging::make_jaxpr;
pub use transforms::autodiff::{
    grad, hessian, hessian_tree, jacfwd, jacrev, jvp, linearize, try_grad, try_jvp, try_linearize,
    try_value_and_grad, try_value_and_grad_with_aux, try_vjp, value_and_grad,
    value_and_grad_with_aux, vjp,
};
pub use transforms::custom::{custom_jvp, custom_vjp, stop_gradient};
pub use transforms::vmap::{try_vmap, try_vmap_axes, vmap, vmap_axes};
pub use tree::{tree_leaves, tree_map, tree_map2, tree_structure, tree_unflatten, Tree, TreeDef};

/// The names most programs need: `use rjax::prelude::*;`.
pub mod prelude {
    pub use crate::index::{s, IndexItem};
    pub use crate::{grad, jit, jvp, value_and_grad, value_and_grad_with_aux, vjp, vmap};
    pub use crate::{jnp, lax, make_jaxpr, nn, random, tree_leaves, tree_map, tree_map2};
    pub use crate::{Array, DType, Tree};
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The guide `docs/chapter3.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/chapter3.md")]
struct Chapter3Doctests;
