//! The whole pipeline.

use super::*;
use crate::passes::{compact, optimize};
use std::sync::Arc;

/// `dot_general` contracting `lhs_contract` with `rhs_contract`, no batch.
fn dot(lhs_contract: usize, rhs_contract: usize) -> Primitive {
    Primitive::DotGeneral {
        lhs_contract: vec![lhs_contract],
        rhs_contract: vec![rhs_contract],
        lhs_batch: vec![],
        rhs_batch: vec![],
    }
}

/// Deterministic data in about [-1, 1].
fn wave(shape: &[usize], seed: f32) -> HostBuffer {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|k| (seed + 0.7 * k as f32).sin()).collect();
    buf(&values, shape)
}

/// The gradient of the linear classifier's loss
/// `mean(square(x @ w + b - y))` as tracing, linearize, transpose and DCE
/// leave it (DESIGN §7; this is the text of `make_jaxpr(grad(loss))`).
fn linear_classifier_grad() -> ClosedJaxpr {
    let mut b = B::new();
    let x = b.var(DType::F32, &[2000, 2]);
    let y = b.var(DType::F32, &[2000, 1]);
    let w = b.var(DType::F32, &[2, 1]);
    let bias = b.var(DType::F32, &[1]);
    let e = b.op(dot(1, 0), &[v(x), v(w)]);
    let f1 = b.op(bcast(&[2000, 1], &[1]), &[v(bias)]);
    let g = b.op(Primitive::Add, &[e, f1]);
    let h = b.op(Primitive::Sub, &[g, v(y)]);
    let i2 = b.op(Primitive::Mul, &[h, f(2.0)]);
    let j = b.op(Primitive::Div, &[f(1.0), f(2000.0)]);
    let k = b.op(bcast(&[2000, 1], &[]), &[j]);
    let l = b.op(Primitive::Mul, &[k, i2]);
    let m = b.op(Primitive::ReduceSum { axes: vec![0] }, &[l]);
    let n = b.op(dot(0, 0), &[v(x), l]);
    let consts = [(x, wave(&[2000, 2], 0.0)), (y, wave(&[2000, 1], 1.0))];
    b.done(&consts, &[w, bias], &[n, m])
}

#[test]
fn folds_the_mean_scale_of_the_linear_classifier_gradient() {
    let before = linear_classifier_grad();
    assert_eq!(
        before.to_string(),
        text(
            r"
            { lambda a:f32[2000,2] b:f32[2000,1] ; c:f32[2,1] d:f32[1]. let
                e:f32[2000,1] = dot_general[lhs_contract=(1,) rhs_contract=(0,) lhs_batch=() rhs_batch=()] a c
                f:f32[2000,1] = broadcast_in_dim[shape=(2000, 1) broadcast_dimensions=(1,)] d
                g:f32[2000,1] = add e f
                h:f32[2000,1] = sub g b
                i:f32[2000,1] = mul h 2.0:f32[]
                j:f32[] = div 1.0:f32[] 2000.0:f32[]
                k:f32[2000,1] = broadcast_in_dim[shape=(2000, 1) broadcast_dimensions=()] j
                l:f32[2000,1] = mul k i
                m:f32[1] = reduce_sum[axes=(0,)] l
                n:f32[2,1] = dot_general[lhs_contract=(0,) rhs_contract=(0,) lhs_batch=() rhs_batch=()] a l
              in (n, m) }"
        )
    );
    // `div` + `broadcast_in_dim` + `mul` become one `mul` by a literal.
    // Merging it with `mul h 2.0` is not exact (`h * 2` may overflow), so
    // that stays.
    let after = check(
        &before,
        optimize,
        r"
        { lambda a:f32[2000,2] b:f32[2000,1] ; c:f32[2,1] d:f32[1]. let
            e:f32[2000,1] = dot_general[lhs_contract=(1,) rhs_contract=(0,) lhs_batch=() rhs_batch=()] a c
            f:f32[2000,1] = broadcast_in_dim[shape=(2000, 1) broadcast_dimensions=(1,)] d
            g:f32[2000,1] = add e f
            h:f32[2000,1] = sub g b
            i:f32[2000,1] = mul h 2.0:f32[]
            j:f32[2000,1] = mul 0.0005:f32[] i
            k:f32[1] = reduce_sum[axes=(0,)] j
            l:f32[2,1] = dot_general[lhs_contract=(0,) rhs_contract=(0,) lhs_batch=() rhs_batch=()] a j
          in (l, k) }",
    );
    assert_eq!(after.consts, before.consts);
    assert_eq!(
        after.jaxpr.avals.len(),
        12,
        "compacted: 4 binders and 8 results"
    );
    assert_eq!(optimize(&after), after, "a fixed point");
}

#[test]
fn optimizes_inside_higher_order_primitives_and_keeps_them_shared() {
    let identity = unary_fn(DType::F32, &[], |b, a| {
        let n1 = b.op(Primitive::Neg, &[a]);
        let n2 = b.op(Primitive::Neg, &[n1]);
        b.op(Primitive::Mul, &[n2, f(1.0)])
    });
    let sin = unary_fn(DType::F32, &[], |b, a| b.op(Primitive::Sin, &[a]));
    let cond = Primitive::Cond {
        branches: vec![identity, sin],
    };
    let mut b = B::new();
    let index = b.var(DType::I32, &[]);
    let x = b.var(DType::F32, &[]);
    let c1 = b.op(cond.clone(), &[v(index), v(x)]);
    let c2 = b.op(cond, &[v(index), v(x)]);
    let sum = b.op(Primitive::Add, &[c1, c2]);
    let before = b.done(&[], &[index, x], &[sum]);
    let after = check(
        &before,
        optimize,
        r"
        { lambda ; a:i32[] b:f32[]. let
            c:f32[] = cond[
              branches=(
                { lambda ; a:f32[]. let
                  in (a,) }
                { lambda ; a:f32[]. let
                    b:f32[] = sin a
                  in (b,) }
              )
            ] a b
            d:f32[] = add c c
          in (d,) }",
    );
    assert_eq!(
        optimize(&after).to_string(),
        after.to_string(),
        "a fixed point"
    );
}

#[test]
fn inlines_calls_inside_loop_bodies() {
    let g = unary_fn(DType::F32, &[], |b, a| {
        let same = b.op(Primitive::Mul, &[a, f(1.0)]);
        b.op(Primitive::Exp, &[same])
    });
    let body = {
        let mut b = B::new();
        let carry = b.var(DType::F32, &[]);
        let x = b.var(DType::F32, &[]);
        let s = b.op(Primitive::Add, &[v(carry), v(x)]);
        let e = b.op(
            Primitive::Call {
                jaxpr: g,
                name: "g".into(),
            },
            &[s],
        );
        Arc::new(b.done(&[], &[carry, x], &[e, s]))
    };
    let scan = Primitive::Scan {
        body,
        length: 4,
        reverse: false,
        num_consts: 0,
        num_carry: 1,
    };
    let mut b = B::new();
    let init = b.var(DType::F32, &[]);
    let xs = b.var(DType::F32, &[4]);
    let outs = b.ops(scan, &[v(init), v(xs)]);
    let before = b.done(&[], &[init, xs], &outs);
    check(
        &before,
        optimize,
        r"
        { lambda ; a:f32[] b:f32[4]. let
            c:f32[] d:f32[4] = scan[
              body={ lambda ; a:f32[] b:f32[]. let
                  c:f32[] = add a b
                  d:f32[] = exp c
                in (d, c) }
              length=4
              reverse=False
              num_consts=0
              num_carry=1
            ] a b
          in (c, d) }",
    );
}

#[test]
fn runs_every_pass_until_nothing_changes() {
    // A call whose body needs folding, then simplification, then CSE, then
    // DCE, each enabled by the one before.
    let callee = {
        let mut b = B::new();
        let a = b.var(DType::F32, &[2, 2]);
        let one = b.op(Primitive::Div, &[f(2.0), f(2.0)]);
        let ones = b.op(bcast(&[2, 2], &[]), &[one]);
        let same = b.op(Primitive::Mul, &[v(a), ones]);
        let t1 = b.op(tr(&[1, 0]), &[same]);
        let t2 = b.op(tr(&[1, 0]), &[t1]);
        let e1 = b.op(Primitive::Exp, &[t2]);
        let e2 = b.op(Primitive::Exp, &[v(a)]);
        let s = b.op(Primitive::Sub, &[e1, e2]);
        Arc::new(b.done(&[], &[a], &[s]))
    };
    let mut b = B::new();
    let x = b.var(DType::F32, &[2, 2]);
    let r = b.op(
        Primitive::Call {
            jaxpr: callee,
            name: "f".into(),
        },
        &[v(x)],
    );
    let before = b.done(&[], &[x], &[r]);
    check(
        &before,
        optimize,
        r"
        { lambda ; a:f32[2,2]. let
            b:f32[2,2] = exp a
            c:f32[2,2] = sub b b
          in (c,) }",
    );
}

#[test]
fn compact_renumbers_in_order_of_definition() {
    let before = linear_classifier_grad();
    let mut scrambled = before.jaxpr.clone();
    // Move every variable to a new index, in reverse, with gaps.
    let n = scrambled.avals.len();
    let remap = |v: Var| Var(u32::try_from(2 * (n - 1 - v.index()) + 1).unwrap());
    let mut avals = vec![AVal::scalar(DType::Bool); 2 * n + 1];
    for (k, a) in scrambled.avals.iter().enumerate() {
        avals[remap(Var(k as u32)).index()] = a.clone();
    }
    let atom = |a: &Atom| match a {
        Atom::Var(x) => Atom::Var(remap(*x)),
        Atom::Lit(_) => *a,
    };
    scrambled.avals = avals;
    scrambled.constvars = scrambled.constvars.iter().map(|x| remap(*x)).collect();
    scrambled.invars = scrambled.invars.iter().map(|x| remap(*x)).collect();
    for e in &mut scrambled.eqns {
        e.inputs = e.inputs.iter().map(atom).collect();
        e.outputs = e.outputs.iter().map(|x| remap(*x)).collect();
    }
    scrambled.outvars = scrambled.outvars.iter().map(atom).collect();
    crate::verify::verify(&scrambled).unwrap();
    let compacted = compact(&scrambled);
    assert_eq!(compacted, before.jaxpr);
}

/// A random straight-line program over `f32[2,3]` values mixing the
/// patterns every pass looks for.
fn random_program(seed: u64) -> ClosedJaxpr {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut r = move |n: u32| rng.next_u32() % n;
    let mut b = B::new();
    let x0 = b.var(DType::F32, &[2, 3]);
    let x1 = b.var(DType::F32, &[2, 3]);
    let s = b.var(DType::F32, &[]);
    let mut pool = vec![v(x0), v(x1)];
    let mut last: Option<(Primitive, Vec<Atom>)> = None;
    let lits = [1.0f32, -0.0, 0.0, 2.0, 0.5];
    for _ in 0..14 {
        let p = pool[r(pool.len() as u32) as usize];
        let q = pool[r(pool.len() as u32) as usize];
        let lit = f(lits[r(lits.len() as u32) as usize]);
        let (prim, inputs) = match r(12) {
            0 => (
                [Primitive::Neg, Primitive::Exp, Primitive::Sin][r(3) as usize].clone(),
                vec![p],
            ),
            1 => (
                Primitive::Mul,
                if r(2) == 0 {
                    vec![p, lit]
                } else {
                    vec![lit, p]
                },
            ),
            2 => (
                [Primitive::Add, Primitive::Sub][r(2) as usize].clone(),
                vec![p, lit],
            ),
            3 => (
                [Primitive::Add, Primitive::Mul, Primitive::Max][r(3) as usize].clone(),
                vec![p, q],
            ),
            4 => {
                let t = b.op(tr(&[1, 0]), &[p]);
                (tr(&[1, 0]), vec![t])
            }
            5 => {
                let flat = b.op(rs(&[6]), &[p]);
                (rs(&[2, 3]), vec![flat])
            }
            6 => {
                let c = b.op(bcast(&[2, 3], &[]), &[lit]);
                (
                    [Primitive::Mul, Primitive::Add][r(2) as usize].clone(),
                    vec![c, p],
                )
            }
            7 => {
                let row = b.op(bcast(&[3], &[]), &[v(s)]);
                let full = b.op(bcast(&[2, 3], &[1]), &[row]);
                (Primitive::Add, vec![p, full])
            }
            8 => match &last {
                Some((prim, inputs)) => (prim.clone(), inputs.clone()),
                None => (Primitive::Neg, vec![p]),
            },
            9 => {
                let c = b.op(Primitive::Div, &[f(1.0), f(4.0)]);
                (Primitive::Mul, vec![p, c])
            }
            10 => {
                let none = b.op(Primitive::ReduceSum { axes: vec![] }, &[p]);
                let convert = Primitive::ConvertElementType {
                    new_dtype: DType::F32,
                };
                (convert, vec![none])
            }
            _ => {
                let pred = b.op(Primitive::Gt, &[p, f(0.0)]);
                (Primitive::Select, vec![pred, p, q])
            }
        };
        pool.push(b.op(prim.clone(), &inputs));
        last = Some((prim, inputs));
    }
    let k = pool.len();
    let outs = [pool[k - 1], pool[k - 2], pool[r(k as u32) as usize]];
    b.done(&[], &[x0, x1, s], &outs)
}

#[test]
fn random_programs_keep_their_results_bit_for_bit() {
    let mut shrunk = 0;
    for seed in 0..60 {
        let before = random_program(seed);
        let after = optimize(&before);
        same_results(&before, &after);
        assert!(after.jaxpr.eqns.len() <= before.jaxpr.eqns.len());
        shrunk += usize::from(after.jaxpr.eqns.len() < before.jaxpr.eqns.len());
        let again = optimize(&after);
        assert_eq!(
            again.to_string(),
            after.to_string(),
            "seed {seed}: not a fixed point"
        );
    }
    assert!(shrunk >= 50, "only {shrunk} of 60 programs got smaller");
}
