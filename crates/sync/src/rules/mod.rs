//! Basic sync rules (`docs/elastic/sync-rules.md`), applied on the host.

mod basic;
mod validate;

pub use basic::{BasicRule, BasicRules, Policy, RuleError, RuleKind};
pub use validate::{validate_basic_rules, validation_json, FilterValidationError, ValidationState};
