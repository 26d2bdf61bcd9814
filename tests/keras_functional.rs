//! The functional API as a layer graph: merge layers against the same
//! computation in plain rjax ops and f64 loops, several inputs and outputs,
//! a layer shared between two calls (one set of weights, trained
//! consistently by `fit`), `jit(grad)` through a graph against finite
//! differences, the "Connected to" summary, and typed errors for graphs
//! whose shapes do not fit.

mod keras_util;

use keras_util::{
    affine, arr, assert_close, assert_contains_all, lcg_values, vals, weight_names, Mse, PlainSgd,
};
use rjax::keras::initializers::Initializer;
use rjax::keras::layers::{Add, Concatenate, Dense, Multiply, Subtract};
use rjax::keras::models::{Input, LayerApply, MergeApply, Model, SharedLayer};
use rjax::keras::training::FitConfig;
use rjax::{grad, jit, jnp, nn, vmap, Array};

/// A dense layer with a random (non-zero) bias, so biases are tested too.
fn dense(units: usize) -> Dense {
    Dense::new(units).bias_initializer(Initializer::RandomNormal {
        mean: 0.0,
        stddev: 1.0,
    })
}

/// The model's trainable weights as f64 vectors.
fn weight_values(model: &Model) -> Vec<Vec<f64>> {
    model.weights().trainable.iter().map(vals).collect()
}

#[test]
fn residual_block_equals_plain_ops() {
    let (n, d) = (5, 4);
    let x = Input::new(&[d]);
    let h = dense(d).activation("relu").apply(&x);
    let out = Add::new().apply(&[x.clone(), h]);
    let mut model = Model::new(&x, &out).unwrap();
    assert_eq!(model.layer_names(), ["dense", "add"]);
    let data = arr(&lcg_values(1, n * d), &[n, d]);
    let w = &model.weights().trainable;
    let plain = &data + nn::relu(&(data.matmul(&w[0]) + &w[1]));
    let got = model.call(&data).unwrap();
    assert_close(&vals(&got), &vals(&plain), 1e-6, "model vs plain ops");
    // And against an f64 loop.
    let wv = weight_values(&model);
    let hidden = affine(&lcg_values(1, n * d), &wv[0], &wv[1], n, d, d);
    let expected: Vec<f64> = lcg_values(1, n * d)
        .iter()
        .zip(&hidden)
        .map(|(x, h)| x + h.max(0.0))
        .collect();
    assert_close(&vals(&got), &expected, 1e-5, "model vs f64");
    let batched = model.predict(&data, 2).unwrap();
    assert_close(&vals(&batched), &expected, 1e-5, "predict vs f64");
}

#[test]
fn summary_of_a_graph_has_a_connected_to_column() {
    let x = Input::new(&[4]);
    let out = Add::new().apply(&[x.clone(), dense(4).apply(&x)]);
    let mut model = Model::new(&x, &out).unwrap();
    // 4·4 + 4 = 20 f32 parameters, 80 bytes.
    let expected = "\
Model: \"functional\"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┓
┃ Layer (type)             ┃ Output Shape      ┃    Param # ┃ Connected to      ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━┩
│ input_layer (InputLayer) │ (None, 4)         │          0 │ -                 │
├──────────────────────────┼───────────────────┼────────────┼───────────────────┤
│ dense (Dense)            │ (None, 4)         │         20 │ input_layer[0][0] │
├──────────────────────────┼───────────────────┼────────────┼───────────────────┤
│ add (Add)                │ (None, 4)         │          0 │ input_layer[0][0] │
│                          │                   │            │ dense[0][0]       │
└──────────────────────────┴───────────────────┴────────────┴───────────────────┘
 Total params: 20 (80.00 B)
 Trainable params: 20 (80.00 B)
 Non-trainable params: 0 (0.00 B)
";
    assert_eq!(model.summary().unwrap(), expected);
}

#[test]
fn concatenate_joins_two_branches() {
    let (n, k) = (3, 3);
    let x = Input::new(&[k]);
    let a = dense(2).apply(&x);
    let b = dense(4).activation("tanh").apply(&x);
    let both = Concatenate::new(-1).apply(&[a, b]);
    let mut model = Model::new(&x, &both).unwrap();
    assert_eq!(model.output_shape().unwrap(), vec![6]);
    assert_eq!(model.layer_names(), ["dense", "dense_1", "concatenate"]);
    let xs = lcg_values(2, n * k);
    let got = vals(&model.call(&arr(&xs, &[n, k])).unwrap());
    let w = weight_values(&model);
    let left = affine(&xs, &w[0], &w[1], n, k, 2);
    let right = affine(&xs, &w[2], &w[3], n, k, 4);
    let mut expected = Vec::new();
    for i in 0..n {
        expected.extend_from_slice(&left[i * 2..i * 2 + 2]);
        expected.extend(right[i * 4..i * 4 + 4].iter().map(|v| v.tanh()));
    }
    assert_close(&got, &expected, 1e-5, "concatenate");
}

#[test]
fn two_inputs_and_two_outputs() {
    let n = 5;
    let (a, b) = (Input::new(&[3]), Input::new(&[2]));
    let ha = dense(4).apply(&a);
    let hb = dense(4).apply(&b);
    let product = Multiply::new().apply(&[ha.clone(), hb.clone()]);
    let out = dense(1).apply(&product);
    let joined = Concatenate::new(1).apply(&[ha, hb]);
    let mut model = Model::new(&[a, b], &[out, joined]).unwrap();
    assert_eq!(
        model.layer_names(),
        ["dense", "dense_1", "multiply", "dense_2", "concatenate"]
    );
    assert_eq!(model.input_shapes().unwrap(), vec![vec![3], vec![2]]);
    assert_eq!(model.output_shapes().unwrap(), vec![vec![1], vec![8]]);
    let (xa, xb) = (lcg_values(3, n * 3), lcg_values(4, n * 2));
    let w = weight_values(&model);
    let fa = affine(&xa, &w[0], &w[1], n, 3, 4);
    let fb = affine(&xb, &w[2], &w[3], n, 2, 4);
    let prod: Vec<f64> = fa.iter().zip(&fb).map(|(p, q)| p * q).collect();
    let expected_out = affine(&prod, &w[4], &w[5], n, 4, 1);
    let mut expected_joined = Vec::new();
    for i in 0..n {
        expected_joined.extend_from_slice(&fa[i * 4..i * 4 + 4]);
        expected_joined.extend_from_slice(&fb[i * 4..i * 4 + 4]);
    }
    let inputs = [arr(&xa, &[n, 3]), arr(&xb, &[n, 2])];
    let predicted = model.predict_multi(&inputs, 2).unwrap();
    assert_close(&vals(&predicted[0]), &expected_out, 1e-5, "output 0");
    assert_close(&vals(&predicted[1]), &expected_joined, 1e-5, "output 1");
    let weights = model.weights().clone();
    let (called, _) = model
        .stateless_call_multi(&weights.trainable, &[], &inputs, false, None)
        .unwrap();
    assert_close(&vals(&called[0]), &expected_out, 1e-5, "stateless output 0");
    // The single-input, single-output entry points give typed errors.
    let err = model.predict(&inputs[0], 2).unwrap_err().to_string();
    assert!(err.contains("2 inputs and 2 outputs"), "{err}");
    model.compile(PlainSgd(0.1), Mse, vec![]).unwrap();
    let quiet = FitConfig {
        verbose: 0,
        ..Default::default()
    };
    let err = model
        .fit(&inputs[0], &arr(&expected_out, &[n, 1]), quiet)
        .unwrap_err()
        .to_string();
    assert!(err.contains("one input and one output"), "{err}");
    let err = model
        .stateless_call(&weights.trainable, &[], &inputs[0], false, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("one input and one output"), "{err}");
    let err = model
        .stateless_call_multi(&weights.trainable, &[], &inputs[..1], false, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the model has 2 inputs, got 1 arrays"),
        "{err}"
    );
    let swapped = [inputs[1].clone(), inputs[0].clone()];
    let err = model.predict_multi(&swapped, 2).unwrap_err().to_string();
    assert!(
        err.contains("input 0 ('input_layer') expects examples of shape [3]"),
        "{err}"
    );
}

/// `x -> shared -> shared -> Dense(1)` with `shared = Dense(3, tanh)`.
fn shared_model() -> Model {
    let x = Input::new(&[3]);
    let shared = SharedLayer::new(dense(3).activation("tanh"));
    let h = shared.apply(&shared.apply(&x));
    Model::new(&x, &dense(1).apply(&h)).unwrap()
}

/// The shared model's forward pass in plain rjax ops, from its weights
/// `[W1, b1, W2, b2]`.
fn shared_plain(w: &[Array], x: &Array) -> Array {
    let once = |h: &Array| (h.matmul(&w[0]) + &w[1]).tanh();
    once(&once(x)).matmul(&w[2]) + &w[3]
}

#[test]
fn a_shared_layer_has_one_set_of_weights() {
    let mut model = shared_model();
    assert_eq!(model.layer_names(), ["dense", "dense_1"]);
    let names = weight_names(&model);
    assert_eq!(
        names,
        [
            "dense/kernel",
            "dense/bias",
            "dense_1/kernel",
            "dense_1/bias"
        ]
    );
    // 3·3 + 3 = 12 for the shared layer (once), 3 + 1 = 4 for the head.
    assert_eq!(model.count_params().unwrap(), (16, 0));
    let text = model.summary().unwrap();
    assert_contains_all(
        &text,
        &[
            "Connected to",
            "│ dense (Dense)            │ (None, 3)         │         12 │ input_layer[0][0] │",
            "│ dense[0][0]       │",
            "│ dense[1][0]       │",
            " Total params: 16 (64.00 B)",
        ],
    );
    let x = arr(&lcg_values(5, 4 * 3), &[4, 3]);
    let expected = shared_plain(&model.weights().trainable, &x);
    let got = model.call(&x).unwrap();
    assert_close(&vals(&got), &vals(&expected), 1e-6, "shared forward");
}

#[test]
fn fit_updates_a_shared_layer_once_with_both_uses_gradients() {
    let n = 8;
    let mut model = shared_model();
    let x = arr(&lcg_values(6, n * 3), &[n, 3]);
    let y = arr(&lcg_values(7, n), &[n, 1]);
    let before = model.weights().trainable.clone();
    // One full-batch step of plain gradient descent, computed with plain ops.
    let loss = |w: &Vec<Array>| (shared_plain(w, &x) - &y).square().mean();
    let g = grad(loss)(&before);
    model.compile(PlainSgd(0.1), Mse, vec![]).unwrap();
    let config = FitConfig {
        epochs: 1,
        batch_size: n,
        shuffle: false,
        verbose: 0,
        ..Default::default()
    };
    model.fit(&x, &y, config).unwrap();
    let after = &model.weights().trainable;
    assert_eq!(after.len(), 4);
    for (i, ((w0, gi), w1)) in before.iter().zip(&g).zip(after).enumerate() {
        let expected: Vec<f64> = vals(w0)
            .iter()
            .zip(vals(gi))
            .map(|(w, g)| w - 0.1 * g)
            .collect();
        assert_close(&vals(w1), &expected, 1e-5, &format!("weight {i}"));
    }
}

#[test]
fn jit_grad_through_a_graph_matches_finite_differences() {
    let (n, k) = (4, 3);
    let x = Input::new(&[k]);
    let residual = Add::new().apply(&[x.clone(), dense(k).activation("tanh").apply(&x)]);
    let side = dense(2).activation("tanh").apply(&x);
    let joined = Concatenate::new(-1).apply(&[residual, side]);
    let out = Subtract::new().apply(&[dense(1).apply(&joined), dense(1).apply(&x)]);
    let model = Model::new(&x, &out).unwrap();
    let data = arr(&lcg_values(8, n * k), &[n, k]);
    let loss = |w: &Vec<Array>| -> Array {
        let (y, _) = model.stateless_call(w, &[], &data, false, None).unwrap();
        y.square().sum()
    };
    let weights = model.weights().trainable.clone();
    let g = jit(grad(loss))(&weights);
    let eps = 1e-3;
    for (i, w) in weights.iter().enumerate() {
        let base = vals(w);
        let gi = vals(&g[i]);
        for j in 0..base.len() {
            let at = |delta: f64| {
                let mut moved = weights.clone();
                let mut v = base.clone();
                v[j] += delta;
                moved[i] = arr(&v, w.shape());
                vals(&loss(&moved))[0]
            };
            let fd = (at(eps) - at(-eps)) / (2.0 * eps);
            assert!(
                (gi[j] - fd).abs() <= 2e-3 * fd.abs().max(1.0),
                "weight {i}[{j}]: jit(grad) {} vs finite difference {fd}",
                gi[j]
            );
        }
    }
}

#[test]
fn vmap_through_a_two_input_graph_equals_a_loop() {
    let (m, n) = (3, 2);
    let (a, b) = (Input::new(&[2]), Input::new(&[2]));
    let out = Add::new().apply(&[dense(2).activation("tanh").apply(&a), b.clone()]);
    let model = Model::new(&[a, b], &out).unwrap();
    let w = model.weights().trainable.clone();
    let call = |xs: &Vec<Array>| {
        let (out, _) = model
            .stateless_call_multi(&w, &[], xs, false, None)
            .unwrap();
        out[0].clone()
    };
    let xa = arr(&lcg_values(9, m * n * 2), &[m, n, 2]);
    let xb = arr(&lcg_values(10, m * n * 2), &[m, n, 2]);
    let mapped = vmap(call)(&vec![xa.clone(), xb.clone()]);
    assert_eq!(mapped.shape(), &[m, n, 2]);
    let rows: Vec<Array> = (0..m)
        .map(|i| {
            let pick = |x: &Array| jnp::slice(x, &[i, 0, 0], &[i + 1, n, 2], None).reshape(&[n, 2]);
            call(&vec![pick(&xa), pick(&xb)])
        })
        .collect();
    let looped = jnp::stack(&rows, 0);
    assert_close(&vals(&mapped), &vals(&looped), 1e-6, "vmap vs loop");
}

#[test]
fn graphs_whose_shapes_do_not_fit_are_typed_errors() {
    let message = |r: rjax::Result<Model>| r.unwrap_err().to_string();
    let x = Input::new(&[3]);
    let err = message(Model::new(
        &x,
        &Add::new().apply(&[x.clone(), Dense::new(4).apply(&x)]),
    ));
    assert!(
        err.contains("layer 'add' (Add) on examples of shapes [3], [4]")
            && err.contains("same shape"),
        "{err}"
    );
    let (a, b) = (Input::new(&[2, 3]), Input::new(&[4, 3]));
    let inputs = [a.clone(), b.clone()];
    let err = message(Model::new(&inputs, &Concatenate::new(-1).apply(&inputs)));
    assert!(
        err.contains("(Concatenate) on examples of shapes [2, 3], [4, 3]")
            && err.contains("agree on every axis but the concatenation axis -1"),
        "{err}"
    );
    let joined = Model::new(&inputs, &Concatenate::new(1).apply(&inputs)).unwrap();
    assert_eq!(joined.output_shape().unwrap(), vec![6, 3]);
    let err = message(Model::new(&inputs, &Concatenate::new(0).apply(&inputs)));
    assert!(err.contains("axis 0 is out of range"), "{err}");
    let err = message(Model::new(
        &x,
        &Subtract::new().apply(&[x.clone(), x.clone(), x.clone()]),
    ));
    assert!(err.contains("takes exactly 2 inputs, got 3"), "{err}");
    let (p, q) = (Input::new(&[3]), Input::new(&[4]));
    let shared = SharedLayer::new(Dense::new(2));
    let both = Add::new().apply(&[shared.apply(&p), shared.apply(&q)]);
    let err = message(Model::new(&[p.clone(), q.clone()], &both));
    assert!(
        err.contains("layer 'dense' (Dense) on examples of shape [4]") && err.contains("shared"),
        "{err}"
    );
    // A failed build leaves the layers in the graph: the valid part of it
    // still makes a model.
    let from_p = Model::new(&p, &shared.apply(&p)).unwrap();
    assert_eq!(from_p.output_shape().unwrap(), vec![2]);
    let err = message(Model::new(&[p.clone(), p.clone()], &p));
    assert!(err.contains("input 1 is given twice"), "{err}");
    let err = message(Model::new(&p, &Add::new().apply(&[p.clone(), q.clone()])));
    assert!(err.contains("do not come from the given inputs"), "{err}");
    let none: [rjax::keras::models::SymbolicTensor; 0] = [];
    let err = message(Model::new(&none, &p));
    assert!(err.contains("at least one input"), "{err}");
}
