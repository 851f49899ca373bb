//! The built-in test provider: no money moves, outcomes follow the token.
//!
//! | token | outcome |
//! |---|---|
//! | `tok_success` (or `tok_visa`) | charged |
//! | `tok_decline` | declined: `card_declined` |
//! | `tok_insufficient_funds` | declined: `insufficient_funds` |
//! | `tok_error` | provider error (outcome unknown, nothing charged) |
//! | `tok_slow` | answers after 60 s: longer than any sane payment timeout |
//!
//! Any other token is declined with `invalid_payment_method`. Outcomes are
//! remembered by idempotency key, as a real processor does: a repeated key
//! returns the first outcome and never charges again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{ChargeOutcome, ChargeRequest, PaymentProvider, ProviderError, RefundRequest};

/// Test tokens, for documentation and tests.
pub mod tokens {
    /// Always succeeds.
    pub const SUCCESS: &str = "tok_success";
    /// Always declined (`card_declined`).
    pub const DECLINE: &str = "tok_decline";
    /// Declined for lack of funds (`insufficient_funds`).
    pub const INSUFFICIENT_FUNDS: &str = "tok_insufficient_funds";
    /// The provider fails.
    pub const ERROR: &str = "tok_error";
    /// The provider takes 60 s to answer.
    pub const SLOW: &str = "tok_slow";
}

/// An in-memory provider for development and tests. Cheap to clone; clones
/// share their ledger.
#[derive(Clone, Default)]
pub struct TestPaymentProvider {
    ledger: Arc<Mutex<Ledger>>,
}

#[derive(Default)]
struct Ledger {
    outcomes: HashMap<String, ChargeOutcome>,
    charges: u64,
    refunds: u64,
    charged_minor: i64,
    refunded_minor: i64,
}

impl TestPaymentProvider {
    /// A provider with an empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many charges actually took money.
    pub fn charges(&self) -> u64 {
        self.ledger.lock().map_or(0, |l| l.charges)
    }

    /// The total taken, minus what was refunded, in minor units.
    pub fn net_minor(&self) -> i64 {
        self.ledger
            .lock()
            .map_or(0, |l| l.charged_minor - l.refunded_minor)
    }

    /// How many refunds were made.
    pub fn refunds(&self) -> u64 {
        self.ledger.lock().map_or(0, |l| l.refunds)
    }

    fn remember(
        &self,
        key: &str,
        outcome: &ChargeOutcome,
        amount_minor: i64,
        refund: bool,
    ) -> ChargeOutcome {
        let Ok(mut ledger) = self.ledger.lock() else {
            return outcome.clone();
        };
        if let Some(first) = ledger.outcomes.get(key) {
            return first.clone();
        }
        if matches!(outcome, ChargeOutcome::Succeeded { .. }) {
            if refund {
                ledger.refunds += 1;
                ledger.refunded_minor += amount_minor;
            } else {
                ledger.charges += 1;
                ledger.charged_minor += amount_minor;
            }
        }
        ledger.outcomes.insert(key.to_owned(), outcome.clone());
        outcome.clone()
    }

    fn known(&self, key: &str) -> Option<ChargeOutcome> {
        self.ledger
            .lock()
            .ok()
            .and_then(|l| l.outcomes.get(key).cloned())
    }
}

#[async_trait::async_trait]
impl PaymentProvider for TestPaymentProvider {
    async fn charge(&self, request: ChargeRequest) -> Result<ChargeOutcome, ProviderError> {
        if let Some(first) = self.known(&request.idempotency_key) {
            return Ok(first);
        }
        let outcome = match request.payment_method_token.as_str() {
            tokens::SUCCESS | "tok_visa" => ChargeOutcome::Succeeded {
                reference: format!("ch_test_{}", uuid::Uuid::new_v4().simple()),
            },
            tokens::DECLINE => ChargeOutcome::Declined {
                code: "card_declined".to_owned(),
            },
            tokens::INSUFFICIENT_FUNDS => ChargeOutcome::Declined {
                code: "insufficient_funds".to_owned(),
            },
            tokens::ERROR => {
                return Err(ProviderError(
                    "the test provider failed on purpose".to_owned(),
                ));
            }
            tokens::SLOW => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                ChargeOutcome::Declined {
                    code: "card_declined".to_owned(),
                }
            }
            _ => ChargeOutcome::Declined {
                code: "invalid_payment_method".to_owned(),
            },
        };
        Ok(self.remember(
            &request.idempotency_key,
            &outcome,
            request.amount_minor,
            false,
        ))
    }

    async fn lookup(&self, idempotency_key: &str) -> Result<Option<ChargeOutcome>, ProviderError> {
        Ok(self.known(idempotency_key))
    }

    async fn refund(&self, request: RefundRequest) -> Result<ChargeOutcome, ProviderError> {
        let outcome = ChargeOutcome::Succeeded {
            reference: format!("re_test_{}", uuid::Uuid::new_v4().simple()),
        };
        Ok(self.remember(
            &request.idempotency_key,
            &outcome,
            request.amount_minor,
            true,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(key: &str, token: &str) -> ChargeRequest {
        ChargeRequest {
            idempotency_key: key.to_owned(),
            amount_minor: 1250,
            currency: "USD".to_owned(),
            payment_method_token: token.to_owned(),
            description: "test".to_owned(),
        }
    }

    #[tokio::test]
    async fn a_repeated_key_returns_the_first_outcome_and_charges_once() {
        let provider = TestPaymentProvider::new();
        let first = provider
            .charge(request("k1", tokens::SUCCESS))
            .await
            .unwrap();
        let again = provider
            .charge(request("k1", tokens::SUCCESS))
            .await
            .unwrap();
        assert_eq!(first, again);
        assert_eq!(provider.charges(), 1);
        assert_eq!(provider.net_minor(), 1250);
        assert_eq!(provider.lookup("k1").await.unwrap(), Some(first));
        assert_eq!(provider.lookup("unknown").await.unwrap(), None);
    }

    #[tokio::test]
    async fn tokens_decide_the_outcome() {
        let provider = TestPaymentProvider::new();
        assert_eq!(
            provider
                .charge(request("k2", tokens::DECLINE))
                .await
                .unwrap(),
            ChargeOutcome::Declined {
                code: "card_declined".to_owned()
            }
        );
        assert!(provider.charge(request("k3", tokens::ERROR)).await.is_err());
        assert_eq!(
            provider.lookup("k3").await.unwrap(),
            None,
            "an error charges nothing"
        );
        assert_eq!(provider.charges(), 0);
    }
}
