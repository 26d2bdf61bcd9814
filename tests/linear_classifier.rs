//! The chapter-3 linear classifier against an independently computed
//! reference (`data/linear_classifier/`): from the same start, each way of
//! training (eager `grad`, jitted `value_and_grad`, Keras `fit`) must match
//! the reference loss before every one of the 40 steps within 1e-4
//! relative, and the final `W`, `b` and accuracy.

#[path = "../examples/common/linear.rs"]
mod linear;

use linear::{Dataset, Params, Trained};
use rjax::{Array, Error, Result};
use std::path::Path;

/// Relative tolerance on every loss and parameter.
const RTOL: f32 = 1e-4;

/// The reference run of `data/linear_classifier/reference.json`.
struct Reference {
    init: Params,
    losses: Vec<f32>,
    w_final: Vec<f32>,
    b_final: Vec<f32>,
    accuracy: f32,
    steps: usize,
}

fn floats(json: &serde_json::Value, key: &str) -> Vec<f32> {
    json[key]
        .as_array()
        .unwrap_or_else(|| panic!("reference.json: `{key}` is not a list"))
        .iter()
        .map(|v| v.as_f64().expect("reference.json: a number") as f32)
        .collect()
}

fn reference() -> (Dataset, Reference) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/linear_classifier");
    let data = linear::load_points(&dir.join("points.csv")).expect("points.csv");
    let text = std::fs::read_to_string(dir.join("reference.json")).expect("reference.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("reference.json parses");
    let learning_rate = json["learning_rate"].as_f64().map(|v| v as f32);
    assert_eq!(
        learning_rate,
        Some(linear::LEARNING_RATE),
        "reference.json: learning rate"
    );
    let w = floats(&json, "W_init");
    let b = floats(&json, "b_init");
    let reference = Reference {
        init: (
            Array::from_vec(w, &[2, 1]).expect("W_init"),
            Array::from_vec(b, &[1]).expect("b_init"),
        ),
        losses: floats(&json, "losses"),
        w_final: floats(&json, "W_final"),
        b_final: floats(&json, "b_final"),
        accuracy: json["accuracy_final"].as_f64().expect("accuracy_final") as f32,
        steps: json["steps"].as_u64().expect("steps") as usize,
    };
    (data, reference)
}

fn assert_close(way: &str, what: &str, actual: &[f32], expected: &[f32]) {
    assert_eq!(actual.len(), expected.len(), "{way}: number of {what}");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= RTOL * e.abs(),
            "{way}: {what}[{i}] = {a}, reference {e} (relative error {:.2e})",
            ((a - e) / e).abs()
        );
    }
}

/// Checks one way's run against the reference.
fn check(way: &str, run: Result<Trained>) {
    let (data, reference) = reference();
    let run = run.unwrap_or_else(|e| panic!("{way}: {e}"));
    assert_close(way, "losses", &run.losses, &reference.losses);
    let w = run.params.0.to_vec::<f32>().expect("W");
    let b = run.params.1.to_vec::<f32>().expect("b");
    assert_close(way, "W", &w, &reference.w_final);
    assert_close(way, "b", &b, &reference.b_final);
    let predictions = linear::predict(&run.params, &data.x);
    let accuracy = linear::accuracy(&predictions, &data.y).expect("accuracy");
    // Both are counts out of 2000 points: equal to within half a point.
    let n = data.y.shape()[0] as f32;
    assert!(
        (accuracy - reference.accuracy).abs() < 0.5 / n,
        "{way}: final accuracy {accuracy}, reference {}",
        reference.accuracy
    );
}

#[test]
fn reference_data_is_the_chapters() {
    let (data, reference) = reference();
    assert_eq!(data.x.shape(), &[2000, 2]);
    assert_eq!(reference.steps, 40);
    let y = data.y.to_vec::<f32>().expect("targets");
    assert!(y[..1000].iter().all(|t| *t == 0.0) && y[1000..].iter().all(|t| *t == 1.0));
}

#[test]
fn eager_grad_matches_reference() {
    let (data, reference) = reference();
    check(
        "eager",
        linear::train_eager(&data, &reference.init, reference.steps),
    );
}

#[test]
fn jit_value_and_grad_matches_reference() {
    let (data, reference) = reference();
    check(
        "jit",
        linear::train_jit(&data, &reference.init, reference.steps),
    );
}

#[test]
fn keras_fit_matches_reference() {
    let (data, reference) = reference();
    let (trained, history) = linear::train_keras(&data, &reference.init, reference.steps, 0.0, 0)
        .unwrap_or_else(|e| panic!("keras: {e}"));
    check("keras", Ok(trained));
    // One epoch per step, each logging the binary accuracy.
    assert_eq!(history.epochs, (0..reference.steps).collect::<Vec<_>>());
    assert_eq!(
        history.get("binary_accuracy").map(<[f64]>::len),
        Some(reference.steps)
    );
}

#[test]
fn bad_point_files_are_typed_errors() {
    let missing = linear::load_points(Path::new("/nonexistent/points.csv"));
    assert!(
        matches!(
            missing,
            Err(Error::Io {
                op: "load_points",
                ..
            })
        ),
        "{missing:?}"
    );
    let dir = std::env::temp_dir();
    for (name, text, expected) in [
        (
            "header",
            "a,b,c\n1,2,0\n",
            "expected the header `x0,x1,target`",
        ),
        (
            "fields",
            "x0,x1,target\n1,2,0\n1,2\n",
            "line 3: expected 3 fields, found 2",
        ),
        (
            "number",
            "x0,x1,target\n1,two,0\n",
            "line 2: invalid float literal",
        ),
        (
            "target",
            "x0,x1,target\n1,2,0.5\n",
            "line 2: target 0.5 is neither 0 nor 1",
        ),
    ] {
        let path = dir.join(format!("rjax-points-{}-{name}.csv", std::process::id()));
        std::fs::write(&path, text).expect("temp file");
        match linear::load_points(&path) {
            Err(e @ Error::Op { .. }) => assert!(e.to_string().contains(expected), "{name}: {e}"),
            other => panic!("{name}: expected an Op error containing `{expected}`, got {other:?}"),
        }
        std::fs::remove_file(&path).ok();
    }
}
