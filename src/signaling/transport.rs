//! SIP over TCP: the listener and one task per connection.
//!
//! A connection task reads bytes, frames them into whole messages with
//! [`hibiki_sip::parse::StreamFramer`] (Content-Length framing, CRLF
//! keep-alives, linear work however a peer splits its bytes)
//! and hands each message to the engine; it also writes what the engine
//! sends to that peer. A framing error is answered (when the parser can
//! build an answer) and the connection closed, since a stream cannot
//! resynchronise after a bad Content-Length. UDP needs no task of its own:
//! the engine reads its socket directly.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use hibiki_sip::parse::{Framed, StreamFramer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::debug;

/// The largest message a peer may send over a stream.
const MAX_BUFFER: usize = 128 * 1024;
/// A connection idle this long is closed (RFC 5626 keep-alives are CRLFs).
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a connection we are closing (peer done sending, or an
/// unframeable stream) still delivers answers to what it already sent.
const LINGER: Duration = Duration::from_secs(1);
/// Outbound bytes queued per connection before we give up on the peer.
const WRITE_QUEUE: usize = 256;

/// What connection tasks tell the engine.
pub enum StreamInbound {
    Opened {
        remote: SocketAddr,
        writer: mpsc::Sender<Bytes>,
    },
    Message {
        remote: SocketAddr,
        bytes: Bytes,
    },
    Closed {
        remote: SocketAddr,
    },
}

/// The engine's table of open connections, by peer address.
#[derive(Default)]
pub struct TcpConnections {
    writers: HashMap<SocketAddr, mpsc::Sender<Bytes>>,
}

impl TcpConnections {
    pub fn insert(&mut self, remote: SocketAddr, writer: mpsc::Sender<Bytes>) {
        self.writers.insert(remote, writer);
    }

    pub fn remove(&mut self, remote: &SocketAddr) {
        self.writers.remove(remote);
    }

    /// Queues bytes for a peer; dropped (and logged) when there is no
    /// connection to it or it does not read.
    pub fn send(&self, remote: SocketAddr, bytes: Bytes) {
        match self.writers.get(&remote) {
            Some(w) => match w.try_send(bytes) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    debug!(%remote, "tcp peer not reading; message dropped");
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    debug!(%remote, "tcp connection closed; message dropped");
                }
            },
            None => debug!(%remote, "no tcp connection to peer; message dropped"),
        }
    }
}

/// Accepts connections until `stop` is cancelled.
pub async fn accept_loop(
    listener: TcpListener,
    to_engine: mpsc::Sender<StreamInbound>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection(stream, remote, to_engine.clone(), stop.clone()));
                }
                Err(e) => {
                    debug!(error = %e, "tcp accept failed");
                    // Out of file descriptors and the like: back off briefly.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    to_engine: mpsc::Sender<StreamInbound>,
    stop: CancellationToken,
) {
    let (mut reader, mut writer) = stream.into_split();
    let (writer_tx, mut writer_rx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
    if to_engine
        .send(StreamInbound::Opened {
            remote,
            writer: writer_tx.clone(),
        })
        .await
        .is_err()
    {
        return;
    }
    let mut buf = BytesMut::with_capacity(8192);
    let mut framer = StreamFramer::default();
    // Whether answers the engine still owes this peer are worth waiting for.
    let mut linger = false;
    'conn: loop {
        tokio::select! {
            () = stop.cancelled() => break,
            out = writer_rx.recv() => match out {
                Some(bytes) => {
                    if writer.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            read = tokio::time::timeout(IDLE_TIMEOUT, reader.read_buf(&mut buf)) => {
                match read {
                    Ok(Ok(0)) => {
                        // The peer finished sending; it may still read.
                        linger = true;
                        break;
                    }
                    Err(_) => break,
                    Ok(Err(e)) => {
                        debug!(%remote, error = %e, "tcp read failed");
                        break;
                    }
                    Ok(Ok(_)) => {}
                }
                loop {
                    match framer.next(&buf) {
                        Ok(Framed::Incomplete) => {
                            if buf.len() > MAX_BUFFER {
                                debug!(%remote, "tcp message too large; closing");
                                break 'conn;
                            }
                            break;
                        }
                        Ok(Framed::KeepAlive { len }) => buf.advance(len.min(buf.len())),
                        Ok(Framed::Message { len }) => {
                            let bytes = buf.split_to(len.min(buf.len())).freeze();
                            if to_engine.send(StreamInbound::Message { remote, bytes }).await.is_err() {
                                break 'conn;
                            }
                        }
                        Err(e) => {
                            debug!(%remote, reason = %e.reason, "unframeable tcp stream; closing");
                            if let Some(resp) = e.response {
                                let _ = writer.write_all(&resp).await;
                            }
                            linger = true;
                            break 'conn;
                        }
                    }
                }
            }
        }
    }
    if linger && !stop.is_cancelled() {
        // Messages framed before the end are still in the engine: give
        // their answers a moment to come back before closing.
        let deadline = tokio::time::sleep(LINGER);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => break,
                () = stop.cancelled() => break,
                out = writer_rx.recv() => match out {
                    Some(bytes) if writer.write_all(&bytes).await.is_ok() => {}
                    _ => break,
                },
            }
        }
    }
    let _ = writer.shutdown().await;
    let _ = to_engine.send(StreamInbound::Closed { remote }).await;
}
