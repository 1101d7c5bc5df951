import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const webDir = fileURLToPath(new URL(".", import.meta.url));
// `npx vite --config web/vite.config.ts` serves the UI with hot reload and sends API calls to a
// Keyward started separately (`npm run dev`, port 3000 unless KEYWARD_URL says otherwise).
const apiTarget = process.env.KEYWARD_URL ?? "http://127.0.0.1:3000";

// Vite reads the default export of its config file (biome.json allows it here only).
export default defineConfig({
  root: webDir,
  base: "/",
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL("../dist/web", import.meta.url)),
    emptyOutDir: true,
    // The server's CSP allows same-origin files only; nothing may be inlined as a data: script.
    assetsInlineLimit: 0,
  },
  server: {
    proxy: {
      "/api": {
        target: apiTarget,
        // The server checks Origin on cookie writes; in development the page's origin is Vite's,
        // so the proxy presents the API's own origin instead.
        configure: (proxy) => {
          proxy.on("proxyReq", (request) => {
            if (request.getHeader("origin")) request.setHeader("origin", apiTarget);
          });
        },
      },
    },
  },
});
