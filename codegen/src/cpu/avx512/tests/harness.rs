//! Test harness for the AVX-512 emitter: a builder of loop bodies that
//! records every value's type, a runner for the generated code (a JIT
//! module holding the bytes), and the reference: the same body as a kernel
//! run by the kernel interpreter.

use std::collections::HashMap;

use cranelift_codegen::ir::{types, AbiParam};
use cranelift_module::{Linkage, Module};
use rjax_ir::{DType, Data, Scalar};

use super::super::{emit, Op, Operand, ReduceOp, Vreg, WideCode, WideLoop};
use crate::kernel::{
    AccId, BinaryOp, BufId, BufferDecl, BufferKind, Const, Expr, Index, Kernel, LoopId, ScalarType,
    Stmt, UnaryOp, ValueId,
};

/// A loop body under construction, with the type of every value.
#[derive(Clone)]
pub struct Body {
    pub l: WideLoop,
    tys: HashMap<Vreg, ScalarType>,
    /// Element type of each pointer.
    pub ptr_tys: Vec<ScalarType>,
    /// Type and bits of each scalar.
    pub scalars: Vec<(ScalarType, u32)>,
    bitcasts: HashMap<Vreg, ScalarType>,
}

impl Default for Body {
    fn default() -> Body {
        Body {
            l: WideLoop {
                ptrs: 0,
                scalars: 0,
                known: Vec::new(),
                accs: Vec::new(),
                ops: Vec::new(),
            },
            tys: HashMap::new(),
            ptr_tys: Vec::new(),
            scalars: Vec::new(),
            bitcasts: HashMap::new(),
        }
    }
}

impl Body {
    /// A new pointer with elements of `ty`.
    pub fn ptr(&mut self, ty: ScalarType) -> u32 {
        self.ptr_tys.push(ty);
        self.l.ptrs += 1;
        self.l.ptrs - 1
    }

    /// A new invariant scalar.
    pub fn scalar(&mut self, ty: ScalarType, bits: u32) -> Operand {
        self.scalars.push((ty, bits));
        self.l.scalars += 1;
        Operand::Scalar(self.l.scalars - 1)
    }

    /// A new scalar whose bits the emitter is told (a compile-time
    /// constant).
    pub fn known_scalar(&mut self, ty: ScalarType, bits: u32) -> Operand {
        let o = self.scalar(ty, bits);
        self.l.known.resize(self.l.scalars as usize, None);
        self.l.known[self.l.scalars as usize - 1] = Some(bits);
        o
    }

    /// A new accumulator.
    pub fn acc(&mut self, op: ReduceOp, ty: ScalarType) -> u32 {
        self.l.accs.push((op, ty));
        self.l.accs.len() as u32 - 1
    }

    /// The type of an operand.
    pub fn ty(&self, o: Operand) -> ScalarType {
        match o {
            Operand::Value(v) => self.tys[&v],
            Operand::Scalar(s) => self.scalars[s as usize].0,
        }
    }

    /// Appends the operation defining a new value of type `ty`.
    fn def(&mut self, ty: ScalarType, op: impl FnOnce(Vreg) -> Op) -> Operand {
        let v = self.tys.len() as Vreg;
        self.tys.insert(v, ty);
        self.l.ops.push(op(v));
        Operand::Value(v)
    }

    /// `ptr[i]`.
    pub fn load(&mut self, ptr: u32) -> Operand {
        let ty = self.ptr_tys[ptr as usize];
        self.def(ty, |dst| Op::Load { dst, ptr })
    }

    /// `ptr[i] = src`.
    pub fn store(&mut self, ptr: u32, src: Operand) {
        self.l.ops.push(Op::Store { ptr, src });
    }

    /// Folds `x` into accumulator `acc`.
    pub fn reduce(&mut self, acc: u32, x: Operand) {
        self.l.ops.push(Op::Reduce { acc, x });
    }

    /// `op x`.
    pub fn unary(&mut self, op: UnaryOp, x: Operand) -> Operand {
        let ty = self.ty(x);
        let out = if op == UnaryOp::IsFinite {
            ScalarType::Bool
        } else {
            ty
        };
        self.def(out, |dst| Op::Unary { dst, op, ty, x })
    }

    /// `x op y`.
    pub fn binary(&mut self, op: BinaryOp, x: Operand, y: Operand) -> Operand {
        use BinaryOp as B;
        let ty = self.ty(x);
        let cmp = matches!(op, B::Eq | B::Ne | B::Lt | B::Le | B::Gt | B::Ge);
        let out = if cmp { ScalarType::Bool } else { ty };
        self.def(out, |dst| Op::Binary { dst, op, ty, x, y })
    }

    /// `a * b + c`.
    pub fn fma(&mut self, a: Operand, b: Operand, c: Operand) -> Operand {
        let ty = self.ty(a);
        self.def(ty, |dst| Op::Fma { dst, ty, a, b, c })
    }

    /// `cond ? on_true : on_false`.
    pub fn select(&mut self, cond: Operand, on_true: Operand, on_false: Operand) -> Operand {
        let ty = self.ty(on_true);
        self.def(ty, |dst| Op::Select {
            dst,
            cond,
            on_true,
            on_false,
        })
    }

    /// `x as to`.
    pub fn convert(&mut self, to: ScalarType, x: Operand) -> Operand {
        let from = self.ty(x);
        self.def(to, |dst| Op::Convert { dst, from, to, x })
    }

    /// `x` reinterpreted as `to`.
    pub fn bitcast(&mut self, to: ScalarType, x: Operand) -> Operand {
        let r = self.def(to, |dst| Op::Bitcast { dst, x });
        if let Operand::Value(v) = r {
            self.bitcasts.insert(v, to);
        }
        r
    }

    /// The generated code (panics when `emit` declines).
    pub fn code(&self) -> WideCode {
        emit(&self.l).unwrap_or_else(|| panic!("emit declined {:?}", self.l))
    }
}

/// Whether two lanes of type `ty` agree (NaN payloads aside).
pub fn same(ty: ScalarType, a: u32, b: u32) -> bool {
    a == b || (ty == ScalarType::F32 && f32::from_bits(a).is_nan() && f32::from_bits(b).is_nan())
}

/// Sentinel written after the last element of every buffer.
pub const GUARD: u32 = 0x7FC0_DEAD;

/// Runs `code` for `count` elements over `bufs` (one per pointer, at least
/// `count` long, extended here by guard elements), with the scalars of
/// `body`. Returns the 16 lanes of every accumulator; checks the guards.
pub fn run(code: &WideCode, body: &Body, count: usize, bufs: &mut [Vec<u32>]) -> Vec<[u32; 16]> {
    call(code, body, count, bufs, 1).0
}

/// Runs `code` `reps` times (see [`run`]): accumulators and best time.
fn call(
    code: &WideCode,
    body: &Body,
    count: usize,
    bufs: &mut [Vec<u32>],
    reps: usize,
) -> (Vec<[u32; 16]>, f64) {
    let (mut module, _) = crate::cpu::env::new_module().expect("jit module");
    let mut sig = module.make_signature();
    sig.params.push(AbiParam::new(types::I64));
    let id = module
        .declare_function("wide_loop", Linkage::Local, &sig)
        .expect("declare");
    module
        .define_function_bytes(id, 64, &code.bytes, &[])
        .expect("define");
    module.finalize_definitions().expect("finalize");
    let ptr = module.get_finalized_function(id);
    // SAFETY: the bytes are the function `emit` generated, whose ABI is
    // `extern "sysv64" fn(*mut u64)`; they stay mapped until `free_memory`
    // below, after the last call.
    let f = unsafe { std::mem::transmute::<*const u8, unsafe extern "sysv64" fn(*mut u64)>(ptr) };
    for b in bufs.iter_mut() {
        assert!(b.len() >= count);
        b.truncate(count);
        b.extend([GUARD; 17]);
    }
    // Junk in the high halves of scalar and constant slots must not
    // matter.
    let mut args = vec![0xAAAA_AAAA_AAAA_AAAAu64; code.slots as usize];
    args[0] = count as u64;
    for (p, b) in bufs.iter_mut().enumerate() {
        args[1 + p] = b.as_mut_ptr() as u64;
    }
    let first_scalar = 1 + body.l.ptrs as usize;
    for (s, &(_, bits)) in body.scalars.iter().enumerate() {
        args[first_scalar + s] = 0xBBBB_BBBB_0000_0000 | u64::from(bits);
    }
    for &(slot, bits) in &code.consts {
        args[slot as usize] = 0xCCCC_CCCC_0000_0000 | u64::from(bits);
    }
    let mut best = f64::MAX;
    for _ in 0..reps {
        let t = std::time::Instant::now();
        // SAFETY: `args` has `code.slots` slots laid out as `WideCode`
        // documents; every pointer addresses at least `count` elements.
        unsafe { f(args.as_mut_ptr()) };
        best = best.min(t.elapsed().as_secs_f64());
    }
    // SAFETY: `f` is not called after this.
    unsafe { module.free_memory() };
    for (p, b) in bufs.iter_mut().enumerate() {
        assert!(
            b[count..].iter().all(|&g| g == GUARD),
            "pointer {p}: written past count {count}"
        );
        b.truncate(count);
    }
    let accs = code
        .acc_slots
        .iter()
        .map(|&s| {
            let mut lanes = [0u32; 16];
            for (j, lane) in lanes.iter_mut().enumerate() {
                let word = args[s as usize + j / 2];
                *lane = (word >> (32 * (j % 2))) as u32;
            }
            lanes
        })
        .collect();
    (accs, best)
}

/// The buffer element type of lane type `ty`.
fn dtype(ty: ScalarType) -> DType {
    match ty {
        ScalarType::F32 => DType::F32,
        ScalarType::I32 => DType::I32,
        ScalarType::U32 => DType::U32,
        ScalarType::Bool => DType::Bool,
        ScalarType::F64 | ScalarType::Index => panic!("no 32-bit lanes"),
    }
}

/// Interpreter data of type `ty` from lane bits.
fn to_data(ty: ScalarType, bits: &[u32]) -> Data {
    match ty {
        ScalarType::F32 => Data::F32(bits.iter().map(|&b| f32::from_bits(b)).collect()),
        ScalarType::I32 => Data::I32(bits.iter().map(|&b| b as i32).collect()),
        ScalarType::U32 => Data::U32(bits.to_vec()),
        ScalarType::Bool => Data::Bool(bits.iter().map(|&b| b != 0).collect()),
        ScalarType::F64 | ScalarType::Index => panic!("no 32-bit lanes"),
    }
}

/// Lane bits of interpreter data (bools as all-ones/all-zeros).
fn from_data(d: &Data) -> Vec<u32> {
    match d {
        Data::F32(v) => v.iter().map(|x| x.to_bits()).collect(),
        Data::I32(v) => v.iter().map(|&x| x as u32).collect(),
        Data::U32(v) => v.clone(),
        Data::Bool(v) => v.iter().map(|&b| if b { u32::MAX } else { 0 }).collect(),
        Data::F64(_) => panic!("no 32-bit lanes"),
    }
}

/// The kernel constant of type `ty` with lane bits `bits`.
fn scalar_const(ty: ScalarType, bits: u32) -> Const {
    Const::Scalar(match ty {
        ScalarType::F32 => Scalar::F32(f32::from_bits(bits)),
        ScalarType::I32 => Scalar::I32(bits as i32),
        ScalarType::U32 => Scalar::U32(bits),
        ScalarType::Bool => Scalar::Bool(bits != 0),
        ScalarType::F64 | ScalarType::Index => panic!("no 32-bit lanes"),
    })
}

/// What the interpreter computes for the loads and stores of `body` (its
/// reductions aside) over `count` elements: the buffers afterwards.
pub fn reference(body: &Body, count: usize, bufs: &[Vec<u32>]) -> Vec<Vec<u32>> {
    let kernel = kernel_of(body, count);
    let mut data = kernel_data(body, count, bufs);
    crate::kernel_interp::run_kernel(&kernel, &mut data).expect("reference kernel");
    data.iter().map(from_data).collect()
}

/// The buffers of [`kernel_of`]'s kernel holding `bufs`.
pub fn kernel_data(body: &Body, count: usize, bufs: &[Vec<u32>]) -> Vec<Data> {
    body.ptr_tys
        .iter()
        .zip(bufs)
        .map(|(&ty, b)| to_data(ty, &b[..count]))
        .collect()
}

/// The loads, stores and computations of `body` (not its reductions) as
/// a kernel: one loop over `count` elements, a buffer per pointer
/// (stored bools become `0`/`-1` lanes of `I32`).
pub fn kernel_of(body: &Body, count: usize) -> Kernel {
    let stored: Vec<bool> = (0..body.l.ptrs)
        .map(|p| {
            body.l
                .ops
                .iter()
                .any(|o| matches!(o, Op::Store { ptr, .. } if *ptr == p))
        })
        .collect();
    let buffers = body
        .ptr_tys
        .iter()
        .zip(&stored)
        .map(|(&ty, &st)| BufferDecl {
            dtype: dtype(ty),
            len: count,
            kind: if st {
                BufferKind::Output
            } else {
                BufferKind::Input
            },
        })
        .collect();
    let mut next = 0u32;
    let mut fresh = || {
        next += 1;
        ValueId(next - 1)
    };
    let mut top = Vec::new();
    let mut let_ = |block: &mut Vec<Stmt>, ty, expr| {
        let value = fresh();
        block.push(Stmt::Let { value, ty, expr });
        value
    };
    let scalars: Vec<ValueId> = body
        .scalars
        .iter()
        .map(|&(ty, bits)| let_(&mut top, ty, Expr::Const(scalar_const(ty, bits))))
        .collect();
    let i32c = |x: i32| Expr::Const(Const::Scalar(Scalar::I32(x)));
    let (minus1, zero) = (
        let_(&mut top, ScalarType::I32, i32c(-1)),
        let_(&mut top, ScalarType::I32, i32c(0)),
    );
    let lp = LoopId(0);
    let at = Index {
        offset: 0,
        terms: vec![(lp, 1)],
        dynamic: None,
    };
    let mut vals: HashMap<Vreg, ValueId> = HashMap::new();
    let mut inner = Vec::new();
    for op in &body.l.ops {
        let o = |x: &Operand| match x {
            Operand::Value(v) => vals[v],
            Operand::Scalar(s) => scalars[*s as usize],
        };
        let (dst, expr) = match op {
            Op::Load { dst, ptr } => (
                *dst,
                Expr::Load {
                    buf: BufId(*ptr),
                    index: at.clone(),
                },
            ),
            Op::Store { ptr, src } => {
                let mut value = o(src);
                if body.ty(*src) == ScalarType::Bool {
                    value = let_(
                        &mut inner,
                        ScalarType::I32,
                        Expr::Select(value, minus1, zero),
                    );
                }
                inner.push(Stmt::Store {
                    buf: BufId(*ptr),
                    index: at.clone(),
                    value,
                });
                continue;
            }
            Op::Reduce { .. } => continue,
            Op::Unary { dst, op, x, .. } => (*dst, Expr::Unary(*op, o(x))),
            Op::Binary { dst, op, x, y, .. } => (*dst, Expr::Binary(*op, o(x), o(y))),
            Op::Fma { dst, a, b, c, .. } => (*dst, Expr::Fma(o(a), o(b), o(c))),
            Op::Select {
                dst,
                cond,
                on_true,
                on_false,
            } => (*dst, Expr::Select(o(cond), o(on_true), o(on_false))),
            Op::Convert { dst, to, x, .. } => (*dst, Expr::Convert(*to, o(x))),
            Op::Bitcast { dst, x } => (*dst, Expr::Bitcast(body.bitcasts[dst], o(x))),
        };
        let v = let_(&mut inner, body.tys[&dst], expr);
        vals.insert(dst, v);
    }
    top.push(Stmt::Loop {
        id: lp,
        extent: count,
        parallel: false,
        body: inner,
    });
    Kernel {
        name: "wide_reference".into(),
        buffers,
        body: top,
    }
}

/// The interpreter's lane-wise reduction: lane `j` folds `xs[j]`,
/// `xs[j + 16]`, … in order, starting from `init`.
pub fn reference_reduce(op: ReduceOp, ty: ScalarType, init: u32, xs: &[u32]) -> [u32; 16] {
    let bop = match op {
        ReduceOp::Sum => BinaryOp::Add,
        ReduceOp::Prod => BinaryOp::Mul,
        ReduceOp::Max => BinaryOp::Max,
        ReduceOp::Min => BinaryOp::Min,
    };
    let per_lane = xs.len().div_ceil(16);
    let buf_len = 16 * per_lane.max(1);
    // Lane j of pass k is element 16 k + j; padding holds the identity.
    let mut padded = xs.to_vec();
    padded.resize(buf_len, init);
    let (lane, pass, acc) = (LoopId(0), LoopId(1), AccId(0));
    let v = |i| ValueId(i);
    let k = Kernel {
        name: "wide_reduce_reference".into(),
        buffers: vec![
            BufferDecl {
                dtype: dtype(ty),
                len: buf_len,
                kind: BufferKind::Input,
            },
            BufferDecl {
                dtype: dtype(ty),
                len: 16,
                kind: BufferKind::Output,
            },
        ],
        body: vec![Stmt::Loop {
            id: lane,
            extent: 16,
            parallel: false,
            body: vec![
                Stmt::AccInit {
                    acc,
                    ty,
                    init: scalar_const(ty, init),
                },
                Stmt::Loop {
                    id: pass,
                    extent: per_lane,
                    parallel: false,
                    body: vec![
                        Stmt::Let {
                            value: v(0),
                            ty,
                            expr: Expr::Load {
                                buf: BufId(0),
                                index: Index {
                                    offset: 0,
                                    terms: vec![(lane, 1), (pass, 16)],
                                    dynamic: None,
                                },
                            },
                        },
                        Stmt::Let {
                            value: v(1),
                            ty,
                            expr: Expr::AccRead(acc),
                        },
                        Stmt::Let {
                            value: v(2),
                            ty,
                            expr: Expr::Binary(bop, v(1), v(0)),
                        },
                        Stmt::AccSet { acc, value: v(2) },
                    ],
                },
                Stmt::Let {
                    value: v(3),
                    ty,
                    expr: Expr::AccRead(acc),
                },
                Stmt::Store {
                    buf: BufId(1),
                    index: Index {
                        offset: 0,
                        terms: vec![(lane, 1)],
                        dynamic: None,
                    },
                    value: v(3),
                },
            ],
        }],
    };
    let mut data = vec![to_data(ty, &padded), to_data(ty, &[0; 16])];
    crate::kernel_interp::run_kernel(&k, &mut data).expect("reduction reference");
    from_data(&data[1]).try_into().expect("16 lanes")
}

/// A small deterministic generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    /// The next 32 random bits.
    pub fn next(&mut self) -> u32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    }

    /// Random lane bits for `ty`: raw bits, and for floats also moderate
    /// values and values near halves.
    pub fn lane(&mut self, ty: ScalarType) -> u32 {
        let r = self.next();
        match ty {
            ScalarType::F32 => match r % 4 {
                0 => self.next(),
                1 => ((self.next() as i32 as f32) / 65536.0).to_bits(),
                2 => ((self.next() % 4096) as f32 * 0.5 - 1024.0).to_bits(),
                _ => ((self.next() as i32 as f32) / 1e6).to_bits(),
            },
            ScalarType::Bool => {
                if r.is_multiple_of(2) {
                    0
                } else {
                    u32::MAX
                }
            }
            ScalarType::I32 | ScalarType::U32 => match r % 4 {
                0 => self.next() % 64,
                _ => self.next(),
            },
            ScalarType::F64 | ScalarType::Index => panic!("no 32-bit lanes"),
        }
    }
}

/// Special lane values of each type.
pub fn specials(ty: ScalarType) -> Vec<u32> {
    match ty {
        ScalarType::F32 => {
            let f = [
                f32::NAN,
                -f32::NAN,
                0.0,
                -0.0,
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::from_bits(1),
                -f32::from_bits(1),
                f32::from_bits(0x007F_FFFF),
                f32::MIN_POSITIVE,
                f32::MAX,
                f32::MIN,
                1.0,
                -1.0,
                0.5,
                -0.5,
                1.5,
                -1.5,
                2.5,
                -2.5,
                0.499_999_97,
                -0.499_999_97,
                2_147_483_648.0,
                -2_147_483_648.0,
                2_147_483_520.0,
                -2_147_483_904.0,
                4e9,
                4_294_967_296.0,
                4_294_967_040.0,
                8_388_607.5,
                -8_388_607.5,
                16_777_216.0,
                -0.7,
                0.3,
                1e10,
                -1e-30,
            ];
            let mut v: Vec<u32> = f.iter().map(|x| x.to_bits()).collect();
            v.push(0x7F80_0001); // signalling NaN
            v
        }
        ScalarType::I32 | ScalarType::U32 => vec![
            0,
            1,
            2,
            u32::MAX,
            u32::MAX - 1,
            0x8000_0000,
            0x8000_0001,
            0x7FFF_FFFF,
            31,
            32,
            0x1234_5678,
            16_777_217,
            (-16_777_217i32) as u32,
            0xFFFF_FF7F,
            0x4F00_0000,
        ],
        ScalarType::Bool => vec![0, u32::MAX],
        ScalarType::F64 | ScalarType::Index => panic!("no 32-bit lanes"),
    }
}

/// Inputs for `n` pointers of types `tys`: every pair of specials of the
/// first two, then random lanes, `count` in all.
pub fn inputs(tys: &[ScalarType], count: usize, rng: &mut Rng) -> Vec<Vec<u32>> {
    tys.iter()
        .enumerate()
        .map(|(p, &ty)| {
            let s = specials(ty);
            (0..count)
                .map(|i| {
                    let pairs = s.len() * s.len();
                    match p {
                        0 if i < pairs => s[i % s.len()],
                        1 if i < pairs => s[(i / s.len()) % s.len()],
                        _ if i < s.len() => s[(i + 3 * p) % s.len()],
                        _ => rng.lane(ty),
                    }
                })
                .collect()
        })
        .collect()
}

/// Runs `body` over `count` elements of random and special inputs (for
/// the pointers not stored) and compares every stored buffer with the
/// interpreter's. Returns the accumulators' lanes and the inputs.
pub fn check(body: &Body, count: usize, seed: u64) -> (Vec<[u32; 16]>, Vec<Vec<u32>>) {
    let code = body.code();
    let mut rng = Rng(seed | 1);
    let mut bufs = inputs(&body.ptr_tys, count, &mut rng);
    let want = reference(body, count, &bufs);
    let accs = run(&code, body, count, &mut bufs);
    for (p, (got, want)) in bufs.iter().zip(&want).enumerate() {
        let ty = body.ptr_tys[p];
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!(
                same(ty, g, w),
                "pointer {p} element {i}: got {g:#010x}, want {w:#010x}; inputs {:?}\n{:?}",
                bufs.iter().map(|b| b[i]).collect::<Vec<_>>(),
                body.l
            );
        }
    }
    (accs, bufs)
}
