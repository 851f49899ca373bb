//! Tokens from an integrator's identity provider (RS256/ES256 by `kid`).

use std::time::{SystemTime, UNIX_EPOCH};

use chatshop_tests::{GqlResponse, TestApp};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const ISSUER: &str = "https://idp.example.test";
const AUDIENCE: &str = "chatshop";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");

struct Provider {
    app: TestApp,
    jwks: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn provider() -> Provider {
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::copy(format!("{FIXTURES}/idp-jwks.json"), &jwks).unwrap();
    let path = jwks.clone();
    let app = TestApp::spawn_with(move |config| {
        config.auth.idp_issuer = Some(ISSUER.to_owned());
        config.auth.idp_audience = Some(AUDIENCE.to_owned());
        config.auth.idp_jwks_file = Some(path);
    })
    .await;
    Provider {
        app,
        jwks,
        _dir: dir,
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(subject: &str) -> Value {
    json!({ "sub": subject, "iss": ISSUER, "aud": AUDIENCE, "iat": now(), "exp": now() + 600, "email": format!("{subject}@idp.example.test"), "name": subject })
}

fn sign(algorithm: Algorithm, kid: &str, claims: &Value) -> String {
    let key = if algorithm == Algorithm::ES256 {
        EncodingKey::from_ec_pem(
            &std::fs::read(format!("{FIXTURES}/idp-es256-private.pem")).unwrap(),
        )
    } else {
        EncodingKey::from_rsa_pem(
            &std::fs::read(format!("{FIXTURES}/idp-rs256-private.pem")).unwrap(),
        )
    }
    .unwrap();
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

async fn me(app: &TestApp, token: &str) -> GqlResponse {
    app.gql("{ me { id email name } }")
        .token(token)
        .send()
        .await
}

#[tokio::test]
async fn a_provider_token_signs_its_user_in_and_creates_them_once() {
    let provider = provider().await;
    let token = sign(Algorithm::ES256, "test-es256-1", &claims("alice"));
    let first = me(&provider.app, &token).await;
    let user = first.ok()["me"].clone();
    assert_eq!(user["email"], "alice@idp.example.test");
    assert_eq!(user["name"], "alice");
    let again = me(
        &provider.app,
        &sign(Algorithm::ES256, "test-es256-1", &claims("alice")),
    )
    .await;
    assert_eq!(
        again.ok()["me"]["id"],
        user["id"],
        "the same subject is the same user"
    );

    let rsa = me(
        &provider.app,
        &sign(Algorithm::RS256, "test-rs256-1", &claims("bob")),
    )
    .await;
    assert_eq!(rsa.ok()["me"]["email"], "bob@idp.example.test");

    // The user can act like any other: open a shop.
    let shop = provider
        .app
        .gql("mutation { createShop(input: { slug: \"alices-shop\", name: \"Alice's\", currencyCode: \"EUR\" }) { shop { viewerRole } } }")
        .token(&token)
        .send()
        .await;
    assert_eq!(shop.ok()["createShop"]["shop"]["viewerRole"], "OWNER");

    let mut socket = provider
        .app
        .ws_raw(Some("graphql-transport-ws"))
        .await
        .unwrap();
    socket.init(&token).await;
}

#[tokio::test]
async fn bad_provider_tokens_are_refused_on_http_and_websocket() {
    let provider = provider().await;
    let mut wrong_issuer = claims("mallory");
    wrong_issuer["iss"] = json!("https://evil.example.test");
    let mut wrong_audience = claims("mallory");
    wrong_audience["aud"] = json!("someone-else");
    let mut expired = claims("mallory");
    expired["iat"] = json!(now() - 7200);
    expired["exp"] = json!(now() - 3600);
    let cases = [
        (
            "wrong issuer",
            sign(Algorithm::ES256, "test-es256-1", &wrong_issuer),
        ),
        (
            "wrong audience",
            sign(Algorithm::ES256, "test-es256-1", &wrong_audience),
        ),
        ("expired", sign(Algorithm::ES256, "test-es256-1", &expired)),
        (
            "unknown kid",
            sign(Algorithm::ES256, "no-such-key", &claims("mallory")),
        ),
        (
            "the key of another algorithm",
            sign(Algorithm::RS256, "test-es256-1", &claims("mallory")),
        ),
    ];
    for (case, token) in cases {
        let response = me(&provider.app, &token).await;
        assert_eq!(response.status, 401, "{case}: {}", response.body);
        assert_eq!(response.code(), "UNAUTHENTICATED", "{case}");
        let mut socket = provider
            .app
            .ws_raw(Some("graphql-transport-ws"))
            .await
            .unwrap();
        socket
            .send(json!({ "type": "connection_init", "payload": { "token": token } }))
            .await;
        assert_eq!(socket.closed().await.0, 4403, "{case}");
    }
}

#[tokio::test]
async fn provider_tokens_are_refused_when_no_provider_is_configured() {
    let app = TestApp::spawn().await;
    let response = me(
        &app,
        &sign(Algorithm::ES256, "test-es256-1", &claims("alice")),
    )
    .await;
    assert_eq!(response.status, 401);
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_from_the_jwks_file() {
    let provider = provider().await;
    let mut jwks: Value =
        serde_json::from_str(&std::fs::read_to_string(&provider.jwks).unwrap()).unwrap();
    let mut rotated = jwks["keys"][0].clone();
    rotated["kid"] = json!("rotated-es256-2");
    jwks["keys"] = json!([rotated]);
    std::fs::write(&provider.jwks, jwks.to_string()).unwrap();
    let response = me(
        &provider.app,
        &sign(Algorithm::ES256, "rotated-es256-2", &claims("carol")),
    )
    .await;
    assert_eq!(response.ok()["me"]["email"], "carol@idp.example.test");
}
