// The explorers' numbers, computed in the browser: a mirror of nin_book's pure functions.
//
// Python is the source of truth: tests/test_explorer_parity.py draws random settings, computes them with
// nin_book.blocks / shapes / compare / design, and checks that these functions give the same numbers, messages
// and failing layers (run with Debian's node). Counts are BigInt, so that no parameter or FLOP count is rounded.
// Explained in chapters 1-4 (each function names the chapter of the Python function it mirrors).

// The bounds of nin_book.shapes (MAX_CHANNELS, MAX_SIZE) and nin_book.compare (MAX_WIDTH_MULTIPLIER): the same
// settings are refused, with the same words, on both sides.
export const MAX_CHANNELS = 1 << 20;
export const MAX_SIZE = 1 << 16;
export const MAX_WIDTH_MULTIPLIER = 256;

// --- Formatting as Python does it ----------------------------------------------------------------------

/** f"{n:,}" for an integer or BigInt. */
export function commas(n) {
  const text = BigInt(n).toString();
  const sign = text.startsWith("-") ? "-" : "";
  return sign + text.slice(sign.length).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** repr() of a Python int or float (the values the settings can hold); a whole number is taken as an int. */
export function pyRepr(value) {
  if (typeof value === "number" && Number.isInteger(value) && !Object.is(value, -0)) return BigInt(value).toString();
  if (typeof value === "number") return pyFloatRepr(value);
  if (typeof value === "string") return `'${value}'`;
  return String(value);
}

/** repr() of a Python float: nan, inf, 1.0, 0.0001, 1e-05, 1e+16 (the shortest digits that read back, as both use). */
export function pyFloatRepr(x) {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  if (x === 0) return `${sign}0.0`;
  const [mantissa, exponent] = Math.abs(x).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const e = Number(exponent);
  if (e >= -4 && e < 16) { // Python writes these exponents out in full, with at least one decimal
    if (e < 0) return `${sign}0.${"0".repeat(-e - 1)}${digits}`;
    return `${sign}${digits.slice(0, e + 1).padEnd(e + 1, "0")}.${digits.slice(e + 1) || "0"}`;
  }
  const head = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${sign}${head}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
}

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(x) {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

export const shapeText = (shape) => shape.join("×");
const numel = (shape) => shape.reduce((a, d) => a * BigInt(d), 1n);

// --- The size rule (nin_book.shapes.conv_output_size, chapter 3) ----------------------------------------

export function convOutputSize(size, kernel, stride = 1, padding = 0) {
  for (const [name, value, lowest] of [["input size", size, 1], ["kernel", kernel, 1], ["stride", stride, 1], ["padding", padding, 0]]) {
    if (!Number.isInteger(value)) throw new Error(`${name} must be an integer, got ${pyRepr(value)}`);
    if (value < lowest) throw new Error(`${name} must be ${lowest === 1 ? "positive" : "zero or more"}, got ${value}`);
  }
  const padded = size + 2 * padding;
  if (kernel > padded) {
    throw new Error(`kernel ${kernel} is larger than the padded input ${padded} (size ${size} + 2×padding ${padding}): `
      + "use a larger input, a smaller kernel or more padding");
  }
  return Math.floor((padded - kernel) / stride) + 1;
}

// --- Layers: just enough of torch.nn to trace NiN, VGG-11 and AlexNet ------------------------------------

export const conv = (name, cin, cout, k, s = 1, p = 0) => ({ name, kind: "Conv2d", cin, cout, k, s, p });
export const maxPool = (name, k, s, p = 0) => ({ name, kind: "MaxPool2d", k, s, p });
export const relu = (name) => ({ name, kind: "ReLU" });
export const dropout = (name) => ({ name, kind: "Dropout" });
export const gap = (name) => ({ name, kind: "AdaptiveAvgPool2d" });
export const flatten = (name) => ({ name, kind: "Flatten" });
export const linear = (name, fin, fout) => ({ name, kind: "Linear", fin, fout });
export const sequential = (name, children) => ({ name, kind: "Sequential", children });

// Layers whose output training keeps (nin_book.compare._STORING); ReLU is in place, flatten a view.
const STORING = new Set(["Conv2d", "Linear", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm2d"]);

function leaves(layer) {
  return layer.kind === "Sequential" ? layer.children.flatMap(leaves) : [layer];
}

export function parameters(layer) {
  if (layer.kind === "Conv2d") return BigInt(layer.cout) * BigInt(layer.cin) * BigInt(layer.k) * BigInt(layer.k) + BigInt(layer.cout);
  if (layer.kind === "Linear") return BigInt(layer.fout) * BigInt(layer.fin) + BigInt(layer.fout);
  if (layer.kind === "Sequential") return layer.children.reduce((a, c) => a + parameters(c), 0n);
  return 0n;
}

/** nin_book.shapes.describe_layer. */
export function describe(layer) {
  if (layer.kind === "Conv2d") return `Conv2d ${layer.k}×${layer.k}/${layer.s} pad ${layer.p}`;
  if (layer.kind === "MaxPool2d") return `MaxPool2d ${layer.k}/${layer.s}` + (layer.p ? ` pad ${layer.p}` : "");
  if (layer.kind === "Sequential") {
    const convs = leaves(layer).filter((l) => l.kind === "Conv2d");
    if (convs.length === 3 && convs[1].k === 1 && convs[2].k === 1) return `NiN block ${convs[0].k}×${convs[0].k}/${convs[0].s}`;
    return `Sequential (${layer.children.length} layers)`;
  }
  return layer.kind;
}

/** Why a layer cannot take an input of `shape` (without the batch), or null (shapes._predict_failure). */
function predictFailure(layer, shape) {
  if (layer.kind === "Linear" && shape[shape.length - 1] !== layer.fin) {
    return `it expects ${commas(layer.fin)} input features, got ${commas(shape[shape.length - 1])}; a fully connected layer `
      + "fixes the size of the maps before it";
  }
  if (layer.kind === "Conv2d" && shape.length === 3 && shape[0] !== layer.cin) {
    return `it expects ${layer.cin} input channels, got ${shape[0]}`;
  }
  if ((layer.kind === "Conv2d" || layer.kind === "MaxPool2d") && shape.length === 3) {
    for (const [i, axis] of [[1, "height"], [2, "width"]]) {
      try {
        convOutputSize(shape[i], layer.k, layer.s, layer.p);
      } catch (err) {
        return `${axis} ${shape[i]}: ${err.message}`;
      }
    }
  }
  return null;
}

/** Output shape and FLOPs of one leaf layer (FlopCounterMode: a multiply-add is 2, pooling and ReLU 0). */
function runLeaf(layer, shape) {
  switch (layer.kind) {
    case "Conv2d": {
      const out = [layer.cout, convOutputSize(shape[1], layer.k, layer.s, layer.p), convOutputSize(shape[2], layer.k, layer.s, layer.p)];
      return [out, 2n * numel(out) * BigInt(layer.cin) * BigInt(layer.k) * BigInt(layer.k)];
    }
    case "MaxPool2d":
      return [[shape[0], convOutputSize(shape[1], layer.k, layer.s, layer.p), convOutputSize(shape[2], layer.k, layer.s, layer.p)], 0n];
    case "AdaptiveAvgPool2d":
      return [[shape[0], 1, 1], 0n];
    case "Flatten":
      return [[shape.reduce((a, d) => a * d, 1)], 0n];
    case "Linear":
      return [[...shape.slice(0, -1), layer.fout], 2n * BigInt(layer.fin) * BigInt(layer.fout)];
    default: // ReLU, Dropout
      return [shape, 0n];
  }
}

class ShapeError extends Error {
  constructor(message, layer) {
    super(message);
    this.layer = layer;
  }
}

function runLayer(name, layer, shape) {
  if (layer.kind === "Sequential") {
    let flops = 0n;
    for (const child of layer.children) {
      const [out, f] = runLayer(`${name}.${child.name}`, child, shape);
      shape = out;
      flops += f;
    }
    return [shape, flops];
  }
  const reason = predictFailure(layer, shape);
  if (reason) throw new ShapeError(`layer '${name}' (${describe(layer)}) cannot take input ${shapeText(shape)}: ${reason}`, name);
  return runLeaf(layer, shape);
}

/**
 * nin_book.shapes.trace_until_error: the rows that ran (depth 1: one per top-level layer; depth null: leaves),
 * and the error of the first layer that cannot take its input ({message, layer}) or null. Chapter 3.
 */
export function traceUntilError(layers, inputShape, depth = null) {
  const items = depth === 1 ? layers.map((l) => [l.name, l]) : expand(layers, "");
  const rows = [];
  let shape = inputShape;
  for (const [name, layer] of items) {
    try {
      const [out, flops] = runLayer(name, layer, shape);
      shape = out;
      rows.push({ name, layer: describe(layer), shape: out, parameters: parameters(layer), flops, kind: layer.kind });
    } catch (err) {
      if (!(err instanceof ShapeError)) throw err;
      return { inputShape, rows, error: { message: err.message, layer: err.layer } };
    }
  }
  return { inputShape, rows, error: null };
}

function expand(layers, prefix) {
  return layers.flatMap((l) => (l.kind === "Sequential" ? expand(l.children, `${prefix}${l.name}.`) : [[`${prefix}${l.name}`, l]]));
}

/** PartialTrace.message: the output shape when it ran, or where and why it stopped. */
export function traceMessage(result) {
  if (result.error) return result.error.message;
  const out = result.rows.length ? shapeText(result.rows[result.rows.length - 1].shape) : shapeText(result.inputShape);
  return `the input ${shapeText(result.inputShape)} runs through every layer; output ${out}`;
}

export const totalParameters = (rows) => rows.reduce((a, r) => a + r.parameters, 0n);
export const totalFlops = (rows) => rows.reduce((a, r) => a + r.flops, 0n);

/** Receptive field and jump after each row (nin_book.blocks.receptive_fields, chapter 2). */
export function receptiveFields(layers) {
  let field = 1;
  let jump = 1;
  return layers.map((layer) => {
    for (const leaf of leaves(layer)) {
      if (["AdaptiveAvgPool2d", "Flatten", "Linear"].includes(leaf.kind)) field = null;
      else if (field !== null && (leaf.kind === "Conv2d" || leaf.kind === "MaxPool2d")) {
        field += (leaf.k - 1) * jump;
        jump *= leaf.s;
      }
    }
    return { name: layer.name, field, jump };
  });
}

// --- The networks (nin_book.models) ---------------------------------------------------------------------

export function ninBlock(name, cin, cout, k, s = 1, p = 0) {
  return sequential(name, [conv("conv", cin, cout, k, s, p), relu("conv_relu"), conv("mlp1", cout, cout, 1),
    relu("mlp1_relu"), conv("mlp2", cout, cout, 1), relu("mlp2_relu")]);
}

/** nin_book.models.nin with the classic kernels and pools (chapter 2). */
export function nin({ inChannels = 1, numClasses = 10, widths = [96, 256, 384], firstBlock = [11, 4, 0] } = {}) {
  const [w1, w2, w3] = widths;
  const [k, s, p] = firstBlock;
  return [ninBlock("block1", inChannels, w1, k, s, p), maxPool("pool1", 3, 2), ninBlock("block2", w1, w2, 5, 1, 2),
    maxPool("pool2", 3, 2), ninBlock("block3", w2, w3, 3, 1, 1), maxPool("pool3", 3, 2), dropout("dropout"),
    ninBlock("block4", w3, numClasses, 3, 1, 1), gap("gap"), flatten("flatten")];
}

const scaled = (c, m) => Math.max(1, roundHalfEven(c * m));

/** nin_book.models.vgg11 (chapter 4). */
export function vgg11({ inChannels = 1, numClasses = 10, widthMultiplier = 1.0 } = {}) {
  const layers = [];
  let cin = inChannels;
  [[1, 64], [1, 128], [2, 256], [2, 512], [2, 512]].forEach(([convs, cout], i) => {
    cout = scaled(cout, widthMultiplier);
    const children = [];
    for (let j = 0; j < convs; j++) children.push(conv(`conv${j + 1}`, j === 0 ? cin : cout, cout, 3, 1, 1), relu(`relu${j + 1}`));
    children.push(maxPool("pool", 2, 2));
    layers.push(sequential(`block${i + 1}`, children));
    cin = cout;
  });
  const hidden = scaled(4096, widthMultiplier);
  return [...layers, flatten("flatten"), linear("fc1", cin * 7 * 7, hidden), relu("relu1"), dropout("dropout1"),
    linear("fc2", hidden, hidden), relu("relu2"), dropout("dropout2"), linear("fc3", hidden, numClasses)];
}

/** nin_book.models.alexnet (chapter 4). */
export function alexnet({ inChannels = 1, numClasses = 10, widthMultiplier = 1.0 } = {}) {
  const [c1, c2, c3, c5] = [96, 256, 384, 256].map((c) => scaled(c, widthMultiplier));
  const hidden = scaled(4096, widthMultiplier);
  return [conv("conv1", inChannels, c1, 11, 4, 1), relu("relu1"), maxPool("pool1", 3, 2), conv("conv2", c1, c2, 5, 1, 2),
    relu("relu2"), maxPool("pool2", 3, 2), conv("conv3", c2, c3, 3, 1, 1), relu("relu3"), conv("conv4", c3, c3, 3, 1, 1),
    relu("relu4"), conv("conv5", c3, c5, 3, 1, 1), relu("relu5"), maxPool("pool3", 3, 2), flatten("flatten"),
    linear("fc1", c5 * 5 * 5, hidden), relu("relu6"), dropout("dropout1"), linear("fc2", hidden, hidden), relu("relu7"),
    dropout("dropout2"), linear("fc3", hidden, numClasses)];
}

// --- The explorers' functions ------------------------------------------------------------------------------

/** nin_book.blocks.check_count: the value, or an Error saying the fix. */
export function checkCount(name, value, hint, largest = MAX_CHANNELS) {
  if (typeof value !== "number" || !Number.isInteger(value)) throw new Error(`${name} must be a whole number, got ${pyRepr(value)}`);
  if (value < 1) throw new Error(`${name} must be at least 1, got ${value}: ${hint}`);
  if (value > largest) throw new Error(`${name} must be at most ${commas(largest)}, got ${commas(value)}: real layers stay far below that`);
  return value;
}

/** nin_book.blocks.one_by_one_summary (chapter 1, "The 1×1 convolution"). */
export function oneByOneSummary({ in_channels, out_channels, height, width }) {
  checkCount("input channels", in_channels, "a 1×1 convolution mixes the channels of its input, so it needs one or more");
  checkCount("output channels", out_channels, "each output channel is one weighted sum; ask for one or more");
  checkCount("height", height, "a feature map needs at least one row", MAX_SIZE);
  checkCount("width", width, "a feature map needs at least one column", MAX_SIZE);
  const layer = conv("0", in_channels, out_channels, 1);
  const [row] = traceUntilError([layer], [in_channels, height, width]).rows;
  const weights = BigInt(out_channels) * BigInt(in_channels);
  return {
    weightShape: [out_channels, in_channels, 1, 1], weights, biases: BigInt(out_channels), parameters: row.parameters,
    flops: row.flops, flopsPerPixel: row.flops / BigInt(height * width), inputShape: [in_channels, height, width],
    outputShape: row.shape,
  };
}

/** nin_book.blocks.nin_block_summary (chapter 2, "The NiN block"). */
export function ninBlockSummary({ kernel, stride, padding, input_size, in_channels, out_channels }) {
  checkCount("input channels", in_channels, "the block's first convolution needs an input with one or more channels");
  checkCount("output channels", out_channels, "each of the block's three convolutions makes one or more channels");
  checkCount("kernel", kernel, "the first convolution looks at a k×k window with k of 1 or more", MAX_SIZE);
  checkCount("stride", stride, "the window moves by 1 or more pixels", MAX_SIZE);
  checkCount("input size", input_size, "the input needs at least one pixel", MAX_SIZE);
  if (typeof padding !== "number" || !Number.isInteger(padding)) throw new Error(`padding must be a whole number, got ${pyRepr(padding)}`);
  if (padding < 0) throw new Error(`padding must be 0 or more, got ${padding}: padding adds rings of zeros around the input`);
  if (padding > MAX_SIZE) throw new Error(`padding must be at most ${commas(MAX_SIZE)}, got ${commas(padding)}: real layers stay far below that`);
  try {
    convOutputSize(input_size, kernel, stride, padding);
  } catch (err) {
    throw new Error(`impossible block: ${err.message}`);
  }
  const notes = [];
  if (stride > kernel) {
    notes.push(`stride ${stride} is larger than the kernel ${kernel}: ${stride - kernel} of every ${stride} input rows and columns are never seen`);
  }
  const leftover = (input_size + 2 * padding - kernel) % stride;
  if (leftover) notes.push(`the last ${leftover} padded row(s) and column(s) do not fit a whole window and are dropped`);
  if (padding >= kernel) notes.push(`padding ${padding} is at least the kernel ${kernel}: the border outputs see only zeros`);
  const block = ninBlock("block", in_channels, out_channels, kernel, stride, padding);
  const result = traceUntilError(block.children, [in_channels, input_size, input_size]);
  const fields = receptiveFields(block.children);
  const layers = result.rows.map((r, i) => ({ ...r, receptiveField: fields[i].field }));
  return {
    inputShape: [in_channels, input_size, input_size], layers, notes, outputShape: layers[layers.length - 1].shape,
    parameters: totalParameters(layers), flops: totalFlops(layers), receptiveField: layers[layers.length - 1].receptiveField,
  };
}

/** What is wrong with one of traceNin's settings (nin_book.shapes._setting_problem), or null. */
function settingProblem(name, value, lowest, highest) {
  if (typeof value !== "number" || !Number.isInteger(value)) return `${name} must be a whole number, got ${pyRepr(value)}`;
  if (value < lowest) return `${name} must be ${lowest === 1 ? "at least 1" : "zero or more"}, got ${pyRepr(value)}`;
  if (value > highest) return `${name} must be at most ${commas(highest)}, got ${commas(value)}`;
  return null;
}

/** nin_book.shapes.trace_nin at depth 1 (chapter 3, "Tracing shapes from 224 to 10×1×1"). */
export function traceNin({ input_size, kernel, stride, padding, channels = 1 }) {
  const problems = [["input size", input_size, 1, MAX_SIZE], ["kernel", kernel, 1, MAX_SIZE], ["stride", stride, 1, MAX_SIZE],
    ["padding", padding, 0, MAX_SIZE], ["channels", channels, 1, MAX_CHANNELS]]
    .map(([name, value, lowest, highest]) => settingProblem(name, value, lowest, highest)).filter((p) => p !== null);
  const inputShape = [channels, input_size, input_size];
  if (problems.length) return { inputShape, rows: [], error: { message: problems.join("; "), layer: null } };
  return traceUntilError(nin({ inChannels: channels, firstBlock: [kernel, stride, padding] }), inputShape, 1);
}

/** nin_book.design.funnel_values: the input and every 3-D output that differs from the one before (chapter 3). */
export function funnelValues(result) {
  const stages = [{ name: "input", shape: result.inputShape, values: numel(result.inputShape) }];
  for (const r of result.rows) {
    if (r.shape.length === 3 && shapeText(r.shape) !== shapeText(stages[stages.length - 1].shape)) {
      stages.push({ name: r.name, shape: r.shape, values: numel(r.shape) });
    }
  }
  return stages;
}

export const MODEL_NAMES = ["NiN", "VGG-11", "AlexNet"];
const BUILDERS = {
  NiN: (m) => nin({ widths: [96, 256, 384].map((c) => scaled(c, m)) }),
  "VGG-11": (m) => vgg11({ widthMultiplier: m }),
  AlexNet: (m) => alexnet({ widthMultiplier: m }),
};

/** nin_book.compare.compare_models at 1×224×224 (chapter 4, "Parameters and compute against VGG"). */
export function compareModels(names, widthMultiplier) {
  if (!names.length) throw new Error(`choose at least one model from ${MODEL_NAMES.join(", ")}`);
  return names.map((name) => {
    if (!(name in BUILDERS)) throw new Error(`unknown model '${name}'; choose from ${MODEL_NAMES.join(", ")}`);
    if (typeof widthMultiplier !== "number" || !(widthMultiplier > 0 && widthMultiplier <= MAX_WIDTH_MULTIPLIER)) {
      throw new Error(`width_multiplier must be a positive number up to ${MAX_WIDTH_MULTIPLIER} (1.0 is the published width), `
        + `got ${pyFloat(widthMultiplier)}`);
    }
    const layers = BUILDERS[name](widthMultiplier);
    const result = traceUntilError(layers, [1, 224, 224]);
    if (result.error) throw new Error(result.error.message);
    const activations = result.rows.filter((r) => STORING.has(r.kind)).reduce((a, r) => a + numel(r.shape), 0n);
    return { name, widthMultiplier, parameters: totalParameters(result.rows), flops: totalFlops(result.rows), activations };
  });
}

const pyFloat = (x) => (typeof x === "number" ? pyFloatRepr(x) : pyRepr(x));

/** Python's format_count: 1.99 M, 15.1 G, 742 k (three significant digits). */
export function formatCount(value) {
  const v = Number(value);
  for (const [scale, suffix] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
    if (Math.abs(v) >= scale) return `${g3(v / scale)} ${suffix}`;
  }
  return g3(v);
}

const g3 = (x) => String(Number(x.toPrecision(3)));

export const DESIGN_DEFAULTS = {
  width1: 96, width2: 256, width3: 384, kernel: 11, stride: 4, padding: 0, in_channels: 1, num_classes: 10, input_size: 224,
};

/** nin_book.design.design_nin (chapter 4): the NiN traced block by block, and VGG-11 and AlexNet beside it. */
export function designNin(settings) {
  const { width1, width2, width3, kernel, stride, padding, in_channels, num_classes, input_size } = { ...DESIGN_DEFAULTS, ...settings };
  for (const [name, value] of [["block 1 width", width1], ["block 2 width", width2], ["block 3 width", width3]]) {
    checkCount(name, value, "a block makes one or more channels");
  }
  checkCount("input channels", in_channels, "the first convolution needs an input with one or more channels");
  checkCount("classes", num_classes, "the last block makes one map per class");
  checkCount("kernel", kernel, "the first convolution looks at a k×k window with k of 1 or more", MAX_SIZE);
  checkCount("stride", stride, "the window moves by 1 or more pixels", MAX_SIZE);
  checkCount("input size", input_size, "the input needs at least one pixel", MAX_SIZE);
  if (typeof padding !== "number" || !Number.isInteger(padding) || padding < 0 || padding > MAX_SIZE) {
    throw new Error(`padding must be a whole number from 0 to ${commas(MAX_SIZE)}, got ${pyRepr(padding)}`);
  }
  const shape = [in_channels, input_size, input_size];
  const layers = nin({ inChannels: in_channels, numClasses: num_classes, widths: [width1, width2, width3], firstBlock: [kernel, stride, padding] });
  const result = traceUntilError(layers, shape, 1);
  const params = layers.reduce((a, l) => a + parameters(l), 0n);
  const references = [["VGG-11", vgg11], ["AlexNet", alexnet]].map(([name, build]) => {
    const net = build({ inChannels: in_channels, numClasses: num_classes });
    const ref = traceUntilError(net, shape, 1);
    return { name, parameters: net.reduce((a, l) => a + parameters(l), 0n), result: ref, flops: ref.error ? null : totalFlops(ref.rows) };
  });
  return { result, parameters: params, flops: result.error ? null : totalFlops(result.rows), references, funnel: funnelValues(result) };
}
