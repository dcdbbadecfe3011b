//! The axum application: routes, OpenAPI document and docs, and the middleware stack.

use crate::error;
use crate::openapi::ApiDoc;
use crate::routes::{
    api_keys, auth, billing, dubs, health, review, users, versions, videos, voices,
    webhook_endpoints, webhooks,
};
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, Request};
use axum::{Router, middleware};
use onevoice_shared::settings::ApiSettings;
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowHeaders, AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The OpenAPI document of every route, as served at `/openapi.json`.
pub fn openapi() -> serde_json::Value {
    documented_routes(0).1
}

/// The routes and their finished OpenAPI document.
fn documented_routes(avatar_max_bytes: usize) -> (Router<AppState>, serde_json::Value) {
    let (router, openapi) = routes(avatar_max_bytes).split_for_parts();
    (router, crate::openapi::finish(openapi))
}

fn routes(avatar_max_bytes: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(auth::router())
        .merge(users::router(avatar_max_bytes))
        .merge(api_keys::router())
        .merge(webhook_endpoints::router())
        .merge(videos::router())
        .merge(dubs::router())
        .merge(review::router())
        .merge(versions::router())
        .merge(voices::router())
        .merge(billing::router())
        .merge(webhooks::router())
}

pub fn router(state: AppState) -> Router {
    let (router, openapi) = documented_routes(state.settings.auth.avatar_max_bytes);
    let cors = cors(&state.settings.api);
    let body_limit = state.settings.api.max_request_body_bytes;
    router
        // Swagger UI's files are compiled into the binary (the crate's vendored copy): the docs
        // work without internet.
        .merge(SwaggerUi::new("/docs").external_url_unchecked("/openapi.json", openapi))
        .fallback(error::not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                    let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(cors)
                .layer(middleware::from_fn(error::envelope))
                // A panic answers 500 in the envelope instead of dropping the connection.
                .layer(CatchPanicLayer::new()),
        )
}

fn cors(settings: &ApiSettings) -> CorsLayer {
    let base = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .max_age(Duration::from_secs(600));
    match &settings.cors_allowed_origins {
        // Any origin, so no credentials (browsers refuse the combination).
        None => base.allow_origin(Any).allow_headers(Any),
        Some(origins) => {
            let origins: Vec<HeaderValue> = origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect();
            base.allow_origin(AllowOrigin::list(origins))
                .allow_headers(AllowHeaders::mirror_request())
                .allow_credentials(true)
        }
    }
}
