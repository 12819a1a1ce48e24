// Chapter 6's network explorer: the trained NiN runs in the page. Pick a gallery garment or draw one (mouse, touch
// or pen), cover part of it with a grey patch (mouse or arrow keys), and every change recomputes the ten class maps
// (one colour scale), their means (the logits), the softmax bars and the predicted class; the occlusion-sensitivity
// map of the current image is computed in the background, a few positions at a time. nin_book/probe.py defines
// every number (tests/test_network_explorer.py holds this page to it and to PyTorch).
import { IMAGE_SIZE, SENSITIVITY_STRIDE, corners, cover, fromBase64, loadNetwork, occlusionDrop, probe, toBase64, toGray } from "./nin_forward.mjs";
import { esc, explorerModule } from "./view.mjs";

const AREA = IMAGE_SIZE * IMAGE_SIZE;
const SCALE = 8; // the input canvas: 28 px × 8
const PANEL = 3; // each class map: 28 px × 3
const PER_CHUNK = 4; // occlusion positions per background step (about 40 ms)

// The weights and the gallery are large strings that never change: decoded once, remembered by identity.
let networkCache = { source: null, net: null };
let galleryCache = { source: null, pixels: null };
const network = (source) => {
  if (networkCache.source !== source) networkCache = { source, net: loadNetwork(source) };
  return networkCache.net;
};
const galleryPixels = (gallery) => {
  if (galleryCache.source !== gallery.pixels) galleryCache = { source: gallery.pixels, pixels: fromBase64(gallery.pixels) };
  return galleryCache.pixels;
};

function decodePixels(text) {
  let bytes;
  try {
    bytes = fromBase64(text);
  } catch {
    bytes = new Uint8Array(0); // not base64 at all: the same message as a wrong length
  }
  if (bytes.length !== AREA) {
    throw new Error(`pixels must be base64 of ${AREA} gray levels (0-255), got ${bytes.length} bytes; set a drawing with network_explorer(image=...)`);
  }
  return bytes;
}

/** The settings → the image, the patch, the forward pass and the data-* outputs (as nin_book.widgets.network). */
export function update(s) {
  const net = network(s._network);
  const gallery = s._gallery;
  const count = gallery.labels.length;
  const [low, high] = s._limits.patch_size;
  if (!(s.gallery_index >= 0 && s.gallery_index < count)) throw new Error(`the gallery image must be 0 to ${count - 1}, got ${s.gallery_index}`);
  if (!(s.patch_size >= low && s.patch_size <= high)) throw new Error(`the patch size must be ${low} to ${high} pixels, got ${s.patch_size}`);
  const drawn = Boolean(s.pixels);
  const pixels = drawn ? decodePixels(s.pixels) : galleryPixels(gallery).subarray(s.gallery_index * AREA, (s.gallery_index + 1) * AREA);
  const patch = s.patch ? { x: s.patch_x, y: s.patch_y, size: s.patch_size } : null;
  const gray = cover(toGray(pixels), patch, net.mean);
  const result = probe(net, gray);
  const fixed = (values, digits) => Array.from(values, (v) => v.toFixed(digits)).join(",");
  const source = drawn ? "drawn" : `test image ${gallery.indices[s.gallery_index]}`;
  const trueLabel = drawn ? null : gallery.labels[s.gallery_index];
  const names = gallery.class_names;
  const [first, second] = Array.from(result.probabilities.keys()).sort((a, b) => result.probabilities[b] - result.probabilities[a]);
  const percent = (c) => `${(100 * result.probabilities[c]).toFixed(1)}%`;
  // The line the page shows and a screen reader hears after every change.
  const announce = `Predicted: ${names[first]} (${percent(first)}); runner-up ${names[second]} (${percent(second)})`
    + `${trueLabel === null ? "" : `; the true class is ${names[trueLabel]}`}.`;
  return {
    data: { predicted: gallery.class_names[result.predicted], source, pixels: toBase64(pixels), logits: fixed(result.logits, 4),
      probabilities: fixed(result.probabilities, 4), maps: fixed(result.maps, 3) },
    html: "", announce, net, pixels, gray, patch, result, source, trueLabel,
  };
}

const NET_CSS = `
.nin-net { display: flex; flex-direction: column; gap: 0.6rem; }
.nin-net .nin-net-row { display: flex; flex-wrap: wrap; gap: 0.8rem 1.4rem; align-items: flex-start; }
.nin-net figure { margin: 0; }
.nin-net figcaption { font-size: 0.85rem; max-width: 16rem; }
.nin-net canvas { image-rendering: pixelated; display: block; }
.nin-net canvas.nin-input { touch-action: none; cursor: crosshair; border: 1px solid #888; }
.nin-net canvas:focus-visible { outline: 3px solid #0072B2; outline-offset: 2px; }
.nin-net .nin-tools { display: flex; flex-direction: column; gap: 0.3rem; }
.nin-net .nin-tools button { font: inherit; padding: 2px 10px; border: 1px solid #777; border-radius: 3px; background: #fff; color: #222; }
.nin-net .nin-tools button[aria-pressed=true] { background: #0072B2; color: #fff; }
.nin-net .nin-maps { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: flex-end; }
.nin-net .nin-maps figure { border: 3px solid transparent; padding: 1px; }
.nin-net .nin-maps figure.nin-predicted { border-color: #D55E00; }
.nin-net .nin-maps figure.nin-true { outline: 3px solid #009E73; }
.nin-net .nin-maps figcaption { font-size: 0.78rem; text-align: center; font-variant-numeric: tabular-nums; }
.nin-net .nin-bars { display: grid; grid-template-columns: max-content 16rem max-content; gap: 2px 8px; align-items: center; font-variant-numeric: tabular-nums; }
.nin-net .nin-bar { height: 0.8rem; background: #0072B2; }
.nin-net .nin-bar.nin-predicted { background: #D55E00; }
.nin-net .nin-bars .nin-predicted-name { font-weight: bold; }
.nin-net .nin-summary { font-weight: bold; margin: 0; }
.nin-net .nin-colorbar { display: flex; flex-direction: column; align-items: flex-start; font-size: 0.75rem; }
`;

// Bilinear upsampling with align_corners=False, as nin_book.confidence.upsample_maps (for drawing only).
function upsampleTable(from, to) {
  const table = [];
  for (let i = 0; i < to; i++) {
    const src = Math.max((i + 0.5) * (from / to) - 0.5, 0);
    const i0 = Math.min(Math.floor(src), from - 1);
    table.push([i0, Math.min(i0 + 1, from - 1), src - i0]);
  }
  return table;
}

function canvas(width, height, attrs = {}) {
  const c = document.createElement("canvas");
  Object.assign(c, { width, height });
  for (const [k, v] of Object.entries(attrs)) c.setAttribute(k, v);
  return c;
}

function colorbar(palette, low, high, label, height) {
  const box = document.createElement("div");
  box.className = "nin-colorbar";
  const bar = canvas(12, height, { role: "img" });
  const ctx = bar.getContext("2d");
  palette.forEach((rgb, i) => {
    ctx.fillStyle = `rgb(${rgb.join(",")})`;
    const y0 = Math.floor(height * (1 - (i + 1) / palette.length));
    ctx.fillRect(0, y0, 12, Math.ceil(height / palette.length) + 1);
  });
  const top = document.createElement("span");
  const bottom = document.createElement("span");
  const name = document.createElement("span");
  name.textContent = label;
  box.append(name, top, bar, bottom);
  const scale = {
    box,
    set(lo, hi) {
      top.textContent = hi.toFixed(2);
      bottom.textContent = lo.toFixed(2);
      bar.setAttribute("aria-label", `colour bar: ${label} from ${lo.toFixed(2)} to ${hi.toFixed(2)}`);
    },
  };
  scale.set(low, high);
  return scale;
}

// The persistent view: canvases a reader draws on must survive every redraw.
function mount({ model, root, batch }) {
  const style = document.createElement("style");
  style.textContent = NET_CSS;
  const box = document.createElement("div");
  box.className = "nin-net";
  const gallery = model.get("_gallery");
  const palettes = model.get("_palettes");
  const names = gallery.class_names;
  const small = canvas(IMAGE_SIZE, IMAGE_SIZE);
  const smallCtx = small.getContext("2d");

  // The input: the image the network sees (patch included), drawn on and moved over.
  const input = canvas(IMAGE_SIZE * SCALE, IMAGE_SIZE * SCALE, { class: "nin-input", tabindex: "0", role: "img",
    "aria-label": "The input image. Draw on it with the mouse, a finger or a pen; arrow keys move the grey patch (Shift: 4 px)." });
  const inputCaption = document.createElement("figcaption");
  const inputFigure = document.createElement("figure");
  inputFigure.append(input, inputCaption);

  let tool = "patch";
  const tools = document.createElement("div");
  tools.className = "nin-tools";
  tools.setAttribute("role", "group");
  tools.setAttribute("aria-label", "Tools for the input image");
  const toolButtons = {};
  const button = (text, action) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.addEventListener("click", action);
    b.addEventListener("keydown", (event) => event.stopPropagation()); // JupyterLab keeps its shortcuts off our buttons
    tools.append(b);
    return b;
  };
  const choose = (name) => {
    tool = name;
    for (const [key, b] of Object.entries(toolButtons)) b.setAttribute("aria-pressed", String(key === name));
  };
  toolButtons.patch = button("Move the patch", () => choose("patch"));
  toolButtons.draw = button("Draw", () => choose("draw"));
  toolButtons.erase = button("Erase", () => choose("erase"));
  button("Clear the canvas", () => {
    model.set("pixels", toBase64(new Uint8Array(AREA)));
    model.save_changes();
    choose("draw");
  }).dataset.action = "clear";
  button("Back to the gallery image", () => {
    model.set("pixels", "");
    model.save_changes();
  }).dataset.action = "reset";
  for (const [key, b] of Object.entries(toolButtons)) b.dataset.tool = key;
  choose("patch");

  // The gallery: ten test images per class, one row per class; a click picks one (the slider does the same).
  const per = gallery.labels.length / names.length;
  const thumbs = canvas(per * IMAGE_SIZE, names.length * IMAGE_SIZE, { class: "nin-gallery", role: "img",
    "aria-label": `Gallery: ${per} test images of each class, one class per row (${names.join(", ")}); the gallery image slider picks one.` });
  thumbs.style.width = `${per * IMAGE_SIZE * 0.75}px`;
  thumbs.style.cursor = "pointer";
  const sheet = canvas(per * IMAGE_SIZE, names.length * IMAGE_SIZE);
  const sheetCtx = sheet.getContext("2d");
  const all = galleryPixels(gallery);
  for (let i = 0; i < gallery.labels.length; i++) {
    const img = sheetCtx.createImageData(IMAGE_SIZE, IMAGE_SIZE);
    for (let p = 0; p < AREA; p++) {
      const v = all[i * AREA + p];
      img.data.set([v, v, v, 255], 4 * p);
    }
    sheetCtx.putImageData(img, (i % per) * IMAGE_SIZE, Math.floor(i / per) * IMAGE_SIZE);
  }
  thumbs.addEventListener("click", (event) => {
    const rect = thumbs.getBoundingClientRect();
    const col = Math.floor(((event.clientX - rect.left) / rect.width) * per);
    const row = Math.floor(((event.clientY - rect.top) / rect.height) * names.length);
    batch(() => {
      model.set("pixels", "");
      model.set("gallery_index", Math.min(row * per + col, gallery.labels.length - 1));
    });
    model.save_changes();
  });
  const galleryFigure = document.createElement("figure");
  const galleryCaption = document.createElement("figcaption");
  galleryCaption.textContent = `Gallery (rows: ${names.join(", ")})`;
  galleryFigure.append(thumbs, galleryCaption);

  // Picking another gallery image leaves the drawing.
  const leaveDrawing = () => {
    if (model.get("pixels")) {
      model.set("pixels", "");
      model.save_changes();
    }
  };
  model.on("change:gallery_index", leaveDrawing);

  const summary = document.createElement("p");
  summary.className = "nin-summary";

  // Ten maps over the image, one colour scale, and the colour bar.
  const mapsBox = document.createElement("div");
  mapsBox.className = "nin-maps";
  mapsBox.setAttribute("role", "group");
  mapsBox.setAttribute("aria-label", "The ten class maps over the image, on one colour scale");
  const panels = names.map((name) => {
    const figure = document.createElement("figure");
    const c = canvas(IMAGE_SIZE * PANEL, IMAGE_SIZE * PANEL, { role: "img" });
    const caption = document.createElement("figcaption");
    figure.append(c, caption);
    mapsBox.append(figure);
    return { figure, c, ctx: c.getContext("2d"), caption, name };
  });
  const mapBar = colorbar(palettes.maps, 0, 1, "map value", IMAGE_SIZE * PANEL);
  mapsBox.append(mapBar.box);

  const bars = document.createElement("div");
  bars.className = "nin-bars";
  bars.setAttribute("role", "group");
  bars.setAttribute("aria-label", "Softmax probabilities");
  const barRows = names.map(() => {
    const name = document.createElement("span");
    const track = document.createElement("div");
    const fill = document.createElement("div");
    fill.className = "nin-bar";
    track.append(fill);
    const value = document.createElement("span");
    bars.append(name, track, value);
    return { name, fill, value };
  });

  // Occlusion sensitivity of the current image (without the reader's patch), in the background.
  const sens = canvas(IMAGE_SIZE * 6, IMAGE_SIZE * 6, { class: "nin-sensitivity", role: "img",
    "aria-label": "Occlusion sensitivity of the current image (being computed)" });
  const sensCaption = document.createElement("figcaption");
  const sensBar = colorbar(palettes.sensitivity, -1, 1, "logit fall", IMAGE_SIZE * 6);
  const sensFigure = document.createElement("figure");
  const sensRow = document.createElement("div");
  sensRow.className = "nin-net-row";
  sensRow.append(sens, sensBar.box);
  sensFigure.append(sensRow, sensCaption);

  const top = document.createElement("div");
  top.className = "nin-net-row";
  top.append(inputFigure, tools, galleryFigure);
  const bottom = document.createElement("div");
  bottom.className = "nin-net-row";
  const barsFigure = document.createElement("figure");
  const barsCaption = document.createElement("figcaption");
  barsCaption.textContent = "Softmax probabilities (the predicted class in vermilion)";
  barsFigure.append(bars, barsCaption);
  bottom.append(barsFigure, sensFigure);
  box.append(top, summary, mapsBox, bottom);
  root.append(style, box);

  // Pointer input (mouse, touch and pen alike): draw, erase, or drag the patch.
  let last = null;
  let current = null; // the last update's result
  let dirty = false;
  const cell = (event) => {
    const rect = input.getBoundingClientRect();
    return [((event.clientX - rect.left) / rect.width) * IMAGE_SIZE, ((event.clientY - rect.top) / rect.height) * IMAGE_SIZE];
  };
  const clamp = (v) => Math.max(0, Math.min(IMAGE_SIZE - 1, v));
  const movePatch = (x, y) => batch(() => {
    const size = model.get("patch_size");
    if (!model.get("patch")) model.set("patch", true);
    model.set("patch_x", clamp(Math.round(x - size / 2)));
    model.set("patch_y", clamp(Math.round(y - size / 2)));
  });
  const paint = ([x, y]) => {
    if (!current) return;
    const buffer = Uint8Array.from(current.pixels);
    const radius = model.get("brush") - 0.5;
    const value = tool === "draw" ? 255 : 0;
    const [fx, fy] = last ?? [x, y];
    const steps = Math.max(1, Math.ceil(Math.hypot(x - fx, y - fy) * 2));
    for (let k = 0; k <= steps; k++) {
      const cx = fx + ((x - fx) * k) / steps;
      const cy = fy + ((y - fy) * k) / steps;
      for (let py = Math.floor(cy - radius); py <= Math.ceil(cy + radius); py++) {
        for (let px = Math.floor(cx - radius); px <= Math.ceil(cx + radius); px++) {
          if (px < 0 || py < 0 || px >= IMAGE_SIZE || py >= IMAGE_SIZE) continue;
          if (Math.hypot(px + 0.5 - cx, py + 0.5 - cy) <= radius + 0.5) buffer[py * IMAGE_SIZE + px] = value;
        }
      }
    }
    last = [x, y];
    model.set("pixels", toBase64(buffer));
    dirty = true;
  };
  const act = (event) => {
    const at = cell(event);
    if (tool === "patch") {
      movePatch(...at);
      dirty = true;
    } else {
      paint(at);
    }
  };
  let held = null; // the pointer that is drawing or dragging
  input.addEventListener("pointerdown", (event) => {
    held = event.pointerId;
    try {
      input.setPointerCapture(event.pointerId); // the stroke goes on when it leaves the canvas
    } catch {
      // a synthetic pointer has nothing to capture; the stroke still follows it over the canvas
    }
    input.focus({ preventScroll: true });
    last = null;
    act(event);
    event.preventDefault();
  });
  input.addEventListener("pointermove", (event) => {
    if (event.pointerId === held) act(event);
  });
  const end = (event) => {
    if (event.pointerId !== held) return;
    held = null;
    last = null;
    if (dirty) model.save_changes();
    dirty = false;
  };
  input.addEventListener("pointerup", end);
  input.addEventListener("pointercancel", end);
  input.addEventListener("keydown", (event) => {
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    event.stopPropagation(); // JupyterLab would take the arrow keys for cell navigation
    if (!(event.key in moves)) return;
    event.preventDefault(); // not the page's scrolling
    const step = event.shiftKey ? SENSITIVITY_STRIDE : 1;
    const [dx, dy] = moves[event.key];
    batch(() => {
      if (!model.get("patch")) model.set("patch", true);
      model.set("patch_x", clamp(model.get("patch_x") + dx * step));
      model.set("patch_y", clamp(model.get("patch_y") + dy * step));
    });
    model.save_changes();
  });

  let table = [];
  const blendGray = (img, gray) => {
    for (let p = 0; p < AREA; p++) {
      const g = Math.round(gray[p] * 255);
      img.data[4 * p] = g;
      img.data[4 * p + 1] = g;
      img.data[4 * p + 2] = g;
      img.data[4 * p + 3] = 255;
    }
  };
  const blit = (img, ctx, scale) => {
    smallCtx.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(small, 0, 0, IMAGE_SIZE * scale, IMAGE_SIZE * scale);
  };
  const tint = (img, p, rgb, alpha) => {
    for (let k = 0; k < 3; k++) img.data[4 * p + k] = Math.round((1 - alpha) * img.data[4 * p + k] + alpha * rgb[k]);
  };

  // The background job: one key per (image, patch size); a new key cancels the old job.
  let job = { key: null, timer: null };
  const sensitivity = (out, s) => {
    const key = `${s.pixels || `gallery ${s.gallery_index}`}|${s.patch_size}`;
    if (job.key === key) return;
    clearTimeout(job.timer);
    const gray = toGray(out.pixels);
    let base = null; // the uncovered image's pass, in the first background step: a redraw runs one pass only
    const grid = corners(s.patch_size);
    const positions = grid.flatMap((y) => grid.map((x) => [x, y]));
    const drops = new Float64Array(positions.length);
    job = { key, timer: null };
    sens.dataset.status = "computing";
    delete sens.dataset.values;
    sensCaption.textContent = `Occlusion sensitivity: computing 0 of ${positions.length} positions…`;
    let next = 0;
    const step = () => {
      base ??= probe(out.net, gray);
      for (const stop = Math.min(next + PER_CHUNK, positions.length); next < stop; next++) {
        drops[next] = occlusionDrop(out.net, gray, base, base.predicted, positions[next][0], positions[next][1], s.patch_size);
      }
      if (next < positions.length) {
        sensCaption.textContent = `Occlusion sensitivity: computing ${next} of ${positions.length} positions…`;
        job.timer = setTimeout(step, 0);
        return;
      }
      // Each pixel: the mean fall over the patches that cover it, on a symmetric scale, over the image.
      const total = new Float64Array(AREA);
      const hits = new Float64Array(AREA);
      positions.forEach(([x, y], k) => {
        for (let py = y; py < y + s.patch_size; py++) for (let px = x; px < x + s.patch_size; px++) {
          total[py * IMAGE_SIZE + px] += drops[k];
          hits[py * IMAGE_SIZE + px] += 1;
        }
      });
      const most = Math.max(...drops.map(Math.abs)) || 1;
      const img = smallCtx.createImageData(IMAGE_SIZE, IMAGE_SIZE);
      blendGray(img, gray);
      const palette = palettes.sensitivity;
      for (let p = 0; p < AREA; p++) {
        if (!hits[p]) continue;
        const share = total[p] / hits[p] / most; // -1 … 1
        tint(img, p, palette[Math.round(((share + 1) / 2) * (palette.length - 1))], 0.8 * Math.abs(share));
      }
      blit(img, sens.getContext("2d"), 6);
      sensBar.set(-most, most);
      const rows = [];
      for (let r = 0; r < grid.length; r++) rows.push(Array.from(drops.subarray(r * grid.length, (r + 1) * grid.length), (v) => v.toFixed(3)).join(","));
      Object.assign(sens.dataset, { status: "done", values: rows.join(";"), cls: names[base.predicted], size: String(s.patch_size) });
      sens.setAttribute("aria-label", `Occlusion sensitivity for ${names[base.predicted]}: how far its logit falls when a ${s.patch_size}×${s.patch_size} grey patch covers each place; largest fall ${Math.max(...drops).toFixed(2)}.`);
      sensCaption.textContent = `Occlusion sensitivity: how far the ${names[base.predicted]} logit falls when a ${s.patch_size}×${s.patch_size} grey patch covers each place (${positions.length} positions, ${SENSITIVITY_STRIDE} px apart; red: covering costs the class).`;
    };
    job.timer = setTimeout(step, 0);
  };

  function draw(out, s) {
    current = out.result ? out : null;
    box.hidden = !current;
    if (!current) return;
    const { result, gray, patch } = out;
    const [mh, mw] = out.net.mapSize;
    if (table.length !== IMAGE_SIZE) table = [upsampleTable(mh, IMAGE_SIZE), upsampleTable(mw, IMAGE_SIZE)];
    const [rowsT, colsT] = table;
    // The input, with the patch outlined.
    const img = smallCtx.createImageData(IMAGE_SIZE, IMAGE_SIZE);
    blendGray(img, gray);
    const ctx = input.getContext("2d");
    blit(img, ctx, SCALE);
    if (patch) {
      ctx.strokeStyle = "#0072B2";
      ctx.lineWidth = 2;
      ctx.setLineDash([6, 4]);
      const x1 = Math.min(patch.x + patch.size, IMAGE_SIZE);
      const y1 = Math.min(patch.y + patch.size, IMAGE_SIZE);
      ctx.strokeRect(patch.x * SCALE + 1, patch.y * SCALE + 1, (x1 - patch.x) * SCALE - 2, (y1 - patch.y) * SCALE - 2);
      ctx.setLineDash([]);
    }
    const truth = out.trueLabel === null ? "" : `, true class ${names[out.trueLabel]}`;
    inputCaption.textContent = `${out.source === "drawn" ? "Your drawing" : `Gallery image ${s.gallery_index}: ${out.source}`}${truth}`
      + (patch ? `; grey patch ${patch.size}×${patch.size} at (${patch.x}, ${patch.y})` : "");
    // The gallery sheet, the current image framed.
    const tctx = thumbs.getContext("2d");
    tctx.drawImage(sheet, 0, 0);
    if (out.source !== "drawn") {
      tctx.strokeStyle = "#D55E00";
      tctx.lineWidth = 3;
      tctx.strokeRect((s.gallery_index % per) * IMAGE_SIZE + 1.5, Math.floor(s.gallery_index / per) * IMAGE_SIZE + 1.5, IMAGE_SIZE - 3, IMAGE_SIZE - 3);
    }
    // Ten maps on one scale: from 0 (the maps pass a ReLU) to the largest cell of any map.
    const cells = mh * mw;
    const vmax = Math.max(...result.maps) || 1;
    const palette = palettes.maps;
    panels.forEach((panel, c) => {
      const pimg = smallCtx.createImageData(IMAGE_SIZE, IMAGE_SIZE);
      blendGray(pimg, gray);
      const m = result.maps.subarray(c * cells, (c + 1) * cells);
      for (let y = 0; y < IMAGE_SIZE; y++) {
        const [r0, r1, fr] = rowsT[y];
        for (let x = 0; x < IMAGE_SIZE; x++) {
          const [c0, c1, fc] = colsT[x];
          const top = m[r0 * mw + c0] * (1 - fc) + m[r0 * mw + c1] * fc;
          const low = m[r1 * mw + c0] * (1 - fc) + m[r1 * mw + c1] * fc;
          const share = Math.min(Math.max((top * (1 - fr) + low * fr) / vmax, 0), 1);
          tint(pimg, y * IMAGE_SIZE + x, palette[Math.round(share * (palette.length - 1))], 0.9 * share);
        }
      }
      blit(pimg, panel.ctx, PANEL);
      const isPredicted = c === result.predicted;
      panel.figure.classList.toggle("nin-predicted", isPredicted);
      panel.figure.classList.toggle("nin-true", c === out.trueLabel);
      panel.caption.innerHTML = `${isPredicted ? "<b>" : ""}${esc(panel.name)}${isPredicted ? " ◀</b>" : ""}<br>mean ${result.logits[c].toFixed(2)}`;
      panel.c.setAttribute("aria-label", `${panel.name} map, mean ${result.logits[c].toFixed(2)}${isPredicted ? ", the predicted class" : ""}`);
    });
    mapBar.set(0, vmax);
    barRows.forEach((row, c) => {
      const p = result.probabilities[c];
      const isPredicted = c === result.predicted;
      row.name.textContent = `${names[c]}${isPredicted ? " ◀" : ""}`;
      row.name.className = isPredicted ? "nin-predicted-name" : "";
      row.fill.style.width = `${(100 * p).toFixed(2)}%`;
      row.fill.className = `nin-bar${isPredicted ? " nin-predicted" : ""}`;
      row.value.textContent = `${(100 * p).toFixed(1)}%`;
    });
    summary.textContent = out.announce;
    sensitivity(out, s);
  }

  return {
    draw,
    remove() {
      clearTimeout(job.timer);
      model.off("change:gallery_index", leaveDrawing);
    },
  };
}

export default explorerModule("network", update, { traits: ["pixels", "_network", "_gallery", "_palettes", "_limits"], mount });
