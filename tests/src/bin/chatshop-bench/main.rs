//! `chatshop-bench`: the load generator behind the README's performance table.
//!
//! It starts the real `chatshop` server binary as a child process (so the
//! server's memory and CPU can be read from /proc, apart from ours), seeds
//! it through the public API, drives a scenario, and prints a table row per
//! measurement: throughput, latency percentiles, server CPU and memory.
//!
//! ```text
//! cargo build --release --bin chatshop --bin chatshop-bench --features chatshop/stock-http-handler
//! ./target/release/chatshop-bench [--db sqlite|postgres] [--secs N] [--runs N] [SCENARIO …]
//! ```
//! With `--runs N` (N > 1) the scenarios run N times, one after the other,
//! and a last table gives each measurement's medians over the runs.
//! Scenarios: `baseline`, `stock` (our handler beside async-graphql-axum's
//! stock one), `catalog`, `messaging`, `checkout`, `memory`, `cross-instance`
//! (PostgreSQL), or `all` of these; and `instructions` (the server under
//! valgrind's callgrind: instructions per operation, see its module).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::as_conversions
)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chatshop_tests::TestDatabase;
use chatshop_tests::ws::{self, WsClient};
use futures_util::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

mod instructions;
mod raw_http;
mod summary;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const PASSWORD: &str = "correct horse battery";

/// The catalog page the scenarios load: the demo shop's first 20 products.
const PRODUCTS_PAGE: &str = "query($shopId: ID!) { products(shopId: $shopId, first: 20) { edges { cursor node { id name price { amount currencyCode } stock inStock sku } } pageInfo { hasNextPage endCursor } } }";

/// The send the messaging scenarios repeat.
const SEND_MESSAGE: &str =
    "mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { seq } } }";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let mut db = "sqlite".to_owned();
    let mut secs = 5_u64;
    let mut runs = 1_u32;
    let mut scenarios = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--db" => db = args.next().ok_or("--db needs sqlite or postgres")?,
            "--secs" => secs = args.next().ok_or("--secs needs a number")?.parse()?,
            "--runs" => runs = args.next().ok_or("--runs needs a number")?.parse()?,
            "-h" | "--help" => {
                println!(
                    "usage: chatshop-bench [--db sqlite|postgres] [--secs N] [--runs N] [baseline|stock|catalog|messaging|senders|checkout|memory|cross-instance|instructions|all]…"
                );
                return Ok(());
            }
            other => scenarios.push(other.to_owned()),
        }
    }
    if scenarios.is_empty() || scenarios.iter().any(|s| s == "all") {
        scenarios = [
            "baseline",
            "stock",
            "catalog",
            "messaging",
            "senders",
            "checkout",
            "memory",
        ]
        .map(str::to_owned)
        .to_vec();
        if db == "postgres" {
            scenarios.push("cross-instance".to_owned());
        }
    }
    let duration = Duration::from_secs(secs);
    println!(
        "# chatshop-bench: db={db}, {secs} s per measurement, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    summary::print_header();
    // Runs vary from one to the next on a shared machine: several runs, one
    // after the other, show by how much.
    for run in 1..=runs {
        if runs > 1 {
            println!("<!-- run {run} of {runs} -->");
        }
        run_scenarios(&scenarios, &db, duration).await?;
    }
    if runs > 1 {
        summary::print(runs);
    }
    Ok(())
}

async fn run_scenarios(scenarios: &[String], db: &str, duration: Duration) -> Result<(), BoxError> {
    for scenario in scenarios {
        match scenario.as_str() {
            "baseline" => baseline(db, duration).await?,
            "stock" => stock(db, duration).await?,
            "catalog" => catalog(db, duration).await?,
            "messaging" => messaging(db, duration).await?,
            "senders" => senders(db, duration).await?,
            "checkout" => checkout(db, duration).await?,
            "memory" => memory(db).await?,
            "cross-instance" => cross_instance(duration).await?,
            "instructions" => instructions::instructions(db).await?,
            other => return Err(format!("unknown scenario {other}").into()),
        }
    }
    Ok(())
}

/// A server child process and what it needs to stay alive.
struct Server {
    child: Child,
    base: String,
    http: reqwest::Client,
    database: Arc<TestDatabase>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_binary() -> PathBuf {
    let me = std::env::current_exe().expect("own path");
    me.with_file_name("chatshop")
}

async fn database(db: &str) -> Arc<TestDatabase> {
    Arc::new(match db {
        "postgres" => TestDatabase::create_postgres().await,
        _ => TestDatabase::create().await,
    })
}

/// On PostgreSQL, writes every dirty page to disk now (`CHECKPOINT`). Each
/// scenario creates and seeds a database, tens of megabytes of writes that a
/// checkpoint would otherwise flush during a later measurement, when every
/// commit's WAL flush waits behind them; a server in service spreads its
/// checkpoints over minutes.
async fn flush_database(url: &str) {
    maintain(
        url,
        "CHECKPOINT",
        "commit latencies may include a checkpoint's flush",
    )
    .await;
}

/// On PostgreSQL, gathers the planner's statistics now (`ANALYZE`). A
/// database in service has them, refreshed by autovacuum as its tables
/// grow; one created for a scenario has none, and the plans its server's
/// connections cache for empty tables (kept until the statistics change)
/// scan every row of tables that have grown since.
async fn analyze_database(url: &str) {
    maintain(url, "ANALYZE", "plans may be made for empty tables").await;
}

/// Runs a maintenance `statement` on a PostgreSQL database at `url`, and
/// says in the output what failing it means.
async fn maintain(url: &str, statement: &str, meaning: &str) {
    if !url.starts_with("postgres") {
        return;
    }
    let done = match sea_orm::Database::connect(url).await {
        Ok(db) => {
            let done = sea_orm::ConnectionTrait::execute_unprepared(&db, statement)
                .await
                .map(|_| ());
            db.close().await.ok();
            done
        }
        Err(err) => Err(err),
    };
    if let Err(err) = done {
        println!("<!-- warning: {statement} failed ({err}); {meaning} -->");
    }
}

async fn start_server(database: Arc<TestDatabase>, port: u16) -> Result<Server, BoxError> {
    start_server_with(database, port, &[]).await
}

/// Starts a server with settings of the scenario's own in `extra`.
async fn start_server_with(
    database: Arc<TestDatabase>,
    port: u16,
    extra: &[&str],
) -> Result<Server, BoxError> {
    start_server_wrapped(database, port, extra, &[]).await
}

/// [`start_server_with`], the server run by the command `wrapper` (a
/// program and its arguments, the server's command line after them) when
/// there is one.
async fn start_server_wrapped(
    database: Arc<TestDatabase>,
    port: u16,
    extra: &[&str],
    wrapper: &[String],
) -> Result<Server, BoxError> {
    let mut command = match wrapper {
        [program, args @ ..] => {
            let mut command = Command::new(program);
            command.args(args).arg(server_binary());
            command
        }
        [] => Command::new(server_binary()),
    };
    // Settings not given here come from the server's defaults or from the
    // CHATSHOP_* environment, which the child inherits.
    let child = command
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            &database.url,
        ])
        .args(["--seed-demo", "true", "--max-complexity", "100000"])
        // The load generator is one client at rates no person reaches.
        .args([
            "--rate-limit-user-per-sec",
            "0",
            "--rate-limit-ip-per-sec",
            "0",
        ])
        // The fan-out scenarios open up to 10,000 sockets as one customer.
        .args(["--ws-max-connections-per-user", "100000"])
        .args(extra)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start {}: {e} (build it with cargo build --release --bin chatshop)",
                server_binary().display()
            )
        })?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    // Under valgrind the server starts tens of times slower.
    let startup = if wrapper.is_empty() { 30 } else { 300 };
    let deadline = Instant::now() + Duration::from_secs(startup);
    loop {
        if let Ok(response) = http.get(format!("{base}/readyz")).send().await
            && response.status().is_success()
        {
            break;
        }
        if Instant::now() > deadline {
            return Err("the server did not become ready".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    flush_database(&database.url).await;
    Ok(Server {
        child,
        base,
        http,
        database,
    })
}

impl Server {
    async fn gql(
        &self,
        query: &str,
        variables: Value,
        token: Option<&str>,
    ) -> Result<Value, BoxError> {
        let mut request = self
            .http
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let body: Value = request.send().await?.json().await?;
        if let Some(errors) = body.get("errors") {
            return Err(format!("GraphQL errors: {errors}").into());
        }
        Ok(body["data"].clone())
    }

    async fn sign_in(&self, email: &str, password: &str) -> Result<String, BoxError> {
        let data = self
            .gql(
                "mutation($input: SignInInput!) { signIn(input: $input) { token } }",
                json!({ "input": { "email": email, "password": password } }),
                None,
            )
            .await?;
        Ok(data["signIn"]["token"]
            .as_str()
            .ok_or("no token")?
            .to_owned())
    }

    async fn sign_up(&self, email: &str) -> Result<String, BoxError> {
        let data = self
            .gql(
                "mutation($input: SignUpInput!) { signUp(input: $input) { token } }",
                json!({ "input": { "email": email, "name": "Bench", "password": PASSWORD } }),
                None,
            )
            .await?;
        Ok(data["signUp"]["token"]
            .as_str()
            .ok_or("no token")?
            .to_owned())
    }

    /// `host:port`, for the load loops' own connections.
    fn address(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    fn ws_url(&self) -> String {
        format!("{}/graphql/ws", self.base.replacen("http", "ws", 1))
    }

    /// Server CPU time so far (user + system), from /proc.
    fn cpu(&self) -> Duration {
        cpu_time(&self.child.id().to_string())
    }

    fn on_postgres(&self) -> bool {
        self.database.url.starts_with("postgres")
    }

    /// Server resident memory, in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

/// Latency samples and how long they took to collect.
struct Measurement {
    samples: Vec<Duration>,
    elapsed: Duration,
    cpu: CpuUse,
    server_rss_kib: u64,
}

/// The CPU time (user + system, from /proc) of a process: its command name
/// and the time. `process` is a pid or `self`.
fn process_cpu(process: &str) -> Option<(String, Duration)> {
    let stat = std::fs::read_to_string(format!("/proc/{process}/stat")).ok()?;
    let (name, rest) = stat.split_once(" (")?.1.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux counts in USER_HZ, 100 per second on every architecture.
    Some((name.to_owned(), Duration::from_millis(ticks * 10)))
}

/// The CPU time of every PostgreSQL process on this machine (the server the
/// scenarios use runs here, beside the load generator and ours).
fn local_postgres_cpu() -> Duration {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    entries
        .filter_map(|entry| {
            let pid = entry.ok()?.file_name().into_string().ok()?;
            pid.bytes().all(|b| b.is_ascii_digit()).then_some(pid)
        })
        .filter_map(|pid| process_cpu(&pid))
        .filter(|(name, _)| name == "postgres")
        .map(|(_, cpu)| cpu)
        .sum()
}

/// CPU counters read as a measurement starts: the servers', the local
/// PostgreSQL's (when they use it), the load generator's and the machine's.
struct CpuClock {
    servers: Duration,
    database: Option<Duration>,
    generator: Duration,
    host: HostTimes,
}

/// Where the CPU time of a measurement went.
struct CpuUse {
    servers: Duration,
    /// PostgreSQL's processes, when the servers use a local one.
    database: Option<Duration>,
    generator: Duration,
    /// Share of the machine's CPU time that was busy, in percent.
    busy: f64,
    /// Share of the machine's CPU time the hypervisor gave to others.
    steal: f64,
}

impl CpuClock {
    /// Starts the clock; `servers` is their CPU time so far.
    fn start(servers: Duration, postgres: bool) -> Self {
        Self {
            servers,
            database: postgres.then(local_postgres_cpu),
            generator: cpu_time("self"),
            host: HostTimes::now(),
        }
    }

    fn stop(self, servers: Duration) -> CpuUse {
        let now = HostTimes::now();
        let total = now.total.saturating_sub(self.host.total).max(1) as f64;
        let idle = now.idle.saturating_sub(self.host.idle) as f64;
        CpuUse {
            servers: servers.saturating_sub(self.servers),
            database: self
                .database
                .map(|before| local_postgres_cpu().saturating_sub(before)),
            generator: cpu_time("self").saturating_sub(self.generator),
            busy: 100.0 * (1.0 - idle / total),
            steal: 100.0 * now.steal.saturating_sub(self.host.steal) as f64 / total,
        }
    }
}

/// [`process_cpu`]'s time alone; zero for a process that is gone.
fn cpu_time(process: &str) -> Duration {
    process_cpu(process).map_or(Duration::ZERO, |(_, cpu)| cpu)
}

/// The machine's CPU time counters (the `cpu` line of /proc/stat). On a
/// virtual machine, `steal` is time its CPUs were ready but the host ran
/// something else: latency measured then is the host's, not ours, so each
/// row says how much there was.
#[derive(Clone, Copy)]
struct HostTimes {
    total: u64,
    /// Idle and waiting for I/O.
    idle: u64,
    steal: u64,
}

impl HostTimes {
    fn now() -> Self {
        Self::parse(&std::fs::read_to_string("/proc/stat").unwrap_or_default())
    }

    fn parse(stat: &str) -> Self {
        let ticks: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|t| t.parse().ok())
            .collect();
        Self {
            // user nice system idle iowait irq softirq steal (guest time
            // is already counted in user).
            total: ticks.iter().take(8).sum(),
            idle: ticks.iter().skip(3).take(2).sum(),
            steal: ticks.get(7).copied().unwrap_or(0),
        }
    }
}

impl Measurement {
    fn row(&mut self, scenario: &str, setting: &str, unit: &str) {
        self.samples.sort_unstable();
        let shown = |latency: Option<Duration>| latency.map_or("-".to_owned(), millis);
        let (p50, p99, p999) = (
            self.quantile(0.5),
            self.quantile(0.99),
            self.quantile(0.999),
        );
        let max = self.samples.last().copied();
        let rate = self.samples.len() as f64 / self.elapsed.as_secs_f64();
        let cpu_share = 100.0 * self.cpu.servers.as_secs_f64() / self.elapsed.as_secs_f64();
        let server_rss_mib = self.server_rss_kib as f64 / 1024.0;
        println!(
            "| {scenario} | {setting} | {rate:.0} {unit}/s | {} | {} | {} | {} | {cpu_share:.0} % | {server_rss_mib:.1} MiB | {:.0} % |",
            shown(p50),
            shown(p99),
            shown(p999),
            shown(max),
            self.cpu.steal
        );
        if let (Some(p50), Some(p99), Some(p999), Some(max)) = (p50, p99, p999, max) {
            summary::record(summary::Row {
                scenario: scenario.to_owned(),
                setting: summary::same_setting(setting).to_owned(),
                unit: unit.to_owned(),
                rate,
                p50,
                p99,
                p999,
                max,
                server_cpu: cpu_share,
                server_rss_mib,
                steal: self.cpu.steal,
            });
        }
    }

    /// The latency at quantile `q` of the sorted samples.
    fn quantile(&self, q: f64) -> Option<Duration> {
        quantile(&self.samples, q)
    }

    /// Where the CPU went, per completed operation (`unit`): what shows
    /// whether a closed loop was bound by the machine's cores or by waiting.
    fn cpu_per(&self, unit: &str) -> String {
        let micros = |cpu| self.micros_per_sample(cpu);
        let database = self.cpu.database.map_or_else(String::new, |cpu| {
            format!(", PostgreSQL {:.0} µs", micros(cpu))
        });
        format!(
            "CPU per {unit}: server {:.0} µs{database}, load generator {:.0} µs; machine {:.0} % busy",
            micros(self.cpu.servers),
            micros(self.cpu.generator),
            self.cpu.busy
        )
    }

    /// `cpu` divided among the samples, in microseconds.
    fn micros_per_sample(&self, cpu: Duration) -> f64 {
        cpu.as_secs_f64() * 1e6 / self.samples.len().max(1) as f64
    }
}

/// The value at quantile `q` of `sorted`.
fn quantile(sorted: &[Duration], q: f64) -> Option<Duration> {
    let last = sorted.len().checked_sub(1)?;
    sorted.get(((last as f64) * q).round() as usize).copied()
}

fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Closed loop: `connections` tasks send `body` to `path` back to back.
async fn http_load(
    server: &Server,
    path: &str,
    body: Value,
    connections: usize,
    duration: Duration,
) -> Measurement {
    http_load_as(server, path, body, None, connections, duration).await
}

/// [`http_load`] with the caller's token, when there is one.
async fn http_load_as(
    server: &Server,
    path: &str,
    body: Value,
    token: Option<&str>,
    connections: usize,
    duration: Duration,
) -> Measurement {
    let request = raw_http::Request::post_json(server.address(), path, &body.to_string(), token);
    // Warm up the connections and the server's caches.
    let warmup = Instant::now() + Duration::from_millis(500);
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let started = Instant::now();
    let clock = CpuClock::start(server.cpu(), server.on_postgres());
    for _ in 0..connections {
        let (request, stop) = (request.clone(), stop.clone());
        let mut connection = raw_http::Connection::new(server.address());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let begin = Instant::now();
                match connection.exchange(&request).await {
                    Ok(response) if response.status == 200 => {}
                    Ok(response) => panic!(
                        "HTTP {}: {}",
                        response.status,
                        String::from_utf8_lossy(response.body)
                    ),
                    Err(err) => panic!("request failed: {err}"),
                }
                if begin > warmup {
                    samples.push(begin.elapsed());
                }
            }
            samples
        }));
    }
    tokio::time::sleep(duration + Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await.expect("load task"));
    }
    let elapsed = started.elapsed().saturating_sub(Duration::from_millis(500));
    Measurement {
        samples,
        elapsed,
        cpu: clock.stop(server.cpu()),
        server_rss_kib: server.rss_kib(),
    }
}

async fn baseline(db: &str, duration: Duration) -> Result<(), BoxError> {
    let server = start_server(database(db).await, 28301).await?;
    for connections in [1, 64] {
        http_load(
            &server,
            "/graphql",
            json!({ "query": "{ __typename }" }),
            connections,
            duration,
        )
        .await
        .row(
            "baseline",
            &format!("`{{ __typename }}`, {connections} conn"),
            "req",
        );
    }
    Ok(())
}

async fn stock(db: &str, duration: Duration) -> Result<(), BoxError> {
    // Both handlers execute every request: no kept anonymous answers.
    let server =
        start_server_with(database(db).await, 28302, &["--anonymous-cache-ms", "0"]).await?;
    let probe = server
        .http
        .post(format!("{}/graphql-stock", server.base))
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await?;
    if !probe.status().is_success() {
        return Err("the server has no /graphql-stock: build it with --features chatshop/stock-http-handler".into());
    }
    // Alternate the two handlers so drift on the machine hits both equally.
    for round in 0..2 {
        for path in ["/graphql", "/graphql-stock"] {
            http_load(
                &server,
                path,
                json!({ "query": "{ __typename }" }),
                64,
                duration,
            )
            .await
            .row(
                "stock",
                &format!("{path}, 64 conn (round {})", round + 1),
                "req",
            );
        }
    }
    Ok(())
}

async fn catalog(db: &str, duration: Duration) -> Result<(), BoxError> {
    let database = database(db).await;
    let server = start_server(database.clone(), 28303).await?;
    let shop = server
        .gql("{ shop(slug: \"demo-coffee\") { id } }", json!({}), None)
        .await?;
    let shop_id = shop["shop"]["id"]
        .as_str()
        .ok_or("no demo shop")?
        .to_owned();
    // Twenty products, as the scenario asks (the demo shop has eight).
    let owner = server
        .sign_in("owner@demo.chatshop.dev", "demo-password")
        .await?;
    for i in 0..12 {
        server
            .gql(
                "mutation($input: CreateProductInput!) { createProduct(input: $input) { product { id } } }",
                json!({ "input": { "shopId": shop_id, "name": format!("Bench product {i}"), "price": "4.20", "stock": 100 } }),
                Some(&owner),
            )
            .await?;
    }
    let query = json!({
        "query": PRODUCTS_PAGE,
        "variables": { "shopId": shop_id }
    });
    page_rows(&server, &query, None, &[1, 16, 64], "", duration).await;
    // No resolver of this page asks who the caller is, so signed-in
    // shoppers share the kept answer too.
    let shopper = server
        .sign_in("customer@demo.chatshop.dev", "demo-password")
        .await?;
    let signed_in = Some(shopper.as_str());
    page_rows(
        &server,
        &query,
        signed_in,
        &[1, 16, 64],
        "signed in, ",
        duration,
    )
    .await;
    http_load(
        &server,
        "/graphql",
        json!({ "query": "{ __typename }" }),
        64,
        duration,
    )
    .await
    .row("catalog", "baseline `{ __typename }`, 64 conn", "req");
    drop(server);

    // What resolving the page costs: the same load with nothing kept.
    let server = start_server_with(database, 28309, &["--anonymous-cache-ms", "0"]).await?;
    let label = "every page resolved, ";
    page_rows(&server, &query, signed_in, &[1, 64], label, duration).await;
    Ok(())
}

/// One catalog row per connection count: the page `query` loaded as
/// `token`'s owner (anonymous without one).
async fn page_rows(
    server: &Server,
    query: &Value,
    token: Option<&str>,
    connection_counts: &[usize],
    label: &str,
    duration: Duration,
) {
    for &connections in connection_counts {
        http_load_as(
            server,
            "/graphql",
            query.clone(),
            token,
            connections,
            duration,
        )
        .await
        .row(
            "catalog",
            &format!("products(first: 20), {label}{connections} conn"),
            "req",
        );
    }
}

/// A conversation with a customer and the demo agent, ready for messages.
async fn conversation(server: &Server) -> Result<(String, String, String), BoxError> {
    let agent = server
        .sign_in("agent@demo.chatshop.dev", "demo-password")
        .await?;
    let (customer, conversation_id) = new_customer(server, &demo_shop(server).await?).await?;
    Ok((customer, agent, conversation_id))
}

/// The demo shop's id.
async fn demo_shop(server: &Server) -> Result<String, BoxError> {
    let shop = server
        .gql("{ shop(slug: \"demo-coffee\") { id } }", json!({}), None)
        .await?;
    Ok(shop["shop"]["id"]
        .as_str()
        .ok_or("no demo shop")?
        .to_owned())
}

/// A customer who has just signed up, and the conversation they started
/// with the shop `shop_id`: their token and its id.
async fn new_customer(server: &Server, shop_id: &str) -> Result<(String, String), BoxError> {
    let customer = server
        .sign_up(&format!(
            "bench-{}@example.com",
            uuid::Uuid::new_v4().simple()
        ))
        .await?;
    let started = server
        .gql(
            "mutation($input: StartConversationInput!) { startConversation(input: $input) { conversation { id } } }",
            json!({ "input": { "shopId": shop_id } }),
            Some(&customer),
        )
        .await?;
    let conversation_id = started["startConversation"]["conversation"]["id"]
        .as_str()
        .ok_or("no conversation")?
        .to_owned();
    Ok((customer, conversation_id))
}

/// `count` sockets, each signed in with `token` and running the
/// subscription `query`; returns once every subscription is live (each
/// socket has answered a ping after its subscribe).
async fn live_subscriptions(
    server: &Server,
    token: &str,
    count: usize,
    query: &str,
    variables: &Value,
) -> Result<Vec<WsClient>, BoxError> {
    let mut sockets = Vec::with_capacity(count);
    for _ in 0..count {
        let mut socket = ws::connect(&server.ws_url(), Some("graphql-transport-ws")).await?;
        socket.init(token).await;
        socket.subscribe("m", query, variables.clone()).await;
        sockets.push(socket);
    }
    for socket in &mut sockets {
        socket.send(json!({ "type": "ping" })).await;
        let pong = socket.receive().await;
        if pong["type"] != "pong" {
            return Err(format!("expected a pong, got {pong}").into());
        }
    }
    Ok(sockets)
}

/// What a fan-out run measured: every delivery, and how long each send
/// took to be acknowledged (its HTTP response, once committed).
struct FanOut {
    deliveries: Measurement,
    acknowledged: Vec<Duration>,
}

impl FanOut {
    /// Prints the row, after a comment with the sends' acknowledgement
    /// times and where the CPU went: a late delivery whose send was
    /// acknowledged late too was held up before its commit, not on its way
    /// to the subscriber.
    fn row(mut self, scenario: &str, setting: &str) {
        self.acknowledged.sort_unstable();
        let shown = |q| quantile(&self.acknowledged, q).map_or("-".to_owned(), millis);
        println!(
            "<!-- {scenario}, {setting}: sends acknowledged in p50 {}, p99 {}, p99.9 {}; {} -->",
            shown(0.5),
            shown(0.99),
            shown(0.999),
            self.deliveries.cpu_per("delivery")
        );
        self.deliveries.row(scenario, setting, "deliveries");
    }
}

/// Send → live receive: `subscribers` sockets follow one conversation while
/// a sender posts `rate` messages per second (open loop); each message
/// carries its send time, and every delivery is a sample.
async fn fan_out(
    sender: &Server,
    receiver: &Server,
    subscribers: usize,
    rate: u64,
    duration: Duration,
) -> Result<FanOut, BoxError> {
    let (customer, agent, conversation_id) = conversation(sender).await?;
    let origin = Instant::now();
    let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
    let received = Arc::new(AtomicU64::new(0));
    // Every subscription is live before the clock starts.
    let sockets = live_subscriptions(
        receiver,
        &customer,
        subscribers,
        "subscription($id: ID!, $after: Int) { messageEvents(conversationId: $id, afterSeq: $after) { message { text } } }",
        &json!({ "id": conversation_id, "after": 0 }),
    )
    .await?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for mut socket in sockets {
        let (samples, received, stop) = (samples.clone(), received.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let mut local = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let Some(frame) = socket.try_receive_text(Duration::from_millis(200)).await else {
                    continue;
                };
                if let Some(sent) = send_time(&frame) {
                    let now = origin.elapsed().as_micros() as u64;
                    local.push(Duration::from_micros(now.saturating_sub(sent)));
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
            samples.lock().unwrap().extend(local);
        }));
    }
    // The CPU of the server, or of both when sending and receiving differ.
    let servers_cpu = || {
        receiver.cpu()
            + if std::ptr::eq(sender, receiver) {
                Duration::ZERO
            } else {
                sender.cpu()
            }
    };
    // A second at the same rate first, not measured: connections are open
    // and statements prepared when the clock starts (readers skip these).
    let warm_up = send_at_rate(sender, &agent, &conversation_id, rate, rate, "w=", origin).await;
    for send in warm_up {
        send.await?;
    }
    let clock = CpuClock::start(servers_cpu(), receiver.on_postgres());
    let started = Instant::now();
    let total = rate * duration.as_secs();
    let sends = send_at_rate(sender, &agent, &conversation_id, rate, total, "t=", origin).await;
    let (mut failed, mut acknowledged) = (0, Vec::with_capacity(sends.len()));
    for send in sends {
        match send.await.ok().flatten() {
            Some(took) => acknowledged.push(took),
            None => failed += 1,
        }
    }
    let expected = (total - failed) * subscribers as u64;
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await?;
    }
    let cpu = clock.stop(servers_cpu());
    let samples = std::mem::take(&mut *samples.lock().unwrap());
    if samples.len() as u64 != expected || failed > 0 {
        println!(
            "<!-- warning: {} of {expected} deliveries arrived, {failed} sends failed -->",
            samples.len()
        );
    }
    Ok(FanOut {
        deliveries: Measurement {
            samples,
            elapsed,
            cpu,
            server_rss_kib: receiver.rss_kib(),
        },
        acknowledged,
    })
}

/// How long the closed-loop scenarios run before the clock starts: the
/// server's pools open their connections and prepare their statements.
const WARM_UP: Duration = Duration::from_secs(1);

/// Runs one task per client, each repeating `step` back to back (a closed
/// loop): for [`WARM_UP`] unmeasured, then for `duration`. A step takes its
/// client (its connection, say) and hands it back with whether it
/// succeeded. Each step that starts after the warm-up is a sample if it
/// succeeds and counted as failed otherwise; returns the measurement and
/// the failures.
async fn closed_loop<C, F, Fut>(
    server: &Server,
    clients: Vec<C>,
    duration: Duration,
    step: F,
) -> Result<(Measurement, u64), BoxError>
where
    C: Send + 'static,
    F: Fn(C) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = (C, bool)> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let warm_until = Instant::now() + WARM_UP;
    let mut tasks = Vec::new();
    for mut client in clients {
        let (step, stop) = (step.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let (mut samples, mut failed) = (Vec::new(), 0_u64);
            while !stop.load(Ordering::Relaxed) {
                let begin = Instant::now();
                let (back, ok) = step(client).await;
                client = back;
                if begin < warm_until {
                    continue;
                }
                if ok {
                    samples.push(begin.elapsed());
                } else {
                    failed += 1;
                }
            }
            (samples, failed)
        }));
    }
    tokio::time::sleep_until(warm_until.into()).await;
    let clock = CpuClock::start(server.cpu(), server.on_postgres());
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let (mut samples, mut failed) = (Vec::new(), 0);
    for task in tasks {
        let (done, lost) = task.await?;
        samples.extend(done);
        failed += lost;
    }
    let measurement = Measurement {
        samples,
        elapsed: started.elapsed(),
        cpu: clock.stop(server.cpu()),
        server_rss_kib: server.rss_kib(),
    };
    Ok((measurement, failed))
}

/// The send time a measured message carries (its text is `t=<µs>`), found
/// in the frame without parsing it: the load generator reads every
/// delivery, and a full JSON parse of each would take CPU from the server.
fn send_time(frame: &str) -> Option<u64> {
    const MARKER: &str = "\"text\":\"t=";
    let start = frame.find(MARKER)? + MARKER.len();
    let digits = frame.get(start..)?;
    let end = digits.find('"')?;
    digits.get(..end)?.parse().ok()
}

async fn messaging(db: &str, duration: Duration) -> Result<(), BoxError> {
    let server = start_server(database(db).await, 28304).await?;
    for (subscribers, rate) in [(1, 1_000), (100, 100), (100, 1_000), (1_000, 100)] {
        let run = fan_out(&server, &server, subscribers, rate, duration).await?;
        let per_event = run.deliveries.micros_per_sample(run.deliveries.cpu.servers);
        run.row(
            "messaging",
            &format!("{subscribers} sub × {rate} msg/s ({per_event:.0} µs CPU/delivery)"),
        );
    }
    Ok(())
}

/// Sends `total` messages at `rate` per second (open loop), each text
/// `prefix` and its send time in µs since `origin`; returns the sends, each
/// with how long it took to be acknowledged if it succeeded.
async fn send_at_rate(
    sender: &Server,
    agent: &str,
    conversation_id: &str,
    rate: u64,
    total: u64,
    prefix: &'static str,
    origin: Instant,
) -> Vec<tokio::task::JoinHandle<Option<Duration>>> {
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let in_flight = Arc::new(tokio::sync::Semaphore::new(256));
    let mut sends = Vec::new();
    for i in 0..total {
        let due = started + interval * u32::try_from(i).unwrap_or(u32::MAX);
        tokio::time::sleep_until(due.into()).await;
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let (http, url, agent, conversation_id) = (
            sender.http.clone(),
            format!("{}/graphql", sender.base),
            agent.to_owned(),
            conversation_id.to_owned(),
        );
        sends.push(tokio::spawn(async move {
            let sent = origin.elapsed();
            let text = format!("{prefix}{}", sent.as_micros());
            let body = json!({ "query": SEND_MESSAGE, "variables": { "input": { "conversationId": conversation_id, "text": text } } });
            let response = http.post(url).bearer_auth(agent).json(&body).send().await;
            let took = origin.elapsed().saturating_sub(sent);
            drop(permit);
            response
                .is_ok_and(|r| r.status().is_success())
                .then_some(took)
        }));
    }
    sends
}

/// Durable send throughput: 16 customers, each in their own conversation,
/// send back to back (closed loop); every acknowledged send is committed.
async fn senders(db: &str, duration: Duration) -> Result<(), BoxError> {
    let server = start_server(database(db).await, 28308).await?;
    let count = 16;
    let mut conversations = Vec::new();
    for _ in 0..count {
        let (customer, _, conversation_id) = conversation(&server).await?;
        conversations.push((customer, conversation_id));
    }
    // Each sender on a connection of its own, sending the same request.
    let senders: Vec<(raw_http::Connection, raw_http::Request)> = conversations
        .into_iter()
        .map(|(customer, conversation_id)| {
            let body = json!({ "query": SEND_MESSAGE, "variables": { "input": { "conversationId": conversation_id, "text": "durable?" } } });
            let request = raw_http::Request::post_json(
                server.address(),
                "/graphql",
                &body.to_string(),
                Some(&customer),
            );
            (raw_http::Connection::new(server.address()), request)
        })
        .collect();
    let send = |(mut connection, request): (raw_http::Connection, raw_http::Request)| async move {
        let sent = match connection.exchange(&request).await {
            // A GraphQL error still answers 200.
            Ok(response) => {
                response.status == 200 && raw_http::find(response.body, b"\"errors\"").is_none()
            }
            Err(_) => false,
        };
        ((connection, request), sent)
    };
    let (mut measurement, failed) = closed_loop(&server, senders, duration, send).await?;
    if failed > 0 {
        println!("<!-- warning: {failed} sends failed -->");
    }
    let setting = format!(
        "{count} senders, closed loop ({})",
        measurement.cpu_per("send")
    );
    measurement.row("senders", &setting, "sends");
    Ok(())
}

async fn cross_instance(duration: Duration) -> Result<(), BoxError> {
    let database = database("postgres").await;
    let sender = start_server(database.clone(), 28305).await?;
    let receiver = start_server(database, 28306).await?;
    fan_out(&sender, &receiver, 1, 1_000, duration)
        .await?
        .row("cross-instance", "send on A, 1 sub on B × 1000 msg/s");
    Ok(())
}

/// Orders each checkout customer places before the measurements.
const CHECKOUT_WARM_UP_ORDERS: usize = 100;

/// Customers checking out at once, in a closed loop: each places and pays
/// an order, then the next. With few, a round's latency bounds throughput;
/// with more, the server's group commit has more to share.
const CHECKOUT_CUSTOMERS: [usize; 2] = [16, 64];

async fn checkout(db: &str, duration: Duration) -> Result<(), BoxError> {
    let server = start_server(database(db).await, 28307).await?;
    let shop = server.gql("{ shop(slug: \"demo-coffee\") { id products(first: 20) { edges { node { id stock } } } } }", json!({}), None).await?;
    let product = shop["shop"]["products"]["edges"]
        .as_array()
        .and_then(|edges| edges.iter().find(|e| e["node"]["stock"].is_null()))
        .map(|e| e["node"]["id"].as_str().unwrap_or_default().to_owned())
        .ok_or("the demo shop has no unlimited product")?;
    let mut buyers = Vec::new();
    for _ in 0..CHECKOUT_CUSTOMERS[CHECKOUT_CUSTOMERS.len() - 1] {
        let (customer, _, conversation_id) = conversation(&server).await?;
        buyers.push((customer, conversation_id));
    }
    let (http, url) = (server.http.clone(), format!("{}/graphql", server.base));
    let buy = move |(customer, conversation_id): (String, String)| {
        let (http, url, product) = (http.clone(), url.clone(), product.clone());
        async move {
            let place = json!({ "query": "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id } } }", "variables": { "input": { "conversationId": conversation_id, "items": [{ "productId": product, "quantity": 1 }] } } });
            let placed = post_as(&http, &url, &customer, &place).await;
            let order_id = placed["data"]["placeOrder"]["order"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{placed}"))
                .to_owned();
            let pay = json!({ "query": "mutation($input: PayOrderInput!) { payOrder(input: $input) { order { status } } }", "variables": { "input": { "orderId": order_id, "paymentMethodToken": "tok_success", "idempotencyKey": uuid::Uuid::new_v4().to_string() } } });
            let paid = post_as(&http, &url, &customer, &pay).await;
            assert_eq!(
                paid["data"]["payOrder"]["order"]["status"], "PAID",
                "{paid}"
            );
            ((customer, conversation_id), true)
        }
    };
    // A shop in service has orders and statistics about them: place some,
    // then let the planner see them before measuring.
    let warm_up = buyers
        .iter()
        .cloned()
        .map(|buyer| {
            let buy = buy.clone();
            async move {
                for _ in 0..CHECKOUT_WARM_UP_ORDERS {
                    buy(buyer.clone()).await;
                }
            }
        })
        .collect::<Vec<_>>();
    futures_util::future::join_all(warm_up).await;
    analyze_database(&server.database.url).await;
    for customers in CHECKOUT_CUSTOMERS {
        let (mut measurement, _) =
            closed_loop(&server, buyers[..customers].to_vec(), duration, buy.clone()).await?;
        let setting = format!(
            "{customers} customers placing + paying ({})",
            measurement.cpu_per("order")
        );
        measurement.row("checkout", &setting, "paid orders");
    }
    Ok(())
}

/// Posts a GraphQL request as `token`'s user; the decoded response.
async fn post_as(http: &reqwest::Client, url: &str, token: &str, body: &Value) -> Value {
    http.post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn memory(db: &str) -> Result<(), BoxError> {
    let server = start_server(database(db).await, 28308).await?;
    let (customer, _, conversation_id) = conversation(&server).await?;
    // The sign-ins' password hashes each used a 19 MiB work area, which the
    // server's allocator returns to the system about a second after: measure
    // the server as it idles, not as it hashes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_rss = server.rss_kib();
    let mut sockets = Vec::new();
    let mut before = (0_usize, idle_rss);
    for target in [1_000_usize, 10_000] {
        while sockets.len() < target {
            sockets.push(idle_subscription(&server, &customer, &conversation_id).await?);
        }
        settle(&mut sockets).await;
        let rss = server.rss_kib();
        // Per subscription added since the previous row.
        let (count, rss_before) = before;
        let added = (rss.saturating_sub(rss_before) as f64 * 1024.0) / (target - count) as f64;
        println!(
            "| memory | {target} idle subscriptions | - | - | - | - | - | - | {:.1} MiB ({:.1} KiB per subscription from {count} to {target}; idle server {:.1} MiB) | - |",
            rss as f64 / 1024.0,
            added / 1024.0,
            idle_rss as f64 / 1024.0
        );
        before = (target, rss);
    }
    drop(sockets);
    drop(server);
    memory_on_separate_conversations(db).await
}

/// A socket signed in with `token`, following the messages of
/// `conversation_id`.
async fn idle_subscription(
    server: &Server,
    token: &str,
    conversation_id: &str,
) -> Result<WsClient, BoxError> {
    let mut socket = ws::connect(&server.ws_url(), Some("graphql-transport-ws")).await?;
    socket.init(token).await;
    socket
        .subscribe(
            "m",
            "subscription($id: ID!) { messageEvents(conversationId: $id) { message { seq } } }",
            json!({ "id": conversation_id }),
        )
        .await;
    Ok(socket)
}

/// Waits for every subscription to settle (replay done, buffers
/// allocated): a ping answered on each socket.
async fn settle(sockets: &mut [WsClient]) {
    for socket in sockets.iter_mut() {
        socket.send(json!({ "type": "ping" })).await;
    }
    for socket in sockets.iter_mut() {
        let _ = socket.receive().await;
    }
}

/// Idle subscriptions each on a conversation of its own, each of its own
/// customer, as in service: the server keeps a channel for every
/// conversation someone follows, and what it knows of each customer.
async fn memory_on_separate_conversations(db: &str) -> Result<(), BoxError> {
    const FOLLOWED: usize = 1_000;
    let server = start_server(database(db).await, 28311).await?;
    let shop_id = demo_shop(&server).await?;
    // Each sign-up hashes a password; the server hashes two at a time.
    let customers: Vec<(String, String)> = futures_util::stream::iter(0..FOLLOWED)
        .map(|_| new_customer(&server, &shop_id))
        .buffer_unordered(4)
        .try_collect()
        .await?;
    // As above: measure once the hashing threads have let their memory go.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_rss = server.rss_kib();
    let mut sockets = Vec::with_capacity(FOLLOWED);
    for (customer, conversation_id) in &customers {
        sockets.push(idle_subscription(&server, customer, conversation_id).await?);
    }
    settle(&mut sockets).await;
    let rss = server.rss_kib();
    let added = (rss.saturating_sub(idle_rss) as f64 * 1024.0) / FOLLOWED as f64;
    println!(
        "| memory | {FOLLOWED} idle subscriptions, each on its own conversation | - | - | - | - | - | - | {:.1} MiB ({:.1} KiB per subscription; idle server with {FOLLOWED} customers {:.1} MiB) | - |",
        rss as f64 / 1024.0,
        added / 1024.0,
        idle_rss as f64 / 1024.0
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{HostTimes, process_cpu, send_time};

    #[test]
    fn idle_and_steal_are_read_from_the_machine_wide_cpu_line() {
        let stat = "cpu  100 5 50 800 10 1 2 32 7 0\ncpu0 50 2 25 400 5 0 1 16 0 0\n";
        let times = HostTimes::parse(stat);
        assert_eq!(times.steal, 32);
        assert_eq!(times.idle, 800 + 10);
        assert_eq!(times.total, 100 + 5 + 50 + 800 + 10 + 1 + 2 + 32);
    }

    #[test]
    fn a_process_cpu_time_is_its_user_and_system_ticks() {
        let (name, cpu) = process_cpu("self").expect("our own /proc entry");
        assert!(
            name.starts_with("chatshop"),
            "the test binary's name, not {name}"
        );
        // Spin until the kernel has counted at least one tick for us.
        let start = std::time::Instant::now();
        while process_cpu("self").unwrap().1 == cpu {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "no CPU time counted"
            );
        }
    }

    #[test]
    fn the_send_time_is_read_from_a_delivery_and_nothing_else() {
        let delivery = r#"{"id":"m","type":"next","payload":{"data":{"messageEvents":{"message":{"text":"t=123456"}}}}}"#;
        assert_eq!(send_time(delivery), Some(123_456));
        let warm_up = r#"{"id":"m","type":"next","payload":{"data":{"messageEvents":{"message":{"text":"w=1"}}}}}"#;
        assert_eq!(send_time(warm_up), None);
        assert_eq!(send_time(r#"{"type":"pong"}"#), None);
    }
}
