//! Times as the API shows them: RFC 3339 in UTC with milliseconds
//! (`2026-03-21T09:30:00.000Z`). The store keeps epoch milliseconds.

use crate::media::recording::file::civil_from_days;

/// Epoch milliseconds → `YYYY-MM-DDTHH:MM:SS.mmmZ`.
///
/// ```
/// assert_eq!(hibiki::api::rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
/// assert_eq!(hibiki::api::rfc3339_ms(951_782_400_123), "2000-02-29T00:00:00.123Z");
/// ```
pub fn rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let day_secs = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        day_secs / 3600,
        day_secs % 3600 / 60,
        day_secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339_ms;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
        // 2038-01-19T03:14:07Z, the 32-bit time_t limit.
        assert_eq!(rfc3339_ms(2_147_483_647_000), "2038-01-19T03:14:07.000Z");
        assert_eq!(rfc3339_ms(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
        assert_eq!(rfc3339_ms(1_709_251_200_000), "2024-03-01T00:00:00.000Z");
    }
}
