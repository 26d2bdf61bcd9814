//! Placeholder: the AVX-512 emitter is being written.
use super::{WideCode, WideLoop};

/// Lowers `l` (see the module docs), or `None`.
pub(crate) fn emit(_l: &WideLoop) -> Option<WideCode> {
    None
}
