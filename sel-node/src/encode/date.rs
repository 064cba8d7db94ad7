//! Splitting a date of birth into day, month and year.
//!
//! Mainzelliste keeps the date as three integer fields; CSV exports usually
//! have one date column. Only two unambiguous formats are accepted: ISO
//! `YYYY-MM-DD` and German `DD.MM.YYYY`. US `MM/DD/YYYY` is refused on purpose,
//! since `03/04/1980` would silently swap day and month for half the rows.

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date {
    pub day: u32,
    pub month: u32,
    pub year: u32,
}

/// Why a date cell was rejected. Never contains the cell (it is patient data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("not a date in the form YYYY-MM-DD or DD.MM.YYYY")]
    Format,
    #[error("month is not in 1..=12")]
    Month,
    #[error("day does not exist in that month")]
    Day,
}

/// Parses `YYYY-MM-DD` or `D.M.YYYY` (one or two digits for day and month,
/// four for the year), checking that the day exists (leap years included).
pub fn parse_date(cell: &str) -> Result<Date, DateError> {
    let (year, month, day) = if let Some((y, rest)) = cell.split_once('-') {
        let (m, d) = rest.split_once('-').ok_or(DateError::Format)?;
        (digits(y, 4, 4)?, digits(m, 2, 2)?, digits(d, 2, 2)?)
    } else {
        let mut parts = cell.split('.');
        let (Some(d), Some(m), Some(y), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(DateError::Format);
        };
        (digits(y, 4, 4)?, digits(m, 1, 2)?, digits(d, 1, 2)?)
    };
    if !(1..=12).contains(&month) {
        return Err(DateError::Month);
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err(DateError::Day);
    }
    Ok(Date { day, month, year })
}

fn digits(s: &str, min: usize, max: usize) -> Result<u32, DateError> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DateError::Format);
    }
    s.parse().map_err(|_| DateError::Format)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(day: u32, month: u32, year: u32) -> Date {
        Date { day, month, year }
    }

    #[test]
    fn accepts_iso_and_german() {
        assert_eq!(parse_date("1980-02-29"), Ok(d(29, 2, 1980)));
        assert_eq!(parse_date("24.12.1864"), Ok(d(24, 12, 1864)));
        assert_eq!(parse_date("1.2.2000"), Ok(d(1, 2, 2000)));
        assert_eq!(parse_date("29.02.2000"), Ok(d(29, 2, 2000)));
    }

    #[test]
    fn rejects_impossible_and_ambiguous_dates() {
        assert_eq!(parse_date("1900-02-29"), Err(DateError::Day));
        assert_eq!(parse_date("31.04.1990"), Err(DateError::Day));
        assert_eq!(parse_date("00.01.1990"), Err(DateError::Day));
        assert_eq!(parse_date("01.13.1990"), Err(DateError::Month));
        assert_eq!(parse_date("03/04/1980"), Err(DateError::Format));
        assert_eq!(parse_date("1980-2-3"), Err(DateError::Format));
        assert_eq!(parse_date("1.2.80"), Err(DateError::Format));
        assert_eq!(parse_date("1.2.1980.5"), Err(DateError::Format));
        assert_eq!(parse_date("+1.2.1980"), Err(DateError::Format));
        assert_eq!(parse_date(""), Err(DateError::Format));
    }
}
