//! The jaxpr printer.
