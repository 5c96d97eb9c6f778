//! Calendar arithmetic for the HTTP backends, without a date crate: the RFC 1123 date
//! that Azure signs (`x-ms-date`), the calendar fields of S3's SigV4 `x-amz-date`, and the
//! RFC 3339 expiry times that token endpoints and AWS credential services return. Unix
//! seconds in, unix seconds out; UTC only, no leap seconds (as HTTP).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch now (0 if the clock is before 1970).
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

/// A unix time as UTC calendar fields, for formatting.
#[derive(Debug, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    /// 1-12.
    pub month: u32,
    /// 1-31.
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// 0 for Sunday to 6 for Saturday.
    pub weekday: u32,
}

/// The UTC calendar fields of `secs` (unix seconds).
pub fn utc(secs: i64) -> Utc {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400) as u32;
    let (year, month, day) = civil_from_days(days);
    Utc {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: rem % 3600 / 60,
        second: rem % 60,
        // 1970-01-01 was a Thursday.
        weekday: (days + 4).rem_euclid(7) as u32,
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 1123, the HTTP date).
pub fn http_date(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = utc(secs);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[t.weekday as usize],
        t.day,
        MONTHS[t.month as usize - 1],
        t.year,
        t.hour,
        t.minute,
        t.second
    )
}

/// Unix seconds of an RFC 3339 time such as `2024-05-01T12:00:00Z`,
/// `2024-05-01T12:00:00.123456Z` or `2024-05-01T14:00:00+02:00` (fractions dropped).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let s = s.trim();
    let num = |r: &str| -> Option<i64> {
        if r.is_empty() || !r.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        r.parse().ok()
    };
    let b = s.as_bytes();
    // ASCII only, so that every slice below is on a character boundary.
    if !s.is_ascii()
        || b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
    {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(&s[0..4])?, num(&s[5..7])?, num(&s[8..10])?);
    let (h, mi, sec) = (num(&s[11..13])?, num(&s[14..16])?, num(&s[17..19])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let hm = &rest[1..];
            if hm.len() != 5 || hm.as_bytes()[2] != b':' {
                return None;
            }
            sign * (num(&hm[0..2])? * 3600 + num(&hm[3..5])? * 60)
        }
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    Some(days * 86400 + h * 3600 + mi * 60 + sec - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(1735689599), "Tue, 31 Dec 2024 23:59:59 GMT");
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("1994-11-06T08:49:37Z"), Some(784111777));
        assert_eq!(
            parse_rfc3339("1994-11-06T08:49:37.123456Z"),
            Some(784111777)
        );
        assert_eq!(parse_rfc3339("1994-11-06T10:49:37+02:00"), Some(784111777));
        assert_eq!(parse_rfc3339("1994-11-06T03:49:37-05:00"), Some(784111777));
        assert_eq!(
            parse_rfc3339("2013-05-24T01:00:00.123+01:00"),
            Some(1_369_353_600)
        );
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(951782400));
        for bad in [
            "",
            "1994-11-06",
            "1994-11-06T08:49:37",
            "1994-13-06T08:49:37Z",
            "1994-11-06T08:49:37.Z",
            "1994-11-06T08:49:37+0200",
            "yyyy-11-06T08:49:37Z",
            "1994-11-06T08:49:3éZ",
            "1994-11-06T08:49:37+02:é",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn calendar_fields() {
        assert_eq!(
            utc(784111777),
            Utc {
                year: 1994,
                month: 11,
                day: 6,
                hour: 8,
                minute: 49,
                second: 37,
                weekday: 0,
            }
        );
        let before_1970 = utc(-1);
        assert_eq!(
            (before_1970.year, before_1970.month, before_1970.day),
            (1969, 12, 31)
        );
        assert_eq!(
            (before_1970.hour, before_1970.minute, before_1970.second),
            (23, 59, 59)
        );
        assert_eq!(before_1970.weekday, 3);
    }

    #[test]
    fn round_trips_days() {
        for d in [-1000, -1, 0, 1, 10957, 11016, 20000, 100000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }
}
