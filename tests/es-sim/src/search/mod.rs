//! Search: query parsing and matching, sorting, and the contexts that outlive one request
//! (scrolls and points in time).

pub mod api;
pub mod contexts;
pub mod exec;
pub mod query;
pub mod sort;

pub use contexts::Contexts;
