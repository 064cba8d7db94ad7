//! Check digits of structured identifiers.
//!
//! A regex alone turns every nine-digit number into an SSN; the check digit
//! (or, for SSNs, the ranges the SSA never issues) is what lets a recognizer
//! claim a match with high confidence and reject look-alikes such as lab
//! values or order numbers. The `*_check_digit` functions compute the digit a
//! valid identifier ends with; the synthetic evaluation corpus uses them to
//! inject valid values, and the validators are their inverse.

/// The decimal digits of `s`, ignoring separators (space, `-`, `.`).
/// `None` when `s` holds any other non-digit character.
pub fn digits(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '0'..='9' => out.push(c as u8 - b'0'),
            ' ' | '-' | '.' => {}
            _ => return None,
        }
    }
    Some(out)
}

/// Luhn (mod 10) over digit values, the last one being the check digit.
pub fn luhn_valid(digits: &[u8]) -> bool {
    if digits.len() < 2 {
        return false;
    }
    luhn_sum(digits, false).is_multiple_of(10)
}

/// The Luhn check digit to append to `payload`.
pub fn luhn_check_digit(payload: &[u8]) -> u8 {
    ((10 - luhn_sum(payload, true) % 10) % 10) as u8
}

/// Luhn sum from the right; `double_first` says whether the rightmost digit
/// is doubled (true when the check digit is not yet appended).
fn luhn_sum(digits: &[u8], double_first: bool) -> u32 {
    digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if (i % 2 == 0) == double_first {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum()
}

/// US Social Security number: nine digits whose area (first three) is not
/// 000, 666 or 900–999, whose group is not 00 and whose serial is not 0000;
/// all nine digits the same is rejected too (a common placeholder).
pub fn ssn_valid(s: &str) -> bool {
    let Some(d) = digits(s) else { return false };
    if d.len() != 9 {
        return false;
    }
    let area = u32::from(d[0]) * 100 + u32::from(d[1]) * 10 + u32::from(d[2]);
    let group = u32::from(d[3]) * 10 + u32::from(d[4]);
    let serial = d[5..].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        && d.iter().any(|&x| x != d[0])
}

/// Canadian Social Insurance Number: nine digits, Luhn, first digit not 0
/// or 8 (never issued).
pub fn sin_valid(s: &str) -> bool {
    let Some(d) = digits(s) else { return false };
    d.len() == 9 && d[0] != 0 && d[0] != 8 && luhn_valid(&d)
}

/// US National Provider Identifier: ten digits starting with 1 or 2 whose
/// Luhn check covers the card-issuer prefix 80840 plus the ten digits.
pub fn npi_valid(s: &str) -> bool {
    let Some(d) = digits(s) else { return false };
    if d.len() != 10 || !(d[0] == 1 || d[0] == 2) {
        return false;
    }
    let mut full = vec![8, 0, 8, 4, 0];
    full.extend_from_slice(&d);
    luhn_valid(&full)
}

/// The tenth digit of an NPI whose first nine digits are `payload`.
pub fn npi_check_digit(payload: &[u8]) -> u8 {
    let mut full = vec![8, 0, 8, 4, 0];
    full.extend_from_slice(payload);
    luhn_check_digit(&full)
}

/// DEA registration number: two letters and seven digits where
/// (d1+d3+d5) + 2·(d2+d4+d6) ends in d7. The first letter is a registrant
/// type; the second is a letter (or 9 for some business activities).
pub fn dea_valid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 9 || !b[0].is_ascii_alphabetic() || !(b[1].is_ascii_alphabetic() || b[1] == b'9')
    {
        return false;
    }
    let Some(d) = digits(&s[2..]) else {
        return false;
    };
    d.len() == 7 && dea_check_digit(&d[..6]) == d[6]
}

/// The seventh digit of a DEA number whose first six digits are `payload`.
pub fn dea_check_digit(payload: &[u8]) -> u8 {
    let odd = u32::from(payload[0]) + u32::from(payload[2]) + u32::from(payload[4]);
    let even = u32::from(payload[1]) + u32::from(payload[3]) + u32::from(payload[5]);
    ((odd + 2 * even) % 10) as u8
}

/// IBAN: country code, two check digits, up to 30 alphanumerics; the number
/// with its first four characters moved to the end, letters as 10..35, is 1
/// mod 97 (ISO 13616). Spaces are ignored.
pub fn iban_valid(s: &str) -> bool {
    let compact: Vec<u8> = s.bytes().filter(|b| *b != b' ').collect();
    if compact.len() < 15 || compact.len() > 34 {
        return false;
    }
    if !compact[..2].iter().all(u8::is_ascii_uppercase)
        || !compact[2..4].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    if !compact
        .iter()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return false;
    }
    let mut rotated = compact[4..].to_vec();
    rotated.extend_from_slice(&compact[..4]);
    iban_mod97(&rotated) == 1
}

/// The two IBAN check digits for `country` (two upper-case letters) and the
/// basic bank account number `bban` (upper-case alphanumerics).
pub fn iban_check_digits(country: &str, bban: &str) -> u32 {
    let mut rotated: Vec<u8> = bban.bytes().collect();
    rotated.extend_from_slice(country.as_bytes());
    rotated.extend_from_slice(b"00");
    98 - iban_mod97(&rotated)
}

fn iban_mod97(chars: &[u8]) -> u32 {
    chars.iter().fold(0u32, |acc, &c| {
        if c.is_ascii_digit() {
            (acc * 10 + u32::from(c - b'0')) % 97
        } else {
            (acc * 100 + u32::from(c - b'A') + 10) % 97
        }
    })
}

/// ABA routing transit number: nine digits with
/// 3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) ≡ 0 (mod 10).
pub fn aba_valid(s: &str) -> bool {
    let Some(d) = digits(s) else { return false };
    d.len() == 9 && aba_sum(&d).is_multiple_of(10)
}

/// The ninth digit of a routing number whose first eight are `payload`.
pub fn aba_check_digit(payload: &[u8]) -> u8 {
    let mut full = payload.to_vec();
    full.push(0);
    ((10 - aba_sum(&full) % 10) % 10) as u8
}

fn aba_sum(d: &[u8]) -> u32 {
    let w = [3u32, 7, 1];
    d.iter()
        .enumerate()
        .map(|(i, &x)| w[i % 3] * u32::from(x))
        .sum()
}

/// Payment card: 13–19 digits (separators allowed), an issuer prefix
/// 2–6 and a valid Luhn check.
pub fn credit_card_valid(s: &str) -> bool {
    let Some(d) = digits(s) else { return false };
    (13..=19).contains(&d.len())
        && (2..=6).contains(&d[0])
        && luhn_valid(&d)
        && d.iter().any(|&x| x != d[0])
}

/// Value of a VIN character in the ISO 3779 check-digit computation.
fn vin_value(c: u8) -> Option<u32> {
    Some(match c {
        b'0'..=b'9' => u32::from(c - b'0'),
        b'A' | b'J' => 1,
        b'B' | b'K' | b'S' => 2,
        b'C' | b'L' | b'T' => 3,
        b'D' | b'M' | b'U' => 4,
        b'E' | b'N' | b'V' => 5,
        b'F' | b'W' => 6,
        b'G' | b'P' | b'X' => 7,
        b'H' | b'Y' => 8,
        b'R' | b'Z' => 9,
        _ => return None,
    })
}

/// The North American VIN check character (position 9) for a 17-character
/// VIN; the character at position 9 itself is ignored.
pub fn vin_check_char(vin: &[u8]) -> Option<u8> {
    const WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];
    if vin.len() != 17 {
        return None;
    }
    let mut sum = 0;
    for (i, &c) in vin.iter().enumerate() {
        sum += vin_value(c)? * WEIGHTS[i];
    }
    let r = sum % 11;
    Some(if r == 10 { b'X' } else { b'0' + r as u8 })
}

/// A 17-character VIN (no I, O or Q) with a valid check character.
pub fn vin_valid(s: &str) -> bool {
    let b = s.as_bytes();
    vin_check_char(b) == Some(*b.get(8).unwrap_or(&0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_digits() {
        assert!(luhn_valid(&digits("79927398713").unwrap()));
        assert!(!luhn_valid(&digits("79927398710").unwrap()));
        assert_eq!(luhn_check_digit(&digits("7992739871").unwrap()), 3);
    }

    #[test]
    fn ssn_ranges() {
        assert!(ssn_valid("412-55-7891"));
        assert!(!ssn_valid("000-55-7891"));
        assert!(!ssn_valid("666-55-7891"));
        assert!(!ssn_valid("912-55-7891"));
        assert!(!ssn_valid("412-00-7891"));
        assert!(!ssn_valid("412-55-0000"));
        assert!(!ssn_valid("111-11-1111"));
        assert!(!ssn_valid("412-55-789"));
    }

    #[test]
    fn sin_luhn() {
        // The well-known sample 046 454 286 passes Luhn but starts with 0 (never
        // issued to a person), so the validator refuses it.
        assert!(!sin_valid("046 454 286"));
        assert!(sin_valid("130 692 544"));
        assert!(!sin_valid("130 692 545"));
        // Luhn-valid but starting with 8: never issued.
        assert!(!sin_valid("800 000 002"));
    }

    #[test]
    fn npi_prefix_80840() {
        assert!(npi_valid("1234567893"));
        assert!(!npi_valid("1234567890"));
        assert!(!npi_valid("3234567893"));
        assert_eq!(npi_check_digit(&digits("123456789").unwrap()), 3);
    }

    #[test]
    fn dea_checksum() {
        assert!(dea_valid("AB1234563"));
        assert!(!dea_valid("AB1234564"));
        assert!(!dea_valid("A11234563"));
    }

    #[test]
    fn iban_mod97() {
        assert!(iban_valid("GB82WEST12345698765432"));
        assert!(iban_valid("DE89 3704 0044 0532 0130 00"));
        assert!(!iban_valid("DE88370400440532013000"));
        assert_eq!(iban_check_digits("DE", "370400440532013000"), 89);
    }

    #[test]
    fn aba_checksum() {
        assert!(aba_valid("011000015"));
        assert!(!aba_valid("011000016"));
        assert_eq!(aba_check_digit(&digits("01100001").unwrap()), 5);
    }

    #[test]
    fn credit_cards() {
        assert!(credit_card_valid("4111 1111 1111 1111"));
        assert!(credit_card_valid("3782-822463-10005"));
        assert!(!credit_card_valid("4111 1111 1111 1112"));
        assert!(!credit_card_valid("0000 0000 0000 0000"));
    }

    #[test]
    fn vin_check() {
        assert!(vin_valid("1M8GDM9AXKP042788"));
        assert!(!vin_valid("1M8GDM9A1KP042788"));
        assert!(!vin_valid("1M8GDM9AXKP04278"));
    }
}
