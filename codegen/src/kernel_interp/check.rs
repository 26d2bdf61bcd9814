//! The kernel checker: every rule of the kernel IR that can be checked
//! without running the kernel.
//!
//! Values, loops and accumulators are defined once and used only where they
//! are visible (after their definition, in the same block or a block nested
//! in it); every operation gets operands of a type it accepts and every
//! `Let` declares the type its expression produces; loads and stores name
//! existing buffers, stores only outputs, with values of the buffer's dtype;
//! index terms name enclosing loops, and a dynamic index term is `Index`.
//!
//! The type rules are not written twice: the type an operation produces is
//! the type of the value `scalar.rs` computes on zeros of the operand types,
//! so the checker and the interpreter cannot disagree.

use super::scalar::{self, Val};
use crate::kernel::{AccId, BufferKind, Expr, Index, Kernel, LoopId, ScalarType, Stmt, ValueId};
use rjax_ir::{Error, Result};
use std::collections::HashMap;

/// What the checker learned: the largest ids in use, for sizing the
/// interpreter's tables.
pub(crate) struct Extent {
    /// One more than the largest value id.
    pub values: usize,
    /// One more than the largest loop id.
    pub loops: usize,
    /// One more than the largest accumulator id.
    pub accs: usize,
}

/// Checks `kernel` (see the module docs).
///
/// # Errors
/// `Error::Op` (op `kernel`) naming the first problem, followed by the
/// kernel's text.
pub(crate) fn check(kernel: &Kernel) -> Result<Extent> {
    let mut c = Checker {
        kernel,
        values: HashMap::new(),
        accs: HashMap::new(),
        loops: HashMap::new(),
        extent: Extent {
            values: 0,
            loops: 0,
            accs: 0,
        },
    };
    c.block(&kernel.body)?;
    Ok(c.extent)
}

/// A kernel error: `message`, then the kernel text.
pub(crate) fn kernel_error(kernel: &Kernel, message: impl std::fmt::Display) -> Error {
    Error::op("kernel", format!("{message}\nin {kernel}"))
}

/// A zero of a type, to compute result types with `scalar.rs`.
fn zero(ty: ScalarType) -> Val {
    match ty {
        ScalarType::F32 => Val::F32(0.0),
        ScalarType::F64 => Val::F64(0.0),
        ScalarType::I32 => Val::I32(0),
        ScalarType::U32 => Val::U32(0),
        ScalarType::Bool => Val::Bool(false),
        ScalarType::Index => Val::Index(0),
    }
}

/// The type of a value.
pub(crate) fn type_of(v: Val) -> ScalarType {
    match v {
        Val::F32(_) => ScalarType::F32,
        Val::F64(_) => ScalarType::F64,
        Val::I32(_) => ScalarType::I32,
        Val::U32(_) => ScalarType::U32,
        Val::Bool(_) => ScalarType::Bool,
        Val::Index(_) => ScalarType::Index,
    }
}

/// An id defined in some scope: its type, and whether it is visible now.
struct Entry {
    ty: ScalarType,
    visible: bool,
}

struct Checker<'k> {
    kernel: &'k Kernel,
    values: HashMap<ValueId, Entry>,
    accs: HashMap<AccId, Entry>,
    loops: HashMap<LoopId, bool>,
    extent: Extent,
}

impl Checker<'_> {
    fn err<T>(&self, message: impl std::fmt::Display) -> Result<T> {
        Err(kernel_error(self.kernel, message))
    }

    /// Checks a block; what it defines is hidden again at its end.
    fn block(&mut self, stmts: &[Stmt]) -> Result<()> {
        let (mut values, mut accs) = (Vec::new(), Vec::new());
        for stmt in stmts {
            match stmt {
                Stmt::Loop { id, body, .. } => {
                    if self.loops.contains_key(id) {
                        return self.err(format_args!("loop i{} is defined twice", id.0));
                    }
                    self.extent.loops = self.extent.loops.max(id.0 as usize + 1);
                    self.loops.insert(*id, true);
                    self.block(body)?;
                    self.loops.insert(*id, false);
                }
                Stmt::Let { value, ty, expr } => {
                    let got = self.expr(expr).map_err(|m| {
                        kernel_error(self.kernel, format_args!("v{}: {m}", value.0))
                    })?;
                    if got != *ty {
                        return self.err(format_args!(
                            "v{} is declared {ty:?} but its expression gives {got:?}",
                            value.0
                        ));
                    }
                    if self.values.contains_key(value) {
                        return self.err(format_args!("v{} is defined twice", value.0));
                    }
                    self.extent.values = self.extent.values.max(value.0 as usize + 1);
                    self.values.insert(
                        *value,
                        Entry {
                            ty: *ty,
                            visible: true,
                        },
                    );
                    values.push(*value);
                }
                Stmt::Store { buf, index, value } => {
                    let what = format!("store to b{}", buf.0);
                    let decl = self.kernel.buffers.get(buf.0 as usize);
                    let Some(decl) = decl else {
                        return self.err(format_args!("{what}: no such buffer"));
                    };
                    if decl.kind != BufferKind::Output {
                        return self.err(format_args!("{what}: the buffer is an input"));
                    }
                    self.index(index)
                        .map_err(|m| kernel_error(self.kernel, format_args!("{what}: {m}")))?;
                    let ty = self
                        .value(*value)
                        .map_err(|m| kernel_error(self.kernel, format_args!("{what}: {m}")))?;
                    if ty != ScalarType::of(decl.dtype) {
                        return self.err(format_args!(
                            "{what}: value v{} is {ty:?}, the buffer holds {}",
                            value.0, decl.dtype
                        ));
                    }
                }
                Stmt::AccInit { acc, ty, init } => {
                    if init.ty() != *ty {
                        return self.err(format_args!(
                            "acc{} is declared {ty:?} but starts at {init:?}",
                            acc.0
                        ));
                    }
                    if self.accs.contains_key(acc) {
                        return self.err(format_args!("acc{} is declared twice", acc.0));
                    }
                    self.extent.accs = self.extent.accs.max(acc.0 as usize + 1);
                    self.accs.insert(
                        *acc,
                        Entry {
                            ty: *ty,
                            visible: true,
                        },
                    );
                    accs.push(*acc);
                }
                Stmt::AccSet { acc, value } => {
                    let what = format!("acc{} = v{}", acc.0, value.0);
                    let want = self
                        .acc(*acc)
                        .map_err(|m| kernel_error(self.kernel, format_args!("{what}: {m}")))?;
                    let got = self
                        .value(*value)
                        .map_err(|m| kernel_error(self.kernel, format_args!("{what}: {m}")))?;
                    if want != got {
                        return self.err(format_args!(
                            "{what}: the accumulator is {want:?}, the value {got:?}"
                        ));
                    }
                }
            }
        }
        for v in values {
            self.values
                .get_mut(&v)
                .expect("internal error: defined value")
                .visible = false;
        }
        for a in accs {
            self.accs
                .get_mut(&a)
                .expect("internal error: declared accumulator")
                .visible = false;
        }
        Ok(())
    }

    /// The type of a visible value.
    fn value(&self, v: ValueId) -> Result<ScalarType, String> {
        match self.values.get(&v) {
            Some(e) if e.visible => Ok(e.ty),
            Some(_) => Err(format!(
                "v{} is used outside the block that defines it",
                v.0
            )),
            None => Err(format!("v{} is used before it is defined", v.0)),
        }
    }

    /// The type of a visible accumulator.
    fn acc(&self, a: AccId) -> Result<ScalarType, String> {
        match self.accs.get(&a) {
            Some(e) if e.visible => Ok(e.ty),
            Some(_) => Err(format!(
                "acc{} is used outside the block that declares it",
                a.0
            )),
            None => Err(format!("acc{} is used before it is declared", a.0)),
        }
    }

    /// Checks an index: enclosing loops, one term per loop, `Index` dynamic part.
    fn index(&self, index: &Index) -> Result<(), String> {
        for (k, (lp, _)) in index.terms.iter().enumerate() {
            if self.loops.get(lp) != Some(&true) {
                return Err(format!(
                    "index term on i{}, which is not an enclosing loop",
                    lp.0
                ));
            }
            if index.terms[..k].iter().any(|(l, _)| l == lp) {
                return Err(format!("two index terms on loop i{}", lp.0));
            }
        }
        if let Some(d) = index.dynamic {
            let ty = self.value(d)?;
            if ty != ScalarType::Index {
                return Err(format!("dynamic index v{} is {ty:?}, not Index", d.0));
            }
        }
        Ok(())
    }

    /// The type an expression produces.
    fn expr(&self, expr: &Expr) -> Result<ScalarType, String> {
        let bad = |what: &str, tys: &[ScalarType]| {
            Err(format!("{what} does not accept operands of types {tys:?}"))
        };
        match expr {
            Expr::Const(c) => Ok(c.ty()),
            Expr::LoopVar(lp) => match self.loops.get(lp) {
                Some(true) => Ok(ScalarType::Index),
                _ => Err(format!("loop variable i{} read outside its loop", lp.0)),
            },
            Expr::Load { buf, index } => {
                let decl = self.kernel.buffers.get(buf.0 as usize);
                let decl = decl.ok_or_else(|| format!("load from b{}: no such buffer", buf.0))?;
                self.index(index)
                    .map_err(|m| format!("load from b{}: {m}", buf.0))?;
                Ok(ScalarType::of(decl.dtype))
            }
            Expr::Unary(op, a) => {
                let ta = self.value(*a)?;
                match scalar::unary(*op, zero(ta)) {
                    Some(v) => Ok(type_of(v)),
                    None => bad(&format!("{op:?}"), &[ta]),
                }
            }
            Expr::Binary(op, a, b) => {
                let (ta, tb) = (self.value(*a)?, self.value(*b)?);
                match scalar::binary(*op, zero(ta), zero(tb)) {
                    Some(v) => Ok(type_of(v)),
                    None => bad(&format!("{op:?}"), &[ta, tb]),
                }
            }
            Expr::Fma(a, b, c) => {
                let tys = [self.value(*a)?, self.value(*b)?, self.value(*c)?];
                match scalar::fma(zero(tys[0]), zero(tys[1]), zero(tys[2])) {
                    Some(v) => Ok(type_of(v)),
                    None => bad("Fma", &tys),
                }
            }
            Expr::Select(c, a, b) => {
                let tys = [self.value(*c)?, self.value(*a)?, self.value(*b)?];
                if tys[0] != ScalarType::Bool || tys[1] != tys[2] {
                    return bad("Select", &tys);
                }
                Ok(tys[1])
            }
            Expr::Convert(to, a) => {
                self.value(*a)?;
                Ok(*to)
            }
            Expr::Bitcast(to, a) => {
                let ta = self.value(*a)?;
                if !scalar::bitcast_ok(ta, *to) {
                    return Err(format!("Bitcast cannot reinterpret {ta:?} as {to:?}"));
                }
                Ok(*to)
            }
            Expr::AccRead(acc) => self.acc(*acc),
        }
    }
}
