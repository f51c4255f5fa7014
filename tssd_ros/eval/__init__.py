"""tssd_ros.eval: detection and tracking metrics (``mot``: MOTChallenge HOTA/CLEAR/IDF1 via TrackEval)."""
