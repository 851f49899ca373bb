//! Billing and privacy: metering, invoices, consent, export, deletion, retention.

use std::sync::Arc;

use chatshop_tests::{GqlResponse, ShopStaff, TestApp, TestUser, all_at_once, uuid_of};
use serde_json::{Value, json};

const SEND: &str = "mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { seq category } } }";
const DELIVERED: &str =
    "mutation($input: ReceiptInput!) { markDelivered(input: $input) { messages { seq } } }";
const READ: &str =
    "mutation($input: ReceiptInput!) { markRead(input: $input) { messages { seq } } }";
const USAGE: &str = "query($shopId: ID!, $from: DateTime!, $to: DateTime!) { billingUsage(shopId: $shopId, from: $from, to: $to) { categories { category messages amount { amount currencyCode } } messagesTotal { amount } platformFees { amount currencyCode } paidOrders hosting { amount } } }";
const CLOSE: &str = "mutation($input: CloseBillingPeriodInput!) { closeBillingPeriod(input: $input) { invoice { id periodStart periodEnd lines { kind category quantity amount { amount currencyCode } } totals { amount currencyCode } } } }";

struct Scene {
    app: TestApp,
    owner: TestUser,
    agent: TestUser,
    customer: TestUser,
    shop_id: String,
    conversation_id: String,
}

async fn scene_with(configure: impl FnOnce(&mut chatshop::Config)) -> Scene {
    let app = TestApp::spawn_with(configure).await;
    let ShopStaff {
        shop_id,
        owner,
        agent,
    } = app.shop_with_agent().await;
    let customer = app.sign_up("customer@example.com").await;
    let conversation_id = app.start_conversation(&customer, &shop_id).await;
    Scene {
        app,
        owner,
        agent,
        customer,
        shop_id,
        conversation_id,
    }
}

async fn scene() -> Scene {
    scene_with(|_| {}).await
}

impl Scene {
    async fn send(&self, user: &TestUser, text: &str, category: Option<&str>) -> GqlResponse {
        self.app
            .gql(SEND)
            .vars(json!({ "input": { "conversationId": self.conversation_id, "text": text, "category": category } }))
            .as_user(user)
            .send()
            .await
    }

    async fn receipt(&self, query: &str, user: &TestUser, through: i64) -> GqlResponse {
        self.app.gql(query).vars(json!({ "input": { "conversationId": self.conversation_id, "throughSeq": through } })).as_user(user).send().await
    }

    /// The customer orders `quantity` of a new product at `price` and pays:
    /// the order's id and its line's.
    async fn paid_order(&self, price: &str, quantity: i32) -> (Value, Value) {
        let product = self
            .app
            .create_product(&self.owner, &self.shop_id, "Mug", price, Some(5))
            .await;
        let placed = self
            .app
            .gql("mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id items { id } } } }")
            .vars(json!({ "input": { "conversationId": self.conversation_id, "items": [{ "productId": product, "quantity": quantity }] } }))
            .as_user(&self.customer)
            .send()
            .await;
        let order = &placed.ok()["placeOrder"]["order"];
        let (order_id, line_id) = (order["id"].clone(), order["items"][0]["id"].clone());
        let paid = self
            .app
            .gql("mutation($input: PayOrderInput!) { payOrder(input: $input) { order { status } } }")
            .vars(json!({ "input": { "orderId": order_id, "paymentMethodToken": "tok_success", "idempotencyKey": format!("pay-{order_id}") } }))
            .as_user(&self.customer)
            .send()
            .await;
        assert_eq!(paid.ok()["payOrder"]["order"]["status"], "PAID");
        (order_id, line_id)
    }

    /// Closes the period that ended a millisecond ago, leaving what was
    /// just stamped (at millisecond precision) before its end: the invoice.
    async fn close_now(&self) -> Value {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let closed = self
            .app
            .gql(CLOSE)
            .vars(
                json!({ "input": { "shopId": self.shop_id, "periodEnd": chrono_now_plus_ms(-1) } }),
            )
            .as_user(&self.owner)
            .send()
            .await;
        closed.ok()["closeBillingPeriod"]["invoice"].clone()
    }

    async fn usage(&self, user: &TestUser) -> GqlResponse {
        self.app
            .gql(USAGE)
            .vars(json!({ "shopId": self.shop_id, "from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z" }))
            .as_user(user)
            .send()
            .await
    }
}

fn category<'a>(usage: &'a Value, name: &str) -> &'a Value {
    usage["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["category"] == name)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_delivered_business_message_is_metered_exactly_once() {
    let scene = Arc::new(scene().await);
    for i in 0..5 {
        scene
            .send(&scene.agent, &format!("reply {i}"), None)
            .await
            .ok();
    }
    scene
        .send(&scene.agent, "Your code is 123456", Some("AUTHENTICATION"))
        .await
        .ok();
    scene.send(&scene.customer, "thanks", None).await.ok();

    // Concurrent, repeated receipts: still one record per message.
    let mut tasks = Vec::new();
    for i in 0..6 {
        let scene = scene.clone();
        tasks.push(tokio::spawn(async move {
            let query = if i % 2 == 0 { DELIVERED } else { READ };
            scene.receipt(query, &scene.customer, 7).await.ok();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    scene.receipt(DELIVERED, &scene.customer, 7).await.ok();
    // The shop marking the customer's message delivered bills nothing.
    scene.receipt(DELIVERED, &scene.owner, 7).await.ok();

    let usage = scene.usage(&scene.owner).await;
    let usage = &usage.ok()["billingUsage"];
    assert_eq!(category(usage, "SERVICE")["messages"], 5);
    assert_eq!(
        category(usage, "SERVICE")["amount"],
        json!({ "amount": "0.025000", "currencyCode": "USD" })
    );
    assert_eq!(category(usage, "AUTHENTICATION")["messages"], 1);
    assert_eq!(
        category(usage, "AUTHENTICATION")["amount"]["amount"],
        "0.030000"
    );
    assert_eq!(category(usage, "MARKETING")["messages"], 0);
    assert_eq!(usage["messagesTotal"]["amount"], "0.055000");
    assert_eq!(usage["hosting"]["amount"], "0.000000");
}

#[tokio::test]
async fn a_rate_change_applies_to_later_deliveries_only() {
    let scene =
        scene_with(|config| config.auth.admin_emails = vec!["admin@example.com".to_owned()]).await;
    let admin = scene.app.sign_up("admin@example.com").await;
    scene.send(&scene.agent, "before", None).await.ok();
    scene.receipt(DELIVERED, &scene.customer, 1).await.ok();

    let update = "mutation($input: UpdateRateCardInput!) { updateRateCard(input: $input) { rate { category price { amount } } } }";
    let refused = scene
        .app
        .gql(update)
        .vars(json!({ "input": { "category": "SERVICE", "rate": "0.02" } }))
        .as_user(&scene.owner)
        .send()
        .await;
    assert_eq!(refused.code(), "FORBIDDEN");
    let changed = scene
        .app
        .gql(update)
        .vars(json!({ "input": { "category": "SERVICE", "rate": "0.02" } }))
        .as_user(&admin)
        .send()
        .await;
    assert_eq!(
        changed.ok()["updateRateCard"]["rate"]["price"]["amount"],
        "0.020000"
    );
    let card = scene
        .app
        .gql("{ rateCard { category price { amount currencyCode } } }")
        .send()
        .await;
    assert!(card.ok()["rateCard"].as_array().unwrap().contains(
        &json!({ "category": "SERVICE", "price": { "amount": "0.020000", "currencyCode": "USD" } })
    ));

    scene.send(&scene.agent, "after", None).await.ok();
    scene.receipt(DELIVERED, &scene.customer, 2).await.ok();
    let usage = scene.usage(&scene.owner).await;
    let service = category(&usage.ok()["billingUsage"], "SERVICE").clone();
    assert_eq!(service["messages"], 2);
    assert_eq!(
        service["amount"]["amount"], "0.025000",
        "0.005 before the change + 0.02 after"
    );
}

#[tokio::test]
async fn only_owners_read_billing() {
    let scene = scene().await;
    for user in [&scene.agent, &scene.customer] {
        assert_eq!(
            scene.usage(user).await.code(),
            "FORBIDDEN",
            "{}",
            user.email
        );
        let invoices = scene
            .app
            .gql("query($id: ID!) { invoices(shopId: $id) { edges { node { id } } } }")
            .vars(json!({ "id": scene.shop_id }))
            .as_user(user)
            .send()
            .await;
        assert_eq!(invoices.code(), "FORBIDDEN");
        let close = scene.app.gql(CLOSE).vars(json!({ "input": { "shopId": scene.shop_id, "periodEnd": "2020-01-01T00:00:00Z" } })).as_user(user).send().await;
        assert_eq!(close.code(), "FORBIDDEN");
    }
}

#[tokio::test]
async fn an_invoice_adds_up_and_closing_is_idempotent() {
    let scene = scene().await;
    for _ in 0..3 {
        scene.send(&scene.agent, "reply", None).await.ok();
    }
    scene
        .send(&scene.agent, "Sale!", Some("MARKETING"))
        .await
        .ok();
    scene.receipt(READ, &scene.customer, 4).await.ok();
    // An order paid in the period brings a platform fee (2.5 % of 40.00 = 1.00).
    scene.paid_order("40.00", 1).await;

    // The period ends in the past, at millisecond precision: leave the
    // payment's timestamp a few milliseconds before it.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let period_end = chrono_now_plus_ms(-1);
    let first = scene
        .app
        .gql(CLOSE)
        .vars(json!({ "input": { "shopId": scene.shop_id, "periodEnd": period_end } }))
        .as_user(&scene.owner)
        .send()
        .await;
    let invoice = first.ok()["closeBillingPeriod"]["invoice"].clone();
    let lines = invoice["lines"].as_array().unwrap();
    let line = |kind: &str, category: Option<&str>| {
        lines
            .iter()
            .find(|l| {
                l["kind"] == kind && (category.is_none() || l["category"] == category.unwrap())
            })
            .unwrap()
            .clone()
    };
    assert_eq!(line("MESSAGES", Some("SERVICE"))["quantity"], 3);
    assert_eq!(
        line("MESSAGES", Some("SERVICE"))["amount"]["amount"],
        "0.015000"
    );
    assert_eq!(
        line("MESSAGES", Some("MARKETING"))["amount"]["amount"],
        "0.090000"
    );
    assert_eq!(
        line("PLATFORM_FEES", None)["amount"],
        json!({ "amount": "1.000000", "currencyCode": "USD" })
    );
    assert_eq!(line("HOSTING", None)["amount"]["amount"], "0.000000");
    // Order confirmations are utility messages: billed once the customer's
    // client marks them delivered (not yet here).
    assert_eq!(line("MESSAGES", Some("UTILITY"))["quantity"], 0);
    let sum: i64 = lines
        .iter()
        .map(|l| micro(l["amount"]["amount"].as_str().unwrap()))
        .sum();
    assert_eq!(
        invoice["totals"],
        json!([{ "amount": format_micro(sum), "currencyCode": "USD" }])
    );

    let again = scene
        .app
        .gql(CLOSE)
        .vars(json!({ "input": { "shopId": scene.shop_id, "periodEnd": period_end } }))
        .as_user(&scene.owner)
        .send()
        .await;
    assert_eq!(
        again.ok()["closeBillingPeriod"]["invoice"]["id"],
        invoice["id"]
    );

    // Usage after the period goes to the next invoice.
    scene.send(&scene.agent, "later", None).await.ok();
    scene.receipt(DELIVERED, &scene.customer, 99).await.ok();
    let next = scene.close_now().await;
    assert_eq!(next["periodStart"], invoice["periodEnd"]);
    let next_service = next["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["category"] == "SERVICE")
        .unwrap()
        .clone();
    assert_eq!(next_service["quantity"], 1);
    let utility = next["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["category"] == "UTILITY")
        .unwrap()
        .clone();
    assert_eq!(
        utility["quantity"], 1,
        "the order confirmation, delivered after the first period (the customer's order card is free)"
    );
    let listed = scene
        .app
        .gql("query($id: ID!) { invoices(shopId: $id) { edges { node { id } } } }")
        .vars(json!({ "id": scene.shop_id }))
        .as_user(&scene.owner)
        .send()
        .await;
    assert_eq!(
        listed.ok()["invoices"]["edges"].as_array().unwrap().len(),
        2
    );
}

fn chrono_now_plus_ms(offset: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let millis = i64::try_from(now).unwrap() + offset;
    // RFC 3339 with milliseconds, computed without a date library.
    let secs = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn micro(amount: &str) -> i64 {
    let (whole, fraction) = amount.split_once('.').unwrap();
    whole.parse::<i64>().unwrap() * 1_000_000 + fraction.parse::<i64>().unwrap()
}

fn format_micro(micro: i64) -> String {
    format!("{}.{:06}", micro / 1_000_000, micro % 1_000_000)
}

#[tokio::test]
async fn an_opted_out_customer_gets_no_marketing_and_the_shop_is_not_billed() {
    let scene = scene().await;
    let consent = "mutation($input: SetMarketingConsentInput!) { setMarketingConsent(input: $input) { optedIn } }";
    let out = scene
        .app
        .gql(consent)
        .vars(json!({ "input": { "shopId": scene.shop_id, "optedIn": false } }))
        .as_user(&scene.customer)
        .send()
        .await;
    assert_eq!(out.ok()["setMarketingConsent"]["optedIn"], false);
    let refused = scene
        .send(&scene.agent, "Big sale!", Some("MARKETING"))
        .await;
    assert_eq!(refused.code(), "CONFLICT");
    scene.receipt(DELIVERED, &scene.customer, 10).await.ok();
    let usage = scene.usage(&scene.owner).await;
    assert_eq!(
        category(&usage.ok()["billingUsage"], "MARKETING")["messages"],
        0
    );
    // Service replies still go through.
    assert_eq!(
        scene
            .send(&scene.agent, "Your parcel shipped", None)
            .await
            .ok()["sendMessage"]["message"]["seq"],
        1
    );

    scene
        .app
        .gql(consent)
        .vars(json!({ "input": { "shopId": scene.shop_id, "optedIn": true } }))
        .as_user(&scene.customer)
        .send()
        .await
        .ok();
    assert_eq!(
        scene
            .send(&scene.agent, "Big sale!", Some("MARKETING"))
            .await
            .ok()["sendMessage"]["message"]["category"],
        "MARKETING"
    );
}

#[tokio::test]
async fn an_export_holds_the_callers_data_and_nobody_elses() {
    let scene = scene().await;
    scene.send(&scene.customer, "my question", None).await.ok();
    scene.send(&scene.agent, "our answer", None).await.ok();
    let other = scene.app.sign_up("other@example.com").await;
    let other_id = scene.app.start_conversation(&other, &scene.shop_id).await;
    scene
        .app
        .gql(SEND)
        .vars(json!({ "input": { "conversationId": other_id, "text": "someone else's secret" } }))
        .as_user(&other)
        .send()
        .await
        .ok();
    let opted_out = scene
        .app
        .gql("mutation($input: SetMarketingConsentInput!) { setMarketingConsent(input: $input) { optedIn } }")
        .vars(json!({ "input": { "shopId": scene.shop_id, "optedIn": false } }))
        .as_user(&scene.customer)
        .send()
        .await;
    assert_eq!(opted_out.ok()["setMarketingConsent"]["optedIn"], false);
    scene.paid_order("9.00", 1).await;

    let export = scene
        .app
        .gql("mutation { exportMyData { data } }")
        .as_user(&scene.customer)
        .send()
        .await;
    let data = export.ok()["exportMyData"]["data"].clone();
    assert_eq!(data["account"]["email"], "customer@example.com");
    assert_eq!(
        data["orders"][0]["payments"],
        json!([{ "kind": "CHARGE", "status": "SUCCEEDED", "amount": "9.00", "failureCode": null, "at": data["orders"][0]["payments"][0]["at"] }])
    );
    assert_eq!(
        data["marketingOptOuts"][0]["shopId"],
        scene.shop_id.as_str()
    );
    assert_eq!(data["messagesWrittenForShops"], json!([]));
    assert_eq!(data["signInIdentities"], json!([]));
    let texts: Vec<_> = data["conversations"][0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        texts,
        [
            "my question",
            "our answer",
            "Order: 1 × Mug. Total 9.00 USD.",
            "Payment received: 9.00 USD. Your order is confirmed."
        ]
    );
    let text = data.to_string();
    assert!(!text.contains("someone else's secret"));
    assert!(!text.contains("other@example.com"));

    let owner_export = scene
        .app
        .gql("mutation { exportMyData { data } }")
        .as_user(&scene.owner)
        .send()
        .await;
    assert_eq!(
        owner_export.ok()["exportMyData"]["data"]["shops"][0]["role"],
        "OWNER"
    );

    // An agent's export holds what they wrote for the shop, not what the
    // customer wrote to them.
    let agent_export = scene
        .app
        .gql("mutation { exportMyData { data } }")
        .as_user(&scene.agent)
        .send()
        .await;
    let agent_data = agent_export.ok()["exportMyData"]["data"].clone();
    let written: Vec<_> = agent_data["messagesWrittenForShops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(written, [json!("our answer")]);
    assert!(!agent_data.to_string().contains("my question"));
}

#[tokio::test]
async fn deleting_my_data_erases_it_and_ends_my_sessions_but_keeps_the_books() {
    let scene = scene().await;
    scene
        .send(&scene.customer, "my private words", None)
        .await
        .ok();
    scene.send(&scene.agent, "a reply", None).await.ok();
    scene.receipt(DELIVERED, &scene.customer, 2).await.ok();
    let usage_before =
        scene.usage(&scene.owner).await.ok()["billingUsage"]["messagesTotal"].clone();

    let deleted = scene
        .app
        .gql("mutation { deleteMyData { deleted } }")
        .as_user(&scene.customer)
        .send()
        .await;
    assert_eq!(deleted.ok()["deleteMyData"]["deleted"], true);

    let me = scene
        .app
        .gql("{ me { id } }")
        .as_user(&scene.customer)
        .send()
        .await;
    assert_eq!(me.status, 401, "the token no longer works: {}", me.body);
    let sign_in = scene
        .app
        .gql("mutation($input: SignInInput!) { signIn(input: $input) { token } }")
        .vars(json!({ "input": { "email": "customer@example.com", "password": chatshop_tests::PASSWORD } }))
        .send()
        .await;
    assert_eq!(sign_in.code(), "UNAUTHENTICATED");

    let history = scene
        .app
        .gql("query($id: ID!) { conversation(id: $id) { customer { name email } messagesBySeq(fromSeq: 1, toSeq: 10) { text redacted } } }")
        .vars(json!({ "id": scene.conversation_id }))
        .as_user(&scene.agent)
        .send()
        .await;
    let conversation = &history.ok()["conversation"];
    assert_eq!(conversation["customer"]["name"], "Deleted user");
    assert!(
        !conversation["customer"]["email"]
            .as_str()
            .unwrap()
            .contains("customer@example.com")
    );
    assert_eq!(
        conversation["messagesBySeq"],
        json!([{ "text": "", "redacted": true }, { "text": "a reply", "redacted": false }])
    );
    assert_eq!(
        scene.usage(&scene.owner).await.ok()["billingUsage"]["messagesTotal"],
        usage_before
    );

    // The only owner of a shop must hand it over first.
    let refused = scene
        .app
        .gql("mutation { deleteMyData { deleted } }")
        .as_user(&scene.owner)
        .send()
        .await;
    assert_eq!(refused.code(), "CONFLICT");
}

#[tokio::test]
async fn retention_erases_only_hosted_message_bodies_old_enough() {
    use sea_orm::{ConnectionTrait, Statement};
    let scene = scene_with(|config| config.privacy.message_retention_days = 30).await;
    scene.send(&scene.customer, "old words", None).await.ok();
    scene.send(&scene.customer, "new words", None).await.ok();
    let db = scene.app.chatshop.database();
    let backend = db.get_database_backend();
    let forty_days_ago = (std::time::SystemTime::now()
        - std::time::Duration::from_secs(40 * 86_400))
    .duration_since(std::time::UNIX_EPOCH)
    .unwrap()
    .as_secs();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            format!("UPDATE messages SET created_at = to_timestamp({forty_days_ago}) WHERE seq = 1")
        }
        _ => format!(
            "UPDATE messages SET created_at = strftime('%Y-%m-%d %H:%M:%f+00:00', {forty_days_ago}, 'unixepoch') WHERE seq = 1"
        ),
    };
    db.execute_raw(Statement::from_string(backend, sql))
        .await
        .unwrap();

    assert_eq!(
        scene.app.chatshop.purge_expired_messages().await.unwrap(),
        1
    );
    assert_eq!(
        scene.app.chatshop.purge_expired_messages().await.unwrap(),
        0,
        "already erased"
    );
    let history = scene
        .app
        .gql("query($id: ID!) { conversation(id: $id) { messagesBySeq(fromSeq: 1, toSeq: 2) { seq text redacted } } }")
        .vars(json!({ "id": scene.conversation_id }))
        .as_user(&scene.customer)
        .send()
        .await;
    assert_eq!(
        history.ok()["conversation"]["messagesBySeq"],
        json!([{ "seq": 1, "text": "", "redacted": true }, { "seq": 2, "text": "new words", "redacted": false }])
    );
}

/// A refund gives back its part of the platform fee: on the order, in the
/// period's usage, and as a line of the period's invoice.
#[tokio::test]
async fn refunds_give_back_their_part_of_the_platform_fee() {
    let scene = scene().await;
    let (order_id, line_id) = scene.paid_order("9.00", 3).await;
    let refund = |items: Value, key: &str| {
        let vars =
            json!({ "input": { "orderId": order_id, "items": items, "idempotencyKey": key } });
        let (app, owner) = (&scene.app, &scene.owner);
        async move {
            app.gql("mutation($input: RefundOrderInput!) { refundOrder(input: $input) { order { status refunded { amount } platformFee { amount } shopPayout { amount } } } }")
                .vars(vars)
                .as_user(owner)
                .send()
                .await
        }
    };
    let fees = |usage: &Value| {
        json!([
            usage["platformFees"]["amount"],
            usage["platformFeesReturned"]["amount"],
            usage["refunds"]
        ])
    };
    let usage_now = || async {
        scene
            .app
            .gql("query($shopId: ID!, $from: DateTime!, $to: DateTime!) { billingUsage(shopId: $shopId, from: $from, to: $to) { platformFees { amount } platformFeesReturned { amount currencyCode } refunds } }")
            .vars(json!({ "shopId": scene.shop_id, "from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z" }))
            .as_user(&scene.owner)
            .send()
            .await
    };

    // 2.5 % of 27.00 is 0.68; a third of the order refunded gives back 0.22.
    let one = refund(json!([{ "orderItemId": line_id, "quantity": 1 }]), "r1").await;
    assert_eq!(
        one.ok()["refundOrder"]["order"],
        json!({ "status": "PAID", "refunded": { "amount": "9.00" }, "platformFee": { "amount": "0.46" }, "shopPayout": { "amount": "17.54" } })
    );
    assert_eq!(
        fees(&usage_now().await.ok()["billingUsage"]),
        json!(["0.680000", "0.220000", 1])
    );
    // The rest gives back the rest: nothing is kept of a whole refund.
    let rest = refund(json!([{ "orderItemId": line_id, "quantity": 2 }]), "r2").await;
    assert_eq!(
        rest.ok()["refundOrder"]["order"],
        json!({ "status": "REFUNDED", "refunded": { "amount": "27.00" }, "platformFee": { "amount": "0.00" }, "shopPayout": { "amount": "0.00" } })
    );
    assert_eq!(
        fees(&usage_now().await.ok()["billingUsage"]),
        json!(["0.680000", "0.680000", 2])
    );

    let invoice = &scene.close_now().await;
    let line = |kind: &str| {
        invoice["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["kind"] == kind)
            .unwrap()
            .clone()
    };
    assert_eq!(
        line("PLATFORM_FEES"),
        json!({ "kind": "PLATFORM_FEES", "category": null, "quantity": 1, "amount": { "amount": "0.680000", "currencyCode": "USD" } })
    );
    assert_eq!(
        line("PLATFORM_FEES_RETURNED"),
        json!({ "kind": "PLATFORM_FEES_RETURNED", "category": null, "quantity": 2, "amount": { "amount": "-0.680000", "currencyCode": "USD" } })
    );
}

/// Periods closed at the same moment at different ends never overlap: each
/// invoice starts where the one before it ended, and a message is billed
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn periods_closed_at_once_follow_one_another() {
    let scene = std::sync::Arc::new(scene().await);
    for round in 0..3 {
        scene.send(&scene.agent, "reply", None).await.ok();
        scene.receipt(DELIVERED, &scene.customer, 99).await.ok();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let ends = [chrono_now_plus_ms(-10), chrono_now_plus_ms(-5)];
        let outcomes = all_at_once(ends, |end| {
            let scene = scene.clone();
            async move {
                scene
                    .app
                    .gql(CLOSE)
                    .vars(json!({ "input": { "shopId": scene.shop_id, "periodEnd": end } }))
                    .as_user(&scene.owner)
                    .send()
                    .await
            }
        })
        .await;
        for outcome in &outcomes {
            if !outcome.errors().is_empty() {
                // The earlier end, after the later one was closed.
                assert_eq!(
                    outcome.code(),
                    "BAD_USER_INPUT",
                    "round {round}: {}",
                    outcome.body
                );
            }
        }
    }
    let listed = scene
        .app
        .gql("query($id: ID!) { invoices(shopId: $id, first: 50) { edges { node { periodStart periodEnd lines { kind category quantity } } } } }")
        .vars(json!({ "id": scene.shop_id }))
        .as_user(&scene.owner)
        .send()
        .await;
    let invoices = listed.ok()["invoices"]["edges"].as_array().unwrap().clone();
    assert!(invoices.len() >= 3, "{}", listed.body);
    let mut periods: Vec<(String, String)> = invoices
        .iter()
        .map(|edge| {
            (
                edge["node"]["periodStart"].as_str().unwrap().to_owned(),
                edge["node"]["periodEnd"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    periods.sort();
    for pair in periods.windows(2) {
        assert_eq!(
            pair[0].1, pair[1].0,
            "each period starts where the last ended"
        );
    }
    let service_messages: i64 = invoices
        .iter()
        .flat_map(|edge| edge["node"]["lines"].as_array().unwrap().clone())
        .filter(|line| line["kind"] == "MESSAGES" && line["category"] == "SERVICE")
        .map(|line| line["quantity"].as_i64().unwrap())
        .sum();
    assert_eq!(service_messages, 3, "each delivered reply billed once");
}

/// What was stamped before a period's end but committed after its close is
/// billed by the next invoice: each delivery, payment and refund once, none
/// lost between two invoices.
#[tokio::test]
async fn a_late_commit_is_billed_by_the_next_invoice() {
    use chatshop_entity::{order, payment, usage_record};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

    let scene = scene().await;
    let db = scene.app.chatshop.database();
    scene.send(&scene.agent, "on time", None).await.ok();
    scene.receipt(DELIVERED, &scene.customer, 99).await.ok();
    let (first_order, first_line) = scene.paid_order("40.00", 1).await;
    let first = scene.close_now().await;
    let on_time: chrono::DateTime<chrono::Utc> = usage_record::Entity::find()
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .delivered_at;

    // A delivery, a payment and a refund, each committed after the close
    // with a stamp from before it, as a transaction that took its time.
    scene.send(&scene.agent, "late", None).await.ok();
    scene.receipt(DELIVERED, &scene.customer, 99).await.ok();
    let (late_order, _) = scene.paid_order("80.00", 1).await;
    let refunded = scene
        .app
        .gql("mutation($input: RefundOrderInput!) { refundOrder(input: $input) { order { status } } }")
        .vars(json!({ "input": { "orderId": first_order, "items": [{ "orderItemId": first_line, "quantity": 1 }], "idempotencyKey": "late-refund" } }))
        .as_user(&scene.owner)
        .send()
        .await;
    assert_eq!(refunded.ok()["refundOrder"]["order"]["status"], "REFUNDED");
    usage_record::Entity::update_many()
        .col_expr(usage_record::Column::DeliveredAt, Expr::value(on_time))
        .filter(usage_record::Column::InvoiceId.is_null())
        .exec(db)
        .await
        .unwrap();
    order::Entity::update_many()
        .col_expr(order::Column::PaidAt, Expr::value(on_time))
        .filter(order::Column::Id.eq(uuid_of(late_order.as_str().unwrap())))
        .exec(db)
        .await
        .unwrap();
    payment::Entity::update_many()
        .col_expr(payment::Column::UpdatedAt, Expr::value(on_time))
        .filter(payment::Column::IdempotencyKey.eq("late-refund"))
        .exec(db)
        .await
        .unwrap();

    let second = scene.close_now().await;
    let lines = |invoice: &Value| {
        let mut lines: Vec<Value> = invoice["lines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["quantity"] != 0 && l["kind"] != "HOSTING")
            .map(|l| {
                json!([
                    l["kind"],
                    l["category"],
                    l["quantity"],
                    l["amount"]["amount"]
                ])
            })
            .collect();
        lines.sort_by_key(Value::to_string);
        lines
    };
    assert_eq!(
        lines(&first),
        vec![
            json!(["MESSAGES", "SERVICE", 1, "0.005000"]),
            json!(["PLATFORM_FEES", null, 1, "1.000000"]),
        ]
    );
    // 2.5 % of 80.00 is 2.00; the whole refund of the first order gives its
    // 1.00 back.
    assert_eq!(
        lines(&second),
        vec![
            json!(["MESSAGES", "SERVICE", 1, "0.005000"]),
            // The first order's confirmation, delivered with the late reply.
            json!(["MESSAGES", "UTILITY", 1, "0.015000"]),
            json!(["PLATFORM_FEES", null, 1, "2.000000"]),
            json!(["PLATFORM_FEES_RETURNED", null, 1, "-1.000000"]),
        ]
    );
    let unbilled = usage_record::Entity::find()
        .filter(usage_record::Column::InvoiceId.is_null())
        .all(db)
        .await
        .unwrap();
    assert!(unbilled.is_empty(), "every record billed: {unbilled:?}");
}

/// The migration that marks what each invoice billed marks the rows of
/// periods closed before it by their stamps, and a later close bills none
/// of them again.
#[tokio::test]
async fn invoices_closed_before_the_marks_keep_what_they_billed() {
    use chatshop_entity::{order, usage_record};
    use chatshop_migration::{Migrator, MigratorTrait};
    use sea_orm::EntityTrait;

    let scene = scene().await;
    let db = scene.app.chatshop.database();
    for text in ["one", "two"] {
        scene.send(&scene.agent, text, None).await.ok();
    }
    scene.receipt(DELIVERED, &scene.customer, 99).await.ok();
    scene.paid_order("40.00", 1).await;
    let first_id = uuid_of(scene.close_now().await["id"].as_str().unwrap());
    let marks = || async {
        usage_record::Entity::find()
            .all(db)
            .await
            .unwrap()
            .into_iter()
            .map(|record| record.invoice_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(marks().await, vec![Some(first_id); 2]);
    let order_mark = || async {
        order::Entity::find()
            .one(db)
            .await
            .unwrap()
            .unwrap()
            .invoice_id
    };
    assert_eq!(order_mark().await, Some(first_id));

    // Back to before the marks, and forward again.
    Migrator::down(db, Some(1)).await.unwrap();
    Migrator::up(db, None).await.unwrap();
    assert_eq!(marks().await, vec![Some(first_id); 2]);
    assert_eq!(order_mark().await, Some(first_id));

    scene.send(&scene.agent, "three", None).await.ok();
    scene.receipt(DELIVERED, &scene.customer, 99).await.ok();
    let billed: Vec<Value> = scene.close_now().await["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["quantity"] != 0 && l["kind"] != "HOSTING")
        .map(|l| json!([l["kind"], l["category"], l["quantity"]]))
        .collect();
    // The new reply, and the order's confirmation delivered with it; the
    // first period's replies and platform fee are not billed again.
    assert_eq!(
        billed,
        vec![
            json!(["MESSAGES", "SERVICE", 1]),
            json!(["MESSAGES", "UTILITY", 1])
        ]
    );
}
