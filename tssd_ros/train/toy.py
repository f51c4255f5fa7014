"""Toy scenes and a tiny detector trained on them in about a minute on one CPU core.

Why: tests of the ROS node, the tracker and the CLI need weights that really detect something known (a random
network gives random boxes), without shipping a weights file or a data set. The toy world is a dark-blue sea
with bright, easily told apart shapes: class 0 ``seaurchin`` a red disc with short spikes, class 1 ``scallop`` a
yellow square, class 2 ``seacucumber`` a green ellipse twice as wide as high.

The detector is the tiny mobile TSSD (Bottleneck-LSTM) trained as the node runs it: continuous toy videos with
moving objects stepped in clips of 4 frames with the recurrent state carried (detached) from clip to clip and
only sometimes reset, and scene cuts without a reset, so that detection stays stable over long streams.
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from tssd_ros.model.config import PostprocessConfig, PreprocessConfig, tiny_config
from tssd_ros.model.tssd import TSSD

TOY_CLASSES: tuple[str, ...] = ("seaurchin", "scallop", "seacucumber")
_BG_BGR = (70.0, 35.0, 12.0)  # dark blue
_COLOURS = ((40, 40, 225), (30, 215, 235), (60, 200, 50))  # BGR: red, yellow, green


def toy_box(cls: int, cx: float, cy: float, size: float) -> tuple[float, float, float, float]:
    """Tight box x1, y1, x2, y2 (pixels, unclipped) of a toy object; the seacucumber is size x size/2."""
    half_w = size / 2
    half_h = size / 4 if cls == 2 else size / 2
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


@functools.lru_cache(maxsize=8)
def _background(size: int) -> np.ndarray:
    """Dark blue with a slight vertical gradient (light from above)."""
    yy = np.linspace(-1.0, 1.0, size, dtype=np.float32)[:, None, None]
    bg = np.asarray(_BG_BGR, np.float32) * (1.0 + 0.15 * yy)
    bg = np.broadcast_to(bg, (size, size, 3)).copy()
    bg.flags.writeable = False
    return bg


def make_toy_frame(
    t: int, objects: list[tuple[int, float, float, float]] | tuple = (), size: int = 128, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one toy frame.

    t: frame index (only varies the noise, so a static scene still changes slightly like a camera image).
    objects: (class 0..2, cx, cy, size) in pixels; size is the width of the object (12-40 px is what the toy
        detector is trained for).
    Returns (bgr uint8 (size, size, 3), boxes (N, 4) float32 x1, y1, x2, y2 px clipped to the frame,
    labels (N,) int64). Objects entirely outside the frame are dropped from the ground truth.
    """
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(t) & 0xFFFFFFFF])
    img = _background(size) + rng.standard_normal((size, size, 3), dtype=np.float32) * 4.0
    canvas = np.clip(img, 0, 255).astype(np.uint8)
    boxes, labels = [], []
    sh = 4  # sub-pixel precision of cv2 drawing
    for obj in objects:
        cls, cx, cy, s = int(obj[0]), float(obj[1]), float(obj[2]), float(obj[3])
        if cls not in (0, 1, 2):
            raise ValueError(f"toy class must be 0, 1 or 2, got {cls}")
        colour = _COLOURS[cls]
        c = (int(round(cx * (1 << sh))), int(round(cy * (1 << sh))))
        if cls == 0:
            r = s / 2
            body = 0.78 * r
            cv2.circle(canvas, c, int(round(body * (1 << sh))), colour, -1, cv2.LINE_AA, sh)
            for k in range(12):  # spikes reaching the full radius
                a = 2 * math.pi * k / 12
                p = (int(round((cx + r * math.cos(a)) * (1 << sh))), int(round((cy + r * math.sin(a)) * (1 << sh))))
                cv2.line(canvas, c, p, colour, max(1, int(round(s / 14))), cv2.LINE_AA, sh)
        elif cls == 1:
            x1, y1, x2, y2 = toy_box(cls, cx, cy, s)
            pts = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]]) * (1 << sh)
            cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], colour, cv2.LINE_AA, sh)
        else:
            axes = (int(round(s / 2 * (1 << sh))), int(round(s / 4 * (1 << sh))))
            cv2.ellipse(canvas, c, axes, 0, 0, 360, colour, -1, cv2.LINE_AA, sh)
        x1, y1, x2, y2 = toy_box(cls, cx, cy, s)
        x1, y1, x2, y2 = max(x1, 0.0), max(y1, 0.0), min(x2, float(size)), min(y2, float(size))
        if x2 - x1 >= 1 and y2 - y1 >= 1:
            boxes.append((x1, y1, x2, y2))
            labels.append(cls)
    return (canvas, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64))


def random_toy_objects(rng: np.random.Generator, size: int = 128, max_objects: int = 3, min_size: float = 12,
                       max_size: float = 40) -> list[tuple[int, float, float, float]]:
    """0..max_objects non-overlapping objects fully inside the frame (about one frame in five is empty)."""
    n = int(rng.choice(max_objects + 1, p=[0.2] + [0.8 / max_objects] * max_objects))
    objs: list[tuple[int, float, float, float]] = []
    for _ in range(n):
        for _attempt in range(20):
            cls = int(rng.integers(3))
            s = float(rng.uniform(min_size, max_size))
            m = s / 2 + 1
            cx, cy = float(rng.uniform(m, size - m)), float(rng.uniform(m, size - m))
            if all(abs(cx - o[1]) > (s + o[3]) / 2 + 2 or abs(cy - o[2]) > (s + o[3]) / 2 + 2 for o in objs):
                objs.append((cls, cx, cy, s))
                break
    return objs


@dataclass
class _Stream:
    """One continuous toy video: objects drifting with constant velocity, bouncing at the borders."""

    objects: list[list[float]]  # [cls, cx, cy, size, vx, vy]
    t: int
    seed: int


class ToyVideos:
    """A batch of endless toy videos; ``next_clip`` renders the next ``seq_len`` frames of each.

    Between clips a video may cut to a new scene (``p_cut``, state kept, as a camera pan the detector must
    follow) or restart (``p_reset``, state zeroed, as a new stream).
    """

    def __init__(self, batch: int, size: int, seed: int, p_cut: float = 0.15, p_reset: float = 0.1,
                 max_objects: int = 3) -> None:
        self.rng = np.random.default_rng(seed)
        self.size = size
        self.max_objects = max_objects
        self.p_cut, self.p_reset = p_cut, p_reset
        self.streams = [self._new_stream() for _ in range(batch)]

    def _new_stream(self) -> _Stream:
        objs = []
        for cls, cx, cy, s in random_toy_objects(self.rng, self.size, self.max_objects):
            speed = float(self.rng.choice([0.0, self.rng.uniform(0.5, 3.0)], p=[0.3, 0.7]))
            a = float(self.rng.uniform(0, 2 * math.pi))
            objs.append([cls, cx, cy, s, speed * math.cos(a), speed * math.sin(a)])
        return _Stream(objs, 0, int(self.rng.integers(1 << 30)))

    def next_clip(self, seq_len: int) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], np.ndarray]:
        """-> frames (B, T, H, W, 3) uint8, boxes/labels per frame in (b, t) order (boxes normalised),
        reset (B,) bool: whether each stream starts fresh (its state must be zeroed)."""
        b = len(self.streams)
        reset = np.zeros(b, bool)
        for i in range(b):
            u = self.rng.random()
            if u < self.p_reset:
                self.streams[i] = self._new_stream()
                reset[i] = True
            elif u < self.p_reset + self.p_cut:
                self.streams[i] = self._new_stream()
        frames = np.empty((b, seq_len, self.size, self.size, 3), np.uint8)
        boxes: list[np.ndarray] = []
        labels: list[np.ndarray] = []
        for i, st in enumerate(self.streams):
            for k in range(seq_len):
                img, bx, lb = make_toy_frame(st.t, [tuple(o[:4]) for o in st.objects], self.size, st.seed)
                frames[i, k] = img
                boxes.append(bx / self.size)
                labels.append(lb)
                st.t += 1
                for o in st.objects:  # move, bounce at the borders
                    for d in (1, 2):
                        o[d] += o[d + 3]
                        m = o[3] / 2 + 1
                        if not m <= o[d] <= self.size - m:
                            o[d + 3] = -o[d + 3]
                            o[d] = min(max(o[d], m), self.size - m)
        return frames, boxes, labels, reset


def frames_to_tensor(frames: np.ndarray, preprocess: PreprocessConfig) -> torch.Tensor:
    """(..., H, W, 3) BGR uint8 at the input size -> (..., 3, H, W) as :class:`Detector` preprocesses."""
    x = torch.from_numpy(frames).float()
    x = (x - torch.tensor(preprocess.mean_bgr, dtype=torch.float32)) / preprocess.std
    if preprocess.channel_order == "rgb":
        x = x.flip(-1)
    return x.movedim(-1, -3).contiguous()


@dataclass
class ToyRecipe:
    """How the toy detector is trained (found by trial on two CPU cores; see the module docstring).

    SGD with a high rate and a cosine decay learns far faster from scratch than Adam here; a match threshold of
    0.3 (ignoring background priors above 0.15) gives every object several consistent positives on the coarse
    prior grid, which lifts the scores well above 0.5 (with the SSD 0.5 the single bipartite positive flips
    between neighbours and scores stall near 0.5); the first four MobileNet layers stay at their random
    initialisation (a third less compute, colour edges are enough). Every iteration steps ``batch_frames /
    seq_len`` endless toy videos by ``seq_len`` frames with the state carried (detached) from the previous
    iteration: the layers after the LSTM then see the state statistics of a long stream (training on stills
    and evaluating with carried state, or the reverse, shifts their batch-norm statistics and breaks detection).
    """

    iters: int = 600
    batch_frames: int = 16
    seq_len: int = 1
    p_cut: float = 0.12
    p_reset: float = 0.12
    lr: float = 0.1
    warmup: int = 30
    match_iou: float = 0.3
    ignore_iou: float = 0.15
    max_objects: int = 6
    frozen_layers: int = 4
    input_size: int = 128  # network input; toy frames are rendered at 128 and resized as the Detector does


def train_toy_detector(path: str | Path, *, seconds: float = 90, seed: int = 0,
                       recipe: ToyRecipe | None = None) -> Path:
    """Train the tiny mobile TSSD on toy scenes and save a project-format checkpoint at ``path``.

    Deterministic for a seed: a fixed number of iterations (600: about 60-75 s on one core of a 2-core
    machine); ``seconds`` is only a safety cap for slow machines
    (stopping early then warns and is not reproducible). The checkpoint's postprocess is conf_threshold 0.5,
    nms_iou 0.3.

    Runs single-threaded (restoring the thread count after): the result is then the same whatever the thread
    count, and the small convolutions gain little from a second thread while two threads on a busy machine
    (tests running beside it) slow down by an order of magnitude.
    """
    t_start = time.monotonic()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train_toy(Path(path), seconds, seed, recipe or ToyRecipe(), t_start)
    finally:
        torch.set_num_threads(threads)


def _train_toy(path: Path, seconds: float, seed: int, r: ToyRecipe, t_start: float) -> Path:
    from tssd_ros.model.checkpoint import save_checkpoint
    from tssd_ros.train.init import init_heads
    from tssd_ros.train.losses import LossWeights, pad_targets, tssd_loss

    size = 128
    torch.manual_seed(seed)
    model = TSSD(tiny_config(num_classes=4, input_size=r.input_size))
    init_heads(model)
    for p in model.backbone.layers[: r.frozen_layers].parameters():
        p.requires_grad_(False)
    model.train()
    pre = PreprocessConfig(input_size=r.input_size)
    rng = np.random.default_rng(seed)
    videos = ToyVideos(max(1, r.batch_frames // r.seq_len), size, int(rng.integers(1 << 30)), p_cut=r.p_cut,
                       p_reset=r.p_reset, max_objects=r.max_objects)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=r.lr, momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / r.warmup) * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * i / r.iters)))
    )
    weights = LossWeights(loc=1.0, conf=1.0, attention=0.0, association=0.0)
    state = None
    done, last = 0, float("nan")
    # render the next batch on the second core while this one trains (same order: deterministic)
    pool = ThreadPoolExecutor(1)
    nxt = pool.submit(videos.next_clip, r.seq_len)
    for it in range(r.iters):
        frames, boxes, labels, reset = nxt.result()
        if it + 1 < r.iters:
            nxt = pool.submit(videos.next_clip, r.seq_len)
        prev = None
        if state is not None:  # truncated BPTT: carry the state of the previous clip, zero restarted streams
            keep = torch.from_numpy(~reset).float().view(-1, 1, 1, 1)
            prev = [(h.detach() * keep, c.detach() * keep) for h, c in state]
        gb, gl = pad_targets(boxes, labels)
        if r.input_size != size:
            frames = np.stack([cv2.resize(f, (r.input_size, r.input_size)) for f in frames.reshape(-1, size, size, 3)]
                              ).reshape(*frames.shape[:2], r.input_size, r.input_size, 3)
        out = model(frames_to_tensor(frames, pre), prev)
        state = out["state"]  # type: ignore[assignment]
        terms = tssd_loss(out, gb, gl, model.priors, r.input_size, weights, threshold=r.match_iou, min_neg=8,
                          ignore_iou=r.ignore_iou)
        opt.zero_grad(set_to_none=True)
        terms.total.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()
        sched.step()
        done, last = it + 1, float(terms.total.detach())
        if time.monotonic() - t_start > seconds:
            warnings.warn(f"toy training stopped by its {seconds:.0f} s cap after {done}/{r.iters} iterations",
                          stacklevel=3)
            break
    pool.shutdown(wait=True, cancel_futures=True)
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    post = PostprocessConfig(conf_threshold=0.5, nms_iou=0.3, top_k=50)
    return save_checkpoint(
        model, path, TOY_CLASSES, pre, post, trained_on="toy scenes (tssd_ros.train.toy)",
        notes="tiny mobile TSSD for tests: red urchin discs, yellow scallop squares, green cucumber ellipses",
        iterations=done, final_loss=last, seed=seed, seconds=round(time.monotonic() - t_start, 1),
    )
