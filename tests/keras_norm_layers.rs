//! `BatchNormalization`, `LayerNormalization` and `Embedding` against
//! independent `f64` computations, including batch normalization's moving
//! statistics and the embedding gradient (a scatter-add).

use rjax::keras::layers::{
    BatchNormalization, CallContext, Embedding, Layer, LayerNormalization, Weight,
};
use rjax::{grad, jit, random, Array, DType};

const TRAIN: CallContext = CallContext {
    training: true,
    key: None,
};
const INFER: CallContext = CallContext {
    training: false,
    key: None,
};

fn f32s(values: &[f64], shape: &[usize]) -> Array {
    let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
    Array::from_vec(v, shape).unwrap()
}

fn assert_close(actual: &Array, expected: &[f64], tol: f64, what: &str) {
    let actual = actual.to_f64_vec().unwrap();
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= tol * (1.0 + e.abs()),
            "{what}[{i}]: {a} vs {e}"
        );
    }
}

/// Input of shape [4, 3] (4 examples of 3 features), row-major.
const X: [f64; 12] = [
    1.0, -2.0, 0.5, 3.0, 0.0, 0.25, -1.0, 4.0, 2.0, 0.5, 1.0, -0.75,
];
const GAMMA: [f64; 3] = [1.5, -0.5, 2.0];
const BETA: [f64; 3] = [0.1, 0.2, -0.3];

/// Per-feature mean and population variance of `X` in f64.
fn column_moments() -> (Vec<f64>, Vec<f64>) {
    let mut mean = vec![0.0; 3];
    let mut var = vec![0.0; 3];
    for j in 0..3 {
        let column: Vec<f64> = (0..4).map(|i| X[i * 3 + j]).collect();
        mean[j] = column.iter().sum::<f64>() / 4.0;
        var[j] = column.iter().map(|x| (x - mean[j]).powi(2)).sum::<f64>() / 4.0;
    }
    (mean, var)
}

/// `(x - mean) / sqrt(var + eps) * gamma + beta` per feature, in f64.
fn normalized(mean: &[f64], var: &[f64], eps: f64) -> Vec<f64> {
    (0..12)
        .map(|k| {
            let j = k % 3;
            (X[k] - mean[j]) / (var[j] + eps).sqrt() * GAMMA[j] + BETA[j]
        })
        .collect()
}

fn weight_values(weights: &[Weight]) -> Vec<Array> {
    weights.iter().map(|w| w.value.clone()).collect()
}

#[test]
fn batch_norm_builds_keras_weights() {
    let mut layer = BatchNormalization::new();
    let weights = layer.build(&[3], &random::key(0)).unwrap();
    let names: Vec<&str> = weights.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["gamma", "beta", "moving_mean", "moving_variance"]);
    let trainable: Vec<bool> = weights.iter().map(|w| w.trainable).collect();
    assert_eq!(trainable, [true, true, false, false]);
    assert_eq!(weights[0].value.to_vec::<f32>().unwrap(), vec![1.0; 3]);
    assert_eq!(weights[2].value.to_vec::<f32>().unwrap(), vec![0.0; 3]);
    assert_eq!(weights[3].value.to_vec::<f32>().unwrap(), vec![1.0; 3]);
    let mut bare = BatchNormalization::new().center(false).scale(false);
    assert_eq!(bare.build(&[3], &random::key(0)).unwrap().len(), 2);
    let err = BatchNormalization::new()
        .axis(0)
        .build(&[3], &random::key(0))
        .unwrap_err();
    assert!(
        err.to_string().contains("axis 0 is not a feature axis"),
        "{err}"
    );
}

#[test]
fn batch_norm_training_uses_batch_moments_and_updates_moving_statistics() {
    let mut layer = BatchNormalization::new();
    layer.build(&[3], &random::key(0)).unwrap();
    let moving_mean = [0.5, -0.5, 1.0];
    let moving_var = [2.0, 0.5, 1.0];
    let weights = vec![
        f32s(&GAMMA, &[3]),
        f32s(&BETA, &[3]),
        f32s(&moving_mean, &[3]),
        f32s(&moving_var, &[3]),
    ];
    let x = f32s(&X, &[4, 3]);
    let (mean, var) = column_moments();
    let out = layer.call(&weights, &x, &TRAIN);
    assert_close(
        &out.output,
        &normalized(&mean, &var, 1e-3),
        1e-5,
        "training output",
    );
    assert_eq!(out.updated_state.len(), 2);
    let updated = |old: &[f64], batch: &[f64]| -> Vec<f64> {
        old.iter()
            .zip(batch)
            .map(|(o, b)| o * 0.99 + b * 0.01)
            .collect()
    };
    assert_close(
        &out.updated_state[0],
        &updated(&moving_mean, &mean),
        1e-6,
        "moving mean",
    );
    assert_close(
        &out.updated_state[1],
        &updated(&moving_var, &var),
        1e-6,
        "moving var",
    );

    let inference = layer.call(&weights, &x, &INFER);
    assert!(inference.updated_state.is_empty());
    let expected = normalized(&moving_mean, &moving_var, 1e-3);
    assert_close(&inference.output, &expected, 1e-5, "inference output");

    // The same step under jit.
    let step = jit(|(w, x): &(Vec<Array>, Array)| {
        let out = layer.call(w, x, &TRAIN);
        (out.output, out.updated_state)
    });
    let (y, state) = step(&(weights.clone(), x.clone()));
    assert_close(&y, &out.output.to_f64_vec().unwrap(), 1e-6, "jit output");
    assert_close(
        &state[1],
        &out.updated_state[1].to_f64_vec().unwrap(),
        1e-6,
        "jit state",
    );
}

#[test]
fn batch_norm_on_rank_3_inputs_reduces_all_but_the_feature_axis() {
    // [2, 2, 3]: features on the last axis, moments over 4 rows.
    let mut layer = BatchNormalization::new().momentum(0.5).epsilon(1e-2);
    let w = weight_values(&layer.build(&[2, 3], &random::key(0)).unwrap());
    let x = f32s(&X, &[2, 2, 3]);
    let out = layer.call(&w, &x, &TRAIN);
    let (mean, var) = column_moments();
    let unit: Vec<f64> = (0..12)
        .map(|k| (X[k] - mean[k % 3]) / (var[k % 3] + 1e-2).sqrt())
        .collect();
    assert_close(&out.output, &unit, 1e-5, "rank-3 output");
    let half: Vec<f64> = mean.iter().map(|m| m * 0.5).collect();
    assert_close(&out.updated_state[0], &half, 1e-6, "rank-3 moving mean");
    // Features on axis 1 of [4, 3] means moments over the batch per column,
    // the same as axis -1.
    let mut by_axis = BatchNormalization::new().axis(1).epsilon(1e-2);
    let w = weight_values(&by_axis.build(&[3], &random::key(0)).unwrap());
    let y = by_axis.call(&w, &f32s(&X, &[4, 3]), &TRAIN).output;
    assert_close(&y, &unit, 1e-5, "axis 1");
}

#[test]
fn batch_norm_gradient_matches_finite_differences() {
    let mut layer = BatchNormalization::new();
    let w = weight_values(&layer.build(&[3], &random::key(0)).unwrap());
    let probe: Vec<f64> = (0..12).map(|k| ((k * 7) % 5) as f64 - 2.0).collect();
    let to64 = |a: &Array| a.astype(DType::F64);
    let w64: Vec<Array> = w.iter().map(to64).collect();
    let objective = |x: &Array| {
        let y = layer.call(&w64, x, &TRAIN).output;
        (y * Array::from_vec(probe.clone(), &[4, 3]).unwrap()).sum()
    };
    let x = Array::from_vec(X.to_vec(), &[4, 3]).unwrap();
    let g = grad(objective)(&x).to_f64_vec().unwrap();
    let h = 1e-6;
    for i in 0..12 {
        let (mut up, mut down) = (X.to_vec(), X.to_vec());
        up[i] += h;
        down[i] -= h;
        let f = |v: Vec<f64>| {
            objective(&Array::from_vec(v, &[4, 3]).unwrap())
                .item::<f64>()
                .unwrap()
        };
        let fd = (f(up) - f(down)) / (2.0 * h);
        assert!(
            (g[i] - fd).abs() < 1e-6 * (1.0 + fd.abs()),
            "d/dx[{i}]: {} vs {fd}",
            g[i]
        );
    }
}

#[test]
fn layer_norm_matches_f64_per_example() {
    let mut layer = LayerNormalization::new();
    let weights = layer.build(&[3], &random::key(0)).unwrap();
    assert_eq!(weights.len(), 2);
    assert!(weights.iter().all(|w| w.trainable));
    let w = vec![f32s(&GAMMA, &[3]), f32s(&BETA, &[3])];
    let expected: Vec<f64> = (0..12)
        .map(|k| {
            let row = &X[(k / 3) * 3..][..3];
            let mean = row.iter().sum::<f64>() / 3.0;
            let var = row.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 3.0;
            (X[k] - mean) / (var + 1e-3).sqrt() * GAMMA[k % 3] + BETA[k % 3]
        })
        .collect();
    let out = layer.call(&w, &f32s(&X, &[4, 3]), &TRAIN);
    assert!(out.updated_state.is_empty());
    assert_close(&out.output, &expected, 1e-5, "layer norm");
    // Normalizing axis 1 of [2, 2, 3] (groups of 2 along the middle axis).
    let mut middle = LayerNormalization::new().axis(1).center(false).scale(false);
    assert!(middle.build(&[2, 3], &random::key(0)).unwrap().is_empty());
    let y = middle.call(&[], &f32s(&X, &[2, 2, 3]), &INFER).output;
    let expected: Vec<f64> = (0..12)
        .map(|k| {
            let (b, j) = (k / 6, k % 3);
            let (a, c) = (X[b * 6 + j], X[b * 6 + 3 + j]);
            let mean = (a + c) / 2.0;
            let var = ((a - mean).powi(2) + (c - mean).powi(2)) / 2.0;
            (X[k] - mean) / (var + 1e-3).sqrt()
        })
        .collect();
    assert_close(&y, &expected, 1e-5, "layer norm axis 1");
    let err = LayerNormalization::new()
        .axis(2)
        .build(&[3], &random::key(0))
        .unwrap_err();
    assert!(
        err.to_string().contains("axis 2 is not a feature axis"),
        "{err}"
    );
}

#[test]
fn embedding_looks_up_rows_and_scatter_adds_gradients() {
    let mut layer = Embedding::new(5, 2);
    let weights = layer.build(&[3], &random::key(1)).unwrap();
    assert_eq!(weights[0].value.shape(), &[5, 2]);
    let values = weights[0].value.to_vec::<f32>().unwrap();
    assert!(
        values.iter().all(|v| v.abs() <= 0.05),
        "Keras' uniform ±0.05"
    );
    let table: Vec<f64> = (0..10).map(|i| i as f64 * 0.5 - 1.0).collect();
    let table = f32s(&table, &[5, 2]);
    let ids = Array::from_vec(vec![4i32, 1, 4, 0, 0, 4], &[2, 3]).unwrap();
    let y = layer
        .call(std::slice::from_ref(&table), &ids, &INFER)
        .output;
    assert_eq!(y.shape(), &[2, 3, 2]);
    let rows = table.to_f64_vec().unwrap();
    let expected: Vec<f64> = [4, 1, 4, 0, 0, 4]
        .iter()
        .flat_map(|&i| [rows[i * 2], rows[i * 2 + 1]])
        .collect();
    assert_close(&y, &expected, 0.0, "lookup");
    // Float ids are cast, as Keras does.
    let float_ids = f32s(&[4.0, 1.0, 4.0, 0.0, 0.0, 4.0], &[2, 3]);
    assert_close(
        &layer
            .call(std::slice::from_ref(&table), &float_ids, &INFER)
            .output,
        &expected,
        0.0,
        "float ids",
    );

    // d/dtable of sum(y * c) adds c at each position that read a row.
    let c: Vec<f64> = (0..12).map(|k| k as f64 + 1.0).collect();
    let ca = f32s(&c, &[2, 3, 2]);
    let g =
        grad(|t: &Array| (layer.call(std::slice::from_ref(t), &ids, &TRAIN).output * &ca).sum())(
            &table,
        );
    let mut expected = [0.0; 10];
    for (pos, &i) in [4usize, 1, 4, 0, 0, 4].iter().enumerate() {
        expected[i * 2] += c[pos * 2];
        expected[i * 2 + 1] += c[pos * 2 + 1];
    }
    assert_close(&g, &expected, 0.0, "scatter-add gradient");
    assert_eq!(layer.output_shape(&[3]).unwrap(), vec![3, 2]);
    let err = Embedding::new(0, 2)
        .build(&[3], &random::key(0))
        .unwrap_err();
    assert!(err.to_string().contains("must be positive"), "{err}");
}
