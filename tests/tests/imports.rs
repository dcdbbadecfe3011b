//! Import by URL: a video fetched from a local web server by the worker and ingested exactly
//! like an upload (then dubbed); redirects followed within a limit; a missing file, an oversize
//! body (announced or not) refused with a reason; and, with the default address rule, every
//! route to a private or loopback address refused: literal addresses by the API at once, names
//! that resolve to one by the worker when it connects.

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::http::{StatusCode as HttpStatus, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use onevoice_tests::flows::settled;
use onevoice_tests::harness::TestApp;
use onevoice_tests::served::serve;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

async fn import(app: &TestApp, token: &str, body: Value) -> anyhow::Result<(StatusCode, Value)> {
    Ok(app
        .call(Method::POST, "/api/videos/import", Some(token), Some(&body))
        .await?
        .parts())
}

/// A web server with the sample video under several disguises, and the video padded with 4 KiB
/// (over the limit the first test sets) with and without a Content-Length.
async fn video_server(video: Arc<Vec<u8>>) -> anyhow::Result<onevoice_tests::served::Served> {
    let mut padded = video.to_vec();
    padded.extend(std::iter::repeat_n(0u8, 4096));
    let (plain, chunked) = (video.clone(), Arc::new(padded));
    let announced = chunked.clone();
    let app = Router::new()
        .route(
            "/media/talk.mp4",
            get(move || {
                let v = plain.clone();
                async move { ([(header::CONTENT_TYPE, "video/mp4")], v.to_vec()) }
            }),
        )
        // No Content-Length: the limit is enforced on the bytes as they arrive.
        .route(
            "/stream",
            get(move || {
                let v = chunked.clone();
                async move {
                    let parts: Vec<Result<Vec<u8>, std::io::Error>> =
                        v.chunks(4096).map(|c| Ok(c.to_vec())).collect();
                    Body::from_stream(futures::stream::iter(parts)).into_response()
                }
            }),
        )
        .route(
            "/announced.mp4",
            get(move || {
                let v = announced.clone();
                async move { v.to_vec() }
            }),
        )
        .route("/hop/{n}", get(hop))
        .route("/gone.mp4", get(|| async { HttpStatus::NOT_FOUND }));
    serve(app).await
}

/// `/hop/n` redirects to `/hop/n-1`, and `/hop/0` to the video.
async fn hop(axum::extract::Path(n): axum::extract::Path<u32>) -> Response {
    if n == 0 {
        Redirect::temporary("/media/talk.mp4").into_response()
    } else {
        Redirect::temporary(&format!("/hop/{}", n - 1)).into_response()
    }
}

#[tokio::test]
async fn a_video_at_a_url_is_fetched_ingested_and_dubbed_like_an_upload() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let sample = onevoice_tests::sample::make(dir.path()).await?;
    let bytes = Arc::new(tokio::fs::read(&sample.video).await?);
    let server = video_server(bytes.clone()).await?;
    // Limits just above the sample, so an announced or streamed larger body is refused.
    let max = (bytes.len() + 1024).to_string();
    let app = TestApp::spawn_with(&[
        ("OUTBOUND_ALLOW_PRIVATE", "true"),
        ("MAX_UPLOAD_BYTES", max.as_str()),
    ])
    .await?;
    let (user, token) = app.user("importer@example.com").await?;

    let (status, video) = import(
        &app,
        &token,
        json!({"url": format!("{}/media/talk.mp4", server.url)}),
    )
    .await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{video}");
    assert_eq!(video["title"], "talk", "{video}");
    let id = video["id"].as_str().context("id")?.to_string();
    let ready = settled(&app, &token, &id).await?;
    assert_eq!(ready["status"], "uploaded", "{ready}");
    assert!(ready["duration"].as_f64().unwrap_or(0.0) > 5.0, "{ready}");
    // The original is exactly the file served, and it dubs like an upload.
    let original = onevoice_tests::keys::video(user, &id).original("mp4");
    assert!(
        app.state.storage.get_bytes(&original).await? == *bytes,
        "the original is the served file"
    );
    let job = onevoice_tests::flows::dub_to_end(
        &app,
        &token,
        &id,
        json!({"target_language": "es", "source_language": "en", "source_transcript": sample.transcript}),
        std::time::Duration::from_secs(180),
    )
    .await?;
    assert_eq!(job["status"], "completed", "{job}");

    // Redirects are followed up to five; the sixth is refused with a reason.
    let (_, hopped) = import(
        &app,
        &token,
        json!({"url": format!("{}/hop/4", server.url), "filename": "hops.mp4"}),
    )
    .await?;
    let hopped = settled(&app, &token, hopped["id"].as_str().context("id")?).await?;
    assert_eq!(hopped["status"], "uploaded", "{hopped}");
    let (_, looping) = import(
        &app,
        &token,
        json!({"url": format!("{}/hop/9", server.url), "filename": "loop.mp4"}),
    )
    .await?;
    let looping = settled(&app, &token, looping["id"].as_str().context("id")?).await?;
    assert_eq!(looping["status"], "failed", "{looping}");
    assert!(
        looping.to_string().contains("redirects more than 5"),
        "{looping}"
    );

    // A missing file and an oversize one fail with a reason that names no internal detail.
    for (path, filename, expected) in [
        ("/gone.mp4", None, "answered 404"),
        ("/stream", Some("big.mp4"), "larger than the limit"),
        ("/announced.mp4", None, "larger than the limit"),
    ] {
        let mut body = json!({"url": format!("{}{path}", server.url)});
        if let Some(f) = filename {
            body["filename"] = json!(f);
        }
        let (status, v) = import(&app, &token, body).await?;
        assert_eq!(status, StatusCode::ACCEPTED, "{v}");
        let v = settled(&app, &token, v["id"].as_str().context("id")?).await?;
        assert_eq!(v["status"], "failed", "{v}");
        let text = v.to_string();
        assert!(text.contains(expected), "{path}: {text}");
        assert!(!text.contains("127.0.0.1"), "{text}");
    }
    app.shutdown().await
}

#[tokio::test]
async fn private_and_malformed_urls_are_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let sample = onevoice_tests::sample::make(dir.path()).await?;
    let server = video_server(Arc::new(tokio::fs::read(&sample.video).await?)).await?;
    // The default rule: nothing private, loopback or link-local.
    let app = TestApp::spawn().await?;
    let (_, token) = app.user("ssrf@example.com").await?;
    let port = server.url.rsplit(':').next().context("port")?;

    // Literal addresses, in any spelling, and other schemes: 422 naming the field, nothing made.
    for url in [
        format!("http://127.0.0.1:{port}/media/talk.mp4"),
        format!("http://[::1]:{port}/media/talk.mp4"),
        format!("http://2130706433:{port}/media/talk.mp4"),
        "http://169.254.169.254/latest/meta-data/x.mp4".to_string(),
        "http://10.0.0.1/x.mp4".to_string(),
        "file:///etc/passwd.mp4".to_string(),
        "ftp://example.com/x.mp4".to_string(),
        "http://user:pw@example.com/x.mp4".to_string(),
        "not a url".to_string(),
    ] {
        let (status, body) = import(&app, &token, json!({"url": url})).await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert_eq!(
            body["details"]["errors"][0]["field"], "url",
            "{url}: {body}"
        );
    }
    let (status, body) = import(
        &app,
        &token,
        json!({"url": "https://example.com/watch?v=1"}),
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["details"]["errors"][0]["field"], "filename", "{body}");
    let listed = app.get("/api/videos", &token).await?.expect(200)?;
    assert_eq!(listed["pagination"]["total"], 0, "{listed}");

    // A name that resolves to loopback passes the API (it cannot know) and is refused by the
    // worker on connecting: the video fails with the reason.
    let (status, v) = import(
        &app,
        &token,
        json!({"url": format!("http://localhost:{port}/media/talk.mp4")}),
    )
    .await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let v = settled(&app, &token, v["id"].as_str().context("id")?).await?;
    assert_eq!(v["status"], "failed", "{v}");
    assert!(v.to_string().contains("private or reserved address"), "{v}");
    app.shutdown().await
}
