//! Several target languages in one request: one job per language under a batch id. The jobs are
//! checked first, then held in one transaction under the user's balance lock (all or nothing:
//! 402 when the credits do not cover every one), then started; a batch whose start fails is
//! undone as a whole.

use super::*;
use uuid::Uuid;

/// Languages one request may name.
pub const MAX_BATCH_LANGUAGES: usize = 10;

/// A batch that was started, or found again by its idempotency key.
pub struct StartedBatch {
    pub batch_id: Uuid,
    pub jobs: Vec<(Language, Started)>,
}

/// Starts dubbing the video into each of `req.target_languages`. With an idempotency key, a
/// repeated request returns the same batch (another body with the same key is a conflict).
#[tracing::instrument(skip_all, fields(%user, %video))]
pub async fn start_batch(
    state: &AppState,
    user: UserId,
    video: VideoId,
    req: &DubRequest,
    idempotency_key: Option<&str>,
    ip: Option<std::net::IpAddr>,
) -> Result<StartedBatch> {
    let targets = targets(req)?;
    let request_hash =
        Sha256::digest(serde_json::to_vec(&(video, req)).unwrap_or_default()).to_vec();
    if let Some(key) = idempotency_key
        && let Some(existing) = jobs::find_by_idempotency_key(&state.db, user, key).await?
    {
        return replay_batch(state, user, existing, &request_hash).await;
    }
    let mut plans = Vec::with_capacity(targets.len());
    for target in &targets {
        plans.push(plan(state, user, video, req, Some(target.code())).await?);
    }
    let batch_id = Uuid::new_v4();
    let ids: Vec<JobId> = plans.iter().map(|_| JobId::new()).collect();
    for (plan, id) in plans.iter().zip(&ids) {
        store_texts(state, user, *id, plan).await?;
    }
    let news: Vec<NewDub<'_>> = plans
        .iter()
        .zip(&ids)
        .enumerate()
        .map(|(i, (plan, id))| NewDub {
            job_id: *id,
            user,
            plan,
            // The first job carries the key: a repeat finds the batch through it.
            idempotency_key: idempotency_key.filter(|_| i == 0),
            request_hash: &request_hash,
            ip,
            batch_id: Some(batch_id),
        })
        .collect();
    match record_batch(state, &news).await {
        Ok(()) => {}
        Err(Recorded::Replay) => {
            let existing = race_winner(state, user, idempotency_key).await?;
            return replay_batch(state, user, existing, &request_hash).await;
        }
        Err(Recorded::Failed(e)) => return Err(e),
    }
    for (n, new) in news.iter().enumerate() {
        let input = input_of(state, new.job_id, user, new.plan);
        if let Err(e) = dispatch(state, &input, &new.plan.title).await {
            tracing::error!(error = %e, job = %new.job_id, "could not start a batch's workflow");
            undo(state, user, video, &news[..n], &news[n..]).await?;
            return Err(ServiceError::Unavailable(
                "the batch could not be started; its credits were released; please retry".into(),
            ));
        }
    }
    Ok(StartedBatch {
        batch_id,
        jobs: news
            .iter()
            .map(|n| {
                let started = Started {
                    job_id: n.job_id,
                    status: JobStatus::Pending,
                    credits: n.plan.credits,
                    message: "dubbing job started",
                };
                (n.plan.config.target_language, started)
            })
            .collect(),
    })
}

/// The batch's languages: 2 to [`MAX_BATCH_LANGUAGES`] different supported ones, and nothing in
/// the request that belongs to a single language.
fn targets(req: &DubRequest) -> Result<Vec<Language>> {
    let field = "target_languages";
    let given = req.target_languages.as_deref().unwrap_or_default();
    if req.target_language.is_some() {
        return Err(ServiceError::invalid(
            field,
            "give either target_language or target_languages",
        ));
    }
    if req.preview {
        return Err(ServiceError::invalid(
            "preview",
            "a preview is of one language: not with target_languages",
        ));
    }
    for (set, name) in [
        (req.voice_id.is_some(), "voice_id"),
        (!req.voices.is_empty(), "voices"),
        (req.translated_transcript.is_some(), "translated_transcript"),
    ] {
        if set {
            return Err(ServiceError::invalid(
                name,
                "belongs to one language: not with target_languages",
            ));
        }
    }
    if !(2..=MAX_BATCH_LANGUAGES).contains(&given.len()) {
        return Err(ServiceError::invalid(
            field,
            format!("name 2 to {MAX_BATCH_LANGUAGES} languages"),
        ));
    }
    let mut targets: Vec<Language> = Vec::with_capacity(given.len());
    for code in given {
        let language: Language = code
            .parse()
            .map_err(|e: UnsupportedLanguage| ServiceError::invalid(field, e.to_string()))?;
        if targets.contains(&language) {
            return Err(ServiceError::invalid(
                field,
                format!("{code} is named twice"),
            ));
        }
        targets.push(language);
    }
    Ok(targets)
}

/// Every job and hold of the batch in one transaction, after one balance check for the total.
async fn record_batch(state: &AppState, news: &[NewDub<'_>]) -> Result<(), Recorded> {
    let Some(first) = news.first() else {
        return Ok(());
    };
    let total: i64 = news.iter().map(|n| n.plan.credits).sum();
    let mut tx = state.db.begin().await.map_err(ServiceError::from)?;
    ledger::lock_user(&mut tx, first.user)
        .await
        .map_err(ServiceError::from)?;
    may_spend(&mut tx, first.user, total).await?;
    for new in news {
        write_job(state, &mut tx, new).await?;
    }
    tx.commit().await.map_err(ServiceError::from)?;
    Ok(())
}

/// A batch that could not be started whole: the started jobs are cancelled (their workflows
/// release their holds), the others failed with their holds released at once.
async fn undo(
    state: &AppState,
    user: UserId,
    video: VideoId,
    started: &[NewDub<'_>],
    unstarted: &[NewDub<'_>],
) -> Result<()> {
    for new in started {
        if let Err(e) =
            temporal::cancel_dubbing(&state.temporal, new.job_id, "its batch could not start").await
        {
            // The stranded-job sweep settles it if this cancel is lost.
            tracing::error!(error = %e, job = %new.job_id, "could not cancel a batch's job");
        }
    }
    for new in unstarted {
        abort_start(state, new.job_id, user, video, 0).await?;
    }
    Ok(())
}

/// The answer to a repeated batch request: the same batch, unless the body differs.
async fn replay_batch(
    state: &AppState,
    user: UserId,
    existing: jobs::JobRow,
    request_hash: &[u8],
) -> Result<StartedBatch> {
    replay(existing.clone(), request_hash)?;
    let batch_id = existing.batch_id.ok_or_else(|| {
        ServiceError::Conflict("this Idempotency-Key was used with a different request".into())
    })?;
    let jobs = batch_jobs(state, user, batch_id).await?;
    Ok(StartedBatch {
        batch_id,
        jobs: jobs
            .into_iter()
            .filter_map(|job| {
                let language = job.target_language.as_deref()?.parse().ok()?;
                let started = Started {
                    job_id: job.id,
                    status: job.status,
                    credits: i64::from(job.credits_cost.unwrap_or(0)),
                    message: "dubbing job already started",
                };
                Some((language, started))
            })
            .collect(),
    })
}

/// The jobs of one of the user's batches (404 when there is none).
pub async fn batch_jobs(state: &AppState, user: UserId, batch: Uuid) -> Result<Vec<jobs::JobRow>> {
    let jobs = jobs::in_batch(&state.db, user, batch).await?;
    if jobs.is_empty() {
        return Err(ServiceError::NotFound("batch not found".into()));
    }
    Ok(jobs)
}
