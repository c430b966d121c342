//! Which fields a change touched, named by their API paths (`city`,
//! `individual.last_name`): the `changed_fields` every event carries. Decided on the
//! domain values, so a change is named the same whatever renders it; a created resource
//! names every field it sets, a deleted one none.

use super::address::AddressData;
use super::bank_account::BankAccountData;
use super::event::{Action, Change, ResourceState};
use super::insurance_policy::InsurancePolicyData;
use super::phone::PhoneData;
use super::producer::{Firm, Individual, ProducerData, ProducerDetails};

/// A field's value as the comparison sees it. `is_set` tells whether a created resource
/// names it: a required value always, an optional one when present, a flag when true.
trait FieldValue: PartialEq {
    fn is_set(&self) -> bool;
}

impl FieldValue for bool {
    fn is_set(&self) -> bool {
        *self
    }
}

impl<T: PartialEq> FieldValue for Option<T> {
    fn is_set(&self) -> bool {
        self.is_some()
    }
}

/// Two values named as one field: set when either is.
impl<A: FieldValue, B: FieldValue> FieldValue for (A, B) {
    fn is_set(&self) -> bool {
        self.0.is_set() || self.1.is_set()
    }
}

/// Collects the names of the fields whose values differ between `before` and `after`
/// (without `before`: the fields `after` sets).
struct FieldDiff<'a, T> {
    before: Option<&'a T>,
    after: &'a T,
    names: Vec<&'static str>,
}

impl<'a, T> FieldDiff<'a, T> {
    fn new(before: Option<&'a T>, after: &'a T) -> Self {
        Self {
            before,
            after,
            names: Vec::new(),
        }
    }

    fn field<V: FieldValue>(mut self, name: &'static str, value: impl Fn(&'a T) -> V) -> Self {
        let now = value(self.after);
        let changed = match self.before {
            Some(before) => value(before) != now,
            None => now.is_set(),
        };
        if changed {
            self.names.push(name);
        }
        self
    }
}

fn address(before: Option<&AddressData>, after: &AddressData) -> Vec<&'static str> {
    FieldDiff::new(before, after)
        .field("type", |a| Some(a.address_type))
        .field("preferred", |a| a.preferred)
        .field("address_line1", |a| Some(&a.line1))
        .field("address_line2", |a| a.line2.as_ref())
        .field("city", |a| Some(&a.city))
        .field("state", |a| a.location.state())
        .field("zip", |a| a.location.zip())
        .field("country", |a| Some(a.location.country()))
        .field("county", |a| a.county.as_ref())
        .field("move_in_date", |a| a.move_in_date)
        .names
}

fn phone(before: Option<&PhoneData>, after: &PhoneData) -> Vec<&'static str> {
    FieldDiff::new(before, after)
        .field("number", |p| Some(&p.number))
        .field("type", |p| Some(p.phone_type))
        .field("extension", |p| p.extension.as_ref())
        .field("preferred", |p| p.preferred)
        .names
}

/// The number is compared by its last four digits, all that is stored in the readable
/// state; a replaced number that kept them is named through `Change::hidden_changes`.
fn bank_account(before: Option<&BankAccountData>, after: &BankAccountData) -> Vec<&'static str> {
    FieldDiff::new(before, after)
        .field("bank_name", |b| Some(&b.bank_name))
        .field("holder_name", |b| Some(&b.holder_name))
        .field("routing_number", |b| Some(&b.routing_number))
        .field("number", |b| Some(&b.number_last4))
        .field("type", |b| Some(b.account_type))
        .field("nickname", |b| b.nickname.as_ref())
        .field("primary_account", |b| b.primary_account)
        .names
}

fn insurance_policy(
    before: Option<&InsurancePolicyData>,
    after: &InsurancePolicyData,
) -> Vec<&'static str> {
    FieldDiff::new(before, after)
        .field("carrier", |p| Some(&p.carrier))
        .field("policy_number", |p| Some(&p.policy_number))
        .field("certificate_number", |p| p.certificate_number.as_ref())
        .field("type", |p| Some(p.policy_type))
        .field("total_limit", |p| p.total_limit)
        .field("effective_date", |p| Some(p.period.effective()))
        .field("expiry", |p| Some(p.period.expiry()))
        .names
}

/// `ssn` is the SSN as a whole, full number and last four (a client may know only the
/// last four); compared on the full number, so a changed SSN is named although no
/// event shows it.
fn individual(before: Option<&Individual>, after: &Individual) -> Vec<&'static str> {
    FieldDiff::new(before, after)
        .field("first_name", |p| Some(&p.first_name))
        .field("last_name", |p| Some(&p.last_name))
        .field("middle_name", |p| p.middle_name.as_ref())
        .field("suffix", |p| p.suffix.as_ref())
        .field("gender", |p| p.gender)
        .field("date_of_birth", |p| p.date_of_birth)
        .field("ssn", |p| (p.ssn.full(), p.ssn.last4()))
        .field("ssn_last4", |p| p.ssn.last4())
        .field("finra_crd_number", |p| p.finra_crd_number.as_ref())
        .field("primary_email", |p| p.primary_email.as_ref())
        .field("secondary_email", |p| p.secondary_email.as_ref())
        .field("title", |p| p.title.as_ref())
        .names
}

fn firm(before: Option<&Firm>, after: &Firm) -> Vec<&'static str> {
    FieldDiff::new(before, after)
        .field("name", |f| Some(&f.name))
        .field("business_type", |f| f.business_type)
        .field("email", |f| f.email.as_ref())
        .field("fein", |f| f.fein.as_ref())
        .field("finra_crd_number", |f| f.finra_crd_number.as_ref())
        .names
}

fn producer(before: Option<&ProducerData>, after: &ProducerData) -> Vec<String> {
    fn in_block(block: &'static str, names: Vec<&'static str>) -> impl Iterator<Item = String> {
        names.into_iter().map(move |f| format!("{block}.{f}"))
    }
    let mut names: Vec<String> = FieldDiff::new(before, after)
        .field("npn", |p| Some(&p.npn))
        .names
        .into_iter()
        .map(str::to_owned)
        .collect();
    match (before.map(|b| &b.details), &after.details) {
        (None, ProducerDetails::Individual(now)) => {
            names.extend(in_block("individual", individual(None, now)))
        }
        (Some(ProducerDetails::Individual(was)), ProducerDetails::Individual(now)) => {
            names.extend(in_block("individual", individual(Some(was), now)))
        }
        (None, ProducerDetails::Firm(now)) => names.extend(in_block("firm", firm(None, now))),
        (Some(ProducerDetails::Firm(was)), ProducerDetails::Firm(now)) => {
            names.extend(in_block("firm", firm(Some(was), now)))
        }
        // The type changed: the whole other block replaced this one.
        (Some(_), ProducerDetails::Individual(_)) => names.push("individual".to_owned()),
        (Some(_), ProducerDetails::Firm(_)) => names.push("firm".to_owned()),
    }
    names
}

impl Change {
    /// The fields this change touched, by API path: on created every field set, on
    /// updated every field that differs (and the hidden changes), on deleted none.
    pub fn changed_fields(&self) -> Vec<String> {
        if self.action == Action::Deleted {
            return Vec::new();
        }
        let children = |names: Vec<&'static str>| names.into_iter().map(str::to_owned).collect();
        let mut names: Vec<String> = match (&self.previous, &self.state) {
            (Some(ResourceState::Producer(was)), ResourceState::Producer(now)) => {
                producer(Some(&was.data), &now.data)
            }
            (_, ResourceState::Producer(now)) => producer(None, &now.data),
            (Some(ResourceState::Address(was)), ResourceState::Address(now)) => {
                children(address(Some(&was.data), &now.data))
            }
            (_, ResourceState::Address(now)) => children(address(None, &now.data)),
            (Some(ResourceState::Phone(was)), ResourceState::Phone(now)) => {
                children(phone(Some(&was.data), &now.data))
            }
            (_, ResourceState::Phone(now)) => children(phone(None, &now.data)),
            (Some(ResourceState::BankAccount(was)), ResourceState::BankAccount(now)) => {
                children(bank_account(Some(&was.data), &now.data))
            }
            (_, ResourceState::BankAccount(now)) => children(bank_account(None, &now.data)),
            (Some(ResourceState::InsurancePolicy(was)), ResourceState::InsurancePolicy(now)) => {
                children(insurance_policy(Some(&was.data), &now.data))
            }
            (_, ResourceState::InsurancePolicy(now)) => children(insurance_policy(None, &now.data)),
        };
        for hidden in &self.hidden_changes {
            if !names.iter().any(|name| name == hidden) {
                names.push((*hidden).to_owned());
            }
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::identifiers::{Npn, Ssn, SsnInfo, SsnLast4};
    use crate::domain::text::Name;

    fn person(ssn: SsnInfo) -> ProducerData {
        ProducerData {
            npn: Npn::parse("123").unwrap(),
            details: ProducerDetails::Individual(Individual {
                first_name: Name::parse("Ada").unwrap(),
                last_name: Name::parse("Lovelace").unwrap(),
                middle_name: None,
                suffix: None,
                gender: None,
                date_of_birth: None,
                ssn,
                finra_crd_number: None,
                primary_email: None,
                secondary_email: None,
                title: None,
            }),
        }
    }

    fn last4(digits: &str) -> SsnInfo {
        SsnInfo::from_parts(None, Some(SsnLast4::parse(digits).unwrap())).unwrap()
    }

    fn full(digits: &str) -> SsnInfo {
        SsnInfo::from_parts(Some(Ssn::parse(digits).unwrap()), None).unwrap()
    }

    #[test]
    fn a_created_producer_names_the_fields_it_sets() {
        assert_eq!(
            producer(None, &person(SsnInfo::default())),
            ["npn", "individual.first_name", "individual.last_name"]
        );
        assert_eq!(
            producer(None, &person(last4("6789"))),
            [
                "npn",
                "individual.first_name",
                "individual.last_name",
                "individual.ssn",
                "individual.ssn_last4"
            ]
        );
    }

    #[test]
    fn an_ssn_change_is_named_whether_the_full_number_or_only_the_last_four_changed() {
        let names =
            |before: SsnInfo, after: SsnInfo| producer(Some(&person(before)), &person(after));
        assert_eq!(
            names(last4("6789"), last4("1234")),
            ["individual.ssn", "individual.ssn_last4"]
        );
        assert_eq!(
            names(full("123456789"), full("234566789")),
            ["individual.ssn"]
        );
        assert_eq!(
            names(last4("6789"), SsnInfo::default()),
            ["individual.ssn", "individual.ssn_last4"]
        );
        assert!(names(full("123456789"), full("123456789")).is_empty());
    }

    #[test]
    fn a_type_switch_names_the_new_block_and_a_flag_only_its_own_field() {
        let firm = ProducerData {
            npn: Npn::parse("123").unwrap(),
            details: ProducerDetails::Firm(Firm {
                name: Name::parse("Acme").unwrap(),
                business_type: None,
                email: None,
                fein: None,
                finra_crd_number: None,
            }),
        };
        assert_eq!(producer(Some(&person(SsnInfo::default())), &firm), ["firm"]);
        let before = PhoneData {
            number: crate::domain::phone::PhoneNumber::parse("+13125550100").unwrap(),
            phone_type: crate::domain::phone::PhoneType::Cell,
            extension: None,
            preferred: true,
        };
        let after = PhoneData {
            preferred: false,
            ..before.clone()
        };
        assert_eq!(phone(Some(&before), &after), ["preferred"]);
        assert_eq!(phone(None, &after), ["number", "type"]);
    }
}
