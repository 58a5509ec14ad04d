//! The dashboard (`/`, `/www/…`) and the npm package's browser files it imports (`/pkg/…`):
//! built into the binary by build.rs, or served from directories given with `--www` (and the
//! hidden `--package`) while developing them.

use super::{problem, Shared};
use crate::serve::ServeOptions;
use axum::extract::Path as UrlPath;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use tower_http::services::ServeDir;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/assets.rs"));
}

/// `/`, `/www/…` and `/pkg/…` on top of `router`.
pub(super) fn routes(router: Router<Arc<Shared>>, options: &ServeOptions) -> Router<Arc<Shared>> {
    let router = router.route("/", get(dashboard));
    let router = match &options.www {
        Some(dir) => router.nest_service("/www", ServeDir::new(dir)),
        None => router
            .route("/www/{file}", get(|UrlPath(file): UrlPath<String>| async move { file_in(embedded::WWW, &file) })),
    };
    match &options.package {
        Some(dir) => router.nest_service("/pkg", ServeDir::new(dir)),
        None => router.route(
            "/pkg/{dir}/{file}",
            get(|UrlPath((dir, file)): UrlPath<(String, String)>| async move {
                match dir.as_str() {
                    "src" => file_in(embedded::PKG_SRC, &file),
                    "dist" => file_in(embedded::PKG_DIST, &file),
                    "cdn" => file_in(embedded::PKG_CDN, &file),
                    _ => missing(&file),
                }
            }),
        ),
    }
}

async fn dashboard() -> Response {
    let mut response = Redirect::to("/www/index.html").into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A file of an embedded directory: looked up by exact name, so no path reaches the disk.
fn file_in(files: &'static [(&'static str, &'static [u8])], name: &str) -> Response {
    let Some((_, bytes)) = files.iter().find(|(n, _)| *n == name) else { return missing(name) };
    let mut response = (*bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    // The binary is the version: a new vexil may serve new files under the same names.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn missing(name: &str) -> Response {
    problem(StatusCode::NOT_FOUND, format!("{name:?}: not one of the dashboard's files"))
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// Whether the built-in dashboard can load: its files and the wasm it imports.
pub(super) fn embedded_dashboard_complete() -> bool {
    embedded::WWW.iter().any(|(n, _)| *n == "index.html")
        && embedded::PKG_DIST.iter().any(|(n, _)| *n == "vexil_bg.wasm")
}
