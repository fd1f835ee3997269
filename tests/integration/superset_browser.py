"""Drives Apache Superset 6.1 in headless Chromium for the integration tests.

A helper module, not a test file: `browser()` starts Debian's chromium through Selenium and
yields a `SupersetBrowser` that logs in through the real login form, opens dashboards and
reports what each chart rendered, and runs queries in SQL Lab, saving a screenshot of each.

Chromium and chromedriver are the distribution's (`/usr/bin/chromium`,
`/usr/bin/chromedriver`); the driver's path is handed to Selenium, which then skips Selenium
Manager entirely, so nothing is downloaded.

Selectors prefer Superset's `data-test` attributes. What Superset 6.1 renders, as read from
its DOM and its bundle:

- login form: `username-input`, `password-input`, `login-button`;
- dashboard: one `chart-grid-component` per chart (with `data-test-chart-id`,
  `data-test-viz-type`, `data-test-chart-name`); its title in `slice-header` >
  `editable-title`; while a chart loads, a `loading-indicator` (role=status); once its
  query answered, a `chart-container` > `slice-container` holding the visualisation (an
  echarts `<canvas>`, a table's `<tbody><tr>`, a big number's text); a failed query
  replaces the container by an antd error alert (`.ant-alert-error`, role=alert, e.g.
  "Data error ...");
- SQL Lab: tabs in `sql-editor-tabs` (only the active tab's pane matters: panes of tabs
  visited earlier stay mounted), the database/schema picker behind the left bar's
  `DatabaseSelector` button (a popover with `select-database` and `Select schema`
  antd selects), the Ace editor `.ace_editor`, `run-query-action`, and in `south-pane` the
  results: an AG Grid in `table-container` (`role=columnheader`/`row`/`gridcell`, the row
  number column has col-id -1), an `.ant-alert-error` for a failed query, an
  `.ant-alert-warning` "The query returned no data".

Dashboard virtualization (the DASHBOARD_VIRTUALIZATION feature flag, on by default in 6.1)
renders only the charts near the viewport, but Superset turns it off for bots, which it
recognises by `navigator.webdriver` (true under Selenium): every chart renders without
scrolling. `open_dashboard` still scrolls each chart that has not finished into view, so a
browser that hides `navigator.webdriver` works too.
"""

from __future__ import annotations

import base64
import re
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW_SIZE = (1600, 1000)

POLL_SECONDS = 0.25
"""How often waits look again (the only sleeps in the module)."""

T = TypeVar("T")


class SupersetBrowserError(AssertionError):
    """A wait timed out or the page showed something unexpected.

    An AssertionError, so pytest shows the message as a test failure, not an error."""


class SqlLabQueryError(SupersetBrowserError):
    """SQL Lab ran the query and showed an error instead of results."""


@dataclass(frozen=True)
class ChartResult:
    """What one chart of a dashboard showed once it had finished loading."""

    title: str
    chart_id: int | None
    viz_type: str
    error: str | None
    """The text of the chart's error tile; None when it showed none."""
    has_data: bool
    """The chart drew something: a canvas or svg marks, table rows, or text."""
    evidence: str
    """Why `has_data` is what it is, for assertion messages: "canvas", "table rows: 5",
    "text: 7.5k", "empty: No results were returned ..."."""

    @property
    def ok(self) -> bool:
        return self.error is None and self.has_data


# --- JavaScript run in the page ------------------------------------------------------------
# Whole-page reads happen in one script each: a single round trip, and no element handle that
# React could replace between two Selenium calls (StaleElementReferenceException).

# An antd alert's title and message, without the "See more" toggle of Superset's ErrorAlert.
_ALERT_TEXT_JS = """
function alertText(alert) {
  const part = sel => {
    const el = alert.querySelector(sel);
    if (!el) return '';
    const copy = el.cloneNode(true);
    copy.querySelectorAll('[role="button"]').forEach(b => b.remove());
    return copy.textContent.replace(/\\s+/g, ' ').trim();
  };
  const text = [part('.ant-alert-message'), part('.ant-alert-description')].filter(Boolean).join(': ');
  return text || alert.innerText.trim() || 'error alert without text';
}
"""

_CHARTS_JS = (
    _ALERT_TEXT_JS
    + """
const out = [];
for (const h of document.querySelectorAll('[data-test="chart-grid-component"]')) {
  const titleEl = h.querySelector('[data-test="slice-header"] [data-test="editable-title"]');
  const title = ((titleEl && titleEl.innerText) || h.getAttribute('data-test-chart-name') || '').trim();
  const body = h.querySelector('.dashboard-chart') || h;
  const container = body.querySelector('[data-test="chart-container"]');
  const loading = !!body.querySelector('[data-test="loading-indicator"]');
  let error = null;
  const alert = body.querySelector('.ant-alert-error, .ant-alert-warning, [role="alert"]');
  if (alert) {
    error = alertText(alert);
  } else if (!container && !loading &&
             body.querySelector('[aria-label="exclamation-circle"], [aria-label="warning"]')) {
    // ErrorAlert's compact form: an icon whose tooltip holds the message
    error = body.innerText.trim() || 'compact error icon';
  }
  let evidence = '';
  const slice = body.querySelector('[data-test="slice-container"]');
  if (slice && !loading && !error) {
    const empty = slice.querySelector('.ant-empty, [data-test="empty-state"]');
    const canvas = Array.from(slice.querySelectorAll('canvas')).some(c => c.width > 0 && c.height > 0);
    const rows = slice.querySelectorAll('tbody tr').length;
    const marks = slice.querySelectorAll('svg path, svg rect, svg circle, svg text').length;
    const text = slice.innerText.trim();
    if (empty) evidence = 'empty: ' + (text.replace(/\\s+/g, ' ').slice(0, 80) || 'empty state');
    else if (canvas) evidence = 'canvas';
    else if (rows) evidence = 'table rows: ' + rows;
    else if (marks > 2) evidence = 'svg marks: ' + marks;
    else if (text) evidence = 'text: ' + text.replace(/\\s+/g, ' ').slice(0, 80);
  }
  const rect = h.getBoundingClientRect();
  out.push({
    title: title,
    chart_id: h.getAttribute('data-test-chart-id'),
    viz_type: h.getAttribute('data-test-viz-type') || '',
    loading: loading,
    rendered: !!container,
    error: error,
    evidence: evidence,
    top: rect.top + window.scrollY,
  });
}
return {
  grid: !!document.querySelector('[data-test="grid-container"], [data-test="dashboard-content-wrapper"]'),
  charts: out,
};
"""
)

# The active SQL Lab tab's pane: panes of tabs visited before stay mounted, hidden.
_ACTIVE_PANE_JS = """
function activePane() {
  const tabs = document.querySelector('[data-test="sql-editor-tabs"]');
  return tabs && tabs.querySelector(
    ':scope > .ant-tabs-content-holder > .ant-tabs-content > .ant-tabs-tabpane-active');
}
"""

_SQLLAB_TABS_JS = """
const tabs = document.querySelector('[data-test="sql-editor-tabs"]');
if (!tabs) return null;
const nav = tabs.querySelector(':scope > .ant-tabs-nav');
const all = Array.from(nav.querySelectorAll('.ant-tabs-tab[data-node-key]'));
const active = all.find(t => t.classList.contains('ant-tabs-tab-active'));
const pane = tabs.querySelector(
  ':scope > .ant-tabs-content-holder > .ant-tabs-content > .ant-tabs-tabpane-active');
return {
  keys: all.map(t => t.getAttribute('data-node-key')),
  active: active ? active.getAttribute('data-node-key') : null,
  editor: !!(pane && pane.querySelector('.ace_editor')),
};
"""

_SET_SQL_JS = (
    _ACTIVE_PANE_JS
    + """
const pane = activePane();
const el = pane && pane.querySelector('.ace_editor');
if (!el) return null;
const editor = (el.env && el.env.editor) || (window.ace && window.ace.edit(el));
if (!editor) return null;
editor.setValue(arguments[0], 1);  // 1: cursor to the end, nothing selected
editor.focus();
return editor.getValue();
"""
)

_SQLLAB_RESULT_JS = (
    _ALERT_TEXT_JS
    + _ACTIVE_PANE_JS
    + """
const pane = activePane();
const south = pane && pane.querySelector('[data-test="south-pane"]');
if (!south) return {state: 'no south pane'};
const panel = south.querySelector('[role="tabpanel"][id$="-panel-Results"]') || south;
const error = panel.querySelector('.ant-alert-error');
if (error) return {state: 'error', text: alertText(error)};
const warning = panel.querySelector('.ant-alert-warning');
const code = panel.querySelector('[data-test="span-modal-trigger"] code');
const sql = code ? code.innerText : null;
if (warning) return {state: 'empty', text: alertText(warning), sql: sql};
const grid = panel.querySelector('[data-test="table-container"]');
if (!grid || !grid.querySelector('[role="columnheader"]')) return {state: 'running'};
const isData = c => c.getAttribute('col-id') !== '-1' && !c.classList.contains('row-number-col');
const colIndex = c => Number(c.getAttribute('aria-colindex'));
const columns = Array.from(grid.querySelectorAll('[role="columnheader"]')).filter(isData)
  .sort((a, b) => colIndex(a) - colIndex(b)).map(c => c.innerText.trim());
// a row is split between the pinned-left and the centre container: join by row-index
const rows = new Map();
for (const r of grid.querySelectorAll('[role="row"][row-index]')) {
  const i = Number(r.getAttribute('row-index'));
  if (!rows.has(i)) rows.set(i, []);
  for (const c of r.querySelectorAll('[role="gridcell"]')) {
    if (isData(c)) rows.get(i).push([colIndex(c), c.innerText]);
  }
}
const ordered = Array.from(rows.keys()).sort((a, b) => a - b)
  .map(i => rows.get(i).sort((a, b) => a[0] - b[0]).map(x => x[1]));
return {state: 'table', columns: columns, rows: ordered, sql: sql};
"""
)


def _norm_sql(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip().rstrip(";").strip()


class SupersetBrowser:
    """A logged-in (after `login`) Chromium session on one Superset."""

    def __init__(self, driver: webdriver.Chrome, screenshot_dir: Path) -> None:
        self.driver = driver
        self.screenshot_dir = screenshot_dir
        self.base_url = ""
        self.screenshots: list[Path] = []
        """Every screenshot saved, in order (failures included)."""

    # --- generic helpers -------------------------------------------------------------------

    def url(self, path: str) -> str:
        if not self.base_url:
            raise SupersetBrowserError("login() first: it sets the Superset base URL")
        return self.base_url + path

    def screenshot(self, name: str, *, full_page: bool = False) -> Path:
        """Saves a PNG of the viewport (or of the whole page) as `name`.png, or
        `name`-2.png and so on when this session saved that name already."""
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "page"
        path = self.screenshot_dir / f"{safe}.png"
        n = 1
        while path in self.screenshots:
            n += 1
            path = self.screenshot_dir / f"{safe}-{n}.png"
        if full_page:
            self._full_page_screenshot(path)
        else:
            self.driver.save_screenshot(str(path))
        self.screenshots.append(path)
        return path

    def _full_page_screenshot(self, path: Path) -> None:
        """The whole document through the DevTools protocol (save_screenshot stops at the
        viewport, and a dashboard is taller than that)."""
        metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        width, height = max(int(size["width"]), 1), min(max(int(size["height"]), 1), 16000)
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            },
        )
        path.write_bytes(base64.b64decode(shot["data"]))

    def wait_for(self, what: str, condition: Callable[[], T | None], timeout: float) -> T:
        """Polls `condition` until it returns something truthy and returns that.

        On timeout, saves a screenshot and raises SupersetBrowserError naming `what`. A
        WebDriverException inside `condition` (an element React just replaced) counts as
        "not yet"; the last one is quoted if the wait fails."""
        deadline = time.monotonic() + timeout
        last_error: WebDriverException | None = None
        while True:
            try:
                value = condition()
                if value:
                    return value
            except WebDriverException as exc:
                last_error = exc
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL_SECONDS)
        shot = self.screenshot(f"timeout-{what[:60]}")
        detail = f"; last error: {last_error.msg}" if last_error is not None else ""
        raise SupersetBrowserError(
            f"timed out after {timeout:.0f} s waiting for {what} "
            f"(at {self.driver.current_url}; screenshot {shot}){detail}"
        )

    def _visible(self, css: str, root: WebElement | None = None) -> WebElement | None:
        scope = root or self.driver
        for element in scope.find_elements("css selector", css):
            if element.is_displayed():
                return element
        return None

    def _js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    # --- login -----------------------------------------------------------------------------

    def login(
        self, base_url: str, user: str, password: str, *, timeout: float = 30, attempts: int = 2
    ) -> None:
        """Signs in through the form at /login/ and checks the session is a user's.

        The form posts the whole page; Superset answers with the next page or, refused, with
        the login page and a red toast "Invalid username or password". That toast alone
        proves nothing: the page sets a sessionStorage flag on submit and shows the toast
        whenever the login page loads with the flag still set, after a successful login too.
        So the outcome is read once the posted page has loaded: still /login/ is a refusal,
        anywhere else must be confirmed by /api/v1/me/ answering 200.

        A refusal is tried again (`attempts`): Superset 6.1 now and then refused the right
        password, the form's CSRF token no longer matching the session cookie (caught once:
        a request of the previous page, sent without the cookie, made Superset start a new
        session while the form was being filled). A second try runs on a settled session.
        The page's toast says "Invalid username or password" whatever the reason."""
        self.base_url = base_url.rstrip("/")
        reasons: list[str] = []
        for attempt in range(1, attempts + 1):
            reason = self._submit_login(user, password, timeout)
            if reason is None:
                return
            reasons.append(reason)
            if attempt < attempts:
                time.sleep(1)  # back off before the next try, past the rate limit's second
        shot = self.screenshot("login-failed")
        raise SupersetBrowserError(
            f"login of {user!r} refused {len(reasons)} time(s): {'; '.join(reasons)} (screenshot {shot})"
        )

    def _submit_login(self, user: str, password: str, timeout: float) -> str | None:
        """One pass through the login form: None once logged in, else why not."""
        self.driver.get(self.url("/login/"))
        if not self._on_login_page():
            self.driver.get(self.url("/logout/"))  # a session already: start from none
            self.driver.get(self.url("/login/"))
        username = self.wait_for(
            "the login form's username field", lambda: self._visible('[data-test="username-input"]'), timeout
        )
        # the flag is the page's own; the marker tells this document from the one posted to
        self._js("sessionStorage.removeItem('login_attempted'); window.__cdcLoginForm = true;")
        username.clear()
        username.send_keys(user)
        password_input = self.driver.find_element("css selector", '[data-test="password-input"]')
        password_input.clear()
        password_input.send_keys(password)
        self.driver.find_element("css selector", '[data-test="login-button"]').click()
        self.wait_for(
            "the page the login form posts to",
            lambda: self._js(
                "return window.__cdcLoginForm === undefined && document.readyState === 'complete'"
            ),
            timeout,
        )
        if self._on_login_page():
            try:
                toast = self.wait_for(
                    "the login page's error toast",
                    lambda: (t := self._visible(".toast--danger, .ant-alert-error")) and t.text.strip(),
                    5,
                )
            except SupersetBrowserError:
                toast = f"still on the login page, titled {self.driver.title!r}, without an error toast"
            return str(toast)
        status = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch('/api/v1/me/', {credentials: 'same-origin'})"
            ".then(r => done(r.status)).catch(e => done(String(e)));"
        )
        return None if status == 200 else f"left the login page but /api/v1/me/ answered {status}"

    def _on_login_page(self) -> bool:
        return urlsplit(self.driver.current_url).path.startswith("/login")

    # --- dashboards ------------------------------------------------------------------------

    def open_dashboard(self, slug: str, *, timeout: float = 90, settle: float = 1.5) -> list[ChartResult]:
        """Opens /superset/dashboard/<slug>/, waits until no chart is loading any more and
        returns, per chart in page order, its title, its error tile's text and whether it
        drew data. Saves a full-page screenshot, `slug`.png.

        "Finished" means every chart shows either its visualisation without a loading
        indicator or an error, and nothing changed for `settle` seconds (a chart can start
        a second query, e.g. once native filters apply their defaults). Charts in inactive
        dashboard tabs are never rendered by Superset, so they are not reported.
        """
        self.driver.get(self.url(f"/superset/dashboard/{slug}/"))
        started = time.monotonic()

        def layout() -> bool:
            if re.match(r"\d{3}\b", self.driver.title):  # Superset's error pages: "404: Not found | ..."
                raise SupersetBrowserError(f"dashboard {slug!r}: {self.driver.title}")
            return bool(self._js(_CHARTS_JS)["grid"])

        self.wait_for(f"dashboard {slug!r} to show its layout", layout, timeout)
        state: dict[str, Any] = {"fingerprint": None, "since": 0.0}

        def settled() -> dict[str, list[dict[str, Any]]] | None:
            page = self._js(_CHARTS_JS)
            charts: list[dict[str, Any]] = page["charts"]
            unfinished = [c for c in charts if c["loading"] or not (c["rendered"] or c["error"])]
            if unfinished:
                # virtualization renders only charts near the viewport: bring one into view
                self._js("window.scrollTo(0, Math.max(0, arguments[0] - 100));", unfinished[0]["top"])
            fingerprint = [(c["chart_id"], c["loading"], c["error"], c["evidence"]) for c in charts]
            now = time.monotonic()
            if fingerprint != state["fingerprint"]:
                state.update(fingerprint=fingerprint, since=now)
                return None
            # a dashboard without charts gets longer to prove it has none
            needed = settle if charts else max(settle, 5.0)
            done = not unfinished and now - state["since"] >= needed
            return {"charts": charts} if done else None  # a dict: an empty list would read as "not yet"

        remaining = max(timeout - (time.monotonic() - started), 1.0)
        try:
            charts = self.wait_for(
                f"every chart of dashboard {slug!r} to finish loading", settled, remaining
            )["charts"]
        except SupersetBrowserError as exc:
            pending = [
                c["title"]
                for c in self._js(_CHARTS_JS)["charts"]
                if c["loading"] or not (c["rendered"] or c["error"])
            ]
            raise SupersetBrowserError(f"{exc}; charts still loading: {pending}") from None
        self._js("window.scrollTo(0, 0);")
        self.screenshot(slug, full_page=True)
        return [
            ChartResult(
                title=c["title"],
                chart_id=int(c["chart_id"]) if (c["chart_id"] or "").isdigit() else None,
                viz_type=c["viz_type"],
                error=c["error"],
                has_data=bool(c["evidence"]) and not c["evidence"].startswith("empty:"),
                evidence=c["evidence"] or ("error" if c["error"] else "nothing drawn"),
            )
            for c in charts
        ]

    # --- SQL Lab ---------------------------------------------------------------------------

    def run_sql_lab(
        self,
        database_name: str,
        schema: str | None,
        sql: str,
        *,
        timeout: float = 120,
        close_tab: bool = True,
    ) -> list[list[str]]:
        """Runs `sql` in a new SQL Lab tab on `database_name` (and `schema`, if given) and
        returns the result grid's rows as cell texts, in row order.

        A new tab rather than the open one: no earlier result can pass for this one, and
        the tab's database starts as the last one used. The tab is closed afterwards
        (`close_tab`): SQL Lab keeps a user's tabs on the server, creating and deleting them
        there from a timer (every 5 s), so the close waits for that. The grid is
        virtualized: only the rows (and columns) it rendered are read, dozens at this window
        size. A query that fails raises SqlLabQueryError with SQL Lab's message. Saves a
        screenshot of the result, sql-lab.png."""
        self.driver.get(self.url("/sqllab/"))
        before = self.wait_for(
            "SQL Lab to show its editor tabs", lambda: self._js(_SQLLAB_TABS_JS), min(timeout, 60)
        )
        server_tabs = self._sqllab_server_tabs() if close_tab else set()
        add = self.wait_for(
            "SQL Lab's add-tab button",
            lambda: self._visible('[data-test="sql-editor-tabs"] [data-test="add-tab-icon"]'),
            30,
        )
        add.click()
        new_tab = self.wait_for(
            "a new SQL Lab tab with an editor",
            lambda: (
                (tabs := self._js(_SQLLAB_TABS_JS))
                and tabs["active"] not in before["keys"]
                and tabs["editor"]
                and tabs["active"]
            ),
            30,
        )
        try:
            self._choose_database(database_name, schema)
            typed = self.wait_for("the Ace editor to take the SQL", lambda: self._js(_SET_SQL_JS, sql), 15)
            if _norm_sql(typed) != _norm_sql(sql):
                raise SupersetBrowserError(f"the Ace editor holds {typed!r} instead of {sql!r}")
            # inactive tabs' panes are hidden: the visible Run button is the active tab's
            run = self.wait_for("the Run button", lambda: self._visible('[data-test="run-query-action"]'), 15)
            run.click()
            result = self.wait_for(
                "SQL Lab's result grid or error",
                lambda: (r := self._js(_SQLLAB_RESULT_JS))["state"] in ("table", "error", "empty") and r,
                timeout,
            )
            shot = self.screenshot("sql-lab")
            if result["state"] == "error":
                raise SqlLabQueryError(f"SQL Lab: {result['text']} (query {sql!r}; screenshot {shot})")
            shown = _norm_sql(result.get("sql") or "").removesuffix("...").strip()
            if shown and not _norm_sql(sql).startswith(shown):
                raise SupersetBrowserError(
                    f"SQL Lab ran {result['sql']!r}, not {sql!r}: the editor's text did not reach it"
                )
            if result["state"] == "empty":
                return []
            rows: list[list[str]] = result["rows"]
            return rows
        finally:
            if close_tab:
                self._close_sqllab_tab(new_tab, server_tabs)

    def _left_bar_selection(self) -> tuple[str, str]:
        """The database and schema the active SQL Lab tab shows in its left bar."""
        database, schema = self._js(
            """
            const sel = document.querySelector(
              '[data-test="sql-editor-left-bar"] [data-test="DatabaseSelector"]');
            if (!sel) return ['', ''];
            const name = sel.querySelector('.name');
            const buttons = sel.querySelectorAll(':scope > button');
            const schema = buttons.length > 1 ? buttons[buttons.length - 1].innerText.trim() : '';
            return [name ? (name.getAttribute('title') || name.innerText).trim() : '', schema];
            """
        )
        return str(database), str(schema)

    def _choose_database(self, database_name: str, schema: str | None) -> None:
        """Picks the database and schema in the left bar's popover, unless already shown.

        An unset schema shows as the placeholder "Select schema", which never matches."""
        selector = '[data-test="sql-editor-left-bar"] [data-test="DatabaseSelector"]'
        button = self.wait_for("SQL Lab's database selector", lambda: self._visible(selector), 30)
        db_now, schema_now = self._left_bar_selection()
        if db_now == database_name and (schema is None or schema_now == schema):
            return
        button.click()
        popover = self.wait_for(
            "the database/schema popover",
            lambda: (
                self._visible('.ant-popover [data-test="select-database"]') and self._visible(".ant-popover")
            ),
            15,
        )
        if db_now != database_name:
            self._pick_option(popover, '[data-test="select-database"]', database_name, "database")
        if schema is not None:
            self._pick_option(popover, '[data-test="Select schema"]', schema, "schema")
        select = self.wait_for(
            "the popover's Select button",
            lambda: next(
                (b for b in popover.find_elements("css selector", "button") if b.text.strip() == "Select"),
                None,
            ),
            10,
        )
        select.click()
        self.wait_for(
            f"SQL Lab to show database {database_name!r}" + (f" and schema {schema!r}" if schema else ""),
            lambda: (
                (sel := self._left_bar_selection())[0] == database_name
                and (schema is None or sel[1] == schema)
            ),
            15,
        )

    def _pick_option(self, popover: WebElement, select_css: str, value: str, what: str) -> None:
        """Opens an antd select, types `value` to filter it and clicks the exact option."""
        select = popover.find_element("css selector", select_css)
        select.click()
        search = select.find_element("css selector", "input")
        search.send_keys(value)

        def option() -> WebElement | None:
            for item in self.driver.find_elements(
                "css selector",
                ".ant-select-dropdown:not(.ant-select-dropdown-hidden) .ant-select-item-option",
            ):
                names = {item.get_attribute("title") or "", item.text.strip()}
                names |= {n.get_attribute("title") or "" for n in item.find_elements("css selector", ".name")}
                if value in names and item.is_displayed():
                    return item
            return None

        self.wait_for(f"the {what} option {value!r}", option, 30).click()

    def _sqllab_server_tabs(self) -> set[str]:
        """The ids of the SQL Lab tabs the server keeps for this user."""
        ids = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch('/api/v1/sqllab/', {credentials: 'same-origin'}).then(r => r.json())"
            ".then(j => done(j.result.tab_state_ids.map(t => String(t.id)))).catch(e => done(null));"
        )
        if ids is None:
            raise SupersetBrowserError("GET /api/v1/sqllab/ failed: cannot tell which SQL Lab tabs exist")
        return set(ids)

    def _close_sqllab_tab(self, key: str, server_tabs: set[str]) -> None:
        """Closes the SQL Lab tab `key` and waits until the server holds no tab beyond
        `server_tabs`, the ones from before it. Best effort, so as not to hide the query's
        outcome: a tab left behind is a warning."""
        try:
            tab = self.driver.find_element(
                "css selector", f'[data-test="sql-editor-tabs"] .ant-tabs-tab[data-node-key="{key}"]'
            )
            tab.find_element("css selector", ".ant-tabs-tab-remove").click()
            self.wait_for(
                "the SQL Lab tab to close",
                lambda: key not in ((self._js(_SQLLAB_TABS_JS) or {}).get("keys") or []),
                10,
            )
            self.wait_for(
                "SQL Lab to delete the closed tab on the server",
                lambda: self._sqllab_server_tabs() <= server_tabs,
                20,
            )
        except (WebDriverException, SupersetBrowserError) as exc:
            warnings.warn(f"SQL Lab tab left open: {exc}", stacklevel=3)


@contextmanager
def browser(
    screenshot_dir: Path,
    *,
    chromium: Path = CHROMIUM,
    chromedriver: Path = CHROMEDRIVER,
    window_size: tuple[int, int] = WINDOW_SIZE,
    page_load_timeout: float = 60,
) -> Iterator[SupersetBrowser]:
    """Headless Chromium on a fresh profile; always quit, whatever happens inside."""
    for path in (chromium, chromedriver):
        if not path.is_file():
            raise SupersetBrowserError(f"{path} is missing: apt-get install chromium chromium-driver")
    screenshot_dir.mkdir(parents=True, exist_ok=True)
    width, height = window_size
    options = Options()
    options.binary_location = str(chromium)
    profile = tempfile.TemporaryDirectory(prefix="superset-chromium-")
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in containers
        "--disable-dev-shm-usage",  # small /dev/shm in containers
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--force-device-scale-factor=1",
        "--lang=en-US",  # the selectors match English labels ("Select", "Run")
        f"--user-data-dir={profile.name}",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
    ):
        options.add_argument(argument)
    # the driver's path given: Selenium skips Selenium Manager (no download, no network)
    service = Service(executable_path=str(chromedriver))
    driver: webdriver.Chrome | None = None
    try:
        driver = webdriver.Chrome(service=service, options=options)
        driver.set_page_load_timeout(page_load_timeout)
        # the window's chrome eats into --window-size even headless: make the viewport exact
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        yield SupersetBrowser(driver, screenshot_dir)
    except TimeoutException as exc:  # a page load beyond page_load_timeout
        raise SupersetBrowserError(f"page load timed out: {exc.msg}") from exc
    finally:
        if driver is not None:
            driver.quit()
        profile.cleanup()
