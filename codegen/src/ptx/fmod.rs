//! Exact float remainder (`fmod`, the sign of the dividend) in PTX, which
//! has no float remainder instruction: long division on the integer
//! significands, as C libraries compute it, so the result is exact and
//! matches the CPU's `fmod` bit for bit.

use super::emit::{Class, Func, Reg};
use super::scalar::float_imm;
use crate::kernel::ScalarType;

/// Bit layout of a float type.
struct Layout {
    /// Register class of the bits (`B32`/`B64`).
    class: Class,
    /// Width suffix: 32 or 64.
    w: u32,
    /// Significand bits (23 or 52).
    m: u32,
    /// Exponent bits (8 or 11).
    e: u32,
}

impl Func<'_> {
    /// `fmod(a, b)` for floats of type `ty`.
    pub(super) fn fmod(&mut self, ty: ScalarType, a: &str, b: &str) -> rjax_ir::Result<Reg> {
        let l = match ty {
            ScalarType::F32 => Layout {
                class: Class::B32,
                w: 32,
                m: 23,
                e: 8,
            },
            ScalarType::F64 => Layout {
                class: Class::B64,
                w: 64,
                m: 52,
                e: 11,
            },
            ScalarType::I32 | ScalarType::U32 | ScalarType::Bool | ScalarType::Index => {
                return Err(self.error(format!("float remainder on {ty:?}")))
            }
        };
        let (w, ft) = (l.w, super::scalar::arith(ty));
        let sign: u64 = 1 << (w - 1);
        let emask = (1u64 << l.e) - 1;
        let inf = emask << l.m;
        let implicit = 1u64 << l.m;
        let mant = implicit - 1;
        let res = self.reg(Class::of(ty));
        let [end, zero, main] = [self.label(), self.label(), self.label()];
        let bits = |f: &mut Self, x: &str| {
            let r = f.reg(l.class);
            f.ins(format!("mov.b{w} {r}, {x}"));
            r
        };
        let (ux, uy) = (bits(self, a), bits(self, b));
        let sx = self.op2(&l, "and.b", &ux, &format!("0x{sign:X}"));
        let uxa = self.op2(
            &l,
            "and.b",
            &ux,
            &format!("0x{:X}", !sign & (u64::MAX >> (64 - w))),
        );
        let uya = self.op2(
            &l,
            "and.b",
            &uy,
            &format!("0x{:X}", !sign & (u64::MAX >> (64 - w))),
        );
        let ex = self.exponent(&l, &uxa);
        let ey = self.exponent(&l, &uya);
        // NaN operands, a zero divisor or an infinite dividend give NaN
        let p = [
            self.reg(Class::Pred),
            self.reg(Class::Pred),
            self.reg(Class::Pred),
        ];
        self.ins(format!("setp.eq.u{w} {}, {uya}, 0", p[0]));
        self.ins(format!("setp.gt.u{w} {}, {uya}, 0x{inf:X}", p[1]));
        self.ins(format!("setp.eq.u32 {}, {ex}, {emask}", p[2]));
        self.ins(format!("or.pred {0}, {0}, {1}", p[0], p[1]));
        self.ins(format!("or.pred {0}, {0}, {1}", p[0], p[2]));
        let ordinary = self.label();
        self.ins(format!("@!{} bra {ordinary}", p[0]));
        let t = self.reg(Class::of(ty));
        self.ins(format!("mul.rn.{ft} {t}, {a}, {b}"));
        self.ins(format!("div.rn.{ft} {res}, {t}, {t}"));
        self.ins(format!("bra {end}"));
        self.place(&zero);
        self.ins(format!("mul.rn.{ft} {res}, {a}, {}", float_imm(ty, 0.0)));
        self.ins(format!("bra {end}"));
        self.place(&ordinary);
        // |a| < |b| gives a, |a| = |b| a signed zero
        let q = self.reg(Class::Pred);
        self.ins(format!("setp.gt.u{w} {q}, {uxa}, {uya}"));
        self.ins(format!("@{q} bra {main}"));
        self.ins(format!("setp.eq.u{w} {q}, {uxa}, {uya}"));
        self.ins(format!("@{q} bra {zero}"));
        self.ins(format!("mov.{ft} {res}, {a}"));
        self.ins(format!("bra {end}"));
        self.place(&main);
        let mx = self.significand(&l, &uxa, &ex, mant, implicit);
        let my = self.significand(&l, &uya, &ey, mant, implicit);
        // shift-and-subtract, one exponent step at a time
        let (top, done) = (self.label(), self.label());
        self.place(&top);
        self.ins(format!("setp.le.s32 {q}, {ex}, {ey}"));
        self.ins(format!("@{q} bra {done}"));
        self.subtract_step(&l, &mx, &my, &zero);
        self.ins(format!("shl.b{w} {mx}, {mx}, 1"));
        self.ins(format!("sub.s32 {ex}, {ex}, 1"));
        self.ins(format!("bra {top}"));
        self.place(&done);
        self.subtract_step(&l, &mx, &my, &zero);
        // normalise and rebuild the float
        let sh = self.leading_shift(&l, &mx);
        self.ins(format!("shl.b{w} {mx}, {mx}, {sh}"));
        self.ins(format!("sub.s32 {ex}, {ex}, {sh}"));
        let (sub, fin) = (self.label(), self.label());
        self.ins(format!("setp.le.s32 {q}, {ex}, 0"));
        self.ins(format!("@{q} bra {sub}"));
        self.ins(format!("sub.s{w} {mx}, {mx}, 0x{implicit:X}"));
        let e = self.reg(l.class);
        if w == 64 {
            self.ins(format!("cvt.u64.u32 {e}, {ex}"));
        } else {
            self.ins(format!("mov.b32 {e}, {ex}"));
        }
        self.ins(format!("shl.b{w} {e}, {e}, {}", l.m));
        self.ins(format!("or.b{w} {mx}, {mx}, {e}"));
        self.ins(format!("bra {fin}"));
        self.place(&sub);
        let n = self.reg(Class::B32);
        self.ins(format!("neg.s32 {n}, {ex}"));
        self.ins(format!("add.s32 {n}, {n}, 1"));
        self.ins(format!("shr.u{w} {mx}, {mx}, {n}"));
        self.place(&fin);
        self.ins(format!("or.b{w} {mx}, {mx}, {sx}"));
        self.ins(format!("mov.b{w} {res}, {mx}"));
        self.place(&end);
        Ok(res)
    }

    /// `op{w} r, a, imm` into a fresh bits register.
    fn op2(&mut self, l: &Layout, op: &str, a: &str, imm: &str) -> Reg {
        let r = self.reg(l.class);
        self.ins(format!("{op}{} {r}, {a}, {imm}", l.w));
        r
    }

    /// The biased exponent field of `bits` (sign cleared) as a 32-bit
    /// register.
    fn exponent(&mut self, l: &Layout, bits: &str) -> Reg {
        let s = self.reg(l.class);
        self.ins(format!("shr.u{} {s}, {bits}, {}", l.w, l.m));
        let e = self.reg(Class::B32);
        if l.w == 64 {
            self.ins(format!("cvt.u32.u64 {e}, {s}"));
        } else {
            self.ins(format!("mov.b32 {e}, {s}"));
        }
        e
    }

    /// How far `x` (nonzero) must shift left to bring its leading bit to
    /// the implicit bit's position.
    fn leading_shift(&mut self, l: &Layout, x: &str) -> Reg {
        let n = self.reg(Class::B32);
        self.ins(format!("clz.b{} {n}, {x}", l.w));
        self.ins(format!("sub.s32 {n}, {n}, {}", l.e));
        n
    }

    /// The significand of `bits` with the implicit bit set (subnormals
    /// normalised, `e` adjusted), in a fresh register.
    fn significand(&mut self, l: &Layout, bits: &str, e: &str, mant: u64, implicit: u64) -> Reg {
        let w = l.w;
        let m = self.reg(l.class);
        let (normal, next) = (self.label(), self.label());
        let p = self.reg(Class::Pred);
        self.ins(format!("setp.ne.u32 {p}, {e}, 0"));
        self.ins(format!("@{p} bra {normal}"));
        let sh = self.leading_shift(l, bits);
        self.ins(format!("shl.b{w} {m}, {bits}, {sh}"));
        self.ins(format!("neg.s32 {e}, {sh}"));
        self.ins(format!("add.s32 {e}, {e}, 1"));
        self.ins(format!("bra {next}"));
        self.place(&normal);
        self.ins(format!("and.b{w} {m}, {bits}, 0x{mant:X}"));
        self.ins(format!("or.b{w} {m}, {m}, 0x{implicit:X}"));
        self.place(&next);
        m
    }

    /// `i = mx - my; if i ≥ 0 { if i == 0 goto zero; mx = i }`.
    fn subtract_step(&mut self, l: &Layout, mx: &str, my: &str, zero: &str) {
        let w = l.w;
        let i = self.reg(l.class);
        let p = self.reg(Class::Pred);
        let skip = self.label();
        self.ins(format!("sub.s{w} {i}, {mx}, {my}"));
        self.ins(format!("setp.lt.s{w} {p}, {i}, 0"));
        self.ins(format!("@{p} bra {skip}"));
        self.ins(format!("setp.eq.s{w} {p}, {i}, 0"));
        self.ins(format!("@{p} bra {zero}"));
        self.ins(format!("mov.b{w} {mx}, {i}"));
        self.place(&skip);
    }
}
