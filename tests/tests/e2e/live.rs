//! Conversations and live messaging, through HTTP and real WebSockets.

use std::sync::Arc;

use chatshop_tests::{ShopStaff, TestApp, TestDatabase, TestUser, all_at_once};
use serde_json::{Value, json};

const START: &str = "mutation($input: StartConversationInput!) { startConversation(input: $input) { conversation { id hosted endToEndEncrypted disclosure status lastSeq } } }";
const SEND: &str = "mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { id seq text kind category status clientMessageId author { kind name } product { name stock } } } }";
const MARK_DELIVERED: &str = "mutation($input: ReceiptInput!) { markDelivered(input: $input) { messages { seq status deliveredAt } } }";
const MARK_READ: &str = "mutation($input: ReceiptInput!) { markRead(input: $input) { messages { seq status deliveredAt readAt } } }";
const MESSAGE_EVENTS: &str = "subscription($id: ID!, $after: Int) { messageEvents(conversationId: $id, afterSeq: $after) { type message { seq text status } } }";
const INBOX_EVENTS: &str = "subscription($shopId: ID!) { inboxEvents(shopId: $shopId) { type conversation { id } message { seq text kind product { name } } } }";

struct Scene {
    app: TestApp,
    owner: TestUser,
    agent: TestUser,
    customer: TestUser,
    shop_id: String,
    product_id: String,
}

async fn scene_on(app: TestApp) -> Scene {
    let ShopStaff {
        shop_id,
        owner,
        agent,
    } = app.shop_with_agent().await;
    let customer = app.sign_up("customer@example.com").await;
    let product_id = app
        .create_product(&owner, &shop_id, "Hand grinder", "59.00", Some(3))
        .await;
    Scene {
        app,
        owner,
        agent,
        customer,
        shop_id,
        product_id,
    }
}

async fn scene() -> Scene {
    scene_on(TestApp::spawn().await).await
}

impl Scene {
    async fn start(&self) -> String {
        self.app
            .start_conversation(&self.customer, &self.shop_id)
            .await
    }

    async fn send(&self, user: &TestUser, conversation_id: &str, text: &str) -> Value {
        let response = self
            .app
            .gql(SEND)
            .vars(json!({ "input": { "conversationId": conversation_id, "text": text } }))
            .as_user(user)
            .send()
            .await;
        response.ok()["sendMessage"]["message"].clone()
    }
}

#[tokio::test]
async fn starting_a_conversation_twice_finds_the_same_one_with_the_disclosure() {
    let scene = scene().await;
    let response = scene
        .app
        .gql(START)
        .vars(json!({ "input": { "shopId": scene.shop_id } }))
        .as_user(&scene.customer)
        .send()
        .await;
    let conversation = response.ok()["startConversation"]["conversation"].clone();
    assert_eq!(conversation["hosted"], true);
    assert_eq!(conversation["endToEndEncrypted"], false);
    let disclosure = conversation["disclosure"].as_str().unwrap();
    assert!(
        disclosure.contains("not end-to-end encrypted"),
        "{disclosure}"
    );
    assert_eq!(conversation["status"], "OPEN");
    assert_eq!(scene.start().await, conversation["id"].as_str().unwrap());

    let other_channel = scene
        .app
        .gql(START)
        .vars(json!({ "input": { "shopId": scene.shop_id, "channel": "WHATSAPP" } }))
        .as_user(&scene.customer)
        .send()
        .await;
    assert_eq!(
        other_channel.code(),
        "BAD_USER_INPUT",
        "the shop sells on WEB only"
    );
}

#[tokio::test]
async fn a_customer_asks_about_a_product_and_the_agent_sees_it_live_in_the_inbox() {
    let scene = scene().await;
    let mut inbox = scene.app.ws_as(&scene.agent).await;
    inbox
        .subscribe("inbox", INBOX_EVENTS, json!({ "shopId": scene.shop_id }))
        .await;
    // Make sure the subscription is in place before acting.
    inbox.send(json!({ "type": "ping" })).await;
    assert_eq!(inbox.receive().await["type"], "pong");

    let conversation_id = scene.start().await;
    let started = inbox.next_payload("inbox").await;
    assert_eq!(
        started["data"]["inboxEvents"]["type"],
        "CONVERSATION_CHANGED"
    );

    let asked = scene
        .app
        .gql(SEND)
        .vars(json!({ "input": { "conversationId": conversation_id, "text": "Is this in stock?", "productId": scene.product_id, "clientMessageId": "c-1" } }))
        .as_user(&scene.customer)
        .send()
        .await;
    let message = &asked.ok()["sendMessage"]["message"];
    assert_eq!(message["seq"], 1);
    assert_eq!(message["kind"], "PRODUCT_REFERENCE");
    assert_eq!(
        message["category"],
        Value::Null,
        "customer messages are not billed"
    );
    assert_eq!(message["product"]["name"], "Hand grinder");

    let event = inbox.next_payload("inbox").await;
    let event = &event["data"]["inboxEvents"];
    assert_eq!(event["type"], "MESSAGE_APPENDED");
    assert_eq!(event["conversation"]["id"], conversation_id.as_str());
    assert_eq!(event["message"]["text"], "Is this in stock?");
    assert_eq!(event["message"]["product"]["name"], "Hand grinder");

    let reply = scene
        .send(&scene.agent, &conversation_id, "Yes, 3 left!")
        .await;
    assert_eq!(reply["seq"], 2);
    assert_eq!(reply["category"], "SERVICE");
    assert_eq!(
        reply["author"],
        json!({ "kind": "AGENT", "name": "Test User" })
    );
}

#[tokio::test]
async fn receipts_reach_the_sender_live_and_never_go_backwards() {
    let scene = scene().await;
    let conversation_id = scene.start().await;
    let mut customer_socket = scene.app.ws_as(&scene.customer).await;
    customer_socket
        .subscribe("m", MESSAGE_EVENTS, json!({ "id": conversation_id }))
        .await;
    scene.send(&scene.customer, &conversation_id, "Hello").await;
    let appended = customer_socket.next_payload("m").await;
    assert_eq!(
        appended["data"]["messageEvents"],
        json!({ "type": "APPENDED", "message": { "seq": 1, "text": "Hello", "status": "SENT" } })
    );

    // The customer cannot mark their own message; the shop side can.
    let own = scene
        .app
        .gql(MARK_DELIVERED)
        .vars(json!({ "input": { "conversationId": conversation_id, "throughSeq": 1 } }))
        .as_user(&scene.customer)
        .send()
        .await;
    assert_eq!(own.ok()["markDelivered"]["messages"], json!([]));

    let read = scene
        .app
        .gql(MARK_READ)
        .vars(json!({ "input": { "conversationId": conversation_id, "throughSeq": 1 } }))
        .as_user(&scene.agent)
        .send()
        .await;
    let marked = &read.ok()["markRead"]["messages"][0];
    assert_eq!(marked["status"], "READ");
    assert!(marked["deliveredAt"].is_string(), "read implies delivered");

    let live = customer_socket.next_payload("m").await;
    assert_eq!(
        live["data"]["messageEvents"],
        json!({ "type": "STATUS_CHANGED", "message": { "seq": 1, "text": "Hello", "status": "READ" } })
    );

    // Delivered after read changes nothing: statuses never move backwards.
    let again = scene
        .app
        .gql(MARK_DELIVERED)
        .vars(json!({ "input": { "conversationId": conversation_id, "throughSeq": 1 } }))
        .as_user(&scene.agent)
        .send()
        .await;
    assert_eq!(again.ok()["markDelivered"]["messages"], json!([]));
}

#[tokio::test]
async fn a_subscriber_that_reconnects_with_its_last_seq_gets_exactly_what_it_missed() {
    let scene = scene().await;
    let conversation_id = scene.start().await;
    scene.send(&scene.customer, &conversation_id, "one").await;

    let mut socket = scene.app.ws_as(&scene.customer).await;
    socket
        .subscribe(
            "m",
            MESSAGE_EVENTS,
            json!({ "id": conversation_id, "after": 0 }),
        )
        .await;
    let first = socket.next_payload("m").await;
    assert_eq!(first["data"]["messageEvents"]["message"]["seq"], 1);
    socket.close().await;

    for text in ["two", "three", "four"] {
        scene.send(&scene.agent, &conversation_id, text).await;
    }

    let mut resumed = scene.app.ws_as(&scene.customer).await;
    resumed
        .subscribe(
            "m",
            MESSAGE_EVENTS,
            json!({ "id": conversation_id, "after": 1 }),
        )
        .await;
    let mut texts = Vec::new();
    for _ in 0..3 {
        let event = resumed.next_payload("m").await;
        texts.push(
            event["data"]["messageEvents"]["message"]["text"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(texts, ["two", "three", "four"]);
    // Then live, with nothing repeated at the seam.
    scene.send(&scene.customer, &conversation_id, "five").await;
    let live = resumed.next_payload("m").await;
    assert_eq!(live["data"]["messageEvents"]["message"]["seq"], 5);
    resumed
        .silent_for(std::time::Duration::from_millis(300))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_senders_get_gapless_unique_seqs() {
    let scene = Arc::new(scene().await);
    let conversation_id = scene.start().await;
    let mut seqs = all_at_once(0..10, |i| {
        let (scene, conversation_id) = (scene.clone(), conversation_id.clone());
        async move {
            let sender = if i % 2 == 0 {
                &scene.customer
            } else {
                &scene.agent
            };
            scene
                .send(sender, &conversation_id, &format!("message {i}"))
                .await["seq"]
                .as_i64()
                .unwrap()
        }
    })
    .await;
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=10).collect::<Vec<i64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_sent_together_keep_what_each_has_and_has_not() {
    // Sends arriving together are written as one group (on PostgreSQL as a
    // column of values each, where a missing one stands in for NULL): each
    // message must come back with exactly its own product, category,
    // client id and author, and nothing where it had none.
    let scene = Arc::new(scene().await);
    let conversation_id = scene.start().await;
    let sent = all_at_once(0..12, |i| {
        let (scene, conversation_id) = (scene.clone(), conversation_id.clone());
        async move {
            let mut input =
                json!({ "conversationId": conversation_id, "text": format!("message {i}") });
            if i % 3 == 1 {
                input["productId"] = json!(scene.product_id);
            }
            if i % 2 == 1 {
                input["clientMessageId"] = json!(format!("client-{i}"));
            }
            if i % 4 == 3 {
                input["category"] = json!("MARKETING");
            }
            let sender = if i % 4 < 2 {
                &scene.customer
            } else {
                &scene.agent
            };
            let response = scene
                .app
                .gql(SEND)
                .vars(json!({ "input": input }))
                .as_user(sender)
                .send()
                .await;
            (i, response.ok()["sendMessage"]["message"].clone())
        }
    })
    .await;
    for (i, message) in sent {
        let by_customer = i % 4 < 2;
        assert_eq!(message["text"], format!("message {i}"), "{message}");
        assert_eq!(
            message["author"]["kind"],
            if by_customer { "CUSTOMER" } else { "AGENT" },
            "{message}"
        );
        let (kind, product) = if i % 3 == 1 {
            ("PRODUCT_REFERENCE", json!("Hand grinder"))
        } else {
            ("TEXT", Value::Null)
        };
        assert_eq!(message["kind"], kind, "{message}");
        assert_eq!(message["product"]["name"], product, "{message}");
        let client_id = if i % 2 == 1 {
            json!(format!("client-{i}"))
        } else {
            Value::Null
        };
        assert_eq!(message["clientMessageId"], client_id, "{message}");
        let category = match (by_customer, i % 4 == 3) {
            (true, _) => Value::Null,
            (false, true) => json!("MARKETING"),
            (false, false) => json!("SERVICE"),
        };
        assert_eq!(message["category"], category, "{message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sends_to_several_conversations_at_once_each_get_their_own_gapless_seqs() {
    // Sends arriving together share one write whatever their conversation:
    // each conversation's `seq`s must still start after its own last one.
    const CUSTOMERS: usize = 3;
    const SENDS: usize = 8;
    let scene = Arc::new(scene().await);
    let mut conversations = Vec::new();
    for n in 0..CUSTOMERS {
        let customer = scene.app.sign_up(&format!("buyer{n}@example.com")).await;
        let conversation_id = scene
            .app
            .start_conversation(&customer, &scene.shop_id)
            .await;
        // Conversations start at different points: 0, 1 and 2 messages in.
        for i in 0..n {
            scene
                .send(&customer, &conversation_id, &format!("before {i}"))
                .await;
        }
        conversations.push((customer, conversation_id));
    }
    let conversations = Arc::new(conversations);
    let sent = all_at_once(0..CUSTOMERS * SENDS, |i| {
        let (scene, conversations) = (scene.clone(), conversations.clone());
        async move {
            let (customer, conversation_id) = &conversations[i % CUSTOMERS];
            let sender = if i % 2 == 0 { customer } else { &scene.agent };
            scene
                .send(sender, conversation_id, &format!("at once {i}"))
                .await
        }
    })
    .await;
    for (i, message) in sent.iter().enumerate() {
        assert!(message["seq"].as_i64().is_some());
        assert_eq!(
            message["text"],
            format!("at once {i}"),
            "each sender gets its own message back"
        );
    }
    for (n, (customer, conversation_id)) in conversations.iter().enumerate() {
        let (conversation, messages) = scene.app.history(customer, conversation_id).await;
        let messages: Vec<(i64, String)> = messages
            .iter()
            .map(|node| {
                (
                    node["seq"].as_i64().unwrap(),
                    node["text"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let total = i64::try_from(n + SENDS).unwrap();
        let seqs: Vec<i64> = messages.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(seqs, (1..=total).collect::<Vec<_>>(), "gapless");
        assert_eq!(conversation["lastSeq"], total);
        assert_eq!(conversation["lastMessage"]["seq"], total);
        let mut sent: Vec<&str> = messages[n..]
            .iter()
            .map(|(_, body)| body.as_str())
            .collect();
        sent.sort_unstable();
        let mut expected: Vec<String> = (0..CUSTOMERS * SENDS)
            .filter(|i| i % CUSTOMERS == n)
            .map(|i| format!("at once {i}"))
            .collect();
        expected.sort_unstable();
        assert_eq!(
            sent, expected,
            "each send exactly once, in its own conversation"
        );
    }
}

/// How many stored messages name a conversation that does not exist.
async fn orphan_messages(app: &TestApp) -> i64 {
    use sea_orm::ConnectionTrait;
    let db = app.chatshop.database();
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT count(*) AS orphans FROM messages \
            WHERE conversation_id NOT IN (SELECT id FROM conversations)",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "orphans").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_conversation_deleted_behind_chatshops_back_takes_its_messages_and_refuses_more() {
    // On PostgreSQL no foreign key ties a message to its conversation: the
    // statement that appends it checks and locks the conversation, and a
    // trigger deletes a deleted conversation's messages. Chatshop never
    // deletes a conversation and remembers a customer's place in one, so
    // the customer's sends to it reach the writer, together with sends to
    // another conversation.
    use sea_orm::ConnectionTrait;
    let scene = Arc::new(scene().await);
    let doomed = scene.start().await;
    let other_customer = scene.app.sign_up("other@example.com").await;
    let kept = scene
        .app
        .start_conversation(&other_customer, &scene.shop_id)
        .await;
    scene.send(&scene.customer, &doomed, "before").await;
    scene.send(&other_customer, &kept, "before").await;
    scene
        .app
        .chatshop
        .database()
        .execute_unprepared(&format!(
            "DELETE FROM conversations WHERE customer_id = \
            (SELECT id FROM users WHERE email = '{}')",
            scene.customer.email
        ))
        .await
        .unwrap();
    assert_eq!(orphan_messages(&scene.app).await, 0);

    let other_customer = Arc::new(other_customer);
    let (doomed, kept) = (Arc::new(doomed), Arc::new(kept));
    let sent = all_at_once(0..12, |i| {
        let (scene, other_customer) = (scene.clone(), other_customer.clone());
        let (doomed, kept) = (doomed.clone(), kept.clone());
        async move {
            let (sender, conversation_id) = if i % 3 == 0 {
                (&scene.customer, doomed.as_str())
            } else {
                (other_customer.as_ref(), kept.as_str())
            };
            let response = scene
                .app
                .gql(SEND)
                .vars(json!({ "input": { "conversationId": conversation_id, "text": format!("at once {i}") } }))
                .as_user(sender)
                .send()
                .await;
            (i, response)
        }
    })
    .await;
    let mut seqs = Vec::new();
    for (i, response) in sent {
        if i % 3 == 0 {
            assert_eq!(response.code(), "NOT_FOUND", "send {i}");
        } else {
            let message = &response.ok()["sendMessage"]["message"];
            assert_eq!(message["text"], format!("at once {i}"));
            seqs.push(message["seq"].as_i64().unwrap());
        }
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (2..=9).collect::<Vec<_>>(), "gapless after the first");
    assert_eq!(orphan_messages(&scene.app).await, 0);
    let (_, messages) = scene.app.history(&other_customer, &kept).await;
    assert_eq!(messages.len(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reused_client_id_among_concurrent_sends_fails_only_itself() {
    // Sends arriving together are committed as one group; one send in the
    // group that must fail (its client id is taken) fails alone.
    let scene = Arc::new(scene().await);
    let conversation_id = scene.start().await;
    let responses = all_at_once(0..12, |i| {
        let (scene, conversation_id) = (scene.clone(), conversation_id.clone());
        async move {
            // Four different messages claim the same client id; eight are plain.
            let client_id = (i < 4).then_some("taken");
            scene
                .app
                .gql(SEND)
                .vars(json!({ "input": { "conversationId": conversation_id, "text": format!("message {i}"), "clientMessageId": client_id } }))
                .as_user(&scene.customer)
                .send()
                .await
        }
    })
    .await;
    let mut seqs = Vec::new();
    let mut conflicts = 0;
    for response in responses {
        if response.errors().is_empty() {
            seqs.push(
                response.ok()["sendMessage"]["message"]["seq"]
                    .as_i64()
                    .unwrap(),
            );
        } else {
            assert_eq!(response.code(), "CONFLICT");
            conflicts += 1;
        }
    }
    assert_eq!(conflicts, 3, "one claim of the client id wins");
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=9).collect::<Vec<i64>>(), "gapless, unique");
}

#[tokio::test]
async fn sending_with_a_client_id_is_idempotent() {
    let scene = scene().await;
    let conversation_id = scene.start().await;
    let send = |text: &'static str| {
        scene
            .app
            .gql(SEND)
            .vars(json!({ "input": { "conversationId": conversation_id, "text": text, "clientMessageId": "retry-me" } }))
            .as_user(&scene.customer)
            .send()
    };
    let first = send("Hello").await;
    let retry = send("Hello").await;
    assert_eq!(
        first.ok()["sendMessage"]["message"]["id"],
        retry.ok()["sendMessage"]["message"]["id"]
    );
    assert_eq!(retry.ok()["sendMessage"]["message"]["seq"], 1);
    assert_eq!(send("Something else").await.code(), "CONFLICT");
}

#[tokio::test]
async fn bad_messages_are_refused_and_write_nothing() {
    let scene = scene().await;
    let conversation_id = scene.start().await;
    let long = "x".repeat(5000);
    for (input, field) in [
        (json!({ "text": "" }), "input.text"),
        (json!({ "text": "bell \u{7}" }), "input.text"),
        (json!({ "text": long }), "input.text"),
        (
            json!({ "text": "hi", "category": "MARKETING" }),
            "input.category",
        ),
        (
            json!({ "text": "hi", "clientMessageId": "with space" }),
            "input.clientMessageId",
        ),
    ] {
        let mut input = input;
        input["conversationId"] = json!(conversation_id);
        let response = scene
            .app
            .gql(SEND)
            .vars(json!({ "input": input }))
            .as_user(&scene.customer)
            .send()
            .await;
        assert_eq!(response.code(), "BAD_USER_INPUT", "{}", response.body);
        assert_eq!(response.field().as_deref(), Some(field));
    }
    let conversation = scene
        .app
        .gql("query($id: ID!) { conversation(id: $id) { lastSeq } }")
        .vars(json!({ "id": conversation_id }))
        .as_user(&scene.customer)
        .send()
        .await;
    assert_eq!(conversation.ok()["conversation"]["lastSeq"], 0);
}

#[tokio::test]
async fn nobody_else_reads_or_subscribes_to_a_conversation_or_an_inbox() {
    let scene = scene().await;
    let conversation_id = scene.start().await;
    scene
        .send(&scene.customer, &conversation_id, "private")
        .await;
    let stranger = scene.app.sign_up("stranger@example.com").await;

    let read = scene
        .app
        .gql("query($id: ID!) { conversation(id: $id) { id } node(id: $id) { id } }")
        .vars(json!({ "id": conversation_id }))
        .as_user(&stranger)
        .send()
        .await;
    assert_eq!(read.ok()["conversation"], Value::Null);
    assert_eq!(read.ok()["node"], Value::Null);
    let write = scene
        .app
        .gql(SEND)
        .vars(json!({ "input": { "conversationId": conversation_id, "text": "hi" } }))
        .as_user(&stranger)
        .send()
        .await;
    assert_eq!(write.code(), "NOT_FOUND");

    let mut socket = scene.app.ws_as(&stranger).await;
    socket
        .subscribe("m", MESSAGE_EVENTS, json!({ "id": conversation_id }))
        .await;
    let refused = socket.receive().await;
    assert_eq!(refused["type"], "next", "{refused}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"],
        "NOT_FOUND"
    );

    // An agent of another shop cannot watch this shop's inbox.
    let rival = scene.app.sign_up("rival@example.com").await;
    scene.app.create_shop(&rival, "rival").await;
    let mut rival_socket = scene.app.ws_as(&rival).await;
    rival_socket
        .subscribe("i", INBOX_EVENTS, json!({ "shopId": scene.shop_id }))
        .await;
    let refused = rival_socket.receive().await;
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{refused}"
    );

    let own = scene
        .app
        .gql("{ conversations { edges { node { id unreadCount } } } }")
        .as_user(&stranger)
        .send()
        .await;
    assert_eq!(own.ok()["conversations"]["edges"], json!([]));
    let inbox = scene
        .app
        .gql("query($shopId: ID!) { conversations(shopId: $shopId) { edges { node { id unreadCount } } } }")
        .vars(json!({ "shopId": scene.shop_id }))
        .as_user(&scene.owner)
        .send()
        .await;
    assert_eq!(
        inbox.ok()["conversations"]["edges"][0]["node"]["unreadCount"],
        1
    );
}

#[tokio::test]
async fn a_message_sent_through_one_instance_reaches_a_subscriber_on_another() {
    // Several instances share a database only on PostgreSQL; this test
    // always uses it (and fails when it is unreachable).
    let database = Arc::new(TestDatabase::create_postgres().await);
    let first = TestApp::spawn_on(database.clone(), |_| {}).await;
    let second = TestApp::spawn_on(database, |_| {}).await;
    let scene = scene_on(first).await;
    let conversation_id = scene.start().await;

    let mut on_second = second.ws_as(&scene.agent).await;
    on_second
        .subscribe("m", MESSAGE_EVENTS, json!({ "id": conversation_id }))
        .await;
    on_second
        .subscribe("i", INBOX_EVENTS, json!({ "shopId": scene.shop_id }))
        .await;
    on_second.send(json!({ "type": "ping" })).await;
    assert_eq!(on_second.receive().await["type"], "pong");

    scene
        .send(&scene.customer, &conversation_id, "through instance one")
        .await;
    let mut texts = Vec::new();
    while texts.len() < 2 {
        let event = on_second.receive().await;
        assert_eq!(event["type"], "next", "{event}");
        let data = &event["payload"]["data"];
        // The conversation's start, announced by instance one just before,
        // may reach instance two after the subscription began: the inbox
        // then tells of it too, without a message.
        if data["inboxEvents"]["type"] == "CONVERSATION_CHANGED" {
            continue;
        }
        let text = data["messageEvents"]["message"]["text"]
            .as_str()
            .or(data["inboxEvents"]["message"]["text"].as_str());
        texts.push(text.unwrap_or_else(|| panic!("{event}")).to_owned());
    }
    assert_eq!(texts, ["through instance one", "through instance one"]);
}

#[tokio::test]
async fn unread_filters_follow_what_each_side_has_read() {
    let scene = scene().await;
    let conversation_id = scene.start().await;
    let inbox = "query($shopId: ID!) { conversations(shopId: $shopId, unreadOnly: true) { edges { node { id unreadCount lastMessage { text } } } } }";
    let mine = "{ conversations(unreadOnly: true) { edges { node { id unreadCount } } } }";
    let count = |response: &chatshop_tests::GqlResponse| {
        response.ok()["conversations"]["edges"]
            .as_array()
            .unwrap()
            .len()
    };

    scene
        .send(&scene.customer, &conversation_id, "anyone there?")
        .await;
    let unread = scene
        .app
        .gql(inbox)
        .vars(json!({ "shopId": scene.shop_id }))
        .as_user(&scene.agent)
        .send()
        .await;
    assert_eq!(count(&unread), 1);
    assert_eq!(
        unread.ok()["conversations"]["edges"][0]["node"]["lastMessage"]["text"],
        "anyone there?"
    );
    assert_eq!(
        count(&scene.app.gql(mine).as_user(&scene.customer).send().await),
        0,
        "the customer wrote it"
    );

    scene
        .app
        .gql(MARK_READ)
        .vars(json!({ "input": { "conversationId": conversation_id, "throughSeq": 1 } }))
        .as_user(&scene.agent)
        .send()
        .await
        .ok();
    assert_eq!(
        count(
            &scene
                .app
                .gql(inbox)
                .vars(json!({ "shopId": scene.shop_id }))
                .as_user(&scene.agent)
                .send()
                .await
        ),
        0
    );

    scene.send(&scene.agent, &conversation_id, "yes!").await;
    let customer_view = scene.app.gql(mine).as_user(&scene.customer).send().await;
    assert_eq!(count(&customer_view), 1);
    assert_eq!(
        customer_view.ok()["conversations"]["edges"][0]["node"]["unreadCount"],
        1
    );
}

/// An event bus that announces every even `seq` late, as concurrent senders
/// on several connections (or instances) may.
struct LateEvenAnnouncements {
    inner: chatshop::events::LocalEventBus,
    delay: std::time::Duration,
}

#[async_trait::async_trait]
impl chatshop::EventBus for LateEvenAnnouncements {
    async fn publish(&self, event: chatshop::Event) {
        if let chatshop::Event::MessageAppended { seq, .. } = &event
            && seq % 2 == 0
        {
            let (inner, delay) = (self.inner.clone(), self.delay);
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                inner.publish(event).await;
            });
            return;
        }
        self.inner.publish(event).await;
    }

    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<chatshop::Event> {
        self.inner.subscribe()
    }
}

async fn messages_announced_out_of_order_arrive_in_order(delay: std::time::Duration) {
    let bus = LateEvenAnnouncements {
        inner: chatshop::events::LocalEventBus::new(),
        delay,
    };
    let scene =
        scene_on(TestApp::spawn_with_builder(|_| {}, |builder| builder.event_bus(bus)).await).await;
    let conversation_id = scene.start().await;
    let mut socket = scene.app.ws_as(&scene.customer).await;
    socket
        .subscribe("m", MESSAGE_EVENTS, json!({ "id": conversation_id }))
        .await;
    // Subscribed (and caught up on nothing) before the first send.
    socket
        .silent_for(std::time::Duration::from_millis(100))
        .await;
    for i in 1..=6 {
        scene
            .send(&scene.agent, &conversation_id, &format!("m{i}"))
            .await;
    }
    let mut seqs = Vec::new();
    for _ in 1..=6 {
        let event = socket.next_payload("m").await;
        assert_eq!(
            event["data"]["messageEvents"]["type"], "APPENDED",
            "{event}"
        );
        seqs.push(
            event["data"]["messageEvents"]["message"]["seq"]
                .as_i64()
                .unwrap(),
        );
    }
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    // The late announcements change nothing once they land.
    socket.silent_for(delay * 3).await;
}

#[tokio::test]
async fn messages_announced_out_of_order_are_delivered_in_order_once() {
    // Shorter than the subscriber's wait for a gap: held back, then released.
    messages_announced_out_of_order_arrive_in_order(std::time::Duration::from_millis(10)).await;
}

#[tokio::test]
async fn a_gap_that_does_not_fill_in_time_is_read_from_the_database() {
    // Longer than the subscriber's wait: it reads the gap, then ignores the
    // late announcement.
    messages_announced_out_of_order_arrive_in_order(std::time::Duration::from_millis(400)).await;
}

#[tokio::test]
async fn the_conversation_follows_its_newest_message() {
    let scene = scene().await;
    let conversation_id = scene.start().await;
    let conversation = || async {
        scene
            .app
            .gql("query($id: ID!) { conversation(id: $id) { lastSeq lastMessageAt lastMessage { seq text sentAt } } }")
            .vars(json!({ "id": conversation_id }))
            .as_user(&scene.customer)
            .send()
            .await
            .ok()["conversation"]
            .clone()
    };
    let before = conversation().await;
    assert_eq!(before["lastSeq"], 0);
    assert_eq!(before["lastMessageAt"], Value::Null);

    scene.send(&scene.customer, &conversation_id, "first").await;
    scene.send(&scene.agent, &conversation_id, "second").await;
    let after = conversation().await;
    assert_eq!(after["lastSeq"], 2);
    assert_eq!(after["lastMessage"]["seq"], 2);
    assert_eq!(after["lastMessage"]["text"], "second");
    assert_eq!(after["lastMessageAt"], after["lastMessage"]["sentAt"]);
}

/// The event buses of two instances sharing one PostgreSQL database (which
/// lives as long as the first element).
async fn two_event_buses() -> (
    TestDatabase,
    chatshop::events::PostgresEventBus,
    chatshop::events::PostgresEventBus,
) {
    use chatshop::events::PostgresEventBus;
    let database = TestDatabase::create_postgres().await;
    let connect = || async {
        sea_orm::Database::connect(&database.url)
            .await
            .expect("PostgreSQL")
    };
    let first = PostgresEventBus::start(connect().await).await.unwrap();
    let second = PostgresEventBus::start(connect().await).await.unwrap();
    (database, first, second)
}

#[tokio::test]
async fn an_event_reaches_its_own_instance_at_once_and_the_others_through_the_database_each_once() {
    use chatshop::events::{Event, EventBus};
    use std::time::Duration;
    let (_database, first, second) = two_event_buses().await;
    let (mut on_first, mut on_second) = (first.subscribe(), second.subscribe());
    let event = Event::ConversationChanged {
        shop_id: uuid::Uuid::new_v4(),
        conversation_id: uuid::Uuid::new_v4(),
    };
    first.publish(event.clone()).await;
    // Delivered before the notification could have made its round trip.
    assert_eq!(on_first.try_recv().ok(), Some(event.clone()));
    let wait = Duration::from_secs(10);
    let heard = tokio::time::timeout(wait, on_second.recv()).await;
    assert_eq!(heard.ok().and_then(Result::ok), Some(event));
    // Neither hears it a second time (the first skips its own notification).
    let quiet = Duration::from_millis(300);
    assert!(tokio::time::timeout(quiet, on_first.recv()).await.is_err());
    assert!(tokio::time::timeout(quiet, on_second.recv()).await.is_err());
}

#[tokio::test]
async fn events_published_together_reach_another_instance_in_order_each_once() {
    use chatshop::events::{Event, EventBus};
    use std::time::Duration;
    let (_database, first, second) = two_event_buses().await;
    let mut on_second = second.subscribe();
    let (shop_id, conversation_id) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    // More than one notification holds, and a status change too large for
    // any notification.
    let mut events: Vec<Event> = (1..=300)
        .map(|seq| Event::MessageAppended {
            shop_id,
            conversation_id,
            seq,
            message: None,
        })
        .collect();
    let read: Vec<i64> = (1..=3_000).collect();
    events.push(Event::MessageStatusChanged {
        shop_id,
        conversation_id,
        seqs: read.clone(),
    });
    first.publish_all(events.clone()).await;

    let (mut appended, mut changed) = (Vec::new(), Vec::new());
    while changed.len() < read.len() {
        let heard = tokio::time::timeout(Duration::from_secs(10), on_second.recv())
            .await
            .expect("every event arrives")
            .expect("no event is lost");
        match heard {
            Event::MessageAppended { .. } => appended.push(heard),
            Event::MessageStatusChanged { seqs, .. } => changed.extend(seqs),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(appended, events[..300]);
    assert_eq!(changed, read);
    let quiet = Duration::from_millis(300);
    assert!(tokio::time::timeout(quiet, on_second.recv()).await.is_err());
}

#[tokio::test]
async fn a_membership_removed_behind_chatshops_back_stops_sends_within_a_second() {
    use sea_orm::ConnectionTrait;
    let scene = scene().await;
    let conversation_id = scene.start().await;
    let sent = scene.send(&scene.agent, &conversation_id, "first").await;
    assert_eq!(sent["text"], "first");
    scene
        .app
        .chatshop
        .database()
        .execute_unprepared(&format!(
            "DELETE FROM shop_members WHERE user_id = (SELECT id FROM users WHERE email = '{}')",
            scene.agent.email
        ))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let refused = scene
        .app
        .gql(SEND)
        .vars(json!({ "input": { "conversationId": conversation_id, "text": "second" } }))
        .as_user(&scene.agent)
        .send()
        .await;
    assert_eq!(refused.code(), "NOT_FOUND");
}

/// History pages are cut where the reader left off in `seq` order, even
/// when two messages sent at once drew their ids the other way round.
#[tokio::test]
async fn history_pages_follow_seq_even_when_ids_do_not() {
    use chatshop_entity::message;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

    let scene = scene().await;
    let conversation_id = scene.start().await;
    for text in ["one", "two", "three"] {
        scene.send(&scene.customer, &conversation_id, text).await;
    }
    // The second message gets an id newer than the third's, as a send that
    // drew its id first but reached the writer last would.
    message::Entity::update_many()
        .col_expr(message::Column::Id, Expr::value(uuid::Uuid::now_v7()))
        .filter(message::Column::Seq.eq(2))
        .exec(scene.app.chatshop.database())
        .await
        .unwrap();
    let page = "query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) { conversation(id: $id) { messages(first: $first, after: $after, last: $last, before: $before) { edges { cursor node { seq } } } } }";
    let walk = |forward: bool| {
        let (scene, conversation_id) = (&scene, conversation_id.clone());
        async move {
            let mut seqs = Vec::new();
            let mut cursor: Option<String> = None;
            for _ in 0..3 {
                let vars = if forward {
                    json!({ "id": conversation_id, "first": 1, "after": cursor })
                } else {
                    json!({ "id": conversation_id, "last": 1, "before": cursor })
                };
                let response = scene
                    .app
                    .gql(page)
                    .vars(vars)
                    .as_user(&scene.customer)
                    .send()
                    .await;
                let edge = &response.ok()["conversation"]["messages"]["edges"][0];
                seqs.push(edge["node"]["seq"].as_i64().unwrap());
                cursor = Some(edge["cursor"].as_str().unwrap().to_owned());
            }
            seqs
        }
    };
    assert_eq!(walk(true).await, [3, 2, 1], "newest first, back in time");
    assert_eq!(
        walk(false).await,
        [1, 2, 3],
        "oldest first, forward in time"
    );

    // A cursor of another conversation's message is refused, not read as
    // a point in this one's history.
    let other = scene
        .app
        .start_conversation(
            &scene.app.sign_up("other@example.com").await,
            &scene.shop_id,
        )
        .await;
    let cursor = scene
        .app
        .gql(page)
        .vars(json!({ "id": conversation_id, "first": 1 }))
        .as_user(&scene.owner)
        .send()
        .await
        .ok()["conversation"]["messages"]["edges"][0]["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let foreign = scene
        .app
        .gql(page)
        .vars(json!({ "id": other, "first": 1, "after": cursor }))
        .as_user(&scene.owner)
        .send()
        .await;
    assert_eq!(foreign.code(), "BAD_USER_INPUT", "{}", foreign.body);
    assert_eq!(foreign.field().as_deref(), Some("after"));
}
