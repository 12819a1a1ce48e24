// Chapter 2's explorer, "The NiN block": kernel, stride, padding, input size and channels → every layer of one block.
import { commas, ninBlockSummary, shapeText } from "./nin_math.mjs";
import { explorerModule, messageHtml, tableHtml, volumesSvg } from "./view.mjs";

export function update(settings) {
  const s = ninBlockSummary(settings);
  const rows = [["input", "", shapeText(s.inputShape), "", ""],
    ...s.layers.map((l) => [l.name, l.layer, shapeText(l.shape), commas(l.parameters), commas(l.flops)]),
    ["total", "", "", commas(s.parameters), commas(s.flops)]];
  const convs = s.layers.filter((l) => l.kind === "Conv2d");
  const figure = volumesSvg([{ label: "input", shape: s.inputShape, color: 5 }, ...convs.map((l) => ({ label: l.name, shape: l.shape }))],
    convs.map((l) => l.layer.replace("Conv2d ", "")));
  const field = `Receptive field of one output pixel: ${s.receptiveField}×${s.receptiveField} input pixels.`;
  return {
    data: { parameters: s.parameters, flops: s.flops, "output-shape": shapeText(s.outputShape), "receptive-field": s.receptiveField,
      notes: s.notes.length },
    html: s.notes.map((n) => messageHtml(n, "note")).join("") + tableHtml(["layer", "type", "output shape", "parameters", "FLOPs"], rows, 3)
      + `<p>${field}</p>` + figure,
  };
}

export default explorerModule("nin-block", update);
