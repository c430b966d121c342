//! Addresses over the API: parsing the message, and which fields an update may name.

use chrono::NaiveDate;

use super::super::field_mask::Maskable;
use super::{ChildResource, required_enum, unknown_enum};
use crate::domain::address::{
    Address, AddressData, AddressType, Addresses, Location, check_move_in_date,
};
use crate::domain::child::NoSecret;
use crate::domain::dates::parse_optional_date;
use crate::domain::text::Name;
use crate::domain::{InvalidValue, Version, Violations};
use crate::proto::render;
use crate::proto::v1 as pb;

fn address_type(raw: i32) -> Result<AddressType, InvalidValue> {
    match pb::AddressType::try_from(raw).map_err(|_| unknown_enum())? {
        pb::AddressType::Unspecified => Err(required_enum()),
        pb::AddressType::Mailing => Ok(AddressType::Mailing),
        pb::AddressType::Business => Ok(AddressType::Business),
        pb::AddressType::Residence => Ok(AddressType::Residence),
        pb::AddressType::Billing => Ok(AddressType::Billing),
    }
}

impl Maskable for pb::Address {
    const NAME: &'static str = "address";
    const UPDATABLE: &'static [&'static str] = &[
        "type",
        "preferred",
        "address_line1",
        "address_line2",
        "city",
        "state",
        "zip",
        "country",
        "county",
        "move_in_date",
    ];

    fn copy_field(target: &mut pb::Address, source: &pb::Address, field: &str) {
        match field {
            "type" => target.r#type = source.r#type,
            "preferred" => target.preferred = source.preferred,
            "address_line1" => target.address_line1.clone_from(&source.address_line1),
            "address_line2" => target.address_line2.clone_from(&source.address_line2),
            "city" => target.city.clone_from(&source.city),
            "state" => target.state.clone_from(&source.state),
            "zip" => target.zip.clone_from(&source.zip),
            "country" => target.country.clone_from(&source.country),
            "county" => target.county.clone_from(&source.county),
            "move_in_date" => target.move_in_date.clone_from(&source.move_in_date),
            // UPDATABLE is the list of names; field_mask admits no others.
            _ => {}
        }
    }
}

impl ChildResource for Addresses {
    type Message = pb::Address;

    const FIELD: &'static str = "address";
    const ID_FIELD: &'static str = "address_id";
    fn parse(
        message: &pb::Address,
        today: NaiveDate,
        _current: Option<&Address>,
    ) -> Result<(AddressData, Option<NoSecret>), Violations> {
        let mut v = Violations::new();
        let address_type = v.check("type", address_type(message.r#type));
        let line1 = v.check("address_line1", Name::parse(&message.address_line1));
        let line2 = v.check(
            "address_line2",
            Name::parse_optional(&message.address_line2),
        );
        let city = v.check("city", Name::parse(&message.city));
        let location = Location::parse(&message.country, &message.state, &message.zip)
            .map_err(|invalid| v.extend(invalid))
            .ok();
        let county = v.check("county", Name::parse_optional(&message.county));
        let move_in_date = v.check(
            "move_in_date",
            parse_optional_date(&message.move_in_date)
                .and_then(|date| date.map(|d| check_move_in_date(d, today)).transpose()),
        );
        let data = (|| {
            Some(AddressData {
                address_type: address_type?,
                preferred: message.preferred,
                line1: line1?,
                line2: line2?,
                city: city?,
                location: location?,
                county: county?,
                move_in_date: move_in_date?,
            })
        })();
        match data {
            Some(data) if v.is_empty() => Ok((data, None)),
            _ => Err(v),
        }
    }

    fn message(stored: &Address, producer_version: Version) -> pb::Address {
        render::address(stored, producer_version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::field_mask::apply;

    #[test]
    fn every_updatable_field_is_copied() {
        let source = pb::Address {
            r#type: 2,
            preferred: true,
            address_line1: "a".into(),
            address_line2: "b".into(),
            city: "c".into(),
            state: "d".into(),
            zip: "e".into(),
            country: "f".into(),
            county: "g".into(),
            move_in_date: "h".into(),
            ..Default::default()
        };
        let mut target = pb::Address::default();
        apply(&mut target, &source, pb::Address::UPDATABLE);
        assert_eq!(target, source);
    }
}
