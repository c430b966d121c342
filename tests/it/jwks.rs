//! Where the keys come from: a JWKS served over HTTP, and a JWKS that changes while the
//! server runs (the issuer rotating its keys).

use std::time::Duration;

use jsonwebtoken::Algorithm;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tonic::Code;

use producer_profile::proto::v1 as pb;

use crate::support::keys::issuer;
use crate::support::*;

/// The test issuer's JWKS, keeping only the keys whose kid `keep` accepts.
fn jwks_with(keep: impl Fn(&str) -> bool) -> String {
    let full: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&issuer().jwks_path).unwrap()).unwrap();
    let keys: Vec<_> = full["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| keep(k["kid"].as_str().unwrap()))
        .cloned()
        .collect();
    serde_json::json!({ "keys": keys }).to_string()
}

/// Serves `body` as JSON to every HTTP request on a loopback port; returns the URL.
async fn serve_json(body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    url
}

async fn status_of(server: &TestServer, token: String) -> Code {
    let mut client = server.client(&token).await;
    match client
        .list_producers(pb::ListProducersRequest::default())
        .await
    {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

#[tokio::test]
async fn keys_are_fetched_from_a_jwks_url() {
    let url = serve_json(jwks_with(|_| true)).await;
    let server = TestServer::start_with(|config| {
        config.auth.jwks = Some(url);
        config.auth.allow_http_jwks = true;
    })
    .await;
    assert_eq!(
        status_of(&server, token("ACME", "producers:read")).await,
        Code::Ok
    );
}

#[tokio::test]
async fn a_key_the_issuer_adds_is_trusted_after_the_next_refresh() {
    let dir = std::env::temp_dir().join(format!("pp-jwks-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("jwks.json");
    std::fs::write(&path, jwks_with(|kid| kid == "es-1")).unwrap();
    let server = TestServer::start_with(|config| {
        config.auth.jwks = Some(path.display().to_string());
        config.auth.jwks_refresh_secs = 1;
    })
    .await;
    let es256 = TokenSpec {
        alg: Algorithm::ES256,
        ..TokenSpec::new("ACME", "producers:read")
    };
    assert_eq!(status_of(&server, es256.sign()).await, Code::Ok);
    assert_eq!(
        status_of(&server, token("ACME", "producers:read")).await,
        Code::Unauthenticated
    );

    std::fs::write(&path, jwks_with(|kid| kid == "ed-1")).unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        status_of(&server, token("ACME", "producers:read")).await,
        Code::Ok
    );
    assert_eq!(
        status_of(&server, es256.sign()).await,
        Code::Unauthenticated,
        "a removed key is no longer trusted"
    );
}
