//! `jit`: trace a function once per input signature and run the staged
//! program.
//!
//! [`Jit`] traces its function to a jaxpr the first time it sees a
//! signature — the tree structure of the argument and the dtype and shape
//! of every leaf (and, once there are several, the device) — and caches
//! the result. Later calls with the same signature reuse it; a call with a
//! new signature traces again, and [`Jit::stats`] says why.
//!
//! Called eagerly, a jitted function executes its program. Called under
//! another transformation (`grad`, `make_jaxpr`, another `jit`), it binds
//! the `call` primitive with its jaxpr, which every transformation keeps as
//! a call (see `transforms::call`), so the inner program is reused.
//!
//! [`Jit::call_donated`] takes the argument by value: storage that nothing
//! else references may then be reused for an output (donation).
//!
//! Set `RJAX_LOG_COMPILES=1` to print a line each time a function is
//! traced, with the reason.
//!
//! The staged program is compiled by `rjax-codegen` (fusion into kernels,
//! the kernel IR, Cranelift; control flow as real loops and branches) the
//! first time it runs eagerly. A program the compiler rejects (a primitive
//! without a lowering, such as `custom_lin`) runs on the reference
//! interpreter, with a line on stderr under `RJAX_LOG_COMPILES`;
//! `RJAX_JIT_BACKEND=interp` forces the interpreter for every program.
//!
//! A call runs on the device its arguments are committed to, or on the
//! default device (`RJAX_PLATFORM`) when none is; see [`crate::device`]. On
//! a GPU the program is compiled to PTX and cuBLAS calls, arguments are
//! copied to the GPU unless they live there, and results stay there.
//! Programs the GPU backend cannot compile run on the host's reference
//! interpreter, their results copied to the GPU.

use crate::array::Array;
use crate::core::{bind, current_trace};
use crate::jnp::or_panic;
use crate::staging::{prune, trace_to_jaxpr};
use crate::transforms::call::close;
use crate::tree::{tree_leaves, tree_structure, Tree, TreeDef};
use rjax_codegen::cuda::CudaExecutable;
use rjax_codegen::{Device, Executable};
use rjax_ir::{AVal, ClosedJaxpr, Error, HostBuffer, Primitive, Result};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// What a jitted function is specialised on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Signature {
    structure: TreeDef,
    avals: Vec<AVal>,
    device: Device,
}

impl Signature {
    /// Why `self` needed a new trace, compared with the previous signature.
    fn difference(&self, previous: &Signature) -> String {
        if self.device != previous.device {
            return format!("device changed from {} to {}", previous.device, self.device);
        }
        if self.structure != previous.structure {
            return format!(
                "argument structure changed from {} to {}",
                previous.structure, self.structure
            );
        }
        for (i, (now, before)) in self.avals.iter().zip(&previous.avals).enumerate() {
            if now != before {
                return format!("argument leaf {i} changed from {before} to {now}");
            }
        }
        "a signature seen before was evicted".to_string()
    }
}

/// A traced program, its compiled form once it has run eagerly, and the
/// output tree to rebuild results with.
struct Entry<B> {
    jaxpr: Arc<ClosedJaxpr>,
    executable: OnceLock<Result<Option<Compiled>>>,
    out_template: B,
}

/// A compiled program, for the device of its signature.
enum Compiled {
    /// For the CPU.
    Cpu(Box<dyn Executable>),
    /// For a GPU; runs on device buffers.
    Cuda(Box<CudaExecutable>),
}

/// A call ready to run: the cache entry, the tracers the program captured
/// (leading operands), the argument leaves, and the device.
type Prepared<B> = (Arc<Entry<B>>, Vec<Array>, Vec<Array>, Device);

/// Counters of a jitted function's tracing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JitStats {
    /// How many times the function was traced.
    pub traces: usize,
    /// How many calls reused a cached trace.
    pub cache_hits: usize,
    /// Why the most recent trace happened.
    pub last_trace_reason: Option<String>,
}

/// A jitted function: see the [module docs](self).
pub struct Jit<A, B, F> {
    f: F,
    name: String,
    cache: RefCell<HashMap<Signature, Arc<Entry<B>>>>,
    last_signature: RefCell<Option<Signature>>,
    stats: RefCell<JitStats>,
    _args: std::marker::PhantomData<fn(&A)>,
}

impl<A: Tree, B: Tree, F: Fn(&A) -> B> Jit<A, B, F> {
    /// Wraps `f`; nothing is traced until the first call.
    pub fn new(f: F) -> Jit<A, B, F> {
        let name = std::any::type_name::<F>()
            .rsplit("::")
            .nth(1)
            .unwrap_or("jit")
            .to_string();
        Jit {
            f,
            name,
            cache: RefCell::default(),
            last_signature: RefCell::default(),
            stats: RefCell::default(),
            _args: std::marker::PhantomData,
        }
    }

    /// Tracing counters so far.
    pub fn stats(&self) -> JitStats {
        self.stats.borrow().clone()
    }

    /// Calls the function.
    ///
    /// # Panics
    /// With the error of [`Jit::try_call`].
    #[track_caller]
    pub fn call(&self, args: &A) -> B {
        or_panic(self.try_call(args))
    }

    /// Calls the function, returning errors (shape errors while tracing,
    /// a concrete value needed while tracing, execution failures).
    ///
    /// # Errors
    /// As described.
    pub fn try_call(&self, args: &A) -> Result<B> {
        let (entry, lifted, leaves, device) = self.entry_for(args)?;
        let outs = match self.executable(&entry, &lifted, device)? {
            Some(Compiled::Cuda(exe)) => crate::device::run_cuda(exe, &leaves)?,
            Some(Compiled::Cpu(exe)) => {
                let buffers: Vec<&HostBuffer> = leaves
                    .iter()
                    .map(|a| a.try_buffer("jit"))
                    .collect::<Result<_>>()?;
                exe.run(&buffers)?
                    .into_iter()
                    .map(Array::from_buffer)
                    .collect()
            }
            None => self.run_uncompiled(&entry, lifted, leaves, device)?,
        };
        crate::tree::tree_unflatten(&entry.out_template, outs)
    }

    /// Calls the function on arguments handed over by value: an argument
    /// whose storage nothing else references may be reused for an output
    /// (donation), saving the allocation and first touch of fresh memory.
    /// JAX needs `donate_argnums` for this; here passing by value says it.
    /// (On a GPU nothing is donated yet.)
    ///
    /// # Panics
    /// With the error of [`Jit::try_call_donated`].
    #[track_caller]
    pub fn call_donated(&self, args: A) -> B {
        or_panic(self.try_call_donated(args))
    }

    /// Like [`Jit::call_donated`], returning errors.
    ///
    /// # Errors
    /// As [`Jit::try_call`].
    pub fn try_call_donated(&self, args: A) -> Result<B> {
        let (entry, lifted, leaves, device) = self.entry_for(&args)?;
        drop(args);
        let outs = match self.executable(&entry, &lifted, device)? {
            Some(Compiled::Cuda(exe)) => crate::device::run_cuda(exe, &leaves)?,
            Some(Compiled::Cpu(exe)) => {
                let owned: Vec<HostBuffer> = leaves
                    .into_iter()
                    .map(Array::into_buffer)
                    .collect::<Result<_>>()?;
                exe.run_donated(owned)?
                    .into_iter()
                    .map(Array::from_buffer)
                    .collect()
            }
            None => self.run_uncompiled(&entry, lifted, leaves, device)?,
        };
        crate::tree::tree_unflatten(&entry.out_template, outs)
    }

    /// The cache entry for `args` (tracing if needed), the tracers it
    /// captured, the argument leaves, and the device the call runs on (the
    /// CPU under a transformation, where the program is only staged).
    fn entry_for(&self, args: &A) -> Result<Prepared<B>> {
        let leaves = tree_leaves(args);
        let device = if current_trace().tag().is_some() {
            Device::Cpu
        } else {
            match crate::device::placement("jit", &leaves)? {
                Some(d) => d,
                None => crate::device::try_default_device()?,
            }
        };
        let signature = Signature {
            structure: tree_structure(args),
            avals: leaves.iter().map(Array::aval).collect(),
            device,
        };
        let cached = self.cache.borrow().get(&signature).cloned();
        let (entry, lifted) = match cached {
            Some(entry) => {
                self.stats.borrow_mut().cache_hits += 1;
                (entry, Vec::new())
            }
            None => self.trace(args, signature)?,
        };
        Ok((entry, lifted, leaves, device))
    }

    /// The compiled program, when the call runs eagerly and it compiles.
    ///
    /// # Errors
    /// When the device cannot be used (see [`compile`]).
    fn executable<'e>(
        &self,
        entry: &'e Entry<B>,
        lifted: &[Array],
        device: Device,
    ) -> Result<Option<&'e Compiled>> {
        if current_trace().tag().is_some() || !lifted.is_empty() {
            return Ok(None);
        }
        entry
            .executable
            .get_or_init(|| compile(&entry.jaxpr, device))
            .as_ref()
            .map(Option::as_ref)
            .map_err(Clone::clone)
    }

    /// Runs without a compiled program: binds `call` under a transformation,
    /// or interprets eagerly.
    fn run_uncompiled(
        &self,
        entry: &Entry<B>,
        lifted: Vec<Array>,
        leaves: Vec<Array>,
        device: Device,
    ) -> Result<Vec<Array>> {
        if current_trace().tag().is_none() && lifted.is_empty() {
            let outs = execute(&entry.jaxpr, &leaves)?;
            return match device {
                Device::Cpu => Ok(outs),
                Device::Cuda(_) => outs.iter().map(|a| a.to_device(&device)).collect(),
            };
        }
        let operands: Vec<Array> = lifted.into_iter().chain(leaves).collect();
        bind(
            Primitive::Call {
                jaxpr: entry.jaxpr.clone(),
                name: self.name.clone(),
            },
            &operands,
        )
    }

    /// Traces for a new signature. A program that captures tracers of an
    /// enclosing transformation gets them as leading operands and is not
    /// cached (the tracers belong to this one call).
    fn trace(&self, args: &A, signature: Signature) -> Result<(Arc<Entry<B>>, Vec<Array>)> {
        let reason = match self.last_signature.borrow().as_ref() {
            None => "first call".to_string(),
            Some(previous) => signature.difference(previous),
        };
        if std::env::var_os("RJAX_LOG_COMPILES").is_some_and(|v| v != "0") {
            eprintln!("rjax: tracing {} ({reason})", self.name);
        }
        let out_template = RefCell::new(None);
        let (jaxpr, consts) = trace_to_jaxpr(&signature.avals, |tracers| {
            let traced_args = args.unflatten_from(&mut tracers.iter().cloned())?;
            let out = (self.f)(&traced_args);
            let out_leaves = tree_leaves(&out);
            *out_template.borrow_mut() = Some(out);
            Ok(out_leaves)
        })?;
        let (jaxpr, consts) = prune(&jaxpr, consts);
        let (closed, lifted) = close(jaxpr, consts);
        let out_template = out_template
            .into_inner()
            .expect("internal error: jit traced no output");
        let entry = Arc::new(Entry {
            jaxpr: closed,
            executable: OnceLock::new(),
            out_template,
        });
        {
            let mut stats = self.stats.borrow_mut();
            stats.traces += 1;
            stats.last_trace_reason = Some(reason);
        }
        if lifted.is_empty() {
            self.cache
                .borrow_mut()
                .insert(signature.clone(), entry.clone());
        }
        *self.last_signature.borrow_mut() = Some(signature);
        Ok((entry, lifted))
    }
}

/// Compiles a jaxpr for `device`. Programs the compiler does not handle (a
/// primitive without a lowering) run on the reference interpreter instead
/// (`Ok(None)`);
/// so does every program when `RJAX_JIT_BACKEND=interp` is set.
///
/// # Errors
/// [`rjax_ir::Error::Device`] when the device cannot be used (no driver,
/// no such GPU, no cuBLAS, a module the driver rejects): those are not
/// hidden behind the interpreter.
fn compile(jaxpr: &ClosedJaxpr, device: Device) -> Result<Option<Compiled>> {
    if std::env::var("RJAX_JIT_BACKEND").is_ok_and(|v| v == "interp") {
        crate::device::check_device(&device)?;
        return Ok(None);
    }
    let avals = jaxpr.jaxpr.in_avals();
    let compiled = match device {
        Device::Cpu => rjax_codegen::compile(jaxpr, &avals, Device::Cpu).map(Compiled::Cpu),
        Device::Cuda(n) => {
            rjax_codegen::cuda::compile_jaxpr(jaxpr, &avals, n).map(|e| Compiled::Cuda(Box::new(e)))
        }
    };
    match compiled {
        Ok(exe) => Ok(Some(exe)),
        Err(e @ Error::Device { .. }) => Err(e),
        Err(e) => {
            if std::env::var_os("RJAX_LOG_COMPILES").is_some_and(|v| v != "0") {
                eprintln!("rjax: not compiled ({e}); running on the reference interpreter");
            }
            Ok(None)
        }
    }
}

/// Runs a closed jaxpr on concrete arrays.
///
/// # Errors
/// [`rjax_ir::Error::Concretization`] if an argument is a tracer, or an
/// execution error.
pub(crate) fn execute(jaxpr: &ClosedJaxpr, args: &[Array]) -> Result<Vec<Array>> {
    let buffers: Vec<HostBuffer> = args
        .iter()
        .map(|a| a.try_buffer("jit").cloned())
        .collect::<Result<_>>()?;
    let outs = rjax_ir::interp::interpret_closed(jaxpr, &buffers)?;
    Ok(outs.into_iter().map(Array::from_buffer).collect())
}

/// Compiles `f` for each new input signature and runs the staged program;
/// see the [module docs](self). Use [`Jit::new`] to see tracing counters.
///
/// # Example
/// ```
/// use rjax::{jit, Array};
/// let f = jit(|x: &Array| (x * 2.0).exp().sum());
/// let y = f(&Array::from_vec(vec![0.0f32, 0.0], &[2]).unwrap());
/// assert_eq!(y.item::<f32>().unwrap(), 2.0);
/// ```
///
/// # Panics
/// The returned function panics with the error of [`Jit::try_call`].
pub fn jit<A: Tree, B: Tree>(f: impl Fn(&A) -> B) -> impl Fn(&A) -> B {
    let jitted = Jit::new(f);
    move |args: &A| jitted.call(args)
}
