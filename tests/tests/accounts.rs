//! Accounts end to end, against the real SMTP sink and database: signup → email → verify → login
//! → refresh → logout, password reset, token tampering, refresh-token reuse, rate limits, profile
//! and account routes, and an SMTP outage during signup.

use anyhow::Context;
use onevoice_tests::harness::{TestApp, eventually};
use onevoice_tests::mail;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use uuid::Uuid;

fn unique_email(tag: &str) -> String {
    format!("{tag}-{}@example.com", Uuid::new_v4().simple())
}

/// Signs up, reads the verification email from `maildir` and verifies; returns the auth response.
async fn signup_and_verify(
    app: &TestApp,
    maildir: &Path,
    email: &str,
    password: &str,
) -> anyhow::Result<Value> {
    let username = format!("u{}", &Uuid::new_v4().simple().to_string()[..10]);
    let (status, body) = app
        .post_json(
            "/api/auth/signup",
            None,
            &json!({"email": email, "password": password, "username": username, "locale": "en"}),
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let msgs = mail::wait_for(maildir, email, 1).await?;
    assert!(msgs[0].subject.contains("Verify"), "{:?}", msgs[0].subject);
    assert!(msgs[0].html.contains("<a href="), "HTML part missing");
    let token = mail::token_from(&msgs[0].text).context("no token in the verification email")?;
    // The seed's contract: the token as a bare JSON string.
    let (status, auth) = app
        .post_json("/api/auth/verify-email", None, &json!(token))
        .await?
        .parts();
    assert_eq!(status, StatusCode::OK, "{auth}");
    // A verification link works once.
    let (status, body) = app
        .post_json("/api/auth/verify-email", None, &json!({"token": token}))
        .await?
        .parts();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    Ok(auth)
}

#[tokio::test]
async fn signup_verify_login_refresh_logout() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let maildir = mail::stack_maildir();
    let email = unique_email("flow");
    let auth = signup_and_verify(&app, &maildir, &email, "s3cret-passw0rd").await?;
    assert_eq!(auth["token_type"], "bearer");
    assert_eq!(auth["user"]["email"], email.as_str());
    assert_eq!(auth["user"]["is_verified"], true);
    let access = auth["access_token"].as_str().context("access")?.to_string();
    let refresh1 = auth["refresh_token"]
        .as_str()
        .context("refresh")?
        .to_string();

    let (status, profile) = app.get("/api/users/profile", &access).await?.parts();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(profile["email"], email.as_str());
    assert!(profile.get("password_hash").is_none());

    // Signing up again with the same address (any case) is refused.
    let (status, _) = app.post_json("/api/auth/signup", None, &json!({"email": email.to_uppercase(), "password": "another-passw0rd", "username": "someoneelse"})).await?.parts();
    assert_eq!(status, StatusCode::CONFLICT);

    // Wrong password and unknown email: the same 401.
    let (s1, b1) = app
        .post_json(
            "/api/auth/login",
            None,
            &json!({"email": email, "password": "wrong-password"}),
        )
        .await?
        .parts();
    let (s2, b2) = app
        .post_json(
            "/api/auth/login",
            None,
            &json!({"email": unique_email("nobody"), "password": "wrong-password"}),
        )
        .await?
        .parts();
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(b1["message"], b2["message"]);

    let (status, login) = app
        .post_json(
            "/api/auth/login",
            None,
            &json!({"email": email.to_uppercase(), "password": "s3cret-passw0rd"}),
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::OK, "{login}");

    // Refresh rotates; the old refresh token is then dead, and reusing it revokes the family.
    let (status, r2) = app
        .post_json(
            "/api/auth/refresh",
            None,
            &json!({"refresh_token": refresh1}),
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::OK, "{r2}");
    let refresh2 = r2["refresh_token"]
        .as_str()
        .context("refresh2")?
        .to_string();
    let access2 = r2["access_token"].as_str().context("access2")?.to_string();
    assert_ne!(refresh2, refresh1);
    assert_eq!(
        app.get("/api/users/profile", &access2).await?.parts().0,
        StatusCode::OK
    );
    let (status, _) = app
        .post_json(
            "/api/auth/refresh",
            None,
            &json!({"refresh_token": refresh1}),
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .post_json(
            "/api/auth/refresh",
            None,
            &json!({"refresh_token": refresh2}),
        )
        .await?
        .parts();
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "reuse must revoke the whole family"
    );
    assert_eq!(
        app.get("/api/users/profile", &access2).await?.parts().0,
        StatusCode::UNAUTHORIZED
    );

    // The other session (from login) is unaffected until it logs out.
    let access3 = login["access_token"]
        .as_str()
        .context("access3")?
        .to_string();
    let refresh3 = login["refresh_token"]
        .as_str()
        .context("refresh3")?
        .to_string();
    assert_eq!(
        app.get("/api/users/profile", &access3).await?.parts().0,
        StatusCode::OK
    );
    let (status, _) = app
        .post_json("/api/auth/logout", Some(&access3), &json!({}))
        .await?
        .parts();
    assert_eq!(status, StatusCode::OK);
    let res = app
        .http
        .get(app.url("/api/users/profile"))
        .bearer_auth(&access3)
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        app.post_json(
            "/api/auth/refresh",
            None,
            &json!({"refresh_token": refresh3})
        )
        .await?
        .parts()
        .0,
        StatusCode::UNAUTHORIZED
    );

    // The activity log recorded what happened.
    let (_, fresh) = app
        .post_json(
            "/api/auth/login",
            None,
            &json!({"email": email, "password": "s3cret-passw0rd"}),
        )
        .await?
        .parts();
    let token = fresh["access_token"].as_str().context("token")?;
    let (status, log) = app
        .get("/api/users/activity?page=1&per_page=2", token)
        .await?
        .parts();
    assert_eq!(status, StatusCode::OK, "{log}");
    assert_eq!(log["pagination"]["per_page"], 2);
    assert_eq!(log["pagination"]["total"], 3); // signup + two successful logins
    assert_eq!(log["pagination"]["pages"], 2);
    assert_eq!(log["activities"][0]["action"], "login");
    app.shutdown().await
}

#[tokio::test]
async fn password_reset_is_single_use_and_signs_out_everywhere() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let maildir = mail::stack_maildir();
    let email = unique_email("reset");
    let auth = signup_and_verify(&app, &maildir, &email, "original-passw0rd").await?;
    let old_access = auth["access_token"].as_str().context("access")?.to_string();

    // Unknown addresses get the same answer, and no email.
    let nobody = unique_email("nobody");
    let (s_unknown, b_unknown) = app
        .post_json("/api/auth/forgot-password", None, &json!({"email": nobody}))
        .await?
        .parts();
    let (s_known, b_known) = app
        .post_json("/api/auth/forgot-password", None, &json!({"email": email}))
        .await?
        .parts();
    assert_eq!((s_unknown, s_known), (StatusCode::OK, StatusCode::OK));
    assert_eq!(b_unknown, b_known);
    let msgs = mail::wait_for(&maildir, &email, 2).await?;
    let reset = msgs
        .iter()
        .find(|m| m.subject.contains("Reset"))
        .context("no reset email")?;
    let token = mail::token_from(&reset.text).context("no token")?;
    assert!(mail::messages_to(&maildir, &nobody)?.is_empty());

    // The verification token is not a reset token.
    let (status, _) = app
        .post_json(
            "/api/auth/reset-password",
            None,
            &json!({"token": "not-a-token", "new_password": "brand-new-passw0rd"}),
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .post_json(
            "/api/auth/reset-password",
            None,
            &json!({"token": token, "new_password": "short"}),
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = app
        .post_json(
            "/api/auth/reset-password",
            None,
            &json!({"token": token, "new_password": "brand-new-passw0rd"}),
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app
        .post_json(
            "/api/auth/reset-password",
            None,
            &json!({"token": token, "new_password": "another-passw0rd"}),
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::BAD_REQUEST, "a reset link works once");

    assert_eq!(
        app.get("/api/users/profile", &old_access).await?.parts().0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = app
        .post_json(
            "/api/auth/login",
            None,
            &json!({"email": email, "password": "original-passw0rd"}),
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .post_json(
            "/api/auth/login",
            None,
            &json!({"email": email, "password": "brand-new-passw0rd"}),
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::OK);
    app.shutdown().await
}

#[tokio::test]
async fn forged_expired_and_malformed_tokens_get_401() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (user, _) = app.user(&unique_email("tamper")).await?;
    let now = chrono::Utc::now().timestamp();
    let sign = |secret: &str, exp: i64| {
        let claims = json!({"sub": user.0, "sid": Uuid::new_v4(), "exp": exp, "iat": now - 10,
                            "jti": Uuid::new_v4(), "typ": "access"});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
    };
    let secret = app.state.settings.jwt_secret.expose().to_string();
    let forged = [
        sign("an-attacker-secret-that-is-long-enough", now + 600)?,
        sign(&secret, now - 5)?,   // expired
        sign(&secret, now + 600)?, // right key, but its session does not exist
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.".to_string(),
        "garbage".to_string(),
    ];
    for token in forged {
        let res = app
            .http
            .get(app.url("/api/users/profile"))
            .bearer_auth(&token)
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        let body: Value = res.json().await?;
        assert_eq!(body["error"], "HTTP_401");
    }
    let res = app
        .http
        .get(app.url("/api/users/profile"))
        .header("authorization", "Basic dTpw")
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    app.shutdown().await
}

#[tokio::test]
async fn auth_routes_are_rate_limited() -> anyhow::Result<()> {
    let app = TestApp::spawn_with(&[
        ("AUTH_RATE_LIMIT_PER_EMAIL", "3"),
        ("AUTH_RATE_LIMIT_PER_IP", "100"),
    ])
    .await?;
    let email = unique_email("limited");
    for _ in 0..3 {
        let (status, _) = app
            .post_json(
                "/api/auth/login",
                None,
                &json!({"email": email, "password": "wrong-password"}),
            )
            .await?
            .parts();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let res = app
        .http
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": email, "password": "wrong-password"}))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = res.headers()["retry-after"].to_str()?.parse()?;
    assert!(retry_after >= 1);
    assert_eq!(res.json::<Value>().await?["error"], "HTTP_429");
    // Another address is not affected by this one's limit.
    let (status, _) = app
        .post_json(
            "/api/auth/login",
            None,
            &json!({"email": unique_email("other"), "password": "wrong-password"}),
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Per IP too: forgot-password from one client.
    let app2 = TestApp::spawn_with(&[("AUTH_RATE_LIMIT_PER_IP", "2")]).await?;
    for n in 0..3 {
        let (status, _) = app2
            .post_json(
                "/api/auth/forgot-password",
                None,
                &json!({"email": unique_email("ip")}),
            )
            .await?
            .parts();
        assert_eq!(
            status,
            if n < 2 {
                StatusCode::OK
            } else {
                StatusCode::TOO_MANY_REQUESTS
            }
        );
    }
    app2.shutdown().await?;
    // Behind a trusted proxy each client has its own per-IP budget.
    let app3 = TestApp::spawn_with(&[
        ("AUTH_RATE_LIMIT_PER_IP", "1"),
        ("TRUST_FORWARDED_FOR", "true"),
    ])
    .await?;
    for (client, expected) in [
        ("203.0.113.7", 200),
        ("203.0.113.8", 200),
        ("203.0.113.7", 429),
    ] {
        let res = app3
            .http
            .post(app3.url("/api/auth/forgot-password"))
            .header("x-forwarded-for", format!("198.51.100.1, {client}"))
            .json(&json!({"email": unique_email("fwd")}))
            .send()
            .await?;
        assert_eq!(res.status().as_u16(), expected, "{client}");
    }
    app3.shutdown().await?;
    app.shutdown().await
}

#[tokio::test]
async fn bad_requests_get_422_in_the_envelope() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let cases = [
        (
            "/api/auth/signup",
            json!({"email": "not-an-email", "password": "long-enough-pw", "username": "abc"}),
            "email",
        ),
        (
            "/api/auth/signup",
            json!({"email": unique_email("x"), "password": "short", "username": "abc"}),
            "password",
        ),
        (
            "/api/auth/signup",
            json!({"email": unique_email("x"), "password": "long-enough-pw", "username": "a b"}),
            "username",
        ),
        (
            "/api/auth/signup",
            json!({"email": unique_email("x")}),
            "body",
        ),
        // A field of the wrong type is named (before, only "body" was).
        ("/api/auth/login", json!({"email": 5}), "email"),
    ];
    for (path, body, field) in cases {
        let (status, res) = app.post_json(path, None, &body.clone()).await?.parts();
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {body}: {res}"
        );
        assert_eq!(res["error"], "VALIDATION_ERROR");
        assert_eq!(res["details"]["errors"][0]["field"], field, "{res}");
        assert_eq!(res["details"]["path"], path);
    }
    let res = app
        .http
        .post(app.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    app.shutdown().await
}

#[tokio::test]
async fn profile_preferences_avatar_password_and_deletion() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let maildir = mail::stack_maildir();
    let email = unique_email("profile");
    let auth = signup_and_verify(&app, &maildir, &email, "profile-passw0rd").await?;
    let token = auth["access_token"].as_str().context("token")?.to_string();
    let user_id: onevoice_shared::ids::UserId =
        auth["user"]["id"].as_str().context("id")?.parse()?;
    let account = Account {
        app: &app,
        maildir: &maildir,
        user_id,
    };

    let new_email = account
        .an_email_change_waits_for_the_new_address(&token, &email)
        .await?;
    account.preferences_change_one_at_a_time(&token).await?;
    account.avatars_are_sniffed_and_replaced(&token).await?;
    account.dashboard_and_credits_answer(&token).await?;
    account
        .a_password_change_signs_out_and_notifies(&token, &new_email)
        .await?;
    account.deletion_erases_everything(&new_email).await?;
    app.shutdown().await
}

/// One account going through its settings.
struct Account<'a> {
    app: &'a TestApp,
    maildir: &'a Path,
    user_id: onevoice_shared::ids::UserId,
}

impl Account<'_> {
    /// A profile update applies at once, but an email change waits for confirmation from the
    /// new address (in the account's new locale); returns the new address.
    async fn an_email_change_waits_for_the_new_address(
        &self,
        token: &str,
        email: &str,
    ) -> anyhow::Result<String> {
        let app = self.app;
        let new_email = unique_email("moved");
        let change = json!({"full_name": "Kim Minji", "email": new_email, "locale": "ko",
                            "current_password": "profile-passw0rd"});
        let profile = app
            .put_json("/api/users/profile", token, &change)
            .await?
            .expect(200)?;
        assert_eq!(profile["full_name"], "Kim Minji");
        assert_eq!(
            profile["email"], email,
            "email must not change before confirmation"
        );
        let confirm = mail::wait_for(self.maildir, &new_email, 1).await?;
        assert!(
            confirm[0].subject.contains("이메일"),
            "Korean email expected: {}",
            confirm[0].subject
        );
        let link_token = mail::token_from(&confirm[0].text).context("no token")?;
        app.post_json(
            "/api/users/confirm-email",
            None,
            &json!({ "token": link_token }),
        )
        .await?
        .expect(200)?;
        let profile = app.get("/api/users/profile", token).await?.expect(200)?;
        assert_eq!(profile["email"], new_email.as_str());
        Ok(new_email)
    }

    async fn preferences_change_one_at_a_time(&self, token: &str) -> anyhow::Result<()> {
        let prefs = self
            .app
            .put_json(
                "/api/users/notifications/preferences",
                token,
                &json!({"marketing_emails": true}),
            )
            .await?
            .expect(200)?;
        assert_eq!(
            (
                prefs["marketing_emails"].as_bool(),
                prefs["email_notifications"].as_bool()
            ),
            (Some(true), Some(true))
        );
        Ok(())
    }

    /// The content is sniffed (a disguised text file is refused), the old image is deleted when
    /// a new one comes, and an oversized one is a 413.
    async fn avatars_are_sniffed_and_replaced(&self, token: &str) -> anyhow::Result<()> {
        let app = self.app;
        let png =
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89"
                .to_vec();
        let upload = |bytes: Vec<u8>, name: &'static str| {
            let part = reqwest::multipart::Part::bytes(bytes)
                .file_name(name)
                .mime_str("image/png")
                .unwrap();
            app.http
                .post(app.url("/api/users/avatar"))
                .bearer_auth(token)
                .multipart(reqwest::multipart::Form::new().part("avatar", part))
                .send()
        };
        let res = upload(b"<html>not an image</html>".to_vec(), "evil.png").await?;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let res = upload(png.clone(), "a.png").await?;
        assert_eq!(res.status(), StatusCode::OK);
        let url = res.json::<Value>().await?["avatar_url"]
            .as_str()
            .context("avatar_url")?
            .to_string();
        let served = app.http.get(&url).send().await?;
        assert_eq!(served.headers()["content-type"], "image/png");
        assert_eq!(served.bytes().await?.to_vec(), png);
        let first_key: String = sqlx::query_scalar("SELECT avatar_key FROM users WHERE id = $1")
            .bind(self.user_id)
            .fetch_one(&app.state.db)
            .await?;
        assert_eq!(upload(png.clone(), "b.png").await?.status(), StatusCode::OK);
        assert_eq!(
            app.state.storage.size_of(&first_key).await?,
            None,
            "the old avatar must be deleted"
        );
        let too_big = vec![0u8; app.state.settings.auth.avatar_max_bytes + 70 * 1024];
        assert_eq!(
            upload(too_big, "big.png").await?.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        Ok(())
    }

    /// Dashboard and credits answer (the seed's dashboard always failed); no subscription yet.
    async fn dashboard_and_credits_answer(&self, token: &str) -> anyhow::Result<()> {
        let app = self.app;
        let stats = app
            .get("/api/users/dashboard/stats", token)
            .await?
            .expect(200)?;
        assert_eq!(stats["total_videos"], 0);
        app.get("/api/users/credits/usage", token)
            .await?
            .expect(200)?;
        app.get("/api/users/subscription", token)
            .await?
            .expect(404)?;
        Ok(())
    }

    /// A wrong current password is refused; a change signs every session out and notifies.
    async fn a_password_change_signs_out_and_notifies(
        &self,
        token: &str,
        email: &str,
    ) -> anyhow::Result<()> {
        let app = self.app;
        let wrong =
            json!({"current_password": "nope-nope-nope", "new_password": "changed-passw0rd"});
        app.put_json("/api/users/password", token, &wrong)
            .await?
            .expect(400)?;
        let right =
            json!({"current_password": "profile-passw0rd", "new_password": "changed-passw0rd"});
        app.put_json("/api/users/password", token, &right)
            .await?
            .expect(200)?;
        app.get("/api/users/profile", token).await?.expect(401)?;
        mail::wait_for(self.maildir, email, 2).await?;
        Ok(())
    }

    /// Deletion needs the password, deactivates at once, then the erasure workflow removes the
    /// account's rows and objects.
    async fn deletion_erases_everything(&self, email: &str) -> anyhow::Result<()> {
        let app = self.app;
        let credentials = json!({"email": email, "password": "changed-passw0rd"});
        let login = app
            .post_json("/api/auth/login", None, &credentials)
            .await?
            .expect(200)?;
        let token = login["access_token"].as_str().context("token")?;
        let delete = |password: &'static str| async move {
            let body = json!({ "password": password });
            app.post_json("/api/users/delete-account", Some(token), &body)
                .await
        };
        delete("wrong-wrong-wrong").await?.expect(400)?;
        delete("changed-passw0rd").await?.expect(202)?;
        app.get("/api/users/profile", token).await?.expect(401)?;
        app.post_json("/api/auth/login", None, &credentials)
            .await?
            .expect(401)?;
        eventually(
            Duration::from_secs(60),
            "the account to be erased",
            || async {
                let left: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE id = $1")
                    .bind(self.user_id)
                    .fetch_one(&app.state.db)
                    .await?;
                Ok((left == 0).then_some(()))
            },
        )
        .await?;
        let avatars = onevoice_shared::keys::avatars(self.user_id);
        let left = app.state.storage.delete_prefix(&avatars).await?;
        assert_eq!(left, 0, "avatars must be erased");
        Ok(())
    }
}

#[tokio::test]
async fn expired_signups_are_cleaned_up_by_the_maintenance_workflow() -> anyhow::Result<()> {
    let app = TestApp::spawn_with(&[("MAINTENANCE_INTERVAL_SECS", "1")]).await?;
    sqlx::query(
        "INSERT INTO pending_users (email, username, password_hash, verification_token_hash, expires_at)
         VALUES ('late@example.com', 'late', 'x', '\\x01', now() - interval '1 minute'),
                ('fresh@example.com', 'fresh', 'x', '\\x02', now() + interval '1 day')",
    )
    .execute(&app.state.db)
    .await?;
    let left: Vec<String> = eventually(
        Duration::from_secs(30),
        "expired signup removal",
        || async {
            let emails: Vec<String> =
                sqlx::query_scalar("SELECT email FROM pending_users ORDER BY email")
                    .fetch_all(&app.state.db)
                    .await?;
            Ok((!emails.contains(&"late@example.com".to_string())).then_some(emails))
        },
    )
    .await?;
    assert_eq!(left, vec!["fresh@example.com".to_string()]);
    app.shutdown().await
}

/// SMTP is down when the user signs up: the signup still succeeds, and the verification email
/// arrives (once) when the server comes back.
#[tokio::test]
async fn signup_survives_an_smtp_outage() -> anyhow::Result<()> {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let app = TestApp::spawn_with(&[("SMTP_PORT", &port.to_string())]).await?;
    let email = unique_email("outage");
    let (status, body) = app.post_json("/api/auth/signup", None, &json!({"email": email, "password": "outage-passw0rd", "username": "outageuser", "locale": "en"})).await?.parts();
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // Delivery is failing and being retried.
    eventually(
        Duration::from_secs(30),
        "a failed delivery attempt",
        || async {
            let attempts: i32 =
                sqlx::query_scalar("SELECT attempts FROM emails WHERE to_address = $1")
                    .bind(&email)
                    .fetch_one(&app.state.db)
                    .await?;
            Ok((attempts >= 1).then_some(()))
        },
    )
    .await?;

    // The SMTP server comes back.
    let maildir = tempfile::tempdir()?;
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir(maildir.path().join(sub))?;
    }
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    let _smtp = tokio::process::Command::new(python)
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ])
        .arg(maildir.path())
        .kill_on_drop(true)
        .spawn()?;
    let msgs = mail::wait_for(maildir.path(), &email, 1).await?;
    let token = mail::token_from(&msgs[0].text).context("no token")?;
    let (status, auth) = app
        .post_json("/api/auth/verify-email", None, &json!(token))
        .await?
        .parts();
    assert_eq!(status, StatusCode::OK, "{auth}");
    let status: String = sqlx::query_scalar("SELECT status FROM emails WHERE to_address = $1")
        .bind(&email)
        .fetch_one(&app.state.db)
        .await?;
    assert_eq!(status, "sent");
    let body: Option<String> =
        sqlx::query_scalar("SELECT text_body FROM emails WHERE to_address = $1")
            .bind(&email)
            .fetch_one(&app.state.db)
            .await?;
    assert!(
        body.is_none(),
        "the one-time link must be erased from the outbox once sent"
    );
    assert_eq!(
        mail::messages_to(maildir.path(), &email)?.len(),
        1,
        "delivered exactly once"
    );
    app.shutdown().await
}

/// Job notices honour the user's preferences at send time; the outbox records the suppression.
#[tokio::test]
async fn job_emails_honour_notification_preferences() -> anyhow::Result<()> {
    use onevoice_shared::email::{self, EmailKind};
    use onevoice_shared::locale::Locale;
    use onevoice_shared::repo::emails;
    let app = TestApp::spawn().await?;
    let maildir = mail::stack_maildir();
    let mut ids = Vec::new();
    for (tag, wants) in [("quiet", false), ("chatty", true)] {
        let address = unique_email(tag);
        let (user, token) = app.user(&address).await?;
        let res = app
            .http
            .put(app.url("/api/users/notifications/preferences"))
            .bearer_auth(&token)
            .json(&json!({"processing_complete": wants}))
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::OK);
        let kind = EmailKind::JobCompleted {
            username: tag.into(),
            video_title: "clip".into(),
            language: "Spanish".into(),
            link: "http://localhost:3000/videos/x".into(),
        };
        let rendered = email::render(&kind, Locale::En);
        let id = emails::insert(
            &app.state.db,
            emails::NewEmail {
                user_id: Some(user),
                kind: &kind,
                to: &address,
                locale: Locale::En,
                rendered: &rendered,
                dedupe_key: None,
            },
        )
        .await?;
        onevoice_api::temporal::send_email(
            &app.state.temporal,
            &app.state.settings.temporal.task_queue,
            id,
        )
        .await?;
        ids.push((id, address, wants));
    }
    for (id, address, wants) in ids {
        let status: String = eventually(
            Duration::from_secs(30),
            "delivery or suppression",
            || async {
                let s: String = sqlx::query_scalar("SELECT status FROM emails WHERE id = $1")
                    .bind(id)
                    .fetch_one(&app.state.db)
                    .await?;
                Ok((s != "pending").then_some(s))
            },
        )
        .await?;
        assert_eq!(status, if wants { "sent" } else { "suppressed" });
        assert_eq!(
            mail::messages_to(&maildir, &address)?.len(),
            usize::from(wants)
        );
    }
    app.shutdown().await
}

/// The `token` of the email among `msgs` that greets `username`.
fn token_for(msgs: &[mail::ReceivedEmail], username: &str) -> Vec<String> {
    msgs.iter()
        .filter(|m| m.text.contains(&format!("Hello {username},")))
        .filter_map(|m| mail::token_from(&m.text))
        .collect()
}

async fn login_status(
    app: &TestApp,
    email: &str,
    password: &str,
    client: &str,
) -> anyhow::Result<reqwest::Response> {
    Ok(app
        .http
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", client)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await?)
}

/// Abuse: somebody else signs up again with an address whose owner is still verifying it. Each
/// link creates the account with its own request's password; the owner's link is not
/// redirected to the other party's password, and once it is used the other link is dead.
#[tokio::test]
async fn a_second_signup_cannot_choose_a_pending_accounts_password() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let maildir = mail::stack_maildir();
    let email = unique_email("pending");
    let owner = format!("own{}", &Uuid::new_v4().simple().to_string()[..8]);
    let other = format!("oth{}", &Uuid::new_v4().simple().to_string()[..8]);
    for (username, password) in [(&owner, "owners-passw0rd"), (&other, "attackers-passw0rd")] {
        let (status, body) = app.post_json("/api/auth/signup", None, &json!({"email": email, "password": password, "username": username, "locale": "en"})).await?.parts();
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let msgs = mail::wait_for(&maildir, &email, 2).await?;
    // A resend renews every waiting request's link, each still naming its own username.
    let (status, _) = app
        .post_json(
            "/api/auth/resend-verification",
            None,
            &json!({"email": email}),
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::OK);
    let all = mail::wait_for(&maildir, &email, 4).await?;
    let owner_links = token_for(&all, &owner);
    let other_links = token_for(&all, &other);
    assert_eq!((owner_links.len(), other_links.len()), (2, 2), "{msgs:?}");
    // The first links were replaced by the resend: exactly one of the owner's works.
    let mut verified = 0;
    for token in &owner_links {
        let (status, body) = app
            .post_json("/api/auth/verify-email", None, &json!(token))
            .await?
            .parts();
        match status {
            StatusCode::OK => {
                verified += 1;
                assert_eq!(body["user"]["username"], owner.as_str());
            }
            StatusCode::BAD_REQUEST => {}
            other => panic!("verify answered {other}: {body}"),
        }
    }
    assert_eq!(verified, 1);
    let (status, _) = app
        .post_json(
            "/api/auth/login",
            None,
            &json!({"email": email, "password": "owners-passw0rd"}),
        )
        .await?
        .parts();
    assert_eq!(
        status,
        StatusCode::OK,
        "the owner's password must open the account"
    );
    let (status, _) = app
        .post_json(
            "/api/auth/login",
            None,
            &json!({"email": email, "password": "attackers-passw0rd"}),
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The other request's links died with the verification.
    for token in &other_links {
        let (status, body) = app
            .post_json("/api/auth/verify-email", None, &json!(token))
            .await?
            .parts();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    app.shutdown().await
}

/// Abuse: a third party fails sign-ins for somebody's address. Only its own (email, network)
/// pair is locked, with a lock that doubles; the owner, elsewhere, signs in. IPv6 clients count
/// by /64, so rotating addresses inside one does not escape the lock.
#[tokio::test]
async fn failed_sign_ins_lock_only_the_failing_client() -> anyhow::Result<()> {
    let app = TestApp::spawn_with(&[
        ("AUTH_RATE_LIMIT_PER_EMAIL", "3"),
        ("AUTH_RATE_LIMIT_PER_IP", "100"),
        ("AUTH_LOGIN_LOCK_BASE_SECS", "30"),
        ("TRUST_FORWARDED_FOR", "true"),
    ])
    .await?;
    let maildir = mail::stack_maildir();
    let email = unique_email("victim");
    signup_and_verify(&app, &maildir, &email, "victims-passw0rd").await?;
    let attacker = "2001:db8:aa:1::1";
    for _ in 0..3 {
        let res = login_status(&app, &email, "guess-passw0rd", attacker).await?;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = login_status(&app, &email, "victims-passw0rd", attacker).await?;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let first_lock = res.headers()["retry-after"].to_str()?.to_string();
    // Another address in the same /64 is the same client.
    let res = login_status(&app, &email, "guess-passw0rd", "2001:db8:aa:1:ffff::9").await?;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // The owner, from elsewhere, is not locked out; a different /64 is a different client.
    let res = login_status(&app, &email, "victims-passw0rd", "198.51.100.20").await?;
    assert_eq!(res.status(), StatusCode::OK);
    let res = login_status(&app, &email, "guess-passw0rd", "2001:db8:aa:2::1").await?;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        first_lock, "30",
        "the first lock lasts AUTH_LOGIN_LOCK_BASE_SECS"
    );
    // Backoff: once a lock has run out, the next failure locks twice as long.
    for expected in ["60", "120"] {
        sqlx::query("UPDATE login_failures SET locked_until = now() WHERE bucket LIKE 'login:%|2001:db8:aa:1::/64'")
            .execute(&app.state.db)
            .await?;
        let res = login_status(&app, &email, "guess-passw0rd", attacker).await?;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let res = login_status(&app, &email, "guess-passw0rd", attacker).await?;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()["retry-after"], expected);
    }
    // Unknown and known emails cost the same: one password verification each.
    for who in [email.clone(), unique_email("nobody")] {
        let before = app.state.passwords.computations();
        let res = login_status(&app, &who, "guess-passw0rd", "192.0.2.55").await?;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.state.passwords.computations() - before, 1, "{who}");
    }
    app.shutdown().await
}

/// Abuse: reset-password and verify-email with made-up tokens. A bogus reset token costs no
/// password hash, and both routes are limited per client.
#[tokio::test]
async fn bogus_reset_and_verify_tokens_are_cheap_and_limited() -> anyhow::Result<()> {
    let app = TestApp::spawn_with(&[("AUTH_RATE_LIMIT_PER_IP", "3")]).await?;
    let before = app.state.passwords.computations();
    for n in 0..4 {
        let (status, body) = app
            .post_json(
                "/api/auth/reset-password",
                None,
                &json!({"token": format!("bogus-{n}"), "new_password": "a-new-passw0rd"}),
            )
            .await?
            .parts();
        let expected = if n < 3 {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(status, expected, "{body}");
    }
    assert_eq!(
        app.state.passwords.computations(),
        before,
        "a bogus token must not be hashed for"
    );
    for n in 0..4 {
        let (status, body) = app
            .post_json("/api/auth/verify-email", None, &json!(format!("bogus-{n}")))
            .await?
            .parts();
        let expected = if n < 3 {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(status, expected, "{body}");
    }
    app.shutdown().await
}

/// Abuse: a stolen access token used to move the account to the thief's mailbox. The change
/// needs the password; once confirmed, the old address is told and every other session ends.
#[tokio::test]
async fn an_email_change_needs_the_password_and_ends_other_sessions() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let maildir = mail::stack_maildir();
    let email = unique_email("owner");
    let auth = signup_and_verify(&app, &maildir, &email, "owners-passw0rd").await?;
    let asking = auth["access_token"].as_str().context("token")?.to_string();
    let (status, other) = app
        .post_json(
            "/api/auth/login",
            None,
            &json!({"email": email, "password": "owners-passw0rd"}),
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::OK);
    let other = other["access_token"].as_str().context("token")?.to_string();
    let thief = unique_email("thief");
    let put = |body: Value| {
        app.http
            .put(app.url("/api/users/profile"))
            .bearer_auth(&asking)
            .json(&body)
            .send()
    };
    let res = put(json!({"email": thief})).await?;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await?;
    assert_eq!(
        body["details"]["errors"][0]["field"], "current_password",
        "{body}"
    );
    let res =
        put(json!({"email": thief, "full_name": "Changed", "current_password": "wrong-passw0rd"}))
            .await?;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let (_, profile) = app.get("/api/users/profile", &asking).await?.parts();
    assert_ne!(
        profile["full_name"], "Changed",
        "nothing of a refused request is applied"
    );
    let res = put(json!({"email": thief, "current_password": "owners-passw0rd"})).await?;
    assert_eq!(res.status(), StatusCode::OK);
    // A reset link sent to the old address before the change...
    let (status, _) = app
        .post_json("/api/auth/forgot-password", None, &json!({"email": email}))
        .await?
        .parts();
    assert_eq!(status, StatusCode::OK);
    let reset = mail::wait_for(&maildir, &email, 2).await?;
    let reset = reset
        .iter()
        .find(|m| m.subject.contains("Reset"))
        .and_then(|m| mail::token_from(&m.text))
        .context("no reset link")?;
    let confirm = mail::wait_for(&maildir, &thief, 1).await?;
    let token = mail::token_from(&confirm[0].text).context("no token")?;
    let (status, _) = app
        .post_json("/api/users/confirm-email", None, &json!({"token": token}))
        .await?
        .parts();
    assert_eq!(status, StatusCode::OK);
    // The old address hears of it (after its verification and reset emails).
    let told = mail::wait_for(&maildir, &email, 3).await?;
    assert!(
        told.iter()
            .any(|m| m.subject.contains("email was changed") && m.text.contains(&thief)),
        "{told:?}"
    );
    assert_eq!(
        app.get("/api/users/profile", &other).await?.parts().0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/users/profile", &asking).await?.parts().0,
        StatusCode::OK
    );
    // ...died with it.
    let (status, body) = app
        .post_json(
            "/api/auth/reset-password",
            None,
            &json!({"token": reset, "new_password": "another-passw0rd"}),
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    app.shutdown().await
}

/// Access tokens carry `iss` and `aud`: one signed with the right key for another issuer or
/// audience (or without them), even of a live session, is refused.
#[tokio::test]
async fn access_tokens_for_another_issuer_or_audience_get_401() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (_, token) = app.user(&unique_email("aud")).await?;
    assert_eq!(
        app.get("/api/users/profile", &token).await?.parts().0,
        StatusCode::OK
    );
    let secret = app.state.settings.jwt_secret.expose().to_string();
    let mut validation = jsonwebtoken::Validation::default();
    validation.insecure_disable_signature_validation();
    validation.validate_aud = false;
    let claims: Value = jsonwebtoken::decode(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(b""),
        &validation,
    )?
    .claims;
    assert_eq!(claims["iss"], "onevoice");
    assert_eq!(claims["aud"], "onevoice-api");
    let resign = |change: &dyn Fn(&mut Value)| {
        let mut c = claims.clone();
        change(&mut c);
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &c,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
    };
    let unchanged = resign(&|_| {})?;
    assert_eq!(
        app.get("/api/users/profile", &unchanged).await?.parts().0,
        StatusCode::OK
    );
    let foreign = [
        resign(&|c| c["iss"] = json!("another-service"))?,
        resign(&|c| c["aud"] = json!("another-api"))?,
        resign(&|c| {
            let o = c.as_object_mut().expect("claims");
            o.remove("iss");
            o.remove("aud");
        })?,
    ];
    for t in foreign {
        assert_eq!(
            app.get("/api/users/profile", &t).await?.parts().0,
            StatusCode::UNAUTHORIZED
        );
    }
    app.shutdown().await
}

/// A session ends `SESSION_MAX_AGE_SECS` after its login, however often it was refreshed.
#[tokio::test]
async fn refreshing_never_outlives_the_session_max_age() -> anyhow::Result<()> {
    let app = TestApp::spawn_with(&[("SESSION_MAX_AGE_SECS", "3600")]).await?;
    let maildir = mail::stack_maildir();
    let email = unique_email("aging");
    let auth = signup_and_verify(&app, &maildir, &email, "aging-passw0rd").await?;
    let refresh = auth["refresh_token"].as_str().context("refresh")?;
    let (status, pair) = app
        .post_json(
            "/api/auth/refresh",
            None,
            &json!({"refresh_token": refresh}),
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::OK, "{pair}");
    // The new token never outlives the family.
    let (family_end_ok,): (bool,) = sqlx::query_as(
        "SELECT bool_and(expires_at <= family_started_at + interval '3600 seconds') FROM sessions",
    )
    .fetch_one(&app.state.db)
    .await?;
    assert!(family_end_ok);
    // Move the login back past the maximum age (as if an hour had gone by).
    sqlx::query(
        "UPDATE sessions SET family_started_at = family_started_at - interval '3601 seconds'",
    )
    .execute(&app.state.db)
    .await?;
    let refresh = pair["refresh_token"].as_str().context("refresh")?;
    let (status, body) = app
        .post_json(
            "/api/auth/refresh",
            None,
            &json!({"refresh_token": refresh}),
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("sign in again")),
        "{body}"
    );
    app.shutdown().await
}
