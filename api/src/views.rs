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
