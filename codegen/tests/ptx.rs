//! Tests of the PTX backend (`rjax_codegen::ptx`) that need no GPU.
//!
//! - Every primitive's program (`ptx_cases`, and the control-flow programs
//!   of `ptx_control`, whose sub-programs' kernels join the module),
//!   planned as the eager path plans it, is emitted and — when the
//!   environment variable `RJAX_PTXAS` names a `ptxas` binary — assembled
//!   for sm_80 and sm_90; any failure fails. Without it the assembly is
//!   skipped (and says so).
//! - A hand-built kernel using every scalar operation on every type it
//!   accepts is assembled the same way.
//! - Structural checks of the emitted text and launch descriptions.

#[allow(dead_code)] // the helpers are shared with the CPU tests
mod cpu_support;
mod ptx_cases;
mod ptx_control;

use cpu_support::{map_kernel, COMPARISONS, FLOAT_UNARY, INT_BINARY, SCALAR_TYPES};

use rjax_codegen::fusion::plan;
use rjax_codegen::kernel::{
    BinaryOp, BufId, Const, Expr, Index, Kernel, KernelBuilder, ScalarType, Stmt, UnaryOp,
};
use rjax_codegen::ptx::ptxas::{assemble_many, entries, ptxas_from_env};
use rjax_codegen::ptx::{
    emit_kernel, emit_program, Grid, Launch, Param, PtxOptions, PtxStep, BLOCK_THREADS,
    REDUCTION_BLOCKS,
};
use rjax_ir::{DType, Error, Scalar};
use std::collections::BTreeSet;

const ARCHS: [u32; 2] = [80, 90];

/// Assembles the labelled modules for every arch when ptxas is available;
/// returns the failures.
fn assemble_all(modules: &[(String, String)]) -> Vec<String> {
    let Some(ptxas) = ptxas_from_env() else {
        return Vec::new();
    };
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let report = assemble_many(&ptxas, modules, &ARCHS, workers);
    println!(
        "ptxas: {} assembled, {} failed",
        report.assembled,
        report.failures.len()
    );
    report.failures
}

fn skipped_note() {
    if ptxas_from_env().is_none() {
        println!("ptxas: skipped (RJAX_PTXAS is not set)");
    }
}

#[test]
fn every_primitive_program_emits_and_assembles() {
    let (primitives, control) = (ptx_cases::all(), ptx_control::all());
    let cases: Vec<(&str, &rjax_ir::ClosedJaxpr)> = primitives
        .iter()
        .map(|c| (c.name.as_str(), &c.jaxpr))
        .chain(control.iter().map(|(n, j)| (n.as_str(), &**j)))
        .collect();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut modules = Vec::new();
    let mut kernels = 0;
    for (name, jaxpr) in &cases {
        for e in &jaxpr.jaxpr.eqns {
            seen.insert(e.prim.name());
        }
        let program = plan(jaxpr).unwrap_or_else(|e| panic!("{name}: plan: {e}"));
        for sm in ARCHS {
            let emitted = emit_program(&program, &PtxOptions { sm })
                .unwrap_or_else(|e| panic!("{name}: emit: {e}"));
            assert!(emitted.ptx.contains(&format!(".target sm_{sm}")), "{name}");
            if sm == 80 {
                kernels += entries(&emitted.ptx);
                modules.push((name.to_string(), emitted.ptx));
            }
        }
    }
    // custom_lin only exists inside linearize and is never compiled
    let err = plan(&ptx_cases::custom_lin()).expect_err("custom_lin is not compiled");
    assert!(matches!(err, Error::NotYetSupported { .. }), "{err}");
    seen.insert("custom_lin");
    let missing = ptx_cases::prim_lists::without_case(&seen);
    assert!(
        missing.is_empty(),
        "primitives without a PTX case: {missing:?}"
    );
    skipped_note();
    println!("{} programs, {kernels} kernel entries", cases.len());
    let failures = assemble_all(&modules);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// One kernel with every scalar operation the kernel checker accepts, on
/// every type: each result converted to f64 and summed into the output.
fn every_scalar_op_kernel() -> Kernel {
    let ins: Vec<DType> = vec![DType::F32, DType::F64, DType::I32, DType::U32, DType::Bool];
    map_kernel(&ins, DType::F64, 1000, |kb, body, xs| {
        let mut typed: Vec<(ScalarType, _)> = SCALAR_TYPES[..5]
            .iter()
            .copied()
            .zip(xs.iter().copied())
            .collect();
        let idx = kb.let_(
            body,
            ScalarType::Index,
            Expr::Convert(ScalarType::Index, xs[2]),
        );
        typed.push((ScalarType::Index, idx));
        let mut sum = kb.let_(
            body,
            ScalarType::F64,
            Expr::Const(Const::Scalar(Scalar::F64(0.0))),
        );
        let mut add = |kb: &mut KernelBuilder, body: &mut Vec<Stmt>, v| {
            let c = kb.let_(body, ScalarType::F64, Expr::Convert(ScalarType::F64, v));
            sum = kb.let_(body, ScalarType::F64, Expr::Binary(BinaryOp::Add, sum, c));
        };
        for &(ty, a) in &typed {
            for op in FLOAT_UNARY
                .into_iter()
                .chain([UnaryOp::Not, UnaryOp::IsFinite])
            {
                let out = match op {
                    UnaryOp::IsFinite => ScalarType::Bool,
                    _ => ty,
                };
                if accepts_unary(op, ty) {
                    let r = kb.let_(body, out, Expr::Unary(op, a));
                    add(kb, body, r);
                }
            }
            for op in INT_BINARY.into_iter().chain(COMPARISONS) {
                if accepts_binary(op, ty) {
                    let out = if is_comparison(op) {
                        ScalarType::Bool
                    } else {
                        ty
                    };
                    let r = kb.let_(body, out, Expr::Binary(op, a, a));
                    add(kb, body, r);
                }
            }
            if ty != ScalarType::Bool {
                let r = kb.let_(body, ty, Expr::Fma(a, a, a));
                add(kb, body, r);
            }
            let cond = kb.let_(body, ScalarType::Bool, Expr::Convert(ScalarType::Bool, a));
            let r = kb.let_(body, ty, Expr::Select(cond, a, a));
            add(kb, body, r);
            for to in SCALAR_TYPES {
                let r = kb.let_(body, to, Expr::Convert(to, a));
                add(kb, body, r);
            }
            for to in bitcasts(ty) {
                let r = kb.let_(body, to, Expr::Bitcast(to, a));
                add(kb, body, r);
            }
        }
        sum
    })
}

fn is_comparison(op: BinaryOp) -> bool {
    matches!(
        op,
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge
    )
}

/// The kernel IR's rules (kernel interpreter): which unary operations
/// apply to which types.
fn accepts_unary(op: UnaryOp, ty: ScalarType) -> bool {
    use ScalarType as S;
    match op {
        UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign => ty != S::Bool,
        UnaryOp::Not => !ty.is_float(),
        _ => ty.is_float(),
    }
}

/// Which binary operations apply to which types.
fn accepts_binary(op: BinaryOp, ty: ScalarType) -> bool {
    use BinaryOp as B;
    match op {
        B::Add | B::Sub | B::Mul | B::Div | B::Rem | B::Max | B::Min => ty != ScalarType::Bool,
        B::And | B::Or | B::Xor => !ty.is_float(),
        B::Shl | B::ShrLogical | B::ShrArith => !ty.is_float() && ty != ScalarType::Bool,
        B::Eq | B::Ne => true,
        B::Lt | B::Le | B::Gt | B::Ge => ty != ScalarType::Bool,
        B::Pow => false,
    }
}

fn bitcasts(ty: ScalarType) -> Vec<ScalarType> {
    use ScalarType as S;
    match ty {
        S::F32 => vec![S::I32, S::U32],
        S::I32 | S::U32 => vec![S::F32],
        S::F64 => vec![S::Index],
        S::Index => vec![S::F64],
        S::Bool => vec![],
    }
}

#[test]
fn every_scalar_op_on_every_type_emits_and_assembles() {
    let k = every_scalar_op_kernel();
    rjax_codegen::kernel_interp::check(&k).expect("the kernel is valid");
    let emitted = emit_kernel(&k, &PtxOptions { sm: 80 }).expect("emits");
    for needle in [
        "div.rn.f32",
        "div.rn.f64",
        "cvt.rzi.s32.f32",
        "cvt.rn.f32.f64",
        "setp.neu.f32",
        "clz.b64",
    ] {
        assert!(emitted.ptx.contains(needle), "no {needle}");
    }
    let failures = assemble_all(&[("every scalar op".to_string(), emitted.ptx)]);
    skipped_note();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The kernels of a program, those of control steps' sub-programs
/// included (at every nesting level, in pre-order).
fn kernels_of(jaxpr: &rjax_ir::ClosedJaxpr) -> Vec<Kernel> {
    rjax_codegen::control::kernels(&plan(jaxpr).expect("plans"))
        .into_iter()
        .cloned()
        .collect()
}

#[test]
fn an_elementwise_kernel_is_one_grid_stride_entry() {
    let mut k = map_kernel(
        &[DType::F32, DType::F32],
        DType::F32,
        1000,
        |kb, body, xs| {
            kb.let_(
                body,
                ScalarType::F32,
                Expr::Binary(BinaryOp::Add, xs[0], xs[1]),
            )
        },
    );
    k.name = "my kernel!".into();
    let e = emit_kernel(&k, &PtxOptions { sm: 90 }).expect("emits");
    assert!(e
        .ptx
        .starts_with(".version 7.8\n.target sm_90\n.address_size 64\n"));
    assert_eq!(e.entries.len(), 1);
    let entry = &e.entries[0];
    assert_eq!(entry.name, "rjax_my_kernel_");
    assert!(e.ptx.contains(".visible .entry rjax_my_kernel_("));
    assert_eq!(e.ptx.matches(".param .u64").count(), 3);
    assert_eq!(
        entry.params,
        vec![
            Param::Buffer(BufId(0)),
            Param::Buffer(BufId(1)),
            Param::Buffer(BufId(2))
        ]
    );
    assert_eq!(
        entry.launch,
        Launch {
            block: BLOCK_THREADS,
            grid: Grid::Stride { work: 1000 }
        }
    );
    assert_eq!(e.scratch_bytes, 0);
    // float addition is never contracted into an fma: `.rn` is explicit
    assert!(e.ptx.contains("add.rn.f32"));
    // sizes below 2^31 use 32-bit index arithmetic
    assert!(e.ptx.contains("mul.wide.s32") && !e.ptx.contains("mul.lo.s64"));
}

#[test]
fn sizes_beyond_2_pow_31_use_64_bit_indices() {
    let huge = (1usize << 31) + 3;
    let j = ptx_cases::single(
        rjax_ir::Primitive::Add,
        &[(DType::F32, &[huge]), (DType::F32, &[huge])],
    );
    let ks = kernels_of(&j);
    assert_eq!(ks.len(), 1);
    let e = emit_kernel(&ks[0], &PtxOptions::default()).expect("emits");
    assert!(e.ptx.contains("setp.ge.u64"), "64-bit grid-stride counter");
    assert!(e.ptx.contains("mul.lo.s64"), "64-bit element offsets");
    assert_eq!(e.entries[0].launch.grid, Grid::Stride { work: huge as u64 });
}

#[test]
fn a_small_full_reduction_is_one_block_with_shuffles_and_shared_memory() {
    let j = ptx_cases::single(
        rjax_ir::Primitive::ReduceSum { axes: vec![0] },
        &[(DType::F32, &[1000])],
    );
    let ks = kernels_of(&j);
    assert_eq!(ks.len(), 1);
    let e = emit_kernel(&ks[0], &PtxOptions::default()).expect("emits");
    assert_eq!(e.entries.len(), 1);
    assert_eq!(e.entries[0].launch.grid, Grid::Fixed(1));
    assert_eq!(e.entries[0].launch.block, BLOCK_THREADS);
    for needle in [
        "shfl.sync.bfly.b32",
        "bar.sync 0",
        ".shared",
        "st.shared",
        "ld.shared",
    ] {
        assert!(e.ptx.contains(needle), "no {needle}");
    }
    assert_eq!(e.scratch_bytes, 0);
}

#[test]
fn a_large_reduction_runs_in_two_passes_through_scratch() {
    let j = ptx_cases::single(
        rjax_ir::Primitive::ReduceMax { axes: vec![0] },
        &[(DType::F64, &[1 << 20])],
    );
    let ks = kernels_of(&j);
    assert_eq!(ks.len(), 1);
    let e = emit_kernel(&ks[0], &PtxOptions::default()).expect("emits");
    assert_eq!(e.entries.len(), 2);
    assert_eq!(e.entries[0].launch.grid, Grid::Fixed(REDUCTION_BLOCKS));
    assert_eq!(e.entries[1].launch.grid, Grid::Fixed(1));
    for entry in &e.entries {
        assert_eq!(entry.params.last(), Some(&Param::Scratch));
        assert_eq!(entry.params.len(), 3);
    }
    assert_eq!(e.scratch_bytes, 8 * REDUCTION_BLOCKS as usize);
    // 64-bit values cross lanes as two 32-bit halves
    assert_eq!(e.ptx.matches("shfl.sync.bfly.b32").count(), 2 * 2 * 5 * 2);
    assert!(e.ptx.contains("bar.sync 0"));
    assert!(e.entries[1].name.ends_with("_1"));
}

/// The entries of the one kernel of a scatter of `kind` on `dtype`.
fn scatter(kind: rjax_ir::ScatterKind, dtype: DType) -> rjax_codegen::ptx::PtxKernel {
    let j = ptx_cases::single(
        rjax_ir::Primitive::Scatter { axis: 0, kind },
        &[(dtype, &[5, 3]), (DType::I32, &[8]), (dtype, &[8, 3])],
    );
    let ks = kernels_of(&j);
    assert_eq!(ks.len(), 1);
    emit_kernel(&ks[0], &PtxOptions::default()).expect("emits")
}

#[test]
fn scatter_add_is_atomic_and_other_scatters_run_in_order() {
    for (dtype, t) in [
        (DType::F32, "f32"),
        (DType::F64, "f64"),
        (DType::I32, "s32"),
        (DType::U32, "u32"),
    ] {
        let e = scatter(rjax_ir::ScatterKind::Add, dtype);
        // the copy of the operand, then one thread per updated element
        assert_eq!(e.entries.len(), 2);
        assert_eq!(e.entries[0].launch.grid, Grid::Stride { work: 15 });
        assert_eq!(e.entries[1].launch.grid, Grid::Stride { work: 24 });
        assert!(e.ptx.contains(&format!("red.global.add.{t}")), "{dtype}");
        let red = e
            .ptx
            .lines()
            .find(|l| l.contains("red.global"))
            .expect("red");
        assert!(
            red.trim_start().starts_with("@%p"),
            "guarded by the bounds test: {red}"
        );
    }
    let in_order = ptx_cases::prim_lists::SCATTER_KINDS
        .into_iter()
        .filter(|k| *k != rjax_ir::ScatterKind::Add);
    for kind in in_order {
        let e = scatter(kind, DType::F32);
        assert!(!e.ptx.contains("red.global"), "{}", kind.name());
        let last = e.entries.last().expect("entries");
        assert_eq!(
            last.launch,
            Launch {
                block: 1,
                grid: Grid::Fixed(1)
            },
            "{}",
            kind.name()
        );
    }
}

#[test]
fn random_bits_gives_each_thread_its_own_chacha_block() {
    let j = ptx_cases::single(
        rjax_ir::Primitive::RandomBits {
            shape: [37].as_slice().into(),
        },
        &[(DType::U32, &[8])],
    );
    let ks = kernels_of(&j);
    assert_eq!(ks.len(), 1);
    let e = emit_kernel(&ks[0], &PtxOptions::default()).expect("emits");
    // 37 words: two full 16-word blocks in parallel, then the 5-word tail
    assert_eq!(e.entries.len(), 2);
    assert_eq!(e.entries[0].launch.grid, Grid::Stride { work: 2 });
    assert_eq!(e.entries[1].launch.grid, Grid::Fixed(1));
    // 20 rounds of 4 quarter rounds of 4 rotations, per block
    let rotations = e.ptx.matches("shl.b32").count();
    assert!(rotations >= 2 * 320, "{rotations} rotations");
}

#[test]
fn transcendentals_are_expanded_not_approximated_by_hardware() {
    for p in [
        rjax_ir::Primitive::Exp,
        rjax_ir::Primitive::Erf,
        rjax_ir::Primitive::Sin,
    ] {
        let j = ptx_cases::single(p.clone(), &[(DType::F32, &[9])]);
        let ks = kernels_of(&j);
        let e = emit_kernel(&ks[0], &PtxOptions::default()).expect("emits");
        assert!(!e.ptx.contains(".approx"), "{}", p.name());
        assert!(e.ptx.contains("fma.rn.f32"), "{}: a polynomial", p.name());
    }
}

#[test]
fn float_gemms_stay_gemm_steps_and_integer_products_become_kernels() {
    let dot = || rjax_ir::Primitive::DotGeneral {
        lhs_contract: vec![1],
        rhs_contract: vec![0],
        lhs_batch: vec![],
        rhs_batch: vec![],
    };
    let f = plan(&ptx_cases::single(
        dot(),
        &[(DType::F32, &[2, 3]), (DType::F32, &[3, 4])],
    ))
    .expect("plans");
    let e = emit_program(&f, &PtxOptions::default()).expect("emits");
    assert!(e.steps.iter().any(|s| matches!(s, PtxStep::Gemm(_))));
    let i = plan(&ptx_cases::single(
        dot(),
        &[(DType::I32, &[2, 3]), (DType::I32, &[3, 4])],
    ))
    .expect("plans");
    let e = emit_program(&i, &PtxOptions::default()).expect("emits");
    assert!(e.steps.iter().all(|s| matches!(s, PtxStep::Kernel { .. })));
    assert!(e.ptx.contains("mad.lo.s32") || e.ptx.contains("mul.lo.s32"));
}

#[test]
fn program_entries_are_named_by_step() {
    let j = ptx_cases::build(
        &[
            rjax_ir::AVal::new(DType::F32, &[4]),
            rjax_ir::AVal::new(DType::F32, &[4, 4]),
        ],
        |b, xs| {
            let dot = rjax_ir::Primitive::DotGeneral {
                lhs_contract: vec![0],
                rhs_contract: vec![0],
                lhs_batch: vec![],
                rhs_batch: vec![],
            };
            let y = b
                .add_eqn(
                    dot,
                    vec![rjax_ir::Atom::Var(xs[0]), rjax_ir::Atom::Var(xs[1])],
                    None,
                )
                .expect("dot");
            let z = b
                .add_eqn(
                    rjax_ir::Primitive::Exp,
                    vec![rjax_ir::Atom::Var(y[0])],
                    None,
                )
                .expect("exp");
            vec![rjax_ir::Atom::Var(z[0])]
        },
    );
    let p = plan(&j).expect("plans");
    let e = emit_program(&p, &PtxOptions::default()).expect("emits");
    let names: Vec<&str> = e
        .steps
        .iter()
        .filter_map(|s| match s {
            PtxStep::Kernel { kernel, .. } => Some(kernel.entries[0].name.as_str()),
            PtxStep::Gemm(_) | PtxStep::Control(_) => None,
        })
        .collect();
    assert!(!names.is_empty());
    for (i, s) in e.steps.iter().enumerate() {
        if let PtxStep::Kernel { kernel, args } = s {
            assert!(kernel.entries[0].name.ends_with(&format!("_s{i}")));
            assert!(e
                .ptx
                .contains(&format!(".visible .entry {}(", kernel.entries[0].name)));
            assert_eq!(args.len(), kernel.entries[0].params.len());
        }
    }
    // one module header for the whole program
    assert_eq!(e.ptx.matches(".version").count(), 1);
}

#[test]
fn grid_size_rule() {
    let stride = |work| Launch {
        block: 256,
        grid: Grid::Stride { work },
    };
    assert_eq!(stride(1000).grid_dim(100), 4);
    assert_eq!(stride(1 << 30).grid_dim(100), 3200);
    assert_eq!(stride(0).grid_dim(100), 1);
    assert_eq!(stride(1).grid_dim(0), 1);
    let fixed = Launch {
        block: 1,
        grid: Grid::Fixed(7),
    };
    assert_eq!(fixed.grid_dim(100), 7);
}

#[test]
fn an_invalid_kernel_is_an_error_not_a_panic() {
    let k = Kernel {
        name: "bad".into(),
        buffers: vec![],
        body: vec![Stmt::Store {
            buf: BufId(0),
            index: Index::constant(0),
            value: rjax_codegen::kernel::ValueId(7),
        }],
    };
    let err = emit_kernel(&k, &PtxOptions::default()).expect_err("rejected");
    assert!(matches!(err, Error::Op { .. }), "{err}");
}

#[test]
fn merged_modules_keep_entry_names_unique() {
    let k = map_kernel(&[DType::F32], DType::F32, 8, |kb, body, xs| {
        kb.let_(body, ScalarType::F32, Expr::Unary(UnaryOp::Neg, xs[0]))
    });
    let a = emit_kernel(&k, &PtxOptions::default()).expect("emits").ptx;
    let merged = rjax_codegen::ptx::ptxas::merge_modules([a.as_str(), a.as_str()]);
    assert_eq!(merged.matches(".version").count(), 1);
    assert!(merged.contains(".entry rjax_m0_map(") && merged.contains(".entry rjax_m1_map("));
    let failures = assemble_all(&[("merged".to_string(), merged)]);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_reduction_over_leading_axes_runs_one_thread_per_output_element() {
    // sum over rows: the kernel accumulates into its output row by row; the
    // loops are interchanged so that each thread owns one column
    let j = ptx_cases::single(
        rjax_ir::Primitive::ReduceSum { axes: vec![0] },
        &[(DType::F32, &[700, 300])],
    );
    let ks = kernels_of(&j);
    assert_eq!(ks.len(), 1);
    let e = emit_kernel(&ks[0], &PtxOptions::default()).expect("emits");
    let grids: Vec<Grid> = e.entries.iter().map(|x| x.launch.grid).collect();
    assert_eq!(
        grids,
        vec![Grid::Stride { work: 300 }, Grid::Stride { work: 300 }]
    );
}

#[test]
fn the_isa_version_follows_the_target() {
    use rjax_codegen::ptx::header;
    assert!(header(&PtxOptions { sm: 80 }).starts_with(".version 7.8\n.target sm_80\n"));
    assert!(header(&PtxOptions { sm: 90 }).starts_with(".version 7.8\n.target sm_90\n"));
    assert!(header(&PtxOptions { sm: 100 }).starts_with(".version 8.7\n.target sm_100\n"));
    let retargeted = rjax_codegen::ptx::ptxas::retarget(&header(&PtxOptions { sm: 80 }), 100);
    assert!(retargeted.starts_with(".version 8.7\n.target sm_100\n"));
}

#[test]
fn elementwise_results_share_the_pass_of_the_reduction_they_feed() {
    // n = x * x and sum(n), both outputs: one loop computes n and folds it
    for len in [1000, 1 << 20] {
        let j = ptx_cases::build(&[rjax_ir::AVal::new(DType::F32, &[len])], |b, xs| {
            use rjax_ir::{Atom, Primitive};
            let n = b
                .add_eqn(
                    Primitive::Mul,
                    vec![Atom::Var(xs[0]), Atom::Var(xs[0])],
                    None,
                )
                .expect("mul");
            let s = b
                .add_eqn(
                    Primitive::ReduceSum { axes: vec![0] },
                    vec![Atom::Var(n[0])],
                    None,
                )
                .expect("sum");
            vec![Atom::Var(n[0]), Atom::Var(s[0])]
        });
        let ks = kernels_of(&j);
        assert_eq!(ks.len(), 1, "one fused kernel");
        let e = emit_kernel(&ks[0], &PtxOptions::default()).expect("emits");
        let grids: Vec<Grid> = e.entries.iter().map(|x| x.launch.grid).collect();
        let want = if len <= rjax_codegen::ptx::SINGLE_BLOCK_REDUCTION {
            vec![Grid::Fixed(1)]
        } else {
            vec![Grid::Fixed(REDUCTION_BLOCKS), Grid::Fixed(1)]
        };
        assert_eq!(grids, want, "{len}");
        assert!(e.ptx.contains("shfl.sync.bfly.b32"));
        assert!(e.entries.iter().all(|x| x.launch.block == BLOCK_THREADS));
    }
}

#[test]
fn a_running_sum_is_not_taken_for_a_reduction() {
    // cumsum over the only axis stores every partial sum: order matters
    let j = ptx_cases::single(
        rjax_ir::Primitive::Cumsum {
            axis: 0,
            reverse: false,
        },
        &[(DType::F32, &[1000])],
    );
    let ks = kernels_of(&j);
    let e = emit_kernel(&ks[0], &PtxOptions::default()).expect("emits");
    assert!(!e.ptx.contains("shfl.sync"));
    assert_eq!(e.entries.last().expect("entry").launch.grid, Grid::Fixed(1));
}

#[test]
fn a_row_reduction_gives_each_row_a_warp() {
    let j = ptx_cases::single(
        rjax_ir::Primitive::ReduceSum { axes: vec![1] },
        &[(DType::F32, &[64, 1000])],
    );
    let ks = kernels_of(&j);
    assert_eq!(ks.len(), 1);
    let e = emit_kernel(&ks[0], &PtxOptions::default()).expect("emits");
    assert_eq!(e.entries.len(), 1);
    // 64 rows of 32 lanes; lanes combine with a butterfly, no block barrier
    assert_eq!(e.entries[0].launch.grid, Grid::Stride { work: 64 * 32 });
    assert_eq!(e.ptx.matches("shfl.sync.bfly.b32").count(), 5);
    assert!(!e.ptx.contains("bar.sync"));
    // short rows and argmax (not a plain fold) stay one thread per row
    for (p, shape) in [
        (rjax_ir::Primitive::ReduceSum { axes: vec![1] }, [64, 8]),
        (
            rjax_ir::Primitive::ArgMax {
                axis: 1,
                index_dtype: DType::I32,
            },
            [64, 1000],
        ),
    ] {
        let ks = kernels_of(&ptx_cases::single(p.clone(), &[(DType::F32, &shape)]));
        let e = emit_kernel(&ks[0], &PtxOptions::default()).expect("emits");
        assert_eq!(
            e.entries[0].launch.grid,
            Grid::Stride { work: 64 },
            "{}",
            p.name()
        );
        assert!(!e.ptx.contains("shfl"), "{}", p.name());
    }
}
