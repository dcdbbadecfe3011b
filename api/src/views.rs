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

/// A subscription as clients see it (`/api/billing/subscription`, `/api/users/subscription`).
#[derive(Serialize, ToSchema)]
pub struct SubscriptionView {
    id: uuid::Uuid,
    plan_id: String,
    /// `active`, `trialing`, `past_due`, `paused` or `cancelled` (the seed's spelling).
    status: String,
    current_period_start: Option<DateTime<Utc>>,
    current_period_end: Option<DateTime<Utc>>,
    /// The subscription ends when the current period does.
    cancel_at_period_end: bool,
    cancelled_at: Option<DateTime<Utc>>,
    next_billed_at: Option<DateTime<Utc>>,
    credits_included: i64,
    /// Unpaid since; dubbing continues until `grace_period_ends_at`.
    past_due_since: Option<DateTime<Utc>>,
    grace_period_ends_at: Option<DateTime<Utc>>,
    /// Dubbing is suspended until the overdue payment arrives.
    suspended: bool,
}

impl SubscriptionView {
    pub fn new(
        s: onevoice_shared::repo::billing::SubscriptionRow,
        grace: chrono::Duration,
    ) -> Self {
        Self {
            id: s.id,
            plan_id: s.plan_id,
            status: if s.status == "canceled" {
                "cancelled".into()
            } else {
                s.status
            },
            current_period_start: s.current_period_start,
            current_period_end: s.current_period_end,
            cancel_at_period_end: s.cancel_at_period_end,
            cancelled_at: s.cancelled_at,
            next_billed_at: s.next_billed_at,
            credits_included: i64::from(s.credits_included),
            grace_period_ends_at: s.past_due_since.map(|t| t + grace),
            past_due_since: s.past_due_since,
            suspended: s.suspended_at.is_some(),
        }
    }
}
