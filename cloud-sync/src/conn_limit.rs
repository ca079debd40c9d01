//! A cap on the connections the gRPC listener holds at once (the HTTP ports
//! have theirs in `http::serve`, with a budget per client). At the cap
//! central stops accepting until one closes: further clients wait in the kernel's
//! backlog rather than each costing a file descriptor, a TLS handshake and HTTP
//! state, so a flood of connections cannot exhaust descriptors or memory.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_stream::Stream;
use tokio_util::sync::PollSemaphore;
use tonic::transport::server::{Connected, TcpConnectInfo};
use tracing::warn;

/// Accepted connections, at most `limit` alive at once.
pub struct LimitedIncoming {
    listener: TcpListener,
    permits: PollSemaphore,
    /// A place taken before accepting, handed to the next connection.
    permit: Option<OwnedSemaphorePermit>,
    limit: usize,
    /// Whether the cap was reached since the last warning (logged once per episode).
    saturated: bool,
}

impl LimitedIncoming {
    pub fn new(listener: TcpListener, limit: usize) -> Self {
        let limit = limit.max(1);
        Self {
            listener,
            permits: PollSemaphore::new(Arc::new(Semaphore::new(limit))),
            permit: None,
            limit,
            saturated: false,
        }
    }
}

impl Stream for LimitedIncoming {
    type Item = std::io::Result<LimitedStream>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.permit.is_none() {
            if this.permits.available_permits() == 0 && !this.saturated {
                this.saturated = true;
                warn!(
                    limit = this.limit,
                    "grpc connection limit reached; new connections wait until one closes"
                );
            }
            match ready!(this.permits.poll_acquire(cx)) {
                Some(p) => this.permit = Some(p),
                // The semaphore is never closed.
                None => return Poll::Ready(None),
            }
            this.saturated = false;
        }
        let (stream, _) = ready!(this.listener.poll_accept(cx))?;
        Poll::Ready(Some(Ok(LimitedStream {
            inner: stream,
            _permit: this.permit.take(),
        })))
    }
}

/// A TCP connection holding its place under the cap until it is dropped.
pub struct LimitedStream {
    inner: TcpStream,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Connected for LimitedStream {
    // The same as a bare TcpStream's, so `Request::peer_certs` finds the TLS info.
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio_stream::StreamExt;

    use super::*;

    #[tokio::test]
    async fn holds_at_most_the_limit_and_accepts_again_when_one_closes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut incoming = LimitedIncoming::new(listener, 2);
        let _clients: Vec<TcpStream> = connect_many(addr, 3).await;
        let first = incoming.next().await.expect("open").expect("accepted");
        let _second = incoming.next().await.expect("open").expect("accepted");
        let third = tokio::time::timeout(Duration::from_millis(200), incoming.next()).await;
        assert!(third.is_err(), "a third connection must wait while two are held");
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(5), incoming.next()).await;
        assert!(matches!(third, Ok(Some(Ok(_)))), "accepted once a place is free");
    }

    async fn connect_many(addr: std::net::SocketAddr, n: usize) -> Vec<TcpStream> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(TcpStream::connect(addr).await.expect("connect"));
        }
        out
    }
}
