//! The OpenAPI document, generated from the handlers' annotations, and its interactive docs.
//!
//! Handlers document the answers that belong to them (200, 404, 409, ...) and their fields'
//! limits. Two rules that hold for every route are applied here, in one place, after the routes
//! are merged ([`finish`]):
//! - the answers every route of a kind can give ([`document_common_answers`]), so that the
//!   document lists every status the API can send without repeating it on sixty handlers;
//! - the characters text fields take ([`document_text_patterns`]), the rule of `crate::text`.

use axum::http::Method;
use serde_json::{Map, Value, json};
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "OneVoice API", description = "AI video dubbing: upload a video, dub it into another language, download the result.\n\nEvery error answers with the envelope `{\"error\", \"message\", \"details\"}` (`ErrorBody`). A request that does not match this document gets 422 (`VALIDATION_ERROR`, `details.errors` naming each field), 413 when its body is too large and 415 without `Content-Type: application/json`; 401 means a missing, invalid or expired access token or API key; 403 means an API key without the scope the route needs (`read`, `dub`, `billing`), a route for signed-in sessions only (keys, sign-in, account changes), or a plan without API access; 503 means a dependency is unavailable for a moment and the request may be repeated."),
    modifiers(&BearerAuth),
    components(schemas(crate::error::ErrorBody, crate::error::FieldError)),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "auth", description = "Signup, login, tokens, password reset"),
        (name = "users", description = "Profile, preferences, activity, account"),
        (name = "keys", description = "API keys for integrations (plans with API access)"),
        (name = "videos", description = "Uploads and downloads"),
        (name = "jobs", description = "Dubbing jobs"),
        (name = "review", description = "A finished dub's lines: segments, edits, fit report"),
        (name = "voices", description = "Voices cloned from speakers (the voice library)"),
        (name = "billing", description = "Plans, subscription and payments (Paddle Billing)"),
        (name = "webhooks", description = "Signed webhooks: endpoints that receive your jobs' and videos' events, and their delivery logs; and the events Paddle sends us"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

const API_KEY_SCHEME: &str = "api_key";

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An access token from /api/auth/login, or an API key (`ov_…`) from /api/keys",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            API_KEY_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "An API key (`ov_…`) from /api/keys, instead of `Authorization: Bearer`",
            ))),
        );
    }
}

/// Adds the answers that follow from what a route is rather than what it does:
/// - 401 and 403 on every route that needs an access token or an API key;
/// - 422 on every route with parameters or a body (a request that does not match this document);
/// - 413 and 415 on every route with a body;
/// - 404 on every route naming a resource in its path (one of another user's is not found either);
/// - 503 on every `/api` route (a dependency such as PostgreSQL or Temporal is down), and 502 on
///   the routes that call Paddle (it answered nonsense, or refused our credentials).
fn document_common_answers(openapi: &mut utoipa::openapi::OpenApi) {
    for (path, item) in openapi.paths.paths.iter_mut() {
        let operations = [
            (Method::GET, &mut item.get),
            (Method::PUT, &mut item.put),
            (Method::POST, &mut item.post),
            (Method::DELETE, &mut item.delete),
            (Method::PATCH, &mut item.patch),
        ];
        for (method, op) in operations {
            if let Some(op) = op {
                document_operation(&method, path, op);
            }
        }
    }
}

fn document_operation(method: &Method, path: &str, op: &mut Operation) {
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let has_input =
        op.parameters.as_ref().is_some_and(|p| !p.is_empty()) || op.request_body.is_some();
    let has_body = op.request_body.is_some();
    let has_path_params = path.contains('{');
    let calls_paddle = op
        .tags
        .as_ref()
        .is_some_and(|t| t.iter().any(|t| t == "billing"))
        || path == "/api/users/delete-account";
    if secured {
        add(
            op,
            401,
            "missing, invalid or expired access token or API key",
        );
        add(
            op,
            403,
            "an API key without this route's scope, on a session-only route, or of a plan without API access",
        );
        // A route a key may use takes it in `X-API-Key` too, and says which scope it needs.
        if let Some(scope) = crate::auth::api_keys::required_scope(method, path)
            && let Some(security) = op.security.as_mut()
        {
            security.push(SecurityRequirement::new(API_KEY_SCHEME, [scope.as_str()]));
        }
    }
    if has_input {
        add(op, 422, "the request does not match this document");
    }
    if has_body {
        add(op, 413, "the body is too large");
        add(op, 415, "the body is not of the documented content type");
    }
    if has_path_params {
        add(op, 404, "no such resource of the caller's");
    }
    if calls_paddle {
        add(
            op,
            502,
            "the billing provider failed or refused our credentials",
        );
    }
    if path.starts_with("/api/") {
        add(op, 503, "a dependency is unavailable; retry shortly");
    }
}

/// Adds an error answer unless the handler documented that status itself.
fn add(op: &mut Operation, status: u16, description: &str) {
    let status = status.to_string();
    if op.responses.responses.contains_key(&status) {
        return;
    }
    let response = ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    op.responses.responses.insert(status, RefOr::T(response));
}

/// The finished document, as served at `/openapi.json`.
pub fn finish(mut openapi: utoipa::openapi::OpenApi) -> Value {
    document_common_answers(&mut openapi);
    let mut doc = serde_json::to_value(&openapi).expect("the OpenAPI document serializes");
    document_text_patterns(&mut doc);
    doc
}

/// Multi-line text: no control characters but tab, line feed and carriage return.
const TEXT_PATTERN: &str = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$";
/// One line: no control characters at all.
const LINE_PATTERN: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";
/// One line with a character that is not white space (Unicode `White_Space`, what `str::trim`
/// removes, spelled out because regex dialects disagree on `\s`).
const NONBLANK_LINE_PATTERN: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000][^\\u0000-\\u001F\\u007F-\\u009F]*$";

/// Gives every string a request can carry (bodies and parameters, through `$ref`s) the pattern
/// of its text kind (`crate::text`): the `line` and `nonblank-line` formats, and plain text for
/// strings without a format, enum or pattern of their own.
pub fn document_text_patterns(doc: &mut Value) {
    let mut pending: Vec<String> = Vec::new();
    let operations = doc
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for op in operations {
        let bodies = op
            .pointer_mut("/requestBody/content")
            .and_then(Value::as_object_mut)
            .into_iter()
            .flat_map(|content| content.values_mut());
        for body in bodies {
            if let Some(schema) = body.get_mut("schema") {
                patch(schema, &mut pending);
            }
        }
        let params = op
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten();
        for param in params {
            // A header the API only compares (a token) takes any value: only a header with a
            // text format of its own is patterned.
            let header = param.get("in").and_then(Value::as_str) == Some("header");
            if let Some(schema) = param.get_mut("schema") {
                if header && schema.get("format").is_none() {
                    continue;
                }
                patch(schema, &mut pending);
            }
        }
    }
    // Referenced components, once each.
    let mut seen = std::collections::HashSet::new();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let pointer = format!("/components/schemas/{name}");
        if let Some(schema) = doc.pointer_mut(&pointer) {
            patch(schema, &mut pending);
        }
    }
}

/// Patches one schema and its children; collects the components it refers to.
fn patch(schema: &mut Value, refs: &mut Vec<String>) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if let Some(name) = obj
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        refs.push(name.to_string());
    }
    if is_string(obj) && !obj.contains_key("enum") && !obj.contains_key("pattern") {
        let pattern = match obj.get("format").and_then(Value::as_str) {
            None | Some("password") => Some(TEXT_PATTERN),
            Some(f) if f == crate::text::LINE || f == "username" => Some(LINE_PATTERN),
            Some(f) if f == crate::text::NONBLANK_LINE => Some(NONBLANK_LINE_PATTERN),
            // email, uuid, date-time, ...: their own syntax.
            Some(_) => None,
        };
        if let Some(p) = pattern {
            obj.insert("pattern".into(), json!(p));
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(child) = obj.get_mut(key) {
            patch(child, refs);
        }
    }
    if let Some(Value::Object(props)) = obj.get_mut("properties") {
        for child in props.values_mut() {
            patch(child, refs);
        }
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(Value::Array(children)) = obj.get_mut(key) {
            for child in children {
                patch(child, refs);
            }
        }
    }
}

fn is_string(obj: &Map<String, Value>) -> bool {
    match obj.get("type") {
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    /// The document's patterns accept exactly what `crate::text` accepts, character by
    /// character around every boundary of the classes.
    #[test]
    fn text_patterns_agree_with_the_checks() {
        let text = Regex::new(TEXT_PATTERN).unwrap();
        let line = Regex::new(LINE_PATTERN).unwrap();
        let nonblank = Regex::new(NONBLANK_LINE_PATTERN).unwrap();
        let probes = (0u32..0x250)
            .chain(0x1670..0x1690)
            .chain(0x1ff0..0x2070)
            .chain(0x2ff0..0x3010)
            .chain([0xfeff, 0xac00, 0x1f600])
            .filter_map(char::from_u32);
        for c in probes {
            for s in [c.to_string(), format!("a{c}b"), format!(" {c} ")] {
                let multi_ok = crate::text::multiline("f", &s, 10).is_ok();
                assert_eq!(text.is_match(&s), multi_ok, "text {s:?}");
                let line_ok = crate::text::line("f", &s, 10).is_ok();
                assert_eq!(line.is_match(&s), line_ok, "line {s:?}");
                let nonblank_ok = crate::text::nonblank_line("f", &s, 10).is_ok();
                assert_eq!(nonblank.is_match(&s), nonblank_ok, "nonblank line {s:?}");
            }
        }
    }
}
