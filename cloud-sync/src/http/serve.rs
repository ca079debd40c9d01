//! Central's HTTP servers (the API port and the ops port): hyper's HTTP/1,
//! under limits no single client can exhaust. A request's headers must arrive
//! within the header timeout (also the longest a keep-alive connection waits
//! for its next request), its body may not stall longer than the body timeout
//! between two reads, and each client address holds at most its own budget of
//! connections, below the port's cap, so a client holding many slow
//! connections leaves room for everyone else.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tower_http::timeout::{TimeoutBody, TimeoutError};
use tracing::{debug, warn};

use crate::error_code::ErrorCode;
use crate::http::ApiError;
use crate::metrics::{ServerReasonLabel, SyncMetrics};

/// The limits of one HTTP listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// From the moment the server waits for a request until its headers are in.
    pub header_timeout: Duration,
    /// The longest a request body may go without sending anything.
    pub body_timeout: Duration,
    /// Connections the port holds at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Connections one client address (an IPv6 /64) holds at once; more are closed.
    pub max_per_client: usize,
}

/// One listener's server: `name` labels its metrics (`api`, `ops`).
pub struct HttpServer {
    pub name: &'static str,
    pub limits: HttpLimits,
    pub metrics: Arc<SyncMetrics>,
}

impl HttpServer {
    /// Serves `app` on `listener` until `shutdown`, then lets open requests finish.
    pub async fn run(self, listener: TcpListener, app: axum::Router, shutdown: CancellationToken) {
        let server = Arc::new(self);
        let cap = Arc::new(Semaphore::new(server.limits.max_connections.max(1)));
        let clients = Arc::new(ClientBudget::default());
        let connections = TaskTracker::new();
        // Whether the cap was reached since it last had room: warned once per episode.
        let mut saturated = false;
        loop {
            let Some(place) = server.place(&cap, &mut saturated, &shutdown).await else {
                break;
            };
            let (stream, peer) = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        // EMFILE and the like: back off rather than spin.
                        debug!(server = server.name, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Some(slot) = ClientSlot::take(&clients, peer.ip(), server.limits.max_per_client) else {
                server.count("per_client");
                debug!(server = server.name, client = %peer.ip(), "client over its connection budget; closed");
                drop(stream);
                continue;
            };
            let (server, app, shutdown) = (server.clone(), app.clone(), shutdown.clone());
            connections.spawn(async move {
                server.connection(stream, peer, app, shutdown).await;
                drop((place, slot));
            });
        }
        connections.close();
        connections.wait().await;
    }

    /// A place under the port's cap; `None` once shut down.
    async fn place(
        &self,
        cap: &Arc<Semaphore>,
        saturated: &mut bool,
        shutdown: &CancellationToken,
    ) -> Option<OwnedSemaphorePermit> {
        if let Ok(p) = cap.clone().try_acquire_owned() {
            *saturated = false;
            return Some(p);
        }
        if !std::mem::replace(saturated, true) {
            warn!(
                server = self.name,
                limit = self.limits.max_connections,
                "http connection limit reached; new connections wait until one closes"
            );
        }
        tokio::select! {
            () = shutdown.cancelled() => None,
            p = cap.clone().acquire_owned() => p.ok(),
        }
    }

    async fn connection(
        self: Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        app: axum::Router,
        shutdown: CancellationToken,
    ) {
        let server = self.clone();
        let service = tower::service_fn(move |req: hyper::Request<Incoming>| {
            let stalled = Arc::new(AtomicBool::new(false));
            let (parts, body) = req.into_parts();
            let body = StallWatch {
                inner: Box::pin(TimeoutBody::new(server.limits.body_timeout, body)),
                stalled: stalled.clone(),
            };
            let mut req = hyper::Request::from_parts(parts, axum::body::Body::new(body));
            // What `into_make_service_with_connect_info` would add: the
            // failed-authentication limit keys on it.
            req.extensions_mut().insert(ConnectInfo(peer));
            let (server, answer) = (server.clone(), app.clone().oneshot(req));
            async move {
                let response = answer.await?;
                if !stalled.load(Ordering::Relaxed) {
                    return Ok::<_, std::convert::Infallible>(response);
                }
                // Whatever the handler made of its failed read, the client
                // learns that its body stalled; the connection then closes.
                server.count("body_timeout");
                let mut refusal = ApiError::new(
                    ErrorCode::RequestTimeout,
                    format!(
                        "the request body sent nothing for {} s",
                        server.limits.body_timeout.as_secs()
                    ),
                )
                .into_response();
                refusal
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                Ok(refusal)
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout)
            .keep_alive(true);
        let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        tokio::pin!(conn);
        let result = tokio::select! {
            result = conn.as_mut() => result,
            () = shutdown.cancelled() => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            if e.is_timeout() {
                self.count("header_timeout");
            }
            debug!(server = self.name, client = %peer.ip(), error = %e, "http connection ended with an error");
        }
    }

    fn count(&self, reason: &'static str) {
        self.metrics
            .http_connections_closed
            .get_or_create(&ServerReasonLabel {
                server: self.name,
                reason,
            })
            .inc();
    }
}

/// A request body under the body timeout that remembers having stalled.
struct StallWatch {
    inner: Pin<Box<TimeoutBody<Incoming>>>,
    stalled: Arc<AtomicBool>,
}

impl Body for StallWatch {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = self.inner.as_mut().poll_frame(cx);
        if let Poll::Ready(Some(Err(e))) = &polled
            && e.is::<TimeoutError>()
        {
            self.stalled.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Open connections per client address.
#[derive(Debug, Default)]
struct ClientBudget {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in its client's budget, given back on drop.
struct ClientSlot {
    budget: Arc<ClientBudget>,
    client: IpAddr,
}

impl ClientSlot {
    fn take(budget: &Arc<ClientBudget>, ip: IpAddr, max: usize) -> Option<Self> {
        let client = crate::auth::limiter::client_key(ip);
        let mut open = budget.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(client).or_insert(0);
        if *n >= max.max(1) {
            return None;
        }
        *n += 1;
        Some(Self {
            budget: budget.clone(),
            client,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.budget.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_holds_at_most_its_budget_and_gets_places_back() {
        let budget = Arc::new(ClientBudget::default());
        let a: IpAddr = "127.0.0.1".parse().expect("ip");
        let b: IpAddr = "127.0.0.2".parse().expect("ip");
        let first = ClientSlot::take(&budget, a, 2).expect("first");
        let _second = ClientSlot::take(&budget, a, 2).expect("second");
        assert!(ClientSlot::take(&budget, a, 2).is_none(), "over the budget");
        assert!(ClientSlot::take(&budget, b, 2).is_some(), "another client has its own");
        drop(first);
        assert!(
            ClientSlot::take(&budget, a, 2).is_some(),
            "a closed connection frees a place"
        );
        let v6: IpAddr = "2001:db8::1".parse().expect("ip");
        let _v6 = ClientSlot::take(&budget, v6, 1).expect("v6");
        assert!(
            ClientSlot::take(&budget, "2001:db8::2".parse().expect("ip"), 1).is_none(),
            "one budget per /64"
        );
    }
}
