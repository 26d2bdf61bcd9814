//! Innermost loops in AVX-512 machine code (16 lanes of 32 bits), for
//! CPUs that have it.
//!
//! # Why this exists beside Cranelift
//!
//! Cranelift 0.135 lowers 128-bit vectors only (TECH-NOTES §1a), so the
//! `simd` module runs four `f32` lanes per instruction. Compute-bound
//! kernels (the expanded `exp`/`tanh`/`log` polynomials of a fused chain,
//! softmax rows) then run at a quarter of what an AVX-512 core can do. This
//! module emits the vectorised innermost loop itself, with `iced-x86` as
//! the encoder, and the Cranelift kernel calls it: Cranelift keeps the loop
//! nest, thread split, invariant code and addresses; only the loop body
//! over contiguous 32-bit lanes moves here. It is a departure from DESIGN
//! §7 (one code generator) taken for speed; the kernel IR, its interpreter
//! and the 128-bit path stay the definition and the fallback.
//!
//! # Contract
//!
//! A [`WideLoop`] is a straight-line body of [`Op`]s over 16-lane vectors
//! of 32-bit lanes (`F32`, `I32`, `U32`; a `Bool` lane is all ones for
//! true, all zeros for false), run for `i in 0..count`, 16 iterations per
//! pass, the last pass masked (masked loads read zeros and do not fault;
//! masked stores write nothing; reductions ignore masked lanes). Every op
//! computes, lane by lane, exactly what `kernel_interp` computes for the
//! scalar op (NaN payloads aside), so results are bit-identical to the
//! interpreter, except float `Add`/`Mul` reductions, which are reassociated
//! (as in `simd`).
//!
//! The generated function is `extern "sysv64" fn(args: *mut u64)`; `args`
//! is the *argument block* of 8-byte slots laid out by [`WideCode`]:
//!
//! | slots | content | written by |
//! | --- | --- | --- |
//! | `0` | `count` (i64, ≥ 0) | caller |
//! | `1 ..= ptrs` | base pointers: pointer `p` is slot `1 + p`; element `i` is at `base + 4 i` | caller |
//! | next `scalars` | invariant scalars: scalar `s` is slot `1 + ptrs + s`, its low 4 bytes (a bool is `0` or `0xFFFF_FFFF`) | caller |
//! | [`WideCode::consts`] | constants the lowering needs | caller, values given by `consts` |
//! | [`WideCode::acc_slots`] | per accumulator, 8 slots = 16 lanes, the partial results | callee |
//!
//! [`emit`] returns `None` for a loop it does not lower (an op or type
//! outside its table, more live values than registers); the caller then
//! keeps the 128-bit path.

use crate::kernel::{BinaryOp, ScalarType, UnaryOp};
pub(crate) use crate::lower::ReduceOp;

mod emit;
mod lower;
mod regalloc;
#[cfg(test)]
mod tests;

pub(crate) use emit::emit;

/// A vector value of the body (SSA: defined by exactly one op, before its
/// uses).
pub(crate) type Vreg = u32;

/// An operand: a vector value or an invariant scalar broadcast to all lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Operand {
    /// A vector value defined earlier in the body.
    Value(Vreg),
    /// Invariant scalar `s` (argument slot `1 + ptrs + s`).
    Scalar(u32),
}

/// One operation of the body. `ty` is the type of the operands (for
/// comparisons the result is `Bool`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Op {
    /// `dst = ptr[i]` (32-bit elements).
    Load {
        /// The value defined.
        dst: Vreg,
        /// Pointer index.
        ptr: u32,
    },
    /// `ptr[i] = src`.
    Store {
        /// Pointer index.
        ptr: u32,
        /// What is stored (32-bit lanes).
        src: Operand,
    },
    /// `dst = op x` (semantics of `kernel_interp` for `ty`).
    Unary {
        /// The value defined.
        dst: Vreg,
        /// The operation (never a transcendental one).
        op: UnaryOp,
        /// Operand type.
        ty: ScalarType,
        /// Operand.
        x: Operand,
    },
    /// `dst = x op y`. For shifts `y` is always a `Scalar` whose value the
    /// caller has already reduced modulo 32.
    Binary {
        /// The value defined.
        dst: Vreg,
        /// The operation (never `Rem` or `Pow`; `Div` only for `F32`).
        op: BinaryOp,
        /// Operand type.
        ty: ScalarType,
        /// Left operand.
        x: Operand,
        /// Right operand.
        y: Operand,
    },
    /// `dst = a * b + c` (one rounding for `F32`; wrapping for integers).
    Fma {
        /// The value defined.
        dst: Vreg,
        /// Operand type.
        ty: ScalarType,
        /// Factor.
        a: Operand,
        /// Factor.
        b: Operand,
        /// Addend.
        c: Operand,
    },
    /// `dst = cond ? on_true : on_false` (`cond` is a `Bool` lane mask).
    Select {
        /// The value defined.
        dst: Vreg,
        /// The condition.
        cond: Operand,
        /// Chosen where `cond` is true.
        on_true: Operand,
        /// Chosen elsewhere.
        on_false: Operand,
    },
    /// `dst = x as to` with `convert_element_type` semantics (float to
    /// integer truncates and saturates, NaN gives 0; to `Bool` is `x != 0`;
    /// from `Bool` is 0 or 1).
    Convert {
        /// The value defined.
        dst: Vreg,
        /// Operand type.
        from: ScalarType,
        /// Result type.
        to: ScalarType,
        /// Operand.
        x: Operand,
    },
    /// `dst = x`, bits reinterpreted (between `F32`, `I32`, `U32`).
    Bitcast {
        /// The value defined.
        dst: Vreg,
        /// Operand.
        x: Operand,
    },
    /// `acc[lane] = acc[lane] op x[lane]` for the active lanes.
    Reduce {
        /// Accumulator index (into [`WideLoop::accs`]).
        acc: u32,
        /// The value folded in.
        x: Operand,
    },
}

/// A loop body to lower.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct WideLoop {
    /// Number of base pointers.
    pub ptrs: u32,
    /// Number of invariant scalars.
    pub scalars: u32,
    /// The bits of the scalars that are constants when compiling, by
    /// scalar index (missing entries and `None`: only known at run time).
    /// The emitter may rely on them (e.g. a `Max` with a constant that is
    /// not NaN is one instruction); the caller still stores every scalar.
    pub known: Vec<Option<u32>>,
    /// The accumulators: operator and lane type (identities: `-0.0` for a
    /// float sum, `1`, `-inf`/`i32::MIN`/`0`, `+inf`/`i32::MAX`/`u32::MAX`;
    /// float max/min propagate NaN and order `-0 < +0`).
    pub accs: Vec<(ReduceOp, ScalarType)>,
    /// The body, in order.
    pub ops: Vec<Op>,
}

/// A lowered loop.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct WideCode {
    /// Position-independent machine code, no relocations.
    pub bytes: Vec<u8>,
    /// Size of the argument block in 8-byte slots.
    pub slots: u32,
    /// `(slot, bits)`: the caller stores `bits` in the low 4 bytes of
    /// `slot` before every call.
    pub consts: Vec<(u32, u32)>,
    /// First of the 8 slots (16 lanes) holding each accumulator's partial
    /// results after the call.
    pub acc_slots: Vec<u32>,
}

/// Whether this CPU runs the code [`emit`] produces (AVX-512 F, DQ, BW and
/// VL, and BMI2), and `RJAX_CPU_AVX512` is not `0`.
pub(crate) fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let wanted = std::env::var("RJAX_CPU_AVX512").map_or(true, |v| v != "0");
        wanted && detected()
    })
}

/// The emitted code follows the System V calling convention, which is
/// what Cranelift calls on x86-64 outside Windows.
#[cfg(all(target_arch = "x86_64", not(windows)))]
fn detected() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("bmi2")
}

#[cfg(not(all(target_arch = "x86_64", not(windows))))]
fn detected() -> bool {
    false
}
