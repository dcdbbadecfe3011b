//! OpenAPI schemas of the shared domain types (the `shared` crate knows nothing of OpenAPI):
//! their values come from the types themselves, so the document cannot drift from the code.

use onevoice_shared::language::Language;
use onevoice_shared::status::{JobStatus, StepStatus, VideoStatus};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Object, RefOr, Schema};

fn string_enum<I: IntoIterator<Item = &'static str>>(values: I, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .description(Some(description))
        .build()
}

/// An ISO 639-1 code of a language OneVoice dubs from and into.
pub fn language() -> Object {
    string_enum(
        Language::ALL.iter().map(|l| l.code()),
        "ISO 639-1 code of a supported language (see `/api/videos/languages`)",
    )
}

/// A source language: a supported one, or `auto` to have it recognized.
pub fn source_language() -> Object {
    string_enum(
        Language::ALL
            .iter()
            .map(|l| l.code())
            .chain(std::iter::once("auto")),
        "ISO 639-1 code of the language spoken in the video, or `auto` to detect it",
    )
}

pub fn job_status() -> Object {
    string_enum(JobStatus::ALL.iter().map(|s| s.as_str()), "status of a job")
}

pub fn step_status() -> Object {
    string_enum(
        StepStatus::ALL.iter().map(|s| s.as_str()),
        "status of a step",
    )
}

pub fn video_status() -> Object {
    string_enum(
        VideoStatus::ALL.iter().map(|s| s.as_str()),
        "status of a video",
    )
}

/// `schema` or null (for optional fields that clients may send as `null`).
pub fn nullable(schema: Object) -> RefOr<Schema> {
    let mut schema = schema;
    schema.schema_type = utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null]);
    if let Some(values) = schema.enum_values.as_mut() {
        values.push(serde_json::Value::Null);
    }
    RefOr::T(Schema::Object(schema))
}

/// An optional language code (absent or `null`).
pub fn optional_language() -> RefOr<Schema> {
    nullable(language())
}

/// An optional source language code, or `auto` (absent or `null`).
/// The target languages of a batch: 2 to 10 different supported languages.
pub fn target_languages() -> RefOr<Schema> {
    let array = utoipa::openapi::schema::ArrayBuilder::new()
        .items(language())
        .min_items(Some(2))
        .max_items(Some(crate::services::dubs::MAX_BATCH_LANGUAGES))
        .unique_items(true)
        .description(Some(
            "languages to dub into, one job each, held and started together (all or nothing)",
        ))
        .build();
    let mut array = array;
    array.schema_type = utoipa::openapi::schema::SchemaType::from_iter([Type::Array, Type::Null]);
    RefOr::T(Schema::Array(array))
}

pub fn optional_source_language() -> RefOr<Schema> {
    nullable(source_language())
}

/// 1 to 100 part numbers of a multipart upload (S3 numbers parts 1 to 10,000).
pub fn part_numbers() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(10_000)),
        )
        .min_items(Some(1))
        .max_items(Some(100))
        .build()
}

/// An optional speech recognizer by name (which ones a server offers is its configuration).
pub fn optional_recognizer() -> RefOr<Schema> {
    use onevoice_shared::settings::Recognizer;
    nullable(string_enum(
        Recognizer::ALL.into_iter().map(Recognizer::name),
        "a speech recognizer configured on the server",
    ))
}

/// What plays under a dub.
pub fn optional_background() -> RefOr<Schema> {
    use onevoice_shared::contracts::BackgroundMode;
    nullable(string_enum(
        BackgroundMode::ALL.into_iter().map(BackgroundMode::as_str),
        "what plays under the dub",
    ))
}

/// Where a dub stops for review: `translation`.
pub fn optional_review() -> RefOr<Schema> {
    nullable(string_enum(
        ["translation"],
        "where the dub stops for review",
    ))
}

/// The language of emails: `ko` or `en`.
pub fn locale() -> Object {
    string_enum(["ko", "en"], "language of emails")
}

/// An optional email language.
pub fn optional_locale() -> RefOr<Schema> {
    nullable(locale())
}

/// A string documented as an email address (for places where a field attribute cannot say it,
/// such as the seed's bare-string bodies).
#[derive(Debug, serde::Deserialize, serde::Serialize)]
#[serde(transparent)]
pub struct EmailText(pub String);

impl utoipa::PartialSchema for EmailText {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Email,
            )))
            .max_length(Some(254))
            .into()
    }
}

impl utoipa::ToSchema for EmailText {}

/// A string documented as a one-time token of a link (one line, at most 512 characters).
#[derive(Debug, serde::Deserialize, serde::Serialize)]
#[serde(transparent)]
pub struct TokenText(pub String);

impl utoipa::PartialSchema for TokenText {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::Custom(
                crate::text::LINE.into(),
            )))
            .max_length(Some(512))
            .into()
    }
}

impl utoipa::ToSchema for TokenText {}

/// Marker types that document a parameter with one of the schemas above (`value_type = …,
/// inline`), where `schema_with` cannot be used (it drops `required`).
macro_rules! documented_as {
    ($(#[$doc:meta])* $name:ident => $schema:path) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema().into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

documented_as!(
    /// A language code parameter.
    LanguageCode => language
);
documented_as!(
    /// A job status parameter.
    JobStatusName => job_status
);
documented_as!(
    /// A video status parameter.
    VideoStatusName => video_status
);

/// The name of a pipeline step (the seed's `job_steps.step_name`).
pub fn step_name() -> Object {
    use onevoice_shared::pipeline::Step;
    string_enum(
        Step::ALL.into_iter().map(Step::name),
        "step of the dubbing pipeline",
    )
}

/// `language()` or null, for answers.
pub fn optional_language_answer() -> RefOr<Schema> {
    optional_language()
}
