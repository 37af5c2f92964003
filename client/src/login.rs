//! `kw login`: the device sign-in (RFC 8628). The server gives a user code; the member opens
//! the address in a browser, signs in with the usual SSO and approves; meanwhile `kw` polls,
//! slowing down when told, until it gets its session token.

use crate::api::{http, Api, Failure};
use crate::credentials::{self, Credentials};
use crate::out;
use keyward_proto::device::{DeviceCodeOut, DeviceErrorOut, DeviceTokenOut};
use keyward_proto::me::Me;
use std::time::{Duration, Instant};

const CLIENT_ID: &str = "keyward-cli";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Runs the device sign-in against `server` and saves the session it gets.
pub async fn device_sign_in(
    client: &reqwest::Client,
    server: &str,
) -> Result<Credentials, Failure> {
    let res = client
        .post(format!("{server}/auth/device/code"))
        .form(&[("client_id", CLIENT_ID)])
        .send()
        .await?;
    if !res.status().is_success() {
        return Err(Failure::new(
            1,
            format!("{server} did not start a sign-in: HTTP {}", res.status()),
        ));
    }
    let start: DeviceCodeOut = res.json().await?;
    // The first line is stable for scripts: its last word is the code.
    eprintln!(
        "Open {} and enter the code {}",
        start.verification_uri, start.user_code
    );
    out::note(&format!("(or open {})", start.verification_uri_complete));
    out::note("Waiting for you to approve it in the browser…");
    let mut interval = u64::try_from(start.interval.max(1)).unwrap_or(5);
    let deadline =
        Instant::now() + Duration::from_secs(u64::try_from(start.expires_in).unwrap_or(600));
    loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        if Instant::now() > deadline {
            return Err(Failure::new(3, "the code expired; run `kw login` again"));
        }
        let res = client
            .post(format!("{server}/auth/device/token"))
            .form(&[
                ("grant_type", GRANT_TYPE),
                ("device_code", start.device_code.as_str()),
                ("client_id", CLIENT_ID),
            ])
            .send()
            .await?;
        if res.status().is_success() {
            let token: DeviceTokenOut = res.json().await?;
            let creds = Credentials {
                server: server.to_owned(),
                token: token.access_token,
            };
            credentials::save(&creds)
                .map_err(|e| Failure::new(1, format!("cannot save the sign-in: {e}")))?;
            return Ok(creds);
        }
        let error: DeviceErrorOut = res.json().await?;
        match error.error.as_str() {
            "authorization_pending" => {}
            "slow_down" => interval += 5,
            "access_denied" => {
                return Err(Failure::new(4, "the sign-in was denied in the browser"))
            }
            "expired_token" => {
                return Err(Failure::new(3, "the code expired; run `kw login` again"))
            }
            other => {
                return Err(Failure::new(
                    1,
                    format!("{other}: {}", error.error_description),
                ))
            }
        }
    }
}

/// `kw login [URL]`.
pub async fn login(url: Option<String>, json: bool) -> Result<(), Failure> {
    let server = url
        .or_else(|| std::env::var("KW_SERVER").ok().filter(|s| !s.is_empty()))
        .or_else(|| credentials::load().ok().map(|c| c.server))
        .ok_or_else(|| Failure::new(2, "give the server: kw login https://keyward.example.com"))?;
    let server = server.trim_end_matches('/').to_owned();
    credentials::check_server(&server).map_err(|why| Failure::new(2, why))?;
    let client = http()?;
    let creds = device_sign_in(&client, &server).await?;
    let path = credentials::path();
    let me: Me = Api { client, creds }.get("/api/v1/me").await?;
    if json {
        out::json(&serde_json::json!({
            "server": server, "id": me.id, "name": me.name, "credentials": path,
        }));
    } else {
        println!(
            "Signed in to {server} as {} (saved in {}).",
            out::bold(&out::clean(&me.name)),
            path.display()
        );
    }
    Ok(())
}
