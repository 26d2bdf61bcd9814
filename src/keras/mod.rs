//! A Keras-style layer API, functional at its core.
//!
//! Every layer and model call is a pure function of its weights, its
//! inputs, a `training` flag and a PRNG key (Keras 3's `stateless_call`), so
//! `jit`, `grad` and `vmap` see straight through it. On top of that pure
//! core sit the friendly pieces a Keras user expects: [`models::Sequential`]
//! and a functional [`models::Model`], `summary()`, `compile`, `fit`,
//! `evaluate` and `predict`, optimizers, losses, metrics and callbacks, and
//! weights saved as safetensors.

pub mod callbacks;
pub mod initializers;
pub mod layers;
pub mod losses;
pub mod metrics;
pub mod models;
pub mod optimizers;
pub mod saving;
pub mod schedules;
pub mod training;
