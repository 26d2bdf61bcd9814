//! Differential property test over random programs: the reference
//! interpreter (`rjax_ir::interp`, the oracle), the kernel-IR interpreter
//! (`fusion::plan` + `kernel_interp::run_program`) and the Cranelift
//! executable (`compile(.., Device::Cpu)`) run the same random jaxpr over
//! `f32`, `f64`, `i32` and `bool` values.
//! Two programs in three are wrapped in control flow first (the taken
//! branch of a `cond`, the body of a one-step `scan`: `differential/control.rs`),
//! which leaves every output unchanged.
//!
//! # What is compared, and why each tolerance holds
//!
//! Four results per program: `want` (reference), `kint` (the planned
//! program run by the kernel interpreter), `kexp` (the planned program with
//! every kernel rewritten by `math::expand`, run by the kernel interpreter)
//! and `cl` (the Cranelift executable, which compiles exactly that expanded
//! program: `cpu::compile_jaxpr` = plan + expand + compile).
//!
//! 1. `kint` against `want`: **bit for bit** (any NaN matching any NaN), for
//!    every output and dtype. Both evaluate transcendentals with the same
//!    libm functions, reductions and cumsums in index order, and GEMM steps
//!    with plain loops in the reference's summation order (the contract of
//!    `kernel_interp`), so nothing licenses a difference.
//! 2. `cl` against `kexp`: **bit for bit** for every output whose value
//!    does not go through a float sum, product, cumsum or `dot_general`
//!    (the generator tracks this; such results are made outputs and not
//!    reused). The expansion turns transcendentals into basic arithmetic
//!    that both execute with IEEE semantics (FMA written explicitly in the
//!    kernel IR), so the only licensed differences are summation orders.
//! 3. `cl` against `kexp` for float reductions (vectorisation reassociates
//!    them) and GEMM (the `gemm` crate blocks and may use FMA): any order of
//!    a recursive sum of `n` terms is within `γ_{n-1}·Σ|x_i|` of the exact
//!    sum (Higham, *Accuracy and Stability*, §4.2), and a dot product of
//!    length `n`, with or without FMA, within `γ_n·Σ|a_k·b_k|` (§3.1), with
//!    `γ_k = k·u/(1-k·u)` and `u = eps/2`. Two such evaluations differ by at
//!    most twice that, which is below `n·eps·Σ|terms|` (sums: `n(n-1)u ≤ 1`)
//!    and `(n+1)·eps·Σ|terms|` (dots) for the sizes here. A product of `n`
//!    factors is within `γ_{n-1}·Π|x_i|` in any order, so two differ by at
//!    most `n·eps·Π|x_i|`, plus, if partial products underflow, `n` times
//!    the smallest subnormal scaled by the later factors (`Π max(1,|x_i|)`).
//!    The terms are outputs of the program too, so the bound is computed
//!    from `kexp`'s own terms (bit-identical to `cl`'s by item 2). Where
//!    some term is infinite or NaN the result is the same in any order
//!    (NaN if NaN or both infinities occur, else that infinity): exact
//!    comparison (for products only when no partial product of the finite
//!    factors can underflow to 0, which would make `0·∞`); where
//!    `Σ|terms|` (sums) or `Π max(1,|x_i|)` (products) is within a factor 2
//!    of the dtype's maximum, partial results may overflow in one order
//!    only and the element is not compared.
//! 4. `cl` against `want` **bit for bit** for outputs free of both
//!    transcendentals and float reductions: there the expanded program is
//!    the planned one, so items 1 and 2 imply it; asserting it directly
//!    catches a broken `expand` that rewrites non-transcendental code.
//!    This covers all integer and boolean work computed without
//!    transcendentals (integer reductions and products wrap, so they are
//!    exact in any order). Transcendental results differ from libm within
//!    the bounds of `codegen/src/math` (asserted by `tests/math_ulp.rs`);
//!    propagated through arbitrary later operations (comparisons,
//!    conversions to integers) no finite bound exists, so they are
//!    compared bit for bit between the two backends sharing the expansion
//!    (item 2), not against libm.

#[path = "differential/control.rs"]
mod control;

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use rjax_codegen::fusion::plan;
use rjax_codegen::kernel_interp::run_program;
use rjax_codegen::program::Program;
use rjax_codegen::{compile, math, Device};
use rjax_ir::interp::interpret_closed;
use rjax_ir::{
    AVal, Atom, ClosedJaxpr, DType, Data, HostBuffer, JaxprBuilder, Primitive as P, Scalar,
    ScatterKind, Var,
};

/// A deterministic xorshift generator for input data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn float(&mut self) -> f64 {
        if self.below(40) == 0 {
            [0.0, -0.0, 1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY][self.below(6) as usize]
        } else {
            -3.0 + 6.0 * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
        }
    }
}

/// Random contents for `aval`.
fn random(aval: &AVal, rng: &mut Rng) -> HostBuffer {
    let n = aval.size();
    let data = match aval.dtype {
        DType::F32 => Data::F32((0..n).map(|_| rng.float() as f32).collect()),
        DType::F64 => Data::F64((0..n).map(|_| rng.float()).collect()),
        DType::I32 => Data::I32((0..n).map(|_| rng.below(19) as i32 - 9).collect()),
        DType::U32 => Data::U32((0..n).map(|_| rng.below(13) as u32).collect()),
        DType::Bool => Data::Bool((0..n).map(|_| rng.below(2) == 1).collect()),
    };
    HostBuffer::new(data, &aval.shape).expect("random buffer")
}

/// A value of the program being built, and whether it depends on a
/// transcendental operation (whose expansion differs from libm).
#[derive(Clone, Copy)]
struct Val {
    var: Var,
    approx: bool,
}

/// How a float result computed with a reassociable summation is checked
/// (item 3 of the module docs); output indices into the program's results.
#[derive(Clone, Debug)]
enum Reassoc {
    /// `out = reduce_sum(terms, axes)`.
    Sum { terms: usize, axes: Vec<usize> },
    /// `out = reduce_prod(terms, axes)`.
    Prod { terms: usize, axes: Vec<usize> },
    /// `out = cumsum(terms, axis, reverse)`.
    Cumsum {
        terms: usize,
        axis: usize,
        reverse: bool,
    },
    /// `out[b,i,j] = Σ_k lhs[b,i,k]·rhs[b,k,j]` (or `rhs[b,j,k]` if
    /// `rhs_t`; the batch index `b` only for rank 3).
    Dot { lhs: usize, rhs: usize, rhs_t: bool },
}

/// A built program: the jaxpr, its reassociated outputs `(output, approx,
/// how)` and its exactly compared outputs `(output, approx)`.
type Built = (ClosedJaxpr, Vec<(usize, bool, Reassoc)>, Vec<(usize, bool)>);

/// The program under construction.
struct Gen {
    b: JaxprBuilder,
    pool: Vec<Val>,
    outs: Vec<Atom>,
    /// `(output, approx, how)` for outputs that are float reassociated results.
    reassoc: Vec<(usize, bool, Reassoc)>,
    /// Outputs compared exactly between all backends (item 2 and 4), with
    /// their `approx` flag.
    exact: Vec<(usize, bool)>,
}

fn lit(dtype: DType, x: f64) -> Atom {
    Atom::Lit(match dtype {
        DType::F32 => Scalar::F32(x as f32),
        DType::F64 => Scalar::F64(x),
        DType::I32 => Scalar::I32(x as i32),
        DType::U32 => Scalar::U32(x as u32),
        DType::Bool => Scalar::Bool(x != 0.0),
    })
}

fn is_float(d: DType) -> bool {
    matches!(d, DType::F32 | DType::F64)
}

impl Gen {
    fn aval(&self, v: Val) -> AVal {
        self.b.aval(v.var).clone()
    }

    fn eqn(&mut self, prim: P, ins: &[Atom]) -> Var {
        let name = prim.name();
        self.b
            .add_eqn(prim, ins.to_vec(), None)
            .unwrap_or_else(|e| panic!("{name}: {e}"))[0]
    }

    /// Applies `prim` to `ins` and returns the result tagged `approx`.
    fn op(&mut self, prim: P, ins: &[Atom], approx: bool) -> Val {
        Val {
            var: self.eqn(prim, ins),
            approx,
        }
    }

    fn output(&mut self, v: Val) -> usize {
        self.outs.push(Atom::Var(v.var));
        self.outs.len() - 1
    }

    /// A float reassociated result `r` of `how` (whose operand outputs are
    /// already recorded): an output, never reused.
    fn terminal(&mut self, r: Val, how: Reassoc) {
        let o = self.output(r);
        self.reassoc.push((o, r.approx, how));
    }

    /// One random step; pushes its results to the pool.
    fn step(&mut self, (op, i, j, k): (u8, u8, u8, u8), idx: Val) {
        let x = self.pool[i as usize % self.pool.len()];
        let y = self.pool[j as usize % self.pool.len()];
        let (ax, ay) = (self.aval(x), self.aval(y));
        let (dt, rank) = (ax.dtype, ax.shape.len());
        let xs = ax.shape.to_vec();
        let vx = Atom::Var(x.var);
        let k = k as usize;
        let r = match op % 11 {
            0 => self.unary(x, k),
            1 => {
                let other_same = ay.dtype == dt && ay.shape == ax.shape;
                let (yv, yapprox) = if other_same {
                    (Atom::Var(y.var), y.approx)
                } else {
                    (lit(dt, (k % 7) as f64 / 2.0 - 1.5), false)
                };
                let approx = x.approx || yapprox;
                match dt {
                    DType::F32 | DType::F64 => {
                        let ps = [P::Add, P::Sub, P::Mul, P::Max, P::Min, P::Div, P::Rem];
                        if k % 8 == 7 {
                            // pow on a positive base: |x| + 0.25.
                            let a = self.op(P::Abs, &[vx], x.approx);
                            let base =
                                self.op(P::Add, &[Atom::Var(a.var), lit(dt, 0.25)], x.approx);
                            self.op(P::Pow, &[Atom::Var(base.var), yv], true)
                        } else {
                            self.op(ps[k % 8 % ps.len()].clone(), &[vx, yv], approx)
                        }
                    }
                    DType::I32 => {
                        let ps = [
                            P::Add,
                            P::Sub,
                            P::Mul,
                            P::Max,
                            P::Min,
                            P::And,
                            P::Or,
                            P::Xor,
                            P::Div,
                            P::Rem,
                        ];
                        self.op(ps[k % ps.len()].clone(), &[vx, yv], approx)
                    }
                    DType::Bool | DType::U32 => {
                        let ps = [P::And, P::Or, P::Xor, P::Eq, P::Ne];
                        self.op(ps[k % ps.len()].clone(), &[vx, yv], approx)
                    }
                }
            }
            2 if dt != DType::Bool => {
                // Comparison, then select between x and y (or a literal).
                let ps = [P::Eq, P::Ne, P::Lt, P::Le, P::Gt, P::Ge];
                let same = ay.dtype == dt && ay.shape == ax.shape;
                let (yv, yapprox) = if same {
                    (Atom::Var(y.var), y.approx)
                } else {
                    (lit(dt, (k % 5) as f64 - 2.0), false)
                };
                let c = self.op(ps[k % ps.len()].clone(), &[vx, yv], x.approx || yapprox);
                self.pool.push(c);
                self.op(P::Select, &[Atom::Var(c.var), vx, yv], c.approx)
            }
            3 => {
                let to = [DType::F32, DType::F64, DType::I32, DType::Bool][k % 4];
                if is_float(dt) && to == DType::I32 {
                    // Clamp first: conversion of huge floats saturates, which
                    // is fine, but keeps integer work in a useful range.
                    let m = self.op(P::Min, &[vx, lit(dt, 1e4)], x.approx);
                    self.op(
                        P::ConvertElementType { new_dtype: to },
                        &[Atom::Var(m.var)],
                        x.approx,
                    )
                } else {
                    self.op(P::ConvertElementType { new_dtype: to }, &[vx], x.approx)
                }
            }
            4 => match k % 3 {
                0 if rank < 3 => {
                    let mut target = vec![2];
                    target.extend(&xs);
                    self.op(
                        P::BroadcastInDim {
                            shape: target.into(),
                            broadcast_dimensions: (1..=rank).collect(),
                        },
                        &[vx],
                        x.approx,
                    )
                }
                0 => return,
                1 => self.op(
                    P::Transpose {
                        permutation: (0..rank).rev().collect(),
                    },
                    &[vx],
                    x.approx,
                ),
                _ => {
                    let n: usize = xs.iter().product();
                    let to = if rank >= 2 && k.is_multiple_of(2) {
                        vec![n]
                    } else {
                        vec![1, n]
                    };
                    self.op(
                        P::Reshape {
                            new_sizes: to.into(),
                        },
                        &[vx],
                        x.approx,
                    )
                }
            },
            5 if rank > 0 => match k % 4 {
                0 => self.op(
                    P::Rev {
                        axes: (0..rank).filter(|d| (k >> (2 + d)) & 1 == 1).collect(),
                    },
                    &[vx],
                    x.approx,
                ),
                1 => self.op(
                    P::Pad {
                        low: vec![1; rank],
                        high: (0..rank).map(|d| if d == 0 { -1 } else { 2 }).collect(),
                        interior: vec![(k >> 2) % 2; rank],
                    },
                    &[vx, lit(dt, 1.0)],
                    x.approx,
                ),
                2 => {
                    let limit: Vec<usize> = xs.iter().map(|&n| n - n / 3).collect();
                    let start: Vec<usize> = xs.iter().map(|&n| (n / 4).min(n)).collect();
                    let strides: Vec<usize> = (0..rank).map(|d| 1 + (k >> (2 + d)) % 2).collect();
                    self.op(
                        P::Slice {
                            start,
                            limit,
                            strides,
                        },
                        &[vx],
                        x.approx,
                    )
                }
                _ => {
                    let same = ay.dtype == dt && ay.shape.len() == rank && ay.shape[1..] == xs[1..];
                    let (second, a2) = if same {
                        (y.var, y.approx)
                    } else {
                        (x.var, x.approx)
                    };
                    self.op(
                        P::Concatenate { axis: 0 },
                        &[vx, Atom::Var(second)],
                        x.approx || a2,
                    )
                }
            },
            6 if dt != DType::Bool => {
                let axes: Vec<usize> = (0..rank).filter(|d| (k >> d) & 1 == 1).collect();
                let kind = (k >> 3) % 5;
                if kind == 4 {
                    if rank == 0 || xs[0] == 0 {
                        return;
                    }
                    let am = self.op(
                        P::ArgMax {
                            axis: 0,
                            index_dtype: DType::I32,
                        },
                        &[vx],
                        x.approx,
                    );
                    return self.pool.push(am);
                }
                let prim = match kind {
                    0 => P::ReduceSum { axes: axes.clone() },
                    1 => P::ReduceMax { axes: axes.clone() },
                    2 => P::ReduceMin { axes: axes.clone() },
                    _ => P::ReduceProd { axes: axes.clone() },
                };
                let r = self.op(prim, &[vx], x.approx);
                if is_float(dt) && (kind == 0 || kind == 3) {
                    let terms = self.output(x);
                    let how = if kind == 0 {
                        Reassoc::Sum { terms, axes }
                    } else {
                        Reassoc::Prod { terms, axes }
                    };
                    return self.terminal(r, how);
                }
                r
            }
            7 if (rank == 2 || rank == 3)
                && ay.shape.len() == rank
                && ay.dtype == dt
                && ay.shape[..rank - 2] == xs[..rank - 2]
                && matches!(dt, DType::F32 | DType::F64 | DType::I32) =>
            {
                // `[B?, m, k] · [B?, n, k]` (`rhs_t`) or `[B?, k, n]`, with a
                // batch dimension 0 for rank 3.
                let ys = &ay.shape;
                let rhs_t = if xs[rank - 1] == ys[rank - 1] {
                    true
                } else if xs[rank - 1] == ys[rank - 2] {
                    false
                } else {
                    return;
                };
                let batch: Vec<usize> = (0..rank - 2).collect();
                let d = P::DotGeneral {
                    lhs_contract: vec![rank - 1],
                    rhs_contract: vec![if rhs_t { rank - 1 } else { rank - 2 }],
                    lhs_batch: batch.clone(),
                    rhs_batch: batch,
                };
                let r = self.op(d, &[vx, Atom::Var(y.var)], x.approx || y.approx);
                if is_float(dt) {
                    let lhs = self.output(x);
                    let rhs = self.output(y);
                    return self.terminal(r, Reassoc::Dot { lhs, rhs, rhs_t });
                }
                r
            }
            8 if rank > 0 && dt != DType::Bool => {
                let axis = k % rank;
                let reverse = (k >> 2) % 2 == 1;
                let r = self.op(P::Cumsum { axis, reverse }, &[vx], x.approx);
                if is_float(dt) {
                    let terms = self.output(x);
                    return self.terminal(
                        r,
                        Reassoc::Cumsum {
                            terms,
                            axis,
                            reverse,
                        },
                    );
                }
                r
            }
            9 if rank > 0 && xs[0] > 0 => {
                // In-range indices: |idx| rem n.
                let n = xs[0] as f64;
                let a = self.op(P::Abs, &[Atom::Var(idx.var)], false);
                let ind = self.op(P::Rem, &[Atom::Var(a.var), lit(DType::I32, n)], false);
                let g = self.op(P::Gather { axis: 0 }, &[vx, Atom::Var(ind.var)], x.approx);
                if k.is_multiple_of(2) || dt == DType::Bool {
                    g
                } else {
                    self.pool.push(g);
                    self.op(
                        P::Scatter {
                            axis: 0,
                            kind: ScatterKind::Add,
                        },
                        &[vx, Atom::Var(ind.var), Atom::Var(g.var)],
                        x.approx,
                    )
                }
            }
            10 if rank > 0 && dt != DType::Bool => {
                let io = self.op(
                    P::Iota {
                        dtype: dt,
                        shape: xs.clone().into(),
                        dimension: k % rank,
                    },
                    &[],
                    false,
                );
                self.op(P::Add, &[vx, Atom::Var(io.var)], x.approx)
            }
            _ => return,
        };
        self.pool.push(r);
    }

    /// A unary operation on `x` (on a safe domain for transcendentals).
    fn unary(&mut self, x: Val, k: usize) -> Val {
        let dt = self.aval(x).dtype;
        let vx = Atom::Var(x.var);
        match dt {
            DType::F32 | DType::F64 => {
                let exact = [
                    P::Neg,
                    P::Abs,
                    P::Floor,
                    P::Ceil,
                    P::Round,
                    P::Sign,
                    P::Sqrt,
                ];
                let trans = [
                    P::Exp,
                    P::Tanh,
                    P::Logistic,
                    P::Sin,
                    P::Cos,
                    P::Erf,
                    P::Expm1,
                    P::Log,
                    P::Log1p,
                ];
                let i = k % (exact.len() + trans.len());
                if i < exact.len() {
                    if let P::Sqrt = exact[i] {
                        let a = self.op(P::Abs, &[vx], x.approx);
                        return self.op(P::Sqrt, &[Atom::Var(a.var)], x.approx);
                    }
                    return self.op(exact[i].clone(), &[vx], x.approx);
                }
                let p = trans[i - exact.len()].clone();
                let arg = match p {
                    // exp/expm1 of min(x, 8); log of |x| + 0.5; log1p of |x|.
                    P::Exp | P::Expm1 => self.op(P::Min, &[vx, lit(dt, 8.0)], x.approx),
                    P::Log | P::Log1p => {
                        let a = self.op(P::Abs, &[vx], x.approx);
                        let off = if let P::Log = p { 0.5 } else { 0.0 };
                        self.op(P::Add, &[Atom::Var(a.var), lit(dt, off)], x.approx)
                    }
                    _ => x,
                };
                self.op(p, &[Atom::Var(arg.var)], true)
            }
            DType::I32 | DType::U32 => {
                let ps = [P::Neg, P::Abs, P::Not, P::Sign];
                self.op(ps[k % ps.len()].clone(), &[vx], x.approx)
            }
            DType::Bool => self.op(P::Not, &[vx], x.approx),
        }
    }
}

/// The program of `steps` over inputs `f32[a,b]`, `f64[a,b]`, `i32[a,b]`,
/// `bool[a,b]`, `f32[b]`, `i32[b]` (the last: raw gather indices).
fn program((a, b): (usize, usize), steps: &[(u8, u8, u8, u8)]) -> Built {
    let ins = [
        AVal::new(DType::F32, &[a, b]),
        AVal::new(DType::F64, &[a, b]),
        AVal::new(DType::I32, &[a, b]),
        AVal::new(DType::Bool, &[a, b]),
        AVal::new(DType::F32, &[b]),
        AVal::new(DType::I32, &[b]),
    ];
    let mut g = Gen {
        b: JaxprBuilder::new(),
        pool: vec![],
        outs: vec![],
        reassoc: vec![],
        exact: vec![],
    };
    let xs: Vec<Var> = ins.iter().map(|av| g.b.new_var(av.clone())).collect();
    g.pool = xs[..5]
        .iter()
        .map(|&var| Val { var, approx: false })
        .collect();
    let idx = Val {
        var: xs[5],
        approx: false,
    };
    for &s in steps {
        g.step(s, idx);
    }
    // Exact outputs: the last three values and one picked early.
    let n = g.pool.len();
    let mut picks = vec![
        n - 1,
        n.saturating_sub(2),
        n.saturating_sub(3),
        steps.len() % n,
    ];
    picks.sort_unstable();
    picks.dedup();
    for p in picks {
        let v = g.pool[p];
        let o = g.output(v);
        g.exact.push((o, v.approx));
    }
    let jaxpr = g.b.build(vec![], xs, g.outs).expect("jaxpr builds");
    (ClosedJaxpr::new(jaxpr, vec![]), g.reassoc, g.exact)
}

/// Float contents as `f64` (`None` for integers and bools).
fn floats(b: &HostBuffer) -> Option<Vec<f64>> {
    match b.data() {
        Data::F32(v) => Some(v.iter().map(|&x| f64::from(x)).collect()),
        Data::F64(v) => Some(v.clone()),
        _ => None,
    }
}

/// Bit-for-bit agreement (any NaN matching any NaN).
fn agree(got: &HostBuffer, want: &HostBuffer) -> Result<(), String> {
    if got.shape() != want.shape() || got.dtype() != want.dtype() {
        return Err(format!("got {} want {}", got.aval(), want.aval()));
    }
    let bad = match (got.data(), want.data()) {
        (Data::F32(g), Data::F32(w)) => g
            .iter()
            .zip(w)
            .position(|(a, b)| a.to_bits() != b.to_bits() && !(a.is_nan() && b.is_nan())),
        (Data::F64(g), Data::F64(w)) => g
            .iter()
            .zip(w)
            .position(|(a, b)| a.to_bits() != b.to_bits() && !(a.is_nan() && b.is_nan())),
        (g, w) => (0..g.len()).find(|&i| g.get(i) != w.get(i)),
    };
    match bad {
        None => Ok(()),
        Some(i) => Err(format!(
            "element {i}: got {:?}, want {:?}",
            got.data().get(i),
            want.data().get(i)
        )),
    }
}

/// Row-major strides.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

/// Multi-index of flat position `i`.
fn unflatten(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        if shape[d] > 0 {
            idx[d] = i % shape[d];
            i /= shape[d];
        }
    }
    idx
}

/// For each output element of `how`: its terms (for sums, the summands;
/// for products, the factors; for dots, the products `a·b`).
fn terms_of(how: &Reassoc, outs: &[HostBuffer], out_len: usize) -> Vec<Vec<f64>> {
    let mut cells = vec![vec![]; out_len];
    match how {
        Reassoc::Sum { terms, axes } | Reassoc::Prod { terms, axes } => {
            let t = &outs[*terms];
            let vals = floats(t).expect("float terms");
            let shape = t.shape();
            let kept: Vec<usize> = (0..shape.len()).filter(|d| !axes.contains(d)).collect();
            let oshape: Vec<usize> = kept.iter().map(|&d| shape[d]).collect();
            let os = strides(&oshape);
            for (i, &x) in vals.iter().enumerate() {
                let idx = unflatten(i, shape);
                let o: usize = kept.iter().zip(&os).map(|(&d, s)| idx[d] * s).sum();
                cells[o].push(x);
            }
        }
        Reassoc::Cumsum {
            terms,
            axis,
            reverse,
        } => {
            let t = &outs[*terms];
            let vals = floats(t).expect("float terms");
            let shape = t.shape();
            let st = strides(shape);
            for (i, cell) in cells.iter_mut().enumerate() {
                let idx = unflatten(i, shape);
                let base = i - idx[*axis] * st[*axis];
                let range: Vec<usize> = if *reverse {
                    (idx[*axis]..shape[*axis]).collect()
                } else {
                    (0..=idx[*axis]).collect()
                };
                cell.extend(range.iter().map(|&p| vals[base + p * st[*axis]]));
            }
        }
        Reassoc::Dot { lhs, rhs, rhs_t } => {
            let (l, r) = (&outs[*lhs], &outs[*rhs]);
            let (lv, rv) = (floats(l).expect("lhs"), floats(r).expect("rhs"));
            let (ls, rs) = (l.shape(), r.shape());
            let rank = ls.len();
            let nb: usize = ls[..rank - 2].iter().product();
            let (m, kk) = (ls[rank - 2], ls[rank - 1]);
            let n = if *rhs_t { rs[rank - 2] } else { rs[rank - 1] };
            assert_eq!(nb * m * n, out_len);
            for bi in 0..nb {
                let (lo, ro, oo) = (bi * m * kk, bi * kk * n, bi * m * n);
                for i in 0..m {
                    for j in 0..n {
                        for k in 0..kk {
                            let b = if *rhs_t {
                                rv[ro + j * kk + k]
                            } else {
                                rv[ro + k * n + j]
                            };
                            cells[oo + i * n + j].push(lv[lo + i * kk + k] * b);
                        }
                    }
                }
            }
        }
    }
    cells
}

/// Item 3 of the module docs: `got` within the reassociation bound of
/// `want` (the `kexp` result, whose terms are in `outs`).
fn within(
    how: &Reassoc,
    got: &HostBuffer,
    want: &HostBuffer,
    outs: &[HostBuffer],
) -> Result<(), String> {
    if got.shape() != want.shape() || got.dtype() != want.dtype() {
        return Err(format!("got {} want {}", got.aval(), want.aval()));
    }
    let (eps, max, tiny, min_normal) = match got.dtype() {
        DType::F32 => (
            f64::from(f32::EPSILON),
            f64::from(f32::MAX),
            f64::from(f32::from_bits(1)),
            f64::from(f32::MIN_POSITIVE),
        ),
        _ => (f64::EPSILON, f64::MAX, f64::from_bits(1), f64::MIN_POSITIVE),
    };
    let (g, w) = (floats(got).expect("float"), floats(want).expect("float"));
    let cells = terms_of(how, outs, w.len());
    for (i, ((&g, &w), terms)) in g.iter().zip(&w).zip(&cells).enumerate() {
        let n = terms.len() as f64;
        if terms.iter().any(|t| !t.is_finite()) {
            // A product whose finite factors could underflow to 0 in one
            // order gives NaN there (0·∞) and ∞ in another: not compared.
            let low: f64 = terms
                .iter()
                .filter(|t| t.is_finite() && **t != 0.0)
                .map(|t| t.abs().min(1.0))
                .product();
            if matches!(how, Reassoc::Prod { .. }) && low < min_normal {
                continue;
            }
            if g.to_bits() != w.to_bits() && !(g.is_nan() && w.is_nan()) {
                return Err(format!(
                    "element {i}: non-finite terms, got {g:e}, want {w:e}"
                ));
            }
            continue;
        }
        let tol = match how {
            Reassoc::Prod { .. } => {
                let p: f64 = terms.iter().map(|t| t.abs()).product();
                let grow: f64 = terms.iter().map(|t| t.abs().max(1.0)).product();
                n * eps * p + n * tiny * grow
            }
            Reassoc::Dot { .. } => (n + 1.0) * eps * terms.iter().map(|t| t.abs()).sum::<f64>(),
            Reassoc::Sum { .. } | Reassoc::Cumsum { .. } => {
                n * eps * terms.iter().map(|t| t.abs()).sum::<f64>()
            }
        };
        // Every partial sum is at most Σ|x_i|, every partial product at
        // most Π max(1, |x_i|): below the dtype's maximum, no order
        // overflows.
        let mag = match how {
            Reassoc::Prod { .. } => terms.iter().map(|t| t.abs().max(1.0)).product::<f64>(),
            _ => terms.iter().map(|t| t.abs()).sum::<f64>(),
        };
        if mag > max / 2.0 {
            continue;
        }
        let diff = (g - w).abs();
        if diff.is_nan() || diff > tol {
            return Err(format!(
                "element {i}: got {g:e}, want {w:e}, |diff| {:e} > tol {tol:e} ({} terms)",
                diff,
                terms.len()
            ));
        }
    }
    Ok(())
}

/// `program` with every kernel (of every nesting level) expanded by
/// `math::expand`.
fn expanded(p: &Program) -> Program {
    let mut p = p.clone();
    rjax_codegen::control::for_each_kernel_mut(&mut p, &mut |kernel| {
        *kernel = math::expand(kernel);
    });
    p
}

fn check(dims: (usize, usize), steps: &[(u8, u8, u8, u8)], seed: u64) {
    let (j, reassoc, exact) = program(dims, steps);
    let j = control::wrap(j, seed);
    let in_avals = j.jaxpr.in_avals();
    let mut rng = Rng::new(seed);
    let args: Vec<HostBuffer> = in_avals.iter().map(|a| random(a, &mut rng)).collect();
    let ctx = || format!("{}\nargs: {args:?}", j.jaxpr);
    let want = interpret_closed(&j, &args).unwrap_or_else(|e| panic!("reference: {e}\n{}", ctx()));
    let program = plan(&j).unwrap_or_else(|e| panic!("plan: {e}\n{}", ctx()));
    let kint =
        run_program(&program, &args).unwrap_or_else(|e| panic!("run_program: {e}\n{}", ctx()));
    let kexp = run_program(&expanded(&program), &args)
        .unwrap_or_else(|e| panic!("run_program(expanded): {e}\n{}", ctx()));
    let exe =
        compile(&j, &in_avals, Device::Cpu).unwrap_or_else(|e| panic!("compile: {e}\n{}", ctx()));
    let refs: Vec<&HostBuffer> = args.iter().collect();
    let cl = exe
        .run(&refs)
        .unwrap_or_else(|e| panic!("cranelift run: {e}\n{}", ctx()));
    // The same program with the 128-bit vector loops only (on a CPU with
    // AVX-512, `cl` runs the wide loops of `cpu::avx512`).
    let narrow = rjax_codegen::cpu::with_narrow_vectors(|| compile(&j, &in_avals, Device::Cpu))
        .unwrap_or_else(|e| panic!("compile (narrow): {e}\n{}", ctx()));
    let cn = narrow
        .run(&refs)
        .unwrap_or_else(|e| panic!("cranelift run (narrow): {e}\n{}", ctx()));
    assert_eq!(kint.len(), want.len());
    assert_eq!(cl.len(), want.len());
    assert_eq!(cn.len(), want.len());
    // Item 1: kernel interpreter against the reference, every output.
    for (o, (g, w)) in kint.iter().zip(&want).enumerate() {
        if let Err(m) = agree(g, w) {
            panic!(
                "kernel interpreter vs reference, output {o}: {m}\n{}",
                ctx()
            );
        }
    }
    // Items 2 and 4.
    for &(o, approx) in &exact {
        if let Err(m) = agree(&cn[o], &kexp[o]) {
            panic!(
                "cranelift (narrow) vs expanded kernel interpreter, output {o}: {m}\n{}",
                ctx()
            );
        }
        if let Err(m) = agree(&cl[o], &kexp[o]) {
            panic!(
                "cranelift vs expanded kernel interpreter, output {o}: {m}\n{}",
                ctx()
            );
        }
        if !approx {
            if let Err(m) = agree(&cl[o], &want[o]) {
                panic!("cranelift vs reference, output {o}: {m}\n{}", ctx());
            }
        }
    }
    // Item 3 (the terms outputs are themselves exact: item 2 applies).
    for (o, approx, how) in &reassoc {
        let terms: Vec<usize> = match how {
            Reassoc::Sum { terms, .. }
            | Reassoc::Prod { terms, .. }
            | Reassoc::Cumsum { terms, .. } => {
                vec![*terms]
            }
            Reassoc::Dot { lhs, rhs, .. } => vec![*lhs, *rhs],
        };
        for t in terms {
            if let Err(m) = agree(&cl[t], &kexp[t]) {
                panic!(
                    "cranelift vs expanded kernel interpreter, terms output {t}: {m}\n{}",
                    ctx()
                );
            }
        }
        if let Err(m) = within(how, &cl[*o], &kexp[*o], &kexp) {
            panic!(
                "cranelift vs expanded kernel interpreter, {how:?} output {o}: {m}\n{}",
                ctx()
            );
        }
        if !approx {
            if let Err(m) = within(how, &cl[*o], &want[*o], &want) {
                panic!("cranelift vs reference, {how:?} output {o}: {m}\n{}", ctx());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0xd1ff_7e57),
        ..ProptestConfig::default()
    })]

    #[test]
    fn three_way_differential_over_random_programs(
        dims in (0usize..6, 1usize..20),
        steps in prop::collection::vec((0u8..11, 0u8..64, 0u8..64, 0u8..64), 1..24),
        seed in 0u64..1000,
    ) {
        check(dims, &steps, seed);
    }

    /// Rows of 32 to 300 elements: innermost loops long enough for the
    /// AVX-512 path (`cpu::avx512`), tails of every length.
    #[test]
    fn three_way_differential_over_random_programs_with_long_rows(
        dims in (0usize..3, 32usize..300),
        steps in prop::collection::vec((0u8..11, 0u8..64, 0u8..64, 0u8..64), 1..24),
        seed in 0u64..1000,
    ) {
        check(dims, &steps, seed);
    }
}
