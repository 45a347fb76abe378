// Parses an AsyncAPI document with the reference parser (@asyncapi/parser) and prints
// its diagnostics as one JSON array on stdout. Exit status: 0 when no diagnostic is an
// error, 1 when one is, 2 when the parser could not run.
// Usage: node tests/js/validate_asyncapi.mjs FILE
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const SEVERITIES = ["error", "warning", "information", "hint"];

try {
  const text = readFileSync(process.argv[2], "utf8");
  const { document, diagnostics } = await new Parser().parse(text);
  const found = diagnostics.map((d) => ({
    severity: SEVERITIES[d.severity] ?? String(d.severity),
    code: d.code,
    message: d.message,
    path: d.path.join("/"),
  }));
  console.log(JSON.stringify(found));
  const failed = document === undefined || found.some((d) => d.severity === "error");
  process.exit(failed ? 1 : 0);
} catch (error) {
  console.error(`validate_asyncapi: ${error}`);
  process.exit(2);
}
