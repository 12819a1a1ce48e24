// Runs the network explorer's forward pass (nin_book/widgets/nin_forward.mjs) on cases written by
// tests/test_network_explorer.py and prints its answers as JSON.
// Usage: node tests/js/network_parity.mjs nin_forward.mjs CASES.json
//   CASES: {network: {layers, weights, mean, std}, images: base64 of N×784 uint8, patches: [{x, y, size} | null],
//           sensitivity: [{image, size}], sequences: [{image, patches: [...]}]}
//   →  {predicted, logits, maps, sensitivity, sequences (logits at every step), ms_per_image}
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [modulePath, casesPath] = process.argv.slice(2);
const f = await import(pathToFileURL(modulePath).href);
const cases = JSON.parse(readFileSync(casesPath, "utf8"));
const net = f.loadNetwork(cases.network);
const pixels = f.fromBase64(cases.images);
const area = f.IMAGE_SIZE * f.IMAGE_SIZE;
const count = pixels.length / area;
const out = { predicted: [], logits: [], maps: [], sensitivity: [], sequences: [] };
const t0 = performance.now();
for (let i = 0; i < count; i++) {
  const gray = f.cover(f.toGray(pixels.subarray(i * area, (i + 1) * area)), cases.patches[i] ?? null, net.mean);
  const p = f.probe(net, gray);
  out.predicted.push(p.predicted);
  out.logits.push([...p.logits]);
  out.maps.push([...p.maps]);
}
out.ms_per_image = (performance.now() - t0) / count;
for (const { image, size } of cases.sensitivity) {
  const gray = f.toGray(pixels.subarray(image * area, (image + 1) * area));
  const base = f.probe(net, gray);
  const grid = f.corners(size);
  out.sensitivity.push(grid.map((y) => grid.map((x) => f.occlusionDrop(net, gray, base, base.predicted, x, y, size))));
}
// A patch moved step by step over one image: each pass recomputes only what changed since the one before.
for (const { image, patches } of cases.sequences ?? []) {
  const gray = f.toGray(pixels.subarray(image * area, (image + 1) * area));
  out.sequences.push(patches.map((patch) => [...f.probe(net, f.cover(gray, patch, net.mean)).logits]));
}
process.stdout.write(JSON.stringify(out));
