//! Host bindings, one module per contract version (`wit/vX.Y.Z`), and the two
//! types the runtime uses whatever the plugin's version: [`HostPre`] (a linked,
//! not yet instantiated plugin) and [`Bindings`] (an instance's exports, answering
//! in the newest version's types).
//!
//! Adding a version: freeze the previous folder, add `vX_Y.rs` with its `bindgen!`
//! and conversions to the newest types, a variant here, and the version in
//! `version::SUPPORTED`.

pub mod v0_1;
pub mod v0_2;

use wasmtime::component::{HasSelf, InstancePre, Linker, ResourceAny};
use wasmtime::Store;

pub use v0_2::{wit_shaping, wit_types};

use super::state::HostState;
use super::version::Contract;

/// Links every supported version's imports (each under its own versioned name).
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    v0_1::Host_::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    v0_2::Host_::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

/// A plugin linked against its contract version, ready to instantiate.
#[derive(Clone)]
pub enum HostPre {
    V0_1(v0_1::Host_Pre<HostState>),
    V0_2(v0_2::Host_Pre<HostState>),
}

impl HostPre {
    /// Checks the component's exports against `contract`'s definitions.
    pub fn new(contract: Contract, pre: InstancePre<HostState>) -> wasmtime::Result<Self> {
        Ok(match contract {
            Contract::V0_1 => HostPre::V0_1(v0_1::Host_Pre::new(pre)?),
            Contract::V0_2 => HostPre::V0_2(v0_2::Host_Pre::new(pre)?),
        })
    }

    pub async fn instantiate_async(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Bindings> {
        Ok(match self {
            HostPre::V0_1(p) => Bindings::V0_1(p.instantiate_async(store).await?),
            HostPre::V0_2(p) => Bindings::V0_2(p.instantiate_async(store).await?),
        })
    }
}

/// An instance's `source` export, in the newest version's types.
pub enum Bindings {
    V0_1(v0_1::Host_),
    V0_2(v0_2::Host_),
}

impl Bindings {
    pub async fn metadata(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<wit_types::Metadata> {
        match self {
            Bindings::V0_1(b) => Ok(v0_1::metadata(
                b.tributary_connector_source().call_metadata(store).await?,
            )),
            Bindings::V0_2(b) => b.tributary_connector_source().call_metadata(store).await,
        }
    }

    pub async fn configuration_schema(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Vec<wit_types::ConfigField>> {
        match self {
            Bindings::V0_1(b) => Ok(b
                .tributary_connector_source()
                .call_configuration_schema(store)
                .await?
                .into_iter()
                .map(v0_1::config_field)
                .collect()),
            Bindings::V0_2(b) => {
                b.tributary_connector_source()
                    .call_configuration_schema(store)
                    .await
            }
        }
    }

    pub async fn validate_config(
        &self,
        store: &mut Store<HostState>,
        config: &str,
    ) -> wasmtime::Result<Vec<wit_types::FieldError>> {
        match self {
            Bindings::V0_1(b) => Ok(b
                .tributary_connector_source()
                .call_validate_config(store, config)
                .await?
                .into_iter()
                .map(v0_1::field_error)
                .collect()),
            Bindings::V0_2(b) => {
                b.tributary_connector_source()
                    .call_validate_config(store, config)
                    .await
            }
        }
    }

    pub async fn ping(
        &self,
        store: &mut Store<HostState>,
        config: &str,
    ) -> wasmtime::Result<Result<(), wit_types::PluginError>> {
        match self {
            Bindings::V0_1(b) => Ok(b
                .tributary_connector_source()
                .call_ping(store, config)
                .await?
                .map_err(v0_1::plugin_error)),
            Bindings::V0_2(b) => {
                b.tributary_connector_source()
                    .call_ping(store, config)
                    .await
            }
        }
    }

    pub async fn validate_advanced_rules(
        &self,
        store: &mut Store<HostState>,
        config: &str,
        rules: &str,
    ) -> wasmtime::Result<Vec<String>> {
        match self {
            Bindings::V0_1(b) => {
                b.tributary_connector_source()
                    .call_validate_advanced_rules(store, config, rules)
                    .await
            }
            Bindings::V0_2(b) => {
                b.tributary_connector_source()
                    .call_validate_advanced_rules(store, config, rules)
                    .await
            }
        }
    }

    pub async fn start_sync(
        &self,
        store: &mut Store<HostState>,
        config: &str,
        request: &wit_types::SyncRequest,
    ) -> wasmtime::Result<Result<ResourceAny, wit_types::PluginError>> {
        match self {
            Bindings::V0_1(b) => Ok(b
                .tributary_connector_source()
                .call_start_sync(store, config, &v0_1::sync_request(request))
                .await?
                .map_err(v0_1::plugin_error)),
            Bindings::V0_2(b) => {
                b.tributary_connector_source()
                    .call_start_sync(store, config, request)
                    .await
            }
        }
    }

    pub async fn next_batch(
        &self,
        store: &mut Store<HostState>,
        sync: ResourceAny,
    ) -> wasmtime::Result<Result<Option<wit_types::Batch>, wit_types::PluginError>> {
        match self {
            Bindings::V0_1(b) => Ok(b
                .tributary_connector_source()
                .sync()
                .call_next_batch(store, sync)
                .await?
                .map(|o| o.map(v0_1::batch))
                .map_err(v0_1::plugin_error)),
            Bindings::V0_2(b) => {
                b.tributary_connector_source()
                    .sync()
                    .call_next_batch(store, sync)
                    .await
            }
        }
    }

    pub async fn cursor(
        &self,
        store: &mut Store<HostState>,
        sync: ResourceAny,
    ) -> wasmtime::Result<Option<String>> {
        match self {
            Bindings::V0_1(b) => {
                b.tributary_connector_source()
                    .sync()
                    .call_cursor(store, sync)
                    .await
            }
            Bindings::V0_2(b) => {
                b.tributary_connector_source()
                    .sync()
                    .call_cursor(store, sync)
                    .await
            }
        }
    }
}
