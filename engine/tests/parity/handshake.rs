//! `packages/socket.io/test/handshake.ts`: CORS headers on the preflight and on the handshake,
//! and `allowRequest` allowing or refusing the handshake.

use volley::server::Server;

fn server() -> Server {
    super::harness::builder()
        .configure(|c| {
            c.cors_origins = vec![
                "http://localhost:54023".into(),
                "http://localhost:54024".into(),
            ];
            c.cors_methods = vec!["GET".into(), "POST".into()];
            c.cors_allowed_headers = vec!["content-type".into()];
            c.cors_credentials = true;
        })
        // The reference's two allowRequest servers in one: refuse what comes from foo.example.
        .allow_request(|req| match req.header("origin") {
            Some("http://foo.example") => Err("refused".into()),
            _ => Ok(()),
        })
        .namespace("/", |_| {})
        .listen()
        .unwrap()
}

#[test]
fn handshake() {
    super::harness::check("handshake", server());
}
