"""Local speech recognition speaking OpenAI's transcription protocol, with Whisper base
(faster-whisper, int8 on the CPU) from the verified models directory, and offline diarization.

    POST /v1/audio/transcriptions   multipart: file, model, language?, response_format
                                    (json | text | verbose_json), timestamp_granularities[],
                                    diarize (true | false)
    GET  /health

`verbose_json` answers as OpenAI does: `language` (its English name), `duration`, `text`,
`segments` and, when words were asked for, `words` with their times. With `diarize=true` (ours,
as Scribe names it; `verbose_json` only) every segment and word also has a `speaker`
(`speaker_0`, … in order of first appearance; see `speakers.py`), and `speakers` lists each
one's voiceprint (`embedding`, 256 numbers), so a caller that sends a long recording in pieces
can tell whether two pieces' speakers are the same person.
"""

import io
import json

from . import models, server, speakers

# Whisper's language codes and the names OpenAI answers with.
from faster_whisper.tokenizer import _LANGUAGE_CODES as CODES  # noqa: E402  (a tuple of codes)

NAMES = {
    "en": "english", "es": "spanish", "fr": "french", "de": "german", "it": "italian",
    "pt": "portuguese", "ja": "japanese", "ko": "korean", "zh": "chinese", "ru": "russian",
    "ar": "arabic", "hi": "hindi", "nl": "dutch", "pl": "polish", "tr": "turkish",
    "vi": "vietnamese", "th": "thai", "id": "indonesian", "uk": "ukrainian", "sv": "swedish",
}
FORMATS = ("json", "text", "verbose_json")


def load(args):
    from faster_whisper import WhisperModel

    directory = args.models / models.WHISPER.directory
    model = WhisperModel(
        str(directory), device="cpu", compute_type="int8", cpu_threads=args.threads
    )
    embedder = speakers.Embedder(
        models.EMBEDDER.path(args.models, models.EMBEDDER.files[0].name), args.threads
    )
    return model, args.beam_size, embedder, args.speaker_threshold


def transcribe(engine, request):
    from faster_whisper import decode_audio

    model, beam_size, embedder, threshold = engine
    fields = request.form()
    audio = (fields.get("file") or [None])[0]
    if not isinstance(audio, bytes) or not audio:
        raise server.Refusal(400, "`file` is required", code="missing_file")
    language = (fields.get("language") or [None])[0] or None
    if language is not None and language not in CODES:
        raise server.Refusal(400, f"unsupported language `{language[:16]}`", code="invalid_language")
    fmt = (fields.get("response_format") or ["json"])[0]
    if fmt not in FORMATS:
        raise server.Refusal(400, f"response_format must be one of {', '.join(FORMATS)}")
    words = "word" in fields.get("timestamp_granularities[]", [])
    diarize = (fields.get("diarize") or ["false"])[0]
    if diarize not in ("true", "false"):
        raise server.Refusal(400, "diarize must be true or false", code="invalid_value")
    diarize = diarize == "true"
    if diarize and fmt != "verbose_json":
        raise server.Refusal(400, "diarize needs response_format verbose_json", code="invalid_value")
    try:
        pcm = decode_audio(io.BytesIO(audio), sampling_rate=speakers.RATE)
        # Diarizing places every word, so it needs their times.
        segments, info = model.transcribe(
            pcm, language=language, word_timestamps=words or diarize, beam_size=beam_size
        )
        segments = list(segments)
    except Exception as e:  # PyAV could not decode it: the request's fault
        if type(e).__module__.startswith("av"):
            raise server.Refusal(400, "`file` is not decodable audio", code="invalid_file")
        raise
    text = "".join(s.text for s in segments).strip()
    if fmt == "text":
        return 200, "text/plain; charset=utf-8", text.encode()
    if fmt == "json":
        return 200, "application/json", json.dumps({"text": text}).encode()
    lines = [
        {
            "seek": s.seek,
            "start": round(s.start, 3),
            "end": round(s.end, 3),
            "text": s.text,
            "tokens": list(s.tokens),
            "temperature": s.temperature,
            "avg_logprob": s.avg_logprob,
            "compression_ratio": s.compression_ratio,
            "no_speech_prob": s.no_speech_prob,
            "words": [
                {"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3)}
                for w in (s.words or [])
            ],
        }
        for s in segments
    ]
    voiceprints = {}
    if diarize:
        lines, voiceprints = speakers.diarize(embedder, pcm, lines, threshold)
    doc = {
        "task": "transcribe",
        "language": NAMES.get(info.language, info.language),
        "duration": round(info.duration, 3),
        "text": text,
        "segments": [
            {"id": i} | {k: v for k, v in line.items() if k != "words"}
            for i, line in enumerate(lines)
        ],
    }
    if diarize:
        doc["speakers"] = [
            {"id": name, "embedding": [round(float(x), 5) for x in v]}
            for name, v in voiceprints.items()
        ]
    if words:
        doc["words"] = [
            dict(w, word=w["word"].strip()) for line in lines for w in line["words"]
        ]
    return 200, "application/json", json.dumps(doc).encode()


def health(_model, _request):
    return 200, "application/json", b'{"status":"ok","model":"whisper-base","diarize":true}'


if __name__ == "__main__":
    # Beam search 5 (Whisper's default) is about twice as slow as greedy decoding (1) and makes
    # a third fewer word errors (scripts/bench-local-speech.sh; 3.0% against 4.5% on English).
    # Two groups of 1.5 s windows are one speaker's when their mean cosine similarity is above
    # this (on the espeak-ng dialogue of the tests, over a noise bed: 0.6 to 0.98 for a voice
    # with itself, 0.1 to 0.45 between the two voices).
    args = server.arguments(
        "OneVoice local speech recognition",
        8301,
        [("--beam-size", int, 5), ("--speaker-threshold", float, 0.55)],
    )
    server.start(
        args,
        (models.WHISPER, models.EMBEDDER),
        load,
        {("POST", "/v1/audio/transcriptions"): transcribe, ("GET", "/health"): health},
    )
