//! Every program of the conformance corpus through the PTX backend: the
//! fused kernels of each case's forward program and of its gradient (the
//! program `jit(grad(f))` compiles) are emitted and assembled by `ptxas`
//! for sm_80 and sm_90.
//!
//! `ptxas` is named by the environment variable `RJAX_PTXAS` (CI installs
//! it from the PyPI package `nvidia-cuda-nvcc-cu12`); without it the PTX is
//! still emitted (emission errors fail) and the assembly is skipped. The
//! test ends by printing `ptxas: <n> assembled, <f> failed` and fails when
//! `f > 0`. Run it with
//! `cargo test --release --test ptxas_conformance -- --nocapture`.
//!
//! The corpus is loaded and its programs are run through the public API by
//! the conformance harness itself (`conformance.rs`, included as a module:
//! its own test runs in this binary too).

#[path = "conformance.rs"]
#[allow(dead_code)]
mod conformance;

use conformance::{corpus_folders, scalar_output, Case};
use rjax::make_jaxpr;
use rjax_codegen::fusion::plan;
use rjax_codegen::ptx::ptxas::{assemble_many, ptxas_from_env};
use rjax_codegen::ptx::{emit_program, PtxOptions};
use serde_json::Value;

const ARCHS: [u32; 2] = [80, 90];

/// The module text of a case's program (`what`: forward or gradient),
/// planned like `jit` plans it.
fn module(name: &str, what: &str, jaxpr: rjax::Result<rjax_ir::ClosedJaxpr>) -> (String, String) {
    let label = format!("{name} ({what})");
    let jaxpr = jaxpr.unwrap_or_else(|e| panic!("{label}: tracing: {e}"));
    let program = plan(&jaxpr).unwrap_or_else(|e| panic!("{label}: planning: {e}"));
    let emitted = emit_program(&program, &PtxOptions { sm: 80 })
        .unwrap_or_else(|e| panic!("{label}: emitting PTX: {e}"));
    (label, emitted.ptx)
}

/// Every case of every corpus folder (files in name order).
fn corpus_cases() -> Vec<Value> {
    let mut cases = Vec::new();
    for folder in corpus_folders() {
        let mut files: Vec<_> = std::fs::read_dir(&folder)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", folder.display()))
            .map(|entry| entry.expect("folder entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("readable corpus file");
            let corpus: Value = serde_json::from_str(&text).expect("corpus is JSON");
            cases.extend(corpus["cases"].as_array().expect("cases").iter().cloned());
        }
    }
    cases
}

/// Forward and gradient modules of every corpus case.
fn modules() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for json in corpus_cases() {
        let case = Case::new(&json);
        let name = json["name"].as_str().unwrap_or("?").to_string();
        let forward = make_jaxpr(case.program())(&case.inputs);
        out.push(module(&name, "forward", forward));
        if !json["expect"]["grad"].is_null() {
            let f = scalar_output(&case);
            let grad = make_jaxpr(rjax::grad(f))(&case.inputs);
            out.push(module(&name, "gradient", grad));
        }
    }
    out
}

#[test]
fn every_conformance_kernel_assembles_for_sm80_and_sm90() {
    let modules = modules();
    assert!(!modules.is_empty(), "the corpus has programs");
    let Some(ptxas) = ptxas_from_env() else {
        println!(
            "ptxas: skipped (RJAX_PTXAS is not set); {} programs emitted",
            modules.len()
        );
        return;
    };
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let report = assemble_many(&ptxas, &modules, &ARCHS, workers);
    let failures = report.failures;
    for f in &failures {
        println!("FAILED {f}");
    }
    println!(
        "ptxas: {} assembled, {} failed",
        report.assembled,
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} modules failed ptxas",
        failures.len()
    );
}
