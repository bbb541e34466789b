//! The handles granted to plugins. Only this module opens connections to data sources.

pub mod postgresql;
