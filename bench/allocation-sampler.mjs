// Loaded into a server with `node --import` by bench/allocations.ts: on SIGUSR2 it starts
// V8's allocation sampler (objects that collectors have since freed included, so garbage
// counts), and on the next SIGUSR2 writes the profile to KEYWARD_ALLOCATIONS_OUT. It says
// each step on stderr ("allocation sampler: ..."), which the driver waits for.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";

const out = process.env.KEYWARD_ALLOCATIONS_OUT;
if (!out) throw new Error("allocation sampler: KEYWARD_ALLOCATIONS_OUT is not set");
const session = new Session();
session.connect();
const post = (method, params = {}) =>
  new Promise((resolve, reject) =>
    session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
  );
let sampling = false;
let busy = false;
process.on("SIGUSR2", () => {
  if (busy) return;
  busy = true;
  const step = sampling
    ? post("HeapProfiler.stopSampling").then(({ profile }) => {
        writeFileSync(out, JSON.stringify(profile));
        sampling = false;
        return "written";
      })
    : post("HeapProfiler.enable")
        .then(() =>
          post("HeapProfiler.startSampling", {
            samplingInterval: 1024,
            includeObjectsCollectedByMajorGC: true,
            includeObjectsCollectedByMinorGC: true,
          }),
        )
        .then(() => {
          sampling = true;
          return "sampling";
        });
  step
    .then((said) => process.stderr.write(`allocation sampler: ${said}\n`))
    .catch((error) => process.stderr.write(`allocation sampler: failed: ${error}\n`))
    .finally(() => {
      busy = false;
    });
});
