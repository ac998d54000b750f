//! Timestamps and durations with CEL's ranges: timestamps from year 1 to
//! 9999 (UTC) at nanosecond precision, durations up to ±10,000 years.
//! Calendar and time-zone arithmetic is delegated to chrono / chrono-tz.

use chrono::{DateTime, Datelike, FixedOffset, TimeZone, Timelike, Utc};

use crate::error::EvalError;

/// Seconds of 0001-01-01T00:00:00Z since the Unix epoch.
pub const MIN_TS_SECS: i64 = -62_135_596_800;
/// Seconds of 9999-12-31T23:59:59Z since the Unix epoch.
pub const MAX_TS_SECS: i64 = 253_402_300_799;
/// The largest duration CEL supports, in seconds (10,000 years).
pub const MAX_DUR_SECS: i64 = 315_576_000_000;

const NANOS: i128 = 1_000_000_000;

/// A point in time, UTC, nanosecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

/// A signed span of time, nanosecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    total_nanos: i64x2,
}

/// Total nanoseconds stored as i128 would widen `Value`; two i64 halves keep it at 16 bytes.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct i64x2 {
    secs: i64,
    /// Always in 0..1e9; negative durations borrow from `secs`.
    nanos: u32,
}

impl Timestamp {
    pub fn new(secs: i64, nanos: u32) -> Result<Timestamp, EvalError> {
        if !(MIN_TS_SECS..=MAX_TS_SECS).contains(&secs) || nanos >= 1_000_000_000 {
            return Err(EvalError::range("timestamp out of range"));
        }
        Ok(Timestamp { secs, nanos })
    }
    pub fn from_unix_nanos(n: i128) -> Result<Timestamp, EvalError> {
        let secs = n.div_euclid(NANOS);
        let nanos = n.rem_euclid(NANOS) as u32;
        let secs = i64::try_from(secs).map_err(|_| EvalError::range("timestamp out of range"))?;
        Timestamp::new(secs, nanos)
    }
    pub fn unix_nanos(self) -> i128 {
        self.secs as i128 * NANOS + self.nanos as i128
    }
    pub fn seconds(self) -> i64 {
        self.secs
    }
    pub fn parse(s: &str) -> Result<Timestamp, EvalError> {
        let dt = DateTime::parse_from_rfc3339(s)
            .map_err(|e| EvalError::invalid(format!("invalid timestamp {s:?}: {e}")))?;
        Timestamp::new(dt.timestamp(), dt.timestamp_subsec_nanos())
    }

    fn to_utc(self) -> DateTime<Utc> {
        // In range by construction, so chrono can represent it.
        Utc.timestamp_opt(self.secs, self.nanos)
            .single()
            .unwrap_or_default()
    }

    /// RFC 3339 in UTC with trailing zeros of the fraction removed.
    pub fn to_rfc3339(self) -> String {
        let dt = self.to_utc();
        let base = dt.format("%Y-%m-%dT%H:%M:%S").to_string();
        if self.nanos == 0 {
            format!("{base}Z")
        } else {
            let frac = format!("{:09}", self.nanos);
            format!("{base}.{}Z", frac.trim_end_matches('0'))
        }
    }

    pub fn plus(self, d: Duration) -> Result<Timestamp, EvalError> {
        Timestamp::from_unix_nanos(self.unix_nanos() + d.nanos())
    }
    pub fn minus(self, d: Duration) -> Result<Timestamp, EvalError> {
        Timestamp::from_unix_nanos(self.unix_nanos() - d.nanos())
    }
    pub fn diff(self, other: Timestamp) -> Result<Duration, EvalError> {
        let n = self.unix_nanos() - other.unix_nanos();
        // The reference implementation computes differences in 64-bit nanoseconds (±292 years).
        if n > i64::MAX as i128 || n < i64::MIN as i128 {
            return Err(EvalError::range("timestamp difference out of range"));
        }
        Duration::from_nanos(n)
    }

    /// A calendar field of this instant in a time zone (IANA name or `±HH:MM`).
    pub fn field(self, field: TimeField, tz: Option<&str>) -> Result<i64, EvalError> {
        let utc = self.to_utc();
        match tz {
            None => Ok(field.of(&utc)),
            Some(name) => {
                if let Some(off) = parse_offset(name) {
                    Ok(field.of(&utc.with_timezone(&off)))
                } else {
                    let zone: chrono_tz::Tz = name
                        .parse()
                        .map_err(|_| EvalError::invalid(format!("unknown time zone {name:?}")))?;
                    Ok(field.of(&utc.with_timezone(&zone)))
                }
            }
        }
    }
}

fn parse_offset(s: &str) -> Option<FixedOffset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        b'0'..=b'9' => (1, s),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// Calendar fields readable from a timestamp (CEL's `getX()` accessors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeField {
    FullYear,
    /// 0-based month.
    Month,
    /// 1-based day of month (`getDate`).
    Date,
    /// 0-based day of month.
    DayOfMonth,
    /// 0 = Sunday.
    DayOfWeek,
    /// 0-based day of year.
    DayOfYear,
    Hours,
    Minutes,
    Seconds,
    Milliseconds,
}

impl TimeField {
    fn of<T: Datelike + Timelike>(self, t: &T) -> i64 {
        match self {
            TimeField::FullYear => t.year() as i64,
            TimeField::Month => t.month0() as i64,
            TimeField::Date => t.day() as i64,
            TimeField::DayOfMonth => t.day0() as i64,
            TimeField::DayOfWeek => t.weekday().num_days_from_sunday() as i64,
            TimeField::DayOfYear => t.ordinal0() as i64,
            TimeField::Hours => t.hour() as i64,
            TimeField::Minutes => t.minute() as i64,
            TimeField::Seconds => t.second() as i64,
            TimeField::Milliseconds => (t.nanosecond() % 1_000_000_000 / 1_000_000) as i64,
        }
    }
}

impl Duration {
    pub fn from_nanos(n: i128) -> Result<Duration, EvalError> {
        let max = MAX_DUR_SECS as i128 * NANOS + (NANOS - 1);
        if n > max || n < -max {
            return Err(EvalError::range("duration out of range"));
        }
        Ok(Duration {
            total_nanos: i64x2 {
                secs: n.div_euclid(NANOS) as i64,
                nanos: n.rem_euclid(NANOS) as u32,
            },
        })
    }
    pub fn from_secs(s: i64) -> Result<Duration, EvalError> {
        Duration::from_nanos(s as i128 * NANOS)
    }
    pub fn nanos(self) -> i128 {
        self.total_nanos.secs as i128 * NANOS + self.total_nanos.nanos as i128
    }
    pub fn plus(self, o: Duration) -> Result<Duration, EvalError> {
        Duration::from_nanos(self.nanos() + o.nanos())
    }
    pub fn minus(self, o: Duration) -> Result<Duration, EvalError> {
        Duration::from_nanos(self.nanos() - o.nanos())
    }
    pub fn negated(self) -> Result<Duration, EvalError> {
        Duration::from_nanos(-self.nanos())
    }

    /// Go-style duration syntax: `1h30m`, `1.5s`, `-200ms`, `10us`, `3ns`.
    pub fn parse(s: &str) -> Result<Duration, EvalError> {
        let bad = || EvalError::invalid(format!("invalid duration {s:?}"));
        let (neg, mut rest) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        if rest == "0" {
            return Ok(Duration::default());
        }
        if rest.is_empty() {
            return Err(bad());
        }
        let mut total: i128 = 0;
        while !rest.is_empty() {
            let num_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(bad)?;
            let (num, tail) = rest.split_at(num_end);
            if num.is_empty() || num == "." {
                return Err(bad());
            }
            let unit_end = tail
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(tail.len());
            let (unit, tail) = tail.split_at(unit_end);
            let scale: i128 = match unit {
                "ns" => 1,
                "us" | "µs" => 1_000,
                "ms" => 1_000_000,
                "s" => NANOS,
                "m" => 60 * NANOS,
                "h" => 3600 * NANOS,
                _ => return Err(bad()),
            };
            let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
            let ip: i128 = if int_part.is_empty() {
                0
            } else {
                int_part
                    .parse()
                    .map_err(|_| EvalError::range("duration out of range"))?
            };
            let mut v = ip
                .checked_mul(scale)
                .ok_or_else(|| EvalError::range("duration out of range"))?;
            if !frac_part.is_empty() {
                let digits = frac_part.len().min(30) as u32;
                let fp: i128 = frac_part[..digits as usize].parse().map_err(|_| bad())?;
                v += fp * scale / 10i128.pow(digits);
            }
            total = total
                .checked_add(v)
                .ok_or_else(|| EvalError::range("duration out of range"))?;
            rest = tail;
        }
        Duration::from_nanos(if neg { -total } else { total })
    }

    /// Seconds with the fraction trimmed: `1.5s`, `-0.000000001s`, `3600s`.
    pub fn to_cel_string(self) -> String {
        let n = self.nanos();
        let sign = if n < 0 { "-" } else { "" };
        let a = n.unsigned_abs();
        let secs = a / NANOS as u128;
        let frac = a % NANOS as u128;
        if frac == 0 {
            format!("{sign}{secs}s")
        } else {
            let f = format!("{frac:09}");
            format!("{sign}{secs}.{}s", f.trim_end_matches('0'))
        }
    }

    pub fn total(self, unit: i128) -> i64 {
        (self.nanos() / unit) as i64
    }
    pub const HOUR: i128 = 3600 * NANOS;
    pub const MINUTE: i128 = 60 * NANOS;
    pub const SECOND: i128 = NANOS;
    pub const MILLI: i128 = 1_000_000;
}

impl Default for Duration {
    fn default() -> Self {
        Duration {
            total_nanos: i64x2 { secs: 0, nanos: 0 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(Duration::parse("1h30m").unwrap().to_cel_string(), "5400s");
        assert_eq!(Duration::parse("-1.5s").unwrap().to_cel_string(), "-1.5s");
        assert_eq!(Duration::parse("10ms").unwrap().to_cel_string(), "0.01s");
        assert!(Duration::parse("320000000000s").is_err());
        assert!(Duration::parse("1x").is_err());
        assert!(Duration::parse("").is_err());
    }

    #[test]
    fn timestamps_round_trip() {
        let t = Timestamp::parse("2009-02-13T23:31:30.120Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2009-02-13T23:31:30.12Z");
        assert!(Timestamp::parse("0000-01-01T00:00:00Z").is_err());
        assert_eq!(t.field(TimeField::Hours, Some("+01:00")).unwrap(), 0);
    }
}
