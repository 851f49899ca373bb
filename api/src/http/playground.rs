//! The browser playground, embedded in the binary: no CDN, works offline.
//!
//! `build.rs` embeds every file under `playground/`. `/` serves
//! `index.html`; `/playground/<path>` serves the rest. For working on the
//! playground itself, `--playground-dir` serves the files from disk instead,
//! so an edit shows on reload without rebuilding.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::HttpState;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/playground_files.rs"));
}

/// The page talks to its own origin only (HTTP and WebSocket).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self' ws: wss:; font-src 'self' data:";

/// `GET /`: the playground page.
pub(crate) async fn index(State(state): State<HttpState>) -> Response {
    serve(&state, "index.html").await
}

/// `GET /playground/{*path}`: the playground's scripts, styles and images.
pub(crate) async fn asset(State(state): State<HttpState>, Path(path): Path<String>) -> Response {
    serve(&state, &path).await
}

async fn serve(state: &HttpState, path: &str) -> Response {
    if path.split('/').any(|part| part == ".." || part.is_empty()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let body: Option<Vec<u8>> = match &state.app.config.playground_dir {
        Some(dir) => tokio::fs::read(dir.join(path)).await.ok(),
        None => embedded::FILES
            .iter()
            .find(|(name, _)| *name == path)
            .map(|(_, bytes)| bytes.to_vec()),
    };
    let Some(body) = body else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // Vendored libraries never change under the same name; our own files may.
    let cache = if path.starts_with("vendor/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (header::CONTENT_TYPE, content_type(path)),
            (header::CACHE_CONTROL, cache),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_embedded() {
        assert!(
            embedded::FILES
                .iter()
                .any(|(name, _)| *name == "index.html")
        );
    }

    #[test]
    fn content_types_follow_extensions() {
        assert_eq!(
            content_type("vendor/graphiql.min.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("app.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("unknown"), "application/octet-stream");
    }
}
