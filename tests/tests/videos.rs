//! Videos and storage against moto and PostgreSQL: presigned single and multipart uploads with
//! real HTTP PUTs, probing by the ingest workflow, limits refused before any byte is stored,
//! thumbnails, downloads, duplicate, delete, ownership, pagination and filters.

use anyhow::Context;
use onevoice_tests::flows::{settled, upload};
use onevoice_tests::harness::{TestApp, eventually};
use onevoice_tests::{keys, media, sample};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;

async fn object_count(app: &TestApp, prefix: &str) -> anyhow::Result<usize> {
    // delete_prefix would delete; count through a presigned listing instead: HEAD known keys.
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT s3_key FROM media_files WHERE s3_key LIKE $1 || '%'")
            .bind(prefix)
            .fetch_all(&app.state.db)
            .await?;
    let mut n = 0;
    for key in rows {
        if app.state.storage.size_of(&key).await?.is_some() {
            n += 1;
        }
    }
    Ok(n)
}

#[tokio::test]
async fn upload_probe_thumbnail_download_duplicate_delete() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (user, token) = app.user("videos@example.com").await?;
    let dir = tempfile::tempdir()?;
    let sample = sample::make(dir.path()).await?;
    let bytes = tokio::fs::read(&sample.video).await?;
    let id = upload(&app, &token, "holiday.mp4", bytes.clone()).await?;
    let library = Library {
        app: &app,
        user,
        token: &token,
        id,
        sample: &sample,
        bytes,
    };
    library.the_upload_is_probed().await?;
    library.the_original_downloads_under_its_name().await?;
    library
        .a_thumbnail_at_a_time_and_none_past_the_end()
        .await?;
    library.another_user_sees_and_touches_nothing().await?;
    let copy_id = library.a_duplicate_is_a_server_side_copy().await?;
    library.deletion_removes_every_object(&copy_id).await?;
    app.shutdown().await
}

/// One uploaded video of one user.
struct Library<'a> {
    app: &'a TestApp,
    user: onevoice_shared::ids::UserId,
    token: &'a str,
    id: String,
    sample: &'a sample::Sample,
    bytes: Vec<u8>,
}

impl Library<'_> {
    /// The probe values match the generated media; a representative thumbnail was extracted; completing again is harmless.
    async fn the_upload_is_probed(&self) -> anyhow::Result<()> {
        let (app, token, id) = (self.app, self.token, self.id.as_str());
        let video = settled(app, token, id).await?;
        assert_eq!(video["status"], "uploaded", "{video}");
        // The probe values match the generated media.
        let layout = media::layout(&self.sample.video).await?;
        let duration = video["duration"].as_f64().context("duration")?;
        assert!(
            (duration * 1000.0 - layout.duration_ms as f64).abs() < 50.0,
            "{duration} vs {}",
            layout.duration_ms
        );
        assert_eq!(video["media"]["resolution"], "640x360");
        assert_eq!(video["media"]["fps"], 25.0);
        assert_eq!(video["media"]["video_codec"], "h264");
        assert_eq!(video["media"]["audio_codec"], "aac");
        assert_eq!(video["media"]["audio_tracks"], 1);
        assert_eq!(video["media"]["size"], self.bytes.len() as u64);
        assert_eq!(video["title"], "holiday");
        // A representative thumbnail was extracted.
        let thumb = app
            .http
            .get(video["thumbnail_url"].as_str().context("thumbnail_url")?)
            .send()
            .await?
            .bytes()
            .await?;
        assert_eq!(&thumb[..3], &[0xFF, 0xD8, 0xFF], "not a JPEG");
        // A view polled again reuses the URLs it signed (signing is most of a list's work).
        let again = app
            .get(&format!("/api/videos/{id}"), token)
            .await?
            .expect(200)?;
        for url in ["thumbnail_url", "video_url"] {
            assert!(video[url].is_string(), "{video}");
            assert_eq!(again[url], video[url], "{url} signed again");
        }
        // Completing again is harmless.
        let (status, again) = app
            .post(&format!("/api/videos/{id}/complete"), token)
            .await?
            .parts();
        assert_eq!(
            (status, again["status"].as_str()),
            (StatusCode::ACCEPTED, Some("uploaded"))
        );
        Ok(())
    }

    /// The download URL returns the same bytes under a proper file name; no dub exists yet.
    async fn the_original_downloads_under_its_name(&self) -> anyhow::Result<()> {
        let (app, token, id) = (self.app, self.token, self.id.as_str());
        let (status, dl) = app
            .get(
                &format!("/api/videos/{id}/download?file_type=original"),
                token,
            )
            .await?
            .parts();
        assert_eq!(status, StatusCode::OK, "{dl}");
        let res = app
            .http
            .get(dl["download_url"].as_str().context("url")?)
            .send()
            .await?;
        let disposition = res
            .headers()
            .get("content-disposition")
            .map(|v| v.to_str().unwrap_or("").to_string());
        assert_eq!(res.bytes().await?.to_vec(), self.bytes);
        assert_eq!(
            disposition.as_deref(),
            Some("attachment; filename=\"holiday.mp4\"")
        );
        let (status, _) = app
            .get(
                &format!("/api/videos/{id}/download?file_type=dubbed_video&language=es"),
                token,
            )
            .await?
            .parts();
        assert_eq!(status, StatusCode::NOT_FOUND, "no dub exists yet");
        Ok(())
    }

    /// A frame at a timestamp becomes the one active thumbnail; one past the end is refused.
    async fn a_thumbnail_at_a_time_and_none_past_the_end(&self) -> anyhow::Result<()> {
        let (app, token, id) = (self.app, self.token, self.id.as_str());
        let form = reqwest::multipart::Form::new().text("timestamp", "2.5");
        let res = app
            .http
            .post(app.url(&format!("/api/videos/{id}/thumbnail")))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await?);
        let form = reqwest::multipart::Form::new().text("timestamp", "999");
        let res = app
            .http
            .post(app.url(&format!("/api/videos/{id}/thumbnail")))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let active: i64 = sqlx::query_scalar("SELECT count(*) FROM media_files WHERE video_id = $1::uuid AND file_type = 'thumbnail' AND is_active")
            .bind(id)
            .fetch_one(&app.state.db)
            .await?;
        assert_eq!(active, 1);
        Ok(())
    }

    /// Every route of the video answers another user 404.
    async fn another_user_sees_and_touches_nothing(&self) -> anyhow::Result<()> {
        let (app, id) = (self.app, self.id.as_str());
        let (_, other) = app.user("intruder@example.com").await?;
        for (method, path) in [
            (reqwest::Method::GET, format!("/api/videos/{id}")),
            (reqwest::Method::PUT, format!("/api/videos/{id}")),
            (reqwest::Method::DELETE, format!("/api/videos/{id}")),
            (reqwest::Method::POST, format!("/api/videos/{id}/duplicate")),
            (reqwest::Method::POST, format!("/api/videos/{id}/complete")),
            (
                reqwest::Method::GET,
                format!("/api/videos/{id}/download?file_type=original"),
            ),
        ] {
            let body = (method == reqwest::Method::PUT).then(|| json!({"title": "mine now"}));
            let (status, _) = app
                .call(method.clone(), &path, Some(&other), body.as_ref())
                .await?
                .parts();
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
        }
        Ok(())
    }

    /// A server-side copy with the same media details and bytes; returns its id.
    async fn a_duplicate_is_a_server_side_copy(&self) -> anyhow::Result<String> {
        let (app, token, id) = (self.app, self.token, self.id.as_str());
        let (status, copy) = app
            .post(&format!("/api/videos/{id}/duplicate"), token)
            .await?
            .parts();
        assert_eq!(status, StatusCode::CREATED, "{copy}");
        assert_eq!(copy["status"], "uploaded");
        assert_eq!(copy["title"], "holiday (copy)");
        assert_eq!(copy["media"]["resolution"], "640x360");
        let copy_id = copy["id"].as_str().context("copy id")?.to_string();
        let (_, dl) = app
            .get(
                &format!("/api/videos/{copy_id}/download?file_type=original"),
                token,
            )
            .await?
            .parts();
        assert_eq!(
            app.http
                .get(dl["download_url"].as_str().context("url")?)
                .send()
                .await?
                .bytes()
                .await?
                .to_vec(),
            self.bytes
        );
        Ok(copy_id)
    }

    /// Gone at once for the API, every object removed by the workflow, the copy untouched.
    async fn deletion_removes_every_object(&self, copy_id: &str) -> anyhow::Result<()> {
        let (app, token, id) = (self.app, self.token, self.id.as_str());
        let prefix = keys::video(self.user, id).prefix();
        assert!(object_count(app, &prefix).await? >= 2);
        let (status, _) = app
            .delete(&format!("/api/videos/{id}"), token)
            .await?
            .parts();
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(
            app.get(&format!("/api/videos/{id}"), token)
                .await?
                .parts()
                .0,
            StatusCode::NOT_FOUND
        );
        let keys: Vec<String> = vec![keys::video(self.user, id).original("mp4")];
        eventually(Duration::from_secs(60), "the video's deletion", || async {
            let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM videos WHERE id = $1::uuid")
                .bind(id)
                .fetch_one(&app.state.db)
                .await?;
            Ok((rows == 0).then_some(()))
        })
        .await?;
        for key in keys {
            assert_eq!(
                app.state.storage.size_of(&key).await?,
                None,
                "{key} left behind"
            );
        }
        assert_eq!(
            app.state.storage.delete_prefix(&prefix).await?,
            0,
            "objects left under {prefix}"
        );
        // The copy is untouched.
        assert_eq!(
            app.get(&format!("/api/videos/{copy_id}"), token)
                .await?
                .parts()
                .0,
            StatusCode::OK
        );
        Ok(())
    }
}

#[tokio::test]
async fn bad_uploads_are_refused_or_failed_with_a_reason() -> anyhow::Result<()> {
    let app = TestApp::spawn_with(&[("MAX_UPLOAD_BYTES", "20000000")]).await?;
    let (user, token) = app.user("bad-uploads@example.com").await?;
    // Refused before any byte is stored: no video, no object, no URL.
    for (body, status) in [
        (
            json!({"filename": "big.mp4", "content_type": "video/mp4", "size": 20_000_001}),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            json!({"filename": "doc.pdf", "content_type": "application/pdf", "size": 10}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"filename": "clip.mp4", "content_type": "text/plain", "size": 10}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"filename": "clip.mov", "content_type": "video/mp4", "size": 10}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (got, res) = app
            .post_json("/api/videos/upload-url", Some(&token), &body.clone())
            .await?
            .parts();
        assert_eq!(got, status, "{body}: {res}");
        assert!(res["error"].is_string());
    }
    let (got, _) = app
        .post_json(
            "/api/videos/multipart",
            Some(&token),
            &json!({"filename": "big.mp4", "content_type": "video/mp4", "size": 30_000_000}),
        )
        .await?
        .parts();
    assert_eq!(got, StatusCode::PAYLOAD_TOO_LARGE);
    let videos: i64 = sqlx::query_scalar("SELECT count(*) FROM videos")
        .fetch_one(&app.state.db)
        .await?;
    assert_eq!(videos, 0);

    // A text file named .mp4: the upload fails with a reason, and it cannot be dubbed.
    let id = upload(
        &app,
        &token,
        "fake.mp4",
        b"this is not a video\n".repeat(100),
    )
    .await?;
    let video = settled(&app, &token, &id).await?;
    assert_eq!(video["status"], "failed");
    let reason = video["status_reason"].as_str().unwrap_or_default();
    assert_eq!(reason, "the file is not playable media");
    // Nothing of the tool's output or our scratch space reaches the user.
    let shown = video.to_string();
    for internal in [
        "ffprobe",
        "/tmp",
        "Invalid data",
        "exit status",
        "onevoice-work",
    ] {
        assert!(!shown.contains(internal), "{internal} leaked: {shown}");
    }
    // Classified as permanent: one attempt, not the retry policy's six.
    let events = app
        .state
        .temporal
        .get_workflow_handle::<onevoice_workflows::VideoIngestWorkflow>(format!("ingest-{id}"))
        .fetch_history(Default::default())
        .into_events()
        .await?;
    let attempts: Vec<i32> = events
        .iter()
        .filter_map(|e| match &e.attributes {
            Some(Attributes::ActivityTaskStartedEventAttributes(a)) => Some(a.attempt),
            _ => None,
        })
        .collect();
    assert!(
        !attempts.is_empty() && attempts.iter().all(|a| *a == 1),
        "attempts: {attempts:?}"
    );
    let (status, body) = app.post_json(&format!("/api/videos/{id}/dub"), Some(&token), &json!({"target_language": "es", "source_language": "en", "source_transcript": "1\n00:00:01,000 --> 00:00:02,000\nHi\n"})).await?.parts();
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // A PUT whose size differs from the announced one: S3 or the completion check refuses it.
    let (_, body) = app
        .post_json(
            "/api/videos/upload-url",
            Some(&token),
            &json!({"filename": "short.mp4", "content_type": "video/mp4", "size": 5000}),
        )
        .await?
        .parts();
    let id = body["video_id"].as_str().context("id")?.to_string();
    let put = app
        .http
        .put(body["upload_url"].as_str().context("url")?)
        .header("content-type", "video/mp4")
        .body(vec![0u8; 100])
        .send()
        .await?;
    if put.status().is_success() {
        let (status, res) = app
            .post(&format!("/api/videos/{id}/complete"), &token)
            .await?
            .parts();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{res}");
        let video = keys::video(user, &id);
        for key in [video.upload("mp4"), video.original("mp4")] {
            assert_eq!(app.state.storage.size_of(&key).await?, None, "{key}");
        }
    }
    // Completing before uploading anything.
    let (_, body) = app
        .post_json(
            "/api/videos/upload-url",
            Some(&token),
            &json!({"filename": "never.mp4", "content_type": "video/mp4"}),
        )
        .await?
        .parts();
    let id = body["video_id"].as_str().context("id")?.to_string();
    let (status, _) = app
        .post(&format!("/api/videos/{id}/complete"), &token)
        .await?
        .parts();
    assert_eq!(status, StatusCode::CONFLICT);
    app.shutdown().await
}

#[tokio::test]
async fn multipart_upload_of_a_large_file() -> anyhow::Result<()> {
    let app = TestApp::spawn_with(&[("MULTIPART_PART_BYTES", "5242880")]).await?;
    let (_, token) = app.user("multipart@example.com").await?;
    let dir = tempfile::tempdir()?;
    let file = sample::make_large(dir.path(), 10 * 1024 * 1024 + 1).await?;
    let bytes = tokio::fs::read(&file).await?;
    let (status, init) = app
        .call(
            reqwest::Method::POST,
            "/api/videos/multipart",
            Some(&token),
            Some(
                &json!({"filename": "large.mp4", "content_type": "video/mp4", "size": bytes.len()}),
            ),
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::CREATED, "{init}");
    let id = init["video_id"].as_str().context("id")?.to_string();
    let part_size = init["part_size"].as_u64().context("part_size")? as usize;
    let count = init["part_count"].as_u64().context("part_count")? as u32;
    assert_eq!(count as usize, bytes.len().div_ceil(part_size));
    assert!(count >= 3);
    let (status, urls) = app
        .post_json(
            &format!("/api/videos/{id}/multipart/parts"),
            Some(&token),
            &json!({"part_numbers": (1..=count).collect::<Vec<_>>()}),
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::OK, "{urls}");
    let mut parts = Vec::new();
    for (n, chunk) in bytes.chunks(part_size).enumerate() {
        let url = urls["parts"][n]["url"].as_str().context("part url")?;
        let res = app
            .http
            .put(url)
            .body(chunk.to_vec())
            .send()
            .await?
            .error_for_status()?;
        let etag = res.headers()["etag"].to_str()?.to_string();
        parts.push(json!({"part_number": n + 1, "etag": etag}));
    }
    // A part left out, or an ETag that is not the part's: refused, and the upload stays open
    // (nothing is ingested, the right list still completes it).
    let complete_path = format!("/api/videos/{id}/multipart/complete");
    let complete = |parts: Vec<Value>| {
        let body = json!({ "parts": parts });
        let (app, path, token) = (&app, &complete_path, &token);
        async move { Ok::<_, anyhow::Error>(app.post_json(path, Some(token), &body).await?.parts()) }
    };
    let mut missing = parts.clone();
    missing.remove(1);
    let mut wrong = parts.clone();
    wrong[0]["etag"] = json!("\"0123456789abcdef0123456789abcdef\"");
    for (case, attempt) in [("a missing part", missing), ("a wrong ETag", wrong)] {
        let (status, body) = complete(attempt).await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{case}: {body}");
        assert_eq!(
            body["details"]["errors"][0]["field"], "parts",
            "{case}: {body}"
        );
        let (_, video) = app.get(&format!("/api/videos/{id}"), &token).await?.parts();
        assert_eq!(video["status"], "pending", "{case}: {video}");
    }
    let (status, body) = app
        .post_json(
            &format!("/api/videos/{id}/multipart/complete"),
            Some(&token),
            &json!({"parts": parts}),
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let video = settled(&app, &token, &id).await?;
    assert_eq!(video["status"], "uploaded", "{video}");
    assert_eq!(video["media"]["size"], bytes.len() as u64);
    let (_, dl) = app
        .get(
            &format!("/api/videos/{id}/download?file_type=original"),
            &token,
        )
        .await?
        .parts();
    let got = app
        .http
        .get(dl["download_url"].as_str().context("url")?)
        .send()
        .await?
        .bytes()
        .await?;
    assert!(got.as_ref() == bytes.as_slice(), "downloaded bytes differ");

    // An aborted multipart upload leaves no video behind.
    let (_, init) = app
        .call(
            reqwest::Method::POST,
            "/api/videos/multipart",
            Some(&token),
            Some(
                &json!({"filename": "abandon.mp4", "content_type": "video/mp4", "size": 6_000_000}),
            ),
        )
        .await?
        .parts();
    let id = init["video_id"].as_str().context("id")?.to_string();
    let (key, upload_id): (String, String) = sqlx::query_as(
        "SELECT s3_key, upload_id FROM media_files WHERE video_id = $1::uuid AND upload_id IS NOT NULL",
    )
    .bind(&id)
    .fetch_one(&app.state.db)
    .await?;
    let open_uploads = || async {
        let out = tokio::process::Command::new(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
        )
        .args([
            "-c",
            "import boto3,os,sys; c=boto3.client('s3', endpoint_url=os.environ['S3_ENDPOINT_URL'], \
             region_name=os.environ.get('S3_REGION','us-east-1')); \
             r=c.list_multipart_uploads(Bucket=os.environ['S3_BUCKET'], Prefix=sys.argv[1]); \
             print(' '.join(u['UploadId'] for u in r.get('Uploads', [])))",
        ])
        .arg(key.rsplit_once('/').map_or(key.as_str(), |(dir, _)| dir))
        .output()
        .await?;
        anyhow::ensure!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        anyhow::Ok(String::from_utf8(out.stdout)?)
    };
    assert!(
        open_uploads().await?.contains(&upload_id),
        "the upload is open at S3"
    );
    let (status, _) = app
        .post(&format!("/api/videos/{id}/multipart/abort"), &token)
        .await?
        .parts();
    assert_eq!(status, StatusCode::OK);
    // Aborted at S3 too, not only forgotten here.
    assert!(
        !open_uploads().await?.contains(&upload_id),
        "the upload is still open at S3"
    );
    assert_eq!(
        app.get(&format!("/api/videos/{id}"), &token)
            .await?
            .parts()
            .0,
        StatusCode::NOT_FOUND
    );
    app.shutdown().await
}

#[tokio::test]
async fn listing_pagination_filters_and_public_catalogues() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (_, token) = app.user("lister@example.com").await?;
    let (_, other) = app.user("someone-else@example.com").await?;
    for n in 0..5 {
        let (status, _) = app
            .post_json(
                "/api/videos",
                Some(&token),
                &json!({"title": format!("video {n}")}),
            )
            .await?
            .parts();
        assert_eq!(status, StatusCode::CREATED);
    }
    app.post_json("/api/videos", Some(&other), &json!({"title": "not yours"}))
        .await?
        .parts();
    let (status, page) = app
        .call(
            reqwest::Method::GET,
            "/api/videos?page=3&per_page=2",
            Some(&token),
            None,
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["videos"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        page["pagination"],
        json!({"page": 3, "per_page": 2, "total": 5, "pages": 3})
    );
    assert_eq!(page["videos"][0]["title"], "video 0", "newest first");
    let (_, pending) = app
        .call(
            reqwest::Method::GET,
            "/api/videos?status=pending",
            Some(&token),
            None,
        )
        .await?
        .parts();
    assert_eq!(pending["pagination"]["total"], 5);
    let (_, done) = app
        .call(
            reqwest::Method::GET,
            "/api/videos?status=completed",
            Some(&token),
            None,
        )
        .await?
        .parts();
    assert_eq!(done["pagination"]["total"], 0);
    for bad in [
        "/api/videos?page=0",
        "/api/videos?per_page=500",
        "/api/videos?status=bogus",
        "/api/videos?page=abc",
    ] {
        assert_eq!(
            app.get(bad, &token).await?.parts().0,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }
    // Public catalogues, reachable without a token (the seed's route-order bug made them 404).
    let langs: Value = app
        .http
        .get(app.url("/api/videos/languages"))
        .send()
        .await?
        .json()
        .await?;
    assert!(langs.as_array().is_some_and(|l| {
        l.iter()
            .any(|x| x["code"] == "ko" && x["native_name"] == "한국어")
    }));
    let res = app
        .http
        .get(app.url("/api/videos/voices?language=es"))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    let voices: Value = res.json().await?;
    assert!(
        voices
            .as_array()
            .is_some_and(|v| !v.is_empty() && v.iter().all(|x| x["language"] == "es"))
    );
    assert_eq!(
        app.http
            .get(app.url("/api/videos/voices?language=xx"))
            .send()
            .await?
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    app.shutdown().await
}

#[tokio::test]
async fn abandoned_uploads_are_cleaned_up() -> anyhow::Result<()> {
    let app = TestApp::spawn_with(&[
        ("MAINTENANCE_INTERVAL_SECS", "1"),
        ("UPLOAD_ABANDON_SECS", "1"),
    ])
    .await?;
    let (user, token) = app.user("abandoner@example.com").await?;
    let (_, body) = app
        .post_json(
            "/api/videos/upload-url",
            Some(&token),
            &json!({"filename": "left.mp4", "content_type": "video/mp4"}),
        )
        .await?
        .parts();
    let id = body["video_id"].as_str().context("id")?.to_string();
    app.http
        .put(body["upload_url"].as_str().context("url")?)
        .header("content-type", "video/mp4")
        .body(vec![1u8; 1000])
        .send()
        .await?
        .error_for_status()?;
    // The client's bytes sit at the upload key until `complete` freezes them.
    let key = keys::video(user, &id).upload("mp4");
    assert!(app.state.storage.size_of(&key).await?.is_some());
    eventually(
        Duration::from_secs(30),
        "the abandoned upload's removal",
        || async {
            let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM videos WHERE id = $1::uuid")
                .bind(&id)
                .fetch_one(&app.state.db)
                .await?;
            Ok((rows == 0).then_some(()))
        },
    )
    .await?;
    assert_eq!(app.state.storage.size_of(&key).await?, None);
    app.shutdown().await
}

#[tokio::test]
async fn thumbnail_upload_and_video_without_audio() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (_, token) = app.user("thumbs@example.com").await?;
    let dir = tempfile::tempdir()?;
    // A video with no audio track cannot be dubbed: the upload fails with that reason.
    let silent = dir.path().join("silent.mp4");
    let status = tokio::process::Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25:duration=2",
        ])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&silent)
        .status()
        .await?;
    assert!(status.success());
    let id = upload(&app, &token, "silent.mp4", tokio::fs::read(&silent).await?).await?;
    let video = settled(&app, &token, &id).await?;
    assert_eq!(video["status"], "failed");
    assert!(
        video["status_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("no audio"),
        "{video}"
    );

    // An uploaded image becomes the thumbnail; a non-image is refused.
    let sample = sample::make(dir.path()).await?;
    let id = upload(
        &app,
        &token,
        "withsound.mp4",
        tokio::fs::read(&sample.video).await?,
    )
    .await?;
    settled(&app, &token, &id).await?;
    let jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
    let send = |bytes: Vec<u8>| {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name("t.jpg")
            .mime_str("image/jpeg")
            .unwrap();
        app.http
            .post(app.url(&format!("/api/videos/{id}/thumbnail")))
            .bearer_auth(&token)
            .multipart(reqwest::multipart::Form::new().part("thumbnail", part))
            .send()
    };
    assert_eq!(
        send(b"GIF89a not allowed".to_vec()).await?.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let res = send(jpeg.clone()).await?;
    assert_eq!(res.status(), StatusCode::OK);
    let url = res.json::<Value>().await?["thumbnail_url"]
        .as_str()
        .context("url")?
        .to_string();
    let served = app.http.get(&url).send().await?;
    assert_eq!(served.headers()["content-type"], "image/jpeg");
    assert_eq!(served.bytes().await?.to_vec(), jpeg);
    // Each image is stored and served as what its content is, whatever the client named it
    // (before, every thumbnail was stored as `image/jpeg`).
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let res = send(png.clone()).await?;
    assert_eq!(res.status(), StatusCode::OK);
    let url = res.json::<Value>().await?["thumbnail_url"]
        .as_str()
        .context("url")?
        .to_string();
    let served = app.http.get(&url).send().await?;
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.bytes().await?.to_vec(), png);
    let video = app
        .get(&format!("/api/videos/{id}"), &token)
        .await?
        .expect(200)?;
    let listed = video["thumbnail_url"].as_str().context("thumbnail_url")?;
    let listed = app.http.get(listed).send().await?;
    assert_eq!(listed.headers()["content-type"], "image/png");
    app.shutdown().await
}

/// The worker's file cache: a download of an intermediate track this worker uploaded comes from
/// its copy, and only while the object is unchanged; once it is rewritten elsewhere S3's bytes
/// win. Final outputs are not kept.
#[tokio::test]
async fn the_workers_file_cache_serves_its_uploads_and_never_a_stale_copy() -> anyhow::Result<()> {
    use onevoice_shared::storage::{FileCache, Storage};
    let settings = onevoice_tests::harness::settings_with(&[])?;
    let dir = tempfile::tempdir()?;
    let storage =
        Storage::new(&settings.s3).with_cache(FileCache::open(&dir.path().join("cache"), 1 << 30)?);
    let key = format!("jobs/{}/audio/mix.wav", uuid::Uuid::new_v4());
    let (file, out) = (dir.path().join("mix.wav"), dir.path().join("out.wav"));
    std::fs::write(&file, vec![1u8; 100_000])?;
    // A final output is not kept; an intermediate track is.
    let output = format!("{key}.mp4");
    storage.put_file(&output, &file, "video/mp4").await?;
    storage.put_file_kept(&key, &file, "audio/wav").await?;

    // Served from the copy: mark the copy (same length) and the download carries the mark.
    let copies: Vec<_> = std::fs::read_dir(dir.path().join("cache"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    assert_eq!(copies.len(), 1, "{copies:?}");
    std::fs::write(&copies[0], vec![2u8; 100_000])?;
    assert_eq!(storage.download_to(&key, &out).await?, 100_000);
    assert_eq!(
        std::fs::read(&out)?,
        vec![2u8; 100_000],
        "not from the copy"
    );

    // Rewritten by someone else (another worker, an operator): S3's bytes.
    storage
        .put_bytes(&key, vec![3u8; 100_000], "audio/wav")
        .await?;
    storage.download_to(&key, &out).await?;
    assert_eq!(std::fs::read(&out)?, vec![3u8; 100_000], "a stale copy");
    storage.delete(&key).await?;
    storage.delete(&output).await?;
    Ok(())
}
