/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The API serves dist/ at `/`; `npm run dev` proxies the API (ACC_API_URL, default :8000).
const api = process.env.ACC_API_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  publicDir: false,
  build: { outDir: "dist", sourcemap: false, chunkSizeWarningLimit: 800 },
  server: {
    proxy: {
      "/v1": api,
      "/readyz": api,
      "/healthz": api,
    },
  },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["src/test/setup.ts"],
    include: ["src/**/*.test.tsx", "src/**/*.test.ts"],
    testTimeout: 20_000,
  },
});
