import { livenessRoute, readinessRoute } from "../../contract/index.js";
import type { Store } from "../../services/ports.js";
import { type ContractApp, routeOptions } from "../contract-route.js";
import { sendProblem } from "../problem.js";

export function healthRoutes(api: ContractApp, store: Store): void {
  // Liveness: the process answers. No storage call, so it is also the floor of our stack.
  api.route({ ...routeOptions(livenessRoute), handler: async () => ({ status: "ok" as const }) });

  // Readiness: storage answers too.
  api.route({
    ...routeOptions(readinessRoute),
    handler: async (_request, reply) => {
      try {
        await store.ping();
        return { status: "ok" as const };
      } catch {
        return sendProblem(reply, "storage_unavailable", "Storage is not answering.", {
          "retry-after": "5",
        });
      }
    },
  });
}
