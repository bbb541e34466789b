//! Bulk-ingest benchmark: pushes N documents through `_bulk` into an in-process es-sim and
//! reports docs/s and the process RSS afterwards.
//!
//! `cargo run -p es-sim --release --example bulk_bench -- [DOCS] [DOC_BYTES] [BATCH] [CONCURRENCY]`
//! (defaults: 1000000 docs of ~100 bytes, 5000 per request, 2 requests in flight).

use es_sim::{Options, Server};
use std::time::Instant;

// As the es-sim binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn batch(start: usize, n: usize, doc_bytes: usize) -> Vec<u8> {
    let pad = "x".repeat(doc_bytes.saturating_sub(90));
    let mut out = Vec::with_capacity(n * (doc_bytes + 60));
    for i in start..start + n {
        out.extend_from_slice(
            format!(
                "{{\"index\":{{\"_index\":\"bench\",\"_id\":\"doc-{i}\"}}}}\n{{\"id\":{i},\"title\":\"document number {i}\",\"price\":{}.5,\"ok\":true,\"pad\":\"{pad}\"}}\n",
                i % 1000
            )
            .as_bytes(),
        );
    }
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let docs = *args.first().unwrap_or(&1_000_000);
    let doc_bytes = *args.get(1).unwrap_or(&100);
    let per = *args.get(2).unwrap_or(&5000);
    let conc = *args.get(3).unwrap_or(&2);
    let server = Server::start(Options {
        security: false,
        ..Default::default()
    })
    .await?;
    let url = format!("{}/_bulk", server.url());
    let base_rss = rss_kib();
    let client = reqwest::Client::new();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (client, url, next) = (client.clone(), url.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let start = next.fetch_add(per, std::sync::atomic::Ordering::Relaxed);
                if start >= docs {
                    return Ok::<(), anyhow::Error>(());
                }
                let n = per.min(docs - start);
                let body = batch(start, n, doc_bytes);
                let resp = client
                    .post(&url)
                    .header("content-type", "application/x-ndjson")
                    .body(body)
                    .send()
                    .await?;
                let bytes = resp.bytes().await?;
                anyhow::ensure!(
                    bytes.starts_with(b"{\"errors\":false"),
                    "bulk reported errors"
                );
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    client
        .post(format!("{}/bench/_refresh", server.url()))
        .send()
        .await?;
    let count: serde_json::Value = client
        .get(format!("{}/bench/_count", server.url()))
        .send()
        .await?
        .json()
        .await?;
    let rss = rss_kib();
    println!(
        "docs={docs} doc_bytes~{doc_bytes} batch={per} concurrency={conc}: {:.2}s, {:.0} docs/s, count={}, RSS {} MiB (baseline {} MiB)",
        secs,
        docs as f64 / secs,
        count["count"],
        rss / 1024,
        base_rss / 1024
    );
    server.shutdown().await;
    Ok(())
}
