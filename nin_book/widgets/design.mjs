// "Design your NiN" (chapter 4): block widths, first block, channels, classes and input size → every layer, the
// funnel to a linear scale, and the totals next to VGG-11 and AlexNet at the same input.
import { commas, designNin, formatCount, shapeText, traceMessage } from "./nin_math.mjs";
import { explorerModule, funnelSvg, messageHtml, tableHtml } from "./view.mjs";

const slug = (name) => name.toLowerCase().replace(/[^a-z0-9]+/g, "-");
const times = (a, b) => `${(Number(a) / Number(b)).toFixed(1)}×`;

export function update(settings) {
  const d = designNin(settings);
  const rows = d.result.rows;
  const message = traceMessage(d.result);
  const table = tableHtml(["layer", "type", "output shape", "parameters", "FLOPs"],
    [["input", "", shapeText(d.result.inputShape), "", ""], ...rows.map((r) => [r.name, r.layer, shapeText(r.shape), commas(r.parameters), commas(r.flops)]),
      ["total", "", "", commas(d.parameters), d.flops === null ? "–" : commas(d.flops)]], 3);
  const data = { parameters: d.parameters, flops: d.flops, "output-shape": d.result.error ? "" : shapeText(rows[rows.length - 1].shape),
    "failing-layer": d.result.error ? d.result.error.layer : "", message };
  const totals = [["your NiN", commas(d.parameters), d.flops === null ? "cannot run" : commas(d.flops), "1×", d.flops === null ? "–" : "1×"]];
  const sentences = [];
  for (const ref of d.references) {
    const key = slug(ref.name);
    Object.assign(data, { [`${key}-parameters`]: ref.parameters, [`${key}-flops`]: ref.flops,
      [`${key}-failing-layer`]: ref.result.error ? ref.result.error.layer : "" });
    const flopRatio = ref.flops === null || d.flops === null ? "–" : times(ref.flops, d.flops);
    totals.push([ref.name, commas(ref.parameters), ref.flops === null ? "cannot run" : commas(ref.flops), times(ref.parameters, d.parameters), flopRatio]);
    sentences.push(`${ref.name} has ${times(ref.parameters, d.parameters)} the parameters of your NiN`
      + (flopRatio === "–" ? "" : ` and needs ${flopRatio} its FLOPs`) + ".");
    if (ref.result.error) sentences.push(`${ref.name} cannot take this input: ${traceMessage(ref.result)}.`);
  }
  const shape = shapeText(d.result.inputShape);
  return {
    data,
    html: messageHtml(d.result.error ? `✗ stops here: ${message}` : `✓ ${message}`, d.result.error ? "error" : "")
      + `<p><b>Totals for one ${shape} input</b></p>`
      + tableHtml(["network", "parameters", "forward FLOPs", "parameters vs your NiN", "FLOPs vs your NiN"], totals, 1)
      + sentences.map((s) => `<p>${s.replace(/&/g, "&amp;").replace(/</g, "&lt;")}</p>`).join("")
      + funnelSvg(d.funnel, formatCount) + table,
  };
}

export default explorerModule("design", update);
