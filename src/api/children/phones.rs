//! Phones over the API: parsing the message, and which fields an update may name.

use chrono::NaiveDate;

use super::super::field_mask::Maskable;
use super::{ChildResource, required_enum, unknown_enum};
use crate::domain::child::NoSecret;
use crate::domain::phone::{Extension, Phone, PhoneData, PhoneNumber, PhoneType, Phones};
use crate::domain::{InvalidValue, Version, Violations};
use crate::proto::render;
use crate::proto::v1 as pb;

fn phone_type(raw: i32) -> Result<PhoneType, InvalidValue> {
    match pb::PhoneType::try_from(raw).map_err(|_| unknown_enum())? {
        pb::PhoneType::Unspecified => Err(required_enum()),
        pb::PhoneType::Cell => Ok(PhoneType::Cell),
        pb::PhoneType::Business => Ok(PhoneType::Business),
        pb::PhoneType::Home => Ok(PhoneType::Home),
        pb::PhoneType::Fax => Ok(PhoneType::Fax),
    }
}

impl Maskable for pb::Phone {
    const NAME: &'static str = "phone";
    const UPDATABLE: &'static [&'static str] = &["number", "type", "extension", "preferred"];

    fn copy_field(target: &mut pb::Phone, source: &pb::Phone, field: &str) {
        match field {
            "number" => target.number.clone_from(&source.number),
            "type" => target.r#type = source.r#type,
            "extension" => target.extension.clone_from(&source.extension),
            "preferred" => target.preferred = source.preferred,
            // UPDATABLE is the list of names; field_mask admits no others.
            _ => {}
        }
    }
}

impl ChildResource for Phones {
    type Message = pb::Phone;

    const FIELD: &'static str = "phone";
    const ID_FIELD: &'static str = "phone_id";
    fn parse(
        message: &pb::Phone,
        _today: NaiveDate,
        _current: Option<&Phone>,
    ) -> Result<(PhoneData, Option<NoSecret>), Violations> {
        let mut v = Violations::new();
        let number = v.check("number", PhoneNumber::parse(&message.number));
        let phone_type = v.check("type", phone_type(message.r#type));
        let extension = v.check("extension", Extension::parse_optional(&message.extension));
        match (number, phone_type, extension) {
            (Some(number), Some(phone_type), Some(extension)) if v.is_empty() => {
                let data = PhoneData {
                    number,
                    phone_type,
                    extension,
                    preferred: message.preferred,
                };
                Ok((data, None))
            }
            _ => Err(v),
        }
    }

    fn message(stored: &Phone, producer_version: Version) -> pb::Phone {
        render::phone(stored, producer_version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::field_mask::apply;

    #[test]
    fn every_updatable_field_is_copied() {
        let source = pb::Phone {
            number: "n".into(),
            r#type: 3,
            extension: "e".into(),
            preferred: true,
            ..Default::default()
        };
        let mut target = pb::Phone::default();
        apply(&mut target, &source, pb::Phone::UPDATABLE);
        assert_eq!(target, source);
    }
}
