//! Multi-equation programs: the design notes' worked example (the linear
//! classifier's gradient), its `value_and_grad` + SGD variant, and chains
//! mixing layout operations with elementwise work and reductions. Each is
//! checked against the reference interpreter, and its step structure is
//! asserted (kernel and GEMM counts; golden dumps for the worked example).

use super::harness::{
    av, build, build_with_consts, check, check_with, counts, dump, eqn, golden, lit, random, v, Rng,
};
use rjax_codegen::program::{Program, Step};
use rjax_ir::{
    AVal, Atom, ClosedJaxpr, DType::F32, HostBuffer, JaxprBuilder, Primitive as P, Scalar, Var,
};

fn bcast(shape: &[usize], dims: &[usize]) -> P {
    P::BroadcastInDim {
        shape: shape.into(),
        broadcast_dimensions: dims.to_vec(),
    }
}

fn dot(lc: usize, rc: usize) -> P {
    P::DotGeneral {
        lhs_contract: vec![lc],
        rhs_contract: vec![rc],
        lhs_batch: vec![],
        rhs_batch: vec![],
    }
}

/// The data of the worked example: `x: f32[2000,2]`, `y: f32[2000,1]`.
fn data() -> [HostBuffer; 2] {
    let mut rng = Rng::new(7);
    [
        random(&av(F32, &[2000, 2]), &mut rng, false),
        random(&av(F32, &[2000, 1]), &mut rng, false),
    ]
}

/// The forward part shared by both variants: `h = x @ w + b - y`.
fn residual(b: &mut JaxprBuilder, x: Var, y: Var, w: Var, bias: Var) -> Var {
    let e = eqn(b, dot(1, 0), &[v(x), v(w)]);
    let f = eqn(b, bcast(&[2000, 1], &[1]), &[v(bias)]);
    let g = eqn(b, P::Add, &[v(e), v(f)]);
    eqn(b, P::Sub, &[v(g), v(y)])
}

/// `jit(grad(loss))` for `loss = mean(square(x @ w + b - y))`, as in the
/// design notes §7 (the `(1,1)` broadcast there is written at the full
/// `(2000,1)` shape, as the elementwise shape rules require).
fn linear_grad() -> ClosedJaxpr {
    let ws = [av(F32, &[2, 1]), av(F32, &[1])];
    build_with_consts(&data(), &ws, |b, cs, xs| {
        let (x, y, w, bias) = (cs[0], cs[1], xs[0], xs[1]);
        let h = residual(b, x, y, w, bias);
        let n = eqn(b, P::Mul, &[lit(0.001), v(h)]);
        let o = eqn(b, P::ReduceSum { axes: vec![0] }, &[v(n)]);
        let s = eqn(b, dot(0, 0), &[v(n), v(x)]);
        let t = eqn(
            b,
            P::Transpose {
                permutation: vec![1, 0],
            },
            &[v(s)],
        );
        vec![v(t), v(o)]
    })
}

/// Inputs `w`, `b` of the worked example.
fn params() -> Vec<HostBuffer> {
    vec![
        HostBuffer::from_vec(vec![0.5f32, -1.25], &[2, 1]).expect("w"),
        HostBuffer::from_vec(vec![0.25f32], &[1]).expect("b"),
    ]
}

/// The kinds of the steps, in order: `gemm` or the kernel's name.
fn step_names(p: &Program) -> Vec<String> {
    p.steps
        .iter()
        .map(|s| match s {
            Step::Kernel { kernel, .. } => kernel.name.clone(),
            Step::Gemm(_) => "gemm".to_string(),
            Step::Control(c) => c.name().to_string(),
        })
        .collect()
}

#[test]
fn linear_classifier_gradient_is_gemm_kernel_gemm() {
    let p = check_with("linear grad", &linear_grad(), &params());
    println!("{}", dump(&p));
    assert_eq!(counts(&p), (1, 2), "{}", dump(&p));
    let Step::Gemm(first) = &p.steps[0] else {
        panic!("step 0 is not a GEMM:\n{}", dump(&p))
    };
    let Step::Gemm(last) = &p.steps[2] else {
        panic!("step 2 is not a GEMM:\n{}", dump(&p))
    };
    // The fused kernel: one loop over the 2000 rows, storing `n` and
    // accumulating `o` in a scalar.
    let Step::Kernel { kernel, .. } = &p.steps[1] else {
        panic!("step 1 is not a kernel")
    };
    let text = kernel.to_string();
    assert_eq!(text.matches(" in 0..").count(), 1, "{text}");
    assert!(text.contains("for i0 in 0..2000"), "{text}");
    assert_eq!(text.matches("acc0: F32").count(), 1, "{text}");
    // The first GEMM reads `x` (a constant) directly; the last one reads
    // `n` and `x` with `n` transposed by its strides, and writes the
    // program's first output (`t`) directly.
    assert_eq!((first.m, first.n, first.k), (2000, 1, 2));
    assert_eq!((last.m, last.n, last.k), (1, 2, 2000));
    assert_eq!(last.rhs.0, first.lhs.0, "both GEMMs read x's buffer");
    assert_eq!(last.out, p.outputs[0], "the last GEMM writes t");
    golden("linear_classifier_grad", &dump(&p));
}

/// `value_and_grad` plus the SGD update: the loss reduction and the bias
/// update join the fused kernel; the weight update `w - 0.1 t` needs a
/// kernel after the second GEMM (a GEMM step has no epilogue).
#[test]
fn linear_classifier_sgd_step() {
    let ws = [av(F32, &[2, 1]), av(F32, &[1])];
    let j = build_with_consts(&data(), &ws, |b, cs, xs| {
        let (x, y, w, bias) = (cs[0], cs[1], xs[0], xs[1]);
        let h = residual(b, x, y, w, bias);
        let sq = eqn(b, P::Mul, &[v(h), v(h)]);
        let l = eqn(b, P::ReduceSum { axes: vec![0, 1] }, &[v(sq)]);
        let loss = eqn(b, P::Div, &[v(l), lit(2000.0)]);
        let n = eqn(b, P::Mul, &[lit(0.001), v(h)]);
        let o = eqn(b, P::ReduceSum { axes: vec![0] }, &[v(n)]);
        let s = eqn(b, dot(0, 0), &[v(n), v(x)]);
        let t = eqn(
            b,
            P::Transpose {
                permutation: vec![1, 0],
            },
            &[v(s)],
        );
        let dw = eqn(b, P::Mul, &[lit(0.1), v(t)]);
        let w2 = eqn(b, P::Sub, &[v(w), v(dw)]);
        let db = eqn(b, P::Mul, &[lit(0.1), v(o)]);
        let b2 = eqn(b, P::Sub, &[v(bias), v(db)]);
        vec![v(loss), v(w2), v(b2)]
    });
    let p = check_with("sgd step", &j, &params());
    println!("{}", dump(&p));
    assert_eq!(counts(&p), (2, 2), "{}", dump(&p));
    assert_eq!(step_names(&p)[0], "gemm");
    assert_eq!(step_names(&p)[2], "gemm");
    let Step::Kernel { kernel, .. } = &p.steps[1] else {
        panic!("step 1 is not a kernel")
    };
    let text = kernel.to_string();
    assert_eq!(
        text.matches(" in 0..").count(),
        1,
        "one pass over the rows:\n{text}"
    );
    golden("linear_classifier_sgd_step", &dump(&p));
}

/// Inputs of `avals` with values that keep every operation finite.
fn inputs(avals: &[AVal], seed: u64) -> Vec<HostBuffer> {
    let mut rng = Rng::new(seed);
    avals.iter().map(|a| random(a, &mut rng, false)).collect()
}

/// Checks a program on random inputs and returns (kernels, GEMMs).
fn run(name: &str, j: &ClosedJaxpr) -> (usize, usize) {
    let args = inputs(&j.jaxpr.in_avals(), name.len() as u64);
    let p = check_with(name, j, &args);
    let c = counts(&p);
    // Special values too.
    check(name, j);
    c
}

#[test]
fn softmax_is_two_passes() {
    let j = build(&[av(F32, &[4, 6])], |b, xs| {
        let m = eqn(b, P::ReduceMax { axes: vec![1] }, &[v(xs[0])]);
        let mb = eqn(b, bcast(&[4, 6], &[0]), &[v(m)]);
        let d = eqn(b, P::Sub, &[v(xs[0]), v(mb)]);
        let e = eqn(b, P::Exp, &[v(d)]);
        let s = eqn(b, P::ReduceSum { axes: vec![1] }, &[v(e)]);
        let sb = eqn(b, bcast(&[4, 6], &[0]), &[v(s)]);
        vec![v(eqn(b, P::Div, &[v(e), v(sb)]))]
    });
    assert_eq!(run("softmax", &j), (2, 0));
}

#[test]
fn column_centering_materialises_the_mean() {
    let j = build(&[av(F32, &[5, 6])], |b, xs| {
        let s = eqn(b, P::ReduceSum { axes: vec![0] }, &[v(xs[0])]);
        let m = eqn(b, P::Div, &[v(s), lit(5.0)]);
        let mb = eqn(b, bcast(&[5, 6], &[1]), &[v(m)]);
        vec![v(eqn(b, P::Sub, &[v(xs[0]), v(mb)]))]
    });
    assert_eq!(run("column centering", &j), (2, 0));
}

#[test]
fn layout_chain_is_one_kernel() {
    // transpose, slice, pad, concatenate, rev, reshape and broadcast feeding
    // elementwise work and a row reduction: all index arithmetic.
    let j = build(&[av(F32, &[4, 6]), av(F32, &[3])], |b, xs| {
        let t = eqn(
            b,
            P::Transpose {
                permutation: vec![1, 0],
            },
            &[v(xs[0])],
        );
        let sl = P::Slice {
            start: vec![1, 0],
            limit: vec![6, 4],
            strides: vec![2, 1],
        };
        let s = eqn(b, sl, &[v(t)]);
        let pd = P::Pad {
            low: vec![0, 1],
            high: vec![0, -1],
            interior: vec![0, 0],
        };
        let p = eqn(b, pd, &[v(s), lit(0.5)]);
        let r = eqn(b, P::Rev { axes: vec![1] }, &[v(p)]);
        let c = eqn(b, P::Concatenate { axis: 1 }, &[v(r), v(s)]);
        let bc = eqn(b, bcast(&[3, 8], &[0]), &[v(xs[1])]);
        let m = eqn(b, P::Mul, &[v(c), v(bc)]);
        let e = eqn(b, P::Tanh, &[v(m)]);
        let sum = eqn(b, P::ReduceSum { axes: vec![1] }, &[v(e)]);
        let rs = eqn(
            b,
            P::Reshape {
                new_sizes: [3, 1][..].into(),
            },
            &[v(sum)],
        );
        vec![v(eqn(b, P::Max, &[v(rs), lit(0.0)]))]
    });
    assert_eq!(run("layout chain", &j), (1, 0));
}

#[test]
fn shared_expensive_value_is_materialised_once() {
    let j = build(&[av(F32, &[8, 3])], |b, xs| {
        let e = eqn(b, P::Exp, &[v(xs[0])]);
        let t = eqn(
            b,
            P::Transpose {
                permutation: vec![1, 0],
            },
            &[v(e)],
        );
        let s = eqn(b, P::ReduceSum { axes: vec![1] }, &[v(t)]);
        let c = eqn(b, P::Cos, &[v(e)]);
        vec![v(s), v(c)]
    });
    // `e` (transcendental, two consumers) gets a buffer; the cosine is
    // computed in the same pass (reading `e` where it is computed), the row
    // sums of its transpose (another domain) in a second kernel.
    assert_eq!(run("shared exp", &j), (2, 0));
}

#[test]
fn cheap_shared_value_is_recomputed() {
    let j = build(&[av(F32, &[8, 3])], |b, xs| {
        let a = eqn(b, P::Mul, &[v(xs[0]), lit(3.0)]);
        let t = eqn(
            b,
            P::Transpose {
                permutation: vec![1, 0],
            },
            &[v(a)],
        );
        let n = eqn(b, P::Neg, &[v(a)]);
        vec![v(t), v(n)]
    });
    assert_eq!(run("cheap shared", &j), (2, 0));
}

#[test]
fn reductions_of_one_domain_share_a_pass() {
    // mean and mean of squares over rows, and a column max, in one pass
    // over x; the variance is their epilogue.
    let j = build(&[av(F32, &[6, 5])], |b, xs| {
        let s = eqn(b, P::ReduceSum { axes: vec![1] }, &[v(xs[0])]);
        let sq = eqn(b, P::Mul, &[v(xs[0]), v(xs[0])]);
        let s2 = eqn(b, P::ReduceSum { axes: vec![1] }, &[v(sq)]);
        let mx = eqn(b, P::ReduceMax { axes: vec![0] }, &[v(xs[0])]);
        let m = eqn(b, P::Div, &[v(s), lit(5.0)]);
        let m2 = eqn(b, P::Div, &[v(s2), lit(5.0)]);
        let mm = eqn(b, P::Mul, &[v(m), v(m)]);
        let var = eqn(b, P::Sub, &[v(m2), v(mm)]);
        vec![v(var), v(mx), v(s)]
    });
    assert_eq!(run("moments", &j), (1, 0));
}

#[test]
fn mlp_layer_with_gather_and_scatter() {
    let j = build(
        &[
            av(F32, &[10, 4]),
            av(rjax_ir::DType::I32, &[6]),
            av(F32, &[4, 3]),
        ],
        |b, xs| {
            let g = eqn(b, P::Gather { axis: 0 }, &[v(xs[0]), v(xs[1])]);
            let h = eqn(b, dot(1, 0), &[v(g), v(xs[2])]);
            let r = eqn(b, P::Max, &[v(h), lit(0.0)]);
            let z = eqn(b, bcast(&[10, 3], &[]), &[lit(0.0)]);
            let sc = P::Scatter {
                axis: 0,
                kind: rjax_ir::ScatterKind::Add,
            };
            let acc = eqn(b, sc, &[v(z), v(xs[1]), v(r)]);
            let cs = eqn(
                b,
                P::Cumsum {
                    axis: 0,
                    reverse: true,
                },
                &[v(acc)],
            );
            vec![v(cs)]
        },
    );
    let args = vec![
        inputs(&[av(F32, &[10, 4])], 1).remove(0),
        HostBuffer::from_vec(vec![3i32, -1, 9, 3, 12, 0], &[6]).expect("idx"),
        inputs(&[av(F32, &[4, 3])], 2).remove(0),
    ];
    let p = check_with("mlp gather scatter", &j, &args);
    assert_eq!(counts(&p), (3, 1), "{}", dump(&p));
}

#[test]
fn collapsed_loops_stay_affine() {
    // Elementwise work on a [2,3,4] array reshaped to [6,4] and summed:
    // one loop over all 24 elements, unit stride.
    let j = build(&[av(F32, &[2, 3, 4]), av(F32, &[2, 3, 4])], |b, xs| {
        let a = eqn(b, P::Add, &[v(xs[0]), v(xs[1])]);
        let r = eqn(
            b,
            P::Reshape {
                new_sizes: [6, 4][..].into(),
            },
            &[v(a)],
        );
        let e = eqn(b, P::Exp, &[v(r)]);
        vec![v(eqn(b, P::ReduceSum { axes: vec![0, 1] }, &[v(e)])), v(r)]
    });
    let args = inputs(&j.jaxpr.in_avals(), 5);
    let p = check_with("collapsed", &j, &args);
    assert_eq!(counts(&p), (1, 0), "{}", dump(&p));
    let Step::Kernel { kernel, .. } = &p.steps[0] else {
        panic!("not a kernel")
    };
    let text = kernel.to_string();
    assert_eq!(text.matches(" in 0..").count(), 1, "{text}");
    assert!(text.contains("in 0..24"), "{text}");
    assert!(!text.contains("Div") && !text.contains("Rem"), "{text}");
}

#[test]
fn literal_and_input_outputs_are_copies() {
    let j = build(&[av(F32, &[3])], |b: &mut JaxprBuilder, xs: &[Var]| {
        let _ = b;
        vec![v(xs[0]), Atom::Lit(Scalar::I32(4)), v(xs[0])]
    });
    let p = run("copies", &j);
    assert_eq!(p, (2, 0));
}

/// The kernel of a one-kernel program, printed.
fn only_kernel(p: &Program) -> String {
    assert_eq!(counts(p), (1, 0), "{}", dump(p));
    let Step::Kernel { kernel, .. } = &p.steps[0] else {
        panic!("not a kernel")
    };
    kernel.to_string()
}

#[test]
fn invariants_are_hoisted_out_of_inner_loops() {
    // out[n, c] = x[n, c] * s[n] + 2: the load of s[n] belongs before the
    // loop over c, the constant before both loops.
    let j = build(&[av(F32, &[4, 5]), av(F32, &[4])], |b, xs| {
        let sb = eqn(b, bcast(&[4, 5], &[0]), &[v(xs[1])]);
        let m = eqn(b, P::Mul, &[v(xs[0]), v(sb)]);
        vec![v(eqn(b, P::Add, &[v(m), lit(2.0)]))]
    });
    let args = inputs(&j.jaxpr.in_avals(), 11);
    let text = only_kernel(&check_with("hoisting", &j, &args));
    let lines: Vec<&str> = text.lines().collect();
    let at = |pat: &str| {
        lines
            .iter()
            .position(|l| l.contains(pat))
            .unwrap_or_else(|| panic!("{pat}:\n{text}"))
    };
    let (outer, inner) = (at("parallel for i0 in 0..4"), at("for i1 in 0..5"));
    let s_load = at("Load { buf: BufId(1)");
    let two = at("Const(Scalar(F32(2.0)))");
    assert!(outer < s_load && s_load < inner, "{text}");
    assert!(two < outer, "{text}");
    // The inner loop's store is unit-stride.
    assert!(text.contains("b2[0 + 5*i0 + 1*i1]"), "{text}");
}

#[test]
fn outer_loop_is_parallel_unless_a_reduction_crosses_it() {
    let rows = build(&[av(F32, &[4, 5])], |b, xs| {
        vec![v(eqn(b, P::ReduceSum { axes: vec![1] }, &[v(xs[0])]))]
    });
    let cols = build(&[av(F32, &[4, 5])], |b, xs| {
        vec![v(eqn(b, P::ReduceSum { axes: vec![0] }, &[v(xs[0])]))]
    });
    let args = inputs(&rows.jaxpr.in_avals(), 12);
    let r = only_kernel(&check_with("row sums", &rows, &args));
    let c = only_kernel(&check_with("column sums", &cols, &args));
    assert!(r.contains("parallel for i0 in 0..4"), "{r}");
    // Column sums accumulate in the output, row after row (unit stride on
    // the inner loop): the loop over rows is sequential.
    assert!(c.contains("\n  for i1 in 0..4"), "{c}");
    assert!(c.contains("b0[0 + 1*i2] = v3"), "{c}");
}

#[test]
fn transposed_operands_fold_into_gemm_strides() {
    // xᵀ @ y: x read through its strides, no copy.
    let j = build(&[av(F32, &[6, 3]), av(F32, &[6, 4])], |b, xs| {
        let xt = eqn(
            b,
            P::Transpose {
                permutation: vec![1, 0],
            },
            &[v(xs[0])],
        );
        vec![v(eqn(b, dot(1, 0), &[v(xt), v(xs[1])]))]
    });
    let args = inputs(&j.jaxpr.in_avals(), 13);
    let p = check_with("xT y", &j, &args);
    assert_eq!(counts(&p), (0, 1), "{}", dump(&p));
    let Step::Gemm(g) = &p.steps[0] else {
        panic!("not a GEMM")
    };
    assert_eq!((g.m, g.n, g.k), (3, 4, 6));
    assert_eq!(
        (g.lhs.1[1], g.lhs.1[2]),
        (1, 3),
        "rows of xᵀ are columns of x"
    );
    assert_eq!(g.out, p.outputs[0]);
}

#[test]
fn non_contiguous_contraction_gets_a_transposed_copy() {
    // Contracting dims 0 and 2 of a [2,3,4] lhs cannot be one stride, nor
    // can the rhs's paired dims (1, 0) in that order: both operands get a
    // dense copy in GEMM order, then one GEMM.
    let j = build(&[av(F32, &[2, 3, 4]), av(F32, &[4, 2])], |b, xs| {
        let d = P::DotGeneral {
            lhs_contract: vec![0, 2],
            rhs_contract: vec![1, 0],
            lhs_batch: vec![],
            rhs_batch: vec![],
        };
        vec![v(eqn(b, d, &[v(xs[0]), v(xs[1])]))]
    });
    let args = inputs(&j.jaxpr.in_avals(), 14);
    let p = check_with("copy for gemm", &j, &args);
    assert_eq!(counts(&p), (2, 1), "{}", dump(&p));
    let Step::Gemm(g) = &p.steps[2] else {
        panic!("not a GEMM:\n{}", dump(&p))
    };
    assert_eq!((g.m, g.n, g.k), (3, 1, 8));
    assert_eq!((g.lhs.1[1], g.lhs.1[2]), (8, 1), "dense [m, k] copy");
}

#[test]
fn gemm_result_transposed_swaps_operands() {
    // (x @ y)ᵀ computed as yᵀ @ xᵀ, written directly.
    let j = build(&[av(F32, &[3, 4]), av(F32, &[4, 5])], |b, xs| {
        let z = eqn(b, dot(1, 0), &[v(xs[0]), v(xs[1])]);
        vec![v(eqn(
            b,
            P::Transpose {
                permutation: vec![1, 0],
            },
            &[v(z)],
        ))]
    });
    let args = inputs(&j.jaxpr.in_avals(), 15);
    let p = check_with("(xy)T", &j, &args);
    assert_eq!(counts(&p), (0, 1), "{}", dump(&p));
    let Step::Gemm(g) = &p.steps[0] else {
        panic!("not a GEMM")
    };
    assert_eq!((g.m, g.n, g.k), (5, 3, 4));
}
