//! Thumbnails: an image sent by the client, or a frame of the video.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::{ApiMultipart, ApiPath};
use crate::image::ImageKind;
use crate::services::videos::{self, ThumbnailSource};
use crate::state::AppState;
use axum::Json;
use axum::extract::multipart::MultipartError;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use onevoice_shared::ids::VideoId;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Largest thumbnail image accepted.
const THUMBNAIL_MAX_BYTES: usize = 5 * 1024 * 1024;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(set_thumbnail))
        .layer(DefaultBodyLimit::max(THUMBNAIL_MAX_BYTES + 64 * 1024))
}

#[derive(Serialize, ToSchema)]
pub struct ThumbnailResponse {
    thumbnail_url: String,
}

/// The multipart form of a thumbnail change: an image, or a time of the video, or neither.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the form that `set_thumbnail` reads field by field
pub struct ThumbnailUpload {
    /// A JPEG, PNG or WebP image.
    #[schema(value_type = Option<String>, format = Binary)]
    thumbnail: Option<Vec<u8>>,
    /// Seconds into the video of the frame to use.
    #[schema(minimum = 0.0)]
    timestamp: Option<f64>,
}

/// Sets the thumbnail: multipart field `thumbnail` (a JPEG, PNG or WebP image), or field
/// `timestamp` (seconds) to take that frame of the video; with neither, a representative frame.
#[utoipa::path(post, path = "/api/videos/{id}/thumbnail", tag = "videos", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id")),
    request_body(content = ThumbnailUpload, content_type = "multipart/form-data"),
    responses((status = 200, body = ThumbnailResponse), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn set_thumbnail(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
    ApiMultipart(form): ApiMultipart,
) -> Result<Json<ThumbnailResponse>, ApiError> {
    let source = read_form(form).await?;
    let key = videos::set_thumbnail(&state, user.id, id, source).await?;
    let ext = ImageKind::of_key(&key).unwrap_or(ImageKind::Jpeg).ext();
    let filename = format!("thumbnail.{ext}");
    Ok(Json(ThumbnailResponse {
        thumbnail_url: state.storage.presign_get(&key, &filename).await?,
    }))
}

/// The form's `thumbnail` image, else its `timestamp`, else neither.
async fn read_form(mut form: axum::extract::Multipart) -> Result<ThumbnailSource, ApiError> {
    let bad = |e: MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge("the image is too large".into())
        } else {
            ApiError::validation("thumbnail", e.body_text())
        }
    };
    let (mut image, mut timestamp) = (None, None);
    while let Some(field) = form.next_field().await.map_err(bad)? {
        match field.name() {
            Some("thumbnail") => image = Some(field.bytes().await.map_err(bad)?),
            Some("timestamp") => {
                let text = field.text().await.map_err(bad)?;
                let secs: f64 = text
                    .trim()
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| {
                        ApiError::validation("timestamp", "must be a number of seconds ≥ 0")
                    })?;
                timestamp = Some(secs);
            }
            _ => {}
        }
    }
    Ok(match (image, timestamp) {
        (Some(bytes), _) => ThumbnailSource::Image(bytes.to_vec()),
        (None, Some(secs)) => ThumbnailSource::Frame(secs),
        (None, None) => ThumbnailSource::Auto,
    })
}
