//! Billing queries shared by the billing and user routes.

use super::{Result, ServiceError};
use crate::state::AppState;
use onevoice_shared::ids::UserId;
use onevoice_shared::repo::billing::{self, SubscriptionRow};

/// The caller's live subscription, else the most recent one.
pub async fn subscription(state: &AppState, user: UserId) -> Result<SubscriptionRow> {
    billing::current(&state.db, user)
        .await?
        .ok_or_else(|| ServiceError::NotFound("no subscription".into()))
}
