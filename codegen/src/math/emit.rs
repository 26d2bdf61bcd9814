//! A small builder of kernel-IR arithmetic, so the expansions read like the
//! formulas they implement: each helper appends one `Let` and returns its
//! value; constants are emitted once per expansion.

use crate::kernel::{BinaryOp, Const, Expr, ScalarType, Stmt, UnaryOp, ValueId};
use rjax_ir::Scalar;
use std::collections::HashMap;

/// The float type an expansion computes in, with its integer twin for bit
/// manipulation (`I32` for `f32`, `Index` for `f64`) and format constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ft {
    F32,
    F64,
}

impl Ft {
    /// The kernel type.
    pub(super) fn ty(self) -> ScalarType {
        match self {
            Ft::F32 => ScalarType::F32,
            Ft::F64 => ScalarType::F64,
        }
    }

    /// The integer type of the same width.
    pub(super) fn ity(self) -> ScalarType {
        match self {
            Ft::F32 => ScalarType::I32,
            Ft::F64 => ScalarType::Index,
        }
    }

    /// Stored mantissa bits.
    pub(super) fn mant(self) -> i64 {
        match self {
            Ft::F32 => 23,
            Ft::F64 => 52,
        }
    }

    /// Exponent bias.
    pub(super) fn bias(self) -> i64 {
        match self {
            Ft::F32 => 127,
            Ft::F64 => 1023,
        }
    }

    /// Picks the `f32` or `f64` variant of a constant or table.
    pub(super) fn pick<T>(self, f32_value: T, f64_value: T) -> T {
        match self {
            Ft::F32 => f32_value,
            Ft::F64 => f64_value,
        }
    }
}

/// Appends statements to a block, handing out fresh value ids.
pub(super) struct Emitter<'a> {
    next: &'a mut u32,
    pub(super) out: Vec<Stmt>,
    types: HashMap<ValueId, ScalarType>,
    consts: HashMap<(ScalarType, u64), ValueId>,
}

impl<'a> Emitter<'a> {
    /// An emitter whose ids start at `*next`; `inputs` are the existing
    /// values it may read, with their types.
    pub(super) fn new(next: &'a mut u32, inputs: &[(ValueId, ScalarType)]) -> Emitter<'a> {
        Emitter {
            next,
            out: Vec::new(),
            types: inputs.iter().copied().collect(),
            consts: HashMap::new(),
        }
    }

    /// The type of a value this emitter knows.
    pub(super) fn ty(&self, v: ValueId) -> ScalarType {
        *self
            .types
            .get(&v)
            .expect("internal error: math value of unknown type")
    }

    /// Appends `let v: ty = expr`.
    pub(super) fn let_(&mut self, ty: ScalarType, expr: Expr) -> ValueId {
        let value = ValueId(*self.next);
        *self.next += 1;
        self.out.push(Stmt::Let { value, ty, expr });
        self.types.insert(value, ty);
        value
    }

    fn constant(&mut self, c: Const, key: u64) -> ValueId {
        let ty = c.ty();
        if let Some(&v) = self.consts.get(&(ty, key)) {
            return v;
        }
        let v = self.let_(ty, Expr::Const(c));
        self.consts.insert((ty, key), v);
        v
    }

    /// A float constant of type `ft` (`x` must be exact in `f32` for `F32`).
    pub(super) fn f(&mut self, ft: Ft, x: f64) -> ValueId {
        match ft {
            Ft::F32 => {
                debug_assert!(
                    x.is_nan() || f64::from(x as f32) == x,
                    "internal error: {x} is not an f32"
                );
                self.constant(
                    Const::Scalar(Scalar::F32(x as f32)),
                    u64::from((x as f32).to_bits()),
                )
            }
            Ft::F64 => self.constant(Const::Scalar(Scalar::F64(x)), x.to_bits()),
        }
    }

    /// An integer constant of `ft`'s integer twin.
    pub(super) fn i(&mut self, ft: Ft, x: i64) -> ValueId {
        match ft {
            Ft::F32 => {
                let v = i32::try_from(x).expect("internal error: i32 math constant");
                self.constant(Const::Scalar(Scalar::I32(v)), v as u32 as u64)
            }
            Ft::F64 => self.constant(Const::Index(x), x as u64),
        }
    }

    pub(super) fn unary(&mut self, op: UnaryOp, a: ValueId) -> ValueId {
        let ty = if op == UnaryOp::IsFinite {
            ScalarType::Bool
        } else {
            self.ty(a)
        };
        self.let_(ty, Expr::Unary(op, a))
    }

    pub(super) fn binary(&mut self, op: BinaryOp, a: ValueId, b: ValueId) -> ValueId {
        use BinaryOp as B;
        let ty = match op {
            B::Eq | B::Ne | B::Lt | B::Le | B::Gt | B::Ge => ScalarType::Bool,
            B::Add
            | B::Sub
            | B::Mul
            | B::Div
            | B::Rem
            | B::Pow
            | B::Max
            | B::Min
            | B::And
            | B::Or
            | B::Xor
            | B::Shl
            | B::ShrLogical
            | B::ShrArith => self.ty(a),
        };
        self.let_(ty, Expr::Binary(op, a, b))
    }

    pub(super) fn add(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.binary(BinaryOp::Add, a, b)
    }
    pub(super) fn sub(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.binary(BinaryOp::Sub, a, b)
    }
    pub(super) fn mul(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.binary(BinaryOp::Mul, a, b)
    }
    pub(super) fn div(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.binary(BinaryOp::Div, a, b)
    }
    pub(super) fn min(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.binary(BinaryOp::Min, a, b)
    }
    pub(super) fn max(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.binary(BinaryOp::Max, a, b)
    }
    pub(super) fn and(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.binary(BinaryOp::And, a, b)
    }
    pub(super) fn or(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.binary(BinaryOp::Or, a, b)
    }
    pub(super) fn lt(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.binary(BinaryOp::Lt, a, b)
    }
    pub(super) fn gt(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.binary(BinaryOp::Gt, a, b)
    }
    pub(super) fn ge(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.binary(BinaryOp::Ge, a, b)
    }
    pub(super) fn eq(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.binary(BinaryOp::Eq, a, b)
    }
    pub(super) fn ne(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.binary(BinaryOp::Ne, a, b)
    }
    pub(super) fn shl(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.binary(BinaryOp::Shl, a, b)
    }
    pub(super) fn sra(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.binary(BinaryOp::ShrArith, a, b)
    }

    pub(super) fn neg(&mut self, a: ValueId) -> ValueId {
        self.unary(UnaryOp::Neg, a)
    }
    pub(super) fn abs(&mut self, a: ValueId) -> ValueId {
        self.unary(UnaryOp::Abs, a)
    }
    pub(super) fn floor(&mut self, a: ValueId) -> ValueId {
        self.unary(UnaryOp::Floor, a)
    }
    pub(super) fn not(&mut self, a: ValueId) -> ValueId {
        self.unary(UnaryOp::Not, a)
    }

    /// `a * b + c` with one rounding.
    pub(super) fn fma(&mut self, a: ValueId, b: ValueId, c: ValueId) -> ValueId {
        let ty = self.ty(a);
        self.let_(ty, Expr::Fma(a, b, c))
    }

    /// `cond ? a : b`.
    pub(super) fn select(&mut self, cond: ValueId, a: ValueId, b: ValueId) -> ValueId {
        let ty = self.ty(a);
        self.let_(ty, Expr::Select(cond, a, b))
    }

    pub(super) fn convert(&mut self, to: ScalarType, a: ValueId) -> ValueId {
        self.let_(to, Expr::Convert(to, a))
    }

    pub(super) fn bitcast(&mut self, to: ScalarType, a: ValueId) -> ValueId {
        self.let_(to, Expr::Bitcast(to, a))
    }

    /// An integer-valued float `k` with `|k| < 2^(mant-1)` as an integer of
    /// `ft`'s integer type, exactly; a NaN `k` gives an unspecified integer.
    ///
    /// Adding `1.5·2^mant` is exact and puts `k` in the low bits of the
    /// mantissa: two cheap operations where a saturating float-to-int
    /// conversion costs about seven vector instructions on x86.
    pub(super) fn small_float_to_int(&mut self, ft: Ft, k: ValueId) -> ValueId {
        let magic = ft.pick(12_582_912.0, 6_755_399_441_055_744.0);
        let m = self.f(ft, magic);
        let shifted = self.add(k, m);
        let bits = self.bitcast(ft.ity(), shifted);
        let mbits = ft.pick(i64::from((magic as f32).to_bits()), magic.to_bits() as i64);
        let mb = self.i(ft, mbits);
        self.sub(bits, mb)
    }

    /// `c[0] + x (c[1] + x (c[2] + ...))` by Horner's rule with FMAs.
    pub(super) fn horner(&mut self, ft: Ft, x: ValueId, c: &[f64]) -> ValueId {
        let (last, rest) = c.split_last().expect("internal error: empty polynomial");
        let mut acc = self.f(ft, *last);
        for &ci in rest.iter().rev() {
            let k = self.f(ft, ci);
            acc = self.fma(acc, x, k);
        }
        acc
    }

    /// `2^k` for an integer `k` (of `ft`'s integer type) in the normal
    /// exponent range, built from its bits.
    pub(super) fn pow2(&mut self, ft: Ft, k: ValueId) -> ValueId {
        let bias = self.i(ft, ft.bias());
        let mant = self.i(ft, ft.mant());
        let e = self.add(k, bias);
        let bits = self.shl(e, mant);
        self.bitcast(ft.ty(), bits)
    }

    /// `|a|` with the sign of `s`, by bits (so `-0` and NaN signs are kept).
    pub(super) fn copysign(&mut self, ft: Ft, a: ValueId, s: ValueId) -> ValueId {
        let sign = self.i(ft, ft.pick(i64::from(i32::MIN), i64::MIN));
        let ab = self.bitcast(ft.ity(), a);
        let sb = self.bitcast(ft.ity(), s);
        let sb = self.and(sb, sign);
        let r = self.or(ab, sb);
        self.bitcast(ft.ty(), r)
    }
}
