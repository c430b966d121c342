//! The `insurance_policies` table (E&O coverage) and the coverage questions users ask:
//! "is this producer covered on day D?", answered by an index range scan.

use bigdecimal::num_bigint::BigInt;
use bigdecimal::{BigDecimal, ToPrimitive};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::dsl::now;
use diesel::prelude::*;
use uuid::Uuid;

use super::children::{ChildKey, ChildTable, WriteKind, producer_version};
use super::codes;
use super::outbox::WriteContext;
use super::schema::insurance_policies;
use crate::domain::child::{Child, NoSecret, Versioned};
use crate::domain::insurance_policy::{
    CoveragePeriod, InsurancePolicies, InsurancePolicy, InsurancePolicyData, TotalLimit,
};
use crate::domain::text::Name;
use crate::domain::{AccountId, Error, PolicyId, ProducerId};

#[derive(Queryable, Selectable)]
#[diesel(table_name = insurance_policies, check_for_backend(diesel::pg::Pg))]
struct PolicyRow {
    producer_id: Uuid,
    id: Uuid,
    carrier: String,
    policy_number: String,
    certificate_number: Option<String>,
    policy_type: String,
    total_limit: Option<BigDecimal>,
    effective_date: NaiveDate,
    expiry_date: NaiveDate,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = insurance_policies, treat_none_as_null = true, treat_none_as_default_value = false)]
struct PolicyValues<'a> {
    carrier: &'a str,
    policy_number: &'a str,
    certificate_number: Option<&'a str>,
    policy_type: &'static str,
    total_limit: Option<BigDecimal>,
    effective_date: NaiveDate,
    expiry_date: NaiveDate,
}

impl<'a> From<&'a InsurancePolicyData> for PolicyValues<'a> {
    fn from(data: &'a InsurancePolicyData) -> Self {
        Self {
            carrier: data.carrier.as_str(),
            policy_number: data.policy_number.as_str(),
            certificate_number: data.certificate_number.as_ref().map(Name::as_str),
            policy_type: codes::policy_type(data.policy_type),
            // Whole cents with scale 2: exact, as NUMERIC(10,2) stores it.
            total_limit: data
                .total_limit
                .map(|limit| BigDecimal::new(BigInt::from(limit.cents()), 2)),
            effective_date: data.period.effective(),
            expiry_date: data.period.expiry(),
        }
    }
}

/// A stored NUMERIC(10,2) back to whole cents; `None` if it is not a whole number of cents.
fn cents_of(amount: &BigDecimal) -> Option<u64> {
    let scaled = amount * BigDecimal::from(100);
    scaled.is_integer().then(|| scaled.to_u64()).flatten()
}

impl PolicyRow {
    fn into_domain(self) -> Result<InsurancePolicy, Error> {
        let id = self.id;
        let corrupt = |what: &str| {
            Error::Internal(format!(
                "insurance policy {id} has an invalid stored {what}"
            ))
        };
        let total_limit = match &self.total_limit {
            None => None,
            Some(amount) => Some(
                cents_of(amount)
                    .and_then(|cents| TotalLimit::from_cents(cents).ok())
                    .ok_or_else(|| corrupt("total_limit"))?,
            ),
        };
        Ok(Child {
            id: PolicyId::from_uuid(self.id),
            producer_id: ProducerId::from_uuid(self.producer_id),
            data: InsurancePolicyData {
                carrier: Name::parse(&self.carrier).map_err(|_| corrupt("carrier"))?,
                policy_number: Name::parse(&self.policy_number)
                    .map_err(|_| corrupt("policy_number"))?,
                certificate_number: self
                    .certificate_number
                    .as_deref()
                    .map(Name::parse)
                    .transpose()
                    .map_err(|_| corrupt("certificate_number"))?,
                policy_type: codes::parse_policy_type(&self.policy_type)
                    .ok_or_else(|| corrupt("policy_type"))?,
                total_limit,
                period: CoveragePeriod::new(self.effective_date, self.expiry_date)
                    .map_err(|_| corrupt("coverage period"))?,
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

impl ChildTable for InsurancePolicies {
    fn select(
        conn: &mut PgConnection,
        key: &ChildKey<'_, PolicyId>,
        lock: bool,
    ) -> Result<Option<InsurancePolicy>, Error> {
        let query = insurance_policies::table
            .find(key.columns())
            .select(PolicyRow::as_select());
        let row = if lock {
            query.for_update().first(conn)
        } else {
            query.first(conn)
        };
        row.optional()?.map(PolicyRow::into_domain).transpose()
    }

    fn select_page(
        conn: &mut PgConnection,
        account: &AccountId,
        producer: ProducerId,
        after: Option<PolicyId>,
        limit: Option<i64>,
    ) -> Result<Vec<InsurancePolicy>, Error> {
        let mut query = insurance_policies::table
            .filter(insurance_policies::account_id.eq(account.as_str()))
            .filter(insurance_policies::producer_id.eq(producer.as_uuid()))
            .select(PolicyRow::as_select())
            .order(insurance_policies::id.asc())
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(insurance_policies::id.gt(after.as_uuid()));
        }
        if let Some(limit) = limit {
            query = query.limit(limit);
        }
        let rows = query.load(conn)?;
        rows.into_iter().map(PolicyRow::into_domain).collect()
    }

    fn write(
        conn: &mut PgConnection,
        _cx: &WriteContext,
        key: &ChildKey<'_, PolicyId>,
        write: WriteKind,
        data: &InsurancePolicyData,
        _secret: Option<&NoSecret>,
    ) -> Result<InsurancePolicy, Error> {
        let row = match write {
            WriteKind::Insert => {
                let (account_id, producer_id, id) = key.columns();
                diesel::insert_into(insurance_policies::table)
                    .values((
                        insurance_policies::account_id.eq(account_id),
                        insurance_policies::producer_id.eq(producer_id),
                        insurance_policies::id.eq(id),
                        PolicyValues::from(data),
                    ))
                    .returning(PolicyRow::as_returning())
                    .get_result::<PolicyRow>(conn)?
            }
            WriteKind::Update => diesel::update(insurance_policies::table.find(key.columns()))
                .set((
                    PolicyValues::from(data),
                    insurance_policies::updated_at.eq(now),
                ))
                .returning(PolicyRow::as_returning())
                .get_result::<PolicyRow>(conn)?,
        };
        row.into_domain()
    }

    fn delete(
        conn: &mut PgConnection,
        key: &ChildKey<'_, PolicyId>,
    ) -> Result<Option<InsurancePolicy>, Error> {
        diesel::delete(insurance_policies::table.find(key.columns()))
            .returning(PolicyRow::as_returning())
            .get_result::<PolicyRow>(conn)
            .optional()?
            .map(PolicyRow::into_domain)
            .transpose()
    }

    /// Policies have no flag: none is ever held.
    fn clear_flag(
        _conn: &mut PgConnection,
        _key: &ChildKey<'_, PolicyId>,
        _data: &InsurancePolicyData,
    ) -> Result<Vec<InsurancePolicy>, Error> {
        Ok(Vec::new())
    }
}

/// The producer's policies whose coverage is active on `day` (effective ≤ day < expiry),
/// from the (account, producer, expiry, effective) index.
pub fn active_on(
    conn: &mut PgConnection,
    account: &AccountId,
    producer: ProducerId,
    day: NaiveDate,
) -> Result<Versioned<Vec<InsurancePolicy>>, Error> {
    super::in_snapshot(conn, |conn| {
        let producer_version = producer_version(conn, account, producer)?;
        let item = insurance_policies::table
            .filter(insurance_policies::account_id.eq(account.as_str()))
            .filter(insurance_policies::producer_id.eq(producer.as_uuid()))
            .filter(insurance_policies::expiry_date.gt(day))
            .filter(insurance_policies::effective_date.le(day))
            .select(PolicyRow::as_select())
            .order(insurance_policies::expiry_date.desc())
            .load::<PolicyRow>(conn)?
            .into_iter()
            .map(PolicyRow::into_domain)
            .collect::<Result<_, _>>()?;
        Ok(Versioned {
            item,
            producer_version,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_amounts_read_back_as_exact_cents() {
        let limit = TotalLimit::parse("2500000.5").unwrap();
        let stored = BigDecimal::new(BigInt::from(limit.cents()), 2);
        assert_eq!(stored.to_string(), "2500000.50");
        assert_eq!(cents_of(&stored), Some(250_000_050));
        assert_eq!(cents_of(&"1.005".parse().unwrap()), None);
    }
}
