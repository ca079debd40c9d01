//! Device read formats: pure decoders from bytes to typed reads or typed errors.
//!
//! Nothing here does I/O or touches a runtime, so every decoder can be driven by
//! unit tests, property tests and fuzzers directly. The gateway picks a decoder per
//! device and turns the reads into business events.

pub mod generic;
pub mod gs1;
pub mod read;
pub mod sim;

pub use read::{DecodeError, Identifier, IdentifierKind, Read};
