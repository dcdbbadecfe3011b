"""OneVoice's local speech services (the offline profile): `asr`, `tts`, and their `models`."""

import os

# Before any submodule imports huggingface_hub (it reads this once, at import): the services
# never ask a hub for anything; models come only from the verified directory.
os.environ["HF_HUB_OFFLINE"] = "1"
