//! Schedules for `hours` steps: a time zone, weekly opening hours,
//! holidays and special days, and the rule that turns an instant into
//! [`HoursState::Open`], [`Closed`](HoursState::Closed) or
//! [`Holiday`](HoursState::Holiday).
//!
//! Every value is checked while the flow file is read (a bad zone, range
//! or date is a load error naming its key). Evaluation takes the instant
//! as an argument and never reads the clock.
//!
//! Rules, in order: a date in `holidays` is a holiday all day; a date in
//! `special` uses that day's ranges instead of the weekday's (an empty
//! list: closed all day); otherwise the weekday's ranges apply. Ranges
//! are `HH:MM-HH:MM` in local time, start inclusive, end exclusive;
//! `24:00` may end a range. A range crossing midnight is refused (write
//! `22:00-24:00` on one day and `00:00-06:00` on the next). At a DST
//! change, local wall-clock time decides: on a day that skips 02:00-03:00
//! a `02:00-03:00` range is simply never open.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc, Weekday};
use schemars::JsonSchema;
use serde::Deserialize;

/// A `[schedules.<name>]` table.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// An IANA time zone (`Asia/Tokyo`).
    pub time_zone: TimeZone,
    /// Opening hours per weekday; a day not listed is closed.
    #[serde(default)]
    pub weekly: Weekly,
    /// Dates (`YYYY-MM-DD`) that are holidays all day.
    #[serde(default)]
    pub holidays: Vec<Date>,
    /// Dates with their own hours, replacing the weekday's.
    #[serde(default)]
    pub special: BTreeMap<Date, Vec<TimeRange>>,
}

/// Opening hours by weekday.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Weekly {
    #[serde(default)]
    pub mon: Vec<TimeRange>,
    #[serde(default)]
    pub tue: Vec<TimeRange>,
    #[serde(default)]
    pub wed: Vec<TimeRange>,
    #[serde(default)]
    pub thu: Vec<TimeRange>,
    #[serde(default)]
    pub fri: Vec<TimeRange>,
    #[serde(default)]
    pub sat: Vec<TimeRange>,
    #[serde(default)]
    pub sun: Vec<TimeRange>,
}

impl Weekly {
    /// The ranges of `day`.
    pub fn day(&self, day: Weekday) -> &[TimeRange] {
        match day {
            Weekday::Mon => &self.mon,
            Weekday::Tue => &self.tue,
            Weekday::Wed => &self.wed,
            Weekday::Thu => &self.thu,
            Weekday::Fri => &self.fri,
            Weekday::Sat => &self.sat,
            Weekday::Sun => &self.sun,
        }
    }
}

/// What a schedule says about an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoursState {
    /// Within opening hours.
    Open,
    /// Outside them.
    Closed,
    /// A listed holiday.
    Holiday,
}

impl Schedule {
    /// The state at `at`.
    pub fn state_at(&self, at: DateTime<Utc>) -> HoursState {
        let local = at.with_timezone(&self.time_zone.0);
        let date = local.date_naive();
        if self.holidays.iter().any(|d| d.0 == date) {
            return HoursState::Holiday;
        }
        let minute = local.hour() * 60 + local.minute();
        let ranges = match self.special.get(&Date(date)) {
            Some(ranges) => ranges.as_slice(),
            None => self.weekly.day(local.weekday()),
        };
        if ranges.iter().any(|r| r.contains(minute)) {
            HoursState::Open
        } else {
            HoursState::Closed
        }
    }
}

/// An IANA time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeZone(pub chrono_tz::Tz);

impl<'de> Deserialize<'de> for TimeZone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse::<chrono_tz::Tz>().map(TimeZone).map_err(|_| {
            serde::de::Error::custom(format!(
                "unknown time zone `{text}` (expected an IANA name like Asia/Tokyo)"
            ))
        })
    }
}

/// A calendar date, `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date(pub NaiveDate);

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_date(&text)
            .map(Date)
            .map_err(serde::de::Error::custom)
    }
}

fn parse_date(text: &str) -> Result<NaiveDate, String> {
    let bad = || format!("bad date `{text}` (expected YYYY-MM-DD)");
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let (y, m, d) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| format!("no such date `{text}`"))
}

/// `HH:MM-HH:MM`, as minutes of the day: start inclusive, end exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    /// Minutes after midnight, 0..1440.
    pub start: u32,
    /// Minutes after midnight, start+1..=1440.
    pub end: u32,
}

impl TimeRange {
    /// Whether minute-of-day `minute` is inside.
    pub fn contains(&self, minute: u32) -> bool {
        self.start <= minute && minute < self.end
    }

    /// Parses `HH:MM-HH:MM`.
    pub fn parse(text: &str) -> Result<TimeRange, String> {
        let bad = || format!("bad time range `{text}` (expected HH:MM-HH:MM, like 09:00-18:00)");
        let (start, end) = text.split_once('-').ok_or_else(bad)?;
        let start = parse_hhmm(start.trim()).ok_or_else(bad)?;
        let end = parse_hhmm(end.trim()).ok_or_else(bad)?;
        if start >= 24 * 60 {
            return Err(bad());
        }
        if end <= start {
            return Err(format!(
                "time range `{text}` ends before it starts (ranges may not cross midnight: \
                 split it at 24:00)"
            ));
        }
        Ok(TimeRange { start, end })
    }
}

fn parse_hhmm(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(24 * 60),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

impl<'de> Deserialize<'de> for TimeRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        TimeRange::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (s, e) = (self.start, self.end);
        write!(f, "{:02}:{:02}-{:02}:{:02}", s / 60, s % 60, e / 60, e % 60)
    }
}

macro_rules! string_schema {
    ($t:ty, $name:literal, $schema:tt) => {
        impl JsonSchema for $t {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!($schema)
            }
        }
    };
}

string_schema!(TimeZone, "TimeZone", {
    "type": "string",
    "description": "An IANA time zone, like Asia/Tokyo."
});
string_schema!(Date, "Date", {
    "type": "string",
    "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    "description": "A date, YYYY-MM-DD."
});
string_schema!(TimeRange, "TimeRange", {
    "type": "string",
    "pattern": "^[0-9]{2}:[0-9]{2}-[0-9]{2}:[0-9]{2}$",
    "description": "HH:MM-HH:MM local time, end after start (24:00 allowed as the end)."
});

#[cfg(test)]
mod tests {
    use super::*;

    fn office() -> Schedule {
        toml::from_str(
            r#"
            time_zone = "Europe/London"
            weekly = { mon = ["09:00-18:00"], wed = ["09:00-12:00", "13:00-18:00"], sun = ["01:00-02:00"] }
            holidays = ["2026-12-25"]
            special = { "2026-12-28" = ["10:00-15:00"], "2026-12-21" = [] }
            "#,
        )
        .unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn weekly_hours_in_local_time() {
        let s = office();
        // Monday 2026-11-30, London = UTC in winter.
        assert_eq!(s.state_at(at("2026-11-30T08:59:59Z")), HoursState::Closed);
        assert_eq!(s.state_at(at("2026-11-30T09:00:00Z")), HoursState::Open);
        assert_eq!(s.state_at(at("2026-11-30T17:59:00Z")), HoursState::Open);
        assert_eq!(s.state_at(at("2026-11-30T18:00:00Z")), HoursState::Closed);
        // Wednesday lunch break.
        assert_eq!(s.state_at(at("2026-12-02T12:30:00Z")), HoursState::Closed);
        assert_eq!(s.state_at(at("2026-12-02T13:00:00Z")), HoursState::Open);
        // Tuesday: not listed, closed.
        assert_eq!(s.state_at(at("2026-12-01T10:00:00Z")), HoursState::Closed);
        // Summer: 08:30 UTC is 09:30 BST, open.
        assert_eq!(s.state_at(at("2026-06-01T08:30:00Z")), HoursState::Open);
        // Same instant given in another offset.
        assert_eq!(
            s.state_at(at("2026-06-01T17:30:00+09:00")),
            HoursState::Open
        );
    }

    #[test]
    fn holidays_and_special_days_override_the_week() {
        let s = office();
        // Friday 2026-12-25 is a holiday all day.
        assert_eq!(s.state_at(at("2026-12-25T10:00:00Z")), HoursState::Holiday);
        assert_eq!(s.state_at(at("2026-12-25T23:59:00Z")), HoursState::Holiday);
        // Monday 2026-12-28: special hours 10-15 instead of 9-18.
        assert_eq!(s.state_at(at("2026-12-28T09:30:00Z")), HoursState::Closed);
        assert_eq!(s.state_at(at("2026-12-28T14:59:00Z")), HoursState::Open);
        assert_eq!(s.state_at(at("2026-12-28T15:00:00Z")), HoursState::Closed);
        // Monday 2026-12-21: special with no ranges, closed all day.
        assert_eq!(s.state_at(at("2026-12-21T10:00:00Z")), HoursState::Closed);
    }

    #[test]
    fn dst_uses_wall_clock_time() {
        let s = office();
        // Sunday 2026-03-29: London skips 01:00-02:00 local; never open.
        assert_eq!(s.state_at(at("2026-03-29T00:59:00Z")), HoursState::Closed);
        assert_eq!(s.state_at(at("2026-03-29T01:00:00Z")), HoursState::Closed);
        // Sunday 2026-10-25: 01:00-02:00 local happens twice; open both times.
        assert_eq!(s.state_at(at("2026-10-25T00:30:00Z")), HoursState::Open);
        assert_eq!(s.state_at(at("2026-10-25T01:30:00Z")), HoursState::Open);
        assert_eq!(s.state_at(at("2026-10-25T02:00:00Z")), HoursState::Closed);
    }

    #[test]
    fn ranges_are_checked() {
        assert_eq!(
            TimeRange::parse("09:00-24:00").unwrap(),
            TimeRange {
                start: 540,
                end: 1440
            }
        );
        assert_eq!(
            TimeRange::parse("09:00-18:00").unwrap().to_string(),
            "09:00-18:00"
        );
        for bad in [
            "9:00-18:00",
            "09:00",
            "09:60-10:00",
            "25:00-26:00",
            "24:00-24:00",
        ] {
            assert!(
                TimeRange::parse(bad)
                    .unwrap_err()
                    .starts_with("bad time range"),
                "{bad}"
            );
        }
        let crossing = TimeRange::parse("22:00-06:00").unwrap_err();
        assert!(crossing.contains("may not cross midnight"), "{crossing}");
        assert!(TimeRange::parse("10:00-10:00").is_err());
    }

    #[test]
    fn dates_and_zones_are_checked() {
        assert_eq!(
            parse_date("2026-02-30").unwrap_err(),
            "no such date `2026-02-30`"
        );
        assert!(parse_date("2026-2-3").unwrap_err().starts_with("bad date"));
        let zone: Result<Schedule, _> = toml::from_str(r#"time_zone = "Mars/Olympus""#);
        assert!(zone
            .unwrap_err()
            .to_string()
            .contains("unknown time zone `Mars/Olympus`"));
    }
}
