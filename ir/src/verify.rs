//! The jaxpr verifier.
use crate::{Jaxpr, Result};
/// Checks a jaxpr.
pub fn verify(jaxpr: &Jaxpr) -> Result<()> {
    let _ = jaxpr;
    Ok(())
}
