//! Phone numbers to E.164: what a SIP `From` user part (or a number typed
//! into the API) becomes before the caller-id lookup.
//!
//! ## Why hand-written rules, not the `phonenumber` crate
//! `phonenumber` (0.3, libphonenumber's metadata) builds on our MSRV, but
//! it brings about a dozen crates (a proc-macro among them) and a build
//! script that parses libphonenumber's 4 MB XML metadata on every clean
//! build, and it loads and compiles per-region regular expressions at run
//! time. We need much less: turn the few shapes a carrier or PBX puts in
//! `From` into one canonical key, not validate, format or geolocate. A
//! table of regions ([`REGIONS`]: country code, trunk prefix,
//! international prefixes, national number lengths) and the rules below
//! do that, in one small pure function. Adding a region is one row.
//!
//! ## Rules ([`normalise_phone`])
//! 1. Tolerated wrapping: spaces, `-`, `.`, `(`, `)` and `/` are dropped;
//!    a `sip:`/`sips:`/`tel:` scheme, anything from `@` and any `;param`
//!    are cut (callers normally strip them already). Anything else that
//!    is not a digit (after an optional leading `+`) refuses the number.
//! 2. `+<digits>`: international already. A known country code's trunk
//!    prefix written after it (`+81 (0)3…`) is dropped.
//! 3. The default region's international prefix (`010` in Japan, `011` in
//!    North America, `00` in Europe…) followed by digits: as `+`.
//! 4. The region's trunk prefix (`0` in Japan) followed by a national
//!    number of a valid length: `+<country code><national number>`.
//! 5. The country code without `+` (`81312345678`) when what follows has a
//!    valid national length: `+` prepended.
//! 6. Regions without a trunk prefix in front of national numbers
//!    (North America: `4155550100`): a bare national number of a valid
//!    length gets the country code.
//!
//! Anything else (an extension such as `1001`, `anonymous`, a number too
//! short or too long for E.164's 15 digits) is `None`: not a phone
//! number we can key a customer on. An unknown default region applies
//! rules 1 and 2 only.

/// One region's dialling plan, as far as normalisation needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// ISO 3166-1 alpha-2, upper case (`"JP"`).
    pub code: &'static str,
    /// The country calling code, digits only (`"81"`).
    pub country_code: &'static str,
    /// What is dialled before a national number inside the country
    /// (`"0"`); empty when nothing is.
    pub trunk_prefix: &'static str,
    /// What is dialled before a country code to call abroad.
    pub international_prefixes: &'static [&'static str],
    /// Valid lengths of the national (significant) number, inclusive.
    pub national_lengths: (usize, usize),
}

/// The regions [`normalise_phone`] knows (and `customers.default_region`
/// accepts).
pub const REGIONS: &[Region] = &[
    Region {
        code: "JP",
        country_code: "81",
        trunk_prefix: "0",
        international_prefixes: &["010"],
        national_lengths: (9, 10),
    },
    Region {
        code: "US",
        country_code: "1",
        trunk_prefix: "1",
        international_prefixes: &["011"],
        national_lengths: (10, 10),
    },
    Region {
        code: "CA",
        country_code: "1",
        trunk_prefix: "1",
        international_prefixes: &["011"],
        national_lengths: (10, 10),
    },
    Region {
        code: "GB",
        country_code: "44",
        trunk_prefix: "0",
        international_prefixes: &["00"],
        national_lengths: (9, 10),
    },
    Region {
        code: "DE",
        country_code: "49",
        trunk_prefix: "0",
        international_prefixes: &["00"],
        national_lengths: (6, 13),
    },
    Region {
        code: "FR",
        country_code: "33",
        trunk_prefix: "0",
        international_prefixes: &["00"],
        national_lengths: (9, 9),
    },
    Region {
        code: "AU",
        country_code: "61",
        trunk_prefix: "0",
        international_prefixes: &["0011"],
        national_lengths: (9, 9),
    },
];

/// The most digits an E.164 number has (country code included).
const E164_MAX_DIGITS: usize = 15;

/// The fewest digits we accept after `+` (the shortest numbering plans
/// have a 1–3 digit country code and 4–5 digit national numbers).
const E164_MIN_DIGITS: usize = 7;

/// The region with this ISO code (case-insensitive).
pub fn region(code: &str) -> Option<&'static Region> {
    REGIONS.iter().find(|r| r.code.eq_ignore_ascii_case(code))
}

/// Normalises `raw` to E.164 (`+81312345678`), reading national forms by
/// `default_region`'s dialling plan (an ISO 3166-1 code such as `"JP"`).
/// `None` when `raw` is not a phone number these rules can read (see the
/// module doc).
///
/// ```
/// use hibiki::customer::normalise_phone;
/// assert_eq!(normalise_phone("03-1234-5678", "JP").as_deref(), Some("+81312345678"));
/// assert_eq!(normalise_phone("81312345678", "JP").as_deref(), Some("+81312345678"));
/// assert_eq!(normalise_phone("+1 (415) 555-0100", "JP").as_deref(), Some("+14155550100"));
/// assert_eq!(normalise_phone("1001", "JP"), None);
/// ```
pub fn normalise_phone(raw: &str, default_region: &str) -> Option<String> {
    let (plus, digits) = clean(raw)?;
    if plus {
        return international(&digits);
    }
    let region = region(default_region)?;
    if let Some(rest) = region
        .international_prefixes
        .iter()
        .find_map(|p| digits.strip_prefix(p))
    {
        return international(rest);
    }
    let national_ok = |n: &str| {
        let (min, max) = region.national_lengths;
        (min..=max).contains(&n.len()) && !n.starts_with('0')
    };
    let e164 = |n: &str| Some(format!("+{}{n}", region.country_code));
    if !region.trunk_prefix.is_empty() {
        if let Some(national) = digits.strip_prefix(region.trunk_prefix) {
            if national_ok(national) {
                return e164(national);
            }
        }
    }
    if let Some(national) = digits.strip_prefix(region.country_code) {
        if national_ok(national) {
            return e164(national);
        }
    }
    // A bare national number: only where national numbers are dialled
    // without a trunk prefix too (North America), or the region has none.
    let bare_allowed = region.trunk_prefix.is_empty() || region.country_code == "1";
    if bare_allowed && national_ok(&digits) {
        return e164(&digits);
    }
    None
}

/// Drops the wrapping rule 1 tolerates; returns whether the number
/// started with `+`, and its digits. `None` for anything else.
fn clean(raw: &str) -> Option<(bool, String)> {
    let mut s = raw.trim();
    for scheme in ["sips:", "sip:", "tel:"] {
        if s.len() >= scheme.len()
            && s.get(..scheme.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
        {
            s = s.get(scheme.len()..).unwrap_or("");
            break;
        }
    }
    let end = s.find(['@', ';']).unwrap_or(s.len());
    let s = s.get(..end).unwrap_or("").trim();
    let (plus, body) = match s.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let mut digits = String::with_capacity(body.len());
    for c in body.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' | '/' => {}
            _ => return None,
        }
    }
    if digits.is_empty() || digits.len() > 2 * E164_MAX_DIGITS {
        return None;
    }
    Some((plus, digits))
}

/// Digits after `+` (or an international prefix) to E.164: a known
/// country code's trunk prefix written after it is dropped, then the
/// length is checked.
fn international(digits: &str) -> Option<String> {
    let mut digits = digits.to_owned();
    if let Some(r) = REGIONS.iter().find(|r| {
        !r.trunk_prefix.is_empty() && r.country_code != "1" && digits.starts_with(r.country_code)
    }) {
        let after = digits.get(r.country_code.len()..).unwrap_or("");
        if let Some(national) = after.strip_prefix(r.trunk_prefix) {
            digits = format!("{}{national}", r.country_code);
        }
    }
    let ok =
        (E164_MIN_DIGITS..=E164_MAX_DIGITS).contains(&digits.len()) && !digits.starts_with('0');
    ok.then(|| format!("+{digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jp(raw: &str) -> Option<String> {
        normalise_phone(raw, "JP")
    }

    #[test]
    fn japanese_forms_of_one_number_agree() {
        for raw in [
            "0312345678",
            "03-1234-5678",
            "(03) 1234 5678",
            "+81312345678",
            "+81 3 1234 5678",
            "+81 (0)3 1234 5678",
            "81312345678",
            "01081312345678",
            "sip:0312345678@pbx.example.jp",
            "tel:+81-3-1234-5678;phone-context=x",
        ] {
            assert_eq!(jp(raw).as_deref(), Some("+81312345678"), "{raw:?}");
        }
        assert_eq!(jp("090-1234-5678").as_deref(), Some("+819012345678"));
        assert_eq!(jp("0120123456").as_deref(), Some("+81120123456"));
    }

    #[test]
    fn north_american_forms_agree() {
        for raw in [
            "4155550100",
            "14155550100",
            "1-415-555-0100",
            "+14155550100",
            "01114155550100",
        ] {
            assert_eq!(
                normalise_phone(raw, "US").as_deref(),
                Some("+14155550100"),
                "{raw:?}"
            );
        }
        // From Japan, a foreign number arrives with + or 010.
        assert_eq!(jp("+1 415 555 0100").as_deref(), Some("+14155550100"));
        assert_eq!(jp("0101-415-555-0100").as_deref(), Some("+14155550100"));
    }

    #[test]
    fn european_forms() {
        assert_eq!(
            normalise_phone("020 7946 0018", "GB").as_deref(),
            Some("+442079460018")
        );
        assert_eq!(
            normalise_phone("0044 20 7946 0018", "GB").as_deref(),
            Some("+442079460018")
        );
        assert_eq!(
            normalise_phone("01 23 45 67 89", "FR").as_deref(),
            Some("+33123456789")
        );
        assert_eq!(
            normalise_phone("030 123456", "DE").as_deref(),
            Some("+4930123456")
        );
    }

    #[test]
    fn what_is_not_a_phone_number_is_none() {
        for raw in [
            "",
            "+",
            "1001",
            "100",
            "anonymous",
            "sip:anonymous@anonymous.invalid",
            "03-1234-567a",
            "+81 3 1234 5678 ext 9",
            "0312",
            "00312345678",
            "+0312345678",
            "+1234567890123456",
            "031234567890123",
            "312345678",
            "＋81312345678",
        ] {
            assert_eq!(jp(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn an_unknown_region_reads_international_forms_only() {
        assert_eq!(
            normalise_phone("+81312345678", "ZZ").as_deref(),
            Some("+81312345678")
        );
        assert_eq!(normalise_phone("0312345678", "ZZ"), None);
        assert_eq!(
            normalise_phone("0312345678", "jp").as_deref(),
            Some("+81312345678")
        );
    }

    #[test]
    fn hostile_input_never_panics() {
        for raw in [
            "sip:",
            "@",
            ";",
            "+@",
            "tel:;",
            "\u{0}",
            "ｓｉｐ:",
            "é0312345678",
            &"9".repeat(10_000),
        ] {
            let _ = jp(raw);
        }
    }

    #[test]
    fn every_region_is_well_formed() {
        for r in REGIONS {
            assert_eq!(r.code.len(), 2);
            assert!(r.country_code.chars().all(|c| c.is_ascii_digit()));
            assert!(r.national_lengths.0 <= r.national_lengths.1);
            assert_eq!(region(r.code), Some(r));
        }
    }
}
