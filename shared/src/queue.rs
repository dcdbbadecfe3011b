//! SQS: sending, receiving, deleting and extending messages of the legacy queue contract.

use crate::legacy::JobMessage;
use crate::settings::{S3Settings, SqsSettings};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};

#[derive(Clone, Debug)]
pub struct Queue {
    client: Client,
}

#[derive(Debug, thiserror::Error)]
#[error("SQS {operation} failed: {message}")]
pub struct QueueError {
    pub operation: &'static str,
    pub message: String,
}

fn err<E: std::fmt::Display>(operation: &'static str) -> impl Fn(E) -> QueueError {
    move |e| QueueError {
        operation,
        message: e.to_string(),
    }
}

fn string_attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("data type is set")
}

impl Queue {
    /// Credentials and region are the ones S3 uses; the endpoint is `SQS_ENDPOINT_URL` when set.
    pub fn new(s3: &S3Settings, sqs: &SqsSettings) -> Self {
        let credentials = Credentials::new(
            s3.access_key_id.expose(),
            s3.secret_access_key.expose(),
            None,
            None,
            "onevoice-settings",
        );
        let mut config = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(s3.region.clone()))
            .credentials_provider(credentials);
        if let Some(endpoint) = &sqs.endpoint_url {
            config = config.endpoint_url(endpoint.as_str().trim_end_matches('/'));
        }
        Queue {
            client: Client::from_conf(config.build()),
        }
    }

    /// Sends a job message. A FIFO queue (`….fifo`) deduplicates on the message id; a standard
    /// queue carries it as the `messageId` attribute for consumers to deduplicate on.
    pub async fn send_job(&self, queue_url: &str, message: &JobMessage) -> Result<(), QueueError> {
        let mut req = self
            .client
            .send_message()
            .queue_url(queue_url)
            .message_body(message.body());
        for (name, value) in message.attributes() {
            req = req.message_attributes(name, string_attribute(&value));
        }
        if queue_url.ends_with(".fifo") {
            req = req
                .message_group_id(message.job_id.to_string())
                .message_deduplication_id(message.message_id());
        }
        req.send().await.map_err(err("send"))?;
        Ok(())
    }

    /// Sends a message to a dead-letter queue unchanged, with the reason as an attribute.
    pub async fn dead_letter(
        &self,
        dlq_url: &str,
        message: &Message,
        reason: &str,
    ) -> Result<(), QueueError> {
        let mut req = self
            .client
            .send_message()
            .queue_url(dlq_url)
            .message_body(message.body().unwrap_or_default())
            .message_attributes("reason", string_attribute(reason));
        for (name, value) in message.message_attributes().into_iter().flatten() {
            if name != "reason" {
                req = req.message_attributes(name, value.clone());
            }
        }
        req.send().await.map_err(err("send to dead-letter queue"))?;
        Ok(())
    }

    pub async fn receive(
        &self,
        queue_url: &str,
        max: i32,
        wait_secs: i32,
        visibility_secs: i32,
    ) -> Result<Vec<Message>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(max)
            .wait_time_seconds(wait_secs)
            .visibility_timeout(visibility_secs)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(err("receive"))?;
        Ok(out.messages.unwrap_or_default())
    }

    pub async fn delete(&self, queue_url: &str, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(err("delete"))?;
        Ok(())
    }

    pub async fn extend(
        &self,
        queue_url: &str,
        receipt: &str,
        secs: i32,
    ) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(secs)
            .send()
            .await
            .map_err(err("change visibility"))?;
        Ok(())
    }
}
