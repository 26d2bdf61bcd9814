//! Tests of the passes. Each test builds a small jaxpr by hand, runs a pass,
//! and checks three things:
//!
//! 1. the printed result against hand-written golden text;
//! 2. that the result verifies and keeps the signature (input and output
//!    abstract values);
//! 3. differentially, that the reference interpreter computes the same
//!    results before and after on random inputs that include the awkward
//!    values (`-0.0`, `0.0`, NaN, ±inf, `1.0`; integer extremes). Results
//!    must be bit-identical, except that any NaN matches any NaN.

mod cse;
mod fold;
mod inline;
mod optimize;
mod simplify;

use crate::buffer::{Data, HostBuffer, Scalar};
use crate::dtype::{AVal, DType};
use crate::interp::interpret_closed;
use crate::jaxpr::{Atom, ClosedJaxpr, JaxprBuilder, Var};
use crate::primitive::Primitive;
use crate::verify::verify_closed;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// A jaxpr builder with terse helpers.
pub(super) struct B(JaxprBuilder);

impl B {
    pub(super) fn new() -> B {
        B(JaxprBuilder::new())
    }

    /// A fresh input or constant variable.
    pub(super) fn var(&mut self, dtype: DType, shape: &[usize]) -> Var {
        self.0.new_var(AVal::new(dtype, shape))
    }

    /// Adds a single-result equation.
    #[track_caller]
    pub(super) fn op(&mut self, prim: Primitive, inputs: &[Atom]) -> Atom {
        let outs = self.ops(prim, inputs);
        assert_eq!(outs.len(), 1, "op: use ops for several results");
        outs[0]
    }

    /// Adds an equation, returning all its results.
    #[track_caller]
    pub(super) fn ops(&mut self, prim: Primitive, inputs: &[Atom]) -> Vec<Atom> {
        let name = prim.name();
        let outs = self.0.add_eqn(prim, inputs.to_vec(), None);
        let outs = outs.unwrap_or_else(|e| panic!("building {name}: {e}"));
        outs.into_iter().map(Atom::Var).collect()
    }

    /// The finished closed jaxpr.
    #[track_caller]
    pub(super) fn done(
        self,
        constvars: &[(Var, HostBuffer)],
        invars: &[Var],
        outs: &[Atom],
    ) -> ClosedJaxpr {
        let vars = constvars.iter().map(|(v, _)| *v).collect();
        let consts = constvars.iter().map(|(_, c)| c.clone()).collect();
        let jaxpr = self.0.build(vars, invars.to_vec(), outs.to_vec());
        let jaxpr = jaxpr.unwrap_or_else(|e| panic!("building the test jaxpr: {e}"));
        ClosedJaxpr::new(jaxpr, consts)
    }
}

/// An input variable as an operand.
pub(super) fn v(var: Var) -> Atom {
    Atom::Var(var)
}

/// An `f32` literal.
pub(super) fn f(x: f32) -> Atom {
    Atom::Lit(Scalar::F32(x))
}

/// An `i32` literal.
pub(super) fn i(x: i32) -> Atom {
    Atom::Lit(Scalar::I32(x))
}

/// A `bool` literal.
pub(super) fn bl(x: bool) -> Atom {
    Atom::Lit(Scalar::Bool(x))
}

/// A buffer from values.
pub(super) fn buf<T: crate::Element>(values: &[T], shape: &[usize]) -> HostBuffer {
    HostBuffer::from_vec(values.to_vec(), shape).unwrap()
}

/// Golden text written as an indented raw string: drops the first line
/// break and the common indentation.
pub(super) fn text(s: &str) -> String {
    let s = s.strip_prefix('\n').unwrap_or(s).trim_end();
    let margin = s
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let lines: Vec<&str> = s.lines().map(|l| l.get(margin..).unwrap_or("")).collect();
    lines.join("\n")
}

/// Random values of `aval`, with the awkward ones mixed in.
pub(super) fn random_buffer(aval: &AVal, rng: &mut ChaCha20Rng) -> HostBuffer {
    let n = aval.size();
    let mut pick = || rng.next_u32();
    let float = |r: u32| -> f64 {
        match r % 16 {
            0 => -0.0,
            1 => 0.0,
            2 => f64::NAN,
            3 => f64::INFINITY,
            4 => f64::NEG_INFINITY,
            5 => 1.0,
            _ => ((r >> 8) as f64 / f64::from(1u32 << 24)) * 6.0 - 3.0,
        }
    };
    let int = |r: u32| -> i32 {
        match r % 8 {
            0 => 0,
            1 => 1,
            2 => -1,
            3 => i32::MIN,
            4 => i32::MAX,
            _ => (r >> 8) as i32 % 100 - 50,
        }
    };
    let data = match aval.dtype {
        DType::F32 => Data::F32((0..n).map(|_| float(pick()) as f32).collect()),
        DType::F64 => Data::F64((0..n).map(|_| float(pick())).collect()),
        DType::I32 => Data::I32((0..n).map(|_| int(pick())).collect()),
        DType::U32 => Data::U32((0..n).map(|_| pick()).collect()),
        DType::Bool => Data::Bool((0..n).map(|_| pick() % 2 == 0).collect()),
    };
    HostBuffer::new(data, &aval.shape).unwrap()
}

/// Bit-for-bit equality, except that any NaN equals any NaN.
pub(super) fn same_bits(a: &HostBuffer, b: &HostBuffer) -> bool {
    a.shape() == b.shape()
        && match (a.data(), b.data()) {
            (Data::F32(x), Data::F32(y)) => x
                .iter()
                .zip(y)
                .all(|(p, q)| p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan())),
            (Data::F64(x), Data::F64(y)) => x
                .iter()
                .zip(y)
                .all(|(p, q)| p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan())),
            (x, y) => x == y,
        }
}

/// Checks that `after` verifies, has `before`'s signature, and computes
/// the same results on random inputs (several seeds).
#[track_caller]
pub(super) fn same_results(before: &ClosedJaxpr, after: &ClosedJaxpr) {
    if let Err(e) = verify_closed(after) {
        panic!("the result does not verify:\n{e}");
    }
    assert_eq!(
        before.jaxpr.in_avals(),
        after.jaxpr.in_avals(),
        "inputs changed"
    );
    assert_eq!(
        before.jaxpr.out_avals(),
        after.jaxpr.out_avals(),
        "outputs changed"
    );
    for seed in 0..6 {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let args: Vec<HostBuffer> = before
            .jaxpr
            .in_avals()
            .iter()
            .map(|a| random_buffer(a, &mut rng))
            .collect();
        let want = interpret_closed(before, &args).unwrap_or_else(|e| panic!("before: {e}"));
        let got = interpret_closed(after, &args).unwrap_or_else(|e| panic!("after: {e}"));
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                same_bits(g, w),
                "result {k} differs (seed {seed})\nbefore: {before}\nafter: {after}\n\
                 args: {args:?}\ngot  {g:?}\nwant {w:?}"
            );
        }
    }
}

/// Runs `pass` on `before`, checks the printed result against `want`
/// (indented golden text, see [`text`]) and checks [`same_results`].
/// Returns the result.
#[track_caller]
pub(super) fn check(
    before: &ClosedJaxpr,
    pass: impl Fn(&ClosedJaxpr) -> ClosedJaxpr,
    want: &str,
) -> ClosedJaxpr {
    let after = pass(before);
    assert_eq!(after.to_string(), text(want), "\nbefore:\n{before}");
    same_results(before, &after);
    after
}

/// A pass over plain jaxprs, lifted to closed ones (constants unchanged).
pub(super) fn lift(
    pass: fn(&crate::Jaxpr) -> crate::Jaxpr,
) -> impl Fn(&ClosedJaxpr) -> ClosedJaxpr {
    move |c: &ClosedJaxpr| ClosedJaxpr::new(pass(&c.jaxpr), c.consts.clone())
}

#[test]
fn random_inputs_include_the_awkward_values() {
    let mut rng = ChaCha20Rng::seed_from_u64(0);
    let b = random_buffer(&AVal::new(DType::F32, &[400]), &mut rng);
    let xs = b.as_slice::<f32>().unwrap();
    assert!(xs.iter().any(|x| x.to_bits() == (-0.0f32).to_bits()));
    assert!(xs.iter().any(|x| x.to_bits() == 0));
    assert!(xs.iter().any(|x| x.is_nan()));
    assert!(xs.contains(&f32::INFINITY));
    assert!(xs.contains(&f32::NEG_INFINITY));
    assert!(xs.iter().any(|x| x.is_finite() && x.fract() != 0.0));
}

#[test]
fn golden_text_helper_strips_the_margin() {
    assert_eq!(text("\n    a\n      b\n    c\n  "), "a\n  b\nc");
}

#[test]
fn same_bits_tells_zeros_apart_but_not_nans() {
    let a = buf(&[0.0f32, f32::NAN], &[2]);
    let b = buf(&[-0.0f32, -f32::NAN], &[2]);
    let c = buf(&[0.0f32, -f32::NAN], &[2]);
    assert!(!same_bits(&a, &b));
    assert!(same_bits(&a, &c));
}

/// `broadcast_in_dim[shape, dims]`.
pub(super) fn bcast(shape: &[usize], dims: &[usize]) -> Primitive {
    Primitive::BroadcastInDim {
        shape: crate::dtype::shape_of(shape),
        broadcast_dimensions: dims.to_vec(),
    }
}

/// `transpose[permutation]`.
pub(super) fn tr(permutation: &[usize]) -> Primitive {
    Primitive::Transpose {
        permutation: permutation.to_vec(),
    }
}

/// `reshape[new_sizes]`.
pub(super) fn rs(new_sizes: &[usize]) -> Primitive {
    Primitive::Reshape {
        new_sizes: crate::dtype::shape_of(new_sizes),
    }
}

/// A closed jaxpr of one input and one output, built by `body`.
pub(super) fn unary_fn(
    dtype: DType,
    shape: &[usize],
    body: impl FnOnce(&mut B, Atom) -> Atom,
) -> std::sync::Arc<ClosedJaxpr> {
    let mut b = B::new();
    let a = b.var(dtype, shape);
    let out = body(&mut b, v(a));
    std::sync::Arc::new(b.done(&[], &[a], &[out]))
}
