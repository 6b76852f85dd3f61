"""The picture laid out in the browser: an anywidget that turns DOT text into SVG with Graphviz
compiled to WebAssembly (@hpcc-js/wasm-graphviz), for where Python cannot run `dot` (Pyodide in a
JupyterLite site: no subprocesses, no threads; iommulab.viz.in_browser()).

Python sets `dot`; the browser lays it out and shows it as viz.graph shows dot's SVG: at the fixed
scale (viz.graph.SCALE px per point), in a scrolling box that opens on the step's focus (the nodes
graph() marks with FOCUS and ALSO). One way only: the SVG never comes back to Python.

The Graphviz module is no part of this package: the static site serves its own copy
(scripts/lite.sh puts it at <site>/iommulab/wasm-graphviz.js); `graphviz_url` names another place
(relative to the page). Nothing is fetched from any other host. The same module also draws the
placeholders viz.render_svg() leaves in HTML outputs (viz.dot_html): once a WasmDot is on the page,
every `.iommulab-dot[data-dot]` there, now or later, is replaced by its picture."""
import anywidget
import traitlets

from ..viz import DOT_CLASS
from ..viz.graph import ALSO, FOCUS, SCALE

SITE_PATH = "iommulab/wasm-graphviz.js"       # under the site's base URL (scripts/lite.sh)

_ESM = r"""
const SCALE = __SCALE__, FOCUS = "__FOCUS__", ALSO = "__ALSO__", PLACEHOLDER = "__DOT_CLASS__";
const FITS = [480, 400], PAD = 4;
const loaded = {};                                  // module URL -> Promise of a Graphviz instance

function siteUrl(model) {
  const own = model.get("graphviz_url");
  if (own) return new URL(own, document.baseURI).href;
  let base = "./";
  const cfg = document.getElementById("jupyter-config-data");
  if (cfg) { try { base = JSON.parse(cfg.textContent).baseUrl || base; } catch (e) { /* the page's own */ } }
  return new URL("__SITE_PATH__", new URL(base, document.baseURI)).href;
}

function graphviz(url) {
  if (!loaded[url]) loaded[url] = import(url).then((m) => m.Graphviz.load());
  return loaded[url];
}

function fixedScale(svg) {                          // as viz.graph.fixed_scale: px at SCALE per point
  const box = svg.viewBox && svg.viewBox.baseVal;
  if (!box || !box.width) return;
  svg.setAttribute("width", Math.ceil(box.width * SCALE - 1e-9) + "px");
  svg.setAttribute("height", Math.ceil(box.height * SCALE - 1e-9) + "px");
}

function anchor(inner, svg) {                       // as viz.graph.anchored: open the box on the focus
  const origin = inner.getBoundingClientRect();
  const rect = (g) => { const r = g.getBoundingClientRect();
    return [r.left - origin.left, r.top - origin.top, r.right - origin.left, r.bottom - origin.top]; };
  const focus = svg.querySelector("g.node." + FOCUS);
  if (!focus) return null;
  let [l, t, r, b] = rect(focus);
  for (const g of svg.querySelectorAll("g.node." + ALSO)) {
    const [l2, t2, r2, b2] = rect(g);
    const grown = [Math.min(l, l2), Math.min(t, t2), Math.max(r, r2), Math.max(b, b2)];
    if (grown[2] - grown[0] <= FITS[0] && grown[3] - grown[1] <= FITS[1]) [l, t, r, b] = grown;
  }
  const w = parseFloat(svg.getAttribute("width")), h = parseFloat(svg.getAttribute("height"));
  r = Math.min(w, r + PAD); b = Math.min(h, b + PAD);
  const mark = document.createElement("div");
  mark.className = "iommulab-focus-anchor";
  mark.style.cssText = `position:absolute;left:0;top:0;width:${r.toFixed(0)}px;height:${b.toFixed(0)}px;` +
    "pointer-events:none;scroll-initial-target:nearest;scroll-snap-align:end";
  inner.appendChild(mark);
  return [r, b];
}

function escapeText(s) {
  return String(s).replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]);
}

async function layout(dot, url) {
  const gv = await graphviz(url);
  return gv.dot(dot);
}

// The wasm layout measures text with Helvetica's built-in metrics; a browser without Helvetica or
// Arial (Debian's Chromium has DejaVu only) would draw wider text than the boxes were made for.
// A metric-compatible face first, then a condensed one, keeps the labels inside their boxes.
function textFaces() {
  if (document.getElementById("iommulab-wasmdot-faces")) return;
  const style = document.createElement("style");
  style.id = "iommulab-wasmdot-faces";
  style.textContent = '.iommulab-graph-box svg text { font-family: Helvetica, Arial, "Liberation Sans", ' +
    '"Nimbus Sans", "DejaVu Sans Condensed", sans-serif; }';
  document.head.appendChild(style);
}

function show(target, svgText) {                    // target is in the page: the focus is measured there
  textFaces();
  const box = document.createElement("div");
  box.className = "iommulab-graph-box";
  box.style.cssText = "overflow:auto;max-width:100%";
  const inner = document.createElement("div");
  inner.style.cssText = "position:relative;width:max-content;line-height:0";
  inner.innerHTML = svgText.slice(Math.max(0, svgText.indexOf("<svg")));
  box.appendChild(inner);
  const svg = inner.querySelector("svg");
  if (svg) fixedScale(svg);
  target.replaceChildren(box);
  const end = svg ? anchor(inner, svg) : null;
  if (end) {                                        // where scroll-initial-target is not supported
    box.scrollLeft = Math.max(0, end[0] - box.clientWidth);
    box.scrollTop = Math.max(0, end[1] - box.clientHeight);
  }
}

function renderPlaceholders(url) {                  // viz.dot_html's placeholders, anywhere on the page
  for (const el of document.querySelectorAll("." + PLACEHOLDER + "[data-dot]")) {
    const dot = el.getAttribute("data-dot");
    el.removeAttribute("data-dot");
    layout(dot, url).then((svg) => show(el, svg)).catch((e) => { el.insertAdjacentHTML("afterbegin",
      `<pre class="iommulab-wasmdot-error">the browser's Graphviz failed: ${escapeText(e)}</pre>`); });
  }
}

function watchPage(url) {
  if (window.__iommulabDotWatch) return;
  window.__iommulabDotWatch = true;
  let queued = false;
  new MutationObserver(() => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; renderPlaceholders(url); });
  }).observe(document.body, { childList: true, subtree: true });
  renderPlaceholders(url);
}

function render({ model, el }) {
  el.classList.add("iommulab-wasmdot");
  const url = siteUrl(model);
  let drawn = 0;                                    // the newest drawing wins, however the layouts finish
  const draw = async () => {
    const dot = model.get("dot"), mine = ++drawn;
    if (!dot) { el.replaceChildren(); return; }
    const t0 = performance.now();
    try {
      const svg = await layout(dot, url);
      if (mine !== drawn) return;
      show(el, svg);
      el.dataset.ms = (performance.now() - t0).toFixed(1);
      el.dataset.drawn = String(mine);
    } catch (e) {
      if (mine !== drawn) return;
      el.innerHTML = `<pre class="iommulab-wasmdot-error">the browser's Graphviz failed (${escapeText(url)}): ` +
        `${escapeText(e)}</pre><pre>${escapeText(model.get("text"))}</pre>`;
    }
  };
  model.on("change:dot", draw);
  draw();
  watchPage(url);
}
export default { render };
"""

_ESM = (_ESM.replace("__SCALE__", repr(float(SCALE))).replace("__FOCUS__", FOCUS).replace("__ALSO__", ALSO)
        .replace("__DOT_CLASS__", DOT_CLASS).replace("__SITE_PATH__", SITE_PATH))


class WasmDot(anywidget.AnyWidget):
    """dot: DOT text, drawn in the browser; text: what to show if the browser's Graphviz fails
    (a description of the machine); graphviz_url: where the module is, relative to the page
    (empty: the site's own copy)."""
    _esm = _ESM
    dot = traitlets.Unicode("").tag(sync=True)
    text = traitlets.Unicode("").tag(sync=True)
    graphviz_url = traitlets.Unicode("").tag(sync=True)
