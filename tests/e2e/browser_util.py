"""Open a page in headless Chromium (Debian's chromium) through its DevTools protocol
(python3-websocket) and report what a reader's browser did: every request it made, the
console errors and exceptions, whether each SVG <image> and HTML <img> decodes, and a
screenshot.  Used by test_metadata.py's report tests.

open_page(path, shot) -> dict(requests=[url...], failed=[...], errors=[...],
images=[(href_start, width, height) or (href_start, None, why)], title=...)
Raises Unavailable (the caller SKIPs, saying why) when chromium or python3-websocket
is missing or chromium cannot start here.
"""
import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request


class Unavailable(Exception):
    pass


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


# Decodes every image of the page; resolves to [[href_start, w, h] or [href_start, null, why]].
CHECK_IMAGES = r"""
Promise.all(Array.from(document.querySelectorAll('image, img')).map(function (el) {
  var href = el.getAttribute('href') || el.getAttribute('src') || '';
  var im = new Image();
  im.src = href;
  return im.decode().then(function () { return [href.slice(0, 40), im.naturalWidth, im.naturalHeight]; },
                          function (e) { return [href.slice(0, 40), null, String(e)]; });
}))
"""


def open_page(path, shot, width=1280, height=1600, timeout=60):
    exe = chromium()
    if not exe:
        raise Unavailable("chromium is not installed (Debian package chromium; make deps)")
    try:
        import websocket  # python3-websocket
    except ImportError:
        raise Unavailable("python3-websocket is not installed (Debian package python3-websocket)")
    prof = tempfile.mkdtemp(prefix="lode-chromium-")
    cmd = [exe, "--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--user-data-dir=" + prof, "--remote-debugging-port=0",
           "--window-size=%d,%d" % (width, height), "about:blank"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            f = os.path.join(prof, "DevToolsActivePort")
            if os.path.exists(f):
                lines = open(f).read().split()
                if lines:
                    port = int(lines[0])
                    break
            if proc.poll() is not None:
                raise Unavailable("chromium exited at start (status %s): %s" % (
                    proc.returncode, proc.stderr.read()[-600:]))
            time.sleep(0.1)
        if port is None:
            raise Unavailable("chromium gave no DevTools port within %d s" % timeout)
        targets = json.load(urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=10))
        page = [t for t in targets if t.get("type") == "page"][0]
        ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=timeout)
        WIDTH[:] = [width, height]
        return _drive(ws, "file://" + os.path.abspath(path), shot, timeout)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(prof, ignore_errors=True)


WIDTH = [1280, 1600]  # the viewport of the page being driven


def _drive(ws, url, shot, timeout):
    state = {"id": 0, "events": []}

    def call(method, **params):
        state["id"] += 1
        mid = state["id"]
        ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            if "method" in msg:
                state["events"].append(msg)
        raise RuntimeError("%s: no answer in %d s" % (method, timeout))

    for domain in ("Page", "Network", "Runtime", "Log"):
        call(domain + ".enable")
    call("Emulation.setDeviceMetricsOverride", width=WIDTH[0], height=WIDTH[1], deviceScaleFactor=1,
         mobile=False)
    call("Page.navigate", url=url)
    deadline = time.monotonic() + timeout
    while not any(e["method"] == "Page.loadEventFired" for e in state["events"]):
        if time.monotonic() > deadline:
            raise RuntimeError("the page did not load in %d s" % timeout)
        msg = json.loads(ws.recv())
        if "method" in msg:
            state["events"].append(msg)
    images = call("Runtime.evaluate", expression=CHECK_IMAGES, awaitPromise=True,
                  returnByValue=True)["result"].get("value", [])
    title = call("Runtime.evaluate", expression="document.title", returnByValue=True)["result"].get("value")
    png = call("Page.captureScreenshot", format="png")["data"]
    with open(shot, "wb") as f:
        f.write(base64.b64decode(png))
    ev = state["events"]
    requests = [e["params"]["request"]["url"] for e in ev if e["method"] == "Network.requestWillBeSent"]
    failed = [e["params"] for e in ev if e["method"] == "Network.loadingFailed"]
    errors = []
    for e in ev:
        p = e["params"]
        if e["method"] == "Runtime.exceptionThrown":
            errors.append(p["exceptionDetails"].get("text", "exception"))
        elif e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
            errors.append("console.%s: %s" % (p["type"], [a.get("value") for a in p.get("args", [])]))
        elif e["method"] == "Log.entryAdded" and p["entry"].get("level") in ("error", "warning"):
            errors.append("%s: %s" % (p["entry"].get("source"), p["entry"].get("text")))
    return {"requests": requests, "failed": failed, "errors": errors, "images": images, "title": title}


def outside_requests(requests, path):
    """The requests that are neither the page's own file nor a data: URI."""
    own = "file://" + os.path.abspath(path)
    return [u for u in requests if u != own and not u.startswith("data:")]


def png_size(path):
    """Width and height of a PNG file, from its IHDR."""
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def data_uri_pngs(html):
    """The PNGs embedded in a page as data: URIs, decoded."""
    return [base64.b64decode(m) for m in re.findall(r'data:image/png;base64,([A-Za-z0-9+/=]+)', html)]
