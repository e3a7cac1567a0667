//! Money: integer minor units and an ISO 4217 currency code. There is no floating point anywhere
//! in money; amounts in different currencies are never added together without a rate.

use crate::error::{CrmError, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The active ISO 4217 currency codes (plus XAU/XAG and XXX-style codes are not accepted).
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
    "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

/// An ISO 4217 currency code such as `EUR`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl Currency {
    /// Validates `code` against the ISO 4217 list; `field` names the input in the error.
    pub fn parse(code: &str, field: &str) -> Result<Self> {
        if ISO_4217.binary_search(&code).is_ok() {
            Ok(Currency(code.to_string()))
        } else {
            Err(CrmError::invalid(
                field,
                format!("{code:?} is not an ISO 4217 currency code"),
            ))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Digits after the decimal point of the currency's minor unit (2 for EUR, 0 for JPY, 3 for KWD).
    pub fn minor_digits(&self) -> u32 {
        const ZERO: &[&str] = &[
            "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND",
            "VUV", "XAF", "XOF", "XPF",
        ];
        const THREE: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
        if ZERO.contains(&self.as_str()) {
            0
        } else if THREE.contains(&self.as_str()) {
            3
        } else {
            2
        }
    }
}

/// An exchange rate as a fixed-point number with nine decimals: `1.0845` is `1_084_500_000`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Rate(pub i64);

impl Rate {
    const SCALE: i64 = 1_000_000_000;

    /// Parses a positive decimal such as `"1.0845"` (at most 9 decimals); `field` names the input.
    pub fn parse(s: &str, field: &str) -> Result<Self> {
        let bad = || {
            CrmError::invalid(
                field,
                format!("{s:?} is not a positive decimal rate with at most 9 decimals"),
            )
        };
        let (int, frac) = s.trim().split_once('.').unwrap_or((s.trim(), ""));
        if int.is_empty()
            || frac.len() > 9
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let int: i64 = int.parse().map_err(|_| bad())?;
        let frac_val: i64 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| bad())?
        };
        let nanos = int
            .checked_mul(Self::SCALE)
            .and_then(|v| v.checked_add(frac_val * 10_i64.pow(9 - frac.len() as u32)))
            .filter(|v| *v > 0)
            .ok_or_else(bad)?;
        Ok(Rate(nanos))
    }

    /// Converts `amount_minor` of `from` into minor units of `to` at this rate (1 `from` = rate
    /// `to`), rounding half away from zero. `None` on overflow.
    pub fn convert(self, amount_minor: i64, from: &Currency, to: &Currency) -> Option<i64> {
        // amount * rate * 10^to_digits / (10^from_digits * SCALE), in i128 to avoid overflow.
        let num = i128::from(amount_minor)
            .checked_mul(i128::from(self.0))?
            .checked_mul(10_i128.pow(to.minor_digits()))?;
        let den = 10_i128.pow(from.minor_digits()) * i128::from(Self::SCALE);
        let q = (num.abs() + den / 2) / den;
        i64::try_from(if num < 0 { -q } else { q }).ok()
    }
}

impl TryFrom<String> for Rate {
    type Error = CrmError;
    fn try_from(s: String) -> Result<Self> {
        Rate::parse(&s, "rate")
    }
}

impl From<Rate> for String {
    fn from(r: Rate) -> String {
        let frac = format!("{:09}", r.0 % Rate::SCALE);
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            format!("{}", r.0 / Rate::SCALE)
        } else {
            format!("{}.{frac}", r.0 / Rate::SCALE)
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = CrmError;
    fn try_from(s: String) -> Result<Self> {
        Currency::parse(&s, "currency")
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An amount: integer minor units (cents for EUR) and its currency.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Minor units, e.g. 12345 for EUR 123.45.
    pub amount_minor: i64,
    /// The currency.
    pub currency: Currency,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_list_is_sorted_for_binary_search() {
        assert!(ISO_4217.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn rates_are_exact_decimals() {
        let r = Rate::parse("1.0845", "rate").unwrap();
        assert_eq!(r.0, 1_084_500_000);
        assert_eq!(String::from(r), "1.0845");
        assert!(Rate::parse("0", "rate").is_err());
        assert!(Rate::parse("1.2.3", "rate").is_err());
        assert!(Rate::parse("-1", "rate").is_err());
        assert!(Rate::parse("1.0000000001", "rate").is_err());
        let eur = Currency::parse("EUR", "c").unwrap();
        let jpy = Currency::parse("JPY", "c").unwrap();
        // EUR 100.00 at 161.5 JPY per EUR = JPY 16150.
        assert_eq!(
            Rate::parse("161.5", "r")
                .unwrap()
                .convert(10_000, &eur, &jpy),
            Some(16_150)
        );
        // JPY 1000 at 0.0062 EUR per JPY = EUR 6.20.
        assert_eq!(
            Rate::parse("0.0062", "r")
                .unwrap()
                .convert(1_000, &jpy, &eur),
            Some(620)
        );
    }

    #[test]
    fn only_real_codes_parse() {
        assert!(Currency::parse("EUR", "c").is_ok());
        assert!(Currency::parse("eur", "c").is_err());
        assert!(Currency::parse("ABC", "c").is_err());
        let e: std::result::Result<Money, _> =
            serde_json::from_str(r#"{"amount_minor":1,"currency":"XYZ"}"#);
        assert!(e.is_err());
    }
}
