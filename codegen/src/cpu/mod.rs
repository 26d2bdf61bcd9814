//! The CPU backend: kernel IR → Cranelift IR → machine code, and a runtime
//! that runs a whole [`Program`].
//!
//! Pipeline for one program ([`compile_program`]):
//!
//! 1. Validation: every kernel passes `kernel_interp::check`, every
//!    transcendental operation has been expanded (`math::expand`), every
//!    affine index stays inside its buffer, every step's buffers match what
//!    it declares, and no step writes an argument or a constant.
//! 2. `split_reduce`: a full reduction of a large array becomes two steps
//!    (per-chunk partial results in parallel, then their combination).
//! 3. Per kernel: `hoist` (loop-invariant code motion in the kernel IR),
//!    choice of the split loop for threads, then `translate` (scalar code,
//!    rotated loops) with `simd` (vectorised innermost loops: 128-bit
//!    Cranelift vectors, or 16-lane AVX-512 code from `avx512` where the
//!    CPU has it).
//! 4. All kernels of the program go into ONE `JITModule`, freed with
//!    `free_memory` when the [`CpuExecutable`] is dropped (TECH-NOTES §1e);
//!    Cranelift's verifier runs in debug builds.
//! 5. `plan`: static memory plan (arguments read in place, temporaries
//!    sharing an arena by liveness, outputs, donation).
//! 6. `runtime`: the executable itself (arena pool, threads, GEMM shim).
//!
//! Control steps (`cond`, `while`, `scan`, see [`crate::control`]) are
//! validated recursively; the kernels of their sub-programs, at every
//! nesting level, are compiled into the same `JITModule`, and `control`
//! runs them (sub-programs with their own memory plans, loops on the host
//! with per-iteration address patching).
//!
//! Set `RJAX_DUMP_CLIF=1` to print each kernel's Cranelift IR to stderr as
//! it is compiled, `RJAX_DUMP_CLIF=2` to print its machine code as well.
//!
//! Dynamic index terms (gathers, dynamic slices) are trusted: fusion clamps
//! them, and the kernel interpreter checks them in the differential tests.

mod avx512;
mod control;
mod env;
mod hoist;
pub(crate) mod plan;
mod runtime;
mod simd;
mod split_reduce;
mod translate;

pub use runtime::{without_row_pairs, CpuExecutable};
pub use simd::{avx512_available, wide_loops_compiled, with_narrow_vectors};
pub use split_reduce::split_reductions;

use cranelift_codegen::ir::InstBuilder;
use cranelift_codegen::CodegenError;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::JITModule;
use cranelift_module::{Linkage, Module, ModuleError};
use rjax_ir::{num_elements, AVal, ClosedJaxpr, DType, Data, Result};

use crate::kernel::{BufferKind, Expr, Kernel, LoopId, Stmt, UnaryOp};
use crate::program::{BufferRef, BufferSource, Program, Step};
use env::{error, KernelFn};
use translate::{choose_split, work, KernelInfo, KernelTranslator};

/// Owns the JIT module of one executable and frees its code and data when
/// dropped (a plain drop of a `JITModule` leaks them on purpose).
pub(crate) struct JitCode(Option<JITModule>);

impl Drop for JitCode {
    fn drop(&mut self) {
        if let Some(module) = self.0.take() {
            // SAFETY: the function pointers into this module live only in the
            // executable (or `run_kernel` call) that owns this value and are
            // dropped with it; no call can be running, since dropping needs
            // exclusive ownership.
            unsafe { module.free_memory() };
        }
    }
}

// SAFETY: after `finalize_definitions` the module is never touched again
// until it is freed on drop; the machine code it owns is immutable and may
// run on any thread.
unsafe impl Send for JitCode {}
// SAFETY: as above: shared references never reach the module.
unsafe impl Sync for JitCode {}

/// Compiles a closed jaxpr for the host CPU: `fusion::plan`, then
/// `math::expand` on every kernel, then [`compile_program`].
///
/// # Errors
/// What fusion reports (unsupported primitives), or as [`compile_program`].
pub fn compile_jaxpr(jaxpr: &ClosedJaxpr, in_avals: &[AVal]) -> Result<CpuExecutable> {
    let mut program = crate::fusion::plan(jaxpr)?;
    crate::control::for_each_kernel_mut(&mut program, &mut |kernel| {
        *kernel = crate::math::expand(kernel);
    });
    compile_program(&program, in_avals)
}

/// Compiles `program` for the host CPU. `in_avals` are the argument types
/// the executable accepts (they must match the program's argument buffers).
///
/// # Errors
/// `Error::Op` (op `cpu backend`) when the program is malformed (see the
/// module docs), contains an operation this backend cannot lower (a
/// transcendental operation left unexpanded, a GEMM on integers), or when
/// Cranelift rejects a function.
pub fn compile_program(program: &Program, in_avals: &[AVal]) -> Result<CpuExecutable> {
    validate_program(program, in_avals)?;
    let split = split_reduce::split_reductions(program);
    if let std::borrow::Cow::Owned(split) = &split {
        // The rewritten steps must pass the same checks.
        validate_program(split, in_avals)?;
    }
    let program = split.as_ref();
    let kernels: Vec<&Kernel> = crate::control::kernels(program);
    let (code, fns) = compile_kernels(&kernels)?;
    let plan = plan::plan(program)?;
    CpuExecutable::new(program, fns, plan, in_avals.to_vec(), code)
}

/// Compiles `kernel` and runs it once on `buffers` (`buffers[i]` bound to
/// `kernel.buffers[i]`; inputs read, outputs written in place), as
/// `kernel_interp::run_kernel` does. For tests and tools: the code is freed
/// on return.
///
/// # Errors
/// As [`compile_program`], and when the buffers do not match the kernel's
/// declarations.
pub fn run_kernel(kernel: &Kernel, buffers: &mut [Data]) -> Result<()> {
    if buffers.len() != kernel.buffers.len() {
        return Err(error(format!(
            "kernel {}: {} buffers for {} parameters",
            kernel.name,
            buffers.len(),
            kernel.buffers.len()
        )));
    }
    for (i, (d, decl)) in buffers.iter().zip(&kernel.buffers).enumerate() {
        if d.dtype() != decl.dtype || d.len() != decl.len {
            return Err(error(format!(
                "kernel {}: buffer b{i} is {}[{}], declared {}[{}]",
                kernel.name,
                d.dtype(),
                d.len(),
                decl.dtype,
                decl.len
            )));
        }
    }
    let (_code, fns) = compile_kernels(&[kernel])?;
    let (f, info) = fns[0];
    let table: Vec<*mut u8> = buffers
        .iter_mut()
        .map(|d| match d {
            Data::F32(v) => v.as_mut_ptr().cast::<u8>(),
            Data::F64(v) => v.as_mut_ptr().cast(),
            Data::I32(v) => v.as_mut_ptr().cast(),
            Data::U32(v) => v.as_mut_ptr().cast(),
            Data::Bool(v) => v.as_mut_ptr().cast(),
        })
        .collect();
    // SAFETY: the buffers match the declarations (checked above), the
    // kernel's affine indices were checked against them when compiling,
    // and `_code` keeps the function alive until after the call.
    unsafe { runtime::call_kernel(f, info, &table) };
    Ok(())
}

/// The innermost loops of `kernel` that the backend vectorises (after
/// hoisting), in program order: for tests and dumps, to see which path a
/// kernel takes.
///
/// # Errors
/// When the kernel fails validation (see [`compile_program`]).
pub fn vectorized_loops(kernel: &Kernel) -> Result<Vec<LoopId>> {
    validate_kernel(kernel)?;
    let hoisted = hoist::hoist(kernel);
    let (mut tys, mut acc_tys) = (Default::default(), Default::default());
    translate::collect_types(&hoisted.body, &mut tys, &mut acc_tys);
    let types = simd::KernelTypes {
        kernel: &hoisted,
        tys: &tys,
        acc_tys: &acc_tys,
    };
    let mut found = Vec::new();
    fn walk(types: &simd::KernelTypes<'_>, body: &[Stmt], found: &mut Vec<LoopId>) {
        for s in body {
            if let Stmt::Loop { id, body, .. } = s {
                if body.iter().any(|s| matches!(s, Stmt::Loop { .. })) {
                    walk(types, body, found);
                } else if simd::VectorPlan::analyze(types, *id, body).is_some() {
                    found.push(*id);
                }
            }
        }
    }
    walk(&types, &hoisted.body, &mut found);
    Ok(found)
}

/// Compiles kernels into one fresh JIT module.
fn compile_kernels(kernels: &[&Kernel]) -> Result<(JitCode, Vec<(KernelFn, KernelInfo)>)> {
    let (module, shims) = env::new_module()?;
    let mut code = JitCode(Some(module));
    let module = code
        .0
        .as_mut()
        .expect("internal error: module just created");
    let mut ctx = module.make_context();
    let mut fctx = FunctionBuilderContext::new();
    let dump = std::env::var("RJAX_DUMP_CLIF")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0);
    let mut ids = Vec::with_capacity(kernels.len());
    for (i, kernel) in kernels.iter().enumerate() {
        validate_kernel(kernel)?;
        let hoisted = hoist::hoist(kernel);
        let split = choose_split(&hoisted.body);
        let info = KernelInfo {
            split_extent: split.map(|s| s.1),
            work: work(&hoisted.body),
        };
        let sig = env::kernel_signature(module);
        ctx.func.signature = sig.clone();
        {
            let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
            let fmod = [
                module.declare_func_in_func(shims.fmod_f32, b.func),
                module.declare_func_in_func(shims.fmod_f64, b.func),
            ];
            let entry = b.create_block();
            b.append_block_params_for_function_params(entry);
            b.switch_to_block(entry);
            b.seal_block(entry);
            let mut t =
                KernelTranslator::new(&mut b, &hoisted, entry, split.map(|s| s.0), fmod, module);
            t.block(&hoisted.body)?;
            b.ins().return_(&[]);
            b.finalize(module.isa().frontend_config());
        }
        if dump > 0 {
            eprintln!("; kernel {}\n{}", kernel.name, ctx.func.display());
        }
        ctx.set_disasm(dump > 1);
        let id = module
            .declare_function(&format!("rjax_kernel_{i}"), Linkage::Local, &sig)
            .map_err(|e| env::module_error("declare", e))?;
        module.define_function(id, &mut ctx).map_err(|e| match e {
            ModuleError::Compilation(CodegenError::Verifier(errors)) => error(format!(
                "kernel {}: cranelift verifier:\n{}",
                kernel.name,
                cranelift_codegen::print_errors::pretty_verifier_error(&ctx.func, None, errors)
            )),
            other => error(format!("kernel {}: cranelift: {other:?}", kernel.name)),
        })?;
        if let Some(vcode) = ctx.compiled_code().and_then(|c| c.vcode.as_ref()) {
            eprintln!("; kernel {}: machine code\n{vcode}", kernel.name);
        }
        module.clear_context(&mut ctx);
        ids.push((id, info));
    }
    module
        .finalize_definitions()
        .map_err(|e| env::module_error("finalize", e))?;
    let fns = ids
        .into_iter()
        .map(|(id, info)| {
            let ptr = module.get_finalized_function(id);
            // SAFETY: the function was defined with the kernel signature,
            // which is `extern "C" fn(*const *mut u8, i64, i64)` in the
            // host's default calling convention.
            let f = unsafe { std::mem::transmute::<*const u8, KernelFn>(ptr) };
            (f, info)
        })
        .collect();
    Ok((code, fns))
}

/// Checks what the translator relies on: the kernel interpreter's checks,
/// no transcendental operation, affine indices in bounds.
fn validate_kernel(kernel: &Kernel) -> Result<()> {
    crate::kernel_interp::check(kernel)?;
    let mut loops = Vec::new();
    check_block(kernel, &kernel.body, &mut loops)
}

fn check_block(kernel: &Kernel, body: &[Stmt], loops: &mut Vec<(LoopId, usize)>) -> Result<()> {
    for s in body {
        match s {
            Stmt::Loop {
                id, extent, body, ..
            } => {
                if *extent == 0 {
                    continue;
                }
                loops.push((*id, *extent));
                check_block(kernel, body, loops)?;
                loops.pop();
            }
            Stmt::Let { expr, .. } => match expr {
                Expr::Unary(op, _) if UnaryOp::is_transcendental(*op) => {
                    return Err(error(format!(
                        "kernel {}: {op:?} must be expanded by math::expand before the CPU backend",
                        kernel.name
                    )))
                }
                Expr::Binary(crate::kernel::BinaryOp::Pow, ..) => {
                    return Err(error(format!(
                        "kernel {}: Pow must be expanded by math::expand before the CPU backend",
                        kernel.name
                    )))
                }
                Expr::Load { buf, index } => check_index(kernel, *buf, index, loops)?,
                Expr::Const(_)
                | Expr::LoopVar(_)
                | Expr::Unary(..)
                | Expr::Binary(..)
                | Expr::Fma(..)
                | Expr::Select(..)
                | Expr::Convert(..)
                | Expr::Bitcast(..)
                | Expr::AccRead(_) => {}
            },
            Stmt::Store { buf, index, .. } => check_index(kernel, *buf, index, loops)?,
            Stmt::AccInit { .. } | Stmt::AccSet { .. } => {}
        }
    }
    Ok(())
}

/// The affine part of an index without a dynamic term must stay inside
/// the buffer for every iteration.
fn check_index(
    kernel: &Kernel,
    buf: crate::kernel::BufId,
    index: &crate::kernel::Index,
    loops: &[(LoopId, usize)],
) -> Result<()> {
    if index.dynamic.is_some() {
        return Ok(());
    }
    let (mut lo, mut hi) = (i128::from(index.offset), i128::from(index.offset));
    for (l, c) in &index.terms {
        let e = loops.iter().find(|(x, _)| x == l).map_or(1, |(_, e)| *e) as i128;
        let span = i128::from(*c) * (e - 1);
        lo += span.min(0);
        hi += span.max(0);
    }
    let len = kernel.buffers[buf.0 as usize].len as i128;
    if lo < 0 || hi >= len {
        return Err(error(format!(
            "kernel {}: index {index} of b{} reaches {lo}..={hi}, outside its {len} elements",
            kernel.name, buf.0
        )));
    }
    Ok(())
}

/// Checks the program's buffers and steps against each other and `in_avals`.
pub(crate) fn validate_program(program: &Program, in_avals: &[AVal]) -> Result<()> {
    for (i, pb) in program.buffers.iter().enumerate() {
        match &pb.source {
            BufferSource::Argument(a) => {
                let want = in_avals.get(*a).ok_or_else(|| {
                    error(format!(
                        "buffer {i} is argument {a}, but there are {} arguments",
                        in_avals.len()
                    ))
                })?;
                if want.dtype != pb.dtype || want.shape[..] != pb.shape[..] {
                    return Err(error(format!(
                        "buffer {i} is argument {a} of type {want}, but declared {}{:?}",
                        pb.dtype, pb.shape
                    )));
                }
            }
            BufferSource::Constant(c) => {
                if c.dtype() != pb.dtype || c.len() != num_elements(&pb.shape) {
                    return Err(error(format!("constant buffer {i} holds {}", c.aval())));
                }
            }
            BufferSource::Temporary => {}
        }
    }
    let get = |r: BufferRef| {
        plan::dtype_len(program, r).ok_or_else(|| error(format!("buffer {} does not exist", r.0)))
    };
    let writable = |r: BufferRef| program.buffers[r.0 as usize].source == BufferSource::Temporary;
    for (s, step) in program.steps.iter().enumerate() {
        match step {
            Step::Kernel { kernel, args } => {
                if args.len() != kernel.buffers.len() {
                    return Err(error(format!(
                        "step {s}: {} buffers for kernel {} of {} parameters",
                        args.len(),
                        kernel.name,
                        kernel.buffers.len()
                    )));
                }
                for (k, (r, decl)) in args.iter().zip(&kernel.buffers).enumerate() {
                    let (dtype, len) = get(*r)?;
                    if dtype != decl.dtype || len != decl.len {
                        return Err(error(format!(
                            "step {s}: buffer {} is {dtype}[{len}], kernel {} declares b{k} {}[{}]",
                            r.0, kernel.name, decl.dtype, decl.len
                        )));
                    }
                    let output = decl.kind == BufferKind::Output;
                    if output && !writable(*r) {
                        return Err(error(format!(
                            "step {s}: kernel {} writes buffer {}, an argument or constant",
                            kernel.name, r.0
                        )));
                    }
                    if output && args.iter().filter(|o| *o == r).count() > 1 {
                        return Err(error(format!(
                            "step {s}: kernel {} binds output buffer {} twice",
                            kernel.name, r.0
                        )));
                    }
                }
            }
            Step::Control(c) => control::validate(program, s, c, validate_program)?,
            Step::Gemm(g) => {
                if !matches!(g.dtype, DType::F32 | DType::F64) {
                    return Err(error(format!(
                        "step {s}: gemm on {} (only f32 and f64)",
                        g.dtype
                    )));
                }
                let (od, olen) = get(g.out)?;
                if od != g.dtype
                    || olen != g.batch * g.m * g.n
                    || !writable(g.out)
                    || g.out == g.lhs.0
                    || g.out == g.rhs.0
                {
                    return Err(error(format!("step {s}: gemm result buffer {} is {od}[{olen}], expected a temporary {}[{}]", g.out.0, g.dtype, g.batch * g.m * g.n)));
                }
                for (what, (r, st), rows, cols) in
                    [("lhs", g.lhs, g.m, g.k), ("rhs", g.rhs, g.k, g.n)]
                {
                    let (d, len) = get(r)?;
                    if d != g.dtype || !strides_in_bounds(st, [g.batch, rows, cols], len) {
                        return Err(error(format!("step {s}: gemm {what} buffer {} ({d}[{len}]) does not hold {}x{rows}x{cols} {} with strides {st:?}", r.0, g.batch, g.dtype)));
                    }
                }
            }
        }
    }
    Ok(())
}

fn strides_in_bounds(strides: [isize; 3], dims: [usize; 3], len: usize) -> bool {
    if dims.contains(&0) {
        return true;
    }
    let (mut lo, mut hi) = (0i128, 0i128);
    for (s, d) in strides.iter().zip(dims) {
        let span = *s as i128 * (d as i128 - 1);
        lo += span.min(0);
        hi += span.max(0);
    }
    lo >= 0 && hi < len as i128
}
