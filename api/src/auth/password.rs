//! Password hashing with Argon2id (OWASP's first choice) on a small pool of its own threads: a
//! hash takes tens of milliseconds of CPU and 19 MiB of memory on purpose, so without a bound a
//! flood of sign-ins would take as much memory as it has requests. With `N` threads at most `N`
//! hashes run at once and the rest wait in line. Each thread owns its Argon2 memory and reuses it
//! for every hash: letting the algorithm allocate 19 MiB per hash was measured to leave the
//! allocator holding 150 MiB after a flood on 2 threads (glibc raises its mmap threshold after
//! the first free and then keeps the blocks in arenas), where owned memory holds `N × 19 MiB`.

use crate::error::FieldError;
use crate::services::ServiceError;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

pub const MIN_LEN: usize = 8;
/// Bounded so a huge password cannot be used to burn CPU.
pub const MAX_LEN: usize = 128;
/// Memory of one hash, KiB.
pub const MEMORY_KIB: u32 = 19 * 1024;

/// 19 MiB, 2 passes, 1 lane: the OWASP 2023 baseline for Argon2id.
fn params() -> Params {
    Params::new(MEMORY_KIB, 2, 1, None).expect("static params")
}

/// The Argon2 working memory one hashing thread owns, grown (never shrunk) to what a stored hash
/// asks for.
struct Memory(Vec<Block>);

impl Memory {
    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        if self.0.len() < params.block_count() {
            self.0.resize(params.block_count(), Block::default());
        }
        &mut self.0[..params.block_count()]
    }
}

type PhcResult<T> = Result<T, argon2::password_hash::Error>;

/// A new PHC string (`$argon2id$v=19$m=…`) for `password` with a fresh salt.
fn hash_with(memory: &mut Memory, password: &[u8]) -> PhcResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_buf)?;
    let params = params();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        argon2
            .hash_password_into_with_memory(password, salt_bytes, out, memory.blocks(&params))
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })?;
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    }
    .to_string())
}

/// Whether `password` matches the PHC string `stored`, with the parameters stored in it.
fn verify_with(memory: &mut Memory, password: &[u8], stored: &str) -> PhcResult<bool> {
    let hash = PasswordHash::new(stored)?;
    let algorithm = Algorithm::try_from(hash.algorithm)?;
    let version = hash
        .version
        .map(Version::try_from)
        .transpose()?
        .unwrap_or_default();
    let params = Params::try_from(&hash)?;
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return Ok(false);
    };
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf)?;
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let computed = Output::init_with(expected.len(), |out| {
        argon2
            .hash_password_into_with_memory(password, salt_bytes, out, memory.blocks(&params))
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })?;
    // `Output` compares in constant time.
    Ok(computed == expected)
}

/// Checks length rules; `field` names the request field in the 422.
pub fn validate(field: &str, password: &str) -> Result<(), FieldError> {
    let len = password.chars().count();
    if !(MIN_LEN..=MAX_LEN).contains(&len) {
        return Err(FieldError::new(
            field,
            format!("must be {MIN_LEN} to {MAX_LEN} characters"),
        ));
    }
    Ok(())
}

type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// The one way the API hashes and checks passwords; cheap to clone.
#[derive(Clone, Debug)]
pub struct Passwords {
    /// The line of computations waiting for one of the pool's threads; the threads end when
    /// the last clone is dropped.
    jobs: mpsc::UnboundedSender<Job>,
    /// A real hash of a secret thrown away at once, checked against when the account does not
    /// exist: unknown and known emails then cost one verification each.
    decoy: Arc<str>,
    /// Argon2 computations run so far (after the decoy's).
    computed: Arc<AtomicU64>,
}

impl Passwords {
    /// Starts `threads` hashing threads; computes the decoy hash first.
    pub async fn new(threads: usize) -> Result<Self, ServiceError> {
        let (jobs, line) = mpsc::unbounded_channel::<Job>();
        let line = Arc::new(Mutex::new(line));
        for n in 0..threads.max(1) {
            let line = line.clone();
            std::thread::Builder::new()
                .name(format!("password-hash-{n}"))
                .spawn(move || {
                    // Allocated by the thread's first hash and kept: an idle pool costs nothing,
                    // a busy one its ceiling.
                    let mut memory = Memory(Vec::new());
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match line.lock() {
                            Ok(mut line) => line.blocking_recv(),
                            Err(_) => None,
                        };
                        match job {
                            Some(job) => job(&mut memory),
                            None => break,
                        }
                    }
                })
                .map_err(|e| ServiceError::Internal(e.into()))?;
        }
        let mut p = Passwords {
            jobs,
            decoy: Arc::from(""),
            computed: Arc::new(AtomicU64::new(0)),
        };
        let secret = SaltString::generate(&mut OsRng);
        p.decoy = Arc::from(p.hash(secret.as_str()).await?);
        p.computed.store(0, Ordering::SeqCst);
        Ok(p)
    }

    /// How many hashes or verifications have run: what a request cost.
    pub fn computations(&self) -> u64 {
        self.computed.load(Ordering::SeqCst)
    }

    /// Runs one Argon2 computation on the pool once a thread is free.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        let (done, result) = oneshot::channel();
        self.computed.fetch_add(1, Ordering::SeqCst);
        self.jobs
            .send(Box::new(move |memory: &mut Memory| {
                // A panic ends this job, not the thread; the request may have gone meanwhile,
                // and then nobody waits for the answer.
                let work = std::panic::AssertUnwindSafe(|| work(memory));
                if let Ok(v) = std::panic::catch_unwind(work) {
                    let _ = done.send(v);
                }
            }))
            .map_err(|_| ServiceError::Internal(anyhow::anyhow!("the hashing threads are gone")))?;
        result
            .await
            .map_err(|_| ServiceError::Internal(anyhow::anyhow!("a hashing thread failed")))
    }

    pub async fn hash(&self, password: &str) -> Result<String, ServiceError> {
        let password = password.to_string();
        self.run(move |memory| hash_with(memory, password.as_bytes()))
            .await?
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("hashing password: {e}")))
    }

    /// Verifies a password. With no stored hash (unknown user) it checks against the decoy, so
    /// response times and costs do not reveal which emails have accounts.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, ServiceError> {
        let known = stored.is_some_and(|s| PasswordHash::new(s).is_ok());
        let stored = match stored {
            Some(s) if known => s.to_string(),
            _ => self.decoy.to_string(),
        };
        let password = password.to_string();
        let ok = self
            .run(move |memory| verify_with(memory, password.as_bytes(), &stored).unwrap_or(false))
            .await?;
        Ok(ok && known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_and_verifies() {
        let p = Passwords::new(1).await.unwrap();
        let h = p.hash("correct horse battery").await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(p.verify("correct horse battery", Some(&h)).await.unwrap());
        assert!(!p.verify("wrong", Some(&h)).await.unwrap());
        // An unknown account costs one verification, like a known one.
        let before = p.computations();
        assert!(!p.verify("anything", None).await.unwrap());
        assert!(!p.verify("anything", Some("!")).await.unwrap());
        assert_eq!(p.computations() - before, 2);
    }

    #[tokio::test]
    async fn never_runs_more_hashes_than_its_threads() {
        let p = Passwords::new(2).await.unwrap();
        let busy = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (p, busy, most) = (p.clone(), busy.clone(), most.clone());
                tokio::spawn(async move {
                    p.run(move |memory| {
                        use std::sync::atomic::Ordering::SeqCst;
                        let now = busy.fetch_add(1, SeqCst) + 1;
                        most.fetch_max(now, SeqCst);
                        let _ = hash_with(memory, b"x");
                        busy.fetch_sub(1, SeqCst);
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let most = most.load(std::sync::atomic::Ordering::SeqCst);
        assert!((1..=2).contains(&most), "{most} hashes at once");
    }

    /// Hashes made by the crate's own `PasswordHasher` (every stored hash so far) still verify,
    /// and ours verify with the crate's `PasswordVerifier`.
    #[test]
    fn stays_compatible_with_the_crates_own_hashes() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let crate_argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params());
        let salt = SaltString::generate(&mut OsRng);
        let theirs = crate_argon2
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        let mut memory = Memory(Vec::new());
        assert!(verify_with(&mut memory, b"correct horse", &theirs).unwrap());
        assert!(!verify_with(&mut memory, b"wrong horse", &theirs).unwrap());
        let ours = hash_with(&mut memory, b"correct horse").unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            crate_argon2
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        // A hash with other parameters (smaller memory) verifies with those parameters.
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"pw", &salt)
        .unwrap()
        .to_string();
        assert!(verify_with(&mut memory, b"pw", &small).unwrap());
    }

    #[test]
    fn enforces_length() {
        assert!(validate("password", "short").is_err());
        assert!(validate("password", &"x".repeat(129)).is_err());
        assert!(validate("password", "long enough").is_ok());
    }
}
