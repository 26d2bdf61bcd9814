//! Shared helpers: building jaxprs, random inputs, and the differential
//! check.

use rjax_codegen::fusion::plan;
use rjax_codegen::kernel_interp::run_program;
use rjax_codegen::program::{Program, Step};
use rjax_ir::interp::interpret_closed;
use rjax_ir::{
    AVal, Atom, ClosedJaxpr, DType, Data, HostBuffer, JaxprBuilder, Primitive, Scalar, Var,
};
use std::fmt::Write as _;

/// A deterministic xorshift generator.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `lo..=hi`.
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % ((hi - lo + 1) as u64)) as i64
    }
}

/// A random float: mostly uniform in [-3, 3], sometimes a special value.
fn float(rng: &mut Rng, specials: bool) -> f64 {
    if specials && rng.int(0, 19) == 0 {
        [0.0, -0.0, 1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY][rng.int(0, 5) as usize]
    } else {
        rng.uniform(-3.0, 3.0)
    }
}

/// Random contents for a value of `aval`; `specials` adds zeros, NaNs and
/// infinities to floats.
pub fn random(aval: &AVal, rng: &mut Rng, specials: bool) -> HostBuffer {
    let n = aval.size();
    let data = match aval.dtype {
        DType::F32 => Data::F32((0..n).map(|_| float(rng, specials) as f32).collect()),
        DType::F64 => Data::F64((0..n).map(|_| float(rng, specials)).collect()),
        DType::I32 => Data::I32((0..n).map(|_| rng.int(-9, 9) as i32).collect()),
        DType::U32 => Data::U32((0..n).map(|_| rng.int(0, 12) as u32).collect()),
        DType::Bool => Data::Bool((0..n).map(|_| rng.int(0, 1) == 1).collect()),
    };
    HostBuffer::new(data, &aval.shape).expect("random buffer")
}

/// An abstract value.
pub fn av(dtype: DType, shape: &[usize]) -> AVal {
    AVal::new(dtype, shape)
}

/// Builds a closed jaxpr with inputs of `ins` and no constants.
pub fn build(ins: &[AVal], f: impl FnOnce(&mut JaxprBuilder, &[Var]) -> Vec<Atom>) -> ClosedJaxpr {
    build_with_consts(&[], ins, |b, _, xs| f(b, xs))
}

/// Builds a closed jaxpr with constants `consts` and inputs of `ins`; `f`
/// gets the constant variables and the input variables.
pub fn build_with_consts(
    consts: &[HostBuffer],
    ins: &[AVal],
    f: impl FnOnce(&mut JaxprBuilder, &[Var], &[Var]) -> Vec<Atom>,
) -> ClosedJaxpr {
    let mut b = JaxprBuilder::new();
    let cs: Vec<Var> = consts.iter().map(|c| b.new_var(c.aval())).collect();
    let xs: Vec<Var> = ins.iter().map(|a| b.new_var(a.clone())).collect();
    let outs = f(&mut b, &cs, &xs);
    let jaxpr = b.build(cs, xs, outs).expect("test jaxpr builds");
    ClosedJaxpr::new(jaxpr, consts.to_vec())
}

/// Adds one equation with a single result.
pub fn eqn(b: &mut JaxprBuilder, prim: Primitive, ins: &[Atom]) -> Var {
    let outs = b
        .add_eqn(prim.clone(), ins.to_vec(), None)
        .unwrap_or_else(|e| panic!("{}: {e}", prim.name()));
    outs[0]
}

/// `Atom::Var`.
pub fn v(x: Var) -> Atom {
    Atom::Var(x)
}

/// An `f32` literal.
pub fn lit(x: f32) -> Atom {
    Atom::Lit(Scalar::F32(x))
}

/// Whether two buffers agree: same shape and dtype, integers and bools
/// equal, floats bit for bit (any NaN matches any NaN).
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

/// Plans `closed`, runs it on `args` with the kernel interpreter and
/// compares with the reference interpreter; returns the program.
#[track_caller]
pub fn check_with(name: &str, closed: &ClosedJaxpr, args: &[HostBuffer]) -> Program {
    let want = interpret_closed(closed, args).unwrap_or_else(|e| panic!("{name}: reference: {e}"));
    let program = plan(closed).unwrap_or_else(|e| panic!("{name}: plan: {e}\n{}", closed.jaxpr));
    let got = run_program(&program, args)
        .unwrap_or_else(|e| panic!("{name}: run: {e}\n{}\n{}", closed.jaxpr, dump(&program)));
    assert_eq!(got.len(), want.len(), "{name}: number of outputs");
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        if let Err(msg) = agree(g, w) {
            panic!(
                "{name}: output {k}: {msg}\n{}\n{}",
                closed.jaxpr,
                dump(&program)
            );
        }
    }
    program
}

/// [`check_with`] on random inputs (with special float values).
#[track_caller]
pub fn check(name: &str, closed: &ClosedJaxpr) -> Program {
    let mut rng = Rng::new(name.len() as u64 * 7919 + 17);
    let args: Vec<HostBuffer> = closed
        .jaxpr
        .in_avals()
        .iter()
        .map(|a| random(a, &mut rng, true))
        .collect();
    check_with(name, closed, &args)
}

/// The number of kernel and GEMM steps.
pub fn counts(p: &Program) -> (usize, usize) {
    let k = p
        .steps
        .iter()
        .filter(|s| matches!(s, Step::Kernel { .. }))
        .count();
    (k, p.steps.len() - k)
}

/// A readable dump of a program: buffers, steps (kernels printed) and
/// outputs.
pub fn dump(p: &Program) -> String {
    let mut s = String::new();
    for (i, b) in p.buffers.iter().enumerate() {
        let src = match &b.source {
            rjax_codegen::program::BufferSource::Argument(a) => format!("argument {a}"),
            rjax_codegen::program::BufferSource::Constant(_) => "constant".to_string(),
            rjax_codegen::program::BufferSource::Temporary => "temporary".to_string(),
        };
        let _ = writeln!(s, "buffer {i}: {} {:?} ({src})", b.dtype, b.shape);
    }
    for (i, step) in p.steps.iter().enumerate() {
        match step {
            Step::Kernel { kernel, args } => {
                let refs: Vec<u32> = args.iter().map(|r| r.0).collect();
                let _ = writeln!(s, "step {i}: kernel on buffers {refs:?}\n{kernel}");
            }
            Step::Gemm(g) => {
                let _ = writeln!(
                    s,
                    "step {i}: gemm {} batch {} m {} n {} k {}: buffer {} strides {:?} @ buffer {} strides {:?} -> buffer {}",
                    g.dtype, g.batch, g.m, g.n, g.k, g.lhs.0 .0, g.lhs.1, g.rhs.0 .0, g.rhs.1, g.out.0
                );
            }
            Step::Control(c) => {
                let ins: Vec<u32> = c.inputs.iter().map(|r| r.0).collect();
                let outs: Vec<u32> = c.outputs.iter().map(|r| r.0).collect();
                let _ = writeln!(s, "step {i}: {} on buffers {ins:?} -> {outs:?}", c.name());
            }
        }
    }
    let outs: Vec<u32> = p.outputs.iter().map(|r| r.0).collect();
    let _ = writeln!(s, "outputs: buffers {outs:?}");
    s
}

/// Compares `text` with the golden file `tests/golden/<name>.txt`; with
/// `RJAX_UPDATE_GOLDEN=1` the file is (re)written instead.
#[track_caller]
pub fn golden(name: &str, text: &str) {
    let path = format!("{}/tests/golden/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    if std::env::var("RJAX_UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::create_dir_all(format!("{}/tests/golden", env!("CARGO_MANIFEST_DIR")))
            .expect("golden dir");
        std::fs::write(&path, text).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (run with RJAX_UPDATE_GOLDEN=1 to create it)"));
    assert!(
        want == text,
        "{name}: output differs from {path} (rerun with RJAX_UPDATE_GOLDEN=1 and review the diff)\n{text}"
    );
}
