//! Losses against independent `f64` computations (including extreme
//! logits), their gradients against finite differences, target checks,
//! and metrics on hand-checked batches.

use rjax::keras::losses::{
    self, BinaryCrossentropy, CategoricalCrossentropy, Loss, MeanAbsoluteError, MeanSquaredError,
    SparseCategoricalCrossentropy,
};
use rjax::keras::metrics::{
    self, Accuracy, BinaryAccuracy, CategoricalAccuracy, Mean, Metric, SparseCategoricalAccuracy,
    AUC,
};
use rjax::{grad, jit, Array, DType};

fn f64s(values: &[f64], shape: &[usize]) -> Array {
    Array::from_vec(values.to_vec(), shape).unwrap()
}

fn f32s(values: &[f32], shape: &[usize]) -> Array {
    Array::from_vec(values.to_vec(), shape).unwrap()
}

fn close(actual: f64, expected: f64, tol: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= tol * (1.0 + expected.abs()),
        "{what}: {actual} vs expected {expected}"
    );
}

/// Stable `log(1 + e^x)` in f64.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// `log_softmax` of one row in f64.
fn log_softmax(row: &[f64]) -> Vec<f64> {
    let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = row.iter().map(|x| (x - max).exp()).sum();
    row.iter().map(|x| x - max - total.ln()).collect()
}

const EPS: f64 = 1e-7;

/// Per-row categorical cross-entropy on probabilities, as Keras computes
/// it: normalize, clip, `-sum t log p`.
fn categorical_probs(t: &[f64], p: &[f64], classes: usize) -> f64 {
    let rows = t.len() / classes;
    let mut total = 0.0;
    for r in 0..rows {
        let (tr, pr) = (&t[r * classes..][..classes], &p[r * classes..][..classes]);
        let sum: f64 = pr.iter().sum();
        total -= tr
            .iter()
            .zip(pr)
            .map(|(t, p)| t * (p / sum).clamp(EPS, 1.0 - EPS).ln())
            .sum::<f64>();
    }
    total / rows as f64
}

fn categorical_logits(t: &[f64], x: &[f64], classes: usize) -> f64 {
    let rows = t.len() / classes;
    let mut total = 0.0;
    for r in 0..rows {
        let logp = log_softmax(&x[r * classes..][..classes]);
        total -= t[r * classes..][..classes]
            .iter()
            .zip(&logp)
            .map(|(t, l)| t * l)
            .sum::<f64>();
    }
    total / rows as f64
}

fn value(loss: &dyn Loss, t: &Array, p: &Array) -> f64 {
    let v = loss.call(t, p);
    assert_eq!(
        v.shape(),
        &[] as &[usize],
        "{} must return a scalar",
        loss.name()
    );
    v.to_f64_vec().unwrap()[0]
}

#[test]
fn regression_losses_match_f64() {
    let t = [0.5, -1.0, 2.0, 0.0, 3.0, 1.0];
    let p = [1.0, -1.5, 0.0, 0.25, 3.0, -2.0];
    let mse: f64 = t
        .iter()
        .zip(&p)
        .map(|(t, p)| (p - t) * (p - t))
        .sum::<f64>()
        / 6.0;
    let mae: f64 = t.iter().zip(&p).map(|(t, p)| (p - t).abs()).sum::<f64>() / 6.0;
    let (ta, pa) = (f64s(&t, &[3, 2]), f64s(&p, &[3, 2]));
    close(value(&MeanSquaredError, &ta, &pa), mse, 1e-14, "mse");
    close(value(&MeanAbsoluteError, &ta, &pa), mae, 1e-14, "mae");
    // Targets of shape [N] against predictions [N, 1] line up, as in Keras.
    let (t1, p1) = (f64s(&t, &[6]), f64s(&p, &[6, 1]));
    close(
        value(&MeanSquaredError, &t1, &p1),
        mse,
        1e-14,
        "mse [N] vs [N,1]",
    );
    close(
        value(&MeanAbsoluteError, &p1, &t1),
        mae,
        1e-14,
        "mae [N,1] vs [N]",
    );
}

#[test]
fn binary_crossentropy_matches_f64_with_clipping_and_smoothing() {
    let t = [1.0, 0.0, 1.0, 0.0, 0.3, 1.0];
    let p: [f64; 6] = [0.9, 0.2, 0.0, 1.0, 0.6, 1.0];
    let bce = |t: &[f64], smoothing: f64| {
        t.iter()
            .zip(&p)
            .map(|(t, p)| {
                let t = t * (1.0 - smoothing) + 0.5 * smoothing;
                let p = p.clamp(EPS, 1.0 - EPS);
                -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
            })
            .sum::<f64>()
            / 6.0
    };
    let (ta, pa) = (f64s(&t, &[6, 1]), f64s(&p, &[6, 1]));
    close(
        value(&BinaryCrossentropy::new(), &ta, &pa),
        bce(&t, 0.0),
        1e-12,
        "bce",
    );
    let smoothed = BinaryCrossentropy::new().label_smoothing(0.2);
    close(
        value(&smoothed, &ta, &pa),
        bce(&t, 0.2),
        1e-12,
        "bce smoothed",
    );
}

#[test]
fn binary_crossentropy_from_extreme_logits_is_finite_and_exact() {
    let t = [1.0, 0.0, 1.0, 0.0, 0.3, 1.0, 0.0];
    let x = [1e4, -1e4, -1e4, 1e4, 0.0, 100.0, -30.0];
    let expected = t
        .iter()
        .zip(&x)
        .map(|(t, x)| t * softplus(-x) + (1.0 - t) * softplus(*x))
        .sum::<f64>()
        / 7.0;
    let loss = BinaryCrossentropy::new().from_logits(true);
    close(
        value(&loss, &f64s(&t, &[7, 1]), &f64s(&x, &[7, 1])),
        expected,
        1e-12,
        "bce f64",
    );
    let t32: Vec<f32> = t.iter().map(|&v| v as f32).collect();
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let (ta, xa) = (f32s(&t32, &[7, 1]), f32s(&x32, &[7, 1]));
    close(value(&loss, &ta, &xa), expected, 1e-6, "bce f32");
    // The gradient (sigmoid(x) - t) / N stays finite and exact.
    let g = grad(|x: &Array| loss.call(&ta, x))(&xa)
        .to_f64_vec()
        .unwrap();
    for ((g, x), t) in g.iter().zip(&x).zip(&t) {
        let sigmoid = 1.0 / (1.0 + (-x).exp());
        close(*g, (sigmoid - t) / 7.0, 1e-6, "bce gradient");
    }
}

#[test]
fn categorical_crossentropy_matches_f64_on_probabilities_and_logits() {
    let t = [0.0, 1.0, 0.0, 0.2, 0.3, 0.5, 1.0, 0.0, 0.0];
    let p = [0.2, 0.5, 0.3, 1.0, 2.0, 1.0, 0.0, 0.5, 0.5];
    let (ta, pa) = (f64s(&t, &[3, 3]), f64s(&p, &[3, 3]));
    let cce = CategoricalCrossentropy::new();
    close(
        value(&cce, &ta, &pa),
        categorical_probs(&t, &p, 3),
        1e-12,
        "cce",
    );
    let x = [1e4, 0.0, -1e4, -3.0, 2.0, 0.5, -1e4, 1e4, 1e4];
    let expected = categorical_logits(&t, &x, 3);
    assert!(expected.is_finite() && expected > 1e3);
    let logits = CategoricalCrossentropy::new().from_logits(true);
    close(
        value(&logits, &ta, &f64s(&x, &[3, 3])),
        expected,
        1e-12,
        "cce logits",
    );
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let t32 = ta.astype(DType::F32);
    close(
        value(&logits, &t32, &f32s(&x32, &[3, 3])),
        expected,
        1e-6,
        "cce logits f32",
    );
    let g = grad(|x: &Array| logits.call(&t32, x))(&f32s(&x32, &[3, 3]));
    assert!(g.to_f64_vec().unwrap().iter().all(|v| v.is_finite()));
    // Label smoothing moves targets towards uniform.
    let smoothed: Vec<f64> = t.iter().map(|t| t * 0.7 + 0.1).collect();
    let with = CategoricalCrossentropy::new().label_smoothing(0.3);
    close(
        value(&with, &ta, &pa),
        categorical_probs(&smoothed, &p, 3),
        1e-12,
        "smoothed",
    );
}

#[test]
fn sparse_categorical_crossentropy_matches_one_hot_f64() {
    let labels = [1.0, 2.0, 0.0];
    let one_hot = [0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0];
    let p = [0.2, 0.5, 0.3, 1.0, 2.0, 1.0, 0.0, 0.5, 0.5];
    let x = [1e4, 0.0, -1e4, -3.0, 2.0, 0.5, -1e4, 1e4, 1e4];
    let probs = SparseCategoricalCrossentropy::new();
    let logits = SparseCategoricalCrossentropy::new().from_logits(true);
    let int_labels = Array::from_vec(vec![1i32, 2, 0], &[3]).unwrap();
    for t in [
        int_labels.clone(),
        f64s(&labels, &[3]),
        f64s(&labels, &[3, 1]),
    ] {
        let e = categorical_probs(&one_hot, &p, 3);
        close(value(&probs, &t, &f64s(&p, &[3, 3])), e, 1e-12, "sparse");
        let e = categorical_logits(&one_hot, &x, 3);
        close(
            value(&logits, &t, &f64s(&x, &[3, 3])),
            e,
            1e-12,
            "sparse logits",
        );
    }
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let g = grad(|x: &Array| logits.call(&int_labels, x))(&f32s(&x32, &[3, 3]));
    assert!(g.to_f64_vec().unwrap().iter().all(|v| v.is_finite()));
}

/// Central finite differences of `loss(t, .)` at `p` against its gradient.
fn check_gradient(loss: &dyn Loss, t: &Array, p: &[f64], shape: &[usize]) {
    let g = grad(|p: &Array| loss.call(t, p))(&f64s(p, shape))
        .to_f64_vec()
        .unwrap();
    let h = 1e-6;
    for i in 0..p.len() {
        let (mut up, mut down) = (p.to_vec(), p.to_vec());
        up[i] += h;
        down[i] -= h;
        let fd =
            (value(loss, t, &f64s(&up, shape)) - value(loss, t, &f64s(&down, shape))) / (2.0 * h);
        close(g[i], fd, 1e-6, &format!("{} d/dp[{i}]", loss.name()));
    }
}

#[test]
fn gradients_match_finite_differences() {
    let t = f64s(&[0.0, 1.0, 0.0, 0.2, 0.3, 0.5], &[2, 3]);
    let p = [0.2, 0.5, 0.3, 0.35, 0.15, 0.45];
    let x = [1.5, -0.5, 0.25, -2.0, 3.0, 0.1];
    check_gradient(&MeanSquaredError, &t, &p, &[2, 3]);
    check_gradient(&MeanAbsoluteError, &t, &p, &[2, 3]);
    check_gradient(&BinaryCrossentropy::new(), &t, &p, &[2, 3]);
    check_gradient(
        &BinaryCrossentropy::new().from_logits(true),
        &t,
        &x,
        &[2, 3],
    );
    check_gradient(&CategoricalCrossentropy::new(), &t, &p, &[2, 3]);
    check_gradient(
        &CategoricalCrossentropy::new().from_logits(true),
        &t,
        &x,
        &[2, 3],
    );
    let labels = Array::from_vec(vec![2i32, 0], &[2]).unwrap();
    check_gradient(&SparseCategoricalCrossentropy::new(), &labels, &p, &[2, 3]);
    let sparse_logits = SparseCategoricalCrossentropy::new().from_logits(true);
    check_gradient(&sparse_logits, &labels, &x, &[2, 3]);
}

#[test]
fn losses_under_jit_equal_eager() {
    let t = f32s(&[0.0, 1.0, 0.0, 1.0, 0.0, 0.0], &[2, 3]);
    let x = f32s(&[1.5, -0.5, 0.25, -2.0, 3.0, 0.1], &[2, 3]);
    let loss = CategoricalCrossentropy::new().from_logits(true);
    let eager = value(&loss, &t, &x);
    let jitted = jit(|(t, x): &(Array, Array)| loss.call(t, x))(&(t.clone(), x.clone()));
    close(jitted.to_f64_vec().unwrap()[0], eager, 1e-6, "jit");
}

fn error_of(result: rjax::Result<()>) -> String {
    result.expect_err("expected a typed error").to_string()
}

#[test]
fn check_targets_rejects_bad_targets_with_clear_errors() {
    let sparse = SparseCategoricalCrossentropy::new();
    let labels = |v: Vec<f32>, shape: &[usize]| Array::from_vec(v, shape).unwrap();
    assert!(sparse
        .check_targets(&labels(vec![0.0, 9.0, 3.0], &[3]), &[10])
        .is_ok());
    assert!(sparse
        .check_targets(&labels(vec![0.0, 9.0, 3.0], &[3, 1]), &[10])
        .is_ok());
    let e = error_of(sparse.check_targets(&labels(vec![0.0, 10.0], &[2]), &[10]));
    assert!(e.contains("label 1 is 10") && e.contains("[0, 10)"), "{e}");
    let e = error_of(sparse.check_targets(&labels(vec![-1.0], &[1]), &[10]));
    assert!(e.contains("label 0 is -1"), "{e}");
    let e = error_of(sparse.check_targets(&labels(vec![1.5], &[1]), &[10]));
    assert!(e.contains("must be integers"), "{e}");
    let int = Array::from_vec(vec![3i32, 4], &[2]).unwrap();
    let e = error_of(sparse.check_targets(&int, &[4]));
    assert!(
        e.starts_with("sparse_categorical_crossentropy: label 1 is 4"),
        "{e}"
    );
    let e = error_of(sparse.check_targets(&labels(vec![0.0; 6], &[2, 3]), &[10]));
    assert!(e.contains("labels of shape [2,3]"), "{e}");
    let e = error_of(sparse.check_targets(&labels(vec![0.0], &[1]), &[]));
    assert!(e.contains("no class axis"), "{e}");

    let bce = BinaryCrossentropy::new();
    assert!(bce
        .check_targets(&labels(vec![0.0, 1.0, 0.5], &[3]), &[1])
        .is_ok());
    let e = error_of(bce.check_targets(&labels(vec![0.0, 2.0], &[2, 1]), &[1]));
    assert!(
        e.contains("target 1 (in flat order) is 2, outside [0, 1]"),
        "{e}"
    );
    let e = error_of(bce.check_targets(&labels(vec![f32::NAN], &[1]), &[1]));
    assert!(e.contains("is NaN; targets must be finite"), "{e}");

    let mse = MeanSquaredError;
    assert!(mse
        .check_targets(&labels(vec![5.0, -7.0], &[2, 1]), &[1])
        .is_ok());
    let e = error_of(mse.check_targets(&labels(vec![0.0; 6], &[2, 3]), &[1]));
    assert!(
        e.contains("targets of shape [2,3] do not fit the model's output of shape [2,1]"),
        "{e}"
    );
    let e = error_of(mse.check_targets(&Array::scalar(1.0f32), &[1]));
    assert!(e.contains("batch axis"), "{e}");
    let cce = CategoricalCrossentropy::new();
    let e = error_of(cce.check_targets(&labels(vec![0.0, 1.0], &[1, 2]), &[3]));
    assert!(
        e.starts_with("categorical_crossentropy: targets of shape [1,2]"),
        "{e}"
    );
}

#[test]
fn losses_by_keras_name() {
    for (name, canonical) in [
        ("mse", "mean_squared_error"),
        ("mean_absolute_error", "mean_absolute_error"),
        ("BinaryCrossentropy", "binary_crossentropy"),
        ("categorical_crossentropy", "categorical_crossentropy"),
        (
            "sparse_categorical_crossentropy",
            "sparse_categorical_crossentropy",
        ),
    ] {
        assert_eq!(losses::get(name).unwrap().name(), canonical);
    }
    let e = losses::get("hinge").unwrap_err().to_string();
    assert!(e.contains("unknown loss \"hinge\""), "{e}");
}

/// Runs `metric` over `batches` and returns its result.
fn accumulate(metric: &dyn Metric, batches: &[(Array, Array)]) -> f64 {
    let mut state = metric.init();
    for (t, p) in batches {
        state = metric.update(&state, t, p);
    }
    metric.result(&state).to_f64_vec().unwrap()[0]
}

#[test]
fn accuracy_metrics_on_hand_checked_batches() {
    // 3 of 4 hits, then 0 of 2: 3/6 over examples (not the mean of 0.75 and 0).
    let binary = [
        (
            f32s(&[1., 0., 1., 0.], &[4, 1]),
            f32s(&[0.9, 0.2, 0.6, 0.55], &[4, 1]),
        ),
        (f32s(&[1., 0.], &[2]), f32s(&[0.1, 0.7], &[2, 1])),
    ];
    close(
        accumulate(&BinaryAccuracy::default(), &binary),
        0.5,
        1e-7,
        "binary",
    );
    // Above 0.8: predictions [1, 0, 0, 0] and [0, 0]: 3 + 1 hits.
    let strict = BinaryAccuracy { threshold: 0.8 };
    close(
        accumulate(&strict, &binary),
        4.0 / 6.0,
        1e-7,
        "binary threshold 0.8",
    );
    let one_hot = f32s(&[0., 1., 0., 1., 0., 0., 0., 0., 1.], &[3, 3]);
    let probs = f32s(&[0.1, 0.8, 0.1, 0.3, 0.6, 0.1, 0.2, 0.3, 0.5], &[3, 3]);
    let probs2 = f32s(&[0.9, 0.05, 0.05], &[1, 3]);
    let one_hot2 = f32s(&[1., 0., 0.], &[1, 3]);
    let batches = [(one_hot, probs.clone()), (one_hot2, probs2.clone())];
    close(
        accumulate(&CategoricalAccuracy, &batches),
        0.75,
        1e-7,
        "categorical",
    );
    let labels = Array::from_vec(vec![1i32, 0, 2], &[3]).unwrap();
    let labels2 = f32s(&[1.0], &[1, 1]);
    let batches = [(labels, probs), (labels2, probs2)];
    close(
        accumulate(&SparseCategoricalAccuracy, &batches),
        0.5,
        1e-7,
        "sparse",
    );
    let exact = [(f32s(&[1., 2., 3.], &[3]), f32s(&[1., 2., 4.], &[3]))];
    close(accumulate(&Accuracy, &exact), 2.0 / 3.0, 1e-7, "accuracy");
    assert_eq!(accumulate(&Accuracy, &[]), 0.0, "no examples yet");
}

#[test]
fn metric_updates_under_jit_equal_eager() {
    let t = f32s(&[1., 0., 1., 0.], &[4, 1]);
    let p = f32s(&[0.9, 0.2, 0.6, 0.5], &[4, 1]);
    for metric in [
        &BinaryAccuracy::default() as &dyn Metric,
        &AUC::default(),
        &Mean,
    ] {
        let update = jit(|(s, t, p): &(Vec<Array>, Array, Array)| metric.update(s, t, p));
        let state = update(&(metric.init(), t.clone(), p.clone()));
        let state = update(&(state, t.clone(), p.clone()));
        let eager = accumulate(metric, &[(t.clone(), p.clone()), (t.clone(), p.clone())]);
        close(
            metric.result(&state).to_f64_vec().unwrap()[0],
            eager,
            1e-7,
            metric.name(),
        );
    }
}

#[test]
fn mean_weights_values() {
    let m = Mean;
    let state = m.update_weighted(&m.init(), &Array::scalar(2.0f32), 32.0);
    let state = m.update_weighted(&state, &Array::scalar(5.0f32), 8.0);
    close(
        m.result(&state).to_f64_vec().unwrap()[0],
        (64.0 + 40.0) / 40.0,
        1e-7,
        "weighted",
    );
    let batches = [(f32s(&[0.0], &[1]), f32s(&[1., 2., 3., 4., 5., 6.], &[3, 2]))];
    close(accumulate(&Mean, &batches), 3.5, 1e-7, "mean of values");
}

#[test]
fn auc_matches_hand_computed_areas() {
    // Positives {0.9, 0.6, 0.2}, negatives {0.8, 0.3}: 3 of 6 pairs ranked
    // right, and binning keeps every value in its own bin: AUC 1/2.
    let t = f32s(&[1., 0., 1., 0., 1.], &[5]);
    let p = f32s(&[0.9, 0.8, 0.6, 0.3, 0.2], &[5]);
    close(accumulate(&AUC::default(), &[(t, p)]), 0.5, 1e-6, "auc");
    // 0.501 and 0.502 share a bin, so that pair counts one half: (1 + 0.5 +
    // 2) / 4, accumulated over two batches.
    let b1 = (f32s(&[1., 0.], &[2, 1]), f32s(&[0.502, 0.501], &[2, 1]));
    let b2 = (f32s(&[1., 0.], &[2, 1]), f32s(&[0.9, 0.1], &[2, 1]));
    close(
        accumulate(&AUC::default(), &[b1, b2]),
        0.875,
        1e-6,
        "auc with a tie",
    );
    // With 3 thresholds (-eps, 0.5, 1 + eps) by hand: at 0.5, tpr = 1/2,
    // fpr = 0; area = (1 - 0) * (1 + 1/2) / 2 = 0.75.
    let t = f32s(&[1., 1., 0., 0.], &[4]);
    let p = f32s(&[0.7, 0.4, 0.3, 0.2], &[4]);
    close(
        accumulate(&AUC { num_thresholds: 3 }, &[(t, p)]),
        0.75,
        1e-6,
        "auc 3",
    );
}

#[test]
fn metrics_by_name_and_accuracy_resolution() {
    assert_eq!(metrics::get("auc").unwrap().name(), "auc");
    assert_eq!(metrics::get("mean").unwrap().name(), "mean");
    let e = metrics::get("f1_score").unwrap_err().to_string();
    assert!(e.contains("unknown metric \"f1_score\""), "{e}");
    let resolved =
        |loss: &str, shape: &[usize]| metrics::accuracy_for_loss(loss, shape).name().to_string();
    assert_eq!(resolved("binary_crossentropy", &[1]), "binary_accuracy");
    assert_eq!(resolved("mean_squared_error", &[1]), "binary_accuracy");
    assert_eq!(
        resolved("categorical_crossentropy", &[5]),
        "categorical_accuracy"
    );
    assert_eq!(
        resolved("sparse_categorical_crossentropy", &[5]),
        "sparse_categorical_accuracy"
    );
    // "accuracy" keeps its name and computes the resolved accuracy.
    let m = metrics::get_for_loss("accuracy", "binary_crossentropy", &[1]).unwrap();
    assert_eq!(m.name(), "accuracy");
    let batch = [(f32s(&[1., 0.], &[2, 1]), f32s(&[0.7, 0.6], &[2, 1]))];
    close(
        accumulate(m.as_ref(), &batch),
        0.5,
        1e-7,
        "resolved accuracy",
    );
    let m = metrics::get_for_loss("auc", "binary_crossentropy", &[1]).unwrap();
    assert_eq!(m.name(), "auc");
}
