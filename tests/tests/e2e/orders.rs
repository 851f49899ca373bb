//! Orders and payments inside the conversation.

use std::sync::Arc;

use chatshop::TestPaymentProvider;
use chatshop_tests::{GqlResponse, ShopStaff, TestApp, TestUser, all_at_once, uuid_of};
use serde_json::{Value, json};

const PLACE: &str = "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id status subtotal { amount currencyCode } total { amount } platformFee { amount } shopPayout { amount } items { id name quantity unitPrice { amount } lineTotal { amount } } } } }";
const PAY: &str = "mutation($input: PayOrderInput!) { payOrder(input: $input) { order { id status paidAt payments { status failureCode } } } }";
const ORDER: &str = "query($id: ID!) { order(id: $id) { id status platformFee { amount } payments { kind status failureCode } } }";
const STOCK: &str = "query($id: ID!) { product(id: $id) { stock } }";

struct Shop {
    app: TestApp,
    owner: TestUser,
    agent: TestUser,
    shop_id: String,
}

async fn shop_on(app: TestApp) -> Shop {
    let ShopStaff {
        shop_id,
        owner,
        agent,
    } = app.shop_with_agent().await;
    Shop {
        app,
        owner,
        agent,
        shop_id,
    }
}

impl Shop {
    async fn product(&self, name: &str, price: &str, stock: Option<i32>) -> String {
        self.app
            .create_product(&self.owner, &self.shop_id, name, price, stock)
            .await
    }

    async fn customer(&self, email: &str) -> (TestUser, String) {
        let customer = self.app.sign_up(email).await;
        let conversation_id = self.app.start_conversation(&customer, &self.shop_id).await;
        (customer, conversation_id)
    }

    async fn place(&self, user: &TestUser, conversation_id: &str, items: Value) -> GqlResponse {
        self.app
            .gql(PLACE)
            .vars(json!({ "input": { "conversationId": conversation_id, "items": items } }))
            .as_user(user)
            .send()
            .await
    }

    async fn pay(&self, user: &TestUser, order_id: &str, token: &str, key: &str) -> GqlResponse {
        self.app
            .gql(PAY)
            .vars(json!({ "input": { "orderId": order_id, "paymentMethodToken": token, "idempotencyKey": key } }))
            .as_user(user)
            .send()
            .await
    }

    /// Places an order of `items` and pays it with a card that succeeds;
    /// returns its id.
    /// Places `quantity` of `product` for `user` and returns the order's id.
    async fn placed(
        &self,
        user: &TestUser,
        conversation_id: &str,
        product: &str,
        quantity: i32,
    ) -> String {
        let items = json!([{ "productId": product, "quantity": quantity }]);
        order_id(&self.place(user, conversation_id, items).await)
    }

    async fn paid_order(&self, user: &TestUser, conversation_id: &str, items: Value) -> String {
        let order = order_id(&self.place(user, conversation_id, items).await);
        let paid = self
            .pay(user, &order, "tok_success", &format!("pay-{order}"))
            .await;
        assert_eq!(paid.ok()["payOrder"]["order"]["status"], "PAID");
        order
    }

    /// The order as `user` sees it (`null` when they may not).
    async fn order(&self, user: &TestUser, order_id: &str) -> Value {
        self.app
            .gql(ORDER)
            .vars(json!({ "id": order_id }))
            .as_user(user)
            .send()
            .await
            .ok()["order"]
            .clone()
    }

    /// The id of an order's first line, as its shop sees it.
    async fn first_line(&self, order_id: &str) -> String {
        let view = self
            .app
            .gql("query($id: ID!) { order(id: $id) { items { id } } }")
            .vars(json!({ "id": order_id }))
            .as_user(&self.owner)
            .send()
            .await;
        view.ok()["order"]["items"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn stock(&self, product_id: &str) -> Value {
        self.app
            .gql(STOCK)
            .vars(json!({ "id": product_id }))
            .as_user(&self.owner)
            .send()
            .await
            .ok()["product"]["stock"]
            .clone()
    }
}

/// An instance where reservations expire at once and nothing sweeps them in
/// the background.
async fn instant_expiry() -> TestApp {
    TestApp::spawn_with(|config| {
        config.billing.reservation_ttl_secs = 0;
        config.billing.reservation_sweep_secs = 0;
    })
    .await
}

fn order_id(response: &GqlResponse) -> String {
    response.ok()["placeOrder"]["order"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_customer_orders_and_pays_and_both_sides_see_the_confirmation_live() {
    let shop = shop_on(TestApp::spawn().await).await;
    let grinder = shop.product("Hand grinder", "59.00", Some(3)).await;
    let (customer, conversation_id) = shop.customer("customer@example.com").await;

    let mut customer_socket = shop.app.ws_as(&customer).await;
    customer_socket
        .subscribe("m", "subscription($id: ID!) { messageEvents(conversationId: $id) { type message { seq kind text order { status } } } }", json!({ "id": conversation_id }))
        .await;
    let mut agent_socket = shop.app.ws_as(&shop.agent).await;
    agent_socket
        .subscribe("i", "subscription($shopId: ID!) { inboxEvents(shopId: $shopId) { type message { kind text } } }", json!({ "shopId": shop.shop_id }))
        .await;
    let mut order_socket = shop.app.ws_as(&shop.agent).await;
    order_socket
        .subscribe("o", "subscription($id: ID!) { orderEvents(conversationId: $id) { status total { amount } } }", json!({ "id": conversation_id }))
        .await;
    for socket in [&mut customer_socket, &mut agent_socket, &mut order_socket] {
        socket.send(json!({ "type": "ping" })).await;
        assert_eq!(socket.receive().await["type"], "pong");
    }

    let placed = shop
        .place(
            &customer,
            &conversation_id,
            json!([{ "productId": grinder, "quantity": 2 }]),
        )
        .await;
    let order = placed.ok()["placeOrder"]["order"].clone();
    assert_eq!(order["status"], "PENDING_PAYMENT");
    assert_eq!(
        order["subtotal"],
        json!({ "amount": "118.00", "currencyCode": "USD" })
    );
    assert_eq!(order["total"]["amount"], "118.00");
    assert_eq!(
        order["platformFee"],
        Value::Null,
        "the customer does not see the platform's cut"
    );
    assert_eq!(order["items"][0]["lineTotal"]["amount"], "118.00");
    assert_eq!(shop.stock(&grinder).await, 1, "two units are reserved");
    let order_id = order["id"].as_str().unwrap().to_owned();

    let card = customer_socket.next_payload("m").await;
    assert_eq!(
        card["data"]["messageEvents"]["message"]["kind"],
        "ORDER_CARD"
    );
    assert_eq!(
        agent_socket.next_payload("i").await["data"]["inboxEvents"]["message"]["kind"],
        "ORDER_CARD"
    );
    assert_eq!(
        order_socket.next_payload("o").await["data"]["orderEvents"]["status"],
        "PENDING_PAYMENT"
    );

    let paid = shop.pay(&customer, &order_id, "tok_success", "pay-1").await;
    assert_eq!(paid.ok()["payOrder"]["order"]["status"], "PAID");

    let confirmation = customer_socket.next_payload("m").await;
    let message = &confirmation["data"]["messageEvents"]["message"];
    assert_eq!(message["kind"], "ORDER_CONFIRMATION");
    assert_eq!(
        message["text"],
        "Payment received: 118.00 USD. Your order is confirmed."
    );
    assert_eq!(message["order"]["status"], "PAID");
    let inbox = agent_socket.next_payload("i").await;
    assert_eq!(
        inbox["data"]["inboxEvents"]["message"]["kind"],
        "ORDER_CONFIRMATION"
    );
    let status = order_socket.next_payload("o").await;
    assert_eq!(
        status["data"]["orderEvents"],
        json!({ "status": "PAID", "total": { "amount": "118.00" } })
    );

    let owner_view = shop
        .app
        .gql(ORDER)
        .vars(json!({ "id": order_id }))
        .as_user(&shop.owner)
        .send()
        .await;
    assert_eq!(
        owner_view.ok()["order"]["platformFee"]["amount"],
        "2.95",
        "2.5 % of 118.00"
    );
    assert_eq!(shop.stock(&grinder).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_last_item_cannot_be_sold_twice_to_concurrent_buyers() {
    let shop = Arc::new(shop_on(TestApp::spawn().await).await);
    let lesson = shop.product("Barista lesson", "45.00", Some(1)).await;
    let mut buyers = Vec::new();
    for i in 0..20 {
        buyers.push(shop.customer(&format!("buyer{i}@example.com")).await);
    }
    let responses = all_at_once(buyers, |(customer, conversation_id)| {
        let (shop, lesson) = (shop.clone(), lesson.clone());
        async move {
            shop.place(
                &customer,
                &conversation_id,
                json!([{ "productId": lesson, "quantity": 1 }]),
            )
            .await
        }
    })
    .await;
    let mut sold = 0;
    let mut refused = 0;
    for response in responses {
        if response.errors().is_empty() {
            sold += 1;
        } else {
            assert_eq!(response.code(), "CONFLICT", "{}", response.body);
            refused += 1;
        }
    }
    assert_eq!((sold, refused), (1, 19));
    assert_eq!(shop.stock(&lesson).await, 0);
}

/// Checkouts at the same moment share statements on PostgreSQL: each
/// customer must still get exactly their own orders, stock, charges and
/// messages, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn customers_checking_out_at_once_each_get_their_own_orders_and_messages() {
    let provider = TestPaymentProvider::new();
    let shop =
        Arc::new(shop_on(TestApp::spawn_with_provider(provider.clone(), |_| {}).await).await);
    // Fewer beans than customers; coffee without a stock count.
    let beans = shop.product("Beans", "12.00", Some(5)).await;
    let coffee = shop.product("Coffee", "3.50", None).await;
    let mut customers = Vec::new();
    for i in 0..8 {
        customers.push(shop.customer(&format!("rush{i}@example.com")).await);
    }
    // Each customer orders both at once, in the same conversation.
    let orders = customers
        .iter()
        .flat_map(|customer| [(customer.clone(), &beans), (customer.clone(), &coffee)]);
    let outcomes = all_at_once(orders, |((customer, conversation_id), product)| {
        let (shop, product) = (shop.clone(), product.clone());
        async move {
            let placed = shop
                .place(
                    &customer,
                    &conversation_id,
                    json!([{ "productId": product, "quantity": 1 }]),
                )
                .await;
            if !placed.errors().is_empty() {
                assert_eq!(placed.code(), "CONFLICT", "{}", placed.body);
                return None;
            }
            let order = order_id(&placed);
            let paid = shop
                .pay(&customer, &order, "tok_success", &format!("pay-{order}"))
                .await;
            assert_eq!(
                paid.ok()["payOrder"]["order"]["status"],
                "PAID",
                "{}",
                paid.body
            );
            Some((conversation_id, order))
        }
    })
    .await;
    let paid: Vec<_> = outcomes.into_iter().flatten().collect();
    let beans_sold = paid.len() - customers.len();
    assert_eq!(
        beans_sold, 5,
        "every coffee and as many beans as there were"
    );
    assert_eq!(shop.stock(&beans).await, 0);
    assert_eq!(provider.charges(), u64::try_from(paid.len()).unwrap());
    assert_eq!(provider.net_minor(), 5 * 1200 + 8 * 350);

    for (customer, conversation_id) in &customers {
        let (conversation, messages) = shop.app.history(customer, conversation_id).await;
        // `seq`s run without a gap or a repeat up to the last one.
        let seqs: Vec<i64> = messages.iter().filter_map(|m| m["seq"].as_i64()).collect();
        let last = conversation["lastSeq"].as_i64().unwrap();
        assert_eq!(seqs.last(), Some(&last));
        assert!(
            seqs.windows(2).all(|pair| pair[1] == pair[0] + 1),
            "{seqs:?}"
        );
        // Each of this customer's paid orders has its card, then its
        // confirmation, here and nowhere else.
        let mine: Vec<&String> = paid
            .iter()
            .filter(|(conversation, _)| conversation == conversation_id)
            .map(|(_, order)| order)
            .collect();
        for order in &mine {
            let kinds: Vec<&str> = messages
                .iter()
                .filter(|m| m["order"]["id"].as_str() == Some(order.as_str()))
                .filter_map(|m| m["kind"].as_str())
                .collect();
            assert_eq!(kinds, ["ORDER_CARD", "ORDER_CONFIRMATION"], "{order}");
        }
        let about_orders = messages
            .iter()
            .filter(|m| m["order"]["id"].is_string())
            .count();
        assert_eq!(about_orders, mine.len() * 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_payment_sent_twice_at_once_charges_once() {
    let provider = TestPaymentProvider::new();
    let shop =
        Arc::new(shop_on(TestApp::spawn_with_provider(provider.clone(), |_| {}).await).await);
    let mug = shop.product("Mug", "9.00", Some(5)).await;
    let (customer, conversation_id) = shop.customer("customer@example.com").await;
    let order = shop.placed(&customer, &conversation_id, &mug, 1).await;

    let responses = all_at_once(0..2, |_| {
        let (shop, customer, order) = (shop.clone(), customer.clone(), order.clone());
        async move { shop.pay(&customer, &order, "tok_success", "same-key").await }
    })
    .await;
    for response in responses {
        assert_eq!(
            response.ok()["payOrder"]["order"]["status"],
            "PAID",
            "{}",
            response.body
        );
    }
    assert_eq!(provider.charges(), 1);
    assert_eq!(provider.net_minor(), 900);
    // A later retry with the same key answers the same, still without charging.
    let retry = shop.pay(&customer, &order, "tok_success", "same-key").await;
    assert_eq!(retry.ok()["payOrder"]["order"]["status"], "PAID");
    assert_eq!(provider.charges(), 1);
    let other_token = shop.pay(&customer, &order, "tok_visa", "same-key").await;
    assert_eq!(other_token.code(), "CONFLICT");
    let new_key = shop
        .pay(&customer, &order, "tok_success", "another-key")
        .await;
    assert_eq!(new_key.code(), "CONFLICT", "an order is paid once");
    assert_eq!(provider.charges(), 1);
}

#[tokio::test]
async fn failed_payments_leave_the_order_payable_and_the_stock_reserved() {
    let provider = TestPaymentProvider::new();
    let app = TestApp::spawn_with_provider(provider.clone(), |config| {
        config.billing.payment_timeout_ms = 300
    })
    .await;
    let shop = shop_on(app).await;
    let mug = shop.product("Mug", "9.00", Some(5)).await;
    let (customer, conversation_id) = shop.customer("customer@example.com").await;
    let order = shop.placed(&customer, &conversation_id, &mug, 2).await;

    for (token, key, reason) in [
        ("tok_decline", "k1", "card_declined"),
        ("tok_insufficient_funds", "k2", "insufficient_funds"),
        ("tok_error", "k3", "provider_error"),
        ("tok_slow", "k4", "timeout"),
    ] {
        let response = shop.pay(&customer, &order, token, key).await;
        assert_eq!(response.code(), "PAYMENT_FAILED", "{token}");
        assert_eq!(
            response.errors()[0]["extensions"]["reason"],
            reason,
            "{token}"
        );
        let view = shop.order(&customer, &order).await;
        assert_eq!(view["status"], "PENDING_PAYMENT", "{token}");
        assert_eq!(
            shop.stock(&mug).await,
            3,
            "{token}: the two units stay reserved"
        );
        // Retrying a failed key repeats its answer without calling anyone.
        assert_eq!(
            shop.pay(&customer, &order, token, key).await.code(),
            "PAYMENT_FAILED"
        );
    }
    assert_eq!(provider.charges(), 0);

    let paid = shop.pay(&customer, &order, "tok_success", "k5").await;
    assert_eq!(paid.ok()["payOrder"]["order"]["status"], "PAID");
    let payments = paid.ok()["payOrder"]["order"]["payments"]
        .as_array()
        .unwrap()
        .clone();
    let statuses: Vec<_> = payments
        .iter()
        .map(|p| p["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        statuses,
        ["FAILED", "FAILED", "FAILED", "FAILED", "SUCCEEDED"]
    );
    assert_eq!(provider.charges(), 1);
}

#[tokio::test]
async fn an_expired_reservation_releases_its_stock() {
    let shop = shop_on(instant_expiry().await).await;
    let grinder = shop.product("Hand grinder", "59.00", Some(1)).await;
    let (customer, conversation_id) = shop.customer("customer@example.com").await;
    let order = shop.placed(&customer, &conversation_id, &grinder, 1).await;
    assert_eq!(shop.stock(&grinder).await, 0);

    assert_eq!(shop.app.chatshop.expire_reservations().await.unwrap(), 1);
    assert_eq!(shop.stock(&grinder).await, 1);
    let view = shop.order(&customer, &order).await;
    assert_eq!(view["status"], "CANCELLED");
    assert_eq!(
        shop.pay(&customer, &order, "tok_success", "late")
            .await
            .code(),
        "CONFLICT"
    );
}

#[tokio::test]
async fn a_unit_held_by_an_expired_reservation_goes_to_the_next_buyer() {
    // No background sweep: the shortfall itself must release the stock.
    let shop = shop_on(instant_expiry().await).await;
    let grinder = shop.product("Hand grinder", "59.00", Some(1)).await;
    let (first, first_conversation) = shop.customer("first@example.com").await;
    let (second, second_conversation) = shop.customer("second@example.com").await;
    let line = json!([{ "productId": grinder, "quantity": 1 }]);
    let abandoned = order_id(&shop.place(&first, &first_conversation, line.clone()).await);
    assert_eq!(shop.stock(&grinder).await, 0);

    let taken = order_id(&shop.place(&second, &second_conversation, line).await);
    assert_ne!(taken, abandoned);
    assert_eq!(shop.stock(&grinder).await, 0);
    let view = shop.order(&first, &abandoned).await;
    assert_eq!(view["status"], "CANCELLED");
}

#[tokio::test]
async fn strangers_and_agents_cannot_pay_or_read_someone_elses_order() {
    let shop = shop_on(TestApp::spawn().await).await;
    let mug = shop.product("Mug", "9.00", None).await;
    let (customer, conversation_id) = shop.customer("customer@example.com").await;
    let (other, _) = shop.customer("other@example.com").await;
    let order = shop.placed(&customer, &conversation_id, &mug, 1).await;

    assert_eq!(
        shop.pay(&other, &order, "tok_success", "x1").await.code(),
        "NOT_FOUND"
    );
    let read = shop.order(&other, &order).await;
    assert_eq!(read, Value::Null);
    assert_eq!(
        shop.pay(&shop.agent, &order, "tok_success", "x2")
            .await
            .code(),
        "FORBIDDEN"
    );
    let theirs = shop
        .app
        .gql("{ orders { edges { node { id } } } }")
        .as_user(&other)
        .send()
        .await;
    assert_eq!(theirs.ok()["orders"]["edges"], json!([]));
    let shop_orders = shop
        .app
        .gql("query($shopId: ID!) { orders(shopId: $shopId, status: PENDING_PAYMENT) { edges { node { id } } } }")
        .vars(json!({ "shopId": shop.shop_id }))
        .as_user(&shop.agent)
        .send()
        .await;
    assert_eq!(
        shop_orders.ok()["orders"]["edges"][0]["node"]["id"],
        order.as_str()
    );
}

#[tokio::test]
async fn an_order_followed_by_its_id_shows_its_attempts_to_its_customer_only() {
    const FOLLOW: &str = "subscription($id: ID!) { orderEvents(orderId: $id) { id status payments { status failureCode } } }";
    let shop = shop_on(TestApp::spawn().await).await;
    let mug = shop.product("Mug", "9.00", Some(5)).await;
    let (customer, conversation_id) = shop.customer("customer@example.com").await;
    let (other, _) = shop.customer("other@example.com").await;
    let line = json!([{ "productId": mug, "quantity": 1 }]);
    let order = order_id(&shop.place(&customer, &conversation_id, line.clone()).await);

    let mut stranger = shop.app.ws_as(&other).await;
    stranger
        .subscribe("o", FOLLOW, json!({ "id": order }))
        .await;
    // Refused as it runs: an execution error, then the end.
    let refused = stranger.next_payload("o").await;
    assert_eq!(refused["data"], Value::Null, "{refused}");
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{refused}"
    );
    assert_eq!(stranger.receive().await["type"], "complete");
    stranger
        .subscribe(
            "both",
            "subscription($id: ID!) { orderEvents(orderId: $id, conversationId: $id) { id } }",
            json!({ "id": order }),
        )
        .await;
    let refused = stranger.next_payload("both").await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{refused}"
    );
    assert_eq!(stranger.receive().await["type"], "complete");

    let mut follower = shop.app.ws_as(&customer).await;
    follower
        .subscribe("o", FOLLOW, json!({ "id": order }))
        .await;
    follower.send(json!({ "type": "ping" })).await;
    assert_eq!(follower.receive().await["type"], "pong");

    // Another order of the same conversation is not this one's change.
    let second = order_id(&shop.place(&customer, &conversation_id, line).await);
    assert_ne!(second, order);
    let declined = shop.pay(&customer, &order, "tok_decline", "k1").await;
    assert_eq!(declined.code(), "PAYMENT_FAILED");
    let attempt = follower.next_payload("o").await;
    assert_eq!(
        attempt["data"]["orderEvents"],
        json!({ "id": order, "status": "PENDING_PAYMENT", "payments": [{ "status": "FAILED", "failureCode": "card_declined" }] })
    );
    let paid = shop.pay(&customer, &order, "tok_success", "k2").await;
    assert_eq!(paid.ok()["payOrder"]["order"]["status"], "PAID");
    let confirmation = follower.next_payload("o").await;
    assert_eq!(confirmation["data"]["orderEvents"]["id"], order.as_str());
    assert_eq!(confirmation["data"]["orderEvents"]["status"], "PAID");
}

#[tokio::test]
async fn bad_quantities_and_foreign_products_are_refused() {
    let shop = shop_on(TestApp::spawn().await).await;
    let mug = shop.product("Mug", "9.00", Some(5)).await;
    let (customer, conversation_id) = shop.customer("customer@example.com").await;
    let rival = shop.app.sign_up("rival@example.com").await;
    let rival_shop = shop.app.create_shop(&rival, "rival").await;
    let foreign = shop
        .app
        .create_product(&rival, &rival_shop, "Foreign", "1.00", None)
        .await;
    for items in [
        json!([{ "productId": mug, "quantity": 0 }]),
        json!([{ "productId": mug, "quantity": -3 }]),
        json!([{ "productId": mug, "quantity": 1_000_000 }]),
        json!([]),
        json!([{ "productId": mug, "quantity": 1 }, { "productId": mug, "quantity": 1 }]),
        json!([{ "productId": foreign, "quantity": 1 }]),
    ] {
        let response = shop.place(&customer, &conversation_id, items.clone()).await;
        assert_eq!(
            response.code(),
            "BAD_USER_INPUT",
            "{items}: {}",
            response.body
        );
    }
    assert_eq!(shop.stock(&mug).await, 5, "nothing was reserved");
    let too_many = shop
        .place(
            &customer,
            &conversation_id,
            json!([{ "productId": mug, "quantity": 6 }]),
        )
        .await;
    assert_eq!(too_many.code(), "CONFLICT");
}

#[tokio::test]
async fn placing_with_a_client_key_is_idempotent() {
    let shop = shop_on(TestApp::spawn().await).await;
    let mug = shop.product("Mug", "9.00", Some(5)).await;
    let (customer, conversation_id) = shop.customer("customer@example.com").await;
    let place = |quantity: i32| {
        shop.app
            .gql(PLACE)
            .vars(json!({ "input": { "conversationId": conversation_id, "clientKey": "cart-1", "items": [{ "productId": mug, "quantity": quantity }] } }))
            .as_user(&customer)
            .send()
    };
    let first = order_id(&place(2).await);
    assert_eq!(order_id(&place(2).await), first);
    assert_eq!(shop.stock(&mug).await, 3, "reserved once");
    assert_eq!(place(3).await.code(), "CONFLICT");
}

#[tokio::test]
async fn transitions_follow_the_state_machine_and_stock_follows() {
    let provider = TestPaymentProvider::new();
    let shop = shop_on(TestApp::spawn_with_provider(provider.clone(), |_| {}).await).await;
    let mug = shop.product("Mug", "9.00", Some(10)).await;
    let (customer, conversation_id) = shop.customer("customer@example.com").await;
    let cancel = "mutation($id: ID!) { cancelOrder(orderId: $id) { order { status } } }";
    let fulfil = "mutation($id: ID!) { fulfillOrder(orderId: $id) { order { status } } }";
    let refund = "mutation($input: RefundOrderInput!) { refundOrder(input: $input) { order { status refunded { amount } } } }";

    // Unpaid: the customer cancels, the stock comes back; fulfilling is a conflict.
    let first = shop.placed(&customer, &conversation_id, &mug, 4).await;
    assert_eq!(
        shop.app
            .gql(fulfil)
            .vars(json!({ "id": first }))
            .as_user(&shop.agent)
            .send()
            .await
            .code(),
        "CONFLICT"
    );
    let cancelled = shop
        .app
        .gql(cancel)
        .vars(json!({ "id": first }))
        .as_user(&customer)
        .send()
        .await;
    assert_eq!(
        cancelled.ok()["cancelOrder"]["order"]["status"],
        "CANCELLED"
    );
    assert_eq!(shop.stock(&mug).await, 10);
    assert_eq!(
        shop.app
            .gql(cancel)
            .vars(json!({ "id": first }))
            .as_user(&customer)
            .send()
            .await
            .code(),
        "CONFLICT"
    );

    // Paid: cancelling is a conflict; a partial refund keeps it paid and restocks those units.
    let second = shop
        .paid_order(
            &customer,
            &conversation_id,
            json!([{ "productId": mug, "quantity": 3 }]),
        )
        .await;
    assert_eq!(
        shop.app
            .gql(cancel)
            .vars(json!({ "id": second }))
            .as_user(&shop.agent)
            .send()
            .await
            .code(),
        "CONFLICT"
    );
    let line = shop.first_line(&second).await;
    let partial = shop
        .app
        .gql(refund)
        .vars(json!({ "input": { "orderId": second, "items": [{ "orderItemId": line, "quantity": 1 }], "idempotencyKey": "r1" } }))
        .as_user(&shop.owner)
        .send()
        .await;
    assert_eq!(
        partial.ok()["refundOrder"]["order"],
        json!({ "status": "PAID", "refunded": { "amount": "9.00" } })
    );
    assert_eq!(shop.stock(&mug).await, 8);
    let by_customer = shop
        .app
        .gql(refund)
        .vars(json!({ "input": { "orderId": second, "idempotencyKey": "r2" } }))
        .as_user(&customer)
        .send()
        .await;
    assert_eq!(by_customer.code(), "FORBIDDEN");
    let rest = shop
        .app
        .gql(refund)
        .vars(json!({ "input": { "orderId": second, "idempotencyKey": "r3" } }))
        .as_user(&shop.owner)
        .send()
        .await;
    assert_eq!(
        rest.ok()["refundOrder"]["order"],
        json!({ "status": "REFUNDED", "refunded": { "amount": "27.00" } })
    );
    assert_eq!(shop.stock(&mug).await, 10);
    assert_eq!(provider.net_minor(), 0);

    // Fulfilled: refunding does not restock (the goods left the shop).
    let third = shop
        .paid_order(
            &customer,
            &conversation_id,
            json!([{ "productId": mug, "quantity": 2 }]),
        )
        .await;
    let fulfilled = shop
        .app
        .gql(fulfil)
        .vars(json!({ "id": third }))
        .as_user(&shop.agent)
        .send()
        .await;
    assert_eq!(
        fulfilled.ok()["fulfillOrder"]["order"]["status"],
        "FULFILLED"
    );
    assert_eq!(
        shop.app
            .gql(fulfil)
            .vars(json!({ "id": third }))
            .as_user(&shop.agent)
            .send()
            .await
            .code(),
        "CONFLICT"
    );
    let refunded = shop
        .app
        .gql(refund)
        .vars(json!({ "input": { "orderId": third, "idempotencyKey": "r4" } }))
        .as_user(&shop.owner)
        .send()
        .await;
    assert_eq!(refunded.ok()["refundOrder"]["order"]["status"], "REFUNDED");
    assert_eq!(shop.stock(&mug).await, 8);
}

/// A provider whose refunds take a while, so that refunds sent together
/// are all under way at once.
#[derive(Clone)]
struct SlowRefunds(TestPaymentProvider);

#[async_trait::async_trait]
impl chatshop::PaymentProvider for SlowRefunds {
    async fn charge(
        &self,
        request: chatshop::ChargeRequest,
    ) -> Result<chatshop::ChargeOutcome, chatshop::ProviderError> {
        self.0.charge(request).await
    }

    async fn lookup(
        &self,
        idempotency_key: &str,
    ) -> Result<Option<chatshop::ChargeOutcome>, chatshop::ProviderError> {
        self.0.lookup(idempotency_key).await
    }

    async fn refund(
        &self,
        request: chatshop::RefundRequest,
    ) -> Result<chatshop::ChargeOutcome, chatshop::ProviderError> {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        self.0.refund(request).await
    }
}

/// Two agents refunding the same order at once (or one double click with a
/// fresh key each time): the money and the stock go back once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refunds_sent_at_once_pay_back_and_restock_each_unit_once() {
    let provider = TestPaymentProvider::new();
    let slow = SlowRefunds(provider.clone());
    let app = TestApp::spawn_with_builder(|_| {}, |builder| builder.payment_provider(slow)).await;
    let shop = Arc::new(shop_on(app).await);
    let mug = shop.product("Mug", "9.00", Some(10)).await;
    let (customer, conversation_id) = shop.customer("customer@example.com").await;
    let order = shop
        .paid_order(
            &customer,
            &conversation_id,
            json!([{ "productId": mug, "quantity": 3 }]),
        )
        .await;
    assert_eq!(shop.stock(&mug).await, 7);
    let refund = "mutation($input: RefundOrderInput!) { refundOrder(input: $input) { order { status refunded { amount } items { refundedQuantity } } } }";

    // Whole-order refunds, each with its own key.
    let outcomes = all_at_once(0..4, |i| {
        let (shop, order) = (shop.clone(), order.clone());
        async move {
            shop.app
                .gql(refund)
                .vars(json!({ "input": { "orderId": order, "idempotencyKey": format!("whole-{i}") } }))
                .as_user(&shop.owner)
                .send()
                .await
        }
    })
    .await;
    let (done, refused): (Vec<_>, Vec<_>) = outcomes.iter().partition(|r| r.errors().is_empty());
    assert_eq!(done.len(), 1, "one refund went through");
    assert_eq!(
        done[0].ok()["refundOrder"]["order"],
        json!({ "status": "REFUNDED", "refunded": { "amount": "27.00" }, "items": [{ "refundedQuantity": 3 }] })
    );
    for refusal in &refused {
        assert_eq!(refusal.code(), "CONFLICT", "{}", refusal.body);
    }
    assert_eq!(provider.refunds(), 1);
    assert_eq!(provider.net_minor(), 0);
    assert_eq!(shop.stock(&mug).await, 10, "the three units came back once");
    // The order is free again: a later refund is told nothing is left.
    let later = shop
        .app
        .gql(refund)
        .vars(json!({ "input": { "orderId": order, "idempotencyKey": "later" } }))
        .as_user(&shop.owner)
        .send()
        .await;
    assert_eq!(later.code(), "CONFLICT", "{}", later.body);

    // Two refunds of two units each on a line of three: one goes through;
    // the other, retried with its key once the first is done, finds one left.
    let second = shop
        .paid_order(
            &customer,
            &conversation_id,
            json!([{ "productId": mug, "quantity": 3 }]),
        )
        .await;
    let line = shop.first_line(&second).await;
    let two_units = |key: &str| json!({ "input": { "orderId": second, "items": [{ "orderItemId": line, "quantity": 2 }], "idempotencyKey": key } });
    let outcomes = all_at_once(["two-a", "two-b"], |key| {
        let (shop, vars) = (shop.clone(), two_units(key));
        async move {
            let response = shop
                .app
                .gql(refund)
                .vars(vars)
                .as_user(&shop.owner)
                .send()
                .await;
            (key, response)
        }
    })
    .await;
    let refused: Vec<_> = outcomes
        .iter()
        .filter(|(_, response)| !response.errors().is_empty())
        .collect();
    assert_eq!(refused.len(), 1, "one of the two went through");
    let (refused_key, refusal) = refused[0];
    assert_eq!(refusal.code(), "CONFLICT", "{}", refusal.body);
    let retried = shop
        .app
        .gql(refund)
        .vars(two_units(refused_key))
        .as_user(&shop.owner)
        .send()
        .await;
    assert_eq!(retried.code(), "BAD_USER_INPUT", "{}", retried.body);
    assert_eq!(provider.refunds(), 2);
    assert_eq!(
        shop.stock(&mug).await,
        9,
        "two of the three units came back"
    );
    let left = shop
        .app
        .gql("query($id: ID!) { order(id: $id) { status refunded { amount } items { refundedQuantity } } }")
        .vars(json!({ "id": second }))
        .as_user(&shop.owner)
        .send()
        .await;
    assert_eq!(
        left.ok()["order"],
        json!({ "status": "PAID", "refunded": { "amount": "18.00" }, "items": [{ "refundedQuantity": 2 }] })
    );
}

#[tokio::test]
async fn a_charge_the_server_never_recorded_is_reconciled_not_repeated() {
    use chatshop::{ChargeRequest, PaymentProvider};
    use chatshop_entity::enums::{PaymentKind, PaymentStatus};
    use chatshop_entity::{order, payment};
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel};

    let provider = TestPaymentProvider::new();
    let shop = shop_on(TestApp::spawn_with_provider(provider.clone(), |_| {}).await).await;
    let mug = shop.product("Mug", "9.00", Some(5)).await;
    let (customer, conversation_id) = shop.customer("customer@example.com").await;
    let order_id = shop.placed(&customer, &conversation_id, &mug, 1).await;
    let order_uuid = uuid_of(&order_id);

    // The server recorded its attempt and called the provider, which charged;
    // then the process died before it could record the outcome.
    let db = shop.app.chatshop.database();
    let attempt = uuid::Uuid::now_v7();
    let now = chrono_now();
    payment::Entity::insert(payment::ActiveModel {
        id: Set(attempt),
        order_id: Set(order_uuid),
        kind: Set(PaymentKind::Charge),
        idempotency_key: Set("before-the-crash".to_owned()),
        request_digest: Set("0".repeat(64)),
        amount_minor: Set(900),
        currency: Set("USD".to_owned()),
        status: Set(PaymentStatus::Pending),
        failure_code: Set(None),
        provider_reference: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        invoice_id: Set(None),
    })
    .exec_without_returning(db)
    .await
    .unwrap();
    let mut claimed = order::Entity::find_by_id(order_uuid)
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .into_active_model();
    claimed.payment_attempt_id = Set(Some(attempt));
    claimed.update(db).await.unwrap();
    let charged = provider
        .charge(ChargeRequest {
            idempotency_key: "before-the-crash".to_owned(),
            amount_minor: 900,
            currency: "USD".to_owned(),
            payment_method_token: "tok_success".to_owned(),
            description: "the charge the server did not record".to_owned(),
        })
        .await
        .unwrap();
    assert!(matches!(charged, chatshop::ChargeOutcome::Succeeded { .. }));

    // The customer, seeing no confirmation, pays again with a new key.
    let retry = shop
        .pay(&customer, &order_id, "tok_success", "after-the-crash")
        .await;
    assert_eq!(retry.ok()["payOrder"]["order"]["status"], "PAID");
    assert_eq!(
        provider.charges(),
        1,
        "the earlier charge was found, not repeated"
    );
    let statuses = retry.ok()["payOrder"]["order"]["payments"].clone();
    assert_eq!(
        statuses,
        json!([{ "status": "SUCCEEDED", "failureCode": null }])
    );
}

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// Subscribers running the same document share what a live event resolves
/// to, except where its resolution depends on who asks: an order card shows
/// each side its own view of the order, on every socket.
#[tokio::test]
async fn subscribers_with_the_same_document_each_see_an_order_card_as_their_side_does() {
    const CARDS: &str = "subscription($id: ID!) { messageEvents(conversationId: $id) { message { seq kind text order { platformFee { amount } } } } }";
    let shop = shop_on(TestApp::spawn().await).await;
    let grinder = shop.product("Hand grinder", "59.00", None).await;
    let (customer, conversation_id) = shop.customer("buyer@example.com").await;
    let viewers = [&customer, &customer, &shop.agent, &shop.agent];
    let mut sockets = Vec::new();
    for viewer in viewers {
        let mut socket = shop.app.ws_as(viewer).await;
        socket
            .subscribe("m", CARDS, json!({ "id": conversation_id }))
            .await;
        sockets.push(socket);
    }
    // Every socket past its replay, then live.
    let send = |user: &TestUser, text: &str| {
        shop.app
            .gql("mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { seq } } }")
            .vars(json!({ "input": { "conversationId": conversation_id, "text": text } }))
            .as_user(user)
            .send()
    };
    send(&customer, "hello").await.ok();
    for socket in &mut sockets {
        while socket.next_payload("m").await["data"]["messageEvents"]["message"]["text"] != "hello"
        {
        }
    }

    let placed = shop
        .place(
            &customer,
            &conversation_id,
            json!([{ "productId": grinder, "quantity": 1 }]),
        )
        .await;
    order_id(&placed);
    let mut fees = Vec::new();
    for socket in &mut sockets {
        let card = socket.next_payload("m").await["data"]["messageEvents"]["message"].clone();
        assert_eq!(card["kind"], "ORDER_CARD", "{card}");
        fees.push(card["order"]["platformFee"].clone());
    }
    assert_eq!(fees[0], Value::Null, "the customer sees no platform fee");
    assert_eq!(fees[1], Value::Null, "the customer sees no platform fee");
    assert!(fees[2]["amount"].is_string(), "{}", fees[2]);
    assert_eq!(fees[2], fees[3]);

    // A plain message resolves the same for everyone.
    send(&shop.agent, "on its way").await.ok();
    let mut seen = Vec::new();
    for socket in &mut sockets {
        seen.push(socket.next_payload("m").await["data"]["messageEvents"]["message"].clone());
    }
    assert_eq!(seen[0]["text"], "on its way");
    assert!(seen.iter().all(|m| *m == seen[0]), "{seen:?}");
}

/// An event bus that loses order events while told to, as a broker that
/// dropped its connection does, until it announces `Resync`.
struct LosesOrderEvents {
    inner: chatshop::events::LocalEventBus,
    losing: Arc<std::sync::atomic::AtomicBool>,
}

#[async_trait::async_trait]
impl chatshop::EventBus for LosesOrderEvents {
    async fn publish(&self, event: chatshop::Event) {
        let lost = matches!(event, chatshop::Event::OrderChanged { .. })
            && self.losing.load(std::sync::atomic::Ordering::SeqCst);
        if !lost {
            self.inner.publish(event).await;
        }
    }

    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<chatshop::Event> {
        self.inner.subscribe()
    }
}

/// A subscriber to a conversation's orders that may have missed events is
/// sent the orders as they are now.
#[tokio::test]
async fn a_conversation_subscriber_that_missed_order_events_gets_the_orders_again() {
    use chatshop::EventBus;

    let inner = chatshop::events::LocalEventBus::new();
    let losing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let bus = LosesOrderEvents {
        inner: inner.clone(),
        losing: losing.clone(),
    };
    let shop =
        shop_on(TestApp::spawn_with_builder(|_| {}, |builder| builder.event_bus(bus)).await).await;
    let mug = shop.product("Mug", "9.00", Some(5)).await;
    let (customer, conversation_id) = shop.customer("customer@example.com").await;
    let mut socket = shop.app.ws_as(&customer).await;
    socket
        .subscribe(
            "o",
            "subscription($id: ID!) { orderEvents(conversationId: $id) { id status } }",
            json!({ "id": conversation_id }),
        )
        .await;
    socket
        .silent_for(std::time::Duration::from_millis(100))
        .await;
    let order = shop.placed(&customer, &conversation_id, &mug, 1).await;
    assert_eq!(
        socket.next_payload("o").await["data"]["orderEvents"],
        json!({ "id": order, "status": "PENDING_PAYMENT" })
    );
    losing.store(true, std::sync::atomic::Ordering::SeqCst);
    let paid = shop.pay(&customer, &order, "tok_success", "pay-1").await;
    assert_eq!(paid.ok()["payOrder"]["order"]["status"], "PAID");
    socket
        .silent_for(std::time::Duration::from_millis(200))
        .await;
    inner.publish(chatshop::Event::Resync).await;
    assert_eq!(
        socket.next_payload("o").await["data"]["orderEvents"],
        json!({ "id": order, "status": "PAID" })
    );
}
