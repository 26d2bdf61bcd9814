//! ABI and runtime concerns of the Cranelift backend, kept apart from the
//! translation of kernel statements (the split wasmtime makes between its
//! translator and its `FuncEnvironment`).
//!
//! - The host ISA: `cranelift_native` turns on the host's features (AVX,
//!   FMA, AVX-512 encodings), optimisation level `speed`, and Cranelift's
//!   verifier in debug builds.
//! - The JIT module: one per compiled program, with the host functions JIT
//!   code may call registered as symbols (the float remainder shims).
//! - The kernel function signature and how buffer pointers are read.
//!
//! # Kernel ABI
//!
//! Every kernel is compiled to
//! `extern "C" fn(buffers: *const *mut u8, begin: i64, end: i64)`.
//! `buffers[i]` is the base address of the kernel's buffer `i`
//! ([`crate::kernel::Kernel::buffers`]), densely laid out with the
//! element sizes of [`elem_size`] (bool is one byte, 0 or 1). `begin..end`
//! bounds the kernel's *split loop* (see `translate`): the runtime calls the
//! function once with `0..extent`, or once per thread with disjoint
//! sub-ranges. Kernels without a split loop ignore both.

use cranelift_codegen::ir::{types, AbiParam, Signature, Type};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module};
use rjax_ir::{DType, Error, Result};

use crate::kernel::ScalarType;

/// The type of a compiled kernel's entry point (see the module docs).
pub(crate) type KernelFn = unsafe extern "C" fn(*const *mut u8, i64, i64);

/// Host functions that JIT code may call, by symbol.
pub(crate) struct Shims {
    /// `fmodf`: the f32 remainder with the dividend's sign.
    pub fmod_f32: FuncId,
    /// `fmod`: the f64 remainder.
    pub fmod_f64: FuncId,
}

extern "C" fn rt_fmod_f32(a: f32, b: f32) -> f32 {
    a % b
}

extern "C" fn rt_fmod_f64(a: f64, b: f64) -> f64 {
    a % b
}

fn backend_error(message: impl Into<String>) -> Error {
    Error::op("cpu backend", message)
}

/// The host's ISA with the flags the backend relies on.
pub(crate) fn host_isa() -> Result<OwnedTargetIsa> {
    let mut flags = settings::builder();
    let set = |flags: &mut settings::Builder, name: &str, value: &str| {
        flags
            .set(name, value)
            .map_err(|e| backend_error(format!("cannot set cranelift flag {name}: {e}")))
    };
    set(&mut flags, "opt_level", "speed")?;
    set(
        &mut flags,
        "enable_verifier",
        if cfg!(debug_assertions) {
            "true"
        } else {
            "false"
        },
    )?;
    let isa_builder = cranelift_native::builder()
        .map_err(|e| backend_error(format!("host ISA not supported: {e}")))?;
    isa_builder
        .finish(settings::Flags::new(flags))
        .map_err(|e| backend_error(format!("cannot build the host ISA: {e}")))
}

/// A fresh JIT module for the host, with the shims registered and declared.
pub(crate) fn new_module() -> Result<(JITModule, Shims)> {
    let isa = host_isa()?;
    let mut jb = JITBuilder::with_isa(isa, cranelift_module::default_libcall_names());
    jb.symbol("rjax_fmod_f32", rt_fmod_f32 as *const u8);
    jb.symbol("rjax_fmod_f64", rt_fmod_f64 as *const u8);
    let mut module = JITModule::new(jb);
    let mut declare = |name: &str, ty: Type| -> Result<FuncId> {
        let mut sig = module.make_signature();
        sig.params.push(AbiParam::new(ty));
        sig.params.push(AbiParam::new(ty));
        sig.returns.push(AbiParam::new(ty));
        module
            .declare_function(name, Linkage::Import, &sig)
            .map_err(|e| backend_error(format!("cannot declare {name}: {e}")))
    };
    let fmod_f32 = declare("rjax_fmod_f32", types::F32)?;
    let fmod_f64 = declare("rjax_fmod_f64", types::F64)?;
    Ok((module, Shims { fmod_f32, fmod_f64 }))
}

/// The signature of every kernel function.
pub(crate) fn kernel_signature(module: &JITModule) -> Signature {
    let mut sig = module.make_signature();
    sig.params.push(AbiParam::new(types::I64));
    sig.params.push(AbiParam::new(types::I64));
    sig.params.push(AbiParam::new(types::I64));
    sig
}

/// The Cranelift type that holds a scalar of `ty` in a register.
pub(crate) fn clif_type(ty: ScalarType) -> Type {
    match ty {
        ScalarType::F32 => types::F32,
        ScalarType::F64 => types::F64,
        ScalarType::I32 | ScalarType::U32 => types::I32,
        ScalarType::Bool => types::I8,
        ScalarType::Index => types::I64,
    }
}

/// Bytes per element of a buffer of `dtype`.
pub(crate) fn elem_size(dtype: DType) -> i64 {
    match dtype {
        DType::F32 | DType::I32 | DType::U32 => 4,
        DType::F64 => 8,
        DType::Bool => 1,
    }
}

/// Turns a Cranelift module error into rjax's error type.
pub(crate) fn module_error(what: &str, e: impl std::fmt::Display) -> Error {
    backend_error(format!("{what}: {e}"))
}

/// Turns any backend failure message into rjax's error type.
pub(crate) fn error(message: impl Into<String>) -> Error {
    backend_error(message)
}
