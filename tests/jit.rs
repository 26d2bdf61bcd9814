//! `jit`: caching per signature, re-trace reasons, composition with the
//! autodiff transformations, and concrete-value errors while tracing.

use rjax::prelude::*;
use rjax::{Error, Jit};

fn f32s(values: &[f32], shape: &[usize]) -> Array {
    Array::from_vec(values.to_vec(), shape).unwrap()
}

fn close(a: &Array, b: &Array) {
    let (x, y) = (a.to_f64_vec().unwrap(), b.to_f64_vec().unwrap());
    assert_eq!(a.shape(), b.shape());
    for (p, q) in x.iter().zip(&y) {
        assert!((p - q).abs() <= 1e-5 * (1.0 + q.abs()), "{a} vs {b}");
    }
}

#[test]
fn same_signature_traces_once() {
    let f = Jit::new(|x: &Array| (x * 2.0).exp().sum());
    f.call(&f32s(&[0.0, 1.0], &[2]));
    let b = f.call(&f32s(&[2.0, 3.0], &[2]));
    let expected = (4.0f32).exp() + (6.0f32).exp();
    assert!((b.item::<f32>().unwrap() - expected).abs() < 1e-5 * expected);
    let stats = f.stats();
    assert_eq!(stats.traces, 1);
    assert_eq!(stats.cache_hits, 1);
    assert_eq!(stats.last_trace_reason.as_deref(), Some("first call"));
}

#[test]
fn new_shapes_dtypes_and_structures_retrace_with_a_reason() {
    let j = Jit::new(|x: &Array| x.sum());
    j.call(&f32s(&[1.0, 2.0], &[2]));
    j.call(&f32s(&[1.0, 2.0, 3.0], &[3]));
    assert_eq!(j.stats().traces, 2);
    assert_eq!(
        j.stats().last_trace_reason.as_deref(),
        Some("argument leaf 0 changed from f32[2] to f32[3]")
    );
    j.call(&Array::from_vec(vec![1.0f64, 2.0, 3.0], &[3]).unwrap());
    assert_eq!(
        j.stats().last_trace_reason.as_deref(),
        Some("argument leaf 0 changed from f32[3] to f64[3]")
    );
    j.call(&f32s(&[5.0, 6.0], &[2]));
    assert_eq!(j.stats().traces, 3, "f32[2] was cached");
    let t = Jit::new(|p: &Vec<Array>| p[0].sum());
    t.call(&vec![f32s(&[1.0], &[1])]);
    t.call(&vec![f32s(&[1.0], &[1]), f32s(&[1.0], &[1])]);
    assert_eq!(
        t.stats().last_trace_reason.as_deref(),
        Some("argument structure changed from [*] to [*,*]")
    );
}

#[test]
fn concrete_values_under_jit_are_an_error_that_suggests_cond_and_where() {
    let seen = std::cell::RefCell::new(None);
    let k = Jit::new(|x: &Array| {
        *seen.borrow_mut() = Some(x.item::<f32>());
        x.clone()
    });
    k.call(&f32s(&[1.0], &[1]));
    let e = seen.into_inner().unwrap().unwrap_err();
    assert!(matches!(e, Error::Concretization { .. }));
    let text = e.to_string();
    assert!(
        text.starts_with("item:") && text.contains("lax::cond") && text.contains("jnp::where_"),
        "{text}"
    );
}

fn loss(p: &(Array, Array), x: &Array, y: &Array) -> Array {
    let (w, b) = p;
    (x.matmul(w) + b - y).square().mean()
}

fn data() -> (Array, Array, (Array, Array)) {
    let x = f32s(&[0.5, -1.0, 2.0, 0.25, -0.75, 1.5], &[3, 2]);
    let y = f32s(&[1.0, 0.0, 1.0], &[3, 1]);
    let params = (f32s(&[0.1, -0.2], &[2, 1]), f32s(&[0.05], &[1]));
    (x, y, params)
}

#[test]
fn jit_composes_with_grad_both_ways() {
    let (x, y, params) = data();
    let eager = grad(|p: &(Array, Array)| loss(p, &x, &y))(&params);
    let jit_of_grad = jit(grad(|p: &(Array, Array)| loss(p, &x, &y)))(&params);
    let grad_of_jit = grad(jit(|p: &(Array, Array)| loss(p, &x, &y)))(&params);
    for g in [&jit_of_grad, &grad_of_jit] {
        close(&g.0, &eager.0);
        close(&g.1, &eager.1);
    }
    let twice = jit(jit(|p: &(Array, Array)| loss(p, &x, &y)))(&params);
    close(&twice, &loss(&params, &x, &y));
}

#[test]
fn a_training_step_with_value_and_grad_inside_jit() {
    let (x, y, params) = data();
    let step = Jit::new(|(params, x, y): &((Array, Array), Array, Array)| {
        let (l, g) = value_and_grad(|p: &(Array, Array)| loss(p, x, y))(params);
        (l, tree_map2(params, &g, |p, g| p - g * 0.1))
    });
    let mut p = params;
    let mut losses = Vec::new();
    for _ in 0..5 {
        let (l, next) = step.call(&(p, x.clone(), y.clone()));
        losses.push(l.item::<f32>().unwrap());
        p = next;
    }
    assert!(losses.windows(2).all(|w| w[1] < w[0]), "{losses:?}");
    assert_eq!(step.stats().traces, 1);
}

#[test]
fn a_jitted_function_under_grad_stays_a_call() {
    let inner = jit(|x: &Array| x.sin() * 3.0);
    let text = make_jaxpr(grad(|x: &Array| inner(x).sum()))(&f32s(&[0.5, 1.0], &[2]))
        .unwrap()
        .to_string();
    assert!(text.contains("= call["), "{text}");
    let g = grad(|x: &Array| inner(x).sum())(&f32s(&[0.5, 1.0], &[2]));
    close(&g, &(f32s(&[0.5, 1.0], &[2]).cos() * 3.0));
}

#[test]
fn jit_of_a_closure_over_a_tracer() {
    // The jitted function captures the outer grad's tracer.
    let g = grad(|w: &Array| jit(|x: &Array| x * w)(&f32s(&[2.0, 3.0], &[2])).sum())(
        &Array::scalar(1.0f32),
    );
    assert_eq!(g.item::<f32>().unwrap(), 5.0);
}

#[test]
fn donated_arguments_are_reused_for_outputs() {
    let step = Jit::new(|x: &Array| (x * 2.0).exp() + 1.0);
    let x = f32s(&[0.0, 0.5, -1.0, 2.0, 3.0], &[5]);
    let expected = step.call(&x).to_vec::<f32>().unwrap();
    let address = x
        .try_buffer("test")
        .unwrap()
        .as_slice::<f32>()
        .unwrap()
        .as_ptr() as usize;
    let y = step.call_donated(x);
    assert_eq!(y.to_vec::<f32>().unwrap(), expected);
    let reused = y
        .try_buffer("test")
        .unwrap()
        .as_slice::<f32>()
        .unwrap()
        .as_ptr() as usize;
    assert_eq!(
        reused, address,
        "the output should live in the donated argument's storage"
    );
    // An argument that is still referenced elsewhere is copied, not clobbered.
    let kept = f32s(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5]);
    let out = step.call_donated(kept.clone());
    assert_eq!(kept.to_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(
        out.to_vec::<f32>().unwrap(),
        step.call(&kept).to_vec::<f32>().unwrap()
    );
}
