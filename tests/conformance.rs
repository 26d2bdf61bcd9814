//! The conformance harness: runs every case of the conformance corpus
//! through rjax's public API and compares with the expected values.
//!
//! It reads the vendored corpus in `tests/data/conformance/` and every
//! folder listed in `RJAX_CONFORMANCE_DIR` (colon-separated). The format is
//! described in `tests/data/conformance/FORMAT.md`. For each folder and each
//! check kind it prints one line
//! `conformance[<folder>] <check>: <p> passed, <f> failed, <n> pending`,
//! where *pending* counts checks whose transformation rjax does not have
//! yet. Every failure is printed with its case name, check and largest
//! error, and the test fails if any check failed.
//!
//! Run it with `cargo test --release --test conformance -- --nocapture`.

use rjax::jnp::{self, Axes};
use rjax::{nn, Array, DType};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The check kinds, in the order they are reported.
const CHECKS: [&str; 9] = [
    "value",
    "jvp",
    "vjp",
    "grad",
    "hvp",
    "vmap",
    "jit_value",
    "jit_grad",
    "grad_jit",
];

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    pending: usize,
}

/// A parsed TENSOR: dtype, shape and data (as f64, with bools as 0/1).
#[derive(Clone, Debug)]
struct Tensor {
    dtype: DType,
    shape: Vec<usize>,
    data: Vec<f64>,
}

fn parse_number(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().expect("number"),
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => match s.as_str() {
            "nan" => f64::NAN,
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            other => panic!("unexpected number string {other:?}"),
        },
        other => panic!("unexpected datum {other}"),
    }
}

fn parse_tensor(v: &Value) -> Tensor {
    let dtype = DType::from_name(v["dtype"].as_str().expect("dtype")).expect("known dtype");
    let shape = v["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let data = v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(parse_number)
        .collect();
    Tensor { dtype, shape, data }
}

fn to_array(t: &Tensor) -> Array {
    let d = &t.data;
    let array = match t.dtype {
        DType::F32 => Array::from_vec(d.iter().map(|&x| x as f32).collect(), &t.shape),
        DType::F64 => Array::from_vec(d.clone(), &t.shape),
        DType::I32 => Array::from_vec(d.iter().map(|&x| x as i32).collect(), &t.shape),
        DType::U32 => Array::from_vec(d.iter().map(|&x| x as u32).collect(), &t.shape),
        DType::Bool => Array::from_vec(d.iter().map(|&x| x != 0.0).collect(), &t.shape),
    };
    array.expect("corpus tensor fits its shape")
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .expect("list of ints")
        .iter()
        .map(|x| x.as_i64().expect("int"))
        .collect()
}

fn axis(step: &Value) -> isize {
    step["axis"].as_i64().expect("axis") as isize
}

fn axes(step: &Value) -> Axes {
    match &step["axes"] {
        Value::Null => Axes::All,
        list => Axes::from(ints(list)),
    }
}

fn keepdims(step: &Value) -> bool {
    step["keepdims"].as_bool().unwrap_or(false)
}

/// Applies one STEP of a program through the public API.
fn apply_step(step: &Value, args: &[Array]) -> Array {
    let op = step["op"].as_str().expect("op");
    let x = &args[0];
    let y = || &args[1];
    let num = |key: &str| {
        step[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{op}: parameter {key}"))
    };
    match op {
        "neg" => jnp::negative(x),
        "exp" => jnp::exp(x),
        "log" => jnp::log(x),
        "log1p" => jnp::log1p(x),
        "expm1" => jnp::expm1(x),
        "sin" => jnp::sin(x),
        "cos" => jnp::cos(x),
        "tanh" => jnp::tanh(x),
        "sqrt" => jnp::sqrt(x),
        "rsqrt" => jnp::rsqrt(x),
        "square" => jnp::square(x),
        "abs" => jnp::abs(x),
        "sign" => jnp::sign(x),
        "sigmoid" => nn::sigmoid(x),
        "relu" => nn::relu(x),
        "softplus" => nn::softplus(x),
        "erf" => jnp::erf(x),
        "reciprocal" => jnp::reciprocal(x),
        "add" => jnp::add(x, y()),
        "sub" => jnp::subtract(x, y()),
        "mul" => jnp::multiply(x, y()),
        "div" => jnp::divide(x, y()),
        "pow" => jnp::power(x, y()),
        "maximum" => jnp::maximum(x, y()),
        "minimum" => jnp::minimum(x, y()),
        "lt" => jnp::less(x, y()),
        "le" => jnp::less_equal(x, y()),
        "gt" => jnp::greater(x, y()),
        "ge" => jnp::greater_equal(x, y()),
        "eq" => jnp::equal(x, y()),
        "ne" => jnp::not_equal(x, y()),
        "where" => jnp::where_(x, y(), &args[2]),
        "clip" => jnp::clip(x, num("min"), num("max")),
        "astype" => {
            let dtype =
                DType::from_name(step["dtype"].as_str().expect("dtype")).expect("dtype name");
            jnp::asarray(x, dtype)
        }
        "sum" => jnp::sum(x, axes(step), keepdims(step)),
        "mean" => jnp::mean(x, axes(step), keepdims(step)),
        "max" => jnp::max(x, axes(step), keepdims(step)),
        "min" => jnp::min(x, axes(step), keepdims(step)),
        "prod" => jnp::prod(x, axes(step), keepdims(step)),
        "logsumexp" => jnp::logsumexp(x, axes(step), keepdims(step)),
        "argmax" => jnp::argmax(x, axis(step)),
        "argmin" => jnp::argmin(x, axis(step)),
        "reshape" => jnp::reshape(x, &ints(&step["shape"])),
        "transpose" => {
            let perm: Vec<isize> = ints(&step["axes"]).iter().map(|&a| a as isize).collect();
            jnp::transpose(x, Some(&perm))
        }
        "broadcast_to" => {
            let shape: Vec<usize> = ints(&step["shape"]).iter().map(|&d| d as usize).collect();
            jnp::broadcast_to(x, &shape)
        }
        "expand_dims" => jnp::expand_dims(x, axis(step)),
        "squeeze" => jnp::squeeze(x, axes(step)),
        "concatenate" => jnp::concatenate(args, axis(step)),
        "stack" => jnp::stack(args, axis(step)),
        "slice" => {
            let usizes = |key: &str| -> Vec<usize> {
                ints(&step[key]).iter().map(|&d| d as usize).collect()
            };
            jnp::slice(
                x,
                &usizes("start"),
                &usizes("limit"),
                Some(&usizes("strides")),
            )
        }
        "pad" => jnp::pad(x, &ints(&step["low"]), &ints(&step["high"]), num("value")),
        "flip" => jnp::flip(x, axes(step)),
        "take" => jnp::take(x, y(), axis(step)),
        "one_hot" => nn::one_hot(
            x,
            step["num_classes"].as_u64().expect("num_classes") as usize,
            DType::F32,
        ),
        "matmul" => jnp::matmul(x, y()),
        "softmax" => nn::softmax(x, axis(step)),
        "log_softmax" => nn::log_softmax(x, axis(step)),
        "cumsum" => jnp::cumsum(x, axis(step)),
        other => panic!("conformance: unknown op {other:?}"),
    }
}

/// Runs a case's program on `inputs`, returning its outputs.
fn run_program(case: &Value, inputs: &[Array]) -> Vec<Array> {
    let mut values: Vec<Array> = inputs.to_vec();
    for step in case["program"].as_array().expect("program") {
        let args: Vec<Array> = step["args"]
            .as_array()
            .expect("args")
            .iter()
            .map(|i| values[i.as_u64().expect("id") as usize].clone())
            .collect();
        let out = apply_step(step, &args);
        values.push(out);
    }
    case["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .map(|i| values[i.as_u64().unwrap() as usize].clone())
        .collect()
}

/// Compares an actual array with an expected tensor; returns the largest
/// error, or a description of a shape/dtype/exactness mismatch.
fn compare(actual: &Array, expected: &Tensor, rtol: f64, atol: f64) -> Result<f64, String> {
    if actual.dtype() != expected.dtype || actual.shape() != expected.shape.as_slice() {
        return Err(format!(
            "got {}{:?}, expected {}{:?}",
            actual.dtype(),
            actual.shape(),
            expected.dtype,
            expected.shape
        ));
    }
    let got = actual.to_f64_vec().map_err(|e| e.to_string())?;
    let exact = !expected.dtype.is_float();
    let mut worst = 0.0f64;
    for (i, (&a, &e)) in got.iter().zip(&expected.data).enumerate() {
        let ok = if e.is_nan() {
            a.is_nan()
        } else if e.is_infinite() || exact {
            a == e
        } else {
            (a - e).abs() <= atol + rtol * e.abs()
        };
        let err = if a.is_nan() || e.is_nan() || e.is_infinite() {
            0.0
        } else {
            (a - e).abs()
        };
        if !ok {
            return Err(format!(
                "element {i}: got {a}, expected {e} (|error| {:.3e})",
                (a - e).abs()
            ));
        }
        worst = worst.max(err);
    }
    Ok(worst)
}

/// A case's inputs, tolerances and program.
pub(crate) struct Case<'a> {
    json: &'a Value,
    pub(crate) inputs: Vec<Array>,
    rtol: f64,
    atol: f64,
}

impl<'a> Case<'a> {
    pub(crate) fn new(json: &'a Value) -> Case<'a> {
        let inputs = json["inputs"]
            .as_array()
            .expect("inputs")
            .iter()
            .map(|t| to_array(&parse_tensor(t)))
            .collect();
        let rtol = json["rtol"].as_f64().unwrap_or(1e-5);
        let atol = json["atol"].as_f64().unwrap_or(1e-6);
        Case {
            json,
            inputs,
            rtol,
            atol,
        }
    }

    pub(crate) fn program(&self) -> impl Fn(&Vec<Array>) -> Vec<Array> + '_ {
        move |xs: &Vec<Array>| run_program(self.json, xs)
    }

    /// A list of TENSOR|null; nulls become zeros like the matching input.
    fn tensors_or_zeros(&self, v: &Value) -> Vec<Array> {
        v.as_array()
            .expect("tensor list")
            .iter()
            .zip(&self.inputs)
            .map(|(t, x)| {
                if t.is_null() {
                    jnp::zeros_like(x)
                } else {
                    to_array(&parse_tensor(t))
                }
            })
            .collect()
    }

    /// Compares arrays with a list of TENSOR|null (nulls are skipped).
    fn compare_all(&self, actual: &[Array], expected: &Value) -> Result<(), String> {
        let expected = expected.as_array().expect("expected list");
        if actual.len() != expected.len() {
            return Err(format!(
                "{} results, expected {}",
                actual.len(),
                expected.len()
            ));
        }
        for (k, (a, e)) in actual.iter().zip(expected).enumerate() {
            if !e.is_null() {
                compare(a, &parse_tensor(e), self.rtol, self.atol)
                    .map_err(|m| format!("result {k}: {m}"))?;
            }
        }
        Ok(())
    }
}

/// Runs `f`, turning a panic into an error message.
fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

pub(crate) fn scalar_output<'c>(case: &'c Case<'c>) -> impl Fn(&Vec<Array>) -> Array + 'c {
    let f = case.program();
    move |xs: &Vec<Array>| f(xs).swap_remove(0)
}

/// Runs one check of one case; `None` when rjax does not have the
/// transformation yet.
fn run_check(check: &str, case: &Case) -> Option<Result<(), String>> {
    let expect = &case.json["expect"];
    let result = match check {
        "value" => catch(|| case.program()(&case.inputs))
            .and_then(|outs| case.compare_all(&outs, &expect["value"])),
        "jvp" => catch(|| {
            let tangents = case.tensors_or_zeros(&expect["jvp"]["tangents"]);
            rjax::try_jvp(case.program(), &case.inputs, &tangents).map_err(|e| e.to_string())
        })
        .and_then(|r| r)
        .and_then(|(_, t)| case.compare_all(&t, &expect["jvp"]["out"])),
        "vjp" => catch(|| {
            let cts: Vec<Array> = expect["vjp"]["cotangents"]
                .as_array()
                .expect("cotangents")
                .iter()
                .map(|t| to_array(&parse_tensor(t)))
                .collect();
            let (_, pullback) =
                rjax::try_vjp(case.program(), &case.inputs).map_err(|e| e.to_string())?;
            pullback(&cts).map_err(|e| e.to_string())
        })
        .and_then(|r| r)
        .and_then(|g| case.compare_all(&g, &expect["vjp"]["out"])),
        "grad" => {
            catch(|| rjax::try_grad(scalar_output(case))(&case.inputs).map_err(|e| e.to_string()))
                .and_then(|r| r)
                .and_then(|g| case.compare_all(&g, &expect["grad"]))
        }
        "hvp" => catch(|| {
            let vector = case.tensors_or_zeros(&expect["hvp"]["vector"]);
            let grad_f = rjax::grad(scalar_output(case));
            rjax::try_jvp(grad_f, &case.inputs, &vector).map_err(|e| e.to_string())
        })
        .and_then(|r| r)
        .and_then(|(_, t)| case.compare_all(&t, &expect["hvp"]["out"])),
        "jit_value" => catch(|| rjax::jit(case.program())(&case.inputs))
            .and_then(|outs| case.compare_all(&outs, &expect["value"])),
        "jit_grad" => catch(|| rjax::jit(rjax::grad(scalar_output(case)))(&case.inputs))
            .and_then(|g| case.compare_all(&g, &expect["grad"])),
        "grad_jit" => catch(|| rjax::grad(rjax::jit(scalar_output(case)))(&case.inputs))
            .and_then(|g| case.compare_all(&g, &expect["grad"])),
        "vmap" => catch(|| {
            let batched: Vec<Array> = expect["vmap"]["inputs"]
                .as_array()
                .expect("vmap inputs")
                .iter()
                .map(|t| to_array(&parse_tensor(t)))
                .collect();
            let eager = rjax::try_vmap(case.program())(&batched).map_err(|e| e.to_string())?;
            case.compare_all(&eager, &expect["vmap"]["out"])
                .map_err(|m| format!("vmap: {m}"))?;
            let jitted = rjax::jit(rjax::vmap(case.program()))(&batched);
            case.compare_all(&jitted, &expect["vmap"]["out"])
                .map_err(|m| format!("jit(vmap): {m}"))
        })
        .and_then(|r| r),
        _ => return None,
    };
    Some(result)
}

/// Which checks a case asks for.
fn requested_checks(case: &Value) -> Vec<&'static str> {
    let expect = &case["expect"];
    let mut checks = vec!["value"];
    for key in ["jvp", "vjp", "grad", "hvp", "vmap"] {
        if !expect[key].is_null() {
            checks.push(key);
        }
    }
    // Every case also holds under jit; gradients under jit(grad) and grad(jit).
    checks.push("jit_value");
    if !expect["grad"].is_null() {
        checks.extend(["jit_grad", "grad_jit"]);
    }
    checks
}

pub(crate) fn corpus_folders() -> Vec<PathBuf> {
    let mut folders = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance")];
    if let Ok(extra) = std::env::var("RJAX_CONFORMANCE_DIR") {
        folders.extend(
            extra
                .split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
        );
    }
    folders
}

fn run_folder(folder: &Path) -> (BTreeMap<&'static str, Tally>, Vec<String>) {
    let mut tallies: BTreeMap<&'static str, Tally> =
        CHECKS.iter().map(|c| (*c, Tally::default())).collect();
    let mut failures = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap_or_else(|e| panic!("cannot read conformance folder {}: {e}", folder.display()))
        .map(|entry| entry.expect("folder entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable corpus file");
        let corpus: Value = serde_json::from_str(&text).expect("corpus is JSON");
        assert_eq!(
            corpus["format"],
            1,
            "{}: unsupported corpus format",
            file.display()
        );
        for case in corpus["cases"].as_array().expect("cases") {
            let name = case["name"].as_str().unwrap_or("?");
            let parsed = Case::new(case);
            for check in requested_checks(case) {
                let tally = tallies.get_mut(check).expect("known check");
                match run_check(check, &parsed) {
                    None => tally.pending += 1,
                    Some(Ok(())) => tally.passed += 1,
                    Some(Err(message)) => {
                        tally.failed += 1;
                        failures.push(format!("{name} {check}: {message}"));
                    }
                }
            }
        }
    }
    (tallies, failures)
}

#[test]
fn conformance() {
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut any_failed = false;
    let mut report = String::new();
    for folder in corpus_folders() {
        let name = folder.file_name().map_or_else(
            || folder.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let (tallies, failures) = run_folder(&folder);
        for failure in &failures {
            report.push_str(&format!("FAILED conformance[{name}] {failure}\n"));
        }
        for check in CHECKS {
            let t = &tallies[check];
            report.push_str(&format!(
                "conformance[{name}] {check}: {} passed, {} failed, {} pending\n",
                t.passed, t.failed, t.pending
            ));
            any_failed |= t.failed > 0;
        }
    }
    std::panic::set_hook(previous_hook);
    print!("{report}");
    assert!(!any_failed, "conformance checks failed (see above)");
}
