"""Named synthetic benchmarks (benchmarks/<name>.yaml): a fixed list of dives rendered on first use.

Why: a held-out benchmark is only meaningful if everyone evaluates the very same frames, and if its seeds
never leak into training. The YAML fixes seeds, presets, lengths and size; the sequences are rendered
deterministically into a cache directory (benchmarks/cache/<name>/, or $TSSD_CACHE/benchmarks/<name>/)
and re-rendered when the definition changes (a fingerprint is stored beside them).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from tssd_ros.data.synth import GENERATOR_VERSION, PRESETS, SynthConfig
from tssd_ros.errors import InputError
from tssd_ros.paths import read_yaml

#: seeds reserved for training data (inclusive); benchmark seeds must be >= BENCHMARK_MIN_SEED
TRAIN_SEEDS = (0, 9999)
BENCHMARK_MIN_SEED = 90000
REPO_BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@dataclass
class BenchmarkSequence:
    name: str
    config: SynthConfig


@dataclass
class Benchmark:
    name: str
    version: int
    sequences: list[BenchmarkSequence]
    source: Path

    def fingerprint(self, seq: BenchmarkSequence) -> str:
        blob = json.dumps({"v": self.version, "cfg": asdict(seq.config), "gen": GENERATOR_VERSION}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _find(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        return p
    for base in (Path.cwd() / "benchmarks", REPO_BENCHMARKS):
        cand = base / f"{name_or_path}.yaml"
        if cand.is_file():
            return cand
    raise InputError(f"unknown benchmark '{name_or_path}': no benchmarks/{name_or_path}.yaml (or give a .yaml path)")


def load_benchmark(name_or_path: str) -> Benchmark:
    """Parse and validate a benchmark definition (by name, e.g. 'underwater', or by path)."""
    path = _find(name_or_path)
    doc = read_yaml(path, "benchmark definition")
    if not isinstance(doc, dict) or not isinstance(doc.get("sequences"), list) or not doc["sequences"]:
        raise InputError(f"{path}: expected a mapping with a non-empty 'sequences' list")
    size = str(doc.get("size", "640x480"))
    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise InputError(f"{path}: size must look like 640x480, got '{size}'") from None
    min_seed = int(doc.get("min_seed", BENCHMARK_MIN_SEED))
    seqs = []
    for k, s in enumerate(doc["sequences"]):
        if not isinstance(s, dict) or "seed" not in s:
            raise InputError(f"{path}: sequence {k + 1} needs at least a seed")
        seed = int(s["seed"])
        if seed < min_seed:
            raise InputError(f"{path}: seed {seed} < {min_seed}: seeds below are reserved for training")
        preset = str(s.get("preset", "clear"))
        if preset not in PRESETS:
            raise InputError(f"{path}: unknown preset '{preset}' (choose {', '.join(PRESETS)})")
        cfg = SynthConfig(seed=seed, frames=int(s.get("frames", doc.get("frames", 300))), width=w, height=h,
                          fps=float(s.get("fps", doc.get("fps", 15))), preset=preset,
                          density=float(s.get("density", doc.get("density", 1.0))))
        seqs.append(BenchmarkSequence(str(s.get("name", f"{preset}-{seed}")), cfg))
    names = [s.name for s in seqs]
    if len(set(names)) != len(names):
        raise InputError(f"{path}: duplicate sequence names")
    return Benchmark(str(doc.get("name", path.stem)), int(doc.get("version", 1)), seqs, path)


def default_cache_dir(bench: Benchmark) -> Path:
    env = os.environ.get("TSSD_CACHE")
    if env:
        return Path(env) / "benchmarks" / bench.name
    return bench.source.parent / "cache" / bench.name


def ensure_benchmark(bench: Benchmark, cache_dir: str | Path | None = None, progress: bool = True) -> list[Path]:
    """Sequence folders of the benchmark, rendering the missing or outdated ones first."""
    from tssd_ros.data.dive import write_dive

    root = Path(cache_dir) if cache_dir else default_cache_dir(bench)
    out = []
    for seq in bench.sequences:
        d = root / seq.name
        stamp = d / ".fingerprint"
        fp = bench.fingerprint(seq)
        if not (stamp.is_file() and stamp.read_text().strip() == fp):
            write_dive(d, seq.config, force=True, progress=progress)
            stamp.write_text(fp + "\n")
        out.append(d)
    return out
