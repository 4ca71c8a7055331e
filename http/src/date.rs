//! IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 9110 section 5.6.7.

use gitfs_format::civil::{civil_from_days, days_from_civil};

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Formats Unix seconds as an IMF-fixdate.
pub fn format_http_date(secs: u64) -> String {
    let secs = secs as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let wd = DAYS[(days + 4).rem_euclid(7) as usize];
    format!(
        "{wd}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn num(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u32, |n, &b| {
        n.checked_mul(10)?.checked_add(u32::from(b - b'0'))
    })
}

/// Parses an IMF-fixdate; the obsolete forms are not accepted (the caller then ignores
/// the header, which RFC 9110 allows).
pub fn parse_http_date(s: &[u8]) -> Option<u64> {
    let s = s.trim_ascii();
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    if s.len() != 29 || &s[3..5] != b", " || &s[25..] != b" GMT" {
        return None;
    }
    if !DAYS.iter().any(|d| d.as_bytes() == &s[..3]) {
        return None;
    }
    let (day, month, year) = (num(&s[5..7])?, &s[8..11], num(&s[12..16])?);
    if s[7] != b' ' || s[11] != b' ' || s[16] != b' ' || s[19] != b':' || s[22] != b':' {
        return None;
    }
    let m = MONTHS.iter().position(|n| n.as_bytes() == month)? as u32 + 1;
    let (h, mi, se) = (num(&s[17..19])?, num(&s[20..22])?, num(&s[23..25])?);
    if !(1..=31).contains(&day) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = days_from_civil(i64::from(year), m, day);
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + se);
    u64::try_from(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            format_http_date(784_111_777),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(
            format_http_date(951_782_400),
            "Tue, 29 Feb 2000 00:00:00 GMT"
        );
        assert_eq!(
            format_http_date(4_133_980_799),
            "Fri, 31 Dec 2100 23:59:59 GMT"
        );
        assert_eq!(
            format_http_date(4_107_542_399),
            "Sun, 28 Feb 2100 23:59:59 GMT"
        );
        assert_eq!(
            format_http_date(1_700_000_000),
            "Tue, 14 Nov 2023 22:13:20 GMT"
        );
    }

    #[test]
    fn round_trip() {
        let mut t = 0u64;
        while t < 5_000_000_000 {
            let s = format_http_date(t);
            assert_eq!(parse_http_date(s.as_bytes()), Some(t), "{s}");
            t += 86_399 * 7 + 12_345;
        }
    }

    #[test]
    fn rejects_other_forms() {
        for s in [
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 36 Nov 1994 08:49:37 GMT",
            "",
        ] {
            assert_eq!(parse_http_date(s.as_bytes()), None, "{s}");
        }
    }
}
