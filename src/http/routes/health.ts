import type { FastifyInstance } from "fastify";
import type { Store } from "../../services/ports.js";
import { sendProblem } from "../problem.js";

export function healthRoutes(app: FastifyInstance, store: Store): void {
  const status = {
    type: "object",
    properties: { status: { type: "string" } },
    required: ["status"],
  } as const;

  // Liveness: the process answers. No storage call, so it is also the floor of our stack.
  app.get("/healthz", { schema: { response: { 200: status } } }, async () => ({ status: "ok" }));

  // Readiness: storage answers too.
  app.get("/readyz", { schema: { response: { 200: status } } }, async (_request, reply) => {
    try {
      await store.ping();
      return { status: "ok" };
    } catch {
      return sendProblem(reply, "storage_unavailable", "Storage is not answering.", {
        "retry-after": "5",
      });
    }
  });
}
