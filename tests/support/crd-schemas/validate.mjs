// Validates custom resources against their published schemas (the @kubernetes-models
// packages pinned in package-lock.json are generated from each project's CRDs and API types).
// Input on stdin: a JSON list of objects. Output: a JSON list of {kind, name, error}, error
// null when the object is valid; exit 0 unless the input could not be read.
import { readFileSync } from "node:fs";

const PACKAGES = {
  "keda.sh": () => "@kubernetes-models/keda",
  "cert-manager.io": () => "@kubernetes-models/cert-manager",
  "monitoring.coreos.com": () => "@kubernetes-models/prometheus-operator",
  "argoproj.io": (kind) =>
    ["Application", "ApplicationSet", "AppProject"].includes(kind)
      ? "@kubernetes-models/argo-cd"
      : "@kubernetes-models/argo-rollouts",
};

async function check(obj) {
  const [group, version] = obj.apiVersion.split("/");
  const pick = PACKAGES[group];
  if (!pick) return `no published schema for ${obj.apiVersion}`;
  const module = await import(`${pick(obj.kind)}/${group}/${version}`);
  const Model = module[obj.kind];
  if (!Model) return `no schema for ${obj.kind} in ${obj.apiVersion}`;
  try {
    new Model(obj).validate();
    return null;
  } catch (err) {
    return String(err.message || err);
  }
}

const objects = JSON.parse(readFileSync(0, "utf8"));
const results = [];
for (const obj of objects) {
  results.push({ kind: obj.kind, name: obj.metadata?.name, error: await check(obj) });
}
process.stdout.write(JSON.stringify(results));
