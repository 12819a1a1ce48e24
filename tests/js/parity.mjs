// Runs the explorers' JavaScript on cases written by tests/test_explorer_parity.py and prints the answers as JSON.
// Usage: node tests/js/parity.mjs CASES.json   (each case: {kind, settings}; the answer is normalised as in the test)
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [mathPath, casesPath] = process.argv.slice(2);
const m = await import(pathToFileURL(mathPath).href);
const str = (n) => (n === null ? null : n.toString());
const rowsOf = (rows) => rows.map((r) => [r.name, r.layer, r.shape, str(r.parameters), str(r.flops)]);
const failing = (result) => (result.error ? result.error.layer : null);

const KINDS = {
  one_by_one(s) {
    const r = m.oneByOneSummary(s);
    return { weight_shape: r.weightShape, parameters: str(r.parameters), flops: str(r.flops), output_shape: r.outputShape };
  },
  nin_block(s) {
    const r = m.ninBlockSummary(s);
    return { layers: r.layers.map((l) => [l.name, l.layer, l.shape, str(l.parameters), str(l.flops), l.receptiveField]), notes: r.notes };
  },
  trace(s) {
    const r = m.traceNin(s);
    return { rows: rowsOf(r.rows), message: m.traceMessage(r), failing_layer: failing(r) };
  },
  compare(s) {
    const stats = m.compareModels(s.names, s.width_multiplier);
    return { stats: stats.map((x) => [x.name, str(x.parameters), str(x.flops), str(x.activations)]) };
  },
  design(s) {
    const d = m.designNin(s);
    return {
      rows: rowsOf(d.result.rows), message: m.traceMessage(d.result), failing_layer: failing(d.result),
      parameters: str(d.parameters), flops: str(d.flops), funnel: d.funnel.map((f) => [f.name, f.shape, str(f.values)]),
      references: d.references.map((x) => [x.name, str(x.parameters), str(x.flops), failing(x.result), m.traceMessage(x.result)]),
    };
  },
};

// JSON has no inf or nan: the test writes them as {"$float": "inf" | "-inf" | "nan"}.
const NON_FINITE = { inf: Infinity, "-inf": -Infinity, nan: NaN };
const revive = (key, value) => (value !== null && typeof value === "object" && "$float" in value ? NON_FINITE[value.$float] : value);

const answers = JSON.parse(readFileSync(casesPath, "utf8"), revive).map(({ kind, settings }) => {
  try {
    return KINDS[kind](settings);
  } catch (err) {
    if (!(err instanceof Error) || err.constructor !== Error) throw err; // a bug in the JS, not a message for the reader
    return { error: err.message };
  }
});
process.stdout.write(JSON.stringify(answers));
