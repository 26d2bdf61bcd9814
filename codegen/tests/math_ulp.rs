//! Accuracy of the transcendental expansions (`rjax_codegen::math`).
//!
//! Each test builds the kernel `out[i] = op(in[i])` (or `pow(x[i], y[i])`),
//! expands it, checks that no transcendental operation is left, runs it with
//! the kernel interpreter on more than 10^6 points and measures the largest
//! error in ulps against a reference:
//!
//! - `f32`: the operation computed in `f64` (Rust's `std`, i.e. the system
//!   libm; `libm::erf`; logistic as `1 / (1 + e^-x)`, or `e^x / (1 + e^x)`
//!   below 0, in `f64`), and the error
//!   `|got - exact| / ulp(exact)` with the `f32` ulp of the exact value's
//!   binade (a correctly rounded result scores at most 0.5);
//! - `f64`: the same libraries in `f64`, so the error is relative to libm,
//!   itself within about 1 ulp.
//!
//! Special values (zeros, infinities, NaN, thresholds) must equal the
//! reference interpreter's result exactly: same bits, or both NaN.
//! Each test asserts the bound documented in `math::ULP_TABLE` and that the
//! measured maximum is the documented one (rounded up to two decimals).
//!
//! The point sets are deterministic: log-spaced magnitudes of both signs
//! over the domain, uniform points over the interesting range, and every
//! float in small windows around zero, the range-reduction boundaries,
//! branch points and overflow/underflow thresholds.

use rjax_codegen::kernel::*;
use rjax_codegen::kernel_interp::run_kernel;
use rjax_codegen::math::{expand, ULP_TABLE};
use rjax_ir::interp::eval_primitive;
use rjax_ir::{DType, Data, HostBuffer, Primitive};

// ---- kernels -------------------------------------------------------------------

/// `out[i] = op(ins[0][i], ins[1][i])` expanded, run on `ins`.
fn run_expanded(
    dtype: DType,
    arity: usize,
    op: impl Fn(Vec<ValueId>) -> Expr,
    ins: Vec<Data>,
) -> Data {
    let n = ins[0].len();
    let ty = ScalarType::of(dtype);
    let mut b = KernelBuilder::new();
    let lp = b.lp();
    let mut body = Vec::new();
    let idx = Index {
        offset: 0,
        terms: vec![(lp, 1)],
        dynamic: None,
    };
    let args: Vec<ValueId> = (0..arity)
        .map(|k| {
            b.let_(
                &mut body,
                ty,
                Expr::Load {
                    buf: BufId(k as u32),
                    index: idx.clone(),
                },
            )
        })
        .collect();
    let r = b.let_(&mut body, ty, op(args));
    body.push(Stmt::Store {
        buf: BufId(arity as u32),
        index: idx,
        value: r,
    });
    let mut buffers: Vec<BufferDecl> = (0..arity)
        .map(|_| BufferDecl {
            dtype,
            len: n,
            kind: BufferKind::Input,
        })
        .collect();
    buffers.push(BufferDecl {
        dtype,
        len: n,
        kind: BufferKind::Output,
    });
    let kernel = Kernel {
        name: "ulp".into(),
        buffers,
        body: vec![Stmt::Loop {
            id: lp,
            extent: n,
            parallel: true,
            body,
        }],
    };
    let expanded = expand(&kernel);
    assert_no_transcendentals(&expanded.body);
    let mut bufs = ins;
    bufs.push(Data::filled(rjax_ir::Scalar::zero(dtype), n));
    run_kernel(&expanded, &mut bufs).unwrap_or_else(|e| panic!("{e}"));
    bufs.pop().expect("output")
}

fn assert_no_transcendentals(block: &[Stmt]) {
    for s in block {
        match s {
            Stmt::Loop { body, .. } => assert_no_transcendentals(body),
            Stmt::Let { expr, .. } => match expr {
                Expr::Unary(op, _) => {
                    assert!(!op.is_transcendental(), "{op:?} left after expansion")
                }
                Expr::Binary(op, _, _) => assert!(*op != BinaryOp::Pow, "pow left after expansion"),
                Expr::Const(_)
                | Expr::LoopVar(_)
                | Expr::Load { .. }
                | Expr::Fma(..)
                | Expr::Select(..)
                | Expr::Convert(..)
                | Expr::Bitcast(..)
                | Expr::AccRead(_) => {}
            },
            Stmt::Store { .. } | Stmt::AccInit { .. } | Stmt::AccSet { .. } => {}
        }
    }
}

// ---- point sets ------------------------------------------------------------------

/// A deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.unit()
    }
}

/// Floats of one type, stepped by their bits.
trait Float: Copy + PartialOrd {
    fn from_f64(x: f64) -> Self;
    /// The float `k` steps above `self` in the total order of finite values.
    fn step(self, k: i64) -> Self;
}

impl Float for f32 {
    fn from_f64(x: f64) -> f32 {
        x as f32
    }
    fn step(self, k: i64) -> f32 {
        let b = self.to_bits() as i32;
        let ord = if b < 0 { i32::MIN.wrapping_sub(b) } else { b } as i64 + k;
        let ord = ord.clamp(i32::MIN as i64 + 1, i32::MAX as i64) as i32;
        f32::from_bits(if ord < 0 {
            i32::MIN.wrapping_sub(ord)
        } else {
            ord
        } as u32)
    }
}

impl Float for f64 {
    fn from_f64(x: f64) -> f64 {
        x
    }
    fn step(self, k: i64) -> f64 {
        let b = self.to_bits() as i64;
        let ord = if b < 0 { i64::MIN.wrapping_sub(b) } else { b }.saturating_add(k);
        f64::from_bits(if ord < 0 {
            i64::MIN.wrapping_sub(ord)
        } else {
            ord
        } as u64)
    }
}

/// How to sample one operation's domain.
struct Domain {
    /// log2 of the smallest and largest magnitudes of the log-spaced points.
    log2: (f64, f64),
    /// Whether negative magnitudes are sampled too.
    both_signs: bool,
    /// A range sampled uniformly.
    linear: (f64, f64),
    /// Centers of windows of consecutive floats.
    windows: Vec<f64>,
    /// Floats per window.
    window: i64,
}

fn points<T: Float>(d: &Domain, seed: u64) -> Vec<T> {
    let mut rng = Rng(seed);
    let mut v: Vec<T> = Vec::with_capacity(1_100_000);
    let n_log = 600_000;
    for i in 0..n_log {
        let e = d.log2.0 + (d.log2.1 - d.log2.0) * (i as f64 + rng.unit()) / n_log as f64;
        let m = e.exp2();
        let s = if d.both_signs && i % 2 == 1 {
            -1.0
        } else {
            1.0
        };
        v.push(T::from_f64(s * m));
    }
    for _ in 0..300_000 {
        v.push(T::from_f64(rng.range(d.linear.0, d.linear.1)));
    }
    let per = d.window.max(1);
    for &c in &d.windows {
        let c = T::from_f64(c);
        for k in -per / 2..per / 2 {
            v.push(c.step(k));
        }
    }
    // Every float next to zero.
    let zero = T::from_f64(0.0);
    for k in -20_000..20_000 {
        v.push(zero.step(k));
    }
    v
}

// ---- error measurement -------------------------------------------------------------

/// Error of `got` in ulps of the exact value `want` (`f32` binades).
fn ulp_err_f32(got: f32, want: f64) -> f64 {
    if want.is_nan() || got.is_nan() {
        return if want.is_nan() && got.is_nan() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    let rounded = want as f32;
    if rounded.is_infinite() || got.is_infinite() {
        return if got == rounded { 0.0 } else { f64::INFINITY };
    }
    let a = want.abs();
    let ulp = if a < f64::from(f32::MIN_POSITIVE) {
        2f64.powi(-149)
    } else {
        2f64.powi(a.log2().floor() as i32 - 23)
    };
    (f64::from(got) - want).abs() / ulp
}

/// Error of `got` in ulps of `want`, both `f64`.
fn ulp_err_f64(got: f64, want: f64) -> f64 {
    if want.is_nan() || got.is_nan() {
        return if want.is_nan() && got.is_nan() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    if want.is_infinite() || got.is_infinite() {
        return if got == want { 0.0 } else { f64::INFINITY };
    }
    // The spacing of f64 values in want's binade, built from bits (2^e for
    // e < -1022 is subnormal).
    let e = ((want.to_bits() >> 52) & 0x7ff) as i64 - 1023 - 52;
    let ulp = if e >= -1022 {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (e + 1074).max(0))
    };
    (got - want).abs() / ulp
}

/// The largest error and where it occurs.
fn worst(errs: impl Iterator<Item = (f64, String)>) -> (f64, String) {
    errs.fold(
        (0.0, String::new()),
        |acc, e| if e.0 > acc.0 { e } else { acc },
    )
}

/// Checks the measured maximum against `ULP_TABLE`.
fn check_bound(op: &str, dtype: DType, measured: f64, at: &str, n: usize) {
    let row = ULP_TABLE
        .iter()
        .find(|r| r.op == op && r.dtype == dtype)
        .unwrap_or_else(|| {
            panic!(
                "no ULP_TABLE row for {op} {dtype}: measured {measured:.3} at {at} over {n} points"
            )
        });
    eprintln!(
        "{op} {dtype}: max {measured:.4} ulp at {at} over {n} points (documented {}, bound {})",
        row.measured, row.bound
    );
    assert!(n >= 1_000_000, "{op} {dtype}: only {n} points");
    assert!(
        measured <= row.bound,
        "{op} {dtype}: {measured} ulp at {at} exceeds the bound {}",
        row.bound
    );
    // The documented maximum is the measurement rounded up to two decimals
    // (whole ulps for f64, measured against libm).
    let current = measured <= row.measured && row.measured - measured < 0.02;
    assert!(
        current,
        "{op} {dtype}: measured {measured} at {at}, documented {}",
        row.measured
    );
}

/// Special inputs must give exactly the reference interpreter's results.
fn check_specials(prim: &Primitive, op: UnaryOp, dtype: DType, xs: &[f64]) {
    let data = match dtype {
        DType::F32 => Data::F32(xs.iter().map(|&x| x as f32).collect()),
        _ => Data::F64(xs.to_vec()),
    };
    let input = HostBuffer::new(data.clone(), &[xs.len()]).expect("specials");
    let want = eval_primitive(prim, &[&input])
        .expect("reference")
        .remove(0)
        .into_data();
    let got = run_expanded(dtype, 1, |a| Expr::Unary(op, a[0]), vec![data]);
    for (i, &x) in xs.iter().enumerate() {
        let (g, w) = (got.get(i).to_f64(), want.get(i).to_f64());
        let same =
            (g.is_nan() && w.is_nan()) || (g == w && g.is_sign_negative() == w.is_sign_negative());
        assert!(same, "{op:?} {dtype} at {x:e}: got {g:e}, reference {w:e}");
    }
}

// ---- unary operations ----------------------------------------------------------------

fn reference(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Exp => x.exp(),
        UnaryOp::Expm1 => x.exp_m1(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Log1p => x.ln_1p(),
        UnaryOp::Sin => x.sin(),
        UnaryOp::Cos => x.cos(),
        UnaryOp::Tanh => x.tanh(),
        // e^x / (1 + e^x) below 0, where e^-x would overflow.
        UnaryOp::Logistic if x < 0.0 => x.exp() / (1.0 + x.exp()),
        UnaryOp::Logistic => 1.0 / (1.0 + (-x).exp()),
        UnaryOp::Erf => libm::erf(x),
        other => panic!("no reference for {other:?}"),
    }
}

fn measure_unary(op: UnaryOp, name: &str, dtype: DType, d: &Domain, specials: &[f64]) {
    let prim = match op {
        UnaryOp::Exp => Primitive::Exp,
        UnaryOp::Expm1 => Primitive::Expm1,
        UnaryOp::Log => Primitive::Log,
        UnaryOp::Log1p => Primitive::Log1p,
        UnaryOp::Sin => Primitive::Sin,
        UnaryOp::Cos => Primitive::Cos,
        UnaryOp::Tanh => Primitive::Tanh,
        UnaryOp::Logistic => Primitive::Logistic,
        UnaryOp::Erf => Primitive::Erf,
        other => panic!("not a measured op: {other:?}"),
    };
    check_specials(&prim, op, dtype, specials);
    let seed = name
        .bytes()
        .fold(17u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let (err, at, n) = match dtype {
        DType::F32 => {
            let xs: Vec<f32> = points(d, seed);
            let got = run_expanded(
                dtype,
                1,
                |a| Expr::Unary(op, a[0]),
                vec![Data::F32(xs.clone())],
            );
            let Data::F32(got) = got else { unreachable!() };
            let (e, at) = worst(xs.iter().zip(&got).map(|(&x, &g)| {
                (
                    ulp_err_f32(g, reference(op, f64::from(x))),
                    format!("{x:e} (got {g:e})"),
                )
            }));
            (e, at, xs.len())
        }
        _ => {
            let xs: Vec<f64> = points(d, seed);
            let got = run_expanded(
                dtype,
                1,
                |a| Expr::Unary(op, a[0]),
                vec![Data::F64(xs.clone())],
            );
            let Data::F64(got) = got else { unreachable!() };
            let (e, at) = worst(xs.iter().zip(&got).map(|(&x, &g)| {
                (
                    ulp_err_f64(g, reference(op, x)),
                    format!("{x:e} (got {g:e})"),
                )
            }));
            (e, at, xs.len())
        }
    };
    check_bound(name, dtype, err, &at, n);
}

const INF: f64 = f64::INFINITY;
const NAN: f64 = f64::NAN;

fn sub32() -> f64 {
    f64::from(f32::from_bits(1))
}

/// Windows around `(j + 1/2) ln 2` (exp's rounding boundaries) for every `j` in range.
fn ln2_boundaries(lo: i32, hi: i32) -> Vec<f64> {
    (lo..hi)
        .map(|j| (f64::from(j) + 0.5) * std::f64::consts::LN_2)
        .collect()
}

fn exp_domain(dtype: DType) -> Domain {
    let (top, lo, hi, thresholds) = match dtype {
        DType::F32 => (
            7.0,
            -150,
            128,
            vec![88.722_839, -103.972_08, -87.336_55, -17.33, 9.01],
        ),
        _ => (
            10.0,
            -1080,
            1025,
            vec![
                709.782_712_893_384,
                -745.133_219_101_941_1,
                -708.396_418_532_264_1,
                -38.1,
                19.06,
            ],
        ),
    };
    let mut windows = ln2_boundaries(lo, hi);
    windows.extend(thresholds);
    let lin = match dtype {
        DType::F32 => (-110.0, 95.0),
        _ => (-750.0, 715.0),
    };
    Domain {
        log2: (-150.0, top),
        both_signs: true,
        linear: lin,
        windows,
        window: 400,
    }
}

fn exp_specials(dtype: DType) -> Vec<f64> {
    let (max, over, under) = match dtype {
        DType::F32 => (f64::from(f32::MAX), 89.0, -104.0),
        _ => (f64::MAX, 710.0, -746.0),
    };
    vec![
        0.0,
        -0.0,
        INF,
        -INF,
        NAN,
        max,
        -max,
        over,
        under,
        sub32(),
        -sub32(),
    ]
}

#[test]
fn exp_f32() {
    measure_unary(
        UnaryOp::Exp,
        "exp",
        DType::F32,
        &exp_domain(DType::F32),
        &exp_specials(DType::F32),
    );
}

#[test]
fn exp_f64() {
    measure_unary(
        UnaryOp::Exp,
        "exp",
        DType::F64,
        &exp_domain(DType::F64),
        &exp_specials(DType::F64),
    );
}

#[test]
fn expm1_f32() {
    measure_unary(
        UnaryOp::Expm1,
        "expm1",
        DType::F32,
        &exp_domain(DType::F32),
        &exp_specials(DType::F32),
    );
}

#[test]
fn expm1_f64() {
    measure_unary(
        UnaryOp::Expm1,
        "expm1",
        DType::F64,
        &exp_domain(DType::F64),
        &exp_specials(DType::F64),
    );
}

fn log_domain(dtype: DType, log1p: bool) -> Domain {
    let top = if dtype == DType::F32 { 128.0 } else { 1024.0 };
    let bottom = if dtype == DType::F32 { -149.0 } else { -1074.0 };
    // Around 1 (and 0 for log1p), the √2 boundaries of the reduction, the
    // smallest normal, and 1 + x near -1 for log1p.
    let mut windows = vec![
        1.0,
        2.0,
        0.5,
        std::f64::consts::SQRT_2,
        std::f64::consts::FRAC_1_SQRT_2,
    ];
    windows.extend((-20..20).map(|k| std::f64::consts::SQRT_2 * 2f64.powi(k)));
    if log1p {
        windows = windows.iter().map(|w| w - 1.0).collect();
        windows.extend([
            -0.5,
            -1.0 + 1e-3,
            1e-4,
            -1e-4,
            std::f64::consts::SQRT_2 - 1.0,
        ]);
    } else {
        windows.push(if dtype == DType::F32 {
            f64::from(f32::MIN_POSITIVE)
        } else {
            f64::MIN_POSITIVE
        });
    }
    let linear = if log1p { (-1.0, 3.0) } else { (0.0, 4.0) };
    Domain {
        log2: (bottom, top),
        both_signs: log1p,
        linear,
        windows,
        window: 20_000,
    }
}

#[test]
fn log_f32() {
    let specials = [0.0, -0.0, 1.0, -1.0, INF, -INF, NAN, sub32()];
    measure_unary(
        UnaryOp::Log,
        "log",
        DType::F32,
        &log_domain(DType::F32, false),
        &specials,
    );
}

#[test]
fn log_f64() {
    let specials = [0.0, -0.0, 1.0, -1.0, INF, -INF, NAN, 5e-324];
    measure_unary(
        UnaryOp::Log,
        "log",
        DType::F64,
        &log_domain(DType::F64, false),
        &specials,
    );
}

#[test]
fn log1p_f32() {
    let specials = [
        0.0,
        -0.0,
        -1.0,
        -2.0,
        INF,
        -INF,
        NAN,
        sub32(),
        -sub32(),
        f64::from(f32::MAX),
    ];
    measure_unary(
        UnaryOp::Log1p,
        "log1p",
        DType::F32,
        &log_domain(DType::F32, true),
        &specials,
    );
}

#[test]
fn log1p_f64() {
    let specials = [
        0.0,
        -0.0,
        -1.0,
        -2.0,
        INF,
        -INF,
        NAN,
        5e-324,
        -5e-324,
        f64::MAX,
    ];
    measure_unary(
        UnaryOp::Log1p,
        "log1p",
        DType::F64,
        &log_domain(DType::F64, true),
        &specials,
    );
}

fn trig_domain(dtype: DType) -> Domain {
    let top: f64 = if dtype == DType::F32 { 1e4 } else { 1e6 };
    let bottom = if dtype == DType::F32 { -149.0 } else { -1074.0 };
    // Windows at multiples of π/4 (quadrant and reduction boundaries) spread
    // over the range.
    let quarter = std::f64::consts::FRAC_PI_4;
    let count = 400;
    let windows: Vec<f64> = (0..count)
        .map(|i| {
            let k = (top / quarter * (i as f64 / count as f64).powi(3)).round();
            if i % 2 == 0 {
                k * quarter
            } else {
                -k * quarter
            }
        })
        .collect();
    Domain {
        log2: (bottom, top.log2()),
        both_signs: true,
        linear: (-top, top),
        windows,
        window: 1000,
    }
}

#[test]
fn sin_f32() {
    let specials = [0.0, -0.0, INF, -INF, NAN, sub32(), -sub32()];
    measure_unary(
        UnaryOp::Sin,
        "sin",
        DType::F32,
        &trig_domain(DType::F32),
        &specials,
    );
}

#[test]
fn sin_f64() {
    let specials = [0.0, -0.0, INF, -INF, NAN, 5e-324, -5e-324];
    measure_unary(
        UnaryOp::Sin,
        "sin",
        DType::F64,
        &trig_domain(DType::F64),
        &specials,
    );
}

#[test]
fn cos_f32() {
    let specials = [0.0, -0.0, INF, -INF, NAN, sub32(), -sub32()];
    measure_unary(
        UnaryOp::Cos,
        "cos",
        DType::F32,
        &trig_domain(DType::F32),
        &specials,
    );
}

#[test]
fn cos_f64() {
    let specials = [0.0, -0.0, INF, -INF, NAN, 5e-324, -5e-324];
    measure_unary(
        UnaryOp::Cos,
        "cos",
        DType::F64,
        &trig_domain(DType::F64),
        &specials,
    );
}

fn saturating_domain(dtype: DType, top: f64, windows: Vec<f64>) -> Domain {
    let bottom = if dtype == DType::F32 { -149.0 } else { -1074.0 };
    let lin = top.exp2().min(40.0);
    Domain {
        log2: (bottom, top),
        both_signs: true,
        linear: (-lin, lin),
        windows,
        window: 20_000,
    }
}

#[test]
fn tanh_f32() {
    let specials = [0.0, -0.0, INF, -INF, NAN, sub32(), -sub32(), 3e38, -3e38];
    let d = saturating_domain(DType::F32, 5.0, vec![0.5, -0.5, 9.0, -9.0, 0.3466, 0.0625]);
    measure_unary(UnaryOp::Tanh, "tanh", DType::F32, &d, &specials);
}

#[test]
fn tanh_f64() {
    let specials = [0.0, -0.0, INF, -INF, NAN, 5e-324, -5e-324, 1e308, -1e308];
    let d = saturating_domain(
        DType::F64,
        6.0,
        vec![0.5, -0.5, 19.0, -19.0, 0.3466, 0.0625],
    );
    measure_unary(UnaryOp::Tanh, "tanh", DType::F64, &d, &specials);
}

#[test]
fn logistic_f32() {
    let specials = [0.0, -0.0, INF, -INF, NAN, 3e38, -3e38];
    let d = saturating_domain(DType::F32, 7.0, vec![0.0, -87.0, -103.9, 17.0, -17.0]);
    measure_unary(UnaryOp::Logistic, "logistic", DType::F32, &d, &specials);
}

#[test]
fn logistic_f64() {
    let specials = [0.0, -0.0, INF, -INF, NAN, 1e308, -1e308];
    let d = saturating_domain(DType::F64, 10.0, vec![0.0, -708.0, -745.0, 37.0, -37.0]);
    measure_unary(UnaryOp::Logistic, "logistic", DType::F64, &d, &specials);
}

#[test]
fn erf_f32() {
    let specials = [0.0, -0.0, INF, -INF, NAN, 3e38, -3e38];
    let d = saturating_domain(DType::F32, 3.0, vec![1.0, -1.0, 3.92, 4.0, -4.0, 0.5]);
    measure_unary(UnaryOp::Erf, "erf", DType::F32, &d, &specials);
}

#[test]
fn erf_f64() {
    let specials = [0.0, -0.0, INF, -INF, NAN, 1e308, -1e308];
    let d = saturating_domain(
        DType::F64,
        3.0,
        vec![1.0, -1.0, 1.6, 2.3, 3.2, 4.3, -4.3, 5.92, 6.0, 0.5],
    );
    measure_unary(UnaryOp::Erf, "erf", DType::F64, &d, &specials);
}

// ---- pow --------------------------------------------------------------------------

/// `(x, y)` pairs: positive `x` log-spaced over the whole range with `y`
/// spread so that `x^y` covers the whole result range (overflow and
/// underflow thresholds included), negative `x` with integer `y`, `x` near
/// 1 with large `y`, small integer and half-integer `y`.
fn pow_points(dtype: DType) -> (Vec<f64>, Vec<f64>) {
    let (emin, emax, rmax) = match dtype {
        DType::F32 => (-149.0, 128.0, 152.0),
        _ => (-1074.0, 1024.0, 1080.0),
    };
    let round = |v: f64| {
        if dtype == DType::F32 {
            f64::from(v as f32)
        } else {
            v
        }
    };
    let mut rng = Rng(99);
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for _ in 0..600_000 {
        let x = round(rng.range(emin, emax).exp2());
        let l = x.log2();
        let y = if l.abs() < 1e-30 {
            rng.range(-1e6, 1e6)
        } else {
            rng.range(-rmax, rmax) / l
        };
        xs.push(x);
        ys.push(round(y));
    }
    for _ in 0..200_000 {
        let x = round(-rng.range(-20.0, 20.0).exp2());
        let l = x.abs().log2().abs().max(1e-3);
        let y = (rng.range(-rmax, rmax) / l).round();
        xs.push(x);
        ys.push(round(y));
    }
    for _ in 0..150_000 {
        let x = round(1.0 + rng.range(-1e-3, 1e-3));
        xs.push(x);
        ys.push(round(rng.range(-1e5, 1e5)));
    }
    for i in 0..150_000 {
        let x = round(rng.range(-40.0, 40.0).exp2() * if i % 3 == 0 { -1.0 } else { 1.0 });
        xs.push(x);
        ys.push([2.0, 3.0, -1.0, -2.0, 0.5, -0.5, 1.5, 10.0][i % 8]);
    }
    (xs, ys)
}

fn run_pow(dtype: DType, xs: &[f64], ys: &[f64]) -> Vec<f64> {
    let pack = |v: &[f64]| match dtype {
        DType::F32 => Data::F32(v.iter().map(|&x| x as f32).collect()),
        _ => Data::F64(v.to_vec()),
    };
    let got = run_expanded(
        dtype,
        2,
        |a| Expr::Binary(BinaryOp::Pow, a[0], a[1]),
        vec![pack(xs), pack(ys)],
    );
    got.to_f64_vec()
}

fn measure_pow(dtype: DType) {
    // Special pairs against the reference interpreter, exactly.
    let sv = [
        0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, 2.5, INF, -INF, NAN, 1e30, -1e30,
    ];
    let (sx, sy): (Vec<f64>, Vec<f64>) = sv
        .iter()
        .flat_map(|&x| sv.iter().map(move |&y| (x, y)))
        .unzip();
    let got = run_pow(dtype, &sx, &sy);
    let pack = |v: &[f64]| match dtype {
        DType::F32 => HostBuffer::from_vec(v.iter().map(|&x| x as f32).collect(), &[v.len()]),
        _ => HostBuffer::from_vec(v.to_vec(), &[v.len()]),
    };
    let (hx, hy) = (pack(&sx).expect("x"), pack(&sy).expect("y"));
    let want = eval_primitive(&Primitive::Pow, &[&hx, &hy])
        .expect("pow")
        .remove(0)
        .into_data()
        .to_f64_vec();
    for i in 0..sx.len() {
        let (x, y, g, w) = (sx[i], sy[i], got[i], want[i]);
        // Results other than 0, ±1, ±∞, NaN and exact powers of two are
        // measured in ulps below.
        let power_of_two = x != 0.0 && x.abs().log2().fract() == 0.0 && y.fract() == 0.0;
        let exact = !w.is_finite() || w == 0.0 || w.abs() == 1.0 || power_of_two;
        if !exact {
            continue;
        }
        let same =
            (g.is_nan() && w.is_nan()) || (g == w && g.is_sign_negative() == w.is_sign_negative());
        assert!(
            same,
            "pow {dtype} ({x:e}, {y:e}): got {g:e}, reference {w:e}"
        );
    }
    let (xs, ys) = pow_points(dtype);
    let got = run_pow(dtype, &xs, &ys);
    let errs = (0..xs.len()).map(|i| {
        let (x, y, g) = (xs[i], ys[i], got[i]);
        let e = match dtype {
            DType::F32 => ulp_err_f32(g as f32, x.powf(y)),
            _ => ulp_err_f64(g, x.powf(y)),
        };
        (e, format!("({x:e}, {y:e}) (got {g:e})"))
    });
    let (e, at) = worst(errs);
    check_bound("pow", dtype, e, &at, xs.len());
}

#[test]
fn pow_f32() {
    measure_pow(DType::F32);
}

#[test]
fn pow_f64() {
    measure_pow(DType::F64);
}
