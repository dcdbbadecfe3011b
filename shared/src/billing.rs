//! Plans: what a customer can buy, each mapped to a Paddle price and the credits one paid billing
//! period grants. Read from configuration (`BILLING_PLANS`), so prices change without a release.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Our stable id (`pro_monthly`), the one clients send.
    pub id: String,
    pub name: String,
    /// Price per period in major units, for display; Paddle's price is what is charged.
    pub price: f64,
    pub currency: String,
    /// `monthly` or `yearly`.
    pub billing_period: String,
    /// Credits granted once for every paid billing period.
    pub credits_included: i64,
    /// The Paddle price (`pri_…`) a checkout for this plan buys.
    pub paddle_price_id: String,
    #[serde(default)]
    pub features: Vec<String>,
    /// Whether subscribers may create and use API keys (the "API access" the plan sells).
    #[serde(default)]
    pub api_access: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    plans: Vec<Plan>,
}

/// The seed's three plans. Their price ids are placeholders for local use: a real deployment sets
/// `BILLING_PLANS` with the ids of its Paddle catalogue (production refuses to start without it).
pub const DEFAULT_PLANS: &str = r#"[
  {"id": "starter_monthly", "name": "Starter (monthly)", "price": 9.99, "currency": "USD",
   "billing_period": "monthly", "credits_included": 500, "paddle_price_id": "pri_01onevoicestarter000000000",
   "features": ["HD quality", "5 languages", "Standard support"]},
  {"id": "pro_monthly", "name": "Pro (monthly)", "price": 29.99, "currency": "USD",
   "billing_period": "monthly", "credits_included": 2000, "paddle_price_id": "pri_01onevoicepro00000000000000",
   "features": ["4K quality", "20 languages", "Priority support", "API access"],
   "api_access": true},
  {"id": "enterprise_monthly", "name": "Enterprise (monthly)", "price": 99.99, "currency": "USD",
   "billing_period": "monthly", "credits_included": 10000, "paddle_price_id": "pri_01onevoiceenterprise000000",
   "features": ["4K quality", "All languages", "Dedicated support", "API access", "Custom integrations"],
   "api_access": true}
]"#;

impl Catalog {
    /// Parses and checks a JSON array of plans: unique ids and prices, Paddle-shaped price ids,
    /// known periods, non-negative credits.
    pub fn parse(json: &str) -> Result<Self, String> {
        let plans: Vec<Plan> = serde_json::from_str(json).map_err(|e| e.to_string())?;
        if plans.is_empty() {
            return Err("at least one plan is needed".into());
        }
        for (i, p) in plans.iter().enumerate() {
            if p.id.trim().is_empty() {
                return Err(format!("plan {i}: empty id"));
            }
            if !p.paddle_price_id.starts_with("pri_") {
                return Err(format!(
                    "plan {}: paddle_price_id must be a `pri_…` id",
                    p.id
                ));
            }
            if !matches!(p.billing_period.as_str(), "monthly" | "yearly") {
                return Err(format!(
                    "plan {}: billing_period must be monthly or yearly",
                    p.id
                ));
            }
            if p.credits_included < 0 || p.price < 0.0 {
                return Err(format!("plan {}: negative price or credits", p.id));
            }
            if p.currency.len() != 3 {
                return Err(format!("plan {}: currency must be an ISO 4217 code", p.id));
            }
            let dup = plans[..i]
                .iter()
                .any(|q| q.id == p.id || q.paddle_price_id == p.paddle_price_id);
            if dup {
                return Err(format!("plan {}: duplicate id or price id", p.id));
            }
        }
        Ok(Self { plans })
    }

    pub fn plans(&self) -> &[Plan] {
        &self.plans
    }

    pub fn by_id(&self, id: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.id == id)
    }

    pub fn by_price(&self, price_id: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.paddle_price_id == price_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_plans_are_valid() {
        let c = Catalog::parse(DEFAULT_PLANS).unwrap();
        assert_eq!(c.plans().len(), 3);
        let pro = c.by_id("pro_monthly").unwrap();
        assert_eq!(pro.credits_included, 2000);
        assert_eq!(c.by_price(&pro.paddle_price_id).unwrap().id, "pro_monthly");
        assert!(pro.api_access && !c.by_id("starter_monthly").unwrap().api_access);
    }

    #[test]
    fn rejects_bad_plans_with_the_reason() {
        let bad_price = DEFAULT_PLANS.replace("pri_01onevoicepro", "pro_");
        assert!(Catalog::parse(&bad_price).unwrap_err().contains("pri_"));
        let dup = DEFAULT_PLANS.replace("enterprise_monthly", "pro_monthly");
        assert!(Catalog::parse(&dup).unwrap_err().contains("duplicate"));
        assert!(Catalog::parse("[]").is_err());
        assert!(Catalog::parse("{").is_err());
    }
}
