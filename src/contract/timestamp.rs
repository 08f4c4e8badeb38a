//! Strict RFC 3339 timestamps: [`parse_strict`] turns text into an [`Instant`] or says which
//! timestamp rule (T1 grammar, T2 calendar, T3 range) the text breaks.
//!
//! Written by hand on purpose: the common date crates accept a space instead of `T`, more than
//! nine fractional digits, `+0300` offsets or years outside the protobuf range. Here the grammar
//! is RFC 3339 section 5.6 with the protobuf limit of nine fractional digits, the calendar is the
//! proleptic Gregorian one without leap seconds, and the range is the one of
//! `google.protobuf.Timestamp` after the offset is applied.

use std::fmt;

/// A point in time in UTC: seconds since 1970-01-01T00:00:00Z plus nanoseconds.
/// Ordering compares instants, so `10:00:00+01:00` equals `09:00:00Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    pub seconds: i64,
    pub nanos: u32,
}

impl Instant {
    /// The same instant as a chrono value (every instant of the protobuf range has one).
    pub fn to_utc(self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::from_timestamp(self.seconds, self.nanos)
    }
}

/// Why a timestamp is not acceptable, tagged by the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimestampError {
    /// T1: the text does not follow the RFC 3339 `date-time` grammar.
    Syntax(String),
    /// T2: the fields are well formed but name no real instant (month 13, 30 February, 24:00).
    Calendar(String),
    /// T3: a real instant outside 0001-01-01T00:00:00Z ..= 9999-12-31T23:59:59.999999999Z.
    Range(String),
}

impl TimestampError {
    /// The contract rule this error breaks.
    pub fn rule(&self) -> &'static str {
        match self {
            TimestampError::Syntax(_) => "T1",
            TimestampError::Calendar(_) => "T2",
            TimestampError::Range(_) => "T3",
        }
    }
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimestampError::Syntax(m) => write!(f, "not RFC 3339: {m}"),
            TimestampError::Calendar(m) => write!(f, "not a real instant: {m}"),
            TimestampError::Range(m) => write!(f, "outside the protobuf timestamp range: {m}"),
        }
    }
}

const MAX_FRACTION_DIGITS: usize = 9;

/// Parses `text` as a strict RFC 3339 timestamp and normalises it to UTC.
pub fn parse_strict(text: &str) -> Result<Instant, TimestampError> {
    let b = text.as_bytes();
    let mut cur = Cursor { b, pos: 0 };
    let year = cur.digits(4, "a 4-digit year")?;
    cur.literal(b"-", "'-' after the year")?;
    let month = cur.digits(2, "a 2-digit month")?;
    cur.literal(b"-", "'-' after the month")?;
    let day = cur.digits(2, "a 2-digit day")?;
    cur.literal(b"Tt", "'T' between date and time")?;
    let hour = cur.digits(2, "a 2-digit hour")?;
    cur.literal(b":", "':' after the hour")?;
    let minute = cur.digits(2, "2-digit minutes")?;
    cur.literal(b":", "':' after the minutes")?;
    let second = cur.digits(2, "2-digit seconds")?;
    let mut nanos: u32 = 0;
    if cur.peek() == Some(b'.') {
        cur.pos += 1;
        let start = cur.pos;
        while cur.peek().is_some_and(|c| c.is_ascii_digit()) {
            cur.pos += 1;
        }
        let count = cur.pos - start;
        if count == 0 {
            return Err(cur.syntax("at least one digit after '.'"));
        }
        if count > MAX_FRACTION_DIGITS {
            return Err(TimestampError::Syntax(format!(
                "{count} fractional digits, at most {MAX_FRACTION_DIGITS} are allowed"
            )));
        }
        for (i, d) in b[start..cur.pos].iter().enumerate() {
            nanos += u32::from(d - b'0') * 10u32.pow((MAX_FRACTION_DIGITS - 1 - i) as u32);
        }
    }
    let offset_minutes: i64 = match cur.peek() {
        Some(b'Z' | b'z') => {
            cur.pos += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            cur.pos += 1;
            let oh = cur.digits(2, "a 2-digit offset hour")?;
            cur.literal(b":", "':' inside the offset")?;
            let om = cur.digits(2, "2-digit offset minutes")?;
            if oh > 23 || om > 59 {
                return Err(TimestampError::Calendar(format!(
                    "offset {oh:02}:{om:02} is not a valid offset"
                )));
            }
            let total = i64::from(oh * 60 + om);
            if sign == b'+' { total } else { -total }
        }
        _ => return Err(cur.syntax("'Z' or a numeric offset such as +03:00")),
    };
    if cur.pos != b.len() {
        return Err(cur.syntax("the end of the timestamp"));
    }

    if !(1..=12).contains(&month) {
        return Err(TimestampError::Calendar(format!("month {month:02}")));
    }
    let last_day = days_in_month(i64::from(year), month);
    if day == 0 || day > last_day {
        return Err(TimestampError::Calendar(format!(
            "day {day:02} of month {month:02} in year {year:04}"
        )));
    }
    if hour > 23 {
        return Err(TimestampError::Calendar(format!("hour {hour:02}")));
    }
    if minute > 59 {
        return Err(TimestampError::Calendar(format!("minute {minute:02}")));
    }
    if second > 59 {
        return Err(TimestampError::Calendar(format!(
            "second {second:02} (protobuf timestamps have no leap second)"
        )));
    }

    let days = days_from_civil(i64::from(year), month, day);
    let local = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    let instant = Instant {
        seconds: local - offset_minutes * 60,
        nanos,
    };
    if instant < MIN_INSTANT || instant > MAX_INSTANT {
        return Err(TimestampError::Range(format!(
            "{text} is outside 0001-01-01T00:00:00Z ..= 9999-12-31T23:59:59.999999999Z in UTC"
        )));
    }
    Ok(instant)
}

/// 0001-01-01T00:00:00Z.
const MIN_INSTANT: Instant = Instant {
    seconds: -62_135_596_800,
    nanos: 0,
};
/// 9999-12-31T23:59:59.999999999Z.
const MAX_INSTANT: Instant = Instant {
    seconds: 253_402_300_799,
    nanos: 999_999_999,
};

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn syntax(&self, wanted: &str) -> TimestampError {
        let found = match self.b.get(self.pos) {
            Some(c) => format!("{:?}", char::from(*c)),
            None => "the end".to_string(),
        };
        TimestampError::Syntax(format!(
            "expected {wanted} at byte {}, found {found}",
            self.pos
        ))
    }

    fn digits(&mut self, n: usize, wanted: &str) -> Result<u32, TimestampError> {
        let mut value = 0u32;
        for _ in 0..n {
            match self.peek() {
                Some(c) if c.is_ascii_digit() => {
                    value = value * 10 + u32::from(c - b'0');
                    self.pos += 1;
                }
                _ => return Err(self.syntax(wanted)),
            }
        }
        Ok(value)
    }

    fn literal(&mut self, allowed: &[u8], wanted: &str) -> Result<(), TimestampError> {
        match self.peek() {
            Some(c) if allowed.contains(&c) => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(self.syntax(wanted)),
        }
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Ok(())` marks a valid timestamp, `Err(rule)` the rule an invalid one breaks.
    const TABLE: &[(&str, Result<(), &str>)] = &[
        ("2026-11-28T01:02:03Z", Ok(())),
        ("2026-11-28T01:02:03.1Z", Ok(())),
        ("2026-11-28T01:02:03.123Z", Ok(())),
        ("2026-11-28T01:02:03.123456Z", Ok(())),
        ("2026-11-28T01:02:03.123456789Z", Ok(())),
        ("2026-11-28t01:02:03z", Ok(())),
        ("2026-11-28T01:02:03+03:00", Ok(())),
        ("2026-11-28T01:02:03-00:00", Ok(())),
        ("2026-11-28T01:02:03+23:59", Ok(())),
        ("2026-11-28T01:02:03.5-11:30", Ok(())),
        ("2024-02-29T00:00:00Z", Ok(())),
        ("2000-02-29T00:00:00Z", Ok(())),
        ("0001-01-01T00:00:00Z", Ok(())),
        ("9999-12-31T23:59:59.999999999Z", Ok(())),
        ("0001-01-01T00:30:00+00:30", Ok(())),
        ("0000-12-31T23:30:00-01:00", Ok(())),
        ("9999-12-31T23:30:00+01:00", Ok(())),
        ("1970-01-01T00:00:00Z", Ok(())),
        ("2026-11-28 01:02:03Z", Err("T1")),
        ("2026-11-28T01:02:03", Err("T1")),
        ("2026-11-28T01:02:03.1234567891Z", Err("T1")),
        ("2026-11-28T01:02:03.Z", Err("T1")),
        ("10000-01-01T00:00:00Z", Err("T1")),
        ("+2026-11-28T01:02:03Z", Err("T1")),
        ("-2026-11-28T01:02:03Z", Err("T1")),
        ("2026-11-28T01:02:03+0300", Err("T1")),
        ("2026-11-28T01:02:03+03", Err("T1")),
        ("2026-11-28T01:02:03,5Z", Err("T1")),
        ("2026-11-28T01:02Z", Err("T1")),
        ("2026-11-28T1:02:03Z", Err("T1")),
        ("26-11-28T01:02:03Z", Err("T1")),
        ("2026-11-28T01:02:03Z\n", Err("T1")),
        (" 2026-11-28T01:02:03Z", Err("T1")),
        ("2026-11-28T01:02:03ZZ", Err("T1")),
        ("2026-11-28", Err("T1")),
        ("", Err("T1")),
        ("2026-11-28T01:02:03UTC", Err("T1")),
        ("２０２６-11-28T01:02:03Z", Err("T1")),
        ("2026-11-28_01:02:03Z", Err("T1")),
        ("2026-13-01T00:00:00Z", Err("T2")),
        ("2026-00-01T00:00:00Z", Err("T2")),
        ("2026-02-29T00:00:00Z", Err("T2")),
        ("2100-02-29T00:00:00Z", Err("T2")),
        ("2026-02-30T00:00:00Z", Err("T2")),
        ("2026-04-31T00:00:00Z", Err("T2")),
        ("2026-11-00T00:00:00Z", Err("T2")),
        ("2026-11-28T24:00:00Z", Err("T2")),
        ("2026-11-28T01:60:00Z", Err("T2")),
        ("2026-12-31T23:59:60Z", Err("T2")),
        ("2026-11-28T01:02:03+24:00", Err("T2")),
        ("2026-11-28T01:02:03+03:60", Err("T2")),
        ("0000-12-31T23:59:59Z", Err("T3")),
        ("0001-01-01T00:30:00+01:00", Err("T3")),
        ("9999-12-31T23:30:00-01:00", Err("T3")),
        ("0000-01-01T00:00:00Z", Err("T3")),
    ];

    #[test]
    fn table_of_valid_and_invalid_timestamps() {
        assert!(TABLE.len() >= 40);
        for (text, expected) in TABLE {
            let got = parse_strict(text).map(|_| ()).map_err(|e| e.rule());
            assert_eq!(
                &got,
                expected,
                "timestamp {text:?}: {:?}",
                parse_strict(text)
            );
        }
    }

    #[test]
    fn offsets_normalise_to_the_same_instant() {
        let a = parse_strict("2026-11-28T10:00:00+01:00").unwrap();
        let b = parse_strict("2026-11-28T09:00:00.000Z").unwrap();
        assert_eq!(a, b);
        let c = parse_strict("2026-11-28T09:00:00.000000001Z").unwrap();
        assert!(c > b);
    }

    #[test]
    fn range_ends_are_exact() {
        assert_eq!(parse_strict("0001-01-01T00:00:00Z").unwrap(), MIN_INSTANT);
        assert_eq!(
            parse_strict("9999-12-31T23:59:59.999999999Z").unwrap(),
            MAX_INSTANT
        );
        assert_eq!(parse_strict("1970-01-01T00:00:00Z").unwrap().seconds, 0);
    }

    /// Cross-check of the hand-written calendar against chrono on valid inputs.
    #[test]
    fn instants_agree_with_chrono() {
        for text in [
            "2026-11-28T01:02:03.123456789Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "2024-02-29T12:00:00.5+05:30",
            "1900-03-01T00:00:00-23:59",
            "1969-12-31T23:59:59.999Z",
        ] {
            let ours = parse_strict(text).unwrap();
            let theirs = chrono::DateTime::parse_from_rfc3339(text).unwrap();
            assert_eq!(ours.seconds, theirs.timestamp(), "{text}");
            assert_eq!(ours.nanos, theirs.timestamp_subsec_nanos(), "{text}");
        }
    }
}
