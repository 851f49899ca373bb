//! Shops and membership: who may change what.

use chatshop_tests::TestApp;
use serde_json::json;

const UPDATE_SHOP: &str = "mutation($input: UpdateShopInput!) { updateShop(input: $input) { shop { name hosted channels } } }";
const ADD_MEMBER: &str = "mutation($input: AddShopMemberInput!) { addShopMember(input: $input) { member { role user { email } } } }";
const SHOP_BY_SLUG: &str = "query($slug: String!) { shop(slug: $slug) { id slug name currencyCode hosted channels viewerRole } }";

#[tokio::test]
async fn an_owner_creates_a_shop_and_owns_it() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("owner@example.com").await;
    let shop_id = app.create_shop(&owner, "Acme-Coffee").await;
    let response = app
        .gql(SHOP_BY_SLUG)
        .vars(json!({ "slug": "acme-coffee" }))
        .as_user(&owner)
        .send()
        .await;
    let shop = &response.ok()["shop"];
    assert_eq!(shop["id"], shop_id.as_str());
    assert_eq!(shop["slug"], "acme-coffee");
    assert_eq!(shop["currencyCode"], "USD");
    assert_eq!(shop["hosted"], true);
    assert_eq!(shop["channels"], json!(["WEB"]));
    assert_eq!(shop["viewerRole"], "OWNER");

    let anonymous = app
        .gql(SHOP_BY_SLUG)
        .vars(json!({ "slug": "acme-coffee" }))
        .send()
        .await;
    assert_eq!(anonymous.ok()["shop"]["viewerRole"], json!(null));
}

#[tokio::test]
async fn creating_a_shop_needs_a_signed_in_user() {
    let app = TestApp::spawn().await;
    let response = app
        .gql("mutation { createShop(input: { slug: \"anon\", name: \"Anon\", currencyCode: \"USD\" }) { shop { id } } }")
        .send()
        .await;
    assert_eq!(response.code(), "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_slug_is_taken_once() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("owner@example.com").await;
    app.create_shop(&owner, "taken").await;
    let response = app
        .gql("mutation { createShop(input: { slug: \"TAKEN\", name: \"Again\", currencyCode: \"USD\" }) { shop { id } } }")
        .as_user(&owner)
        .send()
        .await;
    assert_eq!(response.code(), "CONFLICT");
}

#[tokio::test]
async fn bad_shop_input_names_the_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("owner@example.com").await;
    let cases = [
        (
            json!({ "slug": "x", "name": "Shop", "currencyCode": "USD" }),
            "input.slug",
        ),
        (
            json!({ "slug": "good-slug", "name": "", "currencyCode": "USD" }),
            "input.name",
        ),
        (
            json!({ "slug": "good-slug", "name": "Shop", "currencyCode": "DOGE" }),
            "input.currencyCode",
        ),
        (
            json!({ "slug": "good-slug", "name": "Shop", "currencyCode": "USD", "channels": [] }),
            "input.channels",
        ),
        (
            json!({ "slug": "good-slug", "name": "Shop\u{0007}", "currencyCode": "USD" }),
            "input.name",
        ),
    ];
    for (input, field) in cases {
        let response = app
            .gql("mutation($input: CreateShopInput!) { createShop(input: $input) { shop { id } } }")
            .vars(json!({ "input": input }))
            .as_user(&owner)
            .send()
            .await;
        assert_eq!(response.code(), "BAD_USER_INPUT", "{}", response.body);
        assert_eq!(
            response.field().as_deref(),
            Some(field),
            "{}",
            response.body
        );
    }
    let shops = app.gql("{ shops { edges { node { id } } } }").send().await;
    assert_eq!(shops.ok()["shops"]["edges"], json!([]));
}

#[tokio::test]
async fn only_an_owner_changes_a_shop() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("owner@example.com").await;
    let agent = app.sign_up("agent@example.com").await;
    let stranger = app.sign_up("stranger@example.com").await;
    let shop_id = app.create_shop(&owner, "acme").await;
    app.gql(ADD_MEMBER)
        .vars(json!({ "input": { "shopId": shop_id, "email": agent.email, "role": "AGENT" } }))
        .as_user(&owner)
        .send()
        .await
        .ok();

    let change = json!({ "input": { "shopId": shop_id, "name": "Hijacked" } });
    for user in [&stranger, &agent] {
        let response = app
            .gql(UPDATE_SHOP)
            .vars(change.clone())
            .as_user(user)
            .send()
            .await;
        assert_eq!(response.code(), "FORBIDDEN", "{}", user.email);
    }
    let response = app
        .gql(UPDATE_SHOP)
        .vars(json!({ "input": { "shopId": shop_id, "name": "Acme Roasters", "channels": ["WHATSAPP", "WEB"] } }))
        .as_user(&owner)
        .send()
        .await;
    let shop = &response.ok()["updateShop"]["shop"];
    assert_eq!(shop["name"], "Acme Roasters");
    assert_eq!(shop["channels"], json!(["WHATSAPP", "WEB"]));
}

#[tokio::test]
async fn agents_cannot_add_members_and_owners_can() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("owner@example.com").await;
    let agent = app.sign_up("agent@example.com").await;
    let newcomer = app.sign_up("newcomer@example.com").await;
    let shop_id = app.create_shop(&owner, "acme").await;

    let added = app
        .gql(ADD_MEMBER)
        .vars(json!({ "input": { "shopId": shop_id, "email": "AGENT@example.com", "role": "AGENT" } }))
        .as_user(&owner)
        .send()
        .await;
    assert_eq!(added.ok()["addShopMember"]["member"]["role"], "AGENT");

    let by_agent = app
        .gql(ADD_MEMBER)
        .vars(json!({ "input": { "shopId": shop_id, "email": newcomer.email, "role": "OWNER" } }))
        .as_user(&agent)
        .send()
        .await;
    assert_eq!(by_agent.code(), "FORBIDDEN");

    let twice = app
        .gql(ADD_MEMBER)
        .vars(json!({ "input": { "shopId": shop_id, "email": agent.email, "role": "AGENT" } }))
        .as_user(&owner)
        .send()
        .await;
    assert_eq!(twice.code(), "CONFLICT");

    let unknown = app
        .gql(ADD_MEMBER)
        .vars(json!({ "input": { "shopId": shop_id, "email": "ghost@example.com", "role": "AGENT" } }))
        .as_user(&owner)
        .send()
        .await;
    assert_eq!(unknown.code(), "BAD_USER_INPUT");
    assert_eq!(unknown.field().as_deref(), Some("input.email"));

    let members = app
        .gql("query($id: ID!) { shop(id: $id) { members { role user { email } } } }")
        .vars(json!({ "id": shop_id }))
        .as_user(&agent)
        .send()
        .await;
    let emails: Vec<_> = members.ok()["shop"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"]["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(emails, ["owner@example.com", "agent@example.com"]);

    let by_stranger = app
        .gql("query($id: ID!) { shop(id: $id) { members { role } } }")
        .vars(json!({ "id": shop_id }))
        .as_user(&newcomer)
        .send()
        .await;
    assert_eq!(by_stranger.code(), "FORBIDDEN");
}

#[tokio::test]
async fn shops_are_listed_in_pages_and_member_only_lists_mine() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice@example.com").await;
    let bob = app.sign_up("bob@example.com").await;
    for slug in ["shop-a", "shop-b", "shop-c"] {
        app.create_shop(&alice, slug).await;
    }
    app.create_shop(&bob, "shop-d").await;

    let first = app.gql("{ shops(first: 3) { edges { cursor node { slug } } pageInfo { hasNextPage endCursor } } }").send().await;
    let page = &first.ok()["shops"];
    let slugs: Vec<_> = page["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["slug"].clone())
        .collect();
    assert_eq!(slugs, [json!("shop-a"), json!("shop-b"), json!("shop-c")]);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);

    let next = app
        .gql("query($after: String) { shops(first: 3, after: $after) { edges { node { slug } } pageInfo { hasNextPage hasPreviousPage } } }")
        .vars(json!({ "after": page["pageInfo"]["endCursor"] }))
        .send()
        .await;
    let rest = &next.ok()["shops"];
    assert_eq!(rest["edges"], json!([{ "node": { "slug": "shop-d" } }]));
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);
    assert_eq!(rest["pageInfo"]["hasPreviousPage"], true);

    let mine = app
        .gql("{ shops(memberOnly: true) { edges { node { slug } } } }")
        .as_user(&bob)
        .send()
        .await;
    assert_eq!(
        mine.ok()["shops"]["edges"],
        json!([{ "node": { "slug": "shop-d" } }])
    );
}

#[tokio::test]
async fn node_resolves_global_ids_and_refuses_malformed_ones() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("owner@example.com").await;
    let other = app.sign_up("other@example.com").await;
    let shop_id = app.create_shop(&owner, "acme").await;
    let product_id = app
        .create_product(&owner, &shop_id, "Mug", "9.00", Some(3))
        .await;

    let query = "query($id: ID!) { node(id: $id) { __typename id ... on Shop { slug } ... on Product { name } ... on User { email } } }";
    let shop = app.gql(query).vars(json!({ "id": shop_id })).send().await;
    assert_eq!(shop.ok()["node"]["slug"], "acme");
    let product = app
        .gql(query)
        .vars(json!({ "id": product_id }))
        .send()
        .await;
    assert_eq!(product.ok()["node"]["name"], "Mug");
    let myself = app
        .gql(query)
        .vars(json!({ "id": owner.id }))
        .as_user(&owner)
        .send()
        .await;
    assert_eq!(myself.ok()["node"]["email"], "owner@example.com");
    // Another user's account is invisible to someone who does not work with them.
    let someone_else = app
        .gql(query)
        .vars(json!({ "id": owner.id }))
        .as_user(&other)
        .send()
        .await;
    assert_eq!(someone_else.ok()["node"], json!(null));

    let malformed = app
        .gql(query)
        .vars(json!({ "id": "definitely-not-an-id" }))
        .send()
        .await;
    assert_eq!(malformed.code(), "BAD_USER_INPUT");
    assert_eq!(malformed.field().as_deref(), Some("id"));

    let wrong_kind = app
        .gql("query($id: ID!) { shop(id: $id) { id } }")
        .vars(json!({ "id": product_id }))
        .send()
        .await;
    assert_eq!(wrong_kind.code(), "BAD_USER_INPUT");
}

/// An assigned agent is shown to the customer by name, and in full to the
/// agent's colleagues; a stranger sees no conversation at all.
#[tokio::test]
async fn a_customer_sees_the_assigned_agents_name_not_their_email() {
    let app = TestApp::spawn().await;
    let staff = app.shop_with_agent().await;
    let customer = app.sign_up("customer@example.com").await;
    let conversation_id = app.start_conversation(&customer, &staff.shop_id).await;
    let assigned = app
        .gql("mutation($input: UpdateConversationInput!) { updateConversation(input: $input) { conversation { assignedAgent { id } } } }")
        .vars(json!({ "input": { "conversationId": conversation_id, "assignedAgentId": staff.agent.id } }))
        .as_user(&staff.owner)
        .send()
        .await;
    assert_eq!(
        assigned.ok()["updateConversation"]["conversation"]["assignedAgent"]["id"],
        staff.agent.id
    );
    let view = "query($id: ID!) { conversation(id: $id) { assignedAgent { id email } customer { email } } }";
    let as_customer = app
        .gql(view)
        .vars(json!({ "id": conversation_id }))
        .as_user(&customer)
        .send()
        .await;
    assert_eq!(
        as_customer.ok()["conversation"],
        json!({ "assignedAgent": { "id": staff.agent.id, "email": null }, "customer": { "email": customer.email } })
    );
    let as_owner = app
        .gql(view)
        .vars(json!({ "id": conversation_id }))
        .as_user(&staff.owner)
        .send()
        .await;
    assert_eq!(
        as_owner.ok()["conversation"],
        json!({ "assignedAgent": { "id": staff.agent.id, "email": staff.agent.email }, "customer": { "email": customer.email } })
    );
    let stranger = app.sign_up("stranger@example.com").await;
    let as_stranger = app
        .gql(view)
        .vars(json!({ "id": conversation_id }))
        .as_user(&stranger)
        .send()
        .await;
    assert_eq!(as_stranger.ok()["conversation"], json!(null));
}
