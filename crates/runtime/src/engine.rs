//! The wasmtime engine: settings, and the epoch ticker that drives CPU budgets.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Config, Engine};

use super::error::PluginError;
use super::runtime_config::RuntimeConfig;

/// Builds the engine every plugin runs on.
pub fn build_engine(cfg: &RuntimeConfig) -> Result<Engine, PluginError> {
    let mut c = Config::new();
    // Epochs, not fuel: fuel costs another 7–11 % and a deadline is all we need.
    c.epoch_interruption(true);
    c.wasm_backtrace_max_frames(std::num::NonZeroUsize::new(32));
    // Symbolic frames come from the name section; DWARF parsing is slow and rarely present.
    c.wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Disable);
    c.max_wasm_stack(cfg.max_wasm_stack);
    c.cranelift_opt_level(wasmtime::OptLevel::Speed);
    c.parallel_compilation(true);
    Engine::new(&c)
        .map_err(|e| PluginError::Runtime(format!("cannot create the wasmtime engine: {e}")))
}

/// Increments the engine's epoch every tick on a background thread until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    /// Starts ticking `engine` every `tick`.
    pub fn start(engine: &Engine, tick: Duration) -> Result<Self, PluginError> {
        let stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("tributary-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    // A weak handle: the thread must not keep the engine alive.
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| PluginError::Runtime(format!("cannot start the epoch ticker: {e}")))?;
        Ok(EpochTicker { stop })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
