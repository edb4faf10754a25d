// Validates every manifest under deploy/k8s against the JSON schemas bundled in kubernetes-models (Kubernetes API),
// @kubernetes-models/keda and @kubernetes-models/prometheus-operator: types, enums and required fields, offline.
// Unknown fields are not reported by these schemas; tests/YoutuServer.Tests/Operations/KubernetesManifestTests.cs
// checks the fields that matter to the app (probes, ports, image, GPU, autoscaling metric).
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "k8s");
const modules = {
  "v1": "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "autoscaling/v2": "kubernetes-models/autoscaling/v2",
  "keda.sh/v1alpha1": "@kubernetes-models/keda/keda.sh/v1alpha1",
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
};
const noSchema = new Set(["kustomize.config.k8s.io/v1beta1/Kustomization"]);

function* yamlFiles(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name === "node_modules") continue;
    if (statSync(path).isDirectory()) yield* yamlFiles(path);
    else if (/\.ya?ml$/.test(name)) yield path;
  }
}

let checked = 0, failed = 0;
for (const file of yamlFiles(root)) {
  const rel = relative(root, file);
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  for (const doc of docs) {
    if (doc.errors.length) { console.error(`FAIL ${rel}: YAML: ${doc.errors[0].message}`); failed++; continue; }
    const obj = doc.toJS();
    if (obj == null) continue;
    const id = `${obj.apiVersion}/${obj.kind}`;
    const what = `${rel}: ${obj.kind} ${obj.metadata?.name ?? "?"}`;
    if (noSchema.has(id)) { console.log(`skip ${what} (no schema)`); continue; }
    const mod = modules[obj.apiVersion];
    if (!mod) { console.error(`FAIL ${what}: no schema for apiVersion ${obj.apiVersion}`); failed++; continue; }
    const Model = (await import(mod))[obj.kind];
    if (!Model) { console.error(`FAIL ${what}: ${obj.apiVersion} has no kind ${obj.kind}`); failed++; continue; }
    try {
      new Model(obj).validate();
      console.log(`ok   ${what}`);
      checked++;
    } catch (e) {
      console.error(`FAIL ${what}: ${e.message}`);
      failed++;
    }
  }
}
console.log(`${checked} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
