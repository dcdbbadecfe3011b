//! SMTP transport built from settings. Emails are sent only from Temporal activities, so an SMTP
//! outage delays a message rather than losing it.

use crate::settings::{SmtpSecurity, SmtpSettings};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use std::time::Duration;

pub type Mailer = AsyncSmtpTransport<Tokio1Executor>;

pub fn mailer(settings: &SmtpSettings) -> Result<Mailer, lettre::transport::smtp::Error> {
    let builder = match settings.security {
        SmtpSecurity::Plain => Mailer::builder_dangerous(&settings.host),
        SmtpSecurity::StartTls => Mailer::starttls_relay(&settings.host)?,
        SmtpSecurity::Tls => Mailer::relay(&settings.host)?,
    };
    let mut builder = builder
        .port(settings.port)
        .timeout(Some(Duration::from_secs(10)));
    if let Some(user) = &settings.username {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            settings.password.expose().to_string(),
        ));
    }
    Ok(builder.build())
}
