// Chapter 4's explorer, "Parameters and compute against VGG": models and a width multiplier → costs side by side.
import { commas, compareModels, formatCount, MODEL_NAMES } from "./nin_math.mjs";
import { COLORS, explorerModule, barsSvg, tableHtml } from "./view.mjs";

export const SWITCHES = { show_nin: "NiN", show_vgg11: "VGG-11", show_alexnet: "AlexNet" };
export const slug = (name) => name.toLowerCase().replace(/[^a-z0-9]+/g, "-");
const threeDigits = (x) => String(Number(x.toPrecision(3)));

export function update(settings) {
  const names = Object.entries(SWITCHES).filter(([trait]) => settings[trait]).map(([, name]) => name);
  const stats = compareModels(names, settings.width_multiplier);
  const data = {};
  for (const s of stats) {
    Object.assign(data, { [`${slug(s.name)}-parameters`]: s.parameters, [`${slug(s.name)}-flops`]: s.flops,
      [`${slug(s.name)}-activations`]: s.activations });
  }
  const mb = (n) => (Number(n) * 4 / 1e6).toLocaleString("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  const rows = stats.map((s) => [s.name, `×${s.widthMultiplier}`, commas(s.parameters), mb(s.parameters), commas(s.flops),
    Math.round(Number(s.flops) / Number(s.parameters)).toLocaleString("en-US"), mb(s.activations)]);
  const color = (name) => COLORS[MODEL_NAMES.indexOf(name)];
  // As the static figure (nin_book/figures/compare.py): each panel in its unit, the activations in MB as the table.
  const panels = [
    ["parameters (millions)", (s) => Number(s.parameters) / 1e6, (v) => `${threeDigits(v)} M`],
    ["GFLOPs per image", (s) => Number(s.flops) / 1e9, (v) => `${threeDigits(v)} G`],
    ["activations, MB per image", (s) => Number(s.activations) * 4 / 1e6, (v) => `${threeDigits(v)} MB`],
  ].map(([title, value, format]) => ({ title, format, bars: stats.map((s) => ({ label: s.name, value: value(s), color: color(s.name) })) }));
  return {
    data,
    html: tableHtml(["model", "width", "parameters", "weights (MB, fp32)", "forward FLOPs", "FLOPs per parameter",
      "activations (MB per image)"], rows, 1) + barsSvg(panels, formatCount) + "<p>One 1×224×224 image (linear scales; each bar says how many times the first model's it is).</p>",
  };
}

export default explorerModule("compare", update);
