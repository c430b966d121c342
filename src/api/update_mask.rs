//! A producer's update mask: its paths reach into the detail block
//! (`individual.last_name`) or replace a whole block, which can change the producer's
//! type. Built on [`field_mask`], which knows the fields of each block.

use prost_types::FieldMask;

use super::field_mask::{self, MASK, Maskable};
use crate::domain::Violations;
use crate::domain::text::excerpt;
use crate::proto::v1 as pb;
use pb::producer::Details;

/// One path of an update mask, checked against the message before anything is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaskPath {
    /// `*`: replace the NPN and the detail block.
    Everything,
    Npn,
    /// The whole individual block (makes the producer an individual).
    Individual,
    /// The whole firm block (makes the producer a firm).
    Firm,
    IndividualField(&'static str),
    FirmField(&'static str),
}

/// Reads a mask; every unknown path is a violation on `update_mask`. Paths are relative
/// to the producer: `npn`, `individual`, `firm`, `individual.<field>`, `firm.<field>`
/// or `*`.
pub fn parse(mask: Option<&FieldMask>) -> Result<Vec<MaskPath>, Violations> {
    let paths = field_mask::required(mask)?;
    let mut violations = Violations::new();
    let mut parsed = Vec::with_capacity(paths.len());
    for path in paths {
        let known = match path.split_once('.') {
            None => match path.as_str() {
                "*" => Ok(MaskPath::Everything),
                "npn" => Ok(MaskPath::Npn),
                "individual" => Ok(MaskPath::Individual),
                "firm" => Ok(MaskPath::Firm),
                _ => Err(format!(
                    "path {} is not a field of Producer that can be updated",
                    excerpt(path)
                )),
            },
            Some(("individual", field)) => field_mask::field::<pb::Individual>(field)
                .map(MaskPath::IndividualField)
                .ok_or_else(|| not_a_field::<pb::Individual>(path)),
            Some(("firm", field)) => field_mask::field::<pb::Firm>(field)
                .map(MaskPath::FirmField)
                .ok_or_else(|| not_a_field::<pb::Firm>(path)),
            Some(_) => Err(format!(
                "path {} is not a field of Producer that can be updated",
                excerpt(path)
            )),
        };
        match known {
            Ok(path) => parsed.push(path),
            Err(problem) => violations.add(MASK, problem),
        }
    }
    violations.into_result(|| parsed)
}

/// The violation for a block path that names no field of the block.
fn not_a_field<M: Maskable>(path: &str) -> String {
    format!("path {} is not a field of {}", excerpt(path), M::NAME)
}

/// Whether the mask names the SSN itself (not merely a whole block).
pub fn names_ssn(paths: &[MaskPath]) -> bool {
    paths.contains(&MaskPath::IndividualField("ssn"))
}

/// Applies `patch` to `current` for every path. The only failure left after [`parse`]:
/// a field of the block the producer does not have.
pub fn apply(
    current: &mut pb::Producer,
    patch: &pb::Producer,
    paths: &[MaskPath],
) -> Result<(), Violations> {
    let mut violations = Violations::new();
    for path in paths {
        match path {
            MaskPath::Everything => {
                current.npn = patch.npn.clone();
                current.details = patch.details.clone();
            }
            MaskPath::Npn => current.npn = patch.npn.clone(),
            MaskPath::Individual => {
                current.details = Some(Details::Individual(patch_individual(patch)))
            }
            MaskPath::Firm => current.details = Some(Details::Firm(patch_firm(patch))),
            MaskPath::IndividualField(field) => match &mut current.details {
                Some(Details::Individual(person)) => {
                    pb::Individual::copy_field(person, &patch_individual(patch), field)
                }
                _ => violations.add(
                    MASK,
                    format!(
                        "path {} names an individual field, but the producer is a firm (replace the whole `individual` block to change its type)",
                        excerpt(&format!("individual.{field}"))
                    ),
                ),
            },
            MaskPath::FirmField(field) => match &mut current.details {
                Some(Details::Firm(firm)) => pb::Firm::copy_field(firm, &patch_firm(patch), field),
                _ => violations.add(
                    MASK,
                    format!(
                        "path {} names a firm field, but the producer is an individual (replace the whole `firm` block to change its type)",
                        excerpt(&format!("firm.{field}"))
                    ),
                ),
            },
        }
    }
    violations.into_result(|| ())
}

/// For a caller who cannot see the SSN: puts the stored SSN back into `merged`, so
/// sending back the block it read (which shows only the last four) never erases it.
pub fn keep_hidden_ssn(merged: &mut pb::Producer, current: &pb::Producer) {
    if let (Some(Details::Individual(merged)), Some(Details::Individual(current))) =
        (&mut merged.details, &current.details)
    {
        merged.ssn = current.ssn.clone();
        if merged.ssn_last4.is_empty() {
            merged.ssn_last4 = current.ssn_last4.clone();
        }
    }
}

/// The patch's individual block; empty when the patch has none, so named fields clear.
fn patch_individual(patch: &pb::Producer) -> pb::Individual {
    match &patch.details {
        Some(Details::Individual(person)) => person.clone(),
        _ => pb::Individual::default(),
    }
}

fn patch_firm(patch: &pb::Producer) -> pb::Firm {
    match &patch.details {
        Some(Details::Firm(firm)) => firm.clone(),
        _ => pb::Firm::default(),
    }
}

impl Maskable for pb::Individual {
    const NAME: &'static str = "Individual";
    const UPDATABLE: &'static [&'static str] = &[
        "first_name",
        "last_name",
        "middle_name",
        "suffix",
        "gender",
        "date_of_birth",
        "ssn",
        "ssn_last4",
        "finra_crd_number",
        "primary_email",
        "secondary_email",
        "title",
    ];

    fn copy_field(target: &mut Self, source: &Self, field: &str) {
        match field {
            "first_name" => target.first_name = source.first_name.clone(),
            "last_name" => target.last_name = source.last_name.clone(),
            "middle_name" => target.middle_name = source.middle_name.clone(),
            "suffix" => target.suffix = source.suffix.clone(),
            "gender" => target.gender = source.gender,
            "date_of_birth" => target.date_of_birth = source.date_of_birth.clone(),
            "ssn" => {
                target.ssn = source.ssn.clone();
                // The stored last four belong to the old SSN: take the patch's (usually
                // empty, so they are derived again from the new SSN, or cleared with it).
                target.ssn_last4 = source.ssn_last4.clone();
            }
            "ssn_last4" => target.ssn_last4 = source.ssn_last4.clone(),
            "finra_crd_number" => target.finra_crd_number = source.finra_crd_number.clone(),
            "primary_email" => target.primary_email = source.primary_email.clone(),
            "secondary_email" => target.secondary_email = source.secondary_email.clone(),
            "title" => target.title = source.title.clone(),
            // UPDATABLE is the list of names; parse admits no others.
            _ => {}
        }
    }
}

impl Maskable for pb::Firm {
    const NAME: &'static str = "Firm";
    const UPDATABLE: &'static [&'static str] =
        &["name", "business_type", "email", "fein", "finra_crd_number"];

    fn copy_field(target: &mut Self, source: &Self, field: &str) {
        match field {
            "name" => target.name = source.name.clone(),
            "business_type" => target.business_type = source.business_type,
            "email" => target.email = source.email.clone(),
            "fein" => target.fein = source.fein.clone(),
            "finra_crd_number" => target.finra_crd_number = source.finra_crd_number.clone(),
            // UPDATABLE is the list of names; parse admits no others.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(paths: &[&str]) -> FieldMask {
        FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn paths(names: &[&str]) -> Vec<MaskPath> {
        parse(Some(&mask(names))).unwrap()
    }

    fn person(first: &str, ssn: &str, last4: &str) -> pb::Producer {
        pb::Producer {
            npn: "1".into(),
            details: Some(Details::Individual(pb::Individual {
                first_name: first.into(),
                last_name: "Lovelace".into(),
                ssn: ssn.into(),
                ssn_last4: last4.into(),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn only_named_fields_change() {
        let mut current = person("Ada", "", "");
        let patch = pb::Producer {
            npn: "2".into(),
            ..person("Grace", "", "")
        };
        apply(&mut current, &patch, &paths(&["individual.first_name"])).unwrap();
        assert_eq!(current.npn, "1");
        assert_eq!(current, person("Grace", "", ""));
    }

    #[test]
    fn a_new_ssn_brings_its_own_last_four() {
        let mut current = person("Ada", "123456789", "6789");
        let patch = person("Ada", "111-22-3333", "");
        apply(&mut current, &patch, &paths(&["individual.ssn"])).unwrap();
        assert_eq!(current, person("Ada", "111-22-3333", ""));
    }

    #[test]
    fn every_unknown_path_is_reported_before_anything_is_read() {
        let violations = parse(Some(&mask(&[
            "nickname",
            "firm.name",
            "individual.shoe_size",
            "a.b",
        ])))
        .unwrap_err();
        let described: Vec<_> = violations.iter().map(|v| v.description.clone()).collect();
        assert_eq!(described.len(), 3, "{described:?}");
        assert!(violations.iter().all(|v| v.field == "update_mask"));
        assert!(described[0].contains("\"nickname\""));
    }

    #[test]
    fn a_field_of_the_other_block_is_refused_when_applied() {
        let mut current = person("Ada", "", "");
        let violations =
            apply(&mut current, &person("Ada", "", ""), &paths(&["firm.name"])).unwrap_err();
        assert!(
            violations
                .iter()
                .all(|v| v.description.contains("the producer is an individual"))
        );
    }

    #[test]
    fn an_empty_mask_is_refused() {
        assert!(parse(None).is_err());
        assert!(parse(Some(&mask(&[]))).is_err());
    }

    #[test]
    fn the_field_lists_match_the_copy_functions() {
        let everything = pb::Individual {
            first_name: "a".into(),
            last_name: "b".into(),
            middle_name: "c".into(),
            suffix: "d".into(),
            gender: 1,
            date_of_birth: "e".into(),
            ssn: "f".into(),
            ssn_last4: "g".into(),
            finra_crd_number: "h".into(),
            primary_email: "i".into(),
            secondary_email: "j".into(),
            title: "k".into(),
        };
        let mut copied = pb::Individual::default();
        field_mask::apply(&mut copied, &everything, pb::Individual::UPDATABLE);
        assert_eq!(copied, everything, "every field of Individual is listed");
        let firm = pb::Firm {
            name: "a".into(),
            business_type: 1,
            email: "b".into(),
            fein: "c".into(),
            finra_crd_number: "d".into(),
        };
        let mut copied = pb::Firm::default();
        field_mask::apply(&mut copied, &firm, pb::Firm::UPDATABLE);
        assert_eq!(copied, firm, "every field of Firm is listed");
        for field in pb::Individual::UPDATABLE {
            assert!(
                !field_mask::is_empty_in(&everything, field),
                "{field} is copied"
            );
        }
        for field in pb::Firm::UPDATABLE {
            assert!(!field_mask::is_empty_in(&firm, field), "{field} is copied");
        }
    }

    #[test]
    fn replacing_the_block_switches_the_type() {
        let mut current = person("Ada", "", "");
        let patch = pb::Producer {
            details: Some(Details::Firm(pb::Firm {
                name: "Acme Agency".into(),
                ..Default::default()
            })),
            ..Default::default()
        };
        apply(&mut current, &patch, &paths(&["firm"])).unwrap();
        assert!(matches!(current.details, Some(Details::Firm(ref f)) if f.name == "Acme Agency"));
    }

    #[test]
    fn a_hidden_ssn_survives_a_block_replace() {
        let current = person("Ada", "123456789", "6789");
        let mut merged = current.clone();
        apply(
            &mut merged,
            &person("Augusta", "", "6789"),
            &paths(&["individual"]),
        )
        .unwrap();
        keep_hidden_ssn(&mut merged, &current);
        assert_eq!(merged, person("Augusta", "123456789", "6789"));
        assert!(names_ssn(&paths(&["individual.ssn"])));
        assert!(!names_ssn(&paths(&["individual"])));
    }
}
