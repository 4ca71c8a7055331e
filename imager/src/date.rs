//! RFC 3339 timestamps for `--date` (a few lines instead of a date crate).

use gitfs_format::civil::{days_from_civil, days_in_month};

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` into seconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > i64::from(days_in_month(year, month as u32))
        || hour > 23
        || min > 59
        || sec > 60
    {
        return None;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        c @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *c == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month as u32, day as u32);
    Some(days * 86400 + hour * 3600 + min * 60 + sec.min(59) - offset)
}

#[cfg(test)]
mod tests {
    use super::parse_rfc3339 as p;

    #[test]
    fn known_instants() {
        assert_eq!(p("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(p("2001-09-09T01:46:40Z"), Some(1_000_000_000));
        assert_eq!(p("2001-09-09T03:46:40+02:00"), Some(1_000_000_000));
        assert_eq!(p("2001-09-08T23:46:40.123-02:00"), Some(1_000_000_000));
        assert_eq!(p("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        assert_eq!(p("1969-12-31T23:59:59Z"), Some(-1));
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "2023-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2023-01-01",
            "2023-01-01T00:00:00",
            "2023-01-01T00:00:00+0100",
            "x023-01-01T00:00:00Z",
        ] {
            assert_eq!(p(s), None, "{s}");
        }
    }
}
