// The one explorer base every view shares: controls built from the Python class's `_controls`, a recompute on
// every change of a setting, the computed outputs as data-* attributes on the view, and small SVG helpers.
//
// It needs no kernel: on a static page the html-manager's model still fires change events when a control sets a
// trait, so the view answers; with a kernel, save_changes() also tells Python. Explained in chapters 1-4.

export const CSS = `
.nin-explorer { font-family: inherit; font-size: 0.92rem; margin: 0.4rem 0; }
.nin-explorer .nin-controls { display: flex; flex-wrap: wrap; gap: 0.3rem 1.2rem; margin-bottom: 0.5rem; }
.nin-explorer label { display: inline-flex; align-items: center; gap: 0.4rem; }
.nin-explorer label span.nin-label { min-width: 7.5rem; }
.nin-explorer input[type=range] { width: 10rem; }
.nin-explorer input[type=number] { width: 6.5rem; }
.nin-explorer output { min-width: 2.6rem; font-variant-numeric: tabular-nums; }
.nin-explorer .nin-message { padding: 4px 10px; margin: 4px 0; border-left: 4px solid #009E73; }
.nin-explorer .nin-message.nin-error { color: #B34700; border-left-color: #D55E00; }
.nin-explorer .nin-message.nin-note { color: #555555; border-left-color: #E69F00; }
.nin-explorer table.nin-table { border-collapse: collapse; margin: 0.3rem 0; font-variant-numeric: tabular-nums; }
.nin-explorer table.nin-table th, .nin-explorer table.nin-table td { padding: 2px 10px; border-bottom: 1px solid #ddd; }
.nin-explorer svg { max-width: 100%; height: auto; display: block; }
.nin-explorer svg text { font-family: inherit; fill: currentColor; }
.nin-explorer .nin-status { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
`;

export const COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9"];

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const esc = (value) => String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]);

/** A table with right-aligned numeric columns from `numericFrom` on. */
export function tableHtml(header, rows, numericFrom) {
  const cell = (tag, i, text) => `<${tag} style="text-align:${i >= numericFrom ? "right" : "left"}">${esc(text)}</${tag}>`;
  const head = header.map((h, i) => cell("th", i, h)).join("");
  const body = rows.map((r) => `<tr>${r.map((c, i) => cell("td", i, c)).join("")}</tr>`).join("");
  return `<table class="nin-table"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

export const messageHtml = (text, kind = "") => `<div class="nin-message ${kind ? `nin-${kind}` : ""}">${esc(text)}</div>`;
export const impossibleHtml = (text) => `<div class="nin-message nin-error"><b>Impossible setting.</b> ${esc(text)}</div>`;

/** Activation volumes as cuboids: face H×W on a square-root scale (a 1×1 map stays visible beside 224×224),
 *  depth proportional to the channels (so 256 → 64 looks four times thinner); `steps` label the arrows between. */
export function volumesSvg(volumes, steps) {
  const biggest = Math.max(...volumes.map((v) => v.shape[1]));
  const widest = Math.max(...volumes.map((v) => v.shape[0]));
  const parts = [];
  let x = 10;
  const mid = 95;
  volumes.forEach((v, i) => {
    const [c, h, w] = v.shape;
    const side = 16 + 110 * Math.sqrt(h / biggest);
    const width = 16 + 110 * Math.sqrt(w / biggest);
    const depth = 3 + 87 * (c / widest);
    const dx = 0.7 * Math.min(depth, 90);
    const dy = 0.5 * Math.min(depth, 90);
    const y0 = mid - side / 2;
    const color = COLORS[v.color ?? 0];
    parts.push(
      `<polygon points="${x},${y0} ${x + dx},${y0 - dy} ${x + width + dx},${y0 - dy} ${x + width},${y0}" fill="${color}" fill-opacity="0.55" stroke="#333" stroke-width="0.6"/>`,
      `<polygon points="${x + width},${y0} ${x + width + dx},${y0 - dy} ${x + width + dx},${y0 + side - dy} ${x + width},${y0 + side}" fill="${color}" fill-opacity="0.4" stroke="#333" stroke-width="0.6"/>`,
      `<rect x="${x}" y="${y0}" width="${width}" height="${side}" fill="${color}" fill-opacity="0.85" stroke="#333" stroke-width="0.6"/>`,
      `<text x="${x + (width + dx) / 2}" y="${mid + 82}" text-anchor="middle" font-size="12">${esc(v.label)}</text>`,
      `<text x="${x + (width + dx) / 2}" y="${mid + 97}" text-anchor="middle" font-size="12">${esc(v.shape.join("×"))}</text>`,
    );
    x += width + dx + 12;
    if (i < volumes.length - 1) {
      parts.push(`<line x1="${x}" y1="${mid}" x2="${x + 78}" y2="${mid}" stroke="#333" marker-end="url(#nin-arrow)"/>`,
        `<text x="${x + 39}" y="${mid - 8}" text-anchor="middle" font-size="11">${esc(steps[i] ?? "")}</text>`);
      x += 96;
    }
  });
  const marker = '<defs><marker id="nin-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker></defs>';
  const alt = "Activation volumes: " + volumes.map((v) => `${v.label} ${v.shape.join("×")}`).join(", then ");
  return `<svg class="nin-figure" viewBox="0 0 ${x + 10} 200" width="${x + 10}" height="200" role="img" aria-label="${esc(alt)}">`
    + `${marker}${parts.join("")}</svg>`;
}

/** The funnel: one centred bar per stage, its width the number of values C·H·W to a linear scale. */
export function funnelSvg(stages, formatCount) {
  const most = Math.max(...stages.map((s) => Number(s.values)));
  const rowH = 24;
  const barLeft = 190;
  const barWidth = 380;
  const parts = stages.map((s, i) => {
    const y = 22 + i * rowH;
    const w = Math.max(1, (barWidth * Number(s.values)) / most);
    const color = s.name.startsWith("pool") || s.name === "gap" ? COLORS[1] : s.name === "input" ? "#999999" : COLORS[0];
    return `<text x="0" y="${y + 15}" font-size="12">${esc(s.name)}</text>`
      + `<text x="${barLeft - 10}" y="${y + 15}" font-size="12" text-anchor="end">${esc(s.shape.join("×"))}</text>`
      + `<rect x="${barLeft + (barWidth - w) / 2}" y="${y + 3}" width="${w}" height="${rowH - 6}" fill="${color}"/>`
      + `<text x="${barLeft + barWidth + 10}" y="${y + 15}" font-size="12">${esc(formatCount(s.values))}</text>`;
  });
  const height = 30 + stages.length * rowH;
  const alt = "Values C·H·W per stage: " + stages.map((s) => `${s.name} ${s.shape.join("×")} ${formatCount(s.values)}`).join(", ");
  return `<svg class="nin-figure" viewBox="0 0 660 ${height}" width="660" height="${height}" role="img" aria-label="${esc(alt)}">`
    + `<text x="${barLeft + barWidth / 2}" y="13" font-size="12" text-anchor="middle">values C·H·W per stage (linear scale)</text>`
    + `${parts.join("")}</svg>`;
}

/** Side-by-side bar panels on linear scales from zero, each bar labelled with its value and its ratio to the
 *  panel's first bar (a log scale would draw 65× as about 4×): panels = [{title, bars: [{label, value, color}], format?}];
 *  a panel's format writes its values (its unit), formatCount where it has none. */
export function barsSvg(panels, formatCount) {
  const panelW = 220;
  const plotH = 170;
  const all = panels.flatMap((p) => p.bars.map((b) => Number(b.value))).filter((v) => v > 0);
  const parts = panels.map((p, j) => {
    const values = p.bars.map((b) => Number(b.value));
    const top = Math.max(...values) * 1.3 || 1;  // room for two label lines above the tallest bar
    const x0 = j * panelW + 10;
    const bw = (panelW - 40) / Math.max(1, p.bars.length);
    const bars = p.bars.map((b, i) => {
      const h = (plotH * Number(b.value)) / top;
      const x = x0 + 10 + i * bw;
      const times = (values[i] / values[0]).toFixed(1);
      const ratio = i > 0 && values[0] > 0
        ? `<text x="${x + bw / 2}" y="${16 + plotH - h}" font-size="10" text-anchor="middle" data-ratio="${times}">`
          + `${times}× ${esc(p.bars[0].label)}</text>` : "";
      return `<rect x="${x + 4}" y="${20 + plotH - h}" width="${bw - 8}" height="${h}" fill="${b.color}"/>`
        + `<text x="${x + bw / 2}" y="${16 + plotH - h - (ratio ? 13 : 0)}" font-size="11" text-anchor="middle">${esc((p.format || formatCount)(b.value))}</text>`
        + ratio
        + `<text x="${x + bw / 2}" y="${36 + plotH}" font-size="11" text-anchor="middle">${esc(b.label)}</text>`;
    });
    return `<text x="${x0 + panelW / 2 - 10}" y="12" font-size="12" text-anchor="middle">${esc(p.title)}</text>`
      + `<line x1="${x0 + 6}" y1="${20 + plotH}" x2="${x0 + panelW - 24}" y2="${20 + plotH}" stroke="#333"/>${bars.join("")}`;
  });
  const alt = "Bar charts: " + panels.map((p) => `${p.title}: `
    + p.bars.map((b) => `${b.label} ${(p.format || formatCount)(b.value)}`).join(", ")).join("; ");
  return all.length ? `<svg class="nin-figure" viewBox="0 0 ${panels.length * panelW + 10} ${plotH + 45}" width="${panels.length * panelW + 10}" `
    + `height="${plotH + 45}" role="img" aria-label="${esc(alt)}">${parts.join("")}</svg>` : "";
}

function buildControl(model, spec) {
  const label = document.createElement("label");
  const name = document.createElement("span");
  name.className = "nin-label";
  name.textContent = spec.label;
  const input = document.createElement("input");
  input.type = spec.kind;
  input.dataset.trait = spec.trait;
  input.setAttribute("aria-label", spec.label);
  // JupyterLab handles keys at the document (notebook shortcuts and cell navigation) and would take the
  // arrow keys from a focused slider: a control keeps its keys, as ipywidgets' own controls do.
  input.addEventListener("keydown", (event) => event.stopPropagation());
  label.append(name, input);
  let readout = null;
  if (spec.kind === "checkbox") {
    input.addEventListener("change", () => { model.set(spec.trait, input.checked); model.save_changes(); });
  } else {
    Object.assign(input, { min: spec.min, max: spec.max, step: spec.step });
    if (spec.kind === "range") {
      readout = document.createElement("output");
      label.append(readout);
    }
    input.addEventListener(spec.kind === "range" ? "input" : "change", () => {
      const value = Number(input.value);
      // A whole number (or the slider's step) reaches the model; anything else stays an invalid entry in the box.
      if (input.value !== "" && (spec.step !== 1 || Number.isInteger(value))) {
        model.set(spec.trait, value);
        model.save_changes();
      }
    });
  }
  const show = () => {
    const value = model.get(spec.trait);
    if (spec.kind === "checkbox") input.checked = Boolean(value);
    else if (Number(input.value) !== value || input.value === "") input.value = String(value);
    if (readout) readout.textContent = String(value);
  };
  return { label, show };
}

/** The line a screen reader hears after a change: the view's messages, its tables' rows, its figures' labels. */
export function announcement(view) {
  const messages = [...view.querySelectorAll(".nin-message")].map((e) => e.textContent);
  const rows = [...view.querySelectorAll("tr")].filter((r) => r.querySelector("td"))
    .map((r) => [...r.cells].map((c) => c.textContent.trim()).join(" "));
  const figures = [...view.querySelectorAll("svg[aria-label]")].map((e) => e.getAttribute("aria-label"));
  return [...messages, ...rows, ...figures].join(". ").replace(/\s+/g, " ").trim();
}

/**
 * The anywidget module of one explorer. `update(settings)` returns {data, html}: the computed outputs (each
 * becomes a data-* attribute of the view) and the view's HTML (and optionally `announce`, the status line). An Error it throws is an impossible setting:
 * its message is shown (and exposed as data-error) instead.
 */
export function explorerModule(kind, update, { traits = [], mount = null } = {}) {
  // `traits`: further synced traits (not controls) that `update` reads and that redraw the view when they change;
  // `mount({model, root, batch})`: builds a view that persists across redraws (canvases a reader draws on) and
  // returns {draw(out, settings), remove()}: `draw` is called after every update with its whole result;
  // `batch(fn)` sets several traits in `fn` with one redraw at the end.
  function render({ model, el }) {
    const style = document.createElement("style");
    style.textContent = CSS;
    const root = document.createElement("div");
    root.className = "nin-explorer";
    root.dataset.explorer = kind;
    root.dataset.renders = "0";
    const specs = model.get("_controls");
    const controls = specs.map((spec) => buildControl(model, spec));
    const bar = document.createElement("div");
    bar.className = "nin-controls";
    bar.append(...controls.map((c) => c.label));
    const view = document.createElement("div");
    view.className = "nin-view";
    // Screen readers hear each result as the controls move: one polite line, not the whole redrawn view.
    const status = document.createElement("div");
    status.className = "nin-status";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    root.append(bar, view, status);
    el.append(style, root);
    let holding = 0;
    let missed = false;
    const batch = (fn) => {
      holding++;
      try {
        fn();
      } finally {
        holding--;
        if (!holding && missed) redraw();
      }
    };
    const mounted = mount ? mount({ model, root, batch }) : null;
    const watched = [...specs.map((s) => s.trait), ...traits];
    let keys = [];

    const redraw = () => {
      missed = holding > 0;
      if (missed) return;
      controls.forEach((c) => c.show());
      const settings = Object.fromEntries(watched.map((t) => [t, model.get(t)]));
      let out;
      try {
        out = update(settings);
      } catch (err) {
        if (!(err instanceof Error) || err.constructor !== Error) throw err; // a bug, not a reader's impossible setting
        out = { data: { error: err.message }, html: impossibleHtml(err.message) };
      }
      keys.forEach((k) => root.removeAttribute(`data-${k}`));
      keys = Object.keys(out.data);
      for (const [k, v] of Object.entries(out.data)) root.setAttribute(`data-${k}`, v === null ? "" : String(v));
      view.innerHTML = out.html;
      status.textContent = out.announce ?? announcement(view); // a view drawn by `mount` says its own line
      if (mounted) mounted.draw(out, settings);
      root.dataset.renders = String(Number(root.dataset.renders) + 1);
    };
    for (const trait of watched) model.on(`change:${trait}`, redraw);
    redraw();
    return () => {
      watched.forEach((trait) => model.off(`change:${trait}`, redraw));
      if (mounted) mounted.remove();
    };
  }
  return { render };
}
