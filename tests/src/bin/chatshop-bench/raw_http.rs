//! A minimal HTTP/1.1 keep-alive client for the closed loops.
//!
//! The load generator shares the machine's cores with the server, so what
//! it spends per request is taken from the server. A general client
//! (reqwest) builds headers, a URL and a body for every request and spends
//! tens of microseconds on each; here a request is prepared once, as bytes,
//! and each exchange is one write and the reads of its response, as `wrk`
//! does. Responses must carry a `Content-Length`, as the server's do.

use std::io;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A request, as the bytes sent on the wire.
#[derive(Clone)]
pub struct Request(Arc<[u8]>);

impl Request {
    /// `POST path` with a JSON body, as `authorization`'s bearer when given.
    pub fn post_json(host: &str, path: &str, body: &str, bearer: Option<&str>) -> Self {
        let authorization = bearer
            .map(|token| format!("authorization: Bearer {token}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n\
             accept: application/json\r\n{authorization}content-length: {}\r\n\r\n",
            body.len()
        );
        Self([head.as_bytes(), body.as_bytes()].concat().into())
    }
}

/// One keep-alive connection to the server.
pub struct Connection {
    address: String,
    stream: Option<TcpStream>,
    /// What was read: the response being parsed, then its body.
    buffer: Vec<u8>,
}

/// A response: its status and body.
pub struct Response<'a> {
    pub status: u16,
    pub body: &'a [u8],
}

impl Connection {
    /// A connection to `address` (`host:port`), opened on first use and
    /// again after the server closes it.
    pub fn new(address: &str) -> Self {
        Self {
            address: address.to_owned(),
            stream: None,
            buffer: Vec::with_capacity(16 * 1024),
        }
    }

    /// Sends `request` and reads its whole response.
    pub async fn exchange(&mut self, request: &Request) -> io::Result<Response<'_>> {
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => {
                let stream = TcpStream::connect(&self.address).await?;
                stream.set_nodelay(true)?;
                self.stream.insert(stream)
            }
        };
        let result = exchange(stream, &mut self.buffer, &request.0).await;
        match result {
            Ok((status, body_start)) => Ok(Response {
                status,
                body: &self.buffer[body_start..],
            }),
            Err(err) => {
                // Whatever state the connection is in, the next request
                // starts on a new one.
                self.stream = None;
                Err(err)
            }
        }
    }
}

/// Writes `request` and reads one response into `buffer`: returns its
/// status and where its body starts.
async fn exchange(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    request: &[u8],
) -> io::Result<(u16, usize)> {
    stream.write_all(request).await?;
    buffer.clear();
    let head_end = loop {
        if let Some(end) = find(buffer, b"\r\n\r\n") {
            break end + 4;
        }
        read_more(stream, buffer).await?;
    };
    let (status, length) = parse_head(&buffer[..head_end])?;
    while buffer.len() < head_end + length {
        read_more(stream, buffer).await?;
    }
    if buffer.len() > head_end + length {
        return Err(invalid("more bytes than the response's length"));
    }
    Ok((status, head_end))
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> io::Result<()> {
    buffer.reserve(8 * 1024);
    if stream.read_buf(buffer).await? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// The status and `Content-Length` of a response head.
fn parse_head(head: &[u8]) -> io::Result<(u16, usize)> {
    let head = std::str::from_utf8(head).map_err(|_| invalid("a head that is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.strip_prefix("HTTP/1.1 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("no HTTP/1.1 status line"))?;
    let length = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .ok_or_else(|| invalid("a response without Content-Length"))?;
    Ok((status, length))
}

/// Where `needle` first occurs in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the server sent {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_gives_its_status_and_length() {
        let head =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: 42\r\n\r\n";
        assert_eq!(parse_head(head).unwrap(), (200, 42));
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        assert!(parse_head(chunked).is_err());
        assert!(parse_head(b"HTTP/1.0 200 OK\r\n\r\n").is_err());
    }

    #[test]
    fn a_request_is_its_head_then_its_body() {
        let request = Request::post_json("127.0.0.1:1", "/graphql", "{}", Some("t"));
        let text = std::str::from_utf8(&request.0).unwrap();
        assert!(text.starts_with("POST /graphql HTTP/1.1\r\n"), "{text}");
        assert!(text.contains("authorization: Bearer t\r\n"), "{text}");
        assert!(text.ends_with("content-length: 2\r\n\r\n{}"), "{text}");
    }
}
