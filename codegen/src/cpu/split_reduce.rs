//! Two-stage full reductions, so that a reduction of a whole large array
//! runs on every core.
//!
//! Fusion writes a reduction to a scalar (`sum(x)`, `max(x)`, a mean, a
//! fused `sum(f(x, y))`) as one kernel whose single loop folds every
//! element into an accumulator: no loop is parallel, so the runtime cannot
//! split it across threads. This pass rewrites such a kernel step of a
//! CPU program into two steps and a temporary buffer of `chunks` partial
//! results:
//!
//! 1. *partials*: `parallel for c in 0..chunks { acc = identity; for j in
//!    0..chunk { acc op= body(c·chunk + j) }; partial[c] = acc }`;
//! 2. *combine*: `acc = identity; for c in 0..chunks { acc op= partial[c] };
//!    for j in 0..rest { acc op= body(chunks·chunk + j) }`, then the
//!    original epilogue (the code after the loop: a mean's division, the
//!    stores).
//!
//! It reassociates the fold, which only float `Add`/`Mul` (and `Fma`)
//! reductions notice, in the last bits, as any parallel reduction does
//! (the vectorised loops already do); integer wrapping sums and products,
//! `Max` and `Min` are exact. A kernel is rewritten only when it has that
//! exact shape (module docs of `simd` for the reduction pattern) and
//! enough work to be worth a second step; anything else is left as is.
//! It is a CPU scheduling choice, so it lives here and not in fusion: the
//! kernel interpreter runs the original program.

use std::borrow::Cow;
use std::collections::HashMap;

use rjax_ir::{DType, Scalar};

use super::translate::{work, PARALLEL_WORK_THRESHOLD};
use crate::kernel::{
    AccId, BinaryOp, BufId, BufferDecl, BufferKind, Const, Expr, Index, Kernel, LoopId, ScalarType,
    Stmt, ValueId,
};
use crate::lower::ReduceOp;
use crate::program::{BufferRef, BufferSource, Program, ProgramBuffer, Step};

/// Partial results per reduction: a few per core, so that work stealing
/// evens out a busy core.
const CHUNKS: usize = 32;
/// Fewest elements per chunk.
const MIN_CHUNK: usize = 2048;

/// `program` with every full-reduction kernel step worth it split in two
/// (see the module docs); `compile_program` applies it. Borrowed back
/// unchanged when no step qualifies.
pub fn split_reductions(program: &Program) -> Cow<'_, Program> {
    let splits: Vec<Option<Split>> = program
        .steps
        .iter()
        .map(|step| match step {
            Step::Kernel { kernel, .. } => split_kernel(kernel),
            Step::Gemm(_) | Step::Control(_) => None,
        })
        .collect();
    if splits.iter().all(Option::is_none) {
        return Cow::Borrowed(program);
    }
    let mut out = Program {
        buffers: program.buffers.clone(),
        steps: Vec::with_capacity(program.steps.len()),
        outputs: program.outputs.clone(),
    };
    for (step, split) in program.steps.iter().zip(splits) {
        let (Some(split), Step::Kernel { args, .. }) = (split, step) else {
            out.steps.push(step.clone());
            continue;
        };
        let partial = BufferRef(out.buffers.len() as u32);
        out.buffers.push(ProgramBuffer {
            dtype: split.partial_dtype,
            shape: vec![split.chunks],
            source: BufferSource::Temporary,
        });
        let mut first_args: Vec<BufferRef> = split.inputs.iter().map(|b| args[*b]).collect();
        first_args.push(partial);
        out.steps.push(Step::Kernel {
            kernel: split.partials,
            args: first_args,
        });
        let mut second_args = args.clone();
        second_args.push(partial);
        out.steps.push(Step::Kernel {
            kernel: split.combine,
            args: second_args,
        });
    }
    Cow::Owned(out)
}

/// A reduction kernel split in two.
struct Split {
    partials: Kernel,
    combine: Kernel,
    /// The original buffers the partials kernel reads, in its order.
    inputs: Vec<usize>,
    partial_dtype: DType,
    chunks: usize,
}

/// The parts of a kernel of the shape the pass rewrites.
struct Shape<'k> {
    pre: &'k [Stmt],
    acc: AccId,
    ty: ScalarType,
    init: Const,
    lp: LoopId,
    extent: usize,
    body: &'k [Stmt],
    post: &'k [Stmt],
    /// How partial results combine.
    combine: BinaryOp,
}

fn shape(kernel: &Kernel) -> Option<Shape<'_>> {
    let at = kernel
        .body
        .iter()
        .position(|s| !matches!(s, Stmt::Let { .. }))?;
    let (pre, rest) = kernel.body.split_at(at);
    let loads_inputs_only = |block: &[Stmt]| {
        block.iter().all(|s| match s {
            Stmt::Let {
                expr: Expr::Load { buf, index },
                ..
            } => {
                index.dynamic.is_none()
                    && kernel
                        .buffers
                        .get(buf.0 as usize)
                        .is_some_and(|b| b.kind == BufferKind::Input)
            }
            _ => true,
        })
    };
    if !loads_inputs_only(pre) {
        return None;
    }
    let [Stmt::AccInit { acc, ty, init }, Stmt::Loop {
        id,
        extent,
        parallel: false,
        body,
    }, post @ ..] = rest
    else {
        return None;
    };
    let post_ok = post.iter().all(|s| match s {
        Stmt::Let { .. } => true,
        Stmt::Store { index, .. } => index.terms.is_empty(),
        Stmt::Loop { .. } | Stmt::AccInit { .. } | Stmt::AccSet { .. } => false,
    });
    let body_ok = body.iter().all(|s| match s {
        Stmt::Let { expr, .. } => match expr {
            Expr::LoopVar(l) => l != id,
            Expr::AccRead(a) => a == acc,
            Expr::Load { .. }
            | Expr::Const(_)
            | Expr::Unary(..)
            | Expr::Binary(..)
            | Expr::Fma(..)
            | Expr::Select(..)
            | Expr::Convert(..)
            | Expr::Bitcast(..) => true,
        },
        Stmt::AccSet { acc: a, .. } => a == acc,
        Stmt::Store { .. } | Stmt::Loop { .. } | Stmt::AccInit { .. } => false,
    });
    if !post_ok || !body_ok || !loads_inputs_only(body) {
        return None;
    }
    let fold = reduction_op(body, *acc)?;
    let combine = fold.combine();
    let identity = fold.identity(dtype_of(*ty)?);
    let is_identity = match (*init, identity) {
        (Const::Scalar(a), b) => a == b || (combine == BinaryOp::Add && is_zero(a)),
        (Const::Index(_), _) => false,
    };
    if !is_identity {
        return None;
    }
    Some(Shape {
        pre,
        acc: *acc,
        ty: *ty,
        init: *init,
        lp: *id,
        extent: *extent,
        body,
        post,
        combine,
    })
}

fn is_zero(s: Scalar) -> bool {
    match s {
        Scalar::F32(x) => x == 0.0,
        Scalar::F64(x) => x == 0.0,
        Scalar::I32(_) | Scalar::U32(_) | Scalar::Bool(_) => false,
    }
}

fn dtype_of(ty: ScalarType) -> Option<DType> {
    match ty {
        ScalarType::F32 => Some(DType::F32),
        ScalarType::F64 => Some(DType::F64),
        ScalarType::I32 => Some(DType::I32),
        ScalarType::U32 => Some(DType::U32),
        ScalarType::Bool | ScalarType::Index => None,
    }
}

/// The fold of the one `r = AccRead(acc); s = op(r, x); AccSet(acc, s)`
/// in `body` (`Fma(x, y, r)` folds with `Add`), with `r` used only there.
fn reduction_op(body: &[Stmt], acc: AccId) -> Option<ReduceOp> {
    let reads: Vec<ValueId> = body
        .iter()
        .filter_map(|s| match s {
            Stmt::Let {
                value,
                expr: Expr::AccRead(a),
                ..
            } if *a == acc => Some(*value),
            _ => None,
        })
        .collect();
    let sets: Vec<ValueId> = body
        .iter()
        .filter_map(|s| match s {
            Stmt::AccSet { value, .. } => Some(*value),
            _ => None,
        })
        .collect();
    let ([r], [set]) = (reads.as_slice(), sets.as_slice()) else {
        return None;
    };
    let mut op = None;
    let mut uses_of_r = 0;
    for s in body {
        if let Stmt::Let { value, expr, .. } = s {
            let operands = match expr {
                Expr::Unary(_, a) | Expr::Convert(_, a) | Expr::Bitcast(_, a) => vec![*a],
                Expr::Binary(_, a, b) => vec![*a, *b],
                Expr::Fma(a, b, c) | Expr::Select(a, b, c) => vec![*a, *b, *c],
                Expr::Const(_) | Expr::LoopVar(_) | Expr::Load { .. } | Expr::AccRead(_) => vec![],
            };
            uses_of_r += operands.iter().filter(|o| *o == r).count();
            if value == set {
                op = match expr {
                    Expr::Binary(o, a, b) if (a == r) != (b == r) => ReduceOp::of_combine(*o),
                    Expr::Fma(a, b, c) if c == r && a != r && b != r => Some(ReduceOp::Sum),
                    _ => None,
                };
            }
        }
    }
    (uses_of_r == 1).then_some(op?)
}

fn split_kernel(kernel: &Kernel) -> Option<Split> {
    let s = shape(kernel)?;
    let work_per_element = work(s.body).max(1);
    if (s.extent as u64).saturating_mul(work_per_element) < 2 * PARALLEL_WORK_THRESHOLD {
        return None;
    }
    let chunks = CHUNKS.min(s.extent / MIN_CHUNK);
    if chunks < 2 {
        return None;
    }
    let chunk = s.extent / chunks;
    let rest = s.extent - chunks * chunk;
    let partial_dtype = dtype_of(s.ty)?;
    let mut ids = FreshIds::new(kernel);

    // Partials: only the inputs, renumbered, and the partial buffer.
    let inputs: Vec<usize> = (0..kernel.buffers.len())
        .filter(|&b| kernel.buffers[b].kind == BufferKind::Input)
        .collect();
    let renumber: HashMap<BufId, BufId> = inputs
        .iter()
        .enumerate()
        .map(|(new, &old)| (BufId(old as u32), BufId(new as u32)))
        .collect();
    let partial_in_first = BufId(inputs.len() as u32);
    let c = ids.lp();
    let mut chunk_body: Vec<Stmt> = s.pre.iter().map(|st| rebuffer(st, &renumber)).collect();
    chunk_body.push(Stmt::AccInit {
        acc: s.acc,
        ty: s.ty,
        init: s.init,
    });
    let strided = |st: &Stmt| shift_loop(st, s.lp, Some((c, chunk as i64)), 0);
    chunk_body.push(Stmt::Loop {
        id: s.lp,
        extent: chunk,
        parallel: false,
        body: s
            .body
            .iter()
            .map(|st| rebuffer(&strided(st), &renumber))
            .collect(),
    });
    let r = ids.value();
    chunk_body.push(Stmt::Let {
        value: r,
        ty: s.ty,
        expr: Expr::AccRead(s.acc),
    });
    chunk_body.push(Stmt::Store {
        buf: partial_in_first,
        index: Index {
            offset: 0,
            terms: vec![(c, 1)],
            dynamic: None,
        },
        value: r,
    });
    let mut first_buffers: Vec<BufferDecl> =
        inputs.iter().map(|&b| kernel.buffers[b].clone()).collect();
    first_buffers.push(BufferDecl {
        dtype: partial_dtype,
        len: chunks,
        kind: BufferKind::Output,
    });
    let partials = Kernel {
        name: format!("{}_partials", kernel.name),
        buffers: first_buffers,
        body: vec![Stmt::Loop {
            id: c,
            extent: chunks,
            parallel: true,
            body: chunk_body,
        }],
    };

    // Combine: the original buffers and the partials as one more input.
    let partial_in_second = BufId(kernel.buffers.len() as u32);
    let mut body: Vec<Stmt> = s.pre.to_vec();
    body.push(Stmt::AccInit {
        acc: s.acc,
        ty: s.ty,
        init: s.init,
    });
    let t = ids.lp();
    let (read, part, folded) = (ids.value(), ids.value(), ids.value());
    body.push(Stmt::Loop {
        id: t,
        extent: chunks,
        parallel: false,
        body: vec![
            Stmt::Let {
                value: read,
                ty: s.ty,
                expr: Expr::AccRead(s.acc),
            },
            Stmt::Let {
                value: part,
                ty: s.ty,
                expr: Expr::Load {
                    buf: partial_in_second,
                    index: Index {
                        offset: 0,
                        terms: vec![(t, 1)],
                        dynamic: None,
                    },
                },
            },
            Stmt::Let {
                value: folded,
                ty: s.ty,
                expr: Expr::Binary(s.combine, read, part),
            },
            Stmt::AccSet {
                acc: s.acc,
                value: folded,
            },
        ],
    });
    if rest > 0 {
        let offset = (chunks * chunk) as i64;
        body.push(Stmt::Loop {
            id: s.lp,
            extent: rest,
            parallel: false,
            body: s
                .body
                .iter()
                .map(|st| shift_loop(st, s.lp, None, offset))
                .collect(),
        });
    }
    body.extend(s.post.iter().cloned());
    let mut buffers = kernel.buffers.clone();
    buffers.push(BufferDecl {
        dtype: partial_dtype,
        len: chunks,
        kind: BufferKind::Input,
    });
    let combine = Kernel {
        name: format!("{}_combine", kernel.name),
        buffers,
        body,
    };
    Some(Split {
        partials,
        combine,
        inputs,
        partial_dtype,
        chunks,
    })
}

/// `st` with every index's term on loop `lp` (coefficient `k`) also
/// stepping `k · stride` along `outer` when given, and moved by `k ·
/// offset`.
fn shift_loop(st: &Stmt, lp: LoopId, outer: Option<(LoopId, i64)>, offset: i64) -> Stmt {
    map_load(st, |buf, index| {
        let k = index.coefficient(lp);
        let mut index = index.clone();
        if k != 0 {
            index.offset += k * offset;
            if let Some((o, stride)) = outer {
                index.terms.push((o, k * stride));
            }
        }
        (buf, index)
    })
}

/// `st` with its loads' buffers renumbered (every loaded buffer is in
/// `map`: the pattern only loads inputs).
fn rebuffer(st: &Stmt, map: &HashMap<BufId, BufId>) -> Stmt {
    map_load(st, |buf, index| {
        (map.get(&buf).copied().unwrap_or(buf), index.clone())
    })
}

/// `st` with the buffer and index of its load (if it is one) replaced by
/// `f` of them.
fn map_load(st: &Stmt, f: impl Fn(BufId, &Index) -> (BufId, Index)) -> Stmt {
    match st {
        Stmt::Let {
            value,
            ty,
            expr: Expr::Load { buf, index },
        } => {
            let (buf, index) = f(*buf, index);
            Stmt::Let {
                value: *value,
                ty: *ty,
                expr: Expr::Load { buf, index },
            }
        }
        other => other.clone(),
    }
}

/// Value and loop ids not used in a kernel.
struct FreshIds {
    value: u32,
    lp: u32,
}

impl FreshIds {
    fn new(kernel: &Kernel) -> FreshIds {
        let mut ids = FreshIds { value: 0, lp: 0 };
        ids.scan(&kernel.body);
        ids
    }

    fn scan(&mut self, block: &[Stmt]) {
        for s in block {
            match s {
                Stmt::Loop { id, body, .. } => {
                    self.lp = self.lp.max(id.0 + 1);
                    self.scan(body);
                }
                Stmt::Let { value, .. } => self.value = self.value.max(value.0 + 1),
                Stmt::Store { .. } | Stmt::AccInit { .. } | Stmt::AccSet { .. } => {}
            }
        }
    }

    fn value(&mut self) -> ValueId {
        self.value += 1;
        ValueId(self.value - 1)
    }

    fn lp(&mut self) -> LoopId {
        self.lp += 1;
        LoopId(self.lp - 1)
    }
}
