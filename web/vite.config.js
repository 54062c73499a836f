// The web app, built to dist/ and embedded by the `web` Spin component (components/web),
// which serves it under /app/. `npm run build` is what the component's build runs.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/app/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // the charts chunk (ECharts, agency pages only) is large by nature; the patient pages are not
    chunkSizeWarningLimit: 1200,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  server: {
    // `npm run dev` against a running app (spin up or serve) on port 3000
    proxy: { '/api': 'http://127.0.0.1:3000' },
  },
});
