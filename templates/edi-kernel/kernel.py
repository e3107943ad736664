#!/usr/bin/env python
"""Demo EDI kernel: threshold segmentation of a PNG, and ping-pong echo of anything else.

Request  {"image": "<base64 PNG>", "threshold": 128}
Response {"status": "finished", "mask": "<base64 PNG, 8-bit gray: 255 = foreground>",
          "width": W, "height": H, "threshold": T, "foreground_fraction": F}
Any other JSON object is echoed back unchanged (a liveness check). A bad request gets
{"status": "failed", "msg": "Error: ..."} with HTTP 200, as the predecessor's kernels answer.

Pure Python (zlib only): runs on the plain python3 of the sandbox and on any EDI runtime.
"""

import redhareapiversion  # noqa: F401  (selects the kernel API on a real cluster)
from redhareapi import Kernel

import base64
import json
import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # color type -> samples per pixel (8-bit, no palette)


def decode_png(data):
    """(width, height, channels, rows of bytes) of an 8-bit, non-interlaced, non-palette PNG."""
    if data[:8] != PNG_SIGNATURE:
        raise ValueError("not a PNG")
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("PNG without IHDR")
    width, height, depth, color, _, _, interlace = header
    if depth != 8 or color not in CHANNELS or interlace != 0:
        raise ValueError("only 8-bit gray/RGB/RGBA non-interlaced PNGs are supported")
    bpp = CHANNELS[color]
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            up_left = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else up_left)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, bpp, rows


def encode_gray_png(width, height, rows):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + row for row in rows)
    return (PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def threshold_mask(png_bytes, threshold):
    """Foreground = luminance (ITU-R 601: 0.299 R + 0.587 G + 0.114 B) >= threshold; alpha ignored."""
    width, height, bpp, rows = decode_png(png_bytes)
    mask_rows, foreground = [], 0
    for row in rows:
        out = bytearray(width)
        for x in range(width):
            px = row[x * bpp:(x + 1) * bpp]
            lum = px[0] if bpp <= 2 else (299 * px[0] + 587 * px[1] + 114 * px[2]) / 1000.0
            if lum >= threshold:
                out[x] = 255
                foreground += 1
        mask_rows.append(bytes(out))
    return width, height, encode_gray_png(width, height, mask_rows), foreground / float(width * height)


class ThresholdKernel(Kernel):

    def on_kernel_start(self, kernel_context):
        self.model = json.loads(kernel_context.get_model_description())
        Kernel.log_info("kernel for model %s started" % self.model.get("name"))

    def on_task_invoke(self, task_context):
        while task_context is not None:
            try:
                request = json.loads(task_context.get_input_data())
                if isinstance(request, dict) and "image" in request:
                    threshold = request.get("threshold", 128)
                    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not 0 <= threshold <= 255:
                        raise ValueError("threshold must be a number from 0 to 255")
                    width, height, mask, fraction = threshold_mask(base64.b64decode(request["image"]), threshold)
                    output = {"status": "finished", "mask": base64.b64encode(mask).decode("ascii"), "width": width,
                              "height": height, "threshold": threshold, "foreground_fraction": fraction}
                else:
                    output = request
            except Exception as e:  # a bad request is answered, never raised (see README.md)
                Kernel.log_error("request failed: %s" % e)
                output = {"status": "failed", "msg": "Error: %s" % e}
            task_context.set_output_data(json.dumps(output))
            task_context = task_context.next()

    def on_kernel_shutdown(self):
        Kernel.log_info("kernel shutting down")


if __name__ == "__main__":
    ThresholdKernel().run()
