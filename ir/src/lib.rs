//! # rjax-ir: the program representation of rjax
//!
//! This crate knows nothing of tracing or devices. It defines what a program
//! *is* and what it *means*:
//!
//! 1. [`DType`], [`Shape`] and [`AVal`]: the static facts of every value.
//! 2. [`Primitive`]: one closed enum of operations, each documented with its
//!    semantics.
//! 3. [`shape::abstract_eval`]: the shape and dtype rule of every primitive,
//!    producing one typed [`Error`] that names the op and the shapes.
//! 4. [`Jaxpr`], [`ClosedJaxpr`] and [`JaxprBuilder`]: programs in SSA form,
//!    printed in a text form close to JAX's (`printer`), checked by
//!    [`verify::verify`].
//! 5. [`interp`]: the reference interpreter, plain loops over
//!    [`HostBuffer`]s. It is the oracle every backend and transformation is
//!    tested against.
//! 6. [`passes`]: semantics-preserving rewrites of jaxprs (dead-code and
//!    common-subexpression elimination, constant folding, algebraic
//!    simplification, inlining of `call`), combined by `passes::optimize`
//!    before compilation.
//!
//! Every rule table is a `match` over [`Primitive`] without a wildcard arm,
//! so adding a primitive fails to compile until each table handles it.
#![deny(missing_docs)]

pub mod buffer;
pub mod dtype;
pub mod error;
pub mod interp;
pub mod jaxpr;
pub mod passes;
pub mod pool;
pub mod primitive;
pub mod printer;
pub mod shape;
pub mod verify;

pub use buffer::{Data, Element, HostBuffer, Scalar};
pub use dtype::{num_elements, row_major_strides, shape_of, AVal, DType, Shape, ShapeDisplay};
pub use error::{Error, Result};
pub use jaxpr::{Atom, ClosedJaxpr, Eqn, Jaxpr, JaxprBuilder, Var};
pub use primitive::{Primitive, ScatterKind, PRIMITIVE_NAMES};
