//! One live plugin instance (one `Store`): arming the limits before every call and
//! turning whatever went wrong into a [`PluginError`] that names the plugin.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::ResourceAny;
use wasmtime::{Engine, Store, Trap, UpdateDeadline, WasmBacktrace};

use super::bindings::{wit_types as wit, Bindings, HostPre};
use super::error::PluginError;
use super::grants::Grants;
use super::limits::CpuLimitExceeded;
use super::state::HostState;
use tributary_sync::document::Document;

/// Limits shared by every instance of a runtime.
#[derive(Debug, Clone)]
pub struct Limits {
    pub memory_limit_mb: u64,
    pub cpu_limit: Duration,
    pub call_timeout: Duration,
    pub epoch_tick: Duration,
    pub max_empty_batches: u64,
}

impl Limits {
    fn cpu_ticks(&self) -> u64 {
        let tick = self.epoch_tick.as_nanos().max(1);
        (self.cpu_limit.as_nanos().div_ceil(tick)).clamp(1, u128::from(u64::MAX)) as u64
    }
}

/// How many wasm frames a trap message shows.
const BACKTRACE_FRAMES: usize = 6;

/// A plugin instance. A trapped instance is dead: every later call fails with
/// the first error (wasmtime forbids re-entering a store after a trap).
pub struct Instance {
    store: Store<HostState>,
    bindings: Bindings,
    label: Arc<str>,
    limits: Arc<Limits>,
    dead: Option<String>,
}

impl Instance {
    /// Instantiates `pre` in a fresh store with `grants`.
    pub async fn new(
        engine: &Engine,
        pre: &HostPre,
        service_type: Arc<str>,
        label: Arc<str>,
        limits: Arc<Limits>,
        grants: Grants,
    ) -> Result<Self, PluginError> {
        let memory =
            usize::try_from(limits.memory_limit_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        let state = HostState::new(service_type, memory, limits.cpu_ticks(), grants);
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.memory);
        // Each deadline hit costs one tick of the budget and yields to tokio, so a
        // busy plugin neither blocks a worker thread nor escapes the wall-clock bound.
        store.epoch_deadline_callback(|mut ctx| {
            let cpu = &mut ctx.data_mut().cpu;
            cpu.used += 1;
            if cpu.used >= cpu.allowed {
                cpu.exceeded = true;
                return Err(wasmtime::Error::new(CpuLimitExceeded));
            }
            Ok(UpdateDeadline::Yield(1))
        });
        arm(&mut store);
        let timeout = limits.call_timeout;
        let result = tokio::time::timeout(timeout, pre.instantiate_async(&mut store)).await;
        match result {
            Ok(Ok(bindings)) => Ok(Instance {
                store,
                bindings,
                label,
                limits,
                dead: None,
            }),
            Ok(Err(e)) => Err(classify(&label, &limits, store.data(), "instantiation", &e)),
            Err(_) => Err(PluginError::WallClockLimit {
                plugin: label.to_string(),
                call: "instantiation",
                limit_s: timeout.as_secs_f64(),
            }),
        }
    }

    /// The limits this instance runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Bytes of linear memory the instance holds now.
    pub fn memory_bytes(&self) -> usize {
        self.store.data().memory.total()
    }

    /// The documents the host shaped for the plugin since the last call (WIT
    /// `shaping`), or the first shape it refused.
    pub fn take_shaped(&mut self) -> Result<Vec<Document>, String> {
        let state = self.store.data_mut();
        match state.shape_violation.take() {
            Some(e) => Err(e),
            None => Ok(std::mem::take(&mut state.shaped)),
        }
    }

    fn alive(&self) -> Result<(), PluginError> {
        match &self.dead {
            Some(first) => Err(PluginError::Dead {
                plugin: self.label.to_string(),
                first: first.clone(),
            }),
            None => Ok(()),
        }
    }

    fn settle<T>(
        &mut self,
        call: &'static str,
        result: Result<wasmtime::Result<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, PluginError> {
        let state = self.store.data();
        state.stdout.flush();
        state.stderr.flush();
        let err = match result {
            Ok(Ok(v)) => {
                tributary_metrics::plugin_call_ok(&state.plugin, call);
                return Ok(v);
            }
            Ok(Err(e)) => classify(&self.label, &self.limits, state, call, &e),
            Err(_) => {
                // The host gives up on this call: nothing it started may keep running.
                state.grants.cancel_running();
                PluginError::WallClockLimit {
                    plugin: self.label.to_string(),
                    call,
                    limit_s: self.limits.call_timeout.as_secs_f64(),
                }
            }
        };
        let err = err.masked(&state.grants.secrets);
        tributary_metrics::plugin_call(&state.plugin, call, err.call_outcome());
        tracing::warn!(plugin = %self.label, call, error = %err, "plugin call failed");
        self.dead = Some(err.to_string());
        Err(err)
    }

    /// `metadata()`.
    pub async fn metadata(&mut self) -> Result<wit::Metadata, PluginError> {
        self.alive()?;
        arm(&mut self.store);
        let fut = self.bindings.metadata(&mut self.store);
        let r = tokio::time::timeout(self.limits.call_timeout, fut).await;
        self.settle("metadata", r)
    }

    /// `configuration-schema()`.
    pub async fn configuration_schema(&mut self) -> Result<Vec<wit::ConfigField>, PluginError> {
        self.alive()?;
        arm(&mut self.store);
        let fut = self.bindings.configuration_schema(&mut self.store);
        let r = tokio::time::timeout(self.limits.call_timeout, fut).await;
        self.settle("configuration-schema", r)
    }

    /// `validate-config(config)`.
    pub async fn validate_config(
        &mut self,
        config: &str,
    ) -> Result<Vec<wit::FieldError>, PluginError> {
        self.alive()?;
        arm(&mut self.store);
        let fut = self.bindings.validate_config(&mut self.store, config);
        let r = tokio::time::timeout(self.limits.call_timeout, fut).await;
        self.settle("validate-config", r)
    }

    /// `ping(config)`.
    pub async fn ping(
        &mut self,
        config: &str,
    ) -> Result<Result<(), wit::PluginError>, PluginError> {
        self.alive()?;
        arm(&mut self.store);
        let fut = self.bindings.ping(&mut self.store, config);
        let r = tokio::time::timeout(self.limits.call_timeout, fut).await;
        self.settle("ping", r)
    }

    /// `validate-advanced-rules(config, rules)`.
    pub async fn validate_advanced_rules(
        &mut self,
        config: &str,
        rules: &str,
    ) -> Result<Vec<String>, PluginError> {
        self.alive()?;
        arm(&mut self.store);
        let fut = self
            .bindings
            .validate_advanced_rules(&mut self.store, config, rules);
        let r = tokio::time::timeout(self.limits.call_timeout, fut).await;
        self.settle("validate-advanced-rules", r)
    }

    /// `start-sync(config, request)`.
    pub async fn start_sync(
        &mut self,
        config: &str,
        request: &wit::SyncRequest,
    ) -> Result<Result<ResourceAny, wit::PluginError>, PluginError> {
        self.alive()?;
        arm(&mut self.store);
        let fut = self.bindings.start_sync(&mut self.store, config, request);
        let r = tokio::time::timeout(self.limits.call_timeout, fut).await;
        self.settle("start-sync", r)
    }

    /// `sync.next-batch()`.
    pub async fn next_batch(
        &mut self,
        sync: ResourceAny,
    ) -> Result<Result<Option<wit::Batch>, wit::PluginError>, PluginError> {
        self.alive()?;
        arm(&mut self.store);
        let fut = self.bindings.next_batch(&mut self.store, sync);
        let r = tokio::time::timeout(self.limits.call_timeout, fut).await;
        self.settle("next-batch", r)
    }

    /// `sync.cursor()`.
    pub async fn cursor(&mut self, sync: ResourceAny) -> Result<Option<String>, PluginError> {
        self.alive()?;
        arm(&mut self.store);
        let fut = self.bindings.cursor(&mut self.store, sync);
        let r = tokio::time::timeout(self.limits.call_timeout, fut).await;
        self.settle("cursor", r)
    }
}

/// Re-arms the CPU budget: the epoch deadline counts wall time (host calls
/// included), so it must start afresh for every call.
fn arm(store: &mut Store<HostState>) {
    let cpu = &mut store.data_mut().cpu;
    cpu.used = 0;
    cpu.exceeded = false;
    store.set_epoch_deadline(1);
}

/// Names what stopped the plugin: a limit (whatever shape its failure took), a
/// panic (from the guest's stderr), a trap (with the first wasm frames), or else
/// the runtime's own message.
fn classify(
    label: &str,
    limits: &Limits,
    state: &HostState,
    call: &'static str,
    e: &wasmtime::Error,
) -> PluginError {
    let plugin = label.to_string();
    if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return PluginError::Exited {
            plugin,
            call,
            code: exit.0,
        };
    }
    if state.memory.hit {
        return PluginError::MemoryLimit {
            plugin,
            call,
            limit_mb: limits.memory_limit_mb,
        };
    }
    if state.cpu.exceeded || e.is::<CpuLimitExceeded>() {
        return PluginError::CpuLimit {
            plugin,
            call,
            limit_s: limits.cpu_limit.as_secs_f64(),
        };
    }
    if let Some(trap) = e.downcast_ref::<Trap>() {
        if let Some(message) = state.stderr_tail.panic_message() {
            return PluginError::Panic {
                plugin,
                call,
                message,
            };
        }
        let backtrace = e
            .downcast_ref::<WasmBacktrace>()
            .map(|bt| {
                let frames: Vec<String> = bt
                    .frames()
                    .iter()
                    .take(BACKTRACE_FRAMES)
                    .map(|f| f.func_name().unwrap_or("<unnamed>").to_string())
                    .collect();
                if frames.is_empty() {
                    String::new()
                } else {
                    format!(" (wasm backtrace: {})", frames.join(" <- "))
                }
            })
            .unwrap_or_default();
        return PluginError::Trap {
            plugin,
            call,
            message: trap.to_string(),
            backtrace,
        };
    }
    let message = e
        .chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ");
    PluginError::Host {
        plugin,
        call,
        message,
    }
}
