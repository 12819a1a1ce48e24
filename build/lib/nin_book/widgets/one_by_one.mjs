// Chapter 1's explorer, "The 1×1 convolution": channels and map size → weight shape, parameters, FLOPs, output.
import { commas, oneByOneSummary, shapeText } from "./nin_math.mjs";
import { explorerModule, tableHtml, volumesSvg } from "./view.mjs";

export function update(settings) {
  const s = oneByOneSummary(settings);
  const rows = [
    ["input shape", shapeText(s.inputShape)],
    ["weight shape", shapeText(s.weightShape)],
    ["parameters", `${commas(s.weights)} weights + ${commas(s.biases)} biases = ${commas(s.parameters)}`],
    ["FLOPs", `${commas(s.flops)} (${commas(s.flopsPerPixel)} per pixel)`],
    ["output shape", shapeText(s.outputShape)],
  ];
  const figure = volumesSvg([{ label: "input", shape: s.inputShape, color: 5 }, { label: "output", shape: s.outputShape }],
    [`1×1 conv, ${commas(s.weights)} weights`]);
  return {
    data: { parameters: s.parameters, flops: s.flops, "output-shape": shapeText(s.outputShape), "weight-shape": shapeText(s.weightShape) },
    html: tableHtml(["quantity", "value"], rows, 2) + figure,
  };
}

export default explorerModule("one-by-one", update);
