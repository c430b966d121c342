//! ListProducers: keyset pagination, filters, and page tokens bound to their filters.

use diesel::RunQueryDsl;
use tonic::Code;

use producer_profile::proto::v1 as pb;

use crate::support::*;

async fn list(
    client: &mut crate::support::server::Client,
    request: pb::ListProducersRequest,
) -> pb::ListProducersResponse {
    client.list_producers(request).await.unwrap().into_inner()
}

/// Every page of a listing, following tokens to the end; the NPNs in order.
async fn all_pages(
    client: &mut crate::support::server::Client,
    mut request: pb::ListProducersRequest,
) -> (Vec<String>, usize) {
    let mut npns = Vec::new();
    let mut pages = 0;
    loop {
        let page = list(client, request.clone()).await;
        assert!(page.producers.len() <= request.page_size.max(1) as usize);
        pages += 1;
        npns.extend(page.producers.into_iter().map(|p| p.npn));
        if page.next_page_token.is_empty() {
            return (npns, pages);
        }
        request.page_token = page.next_page_token;
    }
}

#[tokio::test]
async fn pages_walk_every_matching_producer_once_in_creation_order() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    for n in 1..=7 {
        let producer = if n % 3 == 0 {
            firm(&n.to_string())
        } else {
            individual(&n.to_string())
        };
        client.create_producer(create(producer)).await.unwrap();
    }
    let (everyone, pages) = all_pages(
        &mut client,
        pb::ListProducersRequest {
            page_size: 2,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(everyone, ["1", "2", "3", "4", "5", "6", "7"]);
    assert_eq!(pages, 4);

    let individuals = pb::ListProducersRequest {
        page_size: 2,
        r#type: pb::ProducerType::Individual as i32,
        ..Default::default()
    };
    assert_eq!(
        all_pages(&mut client, individuals).await.0,
        ["1", "2", "4", "5", "7"]
    );

    let chosen = pb::ListProducersRequest {
        page_size: 1,
        npns: vec!["7".into(), "2".into(), "3".into(), "404".into()],
        r#type: pb::ProducerType::Individual as i32,
        ..Default::default()
    };
    assert_eq!(all_pages(&mut client, chosen).await.0, ["2", "7"]);
}

#[tokio::test]
async fn updated_since_finds_only_producers_changed_at_or_after_the_time() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let old = client
        .create_producer(create(individual("1")))
        .await
        .unwrap()
        .into_inner();
    let fresh = client
        .create_producer(create(individual("2")))
        .await
        .unwrap()
        .into_inner();
    let since = fresh.update_time;
    let only_fresh = list(
        &mut client,
        pb::ListProducersRequest {
            updated_since: since,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        only_fresh
            .producers
            .iter()
            .map(|p| p.npn.as_str())
            .collect::<Vec<_>>(),
        ["2"]
    );
    client
        .update_producer(change_npn(&old.id, "3"))
        .await
        .unwrap();
    let both = list(
        &mut client,
        pb::ListProducersRequest {
            updated_since: since,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        both.producers
            .iter()
            .map(|p| p.npn.as_str())
            .collect::<Vec<_>>(),
        ["3", "2"]
    );
}

#[tokio::test]
async fn a_page_token_only_works_with_the_filters_it_was_issued_for() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    for n in 1..=3 {
        client
            .create_producer(create(individual(&n.to_string())))
            .await
            .unwrap();
    }
    let first = list(
        &mut client,
        pb::ListProducersRequest {
            page_size: 1,
            ..Default::default()
        },
    )
    .await;
    let other_filter = client
        .list_producers(pb::ListProducersRequest {
            page_size: 1,
            page_token: first.next_page_token.clone(),
            r#type: pb::ProducerType::Firm as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&other_filter), ["page_token"]);
    let forged = client
        .list_producers(pb::ListProducersRequest {
            page_token: "bm90LWEtdG9rZW4".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&forged), ["page_token"]);
}

#[tokio::test]
async fn page_sizes_default_to_fifty_and_are_capped_at_five_hundred() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    // 501 producers, written straight to the table: only the counts matter here.
    diesel::sql_query(
        "INSERT INTO producers (account_id, id, npn, producer_type, firm_name) \
         SELECT 'ACME', gen_random_uuid(), n::text, 'FIRM', 'Firm ' || n FROM generate_series(1, 501) n",
    )
    .execute(&mut server.db.connect())
    .unwrap();
    let default = list(&mut client, pb::ListProducersRequest::default()).await;
    assert_eq!(default.producers.len(), 50);
    assert!(!default.next_page_token.is_empty());
    let huge = pb::ListProducersRequest {
        page_size: 100_000,
        ..Default::default()
    };
    let capped = list(&mut client, huge.clone()).await;
    assert_eq!(capped.producers.len(), 500);
    let rest = list(
        &mut client,
        pb::ListProducersRequest {
            page_token: capped.next_page_token,
            ..huge
        },
    )
    .await;
    assert_eq!(rest.producers.len(), 1);
    assert!(rest.next_page_token.is_empty());
    let negative = client
        .list_producers(pb::ListProducersRequest {
            page_size: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&negative), ["page_size"]);
}

#[tokio::test]
async fn bad_filters_are_named() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let status = client
        .list_producers(pb::ListProducersRequest {
            r#type: 9,
            npns: vec!["1".into(), "x".into()],
            ssn: "12".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["type", "npns[1]", "ssn"]);
    let too_many = client
        .list_producers(pb::ListProducersRequest {
            npns: (0..501).map(|n| n.to_string()).collect(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(too_many.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn the_ssn_filter_finds_producers_by_ssn_for_pii_callers_only() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    client
        .create_producer(create(individual("1")))
        .await
        .unwrap();
    let mut other = individual("2");
    person_mut(&mut other).ssn = "111-22-3333".into();
    client.create_producer(create(other)).await.unwrap();
    let found = list(
        &mut client,
        pb::ListProducersRequest {
            ssn: "111223333".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        found
            .producers
            .iter()
            .map(|p| p.npn.as_str())
            .collect::<Vec<_>>(),
        ["2"]
    );

    let mut reader = server.client_for("ACME", "producers:read").await;
    let denied = reader
        .list_producers(pb::ListProducersRequest {
            ssn: "111-22-3333".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
}
