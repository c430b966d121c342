//! "Is this producer's E&O active on D?" and "which producers are covered on D?", around
//! the boundaries (effective ≤ D < expiry), and the address-state filter.

use producer_profile::proto::v1 as pb;

use crate::support::server::Client;
use crate::support::*;

async fn producer_with_policy(
    client: &mut Client,
    npn: &str,
    effective: &str,
    expiry: &str,
) -> String {
    let producer = client
        .create_producer(create(individual(npn)))
        .await
        .unwrap()
        .into_inner();
    let policy = pb::InsurancePolicy {
        effective_date: effective.into(),
        expiry: expiry.into(),
        ..eo_policy()
    };
    client
        .create_insurance_policy(pb::CreateInsurancePolicyRequest {
            producer_id: producer.id.clone(),
            insurance_policy: Some(policy),
            ..Default::default()
        })
        .await
        .unwrap();
    producer.id
}

#[tokio::test]
async fn coverage_is_active_from_the_effective_date_up_to_the_day_before_expiry() {
    let server = TestServer::start().await;
    let mut client = server
        .client_for("ACME", "producers:read producers:write")
        .await;
    let id = producer_with_policy(&mut client, "1", "2026-01-01", "2027-01-01").await;
    for (day, active) in [
        ("2025-12-31", false),
        ("2026-01-01", true),
        ("2026-12-31", true),
        ("2027-01-01", false),
    ] {
        let answer = client
            .check_coverage(pb::CheckCoverageRequest {
                producer_id: id.clone(),
                date: day.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.active, active, "{day}");
        assert_eq!(answer.date, day);
        assert_eq!(answer.active_policies.len(), usize::from(active));
    }
    let today = client
        .check_coverage(pb::CheckCoverageRequest {
            producer_id: id.clone(),
            date: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        today.date,
        chrono::Utc::now()
            .date_naive()
            .format("%Y-%m-%d")
            .to_string()
    );
    let bad = client
        .check_coverage(pb::CheckCoverageRequest {
            producer_id: id,
            date: "31/12/2026".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad), ["date"]);
}

#[tokio::test]
async fn producers_covered_on_a_day_are_listed_by_the_covered_on_filter() {
    let server = TestServer::start().await;
    let mut client = server
        .client_for("ACME", "producers:read producers:write")
        .await;
    producer_with_policy(&mut client, "1", "2026-01-01", "2027-01-01").await;
    producer_with_policy(&mut client, "2", "2026-06-01", "2026-12-01").await;
    client
        .create_producer(create(individual("3")))
        .await
        .unwrap();
    let covered = |day: &str| pb::ListProducersRequest {
        covered_on: day.into(),
        ..Default::default()
    };
    for (day, npns) in [
        ("2026-03-01", vec!["1"]),
        ("2026-11-30", vec!["1", "2"]),
        ("2026-12-01", vec!["1"]),
        ("2027-01-01", vec![]),
    ] {
        let listed = client
            .list_producers(covered(day))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            listed
                .producers
                .iter()
                .map(|p| p.npn.as_str())
                .collect::<Vec<_>>(),
            npns,
            "{day}"
        );
    }
}

#[tokio::test]
async fn producers_are_listed_by_the_state_of_their_addresses() {
    let server = TestServer::start().await;
    let mut client = server
        .client_for("ACME", "producers:read producers:write")
        .await;
    for (npn, state) in [("1", "IL"), ("2", "NY"), ("3", "il")] {
        let producer = client
            .create_producer(create(individual(npn)))
            .await
            .unwrap()
            .into_inner();
        let address = pb::Address {
            state: state.into(),
            ..mailing_address()
        };
        client
            .create_address(pb::CreateAddressRequest {
                producer_id: producer.id,
                address: Some(address),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let in_illinois = client
        .list_producers(pb::ListProducersRequest {
            address_state: "Il".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        in_illinois
            .producers
            .iter()
            .map(|p| p.npn.as_str())
            .collect::<Vec<_>>(),
        ["1", "3"]
    );
    let bad = client
        .list_producers(pb::ListProducersRequest {
            address_state: "Illinois".into(),
            covered_on: "soon".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad), ["address_state", "covered_on"]);
}

#[tokio::test]
async fn the_coverage_queries_are_answered_by_an_index() {
    let server = TestServer::start().await;
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Plan {
        #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
        line: String,
    }
    let mut conn = server.db.connect();
    diesel::sql_query("SET enable_seqscan = off")
        .execute(&mut conn)
        .unwrap();
    let mut plan_of = |query: &str| -> String {
        let plan: Vec<Plan> = diesel::sql_query(format!("EXPLAIN {query}"))
            .load(&mut conn)
            .unwrap();
        plan.into_iter()
            .map(|p| p.line)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let this_producer = plan_of(
        "SELECT * FROM insurance_policies WHERE account_id = 'ACME' \
         AND producer_id = '00000000-0000-0000-0000-000000000000' \
         AND expiry_date > DATE '2026-06-01' AND effective_date <= DATE '2026-06-01'",
    );
    let every_producer = plan_of(
        "SELECT p.id FROM producers p WHERE p.account_id = 'ACME' AND EXISTS (\
         SELECT 1 FROM insurance_policies i WHERE i.account_id = p.account_id \
         AND i.producer_id = p.id AND i.expiry_date > DATE '2026-06-01' \
         AND i.effective_date <= DATE '2026-06-01')",
    );
    for plan in [this_producer, every_producer] {
        assert!(plan.contains("coverage_idx"), "{plan}");
        assert!(!plan.contains("Seq Scan on insurance_policies"), "{plan}");
    }
}
