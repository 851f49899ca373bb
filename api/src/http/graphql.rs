//! `/graphql`: GraphQL over HTTP, following the GraphQL-over-HTTP spec.
//!
//! A handler of our own rather than the stock extractor, because the details
//! matter to clients, proxies and scanners: media types are negotiated (406,
//! 415), a mutation over GET is 405 with `Allow: POST`, malformed requests are
//! 400 with a GraphQL error body, bodies are size-checked before they are read
//! (413), and batches are off unless configured.

use std::sync::Arc;

use async_graphql::parser::types::OperationType;
use async_graphql::{Request, Response as GraphqlResponse, ServerError};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::HttpState;
use super::negotiate::{self, ContentTypeProblem, GraphqlParams, PostBody, ResponseMedia};
use crate::auth::Actor;
use crate::error::{ErrorCode, classify_all};
use crate::graphql::Executor;
use crate::graphql::response_cache::{Kept, Key, Lookup, ViewerConsulted};

/// A request refused before execution: a status and one error.
struct Refusal {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    extra_headers: Vec<(header::HeaderName, HeaderValue)>,
    retry_after_secs: Option<u64>,
}

impl Refusal {
    fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra_headers: Vec::new(),
            retry_after_secs: None,
        }
    }

    fn rate_limited(wait: std::time::Duration) -> Self {
        let secs = super::rate_limit::retry_after_secs(wait);
        let mut refusal = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            format!("too many requests; retry in {secs} s"),
        );
        if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
            refusal.extra_headers.push((header::RETRY_AFTER, value));
        }
        refusal.retry_after_secs = Some(secs);
        refusal
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadUserInput, message)
    }

    fn with_header(mut self, name: header::HeaderName, value: &'static str) -> Self {
        self.extra_headers
            .push((name, HeaderValue::from_static(value)));
        self
    }

    fn into_response(self, media: ResponseMedia) -> Response {
        let mut extensions = serde_json::json!({ "code": self.code.as_str() });
        if let (Some(secs), Some(fields)) = (self.retry_after_secs, extensions.as_object_mut()) {
            fields.insert("retryAfterSecs".to_owned(), secs.into());
        }
        let body = serde_json::json!({ "errors": [{ "message": self.message, "extensions": extensions }] });
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, media.content_type())],
            body.to_string(),
        )
            .into_response();
        response.headers_mut().extend(self.extra_headers);
        response
    }
}

/// `GET /graphql`: queries only, parameters in the URL.
pub(crate) async fn get(
    State(state): State<HttpState>,
    request: axum::extract::Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let headers = &parts.headers;
    let Some(media) = negotiate_or_refuse(headers) else {
        return not_acceptable();
    };
    let outcome = async {
        let actor = authenticate(&state, headers).await?;
        rate_limit(&state, &actor, &parts.extensions)?;
        let params = negotiate::params_from_query_string(parts.uri.query().unwrap_or(""))
            .map_err(Refusal::bad_request)?;
        Ok::<_, Refusal>((actor, params))
    }
    .await;
    match outcome {
        Ok((actor, params)) => execute(&state, media, actor, params, Method::Get).await,
        Err(refusal) => refusal.into_response(media),
    }
}

/// `POST /graphql`: a JSON body.
pub(crate) async fn post(
    State(state): State<HttpState>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let Some(media) = negotiate_or_refuse(headers) else {
        return not_acceptable();
    };
    let outcome = async {
        let actor = authenticate(&state, headers).await?;
        rate_limit(&state, &actor, &parts.extensions)?;
        check_content_type(headers)?;
        let bytes = read_body(headers, body, state.app.config.limits.max_body_bytes).await?;
        let parsed = negotiate::params_from_body(&bytes).map_err(Refusal::bad_request)?;
        Ok::<_, Refusal>((actor, parsed))
    }
    .await;
    match outcome {
        Ok((actor, PostBody::Single(params))) => {
            execute(&state, media, actor, params, Method::Post).await
        }
        Ok((actor, PostBody::Batch(batch))) => execute_batch(&state, media, actor, batch).await,
        Err(refusal) => refusal.into_response(media),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

fn negotiate_or_refuse(headers: &HeaderMap) -> Option<ResponseMedia> {
    let accept = headers
        .get(header::ACCEPT)
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    negotiate::negotiate(accept)
}

fn not_acceptable() -> Response {
    Refusal::new(
        StatusCode::NOT_ACCEPTABLE,
        ErrorCode::BadUserInput,
        "acceptable response types: application/graphql-response+json, application/json",
    )
    .into_response(ResponseMedia::Json)
}

/// A presented token must be valid: a bad one is refused, never treated as
/// anonymous.
async fn authenticate(state: &HttpState, headers: &HeaderMap) -> Result<Actor, Refusal> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Actor::Anonymous);
    };
    let unauthorized = || {
        Refusal::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            "the access token is invalid or expired",
        )
        .with_header(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")
    };
    let value = value.to_str().map_err(|_| unauthorized())?;
    let verified = state
        .app
        .tokens
        .verify_any_header(value)
        .map_err(|_| unauthorized())?;
    match crate::auth::resolve(&state.app.db, &state.app.accounts, verified).await {
        Ok(Some(actor)) => Ok(actor),
        Ok(None) => Err(unauthorized()),
        Err(err) => {
            tracing::error!(error = %err, "could not check an account");
            Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Internal,
                "internal error",
            ))
        }
    }
}

/// Counts the request against the caller's rate limit.
fn rate_limit(
    state: &HttpState,
    actor: &Actor,
    extensions: &axum::http::Extensions,
) -> Result<(), Refusal> {
    let address = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    state
        .rate_limits
        .check(actor, address)
        .map_err(Refusal::rate_limited)
}

fn check_content_type(headers: &HeaderMap) -> Result<(), Refusal> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or(""));
    negotiate::check_content_type(content_type).map_err(|problem| {
        let message = match problem {
            ContentTypeProblem::Missing => "a Content-Type header is required: application/json",
            ContentTypeProblem::Unsupported => "unsupported Content-Type: send application/json",
            ContentTypeProblem::Charset => "unsupported charset: send UTF-8",
        };
        Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::BadUserInput,
            message,
        )
    })
}

/// Reads the body, refusing with 413 as soon as it is known to be too large:
/// from `Content-Length` before reading anything, or while streaming.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Refusal> {
    let too_large = || {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BadUserInput,
            format!("the request body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())?;
    if bytes.is_empty() {
        return Err(Refusal::bad_request("the request body is empty"));
    }
    Ok(bytes)
}

async fn execute(
    state: &HttpState,
    media: ResponseMedia,
    actor: Actor,
    params: GraphqlParams,
    method: Method,
) -> Response {
    let started = std::time::Instant::now();
    let responses = state.executor.responses();
    let anonymous = actor == Actor::Anonymous;
    let key = (responses.enabled() && params.extensions.0.is_empty())
        .then(|| {
            Key::new(
                &params.query,
                &params.variables,
                params.operation_name.as_deref(),
            )
        })
        .flatten();
    let mut generation = None;
    if let Some(key) = &key {
        match responses.lookup(key, anonymous) {
            Lookup::Hit(kept) => {
                let ok = GraphqlResponse::new(async_graphql::Value::Null);
                state
                    .app
                    .metrics
                    .record_operation(kept.field, &ok, started.elapsed());
                return body_response(media, kept.body);
            }
            Lookup::Miss(seen) => generation = Some(seen),
        }
    }
    let mut request = into_request(params, actor);
    // Only an answer that may be kept needs to know whether it was personal.
    let consulted = generation.map(|_| Arc::new(ViewerConsulted::default()));
    if let Some(consulted) = &consulted {
        request = request.data(consulted.clone());
    }
    let personal = || consulted.as_ref().is_none_or(|c| c.get());
    let parsed = state.executor.parse(&mut request);
    if method == Method::Get {
        // Over GET only queries run: GET must stay safe to repeat and to
        // prefetch.
        let operation_name = request.operation_name.clone();
        match request.parsed_query() {
            Ok(document) => {
                let operation = match &operation_name {
                    Some(name) => document
                        .operations
                        .iter()
                        .find(|(n, _)| n.is_some_and(|n| n.as_str() == name))
                        .map(|(_, op)| op),
                    None => document.operations.iter().next().map(|(_, op)| op),
                };
                if operation.is_some_and(|op| op.node.ty != OperationType::Query) {
                    return Refusal::new(
                        StatusCode::METHOD_NOT_ALLOWED,
                        ErrorCode::BadUserInput,
                        "only queries may be sent with GET; send mutations and subscriptions with POST",
                    )
                    .with_header(header::ALLOW, "POST")
                    .into_response(media);
                }
            }
            Err(error) => {
                return graphql_response(media, GraphqlResponse::from_errors(vec![error]));
            }
        }
    }
    let keep = match (key, generation) {
        (Some(key), Some(generation)) => match Executor::operation(&mut request) {
            Some((OperationType::Query, field)) => Some((key, generation, field)),
            _ => None,
        },
        _ => None,
    };
    let response = state.executor.execute_parsed(request, parsed).await;
    match keep {
        Some((key, generation, field))
            if response.errors.is_empty()
                && response.http_headers.is_empty()
                && (anonymous || !personal()) =>
        {
            let Ok(body) = serde_json::to_vec(&response) else {
                return graphql_response(media, response);
            };
            let body = Bytes::from(body);
            let kept = Kept {
                body: body.clone(),
                field,
            };
            responses.store(key, generation, !personal(), kept);
            body_response(media, body)
        }
        _ => graphql_response(media, response),
    }
}

/// A successful response whose body is already serialised.
fn body_response(media: ResponseMedia, body: Bytes) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, media.content_type())],
        body,
    )
        .into_response()
}

async fn execute_batch(
    state: &HttpState,
    media: ResponseMedia,
    actor: Actor,
    batch: Vec<GraphqlParams>,
) -> Response {
    let max_batch = state.app.config.limits.max_batch;
    if max_batch == 0 {
        return Refusal::bad_request(
            "batched requests are not accepted; send one operation per request",
        )
        .into_response(media);
    }
    if batch.is_empty() || batch.len() > max_batch {
        return Refusal::bad_request(format!("a batch holds 1 to {max_batch} operations"))
            .into_response(media);
    }
    let mut responses = Vec::with_capacity(batch.len());
    for params in batch {
        let response = state
            .executor
            .execute(into_request(params, actor.clone()))
            .await;
        responses.push(response);
    }
    let body = serde_json::to_string(&responses).unwrap_or_else(|_| internal_error_body());
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, media.content_type())],
        body,
    )
        .into_response()
}

fn into_request(params: GraphqlParams, actor: Actor) -> Request {
    let mut request = Request::new(params.query)
        .variables(params.variables)
        .data(actor);
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    request.extensions = params.extensions;
    request
}

/// Serialises a GraphQL response. With `application/graphql-response+json`,
/// a request that failed before execution (parse, validation, limits: no data
/// and no error with a path) is a 400; field errors are still 200.
fn graphql_response(media: ResponseMedia, mut response: GraphqlResponse) -> Response {
    classify_all(&mut response.errors);
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response
            .errors
            .iter()
            .all(|e: &ServerError| e.path.is_empty());
    let status = if request_error && media == ResponseMedia::GraphqlResponseJson {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = if request_error {
        // A request that never executed has no `data` entry at all (not `null`).
        serde_json::json!({ "errors": response.errors }).to_string()
    } else {
        serde_json::to_string(&response).unwrap_or_else(|_| internal_error_body())
    };
    let mut http_response =
        (status, [(header::CONTENT_TYPE, media.content_type())], body).into_response();
    http_response.headers_mut().extend(response.http_headers);
    http_response
}

fn internal_error_body() -> String {
    r#"{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}"#.to_owned()
}
