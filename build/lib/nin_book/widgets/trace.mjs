// Chapter 3's explorer, "Tracing shapes from 224 to 10×1×1": input size and first block → the trace and its funnel.
import { commas, formatCount, funnelValues, shapeText, totalFlops, totalParameters, traceMessage, traceNin } from "./nin_math.mjs";
import { explorerModule, funnelSvg, messageHtml, tableHtml } from "./view.mjs";

export function update(settings) {
  const result = traceNin(settings);
  const rows = result.rows;
  const message = traceMessage(result);
  const table = rows.length ? tableHtml(["layer", "type", "output shape", "parameters", "FLOPs"],
    [["input", "", shapeText(result.inputShape), "", ""], ...rows.map((r) => [r.name, r.layer, shapeText(r.shape), commas(r.parameters), commas(r.flops)])], 3) : "";
  return {
    data: { "output-shape": rows.length ? shapeText(rows[rows.length - 1].shape) : "", parameters: totalParameters(rows),
      flops: totalFlops(rows), "failing-layer": result.error ? result.error.layer ?? "" : "", rows: rows.length, message },
    html: messageHtml(result.error ? `✗ stops here: ${message}` : `✓ ${message}`, result.error ? "error" : "")
      + funnelSvg(funnelValues(result), formatCount) + table,
  };
}

export default explorerModule("trace", update);
