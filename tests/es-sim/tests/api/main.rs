//! es-sim's own tests, one test binary: Connector API behaviour, errors, privileges,
//! document APIs, faults, and the official Python client against it.

mod api_docs;
mod common;
mod connector_api;
mod connector_errors;
mod connector_privileges;
mod faults;
mod python_client;
