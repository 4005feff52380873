//! The server in-process on a loopback port, and the core's tunnel client as phone and browser.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use authenticator_core::hybrid::client::{self, Tunnel, TunnelClientError};
use tokio::sync::oneshot;
use tunnel_server::Limits;

pub const TUNNEL_ID: &str = "00112233445566778899AABBCCDDEEFF";

pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    pub async fn start(limits: Limits) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(tunnel_server::serve(listener, limits, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub fn new_url(&self, tunnel_id: &str) -> String {
        format!("ws://{}/cable/new/{tunnel_id}", self.addr)
    }

    pub fn connect_url(&self, routing_id: &str, tunnel_id: &str) -> String {
        format!("ws://{}/cable/connect/{routing_id}/{tunnel_id}", self.addr)
    }

    pub async fn phone(&self, tunnel_id: &str) -> Result<(Tunnel, [u8; 3]), TunnelClientError> {
        client::open_new(&self.new_url(tunnel_id), true).await
    }

    pub async fn browser(
        &self,
        routing_id: [u8; 3],
        tunnel_id: &str,
    ) -> Result<Tunnel, TunnelClientError> {
        client::connect(&self.connect_url(&hex(&routing_id), tunnel_id), true).await
    }

    /// A phone and a browser joined through the server.
    pub async fn pair(&self, tunnel_id: &str) -> (Tunnel, Tunnel) {
        let (phone, routing_id) = self.phone(tunnel_id).await.unwrap();
        let browser = self.browser(routing_id, tunnel_id).await.unwrap();
        (phone, browser)
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("the server stops within 10 s")
            .unwrap()
            .unwrap();
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// The next event on a tunnel, with a time limit so a broken test fails instead of hanging.
pub async fn recv(tunnel: &mut Tunnel) -> Result<Vec<u8>, TunnelClientError> {
    tokio::time::timeout(Duration::from_secs(10), tunnel.recv())
        .await
        .expect("an answer within 10 s")
}
