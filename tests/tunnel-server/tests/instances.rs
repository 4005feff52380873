//! Several tunnel servers behind one load balancer (issue 19): Debian's nginx in front of two
//! `tunnel-server --instance N` processes, all on loopback with ports picked at run time.
//! Phones' `/cable/new` go round-robin; each routing id starts with its instance's byte, and
//! nginx sends the browser's `/cable/connect/{routing id}/...` to that instance by it, so the
//! two legs meet although nothing is shared. Straight to the wrong instance: 404.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use authenticator_core::hybrid::client::{self, TunnelClientError};
use common::{hex, recv};
use harness::{Process, Stderr};

fn tunnel_server(instance: u8) -> (Process, String) {
    Process::start_server(
        Command::new(env!("CARGO_BIN_EXE_tunnel-server"))
            .args(["--instance", &instance.to_string()]),
        "tunnel-server",
        Stderr::Collect,
        "tunnel-server listening on ",
    )
    .unwrap()
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// nginx in one process (no workers left behind when it is killed by its pid).
fn nginx(dir: &std::path::Path, port: u16, one: &str, two: &str) -> Process {
    let conf = format!(
        r#"
master_process off;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream any {{ server {one}; server {two}; }}
    upstream instance1 {{ server {one}; }}
    upstream instance2 {{ server {two}; }}
    server {{
        listen 127.0.0.1:{port};
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_read_timeout 300s;
        location /cable/new/ {{ proxy_pass http://any; }}
        location ~* ^/cable/connect/01 {{ proxy_pass http://instance1; }}
        location ~* ^/cable/connect/02 {{ proxy_pass http://instance2; }}
        location / {{ return 404; }}
    }}
}}
"#,
        d = dir.display()
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let process = Process::spawn(
        Command::new("nginx")
            .arg("-c")
            .arg(&path)
            .arg("-p")
            .arg(dir),
        "nginx",
        Stderr::Collect,
    )
    .expect("nginx (Debian package nginx-light; tests/setup.sh installs it)");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nginx did not listen"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    process
}

#[tokio::test]
async fn the_routing_id_names_the_instance_and_the_legs_meet_through_nginx() {
    let (_one, addr1) = tunnel_server(1);
    let (_two, addr2) = tunnel_server(2);
    let mut name = [0u8; 8];
    getrandom::fill(&mut name).unwrap();
    let dir = std::env::temp_dir().join(format!("tunnel-nginx-{}", hex(&name)));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let proxy = nginx(&dir, port, &addr1, &addr2);

    let ids = [
        "00112233445566778899AABBCCDDEE01",
        "00112233445566778899AABBCCDDEE02",
    ];
    let mut phones = Vec::new();
    for id in ids {
        let (phone, routing_id) =
            client::open_new(&format!("ws://127.0.0.1:{port}/cable/new/{id}"), true)
                .await
                .unwrap();
        phones.push((phone, routing_id));
    }
    // Round-robin: one phone on each instance, and the routing ids say which.
    let mut instances: Vec<u8> = phones.iter().map(|(_, r)| r[0]).collect();
    instances.sort_unstable();
    assert_eq!(instances, [1, 2]);

    for ((phone, routing_id), id) in phones.iter_mut().zip(ids) {
        // Straight to the other instance, the tunnel is unknown there.
        let other = if routing_id[0] == 1 { &addr2 } else { &addr1 };
        let wrong = client::connect(
            &format!("ws://{other}/cable/connect/{}/{id}", hex(routing_id)),
            true,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(wrong, TunnelClientError::Refused { status: 404, .. }),
            "{wrong:?}"
        );
        // Through nginx, the routing id finds the phone's instance.
        let mut browser = client::connect(
            &format!(
                "ws://127.0.0.1:{port}/cable/connect/{}/{id}",
                hex(routing_id)
            ),
            true,
        )
        .await
        .unwrap();
        browser.send(id.as_bytes()).await.unwrap();
        assert_eq!(recv(phone).await.unwrap(), id.as_bytes());
        phone.send(b"reply").await.unwrap();
        assert_eq!(recv(&mut browser).await.unwrap(), b"reply");
    }
    drop(proxy);
    let _ = std::fs::remove_dir_all(&dir);
}
