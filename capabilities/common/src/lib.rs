//! What every capability reads the same way, written once: the operator's host
//! allowlist (`plugins.<capability>.allowed_hosts`) and the connection values of a
//! connector's configuration (`host`, `port`, flags). Each capability maps
//! [`BadValue`] into its own error type.

pub mod hosts;
pub mod values;

pub use hosts::host_allowed;
pub use values::{flag, port, required, text, BadValue};
