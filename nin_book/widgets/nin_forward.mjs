// The trained NiN's forward pass in JavaScript, for chapter 6's network explorer: convolution (batch norm folded
// in at export, nin_book/export.py), ReLU, max pooling, global average pooling. It mirrors nin_book/probe.py,
// which defines every number; tests/test_network_explorer.py holds the two (and PyTorch) together with node.
//
// Everything is float64 (a JavaScript number), so it agrees with the NumPy float64 probe to ~1e-12 and with the
// float32 PyTorch model to ~1e-5. The hot loops run over preallocated typed arrays: an im2col copy (one row of
// input values per output pixel), then multiply-adds in 4×4 blocks of (output channel, pixel) kept in registers;
// and a pass recomputes only the outputs that the input's changed pixels reach.

export const IMAGE_SIZE = 28;
export const SENSITIVITY_STRIDE = 4;

/** Bytes from base64 (atob exists in browsers and in node 20). */
export function fromBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Base64 of bytes, in chunks (String.fromCharCode takes a bounded number of arguments). */
export function toBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** The exported network ({layers, weights: base64 little-endian float32, mean, std}) ready to run on 28×28 input:
 *  float64 weights and every layer's buffers allocated once. The buffers also remember the last pass, so the next
 *  one recomputes only what its input's changed pixels reach (see classMaps). */
export function loadNetwork({ layers, weights, mean, std }, size = IMAGE_SIZE) {
  const bytes = fromBase64(weights);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const w = new Float64Array(bytes.byteLength / 4);
  for (let i = 0; i < w.length; i++) w[i] = view.getFloat32(4 * i, true);
  let [c, h, wd] = [1, size, size];
  const steps = layers.map((layer) => {
    if (layer.op === "relu") return { op: "relu", c, h, w: wd };
    const { kernel: k, stride: s, padding: p } = layer;
    const oh = Math.floor((h + 2 * p - k) / s) + 1;
    const ow = Math.floor((wd + 2 * p - k) / s) + 1;
    if (oh < 1 || ow < 1) throw new Error(`a ${h}×${wd} input leaves no output after a ${k}×${k} layer`);
    const step = { ...layer, c, h, w: wd, oh, ow, pixels: new Int32Array(oh * ow) };
    if (layer.op === "conv") {
      if (layer.in !== c) throw new Error(`layer expects ${layer.in} channels, gets ${c}`);
      Object.assign(step, { col: new Float64Array(c * k * k * oh * ow), tmp: new Float64Array(layer.out * oh * ow) });
      c = layer.out;
    }
    step.out = new Float64Array(c * oh * ow);
    [h, wd] = [oh, ow];
    return step;
  });
  // NaN equals nothing: the first pass finds every pixel changed and computes everything.
  return { steps, weights: w, mean, std, classes: c, mapSize: [h, wd], size, input: new Float64Array(size * size).fill(NaN) };
}

// The output rows (or columns) [lo, hi) whose k-wide window, `stride` apart from -padding, reaches input [a, b).
function reach(a, b, s, size) {
  return [Math.max(0, Math.ceil((a + s.padding - s.kernel + 1) / s.stride)), Math.min(size, Math.floor((b - 1 + s.padding) / s.stride) + 1)];
}

// The listed output pixels' input windows, one row of `taps` values per pixel (pixel-major, so the multiply-adds
// below read both operands contiguously).
function im2col(x, s, pixels, m, col) {
  const { c, h, w, kernel: k, stride, padding, ow } = s;
  let at = 0;
  for (let j = 0; j < m; j++) {
    const oy = Math.floor(pixels[j] / ow);
    const ox = pixels[j] - oy * ow;
    for (let ci = 0; ci < c; ci++) {
      const plane = ci * h * w;
      for (let ky = 0; ky < k; ky++) {
        const iy = oy * stride - padding + ky;
        const inside = iy >= 0 && iy < h;
        for (let kx = 0; kx < k; kx++, at++) {
          const ix = ox * stride - padding + kx;
          col[at] = inside && ix >= 0 && ix < w ? x[plane + iy * w + ix] : 0;
        }
      }
    }
  }
}

// tmp[o, j] = b[o] + Σ_r W[o, r] · col[j, r]: a 4×4 block of outputs summed in registers (each loaded weight and
// window value is used four times), then the leftover rows and columns one dot product each.
function gemm(wts, at, outCh, taps, col, n, out) {
  const biasAt = at + outCh * taps;
  const o4 = outCh - (outCh % 4);
  const n4 = n - (n % 4);
  for (let o = 0; o < o4; o += 4) {
    const w0 = at + o * taps, w1 = w0 + taps, w2 = w1 + taps, w3 = w2 + taps;
    const b0 = wts[biasAt + o], b1 = wts[biasAt + o + 1], b2 = wts[biasAt + o + 2], b3 = wts[biasAt + o + 3];
    for (let p = 0; p < n4; p += 4) {
      const c0 = p * taps, c1 = c0 + taps, c2 = c1 + taps, c3 = c2 + taps;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
      for (let r = 0; r < taps; r++) {
        const x0 = col[c0 + r], x1 = col[c1 + r], x2 = col[c2 + r], x3 = col[c3 + r];
        let a = wts[w0 + r];
        s00 += a * x0; s01 += a * x1; s02 += a * x2; s03 += a * x3;
        a = wts[w1 + r];
        s10 += a * x0; s11 += a * x1; s12 += a * x2; s13 += a * x3;
        a = wts[w2 + r];
        s20 += a * x0; s21 += a * x1; s22 += a * x2; s23 += a * x3;
        a = wts[w3 + r];
        s30 += a * x0; s31 += a * x1; s32 += a * x2; s33 += a * x3;
      }
      const q0 = o * n + p, q1 = q0 + n, q2 = q1 + n, q3 = q2 + n;
      out[q0] = b0 + s00; out[q0 + 1] = b0 + s01; out[q0 + 2] = b0 + s02; out[q0 + 3] = b0 + s03;
      out[q1] = b1 + s10; out[q1 + 1] = b1 + s11; out[q1 + 2] = b1 + s12; out[q1 + 3] = b1 + s13;
      out[q2] = b2 + s20; out[q2 + 1] = b2 + s21; out[q2 + 2] = b2 + s22; out[q2 + 3] = b2 + s23;
      out[q3] = b3 + s30; out[q3 + 1] = b3 + s31; out[q3 + 2] = b3 + s32; out[q3 + 3] = b3 + s33;
    }
  }
  for (let o = 0; o < outCh; o++) {
    const wo = at + o * taps, b = wts[biasAt + o];
    for (let p = o < o4 ? n4 : 0; p < n; p++) {
      const cp = p * taps;
      let sum = 0;
      for (let r = 0; r < taps; r++) sum += wts[wo + r] * col[cp + r];
      out[o * n + p] = b + sum;
    }
  }
}

function maxpoolAt(x, s, pixels, m, out) {
  const { c, h, w, kernel: k, stride, padding, oh, ow } = s;
  for (let ci = 0; ci < c; ci++) {
    for (let j = 0; j < m; j++) {
      const oy = Math.floor(pixels[j] / ow);
      const ox = pixels[j] - oy * ow;
      let best = -Infinity;
      for (let ky = 0; ky < k; ky++) {
        const iy = oy * stride - padding + ky;
        if (iy < 0 || iy >= h) continue;
        for (let kx = 0; kx < k; kx++) {
          const ix = ox * stride - padding + kx;
          if (ix >= 0 && ix < w) best = Math.max(best, x[(ci * h + iy) * w + ix]);
        }
      }
      out[ci * oh * ow + pixels[j]] = best;
    }
  }
}

// One layer on the output pixels that the changed input rectangle [y0, y1) × [x0, x1) reaches; returns the changed
// output rectangle. Every other output keeps the last pass's value, which depends only on unchanged inputs.
function runStep(net, s, x, [y0, y1, x0, x1]) {
  if (s.op === "relu") {
    for (let ci = 0; ci < s.c; ci++) {
      for (let y = y0; y < y1; y++) {
        for (let i = (ci * s.h + y) * s.w + x0, end = i + x1 - x0; i < end; i++) if (x[i] < 0) x[i] = 0;
      }
    }
    return [y0, y1, x0, x1];
  }
  const [r0, r1] = reach(y0, y1, s, s.oh);
  const [c0, c1] = reach(x0, x1, s, s.ow);
  let m = 0;
  for (let y = r0; y < r1; y++) for (let xx = c0; xx < c1; xx++) s.pixels[m++] = y * s.ow + xx;
  if (s.op === "maxpool") {
    maxpoolAt(x, s, s.pixels, m, s.out);
  } else {
    const plane = s.oh * s.ow;
    const outCh = s.out.length / plane;
    im2col(x, s, s.pixels, m, s.col);
    gemm(net.weights, s.offset, outCh, s.c * s.kernel * s.kernel, s.col, m, s.tmp);
    for (let o = 0; o < outCh; o++) {
      for (let j = 0; j < m; j++) s.out[o * plane + s.pixels[j]] = s.tmp[o * m + j];
    }
  }
  return [r0, r1, c0, c1];
}

/** 28×28 uint8 gray levels as float64 in [0, 1] (as nin_book.probe.to_gray). */
export function toGray(pixels) {
  const gray = new Float64Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) gray[i] = pixels[i] / 255;
  return gray;
}

/** A copy of `gray` with the patch {x, y, size} (clipped to the image) set to `fill` (as nin_book.probe.cover). */
export function cover(gray, patch, fill, size = IMAGE_SIZE) {
  const out = Float64Array.from(gray);
  if (!patch) return out;
  const [x0, y0] = [Math.max(patch.x, 0), Math.max(patch.y, 0)];
  const [x1, y1] = [Math.min(patch.x + patch.size, size), Math.min(patch.y + patch.size, size)];
  for (let y = y0; y < y1; y++) out.fill(fill, y * size + x0, Math.max(y * size + x0, y * size + x1));
  return out;
}

/** The class maps for gray levels in [0, 1]: a fresh Float64Array (classes × h × w).
 *
 *  Only what changed is recomputed: the pixels that differ from the last call's input bound a rectangle, and each
 *  layer recomputes the outputs whose window reaches the previous layer's changed rectangle. Moving an 8×8 patch by
 *  a pixel recomputes about half the multiply-adds; every value is the one a full pass gives, summed in the same
 *  order. */
export function classMaps(net, gray) {
  const size = net.size;
  let [y0, y1, x0, x1] = [size, 0, size, 0];
  for (let y = 0; y < size; y++) {
    for (let xx = 0; xx < size; xx++) {
      const i = y * size + xx;
      const v = (gray[i] - net.mean) / net.std;
      if (v !== net.input[i] || Number.isNaN(v)) {
        net.input[i] = v;
        [y0, y1, x0, x1] = [Math.min(y0, y), Math.max(y1, y + 1), Math.min(x0, xx), Math.max(x1, xx + 1)];
      }
    }
  }
  const last = net.steps.findLast((step) => step.op !== "relu"); // ReLUs work in place on its buffer
  if (y1 === 0) return Float64Array.from(last.out);
  let x = net.input;
  let region = [y0, y1, x0, x1];
  for (const s of net.steps) {
    region = runStep(net, s, x, region);
    if (s.op !== "relu") x = s.out;
  }
  return Float64Array.from(last.out);
}

/** One forward pass (as nin_book.probe.probe): maps, logits (each map's mean), softmax probabilities, predicted. */
export function probe(net, gray) {
  const maps = classMaps(net, gray);
  const cells = net.mapSize[0] * net.mapSize[1];
  const logits = new Float64Array(net.classes);
  for (let c = 0; c < net.classes; c++) {
    let sum = 0;
    for (let i = 0; i < cells; i++) sum += maps[c * cells + i];
    logits[c] = sum / cells;
  }
  let predicted = 0;
  for (let c = 1; c < net.classes; c++) if (logits[c] > logits[predicted]) predicted = c;
  const top = logits[predicted];
  const e = logits.map((z) => Math.exp(z - top));
  const total = e.reduce((a, b) => a + b, 0);
  return { maps, logits, probabilities: e.map((v) => v / total), predicted };
}

/** The patch corners of the occlusion-sensitivity grid: 0, stride, ... while the patch fits. */
export function corners(size, stride = SENSITIVITY_STRIDE, image = IMAGE_SIZE) {
  const out = [];
  for (let v = 0; v + size <= image; v += stride) out.push(v);
  return out;
}

/** The fall of class `cls`'s logit with the patch at one grid position (as nin_book.probe.occlusion_sensitivity). */
export function occlusionDrop(net, gray, base, cls, x, y, size) {
  return base.logits[cls] - probe(net, cover(gray, { x, y, size }, net.mean)).logits[cls];
}
