//! Payment providers: the one place money leaves or returns to a customer.
//!
//! Integrators implement [`PaymentProvider`] for their processor. The
//! contract that keeps charges exactly-once: a provider must treat the
//! idempotency key as the identity of a charge, returning the first outcome
//! for a repeated key without charging again (as card processors' APIs do),
//! and must be able to say what became of a key ([`PaymentProvider::lookup`]),
//! so that an attempt interrupted by a crash or a timeout can be reconciled.

mod test_provider;

pub use test_provider::TestPaymentProvider;

/// A request to take money from a customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeRequest {
    /// Identity of the charge: the same key must never charge twice.
    pub idempotency_key: String,
    /// Amount in minor units of `currency`.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// The customer's payment method, as tokenised by the provider's client
    /// library. Never card data, and never stored by Chatshop.
    pub payment_method_token: String,
    /// A human-readable description for statements.
    pub description: String,
}

/// A request to give money back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundRequest {
    /// Identity of the refund.
    pub idempotency_key: String,
    /// The provider's reference of the charge being refunded.
    pub charge_reference: String,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// What the provider decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// The money moved; `reference` is the provider's id for it.
    Succeeded {
        /// The provider's id of the charge or refund.
        reference: String,
    },
    /// The provider refused, for a reason the customer can act on.
    Declined {
        /// A short machine-readable reason, e.g. `card_declined`.
        code: String,
    },
}

/// The provider could not be reached or failed; the outcome is unknown.
#[derive(Debug, thiserror::Error)]
#[error("payment provider error: {0}")]
pub struct ProviderError(pub String);

/// A payment processor.
#[async_trait::async_trait]
pub trait PaymentProvider: Send + Sync + 'static {
    /// Charges a customer. Must be idempotent by `idempotency_key`.
    async fn charge(&self, request: ChargeRequest) -> Result<ChargeOutcome, ProviderError>;

    /// What became of a charge or refund key: `None` if the provider never
    /// saw it (so nothing was charged).
    async fn lookup(&self, idempotency_key: &str) -> Result<Option<ChargeOutcome>, ProviderError>;

    /// Refunds (part of) a charge. Must be idempotent by `idempotency_key`.
    async fn refund(&self, request: RefundRequest) -> Result<ChargeOutcome, ProviderError>;
}
