"""The suite runs against a real hub: the checkout's own server, started once per session as a
user starts it (``node --import tsx hub-server/server.ts``) on a free port with a temporary data
folder, and stopped at the end. A second hub with ``MODELHUB_AUTH=tokens`` serves the token
tests; its tokens are made with the CLI's ``token create`` on its data folder, as the README says.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, Iterator, Optional

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', 'src'))
# Tests import the checkout's package (the venv test installs it separately).
if SRC not in sys.path:
    sys.path.insert(0, SRC)

START_TIMEOUT_S = 180


class RunningHub:
    def __init__(self, env: Optional[Dict[str, str]] = None):
        self.data_dir = tempfile.mkdtemp(prefix='modelhub-pytest-')
        self.output: list = []
        self.env = {
            **os.environ,
            'MODELHUB_PORT': '0',
            'MODELHUB_HOST': '127.0.0.1',
            'MODELHUB_DATA': self.data_dir,
            'MODELHUB_DEMO': 'false',
            'MODELHUB_LOG_LEVEL': 'warn',
            'MODELHUB_PYTHON': '/usr/bin/python3',
            **(env or {}),
        }
        # The hub must not read a developer's saved login or ambient token.
        for key in ('MODELHUB_URL', 'MODELHUB_TOKEN'):
            self.env.pop(key, None)
        self.process = subprocess.Popen(
            ['node', '--import', 'tsx', os.path.join(ROOT, 'hub-server', 'server.ts')],
            cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        self.url = self._wait_for_url()

    def _wait_for_url(self) -> str:
        found: Dict[str, str] = {}
        ready = threading.Event()

        def pump() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.output.append(line)
                match = re.search(r'listening on (http://\S+)', line)
                if match and not ready.is_set():
                    found['url'] = match.group(1)
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(START_TIMEOUT_S) or 'url' not in found:
            self.stop()
            raise RuntimeError('the hub did not start:\n' + ''.join(self.output))
        return found['url']

    def cli(self, *args: str) -> str:
        """The TypeScript CLI, on this hub's data folder."""
        result = subprocess.run(['node', os.path.join(ROOT, 'bin', 'modelhub.js'), *args], cwd=ROOT,
                                env={**self.env, 'MODELHUB_CONFIG': os.path.join(self.data_dir, 'no-login.json')},
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f'modelhub {" ".join(args)} failed:\n{result.stdout}\n{result.stderr}')
        return result.stdout

    def make_token(self, user: str, *extra: str) -> str:
        reply = json.loads(self.cli('--json', 'token', 'create', '--user', user, '--data', self.data_dir, *extra))
        return reply['token']

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture(autouse=True)
def _no_ambient_login(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Each test sees no MODELHUB_URL / MODELHUB_TOKEN / saved login of the machine it runs on."""
    monkeypatch.delenv('MODELHUB_URL', raising=False)
    monkeypatch.delenv('MODELHUB_TOKEN', raising=False)
    monkeypatch.setenv('MODELHUB_CONFIG', str(tmp_path / 'no-saved-login.json'))


@pytest.fixture(scope='session')
def hub() -> Iterator[RunningHub]:
    running = RunningHub()
    yield running
    running.stop()


@pytest.fixture(scope='session')
def token_hub() -> Iterator[RunningHub]:
    running = RunningHub({'MODELHUB_AUTH': 'tokens'})
    yield running
    running.stop()


@pytest.fixture()
def client(hub: RunningHub):
    from modelhub import HubClient

    return HubClient(hub.url)
