//! Device read formats: pure decoders from bytes to typed reads or typed errors.
//!
//! Nothing here does I/O or touches a runtime, so every decoder can be driven by
//! unit tests, property tests and fuzzers directly. The gateway picks a decoder per
//! device and turns the reads into business events.

pub mod digital_link;
pub mod element_string;
pub mod epc;
pub mod generic;
pub mod gs1;
pub mod gs1_ai;
pub mod impinj;
pub mod read;
pub mod scan;
pub mod serial;
pub mod sim;
mod timestamp;
pub mod zebra;

pub use read::{DecodeError, Identifier, IdentifierKind, Read};
