//! The peer channel as the node runs it: the multiplexer over a rustls
//! connection with a verified certificate, carrying two concurrent OT
//! extension sessions. Also: a client that does not trust the server's
//! certificate never gets a channel.

use std::sync::Arc;

use mpc_core::channel::{Bytes, Channel, Mux};
use mpc_core::ot::bits::get_bit;
use mpc_core::ot::{CotReceiver, CotSender, ExtensionConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

struct Pki {
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn self_signed() -> Pki {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    Pki {
        cert: generated.cert.der().clone(),
        key: PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der()).into(),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn acceptor(pki: &Pki) -> TlsAcceptor {
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![pki.cert.clone()], pki.key.clone_key())
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

fn connector(trusted: &CertificateDer<'static>) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// Connects a verified TLS client to a TLS server on loopback; the client
/// trusts `trusted`. Returns (server side, client side) or the client's error.
async fn tls_pair(
    server_pki: &Pki,
    trusted: &CertificateDer<'static>,
) -> Result<(Mux, Mux), std::io::Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let acceptor = acceptor(server_pki);
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        acceptor.accept(tcp).await
    });
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let client = connector(trusted)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await;
    let server = server.await.expect("server task");
    let client = client?;
    let server = server?;
    Ok((Mux::new(server), Mux::new(client)))
}

/// One OT extension run on a session pair; checks m_b = m0 ^ b·Δ.
async fn correlated_ots<A: Channel, B: Channel>(a: &mut A, b: &mut B, ctx: &[u8], n: usize) {
    let cfg = ExtensionConfig::SOFTSPOKEN4;
    let (s, r) = tokio::join!(
        CotSender::setup(a, cfg, ctx),
        CotReceiver::setup(b, cfg, ctx)
    );
    let (mut s, mut r) = (s.unwrap(), r.unwrap());
    let (sb, rb) = tokio::join!(s.extend(a, n), r.extend(b, n));
    let (sb, rb) = (sb.unwrap(), rb.unwrap());
    assert_eq!(sb.len(), n);
    for j in 0..n {
        let expect = if get_bit(&rb.choices, j) {
            sb.m1(j)
        } else {
            sb.m0[j]
        };
        assert_eq!(rb.mb[j], expect, "OT {j}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ot_sessions_share_one_verified_tls_connection() {
    let pki = self_signed();
    let (server, client) = tls_pair(&pki, &pki.cert).await.expect("TLS handshake");

    let (mut s1, mut c1) = (server.open(1).unwrap(), client.open(1).unwrap());
    let (mut s2, mut c2) = (server.open(2).unwrap(), client.open(2).unwrap());
    let job1 = correlated_ots(&mut s1, &mut c1, b"job-1", 20_000);
    let job2 = correlated_ots(&mut c2, &mut s2, b"job-2", 15_000);
    tokio::join!(job1, job2);

    // Plain messages still flow on a third session afterwards.
    let (mut s3, mut c3) = (server.open(3).unwrap(), client.open(3).unwrap());
    c3.send(Bytes::from_static(b"ping")).await.unwrap();
    assert_eq!(&s3.recv().await.unwrap()[..], b"ping");
    assert!(client.wire_stats().bytes_written > 0);
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_certificate_gets_no_channel() {
    let pki = self_signed();
    let stranger = self_signed();
    let result = tls_pair(&pki, &stranger.cert).await;
    assert!(result.is_err(), "an unverified server must be refused");
}
