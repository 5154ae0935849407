//! A WebSocket proxy that counts the JSON-RPC requests a client sends to a node, by method: the
//! operator's chain reads are counted at the endpoint, as a public node would see them, not at
//! the operator's call sites. Bytes pass through unchanged in both directions; the client's
//! frames (masked, as RFC 6455 requires of clients) are decoded on the side to read the method.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

type Counts = Arc<Mutex<BTreeMap<String, u64>>>;

/// A running counting proxy in front of one node.
pub struct RpcCounter {
    /// The WebSocket URL to give the client instead of the node's.
    pub url: String,
    counts: Counts,
    open: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl RpcCounter {
    /// Listens on a free local port and forwards every connection to `upstream` (`ws://host:port`).
    pub async fn start(upstream: &str) -> Result<Self> {
        let target = upstream
            .strip_prefix("ws://")
            .with_context(|| format!("{upstream} is not a ws:// URL"))?
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("ws://{}", listener.local_addr()?);
        let counts: Counts = Arc::default();
        let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (c, o) = (counts.clone(), open.clone());
        let task = tokio::spawn(async move {
            use std::sync::atomic::Ordering::SeqCst;
            while let Ok((client, _)) = listener.accept().await {
                let (target, c, o) = (target.clone(), c.clone(), o.clone());
                tokio::spawn(async move {
                    o.fetch_add(1, SeqCst);
                    if let Ok(node) = TcpStream::connect(&target).await {
                        relay(client, node, c).await;
                    }
                    o.fetch_sub(1, SeqCst);
                });
            }
        });
        Ok(Self {
            url,
            counts,
            open,
            task,
        })
    }

    /// Client connections open through the proxy now.
    pub fn open_connections(&self) -> usize {
        self.open.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Requests so far, by method.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Requests so far, all methods.
    pub fn total(&self) -> u64 {
        self.counts().values().sum()
    }
}

impl Drop for RpcCounter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies both ways until either side closes, counting the client's requests.
async fn relay(client: TcpStream, node: TcpStream, counts: Counts) {
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut node_rx, mut node_tx) = node.into_split();
    let down = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut node_rx, &mut client_tx).await;
    });
    let mut decoder = Decoder::default();
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = client_rx.read(&mut buf).await {
        if n == 0 || node_tx.write_all(&buf[..n]).await.is_err() {
            break;
        }
        for method in decoder.feed(&buf[..n]) {
            *counts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(method)
                .or_default() += 1;
        }
    }
    down.abort();
}

/// Decodes the client's side of a WebSocket connection into the methods of its JSON-RPC
/// requests (`?` for a message that is not JSON-RPC).
#[derive(Default)]
struct Decoder {
    /// Past the HTTP upgrade request.
    upgraded: bool,
    buf: Vec<u8>,
    /// A fragmented message so far.
    partial: Vec<u8>,
}

impl Decoder {
    fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(bytes);
        let mut methods = vec![];
        if !self.upgraded {
            let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                return methods;
            };
            self.buf.drain(..end + 4);
            self.upgraded = true;
        }
        while let Some((fin, opcode, payload, used)) = frame(&self.buf) {
            self.buf.drain(..used);
            // Text, binary, or a continuation of either (not close, ping or pong).
            if opcode <= 2 {
                self.partial.extend_from_slice(&payload);
                if fin {
                    methods.extend(json_methods(&self.partial));
                    self.partial.clear();
                }
            }
        }
        methods
    }
}

/// One frame at the start of `b`: (FIN, opcode, unmasked payload, bytes used), or `None` until
/// the whole frame has arrived.
fn frame(b: &[u8]) -> Option<(bool, u8, Vec<u8>, usize)> {
    let (&b0, &b1) = (b.first()?, b.get(1)?);
    let (fin, opcode, masked) = (b0 & 0x80 != 0, b0 & 0x0f, b1 & 0x80 != 0);
    let (len, mut at) = match b1 & 0x7f {
        126 => (u64::from(u16::from_be_bytes([*b.get(2)?, *b.get(3)?])), 4),
        127 => (u64::from_be_bytes(b.get(2..10)?.try_into().ok()?), 10),
        n => (u64::from(n), 2),
    };
    let mask = if masked {
        let m: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(m)
    } else {
        None
    };
    let end = at.checked_add(usize::try_from(len).ok()?)?;
    let mut payload = b.get(at..end)?.to_vec();
    if let Some(m) = mask {
        for (i, p) in payload.iter_mut().enumerate() {
            *p ^= m[i % 4];
        }
    }
    Some((fin, opcode, payload, end))
}

/// The methods of a JSON-RPC request or batch.
fn json_methods(message: &[u8]) -> Vec<String> {
    let one = |v: &serde_json::Value| {
        v.get("method")
            .and_then(|m| m.as_str())
            .unwrap_or("?")
            .to_string()
    };
    match serde_json::from_slice::<serde_json::Value>(message) {
        Ok(serde_json::Value::Array(batch)) => batch.iter().map(one).collect(),
        Ok(v) => vec![one(&v)],
        Err(_) => vec!["?".to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let key = [0x12, 0x34, 0x56, 0x78];
        let mut f = vec![(if fin { 0x80 } else { 0 }) | opcode];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        f
    }

    #[test]
    fn counts_requests_across_split_reads_fragments_and_batches() {
        let mut d = Decoder::default();
        let mut bytes = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n".to_vec();
        bytes.extend(masked_frame(
            true,
            1,
            br#"{"jsonrpc":"2.0","id":1,"method":"chain_getHeader","params":[]}"#,
        ));
        let long = format!(
            r#"[{{"jsonrpc":"2.0","id":2,"method":"state_call","params":["{}"]}},{{"jsonrpc":"2.0","id":3,"method":"chain_getBlockHash"}}]"#,
            "a".repeat(300)
        );
        bytes.extend(masked_frame(false, 1, &long.as_bytes()[..100]));
        bytes.extend(masked_frame(true, 0, &long.as_bytes()[100..]));
        bytes.extend(masked_frame(true, 9, b"ping"));
        // Arrives in pieces of 7 bytes.
        let mut methods = vec![];
        for chunk in bytes.chunks(7) {
            methods.extend(d.feed(chunk));
        }
        assert_eq!(
            methods,
            ["chain_getHeader", "state_call", "chain_getBlockHash"]
        );
    }
}
