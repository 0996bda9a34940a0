import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

// The portal serves the built app (see web.go); `npm run dev` serves it
// with hot reload and sends /api to a portal on :8443 (make run).
const portal = 'http://127.0.0.1:8443';

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      '/api': { target: portal, ws: true, changeOrigin: false },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // noVNC and the charts are split into their own lazily loaded chunks
    chunkSizeWarningLimit: 900,
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['src/test/setup.ts'],
    css: false,
    restoreMocks: true,
    // one jsdom and one MUI import per worker instead of per file: the
    // suite runs in about half the time; each test cleans up after itself
    isolate: false,
    // a jsdom test driving MUI with user-event takes seconds on a busy
    // 2-core machine; the default 5 s budget made slow runs fail, not
    // wrong ones
    testTimeout: 20_000,
  },
});
