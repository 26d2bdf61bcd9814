//! Optimizers and learning-rate schedules against Keras' update formulas
//! evaluated independently in plain `f64` loops, eagerly and under `jit`.

use rjax::keras::optimizers::{self, Adam, AdamW, Optimizer, RMSprop, TreeOptimizer, SGD};
use rjax::keras::schedules::{
    Constant, CosineDecay, ExponentialDecay, LearningRate, LearningRateSchedule,
};
use rjax::{jit, Array, DType, Jit};

/// Starting parameters: a vector and a 2x2 matrix.
fn start() -> Vec<Vec<f64>> {
    vec![vec![0.5, -1.5, 2.0], vec![1.0, 0.25, -0.75, 3.0]]
}

const SHAPES: [&[usize]; 2] = [&[3], &[2, 2]];

/// The gradient at update `t`: signs flip and magnitudes shrink, so that
/// momentum, AMSGrad's maximum and centering all matter.
fn gradient(t: usize) -> Vec<Vec<f64>> {
    let scale = [1.0, -0.5, 0.01][t];
    vec![
        vec![0.3 * scale, -2.0 * scale, 4.0],
        vec![1.5 * scale, 0.0, -0.2 + scale, 0.7],
    ]
}

fn arrays(values: &[Vec<f64>], dtype: DType) -> Vec<Array> {
    values
        .iter()
        .zip(SHAPES)
        .map(|(v, shape)| Array::from_vec(v.clone(), shape).unwrap().astype(dtype))
        .collect()
}

fn values(arrays: &[Array]) -> Vec<Vec<f64>> {
    arrays.iter().map(|a| a.to_f64_vec().unwrap()).collect()
}

/// One element's update in `f64`: `(t, p, g, slots) -> new p`, where `t` is
/// the number of earlier updates and `slots` the element's state (starting
/// at zero).
type ElementStep<'a> = &'a dyn Fn(usize, f64, f64, &mut [f64]) -> f64;

/// The parameters after each of three updates, computed elementwise.
fn reference(step: ElementStep, slots: usize) -> Vec<Vec<Vec<f64>>> {
    let mut params = start();
    let mut state: Vec<Vec<Vec<f64>>> = params
        .iter()
        .map(|p| vec![vec![0.0; slots]; p.len()])
        .collect();
    let mut history = Vec::new();
    for t in 0..3 {
        let g = gradient(t);
        for (k, p) in params.iter_mut().enumerate() {
            for (i, value) in p.iter_mut().enumerate() {
                *value = step(t, *value, g[k][i], &mut state[k][i]);
            }
        }
        history.push(params.clone());
    }
    history
}

/// The parameters after each of three updates by `opt`, eagerly.
fn run(opt: &dyn Optimizer, dtype: DType) -> Vec<Vec<Vec<f64>>> {
    let mut params = arrays(&start(), dtype);
    let mut state = opt.init(&params);
    let mut history = Vec::new();
    for t in 0..3 {
        let (p, s) = opt.update(&params, &arrays(&gradient(t), dtype), &state);
        params = p;
        state = s;
        history.push(values(&params));
    }
    history
}

fn assert_close(actual: &[Vec<Vec<f64>>], expected: &[Vec<Vec<f64>>], tol: f64, what: &str) {
    for (t, (a, e)) in actual.iter().zip(expected).enumerate() {
        for (a, e) in a.iter().flatten().zip(e.iter().flatten()) {
            assert!(
                (a - e).abs() <= tol * (1.0 + e.abs()),
                "{what}, update {t}: {a} vs expected {e}"
            );
        }
    }
}

/// Checks `opt` against the `f64` reference in `f64` (tight) and `f32`.
fn check(opt: &dyn Optimizer, step: ElementStep, slots: usize, what: &str) {
    let expected = reference(step, slots);
    assert_close(&run(opt, DType::F64), &expected, 1e-12, what);
    assert_close(&run(opt, DType::F32), &expected, 2e-6, what);
}

#[test]
fn sgd_plain_momentum_and_nesterov_follow_keras() {
    check(&SGD::new(0.1), &|_, p, g, _| p - 0.1 * g, 0, "sgd");
    let momentum = |t: usize, p: f64, g: f64, s: &mut [f64]| {
        let _ = t;
        s[0] = 0.9 * s[0] - 0.1 * g;
        p + s[0]
    };
    check(&SGD::new(0.1).momentum(0.9), &momentum, 1, "sgd momentum");
    let nesterov = |_: usize, p: f64, g: f64, s: &mut [f64]| {
        s[0] = 0.9 * s[0] - 0.1 * g;
        p + 0.9 * s[0] - 0.1 * g
    };
    let opt = SGD::new(0.1).momentum(0.9).nesterov(true);
    check(&opt, &nesterov, 1, "sgd nesterov");
}

#[test]
fn rmsprop_plain_momentum_and_centered_follow_keras() {
    let (lr, rho, eps) = (0.01, 0.9, 1e-7);
    let plain = |_: usize, p: f64, g: f64, s: &mut [f64]| {
        s[0] = rho * s[0] + (1.0 - rho) * g * g;
        p - lr * g / (s[0] + eps).sqrt()
    };
    check(&RMSprop::new(lr), &plain, 1, "rmsprop");
    let momentum = |_: usize, p: f64, g: f64, s: &mut [f64]| {
        s[0] = rho * s[0] + (1.0 - rho) * g * g;
        s[1] = 0.5 * s[1] + lr * g / (s[0] + eps).sqrt();
        p - s[1]
    };
    check(
        &RMSprop::new(lr).momentum(0.5),
        &momentum,
        2,
        "rmsprop momentum",
    );
    let centered = |_: usize, p: f64, g: f64, s: &mut [f64]| {
        s[0] = 0.8 * s[0] + 0.2 * g * g;
        s[1] = 0.8 * s[1] + 0.2 * g;
        p - lr * g / (s[0] - s[1] * s[1] + 1e-3).sqrt()
    };
    let opt = RMSprop::new(lr).rho(0.8).epsilon(1e-3).centered(true);
    check(&opt, &centered, 2, "rmsprop centered");
}

/// Keras' Adam step on one element, after weight decay `wd`.
fn adam_step(amsgrad: bool, wd: f64) -> impl Fn(usize, f64, f64, &mut [f64]) -> f64 {
    move |t, p, g, s| {
        let (lr, b1, b2, eps): (f64, f64, f64, f64) = (0.01, 0.9, 0.999, 1e-7);
        let p = p - p * wd * lr;
        let n = (t + 1) as f64;
        let alpha = lr * (1.0 - b2.powf(n)).sqrt() / (1.0 - b1.powf(n));
        s[0] += (g - s[0]) * (1.0 - b1);
        s[1] += (g * g - s[1]) * (1.0 - b2);
        let v = if amsgrad {
            s[2] = s[2].max(s[1]);
            s[2]
        } else {
            s[1]
        };
        p - s[0] * alpha / (v.sqrt() + eps)
    }
}

#[test]
fn adam_and_amsgrad_follow_keras() {
    check(&Adam::new(0.01), &adam_step(false, 0.0), 2, "adam");
    let opt = Adam::new(0.01).amsgrad(true);
    check(&opt, &adam_step(true, 0.0), 3, "adam amsgrad");
    // AMSGrad changes the result for this gradient sequence.
    assert_ne!(
        reference(&adam_step(true, 0.0), 3),
        reference(&adam_step(false, 0.0), 2)
    );
}

#[test]
fn adamw_decays_then_steps_like_keras() {
    let opt = AdamW::new(0.01).weight_decay(0.5);
    check(&opt, &adam_step(false, 0.5), 2, "adamw");
    assert_ne!(
        reference(&adam_step(false, 0.5), 2),
        reference(&adam_step(false, 0.0), 2)
    );
}

#[test]
fn optimizers_take_schedules_evaluated_at_the_step_counter() {
    let lr = |t: usize| 0.1 * 0.5f64.powf(t as f64 / 2.0);
    let step = move |t: usize, p: f64, g: f64, _: &mut [f64]| p - lr(t) * g;
    check(
        &SGD::new(ExponentialDecay::new(0.1, 2, 0.5)),
        &step,
        0,
        "sgd with decay",
    );
    let schedule = CosineDecay::new(0.01, 4);
    let cosine = |t: usize| 0.01 * 0.5 * (1.0 + (std::f64::consts::PI * t as f64 / 4.0).cos());
    let step = move |t: usize, p: f64, g: f64, s: &mut [f64]| {
        s[0] = 0.9 * s[0] - cosine(t) * g;
        p + s[0]
    };
    check(
        &SGD::new(schedule).momentum(0.9),
        &step,
        1,
        "sgd momentum with cosine",
    );
}

/// Three updates under `jit` equal three eager updates, with one trace.
fn check_jit_matches_eager(opt: &dyn Optimizer) {
    let eager = run(opt, DType::F32);
    type Args = (Vec<Array>, Vec<Array>, Vec<Array>);
    let jitted = Jit::new(|(p, g, s): &Args| opt.update(p, g, s));
    let mut params = arrays(&start(), DType::F32);
    let mut state = opt.init(&params);
    for (t, expected) in eager.iter().enumerate() {
        let (p, s) = jitted.call(&(params, arrays(&gradient(t), DType::F32), state));
        params = p;
        state = s;
        assert_close(
            &[values(&params)],
            std::slice::from_ref(expected),
            1e-6,
            "jit",
        );
    }
    assert_eq!(
        jitted.stats().traces,
        1,
        "the step counter must not cause re-tracing"
    );
}

#[test]
fn updates_under_jit_equal_eager_and_trace_once() {
    let schedule = ExponentialDecay::new(0.05, 1, 0.9);
    check_jit_matches_eager(&SGD::new(schedule).momentum(0.9).nesterov(true));
    check_jit_matches_eager(&RMSprop::new(0.01).momentum(0.5).centered(true));
    check_jit_matches_eager(&Adam::new(CosineDecay::new(0.01, 10)).amsgrad(true));
    check_jit_matches_eager(&AdamW::new(0.01));
}

fn at(schedule: &dyn LearningRateSchedule, step: f64) -> f64 {
    schedule.call(&Array::scalar(step)).item::<f64>().unwrap()
}

#[test]
fn schedules_match_closed_forms() {
    let smooth = ExponentialDecay::new(0.2, 10, 0.3);
    let stairs = smooth.staircase(true);
    for step in [0.0, 1.0, 9.0, 10.0, 15.0, 37.0] {
        let close = |a: f64, e: f64| assert!((a - e).abs() < 1e-14, "{a} vs {e} at {step}");
        close(at(&smooth, step), 0.2 * 0.3f64.powf(step / 10.0));
        close(at(&stairs, step), 0.2 * 0.3f64.powf((step / 10.0).floor()));
        let cosine = CosineDecay::new(0.5, 20).alpha(0.1);
        let c = step.min(20.0) / 20.0;
        let decayed = 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * c).cos()) + 0.1;
        close(at(&cosine, step), 0.5 * decayed);
        let warm = CosineDecay::new(0.0, 20).warmup(1.0, 10);
        let expected = if step < 10.0 {
            step / 10.0
        } else {
            let c = (step.min(30.0) - 10.0) / 20.0;
            0.5 * (1.0 + (std::f64::consts::PI * c).cos())
        };
        close(at(&warm, step), expected);
        close(at(&Constant(0.3), step), 0.3);
    }
    // A schedule evaluated in f32 from the integer counter.
    let lr = LearningRate::from(ExponentialDecay::new(1.0, 1, 0.5));
    assert_eq!(
        lr.at(&Array::scalar(3i32), DType::F32)
            .item::<f32>()
            .unwrap(),
        0.125
    );
}

#[test]
fn state_holds_an_integer_step_counter() {
    let opt = Adam::new(0.1);
    let params = arrays(&start(), DType::F32);
    let state = opt.init(&params);
    assert_eq!(state.len(), 5);
    assert_eq!(state[0].dtype(), DType::I32);
    let (_, state) = opt.update(&params, &params, &state);
    let (_, state) = opt.update(&params, &params, &state);
    assert_eq!(state[0].item::<i32>().unwrap(), 2);
}

#[derive(rjax::Tree, Clone, Debug)]
struct Model {
    w: Array,
    layers: Vec<(Array, Array)>,
}

#[test]
fn tree_helpers_update_any_tree_and_reject_mismatches() {
    let leaf = |v: f64| Array::scalar(v as f32);
    let model = Model {
        w: leaf(1.0),
        layers: vec![(leaf(2.0), leaf(3.0))],
    };
    let grads = Model {
        w: leaf(10.0),
        layers: vec![(leaf(-10.0), leaf(0.0))],
    };
    let opt = SGD::new(0.1);
    let state = opt.init_tree(&model);
    let (model, _) = opt.update_tree(&model, &grads, &state).unwrap();
    assert_eq!(model.w.item::<f32>().unwrap(), 0.0);
    assert_eq!(model.layers[0].0.item::<f32>().unwrap(), 3.0);
    assert_eq!(model.layers[0].1.item::<f32>().unwrap(), 3.0);

    let fewer = Model {
        w: leaf(1.0),
        layers: vec![],
    };
    let err = opt.update_tree(&model, &fewer, &state).unwrap_err();
    assert!(
        err.to_string()
            .contains("3 leaves but the gradients have 1"),
        "{err}"
    );
    let adam = Adam::new(0.1);
    let err = adam.update_tree(&model, &grads, &state).unwrap_err();
    assert!(err.to_string().contains("the state has 1 arrays"), "{err}");

    // Under jit the tree helpers compose like any traceable function.
    let step = jit(|(m, g, s): &(Model, Model, Vec<Array>)| {
        let (m, s) = adam.update_tree(m, g, s).unwrap();
        (m, s)
    });
    let (m, s) = step(&(model.clone(), grads.clone(), adam.init_tree(&model)));
    assert_eq!(s[0].item::<i32>().unwrap(), 1);
    assert!((m.w.item::<f32>().unwrap() - (0.0 - 0.1)).abs() < 1e-6);
}

#[test]
fn optimizers_by_keras_name() {
    for name in ["sgd", "SGD", "rmsprop", "adam", "adamw"] {
        assert!(optimizers::get(name).is_ok(), "{name}");
    }
    let err = optimizers::get("adagrad").unwrap_err();
    assert!(
        err.to_string().contains("unknown optimizer \"adagrad\""),
        "{err}"
    );
}
