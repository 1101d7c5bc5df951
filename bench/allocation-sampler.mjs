// Loaded into a server with `node --import` by bench/allocations.ts: on SIGUSR2 it starts
// V8's allocation sampler (objects that collectors have since freed included, so garbage
// counts), and on the next SIGUSR2 writes the profile to KEYWARD_ALLOCATIONS_OUT.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";

const session = new Session();
session.connect();
const post = (method, params = {}) =>
  new Promise((resolve, reject) =>
    session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
  );
let sampling = false;
process.on("SIGUSR2", () => {
  const step = sampling
    ? post("HeapProfiler.stopSampling").then(({ profile }) => {
        writeFileSync(
          process.env.KEYWARD_ALLOCATIONS_OUT ?? "allocations.json",
          JSON.stringify(profile),
        );
        process.stderr.write("allocations written\n");
      })
    : post("HeapProfiler.enable")
        .then(() =>
          post("HeapProfiler.startSampling", {
            samplingInterval: 1024,
            includeObjectsCollectedByMajorGC: true,
            includeObjectsCollectedByMinorGC: true,
          }),
        )
        .then(() => process.stderr.write("allocations sampling\n"));
  sampling = !sampling;
  step.catch((error) => process.stderr.write(`allocation sampler: ${error}\n`));
});
