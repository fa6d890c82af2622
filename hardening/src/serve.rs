//! HTTP/1 serving that no client can hold open: a request head (on a new connection, or on an
//! idle keep-alive one) must arrive within [`Limits::header_timeout`], a request body within
//! [`Limits::body_timeout`], a connection with nothing in flight and no bytes moving either way
//! for [`Limits::idle_timeout`] is closed, at most [`Limits::max_connections`] are open at once
//! (the next ones wait in the listen backlog, holding no descriptor of the process), and a
//! graceful shutdown waits at most [`Limits::shutdown_grace`] for connections to finish.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

/// The bounds of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A whole request head must arrive within this, on a new connection and between the
    /// requests of a keep-alive one (an idle keep-alive connection is closed after it).
    pub header_timeout: Duration,
    /// A whole request body must arrive within this, counted from its head.
    pub body_timeout: Duration,
    /// A connection with no request in flight and no byte read or written for this long is
    /// closed (a client that stops reading its response, say).
    pub idle_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog until one ends.
    pub max_connections: usize,
    /// How long a graceful shutdown waits for open connections before it closes them.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    /// Headers within 10 s, bodies within 30 s, idle connections closed after 30 s, 512
    /// connections, 2 s of grace at shutdown.
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            max_connections: 512,
            shutdown_grace: Duration::from_secs(2),
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves; then stops
/// accepting, asks every connection to finish (idle ones close at once) and closes what is
/// still open after [`Limits::shutdown_grace`].
///
/// # Errors
/// Never, today: accept errors (out of descriptors, say) are logged and retried.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, _peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "failed to accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let stop = stop_rx.clone();
        connections.spawn(async move {
            serve_connection(stream, router, limits, stop).await;
            drop(permit);
        });
        // Reap finished connections as we go, so the set does not grow with the run.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    stop_tx.send_replace(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(
            open = connections.len(),
            "closing connections still open after the shutdown grace period"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is called (not when
/// the future is first polled), so call it before the server starts: a SIGTERM that arrives
/// while it starts up then stops it cleanly instead of killing the process.
///
/// # Errors
/// The SIGTERM handler could not be installed.
pub fn termination() -> io::Result<impl Future<Output = ()> + Send> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

/// Connections served by every server of this process (counted, not timed).
pub static CONNECTIONS: crate::meter::Meter = crate::meter::Meter::new();

/// Requests served by every server of this process (counted, not timed).
pub static REQUESTS: crate::meter::Meter = crate::meter::Meter::new();

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    CONNECTIONS.count(1);
    let started = Instant::now();
    let activity = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let io = hyper_util::rt::TokioIo::new(Watched {
        inner: stream,
        started,
        activity: Arc::clone(&activity),
    });
    let counter = Arc::clone(&in_flight);
    let service =
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let guard = InFlight::enter(&counter);
            REQUESTS.count(1);
            let request = request.map(|body| Body::new(Deadline::new(body, limits.body_timeout)));
            let answer = router.clone().oneshot(request);
            async move {
                let response = answer.await;
                drop(guard);
                response
            }
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let connection = builder.serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    let mut stopping = false;
    let mut tick = tokio::time::interval(
        limits
            .idle_timeout
            .min(Duration::from_secs(1))
            .max(Duration::from_millis(10)),
    );
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            changed = stop.changed(), if !stopping => {
                if changed.is_err() || *stop.borrow() {
                    stopping = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
            _ = tick.tick() => {
                let last = Duration::from_millis(activity.load(Ordering::Relaxed));
                let idle = started.elapsed().saturating_sub(last);
                if in_flight.load(Ordering::Relaxed) == 0 && idle >= limits.idle_timeout {
                    tracing::debug!(?idle, "closing an idle connection");
                    return;
                }
            }
        }
    }
}

/// Counts a request in flight on its connection while it lives.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(counter))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A TCP stream that notes when bytes last moved (milliseconds since the connection began).
struct Watched {
    inner: TcpStream,
    started: Instant,
    activity: Arc<AtomicU64>,
}

impl Watched {
    fn touch(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.activity.store(now, Ordering::Relaxed);
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request body that must arrive in full by a deadline (counted from the request head);
/// past it, reading it fails, the handler answers with an error and the connection closes.
struct Deadline {
    body: hyper::body::Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
}

impl Deadline {
    fn new(body: hyper::body::Incoming, timeout: Duration) -> Self {
        Self {
            body,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            timeout,
        }
    }
}

/// The request body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {} s", .0.as_secs())]
pub struct BodyTimeout(Duration);

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if http_body::Body::is_end_stream(&self.body) {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            let timeout = self.timeout;
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimeout(timeout)))));
        }
        Pin::new(&mut self.body)
            .poll_frame(cx)
            .map_err(axum::Error::new)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::SocketAddr;

    use axum::routing::{get, post};

    use super::*;
    use crate::probe::closed_within;

    fn limits(ms: u64) -> Limits {
        Limits {
            header_timeout: Duration::from_millis(ms),
            body_timeout: Duration::from_millis(ms),
            idle_timeout: Duration::from_millis(ms),
            max_connections: 64,
            shutdown_grace: Duration::from_millis(ms),
        }
    }

    /// A server with `/` (a short answer), `/big` (64 MiB) and `POST /echo` (the body's
    /// length), on its own thread and runtime; its address and a stop switch.
    fn start(
        limits: Limits,
    ) -> (
        SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        std::thread::JoinHandle<()>,
    ) {
        let router = Router::new()
            .route("/", get(|| async { "ok" }))
            .route("/big", get(|| async { vec![b'x'; 64 << 20] }))
            .route(
                "/echo",
                post(|body: Bytes| async move { body.len().to_string() }),
            );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("listener");
                serve(listener, router, limits, async {
                    let _ = stopped.await;
                })
                .await
                .expect("serve");
            });
        });
        (addr, stop, thread)
    }

    fn connect(addr: SocketAddr) -> std::net::TcpStream {
        let stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream
    }

    /// Sends one GET and reads the whole answer (the server closes after it).
    fn get_root(addr: SocketAddr) -> String {
        let mut stream = connect(addr);
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read");
        answer
    }

    #[test]
    fn fifty_idle_connections_do_not_stop_a_new_request() {
        let (addr, stop, thread) = start(Limits::default());
        let idle: Vec<_> = (0..50).map(|_| connect(addr)).collect();
        let started = Instant::now();
        assert!(get_root(addr).ends_with("ok"));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        drop(idle);
        let _ = stop.send(());
        thread.join().expect("server thread");
    }

    #[test]
    fn idle_and_half_sent_connections_are_closed_after_their_timeouts() {
        let (addr, stop, thread) = start(limits(300));
        // Nothing sent at all.
        let mut silent = connect(addr);
        // Half a request head.
        let mut half_head = connect(addr);
        half_head
            .write_all(b"GET / HTTP/1.1\r\nHost:")
            .expect("write");
        // A head, then half the body it announces.
        let mut half_body = connect(addr);
        half_body
            .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
            .expect("write");
        // A keep-alive connection after one answer.
        let mut kept = connect(addr);
        kept.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        let mut buf = [0u8; 256];
        assert!(kept.read(&mut buf).expect("answer") > 0);
        for (name, stream) in [
            ("silent", &mut silent),
            ("half a head", &mut half_head),
            ("half a body", &mut half_body),
            ("idle keep-alive", &mut kept),
        ] {
            assert!(
                closed_within(stream, Duration::from_secs(5)),
                "{name} stays open"
            );
        }
        let _ = stop.send(());
        thread.join().expect("server thread");
    }

    #[test]
    fn a_client_that_stops_reading_its_answer_is_dropped_after_the_idle_timeout() {
        let bounded = Limits {
            idle_timeout: Duration::from_millis(300),
            ..Limits::default()
        };
        let (addr, stop, thread) = start(bounded);
        let mut stream = connect(addr);
        stream
            .write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        // Read nothing for a while: the server's writes stall on full buffers.
        std::thread::sleep(Duration::from_millis(1500));
        let mut read = 0usize;
        let mut buf = vec![0u8; 1 << 20];
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let closed = loop {
            match stream.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => read += n,
                Err(_) => break false,
            }
        };
        assert!(closed, "the stalled answer is still open");
        assert!(read < 64 << 20, "the whole answer arrived ({read} bytes)");
        let _ = stop.send(());
        thread.join().expect("server thread");
    }

    #[test]
    fn beyond_the_cap_connections_wait_until_one_ends() {
        let mut bounded = limits(500);
        bounded.max_connections = 4;
        let (addr, stop, thread) = start(bounded);
        let idle: Vec<_> = (0..4).map(|_| connect(addr)).collect();
        std::thread::sleep(Duration::from_millis(100));
        // The fifth is queued (not accepted) until the idle ones time out, then served.
        let started = Instant::now();
        assert!(get_root(addr).ends_with("ok"));
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(300) && waited < Duration::from_secs(5),
            "served after {waited:?}"
        );
        drop(idle);
        let _ = stop.send(());
        thread.join().expect("server thread");
    }

    #[test]
    fn shutdown_does_not_wait_for_idle_or_stuck_connections() {
        let bounded = Limits {
            shutdown_grace: Duration::from_millis(500),
            ..Limits::default()
        };
        let (addr, stop, thread) = start(bounded);
        let idle: Vec<_> = (0..20).map(|_| connect(addr)).collect();
        let mut stuck = connect(addr);
        stuck.write_all(b"GET / HTTP/1.1\r\nHo").expect("write");
        std::thread::sleep(Duration::from_millis(100));
        let started = Instant::now();
        let _ = stop.send(());
        thread.join().expect("server thread");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "shutdown took {:?}",
            started.elapsed()
        );
        drop(idle);
    }
}
