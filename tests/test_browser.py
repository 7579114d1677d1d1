"""The SmoothGrad explorer in a real browser: JupyterLab + headless Chromium.

What a workshop participant does: open notebook 04 in JupyterLab, run all cells,
move the noise slider with the keyboard, and see a new map. The test drives
Debian's ``chromium`` over the DevTools protocol (a websocket on 127.0.0.1) and
checks that

* every code cell ran and no error or traceback appeared,
* the explorer's noise slider moved one step (its readout changed),
* the explorer's map was redrawn: the pixels of its ``<img>`` differ before and after.

Everything stays on 127.0.0.1. Neither server is handed a port chosen in advance (another
process could take it in between): JupyterLab and Chromium each bind port 0 and the test
reads back the port they got — Chromium writes it to ``DevToolsActivePort`` in its profile,
JupyterLab to its ``jpserver-<pid>.json`` runtime file — and a JupyterLab that still
loses its port to another process is started again. Without a Chromium binary the test
is skipped with a reason; CI sets ``REQUIRE_BROWSER=1`` to turn that skip into a failure.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "04_smoothgrad.ipynb"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-quic", "--window-size=1400,1000"]
# No limit on the whole run (notebook 04 takes ~30 s on an idle 2-core CPU, many minutes on a
# busy one): the test fails only when no further cell finishes for this long, i.e. when it
# hangs. Its slowest cell (SmoothGrad² and VarGrad, 160 backward passes) took 8.5 min on a
# 2-core machine running eight other jobs.
CELL_STALL_TIMEOUT_S = 1200


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


def wait_for(condition: Callable[[], object], timeout: float, what: str,
             interval: float = 0.25, diagnose: Callable[[], object] | None = None) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(interval)
    seen = f"; the page shows: {diagnose()}" if diagnose else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{seen}")


def http_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


class DevTools:
    """The few Chrome DevTools protocol calls the test needs, over one websocket."""

    def __init__(self, websocket_url: str) -> None:
        import websocket  # websocket-client, a test dependency

        # Chromium refuses websocket clients that send an Origin header it does not know.
        self.socket = websocket.create_connection(websocket_url, timeout=60,
                                                  suppress_origin=True)
        self.next_id = 0

    def call(self, method: str, **params: object) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def js(self, expression: str) -> object:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        self.socket.close()


def start(command: list[str], log: Path, **kwargs: object) -> subprocess.Popen:
    return subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True, **kwargs)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)


def start_jupyterlab(folder: Path, token: str) -> tuple[subprocess.Popen, int] | None:
    """JupyterLab on a port the OS picks (port 0); its port, or None if it exited first."""
    runtime = folder / "runtime"
    folder.mkdir(parents=True)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(folder.parent / "config"),
           "JUPYTER_RUNTIME_DIR": str(runtime)}
    root = folder.parent
    server = start([sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
                    "--port=0", "--ServerApp.port_retries=0",
                    f"--IdentityProvider.token={token}", "--allow-root",
                    "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, for the test
                    f"--ServerApp.root_dir={root / 'notebooks'}",
                    f"--LabApp.workspaces_dir={root / 'workspaces'}",
                    f"--LabApp.user_settings_dir={root / 'settings'}"],
                   folder / "jupyterlab.log", env=env)

    def port_or_exit() -> int | str | None:
        if server.poll() is not None:
            return "exited"
        info = runtime / f"jpserver-{server.pid}.json"
        try:
            port = json.loads(info.read_text())["port"]
            # The info file is written before the socket listens: wait for the API too.
            return port if http_json(f"http://127.0.0.1:{port}/api/status?token={token}") \
                else None
        except (OSError, ValueError, KeyError):
            return None

    found = wait_for(port_or_exit, 90, "JupyterLab to start",
                     diagnose=lambda: (folder / "jupyterlab.log").read_text()[-2000:])
    if found == "exited":
        stop(server)
        return None
    return server, found


@pytest.fixture()
def jupyterlab(tmp_path: Path) -> Iterator[str]:
    """JupyterLab on 127.0.0.1 serving a copy of the notebooks (saving cannot touch the repo)."""
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks",
                    ignore=shutil.ignore_patterns("student", ".ipynb_checkpoints"))
    settings = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    token = "course-browser-test"
    for attempt in range(3):  # another process may take the port between bind and listen
        started = start_jupyterlab(tmp_path / f"attempt-{attempt}", token)
        if started:
            break
    else:
        pytest.fail("JupyterLab exited three times before serving; see attempt-*/jupyterlab.log")
    server, port = started
    try:
        yield f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK}?token={token}"
    finally:
        stop(server)


@pytest.fixture()
def browser(tmp_path: Path, jupyterlab: str) -> Iterator[DevTools]:
    chromium = find_chromium()
    if chromium is None:
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail("REQUIRE_BROWSER is set but no chromium binary was found")
        pytest.skip("no chromium binary (apt-get install chromium); CI installs it")
    profile = tmp_path / "chromium-profile"
    process = start([chromium, *CHROMIUM_FLAGS, "--remote-debugging-port=0",
                     f"--user-data-dir={profile}", jupyterlab], tmp_path / "chromium.log")
    try:
        def page() -> str | None:
            try:  # Chromium writes the port it bound to, then the browser's websocket path
                port = int((profile / "DevToolsActivePort").read_text().split()[0])
                targets = http_json(f"http://127.0.0.1:{port}/json")
            except (OSError, ValueError, IndexError):
                return None
            return next((t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page"), None)
        devtools = DevTools(wait_for(page, 60, "Chromium's DevTools endpoint"))
        yield devtools
        devtools.close()
    finally:
        stop(process)


NOISE_SLIDER = """[...document.querySelectorAll('.widget-slider')]
    .find(s => s.querySelector('.widget-label')?.textContent.includes('noise'))"""
# The notebook's model, not the DOM: JupyterLab may not render cells out of view.
CELLS = "[...window.jupyterapp.shell.currentWidget.content.model.cells]"
ERRORS = f"""{CELLS}.flatMap(c => c.type === 'code' ? c.outputs.toJSON() : [])
    .filter(o => o.output_type === 'error')
    .map(o => o.ename + ': ' + o.evalue)
    .concat([...document.querySelectorAll('.jp-OutputArea-output')]
            .map(o => o.textContent).filter(t => t.includes('Traceback')))"""


WIDGET_OUTPUTS = """JSON.stringify({plugins: window.jupyterapp.listPlugins()
        .filter(p => p.includes('widget')).map(p => p + ':' + window.jupyterapp.isPluginActivated(p)),
    trusted: [...window.jupyterapp.shell.currentWidget.content.model.cells].map(c => c.trusted).join(''),
    cells: document.querySelectorAll('.jp-Cell').length,
    outputs: [...document.querySelectorAll('.jp-OutputArea-output')].map(o => o.dataset.mimeType),
    widgetText: [...document.querySelectorAll('.jp-OutputArea-output')]
        .filter(o => /widget/i.test(o.textContent)).map(o => o.textContent.slice(0, 300)),
    modelMimes: [...window.jupyterapp.shell.currentWidget.content.model.cells]
        .flatMap(c => c.type === 'code' ? c.outputs.toJSON() : [])
        .map(o => Object.keys(o.data || {}).join('+') || o.output_type)})"""


def explorer_image(devtools: DevTools) -> np.ndarray:
    """The pixels of the explorer's map, as the browser shows them."""
    box = devtools.js(f"""(() => {{
        const img = {NOISE_SLIDER}.closest('.widget-vbox').querySelector('img');
        img.scrollIntoView({{block: 'center'}});
        const r = img.getBoundingClientRect();
        return {{x: r.x, y: r.y, width: r.width, height: r.height}};
    }})()""")
    assert box["width"] > 50 and box["height"] > 50, f"the explorer's image is not shown: {box}"
    shot = devtools.call("Page.captureScreenshot", format="png", clip={**box, "scale": 1})
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB"))


def test_noise_slider_redraws_the_map_in_jupyterlab(browser: DevTools):
    devtools = browser
    wait_for(lambda: devtools.js("!!(window.jupyterapp && "
                                 "document.querySelector('.jp-Notebook .jp-Cell'))"),
             120, "JupyterLab to open the notebook")
    # Running cells before the kernel is connected loses the widgets' comm channel.
    wait_for(lambda: devtools.js("window.jupyterapp.shell.currentWidget.sessionContext"
                                 ".session?.kernel?.status === 'idle'"), 120, "the kernel")
    # Clear the stored outputs first: an execution count then means "ran in this session".
    devtools.js("window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    wait_for(lambda: not devtools.js(f"{CELLS}.some(c => c.type === 'code' && "
                                     "(c.executionCount || c.outputs.length))"), 30,
             "the stored outputs to clear")
    # execute() resolves only when every cell has run: do not await it here.
    devtools.js("window.jupyterapp.commands.execute('notebook:run-all-cells'), true")

    def cells_run() -> tuple[int, int]:
        counts = devtools.js(f"{CELLS}.filter(c => c.type === 'code').map(c => c.executionCount)")
        assert not devtools.js(ERRORS), f"a cell failed: {devtools.js(ERRORS)}"
        return sum(bool(c) for c in counts), len(counts)

    def more_cells_ran(than: int) -> tuple[int, int] | None:
        done, total = cells_run()
        return (done, total) if done > than or (total and done == total) else None

    done, total = cells_run()
    while total == 0 or done < total:  # each finished cell gives the next one a fresh limit
        done, total = wait_for(lambda: more_cells_ran(done), CELL_STALL_TIMEOUT_S,
                               f"cell {done + 1} of notebook 04 to finish", interval=1)

    wait_for(lambda: devtools.js(f"!!{NOISE_SLIDER}?.querySelector('.noUi-handle')"), 60,
             "the explorer's noise slider", diagnose=lambda: devtools.js(WIDGET_OUTPUTS))
    readout = f"{NOISE_SLIDER}.querySelector('.widget-readout').textContent.trim()"
    before_value = devtools.js(readout)
    wait_for(lambda: devtools.js(f"{NOISE_SLIDER}.closest('.widget-vbox')"
                                 ".querySelector('img')?.naturalWidth > 0"), 60,
             "the explorer's first map")
    before = explorer_image(devtools)

    # Move the slider as a user does: focus its handle, press the right arrow key.
    devtools.js(f"{NOISE_SLIDER}.querySelector('.noUi-handle').focus()")
    for event in ("keyDown", "keyUp"):
        devtools.call("Input.dispatchKeyEvent", type=event, key="ArrowRight", code="ArrowRight",
                      windowsVirtualKeyCode=39, nativeVirtualKeyCode=39)
    wait_for(lambda: devtools.js(readout) != before_value, 20, "the slider's readout to change")
    after_value = devtools.js(readout)
    assert int(after_value) > int(before_value)

    def redrawn() -> list[np.ndarray] | None:
        image = explorer_image(devtools)
        changed = image.shape == before.shape and np.abs(
            image.astype(int) - before.astype(int)).mean() > 1.0
        return [image] if changed else None
    (after,) = wait_for(redrawn, 120, "the explorer to redraw its map", interval=0.5)
    assert not devtools.js(ERRORS), f"an error appeared: {devtools.js(ERRORS)}"
    status = devtools.js(f"{NOISE_SLIDER}.closest('.widget-vbox')"
                         ".querySelector('.widget-label:last-child')?.textContent ?? ''")
    print(f"noise σ {before_value} → {after_value} %, mean pixel change "
          f"{np.abs(after.astype(int) - before.astype(int)).mean():.1f}; status: {status}")
