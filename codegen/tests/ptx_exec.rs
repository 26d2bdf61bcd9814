//! The PTX backend's output, executed: a reference executor (`ptx_sim`)
//! runs the emitted PTX following the PTX ISA's definition of each
//! instruction (whole blocks of threads, warp shuffles, shared memory,
//! barriers, atomics), and the results are compared bit for bit with the
//! kernel interpreter. Where the ISA leaves an integer result undefined
//! the executor returns a poison value, so a missing guard fails.
//!
//! - Every scalar operation, conversion and bitcast on every type the
//!   kernel IR accepts, as a one-operation elementwise kernel, on data full
//!   of special values (NaNs, signed zeros, infinities, halves, `MIN` and
//!   `-1`, zero divisors, shift amounts of 31, 32 and 33). Float NaNs
//!   compare equal whatever their payload (PTX does not promise one).
//! - Every primitive's program of `ptx_cases` (the sizes that are only
//!   emitted, and GEMM steps, which run on cuBLAS, aside), against the
//!   interpreter running the same plan with the transcendental functions
//!   expanded as the backend compiles them.
//! - Reductions (one block, two passes, a warp per row) and grid-stride
//!   loops at sizes around their boundaries: 0, 1, 31, 32, 33, 2^16 and
//!   2^16 + 1.
//! - The fused `random_bits` kernel (one ChaCha20 block per iteration, a
//!   tail block after) at sizes around the 16-word block, against the
//!   reference interpreter's keystream.

#[allow(dead_code)] // the helpers are shared with the CPU tests
mod cpu_support;
#[allow(dead_code)] // only the case list is used here
mod ptx_cases;
mod ptx_sim;

use cpu_support::{
    buffers_for, data, map_kernel, Rng, COMPARISONS, FLOAT_UNARY, INT_BINARY, SCALAR_TYPES,
};
use ptx_sim::Geometry;
use rjax_codegen::fusion::plan;
use rjax_codegen::kernel::{
    BinaryOp, Const, Expr, Kernel, KernelBuilder, ScalarType, Stmt, UnaryOp, ValueId,
};
use rjax_codegen::kernel_interp::{check, run_kernel, run_program};
use rjax_codegen::math::expand;
use rjax_codegen::program::{BufferSource, Program, Step};
use rjax_codegen::ptx::{emit_kernel, Param, PtxEntry, PtxOptions};
use rjax_ir::interp::interpret_closed;
use rjax_ir::{AVal, DType, Data, HostBuffer};

const N: usize = 402;

/// One operation to apply to operands of a type.
#[derive(Clone, Copy, Debug)]
enum Op {
    Unary(UnaryOp),
    Binary(BinaryOp),
    Fma,
    Select,
    Convert(ScalarType),
    Bitcast(ScalarType),
}

impl Op {
    /// How many operands of the type it takes.
    fn arity(self) -> usize {
        match self {
            Op::Unary(_) | Op::Convert(_) | Op::Bitcast(_) => 1,
            Op::Binary(_) | Op::Select => 2,
            Op::Fma => 3,
        }
    }

    /// Its result type on operands of `ty`.
    fn result(self, ty: ScalarType) -> ScalarType {
        match self {
            Op::Unary(UnaryOp::IsFinite) => ScalarType::Bool,
            Op::Binary(b) if COMPARISONS.contains(&b) => ScalarType::Bool,
            Op::Convert(to) | Op::Bitcast(to) => to,
            Op::Unary(_) | Op::Binary(_) | Op::Fma | Op::Select => ty,
        }
    }

    fn expr(self, xs: &[ValueId], cond: ValueId) -> Expr {
        match self {
            Op::Unary(u) => Expr::Unary(u, xs[0]),
            Op::Binary(b) => Expr::Binary(b, xs[0], xs[1]),
            Op::Fma => Expr::Fma(xs[0], xs[1], xs[2]),
            Op::Select => Expr::Select(cond, xs[0], xs[1]),
            Op::Convert(to) => Expr::Convert(to, xs[0]),
            Op::Bitcast(to) => Expr::Bitcast(to, xs[0]),
        }
    }
}

/// Every operation, whether or not a type accepts it (the kernel checker
/// decides).
fn every_op() -> Vec<Op> {
    let unary = FLOAT_UNARY
        .into_iter()
        .chain([UnaryOp::Not, UnaryOp::IsFinite]);
    let binary = INT_BINARY.into_iter().chain(COMPARISONS);
    unary
        .map(Op::Unary)
        .chain(binary.map(Op::Binary))
        .chain([Op::Fma, Op::Select])
        .chain(SCALAR_TYPES.into_iter().map(Op::Convert))
        .chain(SCALAR_TYPES.into_iter().map(Op::Bitcast))
        .collect()
}

/// The buffer dtype an operand or result of `ty` travels in (an index as
/// the bits of an f64).
fn carrier(ty: ScalarType) -> DType {
    match ty {
        ScalarType::F32 => DType::F32,
        ScalarType::F64 | ScalarType::Index => DType::F64,
        ScalarType::I32 => DType::I32,
        ScalarType::U32 => DType::U32,
        ScalarType::Bool => DType::Bool,
    }
}

/// How the index operands are made: from the bits of f64 data (any
/// pattern, `-0.0` giving `i64::MIN`) or as the constant `i64::MIN`, the
/// later ones from i32 data (small values, `-1`, `0`, shift amounts).
#[derive(Clone, Copy, Debug)]
enum IndexFrom {
    Bits,
    Min,
}

/// `op` on operands of `ty` as a one-operation kernel, or `None` when the
/// kernel IR does not accept it.
fn op_kernel(op: Op, ty: ScalarType, index_from: IndexFrom) -> Option<Kernel> {
    let n_args = op.arity();
    let mut ins: Vec<DType> = vec![DType::Bool];
    for k in 0..n_args {
        ins.push(match (ty, k) {
            (ScalarType::Index, 0) => DType::F64,
            (ScalarType::Index, _) => DType::I32,
            _ => carrier(ty),
        });
    }
    let out = op.result(ty);
    let k = map_kernel(&ins, carrier(out), N, |kb, body, xs| {
        let cond = xs[0];
        let args: Vec<ValueId> = xs[1..]
            .iter()
            .enumerate()
            .map(|(k, &x)| operand(kb, body, ty, k, x, index_from))
            .collect();
        let r = kb.let_(body, out, op.expr(&args, cond));
        if out == ScalarType::Index {
            kb.let_(body, ScalarType::F64, Expr::Bitcast(ScalarType::F64, r))
        } else {
            r
        }
    });
    check(&k).is_ok().then_some(k)
}

/// Operand `k` of type `ty` from the loaded value `x`.
fn operand(
    kb: &mut KernelBuilder,
    body: &mut Vec<Stmt>,
    ty: ScalarType,
    k: usize,
    x: ValueId,
    index_from: IndexFrom,
) -> ValueId {
    let idx = ScalarType::Index;
    match (ty, k, index_from) {
        (ScalarType::Index, 0, IndexFrom::Bits) => kb.let_(body, idx, Expr::Bitcast(idx, x)),
        (ScalarType::Index, 0, IndexFrom::Min) => {
            kb.let_(body, idx, Expr::Const(Const::Index(i64::MIN)))
        }
        (ScalarType::Index, _, _) => kb.let_(body, idx, Expr::Convert(idx, x)),
        _ => x,
    }
}

/// A buffer's elements as little-endian bytes (bools one byte each).
fn bytes(d: &Data) -> Vec<u8> {
    match d {
        Data::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::U32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::Bool(v) => v.iter().map(|&b| u8::from(b)).collect(),
    }
}

/// Runs `k` through the PTX executor on `bufs`.
fn run_ptx(k: &Kernel, bufs: &[Data]) -> Vec<Vec<u8>> {
    let emitted = emit_kernel(k, &PtxOptions { sm: 80 }).expect("emits");
    let mut mem: Vec<Vec<u8>> = bufs.iter().map(bytes).collect();
    let params: Vec<usize> = (0..mem.len()).collect();
    for e in &emitted.entries {
        ptx_sim::launch(&emitted.ptx, &e.name, &mut mem, &params, &geometry(e))
            .unwrap_or_else(|err| panic!("{}: {err}\n{}", k.name, emitted.ptx));
    }
    mem
}

/// The launch geometry of an entry on a small device (two
/// multiprocessors: grid-stride loops get up to 64 blocks, so most
/// threads take more than one iteration only on large sizes).
fn geometry(e: &PtxEntry) -> Geometry {
    Geometry {
        blocks: e.launch.grid_dim(2),
        threads: e.launch.block,
    }
}

/// Element `i` of a result (`size` bytes each) as bits.
fn element(b: &[u8], i: usize, size: usize) -> u64 {
    let mut x = [0u8; 8];
    x[..size].copy_from_slice(&b[i * size..(i + 1) * size]);
    u64::from_le_bytes(x)
}

fn is_nan(bits: u64, dtype: DType) -> bool {
    match dtype {
        DType::F32 => f32::from_bits(bits as u32).is_nan(),
        DType::F64 => f64::from_bits(bits).is_nan(),
        DType::I32 | DType::U32 | DType::Bool => false,
    }
}

/// Runs `k` (output buffer last) by the interpreter and the executor and
/// returns the mismatches, described.
fn mismatches(what: &str, k: &Kernel, seed: u64, nan_any: bool) -> Vec<String> {
    let bufs = buffers_for(k, seed);
    let mut want = bufs.clone();
    run_kernel(k, &mut want).expect("the interpreter runs it");
    let got = run_ptx(k, &bufs);
    let last = bufs.len() - 1;
    let dtype = k.buffers[last].dtype;
    let size = dtype.size_in_bytes();
    let want = bytes(&want[last]);
    let ins: Vec<Vec<u8>> = bufs.iter().map(bytes).collect();
    let mut out = Vec::new();
    for i in 0..want.len() / size {
        let (w, g) = (element(&want, i, size), element(&got[last], i, size));
        if w == g || (nan_any && is_nan(w, dtype) && is_nan(g, dtype)) {
            continue;
        }
        let operands: Vec<String> = k.buffers[..last]
            .iter()
            .zip(&ins)
            .map(|(b, d)| format!("{:#x}", element(d, i, b.dtype.size_in_bytes())))
            .collect();
        out.push(format!(
            "{what} [{i}] operands {operands:?}: want {w:#x}, got {g:#x}"
        ));
    }
    out
}

#[test]
fn every_scalar_operation_executes_like_the_interpreter() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for ty in SCALAR_TYPES {
        for op in every_op() {
            let sources: &[IndexFrom] = if ty == ScalarType::Index {
                &[IndexFrom::Bits, IndexFrom::Min]
            } else {
                &[IndexFrom::Bits]
            };
            for &from in sources {
                let Some(k) = op_kernel(op, ty, from) else {
                    continue;
                };
                ran += 1;
                let what = format!("{op:?} on {ty:?} ({from:?})");
                let nan_any = op.result(ty).is_float() && !matches!(op, Op::Bitcast(_));
                for seed in [1, 2, 3] {
                    failures.extend(mismatches(&what, &k, seed, nan_any));
                }
            }
        }
    }
    // every accepted (operation, type) pair: 11 unary, 19 binary, fma,
    // select, 6 conversions and the bitcasts, on each type
    assert!(ran > 150, "only {ran} kernels ran");
    failures.truncate(40);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn random_bits_kernels_execute_to_the_reference_keystream() {
    let key = Data::U32(vec![
        0x0123_4567,
        0x89AB_CDEF,
        7,
        0,
        u32::MAX,
        42,
        0x8000_0000,
        3,
    ]);
    // around the 16-word block: empty, a tail only, exactly one block,
    // one block and a tail, several blocks and a tail
    for n in [0usize, 1, 15, 16, 17, 31, 32, 33, 100] {
        let jaxpr = ptx_cases::single(
            rjax_ir::Primitive::RandomBits {
                shape: [n].as_slice().into(),
            },
            &[(DType::U32, &[8])],
        );
        let args = [HostBuffer::new(key.clone(), &[8]).expect("key")];
        let want = interpret_closed(&jaxpr, &args).expect("reference");
        let program = plan(&jaxpr).expect("plans");
        let got = run_program_ptx(&program, &args).expect("kernel steps only");
        assert_eq!(got[0], bytes(want[0].data()), "random_bits of {n} words");
    }
}

/// Runs a planned program with every kernel step executed from its PTX,
/// or `None` when a step is a GEMM.
fn run_program_ptx(program: &Program, args: &[HostBuffer]) -> Option<Vec<Vec<u8>>> {
    let mut mem: Vec<Vec<u8>> = program
        .buffers
        .iter()
        .map(|pb| match &pb.source {
            BufferSource::Argument(a) => bytes(args[*a].data()),
            BufferSource::Constant(c) => bytes(c.data()),
            BufferSource::Temporary => {
                vec![0; pb.dtype.size_in_bytes() * pb.shape.iter().product::<usize>()]
            }
        })
        .collect();
    let scratch = mem.len();
    mem.push(Vec::new());
    for step in &program.steps {
        let Step::Kernel { kernel, args } = step else {
            return None;
        };
        let emitted = emit_kernel(kernel, &PtxOptions { sm: 80 }).expect("emits");
        mem[scratch] = vec![0; emitted.scratch_bytes];
        for e in &emitted.entries {
            let params: Vec<usize> = e
                .params
                .iter()
                .map(|p| match p {
                    Param::Buffer(b) => args[b.0 as usize].0 as usize,
                    Param::Scratch => scratch,
                })
                .collect();
            ptx_sim::launch(&emitted.ptx, &e.name, &mut mem, &params, &geometry(e))
                .unwrap_or_else(|err| panic!("{}: {err}\n{}", kernel.name, emitted.ptx));
        }
    }
    Some(
        program
            .outputs
            .iter()
            .map(|r| mem[r.0 as usize].clone())
            .collect(),
    )
}

#[test]
fn every_primitive_program_executes_like_the_interpreter() {
    let mut ran = 0;
    let mut failures = Vec::new();
    for case in ptx_cases::all() {
        let jaxpr = &case.jaxpr;
        let avals = jaxpr.jaxpr.in_avals();
        if avals.iter().any(|a| a.size() > 1 << 16) {
            continue; // the sizes only planned and emitted
        }
        let Ok(program) = plan(jaxpr) else {
            continue;
        };
        let args = arguments(&avals);
        // the interpreter on the kernels as the backend compiles them, with
        // the transcendental functions expanded
        let mut expanded = program.clone();
        for step in &mut expanded.steps {
            if let Step::Kernel { kernel, .. } = step {
                *kernel = expand(kernel);
            }
        }
        let want = run_program(&expanded, &args).expect("the interpreter runs it");
        let Some(got) = run_program_ptx(&program, &args) else {
            continue;
        };
        ran += 1;
        failures.extend(differing_outputs(&case.name, &want, &got));
    }
    println!("{ran} programs executed");
    assert!(ran > 200, "only {ran} programs executed");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Deterministic arguments of `avals`, special values included.
fn arguments(avals: &[AVal]) -> Vec<HostBuffer> {
    let mut rng = Rng::new(7);
    avals
        .iter()
        .enumerate()
        .map(|(k, a)| HostBuffer::new(data(a.dtype, a.size(), k, &mut rng), &a.shape).expect("arg"))
        .collect()
}

/// The outputs of `what` whose bits differ.
fn differing_outputs(what: &str, want: &[HostBuffer], got: &[Vec<u8>]) -> Vec<String> {
    want.iter()
        .zip(got)
        .enumerate()
        .filter(|(_, (w, g))| bytes(w.data()) != **g)
        .map(|(o, _)| format!("{what} output {o}"))
        .collect()
}

#[test]
fn reductions_and_grid_strides_are_exact_at_boundary_sizes() {
    use rjax_ir::Primitive as P;
    let sizes = [0usize, 1, 31, 32, 33, 1 << 16, (1 << 16) + 1];
    let mut failures = Vec::new();
    for n in sizes {
        // full reductions (one block up to 2^16, two passes beyond),
        // integer sums wrap exactly and float max/min do not depend on
        // the order
        let full: [(P, DType); 4] = [
            (P::ReduceSum { axes: vec![0] }, DType::I32),
            (P::ReduceMax { axes: vec![0] }, DType::F32),
            (P::ReduceMin { axes: vec![0] }, DType::F64),
            (P::ReduceMax { axes: vec![0] }, DType::U32),
        ];
        let mut cases: Vec<(String, rjax_ir::ClosedJaxpr)> = full
            .into_iter()
            .map(|(p, d)| {
                (
                    format!("{} {d} [{n}]", p.name()),
                    ptx_cases::single(p, &[(d, &[n])]),
                )
            })
            .collect();
        // an elementwise grid-stride loop over n elements
        cases.push((
            format!("add i32 [{n}]"),
            ptx_cases::single(P::Add, &[(DType::I32, &[n]), (DType::I32, &[n])]),
        ));
        // rows of n (a warp per row from 32 on)
        if n <= 33 {
            cases.push((
                format!("row sums i32 [3, {n}]"),
                ptx_cases::single(P::ReduceSum { axes: vec![1] }, &[(DType::I32, &[3, n])]),
            ));
            cases.push((
                format!("row max f32 [3, {n}]"),
                ptx_cases::single(P::ReduceMax { axes: vec![1] }, &[(DType::F32, &[3, n])]),
            ));
        }
        for (name, jaxpr) in cases {
            let program = plan(&jaxpr).expect("plans");
            let args = arguments(&jaxpr.jaxpr.in_avals());
            let want = run_program(&program, &args).expect("the interpreter runs it");
            let got = run_program_ptx(&program, &args).expect("kernel steps only");
            failures.extend(differing_outputs(&name, &want, &got));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
