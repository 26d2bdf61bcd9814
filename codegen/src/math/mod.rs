//! Expansion of transcendental operations into basic arithmetic (stub).

use crate::kernel::Kernel;

/// Rewrites every transcendental operation of `kernel` into basic arithmetic.
pub fn expand(kernel: &Kernel) -> Kernel {
    kernel.clone()
}
