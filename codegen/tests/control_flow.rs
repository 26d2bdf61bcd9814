//! Control flow (`cond`, `while`, `scan`) through the compiler: each
//! program runs on the reference interpreter (the oracle), the kernel-IR
//! interpreter (`fusion::plan` + `kernel_interp::run_program`) and the
//! Cranelift executable (`compile(.., Device::Cpu)`).
//!
//! The kernel interpreter must match the reference bit for bit (same
//! operations in the same order). The Cranelift executable must match it
//! bit for bit too, except for programs with transcendental operations
//! (expanded into polynomials within the stated ulp bounds of
//! `codegen/src/math`), which are compared with a relative tolerance.

use std::sync::Arc;

use rjax_codegen::fusion::plan;
use rjax_codegen::kernel_interp::run_program;
use rjax_codegen::program::Step;
use rjax_codegen::{compile, Device};
use rjax_ir::interp::interpret_closed;
use rjax_ir::{
    AVal, Atom, ClosedJaxpr, DType, Data, HostBuffer, JaxprBuilder, Primitive as P, Scalar, Var,
};

// ---- building jaxprs ----------------------------------------------------------

/// A closed jaxpr over `consts` and inputs of `ins`: `f` gets the builder
/// and the variables (constvars first) and returns the outputs.
fn closed(
    consts: Vec<HostBuffer>,
    ins: &[AVal],
    f: impl FnOnce(&mut JaxprBuilder, &[Var]) -> Vec<Atom>,
) -> Arc<ClosedJaxpr> {
    let mut bld = JaxprBuilder::new();
    let cvars: Vec<Var> = consts.iter().map(|c| bld.new_var(c.aval())).collect();
    let ivars: Vec<Var> = ins.iter().map(|a| bld.new_var(a.clone())).collect();
    let all: Vec<Var> = cvars.iter().chain(&ivars).copied().collect();
    let outs = f(&mut bld, &all);
    Arc::new(ClosedJaxpr::new(
        bld.build(cvars, ivars, outs).expect("jaxpr"),
        consts,
    ))
}

/// Appends an equation, returning its outputs.
fn eqns(bld: &mut JaxprBuilder, p: P, ins: Vec<Atom>) -> Vec<Atom> {
    bld.add_eqn(p, ins, None)
        .expect("equation")
        .into_iter()
        .map(Atom::Var)
        .collect()
}

/// Appends a single-output equation.
fn eqn(bld: &mut JaxprBuilder, p: P, ins: Vec<Atom>) -> Atom {
    eqns(bld, p, ins)[0]
}

fn lf(x: f32) -> Atom {
    Atom::Lit(Scalar::F32(x))
}

fn li(x: i32) -> Atom {
    Atom::Lit(Scalar::I32(x))
}

fn a(v: Var) -> Atom {
    Atom::Var(v)
}

fn f32s(shape: &[usize], f: impl Fn(usize) -> f32) -> HostBuffer {
    let n = shape.iter().product();
    HostBuffer::new(Data::F32((0..n).map(f).collect()), shape).expect("buffer")
}

fn f64s(shape: &[usize], f: impl Fn(usize) -> f64) -> HostBuffer {
    let n = shape.iter().product();
    HostBuffer::new(Data::F64((0..n).map(f).collect()), shape).expect("buffer")
}

fn i32s(shape: &[usize], f: impl Fn(usize) -> i32) -> HostBuffer {
    let n = shape.iter().product();
    HostBuffer::new(Data::I32((0..n).map(f).collect()), shape).expect("buffer")
}

fn scan(body: Arc<ClosedJaxpr>, length: usize, reverse: bool, consts: usize, carry: usize) -> P {
    P::Scan {
        body,
        length,
        reverse,
        num_consts: consts,
        num_carry: carry,
    }
}

// ---- running and comparing ----------------------------------------------------

/// The elements of `d` as comparable bits (every NaN the same).
fn bits(d: &Data) -> Vec<u64> {
    match d {
        Data::F32(v) => v
            .iter()
            .map(|x| {
                if x.is_nan() {
                    u64::MAX
                } else {
                    u64::from(x.to_bits())
                }
            })
            .collect(),
        Data::F64(v) => v
            .iter()
            .map(|x| if x.is_nan() { u64::MAX } else { x.to_bits() })
            .collect(),
        Data::I32(v) => v.iter().map(|x| *x as u32 as u64).collect(),
        Data::U32(v) => v.iter().map(|x| u64::from(*x)).collect(),
        Data::Bool(v) => v.iter().map(|x| u64::from(*x)).collect(),
    }
}

#[track_caller]
fn exact(got: &[HostBuffer], want: &[HostBuffer], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: number of outputs");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.aval(), w.aval(), "{what}: output {k} type");
        assert_eq!(
            bits(g.data()),
            bits(w.data()),
            "{what}: output {k}\ngot  {g:?}\nwant {w:?}"
        );
    }
}

#[track_caller]
fn close(got: &[HostBuffer], want: &[HostBuffer], rel: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: number of outputs");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.aval(), w.aval(), "{what}: output {k} type");
        if !g.dtype().is_float() {
            assert_eq!(bits(g.data()), bits(w.data()), "{what}: output {k}");
            continue;
        }
        for (i, (x, y)) in g
            .data()
            .to_f64_vec()
            .iter()
            .zip(w.data().to_f64_vec())
            .enumerate()
        {
            let ok = (x - y).abs() <= rel * y.abs().max(1.0) || (x.is_nan() && y.is_nan());
            assert!(ok, "{what}: output {k} element {i}: got {x}, want {y}");
        }
    }
}

/// Runs `jaxpr` on `args` in the three executors and compares them (see
/// the module docs); `rel` is the tolerance of the Cranelift results
/// (`None`: bit for bit). Returns the reference results.
#[track_caller]
fn check(
    jaxpr: &ClosedJaxpr,
    args: &[HostBuffer],
    rel: Option<f64>,
    what: &str,
) -> Vec<HostBuffer> {
    let want = interpret_closed(jaxpr, args).expect("reference interpreter");
    let program = plan(jaxpr).expect("plan");
    assert!(
        program.steps.iter().any(|s| matches!(s, Step::Control(_))),
        "{what}: the plan has no control step"
    );
    let kint = run_program(&program, args).expect("kernel interpreter");
    exact(&kint, &want, &format!("{what} (kernel interpreter)"));
    let avals: Vec<AVal> = args.iter().map(HostBuffer::aval).collect();
    let exe = compile(jaxpr, &avals, Device::Cpu).expect("compile");
    let refs: Vec<&HostBuffer> = args.iter().collect();
    // Twice: the second run reuses pooled scratch memory.
    for round in 0..2 {
        let cl = exe.run(&refs).expect("cranelift run");
        let what = format!("{what} (cranelift, run {round})");
        match rel {
            None => exact(&cl, &want, &what),
            Some(r) => close(&cl, &want, r, &what),
        }
    }
    want
}

// ---- cond ------------------------------------------------------------------------

/// `cond` with three branches over (f32[3], i32[2,2]): a constant, a
/// literal, an operand returned unchanged; the index is computed in the
/// program and the results are used by work after the step.
fn three_branches() -> Arc<ClosedJaxpr> {
    let (v3, m22) = (AVal::new(DType::F32, &[3]), AVal::new(DType::I32, &[2, 2]));
    let ins = [v3.clone(), m22.clone()];
    let b0 = closed(vec![f32s(&[3], |i| i as f32 - 1.5)], &ins, |bld, x| {
        let s = eqn(bld, P::Add, vec![a(x[1]), a(x[0])]);
        let m = eqn(bld, P::Mul, vec![a(x[2]), li(3)]);
        vec![s, m]
    });
    let b1 = closed(vec![], &ins, |bld, x| {
        let s = eqn(bld, P::Mul, vec![a(x[0]), lf(-2.0)]);
        vec![s, a(x[1])]
    });
    let b2 = closed(vec![], &ins, |bld, x| {
        let m = eqn(bld, P::Sub, vec![a(x[1]), li(7)]);
        vec![a(x[0]), m]
    });
    let outer = [AVal::scalar(DType::I32), v3, m22];
    closed(vec![], &outer, |bld, x| {
        let idx = eqn(bld, P::Sub, vec![a(x[0]), li(1)]);
        let y = eqn(bld, P::Add, vec![a(x[1]), lf(0.25)]);
        let outs = eqns(
            bld,
            P::Cond {
                branches: vec![b0, b1, b2],
            },
            vec![idx, y, a(x[2])],
        );
        let z = eqn(bld, P::Mul, vec![outs[0], lf(2.0)]);
        vec![z, outs[1], outs[0]]
    })
}

#[test]
fn cond_picks_the_clamped_branch() {
    let j = three_branches();
    let v = f32s(&[3], |i| i as f32 * 1.25);
    let m = i32s(&[2, 2], |i| i as i32 - 2);
    let mut seen = Vec::new();
    // Index after the `- 1` in the program: -3 and -1 clamp to 0, 5 to 2.
    for i in [-2, 0, 1, 2, 3, 6] {
        let out = check(
            &j,
            &[HostBuffer::scalar(Scalar::I32(i)), v.clone(), m.clone()],
            None,
            "cond",
        );
        seen.push(out[1].as_slice::<i32>().expect("i32").to_vec());
    }
    // Hand-derived second results: branch 0 (3m), 0, 0, 1 (m), 2 (m - 7), 2.
    let m3 = vec![-6, -3, 0, 3];
    let m7 = vec![-9, -8, -7, -6];
    assert_eq!(
        seen,
        vec![
            m3.clone(),
            m3.clone(),
            m3,
            vec![-2, -1, 0, 1],
            m7.clone(),
            m7
        ]
    );
}

#[test]
fn cond_with_one_branch_and_literal_operand() {
    let s = AVal::scalar(DType::F32);
    let b = closed(vec![], &[s.clone(), s.clone()], |bld, x| {
        vec![eqn(bld, P::Sub, vec![a(x[0]), a(x[1])])]
    });
    let j = closed(vec![], &[AVal::scalar(DType::I32), s], |bld, x| {
        eqns(
            bld,
            P::Cond { branches: vec![b] },
            vec![a(x[0]), a(x[1]), lf(0.5)],
        )
    });
    let out = check(
        &j,
        &[
            HostBuffer::scalar(Scalar::I32(4)),
            HostBuffer::scalar(Scalar::F32(3.0)),
        ],
        None,
        "cond, one branch",
    );
    assert_eq!(out[0].as_slice::<f32>(), Some(&[2.5f32][..]));
}

// ---- while -----------------------------------------------------------------------

/// `while i < n: i += 1; x = x * 1.5 + 1; s += sum(x)` over
/// (i32 i, i32 n, f32[4] x, f64 s).
fn counted_while() -> Arc<ClosedJaxpr> {
    let carry = [
        AVal::scalar(DType::I32),
        AVal::scalar(DType::I32),
        AVal::new(DType::F32, &[4]),
        AVal::scalar(DType::F64),
    ];
    let cond = closed(vec![], &carry, |bld, c| {
        vec![eqn(bld, P::Lt, vec![a(c[0]), a(c[1])])]
    });
    let body = closed(vec![], &carry, |bld, c| {
        let i = eqn(bld, P::Add, vec![a(c[0]), li(1)]);
        let x = eqn(bld, P::Mul, vec![a(c[2]), lf(1.5)]);
        let x = eqn(bld, P::Add, vec![x, lf(1.0)]);
        let t = eqn(bld, P::ReduceSum { axes: vec![0] }, vec![x]);
        let t = eqn(
            bld,
            P::ConvertElementType {
                new_dtype: DType::F64,
            },
            vec![t],
        );
        let s = eqn(bld, P::Add, vec![a(c[3]), t]);
        vec![i, a(c[1]), x, s]
    });
    closed(vec![], &carry, |bld, c| {
        let ins = c.iter().map(|v| a(*v)).collect();
        eqns(
            bld,
            P::While {
                cond_jaxpr: cond,
                body_jaxpr: body,
            },
            ins,
        )
    })
}

#[test]
fn while_runs_a_data_dependent_number_of_times() {
    let j = counted_while();
    let x = f32s(&[4], |i| i as f32 - 1.0);
    for (start, n) in [(0, 0), (3, 1), (0, 1), (0, 2), (2, 9)] {
        let args = [
            HostBuffer::scalar(Scalar::I32(start)),
            HostBuffer::scalar(Scalar::I32(n)),
            x.clone(),
            HostBuffer::scalar(Scalar::F64(0.5)),
        ];
        let out = check(&j, &args, None, &format!("while {start}..{n}"));
        // Hand count of the trips: max(n - start, 0), and the final counter.
        let trips = (n - start).max(0);
        assert_eq!(
            out[0].as_slice::<i32>(),
            Some(&[start.max(n)][..]),
            "trips {trips}"
        );
        if trips == 0 {
            assert_eq!(out[2].as_slice::<f32>(), x.as_slice::<f32>());
        }
    }
}

#[test]
fn while_with_a_float_condition() {
    // while sum(x) < 100: x = x * 2.
    let v = AVal::new(DType::F32, &[3]);
    let cond = closed(vec![], std::slice::from_ref(&v), |bld, c| {
        let s = eqn(bld, P::ReduceSum { axes: vec![0] }, vec![a(c[0])]);
        vec![eqn(bld, P::Lt, vec![s, lf(100.0)])]
    });
    let body = closed(vec![], std::slice::from_ref(&v), |bld, c| {
        vec![eqn(bld, P::Mul, vec![a(c[0]), lf(2.0)])]
    });
    let j = closed(vec![], &[v], |bld, c| {
        eqns(
            bld,
            P::While {
                cond_jaxpr: cond,
                body_jaxpr: body,
            },
            vec![a(c[0])],
        )
    });
    let out = check(
        &j,
        &[f32s(&[3], |i| i as f32 + 1.0)],
        None,
        "while on floats",
    );
    // 6 -> 12 -> 24 -> 48 -> 96 -> 192: five doublings.
    assert_eq!(out[0].as_slice::<f32>(), Some(&[32.0f32, 64.0, 96.0][..]));
}

// ---- scan ------------------------------------------------------------------------

/// A scan with consts (f64[2], i32), carries (f32[3], i32), xs (f32[L,3],
/// i32[L,2,2]) and ys (f32[3], i32[2,2], bool[3]).
fn mixed_scan(length: usize, reverse: bool) -> Arc<ClosedJaxpr> {
    let body_ins = [
        AVal::new(DType::F64, &[2]),
        AVal::scalar(DType::I32),
        AVal::new(DType::F32, &[3]),
        AVal::scalar(DType::I32),
        AVal::new(DType::F32, &[3]),
        AVal::new(DType::I32, &[2, 2]),
    ];
    let body = closed(vec![], &body_ins, |bld, x| {
        let w = eqn(bld, P::ReduceSum { axes: vec![0] }, vec![a(x[0])]);
        let w = eqn(
            bld,
            P::ConvertElementType {
                new_dtype: DType::F32,
            },
            vec![w],
        );
        let hx = eqn(bld, P::Mul, vec![a(x[2]), lf(0.5)]);
        let xw = eqn(bld, P::Mul, vec![a(x[4]), w]);
        let h = eqn(bld, P::Add, vec![hx, xw]);
        let m = eqn(bld, P::ReduceSum { axes: vec![0, 1] }, vec![a(x[5])]);
        let k = eqn(bld, P::Add, vec![a(x[3]), m]);
        let k = eqn(bld, P::Mul, vec![k, a(x[1])]);
        let k = eqn(bld, P::Rem, vec![k, li(1000)]);
        let ym = eqn(bld, P::Add, vec![a(x[5]), a(x[3])]);
        let yb = eqn(bld, P::Gt, vec![h, a(x[4])]);
        let yh = eqn(bld, P::Sub, vec![h, lf(1.0)]);
        vec![h, k, yh, ym, yb]
    });
    let outer = [
        AVal::new(DType::F64, &[2]),
        AVal::scalar(DType::I32),
        AVal::new(DType::F32, &[3]),
        AVal::scalar(DType::I32),
        AVal::new(DType::F32, &[length, 3]),
        AVal::new(DType::I32, &[length, 2, 2]),
    ];
    closed(vec![], &outer, |bld, x| {
        let ins = x.iter().map(|v| a(*v)).collect();
        eqns(bld, scan(body, length, reverse, 2, 2), ins)
    })
}

fn mixed_args(length: usize) -> Vec<HostBuffer> {
    vec![
        f64s(&[2], |i| 0.25 + i as f64),
        HostBuffer::scalar(Scalar::I32(3)),
        f32s(&[3], |i| 1.0 - i as f32),
        HostBuffer::scalar(Scalar::I32(-4)),
        f32s(&[length, 3], |i| ((i * 7) % 11) as f32 * 0.375 - 2.0),
        i32s(&[length, 2, 2], |i| ((i * 5) % 9) as i32 - 4),
    ]
}

#[test]
fn scan_forward_and_reverse_of_several_dtypes() {
    for length in [0, 1, 2, 5, 8] {
        for reverse in [false, true] {
            let what = format!("scan length {length} reverse {reverse}");
            let out = check(
                &mixed_scan(length, reverse),
                &mixed_args(length),
                None,
                &what,
            );
            assert_eq!(out[3].shape(), &[length, 2, 2]);
        }
    }
}

#[test]
fn scan_matches_a_hand_written_loop() {
    // h = 0.5 h + 1.5 x_t, y_t = h - 1 (the f32 part of `mixed_scan`, whose
    // weight is the sum of the f64 constants 0.25 + 1.25).
    let length = 6;
    let args = mixed_args(length);
    let out = check(&mixed_scan(length, true), &args, None, "scan vs loop");
    let xs = args[4].as_slice::<f32>().expect("f32");
    let mut h: Vec<f32> = vec![1.0, 0.0, -1.0];
    let mut ys = vec![0f32; length * 3];
    for t in (0..length).rev() {
        for j in 0..3 {
            h[j] = h[j] * 0.5 + xs[t * 3 + j] * 1.5;
            ys[t * 3 + j] = h[j] - 1.0;
        }
    }
    assert_eq!(out[0].as_slice::<f32>(), Some(&h[..]));
    assert_eq!(out[2].as_slice::<f32>(), Some(&ys[..]));
}

#[test]
fn scan_of_tanh_recurrence_with_a_matrix_product() {
    // h = tanh(W h + x_t) over f32[4], W a constant: a GEMM and expanded
    // tanh in the body.
    let w = f32s(&[4, 4], |i| ((i * 3) % 7) as f32 * 0.2 - 0.6);
    let v = AVal::new(DType::F32, &[4]);
    let body = closed(vec![w], &[v.clone(), v.clone()], |bld, x| {
        let wh = eqn(
            bld,
            P::DotGeneral {
                lhs_contract: vec![1],
                rhs_contract: vec![0],
                lhs_batch: vec![],
                rhs_batch: vec![],
            },
            vec![a(x[0]), a(x[1])],
        );
        let s = eqn(bld, P::Add, vec![wh, a(x[2])]);
        let h = eqn(bld, P::Tanh, vec![s]);
        vec![h, h]
    });
    let length = 50;
    let j = closed(
        vec![],
        &[v, AVal::new(DType::F32, &[length, 4])],
        |bld, x| eqns(bld, scan(body, length, false, 0, 1), vec![a(x[0]), a(x[1])]),
    );
    let args = [
        f32s(&[4], |i| i as f32 * 0.1),
        f32s(&[length, 4], |i| ((i * 13) % 17) as f32 * 0.1 - 0.8),
    ];
    check(&j, &args, Some(1e-5), "tanh recurrence");
}

// ---- nesting ---------------------------------------------------------------------

/// A scan whose body holds a `cond` (on the carried counter modulo 3) and a
/// `while` (halving the x slice while its sum exceeds the carry's).
fn nested_scan(length: usize) -> Arc<ClosedJaxpr> {
    let v = AVal::new(DType::F32, &[2]);
    let br = |k: f32| {
        closed(vec![], std::slice::from_ref(&v), move |bld, x| {
            vec![eqn(bld, P::Mul, vec![a(x[0]), lf(k)])]
        })
    };
    let cond_w = closed(vec![], &[v.clone(), AVal::scalar(DType::F32)], |bld, c| {
        let s = eqn(bld, P::ReduceSum { axes: vec![0] }, vec![a(c[0])]);
        let s = eqn(bld, P::Abs, vec![s]);
        vec![eqn(bld, P::Gt, vec![s, a(c[1])])]
    });
    let body_w = closed(vec![], &[v.clone(), AVal::scalar(DType::F32)], |bld, c| {
        vec![eqn(bld, P::Mul, vec![a(c[0]), lf(0.5)]), a(c[1])]
    });
    let body = closed(
        vec![],
        &[AVal::scalar(DType::I32), v.clone(), v.clone()],
        |bld, x| {
            let k = eqn(bld, P::Rem, vec![a(x[0]), li(3)]);
            let picked = eqns(
                bld,
                P::Cond {
                    branches: vec![br(1.0), br(-1.0), br(2.0)],
                },
                vec![k, a(x[1])],
            );
            let limit = eqn(bld, P::ReduceSum { axes: vec![0] }, vec![picked[0]]);
            let limit = eqn(bld, P::Abs, vec![limit]);
            let limit = eqn(bld, P::Add, vec![limit, lf(1.0)]);
            let shrunk = eqns(
                bld,
                P::While {
                    cond_jaxpr: cond_w,
                    body_jaxpr: body_w,
                },
                vec![a(x[2]), limit],
            );
            let h = eqn(bld, P::Add, vec![picked[0], shrunk[0]]);
            let i = eqn(bld, P::Add, vec![a(x[0]), li(1)]);
            vec![i, h, shrunk[0]]
        },
    );
    closed(
        vec![],
        &[
            AVal::scalar(DType::I32),
            v,
            AVal::new(DType::F32, &[length, 2]),
        ],
        |bld, x| {
            eqns(
                bld,
                scan(body, length, false, 0, 2),
                vec![a(x[0]), a(x[1]), a(x[2])],
            )
        },
    )
}

#[test]
fn scan_with_cond_and_while_inside() {
    for length in [0, 1, 7] {
        let args = [
            HostBuffer::scalar(Scalar::I32(0)),
            f32s(&[2], |i| i as f32 + 0.5),
            f32s(&[length, 2], |i| ((i * 5) % 7) as f32 * 3.0 - 9.0),
        ];
        check(
            &nested_scan(length),
            &args,
            None,
            &format!("nested scan {length}"),
        );
    }
}

#[test]
fn cond_with_a_scan_inside_a_scan() {
    // Branch 1 runs the nested scan over its operands, branch 0 passes
    // them through; the cond sits in an outer scan over 3 steps.
    let length = 4;
    let v = AVal::new(DType::F32, &[2]);
    let xs = AVal::new(DType::F32, &[length, 2]);
    let ins = [AVal::scalar(DType::I32), v.clone(), xs.clone()];
    let inner = nested_scan(length);
    let run = closed(vec![], &ins, |bld, x| {
        let outs = eqns(
            bld,
            P::Call {
                jaxpr: inner,
                name: "inner".into(),
            },
            vec![a(x[0]), a(x[1]), a(x[2])],
        );
        vec![outs[1], outs[2]]
    });
    let skip = closed(vec![], &ins, |_, x| vec![a(x[1]), a(x[2])]);
    let body = closed(
        vec![],
        &[xs.clone(), v.clone(), AVal::scalar(DType::I32)],
        |bld, x| {
            let outs = eqns(
                bld,
                P::Cond {
                    branches: vec![skip, run],
                },
                vec![a(x[2]), a(x[2]), a(x[1]), a(x[0])],
            );
            let h = eqn(bld, P::Mul, vec![outs[0], lf(0.25)]);
            vec![h, outs[1]]
        },
    );
    let j = closed(
        vec![],
        &[xs.clone(), v, AVal::new(DType::I32, &[3])],
        |bld, x| {
            eqns(
                bld,
                scan(body, 3, true, 1, 1),
                vec![a(x[0]), a(x[1]), a(x[2])],
            )
        },
    );
    let args = [
        f32s(&[length, 2], |i| i as f32 - 3.5),
        f32s(&[2], |i| 1.0 + i as f32),
        i32s(&[3], |i| [1, 0, 1][i]),
    ];
    check(&j, &args, None, "cond with a scan, in a scan");
}

// ---- compile time ----------------------------------------------------------------

#[test]
fn scan_plan_does_not_grow_with_the_trip_count() {
    let kernels = |length: usize| {
        let p = plan(&mixed_scan(length, false)).expect("plan");
        rjax_codegen::control::kernels(&p).len()
    };
    let short = kernels(10);
    assert!(short > 0);
    assert_eq!(kernels(10_000), short);
}

#[test]
fn shared_operands_unused_results_and_while_in_cond() {
    // scan(consts = [x], carry = [x, n], xs = []) of length 3, whose second
    // carry is never used after the loop; then a cond whose branch 1 runs
    // `while n < 10: n = n * 2 + 1`.
    let v = AVal::new(DType::F32, &[2]);
    let i = AVal::scalar(DType::I32);
    let body = closed(vec![], &[v.clone(), v.clone(), i.clone()], |bld, x| {
        let h = eqn(bld, P::Add, vec![a(x[1]), a(x[0])]);
        let n = eqn(bld, P::Add, vec![a(x[2]), li(1)]);
        vec![h, n]
    });
    let cond = closed(vec![], std::slice::from_ref(&i), |bld, c| {
        vec![eqn(bld, P::Lt, vec![a(c[0]), li(10)])]
    });
    let grow = closed(vec![], std::slice::from_ref(&i), |bld, c| {
        let d = eqn(bld, P::Mul, vec![a(c[0]), li(2)]);
        vec![eqn(bld, P::Add, vec![d, li(1)])]
    });
    let looped = closed(vec![], std::slice::from_ref(&i), |bld, c| {
        let w = P::While {
            cond_jaxpr: cond,
            body_jaxpr: grow,
        };
        eqns(bld, w, vec![a(c[0])])
    });
    let same = closed(vec![], std::slice::from_ref(&i), |_, c| vec![a(c[0])]);
    let j = closed(vec![], &[v, i.clone(), i], |bld, x| {
        let outs = eqns(
            bld,
            scan(body, 3, false, 1, 2),
            vec![a(x[0]), a(x[0]), a(x[1])],
        );
        let branches = vec![same, looped];
        let n = eqns(bld, P::Cond { branches }, vec![a(x[2]), a(x[1])]);
        vec![outs[0], n[0]]
    });
    for (n, pick, want) in [(0, 1, 15), (3, 1, 15), (12, 1, 12), (3, 0, 3)] {
        let args = [
            f32s(&[2], |k| k as f32 + 0.5),
            HostBuffer::scalar(Scalar::I32(n)),
            HostBuffer::scalar(Scalar::I32(pick)),
        ];
        let out = check(&j, &args, None, &format!("shared operands, n = {n}"));
        // x + 3x = 4x; n -> 2n + 1 until n >= 10 (0 -> 1 -> 3 -> 7 -> 15).
        assert_eq!(out[0].as_slice::<f32>(), Some(&[2.0f32, 6.0][..]));
        assert_eq!(out[1].as_slice::<i32>(), Some(&[want][..]));
    }
}

// ---- scans whose body is kernels only ----------------------------------------------

/// A scan whose body is elementwise kernels only (the loop calls them
/// directly, see `cpu::control`): const a f32[3]; carries h f32[3],
/// k i32, d f64[2]; xs f32[L,3], i32[L]; ys f32[3], i32, bool[2]:
/// `h = a h + 0.5 x`, `k = k + m`, `d = 0.5 d + 1`.
fn elementwise_scan(length: usize, reverse: bool) -> Arc<ClosedJaxpr> {
    let (v, i, w) = (
        AVal::new(DType::F32, &[3]),
        AVal::scalar(DType::I32),
        AVal::new(DType::F64, &[2]),
    );
    let body_ins = [v.clone(), v.clone(), i.clone(), w.clone(), v, i.clone()];
    let body = closed(vec![], &body_ins, |bld, x| {
        let ah = eqn(bld, P::Mul, vec![a(x[0]), a(x[1])]);
        let hx = eqn(bld, P::Mul, vec![a(x[4]), lf(0.5)]);
        let h = eqn(bld, P::Add, vec![ah, hx]);
        let k = eqn(bld, P::Add, vec![a(x[2]), a(x[5])]);
        let d = eqn(bld, P::Mul, vec![a(x[3]), Atom::Lit(Scalar::F64(0.5))]);
        let d = eqn(bld, P::Add, vec![d, Atom::Lit(Scalar::F64(1.0))]);
        let yh = eqn(bld, P::Sub, vec![h, lf(1.0)]);
        let yk = eqn(bld, P::Mul, vec![k, li(2)]);
        let yd = eqn(bld, P::Gt, vec![d, Atom::Lit(Scalar::F64(1.5))]);
        vec![h, k, d, yh, yk, yd]
    });
    let outer = [
        AVal::new(DType::F32, &[3]),
        AVal::new(DType::F32, &[3]),
        i,
        w,
        AVal::new(DType::F32, &[length, 3]),
        AVal::new(DType::I32, &[length]),
    ];
    closed(vec![], &outer, |bld, x| {
        let ins = x.iter().map(|v| a(*v)).collect();
        eqns(bld, scan(body, length, reverse, 1, 3), ins)
    })
}

#[test]
fn scan_of_a_kernels_only_body_forward_and_reverse() {
    for length in [0, 1, 2, 7] {
        for reverse in [false, true] {
            let args = vec![
                f32s(&[3], |j| 0.5 + 0.125 * j as f32),
                f32s(&[3], |j| 1.0 - j as f32),
                HostBuffer::scalar(Scalar::I32(-3)),
                f64s(&[2], |j| 0.25 * j as f64),
                f32s(&[length, 3], |t| ((t * 7) % 11) as f32 * 0.25 - 1.0),
                i32s(&[length], |t| (t as i32 % 3) - 1),
            ];
            let what = format!("kernels-only scan, length {length}, reverse {reverse}");
            let out = check(&elementwise_scan(length, reverse), &args, None, &what);
            // The i32 carry by hand: k = -3 + sum of m (order-independent).
            let sum: i32 = (0..length).map(|t| (t as i32 % 3) - 1).sum();
            assert_eq!(out[1].as_slice::<i32>(), Some(&[sum - 3][..]), "{what}");
            assert_eq!(out[4].shape(), &[length], "{what}");
        }
    }
}
