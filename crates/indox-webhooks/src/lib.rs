//! Webhook signing and verification, stable event ids and the callback retry schedule (docs below).
#![doc = include_str!("../README.md")]

pub mod error;
pub mod events;
pub mod resemble;
pub mod standard;

pub use error::WebhookError;
pub use events::{event_id, RetrySchedule};
pub use resemble::{
    parse_provider_header, sign_provider, verify_provider, ProviderSignatureHeader,
    PROVIDER_SIGNATURE_HEADER,
};
pub use standard::{headers, sign, verify, WebhookSecret};

/// The replay window both schemes use by default: five minutes, in seconds.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Checks `timestamp` against `now` in both directions.
///
/// A negative `tolerance_secs` counts as zero. The arithmetic cannot overflow.
pub(crate) fn check_timestamp(
    timestamp: i64,
    now: i64,
    tolerance_secs: i64,
) -> Result<(), WebhookError> {
    let tolerance = i128::from(tolerance_secs.max(0));
    let age = i128::from(now) - i128::from(timestamp);
    if age > tolerance {
        Err(WebhookError::TooOld)
    } else if -age > tolerance {
        Err(WebhookError::TooNew)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_window_is_inclusive_and_two_sided() {
        assert_eq!(check_timestamp(1000, 1000, 300), Ok(()));
        assert_eq!(check_timestamp(700, 1000, 300), Ok(()));
        assert_eq!(check_timestamp(1300, 1000, 300), Ok(()));
        assert_eq!(check_timestamp(699, 1000, 300), Err(WebhookError::TooOld));
        assert_eq!(check_timestamp(1301, 1000, 300), Err(WebhookError::TooNew));
    }

    #[test]
    fn timestamp_extremes_do_not_overflow() {
        assert_eq!(
            check_timestamp(i64::MIN, i64::MAX, i64::MAX),
            Err(WebhookError::TooOld)
        );
        assert_eq!(
            check_timestamp(i64::MAX, i64::MIN, i64::MAX),
            Err(WebhookError::TooNew)
        );
        assert_eq!(check_timestamp(5, 5, -10), Ok(()));
        assert_eq!(check_timestamp(4, 5, -10), Err(WebhookError::TooOld));
    }
}
