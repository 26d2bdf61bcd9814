//! Helpers for the CPU backend's differential tests: kernel construction,
//! deterministic test data with special values, and comparisons.

use rjax_codegen::cpu;
use rjax_codegen::kernel::{
    BinaryOp, BufId, BufferDecl, BufferKind, Expr, Index, Kernel, KernelBuilder, LoopId,
    ScalarType, Stmt, UnaryOp, ValueId,
};
use rjax_codegen::kernel_interp;
use rjax_ir::{DType, Data};

/// The non-transcendental unary operations on floats.
pub const FLOAT_UNARY: [UnaryOp; 9] = [
    UnaryOp::Neg,
    UnaryOp::Abs,
    UnaryOp::Sign,
    UnaryOp::Sqrt,
    UnaryOp::Floor,
    UnaryOp::Ceil,
    UnaryOp::Round,
    UnaryOp::Trunc,
    UnaryOp::Rsqrt,
];

/// The comparisons (bool results).
pub const COMPARISONS: [BinaryOp; 6] = [
    BinaryOp::Eq,
    BinaryOp::Ne,
    BinaryOp::Lt,
    BinaryOp::Le,
    BinaryOp::Gt,
    BinaryOp::Ge,
];

/// The binary operations on integers, comparisons aside.
pub const INT_BINARY: [BinaryOp; 13] = [
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Rem,
    BinaryOp::Max,
    BinaryOp::Min,
    BinaryOp::And,
    BinaryOp::Or,
    BinaryOp::Xor,
    BinaryOp::Shl,
    BinaryOp::ShrLogical,
    BinaryOp::ShrArith,
];

/// Every scalar type of the kernel IR.
pub const SCALAR_TYPES: [ScalarType; 6] = [
    ScalarType::F32,
    ScalarType::F64,
    ScalarType::I32,
    ScalarType::U32,
    ScalarType::Bool,
    ScalarType::Index,
];

/// A small deterministic generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub fn ix(offset: i64, terms: &[(LoopId, i64)]) -> Index {
    Index {
        offset,
        terms: terms.to_vec(),
        dynamic: None,
    }
}

pub fn load(buf: u32, terms: &[(LoopId, i64)]) -> Expr {
    Expr::Load {
        buf: BufId(buf),
        index: ix(0, terms),
    }
}

/// Two parallel loops, `outer` around `inner`, each `(id, extent)`, with
/// `body` innermost.
pub fn nest2(outer: (LoopId, usize), inner: (LoopId, usize), body: Vec<Stmt>) -> Vec<Stmt> {
    vec![Stmt::Loop {
        id: outer.0,
        extent: outer.1,
        parallel: true,
        body: vec![Stmt::Loop {
            id: inner.0,
            extent: inner.1,
            parallel: true,
            body,
        }],
    }]
}

pub fn kernel(name: &str, bufs: &[(DType, usize, BufferKind)], body: Vec<Stmt>) -> Kernel {
    Kernel {
        name: name.into(),
        buffers: bufs
            .iter()
            .map(|&(dtype, len, kind)| BufferDecl { dtype, len, kind })
            .collect(),
        body,
    }
}

/// `for i in 0..n { out[i] = f(in_0[i], in_1[i], ..) }`, the loop parallel.
pub fn map_kernel(
    ins: &[DType],
    out: DType,
    n: usize,
    f: impl FnOnce(&mut KernelBuilder, &mut Vec<Stmt>, &[ValueId]) -> ValueId,
) -> Kernel {
    let mut kb = KernelBuilder::new();
    let i = kb.lp();
    let mut body = Vec::new();
    let xs: Vec<ValueId> = ins
        .iter()
        .enumerate()
        .map(|(k, d)| kb.let_(&mut body, ScalarType::of(*d), load(k as u32, &[(i, 1)])))
        .collect();
    let v = f(&mut kb, &mut body, &xs);
    body.push(Stmt::Store {
        buf: BufId(ins.len() as u32),
        index: ix(0, &[(i, 1)]),
        value: v,
    });
    let mut decls: Vec<(DType, usize, BufferKind)> =
        ins.iter().map(|d| (*d, n, BufferKind::Input)).collect();
    decls.push((out, n, BufferKind::Output));
    kernel(
        "map",
        &decls,
        vec![Stmt::Loop {
            id: i,
            extent: n,
            parallel: true,
            body,
        }],
    )
}

const F_SPECIAL: [f64; 21] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    -0.5,
    1.5,
    -2.5,
    2.5,
    0.499_999_970_198_059_1,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    1e30,
    -1e30,
    1e-40,
    8_388_609.0,
    -3.7,
    4_294_967_296.0,
    -2_147_483_904.0,
    3e9,
];
const I_SPECIAL: [i32; 12] = [i32::MIN, -1, 0, 1, i32::MAX, 7, -7, 31, 32, 33, 100, -100];
const U_SPECIAL: [u32; 9] = [0, 1, u32::MAX, 0x8000_0000, 31, 32, 33, 7, 100];

/// Test data for buffer `k` of `len` elements: every third element a
/// special value (consecutive buffers get consecutive specials at the same
/// positions, so pairs like (MIN, -1) and (x, 0) occur), the rest random.
pub fn data(dtype: DType, len: usize, k: usize, rng: &mut Rng) -> Data {
    let special = |i: usize, n: usize| i.is_multiple_of(3).then_some((i / 3 + k) % n);
    match dtype {
        DType::F32 => Data::F32(
            (0..len)
                .map(|i| match special(i, F_SPECIAL.len()) {
                    Some(s) => F_SPECIAL[s] as f32,
                    None => ((rng.unit() - 0.5) * 20.0) as f32,
                })
                .collect(),
        ),
        DType::F64 => Data::F64(
            (0..len)
                .map(|i| match special(i, F_SPECIAL.len()) {
                    Some(s) => F_SPECIAL[s],
                    None => (rng.unit() - 0.5) * 20.0,
                })
                .collect(),
        ),
        DType::I32 => Data::I32(
            (0..len)
                .map(|i| match special(i, I_SPECIAL.len()) {
                    Some(s) => I_SPECIAL[s],
                    None if i % 3 == 1 => rng.next() as i32,
                    None => (rng.next() % 2001) as i32 - 1000,
                })
                .collect(),
        ),
        DType::U32 => Data::U32(
            (0..len)
                .map(|i| match special(i, U_SPECIAL.len()) {
                    Some(s) => U_SPECIAL[s],
                    None if i % 3 == 1 => rng.next() as u32,
                    None => (rng.next() % 1000) as u32,
                })
                .collect(),
        ),
        DType::Bool => Data::Bool((0..len).map(|_| rng.next() & 1 == 1).collect()),
    }
}

/// Buffers for every parameter of `k`, with [`data`].
pub fn buffers_for(k: &Kernel, seed: u64) -> Vec<Data> {
    let mut rng = Rng::new(seed);
    k.buffers
        .iter()
        .enumerate()
        .map(|(i, b)| data(b.dtype, b.len, i, &mut rng))
        .collect()
}

/// Buffers of values in `[0.5, 1.5)` (floats) or small integers: for
/// reductions compared with a tolerance, where specials would make the
/// summation order matter by more than rounding.
pub fn smooth_buffers_for(k: &Kernel, seed: u64) -> Vec<Data> {
    let mut rng = Rng::new(seed);
    k.buffers
        .iter()
        .map(|b| match b.dtype {
            DType::F32 => Data::F32((0..b.len).map(|_| (0.5 + rng.unit()) as f32).collect()),
            DType::F64 => Data::F64((0..b.len).map(|_| 0.5 + rng.unit()).collect()),
            DType::I32 => Data::I32((0..b.len).map(|_| (rng.next() % 7) as i32).collect()),
            DType::U32 => Data::U32((0..b.len).map(|_| (rng.next() % 7) as u32).collect()),
            DType::Bool => Data::Bool((0..b.len).map(|_| rng.next() & 1 == 1).collect()),
        })
        .collect()
}

/// Runs `k` through the interpreter and the backend on copies of `bufs`.
pub fn run_both(k: &Kernel, bufs: Vec<Data>) -> (Vec<Data>, Vec<Data>) {
    run_both_on(false, k, bufs)
}

/// [`run_both`], with the backend limited to its 128-bit vector loops when
/// `narrow` (on a CPU with AVX-512 the default path uses the wide loops of
/// `cpu::avx512`; both must match the interpreter).
pub fn run_both_on(narrow: bool, k: &Kernel, bufs: Vec<Data>) -> (Vec<Data>, Vec<Data>) {
    if narrow {
        return cpu::with_narrow_vectors(|| run_both_on(false, k, bufs));
    }
    let mut want = bufs.clone();
    kernel_interp::run_kernel(k, &mut want).unwrap_or_else(|e| panic!("interpreter: {e}\n{k}"));
    let mut got = bufs;
    cpu::run_kernel(k, &mut got).unwrap_or_else(|e| panic!("cpu backend: {e}\n{k}"));
    (want, got)
}

/// Element `i` of both, when they differ beyond `tol` (relative to
/// `max(1, |want|)`; 0 means bit-identical, any NaN matching any NaN).
fn mismatch(want: &Data, got: &Data, tol: f64) -> Option<(usize, String, String)> {
    assert_eq!(want.dtype(), got.dtype());
    assert_eq!(want.len(), got.len());
    let close64 = |a: f64, b: f64| {
        (a.is_nan() && b.is_nan())
            || (tol == 0.0 && a.to_bits() == b.to_bits())
            || (tol > 0.0 && (a == b || (a - b).abs() <= tol * a.abs().max(1.0)))
    };
    (0..want.len()).find_map(|i| {
        let ok = match (want, got) {
            (Data::F32(a), Data::F32(b)) => {
                (a[i].is_nan() && b[i].is_nan())
                    || if tol == 0.0 {
                        a[i].to_bits() == b[i].to_bits()
                    } else {
                        close64(a[i] as f64, b[i] as f64)
                    }
            }
            (Data::F64(a), Data::F64(b)) => close64(a[i], b[i]),
            _ => want.get(i) == got.get(i),
        };
        (!ok).then(|| (i, format!("{:?}", want.get(i)), format!("{:?}", got.get(i))))
    })
}

fn compare(k: &Kernel, want: &[Data], got: &[Data], tol: f64) {
    for (b, (w, g)) in want.iter().zip(got).enumerate() {
        if let Some((i, wv, gv)) = mismatch(w, g, tol) {
            panic!(
                "kernel {}: buffer b{b}[{i}]: interpreter {wv}, cpu backend {gv}\n{k}",
                k.name
            );
        }
    }
}

/// The backend must reproduce the interpreter bit for bit.
pub fn check_exact(k: &Kernel, seed: u64) {
    for narrow in [false, true] {
        let (want, got) = run_both_on(narrow, k, buffers_for(k, seed));
        compare(k, &want, &got, 0.0);
    }
}

/// The backend must match within `tol` (reassociated reductions), on
/// [`smooth_buffers_for`] data.
pub fn check_close(k: &Kernel, seed: u64, tol: f64) {
    for narrow in [false, true] {
        let (want, got) = run_both_on(narrow, k, smooth_buffers_for(k, seed));
        compare(k, &want, &got, tol);
    }
}

/// Data comparison for program outputs.
pub fn assert_same_data(what: &str, want: &Data, got: &Data, tol: f64) {
    if let Some((i, wv, gv)) = mismatch(want, got, tol) {
        panic!("{what}[{i}]: expected {wv}, got {gv}");
    }
}

/// A kernel computing one value per row of a `rows x cols` input: `outer`
/// (the statements of row `i`, ending with those defining `result`) runs
/// for every row in parallel, and `result` is stored to `out[i]`.
pub fn per_row_kernel(
    name: &str,
    (rows, cols): (usize, usize),
    (input, output): (DType, DType),
    i: LoopId,
    mut outer: Vec<Stmt>,
    result: ValueId,
) -> Kernel {
    outer.push(Stmt::Store {
        buf: BufId(1),
        index: ix(0, &[(i, 1)]),
        value: result,
    });
    kernel(
        name,
        &[
            (input, rows * cols, BufferKind::Input),
            (output, rows, BufferKind::Output),
        ],
        vec![Stmt::Loop {
            id: i,
            extent: rows,
            parallel: true,
            body: outer,
        }],
    )
}

/// `k` must have exactly `n` vectorised innermost loops.
pub fn assert_vectorized(k: &Kernel, n: usize) {
    let v = cpu::vectorized_loops(k).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v.len(), n, "vectorised loops {v:?} of\n{k}");
}
