//! `ecommerce-service healthcheck`: asks the running service's
//! `/health/live` and exits 0 if it answers 200. Container images have no
//! shell or curl, so the binary checks itself.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum Unhealthy {
    #[error("cannot connect to {address}")]
    Connect {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot send the request")]
    Send(#[source] std::io::Error),
    #[error("no answer")]
    NoAnswer(#[source] std::io::Error),
    #[error("/health/live answered status {0}")]
    Status(String),
}

pub fn check(port: u16) -> Result<(), Unhealthy> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT)
        .map_err(|source| Unhealthy::Connect { address, source })?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(Unhealthy::Send)?;
    stream
        .set_write_timeout(Some(TIMEOUT))
        .map_err(Unhealthy::Send)?;
    stream
        .write_all(b"GET /health/live HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .map_err(Unhealthy::Send)?;
    let mut head = [0u8; 64];
    let read = stream.read(&mut head).map_err(Unhealthy::NoAnswer)?;
    let status_line = String::from_utf8_lossy(&head[..read]);
    match status_line.split_whitespace().nth(1).unwrap_or("none") {
        "200" => Ok(()),
        status => Err(Unhealthy::Status(status.to_owned())),
    }
}
