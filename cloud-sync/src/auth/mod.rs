//! Who may call the HTTP API: bearer tokens with scopes, kept as SHA-256 digests
//! (in the store when issued through the API, in the config file when an
//! operator provisions them), and a per-client limit on failed attempts.

pub mod limiter;
mod scope;
pub mod secret;

pub use scope::{MAX_SCOPES, RequiredScope, Scope, UnknownScope, needs, parse_scopes};
