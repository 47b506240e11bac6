#![doc = include_str!("../README.md")]

pub mod analytics;
pub mod error;
pub mod ports;
pub mod price_book;
pub mod quote;
pub mod reconcile;
pub mod service;

pub use error::BillingError;
pub use ports::{
    CommitRequest, Committed, HoldId, IdempotencyFinish, NewCharge, ResponseRenderer, UsageLedger,
    UsageRecord,
};
pub use price_book::{PriceBook, PriceEntry, Unit};
pub use quote::{
    estimate_tts_millis, quantity_from_millis, quantity_from_seconds, round_money, MarkupPolicy,
    Pricing, Quote, MONEY_SCALE, QUANTITY_SCALE,
};
pub use reconcile::{Comparison, DailyTotal, NewRun, ReconciliationStore, RunStatus, UnitLine};
pub use service::Billing;
