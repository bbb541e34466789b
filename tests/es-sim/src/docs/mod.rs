//! Document and index APIs.

pub mod doc;
pub mod index;
pub mod source_filter;
pub mod write;
