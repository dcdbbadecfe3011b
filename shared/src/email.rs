//! The emails OneVoice sends, rendered as text and HTML in Korean or English.
//!
//! Rendering happens where the email is caused (the API or an activity); the outbox stores the
//! result and a workflow delivers it. User-supplied values are HTML-escaped.

use crate::locale::Locale;

/// What to send; each variant carries what its template needs.
#[derive(Clone, Debug)]
pub enum EmailKind {
    VerifyEmail {
        username: String,
        link: String,
    },
    PasswordReset {
        username: String,
        link: String,
    },
    EmailChange {
        username: String,
        link: String,
        new_email: String,
    },
    /// To the old address, once an email change is confirmed.
    EmailChanged {
        username: String,
        new_email: String,
    },
    PasswordChanged {
        username: String,
    },
    JobCompleted {
        username: String,
        video_title: String,
        language: String,
        link: String,
    },
    JobFailed {
        username: String,
        video_title: String,
        reason: String,
        credits_refunded: bool,
    },
    /// A paid billing period: its credits were granted.
    BillingPaymentReceived {
        username: String,
        plan: String,
        credits: i64,
        /// The payment lifted a suspension.
        reactivated: bool,
    },
    /// A renewal failed; dubbing continues until `deadline`.
    BillingPaymentFailed {
        username: String,
        deadline: String,
        link: String,
    },
    BillingSuspended {
        username: String,
        link: String,
    },
    BillingSubscriptionEnded {
        username: String,
        plan: String,
    },
    /// A webhook endpoint failed every delivery attempt for the whole retry window.
    WebhookDisabled {
        username: String,
        url: String,
    },
}

impl EmailKind {
    /// Stable name stored with the email (and used by preference checks).
    pub fn name(&self) -> &'static str {
        match self {
            EmailKind::VerifyEmail { .. } => "verify_email",
            EmailKind::PasswordReset { .. } => "password_reset",
            EmailKind::EmailChange { .. } => "email_change",
            EmailKind::EmailChanged { .. } => "email_changed",
            EmailKind::PasswordChanged { .. } => "password_changed",
            EmailKind::JobCompleted { .. } => "job_completed",
            EmailKind::JobFailed { .. } => "job_failed",
            EmailKind::BillingPaymentReceived { .. } => "billing_payment_received",
            EmailKind::BillingPaymentFailed { .. } => "billing_payment_failed",
            EmailKind::BillingSuspended { .. } => "billing_suspended",
            EmailKind::BillingSubscriptionEnded { .. } => "billing_subscription_ended",
            EmailKind::WebhookDisabled { .. } => "webhook_disabled",
        }
    }

    /// Whether the body holds a one-time link (erased from the outbox once sent).
    pub fn carries_secret(&self) -> bool {
        matches!(
            self,
            EmailKind::VerifyEmail { .. }
                | EmailKind::PasswordReset { .. }
                | EmailKind::EmailChange { .. }
        )
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Paragraphs and an optional call-to-action link, as plain text and as simple HTML.
fn compose(
    subject: String,
    greeting: String,
    paragraphs: Vec<String>,
    action: Option<(&str, &str)>,
) -> Rendered {
    let mut text = format!("{greeting}\n\n");
    let mut html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\"><p>{}</p>",
        escape(&greeting)
    );
    for p in &paragraphs {
        text.push_str(p);
        text.push_str("\n\n");
        html.push_str(&format!("<p>{}</p>", escape(p)));
    }
    if let Some((label, link)) = action {
        text.push_str(&format!("{label}: {link}\n\n"));
        html.push_str(&format!(
            "<p><a href=\"{}\">{}</a></p>",
            escape(link),
            escape(label)
        ));
    }
    text.push_str("— OneVoice\n");
    html.push_str("<p>— OneVoice</p></body></html>");
    Rendered {
        subject,
        text,
        html,
    }
}

pub fn render(kind: &EmailKind, locale: Locale) -> Rendered {
    use EmailKind::*;
    let ko = locale == Locale::Ko;
    match kind {
        VerifyEmail { username, link } => compose(
            if ko {
                "[OneVoice] 이메일 주소를 인증해 주세요".into()
            } else {
                "[OneVoice] Verify your email address".into()
            },
            if ko {
                format!("{username}님, 안녕하세요.")
            } else {
                format!("Hello {username},")
            },
            vec![if ko {
                "OneVoice 가입을 완료하려면 아래 링크를 눌러 이메일 주소를 인증해 주세요. 링크는 24시간 동안 유효하며 한 번만 사용할 수 있습니다.".into()
            } else {
                "To finish signing up for OneVoice, confirm your email address with the link below. It is valid for 24 hours and can be used once.".into()
            }],
            Some((
                if ko {
                    "이메일 인증"
                } else {
                    "Verify email"
                },
                link,
            )),
        ),
        PasswordReset { username, link } => compose(
            if ko {
                "[OneVoice] 비밀번호 재설정".into()
            } else {
                "[OneVoice] Reset your password".into()
            },
            if ko {
                format!("{username}님, 안녕하세요.")
            } else {
                format!("Hello {username},")
            },
            vec![if ko {
                "비밀번호 재설정이 요청되었습니다. 아래 링크는 1시간 동안 유효하며 한 번만 사용할 수 있습니다. 요청하지 않으셨다면 이 메일을 무시하세요.".into()
            } else {
                "Someone asked to reset your password. The link below is valid for one hour and can be used once. If it was not you, ignore this email.".into()
            }],
            Some((
                if ko {
                    "비밀번호 재설정"
                } else {
                    "Reset password"
                },
                link,
            )),
        ),
        EmailChange {
            username,
            link,
            new_email,
        } => compose(
            if ko {
                "[OneVoice] 새 이메일 주소를 인증해 주세요".into()
            } else {
                "[OneVoice] Confirm your new email address".into()
            },
            if ko {
                format!("{username}님, 안녕하세요.")
            } else {
                format!("Hello {username},")
            },
            vec![if ko {
                format!(
                    "계정 이메일을 {new_email}(으)로 변경하려면 아래 링크를 눌러 주세요. 링크는 24시간 동안 유효합니다."
                )
            } else {
                format!(
                    "To change your account email to {new_email}, confirm with the link below. It is valid for 24 hours."
                )
            }],
            Some((
                if ko {
                    "이메일 변경 확인"
                } else {
                    "Confirm new email"
                },
                link,
            )),
        ),
        EmailChanged {
            username,
            new_email,
        } => compose(
            if ko {
                "[OneVoice] 계정 이메일이 변경되었습니다".into()
            } else {
                "[OneVoice] Your account email was changed".into()
            },
            if ko {
                format!("{username}님, 안녕하세요.")
            } else {
                format!("Hello {username},")
            },
            vec![if ko {
                format!(
                    "계정 이메일이 {new_email}(으)로 변경되었고, 변경한 기기를 제외한 모든 기기에서 로그아웃되었습니다. 직접 변경하지 않으셨다면 즉시 고객 지원에 연락해 주세요."
                )
            } else {
                format!(
                    "Your account email was changed to {new_email}, and every other device was signed out. If this was not you, contact support now."
                )
            }],
            None,
        ),
        PasswordChanged { username } => compose(
            if ko {
                "[OneVoice] 비밀번호가 변경되었습니다".into()
            } else {
                "[OneVoice] Your password was changed".into()
            },
            if ko {
                format!("{username}님, 안녕하세요.")
            } else {
                format!("Hello {username},")
            },
            vec![if ko {
                "계정 비밀번호가 변경되어 모든 기기에서 로그아웃되었습니다. 직접 변경하지 않으셨다면 즉시 비밀번호를 재설정해 주세요.".into()
            } else {
                "Your password was changed and every device was signed out. If this was not you, reset your password now.".into()
            }],
            None,
        ),
        JobCompleted {
            username,
            video_title,
            language,
            link,
        } => compose(
            if ko {
                format!("[OneVoice] '{video_title}' 더빙이 완료되었습니다")
            } else {
                format!("[OneVoice] '{video_title}' is dubbed")
            },
            if ko {
                format!("{username}님, 안녕하세요.")
            } else {
                format!("Hello {username},")
            },
            vec![if ko {
                format!("'{video_title}' 영상의 {language} 더빙이 완료되었습니다.")
            } else {
                format!("The {language} dub of '{video_title}' is ready.")
            }],
            Some((if ko { "결과 보기" } else { "Open" }, link)),
        ),
        JobFailed {
            username,
            video_title,
            reason,
            credits_refunded,
        } => {
            let mut paragraphs = vec![if ko {
                format!("'{video_title}' 영상의 더빙이 실패했습니다. 사유: {reason}")
            } else {
                format!("Dubbing '{video_title}' failed: {reason}")
            }];
            // Only claim a refund that really happened.
            if *credits_refunded {
                paragraphs.push(if ko {
                    "사용된 크레딧은 환불되었습니다.".into()
                } else {
                    "The credits for this job were refunded.".into()
                });
            }
            compose(
                if ko {
                    format!("[OneVoice] '{video_title}' 더빙 실패")
                } else {
                    format!("[OneVoice] Dubbing '{video_title}' failed")
                },
                if ko {
                    format!("{username}님, 안녕하세요.")
                } else {
                    format!("Hello {username},")
                },
                paragraphs,
                None,
            )
        }
        BillingPaymentReceived {
            username,
            plan,
            credits,
            reactivated,
        } => {
            let mut paragraphs = vec![if ko {
                format!("{plan} 결제가 완료되어 {credits} 크레딧이 지급되었습니다.")
            } else {
                format!(
                    "Your {plan} payment went through and {credits} credits were added to your account."
                )
            }];
            if *reactivated {
                paragraphs.push(if ko {
                    "더빙 기능이 다시 활성화되었습니다.".into()
                } else {
                    "Dubbing is available again.".into()
                });
            }
            compose(
                if ko {
                    "[OneVoice] 결제가 완료되었습니다".into()
                } else {
                    "[OneVoice] Payment received".into()
                },
                greeting(username, ko),
                paragraphs,
                None,
            )
        }
        BillingPaymentFailed {
            username,
            deadline,
            link,
        } => compose(
            if ko {
                "[OneVoice] 구독 결제에 실패했습니다".into()
            } else {
                "[OneVoice] Your subscription payment failed".into()
            },
            greeting(username, ko),
            vec![if ko {
                format!(
                    "구독 갱신 결제가 실패했습니다. {deadline}까지 결제 수단을 업데이트하지 않으면 더빙이 일시 중지됩니다."
                )
            } else {
                format!(
                    "We could not charge your subscription renewal. Please update your payment method before {deadline}, or dubbing will be paused."
                )
            }],
            Some((
                if ko {
                    "결제 수단 업데이트"
                } else {
                    "Update payment method"
                },
                link,
            )),
        ),
        BillingSuspended { username, link } => compose(
            if ko {
                "[OneVoice] 미결제로 더빙이 일시 중지되었습니다".into()
            } else {
                "[OneVoice] Dubbing paused for an unpaid subscription".into()
            },
            greeting(username, ko),
            vec![if ko {
                "유예 기간이 지나도록 결제가 완료되지 않아 새 더빙이 중지되었습니다. 결제가 완료되면 바로 다시 사용할 수 있습니다.".into()
            } else {
                "The grace period ended without a payment, so new dubs are paused. They resume as soon as the payment goes through.".into()
            }],
            Some((if ko { "결제하기" } else { "Pay now" }, link)),
        ),
        BillingSubscriptionEnded { username, plan } => compose(
            if ko {
                "[OneVoice] 구독이 종료되었습니다".into()
            } else {
                "[OneVoice] Your subscription has ended".into()
            },
            greeting(username, ko),
            vec![if ko {
                format!("{plan} 구독이 종료되었습니다. 남은 크레딧은 계속 사용할 수 있습니다.")
            } else {
                format!(
                    "Your {plan} subscription has ended. Credits left on your account remain usable."
                )
            }],
            None,
        ),
        WebhookDisabled { username, url } => compose(
            if ko {
                "[OneVoice] 웹훅 엔드포인트가 비활성화되었습니다".into()
            } else {
                "[OneVoice] A webhook endpoint was disabled".into()
            },
            greeting(username, ko),
            vec![if ko {
                format!(
                    "{url} 엔드포인트가 재시도 기간 내내 모든 전송에 실패하여 비활성화되었습니다. 엔드포인트를 고친 뒤 다시 활성화하고 실패한 전송을 재전송할 수 있습니다."
                )
            } else {
                format!(
                    "Every delivery to {url} failed for the whole retry period, so the endpoint was disabled. Once it is fixed, enable it again and redeliver the failed events from its delivery log."
                )
            }],
            None,
        ),
    }
}

fn greeting(username: &str, ko: bool) -> String {
    if ko {
        format!("{username}님, 안녕하세요.")
    } else {
        format!("Hello {username},")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_both_languages_and_escapes_html() {
        let kind = EmailKind::VerifyEmail {
            username: "<b>kim</b>".into(),
            link: "https://x.test/v?token=a&b".into(),
        };
        let en = render(&kind, Locale::En);
        assert!(en.subject.contains("Verify"));
        assert!(en.text.contains("https://x.test/v?token=a&b"));
        assert!(en.html.contains("&lt;b&gt;kim&lt;/b&gt;") && en.html.contains("token=a&amp;b"));
        let ko = render(&kind, Locale::Ko);
        assert!(ko.subject.contains("인증"));
    }

    #[test]
    fn failure_email_mentions_refund_only_when_it_happened() {
        let mk = |credits_refunded| EmailKind::JobFailed {
            username: "a".into(),
            video_title: "v".into(),
            reason: "r".into(),
            credits_refunded,
        };
        assert!(!render(&mk(false), Locale::En).text.contains("refunded"));
        assert!(render(&mk(true), Locale::En).text.contains("refunded"));
    }
}
