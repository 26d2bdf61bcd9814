//! Structured control flow: `cond`, `switch`, `while_loop`, `fori_loop` and
//! `scan` (JAX's `jax.lax` control flow), re-exported from [`crate::lax`].
//!
//! A Rust `if` or `loop` cannot branch on a traced value (reading it is a
//! [`Error::Concretization`](rjax_ir::Error::Concretization) error that
//! points here). These functions take the branches and loop bodies as
//! closures, trace each closure once into a closed jaxpr and bind one
//! higher-order primitive (`cond`, `while` or `scan`, see
//! [`rjax_ir::Primitive`]), so the control flow survives `jit` and every
//! transformation: `jvp` (rules in `transforms/control_flow_jvp.rs`),
//! `vmap` (`transforms/control_flow_batching.rs`), and reverse mode
//! through `cond` and `scan` (a `while_loop` is forward-mode only, as in
//! JAX; `fori_loop` with bounds known at trace time is a `scan`).
//!
//! Eagerly the primitives run on the reference interpreter (as every
//! higher-order primitive does in eager mode); under `jit` they are part of
//! the staged program.
//!
//! # Closure conversion
//!
//! The closures may capture arrays: outer concrete arrays, and tracers of
//! enclosing transformations (a `grad` or `vmap` around the `scan`). Every
//! captured value becomes an explicit operand, so the sub-jaxprs carry no
//! constants and every transformation sees the captured values:
//!
//! - `cond`/`switch`: operands are `[index, captured.., operands..]`; every
//!   branch takes all captured values (those of every branch, deduplicated),
//!   ignoring the ones it does not use.
//! - `scan`: the captured values are the `num_consts` leading operands:
//!   `[captured.., carry.., xs..]`.
//! - `while`: it has no constants, so the captured values of `cond_fn` and
//!   `body_fn` (deduplicated) are leading loop-invariant carries: operands
//!   `[captured.., carry..]`; the body returns them unchanged, and the
//!   results drop them.
//!
//! Trees are flattened in [`tree_leaves`](crate::tree_leaves) order.
//!
//! # Operand order of the differentiated primitives
//!
//! The jvp rules (`transforms/control_flow_jvp.rs`) bind the same primitive
//! again on primals and the tangents that are not symbolically zero. "The
//! nonzero tangents of `v..`" below means: for each element of `v..` in
//! order whose tangent is not a symbolic zero, its tangent. All of them are
//! built with one jaxpr-level jvp, `jvp_jaxpr(jaxpr, nonzeros,
//! instantiate)`, whose result takes `(primals.., nonzero tangents of
//! primals..)` and returns `(outputs.., tangents of the outputs that are
//! nonzero or instantiated..)`.
//!
//! - **cond** `cond(index, ops..)` becomes
//!   `cond(index, ops.., nonzero tangents of ops..)`; every branch returns
//!   `(outs.., tangents..)` where the tangent outputs are those nonzero in
//!   *any* branch (the union; zeros are instantiated in branches where that
//!   output's tangent is zero).
//! - **while** `while(carry..)` becomes
//!   `while(carry.., tangents of carry[k] for k in NZ..)` where `NZ` is the
//!   fixpoint: the carries with a nonzero input tangent, grown by every carry
//!   whose body output tangent is nonzero given `NZ` (zeros are instantiated
//!   for carries in `NZ` whose input tangent was zero). `cond_jaxpr` takes
//!   the same operands and ignores the tangents.
//! - **scan** `scan(consts.., carry.., xs..)` becomes
//!   `scan(consts.., nonzero tangents of consts..,
//!   carry.., tangents of carry[k] for k in NZ..,
//!   xs.., nonzero tangents of xs..)` with
//!   `num_consts = num_consts + #nonzero const tangents` and
//!   `num_carry = num_carry + |NZ|` (`NZ` the fixpoint over the carries, as
//!   for `while`). The body returns
//!   `(carry.., tangents of carry[k] for k in NZ..,
//!   ys.., nonzero tangents of ys..)`, so the scan's results are
//!   `(final carry.., final carry tangents (NZ)..,
//!   stacked ys.., stacked nonzero y tangents..)`. `length` and `reverse`
//!   are unchanged.

mod branch;
mod loops;
mod scan;
mod trace;

pub use branch::{cond, switch, try_cond, try_switch};
pub use loops::{
    fori_loop, fori_loop_dynamic, try_fori_loop, try_fori_loop_dynamic, try_while_loop, while_loop,
};
pub use scan::{scan, try_scan, ScanOptions};
