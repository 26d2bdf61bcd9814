//! Differential tests of fusion: every program is planned
//! (`rjax_codegen::fusion::plan`), run by the kernel interpreter
//! (`kernel_interp::run_program`) and compared with the reference
//! interpreter (`rjax_ir::interp::interpret_closed`).
//!
//! Comparison: integers and bools exactly, and floats bit for bit (any NaN
//! matches any NaN), with no tolerance: fusion folds every reduction in
//! the reference interpreter's row-major order (it never reassociates), the
//! kernel interpreter runs GEMM steps summing over `k` in the reference
//! `dot_general`'s order, and it evaluates transcendental functions with
//! the same Rust functions as the reference interpreter.

mod fusion {
    pub mod harness;
    #[path = "../prim_lists/mod.rs"]
    mod prim_lists;
    mod prims;
    mod programs;
    mod random;
}
