//! The control-flow API (`lax::cond`, `switch`, `while_loop`, `fori_loop`,
//! `fori_loop_dynamic`, `scan`): each function against the same
//! computation written with a plain Rust `if` or loop over `f64`s, eagerly
//! and under `jit`; closures capturing arrays; trees as operands, carries
//! and outputs; and the typed errors for mismatched branches and carries.
//! Transformations (jvp, vmap, nesting) are in
//! `tests/control_flow_transforms.rs`.
//!
//! Run with `cargo test --release --test control_flow`.

use rjax::lax::{self, ScanOptions};
use rjax::{jit, jnp, make_jaxpr, Array, DType, Error};
use rjax_ir::Primitive;

fn f64s(values: &[f64], shape: &[usize]) -> Array {
    Array::from_vec(values.to_vec(), shape).expect("array")
}

fn vals(a: &Array) -> Vec<f64> {
    a.to_f64_vec().expect("values")
}

fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = 1e-12 * w.abs().max(1.0);
        assert!((g - w).abs() <= tol, "{what}[{i}]: got {g}, want {w}");
    }
}

fn int(i: i32) -> Array {
    Array::scalar(i)
}

/// The names of the equations of a function's jaxpr.
fn prims_of(f: impl Fn(&Array) -> Array, x: &Array) -> Vec<&'static str> {
    let j = make_jaxpr(f)(x).expect("jaxpr");
    j.jaxpr.eqns.iter().map(|e| e.prim.name()).collect()
}

// ---- cond and switch ---------------------------------------------------------

/// `x * w + 1` if `sum(x) > 0` else `-x` (with `w` captured), as `cond`.
fn cond_fn(x: &Array, w: &Array) -> Array {
    let pred = jnp::greater(&x.sum(), &Array::scalar(0.0f64));
    lax::cond(&pred, |x: &Array| x * w + 1.0, |x: &Array| -x, x)
}

fn cond_ref(x: &[f64], w: &[f64]) -> Vec<f64> {
    if x.iter().sum::<f64>() > 0.0 {
        x.iter().zip(w).map(|(x, w)| x * w + 1.0).collect()
    } else {
        x.iter().map(|x| -x).collect()
    }
}

#[test]
fn cond_matches_rust_if_eagerly_and_under_jit() {
    let w = [2.0, -3.0, 0.5];
    let warr = f64s(&w, &[3]);
    let jitted = {
        let warr = warr.clone();
        jit(move |x: &Array| cond_fn(x, &warr))
    };
    for x in [[1.0, 2.0, -0.5], [-1.0, 0.25, -3.0]] {
        let want = cond_ref(&x, &w);
        let xa = f64s(&x, &[3]);
        assert_close("cond eager", &vals(&cond_fn(&xa, &warr)), &want);
        assert_close("cond jit", &vals(&jitted(&xa)), &want);
    }
    // One `cond` equation, whose branches took the captured `w` as an operand.
    let x = f64s(&[1.0, 1.0, 1.0], &[3]);
    let j = make_jaxpr(|x: &Array| cond_fn(x, &warr))(&x).expect("jaxpr");
    let conds: Vec<_> = j
        .jaxpr
        .eqns
        .iter()
        .filter(|e| e.prim.name() == "cond")
        .collect();
    assert_eq!(conds.len(), 1);
    let Primitive::Cond { branches } = &conds[0].prim else {
        panic!("not a cond");
    };
    assert_eq!(branches.len(), 2);
    for b in branches {
        assert!(b.consts.is_empty(), "captured values must be operands");
        assert_eq!(b.jaxpr.invars.len(), 2, "w and x");
    }
}

#[test]
fn cond_takes_integer_predicates_and_trees() {
    let ops = (f64s(&[1.0, 2.0], &[2]), Array::scalar(10.0f64));
    let f = |p: &Array| {
        lax::cond(
            p,
            |(a, b): &(Array, Array)| (a + b, vec![b * 2.0]),
            |(a, b): &(Array, Array)| (a - b, vec![b * 3.0]),
            &ops,
        )
    };
    for (p, t) in [
        (int(0), false),
        (int(-4), true),
        (Array::scalar(7u32), true),
        (Array::scalar(true), true),
    ] {
        let (a, b) = f(&p);
        let (wa, wb) = if t {
            ([11.0, 12.0], 20.0)
        } else {
            ([-9.0, -8.0], 30.0)
        };
        assert_close("cond tree a", &vals(&a), &wa);
        assert_close("cond tree b", &vals(&b[0]), &[wb]);
    }
}

#[test]
fn switch_clamps_the_index_like_jax() {
    let x = Array::scalar(3.0f64);
    let b0 = |x: &Array| x + 1.0;
    let b1 = |x: &Array| x * x;
    let b2 = |x: &Array| x.sin();
    let branches: [&dyn Fn(&Array) -> Array; 3] = [&b0, &b1, &b2];
    let reference = |i: i32, x: f64| match i.clamp(0, 2) {
        0 => x + 1.0,
        1 => x * x,
        _ => x.sin(),
    };
    let jitted = jit(|(i, x): &(Array, Array)| lax::switch(i, &branches, x));
    for i in [-5, 0, 1, 2, 3, 100] {
        let want = [reference(i, 3.0)];
        assert_close(
            "switch eager",
            &vals(&lax::switch(&int(i), &branches, &x)),
            &want,
        );
        assert_close("switch jit", &vals(&jitted(&(int(i), x.clone()))), &want);
    }
    let big = lax::switch(&Array::scalar(u32::MAX), &branches, &x);
    assert_close("switch u32", &vals(&big), &[3.0f64.sin()]);
}

#[test]
fn mismatched_branches_are_typed_errors() {
    let x = f64s(&[1.0, 2.0], &[2]);
    let shape = lax::try_cond(
        &Array::scalar(true),
        |x: &Array| x.sum(),
        |x: &Array| x.clone(),
        &x,
    );
    let Err(Error::Op { op, message }) = shape else {
        panic!("expected an Op error, got {shape:?}");
    };
    assert_eq!(op, "cond");
    assert!(
        message.contains("true_fn") && message.contains("f64[2]") && message.contains("f64[]"),
        "{message}"
    );
    let dtype = lax::try_cond(
        &Array::scalar(true),
        |x: &Array| x.astype(DType::F32),
        |x: &Array| x.clone(),
        &x,
    );
    assert!(
        matches!(&dtype, Err(Error::Op { message, .. }) if message.contains("f32[2]")),
        "{dtype:?}"
    );
    let structure = lax::try_cond(
        &Array::scalar(false),
        |x: &Array| vec![x.clone(), x.clone()],
        |x: &Array| vec![x.clone()],
        &x,
    );
    assert!(
        matches!(&structure, Err(Error::Op { message, .. }) if message.contains("structure")),
        "{structure:?}"
    );
    let float_pred = lax::try_cond(
        &Array::scalar(1.0f32),
        |x: &Array| x.clone(),
        |x: &Array| x.clone(),
        &x,
    );
    assert!(
        matches!(&float_pred, Err(Error::Op { op, .. }) if op == "cond"),
        "{float_pred:?}"
    );
    let vector_pred = lax::try_cond(
        &Array::from_vec(vec![true, false], &[2]).unwrap(),
        |x: &Array| x.clone(),
        |x: &Array| x.clone(),
        &x,
    );
    assert!(
        matches!(&vector_pred, Err(Error::Op { message, .. }) if message.contains("rank-0")),
        "{vector_pred:?}"
    );
    let none: [&dyn Fn(&Array) -> Array; 0] = [];
    assert!(matches!(
        lax::try_switch(&int(0), &none, &x),
        Err(Error::Op { .. })
    ));
}

/// Reading a traced value in a Rust `if` is a concretization error that
/// points to `lax::cond`.
#[test]
fn rust_if_on_a_traced_value_points_to_cond() {
    let f = jit(|x: &Array| {
        let positive = jnp::greater(x, &Array::scalar(0.0f64));
        match positive.item::<bool>() {
            Ok(true) => x.clone(),
            Ok(false) => -x,
            Err(e) => {
                assert!(matches!(e, Error::Concretization { .. }), "{e:?}");
                assert!(e.to_string().contains("lax::cond"), "{e}");
                x * 0.0
            }
        }
    });
    assert_close("concretization", &vals(&f(&Array::scalar(2.0f64))), &[0.0]);
}

// ---- while_loop and fori_loop -------------------------------------------------

/// Newton's iteration for sqrt(a) until |x^2 - a| < tol, with a step count.
fn newton(a: &Array) -> (Array, Array) {
    let tol = Array::scalar(1e-10f64);
    lax::while_loop(
        |(x, _): &(Array, Array)| jnp::greater(&(x * x - a).abs(), &tol),
        |(x, n): &(Array, Array)| ((x + a / x) * 0.5, n + 1),
        &(Array::scalar(1.0f64), int(0)),
    )
}

fn newton_ref(a: f64) -> (f64, i32) {
    let (mut x, mut n) = (1.0f64, 0);
    while (x * x - a).abs() > 1e-10 {
        x = (x + a / x) * 0.5;
        n += 1;
    }
    (x, n)
}

#[test]
fn while_loop_matches_a_rust_loop() {
    let jitted = jit(newton);
    for a in [2.0, 10.0, 1.0, 1234.5] {
        let (x, n) = newton_ref(a);
        for (what, (gx, gn)) in [
            ("eager", newton(&Array::scalar(a))),
            ("jit", jitted(&Array::scalar(a))),
        ] {
            assert_close(what, &vals(&gx), &[x]);
            assert_eq!(gn.item::<i32>().unwrap(), n, "{what} steps for {a}");
        }
    }
    assert_eq!(prims_of(|a| newton(a).0, &Array::scalar(2.0f64)), ["while"]);
}

#[test]
fn while_loop_errors_name_the_function() {
    let x = Array::scalar(1.0f64);
    let not_bool = lax::try_while_loop(|x: &Array| x.clone(), |x: &Array| x + 1.0, &x);
    assert!(
        matches!(&not_bool, Err(Error::Op { op, message }) if op == "while_loop" && message.contains("cond_fn")),
        "{not_bool:?}"
    );
    let changes = lax::try_while_loop(
        |x: &Array| jnp::less(x, &Array::scalar(3.0f64)),
        |x: &Array| x.astype(DType::F32).astype(DType::F64).broadcast_to(&[2]),
        &x,
    );
    assert!(
        matches!(&changes, Err(Error::Op { op, message }) if op == "while_loop" && message.contains("body_fn") && message.contains("f64[2]")),
        "{changes:?}"
    );
}

#[test]
fn fori_loop_with_static_bounds_is_a_scan() {
    let body = |i: &Array, (s, p): &(Array, Array)| {
        let fi = i.astype(DType::F64);
        (s + &fi * p, p * 0.5)
    };
    let run = |x: &Array| lax::fori_loop(2, 7, body, &(x.clone(), Array::scalar(1.0f64)));
    let mut want = (0.25f64, 1.0f64);
    for i in 2..7 {
        want = (want.0 + i as f64 * want.1, want.1 * 0.5);
    }
    let (s, p) = run(&Array::scalar(0.25f64));
    assert_close("fori s", &vals(&s), &[want.0]);
    assert_close("fori p", &vals(&p), &[want.1]);
    let (s, _) = jit(run)(&Array::scalar(0.25f64));
    assert_close("fori jit", &vals(&s), &[want.0]);
    assert_eq!(prims_of(|x| run(x).0, &Array::scalar(0.0f64)), ["scan"]);
    // An empty range runs no step.
    let empty = lax::fori_loop(5, 1, |_, c: &Array| c * 100.0, &Array::scalar(3.0f64));
    assert_close("empty fori", &vals(&empty), &[3.0]);
    assert!(matches!(
        lax::try_fori_loop(0, 1 << 40, |_, c: &Array| c.clone(), &Array::scalar(0.0f64)),
        Err(Error::Op { .. })
    ));
}

#[test]
fn fori_loop_with_traced_bounds_is_a_while() {
    let f = |(lo, hi): &(Array, Array)| {
        lax::fori_loop_dynamic(
            lo,
            hi,
            |i: &Array, c: &Array| c * 2.0 + i.astype(DType::F64),
            &Array::scalar(1.0f64),
        )
    };
    let jitted = jit(f);
    for (lo, hi) in [(0, 5), (3, 4), (4, 2), (-2, 3)] {
        let mut want = 1.0f64;
        for i in lo..hi {
            want = want * 2.0 + i as f64;
        }
        let args = (int(lo), int(hi));
        assert_close("fori_dynamic eager", &vals(&f(&args)), &[want]);
        assert_close("fori_dynamic jit", &vals(&jitted(&args)), &[want]);
    }
    let j = make_jaxpr(f)(&(int(0), int(1))).unwrap();
    assert!(j.jaxpr.eqns.iter().any(|e| e.prim.name() == "while"));
}

// ---- scan ------------------------------------------------------------------------

/// A linear recurrence `h = tanh(a * h + x_t)` emitting `(h, h * x_t)`.
fn recurrence(a: &Array, h0: &Array, xs: &Array, reverse: bool) -> (Array, (Array, Array)) {
    let opts = ScanOptions {
        length: None,
        reverse,
    };
    lax::scan(
        |h: &Array, x: &Array| {
            let h = (a * h + x).tanh();
            (h.clone(), (h.clone(), &h * x))
        },
        h0,
        xs,
        opts,
    )
}

fn recurrence_ref(
    a: &[f64],
    h0: &[f64],
    xs: &[Vec<f64>],
    reverse: bool,
) -> (Vec<f64>, Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let n = xs.len();
    let mut h = h0.to_vec();
    let (mut ys1, mut ys2) = (vec![vec![]; n], vec![vec![]; n]);
    let order: Vec<usize> = if reverse {
        (0..n).rev().collect()
    } else {
        (0..n).collect()
    };
    for t in order {
        h = h
            .iter()
            .zip(a)
            .zip(&xs[t])
            .map(|((h, a), x)| (a * h + x).tanh())
            .collect();
        ys1[t] = h.clone();
        ys2[t] = h.iter().zip(&xs[t]).map(|(h, x)| h * x).collect();
    }
    (h, ys1, ys2)
}

#[test]
fn scan_matches_a_rust_loop_forwards_and_backwards() {
    let a = [0.5, -1.2];
    let h0 = [0.1, 0.3];
    let xs: Vec<Vec<f64>> = (0..5)
        .map(|t| vec![t as f64 * 0.3 - 0.5, 1.0 - t as f64 * 0.2])
        .collect();
    let flat: Vec<f64> = xs.concat();
    let (aa, ha, xa) = (f64s(&a, &[2]), f64s(&h0, &[2]), f64s(&flat, &[5, 2]));
    for reverse in [false, true] {
        let (h, y1, y2) = recurrence_ref(&a, &h0, &xs, reverse);
        let jitted = jit(move |(a, h, x): &(Array, Array, Array)| recurrence(a, h, x, reverse));
        for (what, (gh, (g1, g2))) in [
            ("eager", recurrence(&aa, &ha, &xa, reverse)),
            ("jit", jitted(&(aa.clone(), ha.clone(), xa.clone()))),
        ] {
            assert_close(what, &vals(&gh), &h);
            assert_eq!(g1.shape(), &[5, 2]);
            assert_close(what, &vals(&g1), &y1.concat());
            assert_close(what, &vals(&g2), &y2.concat());
        }
    }
    // The captured `a` is the scan's one constant operand.
    let j = make_jaxpr(|x: &Array| recurrence(&aa, &ha, x, false).0)(&xa).unwrap();
    let scan = j
        .jaxpr
        .eqns
        .iter()
        .find(|e| e.prim.name() == "scan")
        .expect("a scan");
    let Primitive::Scan {
        num_consts,
        num_carry,
        length,
        ..
    } = scan.prim
    else {
        panic!("not a scan");
    };
    assert_eq!((num_consts, num_carry, length), (1, 1, 5));
}

#[test]
fn scan_over_no_xs_needs_a_length_and_trees_work() {
    // Fibonacci with a tuple carry and no xs.
    let (fib, seq) = lax::scan(
        |(a, b): &(Array, Array), _: &()| ((b.clone(), a + b), a.clone()),
        &(int(0), int(1)),
        &(),
        ScanOptions::default().with_length(10),
    );
    assert_eq!(fib.0.item::<i32>().unwrap(), 55);
    assert_eq!(
        seq.to_vec::<i32>().unwrap(),
        vec![0, 1, 1, 2, 3, 5, 8, 13, 21, 34]
    );
    // A zero-length scan returns the init and empty stacks.
    let (c, ys) = lax::scan(
        |c: &Array, x: &Array| (c + x, x * 2.0),
        &f64s(&[1.0, 1.0, 1.0], &[3]),
        &f64s(&[], &[0, 3]),
        ScanOptions::default(),
    );
    assert_close("empty scan", &vals(&c.sum()), &[3.0]);
    assert_eq!(ys.shape(), &[0, 3]);
    // xs as a tree of two leaves.
    let xs = (
        f64s(&[1.0, 2.0, 3.0], &[3]),
        f64s(&[10.0, 20.0, 30.0, 40.0, 50.0, 60.0], &[3, 2]),
    );
    let (c, ()) = lax::scan(
        |c: &Array, (u, v): &(Array, Array)| (c + u * v, ()),
        &f64s(&[0.0, 0.0], &[2]),
        &xs,
        ScanOptions::default(),
    );
    assert_close(
        "tree xs",
        &vals(&c),
        &[10.0 + 60.0 + 150.0, 20.0 + 80.0 + 180.0],
    );
}

#[test]
fn scan_errors_are_typed() {
    let xs = f64s(&[1.0, 2.0, 3.0], &[3]);
    let carry_change = lax::try_scan(
        |c: &Array, x: &Array| (c.astype(DType::F32) + x.astype(DType::F32), ()),
        &Array::scalar(0.0f64),
        &xs,
        ScanOptions::default(),
    );
    assert!(
        matches!(&carry_change, Err(Error::Op { op, message }) if op == "scan" && message.contains("f32[]") && message.contains("f64[]")),
        "{carry_change:?}"
    );
    let structure = lax::try_scan(
        |c: &Vec<Array>, _: &Array| (vec![c[0].clone(), c[0].clone()], ()),
        &vec![Array::scalar(0.0f64)],
        &xs,
        ScanOptions::default(),
    );
    assert!(
        matches!(&structure, Err(Error::Op { message, .. }) if message.contains("structure")),
        "{structure:?}"
    );
    let no_length = lax::try_scan(
        |c: &Array, _: &()| (c.clone(), ()),
        &Array::scalar(0.0f64),
        &(),
        ScanOptions::default(),
    );
    assert!(
        matches!(&no_length, Err(Error::Op { message, .. }) if message.contains("length")),
        "{no_length:?}"
    );
    let wrong_length = lax::try_scan(
        |c: &Array, x: &Array| (c + x, ()),
        &Array::scalar(0.0f64),
        &xs,
        ScanOptions::default().with_length(4),
    );
    assert!(
        matches!(&wrong_length, Err(Error::Op { message, .. }) if message.contains('4') && message.contains('3')),
        "{wrong_length:?}"
    );
    let ragged = lax::try_scan(
        |c: &Array, (u, _): &(Array, Array)| (c + u, ()),
        &Array::scalar(0.0f64),
        &(xs.clone(), f64s(&[1.0, 2.0], &[2])),
        ScanOptions::default(),
    );
    assert!(
        matches!(&ragged, Err(Error::Op { op, .. }) if op == "scan"),
        "{ragged:?}"
    );
    let scalar_xs = lax::try_scan(
        |c: &Array, x: &Array| (c + x, ()),
        &Array::scalar(0.0f64),
        &Array::scalar(1.0f64),
        ScanOptions::default(),
    );
    assert!(
        matches!(&scalar_xs, Err(Error::Op { message, .. }) if message.contains("leading axis")),
        "{scalar_xs:?}"
    );
}
