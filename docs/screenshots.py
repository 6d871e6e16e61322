"""Rerunnable screenshots of the MLflow UI on a gansweep store, for docs/.

    python docs/screenshots.py                      # builds a synthetic demo store, then shoots
    python docs/screenshots.py --store sqlite:////path/mlruns/mlflow.db

Builds the store (unless --store is given) with the synthetic demo only - never real faces in
docs/ - starts `gansweep ui` on it, and drives headless Chromium (the Debian `chromium` package:
`apt-get install -y chromium`) over the DevTools protocol: it waits until the page has drawn
what it shows (rows, images), then saves
  docs/mlflow_runs_table.png    the page `gansweep ui` opens: the latest sweep's trials, sorted by final
  docs/mlflow_run_samples.png   the best trial's page: the sample grid with MLflow's step slider
  docs/mlflow_parent_run.png    the sweep's parent run: its description (winner, link, plots)
  docs/mlflow_html_report.png   the parent's report/comparison.html inside MLflow's artifact viewer
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[1]
GANSWEEP = [sys.executable, "-m", "orchestrator.cli"]
# The embedded demo: synthetic faces, about 2 minutes on 2 free cores.
DEMO = ["search_spaces/demo.yaml"]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def build_demo_store(directory: Path) -> str:
    """Run the synthetic demo sweep into `directory`/mlruns; returns the store URI."""
    uri = f"sqlite:///{directory / 'mlruns' / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    args = [*GANSWEEP, "run", str(ROOT / DEMO[0]), *DEMO[1:], "--set", f"storage={directory / 'runs'}"]
    print("building the demo store:", " ".join(args[2:]), flush=True)
    subprocess.run(args, cwd=directory, env=env, check=True)
    return uri


def best_run(uri: str) -> tuple[str, str, str]:
    """(experiment id, best trial's run id, parent run id) of the latest sweep."""
    client = MlflowClient(uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    (parent,) = client.search_runs(ids, "tags.`gansweep.kind` = 'sweep'",
                                   order_by=["attributes.start_time DESC"], max_results=1)
    return parent.info.experiment_id, parent.data.tags["gansweep.best_run_id"], parent.info.run_id


class Page:
    """One Chromium tab over the DevTools protocol (just the calls this script needs)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self.next_id = ws, 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        while True:
            message = await self.ws.receive_json()
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    async def js(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                                 awaitPromise=True)
        return result.get("result", {}).get("value")

    async def wait_for(self, expression: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not await self.js(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(f"page never satisfied: {expression}")
            await asyncio.sleep(1.0)

    async def shoot(self, path: Path) -> None:
        shot = await self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))
        print("wrote", path, flush=True)


# The page's own controls, found by what they show (MLflow 3.17's UI; adjust if a release moves them).
CLOSE_ASSISTANT = """(() => {
  const b = [...document.querySelectorAll('button[aria-label="Close"]')].find(b => {
    for (let p = b, i = 0; i < 8 && p; i++, p = p.parentElement) {
      if (p.textContent.includes('MLflow Assistant')) return true;
    }
    return false;
  });
  if (b) b.click();
  return true; })()"""
ROWS = "document.querySelectorAll('.ag-center-cols-container .ag-row').length > 1"
SAMPLES_CARD = "[...document.querySelectorAll('h4')].some(h => h.textContent.trim() === 'samples')"
SCROLL_DOWN = """(() => { document.querySelectorAll('*').forEach(e => {
  if (e.scrollHeight > e.clientHeight + 50 && /auto|scroll/.test(getComputedStyle(e).overflowY)) {
    e.scrollTop = e.scrollHeight; } }); return true; })()"""
EXPAND_SAMPLES = """(() => {
  const h = [...document.querySelectorAll('h4')].find(h => h.textContent.trim() === 'samples');
  let card = h;
  const menu = '[data-testid=experiment-view-compare-runs-card-menu]';
  while (card && !card.querySelector(menu)) card = card.parentElement;
  card.querySelector('button').click();
  return true; })()"""
SLIDER_END = """(() => {
  const all = document.querySelectorAll('[role=slider]');
  let track = all[all.length - 1];
  while (track && track.getBoundingClientRect().width < 100) track = track.parentElement;
  const r = track.getBoundingClientRect(); return [r.right - 2, r.top + r.height / 2]; })()"""
IMAGE_SHOWN = """(() => { const i = [...document.images].filter(i => i.src.includes('samples')).pop();
  if (!i || !i.complete || !i.naturalWidth) return false;
  i.scrollIntoView({block: 'center'});
  return true; })()"""


DESCRIPTION = "[...document.querySelectorAll('h3')].some(h => h.textContent.includes('winner trial'))"
REPORT_FRAME = """(() => { const f = document.querySelector('iframe');
  return !!(f && f.contentDocument && f.contentDocument.querySelector('.js-plotly-plot .main-svg')); })()"""


async def capture(base: str, view_url: str, experiment_id: str, run_id: str, parent_id: str, out: Path,
                  debug_port: int) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(60):  # Chromium takes a moment to open its DevTools endpoint
            try:
                async with session.put(f"http://127.0.0.1:{debug_port}/json/new?about:blank") as response:
                    target = await response.json()
                break
            except aiohttp.ClientError:
                await asyncio.sleep(1.0)
        else:
            raise RuntimeError("Chromium's DevTools endpoint never answered")
        async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            page = Page(ws)
            await page.call("Emulation.setDeviceMetricsOverride", width=1680, height=940, deviceScaleFactor=1,
                            mobile=False)
            # 1. the page `gansweep ui` opens: the sweep's trials in its saved view (final FID first)
            experiment = f"{base}/#/experiments/{experiment_id}"
            await page.call("Page.navigate", url=view_url)
            await page.wait_for(ROWS)
            await page.js(CLOSE_ASSISTANT)
            await asyncio.sleep(3.0)
            await page.shoot(out / "mlflow_runs_table.png")
            # 2. the best trial's sample grid, enlarged, at its last epoch on MLflow's step slider
            await page.call("Page.navigate", url=f"{experiment}/runs/{run_id}/model-metrics")
            await page.wait_for(f"{SCROLL_DOWN} && {SAMPLES_CARD}")
            await page.js(EXPAND_SAMPLES)
            await asyncio.sleep(3.0)
            x, y = await page.js(SLIDER_END)
            for kind in ("mousePressed", "mouseReleased"):
                await page.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)
            await page.wait_for(IMAGE_SHOWN)
            await asyncio.sleep(2.0)
            await page.shoot(out / "mlflow_run_samples.png")
            # 3. the parent run: the description gansweep writes at the end of the sweep
            await page.call("Page.navigate", url=f"{experiment}/runs/{parent_id}")
            await page.wait_for(DESCRIPTION)
            await asyncio.sleep(3.0)
            await page.shoot(out / "mlflow_parent_run.png")
            # 4. the self-contained HTML report inside MLflow's artifact viewer (Optuna's plots drawn)
            page_url = f"{experiment}/runs/{parent_id}/artifacts/report/comparison.html"
            await page.call("Page.navigate", url=page_url)
            await page.wait_for(REPORT_FRAME, timeout=180)
            await asyncio.sleep(3.0)
            await page.shoot(out / "mlflow_html_report.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="MLflow store URI (default: build a synthetic demo store)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("screenshots: no chromium on PATH (Debian: apt-get install -y chromium)")
    work = Path(tempfile.mkdtemp(prefix="gansweep-shots-"))
    uri = args.store or build_demo_store(work)
    experiment_id, run_id, parent_id = best_run(uri)
    port, debug_port = free_port(), free_port()
    ui = subprocess.Popen([*GANSWEEP, "ui", "--store", uri, "--port", str(port), "--wait", "900"], cwd=work,
                          stdout=subprocess.PIPE, text=True)
    browser = None
    try:
        line = ""
        while "http://" not in line:  # `gansweep ui` prints its URL once the server answers
            line = ui.stdout.readline()
            if not line and ui.poll() is not None:
                sys.exit("screenshots: gansweep ui exited before serving")
        print(line.strip(), flush=True)
        view_url = next(word for word in line.split() if word.startswith("http://") and "#/" in word)
        browser = subprocess.Popen(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={work / 'chromium'}",
             f"--remote-debugging-port={debug_port}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        args.out.mkdir(parents=True, exist_ok=True)
        asyncio.run(capture(f"http://127.0.0.1:{port}", view_url, experiment_id, run_id, parent_id, args.out,
                            debug_port))
    finally:
        if browser is not None:
            browser.terminate()
            browser.wait(timeout=30)
        ui.send_signal(signal.SIGTERM)  # gansweep ui forwards it to the MLflow server
        ui.wait(timeout=60)
    print(json.dumps({"store": uri, "experiment": experiment_id, "best_run": run_id}))


if __name__ == "__main__":
    main()
