//! The API contract: the OpenAPI document is valid and exact, and the API answers every request,
//! valid or hostile, the way it says: never a 5xx, never an undocumented status, body or
//! content type. A property-based fuzzer (schemathesis, from the project's virtualenv) checks the
//! whole API against the document; the hostile inputs it once found are pinned down here as
//! plain tests too.

use anyhow::Context;
use onevoice_shared::billing::{Catalog, DEFAULT_PLANS};
use onevoice_tests::flows;
use onevoice_tests::harness::{self, TestApp};
use onevoice_tests::paddle::FakePaddle;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// A fuzz pass that takes longer than this is stopped and fails.
const FUZZ_DEADLINE: Duration = Duration::from_secs(600);

fn venv_tool(name: &str) -> anyhow::Result<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../.venv/bin")
        .join(name);
    anyhow::ensure!(
        path.exists(),
        "{} is missing (scripts/stack.sh install puts it in .venv)",
        path.display()
    );
    Ok(path)
}

#[tokio::test]
async fn the_openapi_document_is_valid_openapi() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("openapi.json");
    tokio::fs::write(&file, serde_json::to_vec(&onevoice_api::app::openapi())?).await?;
    let out = tokio::process::Command::new(venv_tool("openapi-spec-validator")?)
        .arg(&file)
        .output()
        .await?;
    // The validator quotes the whole document after its finding: the finding is enough.
    let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}",
        said.chars().take(600).collect::<String>()
    );
    Ok(())
}

/// Query parameters are declared `in: query` and optional, and every route with a token
/// documents 401 (the document once declared `/api/jobs?limit` as a required path parameter).
#[tokio::test]
async fn query_parameters_and_common_answers_are_documented() -> anyhow::Result<()> {
    let doc = onevoice_api::app::openapi();
    for (path, name) in [
        ("/api/jobs", "limit"),
        ("/api/jobs", "status"),
        ("/api/videos", "page"),
        ("/api/billing/history", "perPage"),
        ("/api/users/activity", "per_page"),
        ("/api/videos/{id}/download", "file_type"),
    ] {
        let params = doc["paths"][path]["get"]["parameters"]
            .as_array()
            .with_context(|| format!("{path} has parameters"))?;
        let p = params
            .iter()
            .find(|p| p["name"] == name)
            .with_context(|| format!("{path} documents {name}"))?;
        assert_eq!(p["in"], "query", "{path} {name}");
        assert_ne!(p["required"], true, "{path} {name}");
    }
    for (path, item) in doc["paths"].as_object().context("paths")? {
        for (method, op) in item.as_object().context("path item")? {
            if op.get("security").is_some() {
                assert!(
                    op["responses"].get("401").is_some(),
                    "{method} {path} documents 401"
                );
            }
        }
    }
    Ok(())
}

/// `/docs` works without internet: a headless Chromium that can resolve no host but this one
/// loads it, runs its scripts (all served by the binary) and lists every path of the document.
#[tokio::test]
async fn the_docs_list_every_operation_without_internet() -> anyhow::Result<()> {
    let app = TestApp::spawn_paused(harness::NO_OVERRIDES).await?;
    let profile = tempfile::tempdir()?;
    let out = tokio::process::Command::new("chromium-headless-shell")
        .args([
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            // Every name but the API's address fails to resolve: a CDN script could not load.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            // Lets the page's scripts fetch the document and render before the DOM is taken.
            "--virtual-time-budget=20000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(app.url("/docs/"))
        .kill_on_drop(true)
        .output()
        .await
        .context("running chromium-headless-shell (scripts/stack.sh install puts it there)")?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8(out.stdout)?;
    let listed: std::collections::BTreeSet<&str> = dom
        .split("data-path=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    let doc = onevoice_api::app::openapi();
    let documented: std::collections::BTreeSet<&str> = doc["paths"]
        .as_object()
        .context("paths")?
        .keys()
        .map(String::as_str)
        .collect();
    assert!(!documented.is_empty());
    assert_eq!(
        listed, documented,
        "the docs page lists every documented path"
    );
    app.shutdown().await
}

/// What the fuzzer found before: control characters (NUL above all, which PostgreSQL cannot
/// store) in text fields were a 500; now a 422 naming the field, and nothing is stored.
#[tokio::test]
async fn control_characters_in_text_fields_are_a_422_naming_the_field() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (_, token) = app.user("hostile@example.com").await?;
    let post = |body: Value| {
        app.http
            .post(app.url("/api/videos"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    for (body, field) in [
        (json!({"title": "a\u{0}b"}), "title"),
        (json!({"title": "two\nlines"}), "title"),
        (
            json!({"title": "ok", "description": "bell\u{7}"}),
            "description",
        ),
        (
            json!({"title": "ok", "description": "c1 \u{85}"}),
            "description",
        ),
    ] {
        let res = post(body.clone()).await?;
        assert_eq!(res.status(), 422, "{body}");
        let err: Value = res.json().await?;
        assert_eq!(err["error"], "VALIDATION_ERROR");
        assert_eq!(err["details"]["errors"][0]["field"], field, "{err}");
    }
    let res = post(json!({"title": "fine", "description": "tab\tand\r\nline breaks"})).await?;
    assert_eq!(res.status(), 201);
    let video: Value = res.json().await?;
    let id = video["id"].as_str().context("id")?;
    let put = app
        .http
        .put(app.url(&format!("/api/videos/{id}")))
        .bearer_auth(&token)
        .json(&json!({"title": "x\u{0}"}))
        .send()
        .await?;
    assert_eq!(put.status(), 422);
    let listed: Value = app
        .http
        .get(app.url("/api/videos"))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        listed["pagination"]["total"], 1,
        "only the clean video exists"
    );
    assert_eq!(listed["videos"][0]["title"], "fine");
    // Deeply nested JSON is refused as such, not by a crash.
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let res = app
        .http
        .post(app.url("/api/videos"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await?;
    assert_eq!(res.status(), 422);
    app.shutdown().await
}

/// From a valid request, one field broken at a time: each case is a 422 naming exactly that field
/// (so a check that stops working cannot hide behind another one failing the same request), and
/// the valid request itself passes.
#[tokio::test]
async fn each_broken_field_alone_is_a_422_naming_it() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (_, token) = app.user("one-field@example.com").await?;
    let (_dir, sample, video) = flows::sample_video(&app, &token, "fields.mp4").await?;
    let send = |method: reqwest::Method, path: String, body: Value, key: Option<&str>| {
        let mut req = app
            .http
            .request(method, app.url(&path))
            .bearer_auth(&token)
            .json(&body);
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        async move {
            let res = req.send().await?;
            let status = res.status().as_u16();
            anyhow::Ok((status, res.json::<Value>().await.unwrap_or(Value::Null)))
        }
    };
    let with = |base: &Value, field: &str, value: Value| {
        let mut b = base.clone();
        b[field] = value;
        b
    };
    let check = |status: u16, body: &Value, field: &str, case: &str| {
        let case: String = case.chars().take(80).collect();
        let body: String = body.to_string().chars().take(400).collect();
        let body: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
        assert_eq!(status, 422, "{case}: {body}");
        let errors = body["details"]["errors"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(errors.len(), 1, "{case}: {body}");
        assert_eq!(errors[0]["field"], field, "{case}: {body}");
    };

    let video_body =
        json!({"title": "A title", "description": "two\nlines", "original_language": "en"});
    let long = |n: usize| Value::String("x".repeat(n));
    for (field, value) in [
        ("title", json!("")),
        ("title", long(256)),
        ("title", json!("two\nlines")),
        ("description", long(5001)),
        ("original_language", json!("xx")),
    ] {
        let (status, body) = send(
            reqwest::Method::POST,
            "/api/videos".into(),
            with(&video_body, field, value.clone()),
            None,
        )
        .await?;
        check(
            status,
            &body,
            field,
            &format!("POST /api/videos {field}={value}"),
        );
    }
    let (status, body) = send(
        reqwest::Method::POST,
        "/api/videos".into(),
        video_body,
        None,
    )
    .await?;
    assert_eq!(status, 201, "{body}");

    let profile = json!({"username": "one_field", "full_name": "Ada L", "locale": "en"});
    for (field, value) in [
        ("username", json!("a")),
        ("username", json!("has space")),
        ("full_name", long(101)),
        ("locale", json!("fr")),
        ("email", json!("not-an-email")),
    ] {
        let (status, body) = send(
            reqwest::Method::PUT,
            "/api/users/profile".into(),
            with(&profile, field, value.clone()),
            None,
        )
        .await?;
        check(
            status,
            &body,
            field,
            &format!("PUT profile {field}={value}"),
        );
    }
    let (status, body) = send(
        reqwest::Method::PUT,
        "/api/users/profile".into(),
        profile,
        None,
    )
    .await?;
    assert_eq!(status, 200, "{body}");

    let dub = json!({"target_language": "es", "source_language": "en",
        "source_transcript": sample.transcript, "glossary": [{"source": "OneVoice", "target": "UnaVoz"}]});
    let path = format!("/api/videos/{video}/dub");
    let many: Vec<Value> = (0..201)
        .map(|i| json!({"source": format!("t{i}"), "target": "x"}))
        .collect();
    for (field, value, named) in [
        ("target_language", json!("xx"), "target_language"),
        ("source_language", json!("xx"), "source_language"),
        ("voice_id", json!("nobody-at-all"), "voice_id"),
        (
            "source_transcript",
            json!("not a transcript"),
            "source_transcript",
        ),
        ("burn_subtitles", json!("yes"), "burn_subtitles"),
        (
            "glossary",
            json!([{"source": "a[b", "target": "x"}]),
            "glossary[0].source",
        ),
        (
            "glossary",
            json!([{"source": "ok", "target": " "}]),
            "glossary[0].target",
        ),
        ("glossary", Value::Array(many), "glossary"),
    ] {
        let (status, body) = send(
            reqwest::Method::POST,
            path.clone(),
            with(&dub, field, value.clone()),
            None,
        )
        .await?;
        check(status, &body, named, &format!("dub {field}={value}"));
    }
    let (status, body) = send(reqwest::Method::POST, path.clone(), dub.clone(), Some(" ")).await?;
    check(
        status,
        &body,
        "Idempotency-Key",
        "dub with a blank Idempotency-Key",
    );
    let (status, body) = send(reqwest::Method::POST, path, dub, Some("fine-key")).await?;
    assert_eq!(status, 202, "{body}");
    app.shutdown().await
}

/// schemathesis over `/openapi.json`: examples, boundary cases and random requests for every
/// operation, valid and invalid, authenticated as an account that owns a dubbed video, then the
/// routes that end the session or the account on an account of their own. Fails on any 5xx, any
/// undocumented status, content type or body, any invalid request accepted and any valid one
/// refused as invalid (see `tests/fuzz/schemathesis.toml`).
#[tokio::test(flavor = "multi_thread")]
async fn the_api_answers_as_its_document_says_under_fuzzing() -> anyhow::Result<()> {
    let paddle =
        FakePaddle::start(&Catalog::parse(DEFAULT_PLANS).map_err(anyhow::Error::msg)?).await?;
    let mut overrides: Vec<(&str, String)> = paddle.settings();
    // Rate limits stay on (429 is documented) but high enough that the auth routes' own logic
    // is what the fuzzer reaches.
    overrides.push(("AUTH_RATE_LIMIT_PER_IP", "100000".into()));
    overrides.push(("AUTH_RATE_LIMIT_PER_EMAIL", "100000".into()));
    let app = TestApp::spawn_with(&overrides).await?;

    let token = app
        .command(&["token", "--email", "fuzz@example.com"])
        .await?
        .trim()
        .to_string();
    let (_dir, sample, video) = flows::sample_video(&app, &token, "fuzz.mp4").await?;
    let job = flows::dub_to_end(
        &app,
        &token,
        &video,
        json!({"target_language": "es", "source_language": "en", "source_transcript": sample.transcript}),
        Duration::from_secs(120),
    )
    .await?;
    assert_eq!(job["status"], "completed", "{job}");
    let job_id = job["id"].as_str().context("job id")?.to_string();

    // The operations that end the session, the account or the fixture video run last, as
    // another account (whose requests for the first account's video must find nothing).
    let destructive = [
        "POST /api/auth/logout",
        "POST /api/users/delete-account",
        "DELETE /api/videos/{id}",
    ];
    let filter = |flag: &'static str| destructive.iter().flat_map(move |op| [flag, *op]);
    let first: Vec<&str> = filter("--exclude-name").collect();
    fuzz(&app, &token, &video, &job_id, &first).await?;
    let other = app
        .command(&["token", "--email", "fuzz-last@example.com"])
        .await?
        .trim()
        .to_string();
    let last: Vec<&str> = filter("--include-name").collect();
    fuzz(&app, &other, &video, &job_id, &last).await?;
    app.shutdown().await
}

async fn fuzz(
    app: &TestApp,
    token: &str,
    video: &str,
    job: &str,
    filter: &[&str],
) -> anyhow::Result<()> {
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/schemathesis.toml");
    let reports = tempfile::tempdir()?;
    let mut cmd = tokio::process::Command::new(venv_tool("schemathesis")?);
    cmd.arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(app.url("/openapi.json"))
        .args(["--max-examples", "25", "--seed", "20261204", "--no-color"])
        .args(filter)
        .arg("--report-dir")
        .arg(reports.path())
        .env("FUZZ_TOKEN", token)
        .env("FUZZ_VIDEO_ID", video)
        .env("FUZZ_JOB_ID", job)
        .current_dir(reports.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let started = std::time::Instant::now();
    let out = tokio::time::timeout(FUZZ_DEADLINE, cmd.output())
        .await
        .context("the fuzz run took longer than its deadline")??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: Vec<&str> = stdout.lines().rev().take(40).collect();
    eprintln!(
        "schemathesis {filter:?} ran {:.0?}:\n{}",
        started.elapsed(),
        summary.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
