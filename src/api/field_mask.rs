//! Update masks (AIP-134), one way for every message: the paths are checked before
//! anything is read (every unknown one is a violation on `update_mask`, all at once),
//! then the named fields are copied from the request's message onto the stored one.
//! The merged message is parsed like a create, so an update is held to the same rules.

use prost_types::FieldMask;

use crate::domain::Violations;
use crate::domain::text::excerpt;

/// The request field every update names its mask in.
pub const MASK: &str = "update_mask";

/// A message an update mask names fields of.
pub trait Maskable: Default + Clone + PartialEq {
    /// Its name in violations: `address`, `Endpoint`, `Individual`.
    const NAME: &'static str;
    /// The fields an update may name: the list `copy_field` knows.
    const UPDATABLE: &'static [&'static str];
    /// Whether `*` may stand for every updatable field.
    const STAR: bool = true;

    /// Copies one updatable field from `source` to `target` (no other name reaches it).
    fn copy_field(target: &mut Self, source: &Self, field: &str);
}

/// The paths of a mask that must name something.
pub fn required(mask: Option<&FieldMask>) -> Result<&[String], Violations> {
    match mask.map(|m| m.paths.as_slice()).unwrap_or_default() {
        [] => Err(Violations::one(
            MASK,
            "is required: name the fields to change",
        )),
        paths => Ok(paths),
    }
}

/// The updatable field `path` names, if it names one.
pub fn field<M: Maskable>(path: &str) -> Option<&'static str> {
    M::UPDATABLE.iter().copied().find(|field| *field == path)
}

/// The violation for a path that names no updatable field of `M`.
fn unknown<M: Maskable>(path: &str) -> String {
    format!(
        "path {} is not an updatable field of {}",
        excerpt(path),
        M::NAME
    )
}

/// The fields a mask names, `*` standing for all of them where `M` allows it.
pub fn fields<M: Maskable>(mask: Option<&FieldMask>) -> Result<Vec<&'static str>, Violations> {
    let paths = required(mask)?;
    let mut violations = Violations::new();
    let mut fields = Vec::new();
    for path in paths {
        if M::STAR && path == "*" {
            fields.extend_from_slice(M::UPDATABLE);
        } else if let Some(field) = field::<M>(path) {
            fields.push(field);
        } else {
            violations.add(MASK, unknown::<M>(path));
        }
    }
    violations.into_result(|| fields)
}

/// Copies every named field from `patch` onto `target`.
pub fn apply<M: Maskable>(target: &mut M, patch: &M, fields: &[&str]) {
    for field in fields {
        M::copy_field(target, patch, field);
    }
}

/// Whether a patch leaves `field` at its default (a write-only field named without a
/// value).
pub fn is_empty_in<M: Maskable>(patch: &M, field: &str) -> bool {
    let mut probe = M::default();
    M::copy_field(&mut probe, patch, field);
    probe == M::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, Clone, PartialEq, Debug)]
    struct Pair {
        left: u8,
        right: u8,
    }

    impl Maskable for Pair {
        const NAME: &'static str = "Pair";
        const UPDATABLE: &'static [&'static str] = &["left", "right"];

        fn copy_field(target: &mut Self, source: &Self, field: &str) {
            match field {
                "left" => target.left = source.left,
                _ => target.right = source.right,
            }
        }
    }

    fn mask(paths: &[&str]) -> FieldMask {
        FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn a_mask_names_known_fields_or_everything_and_reports_every_unknown_path() {
        assert_eq!(fields::<Pair>(Some(&mask(&["right"]))).unwrap(), ["right"]);
        assert_eq!(
            fields::<Pair>(Some(&mask(&["*"]))).unwrap(),
            ["left", "right"]
        );
        let refused = fields::<Pair>(Some(&mask(&["up", "left", "down"]))).unwrap_err();
        assert_eq!(refused.iter().count(), 2);
        assert!(fields::<Pair>(None).is_err() && fields::<Pair>(Some(&mask(&[]))).is_err());
    }

    #[test]
    fn only_named_fields_are_copied() {
        let mut target = Pair { left: 1, right: 2 };
        apply(&mut target, &Pair { left: 7, right: 8 }, &["right"]);
        assert_eq!(target, Pair { left: 1, right: 8 });
        assert!(is_empty_in(&Pair { left: 0, right: 8 }, "left"));
    }
}
