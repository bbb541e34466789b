//! `es-sim`: run the Elasticsearch stand-in as a process.

use es_sim::{Faults, Options, Server};
use std::net::SocketAddr;

// glibc malloc was ~30 % of a bulk-ingest profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: es-sim --listen 127.0.0.1:9200 [--version 9.1.0] \
[--username elastic --password changeme | --no-security] [--seed N] [--refresh-interval-ms N] \
[--bulk-item-429-rate F] [--request-429-rate F] [--request-503-rate F] [--drop-connection-rate F] \
[--latency-ms N] [--faults-all-paths]";

fn parse_args() -> Result<(SocketAddr, Options), String> {
    let mut opts = Options::default();
    let mut faults = Faults::default();
    let mut listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 9200));
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        let f64_of = |s: String, name: &str| -> Result<f64, String> {
            s.parse::<f64>()
                .ok()
                .filter(|v| (0.0..=1.0).contains(v))
                .ok_or_else(|| format!("{name}: expected a rate in [0, 1], got {s}"))
        };
        match a.as_str() {
            "--listen" => {
                listen = val("--listen")?
                    .parse()
                    .map_err(|e| format!("--listen: {e}"))?
            }
            "--version" => opts.version = val("--version")?,
            "--username" => opts.username = val("--username")?,
            "--password" => opts.password = val("--password")?,
            "--no-security" => opts.security = false,
            "--seed" => opts.seed = val("--seed")?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--refresh-interval-ms" => {
                let ms: u64 = val("--refresh-interval-ms")?
                    .parse()
                    .map_err(|e| format!("--refresh-interval-ms: {e}"))?;
                opts.refresh_interval = std::time::Duration::from_millis(ms);
            }
            "--bulk-item-429-rate" => faults.bulk_item_429_rate = f64_of(val(&a)?, &a)?,
            "--request-429-rate" => faults.request_429_rate = f64_of(val(&a)?, &a)?,
            "--request-503-rate" => faults.request_503_rate = f64_of(val(&a)?, &a)?,
            "--drop-connection-rate" => faults.drop_connection_rate = f64_of(val(&a)?, &a)?,
            "--latency-ms" => {
                faults.latency_ms = val(&a)?.parse().map_err(|e| format!("--latency-ms: {e}"))?
            }
            "--faults-all-paths" => faults.all_paths = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    opts.faults = faults;
    Ok((listen, opts))
}

fn main() {
    let (listen, opts) = match parse_args() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("es-sim: {e}");
            std::process::exit(1);
        }
    };
    rt.block_on(async move {
        let server = match Server::start_on(listen, opts).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("es-sim: {e}");
                std::process::exit(1);
            }
        };
        println!("es-sim listening on {}", server.url());
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let _ = tokio::signal::ctrl_c().await;
        server.shutdown().await;
    });
}
