//! Token faults: a presented token that is not valid is refused, never
//! treated as anonymous.

use std::time::{SystemTime, UNIX_EPOCH};

use chatshop_tests::{GqlResponse, TestApp};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const SECRET: &str = "test-secret-test-secret-test-secret-0123";

async fn app_with_known_secret() -> TestApp {
    TestApp::spawn_with(|config| config.auth.token_secret = Some(SECRET.to_owned())).await
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sign(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn claims_for(user_uuid: &str) -> Value {
    json!({ "sub": user_uuid, "iat": now(), "exp": now() + 600, "iss": "chatshop", "aud": "chatshop-api" })
}

async fn me_with(app: &TestApp, token: &str) -> GqlResponse {
    app.gql("{ me { id } }").token(token).send().await
}

/// The uuid inside a user's token (its `sub`), read without verification.
fn subject_of(token: &str) -> String {
    let claims: Value = jsonwebtoken::dangerous::insecure_decode(token)
        .unwrap()
        .claims;
    claims["sub"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_correctly_signed_token_is_accepted() {
    let app = app_with_known_secret().await;
    let user = app.sign_up("tok@example.com").await;
    let token = sign(&claims_for(&subject_of(&user.token)), SECRET);
    assert_eq!(
        me_with(&app, &token).await.ok()["me"]["id"],
        user.id.as_str()
    );
}

#[tokio::test]
async fn expired_forged_and_misaddressed_tokens_are_unauthenticated() {
    let app = app_with_known_secret().await;
    let user = app.sign_up("tok@example.com").await;
    let subject = subject_of(&user.token);
    let mut expired = claims_for(&subject);
    expired["iat"] = json!(now() - 7200);
    expired["exp"] = json!(now() - 3600);
    let mut wrong_audience = claims_for(&subject);
    wrong_audience["aud"] = json!("another-api");
    let mut wrong_issuer = claims_for(&subject);
    wrong_issuer["iss"] = json!("someone-else");
    let mut no_expiry = claims_for(&subject);
    no_expiry.as_object_mut().unwrap().remove("exp");

    let header_none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
    let payload = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims_for(&subject).to_string())
    };
    let cases = [
        ("expired", sign(&expired, SECRET)),
        (
            "wrong signature",
            sign(
                &claims_for(&subject),
                "another-secret-another-secret-another-1",
            ),
        ),
        ("wrong audience", sign(&wrong_audience, SECRET)),
        ("wrong issuer", sign(&wrong_issuer, SECRET)),
        ("no expiry", sign(&no_expiry, SECRET)),
        ("alg none", format!("{header_none}.{payload}.")),
        ("garbage", "not.a.token".to_owned()),
    ];
    for (case, token) in cases {
        let response = me_with(&app, &token).await;
        assert_eq!(response.status, 401, "{case}: {}", response.body);
        assert_eq!(response.code(), "UNAUTHENTICATED", "{case}");
        assert!(
            response.body.get("data").is_none(),
            "{case}: {}",
            response.body
        );
    }
}

#[tokio::test]
async fn a_non_bearer_authorization_header_is_refused() {
    let app = TestApp::spawn().await;
    let response = app
        .http()
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .header("authorization", "Basic dXNlcjpwYXNz")
        .body(r#"{"query":"{ me { id } }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
}

#[tokio::test]
async fn tokens_survive_a_restart_with_the_generated_secret() {
    let first = TestApp::spawn().await;
    let user = first.sign_up("restart@example.com").await;
    let database = first.database.clone();
    drop(first);
    let second = TestApp::spawn_on(database, |_| {}).await;
    assert_eq!(
        me_with(&second, &user.token).await.ok()["me"]["id"],
        user.id.as_str()
    );
}
