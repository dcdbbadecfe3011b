//! The `custom_data` OneVoice puts on the checkouts it creates: the user id, with an HMAC that
//! only this service can make. Paddle copies it to the subscription and every later transaction.
//!
//! Anyone can open a Paddle checkout with whatever `custom_data` they like (Paddle.js takes it
//! from the page), so an unsigned `user_id` proves nothing: trusted, it would let a stranger's
//! payments — and their refunds and chargebacks — land on somebody else's account. Events are
//! matched by a signed user id, a customer or a subscription we know, and nothing else.

use crate::ids::UserId;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// Separates these MACs from anything else made with the same key.
const CONTEXT: &[u8] = b"onevoice/paddle-custom-data/user/v1:";

fn mac(key: &[u8], user: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(CONTEXT);
    mac.update(user.as_bytes());
    mac
}

/// The `custom_data` of a checkout for `user`.
pub fn for_user(key: &[u8], user: UserId) -> Value {
    let id = user.to_string();
    let sig = hex::encode(mac(key, &id).finalize().into_bytes());
    json!({ "user_id": id, "user_sig": sig })
}

/// The user a `custom_data` names, if we signed it.
pub fn signed_user(key: &[u8], custom_data: &Value) -> Option<Uuid> {
    let id = custom_data.get("user_id")?.as_str()?;
    let sig = hex::decode(custom_data.get("user_sig")?.as_str()?).ok()?;
    mac(key, id).verify_slice(&sig).ok()?;
    Uuid::parse_str(id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_signature_names_a_user() {
        let key = b"a key of ours, at least 32 bytes long";
        let user = UserId::new();
        let data = for_user(key, user);
        assert_eq!(signed_user(key, &data), Some(user.0));
        assert_eq!(
            signed_user(b"somebody else's key, 32 bytes or more", &data),
            None
        );
        let mut other = data.clone();
        other["user_id"] = json!(UserId::new().to_string());
        assert_eq!(
            signed_user(key, &other),
            None,
            "the signature is of one user id"
        );
        assert_eq!(
            signed_user(key, &json!({ "user_id": user.to_string() })),
            None
        );
        assert_eq!(
            signed_user(
                key,
                &json!({ "user_id": user.to_string(), "user_sig": "zz" })
            ),
            None
        );
        assert_eq!(signed_user(key, &Value::Null), None);
    }
}
