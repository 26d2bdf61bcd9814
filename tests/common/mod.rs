//! Helpers shared by integration tests (`mod common;`).
//!
//! - [`op_cases`]: the `OP_CASES` table, one entry (or more) per primitive,
//!   with the operand shapes, the input domain and what can be checked;
//!   [`generic`] holds the entries' shape-generic forms and [`sampling`]
//!   draws operands from their domains.
//! - [`programs`]: random programs built from the table, for proptest.
//! - [`numeric`]: comparisons and finite differences.
//! - [`rng`]: a small deterministic generator.

pub mod generic;
pub mod numeric;
pub mod op_cases;
pub mod programs;
pub mod rng;
pub mod sampling;
