// Validates every manifest under deploy/k8s and deploy/inference-gateway against its real schema, offline:
//   * Kubernetes API objects: the JSON schemas bundled in kubernetes-models (Kubernetes API);
//   * KEDA / Prometheus Operator: @kubernetes-models/keda, @kubernetes-models/prometheus-operator;
//   * Gateway API (HTTPRoute, Gateway): @kubernetes-models/gateway-api;
//   * InferencePool (inference.networking.k8s.io/v1): the openAPIV3Schema of GIE v1.6.0's CRD, vendored byte for byte
//     in schemas/ (from shared/research/gie/), checked with Ajv. Unknown fields are errors there too (the API server
//     would prune them silently), so a misspelt field fails here instead of being dropped in the cluster.
// The endpoint picker's EndpointPickerConfig is not a Kubernetes object; tests/YoutuServer.Tests/Operations/
// InferenceGatewayTests.cs checks it (plugins, references, and that every metric it names is served).
// tests/YoutuServer.Tests/Operations/KubernetesManifestTests.cs checks what schemas cannot (probes, ports, labels).
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, parse } from "yaml";
import Ajv from "ajv";

const here = dirname(fileURLToPath(import.meta.url));
const deploy = join(here, "..");
const roots = ["k8s", "inference-gateway"].map((d) => join(deploy, d));
const modules = {
  "v1": "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "autoscaling/v2": "kubernetes-models/autoscaling/v2",
  "rbac.authorization.k8s.io/v1": "kubernetes-models/rbac.authorization.k8s.io/v1",
  "keda.sh/v1alpha1": "@kubernetes-models/keda/keda.sh/v1alpha1",
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
  "gateway.networking.k8s.io/v1": "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1",
};
const noSchema = new Map([
  ["kustomize.config.k8s.io/v1beta1/Kustomization", "kustomize input, rendered by kubectl kustomize in validate.sh"],
  ["inference.networking.x-k8s.io/v1alpha1/EndpointPickerConfig", "EPP config file, checked by InferenceGatewayTests"],
]);

// CRD-defined kinds: apiVersion/kind -> Ajv validator of the served version's openAPIV3Schema.
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
const crdValidators = new Map();
for (const name of readdirSync(join(here, "schemas"))) {
  const crd = parse(readFileSync(join(here, "schemas", name), "utf8"));
  for (const v of crd.spec.versions) {
    const schema = closeObjects(structuredClone(v.schema.openAPIV3Schema));
    crdValidators.set(`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`, ajv.compile(schema));
  }
}

/** additionalProperties: false wherever a structural schema lists its properties and does not preserve unknown fields. */
function closeObjects(s) {
  if (s && typeof s === "object") {
    if (s.properties && s.additionalProperties === undefined && !s["x-kubernetes-preserve-unknown-fields"]) {
      s.additionalProperties = false;
    }
    for (const v of Object.values(s)) closeObjects(v);
  }
  return s;
}

// Kustomize patches are partial objects: they are checked as part of the rendered output (validate.sh renders
// each kustomization with kubectl when it is installed and passes the result here as extra files).
const patches = new Set();
for (const root of roots) {
  const k = parse(readFileSync(join(root, "kustomization.yaml"), "utf8"));
  for (const p of k.patches ?? []) if (p.path) patches.add(join(root, p.path));
}

function* yamlFiles(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name === "node_modules" || patches.has(path)) continue;
    if (statSync(path).isDirectory()) yield* yamlFiles(path);
    else if (/\.ya?ml$/.test(name)) yield path;
  }
}

let checked = 0, failed = 0;
const files = [...roots.flatMap((r) => [...yamlFiles(r)]), ...process.argv.slice(2)];
{
  for (const file of files) {
    const rel = relative(deploy, file);
    const docs = parseAllDocuments(readFileSync(file, "utf8"));
    for (const doc of docs) {
      if (doc.errors.length) { console.error(`FAIL ${rel}: YAML: ${doc.errors[0].message}`); failed++; continue; }
      const obj = doc.toJS();
      if (obj == null) continue;
      const id = `${obj.apiVersion}/${obj.kind}`;
      const what = `${rel}: ${obj.kind} ${obj.metadata?.name ?? "?"}`;
      if (noSchema.has(id)) { console.log(`skip ${what} (${noSchema.get(id)})`); continue; }
      const crd = crdValidators.get(id);
      if (crd) {
        if (crd(obj)) { console.log(`ok   ${what} (CRD schema)`); checked++; }
        else { console.error(`FAIL ${what}: ${ajv.errorsText(crd.errors, { dataVar: obj.kind })}`); failed++; }
        continue;
      }
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
}
console.log(`${checked} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
