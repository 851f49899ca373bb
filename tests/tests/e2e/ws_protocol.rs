//! The `graphql-transport-ws` protocol at `/graphql/ws`: every close code and
//! message rule, through a real socket.

use std::time::Duration;

use chatshop_tests::TestApp;
use serde_json::json;

const PROTOCOL: Option<&str> = Some("graphql-transport-ws");

#[tokio::test]
async fn another_subprotocol_is_refused_at_the_handshake() {
    let app = TestApp::spawn().await;
    for protocol in [None, Some("graphql-ws"), Some("chat")] {
        let refused = app.ws_raw(protocol).await;
        assert!(refused.is_err(), "{protocol:?} must be refused");
    }
    assert!(app.ws_raw(PROTOCOL).await.is_ok());
}

#[tokio::test]
async fn a_plain_get_on_graphql_is_a_query_not_an_upgrade() {
    let app = TestApp::spawn().await;
    let response = app
        .http()
        .get(app.url("/graphql?query=%7B__typename%7D"))
        .header("upgrade", "websocket")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["data"]["__typename"],
        "Query"
    );
}

#[tokio::test]
async fn a_token_is_required_and_must_be_valid() {
    let app = TestApp::spawn().await;
    let mut without = app.ws_raw(PROTOCOL).await.unwrap();
    without.send(json!({ "type": "connection_init" })).await;
    assert_eq!(without.closed().await.0, 4401);

    let mut forged = app.ws_raw(PROTOCOL).await.unwrap();
    forged
        .send(json!({ "type": "connection_init", "payload": { "token": "forged.token.value" } }))
        .await;
    assert_eq!(forged.closed().await.0, 4403);

    let user = app.sign_up("ws@example.com").await;
    let mut header_style = app.ws_raw(PROTOCOL).await.unwrap();
    header_style
        .send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", user.token) } }))
        .await;
    assert_eq!(header_style.receive().await["type"], "connection_ack");
}

#[tokio::test]
async fn subscribing_before_the_ack_is_4401() {
    let app = TestApp::spawn().await;
    let mut socket = app.ws_raw(PROTOCOL).await.unwrap();
    socket.subscribe("1", "{ __typename }", json!({})).await;
    assert_eq!(socket.closed().await.0, 4401);
}

#[tokio::test]
async fn a_missing_connection_init_times_out_with_4408() {
    let app = TestApp::spawn_with(|config| config.limits.ws_init_timeout_secs = 1).await;
    let mut socket = app.ws_raw(PROTOCOL).await.unwrap();
    let (code, reason) = socket.closed().await;
    assert_eq!(code, 4408, "{reason}");
}

#[tokio::test]
async fn a_second_connection_init_is_4429() {
    let app = TestApp::spawn().await;
    let user = app.sign_up("ws@example.com").await;
    let mut socket = app.ws_as(&user).await;
    socket
        .send(json!({ "type": "connection_init", "payload": { "token": user.token } }))
        .await;
    assert_eq!(socket.closed().await.0, 4429);
}

#[tokio::test]
async fn malformed_messages_are_4400() {
    let app = TestApp::spawn().await;
    let user = app.sign_up("ws@example.com").await;
    for bad in [
        "not json",
        r#"{"no":"type"}"#,
        r#"{"type":"nonsense"}"#,
        r#"{"type":"subscribe","id":"","payload":{"query":"{ __typename }"}}"#,
        r#"{"type":"subscribe","id":"1","payload":{"query":5}}"#,
    ] {
        let mut socket = app.ws_as(&user).await;
        socket.send_text(bad).await;
        let (code, reason) = socket.closed().await;
        assert_eq!(code, 4400, "{bad}: {reason}");
        assert!(reason.len() <= 123);
    }
}

#[tokio::test]
async fn ping_is_answered_with_pong() {
    let app = TestApp::spawn().await;
    let user = app.sign_up("ws@example.com").await;
    let mut socket = app.ws_as(&user).await;
    socket.send(json!({ "type": "ping" })).await;
    assert_eq!(socket.receive().await["type"], "pong");
}

#[tokio::test]
async fn queries_run_over_the_socket_and_complete() {
    let app = TestApp::spawn().await;
    let user = app.sign_up("ws@example.com").await;
    let mut socket = app.ws_as(&user).await;
    socket.subscribe("q1", "{ me { email } }", json!({})).await;
    let payload = socket.next_payload("q1").await;
    assert_eq!(payload["data"]["me"]["email"], "ws@example.com");
    assert_eq!(
        socket.receive().await,
        json!({ "type": "complete", "id": "q1" })
    );
}

/// The socket reads in 1 KiB chunks; a message many times that size (a
/// long document, as generated clients send) still arrives whole.
#[tokio::test]
async fn a_message_larger_than_the_read_buffer_arrives_whole() {
    let app = TestApp::spawn().await;
    let user = app.sign_up("ws@example.com").await;
    let mut socket = app.ws_as(&user).await;
    let padding = "# a comment line that makes the document longer\n".repeat(200);
    let query = format!("{padding}{{ me {{ email }} }}");
    assert!(query.len() > 8 * 1024);
    socket.subscribe("big", &query, json!({})).await;
    let payload = socket.next_payload("big").await;
    assert_eq!(payload["data"]["me"]["email"], "ws@example.com");
    // And the socket still reads small messages after it.
    socket.send(json!({ "type": "ping" })).await;
    loop {
        let message = socket.receive().await;
        if message["type"] == "pong" {
            break;
        }
        assert_eq!(message, json!({ "type": "complete", "id": "big" }));
    }
}

#[tokio::test]
async fn an_invalid_operation_gets_an_error_message_with_codes() {
    let app = TestApp::spawn().await;
    let user = app.sign_up("ws@example.com").await;
    let mut socket = app.ws_as(&user).await;
    socket.subscribe("bad", "{ noSuchField }", json!({})).await;
    let message = socket.receive().await;
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(message["id"], "bad");
    assert_eq!(
        message["payload"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
    // The socket stays usable.
    socket.send(json!({ "type": "ping" })).await;
    assert_eq!(socket.receive().await["type"], "pong");
}

#[tokio::test]
async fn a_duplicate_subscription_id_is_4409_and_complete_frees_it() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("owner@example.com").await;
    let shop_id = app.create_shop(&owner, "acme").await;
    let inbox = "subscription($shopId: ID!) { inboxEvents(shopId: $shopId) { type } }";

    let mut socket = app.ws_as(&owner).await;
    socket
        .subscribe("inbox", inbox, json!({ "shopId": shop_id }))
        .await;
    socket
        .send(json!({ "type": "complete", "id": "inbox" }))
        .await;
    // The id is free again once completed by the client.
    socket
        .subscribe("inbox", inbox, json!({ "shopId": shop_id }))
        .await;
    socket.send(json!({ "type": "ping" })).await;
    assert_eq!(socket.receive().await["type"], "pong");
    socket
        .subscribe("inbox", inbox, json!({ "shopId": shop_id }))
        .await;
    assert_eq!(socket.closed().await.0, 4409);
}

#[tokio::test]
async fn the_number_of_subscriptions_per_socket_is_capped() {
    let app = TestApp::spawn_with(|config| config.limits.ws_max_subscriptions = 2).await;
    let owner = app.sign_up("owner@example.com").await;
    let shop_id = app.create_shop(&owner, "acme").await;
    let inbox = "subscription($shopId: ID!) { inboxEvents(shopId: $shopId) { type } }";
    let mut socket = app.ws_as(&owner).await;
    for id in ["a", "b", "c"] {
        socket
            .subscribe(id, inbox, json!({ "shopId": shop_id }))
            .await;
    }
    let refused = socket.receive().await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "c");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "RATE_LIMITED");
    socket.silent_for(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_graceful_shutdown_closes_sockets_with_1001_and_finishes() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("owner@example.com").await;
    let shop_id = app.create_shop(&owner, "acme").await;
    let mut socket = app.ws_as(&owner).await;
    socket
        .subscribe(
            "i",
            "subscription($shopId: ID!) { inboxEvents(shopId: $shopId) { type } }",
            json!({ "shopId": shop_id }),
        )
        .await;
    socket.send(json!({ "type": "ping" })).await;
    assert_eq!(socket.receive().await["type"], "pong");
    let closing = tokio::spawn(async move { socket.closed().await });
    app.shut_down().await;
    let (code, reason) = closing.await.unwrap();
    assert_eq!(code, 1001, "{reason}");
}

#[tokio::test]
async fn connections_per_user_are_capped_and_freed_on_close() {
    let app = TestApp::spawn_with(|config| config.limits.ws_max_connections_per_user = 2).await;
    let user = app.sign_up("tabs@example.com").await;
    let first = app.ws_as(&user).await;
    let _second = app.ws_as(&user).await;
    let mut third = app.ws_raw(PROTOCOL).await.unwrap();
    third
        .send(json!({ "type": "connection_init", "payload": { "token": user.token } }))
        .await;
    let (code, reason) = third.closed().await;
    assert_eq!(code, 1008, "{reason}");
    // Closing one frees its place.
    first.close().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = app.ws_raw(PROTOCOL).await.unwrap();
        again
            .send(json!({ "type": "connection_init", "payload": { "token": user.token } }))
            .await;
        if again
            .try_receive(Duration::from_secs(2))
            .await
            .is_some_and(|m| m["type"] == "connection_ack")
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the closed socket's place was not freed"
        );
    }
}

#[tokio::test]
async fn expired_and_unsigned_tokens_are_refused_on_the_socket() {
    use base64::Engine;
    let app = TestApp::spawn().await;
    let user = app.sign_up("ws@example.com").await;
    let claims: serde_json::Value = jsonwebtoken::dangerous::insecure_decode(&user.token)
        .unwrap()
        .claims;
    let encode = |value: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
    };
    let unsigned = format!(
        "{}.{}.",
        encode(&json!({ "alg": "none", "typ": "JWT" })),
        encode(&claims)
    );
    let mut expired_claims = claims.clone();
    expired_claims["exp"] = json!(1_000);
    // Re-signing needs the server's secret, which the test does not have: an
    // expired claim set under the original signature is a forgery as well.
    let tampered = {
        let parts: Vec<&str> = user.token.split('.').collect();
        format!("{}.{}.{}", parts[0], encode(&expired_claims), parts[2])
    };
    for token in [unsigned, tampered] {
        let mut socket = app.ws_raw(PROTOCOL).await.unwrap();
        socket
            .send(json!({ "type": "connection_init", "payload": { "token": token } }))
            .await;
        assert_eq!(socket.closed().await.0, 4403);
    }
}

#[tokio::test]
async fn the_server_sends_keep_alive_pings() {
    let app = TestApp::spawn_with(|config| config.limits.ws_keepalive_secs = 1).await;
    let user = app.sign_up("ws@example.com").await;
    let mut socket = app.ws_as(&user).await;
    let ping = socket.receive_raw(Duration::from_secs(5)).await;
    assert_eq!(ping, Some(json!({ "type": "ping" })));
    socket.send(json!({ "type": "pong" })).await;
    let next = socket.receive_raw(Duration::from_secs(5)).await;
    assert_eq!(next, Some(json!({ "type": "ping" })), "pings keep coming");
}
