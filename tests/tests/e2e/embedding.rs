//! Chatshop as a library: nested under a prefix in someone else's axum app.

use axum::Router;
use axum::routing::get;
use chatshop::{Chatshop, Config};
use chatshop_tests::TestDatabase;
use serde_json::{Value, json};

#[tokio::test]
async fn the_router_nests_under_a_prefix_beside_the_hosts_own_routes() {
    let database = TestDatabase::create().await;
    let config = Config {
        database_url: database.url.clone(),
        seed_demo: false,
        ..Config::default()
    };
    let chatshop = Chatshop::connect(config).await.unwrap();
    let app = Router::new()
        .route("/", get(|| async { "the host's own home page" }))
        .nest("/shop-api", chatshop.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let client = reqwest::Client::new();
    let home = client
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(home, "the host's own home page");
    let response: Value = client
        .post(format!("http://{addr}/shop-api/graphql"))
        .json(&json!({ "query": "{ __typename shops { edges { node { id } } } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(response["data"]["__typename"], "Query");
    let ready = client
        .get(format!("http://{addr}/shop-api/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn the_schema_executes_in_process_without_http() {
    let database = TestDatabase::create().await;
    let config = Config {
        database_url: database.url.clone(),
        seed_demo: true,
        ..Config::default()
    };
    let chatshop = Chatshop::connect(config).await.unwrap();
    assert!(chatshop.seed_demo_if_empty().await.unwrap());
    assert!(
        !chatshop.seed_demo_if_empty().await.unwrap(),
        "seeding twice adds nothing"
    );
    let response = chatshop
        .schema()
        .execute("{ shop(slug: \"demo-coffee\") { name products(first: 2) { edges { node { name price { amount currencyCode } } } } } }")
        .await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let data = response.data.into_json().unwrap();
    assert_eq!(data["shop"]["name"], "Demo Coffee Roasters");
    assert_eq!(
        data["shop"]["products"]["edges"][0]["node"]["price"],
        json!({ "amount": "24.90", "currencyCode": "USD" })
    );
}

#[tokio::test]
async fn in_process_execution_enforces_the_same_limits_and_codes() {
    let app = chatshop_tests::TestApp::spawn_with(|config| config.limits.max_aliases = 1).await;
    let schema = app.chatshop.schema();
    let refused =
        serde_json::to_value(schema.execute("{ a: __typename b: __typename }").await).unwrap();
    assert_eq!(refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("aliases"),
        "{refused}"
    );
    let anonymous = serde_json::to_value(
        schema
            .execute("{ conversations(first: 1) { edges { cursor } } }")
            .await,
    )
    .unwrap();
    assert_eq!(
        anonymous["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{anonymous}"
    );
}
