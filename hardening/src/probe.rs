//! Probes for tests that prove nothing is fetched or read (feature `probes`): a loopback
//! listener that counts connections, and a FIFO that blocks whoever opens it; and what tests
//! of a server process need: a free port, its open descriptors, SIGTERM with a deadline, and a
//! guard that kills the process (by its pid) when a test ends early.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A loopback HTTP listener that counts the connections it gets (and answers `<x/>`).
#[derive(Debug)]
pub struct Listener {
    url: String,
    hits: Arc<AtomicUsize>,
}

impl Listener {
    /// Listens on an ephemeral loopback port, on a thread of its own for the process's life.
    ///
    /// # Panics
    /// When no loopback port can be bound (a broken test machine).
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&hits);
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                counted.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 2048];
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(
                    b"HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 4\r\n\r\n<x/>",
                );
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}/probe"),
            hits,
        }
    }

    /// The URL to plant (`http://127.0.0.1:PORT/probe`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many connections it has had.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A named pipe in a temporary folder: opening it for reading blocks until a writer comes.
#[derive(Debug)]
pub struct Fifo {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Fifo {
    /// Makes the FIFO (with `mkfifo`).
    ///
    /// # Panics
    /// When `mkfifo` fails.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("mkfifo runs");
        assert!(status.success(), "mkfifo {}", path.display());
        Self { _dir: dir, path }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a thread and waits up to `limit` for it. When it has not returned by then
    /// (blocked opening this FIFO), the FIFO is opened for writing, which lets the reader go
    /// on, and the answer is an error: the test fails instead of hanging.
    ///
    /// # Errors
    /// `f` did not return within `limit`.
    pub fn within<T: Send + 'static>(
        &self,
        limit: Duration,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        if let Ok(value) = rx.recv_timeout(limit) {
            return Ok(value);
        }
        let path = self.path.clone();
        std::thread::spawn(move || {
            // Blocks until the stuck reader has the FIFO open, then lets it read EOF.
            let _ = std::fs::OpenOptions::new().write(true).open(path);
        });
        let _ = rx.recv_timeout(Duration::from_secs(10));
        Err(format!(
            "did not return within {limit:?}: it opened {} (released by the test)",
            self.path.display()
        ))
    }
}

impl Default for Fifo {
    fn default() -> Self {
        Self::new()
    }
}

/// Opens `n` TCP connections to `addr` and sends nothing on them.
///
/// # Panics
/// When a connection cannot be made.
pub fn idle_connections(addr: std::net::SocketAddr, n: usize) -> Vec<std::net::TcpStream> {
    (0..n)
        .map(|i| {
            std::net::TcpStream::connect(addr)
                .unwrap_or_else(|e| panic!("connection {i} to {addr}: {e}"))
        })
        .collect()
}

/// Whether the server closed `stream` (a read gives EOF or an error) within `limit`.
pub fn closed_within(stream: &mut std::net::TcpStream, limit: Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        let _ = stream.set_read_timeout(Some(left));
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                );
            }
        }
    }
}

/// How many file descriptors process `pid` has open (Linux, from `/proc`).
///
/// # Panics
/// When `/proc/PID/fd` cannot be read.
pub fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/PID/fd")
        .count()
}

/// A free loopback port (bound, read and released: another process may take it first, which
/// a test then sees as a start-up failure).
///
/// # Panics
/// When no loopback port can be bound (a broken test machine).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A child process that is killed (by its pid) and reaped when this is dropped, unless it has
/// exited: a test that fails halfway does not leave its server running.
#[derive(Debug)]
pub struct Spawned(pub std::process::Child);

impl std::ops::Deref for Spawned {
    type Target = std::process::Child;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Spawned {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Sends SIGTERM to the child (by its pid) and waits up to `limit` for it to exit; kills it
/// (by its pid) when it has not. The exit status, or `None` when it had to be killed.
///
/// # Panics
/// When `kill` cannot run.
pub fn terminate_within(
    child: &mut std::process::Child,
    limit: Duration,
) -> Option<std::process::ExitStatus> {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -TERM {}", child.id());
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spawned_process_is_killed_and_reaped_when_its_guard_drops() {
        let child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .map(Spawned)
            .expect("sleep starts");
        let pid = child.id();
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        drop(child);
        // Killed and reaped: no process, not even a zombie, is left with that pid.
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} is left"
        );
    }
}
