#!/usr/bin/env python3
"""Objective quality of an AAC encode against the WAV it was made from (scripts/bench-aac.sh).

    aac-quality.py REFERENCE.wav DECODED.wav

Both 48 kHz; DECODED is the encode decoded by ffmpeg (its priming trimmed by the container).
Prints one JSON line:
  lag               samples the decoded audio is shifted by (0 when the priming is trimmed right)
  seg_snr_db        segmental SNR: mean over 20 ms segments of the signal-to-error ratio,
                    each clamped to [-10, 35] dB, silent segments (< -60 dBFS) left out
  lsd_db            log-spectral distance: RMS over frequency of the dB difference of the power
                    spectra (2048-sample Hann frames, 0-20 kHz), mean over non-silent frames
  pesq_wb           ITU-T P.862.2 wideband PESQ (MOS-LQO, 1-4.64; the `pesq` package) of the
                    mono mix at 16 kHz, median over eight 8 s excerpts spread over the file
The two channels are averaged for the SNR and the spectra; the mix is speech over background.
"""
import json
import sys

import numpy as np
import soundfile as sf
from pesq import pesq
from scipy.signal import resample_poly

RATE = 48_000


def mono(path):
    x, rate = sf.read(path, dtype="float64", always_2d=True)
    if rate != RATE:
        sys.exit(f"{path}: {rate} Hz, expected {RATE}")
    return x.mean(axis=1)


def lag_of(ref, dec):
    """The shift of dec against ref, from the cross-correlation of their first 10 s."""
    n = min(len(ref), len(dec), 10 * RATE)
    a, b = ref[:n], dec[:n]
    size = 1 << int(np.ceil(np.log2(2 * n)))
    corr = np.fft.irfft(np.fft.rfft(b, size) * np.conj(np.fft.rfft(a, size)), size)
    k = int(np.argmax(corr))
    return k if k < size // 2 else k - size


def seg_snr(ref, dec):
    seg = RATE // 50
    n = min(len(ref), len(dec)) // seg * seg
    r = ref[:n].reshape(-1, seg)
    e = (dec[:n] - ref[:n]).reshape(-1, seg)
    power = (r**2).mean(axis=1)
    keep = power > 10 ** (-60 / 10)
    snr = 10 * np.log10(power[keep] / np.maximum((e**2).mean(axis=1)[keep], 1e-20))
    return float(np.clip(snr, -10, 35).mean())


def lsd(ref, dec):
    size, hop = 2048, 1024
    n = (min(len(ref), len(dec)) - size) // hop
    window = np.hanning(size)
    top = int(20_000 / RATE * size)
    dists = []
    for start in range(0, n, 4096):  # blocks of frames, to bound memory
        idx = np.arange(start, min(n, start + 4096))[:, None] * hop + np.arange(size)
        pr = np.abs(np.fft.rfft(ref[idx] * window, axis=1)[:, 1:top]) ** 2
        pd = np.abs(np.fft.rfft(dec[idx] * window, axis=1)[:, 1:top]) ** 2
        loud = pr.mean(axis=1) > 1e-7
        d = 10 * np.log10(pr[loud] + 1e-12) - 10 * np.log10(pd[loud] + 1e-12)
        dists.extend(np.sqrt((d**2).mean(axis=1)))
    return float(np.mean(dists))


def pesq_wb(ref, dec):
    r16 = resample_poly(ref, 1, 3)
    d16 = resample_poly(dec, 1, 3)
    length = 8 * 16_000
    n = min(len(r16), len(d16))
    starts = np.linspace(0, max(0, n - length), 8).astype(int)
    scores = [pesq(16_000, r16[s : s + length], d16[s : s + length], "wb") for s in starts]
    return float(np.median(scores))


def main():
    ref, dec = mono(sys.argv[1]), mono(sys.argv[2])
    lag = lag_of(ref, dec)
    if lag > 0:
        dec = dec[lag:]
    elif lag < 0:
        ref = ref[-lag:]
    print(
        json.dumps(
            {
                "lag": lag,
                "seg_snr_db": round(seg_snr(ref, dec), 2),
                "lsd_db": round(lsd(ref, dec), 3),
                "pesq_wb": round(pesq_wb(ref, dec), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
