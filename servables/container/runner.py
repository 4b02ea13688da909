"""The modelhub servable runner: serves one servable over the Open Inference Protocol v2 (HTTP/JSON).

It runs inside the images the hub builds (and, without isolation, as a child process of the hub's
process engine). Standard library only: no pip inside images.

  GET  /v2/health/live, /v2/health/ready, /v2, /v2/models/{m}, /v2/models/{m}/ready
  POST /v2/models/{m}/infer   {"inputs": [{"name", "shape", "datatype", "data", "parameters"?}],
                               "parameters"?: {"method"?: str, ...}}

Inputs become plain JSON values (nested lists, strings, numbers) before the servable sees them, the
same values the hub's in-process Python worker gets: one input is passed as itself, several as a
dict by name. A tensor whose parameters say {"content_type": "json"} carries one JSON document.

The servable is loaded by `worker.py` (copied next to this file) through
`load_servable(spec) -> object` and `call_servable(loaded, method, inputs, parameters) -> output`.
"""
import json
import os
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

try:
    import numpy as np
except ImportError:  # generic images may lack numpy; tensors then stay lists
    np = None

V2_TO_NUMPY = {
    "BOOL": "bool", "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64",
    "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
    "FP16": "float16", "FP32": "float32", "FP64": "float64",
}
NUMPY_TO_V2 = {v: k for k, v in V2_TO_NUMPY.items()}


def flatten(data):
    if isinstance(data, list) and data and isinstance(data[0], list):
        out = []
        for item in data:
            out.extend(flatten(item))
        return out
    return list(data) if isinstance(data, list) else [data]


def reshape(flat, shape):
    if len(shape) <= 1:
        return flat if shape else flat[0]
    step = len(flat) // shape[0] if shape[0] else 0
    return [reshape(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def decode_tensor(tensor):
    params = tensor.get("parameters") or {}
    data = flatten(tensor.get("data", []))
    if params.get("content_type") == "json":
        return json.loads(data[0])
    if tensor.get("datatype") == "BOOL":
        data = [bool(x) for x in data]
    return reshape(data, list(tensor.get("shape") or [len(data)]))


def shape_of(value):
    """The shape of a rectangular nested list of numbers, or None."""
    if isinstance(value, bool) or not isinstance(value, (list, int, float)):
        return None
    if not isinstance(value, list):
        return []
    if not value:
        return None
    inner = [shape_of(item) for item in value]
    if inner[0] is None or any(s != inner[0] for s in inner):
        return None
    return [len(value)] + inner[0]


def encode_output(name, value):
    if np is not None and isinstance(value, np.generic):
        value = value.item()
    if np is not None and isinstance(value, np.ndarray) and value.dtype.name in NUMPY_TO_V2:
        return {"name": name, "datatype": NUMPY_TO_V2[value.dtype.name], "shape": list(value.shape),
                "data": value.reshape(-1).tolist()}
    if np is not None and isinstance(value, np.ndarray):
        value = value.tolist()
    shape = shape_of(value)
    if shape is not None and shape:
        flat = flatten(value)
        datatype = "INT64" if all(isinstance(x, int) for x in flat) else "FP64"
        return {"name": name, "datatype": datatype, "shape": shape, "data": flat}
    return {"name": name, "datatype": "BYTES", "shape": [1], "data": [json.dumps(value, default=str)],
            "parameters": {"content_type": "json"}}


class Servable:
    """spec.json: {"name": "owner.name", "version": 1, "type": "sklearn", "worker": <worker.py spec>}."""

    def __init__(self, spec_path):
        with open(spec_path) as handle:
            document = json.load(handle)
        self.spec = document
        self.worker_spec = dict(document.get("worker") or {})
        base = os.path.dirname(os.path.abspath(spec_path))
        self.worker_spec["files_dir"] = os.path.join(base, self.worker_spec.get("files_dir") or "model")
        self.name = document.get("name", "servable")
        self.loaded = None
        self.lock = threading.Lock()

    def load(self):
        import worker
        self.worker = worker
        self.loaded = worker.load_servable(self.worker_spec)

    def call(self, method, inputs, parameters):
        with self.lock:
            return self.worker.call_servable(self.loaded, method, inputs, parameters)


SERVABLE = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # one line per request is noise in container logs
        pass

    def setup(self):
        super().setup()
        # Headers and body go out as separate writes; without TCP_NODELAY, Nagle's algorithm holds
        # the body back until the client's delayed ACK (~40 ms per request on a kept-alive socket).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def reply(self, status, body):
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def ready(self):
        return SERVABLE is not None and SERVABLE.loaded is not None

    def do_GET(self):
        path = self.path.split("?")[0].rstrip("/")
        if path == "/v2/health/live":
            return self.reply(200, {"live": True})
        if path == "/v2/health/ready" or (path.startswith("/v2/models/") and path.endswith("/ready")):
            return self.reply(200 if self.ready() else 503, {"ready": self.ready()})
        if path == "/v2":
            return self.reply(200, {"name": "modelhub-runner", "version": "1", "extensions": []})
        if path.startswith("/v2/models/"):
            return self.reply(200, {"name": SERVABLE.name, "platform": "modelhub-" + SERVABLE.spec.get("type", "python"),
                                    "versions": [str(SERVABLE.spec.get("version", 1))], "inputs": [], "outputs": []})
        return self.reply(404, {"error": "no route " + path})

    def do_POST(self):
        path = self.path.split("?")[0].rstrip("/")
        if not (path.startswith("/v2/models/") and path.endswith("/infer")):
            return self.reply(404, {"error": "no route " + path})
        if not self.ready():
            return self.reply(503, {"error": "the servable is not loaded yet"})
        try:
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            tensors = request.get("inputs") or []
            values = {t["name"]: decode_tensor(t) for t in tensors}
            inputs = next(iter(values.values())) if len(values) == 1 else values
            parameters = dict(request.get("parameters") or {})
            method = parameters.pop("method", "run")
        except Exception as error:  # a malformed request is the caller's fault
            return self.reply(400, {"error": "bad inference request: %s" % error})
        try:
            started = time.perf_counter()
            output = SERVABLE.call(method, inputs, parameters)
            elapsed = (time.perf_counter() - started) * 1000
        except Exception as error:
            traceback.print_exc()
            return self.reply(500, {"error": "%s: %s" % (type(error).__name__, error)})
        reply = {"model_name": SERVABLE.name, "model_version": str(SERVABLE.spec.get("version", 1)),
                 "outputs": [encode_output("output", output)], "parameters": {"inference_ms": elapsed}}
        if request.get("id") is not None:
            reply["id"] = request["id"]
        return self.reply(200, reply)


def main():
    global SERVABLE
    # Run as a child process of the hub (MODELHUB_CONTAINERS=process), exit when the hub dies.
    parent = os.environ.get("MODELHUB_PARENT_PID")
    if parent:
        try:
            from worker import die_with_parent
        except ImportError:  # an image without worker.py: the hub reaps it at its next start
            pass
        else:
            die_with_parent(int(parent))
    host = os.environ.get("MODELHUB_RUNNER_HOST", "0.0.0.0")
    port = int(os.environ.get("MODELHUB_RUNNER_PORT", "8080"))
    spec = os.environ.get("MODELHUB_RUNNER_SPEC", os.path.join(HERE, "spec.json"))
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    SERVABLE = Servable(spec)
    try:
        SERVABLE.load()
    except Exception:
        # Dying here lets the engine report "exited before it became ready" with this traceback.
        traceback.print_exc()
        sys.exit(3)
    print("modelhub runner: %s ready on %s:%d" % (SERVABLE.name, host, port), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
