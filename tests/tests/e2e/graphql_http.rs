//! GraphQL over HTTP: status codes, media types and limits, through the real
//! router. The public `graphql-http` audit runs against the server in CI too;
//! these tests pin the behaviour that audit does not cover.

use chatshop_tests::{GqlResponse, TestApp};
use serde_json::{Value, json};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

async fn post_raw(
    app: &TestApp,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = app.http().post(app.url("/graphql")).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    request.send().await.unwrap()
}

fn content_type(response: &reqwest::Response) -> String {
    response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn shop_count(app: &TestApp) -> usize {
    let response = app.gql("{ shops { edges { node { id } } } }").send().await;
    response.ok()["shops"]["edges"].as_array().unwrap().len()
}

#[tokio::test]
async fn the_response_media_type_follows_the_accept_header() {
    let app = TestApp::spawn().await;
    let body = r#"{"query":"{ __typename }"}"#;
    for (accept, expected) in [
        (None, "application/json; charset=utf-8"),
        (Some("application/json"), "application/json; charset=utf-8"),
        (
            Some(GRAPHQL_RESPONSE_JSON),
            "application/graphql-response+json; charset=utf-8",
        ),
        (Some("*/*"), "application/json; charset=utf-8"),
    ] {
        let response = post_raw(&app, Some("application/json"), accept, body).await;
        assert_eq!(response.status(), 200);
        assert_eq!(content_type(&response), expected, "Accept: {accept:?}");
        let json: Value = response.json().await.unwrap();
        assert_eq!(json["data"]["__typename"], "Query");
    }
    let refused = post_raw(&app, Some("application/json"), Some("text/html"), body).await;
    assert_eq!(refused.status(), 406);
}

#[tokio::test]
async fn bodies_a_browser_form_could_send_are_refused() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("owner@example.com").await;
    let mutation = r#"{"query":"mutation { createShop(input: {slug: \"csrf\", name: \"x\", currencyCode: \"USD\"}) { shop { id } } }"}"#;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let mut request = app
            .http()
            .post(app.url("/graphql"))
            .bearer_auth(&owner.token)
            .body(mutation);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 415, "{content_type:?}");
        let body = GqlResponse::read(response).await;
        assert_eq!(body.code(), "BAD_USER_INPUT");
    }
    assert_eq!(shop_count(&app).await, 0);
}

#[tokio::test]
async fn malformed_requests_are_400_with_a_graphql_error() {
    let app = TestApp::spawn().await;
    for body in [
        "{not json",
        "",
        r#"{"variables":{}}"#,
        r#"{"query":42}"#,
        r#"{"query":"{ __typename }","variables":"x"}"#,
        r#"{"query":"{ __typename }","operationName":7}"#,
        "[]",
        r#"[{"query":"{ __typename }"}]"#,
    ] {
        let response = post_raw(
            &app,
            Some("application/json"),
            Some(GRAPHQL_RESPONSE_JSON),
            body,
        )
        .await;
        assert_eq!(response.status(), 400, "{body}");
        let parsed = GqlResponse::read(response).await;
        assert_eq!(parsed.code(), "BAD_USER_INPUT", "{body}");
        assert!(parsed.body.get("data").is_none(), "{body}");
    }
}

#[tokio::test]
async fn parse_and_validation_errors_depend_on_the_media_type() {
    let app = TestApp::spawn().await;
    for query in ["{", "{ noSuchField }"] {
        let body = json!({ "query": query }).to_string();
        let spec = post_raw(
            &app,
            Some("application/json"),
            Some(GRAPHQL_RESPONSE_JSON),
            body.clone(),
        )
        .await;
        assert_eq!(spec.status(), 400, "{query}");
        let legacy = post_raw(
            &app,
            Some("application/json"),
            Some("application/json"),
            body,
        )
        .await;
        assert_eq!(legacy.status(), 200, "{query}");
        let parsed = GqlResponse::read(legacy).await;
        assert_eq!(parsed.code(), "BAD_USER_INPUT");
    }
}

#[tokio::test]
async fn field_errors_are_200_even_with_the_spec_media_type() {
    let app = TestApp::spawn().await;
    let response = app
        .gql("mutation { createShop(input: { slug: \"x\", name: \"x\", currencyCode: \"USD\" }) { shop { id } } }")
        .send()
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.code(), "UNAUTHENTICATED");
}

#[tokio::test]
async fn get_runs_queries_and_refuses_mutations() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("owner@example.com").await;
    let query = app
        .http()
        .get(app.url("/graphql"))
        .query(&[
            (
                "query",
                "query Me($x: Int) { me { email } shops(first: $x) { edges { node { id } } } }",
            ),
            ("variables", r#"{"x":1}"#),
            ("operationName", "Me"),
        ])
        .bearer_auth(&owner.token)
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 200);
    let parsed = GqlResponse::read(query).await;
    assert_eq!(parsed.ok()["me"]["email"], "owner@example.com");

    let mutation = app
        .http()
        .get(app.url("/graphql"))
        .query(&[("query", "mutation { createShop(input: {slug: \"via-get\", name: \"x\", currencyCode: \"USD\"}) { shop { id } } }")])
        .bearer_auth(&owner.token)
        .send()
        .await
        .unwrap();
    assert_eq!(mutation.status(), 405);
    assert_eq!(mutation.headers()["allow"], "POST");
    assert_eq!(shop_count(&app).await, 0);

    let missing_query = app.http().get(app.url("/graphql")).send().await.unwrap();
    assert_eq!(missing_query.status(), 400);
}

#[tokio::test]
async fn other_methods_are_405_with_an_allow_header() {
    let app = TestApp::spawn().await;
    let response = app
        .http()
        .put(app.url("/graphql"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
}

#[tokio::test]
async fn oversized_bodies_are_refused_before_they_are_read() {
    let app = TestApp::spawn_with(|config| config.limits.max_body_bytes = 1024).await;
    let padding = "x".repeat(4096);
    let body =
        json!({ "query": "{ __typename }", "extensions": { "padding": padding } }).to_string();
    let response = post_raw(&app, Some("application/json"), None, body).await;
    assert_eq!(response.status(), 413);
    assert_eq!(GqlResponse::read(response).await.code(), "BAD_USER_INPUT");

    // A streamed body without a length is cut off at the limit too.
    let chunks: Vec<Result<String, std::io::Error>> =
        (0..64).map(|_| Ok("x".repeat(1024))).collect();
    let stream = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let response = post_raw(&app, Some("application/json"), None, stream).await;
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn queries_deeper_than_the_limit_are_refused() {
    let app = TestApp::spawn_with(|config| config.limits.max_depth = 4).await;
    let deep = "{ shops { edges { node { products { edges { node { shop { name } } } } } } } }";
    let response = app.gql(deep).send().await;
    assert_eq!(response.code(), "BAD_USER_INPUT");
    assert_eq!(response.status, 400);
}

#[tokio::test]
async fn the_standard_introspection_query_passes_the_default_limits() {
    // What GraphiQL, graphql-codegen and IDEs send: `ofType` nested nine
    // levels deep under `__schema`, deeper than any data query may go.
    let app = TestApp::spawn().await;
    let type_ref = format!(
        "kind name {}",
        "ofType { kind name ".repeat(9) + &"}".repeat(9)
    );
    let introspection = format!(
        "query IntrospectionQuery {{ __schema {{ description queryType {{ name }} mutationType {{ name }} \
         subscriptionType {{ name }} types {{ kind name description \
         fields(includeDeprecated: true) {{ name description args(includeDeprecated: true) {{ name description type {{ {type_ref} }} defaultValue }} \
         type {{ {type_ref} }} isDeprecated deprecationReason }} \
         inputFields(includeDeprecated: true) {{ name type {{ {type_ref} }} defaultValue }} \
         interfaces {{ {type_ref} }} enumValues(includeDeprecated: true) {{ name isDeprecated }} \
         possibleTypes {{ {type_ref} }} }} \
         directives {{ name locations args {{ name type {{ {type_ref} }} }} }} }} }}"
    );
    let response = app.gql(&introspection).send().await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    let types = response.body["data"]["__schema"]["types"]
        .as_array()
        .unwrap();
    assert!(types.iter().any(|t| t["name"] == "Subscription"));

    // The same depth through data fields is still refused.
    let deep = "{ shops { edges { node { products { edges { node { shop { products { edges { node { shop { products { edges { node { name } } } } } } } } } } } } } } }";
    let response = app.gql(deep).send().await;
    assert_eq!(response.code(), "BAD_USER_INPUT");
}

#[tokio::test]
async fn batches_run_only_when_enabled_and_within_the_cap() {
    let app = TestApp::spawn_with(|config| config.limits.max_batch = 2).await;
    let two = r#"[{"query":"{ __typename }"},{"query":"{ me { id } }"}]"#;
    let response = post_raw(&app, Some("application/json"), None, two).await;
    assert_eq!(response.status(), 200);
    let json: Value = response.json().await.unwrap();
    assert_eq!(json[0]["data"]["__typename"], "Query");
    assert_eq!(json[1]["data"]["me"], Value::Null);

    let three =
        r#"[{"query":"{ __typename }"},{"query":"{ __typename }"},{"query":"{ __typename }"}]"#;
    let response = post_raw(&app, Some("application/json"), None, three).await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::spawn().await;
    let health = app.http().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.http().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "ready");
}

#[tokio::test]
async fn the_playground_is_served_and_can_be_switched_off() {
    let app = TestApp::spawn().await;
    let page = app.http().get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(content_type(&page).starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("://cdn") && !html.contains("unpkg") && !html.contains("jsdelivr"),
        "the playground must not load from a CDN"
    );
    // Every script and stylesheet the page names is served by the server itself.
    let assets: Vec<&str> = html
        .split(['"', '\''])
        .filter(|part| part.starts_with("playground/") && part.ends_with(['s', 'l']))
        .collect();
    assert!(assets.len() >= 8, "scripts and styles: {assets:?}");
    for asset in assets {
        let response = app
            .http()
            .get(app.url(&format!("/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        let expected = if asset.ends_with(".css") {
            "text/css"
        } else {
            "text/javascript"
        };
        assert!(content_type(&response).starts_with(expected), "{asset}");
        let cache = response.headers()[reqwest::header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            cache.contains("immutable"),
            asset.starts_with("playground/vendor/"),
            "{asset}: {cache}"
        );
    }
    let missing = app
        .http()
        .get(app.url("/playground/../Cargo.toml"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let without = TestApp::spawn_with(|config| config.playground = false).await;
    let response = without.http().get(without.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn too_many_aliases_or_root_fields_are_refused() {
    let app = TestApp::spawn_with(|config| {
        config.limits.max_aliases = 3;
        config.limits.max_root_fields = 2;
    })
    .await;
    let aliases = app
        .gql("{ a: me { id } b: me { id } c: me { id } d: me { id } }")
        .send()
        .await;
    assert_eq!(aliases.code(), "BAD_USER_INPUT");
    assert!(
        aliases.errors()[0]["message"]
            .as_str()
            .unwrap()
            .contains("aliases"),
        "{}",
        aliases.body
    );
    let roots = app
        .gql("{ me { id } shops { edges { cursor } } rateCard { category } }")
        .send()
        .await;
    assert_eq!(roots.code(), "BAD_USER_INPUT");
    assert!(
        roots.errors()[0]["message"]
            .as_str()
            .unwrap()
            .contains("root fields"),
        "{}",
        roots.body
    );
    assert_eq!(
        app.gql("{ a: me { id } b: me { id } }").send().await.ok()["a"],
        Value::Null
    );
}

#[tokio::test]
async fn list_complexity_is_weighted_by_page_size() {
    let app = TestApp::spawn_with(|config| config.limits.max_complexity = 1_000).await;
    let nested = "query($n: Int) { shops(first: $n) { edges { node { products(first: $n) { edges { node { name price { amount } } } } } } } }";
    let small = app.gql(nested).vars(json!({ "n": 5 })).send().await;
    assert!(small.errors().is_empty(), "{}", small.body);
    let large = app.gql(nested).vars(json!({ "n": 100 })).send().await;
    assert_eq!(large.code(), "BAD_USER_INPUT");
    assert_eq!(large.status, 400);
}

#[tokio::test]
async fn metrics_count_operations_by_root_field_and_outcome() {
    let app = TestApp::spawn().await;
    app.gql("{ shops { edges { cursor } } }").send().await.ok();
    app.gql("mutation { createShop(input: { slug: \"nope\", name: \"x\", currencyCode: \"USD\" }) { shop { id } } }").send().await;
    let user = app.sign_up("metrics@example.com").await;
    let _socket = app.ws_as(&user).await;
    let text = app
        .http()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"chatshop_graphql_operations_total{field="shops",outcome="ok"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"chatshop_graphql_operations_total{field="createShop",outcome="UNAUTHENTICATED"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains("chatshop_graphql_operation_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("chatshop_websocket_connections 1"), "{text}");
}

#[tokio::test]
async fn a_rate_limited_client_is_told_when_to_come_back_and_then_served() {
    let app = TestApp::spawn_with(|config| {
        config.limits.rate_limit_user_per_sec = 1;
        config.limits.rate_limit_ip_per_sec = 1;
    })
    .await;
    // Anonymous callers count by address: a burst of 2, then a refusal.
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..3 {
        let response = post_raw(
            &app,
            Some("application/json"),
            None,
            r#"{"query":"{ __typename }"}"#,
        )
        .await;
        statuses.push(response.status().as_u16());
        last = Some(response);
    }
    assert_eq!(statuses, [200, 200, 429]);
    let refused = last.unwrap();
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after));
    let body = GqlResponse::read(refused).await;
    assert_eq!(body.code(), "RATE_LIMITED");
    assert_eq!(
        body.errors()[0]["extensions"]["retryAfterSecs"],
        retry_after
    );

    tokio::time::sleep(std::time::Duration::from_secs(retry_after)).await;
    let again = post_raw(
        &app,
        Some("application/json"),
        None,
        r#"{"query":"{ __typename }"}"#,
    )
    .await;
    assert_eq!(again.status(), 200);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let fresh = post_raw(
        &app,
        Some("application/json"),
        None,
        r#"{"query":"{ __typename }"}"#,
    )
    .await;
    let id = fresh.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 32, "{id}");
    let echoed = app
        .http()
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .header("x-request-id", "trace-1234")
        .body(r#"{"query":"{ __typename }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-1234");
    let hostile = app
        .http()
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .header("x-request-id", "a\"b; drop")
        .body(r#"{"query":"{ __typename }"}"#)
        .send()
        .await
        .unwrap();
    assert_ne!(
        hostile.headers()["x-request-id"],
        "a\"b; drop",
        "only sane ids are echoed"
    );
}

#[tokio::test]
async fn introspection_and_suggestions_can_be_switched_off() {
    let app = TestApp::spawn_with(|config| config.limits.introspection = false).await;
    // With introspection off, async-graphql answers the schema as null.
    let introspection = app.gql("{ __schema { types { name } } }").send().await;
    assert_eq!(
        introspection.data()["__schema"],
        Value::Null,
        "{}",
        introspection.body
    );
    let typo = app.gql("{ shopz { edges { cursor } } }").send().await;
    let message = typo.errors()[0]["message"].as_str().unwrap().to_owned();
    assert!(!message.contains("Did you mean"), "{message}");
    let on = TestApp::spawn().await;
    let typo = on.gql("{ shopz { edges { cursor } } }").send().await;
    assert!(
        typo.errors()[0]["message"]
            .as_str()
            .unwrap()
            .contains("Did you mean"),
        "{}",
        typo.body
    );
}

/// A document that passed validation once has only its variables checked on
/// later requests: every variable that full validation refuses must still
/// be refused, exactly as for a document never seen before.
#[tokio::test]
async fn a_document_validated_once_still_has_its_variables_refused() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("validated-owner@example.com").await;
    let shop_id = app.create_shop(&owner, "validated").await;
    let customer = app.sign_up("validated-customer@example.com").await;
    let conversation_id = app.start_conversation(&customer, &shop_id).await;
    const SEND: &str =
        "mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { seq } } }";
    // The same operation in a text never validated.
    let unseen = format!("{SEND} ");

    for seq in 1..=2 {
        let sent = app
            .gql(SEND)
            .as_user(&customer)
            .vars(json!({ "input": { "conversationId": conversation_id, "text": format!("hello {seq}") } }))
            .send()
            .await;
        assert_eq!(sent.ok()["sendMessage"]["message"]["seq"], seq);
    }

    // Refused by validation (400), but for a string where the input object
    // belongs, which async-graphql lets through to execution (a field
    // error, 200): either way, the same as for a document never validated.
    let refused = [
        (json!({ "conversationId": conversation_id, "text": 5 }), 400),
        (
            json!({ "conversationId": conversation_id, "text": "x", "unknown": 1 }),
            400,
        ),
        (json!({ "text": "no conversation" }), 400),
        (json!({ "conversationId": null, "text": "x" }), 400),
        (
            json!({ "conversationId": conversation_id, "text": "x", "category": "NO_SUCH_CATEGORY" }),
            400,
        ),
        (
            json!({ "conversationId": [conversation_id], "text": "x" }),
            400,
        ),
        (Value::Null, 400),
        (json!("not an object"), 200),
    ];
    for (input, status) in refused {
        let variables = json!({ "input": input });
        let validated = app
            .gql(SEND)
            .as_user(&customer)
            .vars(variables.clone())
            .send()
            .await;
        let first_time = app
            .gql(&unseen)
            .as_user(&customer)
            .vars(variables)
            .send()
            .await;
        assert_eq!(validated.status, status, "{input}: {:?}", validated.body);
        assert_eq!(validated.code(), "BAD_USER_INPUT", "{input}");
        assert!(validated.body["data"].is_null(), "{input}");
        assert_eq!(validated.body, first_time.body, "{input}");
        assert_eq!(validated.status, first_time.status, "{input}");
    }

    // Variables that pass run on the validated text, a null inside included.
    let sent = app
        .gql(SEND)
        .as_user(&customer)
        .vars(json!({ "input": { "conversationId": conversation_id, "text": "third", "category": null } }))
        .send()
        .await;
    assert_eq!(sent.ok()["sendMessage"]["message"]["seq"], 3);
    let (_, messages) = app.history(&customer, &conversation_id).await;
    assert_eq!(messages.len(), 3, "no refused send was stored");
}
