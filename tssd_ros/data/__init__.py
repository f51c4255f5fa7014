"""tssd_ros.data: the underwater benchmark's data side (numpy/cv2; torch only in ``dataset``).

- ``synth``: synthetic ROV dive renderer with exact ground truth; ``dive``: writes it to disk (MOT layout,
  rosbag2); ``benchmark``: named held-out benchmarks (benchmarks/<name>.yaml).
- ``mot``, ``vid``: MOTChallenge and ImageNet-VID / VOC loaders returning ``sequence.VideoSequence``.
- ``rss``: random skip sampling (paper eq. 5); ``dataset``: torch clip and still datasets.
See docs/underwater_benchmark.md.
"""
