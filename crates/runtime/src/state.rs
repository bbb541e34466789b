//! What one store holds: WASI context (no authority), resource table, limits and
//! the job's grants.

use std::sync::Arc;

use tributary_sync::document::Document;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::grants::Grants;
use super::limits::{CpuBudget, MemoryLimiter};
use super::logging::{PluginLog, StderrTail, Stream, TracingSink};

/// The data of one plugin `Store`.
pub struct HostState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub memory: MemoryLimiter,
    pub cpu: CpuBudget,
    /// `service_type` of the plugin, for log events.
    pub plugin: Arc<str>,
    pub grants: Grants,
    /// The plugin's log: escaped, masked, within its budget.
    pub log: PluginLog,
    pub stdout: TracingSink,
    pub stderr: TracingSink,
    pub stderr_tail: StderrTail,
    /// Documents the host shaped from rows during the running `next-batch` call
    /// (WIT `shaping`), handed to the sync ahead of the batch it returns.
    pub shaped: Vec<Document>,
    /// The first shape the host refused: the job fails on it.
    pub shape_violation: Option<String>,
}

impl HostState {
    /// A fresh state for one instance of `plugin`.
    pub fn new(plugin: Arc<str>, memory_limit: usize, cpu_ticks: u64, grants: Grants) -> Self {
        let stderr_tail = StderrTail::default();
        let log = PluginLog::new(plugin.clone(), grants.secrets.clone());
        let stdout = TracingSink::new(log.clone(), Stream::Stdout, None);
        let stderr = TracingSink::new(log.clone(), Stream::Stderr, Some(stderr_tail.clone()));
        let wasi = sandbox_wasi(stdout.clone(), stderr.clone());
        HostState {
            wasi,
            table: ResourceTable::new(),
            memory: MemoryLimiter::new(memory_limit),
            cpu: CpuBudget {
                allowed: cpu_ticks.max(1),
                used: 0,
                exceeded: false,
            },
            plugin,
            grants,
            log,
            stdout,
            stderr,
            stderr_tail,
            shaped: Vec::new(),
            shape_violation: None,
        }
    }
}

/// WASI with no ambient authority. All of WASI 0.2 is linked because Rust's std
/// imports filesystem and socket interfaces as soon as a plugin touches `std::fs`
/// or `std::net`; refusing those plugins at load would be no safer than this:
/// no preopened directories (every path lookup fails), no environment variables,
/// no arguments, empty stdin, TCP/UDP and name lookup disabled and every socket
/// address denied. Clocks are wall and monotonic time only; random is the host's.
fn sandbox_wasi(stdout: TracingSink, stderr: TracingSink) -> WasiCtx {
    let mut b = WasiCtxBuilder::new();
    b.stdout(stdout)
        .stderr(stderr)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }));
    b.build()
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
