import type { Store } from "../../services/ports.js";

export interface PostgresStoreOptions {
  url: string;
}

export async function createPostgresStore(_options: PostgresStoreOptions): Promise<Store> {
  throw new Error(
    "PostgreSQL storage is not available in this build yet; use DATABASE_URL=sqlite:<path>.",
  );
}
