//! Loading the handwritten digits (`data/digits.csv.gz`) and the fixed-key
//! train/test split the digits MLP example uses; malformed files give typed
//! errors; the example's MLP reaches 95% test accuracy and its saved
//! weights reload into a fresh model.

#[path = "../examples/common/digits.rs"]
mod digits;

use flate2::{write::GzEncoder, Compression};
use rjax::keras::callbacks::EarlyStopping;
use rjax::keras::layers::Dense;
use rjax::keras::models::Sequential;
use rjax::keras::training::FitConfig;
use rjax::prelude::*;
use rjax::Error;
use std::io::Write;
use std::path::PathBuf;

/// Images per label in the file, counted with Python's `gzip` and `csv`.
const LABEL_COUNTS: [usize; 10] = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180];

fn label_counts(labels: &Array) -> [usize; 10] {
    let mut counts = [0; 10];
    for label in labels.to_vec::<i32>().expect("i32 labels") {
        counts[label as usize] += 1;
    }
    counts
}

/// Writes `text` gzip-compressed to a fresh file named after `name`.
fn gzip_file(name: &str, text: &[u8]) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("rjax-digits-{}-{name}.csv.gz", std::process::id()));
    let mut encoder = GzEncoder::new(
        std::fs::File::create(&path).expect("temp file"),
        Compression::fast(),
    );
    encoder.write_all(text).expect("write");
    encoder.finish().expect("finish");
    path
}

#[test]
fn loads_every_image_scaled_to_unit_range() {
    let d = digits::load(&digits::default_path()).expect("digits load");
    assert_eq!(d.x.shape(), &[1797, 64]);
    assert_eq!(d.labels.shape(), &[1797]);
    assert_eq!(label_counts(&d.labels), LABEL_COUNTS);
    let x = d.x.to_vec::<f32>().expect("f32 pixels");
    assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
    // The first image's pixel values sum to 294 (out of 16 each); all
    // images to 561718.
    let first: f32 = x[..64].iter().sum();
    assert_eq!(first, 294.0 / 16.0);
    let total: f64 = x.iter().map(|v| f64::from(*v)).sum();
    assert!((total - 561718.0 / 16.0).abs() < 1e-6);
}

#[test]
fn split_is_a_fixed_partition() {
    let d = digits::load(&digits::default_path()).expect("digits load");
    let key = random::key(0);
    let (train, test) = digits::split(&d, &key, 0.2);
    assert_eq!((train.count(), test.count()), (1438, 359));
    let (a, b) = (label_counts(&train.labels), label_counts(&test.labels));
    let both: Vec<usize> = a.iter().zip(&b).map(|(a, b)| a + b).collect();
    assert_eq!(both, LABEL_COUNTS);
    // Every image lands on exactly one side: the pixel sums agree.
    let sum = |x: &Array| {
        x.to_vec::<f32>()
            .expect("f32")
            .iter()
            .map(|v| f64::from(*v))
            .sum::<f64>()
    };
    assert!((sum(&train.x) + sum(&test.x) - sum(&d.x)).abs() < 1e-6);
    // The same key gives the same split; another key another one.
    let again = digits::split(&d, &key, 0.2)
        .1
        .labels
        .to_vec::<i32>()
        .expect("i32");
    let other = digits::split(&d, &random::key(1), 0.2)
        .1
        .labels
        .to_vec::<i32>()
        .expect("i32");
    let test_labels = test.labels.to_vec::<i32>().expect("i32");
    assert_eq!(again, test_labels);
    assert_ne!(other, test_labels);
}

#[test]
fn bad_files_are_typed_errors() {
    let missing = digits::load(std::path::Path::new("/nonexistent/digits.csv.gz"));
    assert!(
        matches!(
            missing,
            Err(Error::Io {
                op: "load_digits",
                ..
            })
        ),
        "{missing:?}"
    );

    let not_gzip =
        std::env::temp_dir().join(format!("rjax-digits-{}-plain.csv.gz", std::process::id()));
    std::fs::write(&not_gzip, b"1,2,3\n").expect("temp file");
    let plain = digits::load(&not_gzip);
    assert!(matches!(plain, Err(Error::Io { .. })), "{plain:?}");

    let row = |pixel: &str, label: &str| format!("{}{pixel},{label}\n", "0,".repeat(63));
    for (name, text, expected) in [
        (
            "short",
            "1,2,3\n".to_string(),
            "line 1: 3 values, expected 65",
        ),
        (
            "pixel",
            row("17", "3"),
            "line 1: pixel value 17 is outside 0..16",
        ),
        ("label", row("5", "10"), "line 1: label 10 is outside 0..9"),
        (
            "text",
            format!("{}{}", row("1", "1"), row("x", "1")),
            "line 2: not a small integer",
        ),
    ] {
        let path = gzip_file(name, text.as_bytes());
        match digits::load(&path) {
            Err(e @ Error::Op { .. }) => assert!(e.to_string().contains(expected), "{name}: {e}"),
            other => panic!("{name}: expected an Op error containing `{expected}`, got {other:?}"),
        }
        std::fs::remove_file(&path).ok();
    }
    std::fs::remove_file(&not_gzip).ok();
}

#[test]
fn mlp_learns_the_digits_and_its_weights_reload() {
    let d = digits::load(&digits::default_path()).expect("digits load");
    let keys = random::split_vec(&random::key(5), 2);
    let (train, test) = digits::split(&d, &keys[0], 0.2);
    let (train, validation) = digits::split(&train, &keys[1], 0.2);
    let mut model = digits::mlp(0).expect("mlp");
    let config = FitConfig {
        epochs: 100,
        callbacks: vec![Box::new(
            EarlyStopping::new("val_loss")
                .patience(5)
                .restore_best_weights(true),
        )],
        verbose: 0,
        ..Default::default()
    };
    let history = digits::fit(&mut model, &train, &validation, config).expect("fit");
    assert!(
        history.epochs.len() > 5,
        "stopped after {} epochs",
        history.epochs.len()
    );

    // Accuracy counted on the host from the predicted logits, and the
    // metric evaluate reports, agree and reach 95%.
    let logits = model.predict(&test.x, 100).expect("predict");
    assert_eq!(logits.shape(), &[test.count(), digits::CLASSES]);
    let accuracy = digits::accuracy(&logits, &test.labels).expect("accuracy");
    assert!(accuracy >= 0.95, "test accuracy {accuracy}");
    let logs = model
        .evaluate(&test.x, &test.labels, 100)
        .expect("evaluate");
    let reported = logs
        .get("sparse_categorical_accuracy")
        .expect("metric logged");
    assert!(
        (reported - f64::from(accuracy)).abs() < 1e-6,
        "evaluate {reported}, counted {accuracy}"
    );

    // Saved weights reload into a fresh model (drawn from another seed)
    // and give the same predictions; a model of another shape refuses them.
    let path = std::env::temp_dir().join(format!("rjax-digits-{}.safetensors", std::process::id()));
    model.save_weights(&path).expect("save");
    let mut fresh = digits::mlp(1).expect("mlp");
    fresh.build(&[digits::PIXELS]).expect("build");
    let before = fresh
        .predict(&test.x, 100)
        .expect("predict")
        .to_vec::<f32>()
        .expect("f32");
    fresh.load_weights(&path).expect("load");
    let after = fresh
        .predict(&test.x, 100)
        .expect("predict")
        .to_vec::<f32>()
        .expect("f32");
    let expected = logits.to_vec::<f32>().expect("f32");
    assert_ne!(before, expected);
    assert_eq!(after, expected);
    let mut other =
        Sequential::new(vec![Box::new(Dense::new(10))]).with_input_shape(&[digits::PIXELS]);
    other.build(&[digits::PIXELS]).expect("build");
    let refused = other.load_weights(&path);
    assert!(
        matches!(refused, Err(Error::WeightsMismatch { .. })),
        "{refused:?}"
    );
    std::fs::remove_file(&path).ok();
}
