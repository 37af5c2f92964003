//! What the costliest imports cost the server (README "Imports"): the server process's CPU
//! time per request, from `/proc`, for the costliest legal Aegis vault and screenshot set and
//! for the hostile ones just past the limits, beside `/healthz`'s in the same run.

use crate::server::Server;
use anyhow::Result;
use reqwest::Client;
use serde_json::{json, Value};
use std::time::Instant;

fn vault(slots: usize) -> String {
    let slot = json!({
        "type": 1, "key": "00".repeat(32),
        "key_params": {"nonce": "00".repeat(12), "tag": "00".repeat(16)},
        "n": 65536, "r": 8, "p": 1, "salt": "00".repeat(32)
    });
    json!({
        "header": {"slots": vec![slot; slots], "params": {"nonce": "00".repeat(12), "tag": "00".repeat(16)}},
        "db": "AAAA"
    })
    .to_string()
}

fn screenshots(count: usize) -> Result<String> {
    // A 3000 × 2000 screenshot with a little structure (so it is not a trivial image).
    let picture =
        image::GrayImage::from_fn(3000, 2000, |x, y| image::Luma([((x ^ y) & 0xff) as u8]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(picture).write_to(&mut out, image::ImageFormat::Png)?;
    let one = data_encoding::BASE64.encode(out.get_ref());
    Ok(vec![one; count].join("\n"))
}

/// A 6000 × 6000 page tiled with QR finder patterns (7 × 7 modules of 2 px, a module apart):
/// the image that made the earlier decoder (rqrr) try every grouping of them.
fn finder_patterns() -> Result<String> {
    let picture = image::GrayImage::from_fn(6000, 6000, |x, y| {
        let (cx, cy) = ((x % 16) / 2, (y % 16) / 2);
        let ring = cx == 0 || cy == 0 || cx == 6 || cy == 6;
        let centre = (2..=4).contains(&cx) && (2..=4).contains(&cy);
        let dark = cx < 7 && cy < 7 && (ring || centre);
        image::Luma([if dark { 0 } else { 255 }])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(picture).write_to(&mut out, image::ImageFormat::Png)?;
    Ok(data_encoding::BASE64.encode(out.get_ref()))
}

/// Runs `n` requests one after another; the server's CPU seconds and the wall seconds per
/// request, and the error code of the last answer.
async fn cost(
    server: &Server,
    client: &Client,
    token: &str,
    body: Option<&Value>,
    n: usize,
) -> Result<(f64, f64, String)> {
    let cpu = server.cpu_seconds()?;
    let started = Instant::now();
    let mut code = String::new();
    for _ in 0..n {
        let res = match body {
            Some(body) => {
                client
                    .post(format!("{}/api/v1/imports/preview", server.base))
                    .bearer_auth(token)
                    .json(body)
                    .send()
                    .await?
            }
            None => {
                client
                    .get(format!("{}/healthz", server.base))
                    .send()
                    .await?
            }
        };
        let status = res.status().as_u16();
        let answer: Value = res.json().await.unwrap_or_default();
        code = answer["error"]["code"]
            .as_str()
            .map_or(status.to_string(), |c| format!("{status} {c}"));
    }
    let wall = started.elapsed().as_secs_f64() / n as f64;
    Ok(((server.cpu_seconds()? - cpu) / n as f64, wall, code))
}

pub(crate) async fn import_costs(server: &Server, token: &str) -> Result<()> {
    eprintln!("  import costs…");
    let client = Client::new();
    let aegis = |data: String| json!({"format": "aegis", "data": data, "password": "not it"});
    let shots = |data: String| json!({"format": "google-authenticator", "data": data});
    let cases = [
        (
            "Aegis vault, 4 locked password slots (scrypt 2^16 × 8 × 1): the costliest legal vault",
            aegis(vault(4)),
            3,
        ),
        (
            "Aegis vault, 40 000 password slots (refused before any derivation)",
            aegis(vault(40_000)),
            3,
        ),
        (
            "6 screenshots of 3000 × 2000 (36 MP): the costliest legal set",
            shots(screenshots(6)?),
            3,
        ),
        (
            "7 screenshots of 3000 × 2000 (42 MP, refused from the headers)",
            shots(screenshots(7)?),
            3,
        ),
        (
            "one 6000 × 6000 page of QR finder patterns (36 MP)",
            shots(finder_patterns()?),
            3,
        ),
    ];
    let (health_cpu, health_wall, _) = cost(server, &client, token, None, 2000).await?;
    println!("\nImports: the server's CPU time per request (user + system, /proc), one request at a time:\n");
    println!("| request | answer | server CPU ms | wall ms | CPU ÷ /healthz |");
    println!("|---|---|---:|---:|---:|");
    println!(
        "| `GET /healthz` (2000 requests) | 200 | {:.3} | {:.3} | 1 |",
        health_cpu * 1000.0,
        health_wall * 1000.0
    );
    for (name, body, n) in cases {
        let (cpu, wall, code) = cost(server, &client, token, Some(&body), n).await?;
        println!(
            "| {name} | {code} | {:.1} | {:.1} | {:.0} |",
            cpu * 1000.0,
            wall * 1000.0,
            cpu / health_cpu.max(1e-9)
        );
    }
    Ok(())
}
