//! The connection loop for HTTP and HTTPS, and what it bounds.
//!
//! - A request head must arrive within `header_read_timeout` of the connection starting to wait for
//!   it (hyper's timer; it runs while a keep-alive connection is idle too), so a client that sends
//!   half a head, or nothing, is closed by the server. A TLS handshake has the same deadline. The
//!   body has its own deadline in the API layer.
//! - At most `max_connections` connections are open. A new connection over the cap makes room by
//!   closing the oldest connection that has no request in flight (idle, or still sending its head):
//!   a flood of slow sockets cannot keep a normal client out, even from the same address. When every
//!   connection is busy, the new one is closed at once.
//!
//! Each connection lives on one of `io_threads` threads, each with a single-threaded runtime
//! (connections are dealt out in turn). A request is then polled, woken and answered on the thread
//! that read it, with no work stealing or cross-thread wake-ups between the steps of one request:
//! on the 2-core benchmark this took GetCallerIdentity from 42% to 53% of the trivial server. The
//! default is one thread more than there are cores: a thread the scheduler puts aside stalls all of
//! its connections, and the spare one keeps the cores busy meanwhile (71% against 67% for one per
//! core in the same run; GetSessionToken's writes lose about a sixth, see the README).
//! Work that outlives a request goes to the main runtime ([`crate::app::spawn_background`]), and
//! CPU-heavy steps (password hashing, simulation) to the blocking pool, so that neither holds up
//! the other connections of a thread.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    /// Threads serving connections.
    pub io_threads: usize,
}

struct Conn {
    opened: Instant,
    in_flight: AtomicUsize,
    close: Notify,
}

#[derive(Default)]
struct Tracker {
    next: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Tracker {
    /// Registers a new connection, evicting the oldest one without a request in flight when the cap
    /// is reached. None: every connection is busy, so the new one is refused.
    fn admit(&self, max: usize) -> Option<(u64, Arc<Conn>)> {
        let mut m = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= max {
            let victim = m.iter().filter(|(_, c)| c.in_flight.load(Ordering::SeqCst) == 0).min_by_key(|(_, c)| c.opened).map(|(id, _)| *id);
            match victim.and_then(|id| m.remove(&id)) {
                Some(c) => c.close.notify_one(),
                None => return None,
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let c = Arc::new(Conn { opened: Instant::now(), in_flight: AtomicUsize::new(0), close: Notify::new() });
        m.insert(id, c.clone());
        Some((id, c))
    }
    fn remove(&self, id: u64) {
        self.conns.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    }
    fn len(&self) -> usize {
        self.conns.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Counts a request as in flight on its connection while it is being answered.
struct InFlight(Arc<Conn>);
impl InFlight {
    fn new(c: Arc<Conn>) -> Self {
        c.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(c)
    }
}
impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How many connections the process can hold: its file descriptor limit (the soft limit is first
/// raised to the hard one) less a reserve for the database, files and logs.
pub fn descriptor_budget() -> usize {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed in.
    unsafe {
        let mut l = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) != 0 {
            return 1024;
        }
        if l.rlim_cur < l.rlim_max {
            let raised = libc::rlimit { rlim_cur: l.rlim_max, rlim_max: l.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                l = raised;
            }
        }
        (l.rlim_cur as usize).saturating_sub(128).max(16)
    }
}

/// Serves `app` on `listener` (over TLS when `tls` is given) until `shutdown` completes; then
/// stops accepting, lets requests in flight finish (at most 10 s) and returns. Requests go straight
/// to [`crate::http::route`] with the connection's peer address, which dispatches on the path itself
/// (an axum `Router` in front of it only added a clone, a boxed service call and an extension per
/// request).
pub async fn run(
    listener: tokio::net::TcpListener,
    app: Arc<crate::app::App>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let tracker = Arc::new(Tracker::default());
    crate::app::set_background(tokio::runtime::Handle::current());
    let edge = Edge::start(limits.io_threads);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors, most likely: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Some((id, conn)) = tracker.admit(limits.max_connections) else {
            tracing::warn!(peer = %peer, max = limits.max_connections, "every connection is busy: refusing a new one");
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (tls, app, tracker, mut stop_rx) = (tls.clone(), app.clone(), tracker.clone(), stop_rx.clone());
        let Ok(tcp) = tcp.into_std() else {
            tracker.remove(id);
            continue;
        };
        edge.next().spawn(async move {
            let tcp = match tokio::net::TcpStream::from_std(tcp) {
                Ok(tcp) => tcp,
                Err(e) => {
                    tracing::warn!(error = %e, "moving a connection to its thread");
                    tracker.remove(id);
                    return;
                }
            };
            let serve = async {
                match tls {
                    None => serve_one(tcp, peer, app, conn.clone(), limits, &mut stop_rx).await,
                    Some(acceptor) => {
                        // A client that never finishes its handshake is closed like one that never sends its head.
                        let Ok(Ok(stream)) = tokio::time::timeout(limits.header_read_timeout, acceptor.accept(tcp)).await else { return };
                        serve_one(stream, peer, app, conn.clone(), limits, &mut stop_rx).await
                    }
                }
            };
            tokio::select! {
                _ = serve => {}
                _ = conn.close.notified() => {}
            }
            tracker.remove(id);
        });
    }
    let _ = stop_tx.send(true);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tracker.len() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The connection threads: each runs a single-threaded runtime for the rest of the process. They
/// are never stopped: a database connection opened by a request on one of them is registered with
/// that thread's reactor and goes back to the shared pool, where the audit writer's last flush at
/// shutdown may take it.
struct Edge {
    handles: Vec<tokio::runtime::Handle>,
    next: AtomicUsize,
}

impl Edge {
    fn start(n: usize) -> Edge {
        let handles = (0..n.max(1))
            .map(|i| {
                let (tx, rx) = std::sync::mpsc::channel();
                std::thread::Builder::new()
                    .name(format!("iamd-io-{i}"))
                    .spawn(move || {
                        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                            Ok(rt) => rt,
                            Err(e) => {
                                tracing::error!(error = %e, "starting a connection thread's runtime");
                                return;
                            }
                        };
                        let _ = tx.send(rt.handle().clone());
                        rt.block_on(std::future::pending::<()>());
                    })
                    .map_err(|e| tracing::error!(error = %e, "spawning a connection thread"))
                    .ok()?;
                rx.recv().ok()
            })
            .collect::<Option<Vec<_>>>()
            // Without threads of its own the edge serves on the main runtime.
            .unwrap_or_else(|| vec![tokio::runtime::Handle::current()]);
        Edge { handles, next: AtomicUsize::new(0) }
    }
    fn next(&self) -> &tokio::runtime::Handle {
        &self.handles[self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len()]
    }
}

async fn serve_one<I>(io: I, peer: SocketAddr, app: Arc<crate::app::App>, conn: Arc<Conn>, limits: Limits, stop: &mut watch::Receiver<bool>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let guard = InFlight::new(conn.clone());
        let app = app.clone();
        async move {
            let r = crate::http::route(&app, peer, req.map(axum::body::Body::new)).await;
            drop(guard);
            Ok::<_, std::convert::Infallible>(r)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(limits.header_read_timeout).keep_alive(true);
    let c = builder.serve_connection(hyper_util::rt::TokioIo::new(io), service);
    tokio::pin!(c);
    tokio::select! {
        _ = c.as_mut() => return,
        _ = stop.wait_for(|s| *s) => {}
    }
    c.as_mut().graceful_shutdown();
    let _ = c.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_the_cap_the_oldest_idle_connection_makes_room() {
        let t = Tracker::default();
        let (a, ca) = t.admit(2).unwrap();
        let (_b, cb) = t.admit(2).unwrap();
        let _busy = InFlight::new(ca.clone());
        // a is older but busy: b (idle) is closed for c.
        let (_c, _) = t.admit(2).unwrap();
        assert_eq!(t.len(), 2);
        assert!(t.conns.lock().unwrap().contains_key(&a));
        drop(cb);
        // Both remaining connections busy: a new one is refused.
        let cc = t.conns.lock().unwrap().values().find(|c| c.in_flight.load(Ordering::SeqCst) == 0).cloned().unwrap();
        let _busy2 = InFlight::new(cc);
        assert!(t.admit(2).is_none());
    }
}
