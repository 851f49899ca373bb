//! Configuration: one plain struct with defaults for integrators who build it
//! in code, and clap derives so the binary reads every field from a flag or an
//! environment variable (the doc comments below are the `--help` text).

use std::fmt;
use std::net::SocketAddr;

/// Everything a Chatshop instance needs to know at start.
#[derive(Clone, Debug, clap::Args)]
pub struct Config {
    /// Database to use: `sqlite://path?mode=rwc` (embedded) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,

    /// Largest number of pooled database connections. On PostgreSQL the
    /// pool opens them all at start, so that no request waits for one to be
    /// opened; count them against the server's `max_connections` for every
    /// instance.
    #[arg(long, env = "CHATSHOP_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,

    /// Address the server listens on.
    #[arg(long, env = "CHATSHOP_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Serve the browser playground at `/`.
    #[arg(long, env = "CHATSHOP_PLAYGROUND", default_value_t = true, action = clap::ArgAction::Set)]
    pub playground: bool,

    /// Serve the playground's files from this directory instead of the copy
    /// built into the binary (for working on the playground).
    #[arg(long, env = "CHATSHOP_PLAYGROUND_DIR")]
    pub playground_dir: Option<std::path::PathBuf>,

    /// Log format of the server binary: `text` or `json` (one object per line).
    #[arg(long, env = "CHATSHOP_LOG_FORMAT", default_value = "text")]
    pub log_format: String,

    /// Seed a demo shop with products when the database has no shop yet.
    #[arg(long, env = "CHATSHOP_SEED_DEMO", default_value_t = true, action = clap::ArgAction::Set)]
    pub seed_demo: bool,

    /// How long, in milliseconds, a response to a query may be served again
    /// to the same query with the same variables (the public catalog): to
    /// any caller when no resolver asked who the caller is, otherwise only
    /// to anonymous callers. Any change a reader could see drops every kept
    /// response at once; a catalog edit made on another instance shows
    /// within this time. 0 switches the cache off.
    #[arg(long, env = "CHATSHOP_ANONYMOUS_CACHE_MS", default_value_t = 1_000)]
    pub anonymous_cache_ms: u64,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub auth: AuthConfig,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub limits: Limits,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub billing: BillingConfig,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub privacy: PrivacyConfig,
}

/// The embedded default: a SQLite file in the working directory, created on first run.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://chatshop.db?mode=rwc";
/// Loopback only by default: exposing the server is a deliberate choice.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8000";

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            db_max_connections: 10,
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            playground: true,
            playground_dir: None,
            log_format: "text".to_owned(),
            seed_demo: true,
            anonymous_cache_ms: 1_000,
            auth: AuthConfig::default(),
            limits: Limits::default(),
            billing: BillingConfig::default(),
            privacy: PrivacyConfig::default(),
        }
    }
}

/// How access tokens are signed and checked.
#[derive(Clone, clap::Args)]
pub struct AuthConfig {
    /// Secret for signing access tokens (HS256), at least 32 bytes. When unset,
    /// the server generates one and keeps it in the database, so tokens survive
    /// restarts and are shared by every instance on that database.
    #[arg(
        long = "token-secret",
        env = "CHATSHOP_TOKEN_SECRET",
        hide_env_values = true
    )]
    pub token_secret: Option<String>,

    /// `iss` claim of issued tokens, required on presented ones.
    #[arg(
        long = "token-issuer",
        env = "CHATSHOP_TOKEN_ISSUER",
        default_value = "chatshop"
    )]
    pub issuer: String,

    /// `aud` claim of issued tokens, required on presented ones.
    #[arg(
        long = "token-audience",
        env = "CHATSHOP_TOKEN_AUDIENCE",
        default_value = "chatshop-api"
    )]
    pub audience: String,

    /// Emails of platform administrators (comma-separated): they may change
    /// the rate card.
    #[arg(
        long = "admin-emails",
        env = "CHATSHOP_ADMIN_EMAILS",
        value_delimiter = ','
    )]
    pub admin_emails: Vec<String>,

    /// `iss` of an external identity provider whose tokens (RS256/ES256) are
    /// accepted too; needs `--idp-audience` and `--idp-jwks-file`.
    #[arg(long = "idp-issuer", env = "CHATSHOP_IDP_ISSUER")]
    pub idp_issuer: Option<String>,

    /// `aud` the identity provider's tokens must carry.
    #[arg(long = "idp-audience", env = "CHATSHOP_IDP_AUDIENCE")]
    pub idp_audience: Option<String>,

    /// The identity provider's public keys, as a local JWKS file (keys by
    /// `kid`; the file is read again when an unknown `kid` shows up).
    #[arg(long = "idp-jwks-file", env = "CHATSHOP_IDP_JWKS_FILE")]
    pub idp_jwks_file: Option<std::path::PathBuf>,

    /// Lifetime of issued access tokens, in seconds.
    #[arg(
        long = "token-ttl-secs",
        env = "CHATSHOP_TOKEN_TTL_SECS",
        default_value_t = 86_400
    )]
    pub token_ttl_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_secret: None,
            admin_emails: Vec::new(),
            idp_issuer: None,
            idp_audience: None,
            idp_jwks_file: None,
            issuer: "chatshop".to_owned(),
            audience: "chatshop-api".to_owned(),
            token_ttl_secs: 86_400,
        }
    }
}

// Secrets never reach a log line.
impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field(
                "token_secret",
                &self.token_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("admin_emails", &self.admin_emails)
            .field("idp_issuer", &self.idp_issuer)
            .field("idp_audience", &self.idp_audience)
            .field("idp_jwks_file", &self.idp_jwks_file)
            .field("token_ttl_secs", &self.token_ttl_secs)
            .finish()
    }
}

/// Abuse limits. Each default is chosen to be far above what a legitimate
/// client needs and far below what would hurt the server.
#[derive(Clone, Debug, clap::Args)]
pub struct Limits {
    /// Deepest selection nesting accepted. The deepest useful query
    /// (shop → products → edges → node → shop → …) is about 8 levels.
    #[arg(long, env = "CHATSHOP_MAX_DEPTH", default_value_t = 12)]
    pub max_depth: usize,

    /// Highest query complexity accepted (each field counts 1, lists count
    /// their page size times their children).
    #[arg(long, env = "CHATSHOP_MAX_COMPLEXITY", default_value_t = 5_000)]
    pub max_complexity: usize,

    /// Most aliases in one query: each alias can run an expensive field again.
    #[arg(long, env = "CHATSHOP_MAX_ALIASES", default_value_t = 30)]
    pub max_aliases: usize,

    /// Most root fields in one operation.
    #[arg(long, env = "CHATSHOP_MAX_ROOT_FIELDS", default_value_t = 20)]
    pub max_root_fields: usize,

    /// Largest page a connection returns (`first`/`last` above it are refused).
    #[arg(long, env = "CHATSHOP_MAX_PAGE_SIZE", default_value_t = 100)]
    pub max_page_size: u32,

    /// Page size when neither `first` nor `last` is given.
    #[arg(long, env = "CHATSHOP_DEFAULT_PAGE_SIZE", default_value_t = 20)]
    pub default_page_size: u32,

    /// Largest HTTP request body, in bytes; larger bodies are refused with 413
    /// before they are read. 256 KiB holds any sensible query with variables,
    /// so that an overlong field still gets a precise `BAD_USER_INPUT`.
    #[arg(long, env = "CHATSHOP_MAX_BODY_BYTES", default_value_t = 262_144)]
    pub max_body_bytes: usize,

    /// Largest number of operations in one batched HTTP request; 0 disables
    /// batching (a batch multiplies the work one request can ask for).
    #[arg(long, env = "CHATSHOP_MAX_BATCH", default_value_t = 0)]
    pub max_batch: usize,

    /// Seconds a WebSocket client has to send `connection_init` before the
    /// socket is closed with 4408; idle unauthenticated sockets cost memory.
    #[arg(long, env = "CHATSHOP_WS_INIT_TIMEOUT_SECS", default_value_t = 10)]
    pub ws_init_timeout_secs: u64,

    /// Subscriptions one WebSocket may hold at once; a UI needs a handful.
    #[arg(long, env = "CHATSHOP_WS_MAX_SUBSCRIPTIONS", default_value_t = 100)]
    pub ws_max_subscriptions: usize,

    /// WebSocket connections one user may hold at once (on one instance); a
    /// person has a few tabs and devices, not hundreds.
    #[arg(
        long,
        env = "CHATSHOP_WS_MAX_CONNECTIONS_PER_USER",
        default_value_t = 20
    )]
    pub ws_max_connections_per_user: usize,

    /// Seconds between the server's keep-alive pings on a WebSocket (0: none);
    /// below the idle timeouts of common proxies (60 s).
    #[arg(long, env = "CHATSHOP_WS_KEEPALIVE_SECS", default_value_t = 25)]
    pub ws_keepalive_secs: u64,

    /// Requests per second a signed-in user may make (bursts of twice as
    /// many), over HTTP and WebSocket together; 0 switches the limit off.
    #[arg(long, env = "CHATSHOP_RATE_LIMIT_USER_PER_SEC", default_value_t = 50)]
    pub rate_limit_user_per_sec: u32,

    /// Requests per second from one IP address without a token (bursts of
    /// twice as many); 0 switches the limit off.
    #[arg(long, env = "CHATSHOP_RATE_LIMIT_IP_PER_SEC", default_value_t = 100)]
    pub rate_limit_ip_per_sec: u32,

    /// Concurrent password hashes (each takes ~19 MiB and ~15 ms of a core);
    /// a burst of sign-ins waits instead of exhausting memory.
    #[arg(long, env = "CHATSHOP_PASSWORD_HASH_CONCURRENCY", default_value_t = 4)]
    pub password_hash_concurrency: usize,

    /// Answer introspection queries (switch off to hide the schema in production).
    #[arg(long, env = "CHATSHOP_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub introspection: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_complexity: 5_000,
            max_aliases: 30,
            max_root_fields: 20,
            max_page_size: 100,
            default_page_size: 20,
            max_body_bytes: 262_144,
            max_batch: 0,
            rate_limit_user_per_sec: 50,
            rate_limit_ip_per_sec: 100,
            ws_init_timeout_secs: 10,
            ws_max_subscriptions: 100,
            ws_max_connections_per_user: 20,
            ws_keepalive_secs: 25,
            password_hash_concurrency: 4,
            introspection: true,
        }
    }
}

/// Orders, payments and the platform's cut.
#[derive(Clone, Debug, clap::Args)]
pub struct BillingConfig {
    /// The platform's take rate on payments, in basis points (250 = 2.5 %),
    /// taken from the shop's proceeds; the customer pays the order total.
    #[arg(long, env = "CHATSHOP_TAKE_RATE_BPS", default_value_t = 250)]
    pub take_rate_bps: u32,

    /// Seconds an unpaid order keeps its stock reserved before it expires.
    #[arg(long, env = "CHATSHOP_RESERVATION_TTL_SECS", default_value_t = 900)]
    pub reservation_ttl_secs: u64,

    /// Seconds between sweeps that expire unpaid orders (0: no background
    /// sweep; orders still expire when next touched).
    #[arg(long, env = "CHATSHOP_RESERVATION_SWEEP_SECS", default_value_t = 30)]
    pub reservation_sweep_secs: u64,

    /// Milliseconds to wait for the payment provider before giving up on a
    /// charge (the attempt is reconciled on the next try).
    #[arg(long, env = "CHATSHOP_PAYMENT_TIMEOUT_MS", default_value_t = 10_000)]
    pub payment_timeout_ms: u64,
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            take_rate_bps: 250,
            reservation_ttl_secs: 900,
            reservation_sweep_secs: 30,
            payment_timeout_ms: 10_000,
        }
    }
}

/// What Chatshop keeps, and for how long.
#[derive(Clone, Debug, clap::Args)]
pub struct PrivacyConfig {
    /// Days after which the bodies of hosted messages are erased (metadata
    /// needed for billing stays); 0 keeps them forever.
    #[arg(long, env = "CHATSHOP_MESSAGE_RETENTION_DAYS", default_value_t = 365)]
    pub message_retention_days: u32,

    /// Seconds between retention sweeps (0: no background sweep).
    #[arg(long, env = "CHATSHOP_RETENTION_SWEEP_SECS", default_value_t = 3_600)]
    pub retention_sweep_secs: u64,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            message_retention_days: 365,
            retention_sweep_secs: 3_600,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    #[test]
    fn clap_defaults_match_the_code_defaults() {
        let parsed = Cli::parse_from(["chatshop"]).config;
        let coded = Config::default();
        assert_eq!(format!("{parsed:?}"), format!("{coded:?}"));
    }

    /// The README's configuration table lists every flag and variable.
    #[test]
    fn the_readme_documents_every_option() {
        use clap::CommandFactory;
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"));
        let command = Cli::command();
        for argument in command.get_arguments() {
            let Some(long) = argument.get_long() else {
                continue;
            };
            if long == "help" {
                continue;
            }
            assert!(
                readme.contains(&format!("`--{long}`")),
                "README lacks --{long}"
            );
            let env = argument
                .get_env()
                .and_then(|e| e.to_str())
                .unwrap_or_default();
            assert!(readme.contains(&format!("`{env}`")), "README lacks {env}");
        }
    }

    #[test]
    fn debug_output_redacts_the_token_secret() {
        let config = AuthConfig {
            token_secret: Some("super-secret-value-0123456789abcdef".to_owned()),
            ..AuthConfig::default()
        };
        let text = format!("{config:?}");
        assert!(!text.contains("super-secret"));
        assert!(text.contains("<redacted>"));
    }
}
