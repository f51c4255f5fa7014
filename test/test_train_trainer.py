"""The one trainer (`tssd train CONFIG.yaml`): each stage learns, freezing holds, checkpoints load and resume."""

from __future__ import annotations

import csv
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import write_stills

from tssd_ros.cli import main
from tssd_ros.model import load_detector
from tssd_ros.model.config import tiny_config
from tssd_ros.model.tssd import TSSD
from tssd_ros.train.config import run_config_from_dict
from tssd_ros.train.init import init_heads
from tssd_ros.train.sources import DataMix, StageDataset, stream_episode
from tssd_ros.train.trainer import (
    _collate,
    build_optimizers,
    optimizer_step,
    preprocess_fn,
    recurrent_parameters,
    set_trainable,
    stage_loss,
)

pytestmark = pytest.mark.usefixtures("one_thread")

TOY = ["seaurchin", "scallop", "seacucumber"]
MODEL = {"backbone": "mobilenet_v1", "temporal": "bottleneck_lstm", "input_size": 96, "alpha": 0.25}
DATA = [{"kind": "toy", "seeds": "1..6", "options": {"length": 24, "size": 96}}]


def _cfg(tmp: Path, stages: list[dict], **kw) -> dict:
    return {"out": str(tmp / "run"), "classes": TOY, "model": MODEL, "data": DATA, "stages": stages,
            "checkpoint_minutes": 60, **kw}


STAGES = [
    {"name": "ssd", "kind": "ssd", "iters": 3, "batch": 4, "lr": 0.01, "warmup": 1, "augment": True},
    {"name": "tssd", "kind": "tssd", "iters": 2, "batch": 2, "seq_len": 3, "lr": 0.01, "warmup": 1,
     "freeze_backbone": True, "still_clips_share": 0.0},
    {"name": "assoc", "kind": "assoc", "iters": 2, "batch": 2, "seq_len": 3, "lr": 0.01, "warmup": 1,
     "freeze_backbone": True, "still_clips_share": 0.0},
]


def _batch(cfg, stage_i: int, n: int):
    mix = DataMix(cfg.data, cfg)
    st = cfg.stages[stage_i]
    from tssd_ros.model.config import PreprocessConfig

    ds = StageDataset(mix, st, stage_i, preprocess_fn(PreprocessConfig(input_size=96)), 0, 1000)
    return _collate([ds[k] for k in range(n)])


def _small_steps(model: TSSD, stage) -> list[torch.optim.Optimizer]:
    """The stage's optimisers at a small rate, its parameters trainable, batch-norm statistics fixed (eval):
    the same function before and after a step, which then must lower the loss."""
    opts = build_optimizers(model, stage)
    for o in opts:
        for g in o.param_groups:
            g["lr"] = 1e-3 * g["base_lr"] / stage.lr
    set_trainable(model, stage, 10**6, bn_frozen=False)
    model.eval()
    return opts


@pytest.mark.parametrize("stage_i", [0, 1, 2])
def test_one_step_of_each_stage_lowers_its_loss(tmp_path, stage_i):
    cfg = run_config_from_dict(_cfg(tmp_path, STAGES))
    stage = cfg.stages[stage_i]
    torch.manual_seed(0)
    model = TSSD(tiny_config(num_classes=4, input_size=96))
    init_heads(model)
    x, targets = _batch(cfg, stage_i, stage.batch)
    assert sum(len(t["boxes"]) for clip in (targets if stage.temporal else [targets]) for t in clip) > 0
    opts = _small_steps(model, stage)
    before, _ = stage_loss(model, x, targets, stage, torch.device("cpu"))
    if stage.kind == "assoc":
        assert before.association > 0
    optimizer_step(model, opts, before.total, stage)
    after, _ = stage_loss(model, x, targets, stage, torch.device("cpu"))
    assert float(after.total.detach()) < float(before.total.detach())


def test_association_loss_has_a_gradient(tmp_path):
    cfg = run_config_from_dict(_cfg(tmp_path, STAGES))
    stage = cfg.stages[2]
    model = TSSD(tiny_config(num_classes=4, input_size=96))
    x, targets = _batch(cfg, 2, 2)
    only_assoc = stage.__class__(**{**stage.__dict__, "loss_loc": 0.0, "loss_conf": 0.0})
    terms, _ = stage_loss(model, x, targets, only_assoc, torch.device("cpu"))
    terms.total.backward()
    grads = [p.grad.abs().sum() for p in model.heads.conf.parameters() if p.grad is not None]
    assert grads and float(sum(grads)) > 0


def test_stages_freeze_and_checkpoints_load_and_resume(tmp_path, capsys):
    doc = _cfg(tmp_path, STAGES)
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(doc))
    # stop after 4 iterations (inside stage 2), then resume with the same command
    assert main(["train", str(tmp_path / "run.yaml"), "--max-iters", "4", "--quiet"]) == 0
    assert "resume with the same command" in capsys.readouterr().out
    run = tmp_path / "run"
    last = load_detector(run / "last.pt")  # every checkpoint is a detector
    assert last.class_names == tuple(TOY)
    ssd = torch.load(run / "ssd.pt", weights_only=True)
    assert ssd["config"]["stateless"] is True  # the SSD stage's output is the single-frame SSD
    assert torch.load(run / "last.pt", weights_only=True)["train_state"]["iter"] == 1
    assert main(["train", str(tmp_path / "run.yaml"), "--quiet"]) == 0
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert [(r["stage"], int(r["iter"])) for r in rows] == (
        [("ssd", i) for i in (1, 2, 3)] + [("tssd", i) for i in (1, 2)] + [("assoc", i) for i in (1, 2)])
    # the backbone frozen in stages 2-3 is unchanged, the recurrent cell trained
    a = torch.load(run / "ssd.pt", weights_only=True)["state_dict"]
    b = torch.load(run / "assoc.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("backbone."))
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("temporal."))
    assert (run / "curves.png").stat().st_size > 1000
    det = load_detector(run / "assoc.pt")
    det.step(np.zeros((96, 96, 3), np.uint8))


def test_every_stage_is_scored_on_the_val_stills(tmp_path, capsys):
    """``val:`` still datasets are scored after each stage (the stage's file through load_detector, the COCO
    evaluator), logged and kept in val.csv; a video source there is a one-line config error."""
    coco = write_stills(tmp_path / "d") / "coco.json"
    doc = _cfg(tmp_path, [{**STAGES[0], "iters": 1}, {**STAGES[1], "iters": 1}],
               val=[{"kind": "coco", "path": str(coco)}], val_limit=2)
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(doc))
    assert main(["train", str(tmp_path / "run.yaml"), "--quiet"]) == 0
    assert "stage tssd: val coco.json (2 images) mAP@0.5" in capsys.readouterr().out
    rows = list(csv.DictReader(open(tmp_path / "run" / "val.csv")))
    assert [(r["stage"], r["source"], int(r["images"])) for r in rows] == [("ssd", "coco.json", 2),
                                                                            ("tssd", "coco.json", 2)]
    assert all(0.0 <= float(r["mAP50"]) <= 1.0 for r in rows)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({**doc, "val": [{"kind": "synth", "seeds": [1]}]}))
    assert main(["train", str(tmp_path / "bad.yaml"), "--quiet"]) == 2
    assert "val sources are still datasets" in capsys.readouterr().err
    # a val file that is not there fails before any training, not after the first stage
    missing = {**doc, "out": str(tmp_path / "run2"), "val": [{"kind": "coco", "path": str(tmp_path / "no.json")}]}
    (tmp_path / "missing.yaml").write_text(yaml.safe_dump(missing))
    assert main(["train", str(tmp_path / "missing.yaml"), "--quiet"]) == 2
    assert not (tmp_path / "run2" / "log.csv").exists()


def test_weight_ema_is_the_hand_computed_average():
    from tssd_ros.train.ema import WeightEMA

    net = torch.nn.BatchNorm1d(1)
    ema = WeightEMA(net, decay=0.5)
    values = [2.0, 4.0, 8.0]
    for v in values:
        with torch.no_grad():
            net.weight.fill_(v)
            net.running_mean.fill_(-v)
        ema.update(net)
    expect = (2.0 * 0.5 + 4.0 * 0.5) * 0.5 + 8.0 * 0.5  # the first update copies, then halves toward each
    target = torch.nn.BatchNorm1d(1)
    ema.copy_to(target)
    assert float(target.weight) == pytest.approx(expect) and float(target.running_mean) == pytest.approx(-expect)
    assert ema.updates == 3 and float(net.weight) == 8.0  # the trained model itself is untouched
    with pytest.raises(ValueError):
        WeightEMA(net, decay=1.0)


def test_ema_stage_output_is_the_average_and_survives_a_resume(tmp_path, capsys):
    """With ``ema_decay`` the stage's file holds the averaged weights; a run stopped mid-stage and resumed
    writes the same file as one that was not stopped (the average travels in the resume point)."""
    st = {**STAGES[0], "iters": 4, "augment": False}

    def train(name: str, ema: float, stops: list[int]) -> dict:
        doc = {**_cfg(tmp_path, [{**st, "ema_decay": ema}]), "out": str(tmp_path / name)}
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(doc))
        for n in stops:
            assert main(["train", str(tmp_path / f"{name}.yaml"), "--quiet"] + (["--max-iters", str(n)] if n else [])
                        ) == 0
        return torch.load(tmp_path / name / "ssd.pt", weights_only=True)["state_dict"]

    whole = train("whole", 0.6, [0])
    assert "weights averaged over 4 updates" in capsys.readouterr().out
    resumed = train("resumed", 0.6, [2, 0])
    raw = train("raw", 0.0, [0])
    floats = [k for k, v in whole.items() if v.is_floating_point()]
    assert all(torch.allclose(whole[k], resumed[k], atol=1e-6) for k in floats)
    assert any(not torch.allclose(whole[k], raw[k], atol=1e-6) for k in floats)
    assert load_detector(tmp_path / "whole" / "ssd.pt").class_names == tuple(TOY)


def test_a_run_stopped_at_a_stage_boundary_resumes_exactly(tmp_path):
    """Stopped right after stage 1 (the resume point then holds stage 2, iteration 0), the run goes on drawing
    dropout where it stopped: stage 2's file is the one an unstopped run writes."""
    stages = [{**STAGES[0], "iters": 2, "augment": False}, {**STAGES[1], "iters": 2}]

    def train(name: str, stops: list[int]) -> dict:
        doc = {**_cfg(tmp_path, stages), "out": str(tmp_path / name)}
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(doc))
        for n in stops:
            assert main(["train", str(tmp_path / f"{name}.yaml"), "--quiet"] + (["--max-iters", str(n)] if n else [])
                        ) == 0
        return torch.load(tmp_path / name / "tssd.pt", weights_only=True)["state_dict"]

    whole, resumed = train("whole", [0]), train("resumed", [2, 0])
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


def test_resume_refuses_another_model(tmp_path):
    doc = _cfg(tmp_path, STAGES[:1])
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(doc))
    assert main(["train", str(tmp_path / "a.yaml"), "--max-iters", "1", "--quiet"]) == 0
    doc["model"] = {**MODEL, "alpha": 0.5}
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(doc))
    assert main(["train", str(tmp_path / "b.yaml"), "--quiet"]) != 0


def test_stream_episodes_continue_a_video_and_restart_staggered(tmp_path):
    st = {"name": "s", "kind": "tssd", "iters": 20, "batch": 4, "seq_len": 2, "stream_episode": 4,
          "still_clips_share": 0.0}
    cfg = run_config_from_dict(_cfg(tmp_path, [st]))
    stage = cfg.stages[0]
    pos = [[stream_episode(stage, it, b)[1] for b in range(4)] for it in range(6)]
    assert pos[0] == [0, 1, 2, 3] and pos[1] == [1, 2, 3, 0]  # one slot restarts per iteration
    mix = DataMix(cfg.data, cfg)
    ds = StageDataset(mix, stage, 0, preprocess_fn(__import__("tssd_ros.model.config", fromlist=["x"])
                                                   .PreprocessConfig(input_size=96)), 0, 1000)
    # slot 0 at iterations 1 and 2 (same episode): the second clip continues the first
    s1, i1 = ds._stream_frames(1 * 4 + 0)
    s2, i2 = ds._stream_frames(2 * 4 + 0)
    assert s1 is s2 and (i2[0] - i1[-1]) % len(s1) == (i1[1] - i1[0]) % len(s1)


def test_pretrained_backbone_loads_strictly(tmp_path):
    from tssd_ros.errors import CheckpointError
    from tssd_ros.train.pretrained import load_pretrained_backbone

    model = TSSD(tiny_config(num_classes=4, input_size=96))
    sd = {f"backbone.{k}": v for k, v in model.backbone.state_dict().items()}
    blob = {k[len("backbone."):]: torch.randn_like(v) if v.is_floating_point() else v for k, v in sd.items()}
    blob["fc.weight"] = torch.zeros(10, 8)
    torch.save(blob, tmp_path / "bb.pth")
    info = load_pretrained_backbone(model, tmp_path / "bb.pth")
    assert len(info["sha256"]) == 64
    assert torch.equal(model.backbone.features[3][1][0].weight, blob["features.3.1.0.weight"])
    del blob["features.13.1.1.bias"]
    torch.save(blob, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="does not fit"):
        load_pretrained_backbone(model, tmp_path / "bad.pth")


SHARED = Path(__file__).resolve().parents[2] / "shared" / "pretrained"


@pytest.mark.skipif(not (SHARED / "mobilenet_v1_0.5.pth").is_file(), reason="../shared/pretrained is absent")
def test_shared_pretrained_mobilenets_fit_the_backbone():
    """The ImageNet files load strictly and, in eval mode, classify (their own fc on our features): a
    constant image gives the same top class twice and the features are not degenerate."""
    from tssd_ros.model.config import DetectorConfig
    from tssd_ros.train.pretrained import load_pretrained_backbone

    for alpha, name in ((0.5, "mobilenet_v1_0.5.pth"), (0.75, "mobilenet_v1_0.75.pth")):
        model = TSSD(DetectorConfig(backbone="mobilenet_v1", temporal="none", num_classes=5, input_size=160,
                                    alpha=alpha, min_stride=8)).eval()
        info = load_pretrained_backbone(model, SHARED / name)
        assert info["source"]
        with torch.no_grad():
            feats = model.backbone(torch.rand(1, 3, 160, 160) * 2 - 1)
        assert [f.shape[-1] for f in feats] == [20, 10, 5]
        assert float(feats[-1].std()) > 0.01


def test_recurrent_parameters_get_rmsprop(tmp_path):
    cfg = run_config_from_dict(_cfg(tmp_path, STAGES))
    model = TSSD(tiny_config(num_classes=4, input_size=96))
    opts = build_optimizers(model, cfg.stages[1])
    assert [type(o).__name__ for o in opts] == ["SGD", "RMSprop"]
    assert {id(p) for p in opts[1].param_groups[0]["params"]} == {id(p) for p in recurrent_parameters(model)}
    st = cfg.stages[1].__class__(**{**cfg.stages[1].__dict__, "backbone_lr_mult": 0.1})
    sgd = build_optimizers(model, st)[0]
    assert [g["base_lr"] for g in sgd.param_groups] == [st.lr, pytest.approx(st.lr * 0.1)]
    assert {id(p) for p in sgd.param_groups[1]["params"]} == {id(p) for p in model.backbone.parameters()}


@pytest.mark.parametrize("bad,match", [
    ({"stages": [{"name": "a", "kind": "video"}]}, "kind must be one of"),
    ({"data": [{"kind": "coco"}]}, "needs a path"),
    ({"stages": [{"name": "a", "iters": 0}]}, "iters must be >= 1"),
    ({"model": {**MODEL, "alpha": "x"}}, None),
    ({"bogus": 1}, "unknown keys"),
    ({"stages": [{"name": "a", "ema_decay": 1.0}]}, "ema_decay must be in [0, 1)"),
])
def test_bad_configs_are_one_line_errors(tmp_path, capsys, bad, match):
    doc = {**_cfg(tmp_path, STAGES[:1]), **bad}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(doc))
    assert main(["train", str(tmp_path / "c.yaml"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and (match is None or match in err)


def test_ddp_with_torchrun_on_cpu(tmp_path):
    """Two processes (gloo) train one run: each takes every other sample, rank 0 writes the checkpoints."""
    import os
    import shutil
    import subprocess
    import sys

    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    doc = _cfg(tmp_path, [{**STAGES[0], "iters": 2}], threads=1)
    (tmp_path / "ddp.yaml").write_text(yaml.safe_dump(doc))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "tssd_ros.cli", "train",
                        str(tmp_path / "ddp.yaml"), "--quiet"], capture_output=True, text=True, timeout=300,
                       env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    assert [int(x["iter"]) for x in rows] == [1, 2]  # one writer
    assert load_detector(tmp_path / "run" / "ssd.pt").class_names == tuple(TOY)


def test_cpu_bf16_only_where_the_cpu_runs_it(monkeypatch, tmp_path, capsys):
    """``cpu_bf16`` turns on bfloat16 autocast on a CPU with native bfloat16; elsewhere it says so and trains in
    float32 (emulated bfloat16 is slower); ``amp`` alone never changes CPU training."""
    import tssd_ros.train.trainer as T

    cpu, said = torch.device("cpu"), []
    on = run_config_from_dict({**_cfg(Path("."), STAGES[:1]), "cpu_bf16": True})
    off = run_config_from_dict({**_cfg(Path("."), STAGES[:1]), "amp": True})
    monkeypatch.setattr(T, "cpu_bf16_supported", lambda: True)
    assert T.autocast_wanted(on, cpu, said.append) and not T.autocast_wanted(off, cpu, said.append)
    monkeypatch.setattr(T, "cpu_bf16_supported", lambda: False)
    assert not T.autocast_wanted(on, cpu, said.append)
    assert "bfloat16 autocast" in said[0] and "training in float32" in said[-1]
    monkeypatch.setattr(T, "cpu_bf16_supported", lambda: True)  # the trainer asks the same rule
    seen = []
    monkeypatch.setattr(T.torch, "autocast", lambda device_type, dtype: seen.append((device_type, dtype))
                        or nullcontext())
    (tmp_path / "run.yaml").write_text(yaml.safe_dump({**_cfg(tmp_path, STAGES[:1]), "cpu_bf16": True}))
    assert main(["train", str(tmp_path / "run.yaml"), "--max-iters", "1", "--quiet"]) == 0
    assert seen == [("cpu", torch.bfloat16)] and "cpu_bf16: bfloat16 autocast" in capsys.readouterr().out


@pytest.mark.skipif(not __import__("tssd_ros.train.trainer").train.trainer.cpu_bf16_supported(),
                    reason="this CPU has no native bfloat16")
def test_cpu_bf16_step_is_the_float32_objective_and_trains(tmp_path):
    cfg = run_config_from_dict(_cfg(tmp_path, STAGES))
    stage = cfg.stages[0]
    torch.manual_seed(0)
    model = TSSD(tiny_config(num_classes=4, input_size=96))
    init_heads(model)
    x, targets = _batch(cfg, 0, stage.batch)
    opts = _small_steps(model, stage)
    cpu = torch.device("cpu")
    fp32, _ = stage_loss(model, x, targets, stage, cpu)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16, _ = stage_loss(model, x, targets, stage, cpu)
    a, b = float(fp32.total.detach()), float(bf16.total.detach())
    assert a != b and abs(a - b) / a < 0.02  # autocast ran, and it is the same objective
    optimizer_step(model, opts, bf16.total, stage)  # the bfloat16 gradient is a descent direction
    after, _ = stage_loss(model, x, targets, stage, cpu)
    assert float(after.total.detach()) < a
    assert all(p.dtype == torch.float32 for p in model.parameters())
