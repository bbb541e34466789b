//! What every capability reads the same way, written once: the operator's host
//! allowlist (`plugins.<capability>.allowed_hosts`), the connection values of a
//! connector's configuration (`host`, `port`, flags) and a job's session slots
//! (`plugins.<capability>.max_sessions`). Each capability maps [`BadValue`] and
//! [`slots::Full`] into its own error type.

pub mod hosts;
pub mod slots;
pub mod values;

pub use hosts::host_allowed;
pub use values::{flag, port, required, text, BadValue};
