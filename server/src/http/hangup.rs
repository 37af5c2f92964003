//! Noticing a client that has gone. actix-web 4 keeps running a handler whose client has
//! disconnected (actix/actix-web#3462), so costly work (an import's key derivations and
//! screenshots) would run to its end for nobody. Each connection keeps a duplicate of its
//! socket (`on_connect`); while such work runs, a watcher peeks at it every 100 ms, and when
//! the peer has closed it sets the work's stop flag.

use crate::services::imports::ClientGone;
use actix_web::dev::Extensions;
use actix_web::HttpRequest;
use std::io::ErrorKind;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The connection's socket, duplicated (it is only ever peeked at).
#[derive(Clone)]
struct PeerSocket(Arc<std::net::TcpStream>);

/// For `HttpServer::on_connect`: keeps a duplicate of each TCP connection's socket.
pub fn remember_socket(conn: &dyn std::any::Any, ext: &mut Extensions) {
    if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
        if let Ok(fd) = tcp.as_fd().try_clone_to_owned() {
            ext.insert(PeerSocket(Arc::new(std::net::TcpStream::from(fd))));
        }
    }
}

/// Whether the peer has closed the connection: a peek finds its end, or the socket fails.
/// (Its socket is non-blocking, like the original: no data yet is `WouldBlock`.)
fn closed(socket: &std::net::TcpStream) -> bool {
    match socket.peek(&mut [0u8; 1]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted),
    }
}

/// Watches the request's connection while it lives; dropping it ends the watch.
pub struct Watch {
    gone: ClientGone,
    done: Arc<AtomicBool>,
}

impl Watch {
    /// Starts watching `req`'s connection (nothing to watch without a socket: a test
    /// client in process, a Unix socket).
    pub fn start(req: &HttpRequest) -> Self {
        let gone = ClientGone::default();
        let done = Arc::new(AtomicBool::new(false));
        if let Some(PeerSocket(socket)) = req.conn_data::<PeerSocket>().cloned() {
            let (flag, until) = (gone.clone(), done.clone());
            actix_web::rt::spawn(async move {
                let mut every = tokio::time::interval(std::time::Duration::from_millis(100));
                while !until.load(Ordering::Relaxed) {
                    every.tick().await;
                    if closed(&socket) {
                        flag.set();
                        break;
                    }
                }
            });
        }
        Self { gone, done }
    }

    /// The flag the work checks.
    pub fn gone(&self) -> &ClientGone {
        &self.gone
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}
