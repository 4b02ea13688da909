"""Serve this downloaded modelhub servable on your own machine, as the hub serves it.

    python3 serve.py [--host 127.0.0.1] [--port 8080]

  POST /run     {"inputs": ..., "parameters": {...}, "method": "run"}  ->  {"output": ...}
  GET  /health  {"ready": true}

The model files are in model/, and worker.py is the hub's own Python worker: it loads the files and
calls the servable exactly as the hub does (same spec.json), so the same inputs give the same output.
The libraries it needs are listed in requirements.txt (if any) and in metadata.json
(hub.dependencies); install them first, e.g. `python3 -m pip install -r requirements.txt`.
Standard library only besides what the servable itself imports.
"""
import argparse
import json
import os
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import worker  # noqa: E402  (the hub's worker, shipped beside this script)


def load(spec_path):
    with open(spec_path) as handle:
        document = json.load(handle)
    spec = dict(document['worker'])
    spec['files_dir'] = os.path.join(HERE, spec.get('files_dir') or 'model')
    return document, worker.load_servable(spec)


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    document = None
    loaded = None
    # One call at a time, as one hub worker does: servables need not be thread-safe.
    lock = threading.Lock()

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body):
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self):
        if self.path.split('?')[0].rstrip('/') == '/health':
            return self.reply(200, {'ready': True, 'servable': self.document['name'], 'version': self.document['version']})
        return self.reply(404, {'error': {'code': 'MODELHUB_ROUTE_NOT_FOUND', 'message': 'No route ' + self.path}})

    def do_POST(self):
        if self.path.split('?')[0].rstrip('/') != '/run':
            return self.reply(404, {'error': {'code': 'MODELHUB_ROUTE_NOT_FOUND', 'message': 'No route ' + self.path}})
        try:
            length = int(self.headers.get('Content-Length') or 0)
            body = json.loads(self.rfile.read(length) or b'{}')
            if not isinstance(body, dict) or 'inputs' not in body:
                raise ValueError('the body must be a JSON object with "inputs"')
        except Exception as error:  # a malformed request is the caller's fault
            return self.reply(400, {'error': {'code': 'MODELHUB_BAD_REQUEST', 'message': str(error)}})
        try:
            with self.lock:
                output = worker.call_servable(self.loaded, body.get('method') or 'run', body['inputs'], body.get('parameters') or {})
        except Exception as error:
            traceback.print_exc()
            return self.reply(500, {'error': {'code': 'MODELHUB_SERVABLE_FAILED', 'message': '%s: %s' % (type(error).__name__, error)}})
        return self.reply(200, {'output': output, 'servable': self.document['name'], 'version': self.document['version']})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--host', default=os.environ.get('HOST', '127.0.0.1'))
    parser.add_argument('--port', type=int, default=int(os.environ.get('PORT', '8080')))
    args = parser.parse_args()
    Handler.document, Handler.loaded = load(os.path.join(HERE, 'spec.json'))
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    print('serving %s@%s on http://%s:%d' % (Handler.document['name'], Handler.document['version'], args.host, server.server_address[1]), flush=True)
    server.serve_forever()


if __name__ == '__main__':
    main()
