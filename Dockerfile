# Production image of the `onevoice` binary (API, worker, migrations: one image, several commands).
# Build: docker build -t onevoice .     Run: docker run onevoice serve | worker | migrate

FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends protobuf-compiler libprotobuf-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p onevoice-api --bin onevoice \
    && cp target/release/onevoice /usr/local/bin/onevoice \
    && mkdir -p /licences/fdk-aac \
    && cp /usr/local/cargo/registry/src/*/fdk-aac-sys-*/aac/NOTICE /licences/fdk-aac/

FROM debian:bookworm-slim
# Media and offline language engines the activities call; fonts for burned-in CJK/Hangul subtitles.
RUN apt-get update && apt-get install -y --no-install-recommends \
        ca-certificates ffmpeg espeak-ng apertium apertium-en-es fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/onevoice --create-home onevoice
COPY --from=build /usr/local/bin/onevoice /usr/local/bin/onevoice
# The binary links the Fraunhofer FDK AAC encoder, whose licence must travel with it (README,
# "The AAC encoder"); its source is the `fdk-aac-sys` crate on crates.io.
COPY --from=build /licences /usr/share/doc/onevoice/licences
USER onevoice
ENV WORK_DIR=/var/lib/onevoice/work API_BIND=0.0.0.0:8000 LOG_FORMAT=json ONEVOICE_ENV=production
EXPOSE 8000
ENTRYPOINT ["onevoice"]
CMD ["serve"]
