//! A running Chatshop: the state every request shares, and the builder that
//! wires it.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chatshop_entity::signing_key;
use chatshop_migration::{Migrator, MigratorTrait};
use sea_orm::{
    ActiveValue::Set, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, EntityTrait,
};

use crate::auth::jwt::{MIN_SECRET_BYTES, TokenKeys};
use crate::auth::password::PasswordHasher;
use crate::config::Config;
use crate::events::{EventBus, LocalEventBus, PostgresEventBus, Topics};
use crate::graphql::{self, ChatshopSchema};
use crate::payments::{PaymentProvider, TestPaymentProvider};
use crate::{Error, http};

/// What every request shares. Cheap to clone.
#[derive(Clone)]
pub(crate) struct AppState(Arc<StateInner>);

pub(crate) struct StateInner {
    /// Reads, and writes outside the request path.
    pub db: DatabaseConnection,
    /// Writes of the request path. On SQLite a pool of one connection, so
    /// that writers queue in order instead of sleeping in SQLite's busy
    /// handler for the single write lock (tens of milliseconds of tail);
    /// elsewhere the same pool as `db`.
    pub writer: DatabaseConnection,
    /// Group commit for messages people send and checkout steps (on
    /// `writer`).
    pub group_writer: crate::services::group_writer::GroupWriter,
    pub events: Arc<dyn EventBus>,
    /// The bus's events, by the conversation or shop they concern, for
    /// subscriptions.
    pub topics: Topics,
    /// Who may still act (see [`crate::auth::accounts`]).
    pub accounts: Arc<crate::auth::accounts::ActiveAccounts>,
    pub payments: Arc<dyn PaymentProvider>,
    pub currencies: crate::services::shops::CurrencyCache,
    pub participations: crate::services::conversations::Participations,
    pub products: crate::services::orders::RecentProducts,
    pub metrics: crate::metrics::Metrics,
    /// Set when the server shuts down; WebSockets watch it.
    pub stopping: tokio::sync::watch::Sender<bool>,
    pub tokens: TokenKeys,
    pub passwords: PasswordHasher,
    pub config: Config,
}

impl StateInner {
    /// What placing, paying and refunding orders need.
    pub(crate) fn order_context(
        &self,
    ) -> crate::services::orders::OrderContext<'_, DatabaseConnection> {
        crate::services::orders::OrderContext {
            db: &self.writer,
            reader: &self.db,
            events: self.events.as_ref(),
            currencies: &self.currencies,
            participations: &self.participations,
            products: &self.products,
            group_writer: &self.group_writer,
            provider: self.payments.as_ref(),
            billing: &self.config.billing,
        }
    }
}

impl Deref for AppState {
    type Target = StateInner;

    fn deref(&self) -> &StateInner {
        &self.0
    }
}

/// Opens the connection pool `config` describes, tuned for Chatshop (for
/// integrators who want to pass it to [`Chatshop::builder`] with their own
/// payment provider or event bus).
///
/// # Errors
/// `INTERNAL` when the database cannot be reached.
pub async fn connect_database(config: &Config) -> Result<DatabaseConnection, Error> {
    let given = config.database_url.as_str();
    let plain = plain_on_this_machine(given, |name| std::env::var(name).ok());
    let db = match plain {
        Some(plain) => match Database::connect(pool_options(config, &plain)).await {
            // The server takes only encrypted connections here (`hostssl`):
            // as the URL was given, sqlx asks for TLS first.
            Err(err) if refused_without_tls(&err) => {
                tracing::info!("PostgreSQL refused a connection without TLS; connecting with it");
                Database::connect(pool_options(config, given)).await?
            }
            connected => connected?,
        },
        None => Database::connect(pool_options(config, given)).await?,
    };
    if db.get_database_backend() == sea_orm::DatabaseBackend::Sqlite {
        // WAL lets readers proceed during a write (it is a property of the
        // file, so setting it once holds for every connection).
        db.execute_unprepared("PRAGMA journal_mode = WAL;").await?;
    }
    Ok(db)
}

/// The pool's settings, for the database at `url`.
fn pool_options(config: &Config, url: &str) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(config.db_max_connections)
        .connect_timeout(Duration::from_secs(10))
        // When the database is gone, fail a request in seconds instead of
        // queueing it for sqlx's default 30 s; the pool reconnects by itself
        // once the database is back.
        .acquire_timeout(Duration::from_secs(3))
        // sqlx pings a connection each time it leaves the pool, one more
        // round trip for every statement outside a transaction (measured:
        // notifications and message groups queued behind those pings and
        // took 1 ms per row). Only a connection idle long enough for a
        // firewall or the server to have dropped it is checked first.
        .test_before_acquire_if_idle_for(Duration::from_secs(10))
        .sqlx_logging(false);
    if url.starts_with("postgres") {
        // Open the whole pool at start: a connection opened under load
        // (TLS and authentication, each exchange paying the Nagle delay
        // described at `POSTGRES_STATEMENT_BYTES`) held its first statement
        // about 95 ms.
        options.min_connections(config.db_max_connections);
    }
    options
}

/// A PostgreSQL URL that reaches the server on this machine (a loopback
/// address, `localhost` or a Unix socket) and leaves TLS to sqlx's default
/// (`prefer`: encrypted whenever the server offers it), with `sslmode=disable`
/// added; `None` for any other URL, or when `PGSSLMODE` chooses.
/// Encrypting traffic that never leaves the machine protects nothing and
/// cost both ends a sixth of their CPU time per message sent (measured with
/// `chatshop-bench --db postgres senders`). `env` reads the environment
/// variables that sqlx reads too.
fn plain_on_this_machine(
    database_url: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    if env("PGSSLMODE").is_some() {
        return None;
    }
    let mut url = url::Url::parse(database_url).ok()?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return None;
    }
    let mut host = url.host_str().map(str::to_owned);
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "sslmode" | "ssl-mode" => return None,
            // sqlx lets these name the server instead of the URL's host.
            "host" | "hostaddr" => host = Some(value.into_owned()),
            _ => {}
        }
    }
    let named = |host: Option<String>| host.filter(|host| !host.is_empty());
    // Without a host in the URL, sqlx takes the environment's, or else a
    // Unix socket of this machine's PostgreSQL, or else `localhost`.
    let host = named(host)
        .or_else(|| named(env("PGHOSTADDR")))
        .or_else(|| named(env("PGHOST")))
        .unwrap_or_else(|| "localhost".to_owned());
    let on_this_machine = host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !on_this_machine {
        return None;
    }
    url.query_pairs_mut().append_pair("sslmode", "disable");
    Some(url.into())
}

/// Whether PostgreSQL refused to authenticate a connection (SQLSTATE
/// 28000, as a `hostssl`-only `pg_hba.conf` refuses one without TLS).
fn refused_without_tls(err: &sea_orm::DbErr) -> bool {
    match err {
        sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(cause)) => cause
            .as_database_error()
            .and_then(|cause| cause.code())
            .is_some_and(|code| code == "28000"),
        _ => false,
    }
}

/// The most one statement to PostgreSQL should carry, in bytes, where we
/// choose its size (notification batches, message groups). sqlx 0.9 leaves
/// Nagle's algorithm on for its sockets: a message the TLS layer splits
/// into two records (more than 16 KiB) goes out as two writes, and the
/// second waits for the server's delayed acknowledgement of the first, 40 ms.
/// Measured here, batches over that size held every notification 45 ms, and
/// the larger batches that delay built kept it there.
pub(crate) const POSTGRES_STATEMENT_BYTES: usize = 12 * 1024;

/// Splits `items`, in order, into runs whose sizes add up to at most
/// `budget`; an item larger than the budget makes a run of its own.
pub(crate) fn runs_within<T>(
    items: Vec<T>,
    budget: usize,
    size: impl Fn(&T) -> usize,
) -> Vec<Vec<T>> {
    let mut runs: Vec<Vec<T>> = Vec::new();
    let mut used = 0;
    for item in items {
        let item_size = size(&item);
        match runs.last_mut() {
            Some(run) if used + item_size <= budget => {
                used += item_size;
                run.push(item);
            }
            _ => {
                used = item_size;
                runs.push(vec![item]);
            }
        }
    }
    runs
}

/// A configured Chatshop instance. Cheap to clone; holds no globals, so
/// several can run in one process (as the multi-instance tests do).
#[derive(Clone)]
pub struct Chatshop {
    state: AppState,
    schema: ChatshopSchema,
    executor: graphql::Executor,
}

/// Wires a [`Chatshop`] around a database connection the integrator owns.
pub struct ChatshopBuilder {
    db: DatabaseConnection,
    config: Config,
    run_migrations: bool,
    events: Option<Arc<dyn EventBus>>,
    payments: Option<Arc<dyn PaymentProvider>>,
}

impl Chatshop {
    /// Connects to `config.database_url`, runs migrations and wires the defaults.
    ///
    /// # Errors
    /// `INTERNAL` when the database cannot be reached or migrated, or the
    /// configured token secret is too short.
    pub async fn connect(config: Config) -> Result<Self, Error> {
        let db = connect_database(&config).await?;
        Self::builder(db, config).build().await
    }

    /// Starts from an existing connection (integrators who own their pool).
    pub fn builder(db: DatabaseConnection, config: Config) -> ChatshopBuilder {
        ChatshopBuilder {
            db,
            config,
            run_migrations: true,
            events: None,
            payments: None,
        }
    }

    /// The full HTTP surface, to `nest` or `merge` into an axum app:
    /// `/graphql`, `/graphql/ws`, `/healthz`, `/readyz`, `/metrics`, and the
    /// playground at `/` when enabled.
    pub fn router(&self) -> axum::Router {
        http::router(
            self.state.clone(),
            self.executor.clone(),
            self.schema.clone(),
        )
    }

    /// The executable schema, for in-process execution.
    pub fn schema(&self) -> &ChatshopSchema {
        &self.schema
    }

    /// The database connection.
    pub fn database(&self) -> &DatabaseConnection {
        &self.state.db
    }

    /// Serves on an already-bound listener until `shutdown` resolves, then
    /// finishes the requests in flight.
    ///
    /// # Errors
    /// Any I/O error of the listener.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        use axum::serve::ListenerExt;
        // Without TCP_NODELAY, small frames (WebSocket events, short
        // responses) wait on Nagle's algorithm: tens of milliseconds of p99.
        let listener = listener.tap_io(|stream| {
            if let Err(err) = stream.set_nodelay(true) {
                tracing::debug!(error = %err, "could not set TCP_NODELAY");
            }
        });
        let stopping = self.state.stopping.clone();
        let shutdown = async move {
            shutdown.await;
            // WebSockets never end on their own: tell them to close (1001),
            // or the graceful shutdown would wait for them forever.
            stopping.send_replace(true);
        };
        axum::serve(
            listener,
            self.router()
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }

    /// Closes every WebSocket of this instance with 1001 (going away), as a
    /// graceful shutdown does. For integrators who run the router in their
    /// own server and shut it down themselves.
    pub fn close_websockets(&self) {
        self.state.stopping.send_replace(true);
    }

    /// Expires unpaid orders whose reservation ran out, releasing their
    /// stock, and returns how many. The server does this in the background
    /// every `--reservation-sweep-secs`; call it to do it now.
    ///
    /// # Errors
    /// `INTERNAL` on database failures.
    pub async fn expire_reservations(&self) -> Result<usize, Error> {
        crate::services::orders::expire_due(&self.state.db, self.state.events.as_ref()).await
    }

    /// Erases hosted message bodies older than the retention period and
    /// returns how many. The server does this in the background every
    /// `--retention-sweep-secs`; call it to do it now.
    ///
    /// # Errors
    /// `INTERNAL` on database failures.
    pub async fn purge_expired_messages(&self) -> Result<u64, Error> {
        crate::services::privacy::purge_expired_messages(
            &self.state.db,
            self.state.config.privacy.message_retention_days,
        )
        .await
    }

    /// Seeds the demo shop when the database has no shop yet. Returns whether it did.
    ///
    /// # Errors
    /// `INTERNAL` on database failures.
    pub async fn seed_demo_if_empty(&self) -> Result<bool, Error> {
        crate::seed::seed_demo_if_empty(&self.state).await
    }
}

impl ChatshopBuilder {
    /// Whether to run pending migrations on build (default: yes). Integrators
    /// who migrate with their own tooling switch it off.
    pub fn run_migrations(mut self, yes: bool) -> Self {
        self.run_migrations = yes;
        self
    }

    /// Carries live events through this bus instead of the default
    /// (LISTEN/NOTIFY on PostgreSQL, in-process on SQLite).
    pub fn event_bus(mut self, bus: impl EventBus) -> Self {
        self.events = Some(Arc::new(bus));
        self
    }

    /// Takes payments through this provider instead of the built-in
    /// [`TestPaymentProvider`](crate::TestPaymentProvider).
    pub fn payment_provider(mut self, provider: impl PaymentProvider) -> Self {
        self.payments = Some(Arc::new(provider));
        self
    }

    /// Builds the instance.
    ///
    /// # Errors
    /// `INTERNAL` when migrations fail or the token secret is unusable.
    pub async fn build(self) -> Result<Chatshop, Error> {
        if self.run_migrations {
            Migrator::up(&self.db, None).await?;
        }
        let auth = &self.config.auth;
        let secret = match &auth.token_secret {
            Some(secret) => secret.as_bytes().to_vec(),
            None => stored_signing_secret(&self.db).await?,
        };
        let mut tokens = TokenKeys::new(
            &secret,
            &auth.issuer,
            &auth.audience,
            Duration::from_secs(auth.token_ttl_secs),
        )?;
        match (&auth.idp_issuer, &auth.idp_audience, &auth.idp_jwks_file) {
            (Some(issuer), Some(audience), Some(jwks)) => {
                let provider = crate::auth::identity_provider::IdentityProvider::new(
                    issuer,
                    audience,
                    jwks.clone(),
                )?;
                tokens = tokens.with_identity_provider(provider);
            }
            (None, None, None) => {}
            _ => {
                return Err(Error::internal(
                    "an identity provider needs --idp-issuer, --idp-audience and --idp-jwks-file",
                ));
            }
        }
        let passwords = PasswordHasher::new(self.config.limits.password_hash_concurrency);
        let (events, topics): (Arc<dyn EventBus>, Topics) = match self.events {
            Some(bus) => {
                let topics = Topics::start(bus.as_ref());
                (bus, topics)
            }
            None if self.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres => {
                let bus = PostgresEventBus::start(self.db.clone()).await?;
                let topics = bus.topics();
                (Arc::new(bus), topics)
            }
            None => {
                let bus = LocalEventBus::new();
                let topics = bus.topics();
                (Arc::new(bus), topics)
            }
        };
        let payments = self
            .payments
            .unwrap_or_else(|| Arc::new(TestPaymentProvider::new()));
        warn_if_sqlite_replans(&self.db).await;
        let writer = writer_for(&self.db).await?;
        let group_writer =
            crate::services::group_writer::GroupWriter::start(writer.clone(), events.clone());
        let accounts = Arc::new(crate::auth::accounts::ActiveAccounts::default());
        accounts.follow(events.as_ref());
        let state = AppState(Arc::new(StateInner {
            db: self.db,
            writer,
            group_writer,
            topics,
            events,
            accounts,
            payments,
            currencies: crate::services::shops::CurrencyCache::default(),
            participations: Default::default(),
            products: Default::default(),
            metrics: crate::metrics::Metrics::new(),
            stopping: tokio::sync::watch::Sender::new(false),
            tokens,
            passwords,
            config: self.config,
        }));
        let (schema, executor) = graphql::build_schema(state.clone());
        spawn_reservation_sweeper(&state);
        spawn_retention_sweeper(&state);
        Ok(Chatshop {
            state,
            schema,
            executor,
        })
    }
}

/// The connection request-path writes go through (see [`StateInner::writer`]):
/// on a SQLite file a pool of its own, whose log is checkpointed from `db`'s
/// (see [`crate::services::wal_checkpoints`]).
async fn writer_for(db: &DatabaseConnection) -> Result<DatabaseConnection, Error> {
    if db.get_database_backend() != sea_orm::DatabaseBackend::Sqlite {
        return Ok(db.clone());
    }
    let options = db.get_sqlite_connection_pool().connect_options();
    let file = options.get_filename().to_string_lossy();
    if file == ":memory:" || file.starts_with("file:sqlx-in-memory") {
        // A second pool on a private in-memory database would be another database.
        return Ok(db.clone());
    }
    let pool = sea_orm::sqlx::sqlite::SqlitePoolOptions::new()
        .acquire_timeout(Duration::from_secs(3))
        // A file connection cannot drop: no ping before each use.
        .test_before_acquire(false);
    let pool = crate::services::wal_checkpoints::writer_pool((*options).clone(), pool, db.clone())
        .await
        .map_err(Error::internal)?;
    Ok(sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
}

/// Says so when SQLite was built without `SQLITE_ENABLE_QPSG` (this
/// workspace's `.cargo/config.toml` sets it; a program that embeds Chatshop
/// builds SQLite with its own flags): every statement with a bound `LIMIT`
/// is then re-planned each time it runs, which costs CPU but nothing else.
async fn warn_if_sqlite_replans(db: &DatabaseConnection) {
    if db.get_database_backend() != sea_orm::DatabaseBackend::Sqlite {
        return;
    }
    let statement = sea_orm::Statement::from_string(
        sea_orm::DatabaseBackend::Sqlite,
        "SELECT sqlite_compileoption_used('ENABLE_QPSG') AS used",
    );
    let used = db
        .query_one_raw(statement)
        .await
        .ok()
        .flatten()
        .and_then(|row| row.try_get::<i32>("", "used").ok());
    if used == Some(0) {
        tracing::warn!(
            "SQLite was built without SQLITE_ENABLE_QPSG: statements are re-planned on every run; build with LIBSQLITE3_FLAGS=SQLITE_ENABLE_QPSG"
        );
    }
}

const ACCESS_TOKEN_KEY: &str = "access-token";

/// The server-generated token secret: created by the first instance to start
/// (insert-if-absent, so concurrent first starts agree) and read by the rest.
async fn stored_signing_secret(db: &DatabaseConnection) -> Result<Vec<u8>, Error> {
    let mut fresh = [0_u8; 48];
    argon2::password_hash::rand_core::RngCore::fill_bytes(
        &mut argon2::password_hash::rand_core::OsRng,
        &mut fresh,
    );
    signing_key::Entity::insert(signing_key::ActiveModel {
        purpose: Set(ACCESS_TOKEN_KEY.to_owned()),
        secret: Set(STANDARD.encode(fresh)),
        created_at: Set(chrono::Utc::now()),
    })
    .on_conflict_do_nothing_on([signing_key::Column::Purpose])
    .exec(db)
    .await?;
    let stored = signing_key::Entity::find_by_id(ACCESS_TOKEN_KEY.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| Error::internal("signing key vanished after insert"))?;
    let secret = STANDARD.decode(stored.secret).map_err(Error::internal)?;
    if secret.len() < MIN_SECRET_BYTES {
        return Err(Error::internal("stored signing key is too short"));
    }
    Ok(secret)
}

/// Expires unpaid orders in the background, so that reserved stock comes back
/// even when nobody touches the order. Stops when the instance is dropped.
fn spawn_reservation_sweeper(state: &AppState) {
    let every = state.config.billing.reservation_sweep_secs;
    if every == 0 {
        return;
    }
    let weak = Arc::downgrade(&state.0);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(every));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let Some(state) = weak.upgrade() else { break };
            if let Err(err) =
                crate::services::orders::expire_due(&state.db, state.events.as_ref()).await
            {
                tracing::warn!(error = %err, "reservation sweep failed");
            }
        }
    });
}

/// Erases hosted message bodies past the retention period in the background.
/// Stops when the instance is dropped.
fn spawn_retention_sweeper(state: &AppState) {
    let every = state.config.privacy.retention_sweep_secs;
    if every == 0 || state.config.privacy.message_retention_days == 0 {
        return;
    }
    let weak = Arc::downgrade(&state.0);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(every));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let Some(state) = weak.upgrade() else { break };
            let days = state.config.privacy.message_retention_days;
            match crate::services::privacy::purge_expired_messages(&state.db, days).await {
                Ok(0) => {}
                Ok(erased) => {
                    tracing::info!(erased, "erased message bodies past the retention period")
                }
                Err(err) => tracing::warn!(error = %err, "retention sweep failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::{plain_on_this_machine, runs_within};

    #[test]
    fn only_a_postgres_url_to_this_machine_that_leaves_tls_open_goes_without_it() {
        let plain = |url| plain_on_this_machine(url, |_| None);
        assert_eq!(
            plain("postgres://app@127.0.0.1:5432/app").as_deref(),
            Some("postgres://app@127.0.0.1:5432/app?sslmode=disable")
        );
        assert_eq!(
            plain("postgresql://app:secret@localhost/app?application_name=chatshop").as_deref(),
            Some("postgresql://app:secret@localhost/app?application_name=chatshop&sslmode=disable")
        );
        assert!(plain("postgres://app@[::1]:5432/app").is_some());
        assert!(plain("postgres://app@127.0.0.2/app").is_some());
        assert!(plain("postgres://app@db/app?host=/var/run/postgresql").is_some());
        // Elsewhere, or where the URL or `PGSSLMODE` chooses, as given.
        assert_eq!(plain("postgres://app@db.example.com/app"), None);
        assert_eq!(plain("postgres://app@10.0.0.5/app"), None);
        assert_eq!(
            plain("postgres://app@localhost/app?host=db.example.com"),
            None
        );
        assert_eq!(plain("postgres://app@127.0.0.1/app?sslmode=require"), None);
        assert_eq!(
            plain("postgres://app@127.0.0.1/app?ssl-mode=verify-full"),
            None
        );
        let pgsslmode = |name: &str| (name == "PGSSLMODE").then(|| "require".to_owned());
        assert_eq!(
            plain_on_this_machine("postgres://app@127.0.0.1/app", pgsslmode),
            None
        );
        // No host in the URL: the environment's, or else this machine's.
        assert_eq!(
            plain("postgres:///app").as_deref(),
            Some("postgres:///app?sslmode=disable")
        );
        let pghost =
            |host: &'static str| move |name: &str| (name == "PGHOST").then(|| host.to_owned());
        assert_eq!(
            plain_on_this_machine("postgres:///app", pghost("db.example.com")),
            None
        );
        assert!(plain_on_this_machine("postgres:///app", pghost("/var/run/postgresql")).is_some());
        assert!(
            plain_on_this_machine("postgres://app@127.0.0.1/app", pghost("db.example.com"))
                .is_some()
        );
        assert_eq!(plain("sqlite://chatshop.db?mode=rwc"), None);
    }

    #[test]
    fn runs_keep_their_order_and_stay_within_the_budget() {
        let sizes = vec![4, 4, 4, 9, 20, 1, 1];
        let runs = runs_within(sizes.clone(), 10, |size| *size);
        assert_eq!(
            runs,
            vec![vec![4, 4], vec![4], vec![9], vec![20], vec![1, 1]]
        );
        assert_eq!(runs.concat(), sizes);
        assert!(runs_within(Vec::<usize>::new(), 10, |size| *size).is_empty());
    }
}
