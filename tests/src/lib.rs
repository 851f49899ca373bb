//! The end-to-end test harness: each test spawns the real router on a real
//! socket, over its own database.
//!
//! The backend is chosen once, by `CHATSHOP_TEST_DATABASE_URL`:
//! * unset: a SQLite file in a temporary directory per test (a file, not
//!   `:memory:`, so the pool has real concurrent connections like production);
//! * a PostgreSQL URL: a fresh database per test, created through that URL.
//!   If the server cannot be reached the test fails; it never skips.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::sync::LazyLock;

use chatshop::{Chatshop, Config};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use tokio::sync::{OnceCell, oneshot};

/// The error codes a response may carry; anything else fails the test.
pub const ERROR_CODES: &[&str] = &[
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_USER_INPUT",
    "CONFLICT",
    "PAYMENT_FAILED",
    "RATE_LIMITED",
    "INTERNAL",
];

/// A password every test account uses.
pub const PASSWORD: &str = "correct horse battery";

static POSTGRES_URL: LazyLock<Option<String>> = LazyLock::new(|| {
    std::env::var("CHATSHOP_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
});

static SWEEP: OnceCell<()> = OnceCell::const_new();

/// Whether this run targets PostgreSQL.
pub fn on_postgres() -> bool {
    POSTGRES_URL.is_some()
}

/// A database for one test, and what keeps it alive.
pub struct TestDatabase {
    /// The URL to connect to.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// The same database, reached through another URL (a proxy in front).
    pub fn with_url(mut self, url: String) -> Self {
        self.url = url;
        self
    }

    /// Creates a fresh, empty database.
    pub async fn create() -> Self {
        match POSTGRES_URL.as_deref() {
            None => {
                let dir = tempfile::tempdir().expect("a temporary directory for the SQLite file");
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("chatshop.sqlite").display()
                );
                Self {
                    url,
                    _dir: Some(dir),
                }
            }
            Some(admin_url) => {
                let admin = Database::connect(admin_url).await.unwrap_or_else(|e| {
                    panic!("CHATSHOP_TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}")
                });
                SWEEP
                    .get_or_init(|| async { sweep_leftovers(&admin).await })
                    .await;
                let name = format!("chatshop_t_{}", uuid::Uuid::new_v4().simple());
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("CREATE DATABASE for the test");
                admin.close().await.ok();
                Self {
                    url: replace_database(admin_url, &name),
                    _dir: None,
                }
            }
        }
    }
}

/// Drops test databases left by earlier runs (test binaries run one after
/// another, so none of these is in use).
async fn sweep_leftovers(admin: &sea_orm::DatabaseConnection) {
    let rows = admin
        .query_all_raw(sea_orm::Statement::from_string(
            admin.get_database_backend(),
            "SELECT datname FROM pg_database WHERE datname LIKE 'chatshop\\_t\\_%'",
        ))
        .await
        .expect("list leftover test databases");
    for row in rows {
        let name: String = row.try_get("", "datname").expect("datname");
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
    }
}

fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end);
    let server = path_start.map_or(base, |i| &base[..i]);
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

/// A running Chatshop on a random port, with its own database.
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The instance (for in-process checks).
    pub chatshop: Chatshop,
    /// Its database.
    pub database: std::sync::Arc<TestDatabase>,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// A signed-up user.
#[derive(Clone, Debug)]
pub struct TestUser {
    /// Global id.
    pub id: String,
    /// Email address.
    pub email: String,
    /// Access token.
    pub token: String,
}

impl TestApp {
    /// Spawns an instance with the default test configuration.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns an instance after `configure` adjusted the configuration.
    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> Self {
        let database = std::sync::Arc::new(TestDatabase::create().await);
        Self::spawn_on(database, configure).await
    }

    /// Spawns an instance on an existing database (a second instance, or a restart).
    pub async fn spawn_on(
        database: std::sync::Arc<TestDatabase>,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        Self::spawn_full(database, configure, |builder| builder).await
    }

    /// Spawns an instance whose payments go through `provider` (so a test can
    /// look at what was really charged).
    pub async fn spawn_with_provider(
        provider: chatshop::TestPaymentProvider,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        Self::spawn_with_builder(configure, |builder| builder.payment_provider(provider)).await
    }

    /// Spawns an instance after `customize` adjusted its builder (another
    /// event bus, say).
    pub async fn spawn_with_builder(
        configure: impl FnOnce(&mut Config),
        customize: impl FnOnce(chatshop::ChatshopBuilder) -> chatshop::ChatshopBuilder,
    ) -> Self {
        let database = std::sync::Arc::new(TestDatabase::create().await);
        Self::spawn_full(database, configure, customize).await
    }

    async fn spawn_full(
        database: std::sync::Arc<TestDatabase>,
        configure: impl FnOnce(&mut Config),
        customize: impl FnOnce(chatshop::ChatshopBuilder) -> chatshop::ChatshopBuilder,
    ) -> Self {
        let mut config = Config {
            database_url: database.url.clone(),
            db_max_connections: 5,
            seed_demo: false,
            // Tests fire requests faster than any person; the rate limit has
            // tests of its own.
            limits: chatshop::Limits {
                rate_limit_user_per_sec: 0,
                rate_limit_ip_per_sec: 0,
                ..chatshop::Limits::default()
            },
            ..Config::default()
        };
        configure(&mut config);
        let db = chatshop::connect_database(&config)
            .await
            .expect("the test database accepts connections");
        let chatshop = customize(Chatshop::builder(db, config))
            .build()
            .await
            .expect("Chatshop starts on the test database");
        // Bound before the server task starts: no sleep, no race.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a port");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let server = chatshop.clone();
        let server = tokio::spawn(async move {
            server
                .serve(listener, async move {
                    let _ = stopped.await;
                })
                .await
                .expect("server runs");
        });
        Self {
            addr,
            chatshop,
            database,
            client: reqwest::Client::new(),
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// An absolute URL on this instance.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.client
    }

    /// Starts a GraphQL request.
    pub fn gql(&self, query: &str) -> GqlRequest<'_> {
        GqlRequest {
            app: self,
            query: query.to_owned(),
            variables: json!({}),
            token: None,
        }
    }

    /// Signs up a user with [`PASSWORD`].
    pub async fn sign_up(&self, email: &str) -> TestUser {
        let response = self
            .gql("mutation($input: SignUpInput!) { signUp(input: $input) { token user { id email } } }")
            .vars(json!({ "input": { "email": email, "name": "Test User", "password": PASSWORD } }))
            .send()
            .await;
        let payload = &response.ok()["signUp"];
        TestUser {
            id: payload["user"]["id"].as_str().expect("user id").to_owned(),
            email: payload["user"]["email"].as_str().expect("email").to_owned(),
            token: payload["token"].as_str().expect("token").to_owned(),
        }
    }

    /// Creates a shop owned by `owner` and returns its global id.
    pub async fn create_shop(&self, owner: &TestUser, slug: &str) -> String {
        let response = self
            .gql("mutation($input: CreateShopInput!) { createShop(input: $input) { shop { id } } }")
            .vars(json!({ "input": { "slug": slug, "name": "Test Shop", "currencyCode": "USD", "hosted": true } }))
            .as_user(owner)
            .send()
            .await;
        response.ok()["createShop"]["shop"]["id"]
            .as_str()
            .expect("shop id")
            .to_owned()
    }

    /// Creates a product and returns its global id.
    pub async fn create_product(
        &self,
        member: &TestUser,
        shop_id: &str,
        name: &str,
        price: &str,
        stock: Option<i32>,
    ) -> String {
        let response = self
            .gql("mutation($input: CreateProductInput!) { createProduct(input: $input) { product { id } } }")
            .vars(json!({ "input": { "shopId": shop_id, "name": name, "price": price, "stock": stock } }))
            .as_user(member)
            .send()
            .await;
        response.ok()["createProduct"]["product"]["id"]
            .as_str()
            .expect("product id")
            .to_owned()
    }
}

impl TestApp {
    /// Shuts the server down as SIGTERM would, and waits until it has
    /// finished (every request answered, every socket closed).
    pub async fn shut_down(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(std::time::Duration::from_secs(10), server)
                .await
                .expect("the server shuts down within 10 s")
                .expect("the server task ends cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A GraphQL request being built.
pub struct GqlRequest<'a> {
    app: &'a TestApp,
    query: String,
    variables: Value,
    token: Option<String>,
}

impl GqlRequest<'_> {
    /// Sets the variables.
    pub fn vars(mut self, variables: Value) -> Self {
        self.variables = variables;
        self
    }

    /// Sends the request with this user's token.
    pub fn as_user(mut self, user: &TestUser) -> Self {
        self.token = Some(user.token.clone());
        self
    }

    /// Sends the request with a raw token.
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    /// POSTs the request as `application/json`.
    pub async fn send(self) -> GqlResponse {
        let mut request = self
            .app
            .client
            .post(self.app.url("/graphql"))
            .header("accept", "application/graphql-response+json")
            .json(&json!({ "query": self.query, "variables": self.variables }));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("HTTP request");
        GqlResponse::read(response).await
    }
}

/// A GraphQL response, checked on arrival: every error must carry a known code.
#[derive(Debug)]
pub struct GqlResponse {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Value,
}

impl GqlResponse {
    /// Reads and checks a response.
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("a JSON body");
        let response = Self { status, body };
        for error in response.errors() {
            let code = error["extensions"]["code"]
                .as_str()
                .unwrap_or_else(|| panic!("error without a code: {error}"));
            assert!(
                ERROR_CODES.contains(&code),
                "unknown error code {code} in {error}"
            );
            let message = error["message"].as_str().unwrap_or_default().to_lowercase();
            for leak in [
                "sqlx",
                "sqlite",
                "postgres",
                "syntax error at",
                "constraint",
                "dberr",
            ] {
                assert!(
                    !message.contains(leak),
                    "internal detail {leak:?} leaked: {error}"
                );
            }
        }
        response
    }

    /// The errors (empty when none).
    pub fn errors(&self) -> Vec<Value> {
        self.body["errors"].as_array().cloned().unwrap_or_default()
    }

    /// The data, after asserting there were no errors.
    pub fn ok(&self) -> &Value {
        assert!(self.errors().is_empty(), "unexpected errors: {}", self.body);
        assert_eq!(self.status, 200, "unexpected status: {}", self.body);
        &self.body["data"]
    }

    /// The data, whatever the errors.
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// The code of the first error; panics when there is none.
    pub fn code(&self) -> String {
        let errors = self.errors();
        let first = errors
            .first()
            .unwrap_or_else(|| panic!("expected an error, got {}", self.body));
        first["extensions"]["code"]
            .as_str()
            .expect("code")
            .to_owned()
    }

    /// The `extensions.field` of the first error.
    pub fn field(&self) -> Option<String> {
        self.errors()
            .first()
            .and_then(|e| e["extensions"]["field"].as_str().map(str::to_owned))
    }
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn database_names_are_replaced_in_urls() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            replace_database("postgres://u@h/db?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
        assert_eq!(
            replace_database("postgres://u@h:5432", "t1"),
            "postgres://u@h:5432/t1"
        );
    }
}

/// The uuid inside a global id (`base64url("Kind:uuid")`), to reach a row
/// the API named.
///
/// # Panics
/// When `global_id` is not a global id.
pub fn uuid_of(global_id: &str) -> uuid::Uuid {
    use base64::Engine;
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(global_id)
        .expect("a global id is base64url");
    let text = String::from_utf8(decoded).expect("a global id is text");
    let (_, uuid) = text.split_once(':').expect("a global id is Kind:uuid");
    uuid::Uuid::parse_str(uuid).expect("a global id holds a uuid")
}

/// Runs `task` on each of `inputs` as its own tokio task, all released at
/// once after every one has started (the way concurrent requests race), and
/// returns their outcomes in the order of `inputs`.
///
/// # Panics
/// When one of the tasks panicked.
pub async fn all_at_once<I, T, Fut>(
    inputs: impl IntoIterator<Item = I>,
    task: impl Fn(I) -> Fut,
) -> Vec<T>
where
    T: Send + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let work: Vec<Fut> = inputs.into_iter().map(task).collect();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(work.len()));
    let running: Vec<_> = work
        .into_iter()
        .map(|work| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                work.await
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(running.len());
    for task in running {
        outcomes.push(task.await.expect("a concurrent task panicked"));
    }
    outcomes
}

/// The PostgreSQL server for tests that need one whatever the backend under
/// test (several instances sharing one database): `CHATSHOP_TEST_DATABASE_URL`,
/// or the local server every development and CI machine runs.
pub fn postgres_admin_url() -> String {
    POSTGRES_URL
        .clone()
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

impl TestDatabase {
    /// A fresh PostgreSQL database, whatever the backend under test. Fails
    /// (never skips) when PostgreSQL cannot be reached.
    pub async fn create_postgres() -> Self {
        let admin_url = postgres_admin_url();
        let admin = Database::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("this test needs PostgreSQL at {admin_url}: {e}"));
        SWEEP
            .get_or_init(|| async { sweep_leftovers(&admin).await })
            .await;
        let name = format!("chatshop_t_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("CREATE DATABASE for the test");
        admin.close().await.ok();
        Self {
            url: replace_database(&admin_url, &name),
            _dir: None,
        }
    }
}

pub mod ws {
    //! A `graphql-transport-ws` client for tests, over tokio-tungstenite.

    use std::time::Duration;

    use futures_util::{SinkExt, StreamExt};
    use serde_json::{Value, json};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

    type Socket = tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >;

    /// How long a test waits for a message before failing.
    const WAIT: Duration = Duration::from_secs(10);

    /// One client connection.
    pub struct WsClient {
        socket: Socket,
    }

    /// Opens a socket offering `protocol` (or none).
    pub async fn connect(
        url: &str,
        protocol: Option<&str>,
    ) -> Result<WsClient, tokio_tungstenite::tungstenite::Error> {
        let mut request = url.into_client_request()?;
        if let Some(protocol) = protocol {
            request.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::from_str(protocol).unwrap(),
            );
        }
        // tungstenite reads into a buffer of `read_buffer_size` that it
        // zeroes before every read: with the 128 KiB default, zeroing was
        // most of the load generator's CPU when a thousand sockets each
        // received a small frame at a time. Frames here are small.
        let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
        let (socket, _) =
            tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
        Ok(WsClient { socket })
    }

    impl WsClient {
        /// Sends a JSON message.
        pub async fn send(&mut self, message: Value) {
            self.socket
                .send(Message::Text(message.to_string().into()))
                .await
                .expect("send");
        }

        /// Sends raw text.
        pub async fn send_text(&mut self, text: &str) {
            self.socket
                .send(Message::Text(text.to_owned().into()))
                .await
                .expect("send");
        }

        /// Sends `connection_init` with the token and expects the ack.
        pub async fn init(&mut self, token: &str) {
            self.send(json!({ "type": "connection_init", "payload": { "token": token } }))
                .await;
            let ack = self.receive().await;
            assert_eq!(ack["type"], "connection_ack", "{ack}");
        }

        /// Starts an operation.
        pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
            self.send(json!({ "type": "subscribe", "id": id, "payload": { "query": query, "variables": variables } })).await;
        }

        /// The next protocol message (server pings are answered and skipped).
        pub async fn receive(&mut self) -> Value {
            loop {
                let frame = tokio::time::timeout(WAIT, self.socket.next())
                    .await
                    .expect("a message within the timeout")
                    .expect("the socket is open")
                    .expect("a frame");
                match frame {
                    Message::Text(text) => {
                        let message: Value = serde_json::from_str(&text).expect("JSON");
                        if message["type"] == "ping" {
                            self.send(json!({ "type": "pong" })).await;
                            continue;
                        }
                        return message;
                    }
                    Message::Close(frame) => panic!("socket closed: {frame:?}"),
                    _ => continue,
                }
            }
        }

        /// The payload of the next `next` message for `id`; fails on anything else.
        pub async fn next_payload(&mut self, id: &str) -> Value {
            let message = self.receive().await;
            assert_eq!(message["type"], "next", "expected next for {id}: {message}");
            assert_eq!(message["id"], id, "{message}");
            message["payload"].clone()
        }

        /// The next text frame, or `None` after `wait` or when the socket ends.
        async fn next_text(&mut self, wait: Duration) -> Option<String> {
            loop {
                let frame = tokio::time::timeout(wait, self.socket.next())
                    .await
                    .ok()??
                    .ok()?;
                if let Message::Text(text) = frame {
                    return Some(text.as_str().to_owned());
                }
            }
        }

        /// The next protocol message as it is, pings included, or `None` after `wait`.
        pub async fn receive_raw(&mut self, wait: Duration) -> Option<Value> {
            serde_json::from_str(&self.next_text(wait).await?).ok()
        }

        /// The next protocol message, or `None` after `wait` (pings answered).
        pub async fn try_receive(&mut self, wait: Duration) -> Option<Value> {
            loop {
                let message: Value = serde_json::from_str(&self.next_text(wait).await?).ok()?;
                if message["type"] == "ping" {
                    self.send(json!({ "type": "pong" })).await;
                    continue;
                }
                return Some(message);
            }
        }

        /// The next protocol message's text, unparsed, or `None` after
        /// `wait` (pings answered): for a load generator that only looks for
        /// a marker and must leave the CPU to the server.
        pub async fn try_receive_text(&mut self, wait: Duration) -> Option<String> {
            loop {
                let text = self.next_text(wait).await?;
                if text.contains("\"type\":\"ping\"") {
                    self.send(json!({ "type": "pong" })).await;
                    continue;
                }
                return Some(text);
            }
        }

        /// Waits for the server to close the socket; returns the code and reason.
        pub async fn closed(&mut self) -> (u16, String) {
            loop {
                let frame = tokio::time::timeout(WAIT, self.socket.next())
                    .await
                    .expect("a close within the timeout");
                match frame {
                    Some(Ok(Message::Close(Some(frame)))) => {
                        return (u16::from(frame.code), frame.reason.to_string());
                    }
                    Some(Ok(Message::Close(None))) | None => return (1005, String::new()),
                    Some(Ok(Message::Text(text))) if text.contains("\"ping\"") => continue,
                    Some(Ok(other)) => panic!("expected a close, got {other:?}"),
                    Some(Err(err)) => panic!("socket error instead of a close: {err}"),
                }
            }
        }

        /// Asserts nothing arrives for a short while.
        pub async fn silent_for(&mut self, duration: Duration) {
            if let Ok(Some(Ok(frame))) = tokio::time::timeout(duration, self.socket.next()).await {
                panic!("expected silence, got {frame:?}");
            }
        }

        /// Closes the socket from the client side.
        pub async fn close(mut self) {
            let _ = self.socket.close(None).await;
        }
    }
}

impl TestApp {
    /// A `graphql-transport-ws` connection, initialised with the user's token.
    pub async fn ws_as(&self, user: &TestUser) -> ws::WsClient {
        let mut client = self
            .ws_raw(Some("graphql-transport-ws"))
            .await
            .expect("WebSocket handshake");
        client.init(&user.token).await;
        client
    }

    /// A socket to `/graphql/ws` offering `protocol`, not initialised.
    pub async fn ws_raw(
        &self,
        protocol: Option<&str>,
    ) -> Result<ws::WsClient, tokio_tungstenite::tungstenite::Error> {
        ws::connect(&format!("ws://{}/graphql/ws", self.addr), protocol).await
    }
}

/// A shop with its owner and one agent.
pub struct ShopStaff {
    /// The shop's global id.
    pub shop_id: String,
    /// Its owner.
    pub owner: TestUser,
    /// An agent of it.
    pub agent: TestUser,
}

impl TestApp {
    /// Adds a member to a shop.
    pub async fn add_member(&self, owner: &TestUser, shop_id: &str, email: &str, role: &str) {
        self.gql("mutation($input: AddShopMemberInput!) { addShopMember(input: $input) { member { role } } }")
            .vars(json!({ "input": { "shopId": shop_id, "email": email, "role": role } }))
            .as_user(owner)
            .send()
            .await
            .ok();
    }

    /// Signs up `owner@example.com` and `agent@example.com`, and creates a
    /// shop (slug `acme`, USD, hosted) with the one as owner and the other as agent.
    pub async fn shop_with_agent(&self) -> ShopStaff {
        let owner = self.sign_up("owner@example.com").await;
        let agent = self.sign_up("agent@example.com").await;
        let shop_id = self.create_shop(&owner, "acme").await;
        self.add_member(&owner, &shop_id, &agent.email, "AGENT")
            .await;
        ShopStaff {
            shop_id,
            owner,
            agent,
        }
    }

    /// A conversation as `user` sees it (`lastSeq`, `lastMessage { seq text }`)
    /// and its last 50 messages (`seq text kind order { id }`), oldest first.
    pub async fn history(&self, user: &TestUser, conversation_id: &str) -> (Value, Vec<Value>) {
        const HISTORY: &str = "query($id: ID!) { conversation(id: $id) { lastSeq lastMessage { seq text } messages(last: 50) { edges { node { seq text kind order { id } } } } } }";
        let response = self
            .gql(HISTORY)
            .vars(json!({ "id": conversation_id }))
            .as_user(user)
            .send()
            .await;
        let conversation = response.ok()["conversation"].clone();
        let mut messages: Vec<Value> = conversation["messages"]["edges"]
            .as_array()
            .expect("a page of messages")
            .iter()
            .map(|edge| edge["node"].clone())
            .collect();
        // Pages run newest first.
        messages.sort_by_key(|message| message["seq"].as_i64());
        (conversation, messages)
    }

    /// Starts (or finds) the customer's conversation with a shop; its global id.
    pub async fn start_conversation(&self, customer: &TestUser, shop_id: &str) -> String {
        let response = self
            .gql("mutation($input: StartConversationInput!) { startConversation(input: $input) { conversation { id } } }")
            .vars(json!({ "input": { "shopId": shop_id } }))
            .as_user(customer)
            .send()
            .await;
        response.ok()["startConversation"]["conversation"]["id"]
            .as_str()
            .expect("conversation id")
            .to_owned()
    }
}

pub mod chaos {
    //! A TCP proxy that a test can cut: the database "goes away" (every
    //! connection dropped, new ones refused) and comes back.

    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::watch;

    /// The proxy; dropped, it stops.
    pub struct ChaosProxy {
        /// Where clients connect.
        pub addr: SocketAddr,
        cut: Arc<AtomicBool>,
        generation: watch::Sender<u64>,
        task: tokio::task::JoinHandle<()>,
    }

    impl ChaosProxy {
        /// Starts forwarding to `upstream`.
        pub async fn start(upstream: SocketAddr) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind the proxy");
            let addr = listener.local_addr().expect("proxy address");
            let cut = Arc::new(AtomicBool::new(false));
            let (generation, _) = watch::channel(0_u64);
            let (flag, gen_tx) = (cut.clone(), generation.clone());
            let task = tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    if flag.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let mut cancelled = gen_tx.subscribe();
                    tokio::spawn(async move {
                        let Ok(server) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        let (mut client, mut server) = (client, server);
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = cancelled.changed() => {}
                        }
                    });
                }
            });
            Self {
                addr,
                cut,
                generation,
                task,
            }
        }

        /// Drops every connection and refuses new ones.
        pub fn cut(&self) {
            self.cut.store(true, Ordering::SeqCst);
            self.generation.send_modify(|g| *g += 1);
        }

        /// Lets connections through again.
        pub fn restore(&self) {
            self.cut.store(false, Ordering::SeqCst);
        }
    }

    impl Drop for ChaosProxy {
        fn drop(&mut self) {
            self.task.abort();
        }
    }
}
