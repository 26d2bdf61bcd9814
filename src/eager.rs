//! Eager execution of single primitives with compiled kernels.
//!
//! Outside every transformation, each primitive runs as a tiny program
//! compiled by `rjax-codegen` — the same code path as `jit`, so eager and
//! jitted results agree bit for bit (the transcendental functions, for
//! instance, are the compiler's expansions in both). Executables are cached
//! per (primitive with its parameters, operand dtypes and shapes) in a
//! per-thread cache of bounded size.
//!
//! Higher-order primitives, and programs the compiler does not handle, run
//! on the reference interpreter, which stays the oracle the compiler is
//! tested against. `RJAX_EAGER_BACKEND=interp` runs every primitive there.

use rjax_codegen::{Device, Executable};
use rjax_ir::{interp, AVal, Atom, ClosedJaxpr, HostBuffer, JaxprBuilder, Primitive, Result};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// How many compiled single-primitive programs each thread keeps.
const CACHE_CAPACITY: usize = 4096;

type Key = (String, Vec<AVal>);

#[derive(Default)]
struct Cache {
    entries: HashMap<Key, Option<Rc<dyn Executable>>>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
    static USE_INTERPRETER: bool =
        std::env::var("RJAX_EAGER_BACKEND").is_ok_and(|v| v == "interp");
}

/// Runs `prim` on concrete operands.
///
/// # Errors
/// The primitive's shape-rule error, or an execution error.
pub(crate) fn eval(prim: &Primitive, args: &[&HostBuffer]) -> Result<Vec<HostBuffer>> {
    if prim.is_higher_order() || USE_INTERPRETER.with(|u| *u) {
        return interp::eval_primitive(prim, args);
    }
    let avals: Vec<AVal> = args.iter().map(|a| a.aval()).collect();
    let key = (format!("{prim:?}"), avals);
    let cached = CACHE.with(|c| c.borrow().entries.get(&key).cloned());
    let executable = match cached {
        Some(e) => e,
        None => {
            let compiled = compile_one(prim, &key.1)?;
            CACHE.with(|c| {
                let mut cache = c.borrow_mut();
                if cache.entries.len() >= CACHE_CAPACITY {
                    cache.entries.clear();
                }
                cache.entries.insert(key, compiled.clone());
            });
            compiled
        }
    };
    match executable {
        Some(exe) => exe.run(args),
        None => interp::eval_primitive(prim, args),
    }
}

/// Compiles a one-equation program; `None` when the compiler does not
/// handle it. Shape errors are returned (and nothing is cached).
fn compile_one(prim: &Primitive, avals: &[AVal]) -> Result<Option<Rc<dyn Executable>>> {
    let mut builder = JaxprBuilder::new();
    let invars: Vec<_> = avals.iter().map(|a| builder.new_var(a.clone())).collect();
    let inputs = invars.iter().map(|v| Atom::Var(*v)).collect();
    let outs = builder.add_eqn(prim.clone(), inputs, None)?;
    let jaxpr = builder.build(vec![], invars, outs.into_iter().map(Atom::Var).collect())?;
    let closed = ClosedJaxpr::new(jaxpr, vec![]);
    Ok(rjax_codegen::compile(&closed, avals, Device::Cpu)
        .ok()
        .map(Rc::from))
}
