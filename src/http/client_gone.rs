//! Whether a request's client is still there, asked before each write
//! (`store::budget`): a peek at the connection's socket. An end of stream
//! (the client closed its side) or a reset says it went away; bytes waiting
//! (a pipelined request) or nothing yet says it is there. Go's net/http reads
//! the same end of stream as a cancelled request. A client that half-closes
//! and still waits for its answer is rare in HTTP/1.1; it would see its
//! request stop before a write, with nothing written.

use std::any::Any;
use std::io::ErrorKind;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;

use actix_web::dev::{Extensions, ServiceRequest};

use crate::store::budget::ClientProbe;

/// The socket of one connection, kept for its requests.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionSocket(RawFd);

/// `HttpServer::on_connect`: keeps the connection's socket.
pub fn on_connect(connection: &dyn Any, data: &mut Extensions) {
    if let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
        data.insert(ConnectionSocket(stream.as_raw_fd()));
    }
}

/// The probe of one request, if its connection's socket is known.
pub fn probe(request: &ServiceRequest) -> Option<ClientProbe> {
    let socket = *request.conn_data::<ConnectionSocket>()?;
    Some(Arc::new(move || socket.peer_gone()))
}

impl ConnectionSocket {
    fn peer_gone(self) -> bool {
        // SAFETY: the descriptor stays open while the request runs. The
        // connection's dispatcher owns the socket and the handler's future
        // both, and the probe is asked only from within that future
        // (`budget::per_request`; a write moved to a task of its own never
        // asks), so the socket outlives every call.
        let socket = unsafe { BorrowedFd::borrow_raw(self.0) };
        let mut byte = [MaybeUninit::<u8>::uninit(); 1];
        // The socket is non-blocking (tokio's): no waiting here.
        match socket2::SockRef::from(&socket).peek(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(error) => matches!(
                error.kind(),
                ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::NotConnected
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::{Duration, Instant};

    use super::*;

    /// Spins until `condition` holds, for five seconds at most.
    fn eventually(condition: impl Fn() -> bool) -> bool {
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if condition() {
                return true;
            }
            std::thread::yield_now();
        }
        false
    }

    #[test]
    fn a_connected_client_is_there_and_one_that_closed_is_gone() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let socket = ConnectionSocket(server.as_raw_fd());
        assert!(!socket.peer_gone(), "connected, nothing sent");
        client.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        assert!(eventually(|| server
            .peek(&mut [0u8; 1])
            .is_ok_and(|n| n > 0)));
        assert!(
            !socket.peer_gone(),
            "a request waiting: the client is there"
        );
        let mut drained = [0u8; 64];
        let _ = server.read(&mut drained);
        drop(client);
        assert!(
            eventually(|| socket.peer_gone()),
            "the client closed its side"
        );
    }
}
