//! The PTX function builder ([`Func`]): virtual registers, labels, the
//! statements of the kernel IR (loops, lets, stores, accumulators) and
//! address arithmetic; and [`emit_entries`], which turns a kernel into the
//! text and descriptions of its entries.

use std::collections::HashMap;
use std::fmt::Write as _;

use rjax_ir::{DType, Error, Result};

use super::phase::plan;
use super::{Param, PtxEntry};
use crate::kernel::{AccId, BufId, Index, Kernel, LoopId, ScalarType, Stmt, UnaryOp, ValueId};

/// A register class of PTX (one `.reg` declaration each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Class {
    /// `.pred` (`%p`).
    Pred,
    /// `.b32` (`%r`).
    B32,
    /// `.b64` (`%rd`).
    B64,
    /// `.f32` (`%f`).
    F32,
    /// `.f64` (`%fd`).
    F64,
}

impl Class {
    const ALL: [Class; 5] = [Class::Pred, Class::B32, Class::B64, Class::F32, Class::F64];

    fn slot(self) -> usize {
        match self {
            Class::Pred => 0,
            Class::B32 => 1,
            Class::B64 => 2,
            Class::F32 => 3,
            Class::F64 => 4,
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Class::Pred => "%p",
            Class::B32 => "%r",
            Class::B64 => "%rd",
            Class::F32 => "%f",
            Class::F64 => "%fd",
        }
    }

    fn decl(self) -> &'static str {
        match self {
            Class::Pred => ".pred",
            Class::B32 => ".b32",
            Class::B64 => ".b64",
            Class::F32 => ".f32",
            Class::F64 => ".f64",
        }
    }

    /// The register class of a kernel scalar type.
    pub(super) fn of(ty: ScalarType) -> Class {
        match ty {
            ScalarType::F32 => Class::F32,
            ScalarType::F64 => Class::F64,
            ScalarType::I32 | ScalarType::U32 => Class::B32,
            ScalarType::Bool => Class::Pred,
            ScalarType::Index => Class::B64,
        }
    }
}

/// A virtual register's name (`%r12`).
pub(super) type Reg = String;

/// The bytes of one element of `dtype` in device memory (bools are bytes).
pub(super) fn elem_size(dtype: DType) -> u32 {
    match dtype {
        DType::F32 | DType::I32 | DType::U32 => 4,
        DType::F64 => 8,
        DType::Bool => 1,
    }
}

/// The `ld`/`st` type suffix of `dtype`.
fn mem_type(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "f32",
        DType::F64 => "f64",
        DType::I32 => "s32",
        DType::U32 => "u32",
        DType::Bool => "u8",
    }
}

/// One entry being written: instructions, register counts and the
/// registers of values, accumulators and loop variables.
pub(super) struct Func<'k> {
    pub(super) kernel: &'k Kernel,
    body: String,
    counts: [u32; 5],
    labels: u32,
    pub(super) tys: HashMap<ValueId, ScalarType>,
    pub(super) vals: HashMap<ValueId, Reg>,
    pub(super) accs: HashMap<AccId, (Reg, ScalarType)>,
    /// 64-bit and 32-bit (low half) registers of each enclosing loop.
    pub(super) loops: HashMap<LoopId, (Reg, Reg)>,
    /// Global base address of each kernel buffer.
    bases: Vec<Reg>,
    /// The `.param` names and what they are.
    params: Vec<(String, Param)>,
    /// Static shared-memory declarations.
    shared: String,
}

impl<'k> Func<'k> {
    /// A function for `kernel` whose parameters are all its buffers
    /// (plus the scratch area when `scratch`); the buffer bases are loaded
    /// and converted to global addresses.
    pub(super) fn new(kernel: &'k Kernel, scratch: bool) -> Func<'k> {
        let mut tys = HashMap::new();
        collect_types(&kernel.body, &mut tys);
        let mut f = Func {
            kernel,
            body: String::new(),
            counts: [0; 5],
            labels: 0,
            tys,
            vals: HashMap::new(),
            accs: HashMap::new(),
            loops: HashMap::new(),
            bases: Vec::new(),
            params: Vec::new(),
            shared: String::new(),
        };
        for i in 0..kernel.buffers.len() {
            let base = f.param(format!("b{i}"), Param::Buffer(BufId(i as u32)));
            f.bases.push(base);
        }
        if scratch {
            let base = f.param("scratch".to_string(), Param::Scratch);
            f.bases.push(base);
        }
        f
    }

    /// Declares a pointer parameter and returns its global address.
    fn param(&mut self, name: String, what: Param) -> Reg {
        let raw = self.reg(Class::B64);
        let global = self.reg(Class::B64);
        self.ins(format!("ld.param.u64 {raw}, [{name}]"));
        self.ins(format!("cvta.to.global.u64 {global}, {raw}"));
        self.params.push((name, what));
        global
    }

    /// The scratch area's global address (only for functions made with
    /// `scratch`).
    pub(super) fn scratch(&self) -> Reg {
        self.bases[self.kernel.buffers.len()].clone()
    }

    /// A fresh register.
    pub(super) fn reg(&mut self, class: Class) -> Reg {
        let slot = class.slot();
        self.counts[slot] += 1;
        format!("{}{}", class.prefix(), self.counts[slot])
    }

    /// A fresh label.
    pub(super) fn label(&mut self) -> String {
        self.labels += 1;
        format!("L{}", self.labels)
    }

    /// Appends one instruction (without its `;`).
    pub(super) fn ins(&mut self, text: String) {
        let _ = writeln!(self.body, "\t{text};");
    }

    /// Places a label here.
    pub(super) fn place(&mut self, label: &str) {
        let _ = writeln!(self.body, "{label}:");
    }

    /// Declares a static shared array of `bytes` bytes named `name`.
    pub(super) fn shared_array(&mut self, name: &str, bytes: u32) {
        let _ = writeln!(self.shared, "\t.shared .align 8 .b8 {name}[{bytes}];");
    }

    /// A 32-bit register holding a special register (`%tid.x`, ...).
    pub(super) fn special(&mut self, name: &str) -> Reg {
        let r = self.reg(Class::B32);
        self.ins(format!("mov.u32 {r}, {name}"));
        r
    }

    /// The register of a value.
    pub(super) fn val(&self, v: ValueId) -> Result<Reg> {
        self.vals
            .get(&v)
            .cloned()
            .ok_or_else(|| self.error(format!("value v{} used where it is not computed", v.0)))
    }

    /// The type of a value.
    pub(super) fn ty(&self, v: ValueId) -> Result<ScalarType> {
        self.tys
            .get(&v)
            .copied()
            .ok_or_else(|| self.error(format!("value v{} has no type", v.0)))
    }

    /// A backend error naming the kernel.
    pub(super) fn error(&self, message: String) -> Error {
        Error::op("ptx", format!("{message} in kernel {}", self.kernel.name))
    }

    /// Emits the statements of a block, run in order by the current thread.
    pub(super) fn block(&mut self, stmts: &[Stmt]) -> Result<()> {
        for s in stmts {
            self.stmt(s)?;
        }
        Ok(())
    }

    /// Emits one statement.
    pub(super) fn stmt(&mut self, s: &Stmt) -> Result<()> {
        match s {
            Stmt::Loop {
                id,
                extent,
                parallel: _,
                body,
            } => self.serial_loop(*id, *extent, body),
            Stmt::Let { value, ty, expr } => {
                let r = self.expr(*ty, expr)?;
                self.vals.insert(*value, r);
                Ok(())
            }
            Stmt::Store { buf, index, value } => {
                let v = self.val(*value)?;
                self.store(*buf, index, &v)
            }
            Stmt::AccInit { acc, ty, init } => {
                let r = self.reg(Class::of(*ty));
                let c = self.constant(*init)?;
                self.mov(*ty, &r, &c);
                self.accs.insert(*acc, (r, *ty));
                Ok(())
            }
            Stmt::AccSet { acc, value } => {
                let (r, ty) = self.acc(*acc)?;
                let v = self.val(*value)?;
                self.mov(ty, &r, &v);
                Ok(())
            }
        }
    }

    /// An accumulator's register and type.
    pub(super) fn acc(&self, acc: AccId) -> Result<(Reg, ScalarType)> {
        self.accs
            .get(&acc)
            .cloned()
            .ok_or_else(|| self.error(format!("accumulator acc{} used before it is set", acc.0)))
    }

    /// `dst = src` for a value of type `ty`.
    pub(super) fn mov(&mut self, ty: ScalarType, dst: &str, src: &str) {
        let t = match Class::of(ty) {
            Class::Pred => "pred",
            Class::B32 => "b32",
            Class::B64 => "b64",
            Class::F32 => "f32",
            Class::F64 => "f64",
        };
        self.ins(format!("mov.{t} {dst}, {src}"));
    }

    /// A sequential, bottom-tested loop `for id in 0..extent`.
    pub(super) fn serial_loop(&mut self, id: LoopId, extent: usize, body: &[Stmt]) -> Result<()> {
        if extent == 0 {
            return Ok(());
        }
        let (i64r, i32r) = (self.reg(Class::B64), self.reg(Class::B32));
        self.ins(format!("mov.u64 {i64r}, 0"));
        self.ins(format!("mov.u32 {i32r}, 0"));
        let head = self.label();
        self.place(&head);
        self.loops.insert(id, (i64r.clone(), i32r.clone()));
        self.block(body)?;
        self.loops.remove(&id);
        let p = self.reg(Class::Pred);
        self.ins(format!("add.s64 {i64r}, {i64r}, 1"));
        self.ins(format!("add.s32 {i32r}, {i32r}, 1"));
        self.ins(format!("setp.lt.u64 {p}, {i64r}, {extent}"));
        self.ins(format!("@{p} bra {head}"));
        Ok(())
    }

    /// The global address of element `index` of buffer `buf` (the scratch
    /// area when `buf` is one past the kernel's buffers): 32-bit index
    /// arithmetic (wrapping, exact because the final index is in bounds)
    /// when the buffer has fewer than 2^31 elements, 64-bit otherwise.
    pub(super) fn address(&mut self, buf: BufId, index: &Index) -> Result<Reg> {
        let b = buf.0 as usize;
        let base = self
            .bases
            .get(b)
            .cloned()
            .ok_or_else(|| self.error(format!("buffer b{b} is not a parameter")))?;
        let (len, size) = match self.kernel.buffers.get(b) {
            Some(d) => (d.len, elem_size(d.dtype)),
            None => (usize::MAX, 8),
        };
        if index.terms.is_empty() && index.dynamic.is_none() {
            let a = self.reg(Class::B64);
            let bytes = index.offset.wrapping_mul(i64::from(size));
            self.ins(format!("add.s64 {a}, {base}, {bytes}"));
            return Ok(a);
        }
        let narrow = len <= i32::MAX as usize;
        let (class, suffix) = if narrow {
            (Class::B32, "s32")
        } else {
            (Class::B64, "s64")
        };
        let acc = self.reg(class);
        let offset = if narrow {
            format!("{}", index.offset as i32)
        } else {
            format!("{}", index.offset)
        };
        self.ins(format!("mov.{suffix} {acc}, {offset}"));
        for (lp, coef) in &index.terms {
            let (l64, l32) = self
                .loops
                .get(lp)
                .cloned()
                .ok_or_else(|| self.error(format!("loop i{} is not enclosing", lp.0)))?;
            let (l, c) = if narrow {
                (l32, format!("{}", *coef as i32))
            } else {
                (l64, format!("{coef}"))
            };
            self.ins(format!("mad.lo.{suffix} {acc}, {l}, {c}, {acc}"));
        }
        if let Some(d) = index.dynamic {
            let dv = self.val(d)?;
            if narrow {
                let t = self.reg(Class::B32);
                self.ins(format!("cvt.u32.u64 {t}, {dv}"));
                self.ins(format!("add.s32 {acc}, {acc}, {t}"));
            } else {
                self.ins(format!("add.s64 {acc}, {acc}, {dv}"));
            }
        }
        let off = self.reg(Class::B64);
        if narrow {
            self.ins(format!("mul.wide.s32 {off}, {acc}, {size}"));
        } else {
            self.ins(format!("mul.lo.s64 {off}, {acc}, {size}"));
        }
        let a = self.reg(Class::B64);
        self.ins(format!("add.s64 {a}, {base}, {off}"));
        Ok(a)
    }

    /// Loads element `index` of `buf` into a fresh register of the
    /// buffer's scalar type.
    pub(super) fn load(&mut self, buf: BufId, index: &Index) -> Result<Reg> {
        let dtype = self.dtype(buf)?;
        let a = self.address(buf, index)?;
        let t = mem_type(dtype);
        if dtype == DType::Bool {
            let (byte, p) = (self.reg(Class::B32), self.reg(Class::Pred));
            self.ins(format!("ld.global.u8 {byte}, [{a}]"));
            self.ins(format!("setp.ne.u32 {p}, {byte}, 0"));
            return Ok(p);
        }
        let r = self.reg(Class::of(ScalarType::of(dtype)));
        self.ins(format!("ld.global.{t} {r}, [{a}]"));
        Ok(r)
    }

    /// Stores register `v` to element `index` of `buf`.
    pub(super) fn store(&mut self, buf: BufId, index: &Index, v: &str) -> Result<()> {
        let dtype = self.dtype(buf)?;
        let a = self.address(buf, index)?;
        if dtype == DType::Bool {
            let byte = self.reg(Class::B32);
            self.ins(format!("selp.u32 {byte}, 1, 0, {v}"));
            self.ins(format!("st.global.u8 [{a}], {byte}"));
            return Ok(());
        }
        let t = mem_type(dtype);
        self.ins(format!("st.global.{t} [{a}], {v}"));
        Ok(())
    }

    /// The dtype of a kernel buffer.
    fn dtype(&self, buf: BufId) -> Result<DType> {
        self.kernel
            .buffers
            .get(buf.0 as usize)
            .map(|d| d.dtype)
            .ok_or_else(|| self.error(format!("buffer b{} is not a parameter", buf.0)))
    }

    /// The finished entry text.
    pub(super) fn finish(self, name: &str) -> (String, Vec<Param>) {
        let mut out = String::new();
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(n, _)| format!(".param .u64 {n}"))
            .collect();
        let _ = writeln!(out, ".visible .entry {name}({})\n{{", params.join(", "));
        out.push_str(&self.shared);
        for class in Class::ALL {
            let n = self.counts[class.slot()];
            if n > 0 {
                let _ = writeln!(
                    out,
                    "\t.reg {} {}<{}>;",
                    class.decl(),
                    class.prefix(),
                    n + 1
                );
            }
        }
        out.push_str(&self.body);
        out.push_str("\tret;\n}\n\n");
        (out, self.params.into_iter().map(|(_, p)| p).collect())
    }
}

/// Every value's type, from the `Let`s of `body`.
fn collect_types(body: &[Stmt], tys: &mut HashMap<ValueId, ScalarType>) {
    for s in body {
        match s {
            Stmt::Loop { body, .. } => collect_types(body, tys),
            Stmt::Let { value, ty, .. } => {
                tys.insert(*value, *ty);
            }
            Stmt::Store { .. } | Stmt::AccInit { .. } | Stmt::AccSet { .. } => {}
        }
    }
}

/// The entry-name stem for a kernel: `rjax_` and its name with every
/// character outside `[A-Za-z0-9_]` replaced by `_`, plus `_s<step>` for a
/// program step.
pub(super) fn entry_base(name: &str, step: Option<usize>) -> String {
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    match step {
        Some(i) => format!("rjax_{clean}_s{i}"),
        None => format!("rjax_{clean}"),
    }
}

/// True when some operation of `body` is transcendental.
fn has_transcendental(body: &[Stmt]) -> bool {
    use crate::kernel::{BinaryOp, Expr};
    body.iter().any(|s| match s {
        Stmt::Loop { body, .. } => has_transcendental(body),
        Stmt::Let { expr, ty, .. } => {
            ty.is_float()
                && match expr {
                    Expr::Unary(op, _) => UnaryOp::is_transcendental(*op),
                    Expr::Binary(op, _, _) => *op == BinaryOp::Pow,
                    _ => false,
                }
        }
        Stmt::Store { .. } | Stmt::AccInit { .. } | Stmt::AccSet { .. } => false,
    })
}

/// The entries of `kernel` (named `base`, `base_1`, ...): their text, their
/// descriptions, and the scratch bytes they share.
pub(super) fn emit_entries(kernel: &Kernel, base: &str) -> Result<(String, Vec<PtxEntry>, usize)> {
    crate::kernel_interp::check(kernel)?;
    let expanded;
    let kernel = if has_transcendental(&kernel.body) {
        expanded = crate::math::expand(kernel);
        &expanded
    } else {
        kernel
    };
    let phases = plan(kernel);
    let mut text = String::new();
    let mut entries = Vec::new();
    let mut scratch = 0usize;
    for phase in &phases {
        let built = phase.emit(kernel)?;
        scratch = scratch.max(built.scratch_bytes);
        for (f, launch) in built.funcs {
            let name = if entries.is_empty() {
                base.to_string()
            } else {
                format!("{base}_{}", entries.len())
            };
            let (t, params) = f.finish(&name);
            text.push_str(&t);
            entries.push(PtxEntry {
                name,
                params,
                launch,
            });
        }
    }
    Ok((text, entries, scratch))
}
