"""tssd_ros.train: one trainer for every detector the project ships or tests with (`tssd train CONFIG.yaml`).

- ``config``: ``RunConfig`` (model, data sources, stages) read from YAML; ``StageConfig``, ``DataSource``.
- ``trainer``: ``RunTrainer`` (stages ssd / tssd / assoc, resumable, CPU / CUDA bf16 / DDP), ``stage_loss``.
- ``sources``: data sources (COCO / YOLO stills, MOT, synthetic dives, toy videos) mixed by weight.
- ``augment``: SSD augmentation (photometric, expand, crop, mirror). ``pretrained``: ImageNet backbones.
- ``losses``: ``multibox_loss``, ``attention_loss``, ``association_loss`` (differentiable eq. 4), ``tssd_loss``.
- ``toy``: ``make_toy_frame`` and ``ToyVideo`` (the toy world of the test detector, config/train/toy.yaml).
- ``curves``: the run's loss-curve PNG.
"""
