//! Response shapes shared by several routes.

use crate::auth::session::TokenPair;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use onevoice_shared::ids::UserId;
use onevoice_shared::repo::users::UserRow;
use serde::Serialize;
use utoipa::ToSchema;

/// A user as clients see it (the seed's `User`, plus `locale` and `is_verified`).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    #[schema(value_type = uuid::Uuid)]
    pub id: UserId,
    pub email: String,
    pub username: String,
    pub full_name: Option<String>,
    /// Short-lived presigned URL of the avatar image.
    pub avatar_url: Option<String>,
    /// Language of emails: `ko` or `en`.
    #[schema(schema_with = crate::schemas::locale)]
    pub locale: String,
    pub is_verified: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl UserView {
    pub async fn build(state: &AppState, u: UserRow) -> Self {
        let avatar_url = match &u.avatar_key {
            Some(key) => state.storage.presign_get(key, "avatar").await.ok(),
            None => None,
        };
        UserView {
            id: u.id,
            email: u.email,
            username: u.username,
            full_name: u.full_name,
            avatar_url,
            locale: u.locale,
            is_verified: u.is_verified,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// The seed's `AuthResponse`, with the refresh token of the new session.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthResponse {
    #[serde(flatten)]
    pub tokens: TokenPair,
    pub user: UserView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    pub message: String,
}

impl MessageResponse {
    pub fn new(message: impl Into<String>) -> Self {
        MessageResponse {
            message: message.into(),
        }
    }
}

/// The seed's page-style pagination: `{page, per_page, total, pages}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Pagination {
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
    pub pages: i64,
}

/// A validated page request.
#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    pub page: u32,
    pub per_page: u32,
}

/// The last page a listing serves (as documented on every `page` parameter).
pub const MAX_PAGE: u32 = 100_000;

impl PageRequest {
    /// Defaults to page 1 of 20; `page` ≥ 1 and `per_page` 1–100, else 422.
    pub fn new(page: Option<u32>, per_page: Option<u32>) -> Result<Self, crate::error::ApiError> {
        use crate::error::ApiError;
        let (page, per_page) = (page.unwrap_or(1), per_page.unwrap_or(20));
        if !(1..=MAX_PAGE).contains(&page) {
            return Err(ApiError::validation(
                "page",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
        }
        if !(1..=100).contains(&per_page) {
            return Err(ApiError::validation(
                "per_page",
                "must be between 1 and 100",
            ));
        }
        Ok(PageRequest { page, per_page })
    }

    pub fn limit(self) -> i64 {
        i64::from(self.per_page)
    }

    pub fn offset(self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.per_page)
    }

    pub fn pagination(self, total: i64) -> Pagination {
        let per = i64::from(self.per_page);
        Pagination {
            page: self.page,
            per_page: self.per_page,
            total,
            pages: (total + per - 1) / per,
        }
    }
}
