//! Keras models and layers: forward passes against f64 references, layer
//! names, the functional API, `summary`, batched `predict`, dropout,
//! initializers, and saving and loading weights.

mod keras_util;

use keras_util::{affine, arr, assert_close, assert_contains_all, lcg_values, vals, weight_names};
use rjax::keras::initializers::Initializer;
use rjax::keras::layers::{Activation, CallContext, Dense, Dropout, Flatten, Layer, Reshape};
use rjax::keras::models::{Input, LayerApply, Model, Sequential};
use rjax::{jit, jnp, random, Array, DType, Error};

fn relu(v: f64) -> f64 {
    v.max(0.0)
}

#[test]
fn dense_forward_is_x_at_w_plus_b() {
    let (n, k, m) = (5, 4, 3);
    let mut dense = Dense::new(m).bias_initializer(Initializer::RandomNormal {
        mean: 0.0,
        stddev: 1.0,
    });
    let weights = dense.build(&[k], &random::key(3)).unwrap();
    assert_eq!(weights.len(), 2);
    assert_eq!(
        (weights[0].name.as_str(), weights[1].name.as_str()),
        ("kernel", "bias")
    );
    assert_eq!(weights[0].value.shape(), &[k, m]);
    assert_eq!(weights[1].value.shape(), &[m]);
    let values: Vec<Array> = weights.into_iter().map(|w| w.value).collect();
    let xs = lcg_values(1, n * k);
    let x = arr(&xs, &[n, k]);
    let ctx = CallContext {
        training: false,
        key: None,
    };
    let y = dense.call(&values, &x, &ctx).output;
    assert_eq!(y.shape(), &[n, m]);
    let expected = affine(&xs, &vals(&values[0]), &vals(&values[1]), n, k, m);
    assert_close(&vals(&y), &expected, 1e-6, "dense");

    let mut with_relu = Dense::new(m).activation("relu");
    with_relu.build(&[k], &random::key(3)).unwrap();
    let y = with_relu.call(&values, &x, &ctx).output;
    let expected: Vec<f64> = expected.into_iter().map(relu).collect();
    assert_close(&vals(&y), &expected, 1e-6, "dense relu");
}

#[test]
fn sequential_forward_is_the_composition_of_its_layers() {
    let mut model = Sequential::new(vec![
        Box::new(Dense::new(6).activation("relu")),
        Box::new(Dense::new(2)),
    ])
    .with_seed(11);
    let xs = lcg_values(2, 7 * 3);
    let y = model.call(&arr(&xs, &[7, 3])).unwrap();
    let w = &model.weights().trainable;
    assert_eq!(w.len(), 4);
    let h: Vec<f64> = affine(&xs, &vals(&w[0]), &vals(&w[1]), 7, 3, 6)
        .into_iter()
        .map(relu)
        .collect();
    let expected = affine(&h, &vals(&w[2]), &vals(&w[3]), 7, 6, 2);
    assert_close(&vals(&y), &expected, 1e-5, "sequential");
}

#[test]
fn layer_names_follow_keras() {
    let mut model = Sequential::new(vec![
        Box::new(Flatten::new()),
        Box::new(Dense::new(4)),
        Box::new(Activation::new("tanh")),
        Box::new(Dense::new(4)),
        Box::new(Dense::new(1)),
    ]);
    assert_eq!(
        model.layer_names(),
        ["flatten", "dense", "activation", "dense_1", "dense_2"]
    );
    model.build(&[2, 3]).unwrap();
    let names = weight_names(&model);
    assert_eq!(
        names,
        [
            "dense/kernel",
            "dense/bias",
            "dense_1/kernel",
            "dense_1/bias",
            "dense_2/kernel",
            "dense_2/bias"
        ]
    );
    assert_eq!(model.output_shape().unwrap(), vec![1]);
}

#[test]
fn functional_model_matches_the_same_sequential_model() {
    let x = Input::new(&[5]);
    let h = Dense::new(8).activation("gelu").apply(&x);
    let out = Dense::new(3).activation("softmax").apply(&h);
    let mut functional = Model::new(&x, &out).unwrap();
    let mut sequential = Sequential::new(vec![
        Box::new(Dense::new(8).activation("gelu")),
        Box::new(Dense::new(3).activation("softmax")),
    ]);
    let data = arr(&lcg_values(3, 4 * 5), &[4, 5]);
    let a = functional.call(&data).unwrap();
    let b = sequential.call(&data).unwrap();
    assert_eq!(vals(&a), vals(&b));
    let rows = vals(&a);
    for r in rows.chunks(3) {
        assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-6);
    }
}

#[test]
fn functional_model_errors() {
    let x = Input::new(&[3]);
    let layer_out = Dense::new(2).apply(&x);
    Model::new(&x, &layer_out).unwrap();
    let err = Model::new(&x, &layer_out).unwrap_err().to_string();
    assert!(err.contains("already belongs to another model"), "{err}");
    let other = Input::new(&[3]);
    let err = Model::new(&other, &Dense::new(2).apply(&x))
        .unwrap_err()
        .to_string();
    assert!(err.contains("do not come from the given inputs"), "{err}");
    let bad = Input::new(&[3]);
    let err = Model::new(&bad, &Dense::new(2).activation("nope").apply(&bad))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("layer 'dense' (Dense)") && err.contains("unknown activation 'nope'"),
        "{err}"
    );
}

#[test]
fn summary_prints_the_keras_table() {
    let mut model = Sequential::new(vec![
        Box::new(Dense::new(128).activation("relu")),
        Box::new(Dropout::new(0.2)),
        Box::new(Dense::new(10)),
    ])
    .with_input_shape(&[64]);
    // 64·128 + 128 = 8320 and 128·10 + 10 = 1290 parameters; 9610 f32 are
    // 38440 bytes = 37.54 KiB.
    let expected = "\
Model: \"sequential\"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense (Dense)                   │ (None, 128)            │         8,320 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dropout (Dropout)               │ (None, 128)            │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 10)             │         1,290 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 9,610 (37.54 KB)
 Trainable params: 9,610 (37.54 KB)
 Non-trainable params: 0 (0.00 B)
";
    assert_eq!(model.summary().unwrap(), expected);
    assert_eq!(model.count_params().unwrap(), (9610, 0));
}

#[test]
fn summary_of_an_unbuilt_model_without_input_shape_is_an_error() {
    let mut model = Sequential::new(vec![Box::new(Dense::new(1))]);
    let err = model.summary().unwrap_err().to_string();
    assert!(err.contains("not built yet"), "{err}");
}

#[test]
fn functional_summary_has_an_input_row() {
    let x = Input::new(&[4]);
    let mut model = Model::new(&x, &Dense::new(2).apply(&x)).unwrap();
    let text = model.summary().unwrap();
    assert!(text.starts_with("Model: \"functional\"\n"), "{text}");
    assert_contains_all(
        &text,
        &[
            "│ input_layer (InputLayer)        │ (None, 4)              │             0 │",
            " Total params: 10 (40.00 B)",
        ],
    );
}

#[test]
fn predict_in_batches_equals_the_unbatched_forward_pass() {
    let mut model = Sequential::new(vec![
        Box::new(Dense::new(16).activation("tanh")),
        Box::new(Dense::new(3)),
    ]);
    let x = arr(&lcg_values(4, 23 * 6), &[23, 6]);
    let batched = model.predict(&x, 5).unwrap();
    let whole = model.call(&x).unwrap();
    assert_eq!(batched.shape(), &[23, 3]);
    assert_close(&vals(&batched), &vals(&whole), 1e-6, "predict");
    let stats = model.predict_step_stats().unwrap();
    assert_eq!(
        stats.traces, 2,
        "one trace for batches of 5, one for the last 3"
    );
    assert_eq!(stats.cache_hits, 3);
    let single = model.predict(&x, 100).unwrap();
    assert_close(&vals(&single), &vals(&whole), 1e-6, "one batch");
}

#[test]
fn stateless_call_is_pure_and_jits() {
    let mut model = Sequential::new(vec![Box::new(Dense::new(2).activation("sigmoid"))]);
    model.build(&[3]).unwrap();
    let x = arr(&lcg_values(5, 12), &[4, 3]);
    let nt = model.weights().non_trainable.clone();
    let eager = model
        .stateless_call(&model.weights().trainable, &nt, &x, false, None)
        .unwrap()
        .0;
    let f = jit(|w: &Vec<Array>| model.stateless_call(w, &nt, &x, false, None).unwrap().0);
    let jitted = f(&model.weights().trainable);
    assert_close(&vals(&jitted), &vals(&eager), 1e-6, "jit");
    let wrong = vec![
        jnp::zeros(&[2, 2], DType::F32),
        jnp::zeros(&[2], DType::F32),
    ];
    let err = model
        .stateless_call(&wrong, &nt, &x, false, None)
        .unwrap_err();
    assert!(matches!(err, Error::WeightsMismatch { .. }), "{err}");
}

#[test]
fn dropout_scales_in_training_and_is_the_identity_in_inference() {
    let mut layer = Dropout::new(0.25);
    layer.build(&[10_000], &random::key(0)).unwrap();
    let x = jnp::full(&[1, 10_000], 3.0, DType::F32);
    let key = random::key(42);
    let train = CallContext {
        training: true,
        key: Some(&key),
    };
    let y = vals(&layer.call(&[], &x, &train).output);
    let kept = y.iter().filter(|&&v| v != 0.0).count();
    assert!(
        y.iter().all(|&v| v == 0.0 || (v - 4.0).abs() < 1e-6),
        "kept values are 3 / 0.75"
    );
    // 7500 expected kept, standard deviation about 43.
    assert!((7300..7700).contains(&kept), "kept {kept}");
    let again = vals(&layer.call(&[], &x, &train).output);
    assert_eq!(y, again, "same key, same mask");
    let infer = CallContext {
        training: false,
        key: Some(&key),
    };
    assert_eq!(vals(&layer.call(&[], &x, &infer).output), vec![3.0; 10_000]);
    let no_key = CallContext {
        training: true,
        key: None,
    };
    assert_eq!(
        vals(&layer.call(&[], &x, &no_key).output),
        vec![3.0; 10_000]
    );
    let err = Dropout::new(1.0).build(&[3], &key).unwrap_err().to_string();
    assert!(err.contains("rate must be in [0, 1)"), "{err}");
}

#[test]
fn initializers_have_the_keras_scales() {
    let key = random::key(9);
    let shape = [200, 300];
    let stats = |init: Initializer| {
        let v = vals(&init.init(&key, &shape, DType::F32));
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
        let max = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        (mean, var.sqrt(), max)
    };
    // Glorot uniform: U(-l, l) with l = sqrt(6 / 500); std l / sqrt(3).
    let limit = (6.0f64 / 500.0).sqrt();
    let (mean, std, max) = stats(Initializer::GlorotUniform);
    assert!(mean.abs() < 0.002 && max <= limit, "{mean} {max}");
    assert!((std - limit / 3f64.sqrt()).abs() < 0.01 * limit, "{std}");
    // He normal: standard deviation sqrt(2 / fan_in) = 0.1, within 2 std.
    let (mean, std, max) = stats(Initializer::HeNormal);
    assert!(
        mean.abs() < 0.002 && (std - 0.1).abs() < 0.002 && max <= 0.2 / 0.879_625_661 + 1e-6,
        "{mean} {std} {max}"
    );
    // Glorot normal: standard deviation sqrt(2 / 500).
    let (_, std, _) = stats(Initializer::GlorotNormal);
    assert!((std - (2.0f64 / 500.0).sqrt()).abs() < 0.002, "{std}");
    let (_, std, max) = stats(Initializer::HeUniform);
    let he_limit = (6.0f64 / 200.0).sqrt();
    assert!(max <= he_limit && (std - he_limit / 3f64.sqrt()).abs() < 0.01 * he_limit);
    assert_eq!(stats(Initializer::Zeros), (0.0, 0.0, 0.0));
    assert_eq!(
        vals(&Initializer::Ones.init(&key, &[3], DType::F32)),
        vec![1.0; 3]
    );
    assert!(Initializer::from_name("glorot").is_err());
}

#[test]
fn flatten_and_reshape_shapes() {
    let mut model = Sequential::new(vec![
        Box::new(Reshape::new(&[3, -1])),
        Box::new(Flatten::new()),
        Box::new(Dense::new(2)),
    ]);
    let y = model.call(&jnp::ones(&[4, 12], DType::F32)).unwrap();
    assert_eq!(y.shape(), &[4, 2]);
    let mut bad = Sequential::new(vec![Box::new(Reshape::new(&[5, -1]))]);
    let err = bad
        .call(&jnp::ones(&[4, 12], DType::F32))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("layer 'reshape' (Reshape)") && err.contains("do not divide"),
        "{err}"
    );
}

#[test]
fn wrong_example_shape_for_a_built_model_is_an_error() {
    let mut model = Sequential::new(vec![Box::new(Dense::new(2))]);
    model.build(&[3]).unwrap();
    let err = model
        .predict(&jnp::ones(&[4, 5], DType::F32), 2)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("expects examples of shape [3]") && err.contains("[4, 5]"),
        "{err}"
    );
    let err = model
        .predict(&jnp::ones(&[4, 3], DType::F32), 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("batch_size must be at least 1"), "{err}");
}

#[test]
fn save_and_load_round_trip_exactly() {
    let dir = std::env::temp_dir().join(format!("rjax_keras_models_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    let make = |seed| {
        let mut m = Sequential::new(vec![
            Box::new(Dense::new(4).activation("relu")),
            Box::new(Dense::new(2)),
        ])
        .with_seed(seed);
        m.build(&[3]).unwrap();
        m
    };
    let source = make(1);
    source.save_weights(&path).unwrap();
    let mut target = make(2);
    assert_ne!(
        vals(&target.weights().trainable[0]),
        vals(&source.weights().trainable[0])
    );
    target.load_weights(&path).unwrap();
    for (a, b) in target
        .weights()
        .trainable
        .iter()
        .zip(&source.weights().trainable)
    {
        assert_eq!(a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
        assert_eq!(a.shape(), b.shape());
    }

    // Another architecture: a different width is a shape mismatch.
    let mut wider = Sequential::new(vec![
        Box::new(Dense::new(5).activation("relu")),
        Box::new(Dense::new(2)),
    ]);
    wider.build(&[3]).unwrap();
    let before = vals(&wider.weights().trainable[0]);
    let err = wider.load_weights(&path).unwrap_err();
    assert!(matches!(err, Error::WeightsMismatch { .. }), "{err}");
    assert!(err.to_string().contains("dense/kernel"), "{err}");
    assert_eq!(
        vals(&wider.weights().trainable[0]),
        before,
        "nothing replaced"
    );

    // Another depth: missing and extra names.
    let mut deeper = Sequential::new(vec![
        Box::new(Dense::new(4)),
        Box::new(Dense::new(2)),
        Box::new(Dense::new(1)),
    ]);
    deeper.build(&[3]).unwrap();
    let err = deeper.load_weights(&path).unwrap_err();
    assert!(matches!(err, Error::WeightsMismatch { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("missing from the file: dense_2/bias, dense_2/kernel"),
        "{err}"
    );
    let mut shallow = Sequential::new(vec![Box::new(Dense::new(4))]);
    shallow.build(&[3]).unwrap();
    let err = shallow.load_weights(&path).unwrap_err().to_string();
    assert!(
        err.contains("not in the model: dense_1/bias, dense_1/kernel"),
        "{err}"
    );

    // Files that are missing or not safetensors.
    let err = target
        .load_weights(dir.join("absent.safetensors"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Io {
                op: "load_weights",
                ..
            }
        ),
        "{err}"
    );
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"not a safetensors file").unwrap();
    let err = target.load_weights(&garbage).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    let err = source
        .save_weights(dir.join("no/such/dir/w.safetensors"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Io {
                op: "save_weights",
                ..
            }
        ),
        "{err}"
    );
    let unbuilt = Sequential::new(vec![Box::new(Dense::new(1))]);
    assert!(unbuilt
        .save_weights(&path)
        .unwrap_err()
        .to_string()
        .contains("not built"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn saved_file_is_plain_safetensors_with_keras_names() {
    let path = std::env::temp_dir().join(format!(
        "rjax_keras_names_{}.safetensors",
        std::process::id()
    ));
    let mut model = Sequential::new(vec![Box::new(
        Dense::new(2).kernel_initializer(Initializer::Constant(0.5)),
    )]);
    model.build(&[3]).unwrap();
    model.save_weights(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort();
    assert_eq!(names, ["dense/bias", "dense/kernel"]);
    let kernel = file.tensor("dense/kernel").unwrap();
    assert_eq!(kernel.shape(), &[3, 2]);
    assert_eq!(kernel.dtype(), safetensors::Dtype::F32);
    let values: Vec<f32> = kernel
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(values, vec![0.5; 6]);
    std::fs::remove_file(&path).unwrap();
}

/// An activation's f64 formula.
type Formula = fn(f64) -> f64;

#[test]
fn activations_match_their_formulas() {
    let xs = [-2.5, -0.5, 0.0, 0.75, 3.0];
    let x = arr(&xs, &[1, 5]);
    let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
    let cases: [(&str, Formula); 7] = [
        ("linear", |v| v),
        ("relu", |v| v.max(0.0)),
        ("relu6", |v| v.clamp(0.0, 6.0)),
        ("sigmoid", |v| 1.0 / (1.0 + (-v).exp())),
        ("tanh", f64::tanh),
        ("softplus", |v| (1.0 + v.exp()).ln()),
        ("exponential", f64::exp),
    ];
    let ctx = CallContext {
        training: false,
        key: None,
    };
    for (name, f) in cases {
        let mut layer = Activation::new(name);
        layer.build(&[5], &random::key(0)).unwrap();
        let expected: Vec<f64> = xs.iter().map(|&v| f(v)).collect();
        assert_close(
            &vals(&layer.call(&[], &x, &ctx).output),
            &expected,
            1e-6,
            name,
        );
    }
    let silu: Vec<f64> = xs.iter().map(|&v| v * sigmoid(v)).collect();
    let y = Activation::new("swish").call(&[], &x, &ctx).output;
    assert_close(&vals(&y), &silu, 1e-6, "swish");
    let total: f64 = xs.iter().map(|v| v.exp()).sum();
    let softmax: Vec<f64> = xs.iter().map(|v| v.exp() / total).collect();
    let y = Activation::new("softmax").call(&[], &x, &ctx).output;
    assert_close(&vals(&y), &softmax, 1e-6, "softmax");
    let log_softmax: Vec<f64> = softmax.iter().map(|p| p.ln()).collect();
    let y = Activation::new("log_softmax").call(&[], &x, &ctx).output;
    assert_close(&vals(&y), &log_softmax, 1e-5, "log_softmax");
    let err = Activation::new("relux")
        .build(&[5], &random::key(0))
        .unwrap_err();
    assert!(
        err.to_string().contains("unknown activation 'relux'"),
        "{err}"
    );
}

#[test]
fn adding_a_layer_to_a_built_model_rebuilds_it() {
    let mut model = Sequential::new(vec![Box::new(Dense::new(4))]);
    let x = jnp::ones(&[2, 3], DType::F32);
    assert_eq!(model.call(&x).unwrap().shape(), &[2, 4]);
    let first_kernel = vals(&model.weights().trainable[0]);
    model.add(Dense::new(2));
    assert!(!model.built());
    assert_eq!(model.layer_names(), ["dense", "dense_1"]);
    assert_eq!(model.call(&x).unwrap().shape(), &[2, 2]);
    assert_eq!(model.weights().trainable.len(), 4);
    assert_eq!(
        vals(&model.weights().trainable[0]),
        first_kernel,
        "same seed, same draw"
    );
}

#[test]
fn vmap_sees_through_stateless_call() {
    let mut model = Sequential::new(vec![
        Box::new(Dense::new(5).activation("tanh")),
        Box::new(Dense::new(2)),
    ]);
    model.build(&[3]).unwrap();
    let (tw, nt) = (
        model.weights().trainable.clone(),
        model.weights().non_trainable.clone(),
    );
    let x = arr(&lcg_values(13, 6 * 3), &[6, 3]);
    let per_example = |row: &Array| {
        let (y, _) = model
            .stateless_call(&tw, &nt, &row.reshape(&[1, 3]), false, None)
            .unwrap();
        y.reshape(&[2])
    };
    let mapped = rjax::vmap(per_example)(&x);
    let batched = model.stateless_call(&tw, &nt, &x, false, None).unwrap().0;
    assert_eq!(mapped.shape(), &[6, 2]);
    assert_close(&vals(&mapped), &vals(&batched), 1e-6, "vmap");
}

#[test]
fn loading_weights_of_another_dtype_is_an_error() {
    use safetensors::tensor::{serialize, Dtype, TensorView};
    let path = std::env::temp_dir().join(format!(
        "rjax_keras_dtype_{}.safetensors",
        std::process::id()
    ));
    // A file with the right names and shapes, but an f64 kernel.
    let kernel: Vec<u8> = [0.5f64; 6].iter().flat_map(|v| v.to_le_bytes()).collect();
    let bias: Vec<u8> = [0.0f32; 2].iter().flat_map(|v| v.to_le_bytes()).collect();
    let views = vec![
        (
            "dense/kernel",
            TensorView::new(Dtype::F64, vec![3, 2], &kernel).unwrap(),
        ),
        (
            "dense/bias",
            TensorView::new(Dtype::F32, vec![2], &bias).unwrap(),
        ),
    ];
    std::fs::write(&path, serialize(views, None).unwrap()).unwrap();
    let mut model = Sequential::new(vec![Box::new(Dense::new(2))]);
    model.build(&[3]).unwrap();
    let err = model.load_weights(&path).unwrap_err();
    assert!(matches!(err, Error::WeightsMismatch { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("weight 'dense/kernel' is f32[3, 2] in the model, got f64[3, 2]"),
        "{err}"
    );
    std::fs::remove_file(&path).unwrap();
}
