//! Faults: the database goes away and comes back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chatshop_tests::chaos::ChaosProxy;
use chatshop_tests::{TestApp, TestDatabase};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn when_the_database_goes_away_requests_fail_fast_and_service_resumes_by_itself() {
    // Through a proxy in front of PostgreSQL that the test can cut.
    let database = TestDatabase::create_postgres().await;
    let proxy = ChaosProxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let through_proxy = database
        .url
        .replace("127.0.0.1:5432", &proxy.addr.to_string());
    assert_ne!(
        through_proxy, database.url,
        "the test database must be on 127.0.0.1:5432"
    );
    let routed = Arc::new(database.with_url(through_proxy));
    let app = TestApp::spawn_on(routed, |_| {}).await;
    let user = app.sign_up("faults@example.com").await;
    let shops = "{ shops { edges { cursor } } }";
    assert!(
        app.gql(shops)
            .as_user(&user)
            .send()
            .await
            .errors()
            .is_empty()
    );

    proxy.cut();
    let started = Instant::now();
    let failed = app.gql(shops).send().await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "failed after {:?}",
        started.elapsed()
    );
    assert_eq!(failed.code(), "INTERNAL");
    assert_eq!(
        failed.errors()[0]["message"],
        "the service is temporarily unavailable; retry shortly"
    );
    let ready = app.http().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let healthy = app.http().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(healthy.status(), 200, "the process itself is fine");

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let response = app.gql(shops).send().await;
        if response.errors().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "service did not resume: {}",
            response.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ready = app.http().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let me = app.gql("{ me { email } }").as_user(&user).send().await;
    assert_eq!(me.ok()["me"], json!({ "email": "faults@example.com" }));
}

#[tokio::test]
async fn on_this_machine_postgres_is_reached_without_tls() {
    let app = TestApp::spawn_on(Arc::new(TestDatabase::create_postgres().await), |_| {}).await;
    let statement = sea_orm::Statement::from_string(
        sea_orm::DatabaseBackend::Postgres,
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    );
    let row = sea_orm::ConnectionTrait::query_one_raw(app.chatshop.database(), statement)
        .await
        .unwrap()
        .expect("pg_stat_ssl has a row for every backend");
    let encrypted: bool = row.try_get("", "ssl").unwrap();
    assert!(!encrypted, "the pool's connection to 127.0.0.1 uses TLS");
}

#[tokio::test]
async fn a_postgres_that_takes_only_encrypted_connections_is_reached_as_it_asks() {
    // In front of PostgreSQL, a server that refuses a connection which does
    // not ask for TLS first (as `hostssl` in `pg_hba.conf` does), and lets
    // through, unencrypted, one that asked.
    let database = TestDatabase::create_postgres().await;
    let front = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front_addr = front.local_addr().unwrap();
    let counts = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let seen = counts.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = front.accept().await {
            tokio::spawn(only_after_asking_for_tls(client, seen.clone()));
        }
    });
    let through_front = database
        .url
        .replace("127.0.0.1:5432", &front_addr.to_string());
    assert_ne!(
        through_front, database.url,
        "the test database must be on 127.0.0.1:5432"
    );
    let app = TestApp::spawn_on(Arc::new(database.with_url(through_front)), |_| {}).await;

    let user = app.sign_up("hostssl@example.com").await;
    let me = app.gql("{ me { email } }").as_user(&user).send().await;
    assert_eq!(me.ok()["me"], json!({ "email": "hostssl@example.com" }));
    let [refused, asked] = &*counts;
    assert!(
        refused.load(Ordering::SeqCst) >= 1,
        "the first attempt went without asking for TLS"
    );
    assert!(
        asked.load(Ordering::SeqCst) >= 1,
        "then every connection asked"
    );
}

/// Serves one client of the front above: `counts` are the connections
/// refused and those let through.
async fn only_after_asking_for_tls(
    mut client: tokio::net::TcpStream,
    counts: Arc<[AtomicUsize; 2]>,
) {
    const SSL_REQUEST: i32 = 80_877_103;
    let mut head = [0u8; 8];
    if client.read_exact(&mut head).await.is_err() {
        return;
    }
    let length = i32::from_be_bytes(head[..4].try_into().unwrap());
    let code = i32::from_be_bytes(head[4..].try_into().unwrap());
    if length == 8 && code == SSL_REQUEST {
        counts[1].fetch_add(1, Ordering::SeqCst);
        // "N": no TLS after all; the client goes on unencrypted.
        client.write_all(b"N").await.unwrap();
        let mut server = tokio::net::TcpStream::connect("127.0.0.1:5432")
            .await
            .unwrap();
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        return;
    }
    counts[0].fetch_add(1, Ordering::SeqCst);
    let mut rest = vec![0u8; usize::try_from(length).unwrap_or(8).saturating_sub(8)];
    let _ = client.read_exact(&mut rest).await;
    let mut fields = Vec::new();
    for (tag, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', "28000"),
        (
            b'M',
            "no pg_hba.conf entry for host \"127.0.0.1\", no encryption",
        ),
    ] {
        fields.push(tag);
        fields.extend_from_slice(value.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut error = vec![b'E'];
    error.extend_from_slice(&(i32::try_from(fields.len()).unwrap() + 4).to_be_bytes());
    error.extend_from_slice(&fields);
    let _ = client.write_all(&error).await;
}
