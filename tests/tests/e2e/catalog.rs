//! The catalog: products, prices as decimal strings, search, pages, archiving.

use chatshop_tests::{TestApp, TestUser};
use serde_json::{Value, json};

const CREATE_PRODUCT: &str = "mutation($input: CreateProductInput!) { createProduct(input: $input) { product { id name price { amount currencyCode } stock inStock sku archived } } }";
const UPDATE_PRODUCT: &str = "mutation($input: UpdateProductInput!) { updateProduct(input: $input) { product { name price { amount } stock sku } } }";
const ARCHIVE: &str =
    "mutation($id: ID!) { archiveProduct(productId: $id) { product { archived } } }";
const PRODUCTS: &str = "query($shopId: ID!, $search: String, $first: Int, $after: String, $last: Int, $before: String, $includeArchived: Boolean) {
  products(shopId: $shopId, search: $search, first: $first, after: $after, last: $last, before: $before, includeArchived: $includeArchived) {
    edges { cursor node { name } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

struct Shop {
    id: String,
    owner: TestUser,
}

async fn shop(app: &TestApp) -> Shop {
    let owner = app.sign_up("owner@example.com").await;
    let id = app.create_shop(&owner, "acme").await;
    Shop { id, owner }
}

fn names(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_product_keeps_its_price_exactly() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let response = app
        .gql(CREATE_PRODUCT)
        .vars(json!({ "input": { "shopId": shop.id, "name": "Mug", "price": "12.5", "stock": 3, "sku": "MUG-1" } }))
        .as_user(&shop.owner)
        .send()
        .await;
    let product = &response.ok()["createProduct"]["product"];
    assert_eq!(
        product["price"],
        json!({ "amount": "12.50", "currencyCode": "USD" })
    );
    assert_eq!(product["stock"], 3);
    assert_eq!(product["inStock"], true);
    assert_eq!(product["archived"], false);

    let unlimited = app
        .gql(CREATE_PRODUCT)
        .vars(json!({ "input": { "shopId": shop.id, "name": "Gift card", "price": "0.10" } }))
        .as_user(&shop.owner)
        .send()
        .await;
    let product = &unlimited.ok()["createProduct"]["product"];
    assert_eq!(product["stock"], json!(null));
    assert_eq!(product["inStock"], true);
    assert_eq!(product["price"]["amount"], "0.10");
}

#[tokio::test]
async fn bad_product_input_names_the_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let long_name = "n".repeat(100_000);
    let cases = [
        (json!({ "name": "Mug", "price": "-1.00" }), "input.price"),
        (
            json!({ "name": "Mug", "price": "99999999999.00" }),
            "input.price",
        ),
        (json!({ "name": "Mug", "price": "1.234" }), "input.price"),
        (json!({ "name": "Mug", "price": "1e3" }), "input.price"),
        (json!({ "name": "Mug", "price": "twelve" }), "input.price"),
        (json!({ "name": "", "price": "1.00" }), "input.name"),
        (json!({ "name": long_name, "price": "1.00" }), "input.name"),
        (
            json!({ "name": "Mug", "price": "1.00", "stock": -1 }),
            "input.stock",
        ),
        (
            json!({ "name": "Mug", "price": "1.00", "sku": "has spaces" }),
            "input.sku",
        ),
        (
            json!({ "name": "Mug", "price": "1.00", "imageUrl": "javascript:alert(1)" }),
            "input.imageUrl",
        ),
    ];
    for (mut input, field) in cases {
        input["shopId"] = json!(shop.id);
        let response = app
            .gql(CREATE_PRODUCT)
            .vars(json!({ "input": input }))
            .as_user(&shop.owner)
            .send()
            .await;
        assert_eq!(
            response.code(),
            "BAD_USER_INPUT",
            "{field}: {}",
            response.body
        );
        assert_eq!(
            response.field().as_deref(),
            Some(field),
            "{}",
            response.body
        );
    }
    let unknown_shop = app
        .gql(CREATE_PRODUCT)
        .vars(json!({ "input": { "shopId": "U2hvcDowMTk0MDAwMC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDA", "name": "Mug", "price": "1.00" } }))
        .as_user(&shop.owner)
        .send()
        .await;
    assert_eq!(unknown_shop.code(), "BAD_USER_INPUT");
    assert_eq!(unknown_shop.field().as_deref(), Some("input.shopId"));

    let listing = app
        .gql(PRODUCTS)
        .vars(json!({ "shopId": shop.id, "includeArchived": true }))
        .as_user(&shop.owner)
        .send()
        .await;
    assert!(names(&listing.ok()["products"]).is_empty());
}

#[tokio::test]
async fn only_shop_members_edit_the_catalog() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let customer = app.sign_up("customer@example.com").await;
    let agent = app.sign_up("agent@example.com").await;
    app.gql("mutation($input: AddShopMemberInput!) { addShopMember(input: $input) { member { role } } }")
        .vars(json!({ "input": { "shopId": shop.id, "email": agent.email, "role": "AGENT" } }))
        .as_user(&shop.owner)
        .send()
        .await
        .ok();

    let by_customer = app
        .gql(CREATE_PRODUCT)
        .vars(json!({ "input": { "shopId": shop.id, "name": "Mug", "price": "1.00" } }))
        .as_user(&customer)
        .send()
        .await;
    assert_eq!(by_customer.code(), "FORBIDDEN");

    let product_id = app
        .create_product(&agent, &shop.id, "Mug", "9.00", Some(5))
        .await;
    let edit_by_customer = app
        .gql(UPDATE_PRODUCT)
        .vars(json!({ "input": { "productId": product_id, "price": "0.01" } }))
        .as_user(&customer)
        .send()
        .await;
    assert_eq!(edit_by_customer.code(), "FORBIDDEN");
    let archive_by_customer = app
        .gql(ARCHIVE)
        .vars(json!({ "id": product_id }))
        .as_user(&customer)
        .send()
        .await;
    assert_eq!(archive_by_customer.code(), "FORBIDDEN");

    let edit_by_agent = app
        .gql(UPDATE_PRODUCT)
        .vars(json!({ "input": { "productId": product_id, "price": "8.50", "stock": null, "sku": "MUG-2" } }))
        .as_user(&agent)
        .send()
        .await;
    let product = &edit_by_agent.ok()["updateProduct"]["product"];
    assert_eq!(product["price"]["amount"], "8.50");
    assert_eq!(product["stock"], json!(null), "null stock means unlimited");
    assert_eq!(product["sku"], "MUG-2");
    assert_eq!(product["name"], "Mug", "omitted fields keep their value");
}

#[tokio::test]
async fn a_sku_is_unique_within_a_shop() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let create = |sku: &'static str| {
        app.gql(CREATE_PRODUCT)
            .vars(json!({ "input": { "shopId": shop.id, "name": "Mug", "price": "1.00", "sku": sku } }))
            .as_user(&shop.owner)
            .send()
    };
    create("MUG").await.ok();
    assert_eq!(create("MUG").await.code(), "CONFLICT");
}

#[tokio::test]
async fn archived_products_disappear_from_customer_listings() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let customer = app.sign_up("customer@example.com").await;
    let kept = app
        .create_product(&shop.owner, &shop.id, "Mug", "9.00", Some(5))
        .await;
    let archived = app
        .create_product(&shop.owner, &shop.id, "Old mug", "7.00", Some(5))
        .await;
    let response = app
        .gql(ARCHIVE)
        .vars(json!({ "id": archived }))
        .as_user(&shop.owner)
        .send()
        .await;
    assert_eq!(response.ok()["archiveProduct"]["product"]["archived"], true);

    let listing = app
        .gql(PRODUCTS)
        .vars(json!({ "shopId": shop.id }))
        .as_user(&customer)
        .send()
        .await;
    assert_eq!(names(&listing.ok()["products"]), ["Mug"]);

    let product = "query($id: ID!) { product(id: $id) { name archived } }";
    let hidden = app
        .gql(product)
        .vars(json!({ "id": archived }))
        .as_user(&customer)
        .send()
        .await;
    assert_eq!(hidden.ok()["product"], json!(null));
    let visible = app
        .gql(product)
        .vars(json!({ "id": kept }))
        .as_user(&customer)
        .send()
        .await;
    assert_eq!(visible.ok()["product"]["name"], "Mug");
    let to_owner = app
        .gql(product)
        .vars(json!({ "id": archived }))
        .as_user(&shop.owner)
        .send()
        .await;
    assert_eq!(to_owner.ok()["product"]["archived"], true);

    let all = app
        .gql(PRODUCTS)
        .vars(json!({ "shopId": shop.id, "includeArchived": true }))
        .as_user(&shop.owner)
        .send()
        .await;
    assert_eq!(names(&all.ok()["products"]), ["Mug", "Old mug"]);
    let peeking = app
        .gql(PRODUCTS)
        .vars(json!({ "shopId": shop.id, "includeArchived": true }))
        .as_user(&customer)
        .send()
        .await;
    assert_eq!(peeking.code(), "FORBIDDEN");
}

#[tokio::test]
async fn search_matches_names_case_insensitively_and_literally() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    for name in ["Espresso beans", "Filter BEANS", "Mug", "100% cotton bag"] {
        app.create_product(&shop.owner, &shop.id, name, "1.00", None)
            .await;
    }
    let search = |term: &'static str| {
        app.gql(PRODUCTS)
            .vars(json!({ "shopId": shop.id, "search": term }))
            .send()
    };
    assert_eq!(
        names(&search("beans").await.ok()["products"]),
        ["Espresso beans", "Filter BEANS"]
    );
    assert_eq!(
        names(&search("%").await.ok()["products"]),
        ["100% cotton bag"]
    );
    assert!(names(&search("_ug_").await.ok()["products"]).is_empty());
}

#[tokio::test]
async fn pages_walk_the_catalog_both_ways_without_gaps_or_repeats() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let all: Vec<String> = (1..=7).map(|i| format!("Product {i}")).collect();
    for name in &all {
        app.create_product(&shop.owner, &shop.id, name, "1.00", None)
            .await;
    }

    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let response = app
            .gql(PRODUCTS)
            .vars(json!({ "shopId": shop.id, "first": 3, "after": after }))
            .send()
            .await;
        let page = response.ok()["products"].clone();
        seen.extend(names(&page));
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, all);

    let mut backwards = Vec::new();
    let mut before = Value::Null;
    loop {
        let response = app
            .gql(PRODUCTS)
            .vars(json!({ "shopId": shop.id, "last": 3, "before": before }))
            .send()
            .await;
        let page = response.ok()["products"].clone();
        let mut names = names(&page);
        names.extend(backwards);
        backwards = names;
        if page["pageInfo"]["hasPreviousPage"] == false {
            break;
        }
        before = page["pageInfo"]["startCursor"].clone();
    }
    assert_eq!(backwards, all);
}

#[tokio::test]
async fn page_sizes_and_cursors_are_checked() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    for (vars, field) in [
        (json!({ "first": 101 }), "first"),
        (json!({ "first": -1 }), "first"),
        (json!({ "first": 1, "last": 1 }), "last"),
        (json!({ "after": "garbage!" }), "after"),
    ] {
        let mut vars = vars;
        vars["shopId"] = json!(shop.id);
        let response = app.gql(PRODUCTS).vars(vars).send().await;
        assert_eq!(response.code(), "BAD_USER_INPUT", "{}", response.body);
        assert_eq!(response.field().as_deref(), Some(field));
    }
}

const PUBLIC_CATALOG: &str = "query($shopId: ID!) { products(shopId: $shopId, first: 10) { edges { node { name price { amount } stock } } } }";

async fn public_catalog(app: &TestApp, shop_id: &str) -> Value {
    app.gql(PUBLIC_CATALOG)
        .vars(json!({ "shopId": shop_id }))
        .send()
        .await
        .ok()["products"]["edges"]
        .clone()
}

#[tokio::test]
async fn anonymous_readers_see_every_change_at_once_though_answers_are_reused() {
    // The default keeps anonymous answers for a second: long enough that
    // every read below would be stale if a change did not drop them.
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let mug = app
        .create_product(&shop.owner, &shop.id, "Mug", "12.50", Some(5))
        .await;
    let before = public_catalog(&app, &shop.id).await;
    assert_eq!(before[0]["node"]["price"]["amount"], "12.50");
    assert_eq!(public_catalog(&app, &shop.id).await, before, "served again");

    app.gql(UPDATE_PRODUCT)
        .vars(json!({ "input": { "productId": mug, "price": "9.90" } }))
        .as_user(&shop.owner)
        .send()
        .await
        .ok();
    assert_eq!(
        public_catalog(&app, &shop.id).await[0]["node"]["price"]["amount"],
        "9.90"
    );

    // A customer's order takes stock: anonymous readers see it.
    let customer = app.sign_up("customer@example.com").await;
    let conversation_id = app.start_conversation(&customer, &shop.id).await;
    app.gql("mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id } } }")
        .vars(json!({ "input": { "conversationId": conversation_id, "items": [{ "productId": mug, "quantity": 2 }] } }))
        .as_user(&customer)
        .send()
        .await
        .ok();
    assert_eq!(public_catalog(&app, &shop.id).await[0]["node"]["stock"], 3);
}

#[tokio::test]
async fn an_anonymous_answer_is_never_given_to_a_signed_in_caller() {
    let app = TestApp::spawn().await;
    let user = app.sign_up("someone@example.com").await;
    let anonymous = app.gql("{ me { id } }").send().await;
    assert_eq!(anonymous.ok()["me"], Value::Null);
    let signed_in = app.gql("{ me { id } }").as_user(&user).send().await;
    assert_eq!(signed_in.ok()["me"]["id"], user.id.as_str());
}

#[tokio::test]
async fn an_edit_on_another_instance_shows_within_the_cache_time() {
    // Catalog edits announce no event: another instance's kept answer lives
    // out its time. Several instances share a database only on PostgreSQL.
    let database = std::sync::Arc::new(chatshop_tests::TestDatabase::create_postgres().await);
    let first = TestApp::spawn_on(database.clone(), |config| config.anonymous_cache_ms = 300).await;
    let second = TestApp::spawn_on(database, |config| config.anonymous_cache_ms = 300).await;
    let shop = shop(&first).await;
    let mug = first
        .create_product(&shop.owner, &shop.id, "Mug", "12.50", None)
        .await;
    assert_eq!(
        public_catalog(&second, &shop.id).await[0]["node"]["price"]["amount"],
        "12.50"
    );
    first
        .gql(UPDATE_PRODUCT)
        .vars(json!({ "input": { "productId": mug, "price": "9.90" } }))
        .as_user(&shop.owner)
        .send()
        .await
        .ok();
    let edited = std::time::Instant::now();
    loop {
        let amount = public_catalog(&second, &shop.id).await[0]["node"]["price"]["amount"].clone();
        if amount == "9.90" {
            break;
        }
        assert!(
            edited.elapsed() < std::time::Duration::from_millis(1_000),
            "still {amount} on the second instance"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Sets every price to 9.90 in the database directly: only a kept answer
/// still shows the old one.
async fn reprice_behind_chatshops_back(app: &TestApp) {
    use sea_orm::ConnectionTrait;
    app.chatshop
        .database()
        .execute_unprepared("UPDATE products SET price_minor = 990")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_change_made_behind_chatshops_back_shows_once_the_kept_answer_expires() {
    let app = TestApp::spawn_with(|config| config.anonymous_cache_ms = 300).await;
    let shop = shop(&app).await;
    app.create_product(&shop.owner, &shop.id, "Mug", "12.50", None)
        .await;
    let price = |edges: Value| edges[0]["node"]["price"]["amount"].clone();
    assert_eq!(price(public_catalog(&app, &shop.id).await), "12.50");
    reprice_behind_chatshops_back(&app).await;
    assert_eq!(
        price(public_catalog(&app, &shop.id).await),
        "12.50",
        "the kept answer is served again"
    );
    tokio::time::sleep(std::time::Duration::from_millis(350)).await;
    assert_eq!(price(public_catalog(&app, &shop.id).await), "9.90");
}

#[tokio::test]
async fn a_public_answer_is_shared_by_signed_in_callers_and_a_personal_one_is_not() {
    let app = TestApp::spawn_with(|config| config.anonymous_cache_ms = 60_000).await;
    let shop = shop(&app).await;
    app.create_product(&shop.owner, &shop.id, "Mug", "12.50", None)
        .await;
    let customer = app.sign_up("customer@example.com").await;
    let catalog_as = |user: &TestUser| {
        app.gql(PUBLIC_CATALOG)
            .vars(json!({ "shopId": shop.id }))
            .as_user(user)
            .send()
    };
    let price =
        |response: &Value| response["products"]["edges"][0]["node"]["price"]["amount"].clone();
    assert_eq!(price(catalog_as(&shop.owner).await.ok()), "12.50");
    // Changed behind Chatshop's back: only a kept answer still says 12.50.
    reprice_behind_chatshops_back(&app).await;
    assert_eq!(
        price(catalog_as(&customer).await.ok()),
        "12.50",
        "the owner's answer did not depend on who asked, so the customer is served it"
    );
    assert_eq!(
        public_catalog(&app, &shop.id).await[0]["node"]["price"]["amount"],
        "12.50"
    );

    // An answer that asked who the caller is stays the caller's own.
    let personal = "query($id: ID!) { shop(id: $id) { viewerRole products(first: 1) { edges { node { price { amount } } } } } }";
    let personal_as = |user: Option<&TestUser>| {
        let request = app.gql(personal).vars(json!({ "id": shop.id }));
        match user {
            Some(user) => request.as_user(user),
            None => request,
        }
        .send()
    };
    let as_owner = personal_as(Some(&shop.owner)).await.ok().clone();
    assert_eq!(as_owner["shop"]["viewerRole"], "OWNER");
    assert_eq!(
        as_owner["shop"]["products"]["edges"][0]["node"]["price"]["amount"],
        "9.90"
    );
    let as_customer = personal_as(Some(&customer)).await.ok().clone();
    assert_eq!(as_customer["shop"]["viewerRole"], Value::Null);
    let as_anonymous = personal_as(None).await.ok().clone();
    assert_eq!(as_anonymous["shop"]["viewerRole"], Value::Null);
}
