//! Cross-crate scenarios, one test binary (one link, one process start per run):
//! the real binary, real PostgreSQL, es-sim over HTTP, built plugins.

mod dir_graphql_plugins;
mod mysql_redis_plugins;
mod plugin_check;
mod postgresql_cdc;
mod postgresql_plugin;
mod python_plugin;
mod service_cancel;
mod service_failures;
mod service_faults;
mod service_operations;
mod service_reliability;
mod service_rules;
mod service_schedule;
mod service_tutorial;
mod service_two_workers;
