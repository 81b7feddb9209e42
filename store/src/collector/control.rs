//! The collector's control socket (unix stream, mode 0600): `tidewatch alerts` asks it
//! while the collector holds the store, `tidewatch block --collector-socket` sends blocks
//! through it. Requests are one line: `query KEY=VALUE...`, `status`, or
//! `block ADDR/LEN SECS [SENSOR]` (SECS 0: until lifted; no SENSOR: every connected one). A reply is `+` then records, each `len: u32 LE`, `id: u64 LE`, archived bytes,
//! ending with `len` 0; or `-` and an error message to the end of the stream.

use super::Shared;
use crate::db::{Query, StoredAlert};
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

pub(crate) fn bind(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // A socket file left by a collector that died is in the way; a live one answers.
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!("{} is served by a running process", path.display()),
        ));
    }
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(l)
}

pub(crate) async fn serve(shared: Arc<Shared>, listener: UnixListener) {
    loop {
        let Ok((s, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(shared, s).await {
                tracing::debug!(error = %e, "control client");
            }
        });
    }
}

async fn answer(shared: Arc<Shared>, s: UnixStream) -> std::io::Result<()> {
    let (r, mut w) = s.into_split();
    let mut line = String::new();
    BufReader::new(r.take(64 * 1024))
        .read_line(&mut line)
        .await?;
    let line = line.trim();
    let reply: Result<Vec<StoredAlert>, String> = if line == "status" {
        let mut text = shared.stats.summary();
        if let Some(r) = &shared.router {
            text.push('\n');
            text.push_str(&r.summary());
        }
        w.write_all(b"+").await?;
        w.write_all(text.as_bytes()).await?;
        return w.shutdown().await;
    } else if let Some(args) = line.strip_prefix("block ") {
        let (first, rest) = match block_request(&shared, args) {
            Ok(text) => (b"+", text),
            Err(e) => (b"-", e),
        };
        w.write_all(first).await?;
        w.write_all(rest.as_bytes()).await?;
        return w.shutdown().await;
    } else if let Some(name) = line.strip_prefix("profile ") {
        let r = match &shared.router {
            Some(r) => r.set_profile(name.trim()),
            None => Err("no routing configured ([[route]] / [output.*])".into()),
        };
        let (tag, text) = match r {
            Ok(t) => (b"+", t),
            Err(e) => (b"-", e),
        };
        w.write_all(tag).await?;
        w.write_all(text.as_bytes()).await?;
        return w.shutdown().await;
    } else if let Some(q) = line.strip_prefix("query") {
        match Query::from_line(q) {
            Ok(q) => {
                let store = shared.store.clone();
                tokio::task::spawn_blocking(move || store.query(&q).map_err(|e| e.to_string()))
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()))
            }
            Err(e) => Err(e),
        }
    } else {
        Err(format!(
            "unknown request {line:?} (want `query ...`, `block ADDR/LEN SECS [SENSOR]`, `profile NAME` or `status`)"
        ))
    };
    match reply {
        Ok(alerts) => {
            let mut out = Vec::with_capacity(
                1 + alerts.iter().map(|a| a.bytes.len() + 12).sum::<usize>() + 4,
            );
            out.push(b'+');
            for a in &alerts {
                out.extend_from_slice(&(a.bytes.len() as u32).to_le_bytes());
                out.extend_from_slice(&a.id.to_le_bytes());
                out.extend_from_slice(&a.bytes);
            }
            out.extend_from_slice(&0u32.to_le_bytes());
            w.write_all(&out).await?;
        }
        Err(e) => {
            w.write_all(b"-").await?;
            w.write_all(e.as_bytes()).await?;
        }
    }
    w.shutdown().await
}

/// `block ADDR/LEN SECS [SENSOR]`: hands a block command to the sensor's link (or to
/// every connected sensor's), refusing when no such sensor is connected, so an operator
/// never believes a block went out that did not.
fn block_request(shared: &Shared, args: &str) -> Result<String, String> {
    let mut words = args.split_whitespace();
    let usage = "want `block ADDR/LEN SECS [SENSOR]`";
    let (net, len) = words
        .next()
        .and_then(|p| p.split_once('/'))
        .ok_or_else(|| format!("block: no ADDR/LEN ({usage})"))?;
    let net: std::net::IpAddr = net
        .parse()
        .map_err(|_| format!("block: `{net}` is not an address ({usage})"))?;
    let max = if net.is_ipv4() { 32 } else { 128 };
    let prefix: u8 = len
        .parse()
        .ok()
        .filter(|&l| l <= max)
        .ok_or_else(|| format!("block: `/{len}` is not a prefix length 0..={max}"))?;
    let secs: u32 = words
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("block: no SECS ({usage})"))?;
    let sensor = words.next();
    let b = crate::wire::Block { net, prefix, secs };
    let connected = shared
        .commands
        .block(sensor, b)
        .map_err(|e| format!("block: {e}"))?;
    tracing::info!(%net, prefix, secs, sensors = ?connected, "block sent to sensors");
    Ok(format!(
        "ok block {net}/{prefix} for {secs}s sent to {}",
        connected.join(",")
    ))
}

/// Sends one request line (e.g. `block ...`, `status`) and returns the text answer, or
/// the collector's error.
pub fn request_via_socket(path: &Path, line: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    s.write_all(format!("{line}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut all = Vec::new();
    s.read_to_end(&mut all).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(all.get(1..).unwrap_or_default()).into_owned();
    match all.first() {
        Some(b'+') => Ok(text),
        Some(b'-') => Err(format!("collector: {text}")),
        _ => Err("collector closed the control socket without a reply".into()),
    }
}

/// Client side, for `tidewatch alerts`: runs `q` on the collector behind `path`.
pub fn query_via_socket(path: &Path, q: &Query) -> Result<Vec<StoredAlert>, String> {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    s.write_all(format!("query {}\n", q.to_line()).as_bytes())
        .map_err(|e| e.to_string())?;
    let mut all = Vec::new();
    s.read_to_end(&mut all).map_err(|e| e.to_string())?;
    match all.first() {
        Some(b'+') => {}
        Some(b'-') => return Err(format!("collector: {}", String::from_utf8_lossy(&all[1..]))),
        _ => return Err("collector closed the control socket without a reply".into()),
    }
    let mut out = Vec::new();
    let mut o = 1;
    loop {
        let len = all.get(o..o + 4).ok_or("reply cut short")?;
        let len = u32::from_le_bytes(len.try_into().map_err(|_| "reply cut short")?) as usize;
        if len == 0 {
            return Ok(out);
        }
        let id = all.get(o + 4..o + 12).ok_or("reply cut short")?;
        let id = u64::from_le_bytes(id.try_into().map_err(|_| "reply cut short")?);
        let bytes = all.get(o + 12..o + 12 + len).ok_or("reply cut short")?;
        let mut b = rkyv::util::AlignedVec::<16>::with_capacity(len);
        b.extend_from_slice(bytes);
        out.push(StoredAlert { id, bytes: b });
        o += 12 + len;
    }
}
