//! Reads bounded before they happen: a file is read only if it is a regular file, and at
//! most `limit` bytes of it; a download is refused past `limit` bytes while it arrives (and
//! at once when its `Content-Length` says so), within a total time, over http(s) only.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// The most a metadata document may weigh when a server reads it (the reference SP's IdP
/// metadata, the mock IdP's SP metadata).
pub const METADATA_LIMIT: usize = 1 << 20;

/// How long a server waits for a metadata download, all in.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Failed to read a file, a stream or a URL within its bounds.
#[derive(Debug, thiserror::Error)]
#[error("failed to read {source_name}: {kind}")]
pub struct LimitedError {
    /// The file, URL or stream.
    pub source_name: String,
    /// What went wrong.
    pub kind: LimitedErrorKind,
}

/// What went wrong in a bounded read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LimitedErrorKind {
    /// Not a regular file (a FIFO, a device, a folder, a socket).
    #[error("it is not a regular file ({0})")]
    NotRegularFile(String),
    /// More than the limit.
    #[error("it is larger than {} (the limit)", describe(*.0))]
    TooLarge(usize),
    /// Only http(s) URLs are fetched.
    #[error("only http:// and https:// URLs are fetched")]
    Scheme,
    /// The server answered with an error status.
    #[error("the server answered {0}")]
    Status(u16),
    /// Not all of it arrived within the time allowed.
    #[error("it did not arrive within {} s", .0.as_secs())]
    Timeout(Duration),
    /// An I/O or transport failure.
    #[error("{0}")]
    Io(String),
}

impl LimitedError {
    fn new(source_name: impl Into<String>, kind: LimitedErrorKind) -> Self {
        Self {
            source_name: source_name.into(),
            kind,
        }
    }
}

/// `1 MiB`, `64 KiB`, `12 bytes`.
fn describe(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

/// Reads at most `limit` bytes of a regular file. A FIFO, a device (`/dev/zero`), a folder or
/// a socket is refused without being read, and is never opened in a way that could block.
///
/// # Errors
/// Not a regular file, larger than `limit`, or an I/O error.
pub fn read_file(path: &Path, limit: usize) -> Result<Vec<u8>, LimitedError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let name = path.display().to_string();
    let io =
        |e: std::io::Error| LimitedError::new(name.clone(), LimitedErrorKind::Io(e.to_string()));
    let kind_of = |m: &std::fs::Metadata| {
        use std::os::unix::fs::FileTypeExt as _;
        let t = m.file_type();
        if t.is_fifo() {
            "a FIFO"
        } else if t.is_char_device() {
            "a character device"
        } else if t.is_block_device() {
            "a block device"
        } else if t.is_dir() {
            "a folder"
        } else if t.is_socket() {
            "a socket"
        } else {
            "not a file"
        }
    };
    let before = std::fs::metadata(path).map_err(io)?;
    if !before.is_file() {
        return Err(LimitedError::new(
            name,
            LimitedErrorKind::NotRegularFile(kind_of(&before).to_owned()),
        ));
    }
    // O_NONBLOCK: should the path become a FIFO after the check, opening it does not wait
    // for a writer; the check below then refuses it.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    let opened = file.metadata().map_err(io)?;
    if !opened.is_file() {
        return Err(LimitedError::new(
            name,
            LimitedErrorKind::NotRegularFile(kind_of(&opened).to_owned()),
        ));
    }
    if opened.len() > limit as u64 {
        return Err(LimitedError::new(name, LimitedErrorKind::TooLarge(limit)));
    }
    read_to_limit(file, limit, &name)
}

/// [`read_file`] as text.
///
/// # Errors
/// As [`read_file`], or the file is not UTF-8.
pub fn read_file_to_string(path: &Path, limit: usize) -> Result<String, LimitedError> {
    let bytes = read_file(path, limit)?;
    String::from_utf8(bytes).map_err(|_| {
        LimitedError::new(
            path.display().to_string(),
            LimitedErrorKind::Io("it is not UTF-8 text".to_owned()),
        )
    })
}

/// Reads at most `limit` bytes from `reader` (standard input, say): one byte more is an error.
///
/// # Errors
/// More than `limit` bytes, or an I/O error.
pub fn read_to_limit(reader: impl Read, limit: usize, name: &str) -> Result<Vec<u8>, LimitedError> {
    let mut bytes = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| LimitedError::new(name, LimitedErrorKind::Io(e.to_string())))?;
    if bytes.len() > limit {
        return Err(LimitedError::new(name, LimitedErrorKind::TooLarge(limit)));
    }
    Ok(bytes)
}

/// Fetches an http(s) URL (no proxy), refusing the body as soon as it passes `limit` bytes
/// (or its `Content-Length` announces more), the whole exchange within `timeout`.
///
/// # Errors
/// Another scheme, a transport failure, a status other than 2xx, too large, too slow.
pub async fn fetch(url: &str, limit: usize, timeout: Duration) -> Result<Vec<u8>, LimitedError> {
    let fail = |kind: LimitedErrorKind| LimitedError::new(url, kind);
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("http" | "https")) {
        return Err(fail(LimitedErrorKind::Scheme));
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .map_err(|e| fail(LimitedErrorKind::Io(e.to_string())))?;
    let download = async {
        let mut response = client
            .get(url)
            .send()
            .await
            .map_err(|e| fail(LimitedErrorKind::Io(e.to_string())))?;
        if !response.status().is_success() {
            return Err(fail(LimitedErrorKind::Status(response.status().as_u16())));
        }
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(fail(LimitedErrorKind::TooLarge(limit)));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| fail(LimitedErrorKind::Io(e.to_string())))?
        {
            if body.len() + chunk.len() > limit {
                return Err(fail(LimitedErrorKind::TooLarge(limit)));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(timeout, download)
        .await
        .unwrap_or_else(|_| Err(fail(LimitedErrorKind::Timeout(timeout))))
}

/// [`fetch`] as text.
///
/// # Errors
/// As [`fetch`], or the body is not UTF-8.
pub async fn fetch_text(
    url: &str,
    limit: usize,
    timeout: Duration,
) -> Result<String, LimitedError> {
    let bytes = fetch(url, limit, timeout).await?;
    String::from_utf8(bytes).map_err(|_| {
        LimitedError::new(url, LimitedErrorKind::Io("it is not UTF-8 text".to_owned()))
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;
    use crate::probe::Fifo;

    #[test]
    fn only_regular_files_are_read_and_only_up_to_the_limit() {
        let fifo = Fifo::new();
        let path = fifo.path().to_owned();
        let answer = fifo
            .within(Duration::from_secs(5), move || read_file(&path, 1024))
            .expect("a FIFO is refused without waiting for a writer");
        assert!(
            matches!(answer, Err(LimitedError { kind: LimitedErrorKind::NotRegularFile(ref k), .. }) if k == "a FIFO"),
            "{answer:?}"
        );
        for (path, what) in [("/dev/zero", "a character device"), ("/tmp", "a folder")] {
            let err = read_file(Path::new(path), 1024).expect_err(path);
            assert!(err.to_string().contains(what), "{err}");
        }
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(&[b'a'; 2048]).expect("write");
        let err = read_file(file.path(), 1024).expect_err("too large");
        assert!(
            err.to_string()
                .ends_with("it is larger than 1 KiB (the limit)"),
            "{err}"
        );
        assert_eq!(
            read_file(file.path(), 2048).expect("at the limit").len(),
            2048
        );
    }

    #[test]
    fn a_stream_is_cut_one_byte_past_the_limit() {
        let zero = std::fs::File::open("/dev/zero").expect("/dev/zero");
        let err = read_to_limit(zero, 1 << 20, "standard input").expect_err("endless");
        assert!(matches!(err.kind, LimitedErrorKind::TooLarge(_)), "{err}");
        assert_eq!(read_to_limit(&b"abc"[..], 3, "x").expect("fits"), b"abc");
    }

    /// A loopback server that answers every request with `head` and then `body_len` bytes
    /// (slowly when `drip`), counting what it sent.
    async fn server(
        head: &'static str,
        body_len: usize,
        drip: bool,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/metadata", listener.local_addr().expect("addr"));
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&sent);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let counter = std::sync::Arc::clone(&counter);
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let _ = stream.read(&mut buf).await;
                    let _ = stream.write_all(head.as_bytes()).await;
                    let chunk = vec![b'x'; 64 * 1024];
                    let mut left = body_len;
                    while left > 0 {
                        let n = left.min(chunk.len());
                        if stream.write_all(&chunk[..n]).await.is_err() {
                            return;
                        }
                        counter.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
                        left -= n;
                        if drip {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                });
            }
        });
        (url, sent)
    }

    #[tokio::test]
    async fn a_download_stops_at_the_limit_or_the_timeout_and_only_http_is_fetched() {
        // No Content-Length: a body of 64 MiB is cut off soon after the first MiB.
        let (url, sent) = server(
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
            64 << 20,
            false,
        )
        .await;
        let err = fetch(&url, 1 << 20, Duration::from_secs(10))
            .await
            .expect_err("too large");
        assert!(matches!(err.kind, LimitedErrorKind::TooLarge(_)), "{err}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let sent = sent.load(std::sync::atomic::Ordering::SeqCst);
        assert!(sent < 16 << 20, "read {sent} bytes of a 64 MiB body");
        // A Content-Length over the limit: refused before the body.
        let (url, _) = server(
            "HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n",
            0,
            false,
        )
        .await;
        let err = fetch(&url, 1 << 20, Duration::from_secs(10))
            .await
            .expect_err("announced");
        assert!(matches!(err.kind, LimitedErrorKind::TooLarge(_)), "{err}");
        // A body that drips: the timeout is for the whole exchange.
        let (url, _) = server(
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
            1 << 20,
            true,
        )
        .await;
        let started = std::time::Instant::now();
        let err = fetch(&url, 4 << 20, Duration::from_secs(1))
            .await
            .expect_err("slow");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(
            err.to_string().contains("1 s") || matches!(err.kind, LimitedErrorKind::Io(_)),
            "{err}"
        );
        for url in ["/dev/zero", "file:///etc/passwd", "ftp://127.0.0.1/x"] {
            let err = fetch(url, 1024, Duration::from_secs(1))
                .await
                .expect_err(url);
            assert!(matches!(err.kind, LimitedErrorKind::Scheme), "{url}: {err}");
        }
    }
}
