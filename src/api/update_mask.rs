//! Field-mask updates: copies the fields a mask names from the request's producer onto
//! the current one. The merged message is then parsed like a create, so an update is
//! held to exactly the same rules.

use prost_types::FieldMask;

use super::proto::v1 as pb;
use crate::domain::Violations;
use pb::producer::Details;

const MASK: &str = "update_mask";

/// Applies `patch` to `current` for every path of `mask`. Paths are relative to the
/// producer: `npn`, `individual`, `firm`, `individual.<field>`, `firm.<field>` or `*`.
pub fn apply(
    current: &mut pb::Producer,
    patch: &pb::Producer,
    mask: Option<&FieldMask>,
) -> Result<(), Violations> {
    let paths = mask.map(|m| m.paths.as_slice()).unwrap_or_default();
    if paths.is_empty() {
        return Err(Violations::one(
            MASK,
            "is required: name the fields to change",
        ));
    }
    let mut violations = Violations::new();
    for path in paths {
        if let Err(problem) = apply_path(current, patch, path) {
            violations.add(MASK, format!("path `{path}` {problem}"));
        }
    }
    violations.into_result(|| ())
}

fn apply_path(current: &mut pb::Producer, patch: &pb::Producer, path: &str) -> Result<(), String> {
    match path.split_once('.') {
        None => match path {
            "*" => {
                current.npn = patch.npn.clone();
                current.details = patch.details.clone();
            }
            "npn" => current.npn = patch.npn.clone(),
            "individual" => current.details = Some(Details::Individual(patch_individual(patch))),
            "firm" => current.details = Some(Details::Firm(patch_firm(patch))),
            _ => return Err("is not a field of Producer that can be updated".into()),
        },
        Some(("individual", field)) => {
            let Some(Details::Individual(person)) = &mut current.details else {
                return Err("names an individual field, but the producer is a firm (replace the whole `individual` block to change its type)".into());
            };
            copy_individual_field(person, &patch_individual(patch), field)?;
        }
        Some(("firm", field)) => {
            let Some(Details::Firm(firm)) = &mut current.details else {
                return Err("names a firm field, but the producer is an individual (replace the whole `firm` block to change its type)".into());
            };
            copy_firm_field(firm, &patch_firm(patch), field)?;
        }
        Some(_) => return Err("is not a field of Producer that can be updated".into()),
    }
    Ok(())
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

fn copy_individual_field(
    target: &mut pb::Individual,
    source: &pb::Individual,
    field: &str,
) -> Result<(), String> {
    match field {
        "first_name" => target.first_name = source.first_name.clone(),
        "last_name" => target.last_name = source.last_name.clone(),
        "middle_name" => target.middle_name = source.middle_name.clone(),
        "suffix" => target.suffix = source.suffix.clone(),
        "gender" => target.gender = source.gender,
        "date_of_birth" => target.date_of_birth = source.date_of_birth.clone(),
        "ssn" => {
            target.ssn = source.ssn.clone();
            // The stored last four belong to the old SSN: take the patch's (usually empty,
            // so they are derived again from the new SSN, or cleared with it).
            target.ssn_last4 = source.ssn_last4.clone();
        }
        "ssn_last4" => target.ssn_last4 = source.ssn_last4.clone(),
        "finra_crd_number" => target.finra_crd_number = source.finra_crd_number.clone(),
        "primary_email" => target.primary_email = source.primary_email.clone(),
        "secondary_email" => target.secondary_email = source.secondary_email.clone(),
        "title" => target.title = source.title.clone(),
        _ => return Err("is not a field of Individual".into()),
    }
    Ok(())
}

fn copy_firm_field(target: &mut pb::Firm, source: &pb::Firm, field: &str) -> Result<(), String> {
    match field {
        "name" => target.name = source.name.clone(),
        "business_type" => target.business_type = source.business_type,
        "email" => target.email = source.email.clone(),
        "fein" => target.fein = source.fein.clone(),
        "finra_crd_number" => target.finra_crd_number = source.finra_crd_number.clone(),
        _ => return Err("is not a field of Firm".into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(paths: &[&str]) -> FieldMask {
        FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }
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
        apply(
            &mut current,
            &patch,
            Some(&mask(&["individual.first_name"])),
        )
        .unwrap();
        assert_eq!(current.npn, "1");
        assert_eq!(current, person("Grace", "", ""));
    }

    #[test]
    fn a_new_ssn_brings_its_own_last_four() {
        let mut current = person("Ada", "123456789", "6789");
        apply(
            &mut current,
            &person("Ada", "111-22-3333", ""),
            Some(&mask(&["individual.ssn"])),
        )
        .unwrap();
        assert_eq!(current, person("Ada", "111-22-3333", ""));
    }

    #[test]
    fn unknown_paths_and_type_mismatches_are_all_reported() {
        let mut current = person("Ada", "", "");
        let violations = apply(
            &mut current,
            &person("Ada", "", ""),
            Some(&mask(&["nickname", "firm.name", "individual.shoe_size"])),
        )
        .unwrap_err();
        let described: Vec<_> = violations.iter().map(|v| v.description.clone()).collect();
        assert_eq!(described.len(), 3, "{described:?}");
        assert!(violations.iter().all(|v| v.field == "update_mask"));
        assert!(described[1].contains("the producer is an individual"));
    }

    #[test]
    fn an_empty_mask_is_refused() {
        let mut current = person("Ada", "", "");
        assert!(apply(&mut current, &person("Bo", "", ""), None).is_err());
        assert!(apply(&mut current, &person("Bo", "", ""), Some(&mask(&[]))).is_err());
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
        apply(&mut current, &patch, Some(&mask(&["firm"]))).unwrap();
        assert!(matches!(current.details, Some(Details::Firm(ref f)) if f.name == "Acme Agency"));
    }
}
