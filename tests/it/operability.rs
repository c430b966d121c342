//! Health, reflection, an unreachable database, and draining on shutdown.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use secrecy::SecretString;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::support::database::TestDb;
use crate::support::server::test_config;
use crate::support::*;

#[tokio::test]
async fn health_reports_not_serving_and_calls_are_unavailable_while_the_database_is_down() {
    let db = Arc::new(TestDb::migrated());
    let mut config = test_config(&db.url);
    // Nothing listens on port 1: the database is unreachable.
    config.database.url = SecretString::from("postgres://nobody:nothing@127.0.0.1:1/none");
    config.database.connect_timeout_ms = 300;
    let server = TestServer::launch(db, config).await;
    server.wait_for_health(ServingStatus::NotServing).await;
    assert_eq!(
        server
            .health("producerprofile.v1.ProducerProfileService")
            .await,
        ServingStatus::NotServing
    );

    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let status = client
        .create_producer(create(individual("1")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        !status.message().contains("127.0.0.1"),
        "no internal detail: {}",
        status.message()
    );
}

#[tokio::test]
async fn reflection_lists_the_services_in_v1_and_v1alpha() {
    let server = TestServer::start().await;
    let channel = server.channel().await;

    use tonic_reflection::pb::v1;
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::once(request))
        .await
        .unwrap()
        .into_inner();
    let Some(Ok(v1::ServerReflectionResponse {
        message_response:
            Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)),
        ..
    })) = responses.next().await
    else {
        panic!("a list of services");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"producerprofile.v1.ProducerProfileService".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned())
            && names.contains(&"producerprofile.events.v1.EventService".to_owned()),
        "{names:?}"
    );

    use tonic_reflection::pb::v1alpha as alpha;
    let mut client = alpha::server_reflection_client::ServerReflectionClient::new(channel);
    let request = alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                "producerprofile.v1.ProducerProfileService".into(),
            ),
        ),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::once(request))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    assert!(matches!(
        response.message_response,
        Some(alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(ref files))
            if !files.file_descriptor_proto.is_empty()
    ));

    // The error details' types, so a client like grpcurl can decode a BadRequest.
    let request = alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                "google.rpc.BadRequest".into(),
            ),
        ),
    };
    let response = client
        .server_reflection_info(tokio_stream::once(request))
        .await
        .unwrap()
        .into_inner()
        .next()
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(
            response.message_response,
            Some(alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(ref files))
                if !files.file_descriptor_proto.is_empty()
        ),
        "{response:?}"
    );
}

#[tokio::test]
async fn shutdown_waits_for_a_call_in_flight_and_refuses_new_ones() {
    let mut server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let created = client
        .create_producer(create(individual("1")))
        .await
        .unwrap()
        .into_inner();

    // Hold the producer's row lock so the update below stays in flight.
    let blocker = server.db.lock_producers();
    let mut in_flight_client = client.clone();
    let in_flight = tokio::spawn(async move {
        in_flight_client
            .update_producer(change_npn(&created.id, "2"))
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.begin_stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!in_flight.is_finished(), "the update waits on the lock");
    assert!(
        tokio::net::TcpStream::connect(server.addr).await.is_err(),
        "draining: new connections are refused while the call is in flight"
    );
    drop(blocker);

    let updated = in_flight
        .await
        .unwrap()
        .expect("the in-flight call completes");
    assert_eq!(updated.into_inner().npn, "2");
    server.finished().await.expect("a clean stop");
}

#[tokio::test]
async fn health_follows_the_database_going_away_and_coming_back() {
    let server = TestServer::start().await;
    let name = server.db.name.clone();
    let mut admin = crate::support::database::admin();
    let set_connections = |admin: &mut PgConnection, allowed: bool| {
        diesel::sql_query(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {allowed}"))
            .execute(admin)
            .unwrap();
        if !allowed {
            diesel::sql_query(format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            ))
            .execute(admin)
            .unwrap();
        }
    };
    set_connections(&mut admin, false);
    server.wait_for_health(ServingStatus::NotServing).await;
    set_connections(&mut admin, true);
    server.wait_for_health(ServingStatus::Serving).await;
}

#[tokio::test]
async fn shutdown_under_load_completes_and_publishes_every_accepted_call() {
    let mut server = TestServer::start().await;
    let client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    // Eight callers creating producers back to back, until the server stops them.
    let callers: Vec<_> = (0..8)
        .map(|caller| {
            let mut client = client.clone();
            tokio::spawn(async move {
                let mut created = Vec::new();
                for n in 0.. {
                    match client
                        .create_producer(create(firm(&format!("{caller}{n:05}"))))
                        .await
                    {
                        Ok(response) => created.push(response.into_inner().id),
                        Err(status) => return (created, status),
                    }
                }
                unreachable!()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.begin_stop();
    let mut accepted = Vec::new();
    for caller in callers {
        let (created, ended_with) = caller.await.unwrap();
        // Refused: no connection, or a call sent as the server closed the connection
        // (HTTP/2 GOAWAY) — never taken in, as the counts below show.
        assert!(
            matches!(ended_with.code(), Code::Unavailable | Code::Cancelled),
            "refused, not failed: {ended_with:?}"
        );
        accepted.extend(created);
    }
    let config = server.config.clone();
    let db = server.db.clone();
    server.finished().await.expect("a clean stop");
    assert!(accepted.len() > 8, "the load ran: {}", accepted.len());

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let count = |sql: &str| {
        diesel::sql_query(sql)
            .get_result::<Count>(&mut db.connect())
            .unwrap()
            .n as usize
    };
    assert_eq!(
        count("SELECT count(*) AS n FROM producers"),
        accepted.len(),
        "every answered call is stored, nothing more"
    );
    assert_eq!(
        count("SELECT count(*) AS n FROM events WHERE published_at IS NULL"),
        0,
        "the relay published every committed event before stopping"
    );
    let records = crate::support::kafka::read(
        &config.kafka.brokers,
        &config.kafka.topic,
        accepted.len(),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(records.len(), accepted.len());
}

#[tokio::test]
async fn reads_are_answered_after_the_database_dropped_the_pooled_connections() {
    // The pools do not test a connection before each call: a connection the database
    // dropped (a restart, a failover) is found broken on use, and a read runs again on
    // a fresh one.
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let created = client
        .create_producer(create(firm("1")))
        .await
        .unwrap()
        .into_inner();
    let name = server.db.name.clone();
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ))
    .execute(&mut crate::support::database::admin())
    .unwrap();
    for _ in 0..3 {
        let found = client
            .get_producer(by_id(&created.id))
            .await
            .expect("a read on a dropped connection is run again");
        assert_eq!(found.into_inner().id, created.id);
    }
}
