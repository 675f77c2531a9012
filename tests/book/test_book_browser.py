"""The built book, opened page by page in headless Chromium with no internet access.

Serves ``book/_build/html`` on 127.0.0.1, opens every page, and checks what a reader would see:
internal links resolve, images load, the equations are typeset by the local MathJax, the results
chapters show a table and a figure and lead with them (their code folded, no verdict scrolling
sideways, a first line naming their scale and seeds), the claims page shows its table and its summary
figure, no prose paragraph runs past 150 words, the intro's edition box counts what ``results/`` holds,
no script fails, and no request leaves this machine. Screenshots of the chapters, the intro, the claims
page and the runs page go to ``test-artifacts/screenshots/``. Build the book first
(``scripts/build_book.sh``) and install the browser (``scripts/setup_browser.sh``); otherwise the
browser tests skip.

The table of contents generator (``book/prepare_book.py``) is tested here too, without a browser.
"""
from __future__ import annotations

import functools
import json
import re
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urldefrag, urljoin, urlparse

import pytest
import yaml

from book_module import load_prepare_book
from ulmfit_core.settings import REPO_ROOT, results_dir

pytestmark = pytest.mark.book

BOOK_DIR = REPO_ROOT / "book"
BUILD_DIR = BOOK_DIR / "_build" / "html"
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT_DIR = REPO_ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-proxy-server",
]
LOCAL_HOST = "127.0.0.1"
SKIPPED_DIRS = {"_static", "_sources", "_images"}
SKIPPED_PAGES = {"genindex.html", "search.html"}
MATH_MARKERS = ("$$", "\\(", "\\[")
MATHJAX_TIMEOUT_MS = 15_000
MATHJAX_SCRIPT_RE = re.compile(r'<script[^>]+src="[^"]*mathjax/tex-[a-z-]+\.js', re.IGNORECASE)
REFRESH_RE = re.compile(r'<meta[^>]+http-equiv="refresh"[^>]+url=([^"]+)"', re.IGNORECASE)
MAX_PARAGRAPH_WORDS = 150
EXECUTED = REPO_ROOT / "notebooks" / "executed"
LARGEST_SCALE_FIRST = ("paper", "gpu", "reduced", "smoke")
EDITION_COUNTS_RE = re.compile(r"of the paper['’]s (\d+) claims? checked in these chapters, (\d+) holds?, "
                               r"(\d+) (?:are|is) contradicted and (\d+) (?:are|is) inconclusive")

IMAGES_JS = """async () => {
  const imgs = Array.from(document.images);
  imgs.forEach((img) => { img.loading = 'eager'; });
  await Promise.all(imgs.map((img) => img.decode().catch(() => null)));
  return imgs.filter((img) => img.naturalWidth === 0).map((img) => img.currentSrc || img.src);
}"""
MATHJAX_READY_JS = """async (timeoutMs) => {
  const mj = window.MathJax;  // the script is deferred, so after 'load' it has run or failed
  if (!mj || !mj.startup || !mj.startup.promise) return 'MathJax script not loaded';
  const timeout = new Promise((resolve) => setTimeout(() => resolve('timed out'), timeoutMs));
  try {
    return await Promise.race([mj.startup.promise.then(() => 'ready'), timeout]);
  } catch (err) {
    return 'startup failed: ' + err;
  }
}"""
LAYOUT_JS = """(maxWords) => {
  const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const top = (el) => el.getBoundingClientRect().top + window.scrollY;
  const shown = (el) => el.getClientRects().length > 0 && el.checkVisibility();
  const longParagraphs = Array.from(article.querySelectorAll('p'))
    .filter((p) => !p.closest('table, .cell_output, pre, nav, footer'))
    .map((p) => p.textContent.trim().replace(/\\s+/g, ' '))
    .filter((text) => text.split(' ').length > maxWords)
    .map((text) => `${text.split(' ').length} words: ${text.slice(0, 80)}…`);
  const table = article.querySelector('table');
  const inputs = Array.from(article.querySelectorAll('.cell_input, div[class*="highlight-"]'))
    .filter((el) => !el.closest('.cell_output') && shown(el));
  const section = document.querySelector('section#verdicts');
  let verdictOverflow = null;
  if (section) {
    const right = section.getBoundingClientRect().right;
    verdictOverflow = Array.from(section.querySelectorAll('*')).filter((el) => {
      const overflowX = getComputedStyle(el).overflowX;
      const scrolls = (overflowX === 'auto' || overflowX === 'scroll') && el.scrollWidth > el.clientWidth + 1;
      return scrolls || (shown(el) && el.getBoundingClientRect().right > right + 1);
    }).map((el) => `${el.tagName.toLowerCase()}.${el.className}: ${el.textContent.trim().slice(0, 60)}`);
  }
  const edition = Array.from(document.querySelectorAll('.admonition'))
    .find((el) => el.textContent.includes('What this edition shows'));
  const box = article.querySelector('div.chapter-scale');
  const figure = document.querySelector('#fig-claims-summary img');
  return {
    longParagraphs,
    firstTableTop: table ? top(table) : null,
    firstInputTop: inputs.length ? Math.min(...inputs.map(top)) : null,
    verdictOverflow,
    pageOverflow: document.documentElement.scrollWidth > document.documentElement.clientWidth + 1,
    editionText: edition ? edition.textContent.replace(/\\s+/g, ' ') : null,
    scaleLine: box ? box.querySelector('p').textContent.replace(/\\s+/g, ' ') : null,
    scaleBoxTop: box ? top(box) : null,
    scaleLinks: box ? Array.from(box.querySelectorAll('a[href]')).map((a) => a.href) : [],
    summaryFigureWidth: figure ? figure.naturalWidth : null,
  };
}"""
COUNTS_JS = """() => ({
  math: document.querySelectorAll('.math').length,
  mjx: document.querySelectorAll('.math mjx-container').length,
  mjxErrors: document.querySelectorAll('mjx-merror').length,
  tables: document.querySelectorAll('main table, article table').length,
  images: document.querySelectorAll('main img, article img').length,
  links: Array.from(document.querySelectorAll('a[href]')).map((a) => a.href),
})"""


# --------------------------------------------------------------------------------------------------
# What one visit of the book found


@dataclass
class PageReport:
    """What one page showed: its math, tables, images and the links it holds."""

    path: str
    has_math_source: bool = False
    math_elements: int = 0
    mjx_containers: int = 0
    mjx_errors: int = 0
    tables: int = 0
    images: int = 0
    broken_images: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    screenshot: Path | None = None
    long_paragraphs: list[str] = field(default_factory=list)
    first_table_top: float | None = None
    first_input_top: float | None = None
    verdict_overflow: list[str] | None = None     # None: the page has no verdicts section
    page_overflow: bool = False
    edition_text: str | None = None
    scale_line: str | None = None
    scale_box_top: float | None = None
    scale_links: list[str] = field(default_factory=list)
    summary_figure_width: int | None = None


@dataclass
class BookVisit:
    """All pages of one visit, plus the requests that failed or tried to leave the machine."""

    pages: dict[str, PageReport]
    external_requests: list[str]
    failed_responses: list[str]
    script_errors: list[str]
    broken_links: list[str]


def html_pages(build_dir: Path) -> list[str]:
    """Return the book's pages (paths relative to ``build_dir``), skipping assets, index and search."""
    pages = []
    for path in sorted(build_dir.rglob("*.html")):
        rel = path.relative_to(build_dir)
        if rel.parts[0] in SKIPPED_DIRS or rel.as_posix() in SKIPPED_PAGES:
            continue
        pages.append(rel.as_posix())
    return pages


def is_local(url: str) -> bool:
    """Return True for a URL on the test server's host (or one with no network scheme)."""
    parsed = urlparse(url)
    if parsed.scheme not in {"http", "https", "ws", "wss"}:
        return True
    return parsed.hostname == LOCAL_HOST


def screenshot_name(page_path: str) -> str:
    """Return the screenshot file name for a page path, e.g. ``chapters_01_main_results.png``."""
    return page_path.removesuffix(".html").replace("/", "_") + ".png"


def needs_screenshot(page_path: str) -> bool:
    """Return True for the pages whose look is kept: the chapters, the intro, the claims and runs pages."""
    return page_path.startswith("chapters/") or page_path in {"intro.html", "claims.html", "runs.html"}


# --------------------------------------------------------------------------------------------------
# Serving and visiting


@pytest.fixture(scope="module")
def book_server() -> Iterator[str]:
    """Serve the built book on 127.0.0.1 (a free port) in a thread; yield its base URL."""
    if not (BUILD_DIR / "index.html").is_file():
        pytest.skip(f"the book is not built ({BUILD_DIR / 'index.html'} missing): run scripts/build_book.sh")
    handler = functools.partial(QuietHandler, directory=str(BUILD_DIR))
    server = ThreadingHTTPServer((LOCAL_HOST, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOCAL_HOST}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    """A static file handler that does not log every request to stderr."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - name fixed by the base class
        return


@pytest.fixture(scope="module")
def visit(book_server: str) -> BookVisit:
    """Open every page of the book in headless Chromium; return what was found."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed: run scripts/setup_browser.sh")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    external: list[str] = []
    failed: list[str] = []
    script_errors: list[str] = []

    def guard(route: Any) -> None:
        url = route.request.url
        if is_local(url):
            route.continue_()
        else:
            external.append(url)
            route.abort()

    def on_response(response: Any) -> None:
        if response.status >= 400 and is_local(response.url):
            failed.append(f"{response.status} {response.url}")

    pages: dict[str, PageReport] = {}
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", guard)
            context.on("response", on_response)
            page = context.new_page()
            page.on("pageerror", lambda err: script_errors.append(f"{page.url}: {err}"))
            for rel in html_pages(BUILD_DIR):
                pages[rel] = visit_page(page, book_server, rel)
        finally:
            browser.close()
    links = sorted({link for report in pages.values() for link in report.links if is_local(link)})
    return BookVisit(pages, external, failed, script_errors, broken_links(links))


def visit_page(page: Any, base_url: str, rel: str) -> PageReport:
    """Open ``rel`` in ``page``, wait for MathJax, and return what the page shows."""
    report = PageReport(rel)
    source = (BUILD_DIR / rel).read_text(encoding="utf-8")
    refresh = REFRESH_RE.search(source)
    if refresh:  # a redirect page (the book's index.html): check its target, do not render it
        report.links.append(urljoin(base_url + rel, refresh.group(1)))
        return report
    report.has_math_source = any(marker in source for marker in MATH_MARKERS)
    page.goto(base_url + rel, wait_until="load")
    if MATHJAX_SCRIPT_RE.search(source):
        outcome = page.evaluate(MATHJAX_READY_JS, MATHJAX_TIMEOUT_MS)
        if outcome != "ready":
            report.problems.append(f"MathJax did not typeset the page: {outcome}")
    elif report.has_math_source:
        report.problems.append("TeX in the page source but no MathJax script")
    counts = page.evaluate(COUNTS_JS)
    report.math_elements, report.mjx_containers = counts["math"], counts["mjx"]
    report.mjx_errors, report.tables, report.images = counts["mjxErrors"], counts["tables"], counts["images"]
    report.links = counts["links"]
    report.broken_images = page.evaluate(IMAGES_JS)
    read_layout(report, page.evaluate(LAYOUT_JS, MAX_PARAGRAPH_WORDS))
    if needs_screenshot(rel):
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        report.screenshot = SCREENSHOT_DIR / screenshot_name(rel)
        page.screenshot(path=str(report.screenshot), full_page=True)
    return report


def read_layout(report: PageReport, layout: dict[str, Any]) -> None:
    """Copy what ``LAYOUT_JS`` measured on the page into ``report``."""
    report.long_paragraphs = layout["longParagraphs"]
    report.first_table_top, report.first_input_top = layout["firstTableTop"], layout["firstInputTop"]
    report.verdict_overflow, report.page_overflow = layout["verdictOverflow"], layout["pageOverflow"]
    report.edition_text, report.summary_figure_width = layout["editionText"], layout["summaryFigureWidth"]
    report.scale_line, report.scale_box_top = layout["scaleLine"], layout["scaleBoxTop"]
    report.scale_links = layout["scaleLinks"]


def broken_links(urls: list[str]) -> list[str]:
    """Fetch each internal URL once (fragments checked against the target's ids); return the failures."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    bodies: dict[str, str | None] = {}
    broken = []
    for url in urls:
        target, fragment = urldefrag(url)
        if target not in bodies:
            try:
                with opener.open(target, timeout=10) as response:
                    bodies[target] = response.read().decode("utf-8", errors="replace")
            except urllib.error.HTTPError as err:
                bodies[target] = None
                broken.append(f"{err.code} {target}")
                continue
        body = bodies[target]
        if body is None:
            continue
        if fragment and target.endswith(".html") and f'id="{fragment}"' not in body:
            broken.append(f"missing anchor #{fragment} in {target}")
    return broken


# --------------------------------------------------------------------------------------------------
# The browser checks


def test_every_page_was_opened(visit: BookVisit) -> None:
    """The walk found the book's fixed pages (a vacuous walk would pass every other check)."""
    for name in ("intro.html", "method.html", "data.html", "pretrained_lms.html", "deviations.html",
                 "claims.html", "runs.html", "reproduce.html", "reliability.html", "references.html"):
        assert name in visit.pages, f"{name} missing from {BUILD_DIR}"


def test_no_request_leaves_the_machine(visit: BookVisit) -> None:
    """Every script, stylesheet, font and image is served by the book itself."""
    assert visit.external_requests == []


def test_internal_links_resolve(visit: BookVisit) -> None:
    """Every internal link (and every asset the pages load) exists; anchors exist on their page."""
    assert visit.broken_links == []
    assert visit.failed_responses == []


def test_images_load(visit: BookVisit) -> None:
    """Every <img> decoded to a picture with a width."""
    broken = {rel: r.broken_images for rel, r in visit.pages.items() if r.broken_images}
    assert broken == {}
    assert visit.pages["intro.html"].images >= 1, "the stages figure is missing from intro.html"


def test_math_is_rendered(visit: BookVisit) -> None:
    """A page with TeX in its source shows MathJax output for every equation, without TeX errors."""
    unrendered = {}
    for rel, report in visit.pages.items():
        if report.problems:
            unrendered[rel] = report.problems
        elif report.has_math_source and (
            report.mjx_containers == 0 or report.mjx_containers < report.math_elements
            or report.mjx_errors
        ):
            unrendered[rel] = (f"{report.mjx_containers} of {report.math_elements} equations typeset, "
                               f"{report.mjx_errors} TeX errors")
    assert unrendered == {}
    method = visit.pages["method.html"]
    assert method.has_math_source and method.mjx_containers >= 5, "method.html shows too few equations"


def test_no_script_errors(visit: BookVisit) -> None:
    """No page raised an uncaught JavaScript error."""
    assert visit.script_errors == []


def test_claims_page_has_table(visit: BookVisit) -> None:
    """The claims ledger shows its table; a screenshot of it is saved."""
    claims = visit.pages["claims.html"]
    assert claims.tables >= 1, "claims.html has no <table>"
    assert claims.screenshot is not None and claims.screenshot.stat().st_size > 10_000


def test_gpu_page_shows_its_run_tables(visit: BookVisit) -> None:
    """The gpu-scale page shows its generated tables: pretrained LMs, LM fine-tuning, classifiers, claims."""
    assert visit.pages["gpu.html"].tables >= 4, "gpu.html lacks its run tables"


def test_pretrained_lms_page_shows_its_tables_and_curve(visit: BookVisit) -> None:
    """The pretrained-LMs page shows its generated tables (probes once recorded, LMs, published figures)
    and the perplexity curve."""
    page = visit.pages["pretrained_lms.html"]
    assert page.tables >= 2, "pretrained_lms.html lacks its tables"
    assert page.images >= 1, "pretrained_lms.html lacks its perplexity curve"


def test_chapters_have_table_and_figure(visit: BookVisit) -> None:
    """Every results chapter shows at least one table and one figure; a screenshot of each is saved."""
    chapters = {rel: r for rel, r in visit.pages.items() if rel.startswith("chapters/")}
    if not chapters:
        pytest.skip("no chapter notebooks in the built book yet")
    lacking = {rel: f"{r.tables} tables, {r.images} images" for rel, r in chapters.items()
               if r.tables < 1 or r.images < 1}
    assert lacking == {}
    for report in chapters.values():
        assert report.screenshot is not None and report.screenshot.stat().st_size > 10_000


def shown_scales(executed: Path = EXECUTED) -> dict[str, str]:
    """The scale each chapter is shown at: the largest one with an executed notebook."""
    shown: dict[str, str] = {}
    for scale in reversed(LARGEST_SCALE_FIRST):
        for path in (executed / scale).glob("[0-9][0-9]_*.ipynb"):
            shown[path.stem] = scale
    return shown


def claims_at_shown_scales(results: Path, shown: dict[str, str]) -> list[dict]:
    """Every claim of the paper (sanity checks of our setup left out) in the claim records of the
    chapters, each at the scale its chapter is shown at."""
    claims = []
    for path in results.glob("*/claims/*.json"):
        record = json.loads(path.read_text(encoding="utf-8"))
        if shown.get(record["notebook"]) == record["scale"]:
            claims += [c for c in record["claims"] if not c.get("sanity")]
    return claims


def chapter_reports(visit: BookVisit) -> dict[str, PageReport]:
    chapters = {rel: r for rel, r in visit.pages.items() if rel.startswith("chapters/")}
    if not chapters:
        pytest.skip("no chapter notebooks in the built book yet")
    return chapters


def test_claims_page_leads_with_its_summary_figure(visit: BookVisit) -> None:
    """The ledger shows the figure of every claim (loaded), and its summary table comes first."""
    claims = visit.pages["claims.html"]
    assert claims.summary_figure_width, "claims.html lacks the summary figure (#fig-claims-summary)"
    assert claims.summary_figure_width >= 600, "the summary figure is too small to read"
    assert claims.first_table_top is not None


def test_chapters_lead_with_results(visit: BookVisit) -> None:
    """On every chapter the first table is above the first code a reader sees (code that only draws or
    prints is folded), and a box under the title names the scale and seeds and links to the runs."""
    shown = shown_scales()
    wrong = {}
    for rel, r in chapter_reports(visit).items():
        scale = shown.get(Path(rel).stem)
        if r.first_table_top is None:
            wrong[rel] = "no table"
        elif r.first_input_top is not None and r.first_input_top < r.first_table_top:
            wrong[rel] = "code shown above the first table"
        elif not r.scale_line or f"{scale} scale" not in r.scale_line or "seed" not in r.scale_line:
            wrong[rel] = f"first line does not name the {scale} scale and its seeds: {r.scale_line!r}"
        elif r.scale_box_top is None or r.scale_box_top > r.first_table_top:
            wrong[rel] = "the scale box is not above the first table"
        elif not any(urlparse(link).path.endswith("/runs.html") and urldefrag(link)[1] for link in r.scale_links):
            wrong[rel] = f"the scale box does not link to the chapter's runs: {r.scale_links}"
    assert wrong == {}


def test_no_verdict_scrolls_sideways(visit: BookVisit) -> None:
    """Every chapter has a verdicts section, nothing in it is wider than the text column or scrolls
    sideways, and no chapter page scrolls sideways."""
    wrong = {}
    for rel, r in chapter_reports(visit).items():
        if r.verdict_overflow is None:
            wrong[rel] = "no verdicts section"
        elif r.verdict_overflow or r.page_overflow:
            wrong[rel] = r.verdict_overflow or "the page scrolls sideways"
    assert wrong == {}


def test_no_prose_paragraph_is_longer_than_150_words(visit: BookVisit) -> None:
    """Every paragraph of running text, on every page, has at most 150 words."""
    long = {rel: r.long_paragraphs for rel, r in visit.pages.items() if r.long_paragraphs}
    assert long == {}


def test_intro_box_counts_what_the_records_hold(visit: BookVisit) -> None:
    """The intro's "What this edition shows" box gives the verdict counts that the claim records in
    ``results/`` hold for the chapters at the scales they are shown at (counted here, not by the book's
    code), sanity checks left out."""
    text = visit.pages["intro.html"].edition_text
    assert text, "intro.html lacks its 'What this edition shows' box"
    found = EDITION_COUNTS_RE.search(text)
    assert found, f"no verdict counts in the box: {text[:300]}"
    claims = claims_at_shown_scales(results_dir(), shown_scales())
    verdicts = [c["verdict"] for c in claims]
    expected = (len(claims), verdicts.count("holds"), verdicts.count("contradicted"), verdicts.count("inconclusive"))
    assert tuple(int(n) for n in found.groups()) == expected


# --------------------------------------------------------------------------------------------------
# The table of contents generator (no browser, no build needed)




def make_book(tmp_path: Path, chapters: list[str]) -> Path:
    """Return a book folder holding a copy of the real toc template and the named chapter files."""
    (tmp_path / "_toc.template.yml").write_text((BOOK_DIR / "_toc.template.yml").read_text())
    for name in chapters:
        (tmp_path / "chapters").mkdir(exist_ok=True)
        (tmp_path / "chapters" / name).write_text("{}")
    return tmp_path


def toc_files(toc_path: Path) -> list[str]:
    """Return every ``file`` entry of a written toc, in order."""
    toc = yaml.safe_load(toc_path.read_text())
    return [entry["file"] for part in toc["parts"] for entry in part["chapters"]]


def test_toc_lists_existing_chapters_in_order(tmp_path: Path) -> None:
    prepare = load_prepare_book()
    book = make_book(tmp_path, ["02_low_shot.ipynb", "01_main_results.ipynb", "_draft.ipynb", "notes.txt"])
    files = toc_files(prepare.write_toc(book))
    assert files == ["method", "data", "pretrained_lms", "deviations", "chapters/01_main_results", "chapters/02_low_shot",
                     "claims", "runs", "reproduce", "gpu", "performance", "reliability", "references"]


def test_toc_without_chapters_drops_the_results_part(tmp_path: Path) -> None:
    prepare = load_prepare_book()
    toc = yaml.safe_load(prepare.write_toc(make_book(tmp_path, [])).read_text())
    assert [part["caption"] for part in toc["parts"]] == ["Method and data", "Claims and reproduction"]
    assert toc["root"] == "intro"


def test_toc_rejects_a_part_with_both_lists(tmp_path: Path) -> None:
    prepare = load_prepare_book()
    template = {"format": "jb-book", "root": "intro",
                "parts": [{"caption": "x", "chapters": [{"file": "a"}], "chapters_glob": "*.ipynb"}]}
    with pytest.raises(ValueError, match=r"my_toc\.yml: part 1 has both"):
        prepare.render_toc(template, tmp_path, source="my_toc.yml")


def test_chapters_are_copied_at_the_largest_scale(tmp_path: Path) -> None:
    prepare = load_prepare_book()
    executed = tmp_path / "executed"
    for scale, names in (("smoke", ["01_a", "02_b"]), ("reduced", ["02_b"])):
        (executed / scale).mkdir(parents=True)
        for name in names:
            (executed / scale / f"{name}.ipynb").write_text(f"{scale}-{name}")
    book = tmp_path / "book"
    (book / "chapters").mkdir(parents=True)
    (book / "chapters" / "09_gone.ipynb").write_text("stale")
    shown = prepare.copy_chapters(book, executed)
    assert shown == {"01_a": "smoke", "02_b": "reduced"}
    assert (book / "chapters" / "02_b.ipynb").read_text() == "reduced-02_b"
    assert not (book / "chapters" / "09_gone.ipynb").exists()
