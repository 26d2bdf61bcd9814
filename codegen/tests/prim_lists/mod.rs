//! Lists of primitives shared by the per-primitive test cases of fusion
//! (`fusion/prims.rs`) and of the PTX backend (`ptx_cases`), and the check
//! that such a list of cases covers every primitive.

use rjax_ir::{Primitive as P, ScatterKind, PRIMITIVE_NAMES};
use std::collections::BTreeSet;

/// The elementwise unary primitives on floats.
pub const FLOAT_UNARY: [P; 18] = [
    P::Neg,
    P::Exp,
    P::Log,
    P::Log1p,
    P::Expm1,
    P::Sin,
    P::Cos,
    P::Tanh,
    P::Logistic,
    P::Sqrt,
    P::Rsqrt,
    P::Abs,
    P::Sign,
    P::Floor,
    P::Ceil,
    P::Round,
    P::Erf,
    P::IsFinite,
];

/// Every kind of scatter.
pub const SCATTER_KINDS: [ScatterKind; 5] = [
    ScatterKind::Set,
    ScatterKind::Add,
    ScatterKind::Mul,
    ScatterKind::Min,
    ScatterKind::Max,
];

/// The primitives not in `seen` (by name).
pub fn without_case(seen: &BTreeSet<&str>) -> Vec<&'static str> {
    PRIMITIVE_NAMES
        .iter()
        .copied()
        .filter(|n| !seen.contains(n))
        .collect()
}
