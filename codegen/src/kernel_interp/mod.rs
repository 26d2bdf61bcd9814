//! The kernel interpreter: the executable definition of the kernel IR
//! ([`crate::kernel`]) and of programs ([`crate::program`]).
//!
//! It is written to be plainly correct, not fast: [`run_kernel`] first
//! checks the whole kernel ([`check`]: scoping, types, buffer roles), then
//! walks the statements with one table of typed scalars per value, loop and
//! accumulator, computing every operation natively in its type as the
//! reference interpreter (`rjax_ir::interp`) computes the corresponding
//! primitive (the semantics live in `scalar.rs`). Every buffer access is
//! bounds-checked, and an index out of range is an [`Error`], not a panic:
//! running a fused program here checks fusion's index arithmetic as well as
//! its values.
//!
//! Transcendental operations are evaluated with Rust's `f32`/`f64` methods,
//! so kernels run both before and after `math::expand`; comparing the two is
//! how the expansions' accuracy is measured.
//!
//! [`run_program`] allocates every program buffer (arguments copied in,
//! constants, zero-filled temporaries), runs the steps in order (a GEMM as
//! plain loops honouring its strides, summing in the same order as the
//! reference `dot_general`; a control step by running its sub-programs
//! with `run_program`, see `control.rs`) and returns copies of the outputs.

mod check;
mod control;
mod scalar;

use crate::kernel::{BufId, BufferKind, Expr, Index, Kernel, Stmt};
use crate::program::{BufferSource, Gemm, Program, Step};
use check::kernel_error;
use rjax_ir::{num_elements, DType, Data, Error, HostBuffer, Result, Scalar};
use scalar::Val;

/// Checks a kernel without running it: every value, loop and accumulator is
/// defined once and used where it is visible, every operation gets operand
/// types it accepts and every `Let` declares the type its expression
/// gives, stores go to output buffers with values of their dtype, and index
/// terms name enclosing loops.
///
/// # Errors
/// `Error::Op` (op `kernel`) naming the first problem, followed by the
/// kernel's text.
pub fn check(kernel: &Kernel) -> Result<()> {
    check::check(kernel).map(|_| ())
}

/// Runs `kernel` on `buffers` (`buffers[i]` bound to `kernel.buffers[i]`):
/// inputs are read, outputs written in place.
///
/// # Errors
/// `Error::Op` (op `kernel`, with the kernel's text) when the kernel fails
/// [`check`], when the buffers do not match the kernel's declarations, or
/// when an index falls outside its buffer.
pub fn run_kernel(kernel: &Kernel, buffers: &mut [Data]) -> Result<()> {
    let extent = check::check(kernel)?;
    if buffers.len() != kernel.buffers.len() {
        let msg = format!(
            "{} buffers passed for {} parameters",
            buffers.len(),
            kernel.buffers.len()
        );
        return Err(kernel_error(kernel, msg));
    }
    for (i, (data, decl)) in buffers.iter().zip(&kernel.buffers).enumerate() {
        if data.dtype() != decl.dtype || data.len() != decl.len {
            let msg = format!(
                "buffer b{i} is {}[{}], the kernel declares {}[{}]",
                data.dtype(),
                data.len(),
                decl.dtype,
                decl.len
            );
            return Err(kernel_error(kernel, msg));
        }
    }
    let mut m = Machine {
        kernel,
        buffers,
        values: vec![Val::Bool(false); extent.values],
        loops: vec![0; extent.loops],
        accs: vec![Val::Bool(false); extent.accs],
    };
    m.block(&kernel.body)
}

/// The state of a running kernel.
struct Machine<'k, 'b> {
    kernel: &'k Kernel,
    buffers: &'b mut [Data],
    /// By value id (checked: read only where defined).
    values: Vec<Val>,
    /// Current iteration, by loop id.
    loops: Vec<i64>,
    /// Current value, by accumulator id.
    accs: Vec<Val>,
}

impl Machine<'_, '_> {
    fn block(&mut self, stmts: &[Stmt]) -> Result<()> {
        for stmt in stmts {
            match stmt {
                Stmt::Loop {
                    id,
                    extent,
                    body,
                    parallel: _,
                } => {
                    for i in 0..*extent {
                        self.loops[id.0 as usize] = i as i64;
                        self.block(body)?;
                    }
                }
                Stmt::Let { value, ty: _, expr } => {
                    let v = self.expr(expr)?;
                    self.values[value.0 as usize] = v;
                }
                Stmt::Store { buf, index, value } => {
                    let i = self.index(*buf, index)?;
                    let v = self.values[value.0 as usize];
                    store(&mut self.buffers[buf.0 as usize], i, v).ok_or_else(|| {
                        self.internal(format_args!("store of {v:?} to b{}", buf.0))
                    })?;
                }
                Stmt::AccInit { acc, ty: _, init } => {
                    self.accs[acc.0 as usize] = Val::of_const(*init)
                }
                Stmt::AccSet { acc, value } => {
                    self.accs[acc.0 as usize] = self.values[value.0 as usize]
                }
            }
        }
        Ok(())
    }

    fn expr(&self, expr: &Expr) -> Result<Val> {
        let val = |v: &crate::kernel::ValueId| self.values[v.0 as usize];
        let got = match expr {
            Expr::Const(c) => Some(Val::of_const(*c)),
            Expr::LoopVar(lp) => Some(Val::Index(self.loops[lp.0 as usize])),
            Expr::Load { buf, index } => Some(load(
                &self.buffers[buf.0 as usize],
                self.index(*buf, index)?,
            )),
            Expr::Unary(op, a) => scalar::unary(*op, val(a)),
            Expr::Binary(op, a, b) => scalar::binary(*op, val(a), val(b)),
            Expr::Fma(a, b, c) => scalar::fma(val(a), val(b), val(c)),
            Expr::Select(c, a, b) => match val(c) {
                Val::Bool(p) => Some(if p { val(a) } else { val(b) }),
                _ => None,
            },
            Expr::Convert(to, a) => Some(scalar::convert(*to, val(a))),
            Expr::Bitcast(to, a) => scalar::bitcast(*to, val(a)),
            Expr::AccRead(acc) => Some(self.accs[acc.0 as usize]),
        };
        got.ok_or_else(|| self.internal(format_args!("{expr:?}")))
    }

    /// The element position `index` denotes in buffer `buf`, bounds-checked.
    fn index(&self, buf: BufId, index: &Index) -> Result<usize> {
        let mut i = i128::from(index.offset);
        for (lp, coef) in &index.terms {
            i += i128::from(*coef) * i128::from(self.loops[lp.0 as usize]);
        }
        if let Some(d) = index.dynamic {
            match self.values[d.0 as usize] {
                Val::Index(x) => i += i128::from(x),
                other => return Err(self.internal(format_args!("dynamic index {other:?}"))),
            }
        }
        let len = self.buffers[buf.0 as usize].len();
        match usize::try_from(i) {
            Ok(pos) if pos < len => Ok(pos),
            _ => {
                let loops: Vec<String> = index
                    .terms
                    .iter()
                    .map(|(lp, _)| format!("i{} = {}", lp.0, self.loops[lp.0 as usize]))
                    .collect();
                let msg = format!(
                    "index {i} out of bounds for b{} of length {len} (index {index} with {})",
                    buf.0,
                    if loops.is_empty() {
                        "no loop terms".to_string()
                    } else {
                        loops.join(", ")
                    }
                );
                Err(kernel_error(self.kernel, msg))
            }
        }
    }

    /// An error the checker should have ruled out.
    fn internal(&self, what: std::fmt::Arguments<'_>) -> Error {
        kernel_error(
            self.kernel,
            format_args!("internal error: ill-typed operation {what}"),
        )
    }
}

/// Element `i` of `data`.
fn load(data: &Data, i: usize) -> Val {
    match data {
        Data::F32(v) => Val::F32(v[i]),
        Data::F64(v) => Val::F64(v[i]),
        Data::I32(v) => Val::I32(v[i]),
        Data::U32(v) => Val::U32(v[i]),
        Data::Bool(v) => Val::Bool(v[i]),
    }
}

/// Writes `value` at `i`, or `None` when its type is not the buffer's.
fn store(data: &mut Data, i: usize, value: Val) -> Option<()> {
    match (data, value) {
        (Data::F32(v), Val::F32(x)) => v[i] = x,
        (Data::F64(v), Val::F64(x)) => v[i] = x,
        (Data::I32(v), Val::I32(x)) => v[i] = x,
        (Data::U32(v), Val::U32(x)) => v[i] = x,
        (Data::Bool(v), Val::Bool(x)) => v[i] = x,
        _ => return None,
    }
    Some(())
}

// ---- programs ----------------------------------------------------------------

/// Runs a program on its arguments and returns its outputs.
///
/// # Errors
/// `Error::Op` (op `program`) when the arguments do not match the program's
/// argument buffers, when a step's buffers do not match what it declares,
/// or when a GEMM reads outside its operands; any error of a kernel step.
pub fn run_program(program: &Program, args: &[HostBuffer]) -> Result<Vec<HostBuffer>> {
    let mut bufs = Vec::with_capacity(program.buffers.len());
    for (i, pb) in program.buffers.iter().enumerate() {
        let n = num_elements(&pb.shape);
        let data = match &pb.source {
            BufferSource::Argument(a) => {
                let arg = args.get(*a).ok_or_else(|| {
                    program_error(format!(
                        "buffer {i} is argument {a}, but {} arguments were passed",
                        args.len()
                    ))
                })?;
                if arg.dtype() != pb.dtype || arg.shape() != &pb.shape[..] {
                    let want = rjax_ir::AVal::new(pb.dtype, &pb.shape);
                    return Err(program_error(format!(
                        "argument {a} is {}, expected {want}",
                        arg.aval()
                    )));
                }
                arg.data().clone()
            }
            BufferSource::Constant(c) => {
                if c.dtype() != pb.dtype || c.len() != n {
                    return Err(program_error(format!(
                        "constant buffer {i} holds {}",
                        c.aval()
                    )));
                }
                c.data().clone()
            }
            BufferSource::Temporary => Data::filled(Scalar::zero(pb.dtype), n),
        };
        bufs.push(data);
    }
    for (s, step) in program.steps.iter().enumerate() {
        match step {
            Step::Kernel { kernel, args } => run_kernel_step(kernel, args, &mut bufs)
                .map_err(|e| program_error(format!("step {s} (kernel {}): {e}", kernel.name)))?,
            Step::Gemm(g) => {
                gemm(g, &mut bufs).map_err(|m| program_error(format!("step {s} (gemm): {m}")))?
            }
            Step::Control(c) => control::run(c, program, &mut bufs)
                .map_err(|e| program_error(format!("step {s} ({}): {e}", c.name())))?,
        }
    }
    program
        .outputs
        .iter()
        .map(|r| {
            let pb = program
                .buffers
                .get(r.0 as usize)
                .ok_or_else(|| program_error(format!("output buffer {} does not exist", r.0)))?;
            HostBuffer::new(bufs[r.0 as usize].clone(), &pb.shape)
        })
        .collect()
}

fn program_error(message: String) -> Error {
    Error::op("program", message)
}

/// Runs a kernel step: its buffers are moved out of the program's table
/// (copied when one is passed twice, which only inputs may be) and the
/// outputs moved back.
fn run_kernel_step(
    kernel: &Kernel,
    args: &[crate::program::BufferRef],
    bufs: &mut [Data],
) -> Result<()> {
    if args.len() != kernel.buffers.len() {
        let msg = format!(
            "{} buffers bound to {} parameters",
            args.len(),
            kernel.buffers.len()
        );
        return Err(kernel_error(kernel, msg));
    }
    for (k, r) in args.iter().enumerate() {
        if r.0 as usize >= bufs.len() {
            return Err(kernel_error(
                kernel,
                format_args!("parameter b{k} is bound to missing buffer {}", r.0),
            ));
        }
        let twice = args[..k].iter().any(|o| o == r);
        let output = |j: usize| kernel.buffers[j].kind == BufferKind::Output;
        if twice && args.iter().enumerate().any(|(j, o)| o == r && output(j)) {
            return Err(kernel_error(
                kernel,
                format_args!("buffer {} is bound twice, once as an output", r.0),
            ));
        }
    }
    let mut local: Vec<Data> = Vec::with_capacity(args.len());
    for (k, r) in args.iter().enumerate() {
        let data = match args[..k].iter().position(|o| o == r) {
            Some(j) => local[j].clone(),
            None => std::mem::replace(&mut bufs[r.0 as usize], Data::Bool(Vec::new())),
        };
        local.push(data);
    }
    let result = run_kernel(kernel, &mut local);
    for (k, (r, data)) in args.iter().zip(local).enumerate() {
        if !args[..k].contains(r) {
            bufs[r.0 as usize] = data;
        }
    }
    result
}

/// `out[b] = lhs[b] @ rhs[b]` with plain loops, summing over `k` in order
/// from zero (as the reference `dot_general`).
fn gemm(g: &Gemm, bufs: &mut [Data]) -> Result<(), String> {
    let get =
        |r: crate::program::BufferRef| bufs.get(r.0 as usize).ok_or(format!("no buffer {}", r.0));
    let (lhs, rhs) = (get(g.lhs.0)?, get(g.rhs.0)?);
    let (ls, rs) = (g.lhs.1, g.rhs.1);
    // Element (b, i, j) of an operand with strides `s`, bounds-checked.
    let at = |s: [isize; 3], len: usize, b: usize, i: usize, j: usize, what: &str| {
        let pos = s[0] as i128 * b as i128 + s[1] as i128 * i as i128 + s[2] as i128 * j as i128;
        usize::try_from(pos)
            .ok()
            .filter(|&p| p < len)
            .ok_or_else(|| {
                format!("{what} element ({b}, {i}, {j}) at {pos} is outside its {len} elements")
            })
    };
    let n_out = g.batch * g.m * g.n;
    let out = match (lhs, rhs) {
        (Data::F32(l), Data::F32(r)) if g.dtype == DType::F32 => {
            let mut o = vec![0f32; n_out];
            for b in 0..g.batch {
                for i in 0..g.m {
                    for j in 0..g.n {
                        let mut acc = 0f32;
                        for p in 0..g.k {
                            acc += l[at(ls, l.len(), b, i, p, "lhs")?]
                                * r[at(rs, r.len(), b, p, j, "rhs")?];
                        }
                        o[(b * g.m + i) * g.n + j] = acc;
                    }
                }
            }
            Data::F32(o)
        }
        (Data::F64(l), Data::F64(r)) if g.dtype == DType::F64 => {
            let mut o = vec![0f64; n_out];
            for b in 0..g.batch {
                for i in 0..g.m {
                    for j in 0..g.n {
                        let mut acc = 0f64;
                        for p in 0..g.k {
                            acc += l[at(ls, l.len(), b, i, p, "lhs")?]
                                * r[at(rs, r.len(), b, p, j, "rhs")?];
                        }
                        o[(b * g.m + i) * g.n + j] = acc;
                    }
                }
            }
            Data::F64(o)
        }
        (l, r) => {
            return Err(format!(
                "a {} gemm needs {} operands, got {} and {}",
                g.dtype,
                g.dtype,
                l.dtype(),
                r.dtype()
            ))
        }
    };
    let slot = bufs
        .get_mut(g.out.0 as usize)
        .ok_or(format!("no buffer {}", g.out.0))?;
    if slot.dtype() != out.dtype() || slot.len() != out.len() {
        return Err(format!(
            "the result buffer is {}[{}], expected {}[{n_out}]",
            slot.dtype(),
            slot.len(),
            g.dtype
        ));
    }
    *slot = out;
    Ok(())
}
