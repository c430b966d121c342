//! Bank accounts over the API: parsing the message, and which fields an update may name. The account
//! number goes in (on create, or on update when the mask names it) and never comes out:
//! responses carry `****` and the last four digits.

use chrono::NaiveDate;

use super::super::field_mask::Maskable;
use super::{ChildResource, required_enum, unknown_enum};
use crate::domain::bank_account::{
    AccountNumber, BankAccount, BankAccountData, BankAccountType, BankAccounts, MAX_NICKNAME_CHARS,
    RoutingNumber,
};
use crate::domain::text::Name;
use crate::domain::{InvalidValue, Version, Violations};
use crate::proto::render;
use crate::proto::v1 as pb;

fn account_type(raw: i32) -> Result<BankAccountType, InvalidValue> {
    match pb::BankAccountType::try_from(raw).map_err(|_| unknown_enum())? {
        pb::BankAccountType::Unspecified => Err(required_enum()),
        pb::BankAccountType::Checking => Ok(BankAccountType::Checking),
        pb::BankAccountType::Savings => Ok(BankAccountType::Savings),
    }
}

impl Maskable for pb::BankAccount {
    const NAME: &'static str = "bank_account";
    const UPDATABLE: &'static [&'static str] = &[
        "bank_name",
        "holder_name",
        "routing_number",
        "number",
        "type",
        "nickname",
        "primary_account",
    ];

    fn copy_field(target: &mut pb::BankAccount, source: &pb::BankAccount, field: &str) {
        match field {
            "bank_name" => target.bank_name.clone_from(&source.bank_name),
            "holder_name" => target.holder_name.clone_from(&source.holder_name),
            "routing_number" => target.routing_number.clone_from(&source.routing_number),
            "number" => target.number.clone_from(&source.number),
            "type" => target.r#type = source.r#type,
            "nickname" => target.nickname.clone_from(&source.nickname),
            "primary_account" => target.primary_account = source.primary_account,
            // UPDATABLE is the list of names; field_mask admits no others.
            _ => {}
        }
    }
}

impl ChildResource for BankAccounts {
    type Message = pb::BankAccount;

    const FIELD: &'static str = "bank_account";
    const ID_FIELD: &'static str = "bank_account_id";
    const WRITE_ONLY: &'static [&'static str] = &["number"];
    /// On update (`current` given), an empty number keeps the stored one.
    fn parse(
        message: &pb::BankAccount,
        _today: NaiveDate,
        current: Option<&BankAccount>,
    ) -> Result<(BankAccountData, Option<AccountNumber>), Violations> {
        let mut v = Violations::new();
        let bank_name = v.check("bank_name", Name::parse(&message.bank_name));
        let holder_name = v.check("holder_name", Name::parse(&message.holder_name));
        let routing_number = v.check(
            "routing_number",
            RoutingNumber::parse(&message.routing_number),
        );
        let kept_last4 = current.map(|stored| stored.data.number_last4.clone());
        let (number, number_last4) = match kept_last4 {
            Some(last4) if message.number.trim().is_empty() => (None, Some(last4)),
            _ => {
                let number = v.check("number", AccountNumber::parse(&message.number));
                let last4 = number.as_ref().map(AccountNumber::last4);
                (number, last4)
            }
        };
        let account_type = v.check("type", account_type(message.r#type));
        let nickname = v.check(
            "nickname",
            Name::parse_optional_within(&message.nickname, MAX_NICKNAME_CHARS),
        );
        let data = (|| {
            Some(BankAccountData {
                bank_name: bank_name?,
                holder_name: holder_name?,
                routing_number: routing_number?,
                number_last4: number_last4?,
                account_type: account_type?,
                nickname: nickname?,
                primary_account: message.primary_account,
            })
        })();
        match data {
            Some(data) if v.is_empty() => Ok((data, number)),
            _ => Err(v),
        }
    }

    fn message(stored: &BankAccount, producer_version: Version) -> pb::BankAccount {
        render::bank_account(stored, producer_version)
    }

    /// The masked number is not an input: an update replaces the number only when the
    /// mask names `number`.
    fn merge_base(stored: &BankAccount) -> pb::BankAccount {
        pb::BankAccount {
            number: String::new(),
            ..Self::message(stored, Version::FIRST)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::field_mask::apply;

    #[test]
    fn every_updatable_field_is_copied() {
        let source = pb::BankAccount {
            bank_name: "a".into(),
            holder_name: "b".into(),
            routing_number: "c".into(),
            number: "d".into(),
            r#type: 2,
            nickname: "e".into(),
            primary_account: true,
            ..Default::default()
        };
        let mut target = pb::BankAccount::default();
        apply(&mut target, &source, pb::BankAccount::UPDATABLE);
        assert_eq!(target, source);
    }
}
