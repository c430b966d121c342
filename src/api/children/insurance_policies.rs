//! E&O policies over the API: parsing the message, the fields an update may name, and
//! the coverage check.

use chrono::NaiveDate;
use tonic::Status;

use super::super::field_mask::Maskable;
use super::super::request::today;
use super::{ChildCall, ChildResource, optional, required_date, required_enum, unknown_enum};
use crate::auth::Scope;
use crate::domain::child::NoSecret;
use crate::domain::dates::parse_optional_date;
use crate::domain::insurance_policy::{
    CoveragePeriod, InsurancePolicies, InsurancePolicy, InsurancePolicyData, PolicyType, TotalLimit,
};
use crate::domain::text::Name;
use crate::domain::{InvalidValue, ProducerId, Version, Violations};
use crate::proto::render;
use crate::proto::v1 as pb;
use crate::storage::insurance_policies;

fn policy_type(raw: i32) -> Result<PolicyType, InvalidValue> {
    match pb::PolicyType::try_from(raw).map_err(|_| unknown_enum())? {
        pb::PolicyType::Unspecified => Err(required_enum()),
        pb::PolicyType::Individual => Ok(PolicyType::Individual),
        pb::PolicyType::Firm => Ok(PolicyType::Firm),
    }
}

impl Maskable for pb::InsurancePolicy {
    const NAME: &'static str = "insurance_policy";
    const UPDATABLE: &'static [&'static str] = &[
        "carrier",
        "policy_number",
        "certificate_number",
        "type",
        "total_limit",
        "effective_date",
        "expiry",
    ];

    fn copy_field(target: &mut pb::InsurancePolicy, source: &pb::InsurancePolicy, field: &str) {
        match field {
            "carrier" => target.carrier.clone_from(&source.carrier),
            "policy_number" => target.policy_number.clone_from(&source.policy_number),
            "certificate_number" => target
                .certificate_number
                .clone_from(&source.certificate_number),
            "type" => target.r#type = source.r#type,
            "total_limit" => target.total_limit.clone_from(&source.total_limit),
            "effective_date" => target.effective_date.clone_from(&source.effective_date),
            "expiry" => target.expiry.clone_from(&source.expiry),
            // UPDATABLE is the list of names; field_mask admits no others.
            _ => {}
        }
    }
}

impl ChildResource for InsurancePolicies {
    type Message = pb::InsurancePolicy;

    const FIELD: &'static str = "insurance_policy";
    const ID_FIELD: &'static str = "insurance_policy_id";
    fn parse(
        message: &pb::InsurancePolicy,
        _today: NaiveDate,
        _current: Option<&InsurancePolicy>,
    ) -> Result<(InsurancePolicyData, Option<NoSecret>), Violations> {
        let mut v = Violations::new();
        let carrier = v.check("carrier", Name::parse(&message.carrier));
        let policy_number = v.check("policy_number", Name::parse(&message.policy_number));
        let certificate_number = v.check(
            "certificate_number",
            Name::parse_optional(&message.certificate_number),
        );
        let policy_type = v.check("type", policy_type(message.r#type));
        let total_limit = v.check(
            "total_limit",
            optional(&message.total_limit, TotalLimit::parse),
        );
        let effective = v.check("effective_date", required_date(&message.effective_date));
        let expiry = v.check("expiry", required_date(&message.expiry));
        let period = match (effective, expiry) {
            (Some(effective), Some(expiry)) => {
                v.check("expiry", CoveragePeriod::new(effective, expiry))
            }
            _ => None,
        };
        let data = (|| {
            Some(InsurancePolicyData {
                carrier: carrier?,
                policy_number: policy_number?,
                certificate_number: certificate_number?,
                policy_type: policy_type?,
                total_limit: total_limit?,
                period: period?,
            })
        })();
        match data {
            Some(data) if v.is_empty() => Ok((data, None)),
            _ => Err(v),
        }
    }

    fn message(stored: &InsurancePolicy, producer_version: Version) -> pb::InsurancePolicy {
        render::insurance_policy(stored, producer_version)
    }
}

impl ChildCall<'_> {
    /// "Is this producer's E&O coverage active on this day?" Scope `producers:read`.
    pub async fn check_coverage(
        &self,
        request: pb::CheckCoverageRequest,
    ) -> Result<pb::CheckCoverageResponse, Status> {
        self.caller.require(Scope::ProducersRead)?;
        let mut violations = Violations::new();
        let producer = violations.check("producer_id", request.producer_id.parse::<ProducerId>());
        let day = violations.check("date", parse_optional_date(&request.date));
        let (producer, day) = violations.finish(producer.zip(day))?;
        let day = day.unwrap_or_else(today);
        let account = self.caller.account.clone();
        let active = self
            .db
            .read(move |conn| insurance_policies::active_on(conn, &account, producer, day))
            .await?;
        Ok(pb::CheckCoverageResponse {
            active: !active.item.is_empty(),
            date: render::date_text(day),
            active_policies: active
                .item
                .iter()
                .map(|policy| InsurancePolicies::message(policy, active.producer_version))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::field_mask::apply;

    #[test]
    fn every_updatable_field_is_copied() {
        let source = pb::InsurancePolicy {
            carrier: "a".into(),
            policy_number: "b".into(),
            certificate_number: "c".into(),
            r#type: 1,
            total_limit: "d".into(),
            effective_date: "e".into(),
            expiry: "f".into(),
            ..Default::default()
        };
        let mut target = pb::InsurancePolicy::default();
        apply(&mut target, &source, pb::InsurancePolicy::UPDATABLE);
        assert_eq!(target, source);
    }
}
