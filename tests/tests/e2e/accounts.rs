//! Sign-up, sign-in and `me`.

use chatshop_tests::{PASSWORD, TestApp};
use serde_json::json;

const SIGN_UP: &str = "mutation($input: SignUpInput!) { signUp(input: $input) { token expiresAt user { id email name } } }";
const SIGN_IN: &str =
    "mutation($input: SignInInput!) { signIn(input: $input) { token user { id email } } }";
const ME: &str = "{ me { id email name } }";

#[tokio::test]
async fn a_new_user_signs_up_and_is_recognised_by_their_token() {
    let app = TestApp::spawn().await;
    let response = app
        .gql(SIGN_UP)
        .vars(json!({ "input": { "email": "Ada@Example.com", "name": " Ada ", "password": PASSWORD } }))
        .send()
        .await;
    let payload = &response.ok()["signUp"];
    assert_eq!(payload["user"]["email"], "ada@example.com");
    assert_eq!(payload["user"]["name"], "Ada");
    let token = payload["token"].as_str().unwrap();

    let me = app.gql(ME).token(token).send().await;
    assert_eq!(me.ok()["me"]["id"], payload["user"]["id"]);
}

#[tokio::test]
async fn me_is_null_without_a_token() {
    let app = TestApp::spawn().await;
    assert_eq!(app.gql(ME).send().await.ok()["me"], json!(null));
}

#[tokio::test]
async fn sign_in_accepts_the_email_in_any_case() {
    let app = TestApp::spawn().await;
    let user = app.sign_up("grace@example.com").await;
    let response = app
        .gql(SIGN_IN)
        .vars(json!({ "input": { "email": "GRACE@example.COM", "password": PASSWORD } }))
        .send()
        .await;
    assert_eq!(response.ok()["signIn"]["user"]["id"], user.id.as_str());
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_look_the_same() {
    let app = TestApp::spawn().await;
    app.sign_up("grace@example.com").await;
    let wrong_password = app
        .gql(SIGN_IN)
        .vars(json!({ "input": { "email": "grace@example.com", "password": "not the password" } }))
        .send()
        .await;
    let unknown_email = app
        .gql(SIGN_IN)
        .vars(json!({ "input": { "email": "nobody@example.com", "password": "not the password" } }))
        .send()
        .await;
    assert_eq!(wrong_password.code(), "UNAUTHENTICATED");
    assert_eq!(unknown_email.code(), "UNAUTHENTICATED");
    assert_eq!(
        wrong_password.errors()[0]["message"],
        unknown_email.errors()[0]["message"]
    );
}

#[tokio::test]
async fn an_email_is_unique_whatever_its_case() {
    let app = TestApp::spawn().await;
    app.sign_up("linus@example.com").await;
    let response = app
        .gql(SIGN_UP)
        .vars(json!({ "input": { "email": "LINUS@example.com", "name": "Other", "password": PASSWORD } }))
        .send()
        .await;
    assert_eq!(response.code(), "CONFLICT");
}

#[tokio::test]
async fn bad_sign_up_input_names_the_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let huge_name = "x".repeat(100_000);
    let cases = [
        (
            json!({ "email": "not-an-email", "name": "Ada", "password": PASSWORD }),
            "input.email",
        ),
        (
            json!({ "email": "ada@example.com", "name": "   ", "password": PASSWORD }),
            "input.name",
        ),
        (
            json!({ "email": "ada@example.com", "name": huge_name, "password": PASSWORD }),
            "input.name",
        ),
        (
            json!({ "email": "ada@example.com", "name": "Ada", "password": "short" }),
            "input.password",
        ),
        (
            json!({ "email": "ada@example.com", "name": "Ada", "password": "password123" }),
            "input.password",
        ),
    ];
    for (input, field) in cases {
        let response = app
            .gql(SIGN_UP)
            .vars(json!({ "input": input }))
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
        assert!(response.data().is_null(), "{}", response.body);
    }
    // None of the refused attempts created the account.
    let sign_in = app
        .gql(SIGN_IN)
        .vars(json!({ "input": { "email": "ada@example.com", "password": PASSWORD } }))
        .send()
        .await;
    assert_eq!(sign_in.code(), "UNAUTHENTICATED");
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_hashes() {
    use sea_orm::{ConnectionTrait, Statement};
    let app = TestApp::spawn().await;
    app.sign_up("hash@example.com").await;
    let db = app.chatshop.database();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT password_hash FROM users",
        ))
        .await
        .unwrap()
        .unwrap();
    let hash: String = row.try_get("", "password_hash").unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(chatshop_tests::PASSWORD));
}

#[tokio::test]
async fn deleting_my_data_on_one_instance_ends_my_sessions_on_the_others_at_once() {
    // Instances remember for a moment that an account is active; a deletion
    // must not wait for that to run out. Several instances share a database
    // only on PostgreSQL, so this test always uses it.
    let database = std::sync::Arc::new(chatshop_tests::TestDatabase::create_postgres().await);
    let first = TestApp::spawn_on(database.clone(), |_| {}).await;
    let second = TestApp::spawn_on(database, |_| {}).await;
    let user = first.sign_up("leaving@example.com").await;
    // The second instance has just seen the account active.
    let me = second.gql(ME).token(&user.token).send().await;
    assert_eq!(me.ok()["me"]["id"], user.id.as_str());

    let deleted = first
        .gql("mutation { deleteMyData { deleted } }")
        .token(&user.token)
        .send()
        .await;
    assert_eq!(deleted.ok()["deleteMyData"]["deleted"], true);
    assert_eq!(first.gql(ME).token(&user.token).send().await.status, 401);

    // Well inside the one second an "active" answer is believed for.
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(600);
    loop {
        let me = second.gql(ME).token(&user.token).send().await;
        if me.status == 401 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the second instance still accepts the deleted user: {}",
            me.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
