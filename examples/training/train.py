#!/usr/bin/env python3
"""Demo training for A1_Submit_WMLA_Training: finds the two luminance thresholds of the demo model.

Pure Python (no numpy, no torch), so it runs on WMLA and on the local sandbox alike. Each worker
(RANK of WORLD_SIZE, set by WMLA) draws the same synthetic pixels (background, negative and
positive nuclei with noise, like src/lib/pipeline/demo-data.ts) and searches the thresholds with
the best accuracy, coarse to fine; rank 0 writes the result to RESULT_DIR.
"""
import json
import os
import random
import sys

try:  # the runbook's distPyTorch snippet lives in dist_setup.py; without torch there is no process group
    import torch  # noqa: F401
    import dist_setup  # noqa: F401
except ImportError:
    print("torch is not installed: training without a torch process group", flush=True)

RANK = int(os.environ.get("RANK", "0"))
WORLD = int(os.environ.get("WORLD_SIZE", "1"))
EPOCHS = int(sys.argv[sys.argv.index("--epochs") + 1]) if "--epochs" in sys.argv else 3

rng = random.Random(20240611)
CLASSES = {"background": 28, "negative": 129, "positive": 216}
pixels = [(name, min(255, max(0, rng.gauss(mean, 14)))) for name, mean in CLASSES.items() for _ in range(3000)]


def accuracy(threshold, positive_names):
    right = sum(1 for name, lum in pixels if (lum >= threshold) == (name in positive_names))
    return right / len(pixels)


best = {}
for epoch in range(1, EPOCHS + 1):
    step = max(1, 8 // epoch)
    candidates = range(0, 256, step)  # coarse to fine
    cells = max(candidates, key=lambda t: accuracy(t, ("negative", "positive")))
    positive = max(candidates, key=lambda t: accuracy(t, ("positive",)))
    best = {"cell_threshold": cells, "positive_threshold": positive,
            "cell_accuracy": round(accuracy(cells, ("negative", "positive")), 4),
            "positive_accuracy": round(accuracy(positive, ("positive",)), 4)}
    print("worker %d/%d epoch %d/%d: %s" % (RANK, WORLD, epoch, EPOCHS, json.dumps(best)), flush=True)

if RANK == 0:
    out = os.environ.get("RESULT_DIR", ".")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "threshold.json"), "w") as f:
        json.dump(dict(best, model="threshold-segmentation"), f, indent=2)
    print("wrote %s" % os.path.join(out, "threshold.json"), flush=True)
