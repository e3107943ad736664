#!/usr/bin/env python3
"""Reference implementation of DeepLIIF's segmentation metrics in Python/numpy, for the benchmark.

Written for this project from the rule in the reference notes (not DeepLIIF's code): pair
NAME_SegRefined.png with NAME.png, read RGB, resize to 512x512 with OpenCV's default bilinear when
needed, positive = red > 0, negative = blue > 0, per-image TP/FP/FN/TN, the TP = 0 rule,
macro average (unsuffixed metrics in percent). Single process, like DeepLIIF's script.

Needs numpy and either OpenCV (python3-opencv) or Pillow (python3-pil; 512x512 inputs only).
On Debian: apt-get install -y python3-numpy python3-pil python3-opencv, then run with
/usr/bin/python3 (a `python3` on PATH may be a pyenv shim without these packages).

Prints one JSON object: {"metrics": {...}, "pairs": N, "seconds": S, "cpu_seconds": C,
"peak_rss_mb": M, "decoder": "cv2"|"pil"}.
"""
import argparse
import json
import os
import resource
import sys
import time

import numpy as np

BASES = ['precision', 'recall', 'f1', 'Dice', 'IOU', 'PixAcc']


def make_reader(decoder):
    if decoder == 'cv2':
        import cv2

        def read(path):
            img = cv2.imread(path)  # BGR, 8-bit, alpha dropped
            if img is None:
                raise SystemExit(f'{path}: unreadable image')
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            if img.shape[0] != 512 or img.shape[1] != 512:
                img = cv2.resize(img, (512, 512))
            return img
    else:
        from PIL import Image

        def read(path):
            img = np.asarray(Image.open(path).convert('RGB'))
            if img.shape[0] != 512 or img.shape[1] != 512:
                raise SystemExit(f'{path}: not 512x512 (the PIL reference does not resize)')
            return img
    return read


def class_metrics(pred, gt):
    tp = int(np.count_nonzero(pred & gt))
    fp = int(np.count_nonzero(pred & ~gt))
    fn = int(np.count_nonzero(~pred & gt))
    tn = pred.size - tp - fp - fn
    if tp == 0:
        v = 0 if (fn > 0 or fp > 0) else 1
        return {b: v for b in BASES}
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    return {
        'IOU': tp / (tp + fp + fn),
        'precision': precision,
        'recall': recall,
        'f1': 2 * precision * recall / (precision + recall),
        'Dice': (2 * tp) / (2 * tp + fp + fn),
        'PixAcc': (tp + tn) / (tp + tn + fp + fn),
    }


def peak_rss_kb():
    """VmHWM (not inherited across exec, unlike ru_maxrss), falling back to getrusage."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--gt', required=True)
    ap.add_argument('--pred', required=True)
    ap.add_argument('--suffix', default='_SegRefined.png')
    ap.add_argument('--decoder', choices=['cv2', 'pil'], default=None)
    args = ap.parse_args()
    decoder = args.decoder
    if decoder is None:
        try:
            import cv2  # noqa: F401
            decoder = 'cv2'
        except ImportError:
            decoder = 'pil'
    read = make_reader(decoder)

    start = time.perf_counter()
    cpu_start = time.process_time()
    names = sorted(n for n in os.listdir(args.pred) if n.endswith(args.suffix))
    sums = {}
    for b in BASES:
        sums[b] = 0.0
        sums[b + '_positive'] = 0.0
        sums[b + '_negative'] = 0.0
    for name in names:
        gt_name = name[: -len(args.suffix)] + '.png'
        pred = read(os.path.join(args.pred, name))
        gt = read(os.path.join(args.gt, gt_name))
        pos = class_metrics(pred[:, :, 0] > 0, gt[:, :, 0] > 0)
        neg = class_metrics(pred[:, :, 2] > 0, gt[:, :, 2] > 0)
        for b in BASES:
            sums[b] += (pos[b] * 100 + neg[b] * 100) / 2
            sums[b + '_positive'] += pos[b]
            sums[b + '_negative'] += neg[b]
    if not names:
        raise SystemExit('no prediction files')
    metrics = {k: v / len(names) for k, v in sums.items()}
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    peak_kb = peak_rss_kb()
    json.dump({'metrics': metrics, 'pairs': len(names), 'seconds': seconds, 'cpu_seconds': cpu_seconds,
               'peak_rss_mb': peak_kb / 1024, 'decoder': decoder}, sys.stdout)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
