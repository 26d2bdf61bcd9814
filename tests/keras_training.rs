//! Keras training: `fit` learns, equals a hand-written jitted SGD loop step
//! by step, compiles its step at most twice per epoch shape, validates,
//! stops early, and rejects bad input before training.

mod keras_util;

use keras_util::{
    affine, arr, assert_close, lcg_values, vals, weight_names, LabelChecking, MaeMetric, Mse,
    PlainSgd, Recorder,
};
use rjax::keras::callbacks::EarlyStopping;
use rjax::keras::initializers::Initializer;
use rjax::keras::layers::{Dense, Dropout};
use rjax::keras::models::Sequential;
use rjax::keras::training::FitConfig;
use rjax::{jit, jnp, value_and_grad, Array, DType};

/// `y = x @ [2, -3] + 0.5` on `n` points in [-1, 1)².
fn linear_data(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let x = lcg_values(seed, n * 2);
    let y = affine(&x, &[2.0, -3.0], &[0.5], n, 2, 1);
    (x, y)
}

fn quiet(epochs: usize, batch_size: usize) -> FitConfig {
    FitConfig {
        epochs,
        batch_size,
        verbose: 0,
        ..Default::default()
    }
}

fn linear_model() -> Sequential {
    let mut model = Sequential::new(vec![Box::new(Dense::new(1))]).with_seed(5);
    model
        .compile(PlainSgd(0.1), Mse, vec![MaeMetric.into()])
        .unwrap();
    model
}

#[test]
fn sequential_dense_learns_a_linear_regression() {
    let (x, y) = linear_data(256, 1);
    let mut model = linear_model();
    let history = model
        .fit(&arr(&x, &[256, 2]), &arr(&y, &[256, 1]), quiet(60, 16))
        .unwrap();
    let loss = history.loss();
    assert_eq!(loss.len(), 60);
    assert!(loss[59] < loss[0] * 1e-3, "{} -> {}", loss[0], loss[59]);
    // Falls every epoch until it reaches float noise.
    for (epoch, w) in loss.windows(2).enumerate() {
        assert!(w[1] < w[0] || w[1] < 1e-9, "epoch {epoch}: {loss:?}");
    }
    assert!(history.get("mae").unwrap()[59] < 0.01);
    let w = &model.weights().trainable;
    assert_close(&vals(&w[0]), &[2.0, -3.0], 0.01, "kernel");
    assert_close(&vals(&w[1]), &[0.5], 0.01, "bias");
}

#[test]
fn fit_equals_a_hand_written_jitted_sgd_loop() {
    let (n, batch, epochs, lr) = (20, 8, 3, 0.1);
    let (x, y) = linear_data(n, 2);
    let mut model = Sequential::new(vec![Box::new(Dense::new(1))]).with_seed(3);
    model.build(&[2]).unwrap();
    model.compile(PlainSgd(lr), Mse, vec![]).unwrap();
    let start = model.weights().trainable.clone();
    let recorder = Recorder::default();
    let config = FitConfig {
        epochs,
        batch_size: batch,
        shuffle: false,
        callbacks: vec![Box::new(recorder.clone())],
        verbose: 0,
        ..Default::default()
    };
    let history = model
        .fit(&arr(&x, &[n, 2]), &arr(&y, &[n, 1]), config)
        .unwrap();

    // The same training written by hand: batches 0..8, 8..16, 16..20.
    let step = jit(|(w, b, xb, yb): &(Array, Array, Array, Array)| {
        let loss = |p: &(Array, Array)| (xb.matmul(&p.0) + &p.1 - yb).square().mean();
        let (l, (gw, gb)) = value_and_grad(loss)(&(w.clone(), b.clone()));
        (l, w - gw * lr, b - gb * lr)
    });
    let (mut w, mut b) = (start[0].clone(), start[1].clone());
    let recorded = recorder.0.lock().unwrap().clone();
    assert_eq!(recorded.len(), epochs);
    for (epoch, fitted) in recorded.iter().enumerate() {
        let mut weighted = 0.0;
        for lo in (0..n).step_by(batch) {
            let hi = (lo + batch).min(n);
            let xb = arr(&x[lo * 2..hi * 2], &[hi - lo, 2]);
            let yb = arr(&y[lo..hi], &[hi - lo, 1]);
            let (l, nw, nb) = step(&(w, b, xb, yb));
            weighted += l.item::<f32>().unwrap() as f64 * (hi - lo) as f64;
            (w, b) = (nw, nb);
        }
        let fitted = &fitted.trainable;
        assert_close(&vals(&fitted[0]), &vals(&w), 1e-6, "kernel after epoch");
        assert_close(&vals(&fitted[1]), &vals(&b), 1e-6, "bias after epoch");
        assert_close(
            &[history.loss()[epoch]],
            &[weighted / n as f64],
            1e-6,
            "epoch loss",
        );
    }
}

#[test]
fn an_epoch_compiles_the_step_at_most_twice() {
    let (x, y) = linear_data(100, 3);
    let mut model = linear_model();
    // 100 examples in batches of 32: three full batches and one of 4.
    model
        .fit(&arr(&x, &[100, 2]), &arr(&y, &[100, 1]), quiet(3, 32))
        .unwrap();
    let stats = model.train_step_stats().unwrap();
    assert_eq!(stats.traces, 2, "{stats:?}");
    assert_eq!(stats.cache_hits, 3 * 4 - 2);
    // A second fit reuses the compiled step.
    model
        .fit(&arr(&x, &[100, 2]), &arr(&y, &[100, 1]), quiet(1, 32))
        .unwrap();
    assert_eq!(model.train_step_stats().unwrap().traces, 2);
}

#[test]
fn validation_split_holds_out_the_last_examples() {
    let (x, y) = linear_data(50, 4);
    let mut model = linear_model();
    let config = FitConfig {
        validation_split: 0.2,
        ..quiet(2, 8)
    };
    let history = model
        .fit(&arr(&x, &[50, 2]), &arr(&y, &[50, 1]), config)
        .unwrap();
    // Validation: the last 10 examples, evaluated with the final weights.
    let w = &model.weights().trainable;
    let pred = affine(&x[80..], &vals(&w[0]), &vals(&w[1]), 10, 2, 1);
    let mse = pred
        .iter()
        .zip(&y[40..])
        .map(|(p, t)| (p - t).powi(2))
        .sum::<f64>()
        / 10.0;
    let mae = pred
        .iter()
        .zip(&y[40..])
        .map(|(p, t)| (p - t).abs())
        .sum::<f64>()
        / 10.0;
    assert_close(
        &[history.get("val_loss").unwrap()[1]],
        &[mse],
        1e-5,
        "val_loss",
    );
    assert_close(
        &[history.get("val_mae").unwrap()[1]],
        &[mae],
        1e-5,
        "val_mae",
    );
    let logs = model
        .evaluate(&arr(&x[80..], &[10, 2]), &arr(&y[40..], &[10, 1]), 3)
        .unwrap();
    assert_close(&[logs.get("loss").unwrap()], &[mse], 1e-5, "evaluate");
}

#[test]
fn early_stopping_stops_and_restores_the_best_weights() {
    // Trained towards y = x, validated on y = -x: starting from a zero
    // kernel, every epoch makes the validation loss worse, so the best
    // epoch is the first.
    let xs = lcg_values(6, 64);
    let neg: Vec<f64> = xs.iter().map(|v| -v).collect();
    let run = |restore: bool| {
        let mut model = Sequential::new(vec![Box::new(
            Dense::new(1)
                .kernel_initializer(Initializer::Zeros)
                .use_bias(false),
        )]);
        model.compile(PlainSgd(0.05), Mse, vec![]).unwrap();
        let recorder = Recorder::default();
        let stopper = EarlyStopping::new("val_loss")
            .patience(2)
            .restore_best_weights(restore);
        let config = FitConfig {
            validation_data: Some((arr(&xs, &[64, 1]), arr(&neg, &[64, 1]))),
            callbacks: vec![Box::new(recorder.clone()), Box::new(stopper)],
            ..quiet(20, 16)
        };
        let history = model
            .fit(&arr(&xs, &[64, 1]), &arr(&xs, &[64, 1]), config)
            .unwrap();
        let recorded = recorder.0.lock().unwrap().clone();
        (history, recorded, vals(&model.weights().trainable[0]))
    };
    let (history, recorded, final_kernel) = run(true);
    let val = history.get("val_loss").unwrap();
    assert!(val[1] > val[0] && val[2] > val[1], "{val:?}");
    assert_eq!(history.epochs, vec![0, 1, 2], "stopped after patience 2");
    assert_eq!(recorded.len(), 3);
    assert_eq!(
        final_kernel,
        vals(&recorded[0].trainable[0]),
        "restored epoch 0"
    );
    assert_ne!(final_kernel, vals(&recorded[2].trainable[0]));
    let (history, recorded, final_kernel) = run(false);
    assert_eq!(history.epochs.len(), 3);
    assert_eq!(
        final_kernel,
        vals(&recorded[2].trainable[0]),
        "not restored"
    );
}

#[test]
fn dropout_training_is_reproducible_from_the_seed() {
    let (x, y) = linear_data(64, 7);
    let run = |seed: u64| {
        let mut model = Sequential::new(vec![
            Box::new(Dense::new(8).activation("relu")),
            Box::new(Dropout::new(0.5)),
            Box::new(Dense::new(1)),
        ]);
        model.compile(PlainSgd(0.05), Mse, vec![]).unwrap();
        let config = FitConfig {
            seed,
            ..quiet(2, 16)
        };
        model
            .fit(&arr(&x, &[64, 2]), &arr(&y, &[64, 1]), config)
            .unwrap();
        vals(&model.weights().trainable[2])
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn bad_input_is_rejected_before_training() {
    let (x, y) = linear_data(10, 8);
    let (x, y) = (arr(&x, &[10, 2]), arr(&y, &[10, 1]));
    let mut model = linear_model();
    model.build(&[2]).unwrap();
    let before = vals(&model.weights().trainable[0]);
    let mut fit_err =
        |x: &Array, y: &Array, config: FitConfig| model.fit(x, y, config).unwrap_err().to_string();
    let err = fit_err(&x, &arr(&[0.0; 9], &[9, 1]), quiet(1, 4));
    assert!(err.contains("x has 10 examples but y has 9"), "{err}");
    let err = fit_err(&arr(&[0.0; 30], &[10, 3]), &y, quiet(1, 4));
    assert!(err.contains("expects examples of shape [2]"), "{err}");
    let err = fit_err(&x, &y, quiet(1, 0));
    assert!(
        err.contains("batch_size must be at least 1, got 0"),
        "{err}"
    );
    let mut with_nan = vals(&x);
    with_nan[7] = f64::NAN;
    let err = fit_err(&arr(&with_nan, &[10, 2]), &y, quiet(1, 4));
    assert!(
        err.contains("x contains a non-finite value (NaN) in example 3"),
        "{err}"
    );
    let err = fit_err(&arr(&[], &[0, 2]), &arr(&[], &[0, 1]), quiet(1, 4));
    assert!(err.contains("hold no examples"), "{err}");
    let err = fit_err(
        &x,
        &y,
        FitConfig {
            validation_split: 1.5,
            ..quiet(1, 4)
        },
    );
    assert!(err.contains("validation_split must be in [0, 1)"), "{err}");
    let bad_val = Some((arr(&[0.0; 6], &[3, 2]), arr(&[0.0; 2], &[2, 1])));
    let err = fit_err(
        &x,
        &y,
        FitConfig {
            validation_data: bad_val,
            ..quiet(1, 4)
        },
    );
    assert!(
        err.contains("validation_data x has 3 examples but validation_data y has 2"),
        "{err}"
    );
    assert_eq!(vals(&model.weights().trainable[0]), before, "no step ran");
    assert!(model.train_step_stats().is_none(), "nothing was traced");
}

#[test]
fn labels_out_of_range_are_rejected_before_training() {
    let mut model = Sequential::new(vec![Box::new(Dense::new(3))]);
    model.compile(PlainSgd(0.1), LabelChecking, vec![]).unwrap();
    let x = jnp::ones(&[4, 2], DType::F32);
    let labels = Array::from_vec(vec![0i32, 2, 3, 1], &[4]).unwrap();
    let err = model.fit(&x, &labels, quiet(1, 2)).unwrap_err().to_string();
    assert!(err.contains("label 3 out of range [0, 3)"), "{err}");
    assert!(model.train_step_stats().is_none());
}

#[test]
fn uncompiled_models_and_unknown_names_are_errors() {
    let mut model = Sequential::new(vec![Box::new(Dense::new(1))]);
    let x = jnp::ones(&[4, 2], DType::F32);
    let err = model
        .fit(&x, &jnp::ones(&[4, 1], DType::F32), quiet(1, 2))
        .unwrap_err();
    assert!(err.to_string().contains("not compiled"), "{err}");
    assert!(model.compile("adamm", Mse, vec![]).is_err());
    assert!(model
        .compile(PlainSgd(0.1), "mean_squared_errr", vec![])
        .is_err());
    let err = model
        .compile(PlainSgd(0.1), Mse, vec!["accuracyy".into()])
        .unwrap_err();
    assert!(err.to_string().contains("accuracyy"), "{err}");
}

#[test]
fn keras_names_compile_and_train() {
    let (x, y) = linear_data(64, 9);
    let mut model = Sequential::new(vec![Box::new(Dense::new(1))]);
    model.compile("sgd", "mse", vec!["mean".into()]).unwrap();
    let history = model
        .fit(&arr(&x, &[64, 2]), &arr(&y, &[64, 1]), quiet(3, 16))
        .unwrap();
    assert!(history.loss()[2] < history.loss()[0]);
}

#[test]
fn early_stopping_maximizes_accuracies() {
    use rjax::keras::callbacks::{Callback, CallbackContext, Logs, Mode};
    use rjax::keras::models::ModelWeights;
    let feed = |stopper: &mut EarlyStopping, values: &[f64]| {
        let mut weights = ModelWeights::default();
        let mut ctx = CallbackContext::new(&mut weights);
        stopper.on_train_begin(&mut ctx).unwrap();
        for (epoch, v) in values.iter().enumerate() {
            let mut logs = Logs::default();
            logs.push("val_accuracy", *v);
            stopper.on_epoch_end(epoch, &logs, &mut ctx).unwrap();
            if ctx.stop_requested() {
                return Some(epoch);
            }
        }
        None
    };
    // Auto mode treats accuracy as higher-is-better: 0.7 at epoch 2 is the best.
    let mut auto = EarlyStopping::new("val_accuracy").patience(2);
    assert_eq!(feed(&mut auto, &[0.5, 0.6, 0.7, 0.65, 0.66, 0.9]), Some(4));
    assert_eq!(auto.best_epoch(), Some(2));
    // Forced min mode: 0.5 at epoch 0 is the best.
    let mut min = EarlyStopping::new("val_accuracy")
        .patience(2)
        .mode(Mode::Min);
    assert_eq!(feed(&mut min, &[0.5, 0.6, 0.7, 0.65]), Some(2));
    // min_delta: gains of 0.01 do not count as improvements.
    let mut delta = EarlyStopping::new("val_accuracy")
        .patience(1)
        .min_delta(0.05);
    assert_eq!(feed(&mut delta, &[0.5, 0.51, 0.52]), Some(1));
    let mut missing = EarlyStopping::new("val_auc");
    let mut weights = ModelWeights::default();
    let mut logs = Logs::default();
    logs.push("loss", 1.0);
    let err = missing
        .on_epoch_end(0, &logs, &mut CallbackContext::new(&mut weights))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("'val_auc' is not logged (logged: loss)"),
        "{err}"
    );
}

#[test]
fn functional_models_train_like_sequential_ones() {
    use rjax::keras::models::{Input, LayerApply, Model};
    let (x, y) = linear_data(128, 10);
    let input = Input::new(&[2]);
    let output = Dense::new(1).apply(&input);
    let mut model = Model::new(&input, &output).unwrap();
    model.compile(PlainSgd(0.1), Mse, vec![]).unwrap();
    let history = model
        .fit(&arr(&x, &[128, 2]), &arr(&y, &[128, 1]), quiet(40, 16))
        .unwrap();
    assert!(history.loss()[39] < 1e-4, "{:?}", history.loss());
    assert_close(
        &vals(&model.weights().trainable[0]),
        &[2.0, -3.0],
        0.01,
        "kernel",
    );
}

#[test]
fn batch_normalization_statistics_update_inside_the_training_step() {
    use rjax::keras::layers::BatchNormalization;
    // One full batch: the moving mean becomes (1 - momentum) · batch mean,
    // with the batch mean of the raw inputs (the first layer).
    let (n, momentum) = (40, 0.75);
    let xs = lcg_values(11, n * 3);
    let ys = lcg_values(12, n);
    let mut model = Sequential::new(vec![
        Box::new(BatchNormalization::new().momentum(momentum)),
        Box::new(Dense::new(1)),
    ]);
    model.compile(PlainSgd(0.01), Mse, vec![]).unwrap();
    let config = FitConfig {
        shuffle: false,
        ..quiet(1, n)
    };
    model
        .fit(&arr(&xs, &[n, 3]), &arr(&ys, &[n, 1]), config)
        .unwrap();
    let names = weight_names(&model);
    assert_eq!(
        names[4..],
        [
            "batch_normalization/moving_mean",
            "batch_normalization/moving_variance"
        ]
    );
    let state = &model.weights().non_trainable;
    let expected: Vec<f64> = (0..3)
        .map(|j| (1.0 - momentum) * (0..n).map(|i| xs[i * 3 + j]).sum::<f64>() / n as f64)
        .collect();
    assert_close(&vals(&state[0]), &expected, 1e-5, "moving_mean");
}

#[test]
fn progress_lines_are_printed_once_per_epoch() {
    // Run as a child process with standard error piped (not a terminal), so
    // verbose = 1 prints one plain line per epoch on standard output.
    const CHILD: &str = "RJAX_KERAS_PROGRESS_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let (x, y) = linear_data(40, 14);
        let mut model = linear_model();
        let (x, y) = (arr(&x, &[40, 2]), arr(&y, &[40, 1]));
        println!("silent start");
        model.fit(&x, &y, quiet(2, 16)).unwrap();
        println!("silent end");
        let config = FitConfig {
            epochs: 2,
            batch_size: 16,
            validation_split: 0.25,
            ..Default::default()
        };
        model.fit(&x, &y, config).unwrap();
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "progress_lines_are_printed_once_per_epoch",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let silent: Vec<&str> = stdout
        .lines()
        .skip_while(|l| *l != "silent start")
        .take_while(|l| *l != "silent end")
        .collect();
    assert_eq!(silent, ["silent start"], "verbose 0 prints nothing");
    let epochs: Vec<&str> = stdout.lines().filter(|l| l.starts_with("Epoch ")).collect();
    assert_eq!(epochs.len(), 2, "{stdout}");
    for (i, line) in epochs.iter().enumerate() {
        // 30 training examples in batches of 16: 2 steps.
        let head = format!("Epoch {}/2  2/2 {} ", i + 1, "━".repeat(20));
        let rest = line.strip_prefix(&head).unwrap_or_else(|| panic!("{line}"));
        let (secs, logs) = rest.split_once("s ").unwrap();
        assert!(secs.parse::<f64>().is_ok(), "{line}");
        let names: Vec<&str> = logs
            .split(" - ")
            .map(|kv| kv.split_once(": ").unwrap().0)
            .collect();
        assert_eq!(names, ["loss", "mae", "val_loss", "val_mae"], "{line}");
        for kv in logs.split(" - ") {
            let value = kv.split_once(": ").unwrap().1;
            assert!(
                value.parse::<f64>().is_ok() && value.split('.').nth(1).unwrap().len() == 4,
                "{line}"
            );
        }
    }
}
