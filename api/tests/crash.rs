//! A server killed with SIGKILL in the middle of checkouts and messages
//! leaves no half-written order, no payment without its order, and no gap in
//! any conversation's `seq`. The real binary runs as a child process on a
//! SQLite file; it is killed under load, restarted on the same file, and the
//! invariants are checked in SQL.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(database_url: &str, port: u16) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_chatshop"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            database_url,
        ])
        .args([
            "--rate-limit-user-per-sec",
            "0",
            "--rate-limit-ip-per-sec",
            "0",
        ])
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the chatshop binary starts");
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !client
        .get(format!("{url}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "the server did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Server { child, url }
}

async fn gql(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Result<Value, String> {
    let mut request = client
        .post(format!("{url}/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let body: Value = request
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    match body.get("errors") {
        Some(errors) => Err(errors.to_string()),
        None => Ok(body["data"].clone()),
    }
}

async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_under_load_leaves_no_half_written_state() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("crash.sqlite").display()
    );
    let server = start(&database_url, 28701).await;
    let client = reqwest::Client::new();
    let sign_in = |email: &'static str| {
        let (client, url) = (client.clone(), server.url.clone());
        async move {
            let data = gql(
                &client,
                &url,
                None,
                "mutation($i: SignInInput!) { signIn(input: $i) { token } }",
                json!({ "i": { "email": email, "password": "demo-password" } }),
            )
            .await
            .unwrap();
            data["signIn"]["token"].as_str().unwrap().to_owned()
        }
    };
    let customer = sign_in("customer@demo.chatshop.dev").await;
    let agent = sign_in("agent@demo.chatshop.dev").await;
    let shop = gql(&client, &server.url, None, "{ shop(slug: \"demo-coffee\") { id products(first: 20) { edges { node { id stock } } } } }", json!({})).await.unwrap();
    let shop_id = shop["shop"]["id"].as_str().unwrap().to_owned();
    let limited = shop["shop"]["products"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["stock"].as_i64().is_some_and(|s| s >= 20))
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .unwrap();
    let started = gql(&client, &server.url, Some(&customer), "mutation($i: StartConversationInput!) { startConversation(input: $i) { conversation { id } } }", json!({ "i": { "shopId": shop_id } })).await.unwrap();
    let conversation = started["startConversation"]["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Load: messages from both sides and checkouts, all at once.
    let mut load = Vec::new();
    for worker in 0..6 {
        let (client, url, customer, agent, conversation, product) = (
            client.clone(),
            server.url.clone(),
            customer.clone(),
            agent.clone(),
            conversation.clone(),
            limited.clone(),
        );
        load.push(tokio::spawn(async move {
            for i in 0.. {
                let token = if worker % 2 == 0 { &customer } else { &agent };
                let sent = gql(&client, &url, Some(token), "mutation($i: SendMessageInput!) { sendMessage(input: $i) { message { seq } } }", json!({ "i": { "conversationId": conversation, "text": format!("w{worker} m{i}") } })).await;
                if sent.is_err() {
                    break;
                }
                if worker < 2 {
                    let placed = gql(&client, &url, Some(&customer), "mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { order { id } } }", json!({ "i": { "conversationId": conversation, "items": [{ "productId": product, "quantity": 1 }] } })).await;
                    let Ok(placed) = placed else { break };
                    let order = placed["placeOrder"]["order"]["id"].as_str().unwrap_or_default().to_owned();
                    let _ = gql(&client, &url, Some(&customer), "mutation($i: PayOrderInput!) { payOrder(input: $i) { order { status } } }", json!({ "i": { "orderId": order, "paymentMethodToken": "tok_success", "idempotencyKey": format!("{worker}-{i}") } })).await;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut server = server;
    server.child.kill().expect("SIGKILL the server");
    server.child.wait().unwrap();
    for task in load {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
    drop(server);

    // Restart on the same file (recovery runs), then check the books.
    let restarted = start(&database_url, 28702).await;
    let db = Database::connect(&database_url).await.unwrap();
    let messages = count(&db, "SELECT COUNT(*) FROM messages").await;
    assert!(messages > 10, "the load ran ({messages} messages)");
    // No gap and no duplicate in any conversation's seq, and the counter agrees.
    assert_eq!(count(&db, "SELECT COUNT(*) FROM conversations c WHERE c.last_seq <> (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id)").await, 0);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM conversations c WHERE c.last_seq <> COALESCE((SELECT MAX(seq) FROM messages m WHERE m.conversation_id = c.id), 0)").await, 0);
    // Every order has its items; stock never went below zero.
    assert_eq!(count(&db, "SELECT COUNT(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id)").await, 0);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM products WHERE stock < 0").await,
        0
    );
    // Every paid order has exactly one successful charge, and every
    // successful charge belongs to a paid (or later) order.
    assert_eq!(count(&db, "SELECT COUNT(*) FROM orders o WHERE o.status IN ('PAID','FULFILLED','REFUNDED') AND (SELECT COUNT(*) FROM payments p WHERE p.order_id = o.id AND p.kind = 'CHARGE' AND p.status = 'SUCCEEDED') <> 1").await, 0);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM payments p JOIN orders o ON o.id = p.order_id WHERE p.kind = 'CHARGE' AND p.status = 'SUCCEEDED' AND o.status IN ('PENDING_PAYMENT','CANCELLED')").await, 0);
    // Every paid order got its confirmation message.
    assert_eq!(count(&db, "SELECT COUNT(*) FROM orders o WHERE o.status = 'PAID' AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.order_id = o.id AND m.kind = 'ORDER_CONFIRMATION')").await, 0);
    // Stock adds up: what is left plus what live orders hold is what there was.
    let held = count(&db, "SELECT COALESCE(SUM(i.quantity), 0) FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.status <> 'CANCELLED'").await;
    let left = count(
        &db,
        "SELECT stock FROM products WHERE id IN (SELECT product_id FROM order_items) LIMIT 1",
    )
    .await;
    let initial = shop["shop"]["products"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["id"] == limited.as_str())
        .unwrap()["node"]["stock"]
        .as_i64()
        .unwrap();
    assert_eq!(
        left + held,
        initial,
        "stock {left} + held {held} = initial {initial}"
    );

    // And the restarted server carries on: the next message takes the next seq.
    let next = gql(
        &client,
        &restarted.url,
        Some(&customer),
        "mutation($i: SendMessageInput!) { sendMessage(input: $i) { message { seq } } }",
        json!({ "i": { "conversationId": conversation, "text": "after the crash" } }),
    )
    .await
    .unwrap();
    assert_eq!(next["sendMessage"]["message"]["seq"], messages + 1);
}
