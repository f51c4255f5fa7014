"""tssd_ros.train: losses (MultiBox, attention, association), the two-stage trainer and the toy detector.

- ``losses``: ``multibox_loss``, ``attention_loss``, ``association_loss`` (differentiable eq. 4), ``tssd_loss``.
- ``trainer``: ``TrainConfig``, ``Trainer`` (ssd / tssd stage), ``save_trained`` (checkpoint + loss PNG).
- ``toy``: ``make_toy_frame`` and ``train_toy_detector`` (weights that really detect, for tests).
"""
