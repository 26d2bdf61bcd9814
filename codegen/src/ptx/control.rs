//! Control-flow steps in PTX: a `cond`, `while` or `scan` step
//! ([`crate::control`]) becomes a [`PtxControl`], holding the step (its
//! kind and its outer-program bindings) and every sub-program emitted as a
//! [`PtxProgram`], recursively.
//!
//! The loop itself is not PTX: the CUDA runtime runs it on the host and
//! launches the sub-programs' kernels (see `crate::cuda`). Every entry of
//! every nesting level goes into the one module of the outermost program.
//!
//! # Entry names
//!
//! A top-level kernel step `i` is named `rjax_<kernel>_s<i>` (and
//! `_1`, `_2`, ... for further entries). A kernel inside a sub-program is
//! prefixed by its **path**: `c` followed by the step number and the
//! sub-program number of every enclosing control step, joined by `_`, then
//! `$` (e.g. `c3_1$rjax_<kernel>_s0` is kernel step 0 of the second
//! sub-program of step 3). Top-level names start with `rjax_`, nested ones
//! with `c`; the part before the one `$` (digits and `_` only) names the
//! sub-program and the rest is unique within it, so names never collide.

use super::{PtxOptions, PtxProgram, PtxStep};
use crate::control::ControlStep;
use rjax_ir::Result;

/// A control step with its sub-programs in PTX.
#[derive(Clone, Debug, PartialEq)]
pub struct PtxControl {
    /// The step: its kind (cond/while/scan and their counts), its inputs
    /// and its outputs in the outer program, and its sub-programs as
    /// planned (for their buffers, constants and memory plans).
    pub step: ControlStep,
    /// The sub-programs' kernels, in [`ControlStep::programs`] order; each
    /// one's `ptx` is a module with its own entries (all of them are also
    /// in the outermost program's module).
    pub programs: Vec<PtxProgram>,
}

/// The entry-name prefix of sub-program `sub` of control step `step`
/// inside the sub-program at `path` (`""` at the top level).
pub(super) fn sub_path(path: &str, step: usize, sub: usize) -> String {
    if path.is_empty() {
        format!("c{step}_{sub}")
    } else {
        format!("{path}_{step}_{sub}")
    }
}

/// Prefixes a step's entry base with the sub-program `path` (see the
/// module docs).
pub(super) fn nested_base(path: &str, base: String) -> String {
    if path.is_empty() {
        base
    } else {
        format!("{path}${base}")
    }
}

/// Emits control step `c` (step `step` of the program at `path`): every
/// sub-program's kernels, appended to `body` (the module text being
/// built), and the step that runs them.
///
/// # Errors
/// As [`super::emit_kernel`], for any kernel of any sub-program.
pub(super) fn emit_control(
    c: &ControlStep,
    step: usize,
    path: &str,
    opts: &PtxOptions,
    body: &mut String,
) -> Result<PtxStep> {
    let programs = c
        .programs()
        .into_iter()
        .enumerate()
        .map(|(j, sub)| {
            let (text, steps) = super::emit_steps(sub, opts, &sub_path(path, step, j))?;
            body.push_str(&text);
            Ok(PtxProgram {
                ptx: format!("{}{}", super::header(opts), text),
                steps,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(PtxStep::Control(Box::new(PtxControl {
        step: c.clone(),
        programs,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_nest_and_never_look_like_top_level_names() {
        assert_eq!(sub_path("", 3, 1), "c3_1");
        assert_eq!(sub_path("c3_1", 0, 2), "c3_1_0_2");
        assert_eq!(nested_base("", "rjax_k_s0".into()), "rjax_k_s0");
        assert_eq!(
            nested_base("c3_1_0_2", "rjax_k_s4".into()),
            "c3_1_0_2$rjax_k_s4"
        );
    }
}
