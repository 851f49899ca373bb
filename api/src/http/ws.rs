//! `/graphql/ws`: subscriptions (and any operation) over the
//! `graphql-transport-ws` protocol, implemented here to the letter.
//!
//! The protocol, in short: the client sends `connection_init` (with the token
//! in its payload) and the server answers `connection_ack`; then each
//! `subscribe` with a client-chosen id runs an operation whose results come
//! back as `next` messages, ended by `complete` (or `error` when the operation
//! is invalid). Either side may send `complete` for an id to stop it, and
//! `ping`/`pong` both ways. Protocol faults close the socket with the codes
//! the protocol defines:
//!
//! | code | when |
//! |---|---|
//! | 4400 | a message that is not valid JSON or not a known message |
//! | 4401 | `subscribe` before the connection was acknowledged |
//! | 4403 | the token in `connection_init` is invalid |
//! | 4408 | no `connection_init` within the configured time |
//! | 4409 | `subscribe` with an id that is already running |
//! | 4429 | a second `connection_init` |
//!
//! Structure: one loop per socket owns the socket and polls its running
//! operations itself (no task or channel per operation). Whatever they have
//! ready is serialised straight into frames, written, and flushed once. While
//! a slow client's socket is not writable, its operations are not polled:
//! they fall behind on the event bus and catch up from the database later,
//! so a slow reader costs neither memory nor anyone else's latency.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Request, Response as GraphqlResponse};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{AbortHandle, Abortable, BoxStream, SelectAll};
use futures_util::{FutureExt, SinkExt, Stream, StreamExt};
use serde::Serialize;
use serde_json::{Value, json};

use super::HttpState;
use crate::auth::Actor;
use crate::error::ErrorCode;
use crate::graphql::Executor;
use crate::graphql::response_cache::{Key, ViewerConsulted};
use crate::graphql::shared_events::SharedOperation;

/// The only subprotocol spoken here.
const PROTOCOL: &str = "graphql-transport-ws";

/// The most frames written before one flush: bounds the time one busy
/// socket holds its loop before it looks at the client again.
const FRAMES_PER_FLUSH: usize = 64;

/// `GET /graphql/ws`: upgrades when the client speaks `graphql-transport-ws`;
/// any other (or no) subprotocol is refused at the handshake.
pub(crate) async fn upgrade(
    State(state): State<HttpState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let offered = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == PROTOCOL);
    if !offered {
        return (
            StatusCode::BAD_REQUEST,
            format!("this endpoint speaks the {PROTOCOL} subprotocol only; offer it in Sec-WebSocket-Protocol"),
        )
            .into_response();
    }
    let max_message = state.app.config.limits.max_body_bytes;
    ws.protocols([PROTOCOL])
        .max_message_size(max_message)
        .max_frame_size(max_message)
        // Small buffers: client frames are a few hundred bytes (larger ones
        // are read in several chunks), and an idle subscription should cost
        // kilobytes, not the 128 KiB defaults. The read buffer is held, and
        // zeroed before each read, for as long as the socket is open.
        .read_buffer_size(1024)
        .write_buffer_size(8 * 1024)
        // What a slow reader can make us hold before it is disconnected.
        .max_write_buffer_size(1024 * 1024)
        .on_upgrade(move |socket| Connection::new(state, socket).run())
}

/// How many sockets each user holds on this instance.
#[derive(Default)]
pub(crate) struct SocketsPerUser {
    open: std::sync::Mutex<HashMap<uuid::Uuid, usize>>,
}

impl SocketsPerUser {
    /// Counts a socket for `user` unless they hold `limit` already.
    fn acquire(&self, user: uuid::Uuid, limit: usize) -> bool {
        let Ok(mut open) = self.open.lock() else {
            return false;
        };
        let count = open.entry(user).or_insert(0);
        if *count >= limit {
            return false;
        }
        *count += 1;
        true
    }

    fn release(&self, user: uuid::Uuid) {
        if let Ok(mut open) = self.open.lock()
            && let Some(count) = open.get_mut(&user)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&user);
            }
        }
    }
}

/// What a running operation hands the socket loop.
enum Outgoing {
    /// A frame for the client, serialised.
    Frame(String),
    /// The operation with this id finished on its own (its `complete` or
    /// `error` frame came just before).
    Finished(String),
}

/// A running operation: its frames, until it ends or its handle aborts it.
type Operation = Abortable<BoxStream<'static, Outgoing>>;

/// Why the loop stops.
struct Close {
    code: u16,
    reason: String,
}

impl Close {
    fn new(code: u16, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

struct Connection {
    state: HttpState,
    socket: WebSocket,
    actor: Option<Actor>,
    /// The user this socket is counted against, once acknowledged.
    counted_user: Option<uuid::Uuid>,
    /// The running operations by id, to stop one when the client asks.
    operations: HashMap<String, AbortHandle>,
    /// Their frames, polled by the socket loop.
    running: SelectAll<Operation>,
}

impl Connection {
    fn new(state: HttpState, socket: WebSocket) -> Self {
        Self {
            state,
            socket,
            actor: None,
            counted_user: None,
            operations: HashMap::new(),
            running: SelectAll::new(),
        }
    }

    async fn run(mut self) {
        let metrics = self.state.app.metrics.clone();
        metrics.websockets.inc();
        let outcome = self.serve().await;
        for (_, operation) in self.operations.drain() {
            operation.abort();
            metrics.subscriptions.dec();
        }
        metrics.websockets.dec();
        if let Some(user) = self.counted_user.take() {
            self.state.sockets_per_user.release(user);
        }
        if let Err(close) = outcome {
            let frame = CloseFrame {
                code: close.code,
                reason: Utf8Bytes::from(close_reason(&close.reason)),
            };
            let _ = self.socket.send(Message::Close(Some(frame))).await;
        }
    }

    /// Runs the protocol until the client leaves (`Ok`) or breaks it (`Err`).
    async fn serve(&mut self) -> Result<(), Close> {
        let limits = &self.state.app.config.limits;
        let init_deadline = tokio::time::sleep(Duration::from_secs(limits.ws_init_timeout_secs));
        tokio::pin!(init_deadline);
        let keepalive_secs = limits.ws_keepalive_secs;
        let mut stopping = self.state.app.stopping.subscribe();
        let mut keepalive = tokio::time::interval(Duration::from_secs(keepalive_secs.max(1)));
        keepalive.reset();
        loop {
            tokio::select! {
                incoming = self.socket.recv() => match incoming {
                    None | Some(Err(_)) => return Ok(()),
                    // Answer the client's close frame (the WebSocket closing
                    // handshake) before going: without it the client sees an
                    // abnormal closure (1006).
                    Some(Ok(Message::Close(_))) => {
                        let _ = self.socket.close().await;
                        return Ok(());
                    }
                    // Boxed: the socket's future would otherwise be as large as
                    // the biggest operation it starts, for as long as it is open.
                    Some(Ok(Message::Text(text))) => Box::pin(self.handle(text.as_str())).await?,
                    Some(Ok(Message::Binary(_))) => return Err(Close::new(4400, "binary messages are not part of the protocol")),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                },
                Some(outgoing) = self.running.next(), if !self.running.is_empty() => self.deliver(outgoing).await?,
                Ok(()) = stopping.changed() => {
                    if *stopping.borrow() {
                        return Err(Close::new(1001, "server shutting down"));
                    }
                }
                () = &mut init_deadline, if self.actor.is_none() => {
                    return Err(Close::new(4408, "connection initialisation timeout"));
                }
                _ = keepalive.tick(), if keepalive_secs > 0 && self.actor.is_some() => {
                    self.send(&json!({ "type": "ping" })).await?;
                }
            }
        }
    }

    /// Writes this frame and every other one the operations have ready
    /// right now (up to [`FRAMES_PER_FLUSH`]), then flushes once. One write
    /// per burst instead of one per frame is most of the cost of a fan-out.
    async fn deliver(&mut self, first: Outgoing) -> Result<(), Close> {
        let mut next = Some(first);
        let mut written = 0;
        while let Some(outgoing) = next {
            match outgoing {
                Outgoing::Frame(frame) => {
                    self.socket
                        .feed(Message::Text(Utf8Bytes::from(frame)))
                        .await
                        .map_err(|_| Close::new(1000, ""))?;
                    written += 1;
                }
                Outgoing::Finished(id) => {
                    if self.operations.remove(&id).is_some() {
                        self.state.app.metrics.subscriptions.dec();
                    }
                }
            }
            if written >= FRAMES_PER_FLUSH || self.running.is_empty() {
                break;
            }
            // Only what is ready now; the loop's own poll does the waiting.
            next = self.running.next().now_or_never().flatten();
        }
        self.socket.flush().await.map_err(|_| Close::new(1000, ""))
    }

    async fn send(&mut self, message: &Value) -> Result<(), Close> {
        self.socket
            .send(Message::Text(Utf8Bytes::from(message.to_string())))
            .await
            // The client is gone; there is nobody to tell.
            .map_err(|_| Close::new(1000, ""))
    }

    async fn handle(&mut self, text: &str) -> Result<(), Close> {
        let message: Value = serde_json::from_str(text)
            .map_err(|_| Close::new(4400, "invalid message: not JSON"))?;
        let kind = message
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match kind {
            "connection_init" => self.initialise(message.get("payload")).await,
            "ping" => self.send(&json!({ "type": "pong" })).await,
            "pong" => Ok(()),
            "subscribe" => self.subscribe(&message).await,
            "complete" => {
                let id = message_id(&message)?;
                if let Some(operation) = self.operations.remove(id) {
                    operation.abort();
                    self.state.app.metrics.subscriptions.dec();
                }
                Ok(())
            }
            "" => Err(Close::new(4400, "invalid message: no type")),
            other => Err(Close::new(4400, format!("invalid message type {other:?}"))),
        }
    }

    async fn initialise(&mut self, payload: Option<&Value>) -> Result<(), Close> {
        if self.actor.is_some() {
            return Err(Close::new(4429, "too many initialisation requests"));
        }
        let token = match payload {
            None | Some(Value::Null) => None,
            Some(Value::Object(fields)) => {
                let bearer = ["authorization", "Authorization"]
                    .iter()
                    .find_map(|key| fields.get(*key))
                    .and_then(Value::as_str)
                    .map(|h| {
                        h.trim()
                            .strip_prefix("Bearer ")
                            .unwrap_or(h)
                            .trim()
                            .to_owned()
                    });
                fields
                    .get("token")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or(bearer)
            }
            Some(_) => {
                return Err(Close::new(
                    4400,
                    "invalid message: connection_init payload must be an object",
                ));
            }
        };
        // Every operation on the socket needs a user: no token, no connection.
        let actor = match token {
            None => {
                return Err(Close::new(
                    4401,
                    "unauthorized: connection_init must carry a token",
                ));
            }
            Some(token) => {
                let forbidden = || Close::new(4403, "forbidden: invalid or expired token");
                let verified = self
                    .state
                    .app
                    .tokens
                    .verify_any(&token)
                    .map_err(|_| forbidden())?;
                match crate::auth::resolve(&self.state.app.db, &self.state.app.accounts, verified)
                    .await
                {
                    Ok(Some(actor)) => actor,
                    Ok(None) => return Err(forbidden()),
                    Err(_) => return Err(Close::new(1011, "internal error")),
                }
            }
        };
        if let Actor::User { id } = actor {
            let limit = self.state.app.config.limits.ws_max_connections_per_user;
            if !self.state.sockets_per_user.acquire(id, limit) {
                return Err(Close::new(1008, "too many connections for this user"));
            }
            self.counted_user = Some(id);
        }
        self.actor = Some(actor);
        self.send(&json!({ "type": "connection_ack" })).await
    }

    async fn subscribe(&mut self, message: &Value) -> Result<(), Close> {
        let id = message_id(message)?.to_owned();
        let Some(actor) = self.actor.clone() else {
            return Err(Close::new(4401, "unauthorized: send connection_init first"));
        };
        let payload = message
            .get("payload")
            .and_then(Value::as_object)
            .ok_or_else(|| Close::new(4400, "invalid message: subscribe needs a payload object"))?;
        let params = super::negotiate::params_from_json(Value::Object(payload.clone()))
            .map_err(|problem| Close::new(4400, format!("invalid message: {problem}")))?;
        if self.operations.contains_key(&id) {
            return Err(Close::new(
                4409,
                format!("subscriber for {id} already exists"),
            ));
        }
        if let Err(wait) = self.state.rate_limits.check(&actor, None) {
            let secs = super::rate_limit::retry_after_secs(wait);
            let error = json!([{ "message": format!("too many requests; retry in {secs} s"), "extensions": { "code": ErrorCode::RateLimited.as_str(), "retryAfterSecs": secs } }]);
            return self
                .send(&json!({ "type": "error", "id": id, "payload": error }))
                .await;
        }
        let limit = self.state.app.config.limits.ws_max_subscriptions;
        if self.operations.len() >= limit {
            let error = json!([{ "message": format!("at most {limit} operations may run on one connection"), "extensions": { "code": ErrorCode::RateLimited.as_str() } }]);
            return self
                .send(&json!({ "type": "error", "id": id, "payload": error }))
                .await;
        }

        // Subscribers running the same operation may share resolutions of
        // live events (see `graphql::shared_events`).
        let shared = Key::new(
            &params.query,
            &params.variables,
            params.operation_name.as_deref(),
        );
        let mut request = Request::new(params.query)
            .variables(params.variables)
            .data(actor)
            .data(Arc::new(ViewerConsulted::default()));
        if let Some(key) = shared {
            request = request.data(Arc::new(SharedOperation(key)));
        }
        if let Some(name) = params.operation_name {
            request = request.operation_name(name);
        }
        let (handle, registration) = AbortHandle::new_pair();
        let frames = run_operation(&self.state.executor, request, id.clone());
        self.running
            .push(Abortable::new(frames.boxed(), registration));
        self.operations.insert(id, handle);
        self.state.app.metrics.subscriptions.inc();
        Ok(())
    }
}

/// Runs one operation and turns its results into protocol frames: `next` for
/// each result, then `complete`; or a lone `error` when the request itself
/// is invalid (the protocol's way of saying it never started).
fn run_operation(
    executor: &Executor,
    request: Request,
    id: String,
) -> impl Stream<Item = Outgoing> + Send + 'static {
    let mut responses = executor.execute_stream(request);
    async_stream::stream! {
        let mut first = true;
        while let Some(response) = responses.next().await {
            if first && is_request_error(&response) {
                yield Outgoing::Frame(frame("error", &id, Some(&response.errors)));
                yield Outgoing::Finished(id);
                return;
            }
            first = false;
            yield Outgoing::Frame(frame("next", &id, Some(&response)));
        }
        yield Outgoing::Frame(frame::<()>("complete", &id, None));
        yield Outgoing::Finished(id);
    }
}

/// One protocol message with an id, serialised in one pass.
fn frame<P: Serialize>(kind: &str, id: &str, payload: Option<&P>) -> String {
    #[derive(Serialize)]
    struct Frame<'a, P> {
        #[serde(rename = "type")]
        kind: &'a str,
        id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        payload: Option<&'a P>,
    }
    serde_json::to_string(&Frame { kind, id, payload }).unwrap_or_else(|_| {
        // Not expected (string keys, no failing Serialize impls); the client
        // still hears that this result is lost.
        json!({ "type": "next", "id": id, "payload": { "errors": [{ "message": "internal error", "extensions": { "code": ErrorCode::Internal.as_str() } }] } })
            .to_string()
    })
}

fn is_request_error(response: &GraphqlResponse) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

fn message_id(message: &Value) -> Result<&str, Close> {
    message
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Close::new(4400, "invalid message: id must be a non-empty string"))
}

/// A close frame's reason must fit in 123 bytes; cut at a character boundary.
fn close_reason(reason: &str) -> String {
    const MAX_REASON_BYTES: usize = 123;
    if reason.len() <= MAX_REASON_BYTES {
        return reason.to_owned();
    }
    let mut end = MAX_REASON_BYTES;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason.get(..end).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::close_reason;

    #[test]
    fn close_reasons_fit_in_a_close_frame() {
        assert_eq!(close_reason("short"), "short");
        let long = "é".repeat(100);
        let cut = close_reason(&long);
        assert!(cut.len() <= 123);
        assert!(long.starts_with(&cut));
    }
}
