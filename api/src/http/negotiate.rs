//! The pure parts of GraphQL over HTTP: media types and request parameters.
//! Kept free of I/O so each rule is unit-tested on its own.

use async_graphql::{Extensions, Variables};
use serde::Deserialize;
use serde_json::Value;

/// The media type of a GraphQL response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResponseMedia {
    /// `application/graphql-response+json`: the spec's own type; request
    /// errors get 4xx statuses.
    GraphqlResponseJson,
    /// `application/json`: the legacy type; every well-formed request gets
    /// 200, because intermediaries may swallow the bodies of 4xx responses.
    Json,
}

impl ResponseMedia {
    /// The `Content-Type` header value.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        }
    }
}

/// Picks the response media type from an `Accept` header, honouring
/// q-values; `None` means nothing acceptable (406). No header means
/// `application/json`, as the spec asks for clients that predate it.
pub(crate) fn negotiate(accept: Option<&str>) -> Option<ResponseMedia> {
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
        return Some(ResponseMedia::Json);
    };
    let mut best: Option<(u16, u8, ResponseMedia)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let mut quality: u16 = 1000;
        let mut charset_ok = true;
        for param in parts {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match key.trim().to_ascii_lowercase().as_str() {
                "q" => quality = parse_quality(value),
                "charset" => charset_ok = value.eq_ignore_ascii_case("utf-8"),
                _ => {}
            }
        }
        if quality == 0 || !charset_ok {
            continue;
        }
        // The second number breaks ties: the specific spec type first.
        let candidate = match media.as_str() {
            "application/graphql-response+json" => (quality, 3, ResponseMedia::GraphqlResponseJson),
            "application/json" => (quality, 2, ResponseMedia::Json),
            "application/*" | "*/*" => (quality, 1, ResponseMedia::Json),
            _ => continue,
        };
        if best.is_none_or(|(q, rank, _)| (candidate.0, candidate.1) > (q, rank)) {
            best = Some(candidate);
        }
    }
    best.map(|(_, _, media)| media)
}

/// q-values are 0 to 1 with up to three decimals; returned in thousandths.
fn parse_quality(value: &str) -> u16 {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    let digits: String = fraction.chars().take(3).collect();
    let thousandths = format!("{digits:0<3}").parse::<u16>().unwrap_or(0);
    match whole {
        "1" => 1000,
        "0" => thousandths,
        _ => 0,
    }
}

/// Why a POST body's `Content-Type` is refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ContentTypeProblem {
    /// No `Content-Type` at all.
    Missing,
    /// A type other than JSON, including what HTML forms can send
    /// (`text/plain`, `application/x-www-form-urlencoded`,
    /// `multipart/form-data`): refusing those stops cross-site form posts.
    Unsupported,
    /// JSON in a charset other than UTF-8.
    Charset,
}

/// Accepts `application/json` with an optional UTF-8 charset.
pub(crate) fn check_content_type(content_type: Option<&str>) -> Result<(), ContentTypeProblem> {
    let content_type = content_type
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or(ContentTypeProblem::Missing)?;
    let mut parts = content_type.split(';').map(str::trim);
    let media = parts.next().unwrap_or("");
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(ContentTypeProblem::Unsupported);
    }
    for param in parts {
        if let Some((key, value)) = param.split_once('=')
            && key.trim().eq_ignore_ascii_case("charset")
            && !value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        {
            return Err(ContentTypeProblem::Charset);
        }
    }
    Ok(())
}

/// The parameters of one GraphQL request, checked for shape.
#[derive(Debug)]
pub(crate) struct GraphqlParams {
    pub query: String,
    pub operation_name: Option<String>,
    pub variables: Variables,
    pub extensions: Extensions,
}

/// The request parameters as they travel, deserialised straight into the
/// types execution needs: no intermediate JSON tree on the hot path. Wrong
/// types (a `query` that is a number, `variables` that are a list) are
/// refused by serde with a message that says what was expected.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<Variables>,
    extensions: Option<Extensions>,
}

impl WireParams {
    fn into_params(self) -> Result<GraphqlParams, String> {
        Ok(GraphqlParams {
            query: self.query.ok_or_else(|| "`query` is missing".to_owned())?,
            operation_name: self.operation_name,
            variables: self.variables.unwrap_or_default(),
            extensions: self.extensions.unwrap_or_default(),
        })
    }
}

/// A POST body: one request, or (when the body is a JSON array) a batch.
pub(crate) enum PostBody {
    Single(GraphqlParams),
    Batch(Vec<GraphqlParams>),
}

/// Parses a POST body.
pub(crate) fn params_from_body(body: &[u8]) -> Result<PostBody, String> {
    let malformed = |err: serde_json::Error| format!("malformed request: {err}");
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        Some(b'{') => serde_json::from_slice::<WireParams>(body)
            .map_err(malformed)?
            .into_params()
            .map(PostBody::Single),
        Some(b'[') => serde_json::from_slice::<Vec<WireParams>>(body)
            .map_err(malformed)?
            .into_iter()
            .map(WireParams::into_params)
            .collect::<Result<Vec<_>, _>>()
            .map(PostBody::Batch),
        _ => Err("the request body must be a JSON object".to_owned()),
    }
}

/// Reads the parameters from a JSON value (a WebSocket `subscribe` payload).
pub(crate) fn params_from_json(payload: Value) -> Result<GraphqlParams, String> {
    if !payload.is_object() {
        return Err("the payload must be a JSON object".to_owned());
    }
    serde_json::from_value::<WireParams>(payload)
        .map_err(|err| format!("malformed request: {err}"))?
        .into_params()
}

/// Reads the parameters from a URL query string (a GET request), where
/// `variables` and `extensions` are JSON-encoded.
pub(crate) fn params_from_query_string(query_string: &str) -> Result<GraphqlParams, String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query_string)
        .map_err(|_| "the query string is malformed".to_owned())?;
    let mut wire = WireParams {
        query: None,
        operation_name: None,
        variables: None,
        extensions: None,
    };
    for (key, value) in pairs {
        match key.as_str() {
            "query" => wire.query = Some(value),
            "operationName" => wire.operation_name = Some(value).filter(|v| !v.is_empty()),
            "variables" if !value.is_empty() => {
                wire.variables = Some(
                    serde_json::from_str(&value)
                        .map_err(|_| "`variables` must be a JSON-encoded object".to_owned())?,
                );
            }
            "extensions" if !value.is_empty() => {
                wire.extensions = Some(
                    serde_json::from_str(&value)
                        .map_err(|_| "`extensions` must be a JSON-encoded object".to_owned())?,
                );
            }
            _ => {}
        }
    }
    wire.into_params()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn no_accept_header_means_json() {
        assert_eq!(negotiate(None), Some(ResponseMedia::Json));
        assert_eq!(negotiate(Some("")), Some(ResponseMedia::Json));
    }

    #[test]
    fn the_spec_media_type_wins_ties() {
        assert_eq!(
            negotiate(Some("application/json, application/graphql-response+json")),
            Some(ResponseMedia::GraphqlResponseJson)
        );
        assert_eq!(negotiate(Some("*/*")), Some(ResponseMedia::Json));
    }

    #[test]
    fn q_values_are_honoured() {
        assert_eq!(
            negotiate(Some(
                "application/graphql-response+json;q=0.5, application/json"
            )),
            Some(ResponseMedia::Json)
        );
        assert_eq!(negotiate(Some("application/json;q=0")), None);
    }

    #[test]
    fn unacceptable_types_give_none() {
        assert_eq!(negotiate(Some("text/html")), None);
        assert_eq!(
            negotiate(Some("application/json; charset=iso-8859-1")),
            None
        );
        assert_eq!(
            negotiate(Some("application/json; charset=utf-8")),
            Some(ResponseMedia::Json)
        );
    }

    #[test]
    fn only_utf8_json_bodies_are_accepted() {
        assert_eq!(check_content_type(Some("application/json")), Ok(()));
        assert_eq!(
            check_content_type(Some("Application/JSON; charset=UTF-8")),
            Ok(())
        );
        assert_eq!(check_content_type(None), Err(ContentTypeProblem::Missing));
        assert_eq!(
            check_content_type(Some("text/plain")),
            Err(ContentTypeProblem::Unsupported)
        );
        assert_eq!(
            check_content_type(Some("application/x-www-form-urlencoded")),
            Err(ContentTypeProblem::Unsupported)
        );
        assert_eq!(
            check_content_type(Some("application/json; charset=latin1")),
            Err(ContentTypeProblem::Charset)
        );
    }

    fn single(body: serde_json::Value) -> Result<GraphqlParams, String> {
        match params_from_body(body.to_string().as_bytes())? {
            PostBody::Single(params) => Ok(params),
            PostBody::Batch(_) => Err("batch".to_owned()),
        }
    }

    #[test]
    fn json_params_are_checked_for_shape() {
        assert!(single(json!({"query": "{ me { id } }"})).is_ok());
        assert!(single(json!({})).is_err());
        assert!(single(json!({"query": 1})).is_err());
        assert!(single(json!({"query": "{a}", "variables": "x"})).is_err());
        assert!(single(json!({"query": "{a}", "variables": []})).is_err());
        assert!(single(json!({"query": "{a}", "operationName": 1})).is_err());
        assert!(single(json!({"query": "{a}", "extensions": "x"})).is_err());
        assert!(params_from_body(b"\"text\"").is_err());
        assert!(
            matches!(params_from_body(br#"[{"query":"{a}"}]"#), Ok(PostBody::Batch(batch)) if batch.len() == 1)
        );
        let params =
            single(json!({"query": "{a}", "variables": {"x": 1}, "operationName": null})).unwrap();
        assert_eq!(
            params.variables.get(&async_graphql::Name::new("x")),
            Some(&async_graphql::Value::from(1))
        );
        assert!(params_from_json(json!([1])).is_err());
    }

    #[test]
    fn query_string_params_are_decoded() {
        let params =
            params_from_query_string("query=%7B%20a%20%7D&variables=%7B%22x%22%3A1%7D").unwrap();
        assert_eq!(params.query, "{ a }");
        assert_eq!(
            params.variables.get(&async_graphql::Name::new("x")),
            Some(&async_graphql::Value::from(1))
        );
        assert!(params_from_query_string("variables=%7B%7D").is_err());
        assert!(params_from_query_string("query=%7Ba%7D&variables=%5B%5D").is_err());
    }
}
