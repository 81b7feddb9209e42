//! Helpers shared by the store's integration tests.

#![allow(dead_code)]

use std::sync::Arc;
use store::link;

/// A throwaway CA with a collector certificate and one per sensor (`tidewatch certs`).
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    pub fn new(sensors: &[&str]) -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = sensors.iter().map(|s| s.to_string()).collect();
        link::generate_certs(dir.path(), &names, &[]).unwrap();
        Pki { dir }
    }
    pub fn p(&self, f: &str) -> std::path::PathBuf {
        self.dir.path().join(f)
    }
    pub fn server(&self) -> Arc<rustls::ServerConfig> {
        link::server_config(
            &self.p("ca.pem"),
            &self.p("collector.pem"),
            &self.p("collector-key.pem"),
        )
        .unwrap()
    }
    pub fn client(&self, sensor: &str) -> Arc<rustls::ClientConfig> {
        link::client_config(
            &self.p("ca.pem"),
            &self.p(&format!("sensor-{sensor}.pem")),
            &self.p(&format!("sensor-{sensor}-key.pem")),
        )
        .unwrap()
    }
}
