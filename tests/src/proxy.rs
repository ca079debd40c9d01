//! A TCP proxy that can partition a link in the middle of a test: `cut` resets
//! every connection and refuses new ones; `blackhole` keeps connections open but
//! passes no bytes (a dead WAN link, noticed only by keepalives); `heal` restores.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Up,
    Cut,
    Blackhole,
}

pub struct Proxy {
    pub addr: SocketAddr,
    state: Arc<watch::Sender<LinkState>>,
    /// Where new connections go (a load balancer moving to another replica).
    target: Arc<std::sync::Mutex<SocketAddr>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(watch::channel(LinkState::Up).0);
        let target = Arc::new(std::sync::Mutex::new(target));
        let (st, tg) = (state.clone(), target.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *st.borrow() != LinkState::Up {
                    continue; // dropped: the connection is refused
                }
                let to = *tg.lock().unwrap_or_else(|p| p.into_inner());
                tokio::spawn(pipe(client, to, st.subscribe()));
            }
        });
        Ok(Self {
            addr,
            state,
            target,
            task,
        })
    }

    pub fn cut(&self) {
        self.state.send_replace(LinkState::Cut);
    }

    pub fn blackhole(&self) {
        self.state.send_replace(LinkState::Blackhole);
    }

    /// New connections go to `target` from now on (existing ones stay).
    pub fn retarget(&self, target: SocketAddr) {
        *self.target.lock().unwrap_or_else(|p| p.into_inner()) = target;
    }

    pub fn heal(&self) {
        self.state.send_replace(LinkState::Up);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pipe(client: TcpStream, target: SocketAddr, mut state: watch::Receiver<LinkState>) {
    let Ok(upstream) = TcpStream::connect(target).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = upstream.into_split();
    let mut up = [0u8; 16 * 1024];
    let mut down = [0u8; 16 * 1024];
    loop {
        let current = *state.borrow_and_update();
        match current {
            LinkState::Cut => return,
            // Hold both sockets open and move nothing until the state changes.
            LinkState::Blackhole => {
                if state.changed().await.is_err() {
                    return;
                }
            }
            LinkState::Up => {
                tokio::select! {
                    r = cr.read(&mut up) => match r {
                        Ok(0) | Err(_) => return,
                        Ok(n) => if uw.write_all(&up[..n]).await.is_err() { return },
                    },
                    r = ur.read(&mut down) => match r {
                        Ok(0) | Err(_) => return,
                        Ok(n) => if cw.write_all(&down[..n]).await.is_err() { return },
                    },
                    _ = state.changed() => {}
                }
            }
        }
    }
}
