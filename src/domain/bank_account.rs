//! Bank accounts for commission disbursement. The account number is sensitive: it is
//! encrypted at rest and only ever shown as `****` and its last four digits.

use std::fmt;

use super::error::InvalidValue;
use super::text::Name;

/// A stored bank account.
pub type BankAccount = super::child::Child<super::ids::BankAccountId, BankAccountData>;

impl super::child::ChildSecret for AccountNumber {
    const FIELD: &'static str = "number";
}

/// The bank accounts of a producer; the number is the secret a write carries.
pub struct BankAccounts;

impl super::child::ChildKind for BankAccounts {
    type Id = super::ids::BankAccountId;
    type Data = BankAccountData;
    type Secret = AccountNumber;

    const NAME: &'static str = "bank account";

    fn state(child: BankAccount) -> super::event::ResourceState {
        super::event::ResourceState::BankAccount(child)
    }

    /// The primary account.
    fn holds_flag(data: &BankAccountData) -> bool {
        data.primary_account
    }

    fn with_flag(data: &BankAccountData) -> BankAccountData {
        BankAccountData {
            primary_account: true,
            ..data.clone()
        }
    }
}

/// An ABA routing transit number: 9 digits whose weighted sum
/// 3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) is a multiple of 10.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingNumber(String);

impl RoutingNumber {
    /// Trims surrounding spaces; then 9 digits that pass the checksum.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(InvalidValue::new("is required"));
        }
        let digits: Vec<u32> = trimmed.chars().filter_map(|c| c.to_digit(10)).collect();
        if trimmed.len() != 9 || digits.len() != 9 {
            return Err(InvalidValue::new("must be 9 digits"));
        }
        let weighted: u32 = digits
            .iter()
            .zip([3, 7, 1].iter().cycle())
            .map(|(digit, weight)| digit * weight)
            .sum();
        if !weighted.is_multiple_of(10) {
            return Err(InvalidValue::new(
                "fails the ABA checksum: check the number on the check or with the bank",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The 9 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A bank account number: 4–17 digits (NACHA's maximum is 17).
///
/// `Debug` shows only the mask: the digits must never reach a log line or an error.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountNumber(String);

impl AccountNumber {
    /// Trims surrounding spaces; then 4–17 ASCII digits.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(InvalidValue::new("is required"));
        }
        if !(4..=17).contains(&trimmed.len()) || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidValue::new("must be 4 to 17 digits"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The digits in clear: only for encryption.
    pub fn expose_digits(&self) -> &str {
        &self.0
    }

    /// The last four digits: all of the number that is stored in clear.
    pub fn last4(&self) -> Last4 {
        Last4(self.0[self.0.len() - 4..].to_owned())
    }

    /// The form that is encrypted: two digits of length, then the number padded with
    /// zeros to 17 digits. Every ciphertext is the same size, so its length does not tell
    /// how many digits the number has.
    pub fn padded(&self) -> String {
        format!("{:02}{:0<17}", self.0.len(), self.0)
    }

    /// Reads [`AccountNumber::padded`] back.
    pub fn from_padded(padded: &str) -> Result<Self, InvalidValue> {
        let invalid = || InvalidValue::new("is not a padded account number");
        if padded.len() != 19 {
            return Err(invalid());
        }
        let len: usize = padded[..2].parse().map_err(|_| invalid())?;
        let digits = padded.get(2..2 + len).ok_or_else(invalid)?;
        Self::parse(digits)
    }
}

impl fmt::Debug for AccountNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountNumber({})", self.last4().masked())
    }
}

/// The last four digits of an account number: what every reader may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Last4(String);

impl Last4 {
    /// Exactly 4 digits, untrimmed: it reads back a stored value, never a client's input.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        if raw.len() == 4 && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidValue::new("must be 4 digits"))
        }
    }

    /// The four digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `****1234`: how an account number is shown.
    pub fn masked(&self) -> String {
        format!("****{}", self.0)
    }
}

/// The kind of deposit account; part of the display name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BankAccountType {
    /// A checking account.
    Checking,
    /// A savings account.
    Savings,
}

impl BankAccountType {
    /// The word used in the account's display name.
    pub fn label(&self) -> &'static str {
        match self {
            BankAccountType::Checking => "Checking",
            BankAccountType::Savings => "Savings",
        }
    }
}

/// A bank account's readable state. The account number itself is not part of it: it
/// travels separately, only on its way to encryption, and only its last four digits stay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankAccountData {
    /// The bank's name, as the display name shows it.
    pub bank_name: Name,
    /// The name on the account.
    pub holder_name: Name,
    /// In clear: a routing number identifies the bank, not the account.
    pub routing_number: RoutingNumber,
    /// All of the account number a read returns.
    pub number_last4: Last4,
    /// Part of the display name.
    pub account_type: BankAccountType,
    /// At most [`MAX_NICKNAME_CHARS`] characters.
    pub nickname: Option<Name>,
    /// Writing `true` clears it on the producer's previously primary account.
    pub primary_account: bool,
}

impl BankAccountData {
    /// The computed display name: `Voided check for {bank} {Type} Account ****{last4}`.
    pub fn name(&self) -> String {
        format!(
            "Voided check for {} {} Account {}",
            self.bank_name.as_str(),
            self.account_type.label(),
            self.number_last4.masked()
        )
    }
}

/// Longest nickname accepted.
pub const MAX_NICKNAME_CHARS: usize = 50;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn real_routing_numbers_pass_the_checksum() {
        for valid in ["011000015", "021000021", "122105155", "111000025"] {
            assert!(RoutingNumber::parse(valid).is_ok(), "{valid}");
        }
        for invalid in ["011000016", "12345678", "0210000210", "02100002a", ""] {
            assert!(RoutingNumber::parse(invalid).is_err(), "{invalid}");
        }
    }

    #[test]
    fn account_numbers_are_four_to_seventeen_digits_and_never_printed() {
        assert!(AccountNumber::parse("1234").is_ok());
        assert!(AccountNumber::parse(&"9".repeat(17)).is_ok());
        assert!(AccountNumber::parse("123").is_err());
        assert!(AccountNumber::parse(&"9".repeat(18)).is_err());
        assert!(AccountNumber::parse("1234-5678").is_err());
        let number = AccountNumber::parse("000123456789").unwrap();
        assert_eq!(format!("{number:?}"), "AccountNumber(****6789)");
    }

    #[test]
    fn padded_numbers_all_have_one_length_and_read_back() {
        for digits in ["1234", "000123456789", "12345678901234567"] {
            let number = AccountNumber::parse(digits).unwrap();
            assert_eq!(number.padded().len(), 19);
            assert_eq!(
                AccountNumber::from_padded(&number.padded()).unwrap(),
                number
            );
        }
        assert!(AccountNumber::from_padded("1").is_err());
    }

    #[test]
    fn the_display_name_follows_the_hosted_api() {
        let account = BankAccountData {
            bank_name: Name::parse("First Bank").unwrap(),
            holder_name: Name::parse("Ada Lovelace").unwrap(),
            routing_number: RoutingNumber::parse("021000021").unwrap(),
            number_last4: AccountNumber::parse("123456789").unwrap().last4(),
            account_type: BankAccountType::Checking,
            nickname: None,
            primary_account: true,
        };
        assert_eq!(
            account.name(),
            "Voided check for First Bank Checking Account ****6789"
        );
    }

    proptest! {
        #[test]
        fn one_changed_digit_breaks_the_checksum(position in 0usize..9, delta in 1u32..10) {
            let valid: Vec<u32> = "021000021".chars().map(|c| c.to_digit(10).unwrap()).collect();
            let mut changed = valid.clone();
            changed[position] = (changed[position] + delta) % 10;
            let text: String = changed.iter().map(|d| char::from_digit(*d, 10).unwrap()).collect();
            // Weights 3, 7 and 1 are coprime with 10: any single-digit change is caught.
            prop_assert!(RoutingNumber::parse(&text).is_err());
        }

        #[test]
        fn any_text_parses_or_fails_without_panicking(raw in "\\PC{0,20}") {
            let _ = RoutingNumber::parse(&raw);
            if let Ok(number) = AccountNumber::parse(&raw) {
                prop_assert!((4..=17).contains(&number.expose_digits().len()));
            }
        }

        #[test]
        fn last4_is_the_tail_of_any_valid_number(digits in "[0-9]{4,17}") {
            let number = AccountNumber::parse(&digits).unwrap();
            let last4 = number.last4();
            prop_assert_eq!(last4.as_str(), &digits[digits.len() - 4..]);
        }
    }
}
