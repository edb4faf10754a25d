// Validates the Dockerfile with dockerfile-utils (the validator behind VS Code's Docker support): instruction syntax,
// flags, ports, stage references. No Docker engine needed.
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { validate } from "dockerfile-utils";

const file = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), "..", "..", "Dockerfile");
const problems = validate(readFileSync(file, "utf8"));
for (const p of problems) {
  console.error(`${file}:${p.range.start.line + 1}: ${p.severity === 1 ? "error" : "warning"}: ${p.message}`);
}
console.log(`Dockerfile: ${problems.length} problem(s)`);
process.exit(problems.some(p => p.severity === 1) ? 1 : 0);
