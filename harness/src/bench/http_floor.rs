//! The least one HTTP exchange costs on this machine with the stack the harness, the mock IdP
//! and the reference SP are built on: a [`hardening::serve`] server (hyper and axum) whose one
//! route answers `ok`, and reqwest clients, over loopback, in this process. As many requests
//! are in flight as a run over HTTP has scenarios (`--jobs`' default, twice the cores: a lone
//! request would also pay for waking idle threads, which a busy run seldom does). First
//! requests on kept-alive connections, then requests that each open a connection of their own
//! (connect, accept, close). The fuzz campaign over HTTP and the catalogue make real logins of
//! such exchanges, so their CPU per case or scenario cannot be less than their requests and
//! connections at these prices; every other cost of theirs (SAML, the harness's evidence, the
//! SP's pages and session store) comes on top.

use std::time::{Duration, Instant};

use hardening::meter::process_cpu;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The CPU of a bare exchange, both ends together.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct HttpFloor {
    /// Requests in flight at once.
    pub in_flight: usize,
    /// Requests made on kept-alive connections.
    pub kept_requests: u64,
    /// CPU time of one of them, milliseconds (client and server).
    pub request_ms: f64,
    /// Requests made on a connection of their own.
    pub fresh_requests: u64,
    /// CPU time a connection of its own adds to a request, milliseconds (connect, accept,
    /// close; at least 0).
    pub connection_ms: f64,
}

impl HttpFloor {
    /// The CPU time of `requests` requests on `connections` connections, milliseconds.
    pub fn ms(&self, requests: f64, connections: f64) -> f64 {
        requests * self.request_ms + connections * self.connection_ms
    }
}

/// Measures both kinds, about `duration` each, on this process's runtime (which must have
/// nothing else to do meanwhile: the process's CPU clock counts both ends).
pub async fn measure(duration: Duration) -> Result<HttpFloor, Error> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| failed("binding a loopback port", &e))?;
    let url = format!(
        "http://{}/",
        listener
            .local_addr()
            .map_err(|e| failed("reading the bound port", &e))?
    );
    let router = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hardening::serve::serve(
        listener,
        router,
        hardening::serve::Limits::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let in_flight = crate::engine::RunOptions::default_jobs(crate::driver::DriverKind::Http);
    let kept = run(&url, in_flight, 1, duration).await;
    let fresh = run(&url, in_flight, 0, duration).await;
    let _ = stop.send(());
    let _ = server.await;
    let (kept_requests, kept_cpu) = kept?;
    let (fresh_requests, fresh_cpu) = fresh?;
    let each = |cpu: Duration, n: u64| cpu.as_secs_f64() * 1000.0 / n.max(1) as f64;
    let request_ms = each(kept_cpu, kept_requests);
    Ok(HttpFloor {
        in_flight,
        kept_requests,
        request_ms,
        fresh_requests,
        connection_ms: (each(fresh_cpu, fresh_requests) - request_ms).max(0.0),
    })
}

fn failed(what: &str, e: &dyn std::fmt::Display) -> Error {
    Error::harness(format!("the HTTP floor measure failed: {what}: {e}"))
}

/// Requests to `url`, `in_flight` at once (each loop with a client of its own, keeping `idle`
/// connections), for about `duration` after a warm-up: how
/// many, and the process's CPU time they took.
async fn run(
    url: &str,
    in_flight: usize,
    idle: usize,
    duration: Duration,
) -> Result<(u64, Duration), Error> {
    let loops: Vec<_> = (0..in_flight)
        .map(|_| {
            let client = reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(idle)
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| failed("building a client", &e))?;
            Ok((client, url.to_owned()))
        })
        .collect::<Result<_, Error>>()?;
    for (client, url) in &loops {
        for _ in 0..10 {
            get(client, url).await?;
        }
    }
    let cpu = process_cpu();
    let wall = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (client, url) in loops {
        tasks.spawn(async move {
            let mut count = 0u64;
            while wall.elapsed() < duration || count == 0 {
                get(&client, &url).await?;
                count += 1;
            }
            Ok::<u64, Error>(count)
        });
    }
    let mut count = 0;
    while let Some(done) = tasks.join_next().await {
        count += done.map_err(|e| failed("a loop", &e))??;
    }
    Ok((count, process_cpu().saturating_sub(cpu)))
}

/// One request, its whole body read.
async fn get(client: &reqwest::Client, url: &str) -> Result<(), Error> {
    let body = client
        .get(url)
        .send()
        .await
        .map_err(|e| failed("a request", &e))?
        .bytes()
        .await
        .map_err(|e| failed("a response body", &e))?;
    if body.as_ref() == b"ok" {
        Ok(())
    } else {
        Err(failed("a response body", &"not `ok`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn both_loops_run_and_price_a_request() {
        let floor = measure(Duration::from_millis(200)).await.expect("measured");
        assert!(
            floor.kept_requests > 0 && floor.fresh_requests > 0,
            "{floor:?}"
        );
        assert!(floor.request_ms > 0.0, "{floor:?}");
        assert!(floor.connection_ms >= 0.0, "{floor:?}");
    }
}
