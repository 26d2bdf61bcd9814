//! Splitting a kernel's top-level statements into phases (one or two
//! entries each, launched in order) and emitting the grid-stride and
//! serial phases; block reductions are in `reduce`.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use rjax_ir::Result;

use super::atomic::{self, AtomicAdd};
use super::emit::{Class, Func};
use super::reduce::{recognise, Reduction};
use super::warp;
use super::{Grid, Launch, BLOCK_THREADS};
use crate::kernel::{AccId, BufId, BufferKind, Expr, Index, Kernel, LoopId, Stmt, ValueId};

/// Collapsed loops, outermost first: each with its extent and the lets
/// opening its body (before the next loop).
pub(super) type Chain<'k> = Vec<(LoopId, usize, &'k [Stmt])>;

/// A phase of a kernel.
pub(super) enum Phase<'k> {
    /// Parallel loops run as one grid-stride loop.
    Grid {
        /// Uniform top-level lets before it.
        prefix: Vec<&'k Stmt>,
        /// The collapsed loops.
        chain: Chain<'k>,
        /// The innermost body (for an interchanged nest, the outer loop
        /// around the inner body).
        body: Cow<'k, [Stmt]>,
    },
    /// A block (or two-pass) reduction and the statements after it.
    Reduce {
        /// Uniform top-level lets before it.
        prefix: Vec<&'k Stmt>,
        /// The reduction.
        red: Reduction<'k>,
        /// Statements run by one thread once the reduction is done.
        epilogue: Vec<&'k Stmt>,
    },
    /// A scatter-add nest run as atomic additions.
    Atomic {
        /// Uniform top-level lets.
        prefix: Vec<&'k Stmt>,
        /// The nest.
        add: AtomicAdd<'k>,
    },
    /// Statements run in order by one thread.
    Serial {
        /// Uniform top-level lets before it.
        prefix: Vec<&'k Stmt>,
        /// The statements.
        stmts: Vec<&'k Stmt>,
    },
}

/// What an emitted phase consists of.
pub(super) struct Built<'k> {
    /// Its entries (functions and launch geometry), in launch order.
    pub(super) funcs: Vec<(Func<'k>, Launch)>,
    /// Scratch bytes it needs.
    pub(super) scratch_bytes: usize,
}

/// True when a top-level `Let` computes the same value in every thread and
/// every phase: no accumulator reads, no loads of output buffers, and
/// operands that are themselves uniform.
fn is_uniform(kernel: &Kernel, expr: &Expr, uniform: &HashSet<ValueId>) -> bool {
    let mut ops = Vec::new();
    expr_operands(expr, &mut ops);
    let loads_output = match expr {
        Expr::Load { buf, .. } => kernel
            .buffers
            .get(buf.0 as usize)
            .is_none_or(|d| d.kind == BufferKind::Output),
        _ => false,
    };
    !loads_output && !matches!(expr, Expr::AccRead(_)) && ops.iter().all(|v| uniform.contains(v))
}

/// The values an expression reads.
pub(super) fn expr_operands(expr: &Expr, out: &mut Vec<ValueId>) {
    match expr {
        Expr::Const(_) | Expr::LoopVar(_) | Expr::AccRead(_) => {}
        Expr::Load { index, .. } => out.extend(index.dynamic),
        Expr::Unary(_, a) | Expr::Convert(_, a) | Expr::Bitcast(_, a) => out.push(*a),
        Expr::Binary(_, a, b) => out.extend([*a, *b]),
        Expr::Fma(a, b, c) | Expr::Select(a, b, c) => out.extend([*a, *b, *c]),
    }
}

/// Values and accumulators a block uses and defines.
#[derive(Default)]
struct Scope {
    used: HashSet<ValueId>,
    defined: HashSet<ValueId>,
    accs_used: HashSet<AccId>,
    accs_defined: HashSet<AccId>,
}

impl Scope {
    fn add(&mut self, stmts: &[&Stmt]) {
        for s in stmts {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        match s {
            Stmt::Loop { body, .. } => body.iter().for_each(|s| self.stmt(s)),
            Stmt::Let { value, expr, .. } => {
                self.defined.insert(*value);
                let mut ops = Vec::new();
                expr_operands(expr, &mut ops);
                self.used.extend(ops);
                if let Expr::AccRead(a) = expr {
                    self.accs_used.insert(*a);
                }
            }
            Stmt::Store { index, value, .. } => {
                self.used.insert(*value);
                self.used.extend(index.dynamic);
            }
            Stmt::AccInit { acc, .. } => {
                self.accs_defined.insert(*acc);
            }
            Stmt::AccSet { acc, value } => {
                self.accs_used.insert(*acc);
                self.used.insert(*value);
            }
        }
    }

    /// True when everything used is defined here or uniform.
    fn closed(&self, uniform: &HashSet<ValueId>) -> bool {
        self.used
            .iter()
            .all(|v| self.defined.contains(v) || uniform.contains(v))
            && self.accs_used.is_subset(&self.accs_defined)
    }
}

/// The chain of loops run as one grid-stride loop, starting at the
/// parallel loop `lp`: each body is lets then one loop that is parallel or
/// whose iterations are independent ([`independent`]), until the innermost.
fn chain<'k>(kernel: &Kernel, lp: &'k Stmt) -> Option<(Chain<'k>, &'k [Stmt])> {
    let Stmt::Loop {
        id,
        extent,
        parallel: true,
        body,
    } = lp
    else {
        return None;
    };
    Some(chain_from(kernel, *id, *extent, body))
}

fn chain_from<'k>(
    kernel: &Kernel,
    id: LoopId,
    extent: usize,
    body: &'k [Stmt],
) -> (Chain<'k>, &'k [Stmt]) {
    if let Some((
        Stmt::Loop {
            id: inner,
            extent: e,
            parallel,
            body: b,
        },
        lets,
    )) = body.split_last()
    {
        let lets_only = lets.iter().all(|s| matches!(s, Stmt::Let { .. }));
        if lets_only && (*parallel || independent(kernel, *inner, b, None)) {
            let (mut rest, innermost) = chain_from(kernel, *inner, *e, b);
            rest.insert(0, (id, extent, lets));
            return (rest, innermost);
        }
    }
    (vec![(id, extent, &[][..])], body)
}

/// Whether the iterations of loop `id` (with `body`) may run in separate
/// threads: stores only at the body's top level, each buffer stored at one
/// index without a dynamic part and with a nonzero coefficient on `id`
/// (so iterations write distinct elements); accumulators local to the
/// body; no loads of output buffers, except — when the loop is to be
/// interchanged with the enclosing `outer` one — at exactly the index the
/// buffer is stored at, which must then depend on `id` alone (every
/// element is read and written by one thread only).
pub(super) fn independent(
    kernel: &Kernel,
    id: LoopId,
    body: &[Stmt],
    outer: Option<LoopId>,
) -> bool {
    let mut stores: HashMap<BufId, &Index> = HashMap::new();
    for s in body {
        if let Stmt::Store { buf, index, .. } = s {
            let only_id = index.terms.iter().all(|(l, _)| *l == id);
            if index.dynamic.is_some()
                || index.coefficient(id) == 0
                || (outer.is_some() && !only_id)
            {
                return false;
            }
            if *stores.entry(*buf).or_insert(index) != index {
                return false;
            }
        }
    }
    let mut local = HashSet::new();
    collect_inits(body, &mut local);
    let output = |b: &BufId| {
        kernel
            .buffers
            .get(b.0 as usize)
            .is_none_or(|d| d.kind == BufferKind::Output)
    };
    fn ok(
        stmts: &[Stmt],
        nested: bool,
        check: &dyn Fn(&Expr) -> bool,
        local: &HashSet<AccId>,
    ) -> bool {
        stmts.iter().all(|s| match s {
            Stmt::Loop { body, .. } => ok(body, true, check, local),
            Stmt::Let { expr, .. } => check(expr),
            Stmt::Store { .. } => !nested,
            Stmt::AccInit { .. } => true,
            Stmt::AccSet { acc, .. } => local.contains(acc),
        })
    }
    let check = |e: &Expr| match e {
        Expr::Load { buf, index } => {
            !output(buf) || (outer.is_some() && stores.get(buf).is_some_and(|i| *i == index))
        }
        Expr::AccRead(a) => local.contains(a),
        Expr::Const(_)
        | Expr::LoopVar(_)
        | Expr::Unary(..)
        | Expr::Binary(..)
        | Expr::Fma(..)
        | Expr::Select(..)
        | Expr::Convert(..)
        | Expr::Bitcast(..) => true,
    };
    ok(body, false, &check, &local)
}

/// Every accumulator initialised in `body`.
fn collect_inits(body: &[Stmt], out: &mut HashSet<AccId>) {
    for s in body {
        match s {
            Stmt::Loop { body, .. } => collect_inits(body, out),
            Stmt::AccInit { acc, .. } => {
                out.insert(*acc);
            }
            Stmt::Let { .. } | Stmt::Store { .. } | Stmt::AccSet { .. } => {}
        }
    }
}

/// A top-level sequential loop `for o { lets; for i { body } }` whose
/// inner iterations are independent across all of `o` (an accumulation
/// into an output row, as a reduction over leading axes is written): run as
/// a grid-stride loop over `i`, each thread looping over `o` in order.
fn interchange(kernel: &Kernel, lp: &Stmt) -> Option<Phase<'static>> {
    let Stmt::Loop {
        id: outer,
        extent: oe,
        parallel: false,
        body,
    } = lp
    else {
        return None;
    };
    let (last, lets) = body.split_last()?;
    let Stmt::Loop {
        id: inner,
        extent: ie,
        body: ib,
        ..
    } = last
    else {
        return None;
    };
    let plain_lets = lets.iter().all(|s| match s {
        Stmt::Let { expr, .. } => match expr {
            Expr::Load { buf, .. } => kernel
                .buffers
                .get(buf.0 as usize)
                .is_some_and(|d| d.kind == BufferKind::Input),
            Expr::AccRead(_) => false,
            Expr::Const(_)
            | Expr::LoopVar(_)
            | Expr::Unary(..)
            | Expr::Binary(..)
            | Expr::Fma(..)
            | Expr::Select(..)
            | Expr::Convert(..)
            | Expr::Bitcast(..) => true,
        },
        Stmt::Loop { .. } | Stmt::Store { .. } | Stmt::AccInit { .. } | Stmt::AccSet { .. } => {
            false
        }
    });
    if !plain_lets || !independent(kernel, *inner, ib, Some(*outer)) {
        return None;
    }
    let mut swapped = lets.to_vec();
    swapped.extend(ib.iter().cloned());
    Some(Phase::Grid {
        prefix: Vec::new(),
        chain: vec![(*inner, *ie, &[][..])],
        body: Cow::Owned(vec![Stmt::Loop {
            id: *outer,
            extent: *oe,
            parallel: false,
            body: swapped,
        }]),
    })
}

/// The serial statements being collected by [`plan`].
#[derive(Default)]
struct Run<'k> {
    /// The uniform lets known where the run started.
    prefix: Vec<&'k Stmt>,
    stmts: Vec<&'k Stmt>,
    /// The run is the epilogue of the last (reduction) phase.
    epilogue: bool,
}

impl<'k> Run<'k> {
    /// Ends the run: it becomes the last phase's epilogue or a serial
    /// phase.
    fn close(&mut self, phases: &mut Vec<Phase<'k>>) {
        let stmts = std::mem::take(&mut self.stmts);
        if std::mem::take(&mut self.epilogue) {
            if let Some(Phase::Reduce { epilogue, .. }) = phases.last_mut() {
                *epilogue = stmts;
                return;
            }
        }
        if !stmts.is_empty() {
            phases.push(Phase::Serial {
                prefix: std::mem::take(&mut self.prefix),
                stmts,
            });
        }
    }
}

/// Splits the kernel into phases (see the `ptx` module docs); a kernel that
/// does not fit the scheme is one serial phase.
pub(super) fn plan(kernel: &Kernel) -> Vec<Phase<'_>> {
    let whole = || {
        vec![Phase::Serial {
            prefix: Vec::new(),
            stmts: kernel.body.iter().collect(),
        }]
    };
    let top = &kernel.body;
    // every phase recomputes every uniform top-level let (unused ones are
    // dead code to ptxas)
    let mut uniform_ids = HashSet::new();
    let mut prefix: Vec<&Stmt> = Vec::new();
    for s in top {
        if let Stmt::Let { value, expr, .. } = s {
            if is_uniform(kernel, expr, &uniform_ids) {
                uniform_ids.insert(*value);
                prefix.push(s);
            }
        }
    }
    let mut phases: Vec<Phase<'_>> = Vec::new();
    // the serial run (or reduction epilogue) being collected
    let mut run = Run::default();
    let mut i = 0;
    while i < top.len() {
        let s = &top[i];
        match s {
            Stmt::Let { value, .. } if uniform_ids.contains(value) => {
                i += 1;
                continue;
            }
            Stmt::Loop { parallel: true, .. } => {
                run.close(&mut phases);
                if let Some((chain, body)) = chain(kernel, s) {
                    phases.push(Phase::Grid {
                        prefix: prefix.clone(),
                        chain,
                        body: Cow::Borrowed(body),
                    });
                }
                i += 1;
                continue;
            }
            Stmt::AccInit { .. } => {
                if let Some((red, used)) = recognise(kernel, &top[i..]) {
                    run.close(&mut phases);
                    phases.push(Phase::Reduce {
                        prefix: prefix.clone(),
                        red,
                        epilogue: Vec::new(),
                    });
                    run.epilogue = true;
                    i += used;
                    continue;
                }
            }
            Stmt::Loop { .. } => {
                if let Some(Phase::Grid { chain, body, .. }) = interchange(kernel, s) {
                    run.close(&mut phases);
                    phases.push(Phase::Grid {
                        prefix: prefix.clone(),
                        chain,
                        body,
                    });
                    i += 1;
                    continue;
                }
                if let Some(add) = atomic::recognise(kernel, s) {
                    run.close(&mut phases);
                    phases.push(Phase::Atomic {
                        prefix: prefix.clone(),
                        add,
                    });
                    i += 1;
                    continue;
                }
            }
            Stmt::Let { .. } | Stmt::Store { .. } | Stmt::AccSet { .. } => {}
        }
        if run.stmts.is_empty() && !run.epilogue {
            run.prefix = prefix.clone();
        }
        run.stmts.push(s);
        i += 1;
    }
    run.close(&mut phases);
    let closed = phases.iter().all(|p| {
        let mut sc = Scope::default();
        match p {
            Phase::Grid { chain, body, .. } => {
                for (_, _, lets) in chain {
                    sc.add(&lets.iter().collect::<Vec<_>>());
                }
                sc.add(&body.iter().collect::<Vec<_>>());
            }
            Phase::Reduce { red, epilogue, .. } => {
                sc.add(&red.stmts());
                sc.add(epilogue);
            }
            Phase::Atomic { add, .. } => sc.add(&[add.lp]),
            Phase::Serial { stmts, .. } => sc.add(stmts),
        }
        sc.closed(&uniform_ids)
    });
    if closed {
        phases
    } else {
        whole()
    }
}

impl<'k> Phase<'k> {
    /// Emits the phase's entries.
    pub(super) fn emit(&self, kernel: &'k Kernel) -> Result<Built<'k>> {
        match self {
            Phase::Grid {
                prefix,
                chain,
                body,
            } => {
                let mut f = Func::new(kernel, false);
                f.block_refs(prefix)?;
                let work = chain
                    .iter()
                    .fold(1u64, |w, (_, e, _)| w.saturating_mul(*e as u64));
                let threads = match warp::plan(kernel, body) {
                    Some(segs) => {
                        f.grid_stride_with(work, chain, true, &mut |f: &mut Func<'_>| {
                            f.warp_body(&segs)
                        })?;
                        work.saturating_mul(32)
                    }
                    None => {
                        f.grid_stride(work, chain, body)?;
                        work
                    }
                };
                Ok(Built {
                    funcs: vec![(
                        f,
                        Launch {
                            block: BLOCK_THREADS,
                            grid: Grid::Stride { work: threads },
                        },
                    )],
                    scratch_bytes: 0,
                })
            }
            Phase::Reduce {
                prefix,
                red,
                epilogue,
            } => red.emit(kernel, prefix, epilogue),
            Phase::Atomic { prefix, add } => {
                let mut f = Func::new(kernel, false);
                f.block_refs(prefix)?;
                let (o, oe, lets) = add.outer;
                let (i, ie) = add.inner;
                let work = (oe as u64).saturating_mul(ie as u64);
                let chain = [(o, oe, lets), (i, ie, &[][..])];
                f.grid_stride_with(work, &chain, false, &mut |f: &mut Func<'_>| {
                    f.atomic_body(add)
                })?;
                Ok(Built {
                    funcs: vec![(
                        f,
                        Launch {
                            block: BLOCK_THREADS,
                            grid: Grid::Stride { work },
                        },
                    )],
                    scratch_bytes: 0,
                })
            }
            Phase::Serial { prefix, stmts } => {
                let mut f = Func::new(kernel, false);
                f.block_refs(prefix)?;
                f.block_refs(stmts)?;
                Ok(Built {
                    funcs: vec![(
                        f,
                        Launch {
                            block: 1,
                            grid: Grid::Fixed(1),
                        },
                    )],
                    scratch_bytes: 0,
                })
            }
        }
    }
}

impl Func<'_> {
    /// Emits statements given by reference.
    pub(super) fn block_refs(&mut self, stmts: &[&Stmt]) -> Result<()> {
        for s in stmts {
            self.stmt(s)?;
        }
        Ok(())
    }

    /// A grid-stride loop over `work` iterations of the collapsed `chain`:
    /// each iteration's loop variables come from its linear number by
    /// division (innermost fastest), in 32-bit arithmetic when `work` is
    /// below 2^31.
    fn grid_stride(
        &mut self,
        work: u64,
        chain: &[(LoopId, usize, &[Stmt])],
        body: &[Stmt],
    ) -> Result<()> {
        self.grid_stride_with(work, chain, false, &mut |f: &mut Self| f.block(body))
    }

    /// [`Func::grid_stride`] with the innermost body written by `body`; with
    /// `per_warp`, each iteration belongs to a whole warp (its 32 lanes)
    /// instead of one thread.
    pub(super) fn grid_stride_with(
        &mut self,
        work: u64,
        chain: &[(LoopId, usize, &[Stmt])],
        per_warp: bool,
        body: &mut dyn FnMut(&mut Self) -> Result<()>,
    ) -> Result<()> {
        if work == 0 {
            return Ok(());
        }
        let narrow = work < (1 << 31);
        let (class, t) = if narrow {
            (Class::B32, "u32")
        } else {
            (Class::B64, "u64")
        };
        let ctaid = self.special("%ctaid.x");
        let ntid = self.special("%ntid.x");
        let tid = self.special("%tid.x");
        let nctaid = self.special("%nctaid.x");
        let (i, stride) = (self.reg(class), self.reg(class));
        if narrow {
            self.ins(format!("mad.lo.u32 {i}, {ctaid}, {ntid}, {tid}"));
            self.ins(format!("mul.lo.u32 {stride}, {nctaid}, {ntid}"));
        } else {
            let wt = self.reg(Class::B64);
            self.ins(format!("mul.wide.u32 {i}, {ctaid}, {ntid}"));
            self.ins(format!("cvt.u64.u32 {wt}, {tid}"));
            self.ins(format!("add.u64 {i}, {i}, {wt}"));
            self.ins(format!("mul.wide.u32 {stride}, {nctaid}, {ntid}"));
        }
        if per_warp {
            let b = if narrow { "b32" } else { "b64" };
            self.ins(format!("shr.{b} {i}, {i}, 5"));
            self.ins(format!("shr.{b} {stride}, {stride}, 5"));
        }
        let (top, end) = (self.label(), self.label());
        let p = self.reg(Class::Pred);
        self.ins(format!("setp.ge.{t} {p}, {i}, {work}"));
        self.ins(format!("@{p} bra {end}"));
        self.place(&top);
        // loop variables, innermost first
        let mut rest = i.clone();
        let mut vars = Vec::with_capacity(chain.len());
        for (k, (id, extent, _)) in chain.iter().enumerate().rev() {
            let v = if k == 0 {
                rest.clone()
            } else {
                let (v, q) = (self.reg(class), self.reg(class));
                self.ins(format!("rem.{t} {v}, {rest}, {extent}"));
                self.ins(format!("div.{t} {q}, {rest}, {extent}"));
                rest = q;
                v
            };
            vars.push((*id, v));
        }
        for (id, v) in vars {
            let (w64, w32) = (self.reg(Class::B64), self.reg(Class::B32));
            if narrow {
                self.ins(format!("cvt.u64.u32 {w64}, {v}"));
                self.ins(format!("mov.b32 {w32}, {v}"));
            } else {
                self.ins(format!("mov.b64 {w64}, {v}"));
                self.ins(format!("cvt.u32.u64 {w32}, {v}"));
            }
            self.loops.insert(id, (w64, w32));
        }
        for (_, _, lets) in chain {
            self.block(lets)?;
        }
        body(self)?;
        self.ins(format!("add.{t} {i}, {i}, {stride}"));
        self.ins(format!("setp.lt.{t} {p}, {i}, {work}"));
        self.ins(format!("@{p} bra {top}"));
        self.place(&end);
        Ok(())
    }
}
