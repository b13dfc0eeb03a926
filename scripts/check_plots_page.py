"""Render the page of ``dvc plots show`` in headless Chromium, as a user opens it, and check that every plot drew.

Usage: ``python scripts/check_plots_page.py [--repo DIR | --page DIR] [--screenshot PNG]``

``--repo`` (default: the current directory) runs ``dvc plots show -o`` there, fails on any warning DVC prints,
and expects every plot of its ``dvc plots show --json``; ``--page`` checks a page already written by
``dvc plots show -o DIR``. The page loads Vega, Vega-Lite and vega-embed from a CDN, which an offline machine
cannot reach: the script fetches the same versions from the npm registry (``npm pack``, once, into
``$QUP_VEGA_CACHE`` or ``~/.cache/qup/vega``) and points the page at those files. A plot counts as drawn when
vega-embed resolved and its SVG holds marks; every Vega warning or error, and every page error, fails the check.
The scatters must label each corpus. Needs ``chromium`` (Debian: ``apt-get install chromium``) and ``npm``.
Exit status 0 when every plot drew; it prints one line per plot and how long the check took.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

CDN = re.compile(r'<script src="https://cdn\.jsdelivr\.net/npm/(vega|vega-lite|vega-embed)@([0-9.]+)"></script>')
# vega-embed 6.18 compares a spec's major-only schema ($schema .../v5.json, which every DVC template has) with its
# full version and warns on every plot; nothing is wrong with the plot
HARMLESS = re.compile(r"The (input|compiled) spec uses Vega(-Lite)? v5, "
                      r"but (the )?current version (of Vega-Lite )?is v5\.")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                  "--allow-file-access-from-files", "--virtual-time-budget=20000"]

# loaded after vega-embed: every plot renders as SVG (its marks can be read from the DOM), and what happened to
# it (drawn, failed, each Vega or page warning) is written into the DOM, where --dump-dom shows it
PROBE = """<script>
(function () {
  var log = [];
  function record(kind, args) {
    log.push(kind + ": " + Array.prototype.map.call(args, function (a) {
      return (a && a.stack) ? a.stack : (typeof a === "object" ? JSON.stringify(a) : String(a)); }).join(" "));
    var pre = document.getElementById("qup-log");
    if (pre) { pre.textContent = log.join("\\n"); }
  }
  ["warn", "error"].forEach(function (m) {
    var orig = console[m];
    console[m] = function () { record(m, arguments); return orig.apply(console, arguments); };
  });
  window.addEventListener("error", function (e) { record("page error", [e.message]); });
  window.addEventListener("unhandledrejection", function (e) { record("page error", [e.reason]); });
  document.addEventListener("DOMContentLoaded", function () {
    var pre = document.createElement("pre"); pre.id = "qup-log"; pre.style.display = "none";
    pre.textContent = log.join("\\n"); document.body.appendChild(pre);
  });
  var embed = window.vegaEmbed;
  window.vegaEmbed = function (el, spec, opt) {
    var node = document.querySelector(el);
    var options = Object.assign({renderer: "%(renderer)s", actions: false, logLevel: vega.Warn}, opt || {});
    return embed(el, spec, options).then(function (result) {
      node.setAttribute("data-qup", "drawn"); return result;
    }, function (err) {
      node.setAttribute("data-qup", "failed: " + err); record("embed error", [err]);
    });
  };
})();
</script>"""


def vega_files(page: str, cache: Path) -> dict[str, Path]:
    """The page's CDN script URLs -> the same package's build, from the npm registry."""
    out = {}
    for match in CDN.finditer(page):
        package, version = match.groups()
        target = cache / f"{package}-{version}.min.js"
        if not target.exists():
            cache.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory() as work:
                done = subprocess.run(["npm", "pack", "--silent", f"{package}@{version}"], cwd=work,
                                      capture_output=True, text=True)
                if done.returncode != 0:
                    raise SystemExit(f"npm pack {package}@{version} failed:\n{done.stderr}")
                tarball = Path(work) / done.stdout.strip().splitlines()[-1]
                with tarfile.open(tarball) as tar:
                    member = tar.extractfile(f"package/build/{package}.min.js")
                    assert member is not None, f"{tarball.name} has no build/{package}.min.js"
                    target.write_bytes(member.read())
        out[match.group(0)] = target
    return out


def local_page(directory: Path, cache: Path, renderer: str) -> Path:
    """A copy of ``directory``'s index.html that loads the local Vega builds and the probe."""
    page = (directory / "index.html").read_text()
    files = vega_files(page, cache)
    if len(files) != 3:
        raise SystemExit(f"{directory / 'index.html'}: expected the three Vega scripts from the CDN, found "
                         f"{len(files)} (has dvc-render changed how it writes the page?)")
    vendor = directory / "vendor"
    vendor.mkdir(exist_ok=True)
    for tag, path in files.items():
        shutil.copy2(path, vendor / path.name)
        # the CDN serves them as UTF-8, and the page does not say its charset: say it (or a minus sign breaks)
        page = page.replace(tag, f'<script src="vendor/{path.name}" charset="utf-8"></script>')
    last = max(page.index(f'vendor/{p.name}') for p in files.values())
    end = page.index("</script>", last) + len("</script>")
    page = page[:end] + "\n" + PROBE % {"renderer": renderer} + page[end:]
    out = directory / "index.local.html"
    out.write_text(page)
    return out


class Plots(HTMLParser):
    """Per plot div (a div with an id directly under body): its probe status, how many Vega marks and texts."""

    def __init__(self):
        super().__init__()
        self.plots: dict[str, dict] = {}
        self.log = ""
        self._stack: list[tuple[str, str | None]] = []
        self._in_log = False
        self._text_of: str | None = None

    def _plot(self) -> str | None:
        return next((pid for tag, pid in self._stack if pid is not None), None)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        pid = None
        if tag == "div" and attrs.get("id") and attrs["id"] != "qup-log" and self._plot() is None:
            pid = attrs["id"]
            self.plots[pid] = {"status": attrs.get("data-qup"), "marks": 0, "svg": False, "texts": []}
        self._stack.append((tag, pid))
        plot = self._plot()
        if tag == "pre" and attrs.get("id") == "qup-log":
            self._in_log = True
        if plot is None:
            return
        if tag == "svg":
            self.plots[plot]["svg"] = True
        cls = attrs.get("class") or ""
        if tag == "g" and "role-mark" in cls and "role-axis" not in cls and "role-legend" not in cls \
                and "role-title" not in cls:
            self.plots[plot]["marks"] += 1
        if tag == "text":
            self._text_of = plot

    def handle_endtag(self, tag):
        if tag == "pre":
            self._in_log = False
        if tag == "text":
            self._text_of = None
        while self._stack:
            if self._stack.pop()[0] == tag:
                break

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_data(self, data):
        if self._in_log:
            self.log += data
        elif self._text_of is not None and data.strip():
            self.plots[self._text_of]["texts"].append(data.strip())


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    binary = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser") \
        or shutil.which("google-chrome")
    if not binary:
        raise SystemExit("no chromium on PATH (Debian: apt-get install chromium; or set CHROMIUM)")
    return subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=180)


def render(page: Path) -> Plots:
    """The page's DOM once its scripts ran, parsed into plots."""
    with tempfile.TemporaryDirectory() as profile:
        done = chromium(["--dump-dom", page.as_uri()], Path(profile))
    if done.returncode != 0 or "<body" not in done.stdout:
        raise SystemExit(f"chromium failed ({done.returncode}):\n{done.stderr[-3000:]}")
    parsed = Plots()
    parsed.feed(done.stdout)
    return parsed


def screenshot(page: Path, path: Path, width: int) -> None:
    """A PNG of the whole page (its height from the plots' count)."""
    count = page.read_text().count("vegaEmbed('#")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        done = chromium([f"--screenshot={path.resolve()}", f"--window-size={width},{100 + 330 * count}",
                         page.as_uri()], Path(profile))
    if done.returncode != 0 or not path.exists():
        raise SystemExit(f"chromium screenshot failed ({done.returncode}):\n{done.stderr[-3000:]}")


def dvc(repo: Path, *args: str) -> str:
    """``dvc`` in ``repo`` (the one next to this Python); fails on an error or any warning it prints."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, capture_output=True, text=True, env=env)
    warnings = [line for line in (done.stdout + done.stderr).splitlines() if re.search(r"WARNING|ERROR", line)]
    if done.returncode != 0 or warnings:
        raise SystemExit(f"dvc {' '.join(args)} ({done.returncode}):\n" + "\n".join(warnings or [done.stderr]))
    return done.stdout


def check(directory: Path, expected: list[str] | None, labels: dict[str, list[str]], cache: Path) -> list[str]:
    """Every problem with the page in ``directory``, checked as SVG; prints a line per plot."""
    parsed = render(local_page(directory, cache, "svg"))
    problems = [f"page: {line}" for line in parsed.log.splitlines() if line.strip() and not HARMLESS.search(line)]
    for pid in expected or []:
        if pid not in parsed.plots:
            problems.append(f"{pid}: declared but not on the page")
    for pid, plot in parsed.plots.items():
        drawn = plot["status"] == "drawn" and plot["svg"] and plot["marks"] > 0
        missing = [name for name in labels.get(pid, []) if name not in plot["texts"]]
        print(f"{pid}: {plot['status']}, {plot['marks']} mark groups"
              + (f", missing labels {missing}" if missing else ""))
        if not drawn:
            problems.append(f"{pid}: not drawn ({plot['status']}, svg={plot['svg']}, marks={plot['marks']})")
        if missing:
            problems.append(f"{pid}: no label for {missing}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--repo", type=Path, help="a built pipeline: run `dvc plots show -o` there (default: .)")
    source.add_argument("--page", type=Path, help="a folder `dvc plots show -o` wrote")
    parser.add_argument("--screenshot", type=Path, help="also write a PNG of the page, as a user sees it (canvas)")
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--label", action="append", default=[], metavar="PLOT=NAME,NAME",
                        help="texts PLOT must show (repeatable); in --repo mode both scatters must name "
                             "every corpus in reports/plots/corpora.json")
    args = parser.parse_args()
    cache = Path(os.environ.get("QUP_VEGA_CACHE") or Path.home() / ".cache/qup/vega")
    started = time.monotonic()
    labels = {pid: names.split(",") for pid, names in (item.split("=", 1) for item in args.label)}
    expected = None
    with tempfile.TemporaryDirectory() as work:
        if args.page:
            directory = Path(work) / "page"
            shutil.copytree(args.page, directory)
        else:
            repo = (args.repo or Path(".")).resolve()
            expected = list(json.loads(dvc(repo, "plots", "show", "--json"))["data"])
            directory = Path(work) / "page"
            dvc(repo, "plots", "show", "-o", str(directory))
            points = repo / "reports/plots/corpora.json"
            if points.exists():
                names = [p["corpus"] for p in json.loads(points.read_text())]
                for pid in ("reward_vs_accuracy", "perplexity_vs_accuracy"):
                    labels.setdefault(pid, names)
        problems = check(directory, expected, labels, cache)
        if args.screenshot:
            screenshot(local_page(directory, cache, "canvas"), args.screenshot, args.width)
            print(f"screenshot: {args.screenshot}")
    print(f"checked in {time.monotonic() - started:.1f}s", flush=True)
    for problem in problems:
        print(f"PROBLEM {html.unescape(problem)}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
