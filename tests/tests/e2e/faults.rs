//! Faults: the database goes away and comes back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatshop_tests::chaos::ChaosProxy;
use chatshop_tests::{TestApp, TestDatabase};
use serde_json::json;

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
